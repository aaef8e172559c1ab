//! The controller's own model of its heat exchanger and valve, from nameplate data: used for
//! the feed-forward (which valve position rejects a given heat load at the setpoint) and for
//! the thermal headroom (how much more heat the loop could reject with the valve wide open).
//!
//! Counter-flow plate heat exchanger by eps-NTU; UA scales with both flows to the power 0.8
//! (turbulent convection); an equal-percentage valve `flow fraction = R^(x - 1)`.

/// Nameplate data of the CDU's heat exchanger and primary valve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HxModel {
    /// UA at design flows on both sides, W/K.
    pub ua_design_w_per_k: f32,
    /// Secondary (technology cooling loop) design flow, kg/s.
    pub secondary_design_kg_s: f32,
    /// Primary (facility water) flow with the valve fully open, kg/s.
    pub primary_max_kg_s: f32,
    /// Primary design flow (where `ua_design_w_per_k` was rated), kg/s.
    pub primary_design_kg_s: f32,
    /// Specific heat of the secondary coolant, J/(kg K).
    pub secondary_cp_j_per_kg_k: f32,
    /// Specific heat of facility water, J/(kg K).
    pub primary_cp_j_per_kg_k: f32,
    /// Valve rangeability R of the equal-percentage characteristic.
    pub valve_rangeability: f32,
}

impl HxModel {
    /// UA at the given flows, W/K.
    pub fn ua(&self, secondary_kg_s: f32, primary_kg_s: f32) -> f32 {
        self.ua_with(self.secondary_film(secondary_kg_s), primary_kg_s)
    }

    /// The secondary side's film coefficient relative to design (flow^0.8): a solve that
    /// varies only the primary flow computes it once.
    fn secondary_film(&self, secondary_kg_s: f32) -> f32 {
        libm::powf((secondary_kg_s / self.secondary_design_kg_s).max(0.0), 0.8)
    }

    /// UA with the secondary film `hs` (`secondary_film`), W/K.
    fn ua_with(&self, hs: f32, primary_kg_s: f32) -> f32 {
        let p = (primary_kg_s / self.primary_design_kg_s).max(0.0);
        // Series film resistances, each scaling with flow^0.8, equal at design.
        let hp = libm::powf(p, 0.8);
        if hs <= 0.0 || hp <= 0.0 {
            return 0.0;
        }
        self.ua_design_w_per_k * 2.0 * hs * hp / (hs + hp)
    }

    /// Effectiveness and `C_min` (W/K) of the counter-flow exchanger.
    pub fn effectiveness(&self, secondary_kg_s: f32, primary_kg_s: f32) -> (f32, f32) {
        self.effectiveness_with(
            self.secondary_film(secondary_kg_s),
            secondary_kg_s,
            primary_kg_s,
        )
    }

    /// `effectiveness` with the secondary film `hs` already known.
    fn effectiveness_with(&self, hs: f32, secondary_kg_s: f32, primary_kg_s: f32) -> (f32, f32) {
        let cs = secondary_kg_s * self.secondary_cp_j_per_kg_k;
        let cp = primary_kg_s * self.primary_cp_j_per_kg_k;
        let c_min = cs.min(cp);
        let c_max = cs.max(cp);
        if c_min <= 0.0 {
            return (0.0, 0.0);
        }
        (
            counter_flow_effectiveness(self.ua_with(hs, primary_kg_s) / c_min, c_min / c_max),
            c_min,
        )
    }

    /// Heat rejected with secondary inlet `hot_in_c` and facility supply `cold_in_c`, W.
    pub fn duty_w(
        &self,
        secondary_kg_s: f32,
        primary_kg_s: f32,
        hot_in_c: f32,
        cold_in_c: f32,
    ) -> f32 {
        let (eps, c_min) = self.effectiveness(secondary_kg_s, primary_kg_s);
        eps * c_min * (hot_in_c - cold_in_c)
    }

    /// Valve opening (0..=100 %) that passes `fraction` of the full-open primary flow.
    pub fn valve_for_fraction(&self, fraction: f32) -> f32 {
        let r = self.valve_rangeability;
        if fraction <= 1.0 / r {
            return 0.0;
        }
        (100.0 * (1.0 + libm::logf(fraction.min(1.0)) / libm::logf(r))).clamp(0.0, 100.0)
    }

    /// Primary flow fraction at valve opening `valve_pct`.
    pub fn fraction_for_valve(&self, valve_pct: f32) -> f32 {
        libm::powf(
            self.valve_rangeability,
            valve_pct.clamp(0.0, 100.0) / 100.0 - 1.0,
        )
    }

