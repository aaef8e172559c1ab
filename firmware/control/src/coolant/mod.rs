//! The row's coolant distribution unit (CDU) controller.
//!
//! ## Theory of operation
//! Every `period_ms` (default 100 ms) the board or simulator calls [`CoolantController::step`]
//! with the sensor readings, pump tachs, leak detectors and the racks' power reports from the
//! row bus. The step:
//! 1. **validates every sensor** ([`crate::sensor`]) and votes the redundant secondary supply
//!    sensors; with none left it goes **Failsafe**: valve fully open, pumps at a safe speed;
//! 2. **holds the secondary supply temperature** with the primary (facility water) valve: a PID
//!    whose feed-forward is the valve position the heat exchanger model says rejects the row's
//!    heat load (from the racks' power reports); when the reports go stale the feed-forward is
//!    dropped without a bump (the integral takes it over);
//! 3. **holds the differential pressure** (or flow) with the lead pump's speed, the setpoint
//!    reset from the heat load (the flow that keeps the design temperature rise) and raised
//!    when the hottest GPU's margin runs short, so the pumps run no faster than needed;
//!    watches the running pump (tach lost, under-speed, over-current) and **fails over** to the
//!    standby pump; **rotates** the lead at its interval;
//! 4. handles **leaks**: a wet detector raises an alarm at once; if it stays wet for the
//!    reaction delay, the rack is **isolated** (valve closed, electrical isolation requested on
//!    the row bus) and the others keep being served; a detector that dries within the delay
//!    cancels the reaction;
//! 5. raises **alarms** with delay and hysteresis (supply high/low, inhibited during start-up),
//!    reservoir low (no pump start without level), pump fault, valve not following its demand,
//!    cannot hold the setpoint, row bus silent;
//! 6. publishes the row's **thermal headroom** for the racks' power controllers;
//! 7. runs the **state machine** below; every transition is recorded with its reason.
//!
//! ## States
//! ```text
//!            start (level ok)         pump at speed, supply valid
//!  Stopped ─────────────────▶ Startup ────────────────────────▶ Running
//!     ▲                          │                             │   ▲
//!     │ stop command             │ fault          fault        ▼   │ faults cleared
//!     └──────── (any) ◀──────────┴──────────────────────────▶ Degraded
//!                                    no valid supply sensor   │   ▲ supply sensor back
//!                      (Startup/Running/Degraded) ──────────▶ Failsafe
//! ```
//! The table [`TRANSITIONS`] is the whole machine: a move that is not in it does not happen.

pub mod model;

use heapless::Vec;

use crate::Instant;
use crate::alarm::{AlarmChange, AlarmTable, DelayedLevel};
use crate::events::EventLog;
use crate::pid::{Pid, PidConfig};
use crate::sensor::{Reading, SensorLimits, Status, Validator, vote};

pub use model::{FullOpen, HxModel, PrimarySolve};

/// Redundant secondary supply sensors supported.
pub const MAX_SUPPLY_SENSORS: usize = 3;
/// Pumps supported.
pub const MAX_PUMPS: usize = 3;
/// Racks supported in a row.
pub const MAX_RACKS: usize = 16;
/// Leak zones: one per rack, plus the CDU's own (zone index `racks`).
pub const MAX_ZONES: usize = MAX_RACKS + 1;
/// Events the controller's log holds.
pub const EVENT_LOG_LEN: usize = 64;
/// Alarms the controller's table holds.
pub const ALARM_TABLE_LEN: usize = 24;

/// Sensor instance numbers used in `SensorFault` alarms (match the protocol's fault bits).
pub mod sensor_index {
    /// Secondary supply sensor `n` is `SUPPLY_0 + n`.
    pub const SUPPLY_0: u8 = 0;
    /// Secondary return temperature.
    pub const RETURN: u8 = 3;
    /// Primary supply temperature.
    pub const PRIMARY_SUPPLY: u8 = 4;
    /// Primary return temperature.
    pub const PRIMARY_RETURN: u8 = 5;
    /// Secondary flow.
    pub const FLOW: u8 = 6;
    /// Differential pressure.
    pub const DIFFERENTIAL_PRESSURE: u8 = 7;
    /// Valve position feedback.
    pub const VALVE_FEEDBACK: u8 = 9;
}

/// The controller's states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CoolantState {
    /// Pumps off.
    Stopped,
    /// Pumps starting; supply alarms inhibited.
    Startup,
    /// Normal control.
    Running,
    /// Control continues with a fault present (sensor, pump, valve, isolated rack).
    Degraded,
    /// No valid supply measurement: valve fully open, pumps at a safe speed.
    Failsafe,
}

/// Why something happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Controller start.
    Boot,
    /// A technician or host asked.
    Command,
    /// Start-up finished.
    StartupComplete,
    /// A sensor failed validation.
    SensorFault,
    /// No valid secondary supply sensor.
    NoValidSupplySensor,
    /// A pump faulted.
    PumpFault,
    /// The valve does not follow its demand.
    ValveFault,
    /// A confirmed leak.
    Leak,
    /// Reservoir level switch open.
    ReservoirLow,
    /// The fault cleared.
    Recovered,
    /// Scheduled lead pump rotation.
    LeadRotation,
}

/// Alarm codes (named as in the protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alarm {
    /// Supply above setpoint + band, held for the delay.
    SupplyTempHigh,
    /// Supply below setpoint - band, held for the delay.
    SupplyTempLow,
    /// A sensor failed validation (instance: [`sensor_index`]).
    SensorFault,
    /// No valid supply sensor: failsafe.
    SupplySensorsLost,
    /// A leak detector is wet (instance: zone; critical once confirmed).
    LeakDetected,
    /// Reservoir level low.
    ReservoirLow,
    /// A pump faulted (instance: pump).
    PumpFault,
    /// The valve does not follow its demand.
    ValveFault,
    /// The loop cannot hold the supply setpoint.
    CannotHoldSetpoint,
    /// No rack power reports on the row bus.
    RowBusSilent,
}

