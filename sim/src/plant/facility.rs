//! The facility water plant that couples a campus's rows: chillers that take the campus heat
//! (every row's CDU rejects its heat to the one chilled-water loop) and set the supply
//! temperature every row sees.
//!
//! The model, stepped once per facility step (1 s):
//! - Installed capacity is the campus's design heat times `capacity_margin`, in `chillers`
//!   equal units. Units run as the load needs (staged on at 110 % of the load, one at a time);
//!   a unit that starts comes up to its capacity with a first-order `start_time_constant_s`
//!   (large centrifugal chillers reach full load 3-5 min after a start; 120 s gives 92 % in
//!   5 min). A unit stops only after the others have carried the load for
//!   `stage_down_delay_s` (plants hold a stage 15-30 min against short cycling: 900 s). A trip
//!   takes a unit's capacity away at once.
//! - The chillers hold the supply at its setpoint while their running capacity allows:
//!   they remove the load plus what brings the supply back within `control_time_constant_s`.
//!   Short of capacity, the loop's water warms at (load - capacity) / (mass x cp).
//! - The loop's water mass is `loop_volume_l_per_kw` of design heat (chiller makers ask for
//!   3-10 US gallons per ton, 0.9-3 L/kW, in process cooling toward the upper end: 2 L/kW).
//! - The mains between the plant and the rows take `transit_s` each way: the rows see the
//!   water the plant supplied that long ago, and the plant takes the heat the rows rejected
//!   that long ago. Chilled-water mains are sized for 1.2-3 m/s; a campus's plant sits a few
//!   hundred metres from its halls (100-900 m at 1.5-3 m/s: 30-600 s): 60 s, the short end.
//!
//! Sources: the figures above are assumed from the ranges stated; the temperatures and flows
//! are `DOMAIN.md`'s facility water classes (W27: facility supply up to 27 degC).

use serde::{Deserialize, Serialize};

use crate::validate::{Invalid, within};

/// Water's specific heat, J/(kg K), and density, kg/L.
const CP_J_PER_KG_K: f64 = 4_186.0;
const RHO_KG_PER_L: f64 = 1.0;

/// The water plant's parameters, as a campus file's `[water_plant]` states them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WaterPlantParams {
    /// Chillers installed (1..=1000).
    pub chillers: usize,
    /// Installed capacity over the campus's design heat (1.0..=3.0).
    pub capacity_margin: f64,
    /// A starting chiller's first-order time constant to full capacity, s (1..=3600).
    pub start_time_constant_s: f64,
    /// How fast the chillers pull the supply back to its setpoint, s (1..=3600).
    pub control_time_constant_s: f64,
    /// How long the running units must have more than the load needs before one stops, s
    /// (0..=7200).
    pub stage_down_delay_s: f64,
    /// Chilled-water loop volume per kW of design heat, L/kW (0.1..=50).
    pub loop_volume_l_per_kw: f64,
    /// The water's transit through the mains between the plant and the rows, each way, s
    /// (0..=1800; whole facility steps).
    pub transit_s: f64,
}

impl Default for WaterPlantParams {
    fn default() -> Self {
        Self {
            chillers: 12,
            capacity_margin: 1.2,
            start_time_constant_s: 120.0,
            control_time_constant_s: 60.0,
            stage_down_delay_s: 900.0,
            loop_volume_l_per_kw: 2.0,
            transit_s: 60.0,
        }
    }
}

impl WaterPlantParams {
    /// The mains' transit in whole facility steps of `step_s` (at least one: a row sees the
    /// plant's water one facility step late at the soonest).
    pub fn transit_steps(&self, step_s: f64) -> u64 {
        // A validated transit (0..=1800 s) over a positive step: a small whole number.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let steps = (self.transit_s / step_s).round() as u64;
        steps.max(1)
    }

    /// Checks the ranges; the error names the field (under `water_plant`) and what is allowed.
    pub fn validate(&self) -> Result<(), Invalid> {
        #[allow(clippy::cast_precision_loss)] // a count
        within(
            "chillers",
            self.chillers as f64,
            1.0,
            1000.0,
            "units installed",
        )
        .and_then(|()| {
            within(
                "capacity_margin",
                self.capacity_margin,
                1.0,
                3.0,
                "installed capacity / design heat",
            )
        })
        .and_then(|()| {
            within(
                "start_time_constant_s",
                self.start_time_constant_s,
                1.0,
                3600.0,
                "s",
            )
        })
        .and_then(|()| {
            within(
                "control_time_constant_s",
                self.control_time_constant_s,
                1.0,
                3600.0,
                "s",
            )
        })
        .and_then(|()| {
            within(
                "stage_down_delay_s",
                self.stage_down_delay_s,
                0.0,
                7200.0,
                "s",
            )
        })
        .and_then(|()| {
            within(
                "loop_volume_l_per_kw",
                self.loop_volume_l_per_kw,
                0.1,
                50.0,
                "L per kW of design heat",
            )
        })
        .and_then(|()| within("transit_s", self.transit_s, 0.0, 1800.0, "s each way"))
        .map_err(|e| e.under("water_plant"))
    }
}

/// One chiller.
#[derive(Debug, Clone, Copy, Default)]
struct Unit {
    tripped: bool,
    running: bool,
    /// Its capacity now, W.
    capacity_w: f64,
}

/// The plant's state.
#[derive(Debug, Clone)]
pub struct WaterPlant {
    p: WaterPlantParams,
    unit_w: f64,
    /// Loop water mass times its specific heat, J/K.
    heat_capacity_j_per_k: f64,
    units: Vec<Unit>,
    /// How long the running units have had more than the load needs, s.
    surplus_s: f64,
    /// The supply temperature every row sees, degC.
    pub supply_c: f64,
}