    /// The valve opening that rejects `heat_w` while holding the secondary supply at
    /// `setpoint_c`, with secondary flow `secondary_kg_s` and facility supply `facility_c`.
    /// 100 % when even a full-open valve cannot.
    pub fn valve_for_heat(
        &self,
        heat_w: f32,
        secondary_kg_s: f32,
        setpoint_c: f32,
        facility_c: f32,
    ) -> f32 {
        if heat_w <= 0.0 || secondary_kg_s <= 0.0 {
            return 0.0;
        }
        let hot_in = setpoint_c + heat_w / (secondary_kg_s * self.secondary_cp_j_per_kg_k);
        let hs = self.secondary_film(secondary_kg_s);
        let duty = |primary_kg_s| {
            let (eps, c_min) = self.effectiveness_with(hs, secondary_kg_s, primary_kg_s);
            eps * c_min * (hot_in - facility_c)
        };
        if duty(self.primary_max_kg_s) < heat_w {
            return 100.0;
        }
        // Duty grows with primary flow: bisect for the flow that just rejects the heat.
        let (mut lo, mut hi) = (0.0f32, self.primary_max_kg_s);
        for _ in 0..24 {
            let mid = 0.5 * (lo + hi);
            if duty(mid) < heat_w {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        self.valve_for_fraction(hi / self.primary_max_kg_s)
    }

    /// The most heat the loop can reject with the valve fully open while holding the secondary
    /// supply at `setpoint_c`, at secondary flow `secondary_kg_s`, W.
    pub fn max_heat_w(&self, secondary_kg_s: f32, setpoint_c: f32, facility_c: f32) -> f32 {
        let (eps, c_min) = self.effectiveness(secondary_kg_s, self.primary_max_kg_s);
        let cs = secondary_kg_s * self.secondary_cp_j_per_kg_k;
        // Q = eps C_min (Tsp + Q / Cs - Tfac)  =>  Q = eps C_min (Tsp - Tfac) / (1 - eps C_min / Cs)
        let denominator = 1.0 - eps * c_min / cs;
        if cs <= 0.0 || denominator <= 1e-6 {
            return 0.0;
        }
        (eps * c_min * (setpoint_c - facility_c) / denominator).max(0.0)
    }
}

/// Counter-flow effectiveness for `ntu` and capacity ratio `cr` (0..=1).
pub fn counter_flow_effectiveness(ntu: f32, cr: f32) -> f32 {
    if ntu <= 0.0 {
        return 0.0;
    }
    if (1.0 - cr).abs() < 1e-4 {
        return ntu / (1.0 + ntu);
    }
    let e = libm::expf(-ntu * (1.0 - cr));
    (1.0 - e) / (1.0 - cr * e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> HxModel {
        HxModel {
            ua_design_w_per_k: 300_000.0,
            secondary_design_kg_s: 23.0,
            primary_max_kg_s: 40.0,
            primary_design_kg_s: 23.0,
            secondary_cp_j_per_kg_k: 3_900.0,
            primary_cp_j_per_kg_k: 4_186.0,
            valve_rangeability: 50.0,
        }
    }

    #[test]
    fn effectiveness_matches_the_textbook_limits() {
        assert!((counter_flow_effectiveness(1.0, 1.0) - 0.5).abs() < 1e-6);
        let e = counter_flow_effectiveness(2.0, 0.0);
        assert!((e - (1.0 - libm::expf(-2.0))).abs() < 1e-6);
    }

    #[test]
    fn the_valve_for_a_heat_load_rejects_that_load() {
        let m = model();
        let valve = m.valve_for_heat(900_000.0, 23.0, 30.0, 25.0);
        assert!(valve > 0.0 && valve < 100.0, "{valve}");
        let primary = m.primary_max_kg_s * m.fraction_for_valve(valve);
        let hot_in = 30.0 + 900_000.0 / (23.0 * 3_900.0);
        let duty = m.duty_w(23.0, primary, hot_in, 25.0);
        assert!((duty - 900_000.0).abs() < 2_000.0, "{duty}");
    }

    #[test]
    fn max_heat_falls_to_zero_as_facility_water_reaches_the_setpoint() {
        let m = model();
        let cool = m.max_heat_w(23.0, 30.0, 25.0);
        let warm = m.max_heat_w(23.0, 30.0, 29.0);
        assert!(cool > warm && warm > 0.0);
        assert!(m.max_heat_w(23.0, 30.0, 30.5) <= 0.0);
    }
}
