//! The row's hydraulics, quasi-static (they settle well inside a control period): the pumps
//! (affinity laws, head ~ speed^2, a drooping curve through the design point) against the open
//! racks' branches (dP ~ flow^1.85), the bypass, and the CDU's own loss (~ flow^2), solved for
//! the differential pressure by a safeguarded Newton from last step's answer.

use crate::plant::params::RowParams;

/// The row's hydraulics: the pumps (affinity laws, a drooping curve) against the open racks'
/// branches (dP ~ flow^1.85), the bypass and the CDU's own loss (~ flow^2).
pub(super) struct Network<'a> {
    pub(super) n_open: f64,
    pub(super) k_rack: f64,
    pub(super) inv_exponent: f64,
    pub(super) k_bypass: f64,
    pub(super) k_internal: f64,
    pub(super) k_pump: f64,
    pub(super) shutoff_kpa: f64,
    pub(super) pump_speed: &'a [f64],
}

impl Network<'_> {
    /// Flow through the racks and the bypass at racks' dP `dp`, L/s, and its derivative.
    pub(super) fn racks_lps(&self, dp: f64) -> (f64, f64) {
        let (branch, bypass) = self.branches(dp);
        let q = self.n_open * branch + bypass;
        let dq = if dp > 0.0 {
            (self.n_open * branch * self.inv_exponent + 0.5 * bypass) / dp
        } else {
            f64::INFINITY
        };
        (q, dq)
    }

    /// Flow through one open rack's branch and through the bypass at racks' dP `dp`, L/s.
    pub(super) fn branches(&self, dp: f64) -> (f64, f64) {
        (
            (dp / self.k_rack).powf(self.inv_exponent),
            (dp / self.k_bypass).sqrt(),
        )
    }

    /// Flow the pumps deliver against `head`, L/s, and its derivative.
    pub(super) fn pumps_lps(&self, head: f64) -> (f64, f64) {
        let (mut q, mut dq) = (0.0, 0.0);
        for n in self.pump_speed {
            let shutoff = self.shutoff_kpa * n * n;
            if head < shutoff {
                let x = ((shutoff - head) / self.k_pump).sqrt();
                q += x;
                dq -= 0.5 / (self.k_pump * x);
            }
        }
        (q, dq)
    }

    /// Pumps' surplus over the racks' flow at racks' dP `dp` (falls as `dp` rises), L/s, and
    /// its derivative.
    pub(super) fn surplus(&self, dp: f64) -> (f64, f64) {
        let (q, dq) = self.racks_lps(dp);
        let (pumped, dpumped) = self.pumps_lps(dp + self.k_internal * q * q);
        (
            pumped - q,
            dpumped * (1.0 + 2.0 * self.k_internal * q * dq) - dq,
        )
    }

    /// The racks' dP where the pumps deliver what the racks and bypass take, kPa: Newton's
    /// method from `guess` (last step's answer), kept inside a bracket that bisection narrows
    /// whenever a Newton step would leave it. Converges in a few steps where a plain bisection
    /// to the same precision takes 50 (`solve_by_bisection`, the reference in the tests).
    pub(super) fn solve(&self, guess: Option<f64>) -> f64 {
        let (mut lo, mut hi) = (0.0f64, self.shutoff_kpa);
        if !self
            .pump_speed
            .iter()
            .any(|n| self.shutoff_kpa * n * n > 0.0)
        {
            // No pump can push any flow: the bracket closes on zero.
            return self.solve_by_bisection();
        }
        let mut dp = guess
            .filter(|g| *g > lo && *g < hi)
            .unwrap_or(0.5 * (lo + hi));
        for _ in 0..100 {
            let (f, df) = self.surplus(dp);
            if f == 0.0 {
                // The root itself (Newton would stay put, and the bracket end it set would
                // send the next step bisecting away from it).
                return dp;
            }
            if f > 0.0 {
                lo = dp;
            } else {
                hi = dp;
            }
            let newton = dp - f / df;
            let next = if df < 0.0 && newton > lo && newton < hi {
                newton
            } else {
                0.5 * (lo + hi)
            };
            let step = (next - dp).abs();
            dp = next;
            // Converged to rounding (the bracket closes too when Newton's steps are refused).
            if step <= 4.0 * f64::EPSILON * dp || hi - lo <= 4.0 * f64::EPSILON * hi {
                break;
            }
        }
        dp
    }

    /// The same root by 50 halvings of the bracket: the reference the solver is tested against
    /// (and the answer when no pump turns).
    pub(super) fn solve_by_bisection(&self) -> f64 {
        let (mut lo, mut hi) = (0.0f64, self.shutoff_kpa);
        for _ in 0..50 {
            let dp = 0.5 * (lo + hi);
            if self.surplus(dp).0 > 0.0 {
                lo = dp;
            } else {
                hi = dp;
            }
        }
        0.5 * (lo + hi)
    }
}