/// What the event log records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoolantEvent {
    /// The state machine moved.
    StateChanged {
        /// From.
        from: CoolantState,
        /// To.
        to: CoolantState,
        /// Why.
        reason: Reason,
    },
    /// An alarm was raised.
    AlarmRaised {
        /// Which.
        alarm: Alarm,
        /// Instance.
        instance: u8,
    },
    /// An alarm's condition cleared.
    AlarmCleared {
        /// Which.
        alarm: Alarm,
        /// Instance.
        instance: u8,
    },
    /// The lead pump changed.
    LeadPumpChanged {
        /// Old lead.
        from: u8,
        /// New lead.
        to: u8,
        /// Failover or rotation.
        reason: Reason,
    },
    /// A rack was isolated.
    RackIsolated {
        /// Which rack.
        rack: u8,
    },
    /// The feed-forward from the row bus was dropped (false) or resumed (true).
    FeedForward {
        /// Active after the change.
        active: bool,
    },
    /// The supply setpoint changed, 0.01 degC.
    SetpointChanged {
        /// New setpoint, 0.01 degC.
        centi_c: i32,
    },
}

/// What the state machine reacts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Start the pumps.
    Start,
    /// Start-up finished.
    StartupDone,
    /// A fault appeared.
    Fault,
    /// All faults cleared.
    FaultsCleared,
    /// No valid supply measurement.
    SupplyLost,
    /// A supply measurement is back.
    SupplyRestored,
    /// Stop.
    Stop,
}

/// The state machine: (from, trigger, to). Anything not here is not a transition.
pub const TRANSITIONS: &[(CoolantState, Trigger, CoolantState)] = &[
    (CoolantState::Stopped, Trigger::Start, CoolantState::Startup),
    (
        CoolantState::Startup,
        Trigger::StartupDone,
        CoolantState::Running,
    ),
    (
        CoolantState::Startup,
        Trigger::Fault,
        CoolantState::Degraded,
    ),
    (
        CoolantState::Running,
        Trigger::Fault,
        CoolantState::Degraded,
    ),
    (
        CoolantState::Degraded,
        Trigger::FaultsCleared,
        CoolantState::Running,
    ),
    (
        CoolantState::Startup,
        Trigger::SupplyLost,
        CoolantState::Failsafe,
    ),
    (
        CoolantState::Running,
        Trigger::SupplyLost,
        CoolantState::Failsafe,
    ),
    (
        CoolantState::Degraded,
        Trigger::SupplyLost,
        CoolantState::Failsafe,
    ),
    (
        CoolantState::Failsafe,
        Trigger::SupplyRestored,
        CoolantState::Degraded,
    ),
    (CoolantState::Startup, Trigger::Stop, CoolantState::Stopped),
    (CoolantState::Running, Trigger::Stop, CoolantState::Stopped),
    (CoolantState::Degraded, Trigger::Stop, CoolantState::Stopped),
    (CoolantState::Failsafe, Trigger::Stop, CoolantState::Stopped),
];

/// Which variable the pumps hold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PumpControl {
    /// Secondary differential pressure, with the setpoint reset from the heat load.
    DifferentialPressure,
    /// Secondary flow.
    Flow,
    /// A fixed speed, % (the conventional constant-speed CDU; also a manual override).
    FixedSpeed(f32),
}

/// Every setting of the controller. Defaults follow `DOMAIN.md` (sources there).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CoolantConfig {
    /// Control period, ms.
    pub period_ms: u32,
    /// Racks served.
    pub racks: usize,
    /// Secondary supply sensors fitted (1..=3).
    pub supply_sensors: usize,
    /// Pumps fitted (2..=3); one runs, the others stand by.
    pub pumps: usize,
    /// Secondary supply setpoint, degC (Redfish CDU mockup: 30).
    pub supply_setpoint_c: f32,
    /// Allowed supply setpoint range, degC (Redfish mockup: 10..=35).
    pub supply_setpoint_min_c: f32,
    /// Allowed supply setpoint range, degC.
    pub supply_setpoint_max_c: f32,
    /// Supply temperature PID (output: valve %, reverse acting).
    pub temp_pid: PidConfig,
    /// Heat exchanger and valve nameplate, for feed-forward and headroom.
    pub hx: HxModel,
    /// Use the feed-forward from the racks' power reports.
    pub feed_forward: bool,
    /// Share of rack input power that reaches the liquid loop (assumed 0.9).
    pub liquid_capture_fraction: f32,
    /// A rack report older than this is stale, s.
    pub report_stale_after_s: f32,
    /// Time constant of the heat's arrival at the heat exchanger at design flow, s: the
    /// feed-forward follows the reported heat through this lag.
    pub feed_forward_lag_s: f32,
    /// Pumps hold differential pressure or flow.
    pub pump_control: PumpControl,
    /// Differential pressure at design flow, kPa (Redfish mockup: 35).
    pub dp_design_kpa: f32,
    /// Lowest differential pressure setpoint, kPa.
    pub dp_min_kpa: f32,
    /// Flow setpoint when holding flow, L/min.
    pub flow_setpoint_lpm: f32,
    /// Design heat load of the row, W.
    pub design_heat_w: f32,
    /// Design secondary temperature rise, K (10 K: 1.43 L/min per kW for water).
    pub design_rise_k: f32,
    /// Largest secondary flow the pumps deliver, as a multiple of design flow.
    pub max_flow_factor: f32,
    /// Coolant density, kg/L.
    pub coolant_density_kg_per_l: f32,
    /// Hydraulic exponent of the racks' pressure drop vs flow (cold plates: 1.85).
    pub flow_exponent: f32,
    /// GPU slowdown temperature, degC (H100 class ~83, assumed).
    pub gpu_slowdown_c: f32,
    /// GPU margin below slowdown the pumps keep, K.
    pub gpu_margin_k: f32,
    /// Differential pressure added per K of missing GPU margin, kPa/K.
    pub dp_per_margin_kpa_per_k: f32,
    /// Largest setpoint change rate of the pump loop, kPa/s.
    pub dp_setpoint_slew_kpa_per_s: f32,
    /// Pump loop PID (output: speed %).
    pub pump_pid: PidConfig,
    /// Pump speed at 100 %, rpm.
    pub pump_max_rpm: f32,
    /// Lowest running speed, %.
    pub pump_min_speed_pct: f32,
    /// Speed a pump starts at before the pressure loop takes over, %.
    pub pump_start_speed_pct: f32,
    /// Pump speed in failsafe, %.
    pub failsafe_pump_speed_pct: f32,
    /// Time a pump is given to reach speed before it is judged, s.
    pub pump_spinup_s: f32,
    /// Tach below this fraction of command: under-speed.
    pub pump_underspeed_fraction: f32,
    /// Under-speed or lost tach for this long: fault, s.
    pub pump_fault_delay_s: f32,
    /// Lead pump rotation interval, s (0 disables).
    pub lead_rotation_interval_s: f32,
    /// Supply alarm band around the setpoint, K (Coolcentric: 2).
    pub supply_alarm_band_k: f32,
    /// Supply alarm delay, s (Coolcentric: 120).
    pub supply_alarm_delay_s: f32,
    /// Supply alarm hysteresis, K (Coolcentric: 1).
    pub supply_alarm_hysteresis_k: f32,
    /// Supply alarms inhibited this long after start, s (Coolcentric: 1200).
    pub startup_inhibit_s: f32,
    /// Start-up lasts at least this long, s.
    pub startup_min_s: f32,
    /// Leak reaction delay, s (Redfish mockup `ReactionDelaySeconds`: 15).
    pub leak_reaction_delay_s: f32,
    /// After electrical isolation is requested, the rack's valve closes this much later, s.
    pub isolation_valve_delay_s: f32,
    /// Valve feedback this far from demand...
    pub valve_fault_tolerance_pct: f32,
    /// ...for this long is a valve fault, s.
    pub valve_fault_delay_s: f32,
    /// Supply this far above setpoint with the valve wide open...
    pub cannot_hold_excess_k: f32,
    /// ...for this long raises `CannotHoldSetpoint`, s.
    pub cannot_hold_delay_s: f32,
    /// Redundant supply sensors further apart than this disagree, K.
    pub supply_vote_tolerance_k: f32,
    /// Temperature sensor limits.
    pub temp_sensor: SensorLimits,
    /// Flow sensor limits, L/min.
    pub flow_sensor: SensorLimits,
    /// Differential pressure sensor limits, kPa.
    pub dp_sensor: SensorLimits,
    /// Valve feedback limits, %.
    pub valve_sensor: SensorLimits,
}

