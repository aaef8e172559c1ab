//! The row's devices as the plant's own physics: the valve (actuator with deadband and linkage
//! play, its installed characteristic) and the counter-flow heat exchanger.

use crate::plant::params::RowParams;

use super::RowPlant;

impl RowPlant {
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
        let play = 0.5 * p.valve_hysteresis_pct;
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
