//! The row's devices as the plant's own physics: the valve (actuator with deadband and linkage
//! play, its installed characteristic), the counter-flow heat exchanger, and the field
//! devices' fail positions behind the controller's fail-safe relay.

use crate::plant::params::RowParams;

use super::{Actuators, RowPlant};

/// The controller's fail-safe relay and the field devices wired through it
/// (docs/failsafe.md). The relay is held by the controller's heartbeat (a retriggerable
/// watchdog relay): it drops `failsafe_relay_dropout_s` after the last heartbeat edge, whether
/// the controller hung, halted, reset, lost power or is being flashed. Dropped:
/// - the facility valve's actuator loses its supply and its spring drives it fully open;
/// - each pump drive's constant-speed input closes: a drive that was running runs at its
///   preset speed; a drive that was stopped stays stopped (three-wire start/stop: the drive
///   holds its own run latch, and the controller's stop relay is de-energised);
/// - the rack isolation valves (normally open solenoids) lose their coils and open.
///
/// Energised again, every device follows its command once more.
#[derive(Debug, Clone)]
pub(super) struct FieldFailsafe {
    heartbeat: bool,
    since_edge_s: f64,
    energised: bool,
    /// Each drive's run latch, as the controller last left it while the relay held.
    drive_running: Vec<bool>,
}

impl FieldFailsafe {
    /// The relay held (the controller was alive before the run), drive 0 running.
    pub fn new(pumps: usize) -> Self {
        Self {
            heartbeat: false,
            since_edge_s: 0.0,
            energised: true,
            drive_running: (0..pumps).map(|i| i == 0).collect(),
        }
    }

    /// Advances the relay by `dt_s` with the controller's outputs `act`; whether it holds.
    pub fn step(&mut self, dt_s: f64, act: &Actuators, dropout_s: f64) -> bool {
        match act.heartbeat {
            Some(level) if level != self.heartbeat => {
                self.heartbeat = level;
                self.since_edge_s = 0.0;
            }
            Some(_) => self.since_edge_s += dt_s,
            None => self.since_edge_s = 0.0,
        }
        // Dropped, it pulls in again at the next edge (the controller is back).
        self.energised = self.since_edge_s < dropout_s;
        if self.energised {
            for (i, running) in self.drive_running.iter_mut().enumerate() {
                *running = act.pump_speed_pct.get(i).copied().unwrap_or(0.0) > 0.0;
            }
        }
        self.energised
    }

    /// The speed drive `i` runs at, %: the controller's command through the relay, else its
    /// preset if its run latch is set.
    pub fn pump_command(&self, act: &Actuators, i: usize, preset_pct: f64) -> f64 {
        if self.energised {
            act.pump_speed_pct.get(i).copied().unwrap_or(0.0)
        } else if self.drive_running.get(i).copied().unwrap_or(false) {
            preset_pct
        } else {
            0.0
        }
    }

    /// Whether rack `r`'s isolation valve is open: as commanded through the relay, else open.
    pub fn rack_open(&self, act: &Actuators, r: usize) -> bool {
        !self.energised || act.rack_valve_open.get(r).copied().unwrap_or(true)
    }
}

impl RowPlant {
    /// The unpowered actuator: its spring drives it open at `valve_spring_return_s` per full
    /// stroke (the plug follows through the play as ever).
    pub(super) fn spring_valve_open(&mut self, dt_s: f64) {
        self.valve_running = false;
        self.valve_actuator_pct =
            (self.valve_actuator_pct + 100.0 / self.p.valve_spring_return_s * dt_s).min(100.0);
        self.follow_plug();
    }

    /// The valve's actuator runs at its stroke speed once the demand leaves its deadband and
    /// stops on arrival; the plug follows the actuator through the linkage's play.
    pub(super) fn move_valve(&mut self, dt_s: f64, target: f64) {
        let p = &self.p;
        let error = target - self.valve_actuator_pct;
        if !self.valve_running && error.abs() > 0.5 * p.valve_deadband_pct {
            self.valve_running = true;
        }
        if self.valve_running {
            let max_move = 100.0 / p.valve_stroke_s * dt_s;
            if error.abs() <= max_move {
                self.valve_actuator_pct = target;
                self.valve_running = false;
            } else {
                self.valve_actuator_pct += max_move.copysign(error);
            }
        }
        self.follow_plug();
    }

    /// The plug follows the actuator through the linkage's play.
    fn follow_plug(&mut self) {
        let play = 0.5 * self.p.valve_hysteresis_pct;
        self.valve_pct = self
            .valve_pct
            .clamp(
                self.valve_actuator_pct - play,
                self.valve_actuator_pct + play,
            )
            .clamp(0.0, 100.0);
    }

    pub(super) fn heat_exchanger(
        &self,
        secondary_kg_s: f64,
        primary_kg_s: f64,
        hot_in: f64,
        cold_in: f64,
    ) -> (f64, f64) {
        let p = &self.p;
        let cs = secondary_kg_s * p.secondary_cp_j_per_kg_k;
        let cc = primary_kg_s * p.primary_cp_j_per_kg_k;
        let (c_min, c_max) = (cs.min(cc), cs.max(cc));
        if c_min <= 0.0 {
            return (0.0, cold_in);
        }
        // UA with both film coefficients scaling as flow^n (series resistances, equal at design).
        let n = p.hx_film_flow_exponent;
        let hs = (secondary_kg_s / p.secondary_design_kg_s()).powf(n);
        let hp = (primary_kg_s / p.primary_design_kg_s()).powf(n);
        let ua = p.hx_ua_design_w_per_k * 2.0 * hs * hp / (hs + hp);
        let eps = counter_flow_effectiveness(ua / c_min, c_min / c_max);
        let q = eps * c_min * (hot_in - cold_in);
        (q, cold_in + q / cc)
    }
}

/// The primary flow through the valve at `valve_pct` as a fraction of full open: the inherent
/// equal-percentage characteristic `R^(x - 1)`, bent by the valve's authority `N` into the
/// installed one, `1 / sqrt((1 - N) + N / f^2)` (the circuit's other losses take a larger
/// share of the pressure as the valve opens).
pub(super) fn installed_flow_fraction(p: &RowParams, valve_pct: f64) -> f64 {
    let inherent = p.valve_rangeability.powf(valve_pct / 100.0 - 1.0);
    let n = p.valve_authority;
    if n >= 1.0 {
        inherent
    } else {
        1.0 / ((1.0 - n) + n / (inherent * inherent)).sqrt()
    }
}

/// Counter-flow heat exchanger effectiveness for `ntu` and capacity ratio `cr` (0..=1): the
/// plant's own, in `f64` (the controller has its model; the plant is the physics).
fn counter_flow_effectiveness(ntu: f64, cr: f64) -> f64 {
    if ntu <= 0.0 {
        return 0.0;
    }
    if (1.0 - cr).abs() < 1e-9 {
        return ntu / (1.0 + ntu);
    }
    let e = (-ntu * (1.0 - cr)).exp();
    (1.0 - e) / (1.0 - cr * e)
}