impl Default for CoolantConfig {
    fn default() -> Self {
        let design_heat_w = 8.0 * 120_000.0 * 0.9;
        let design_rise_k = 10.0;
        let cp = 3_900.0; // PG25: ~1.5 L/min per kW at 10 K
        let secondary_design_kg_s = design_heat_w / (cp * design_rise_k);
        let temp = SensorLimits {
            min: -5.0,
            max: 95.0,
            stale_after_s: 1.0,
            invalid_after_s: 10.0,
            max_slew_per_s: 0.5,
            worst_is_high: true,
            stuck_epsilon: 0.0,
            stuck_after_s: 5.0,
        };
        Self {
            period_ms: 100,
            racks: 8,
            supply_sensors: 3,
            pumps: 2,
            supply_setpoint_c: 30.0,
            supply_setpoint_min_c: 10.0,
            supply_setpoint_max_c: 35.0,
            temp_pid: PidConfig {
                kp: 6.0,
                ti_s: 40.0,
                td_s: 0.0,
                derivative_filter: 0.1,
                out_min: 0.0,
                out_max: 100.0,
                slew_per_s: 10.0,
                reverse: true,
            },
            hx: HxModel {
                ua_design_w_per_k: 175_000.0,
                secondary_design_kg_s,
                primary_max_kg_s: 1.6 * design_heat_w / (4_186.0 * 10.0),
                primary_design_kg_s: design_heat_w / (4_186.0 * 10.0),
                secondary_cp_j_per_kg_k: cp,
                primary_cp_j_per_kg_k: 4_186.0,
                valve_rangeability: 50.0,
            },
            feed_forward: true,
            liquid_capture_fraction: 0.9,
            report_stale_after_s: 0.5,
            feed_forward_lag_s: 16.0,
            pump_control: PumpControl::DifferentialPressure,
            dp_design_kpa: 35.0,
            dp_min_kpa: 8.0,
            flow_setpoint_lpm: 1_300.0,
            design_heat_w,
            design_rise_k,
            max_flow_factor: 1.2,
            coolant_density_kg_per_l: 1.02,
            flow_exponent: 1.85,
            gpu_slowdown_c: 83.0,
            gpu_margin_k: 8.0,
            dp_per_margin_kpa_per_k: 3.0,
            dp_setpoint_slew_kpa_per_s: 5.0,
            pump_pid: PidConfig {
                kp: 0.8,
                ti_s: 2.0,
                td_s: 0.0,
                derivative_filter: 0.1,
                out_min: 30.0,
                out_max: 100.0,
                slew_per_s: 50.0,
                reverse: false,
            },
            pump_max_rpm: 3_600.0,
            pump_min_speed_pct: 30.0,
            pump_start_speed_pct: 60.0,
            failsafe_pump_speed_pct: 90.0,
            pump_spinup_s: 2.0,
            pump_underspeed_fraction: 0.7,
            pump_fault_delay_s: 1.0,
            lead_rotation_interval_s: 7.0 * 24.0 * 3600.0,
            supply_alarm_band_k: 2.0,
            supply_alarm_delay_s: 120.0,
            supply_alarm_hysteresis_k: 1.0,
            startup_inhibit_s: 1200.0,
            startup_min_s: 5.0,
            leak_reaction_delay_s: 15.0,
            isolation_valve_delay_s: 5.0,
            valve_fault_tolerance_pct: 10.0,
            valve_fault_delay_s: 60.0,
            cannot_hold_excess_k: 0.5,
            cannot_hold_delay_s: 60.0,
            supply_vote_tolerance_k: 0.5,
            temp_sensor: temp,
            flow_sensor: SensorLimits {
                min: 0.0,
                max: 4_000.0,
                max_slew_per_s: 50.0,
                worst_is_high: false,
                stuck_epsilon: 0.0,
                stuck_after_s: 0.0,
                ..temp
            },
            dp_sensor: SensorLimits {
                min: 0.0,
                max: 250.0,
                max_slew_per_s: 5.0,
                worst_is_high: false,
                stuck_epsilon: 0.0,
                stuck_after_s: 0.0,
                ..temp
            },
            valve_sensor: SensorLimits {
                min: -5.0,
                max: 105.0,
                max_slew_per_s: 10.0,
                worst_is_high: false,
                stuck_epsilon: 0.0,
                stuck_after_s: 0.0,
                ..temp
            },
        }
    }
}

/// A rack's power report from the row bus.
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

