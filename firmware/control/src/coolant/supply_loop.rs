//! The supply loop: the primary (facility water) valve holds the secondary supply temperature.
//! A PI (tuned at commissioning; its integral tracks the valve's position feedback, so a valve
//! slower than its nameplate, in its deadband or seized does not wind it up) with a
//! **feed-forward**: the valve position the heat exchanger model says rejects the heat
//! arriving at the exchanger. That heat is known two ways: measured as it arrives (the flow
//! times the return's rise over the setpoint: right in phase and size whatever the piping,
//! the sensors' gains aside) and anticipated from the racks' reported heat through a lag
//! whose time constant (`feed_forward_lag_s` at design flow) grows as the flow falls (early,
//! but only as right as the piping's nameplate). A valve that can cross its stroke within a
//! few lags waits for the measurement; a slower one leans on the anticipation
//! (`measured_heat_weight`), unless the heat swings back and forth (training), which such a
//! valve could only chase out of phase. The loop starts where the valve stands, or where the
//! model puts it without a position feedback (no start-up bump) and hands the feed-forward over through the integral whenever its source
//! comes or goes (no bump either). In Failsafe, or without a valid supply reading, the valve opens fully.

use crate::pid::Pid;

use super::model::PrimarySolve;
use super::sensors::SensorBank;
use super::{CoolantConfig, CoolantInputs, CoolantState};

/// Whether the PID has started and whether its output includes a feed-forward.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Not yet run with a supply reading.
    Unprimed,
    /// Running; `feed_forward_in_pid` whether the PID's output carries a feed-forward.
    Primed { feed_forward_in_pid: bool },
}

/// What the loop commanded this step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct ValveCommand {
    /// Valve demand, %.
    pub valve_pct: f32,
    /// The feed-forward term, % (when in use).
    pub feed_forward_pct: Option<f32>,
}

/// The valve PID, the lagged heat and the feed-forward's last solve.
#[derive(Debug, Clone)]
pub(super) struct SupplyLoop {
    pid: Pid,
    phase: Phase,
    /// The heat arriving at the exchanger, W (the reported heat through the lag), from the
    /// first step on.
    arriving_heat_w: Option<f32>,
    /// The feed-forward's last solve: where its next one starts.
    solve: Option<PrimarySolve>,
    swing: Swing,
}

/// Whether the reported heat swings (turned back lately) rather than stepped.
#[derive(Debug, Clone)]
struct Swing {
    /// The reported heat's extreme since its last turn, W, and whether it was rising.
    extreme: Option<(f32, bool)>,
    /// Time since the last turn, s.
    since_s: f32,
}

impl Swing {
    /// No heat seen yet, no turn.
    const fn new() -> Self {
        Self {
            extreme: None,
            since_s: f32::INFINITY,
        }
    }

    /// Follows the reported heat `heat_w`; whether it turned back by more than
    /// `swing_reversal_fraction` of design within the last `swing_hold_strokes` strokes.
    fn step(&mut self, heat_w: f32, c: &CoolantConfig, dt: f32) -> bool {
        let band = c.swing_reversal_fraction * c.design_heat_w;
        self.since_s += dt;
        match &mut self.extreme {
            None => self.extreme = Some((heat_w, true)),
            Some((extreme, rising)) => {
                let moved = heat_w - *extreme;
                if (*rising && moved > 0.0) || (!*rising && moved < 0.0) {
                    *extreme = heat_w;
                } else if moved.abs() > band {
                    *extreme = heat_w;
                    *rising = !*rising;
                    self.since_s = 0.0;
                }
            }
        }
        self.since_s < c.swing_hold_strokes * c.valve_stroke_s()
    }
}

impl SupplyLoop {
    pub fn new(config: &CoolantConfig) -> Self {
        Self {
            pid: Pid::new(config.temp_pid, 0.0),
            phase: Phase::Unprimed,
            arriving_heat_w: None,
            solve: None,
            swing: Swing::new(),
        }
    }