impl WaterPlant {
    /// A plant for a campus of `design_heat_w`, at steady state under `load_w` with its supply
    /// at `setpoint_c`.
    pub fn new(p: WaterPlantParams, design_heat_w: f64, load_w: f64, setpoint_c: f64) -> Self {
        #[allow(clippy::cast_precision_loss)] // a count of chillers
        let unit_w = design_heat_w * p.capacity_margin / p.chillers as f64;
        let mut plant = Self {
            p,
            unit_w,
            heat_capacity_j_per_k: design_heat_w / 1e3
                * p.loop_volume_l_per_kw
                * RHO_KG_PER_L
                * CP_J_PER_KG_K,
            units: vec![Unit::default(); p.chillers],
            surplus_s: 0.0,
            supply_c: setpoint_c,
        };
        // Steady state: the units the load needs, running at their capacity.
        let needed = plant.units_needed(load_w);
        for u in plant.units.iter_mut().take(needed) {
            u.running = true;
            u.capacity_w = unit_w;
        }
        plant
    }

    fn units_needed(&self, load_w: f64) -> usize {
        // A count of units, from a non-negative load (at most `chillers`).
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let n = (load_w.max(0.0) * 1.1 / self.unit_w).ceil() as usize;
        n.clamp(1, self.p.chillers)
    }

    /// Trips `units` running chillers (the first running ones).
    pub fn trip(&mut self, units: usize) {
        for u in self
            .units
            .iter_mut()
            .filter(|u| u.running && !u.tripped)
            .take(units)
        {
            *u = Unit {
                tripped: true,
                running: false,
                capacity_w: 0.0,
            };
        }
    }

    /// Capacity of the running chillers now, W.
    pub fn capacity_w(&self) -> f64 {
        self.units.iter().map(|u| u.capacity_w).sum()
    }

    /// Chillers running now.
    pub fn running(&self) -> usize {
        self.units.iter().filter(|u| u.running).count()
    }

    /// One facility step of `dt_s` under the campus's heat `load_w`, holding `setpoint_c`.
    pub fn step(&mut self, dt_s: f64, load_w: f64, setpoint_c: f64) {
        // Staging: start a unit (one per step) while the running ones are short of the load
        // with its margin; stop one when the rest have carried it for the stage-down delay.
        let needed = self.units_needed(load_w);
        let running = self.running();
        self.surplus_s = if running > needed {
            self.surplus_s + dt_s
        } else {
            0.0
        };
        if running < needed {
            if let Some(u) = self.units.iter_mut().find(|u| !u.running && !u.tripped) {
                u.running = true;
            }
        } else if self.surplus_s >= self.p.stage_down_delay_s
            && let Some(u) = self.units.iter_mut().rev().find(|u| u.running)
        {
            u.running = false;
            u.capacity_w = 0.0;
            self.surplus_s = 0.0;
        }
        let a = (-dt_s / self.p.start_time_constant_s).exp();
        for u in self.units.iter_mut().filter(|u| u.running) {
            u.capacity_w = self.unit_w + (u.capacity_w - self.unit_w) * a;
        }
        let wanted = load_w
            + self.heat_capacity_j_per_k * (self.supply_c - setpoint_c)
                / self.p.control_time_constant_s;
        let removed = wanted.clamp(0.0, self.capacity_w());
        self.supply_c += (load_w - removed) * dt_s / self.heat_capacity_j_per_k;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_supply_holds_with_capacity_and_rises_while_a_started_chiller_comes_up() {
        let design = 100e6;
        let mut plant = WaterPlant::new(WaterPlantParams::default(), design, 80e6, 25.0);
        // 80 MW + 10 % on 10 MW units: 9 running of 12.
        assert_eq!(plant.running(), 9);
        for _ in 0..600 {
            plant.step(1.0, 80e6, 25.0);
        }
        assert!((plant.supply_c - 25.0).abs() < 1e-6, "{}", plant.supply_c);
        // Two trip: 70 MW left under 80 MW; two standby units start and come up.
        plant.trip(2);
        let mut peak = plant.supply_c;
        for _ in 0..1800 {
            plant.step(1.0, 80e6, 25.0);
            peak = peak.max(plant.supply_c);
        }
        // 10 MW short at first, on 200 m3 of water (0.84 GJ/K), until the two started units
        // carry it (83 s): 370 MJ, 0.44 K.
        assert!((peak - 25.44).abs() < 0.05, "peak {peak}");
        assert!(
            (plant.supply_c - 25.0).abs() < 0.05,
            "back to {}",
            plant.supply_c
        );
        assert_eq!(plant.running(), 9);
    }

    #[test]
    fn a_plant_short_of_installed_capacity_warms_without_end() {
        let p = WaterPlantParams {
            chillers: 4,
            capacity_margin: 1.0,
            ..WaterPlantParams::default()
        };
        let mut plant = WaterPlant::new(p, 100e6, 100e6, 25.0);
        plant.trip(1);
        let before = plant.supply_c;
        for _ in 0..100 {
            plant.step(1.0, 100e6, 25.0);
        }
        // 25 MW short on 0.84 GJ/K: 0.03 K/s.
        let rise = plant.supply_c - before;
        assert!((rise - 2.99).abs() < 0.1, "rise {rise}");
    }

    #[test]
    fn bad_parameters_are_named() {
        let p = WaterPlantParams {
            capacity_margin: 0.5,
            ..WaterPlantParams::default()
        };
        let e = p.validate().unwrap_err().to_string();
        assert!(e.contains("water_plant.capacity_margin"), "{e}");
    }
}