#[derive(Debug, Clone, Copy, PartialEq)]
struct Pump {
    state: PumpState,
    started_at: Instant,
    underspeed_since: Option<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Zone {
    wet_since: Option<Instant>,
    /// When the leak was confirmed and electrical isolation requested.
    isolated_at: Option<Instant>,
}

/// The coolant controller.
#[derive(Debug, Clone)]
pub struct CoolantController {
    config: CoolantConfig,
    state: CoolantState,
    started_at: Instant,
    last_step: Option<Instant>,
    run_enabled: bool,
    supply: [Validator; MAX_SUPPLY_SENSORS],
    return_temp: Validator,
    primary_supply: Validator,
    primary_return: Validator,
    flow: Validator,
    dp: Validator,
    valve_feedback: Validator,
    temp_pid: Pid,
    temp_pid_primed: bool,
    feed_forward_in_pid: bool,
    arriving_heat_w: Option<f32>,
    /// The feed-forward's last solve: where its next one starts.
    feed_forward_solve: Option<PrimarySolve>,
    /// The heat exchanger fully open at the pumps' largest flow (fixed by the config).
    full_open: FullOpen,
    pump_pid: Pid,
    pumps: [Pump; MAX_PUMPS],
    lead: usize,
    rotation_due: Instant,
    rotating_to: Option<usize>,
    zones: [Zone; MAX_ZONES],
    dp_setpoint_kpa: f32,
    feed_forward_active: bool,
    supply_high: DelayedLevel,
    supply_low: DelayedLevel,
    cannot_hold: DelayedLevel,
    valve_fault: DelayedLevel,
    alarms: AlarmTable<Alarm, ALARM_TABLE_LEN>,
    events: EventLog<CoolantEvent, EVENT_LOG_LEN>,
    outputs: CoolantOutputs,
}

impl CoolantController {
    /// A controller in `Stopped`; it starts its pumps on the first step if the reservoir has
    /// level (call [`CoolantController::stop`] first to keep it stopped).
    pub fn new(config: CoolantConfig) -> Self {
        let config = CoolantConfig {
            racks: config.racks.clamp(1, MAX_RACKS),
            supply_sensors: config.supply_sensors.clamp(1, MAX_SUPPLY_SENSORS),
            pumps: config.pumps.clamp(1, MAX_PUMPS),
            ..config
        };
        let pump = Pump {
            state: PumpState::Standby,
            started_at: Instant(0),
            underspeed_since: None,
        };
        Self {
            state: CoolantState::Stopped,
            started_at: Instant(0),
            last_step: None,
            run_enabled: true,
            supply: [Validator::new(config.temp_sensor); MAX_SUPPLY_SENSORS],
            return_temp: Validator::new(config.temp_sensor),
            primary_supply: Validator::new(config.temp_sensor),
            primary_return: Validator::new(config.temp_sensor),
            flow: Validator::new(config.flow_sensor),
            dp: Validator::new(config.dp_sensor),
            valve_feedback: Validator::new(config.valve_sensor),
            temp_pid: Pid::new(config.temp_pid, 0.0),
            temp_pid_primed: false,
            feed_forward_in_pid: false,
            arriving_heat_w: None,
            feed_forward_solve: None,
            full_open: config
                .hx
                .full_open(config.hx.secondary_design_kg_s * config.max_flow_factor),
            pump_pid: Pid::new(config.pump_pid, config.pump_min_speed_pct),
            pumps: [pump; MAX_PUMPS],
            lead: 0,
            rotation_due: Instant(0),
            rotating_to: None,
            zones: [Zone {
                wet_since: None,
                isolated_at: None,
            }; MAX_ZONES],
            dp_setpoint_kpa: config.dp_design_kpa,
            feed_forward_active: false,
            supply_high: DelayedLevel::new(
                config.supply_alarm_delay_s,
                config.supply_alarm_hysteresis_k,
            ),
            supply_low: DelayedLevel::new(
                config.supply_alarm_delay_s,
                config.supply_alarm_hysteresis_k,
            ),
            cannot_hold: DelayedLevel::new(config.cannot_hold_delay_s, config.cannot_hold_excess_k),
            valve_fault: DelayedLevel::new(config.valve_fault_delay_s, 2.0),
            alarms: AlarmTable::new(),
            events: EventLog::new(),
            outputs: CoolantOutputs {
                valve_demand_pct: 0.0,
                pump_speed_pct: [0.0; MAX_PUMPS],
                rack_valve_open: [true; MAX_RACKS],
                isolation_requests: 0,
                headroom_w: 0.0,
                state: CoolantState::Stopped,
                supply_temp_c: None,
                supply_setpoint_c: config.supply_setpoint_c,
                dp_setpoint_kpa: config.dp_design_kpa,
                feed_forward_active: false,
                feed_forward_pct: 0.0,
                heat_load_w: 0.0,
                lead_pump: 0,
                pump_states: [PumpState::Standby; MAX_PUMPS],
                sensor_faults: 0,
            },
            config,
        }
    }

    /// The settings in force.
    pub fn config(&self) -> &CoolantConfig {
        &self.config
    }

    /// The state.
    pub fn state(&self) -> CoolantState {
        self.state
    }

    /// The last outputs.
    pub fn outputs(&self) -> &CoolantOutputs {
        &self.outputs
    }

    /// The alarm table.
    pub fn alarms(&self) -> &AlarmTable<Alarm, ALARM_TABLE_LEN> {
        &self.alarms
    }

    /// Acknowledges an alarm; false if it is not listed.
    pub fn acknowledge(&mut self, alarm: Alarm, instance: u8) -> bool {
        self.alarms.acknowledge(alarm, instance)
    }

    /// The event log.
    pub fn events(&self) -> &EventLog<CoolantEvent, EVENT_LOG_LEN> {
        &self.events
    }

    /// Changes the supply setpoint (allowed range in the config).
    pub fn set_supply_setpoint(
        &mut self,
        now: Instant,
        setpoint_c: f32,
    ) -> Result<(), SettingError> {
        let (min, max) = (
            self.config.supply_setpoint_min_c,
            self.config.supply_setpoint_max_c,
        );
        if !(setpoint_c >= min && setpoint_c <= max) {
            return Err(SettingError::OutOfRange { min, max });
        }
        self.config.supply_setpoint_c = setpoint_c;
        #[allow(clippy::cast_possible_truncation)] // inside 10..=35 degC
        let centi_c = libm::roundf(setpoint_c * 100.0) as i32;
        self.events
            .push(now, CoolantEvent::SetpointChanged { centi_c });
        Ok(())
    }

    /// Acknowledges every alarm.
    pub fn acknowledge_all(&mut self) {
        self.alarms.acknowledge_all();
    }

