//! What the coolant controller reads (filled by the board or the simulator), what it commands
//! and reports, and why a setting can be refused.

use crate::Instant;
use crate::sensor::Reading;

use super::machine::CoolantState;
use super::{MAX_PUMPS, MAX_RACKS, MAX_SUPPLY_SENSORS, MAX_ZONES};

/// A rack's power report from the row bus.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RackReport {
    /// Rack input power, W.
    pub input_power_w: f32,
    /// Hottest GPU, degC.
    pub hottest_gpu_c: f32,
    /// When it was received.
    pub at: Instant,
}

/// Everything the controller reads, filled by the board or the simulator.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CoolantInputs {
    /// Secondary supply temperatures, degC (first `supply_sensors` used).
    pub supply_temps_c: [Reading; MAX_SUPPLY_SENSORS],
    /// Secondary return temperature, degC.
    pub return_temp_c: Reading,
    /// Primary (facility) supply temperature, degC.
    pub primary_supply_temp_c: Reading,
    /// Primary (facility) return temperature, degC.
    pub primary_return_temp_c: Reading,
    /// Secondary flow, L/min.
    pub flow_lpm: Reading,
    /// Secondary differential pressure, kPa.
    pub dp_kpa: Reading,
    /// Primary valve position feedback, %.
    pub valve_feedback_pct: Reading,
    /// Reservoir level switch closed (level good).
    pub reservoir_level_ok: bool,
    /// Reservoir level, % (reported; the level switch is what control acts on).
    pub reservoir_level_pct: f32,
    /// Pump tachometers, rpm.
    pub pump_tach_rpm: [f32; MAX_PUMPS],
    /// Pump drive over-current inputs.
    pub pump_overcurrent: [bool; MAX_PUMPS],
    /// Leak detectors: moisture cable per zone.
    pub leak_moisture: [bool; MAX_ZONES],
    /// Leak detectors: float switch per zone.
    pub leak_float: [bool; MAX_ZONES],
    /// Latest power report of each rack, if any was ever received.
    pub rack_reports: [Option<RackReport>; MAX_RACKS],
}

impl CoolantInputs {
    /// Inputs with every reading at `value` taken at `at` (a starting point for boards and tests).
    pub fn uniform(at: Instant, temp_c: f32) -> Self {
        let r = Reading { value: temp_c, at };
        Self {
            supply_temps_c: [r; MAX_SUPPLY_SENSORS],
            return_temp_c: r,
            primary_supply_temp_c: r,
            primary_return_temp_c: r,
            flow_lpm: Reading { value: 0.0, at },
            dp_kpa: Reading { value: 0.0, at },
            valve_feedback_pct: Reading { value: 0.0, at },
            reservoir_level_ok: true,
            reservoir_level_pct: 100.0,
            pump_tach_rpm: [0.0; MAX_PUMPS],
            pump_overcurrent: [false; MAX_PUMPS],
            leak_moisture: [false; MAX_ZONES],
            leak_float: [false; MAX_ZONES],
            rack_reports: [None; MAX_RACKS],
        }
    }

    /// Marks every analog reading (temperatures, flow, dP, valve feedback) as taken at `at`,
    /// their values unchanged: fresh samples of a steady plant.
    pub fn restamp_readings(&mut self, at: Instant) {
        for r in &mut self.supply_temps_c {
            r.at = at;
        }
        for r in [
            &mut self.return_temp_c,
            &mut self.primary_supply_temp_c,
            &mut self.primary_return_temp_c,
            &mut self.flow_lpm,
            &mut self.dp_kpa,
            &mut self.valve_feedback_pct,
        ] {
            r.at = at;
        }
    }
}

/// State of one pump as the controller sees it.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PumpState {
    /// Not running, not available.
    Off,
    /// Available to take over.
    Standby,
    /// Running.
    Running,
    /// Faulted: will not be started until cleared.
    Faulted,
}

/// Everything the controller commands and reports.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CoolantOutputs {
    /// Primary valve demand, %.
    pub valve_demand_pct: f32,
    /// Pump speed commands, % (0 = stopped).
    pub pump_speed_pct: [f32; MAX_PUMPS],
    /// Rack isolation valves: true = open.
    pub rack_valve_open: [bool; MAX_RACKS],
    /// Racks whose electrical isolation is requested on the row bus (bit n = rack n).
    pub isolation_requests: u16,
    /// Heat the loop could still absorb, W (row bus broadcast).
    pub headroom_w: f32,
    /// State.
    pub state: CoolantState,
    /// The voted secondary supply temperature, degC, if any sensor is valid.
    pub supply_temp_c: Option<f32>,
    /// Supply setpoint in force, degC.
    pub supply_setpoint_c: f32,
    /// Differential pressure setpoint in force, kPa.
    pub dp_setpoint_kpa: f32,
    /// Feed-forward from the row bus in use.
    pub feed_forward_active: bool,
    /// Feed-forward term, valve %.
    pub feed_forward_pct: f32,
    /// The row heat load the controller believes, W.
    pub heat_load_w: f32,
    /// Index of the lead pump.
    pub lead_pump: u8,
    /// Each pump's state.
    pub pump_states: [PumpState; MAX_PUMPS],
    /// Sensors that failed validation (bits per [`sensor_index`]).
    pub sensor_faults: u32,
}

/// Why a setting was refused.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SettingError {
    /// Outside the allowed range.
    OutOfRange {
        /// Smallest allowed.
        min: f32,
        /// Largest allowed.
        max: f32,
    },
    /// No such instance (pump, rack).
    NoSuchInstance {
        /// How many there are.
        count: u8,
    },
    /// Not now (for example restoring a rack whose leak is still wet).
    NotPermitted,
}
