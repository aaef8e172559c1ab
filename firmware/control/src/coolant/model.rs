//! The controller's own model of its heat exchanger and valve, from nameplate data: used for
//! the feed-forward (which valve position rejects a given heat load at the setpoint) and for
//! the thermal headroom (how much more heat the loop could reject with the valve wide open).
//!
//! Counter-flow plate heat exchanger by eps-NTU; UA scales with both flows to the power 0.8
//! (turbulent convection); an equal-percentage valve `flow fraction = R^(x - 1)`.

/// Nameplate data of the CDU's heat exchanger and primary valve.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
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
        self.ua_films(
            self.secondary_film(secondary_kg_s),
            self.primary_film(primary_kg_s),
        )
    }

    /// The secondary side's film coefficient relative to design (flow^0.8): a solve that
    /// varies only the primary flow computes it once.
    fn secondary_film(&self, secondary_kg_s: f32) -> f32 {
        crate::pow((secondary_kg_s / self.secondary_design_kg_s).max(0.0), 0.8)
    }

    /// The primary side's film coefficient relative to design (flow^0.8).
    fn primary_film(&self, primary_kg_s: f32) -> f32 {
        crate::pow((primary_kg_s / self.primary_design_kg_s).max(0.0), 0.8)
    }

    /// The primary flow whose film coefficient relative to design is `hp`, kg/s:
    /// `design x hp^1.25`, as two square roots (exact in IEEE arithmetic and cheap) where the
    /// inverse power would be a `powf`.
    fn primary_of_film(&self, hp: f32) -> f32 {
        self.primary_design_kg_s * hp * crate::sqrt(crate::sqrt(hp))
    }

    /// UA with the films `hs` and `hp` relative to design, W/K.
    fn ua_films(&self, hs: f32, hp: f32) -> f32 {
        // Series film resistances, each scaling with flow^0.8, equal at design.
        if hs <= 0.0 || hp <= 0.0 {
            return 0.0;
        }
        self.ua_design_w_per_k * 2.0 * hs * hp / (hs + hp)
    }

    /// Effectiveness and `C_min` (W/K) of the counter-flow exchanger.
    pub fn effectiveness(&self, secondary_kg_s: f32, primary_kg_s: f32) -> (f32, f32) {
        self.effectiveness_films(
            self.secondary_film(secondary_kg_s),
            self.primary_film(primary_kg_s),
            secondary_kg_s,
            primary_kg_s,
        )
    }

    /// `effectiveness` with both films relative to design known.
    fn effectiveness_films(
        &self,
        hs: f32,
        hp: f32,
        secondary_kg_s: f32,
        primary_kg_s: f32,
    ) -> (f32, f32) {
        let cs = secondary_kg_s * self.secondary_cp_j_per_kg_k;
        let cp = primary_kg_s * self.primary_cp_j_per_kg_k;
        let c_min = cs.min(cp);
        let c_max = cs.max(cp);
        if c_min <= 0.0 {
            return (0.0, 0.0);
        }
        (
            counter_flow_effectiveness(self.ua_films(hs, hp) / c_min, c_min / c_max),
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
        crate::pow(
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
        match self.primary_for_heat(heat_w, secondary_kg_s, setpoint_c, facility_c, None) {
            Some(solve) => self.valve_for_primary(solve.kg_s),
            None => 100.0,
        }
    }

    /// Valve opening (0..=100 %) that passes `primary_kg_s` of facility water.
    pub fn valve_for_primary(&self, primary_kg_s: f32) -> f32 {
        self.valve_for_fraction(primary_kg_s / self.primary_max_kg_s)
    }

    /// The primary (facility water) flow that rejects `heat_w` while holding the secondary
    /// supply at `setpoint_c`; `None` when even a full-open valve cannot.
    ///
    /// The answer's flow is within `primary_max_kg_s / 2^24` (what 24 bisection steps reach)
    /// above the root of `duty(flow) = heat_w`, at the first point found with enough duty.
    /// `last` (the last answer: the heat moves little in one control period) only saves work:
    /// the root is bracketed whatever it is, so any start gives the same root.
    ///
    /// The solve's variable is the primary film ratio `hp = (flow / design)^0.8`, whose flow
    /// is two square roots away (`primary_of_film`): no `powf` per evaluation. Regula falsi
    /// with the Illinois modification, kept in the bracket and falling back to a bisection
    /// step whenever two steps have not halved it: about 6 model evaluations (each an `expf`)
    /// from a good start and 11 from none, against 25 for plain bisection.
    pub fn primary_for_heat(
        &self,
        heat_w: f32,
        secondary_kg_s: f32,
        setpoint_c: f32,
        facility_c: f32,
        last: Option<PrimarySolve>,
    ) -> Option<PrimarySolve> {
        if heat_w <= 0.0 || secondary_kg_s <= 0.0 {
            return Some(PrimarySolve {
                kg_s: 0.0,
                film: 0.0,
            });
        }
        let hot_in = setpoint_c + heat_w / (secondary_kg_s * self.secondary_cp_j_per_kg_k);
        let hs = self.secondary_film(secondary_kg_s);
        // Duty grows with the film (and the flow); `excess < 0` below the root.
        let excess = |hp: f32| {
            let kg_s = self.primary_of_film(hp);
            let (eps, c_min) = self.effectiveness_films(hs, hp, secondary_kg_s, kg_s);
            eps * c_min * (hot_in - facility_c) - heat_w
        };
        let max = self.primary_film(self.primary_max_kg_s);
        // d(flow)/flow = 1.25 d(hp)/hp: this film width is a flow width of at most
        // `primary_max_kg_s / 2^24`, reached at full open.
        let tolerance = 0.8 * max / 16_777_216.0;
        // The bracket: `excess(lo) < 0 <= excess(hi)`; `f_hi` is `None` while `hi` is the
        // full-open film and not yet evaluated.
        let (mut lo, mut f_lo) = (0.0f32, -heat_w);
        let (mut hi, mut f_hi) = (max, None);
        if let Some(g) = last.map(|l| l.film).filter(|g| *g > 0.0 && *g < max) {
            // The start and a point 1 % past it on the side of the root.
            let f_g = excess(g);
            let probe = if f_g < 0.0 {
                (lo, f_lo) = (g, f_g);
                (g * 1.01).min(max)
            } else {
                (hi, f_hi) = (g, Some(f_g));
                g * 0.99
            };
            if probe > lo && probe < hi {
                let f_p = excess(probe);
                if f_p < 0.0 {
                    (lo, f_lo) = (probe, f_p);
                } else {
                    (hi, f_hi) = (probe, Some(f_p));
                }
            }
        }
        let mut f_hi = match f_hi {
            Some(f) => f,
            None => {
                let f = excess(max);
                if f < 0.0 {
                    return None;
                }
                f
            }
        };
        // Which end the last step moved (-1 lo, 1 hi), and the width two steps back.
        let mut moved = 0i8;
        let mut widths = [f32::INFINITY; 2];
        for _ in 0..48 {
            let width = hi - lo;
            if width <= tolerance {
                break;
            }
            let mut x = if width > 0.5 * widths[0] {
                0.5 * (lo + hi)
            } else {
                hi - f_hi * width / (f_hi - f_lo)
            };
            // At least half the tolerance in from either end: a root that close is then
            // bracketed to within the tolerance by this one step.
            x = x.clamp(lo + 0.5 * tolerance, hi - 0.5 * tolerance);
            if !(x > lo && x < hi) {
                break; // no float between the ends
            }
            widths = [widths[1], width];
            let f_x = excess(x);
            if f_x < 0.0 {
                (lo, f_lo) = (x, f_x);
                if moved < 0 {
                    f_hi *= 0.5;
                }
                moved = -1;
            } else {
                (hi, f_hi) = (x, f_x);
                if moved > 0 {
                    f_lo *= 0.5;
                }
                moved = 1;
            }
        }
        Some(PrimarySolve {
            kg_s: self.primary_of_film(hi),
            film: hi,
        })
    }

    /// What the most heat the loop can reject with the valve fully open depends on besides
    /// the temperatures, at secondary flow `secondary_kg_s` (constant for a fixed flow: a
    /// controller computes it once).
    pub fn full_open(&self, secondary_kg_s: f32) -> FullOpen {
        let (eps, c_min) = self.effectiveness(secondary_kg_s, self.primary_max_kg_s);
        let cs = secondary_kg_s * self.secondary_cp_j_per_kg_k;
        FullOpen {
            eps_c_min: eps * c_min,
            // Q = eps C_min (Tsp + Q / Cs - Tfac)  =>  Q = eps C_min (Tsp - Tfac) / (1 - eps C_min / Cs)
            denominator: if cs > 0.0 {
                1.0 - eps * c_min / cs
            } else {
                0.0
            },
        }
    }

    /// The most heat the loop can reject with the valve fully open while holding the secondary
    /// supply at `setpoint_c`, at secondary flow `secondary_kg_s`, W.
    pub fn max_heat_w(&self, secondary_kg_s: f32, setpoint_c: f32, facility_c: f32) -> f32 {
        self.full_open(secondary_kg_s)
            .max_heat_w(setpoint_c, facility_c)
    }
}

/// A feed-forward solve's answer (`HxModel::primary_for_heat`).
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PrimarySolve {
    /// Primary flow, kg/s.
    pub kg_s: f32,
    /// Its film coefficient relative to design, `(kg_s / primary_design_kg_s)^0.8`: the
    /// solve's own variable, where the next solve starts.
    pub film: f32,
}

/// The heat exchanger with the valve fully open at one secondary flow (`HxModel::full_open`).
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FullOpen {
    eps_c_min: f32,
    denominator: f32,
}

impl FullOpen {
    /// The most heat the loop can reject while holding the secondary supply at `setpoint_c`
    /// with facility water at `facility_c`, W.
    pub fn max_heat_w(&self, setpoint_c: f32, facility_c: f32) -> f32 {
        if self.denominator <= 1e-6 {
            return 0.0;
        }
        (self.eps_c_min * (setpoint_c - facility_c) / self.denominator).max(0.0)
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

    /// A solve's start at primary flow `kg_s`.
    fn start(m: &HxModel, kg_s: f32) -> PrimarySolve {
        PrimarySolve {
            kg_s,
            film: m.primary_film(kg_s),
        }
    }

    /// The solve as it was: 24 bisection steps over the whole valve range.
    fn bisected_primary(m: &HxModel, heat_w: f32, kg_s: f32, sp: f32, fac: f32) -> Option<f32> {
        let hot_in = sp + heat_w / (kg_s * m.secondary_cp_j_per_kg_k);
        let duty = |p| m.duty_w(kg_s, p, hot_in, fac);
        if duty(m.primary_max_kg_s) < heat_w {
            return None;
        }
        let (mut lo, mut hi) = (0.0f32, m.primary_max_kg_s);
        for _ in 0..24 {
            let mid = 0.5 * (lo + hi);
            if duty(mid) < heat_w {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some(hi)
    }

    #[test]
    fn the_bracketed_solve_finds_the_bisections_flow_from_any_guess() {
        let m = model();
        let resolution = m.primary_max_kg_s / 16_777_216.0;
        // A small LCG: the sweep is the same every run.
        let mut seed = 0x2545_f491_u32;
        let mut next = |lo: f32, hi: f32| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            lo + (hi - lo) * (seed >> 8) as f32 / 16_777_216.0
        };
        let (mut solved, mut saturated) = (0, 0);
        for _ in 0..4_000 {
            let heat = next(1_000.0, 1_600_000.0);
            let kg_s = next(0.5, 35.0);
            let sp = next(25.0, 40.0);
            let fac = next(5.0, sp - 0.5);
            let truth = bisected_primary(&m, heat, kg_s, sp, fac);
            let guesses = [
                None,
                Some(0.0),
                Some(m.primary_max_kg_s),
                Some(next(0.0, m.primary_max_kg_s)),
                truth,
                truth.map(|t| t * 0.995),
                truth.map(|t| t * 1.2),
                Some(f32::NAN),
            ];
            for guess in guesses {
                let got = m
                    .primary_for_heat(heat, kg_s, sp, fac, guess.map(|g| start(&m, g)))
                    .map(|s| s.kg_s);
                match (truth, got) {
                    (None, None) => saturated += 1,
                    (Some(t), Some(g)) => {
                        solved += 1;
                        // The same flow to the bisection's resolution or, where the duty is
                        // flat, the same duty to within the f32 model's own rounding: near
                        // equal capacity rates (1 - C_r cancels) and where C_min changes side
                        // the model's duty is not monotone in the flow at the 1e-5 level
                        // (measured here up to 1.1e-5 of the heat), and both flows are roots.
                        let hot_in = sp + heat / (kg_s * m.secondary_cp_j_per_kg_k);
                        let (d_t, d_g) = (
                            m.duty_w(kg_s, t, hot_in, fac),
                            m.duty_w(kg_s, g, hot_in, fac),
                        );
                        assert!(
                            (t - g).abs() <= 2.0 * resolution || (d_t - d_g).abs() <= 2e-5 * heat,
                            "heat {heat} flow {kg_s} sp {sp} fac {fac} guess {guess:?}: \
                             bisection {t} ({d_t} W), solve {g} ({d_g} W)"
                        );
                        // The answer rejects the heat (to the rounding of its film: the duty
                        // at a flow takes the film back through a `powf`).
                        assert!(d_g >= heat * (1.0 - 1e-6), "{d_g} < {heat}");
                    }
                    _ => assert_eq!(
                        truth.is_some(),
                        got.is_some(),
                        "heat {heat} flow {kg_s} sp {sp} fac {fac} guess {guess:?}: \
                         bisection {truth:?}, solve {got:?}"
                    ),
                }
            }
        }
        // Both outcomes were exercised.
        assert!(solved > 10_000 && saturated > 100, "{solved} {saturated}");
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