    /// Changes the lead rotation interval, s (allowed 3600 ..= 2 592 000, or 0 to disable).
    pub fn set_lead_rotation_interval(&mut self, interval_s: f32) -> Result<(), SettingError> {
        let (min, max) = (3_600.0, 2_592_000.0);
        if interval_s != 0.0 && !(interval_s >= min && interval_s <= max) {
            return Err(SettingError::OutOfRange { min, max });
        }
        self.config.lead_rotation_interval_s = interval_s;
        Ok(())
    }

    /// Changes the leak reaction delay, s (allowed 0 ..= 300).
    pub fn set_leak_reaction_delay(&mut self, delay_s: f32) -> Result<(), SettingError> {
        let (min, max) = (0.0, 300.0);
        if !(delay_s >= min && delay_s <= max) {
            return Err(SettingError::OutOfRange { min, max });
        }
        self.config.leak_reaction_delay_s = delay_s;
        Ok(())
    }

    /// Chooses what the pumps hold.
    pub fn set_pump_control(&mut self, control: PumpControl) {
        self.config.pump_control = control;
    }

    /// Whether the pumps may run (false after a stop command).
    pub fn run_enabled(&self) -> bool {
        self.run_enabled
    }

    /// Stops the pumps (technician command).
    pub fn stop(&mut self, now: Instant) {
        self.run_enabled = false;
        self.fire(now, Trigger::Stop, Reason::Command);
    }

    /// Allows the pumps to start again.
    pub fn start(&mut self) {
        self.run_enabled = true;
    }

    /// Makes `pump` the lead now (technician command).
    pub fn set_lead_pump(&mut self, now: Instant, pump: usize) -> Result<(), SettingError> {
        if pump >= self.config.pumps {
            #[allow(clippy::cast_possible_truncation)] // at most MAX_PUMPS
            return Err(SettingError::NoSuchInstance {
                count: self.config.pumps as u8,
            });
        }
        if self
            .pumps
            .get(pump)
            .is_none_or(|p| p.state == PumpState::Faulted)
        {
            return Err(SettingError::NotPermitted);
        }
        if pump != self.lead {
            self.change_lead(now, pump, Reason::Command);
        }
        Ok(())
    }

    /// Reopens a rack isolated for a leak, once its detectors are dry.
    pub fn restore_rack(&mut self, rack: usize) -> Result<(), SettingError> {
        if rack >= self.config.racks {
            #[allow(clippy::cast_possible_truncation)] // at most MAX_RACKS
            return Err(SettingError::NoSuchInstance {
                count: self.config.racks as u8,
            });
        }
        let zone = self.zones.get_mut(rack).ok_or(SettingError::NotPermitted)?;
        if zone.wet_since.is_some() {
            return Err(SettingError::NotPermitted);
        }
        zone.isolated_at = None;
        Ok(())
    }

    /// One control step at `now`.
    pub fn step(&mut self, now: Instant, inputs: &CoolantInputs) -> &CoolantOutputs {
        let period_s = self.config.period_ms as f32 / 1000.0;
        let dt = self
            .last_step
            .map_or(period_s, |last| now.secs_since(last).clamp(0.0, 1.0));
        if self.last_step.is_none() {
            self.started_at = now;
            self.rotation_due = now.plus_millis(secs_to_ms(self.config.lead_rotation_interval_s));
        }
        self.last_step = Some(now);

        let supply = self.validate(now, inputs);
        self.handle_reservoir(now, inputs);
        self.handle_leaks(now, inputs);
        let (heat_w, hottest_gpu_c) = self.heat_load(now, inputs);
        self.control_pumps(now, inputs, supply.is_none(), heat_w, hottest_gpu_c, dt);
        self.control_valve(inputs, supply, heat_w, dt);
        self.supervise(now, inputs, supply);
        self.outputs.headroom_w = self.headroom(heat_w);
        self.outputs.heat_load_w = heat_w;
        self.outputs.supply_temp_c = supply;
        self.outputs.state = self.state;
        self.outputs.supply_setpoint_c = self.config.supply_setpoint_c;
        &self.outputs
    }

    /// Validates every sensor, raises sensor alarms, and votes the supply.
    fn validate(&mut self, now: Instant, inputs: &CoolantInputs) -> Option<f32> {
        let n = self.config.supply_sensors;
        for (validator, reading) in self.supply.iter_mut().zip(&inputs.supply_temps_c).take(n) {
            validator.update(now, *reading);
        }
        let supply = self
            .supply
            .get_mut(..n)
            .and_then(|s| vote(s, self.config.supply_vote_tolerance_k));
        let singles = [
            (
                sensor_index::RETURN,
                self.return_temp.update(now, inputs.return_temp_c).0,
            ),
            (
                sensor_index::PRIMARY_SUPPLY,
                self.primary_supply
                    .update(now, inputs.primary_supply_temp_c)
                    .0,
            ),
            (
                sensor_index::PRIMARY_RETURN,
                self.primary_return
                    .update(now, inputs.primary_return_temp_c)
                    .0,
            ),
            (sensor_index::FLOW, self.flow.update(now, inputs.flow_lpm).0),
            (
                sensor_index::DIFFERENTIAL_PRESSURE,
                self.dp.update(now, inputs.dp_kpa).0,
            ),
            (
                sensor_index::VALVE_FEEDBACK,
                self.valve_feedback.update(now, inputs.valve_feedback_pct).0,
            ),
        ];
        let mut faults = 0u32;
        let statuses = self.supply.iter().take(n).enumerate().map(|(i, v)| {
            #[allow(clippy::cast_possible_truncation)] // i < 3
            (sensor_index::SUPPLY_0 + i as u8, v.status())
        });
        let all: Vec<(u8, Status), 12> = statuses.chain(singles).collect();
        for (index, status) in all {
            let bad = status != Status::Ok;
            if bad {
                faults |= 1 << index;
            }
            self.alarm(now, Alarm::SensorFault, index, false, bad);
        }
        self.outputs.sensor_faults = faults;
        self.alarm(now, Alarm::SupplySensorsLost, 0, true, supply.is_none());
        supply
    }

    fn handle_reservoir(&mut self, now: Instant, inputs: &CoolantInputs) {
        self.alarm(
            now,
            Alarm::ReservoirLow,
            0,
            true,
            !inputs.reservoir_level_ok,
        );
        if self.state == CoolantState::Stopped && self.run_enabled && inputs.reservoir_level_ok {
            self.fire(now, Trigger::Start, Reason::Boot);
            self.started_at = now;
            self.start_pump(now, self.lead);
            self.pump_pid.force(self.config.pump_start_speed_pct);
        }
    }

