//! Every setting of the rack power controller, with its default and where it comes from.

use crate::annunciator::CONTROL_PERIOD_MS;

use super::TRAYS;

/// Settings. Defaults follow docs/domain.md (GB200 NVL72 class rack, ORV3 HPR shelves).
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerConfig {
    /// Control period, ms.
    pub period_ms: u32,
    /// Trays fitted.
    pub trays: usize,
    /// Host budget for rack input power, W.
    pub budget_w: f32,
    /// Feed breaker rated current, A.
    pub breaker_rated_a: f32,
    /// Feed line-to-line voltage, V.
    pub feed_voltage_v: f32,
    /// Thermal trip constant: at I = k x rated the breaker trips after `breaker_k_s / (k^2 - 1)` s.
    pub breaker_k_s: f32,
    /// Shed when the breaker's modelled thermal state passes this fraction of trip.
    pub breaker_shed_at: f32,
    /// Budget share of the breaker's continuous rating.
    pub breaker_budget_fraction: f32,
    /// PSU rating, W (5.5 kW).
    pub psu_rating_w: f32,
    /// PSU efficiency used to turn input budget into DC caps.
    pub psu_efficiency: f32,
    /// Largest tray cap, W.
    pub tray_max_w: f32,
    /// Smallest tray cap of an enabled tray, W.
    pub tray_floor_w: f32,
    /// Tray priorities (higher keeps power longer).
    pub tray_priority: [u8; TRAYS],
    /// A tray drawing more than this multiple of its cap for `tray_fault_s` is faulted.
    pub tray_fault_ratio: f32,
    /// See `tray_fault_ratio`, s.
    pub tray_fault_s: f32,
    /// Delay between tray enables in the power-on sequence, s.
    pub tray_stagger_s: f32,
    /// PSU insert debounce, s (1 s).
    pub psu_debounce_s: f32,
    /// PSU settle time after enable, s (0.5 s).
    pub psu_settle_s: f32,
    /// A faulted PSU stays off this long before a retry, s (5 s).
    pub psu_fault_off_s: f32,
    /// A retried PSU is on probation this long, s (4 s).
    pub psu_probation_s: f32,
    /// GPU temperature the thermal budget holds the hottest GPU below, degC (slowdown 83 - 3).
    pub gpu_limit_c: f32,
    /// Thermal budget integral gain, W per K per s.
    pub thermal_gain_w_per_k_s: f32,
    /// The CDU's headroom broadcast is stale after this long, s.
    pub headroom_stale_s: f32,
    /// Budget while the headroom broadcast is stale, W.
    pub conservative_budget_w: f32,
    /// Racks sharing the row's headroom.
    pub racks_in_row: f32,
    /// BBU usable energy when full, J.
    pub bbu_energy_j: f32,
    /// BBU largest discharge power, W.
    pub bbu_max_discharge_w: f32,
    /// BBU largest charge power, W.
    pub bbu_max_charge_w: f32,
    /// Guaranteed ride-through, s.
    pub ride_through_s: f32,
    /// Grid smoothing on.
    pub smoothing: bool,
    /// Grid-side ramp limit, W/s.
    pub ramp_limit_w_per_s: f32,
    /// Grid-side low-pass time constant, s.
    pub smoothing_tau_s: f32,
    /// State of charge kept for ride-through; smoothing works above it.
    pub soc_reserve: f32,
    /// Highest state of charge smoothing charges to.
    pub soc_max: f32,
    /// Highest power floor the GPUs are asked to burn while smoothing, when storage cannot
    /// absorb a drop, W (the trade of energy for a steadier grid that NVML's power smoothing
    /// makes too).
    pub power_floor_w: f32,
    /// Delay between tray sheds when isolating, s.
    pub isolation_shed_interval_s: f32,
    /// Static caps (the conventional baseline): every tray capped at budget / trays, no
    /// smoothing, no thermal budget.
    pub static_caps: bool,
}

impl Default for PowerConfig {
    fn default() -> Self {
        Self {
            period_ms: CONTROL_PERIOD_MS,
            trays: TRAYS,
            budget_w: 132_000.0,
            breaker_rated_a: 200.0,
            feed_voltage_v: 415.0,
            breaker_k_s: 100.0,
            breaker_shed_at: 0.5,
            breaker_budget_fraction: 0.95,
            psu_rating_w: 5_500.0,
            psu_efficiency: 0.96,
            tray_max_w: 9_000.0,
            tray_floor_w: 1_500.0,
            tray_priority: [1; TRAYS],
            tray_fault_ratio: 1.8,
            tray_fault_s: 0.5,
            tray_stagger_s: 0.5,
            psu_debounce_s: 1.0,
            psu_settle_s: 0.5,
            psu_fault_off_s: 5.0,
            psu_probation_s: 4.0,
            gpu_limit_c: 80.0,
            thermal_gain_w_per_k_s: 1_500.0,
            headroom_stale_s: 5.0,
            conservative_budget_w: 0.8 * 132_000.0,
            racks_in_row: 8.0,
            bbu_energy_j: 120_000.0 * 240.0,
            bbu_max_discharge_w: 160_000.0,
            bbu_max_charge_w: 15_000.0,
            ride_through_s: 300.0,
            smoothing: true,
            ramp_limit_w_per_s: 2_000.0,
            smoothing_tau_s: 30.0,
            soc_reserve: 0.5,
            soc_max: 0.95,
            power_floor_w: 0.8 * 132_000.0,
            isolation_shed_interval_s: 0.2,
            static_caps: false,
        }
    }
}
