//! What the power controller reads (filled by the board or the simulator) and what it
//! commands and reports.

use crate::Instant;

use super::{PSUS_PER_SHELF, PowerState, SHELVES, TRAYS};

/// What the controller reads.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerInputs {
    /// AC input present.
    pub ac_present: bool,
    /// Rack input power from the AC feed, W.
    pub input_power_w: f32,
    /// Feed current, A.
    pub feed_current_a: f32,
    /// PSUs fitted.
    pub psu_present: [[bool; PSUS_PER_SHELF]; SHELVES],
    /// PSUs reporting a fault.
    pub psu_fault: [[bool; PSUS_PER_SHELF]; SHELVES],
    /// Each tray's demand (what its GPUs ask for), W.
    pub tray_demand_w: [f32; TRAYS],
    /// Each tray's power, W.
    pub tray_power_w: [f32; TRAYS],
    /// Each tray's hottest GPU, degC.
    pub tray_hottest_gpu_c: [f32; TRAYS],
    /// BBU state of charge, 0..=1.
    pub bbu_soc: f32,
    /// The row's thermal headroom and when it was received.
    pub headroom: Option<(f32, Instant)>,
    /// The CDU asks to isolate this rack.
    pub isolation_requested: bool,
}

/// What the controller commands and reports.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerOutputs {
    /// Tray power enables.
    pub tray_enable: [bool; TRAYS],
    /// Tray GPU power caps, W.
    pub tray_cap_w: [f32; TRAYS],
    /// Tray power floors (the GPUs burn up to this when asked less), W.
    pub tray_floor_w: [f32; TRAYS],
    /// PSU enables.
    pub psu_enable: [[bool; PSUS_PER_SHELF]; SHELVES],
    /// BBU power into the bus (positive: discharge), W.
    pub bbu_power_w: f32,
    /// Budget in force, W (input side).
    pub budget_w: f32,
    /// While `smoothing`: the PSUs' output target on the bus, W (the BBUs supply or absorb the
    /// difference to the load at once).
    pub grid_target_w: f32,
    /// Smoothing is in force: the PSUs follow `grid_target_w`.
    pub smoothing: bool,
    /// State.
    pub state: PowerState,
    /// Trays shed to protect the breaker or for a fault.
    pub shed_trays: u32,
    /// Modelled breaker thermal state, fraction of trip.
    pub breaker_thermal: f32,
}