    fn handle_leaks(&mut self, now: Instant, inputs: &CoolantInputs) {
        let zones = self.config.racks + 1;
        let delay = self.config.leak_reaction_delay_s;
        let mut requests = 0u16;
        for z in 0..zones {
            let wet = inputs.leak_moisture.get(z).copied().unwrap_or(false)
                || inputs.leak_float.get(z).copied().unwrap_or(false);
            let Some(zone) = self.zones.get_mut(z) else {
                continue;
            };
            if wet {
                let since = *zone.wet_since.get_or_insert(now);
                let confirmed = now.secs_since(since) >= delay;
                let is_rack = z < self.config.racks;
                if confirmed && is_rack && zone.isolated_at.is_none() {
                    zone.isolated_at = Some(now);
                    #[allow(clippy::cast_possible_truncation)] // z < MAX_ZONES
                    self.events
                        .push(now, CoolantEvent::RackIsolated { rack: z as u8 });
                }
                #[allow(clippy::cast_possible_truncation)] // z < MAX_ZONES
                self.alarm(now, Alarm::LeakDetected, z as u8, confirmed, true);
            } else {
                zone.wet_since = None;
                #[allow(clippy::cast_possible_truncation)] // z < MAX_ZONES
                self.alarm(now, Alarm::LeakDetected, z as u8, false, false);
            }
        }
        for (rack, open) in self.outputs.rack_valve_open.iter_mut().enumerate() {
            // Electrical isolation is requested at once; the valve closes once the power
            // controller has had time to shed the rack, so its GPUs never run without flow.
            let isolated_at = self.zones.get(rack).and_then(|z| z.isolated_at);
            *open = isolated_at
                .is_none_or(|at| now.secs_since(at) < self.config.isolation_valve_delay_s);
            if isolated_at.is_some() {
                requests |= 1 << rack;
            }
        }
        self.outputs.isolation_requests = requests;
    }

    /// The row's heat load from the racks' reports (stale reports hold their last value while
    /// any report is fresh), and the hottest GPU. Falls back to the measured heat pickup,
    /// flow x (return - supply), when the row bus is silent.
    fn heat_load(&mut self, now: Instant, inputs: &CoolantInputs) -> (f32, Option<f32>) {
        let mut power = 0.0;
        let mut fresh = false;
        let mut hottest: Option<f32> = None;
        for (rack, report) in inputs
            .rack_reports
            .iter()
            .enumerate()
            .take(self.config.racks)
        {
            let Some(report) = report else { continue };
            if self
                .zones
                .get(rack)
                .is_some_and(|z| z.isolated_at.is_some())
            {
                continue;
            }
            power += report.input_power_w;
            if now.secs_since(report.at) <= self.config.report_stale_after_s {
                fresh = true;
                hottest = Some(
                    hottest.map_or(report.hottest_gpu_c, |h: f32| h.max(report.hottest_gpu_c)),
                );
            }
        }
        let active = fresh && self.config.feed_forward;
        if active != self.feed_forward_active {
            self.feed_forward_active = active;
            self.events.push(now, CoolantEvent::FeedForward { active });
        }
        let any_report = inputs
            .rack_reports
            .iter()
            .take(self.config.racks)
            .any(Option::is_some);
        self.alarm(now, Alarm::RowBusSilent, 0, false, any_report && !fresh);
        if fresh {
            return (power * self.config.liquid_capture_fraction, hottest);
        }
        // Measured heat pickup, if flow and both temperatures are usable.
        let measured = match (
            self.flow.status().usable(),
            self.return_temp.status().usable(),
            self.outputs.supply_temp_c,
        ) {
            (true, true, Some(supply)) => {
                let kg_s = inputs.flow_lpm.value * self.config.coolant_density_kg_per_l / 60.0;
                (kg_s
                    * self.config.hx.secondary_cp_j_per_kg_k
                    * (inputs.return_temp_c.value - supply))
                    .max(0.0)
            }
            _ => self.config.design_heat_w,
        };
        (measured, None)
    }

