//! A rack's electrical plant: the AC feed (outages, sags) through a thermal-magnetic breaker
//! into 8 power shelves of 6 PSUs (efficiency curve, faults) onto the 50 V busbar, with the
//! battery backup units (state of charge, power limits, charge rate) on the same bus.
//!
//! Per step: the trays' DC load (plus a short inrush when a tray is switched on) is carried by
//! the PSUs, less what the BBUs are told to supply (or plus what they charge); on AC loss (or a
//! sag deeper than the PSUs' 20 ms hold-up, which at a 100 ms step is the same) or a tripped
//! breaker the BBUs take the whole bus (they trigger within 2 ms, docs/domain.md). If the PSUs'
//! capacity or the BBUs' power or charge runs out, the bus collapses and the trays lose power:
//! the outcome the power controller must prevent, counted as a failure.

use rack_control::power::{PSUS_PER_SHELF, SHELVES, TRAYS};
use serde::{Deserialize, Serialize};

use crate::validate::{Invalid, Range, check_fields};

/// Electrical parameters of a rack (docs/domain.md: ORV3 HPR shelves, GB200 rack BBU ride-through).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ElectricalParams {
    /// PSU rating, W (HPR: 5.5 kW).
    pub psu_rating_w: f64,
    /// PSU peak efficiency (at half load), fraction (assumed, Titanium class).
    pub psu_peak_efficiency: f64,
    /// Feed line-to-line voltage, V.
    pub feed_voltage_v: f64,
    /// Feed power factor.
    pub power_factor: f64,
    /// Breaker rated current, A (assumed for a ~132 kW rack).
    pub breaker_rated_a: f64,
    /// Breaker thermal constant: at k x rated it trips after `breaker_k_s / (k^2 - 1)` s (assumed curve).
    pub breaker_k_s: f64,
    /// Breaker magnetic (instantaneous) trip, multiple of rated current.
    pub breaker_magnetic_x: f64,
    /// BBU usable energy, J (DOMAIN: BBU runs up to 240 s at full load).
    pub bbu_energy_j: f64,
    /// BBU largest discharge power, W.
    pub bbu_max_discharge_w: f64,
    /// BBU largest charge power, W.
    pub bbu_max_charge_w: f64,
    /// BBU round-trip charge efficiency.
    pub bbu_charge_efficiency: f64,
    /// Inrush when a tray is switched on, W for one step (assumed: bulk capacitors).
    pub tray_inrush_w: f64,
}

impl Default for ElectricalParams {
    fn default() -> Self {
        Self {
            psu_rating_w: 5_500.0,
            psu_peak_efficiency: 0.965,
            feed_voltage_v: 415.0,
            power_factor: 0.99,
            breaker_rated_a: 200.0,
            breaker_k_s: 100.0,
            breaker_magnetic_x: 10.0,
            bbu_energy_j: 120_000.0 * 240.0,
            bbu_max_discharge_w: 160_000.0,
            bbu_max_charge_w: 15_000.0,
            bbu_charge_efficiency: 0.95,
            tray_inrush_w: 6_000.0,
        }
    }
}

/// The physical range of every [`ElectricalParams`] field (checked before any simulation).
pub const ELECTRICAL_RANGES: &[Range] = &[
    Range::new(
        "psu_rating_w",
        500.0,
        20_000.0,
        "W per PSU; ORV3 3 kW, HPR 5.5 kW",
    ),
    Range::new(
        "psu_peak_efficiency",
        0.5,
        0.99,
        "PSU efficiency at half load; Titanium ~0.965",
    ),
    Range::new(
        "feed_voltage_v",
        100.0,
        1_000.0,
        "V line to line; 415 V in Europe, 480 V in North America",
    ),
    Range::new("power_factor", 0.5, 1.0, "of the feed"),
    Range::new(
        "breaker_rated_a",
        10.0,
        2_000.0,
        "A; ~200 A for a 132 kW rack at 415 V",
    ),
    Range::new(
        "breaker_k_s",
        1.0,
        10_000.0,
        "s of the thermal curve: at k x rated it trips after k_s / (k^2 - 1)",
    ),
    Range::new(
        "breaker_magnetic_x",
        2.0,
        50.0,
        "instantaneous trip, multiple of rated current",
    ),
    Range::new(
        "bbu_energy_j",
        0.0,
        1.0e9,
        "J usable in a rack's BBUs; 240 s at 120 kW is 28.8 MJ",
    ),
    Range::new("bbu_max_discharge_w", 0.0, 1.0e6, "W"),
    Range::new("bbu_max_charge_w", 0.0, 1.0e6, "W"),
    Range::new("bbu_charge_efficiency", 0.5, 1.0, "round trip"),
    Range::new(
        "tray_inrush_w",
        0.0,
        100_000.0,
        "W for one step when a tray is switched on",
    ),
];

impl ElectricalParams {
    /// Checks every field against [`ELECTRICAL_RANGES`].
    pub fn validate(&self) -> Result<(), Invalid> {
        check_fields(self, ELECTRICAL_RANGES)
    }
}

