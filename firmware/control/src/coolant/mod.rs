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
//!
//! ## Parts
//! [`CoolantController`] is an orchestrator: each concern is a part with its own state and
//! step, in its own module: `sensors` (validation and vote), `leak_guard` (reaction delay,
//! isolation order), `row_load` (the heat load from the row bus), `pump_bank` (failover and
//! rotation), `pressure_loop` (pump speed, setpoint reset), `supply_loop` (valve PI and
//! feed-forward), `supervisor` (delayed supply and valve alarms), `headroom`; every alarm
//! change and event goes through one [`crate::annunciator::Annunciator`]. The step calls
//! them in a fixed order, so the same inputs give the same outputs on every target.

mod config;
mod headroom;
mod io;
mod leak_guard;
mod machine;
pub mod model;
mod pressure_loop;
mod pump_bank;
mod row_load;
mod sensors;
mod supervisor;
mod supply_loop;

use crate::Instant;
use crate::alarm::AlarmTable;
use crate::annunciator::{StepClock, transition};
use crate::events::EventLog;

pub use config::{CoolantConfig, PumpControl};
pub use io::{CoolantInputs, CoolantOutputs, PumpState, RackReport, SettingError};
pub use machine::{Alarm, CoolantEvent, CoolantState, Reason, TRANSITIONS, Trigger};
pub use model::{FullOpen, HxModel, PrimarySolve};

use headroom::Headroom;
use leak_guard::LeakGuard;
use pressure_loop::PressureLoop;
use pump_bank::PumpBank;
use row_load::RowLoad;
use sensors::SensorBank;
use supervisor::Supervisor;
use supply_loop::SupplyLoop;

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
/// A pump turning at this fraction of its maximum speed or more when the controller boots is
/// running: the controller takes it over (a warm start).
pub const WARM_START_RPM_FRACTION: f32 = 0.2;
/// Alarms the controller's table holds.
pub const ALARM_TABLE_LEN: usize = 24;

/// Sensor instance numbers used in `SensorFault` alarms and the `sensor_faults` bits (the node
/// checks at build time that they are the protocol's fault bits).
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

/// The controller's alarm table and event log.
type Annunciator =
    crate::annunciator::Annunciator<Alarm, CoolantEvent, ALARM_TABLE_LEN, EVENT_LOG_LEN>;

/// The coolant controller: the orchestrator over its parts.
#[derive(Debug, Clone)]
pub struct CoolantController {
    config: CoolantConfig,
    state: CoolantState,
    clock: StepClock,
    /// When the pumps last started (the supply alarms' start-up inhibit counts from it).
    started_at: Instant,
    /// The pumps have started once (a later start follows a stop command).
    started_once: bool,
    /// The supply has been inside its alarm band since the last start: the start-up inhibit
    /// is over, however long it was set.
    supply_reached_band: bool,
    run_enabled: bool,
    sensors: SensorBank,
    leaks: LeakGuard,
    row_load: RowLoad,
    pumps: PumpBank,
    pressure_loop: PressureLoop,
    supply_loop: SupplyLoop,
    supervisor: Supervisor,
    headroom: Headroom,
    annunciator: Annunciator,
    outputs: CoolantOutputs,
}