    fn control_pumps(
        &mut self,
        now: Instant,
        inputs: &CoolantInputs,
        supply_lost: bool,
        heat_w: f32,
        hottest_gpu_c: Option<f32>,
        dt: f32,
    ) {
        let c = self.config;
        // Fault detection on running pumps.
        for i in 0..c.pumps {
            let commanded = self.outputs.pump_speed_pct.get(i).copied().unwrap_or(0.0);
            let tach = inputs.pump_tach_rpm.get(i).copied().unwrap_or(0.0);
            let overcurrent = inputs.pump_overcurrent.get(i).copied().unwrap_or(false);
            let Some(pump) = self.pumps.get_mut(i) else {
                continue;
            };
            if pump.state != PumpState::Running {
                continue;
            }
            let expected = commanded / 100.0 * c.pump_max_rpm;
            let judged = now.secs_since(pump.started_at) >= c.pump_spinup_s;
            let under = judged && tach < c.pump_underspeed_fraction * expected;
            if under {
                pump.underspeed_since.get_or_insert(now);
            } else {
                pump.underspeed_since = None;
            }
            let under_long = pump
                .underspeed_since
                .is_some_and(|s| now.secs_since(s) >= c.pump_fault_delay_s);
            if overcurrent || under_long {
                pump.state = PumpState::Faulted;
                #[allow(clippy::cast_possible_truncation)] // i < MAX_PUMPS
                self.alarm(now, Alarm::PumpFault, i as u8, true, true);
                if i == self.lead
                    && let Some(next) = self.next_pump(i)
                {
                    self.change_lead(now, next, Reason::PumpFault);
                }
            }
        }

        // Scheduled lead rotation: start the next pump, stop the old one once it is at speed.
        if c.lead_rotation_interval_s > 0.0
            && now >= self.rotation_due
            && self.rotating_to.is_none()
        {
            self.rotation_due = now.plus_millis(secs_to_ms(c.lead_rotation_interval_s));
            if let Some(next) = self.next_pump(self.lead)
                && self.is_running_state()
            {
                self.start_pump(now, next);
                self.rotating_to = Some(next);
            }
        }
        if let Some(next) = self.rotating_to {
            let commanded = self
                .outputs
                .pump_speed_pct
                .get(self.lead)
                .copied()
                .unwrap_or(0.0);
            let tach = inputs.pump_tach_rpm.get(next).copied().unwrap_or(0.0);
            let at_speed = tach >= 0.9 * commanded / 100.0 * c.pump_max_rpm;
            let next_ok = self
                .pumps
                .get(next)
                .is_some_and(|p| p.state == PumpState::Running);
            if !next_ok {
                self.rotating_to = None;
            } else if at_speed {
                self.rotating_to = None;
                self.change_lead(now, next, Reason::LeadRotation);
            }
        }

        // Setpoint reset: the pressure that gives the flow for the design rise at this load,
        // raised when the hottest GPU's margin runs short.
        // Without the racks' reports the load forecast and the GPU temperatures are gone:
        // hold the design pressure rather than guess low.
        let load_fraction = if hottest_gpu_c.is_some() {
            (heat_w / c.design_heat_w).clamp(0.0, 1.5)
        } else {
            1.0
        };
        let mut dp_target = c.dp_design_kpa * libm::powf(load_fraction, c.flow_exponent);
        if let Some(gpu) = hottest_gpu_c {
            let shortfall = c.gpu_margin_k - (c.gpu_slowdown_c - gpu);
            if shortfall > 0.0 {
                dp_target += shortfall * c.dp_per_margin_kpa_per_k;
            }
        }
        let dp_target = dp_target.clamp(c.dp_min_kpa, c.dp_design_kpa * 1.3);
        let max_change = c.dp_setpoint_slew_kpa_per_s * dt;
        self.dp_setpoint_kpa += (dp_target - self.dp_setpoint_kpa).clamp(-max_change, max_change);
        self.outputs.dp_setpoint_kpa = self.dp_setpoint_kpa;

        let speed = match self.state {
            CoolantState::Stopped => 0.0,
            // Failsafe, or about to be: no valid supply measurement this step.
            _ if self.state == CoolantState::Failsafe || supply_lost => {
                self.pump_pid.force(c.failsafe_pump_speed_pct);
                c.failsafe_pump_speed_pct
            }
            _ => match c.pump_control {
                PumpControl::DifferentialPressure if self.dp.status().usable() => self
                    .pump_pid
                    .step(self.dp_setpoint_kpa, inputs.dp_kpa.value, 0.0, dt),
                PumpControl::Flow if self.flow.status().usable() => {
                    self.pump_pid
                        .step(c.flow_setpoint_lpm, inputs.flow_lpm.value, 0.0, dt)
                }
                PumpControl::FixedSpeed(pct) => {
                    self.pump_pid.force(pct);
                    pct
                }
                // The controlled variable is unmeasurable: hold a safe speed.
                _ => {
                    self.pump_pid.force(c.failsafe_pump_speed_pct);
                    c.failsafe_pump_speed_pct
                }
            },
        };
        for i in 0..MAX_PUMPS {
            let running = self.state != CoolantState::Stopped
                && self
                    .pumps
                    .get(i)
                    .is_some_and(|p| p.state == PumpState::Running);
            if let Some(out) = self.outputs.pump_speed_pct.get_mut(i) {
                *out = if running { speed } else { 0.0 };
            }
            if let (Some(out), Some(p)) = (self.outputs.pump_states.get_mut(i), self.pumps.get(i)) {
                *out = if i < c.pumps { p.state } else { PumpState::Off };
            }
        }
        #[allow(clippy::cast_possible_truncation)] // lead < MAX_PUMPS
        {
            self.outputs.lead_pump = self.lead as u8;
        }
    }

    fn control_valve(&mut self, inputs: &CoolantInputs, supply: Option<f32>, heat_w: f32, dt: f32) {
        let c = self.config;
        let kg_s = if self.flow.status().usable() {
            (inputs.flow_lpm.value * c.coolant_density_kg_per_l / 60.0).max(0.01)
        } else {
            c.hx.secondary_design_kg_s
        };
        // The reported heat reaches the heat exchanger only after the coolant has carried it
        // from the racks: a lag whose time constant grows as the flow falls.
        let lag_s = c.feed_forward_lag_s * c.hx.secondary_design_kg_s / kg_s;
        let arriving = self.arriving_heat_w.get_or_insert(heat_w);
        *arriving += (heat_w - *arriving) * (dt / lag_s.max(dt));
        let arriving = *arriving;
        let feed_forward = if self.feed_forward_active && self.primary_supply.status().usable() {
            let primary = c.hx.primary_for_heat(
                arriving,
                kg_s,
                c.supply_setpoint_c,
                inputs.primary_supply_temp_c.value,
                self.feed_forward_solve,
            );
            self.feed_forward_solve = primary;
            Some(primary.map_or(100.0, |p| c.hx.valve_for_primary(p.kg_s)))
        } else {
            None
        };
        let valve = match (self.state, supply) {
            (CoolantState::Failsafe, _) | (_, None) => {
                self.temp_pid.force(100.0);
                100.0
            }
            (_, Some(supply)) => {
                if !self.temp_pid_primed {
                    // Start where the model says the valve should be: no start-up bump.
                    self.temp_pid
                        .set_feed_forward_bumpless(feed_forward.unwrap_or(0.0));
                    self.temp_pid.force(feed_forward.unwrap_or(50.0));
                    self.temp_pid_primed = true;
                    self.feed_forward_in_pid = feed_forward.is_some();
                }
                let ff = feed_forward.unwrap_or(0.0);
                if feed_forward.is_some() != self.feed_forward_in_pid {
                    // The source came or went: hand over through the integral, no bump.
                    self.temp_pid.set_feed_forward_bumpless(ff);
                    self.feed_forward_in_pid = feed_forward.is_some();
                }
                self.temp_pid.step(c.supply_setpoint_c, supply, ff, dt)
            }
        };
        self.outputs.valve_demand_pct = valve;
        self.outputs.feed_forward_pct = feed_forward.unwrap_or(0.0);
        self.outputs.feed_forward_active = feed_forward.is_some();
    }