    /// The valve for this step. `feed_forward_active`: the row bus gives the load.
    #[allow(clippy::too_many_arguments)] // the step's inputs, each from its own part
    pub fn step(
        &mut self,
        config: &CoolantConfig,
        state: CoolantState,
        supply_c: Option<f32>,
        feed_forward_active: bool,
        heat_w: f32,
        inputs: &CoolantInputs,
        sensors: &SensorBank,
        dt: f32,
    ) -> ValveCommand {
        let c = config;
        let kg_s = if sensors.flow.status().usable() {
            (inputs.flow_lpm.value * c.coolant_density_kg_per_l / 60.0).max(0.01)
        } else {
            c.hx.secondary_design_kg_s
        };
        // The reported heat reaches the heat exchanger only after the coolant has carried it
        // from the racks: a lag whose time constant grows as the flow falls.
        let lag_s = c.feed_forward_lag_s * c.hx.secondary_design_kg_s / kg_s;
        let arriving = self.arriving_heat_w.get_or_insert(heat_w);
        *arriving += (heat_w - *arriving) * (dt / lag_s.max(dt));
        let lagged = *arriving;
        let swinging = self.swing.step(heat_w, c, dt);
        // What the exchanger gets now, measured: the flow carrying the return's heat above
        // the setpoint. Trusted as far as the valve can wait for it (see
        // `measured_heat_stroke_factor`); the lagged reports anticipate a step for a slower
        // valve, but not a swing it cannot follow.
        let arriving = if sensors.return_temp.status().usable() && sensors.flow.status().usable() {
            let measured = kg_s
                * c.hx.secondary_cp_j_per_kg_k
                * (inputs.return_temp_c.value - c.supply_setpoint_c);
            let w = if swinging {
                1.0
            } else {
                c.measured_heat_weight()
            };
            w * measured + (1.0 - w) * lagged
        } else {
            lagged
        };
        let feed_forward = if feed_forward_active && sensors.primary_supply.status().usable() {
            let primary = c.hx.primary_for_heat(
                arriving,
                kg_s,
                c.supply_setpoint_c,
                inputs.primary_supply_temp_c.value,
                self.solve,
            );
            self.solve = primary;
            Some(primary.map_or(100.0, |p| c.hx.valve_for_primary(p.kg_s)))
        } else {
            None
        };
        let valve_pct = match (state, supply_c) {
            (CoolantState::Failsafe, _) | (_, None) => {
                self.pid.force(100.0);
                100.0
            }
            (_, Some(supply)) => {
                let in_pid = match self.phase {
                    Phase::Unprimed => {
                        // Start where the valve stands (a warm start after a reset finds it
                        // where its spring or the last controller left it), and command just
                        // that this step; without a position feedback, where the model says
                        // it should be. No start-up bump either way.
                        self.pid
                            .set_feed_forward_bumpless(feed_forward.unwrap_or(0.0));
                        if sensors.valve_feedback.status().usable() {
                            self.pid.force(inputs.valve_feedback_pct.value);
                            self.phase = Phase::Primed {
                                feed_forward_in_pid: feed_forward.is_some(),
                            };
                            return ValveCommand {
                                valve_pct: self.pid.output(),
                                feed_forward_pct: feed_forward,
                            };
                        }
                        self.pid.force(feed_forward.unwrap_or(50.0));
                        feed_forward.is_some()
                    }
                    Phase::Primed {
                        feed_forward_in_pid,
                    } => feed_forward_in_pid,
                };
                let ff = feed_forward.unwrap_or(0.0);
                if feed_forward.is_some() != in_pid {
                    // The source came or went: hand over through the integral, no bump.
                    self.pid.set_feed_forward_bumpless(ff);
                }
                self.phase = Phase::Primed {
                    feed_forward_in_pid: feed_forward.is_some(),
                };
                if sensors.valve_feedback.status().usable() {
                    // The integral tracks where the valve really is: no windup on a valve
                    // slower than its nameplate, in its deadband, or seized.
                    self.pid.step_tracking(
                        c.supply_setpoint_c,
                        supply,
                        ff,
                        inputs.valve_feedback_pct.value,
                        dt,
                    )
                } else {
                    self.pid.step(c.supply_setpoint_c, supply, ff, dt)
                }
            }
        };
        ValveCommand {
            valve_pct,
            feed_forward_pct: feed_forward,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Instant;
    use crate::coolant::Annunciator;

    #[test]
    fn the_loop_starts_where_the_valve_stands_else_on_the_feed_forward_and_opens_fully_without_a_reading()
     {
        let config = CoolantConfig::default();
        let mut inputs = CoolantInputs::uniform(Instant(100), 30.0);
        inputs.primary_supply_temp_c.value = 25.0;
        inputs.flow_lpm.value = 1_300.0;
        inputs.return_temp_c.value = 38.0;
        inputs.valve_feedback_pct.value = 40.0;
        let heat = 0.8 * config.design_heat_w;
        let first_step = |inputs: &CoolantInputs| {
            let mut sensors = SensorBank::new(&config);
            let mut ann = Annunciator::new();
            sensors.step(Instant(100), inputs, &config, &mut ann);
            let mut l = SupplyLoop::new(&config);
            let first = l.step(
                &config,
                CoolantState::Running,
                Some(30.0),
                true,
                heat,
                inputs,
                &sensors,
                0.1,
            );
            (l, sensors, first)
        };
        // With its position feedback: from where the valve stands.
        let (_, _, first) = first_step(&inputs);
        assert!(
            (first.valve_pct - 40.0).abs() < 0.5,
            "no start-up bump: {first:?}"
        );
        // Without: where the model puts it.
        let mut blind = inputs;
        blind.valve_feedback_pct.value = f32::NAN;
        let (mut l, sensors, first) = first_step(&blind);
        let ff = first.feed_forward_pct.unwrap_or(f32::NAN);
        assert!(ff > 0.0 && ff < 100.0, "{ff}");
        assert!(
            (first.valve_pct - ff).abs() < 0.5,
            "no start-up bump: {first:?}"
        );
        let lost = l.step(
            &config,
            CoolantState::Running,
            None,
            true,
            heat,
            &inputs,
            &sensors,
            0.1,
        );
        assert_eq!(lost.valve_pct, 100.0);
        let failsafe = l.step(
            &config,
            CoolantState::Failsafe,
            Some(30.0),
            true,
            heat,
            &inputs,
            &sensors,
            0.1,
        );
        assert_eq!(failsafe.valve_pct, 100.0);
    }

    /// The feed-forward of a loop on `config` whose reports say `reported_w` while the
    /// return reads `return_c` at 1,300 L/min.
    fn feed_forward(config: &CoolantConfig, reported_w: f32, return_c: f32) -> f32 {
        let mut sensors = SensorBank::new(config);
        let mut inputs = CoolantInputs::uniform(Instant(100), 30.0);
        inputs.primary_supply_temp_c.value = 25.0;
        inputs.flow_lpm.value = 1_300.0;
        inputs.return_temp_c.value = return_c;
        let mut ann = Annunciator::new();
        sensors.step(Instant(100), &inputs, config, &mut ann);
        let mut l = SupplyLoop::new(config);
        let step = l.step(
            config,
            CoolantState::Running,
            Some(30.0),
            true,
            reported_w,
            &inputs,
            &sensors,
            0.1,
        );
        step.feed_forward_pct.unwrap_or(f32::NAN)
    }

    #[test]
    fn a_fast_valve_follows_the_measured_heat_and_a_slow_one_the_reports() {
        let mut fast = CoolantConfig::default();
        fast.temp_pid.slew_per_s = 100.0 / 20.0;
        let mut slow = fast;
        slow.temp_pid.slew_per_s = 100.0 / 150.0;
        assert_eq!(fast.measured_heat_weight(), 1.0);
        let w = slow.measured_heat_weight();
        assert!((w - 3.0 * 16.0 / 150.0).abs() < 1e-6, "{w}");
        // The reports say 80 % of design; the return shows 40 % (a 4 K rise at ~design flow).
        let reported = 0.8 * fast.design_heat_w;
        let as_measured = feed_forward(&fast, reported, 34.0);
        let as_reported = feed_forward(&fast, reported, 38.0);
        let slow_ff = feed_forward(&slow, reported, 34.0);
        assert!(
            as_measured < as_reported - 5.0,
            "{as_measured} {as_reported}"
        );
        // The fast valve takes the measurement whatever the reports say.
        let measured_only = feed_forward(&fast, 0.3 * fast.design_heat_w, 34.0);
        assert!(
            (as_measured - measured_only).abs() < 0.01,
            "{as_measured} {measured_only}"
        );
        // The slow one mostly the reports, a little the measurement.
        assert!(slow_ff > as_measured && slow_ff < as_reported, "{slow_ff}");
    }

    #[test]
    fn a_swinging_load_is_told_from_a_step() {
        let mut c = CoolantConfig::default();
        c.temp_pid.slew_per_s = 100.0 / 120.0;
        let design = c.design_heat_w;
        // A step from 20 % to 100 % with 2 % jitter: never a swing.
        let mut step = Swing::new();
        for i in 0..1_200 {
            let level = if i < 600 { 0.2 } else { 1.0 };
            let jitter = if i % 2 == 0 { 0.02 } else { -0.02 };
            assert!(
                !step.step((level + jitter) * design, &c, 0.1),
                "step at {i}"
            );
        }
        // 30 % to 100 % every 10 s: a swing from its first turn, and for half a stroke (60 s)
        // after the last.
        let mut swing = Swing::new();
        let mut seen = false;
        for i in 0..600 {
            let level = if (i / 50) % 2 == 0 { 1.0 } else { 0.3 };
            seen |= swing.step(level * design, &c, 0.1);
        }
        assert!(seen);
        assert!(swing.step(0.3 * design, &c, 0.1));
        for _ in 0..590 {
            swing.step(0.3 * design, &c, 0.1);
        }
        assert!(!swing.step(0.3 * design, &c, 0.1));
    }
}