/// One rack's electrical state.
#[derive(Debug, Clone, PartialEq)]
pub struct RackElectrical {
    /// Parameters.
    pub p: ElectricalParams,
    /// PSUs that have failed.
    pub psu_failed: [[bool; PSUS_PER_SHELF]; SHELVES],
    /// BBU state of charge, 0..=1.
    pub soc: f64,
    breaker_thermal: f64,
    /// The breaker has tripped (stays open).
    pub tripped: bool,
    /// Last step's tray enables (a rack has at most `TRAYS`).
    last_tray_enable: [bool; TRAYS],
    /// Last step's results.
    pub state: ElectricalState,
}

/// What a step produced.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ElectricalState {
    /// AC input power from the grid, W.
    pub input_power_w: f64,
    /// Feed current, A.
    pub feed_current_a: f64,
    /// BBU power into the bus (positive: discharge), W.
    pub bbu_power_w: f64,
    /// The bus collapsed: the trays lost power this step.
    pub bus_lost: bool,
    /// The AC feed is up and the breaker closed.
    pub ac_ok: bool,
    /// The DC load on the bus (trays and inrush), W.
    pub load_w: f64,
}

impl RackElectrical {
    /// A rack with full BBUs and healthy PSUs.
    pub fn new(p: ElectricalParams) -> Self {
        Self {
            p,
            psu_failed: [[false; PSUS_PER_SHELF]; SHELVES],
            soc: 1.0,
            breaker_thermal: 0.0,
            tripped: false,
            last_tray_enable: [false; TRAYS],
            state: ElectricalState::default(),
        }
    }

    /// PSU efficiency at a load fraction (a Titanium-like curve: best near half load).
    pub fn efficiency(&self, load_fraction: f64) -> f64 {
        let x = load_fraction.clamp(0.02, 1.2);
        self.p.psu_peak_efficiency - 0.06 * (x - 0.5).powi(2) - 0.004 / x
    }

    /// Advances by `dt_s`: `dc_load_w` from the trays, `tray_enable` (up to `TRAYS`) to find inrush,
    /// `psu_enable` from the controller, `psu_target_w` (the PSUs' output limit while
    /// smoothing: the BBUs, on the same bus, supply or absorb the difference at once, as ORV3
    /// BBUs do by bus voltage) or, without a target, `bbu_command_w` (positive: discharge),
    /// and whether the AC feed is up.
    #[allow(clippy::too_many_arguments)] // one argument per wire of the rack
    pub fn step(
        &mut self,
        dt_s: f64,
        dc_load_w: f64,
        tray_enable: &[bool],
        psu_enable: &[[bool; PSUS_PER_SHELF]; SHELVES],
        psu_target_w: Option<f64>,
        bbu_command_w: f64,
        ac_present: bool,
    ) {
        let p = self.p;
        // Byte-wide counts with a non-short-circuit `&` (and the PSUs as one flat slice): no
        // branch per flag. They run for every rack every step; this form took the step from
        // 556 to 380 instructions.
        let mut switched_on = 0u8;
        for (last, on) in self.last_tray_enable.iter_mut().zip(tray_enable) {
            switched_on += u8::from(*on & !*last);
            *last = *on;
        }
        for last in self.last_tray_enable.iter_mut().skip(tray_enable.len()) {
            *last = false;
        }
        let load = dc_load_w + f64::from(switched_on) * p.tray_inrush_w;
        let ac_ok = ac_present && !self.tripped;
        // (A byte-wide count: at most 48.)
        let healthy = psu_enable
            .as_flattened()
            .iter()
            .zip(self.psu_failed.as_flattened())
            .fold(0u8, |n, (on, failed)| n + u8::from(*on & !*failed));
        let healthy = f64::from(healthy);
        let capacity = healthy * p.psu_rating_w;

        let (bbu, from_psus, bus_lost) =
            self.share_load(ac_ok, load, capacity, psu_target_w, bbu_command_w);
        let energy = if bbu >= 0.0 {
            bbu * dt_s
        } else {
            bbu * dt_s * p.bbu_charge_efficiency
        };
        self.soc = (self.soc - energy / p.bbu_energy_j).clamp(0.0, 1.0);

        let fraction = if capacity > 0.0 {
            from_psus / capacity
        } else {
            0.0
        };
        let input = if from_psus > 0.0 {
            from_psus / self.efficiency(fraction)
        } else {
            0.0
        };
        let current = self.carry_through_breaker(dt_s, input, ac_ok);
        self.state = ElectricalState {
            input_power_w: input,
            feed_current_a: current,
            bbu_power_w: bbu,
            bus_lost,
            ac_ok,
            load_w: load,
        };
    }