    fn supervise(&mut self, now: Instant, inputs: &CoolantInputs, supply: Option<f32>) {
        let c = self.config;
        // Valve not following its demand.
        let valve_error = if self.valve_feedback.status().usable() {
            (inputs.valve_feedback_pct.value - self.outputs.valve_demand_pct).abs()
                - c.valve_fault_tolerance_pct
        } else {
            -1.0
        };
        let valve_fault = self.valve_fault.update(now, valve_error);
        self.alarm(now, Alarm::ValveFault, 0, false, valve_fault);

        // Supply high/low, inhibited during start-up.
        let inhibited = self.state == CoolantState::Stopped
            || now.secs_since(self.started_at) < c.startup_inhibit_s;
        if let (Some(supply), false) = (supply, inhibited) {
            let high = self
                .supply_high
                .update(now, supply - c.supply_setpoint_c - c.supply_alarm_band_k);
            let low = self
                .supply_low
                .update(now, c.supply_setpoint_c - c.supply_alarm_band_k - supply);
            self.alarm(now, Alarm::SupplyTempHigh, 0, false, high);
            self.alarm(now, Alarm::SupplyTempLow, 0, false, low);
        } else {
            self.supply_high.reset();
            self.supply_low.reset();
        }

        // Cannot hold: valve wide open and still too warm.
        let excess = match supply {
            Some(s) if self.outputs.valve_demand_pct >= 98.0 => {
                s - c.supply_setpoint_c - c.cannot_hold_excess_k
            }
            _ => -2.0 * c.cannot_hold_excess_k - 1.0,
        };
        let cannot_hold = self.cannot_hold.update(now, excess);
        self.alarm(now, Alarm::CannotHoldSetpoint, 0, true, cannot_hold);

        // State machine.
        if supply.is_none() {
            self.fire(now, Trigger::SupplyLost, Reason::NoValidSupplySensor);
            return;
        }
        if self.state == CoolantState::Failsafe {
            self.fire(now, Trigger::SupplyRestored, Reason::Recovered);
        }
        let fault = self.fault_reason();
        if self.state == CoolantState::Startup && fault.is_none() {
            let lead_at_speed = inputs.pump_tach_rpm.get(self.lead).copied().unwrap_or(0.0)
                >= 0.5
                    * self
                        .outputs
                        .pump_speed_pct
                        .get(self.lead)
                        .copied()
                        .unwrap_or(0.0)
                    / 100.0
                    * c.pump_max_rpm;
            if lead_at_speed && now.secs_since(self.started_at) >= c.startup_min_s {
                self.fire(now, Trigger::StartupDone, Reason::StartupComplete);
            }
        }
        match fault {
            Some(reason) => self.fire(now, Trigger::Fault, reason),
            None => self.fire(now, Trigger::FaultsCleared, Reason::Recovered),
        }
    }

    /// The first fault that keeps the controller Degraded, if any.
    fn fault_reason(&self) -> Option<Reason> {
        let n = self.config.supply_sensors;
        if self.outputs.sensor_faults != 0
            || self.supply.iter().take(n).any(|v| v.status() != Status::Ok)
        {
            Some(Reason::SensorFault)
        } else if self
            .pumps
            .iter()
            .take(self.config.pumps)
            .any(|p| p.state == PumpState::Faulted)
        {
            Some(Reason::PumpFault)
        } else if self.alarms.any_active(Alarm::ValveFault) {
            Some(Reason::ValveFault)
        } else if self.zones.iter().any(|z| z.isolated_at.is_some()) {
            Some(Reason::Leak)
        } else {
            None
        }
    }

    /// Heat the loop could still absorb: the lesser of what the heat exchanger rejects with
    /// the valve wide open (at the current facility water temperature) and what the pumps'
    /// largest flow carries at the design temperature rise (beyond it the GPUs run hot).
    fn headroom(&self, heat_w: f32) -> f32 {
        let c = self.config;
        if !self.primary_supply.status().usable() || self.state == CoolantState::Stopped {
            return 0.0;
        }
        let max_kg_s = c.hx.secondary_design_kg_s * c.max_flow_factor;
        let hx_limit = self
            .full_open
            .max_heat_w(c.supply_setpoint_c, self.primary_supply.value());
        let flow_limit = max_kg_s * c.hx.secondary_cp_j_per_kg_k * c.design_rise_k;
        (hx_limit.min(flow_limit) - heat_w).max(0.0)
    }

    fn is_running_state(&self) -> bool {
        matches!(self.state, CoolantState::Running | CoolantState::Degraded)
    }

    fn next_pump(&self, from: usize) -> Option<usize> {
        (1..self.config.pumps)
            .map(|k| (from + k) % self.config.pumps)
            .find(|&i| {
                self.pumps
                    .get(i)
                    .is_some_and(|p| p.state == PumpState::Standby)
            })
    }

    fn start_pump(&mut self, now: Instant, i: usize) {
        if let Some(p) = self.pumps.get_mut(i)
            && p.state == PumpState::Standby
        {
            p.state = PumpState::Running;
            p.started_at = now;
            p.underspeed_since = None;
        }
    }

    fn change_lead(&mut self, now: Instant, to: usize, reason: Reason) {
        let from = self.lead;
        self.start_pump(now, to);
        if let Some(p) = self.pumps.get_mut(from)
            && p.state == PumpState::Running
        {
            p.state = PumpState::Standby;
        }
        self.lead = to;
        #[allow(clippy::cast_possible_truncation)] // < MAX_PUMPS
        self.events.push(
            now,
            CoolantEvent::LeadPumpChanged {
                from: from as u8,
                to: to as u8,
                reason,
            },
        );
    }

    fn alarm(&mut self, now: Instant, alarm: Alarm, instance: u8, critical: bool, present: bool) {
        match self.alarms.set(now, alarm, instance, critical, present) {
            AlarmChange::Raised => {
                self.events
                    .push(now, CoolantEvent::AlarmRaised { alarm, instance });
            }
            AlarmChange::Cleared | AlarmChange::Removed => {
                self.events
                    .push(now, CoolantEvent::AlarmCleared { alarm, instance });
            }
            AlarmChange::None => {}
        }
    }

    /// Applies `trigger` if the table has a transition for it from the current state.
    fn fire(&mut self, now: Instant, trigger: Trigger, reason: Reason) {
        let Some(&(from, _, to)) = TRANSITIONS
            .iter()
            .find(|(from, t, _)| *from == self.state && *t == trigger)
        else {
            return;
        };
        self.state = to;
        self.events
            .push(now, CoolantEvent::StateChanged { from, to, reason });
        if to == CoolantState::Stopped {
            for p in self.pumps.iter_mut() {
                if p.state == PumpState::Running {
                    p.state = PumpState::Standby;
                }
            }
        }
    }
}

fn secs_to_ms(s: f32) -> u64 {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // clamped to >= 0
    let ms = libm::roundf(s.max(0.0) * 1000.0) as u64;
    ms
}

#[cfg(test)]
mod tests;