pub(super) struct Flows {
    /// The flow through each open rack (a closed one has none), kg/s.
    pub(super) open_rack_kg_s: f64,
    /// The flow through all racks (summed rack by rack), kg/s.
    pub(super) racks_kg_s: f64,
    pub(super) bypass_kg_s: f64,
    pub(super) dp_kpa: f64,
    pub(super) head_kpa: f64,
}

impl<'a> Network<'a> {
    /// The loop's hydraulic network at the pumps' present speeds with `n_open` racks open.
    /// The network of a row with parameters `p`, pumps at `pump_speed`, `n_open` racks open.
    pub(super) fn new(p: &RowParams, pump_speed: &'a [f64], n_open: f64) -> Self {
        let design_lps = p.secondary_design_kg_s() / p.secondary_density_kg_per_l;
        let rack_design_lps = design_lps / p.racks as f64;
        let design_head = p.rack_dp_design_kpa + p.cdu_internal_dp_design_kpa;
        Network {
            n_open,
            k_rack: p.rack_dp_design_kpa / rack_design_lps.powf(p.rack_flow_exponent),
            inv_exponent: 1.0 / p.rack_flow_exponent,
            k_bypass: p.rack_dp_design_kpa / (p.bypass_fraction * design_lps).powi(2),
            k_internal: p.cdu_internal_dp_design_kpa / design_lps.powi(2),
            // One pump at design speed gives design flow at design head: sets the droop.
            k_pump: (p.pump_shutoff_kpa * p.pump_design_speed.powi(2) - design_head)
                / design_lps.powi(2),
            shutoff_kpa: p.pump_shutoff_kpa,
            pump_speed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plant::RowPlant;
    use proptest::prelude::*;

    proptest! {
        /// The Newton solve lands where 50 halvings of the bracket do, from any starting guess,
        /// for any pump speeds (stopped, coasting, racing) and any number of racks open.
        #[test]
        fn the_hydraulic_solve_finds_the_bisections_root(
            speeds in proptest::collection::vec(prop_oneof![Just(0.0), 0.0..1.0f64, 1e-6..1e-3f64], 1..4),
            n_open in 0usize..=8,
            guess in proptest::option::of(-10.0..200.0f64),
        ) {
            let plant = RowPlant::new(RowParams::default(), 0.8, 30.0, 1);
            let mut net = Network::new(&plant.p, &[], n_open as f64);
            net.pump_speed = &speeds;
            let newton = net.solve(guess);
            let bisection = net.solve_by_bisection();
            let resolution = net.shutoff_kpa * 2f64.powi(-50);
            prop_assert!(
                (newton - bisection).abs() <= 2.0 * resolution + 1e-12 * bisection,
                "Newton {newton} kPa, bisection {bisection} kPa"
            );
            // And it is a root: the pumps' surplus there is no worse than at the bisection's.
            let (at_newton, _) = net.surplus(newton);
            let (at_bisection, _) = net.surplus(bisection);
            prop_assert!(at_newton.abs() <= at_bisection.abs() + 1e-9, "{newton} {bisection} {at_newton} {at_bisection}");
        }
    }
}