    /// How the BBUs and the PSUs share `load` (W): the BBUs take their command (or the
    /// difference to the PSUs' target) within their power and charge; the PSUs the rest up to
    /// their `capacity`, where the BBUs pick up what they still can. Without AC the BBUs carry
    /// it all. Returns the BBUs' power (positive: discharge), the PSUs' and whether the bus
    /// collapsed.
    fn share_load(
        &self,
        ac_ok: bool,
        load: f64,
        capacity: f64,
        psu_target_w: Option<f64>,
        bbu_command_w: f64,
    ) -> (f64, f64, bool) {
        let p = self.p;
        let mut bus_lost = false;
        let (bbu, from_psus) = if ac_ok {
            let wanted = psu_target_w.map_or(bbu_command_w, |target| load - target);
            let mut bbu = wanted
                .clamp(-p.bbu_max_charge_w, p.bbu_max_discharge_w)
                .min(load);
            if self.soc <= 0.0 {
                bbu = bbu.min(0.0);
            }
            if self.soc >= 1.0 {
                bbu = bbu.max(0.0);
            }
            let mut from_psus = load - bbu;
            if from_psus > capacity {
                // PSUs current-limit; the BBUs pick up what they can, the rest is lost.
                let short = from_psus - capacity;
                let extra = short.min(p.bbu_max_discharge_w - bbu.max(0.0)).max(0.0);
                let extra = if self.soc > 0.0 { extra } else { 0.0 };
                bbu += extra;
                from_psus = capacity;
                bus_lost = short - extra > 1.0;
            }
            (bbu, from_psus)
        } else {
            let can = if self.soc > 0.0 {
                p.bbu_max_discharge_w
            } else {
                0.0
            };
            bus_lost = load > can + 1.0;
            (load.min(can), 0.0)
        };
        (bbu, from_psus, bus_lost)
    }

    /// The feed current for `input_w` and the breaker's thermal-magnetic state: heats above
    /// rated current, trips at its thermal limit or instantly at the magnetic multiple.
    fn carry_through_breaker(&mut self, dt_s: f64, input_w: f64, ac_ok: bool) -> f64 {
        let p = self.p;
        // Reciprocals of parameters (off the chain from load to breaker): the chain divides
        // only where the model must.
        let amps_per_w = 1.0 / (3f64.sqrt() * p.feed_voltage_v * p.power_factor);
        let current = input_w * amps_per_w;
        let ratio = current * (1.0 / p.breaker_rated_a);
        self.breaker_thermal =
            (self.breaker_thermal + (ratio * ratio - 1.0) * (dt_s / p.breaker_k_s)).max(0.0);
        if ac_ok && (self.breaker_thermal >= 1.0 || ratio >= p.breaker_magnetic_x) {
            self.tripped = true;
        }
        current
    }

    /// Modelled breaker thermal state, fraction of trip.
    pub fn breaker_thermal(&self) -> f64 {
        self.breaker_thermal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_ON: [[bool; PSUS_PER_SHELF]; SHELVES] = [[true; PSUS_PER_SHELF]; SHELVES];

    #[test]
    fn the_psus_carry_the_load_with_their_losses() {
        let mut e = RackElectrical::new(ElectricalParams::default());
        e.step(0.1, 120_000.0, &[], &ALL_ON, None, 0.0, true);
        let s = e.state;
        assert!(!s.bus_lost);
        assert!(
            s.input_power_w > 120_000.0 && s.input_power_w < 130_000.0,
            "{s:?}"
        );
        assert!((s.feed_current_a - s.input_power_w / (3f64.sqrt() * 415.0 * 0.99)).abs() < 1e-9);
    }

    #[test]
    fn on_ac_loss_the_bbus_carry_the_bus_and_drain() {
        let mut e = RackElectrical::new(ElectricalParams::default());
        for _ in 0..100 {
            e.step(0.1, 120_000.0, &[], &ALL_ON, None, 0.0, false);
        }
        assert!(!e.state.bus_lost);
        assert_eq!(e.state.input_power_w, 0.0);
        let expected = 1.0 - 120_000.0 * 10.0 / (120_000.0 * 240.0);
        assert!((e.soc - expected).abs() < 1e-9, "{}", e.soc);
    }

    #[test]
    fn a_sustained_overload_trips_the_breaker_on_its_curve() {
        let mut e = RackElectrical::new(ElectricalParams::default());
        // Twice the rated current trips after 100 / (4 - 1) = 33 s.
        let load = 2.0 * 200.0 * 3f64.sqrt() * 415.0 * 0.99 * 0.96;
        let mut t = 0.0;
        while !e.tripped && t < 100.0 {
            e.step(0.1, load, &[], &ALL_ON, None, 0.0, true);
            t += 0.1;
        }
        assert!(e.tripped);
        assert!((25.0..45.0).contains(&t), "tripped after {t} s");
    }

    #[test]
    fn too_few_psus_collapse_the_bus() {
        let mut e = RackElectrical::new(ElectricalParams::default());
        e.soc = 0.0;
        let mut psus = [[false; PSUS_PER_SHELF]; SHELVES];
        psus[0] = [true; PSUS_PER_SHELF];
        e.step(0.1, 120_000.0, &[], &psus, None, 0.0, true);
        assert!(e.state.bus_lost);
    }
}
