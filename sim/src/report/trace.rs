//! What a run leaves behind: the trace (one row per record interval), the markers on the
//! time axis (faults injected, the controllers' events), the KPIs, and the rack the report
//! shows. The run fills these; the report reads them.

use rack_control::coolant::{CoolantState, MAX_PUMPS, MAX_RACKS};

use crate::plant::params::RowParams;
use crate::report::kpis::Kpis;

/// One sample of the trace.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TraceRow {
    /// Time, s.
    pub t_s: f64,
    /// Secondary supply (true), degC.
    pub supply_c: f64,
    /// Supply setpoint, degC.
    pub setpoint_c: f64,
    /// Secondary return (true), degC.
    pub return_c: f64,
    /// Facility supply, degC.
    pub facility_c: f64,
    /// Secondary flow, L/min.
    pub flow_lpm: f64,
    /// Differential pressure, kPa.
    pub dp_kpa: f64,
    /// Differential pressure setpoint, kPa.
    pub dp_setpoint_kpa: f64,
    /// Valve position, %.
    pub valve_pct: f64,
    /// Pump speeds, rpm.
    pub pump_rpm: [f64; MAX_PUMPS],
    /// Hottest GPU, degC.
    pub hottest_gpu_c: f64,
    /// Heat into the liquid, kW.
    pub heat_in_kw: f64,
    /// Heat rejected, kW.
    pub hx_kw: f64,
    /// Thermal headroom broadcast, kW.
    pub headroom_kw: f64,
    /// Pump power, kW.
    pub pump_kw: f64,
    /// Row input power, kW.
    pub row_power_kw: f64,
    /// Controller state.
    pub state: Option<CoolantState>,
    /// Feed-forward in use.
    pub feed_forward: bool,
    /// The racks' power side, when the scenario has one.
    pub power: Option<PowerTrace>,
}

/// The power side of a trace row.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PowerTrace {
    /// Row input power from the grid, kW.
    pub row_grid_kw: f64,
    /// Row grid-side ramp rate over the last second, kW/s.
    pub row_ramp_kw_per_s: f64,
    /// Each rack's power (the row's racks first; the plot and CSV show the one that matters).
    pub racks: [RackPowerTrace; MAX_RACKS],
}

/// One rack's power in a trace row (f32: a trace holds up to 20,000 rows of 16 racks).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RackPowerTrace {
    /// Input power from the grid, kW.
    pub grid_kw: f32,
    /// Budget in force, kW.
    pub budget_kw: f32,
    /// Sum of the enabled trays' caps, kW.
    pub caps_kw: f32,
    /// BBU power (positive: discharge), kW.
    pub bbu_kw: f32,
    /// BBU state of charge, %.
    pub bbu_soc_pct: f32,
}

/// The rack a report shows, and why that one.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FocusRack {
    /// The rack (0-based).
    pub rack: usize,
    /// Why: a fault acted on it, it was isolated, or it had the hottest GPU.
    pub why: String,
}

/// A marker on the time axis: a fault injected or an event of a controller.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Marker {
    /// Time, s.
    pub t_s: f64,
    /// The device it concerns: `CDU`, `rack 3`, `row` (every rack).
    pub device: String,
    /// What.
    #[serde(rename = "event")]
    pub label: String,
    /// A fault (true) or an alarm/event (false).
    pub fault: bool,
}

/// Everything a run produced.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// The trace, one row per record interval.
    pub trace: Vec<TraceRow>,
    /// Faults and alarms on the time axis.
    pub markers: Vec<Marker>,
    /// Time series that the KPIs need at every step.
    pub kpis: Kpis,
    /// The rack whose power the report shows (runs with a `[power]` section).
    pub focus_rack: Option<FocusRack>,
    /// The row's parameters (the plot draws its limits and scales from them).
    pub row: RowParams,
}