impl CoolantController {
    /// A controller in `Stopped`; it starts its pumps on the first step if the reservoir has
    /// level (call [`CoolantController::stop`] first to keep it stopped).
    pub fn new(config: CoolantConfig) -> Self {
        let pumps = config.pumps.clamp(1, MAX_PUMPS);
        let config = CoolantConfig {
            racks: config.racks.clamp(1, MAX_RACKS),
            supply_sensors: config.supply_sensors.clamp(1, MAX_SUPPLY_SENSORS),
            pumps,
            running_pumps: config.running_pumps.clamp(1, pumps),
            ..config
        };
        Self {
            state: CoolantState::Stopped,
            clock: StepClock::new(),
            started_at: Instant(0),
            started_once: false,
            supply_reached_band: false,
            run_enabled: true,
            sensors: SensorBank::new(&config),
            leaks: LeakGuard::new(),
            row_load: RowLoad::default(),
            pumps: PumpBank::new(),
            pressure_loop: PressureLoop::new(&config),
            supply_loop: SupplyLoop::new(&config),
            supervisor: Supervisor::new(&config),
            headroom: Headroom::new(&config),
            annunciator: Annunciator::new(),
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
        self.annunciator.alarms()
    }

    /// Acknowledges an alarm; false if it is not listed.
    pub fn acknowledge(&mut self, alarm: Alarm, instance: u8) -> bool {
        self.annunciator.alarms_mut().acknowledge(alarm, instance)
    }

    /// The event log.
    pub fn events(&self) -> &EventLog<CoolantEvent, EVENT_LOG_LEN> {
        self.annunciator.events()
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
        self.annunciator
            .log(now, CoolantEvent::SetpointChanged { centi_c });
        Ok(())
    }

    /// Acknowledges every alarm.
    pub fn acknowledge_all(&mut self) {
        self.annunciator.alarms_mut().acknowledge_all();
    }

    /// Changes the lead rotation interval, s (allowed 3600 ..= 2 592 000: an hour to 30 days;
    /// rotation is what keeps the standby pump proven, so it cannot be switched off).
    pub fn set_lead_rotation_interval(&mut self, interval_s: f32) -> Result<(), SettingError> {
        let (min, max) = (3_600.0, 2_592_000.0);
        if !(interval_s >= min && interval_s <= max) {
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
        self.pumps
            .set_lead(now, pump, &self.config, &mut self.annunciator)
    }

    /// Reopens a rack isolated for a leak, once its detectors are dry.
    pub fn restore_rack(&mut self, rack: usize) -> Result<(), SettingError> {
        if rack >= self.config.racks {
            #[allow(clippy::cast_possible_truncation)] // at most MAX_RACKS
            return Err(SettingError::NoSuchInstance {
                count: self.config.racks as u8,
            });
        }
        self.leaks.restore(rack)
    }

    /// One control step at `now`: each part in turn, in a fixed order.
    pub fn step(&mut self, now: Instant, inputs: &CoolantInputs) -> &CoolantOutputs {
        let (dt, first) = self.clock.tick(now, self.config.period_ms);
        if first {
            self.started_at = now;
            self.pumps.schedule_rotation(now, &self.config);
        }
        let c = self.config;
        let validated = self.sensors.step(now, inputs, &c, &mut self.annunciator);
        self.outputs.sensor_faults = validated.faults;
        let supply = validated.supply_c;
        self.start_if_ready(now, inputs);
        self.leaks
            .step(now, inputs, &c, &mut self.annunciator, &mut self.outputs);
        let load = self.row_load.step(
            now,
            inputs,
            &c,
            &self.leaks,
            &self.sensors,
            self.outputs.supply_temp_c,
            &mut self.annunciator,
        );

        self.run_pumps(now, inputs, supply.is_none(), load, dt);

        let valve = self.supply_loop.step(
            &c,
            self.state,
            supply,
            self.row_load.feed_forward_active,
            load.heat_w,
            inputs,
            &self.sensors,
            dt,
        );
        self.outputs.valve_demand_pct = valve.valve_pct;
        self.outputs.feed_forward_pct = valve.feed_forward_pct.unwrap_or(0.0);
        self.outputs.feed_forward_active = valve.feed_forward_pct.is_some();

        // The start-up inhibit covers the pull-down after a start: it ends when the supply
        // first enters its alarm band, or after `startup_inhibit_s`, whichever is first. A
        // controller that starts on a row already at its setpoint alarms from its first second.
        if self.state != CoolantState::Stopped
            && supply.is_some_and(|s| (s - c.supply_setpoint_c).abs() < c.supply_alarm_band_k)
        {
            self.supply_reached_band = true;
        }
        let inhibited = self.state == CoolantState::Stopped
            || (!self.supply_reached_band && now.secs_since(self.started_at) < c.startup_inhibit_s);
        self.supervisor.step(
            now,
            &c,
            inputs,
            &self.sensors,
            supply,
            valve.valve_pct,
            inhibited,
            &mut self.annunciator,
        );
        self.advance_state(now, inputs, supply);
        self.publish(inputs, supply, load.heat_w, dt);
        &self.outputs
    }

    /// The pump bank's supervision, the pressure loop's speed, and the pumps' commands.
    fn run_pumps(
        &mut self,
        now: Instant,
        inputs: &CoolantInputs,
        supply_lost: bool,
        load: row_load::RowLoadNow,
        dt: f32,
    ) {
        let c = self.config;
        let commanded = self.outputs.pump_speed_pct;
        let may_rotate = matches!(self.state, CoolantState::Running | CoolantState::Degraded);
        self.pumps.supervise(
            now,
            inputs,
            &c,
            &commanded,
            may_rotate,
            &mut self.annunciator,
        );
        let speed = self.pressure_loop.step(
            &c,
            self.state,
            supply_lost,
            load.heat_w,
            load.peak_rack_w,
            load.hottest_gpu_c,
            inputs,
            &self.sensors,
            dt,
        );
        self.outputs.dp_setpoint_kpa = self.pressure_loop.dp_setpoint_kpa;
        self.pumps.command(
            speed,
            self.state == CoolantState::Stopped,
            &c,
            &mut self.outputs,
        );
    }

    /// The outputs that report rather than command: headroom, load, supply, state, setpoint.
    fn publish(&mut self, inputs: &CoolantInputs, supply: Option<f32>, heat_w: f32, dt: f32) {
        let measured = headroom::Measured {
            state: self.state,
            sensors: &self.sensors,
            inputs,
            supply_c: supply,
            valve_demand_pct: self.outputs.valve_demand_pct,
            heat_w,
        };
        self.outputs.headroom_w = self.headroom.headroom_w(&self.config, &measured, dt);
        self.outputs.heat_load_w = heat_w;
        self.outputs.supply_temp_c = supply;
        self.outputs.state = self.state;
        self.outputs.supply_setpoint_c = self.config.supply_setpoint_c;
    }

    /// Starts the pumps once the controller may run and the reservoir has level; raises
    /// `ReservoirLow` (critical) without level.
    fn start_if_ready(&mut self, now: Instant, inputs: &CoolantInputs) {
        self.annunciator.set(
            now,
            Alarm::ReservoirLow,
            0,
            true,
            !inputs.reservoir_level_ok,
        );
        if self.state == CoolantState::Stopped && self.run_enabled && inputs.reservoir_level_ok {
            // The first start is the controller's; any later one follows a stop and a start
            // command.
            let reason = if self.started_once {
                Reason::Command
            } else {
                Reason::Boot
            };
            self.fire(now, Trigger::Start, reason);
            // A controller that boots on a running row (reset, flashed or power-cycled while
            // the drives ran on at their fail-safe speed) takes over the pumps that run, from
            // the speed they run at: no bump (docs/failsafe.md).
            let running_rpm = if self.started_once {
                None
            } else {
                self.pumps.adopt_running(
                    now,
                    inputs,
                    &self.config,
                    WARM_START_RPM_FRACTION * self.config.pump_max_rpm,
                )
            };
            self.started_once = true;
            self.started_at = now;
            self.supply_reached_band = false;
            self.pumps.start_lead(now);
            let running_pct = running_rpm.map(|rpm| rpm / self.config.pump_max_rpm * 100.0);
            self.pressure_loop.start(&self.config, running_pct);
        }
    }

    /// The state machine's moves for this step: Failsafe without a supply reading, back when
    /// one returns, Running once started (the lead pump at half its speed for at least
    /// `startup_min_s`), Degraded while a fault is present.
    fn advance_state(&mut self, now: Instant, inputs: &CoolantInputs, supply: Option<f32>) {
        if supply.is_none() {
            self.fire(now, Trigger::SupplyLost, Reason::NoValidSupplySensor);
            return;
        }
        if self.state == CoolantState::Failsafe {
            self.fire(now, Trigger::SupplyRestored, Reason::Recovered);
        }
        let fault = self.fault_reason();
        if self.state == CoolantState::Startup && fault.is_none() {
            let lead = self.pumps.lead();
            let lead_at_speed = inputs.pump_tach_rpm.get(lead).copied().unwrap_or(0.0)
                >= 0.5
                    * self
                        .outputs
                        .pump_speed_pct
                        .get(lead)
                        .copied()
                        .unwrap_or(0.0)
                    / 100.0
                    * self.config.pump_max_rpm;
            if lead_at_speed && now.secs_since(self.started_at) >= self.config.startup_min_s {
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
        if self.outputs.sensor_faults != 0
            || self.sensors.any_supply_not_ok(self.config.supply_sensors)
        {
            Some(Reason::SensorFault)
        } else if self.pumps.any_faulted(&self.config) {
            Some(Reason::PumpFault)
        } else if self.annunciator.alarms().any_active(Alarm::ValveFault) {
            Some(Reason::ValveFault)
        } else if self.leaks.any_isolated() {
            Some(Reason::Leak)
        } else {
            None
        }
    }

    /// Applies `trigger` if [`TRANSITIONS`] has a move for it from the current state.
    fn fire(&mut self, now: Instant, trigger: Trigger, reason: Reason) {
        let from = self.state;
        let Some(to) = transition(TRANSITIONS, from, trigger) else {
            return;
        };
        self.state = to;
        self.annunciator
            .log(now, CoolantEvent::StateChanged { from, to, reason });
        if to == CoolantState::Stopped {
            self.pumps.stand_by();
        }
    }
}

#[cfg(test)]
mod tests;
