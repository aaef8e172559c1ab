//! The supply loop: the primary (facility water) valve holds the secondary supply temperature.
//! A PI (tuned at commissioning; its integral tracks the valve's position feedback, so a valve
//! slower than its nameplate, in its deadband or seized does not wind it up) with a
//! **feed-forward**: the valve position the heat
//! exchanger model says rejects the heat arriving at the exchanger, that is the racks'
//! reported heat through a lag whose time constant (`feed_forward_lag_s` at design flow)
//! grows as the flow falls. The loop starts where the model puts the valve (no start-up bump)
//! and hands the feed-forward over through the integral whenever its source comes or goes
//! (no bump either). In Failsafe, or without a valid supply reading, the valve opens fully.

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
}

impl SupplyLoop {
    pub fn new(config: &CoolantConfig) -> Self {
        Self {
            pid: Pid::new(config.temp_pid, 0.0),
            phase: Phase::Unprimed,
            arriving_heat_w: None,
            solve: None,
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
        let arriving = *arriving;
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
                        // Start where the model says the valve should be: no start-up bump.
                        self.pid
                            .set_feed_forward_bumpless(feed_forward.unwrap_or(0.0));
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
    fn the_loop_starts_on_the_feed_forward_and_opens_fully_without_a_reading() {
        let config = CoolantConfig::default();
        let mut sensors = SensorBank::new(&config);
        let mut inputs = CoolantInputs::uniform(Instant(100), 30.0);
        inputs.primary_supply_temp_c.value = 25.0;
        inputs.flow_lpm.value = 1_300.0;
        let mut ann = Annunciator::new();
        sensors.step(Instant(100), &inputs, &config, &mut ann);
        let mut l = SupplyLoop::new(&config);
        let heat = 0.8 * config.design_heat_w;
        let first = l.step(
            &config,
            CoolantState::Running,
            Some(30.0),
            true,
            heat,
            &inputs,
            &sensors,
            0.1,
        );
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
}
