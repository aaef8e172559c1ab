//! The coolant controller as a node application: its telemetry, setpoints, modes, commands,
//! alarms and events in protocol terms.

use rack_control::Instant;
use rack_control::coolant::{
    Alarm, CoolantController, CoolantEvent, CoolantInputs, CoolantState, PumpControl,
    PumpState as CtlPump, Reason as CtlReason, SettingError,
};
use rack_protocol::message::{
    CoolantTelemetry, MAX_ALARMS_PER_MESSAGE, Message, MessageKind, PumpStatus, Setpoint,
};
use rack_protocol::types::{
    Action, AlarmCode, AlarmEntry, ControllerState, DeviceKind, EventKind, LeakState, ModeSetting,
    OperatingMode, PumpControlMode, PumpState, Reason, Refusal, SetpointId,
};

use crate::{Application, scaled};

/// A coolant controller with the inputs it last stepped on.
#[derive(Debug, Clone)]
pub struct CoolantApp {
    /// The controller.
    pub controller: CoolantController,
    /// The inputs of the last step (what telemetry reports).
    pub inputs: CoolantInputs,
    next_event: u32,
}

impl CoolantApp {
    /// An application around `controller`.
    pub fn new(controller: CoolantController) -> Self {
        Self {
            controller,
            inputs: CoolantInputs::uniform(Instant(0), 0.0),
            next_event: 1,
        }
    }

    /// The control step: remembers the inputs for telemetry.
    pub fn step(&mut self, now: Instant, inputs: &CoolantInputs) {
        self.inputs = *inputs;
        self.controller.step(now, inputs);
    }
}

pub(crate) fn state(s: CoolantState) -> ControllerState {
    match s {
        CoolantState::Stopped => ControllerState::Stopped,
        CoolantState::Startup => ControllerState::Startup,
        CoolantState::Running => ControllerState::Running,
        CoolantState::Degraded => ControllerState::Degraded,
        CoolantState::Failsafe => ControllerState::Failsafe,
    }
}

fn reason(r: CtlReason) -> Reason {
    match r {
        CtlReason::Boot => Reason::Boot,
        CtlReason::Command => Reason::Command,
        CtlReason::StartupComplete => Reason::StartupComplete,
        CtlReason::SensorFault => Reason::SensorFault,
        CtlReason::NoValidSupplySensor => Reason::NoValidSupplySensor,
        CtlReason::PumpFault => Reason::PumpFault,
        CtlReason::ValveFault => Reason::ValveFault,
        CtlReason::Leak => Reason::Leak,
        CtlReason::ReservoirLow => Reason::ReservoirLow,
        CtlReason::Recovered => Reason::Recovered,
        CtlReason::LeadRotation => Reason::LeadRotation,
    }
}

/// The protocol code of a controller alarm.
pub fn alarm_code(a: Alarm) -> AlarmCode {
    match a {
        Alarm::SupplyTempHigh => AlarmCode::SupplyTempHigh,
        Alarm::SupplyTempLow => AlarmCode::SupplyTempLow,
        Alarm::SensorFault => AlarmCode::SensorFault,
        Alarm::SupplySensorsLost => AlarmCode::SupplySensorsLost,
        Alarm::LeakDetected => AlarmCode::LeakDetected,
        Alarm::ReservoirLow => AlarmCode::ReservoirLow,
        Alarm::PumpFault => AlarmCode::PumpFault,
        Alarm::ValveFault => AlarmCode::ValveFault,
        Alarm::CannotHoldSetpoint => AlarmCode::CannotHoldSetpoint,
        Alarm::RowBusSilent => AlarmCode::RowBusSilent,
    }
}

// The controller's sensor numbers are the protocol's fault bits: telemetry passes
// `sensor_faults` through unchanged, so any difference between the two lists fails the build.
const _: () = {
    use rack_control::coolant::sensor_index as index;
    use rack_protocol::message::sensor_fault_bit as bit;
    assert!(index::SUPPLY_0 as u32 == bit::SUPPLY_0);
    assert!(index::RETURN as u32 == bit::SECONDARY_RETURN);
    assert!(index::PRIMARY_SUPPLY as u32 == bit::PRIMARY_SUPPLY);
    assert!(index::PRIMARY_RETURN as u32 == bit::PRIMARY_RETURN);
    assert!(index::FLOW as u32 == bit::FLOW);
    assert!(index::DIFFERENTIAL_PRESSURE as u32 == bit::DIFFERENTIAL_PRESSURE);
    assert!(index::VALVE_FEEDBACK as u32 == bit::VALVE_FEEDBACK);
};

/// A setpoint this device does not take: the rack's are the power controller's; the
/// differential pressure and flow follow from the pump control mode and are read-only.
fn not_here(id: SetpointId) -> Refusal {
    match id {
        SetpointId::RackPowerBudgetW
        | SetpointId::RampLimitWPerS
        | SetpointId::PowerFloorW
        | SetpointId::RideThroughS => Refusal::WrongDevice {
            device: DeviceKind::CoolantController,
        },
        _ => Refusal::NotSupported,
    }
}

fn controller_alarm(code: AlarmCode) -> Option<Alarm> {
    Alarm::ALL.into_iter().find(|a| alarm_code(*a) == code)
}

fn refusal(e: SettingError, per_unit: f32) -> Refusal {
    match e {
        SettingError::OutOfRange { min, max } => Refusal::OutOfRange {
            min: scaled(min, per_unit),
            max: scaled(max, per_unit),
        },
        SettingError::NoSuchInstance { count } => Refusal::NoSuchInstance { count },
        SettingError::NotPermitted => Refusal::NotPermitted,
    }
}

fn u16_of(value: f32, per_unit: f32) -> u16 {
    u16::try_from(scaled(value, per_unit).max(0)).unwrap_or(u16::MAX)
}

fn i16_of(value: f32, per_unit: f32) -> i16 {
    i16::try_from(scaled(value, per_unit)).unwrap_or(if value < 0.0 { i16::MIN } else { i16::MAX })
}

impl Application for CoolantApp {
    fn kind(&self) -> DeviceKind {
        DeviceKind::CoolantController
    }

    fn sends(kind: MessageKind) -> bool {
        kind != MessageKind::PowerTelemetry
    }

    fn telemetry(&self, now: Instant) -> Message {
        let c = &self.controller;
        let out = c.outputs();
        let cfg = c.config();
        let i = &self.inputs;
        let mut t = CoolantTelemetry {
            uptime_ms: now.as_millis(),
            state: state(out.state),
            mode: match (c.run_enabled(), cfg.pump_control) {
                (false, _) => OperatingMode::Standby,
                (true, PumpControl::FixedSpeed(_)) => OperatingMode::Manual,
                _ => OperatingMode::Auto,
            },
            pump_control: match cfg.pump_control {
                PumpControl::Flow => PumpControlMode::Flow,
                _ => PumpControlMode::DifferentialPressure,
            },
            supply_setpoint_centi_c: i16_of(out.supply_setpoint_c, 100.0),
            secondary_supply_temps_centi_c: heapless::Vec::new(),
            secondary_return_temp_centi_c: i16_of(i.return_temp_c.value, 100.0),
            primary_supply_temp_centi_c: i16_of(i.primary_supply_temp_c.value, 100.0),
            primary_return_temp_centi_c: i16_of(i.primary_return_temp_c.value, 100.0),
            secondary_flow_deci_lpm: u16_of(i.flow_lpm.value, 10.0),
            differential_pressure_deci_kpa: u16_of(i.dp_kpa.value, 10.0),
            pumps: heapless::Vec::new(),
            lead_pump: out.lead_pump,
            primary_valve_position_permille: u16_of(i.valve_feedback_pct.value, 10.0),
            reservoir_level_permille: u16_of(i.reservoir_level_pct, 10.0),
            leak_detectors: heapless::Vec::new(),
            isolated_racks: out.isolation_requests,
            sensor_faults: out.sensor_faults,
            thermal_headroom_w: u32::try_from(scaled(out.headroom_w, 1.0).max(0)).unwrap_or(0),
            active_alarms: u8::try_from(c.alarms().iter().filter(|a| a.active).count())
                .unwrap_or(u8::MAX),
        };
        for r in i.supply_temps_c.iter().take(cfg.supply_sensors) {
            let _ = t
                .secondary_supply_temps_centi_c
                .push(i16_of(r.value, 100.0));
        }
        for p in 0..cfg.pumps {
            let speed = i.pump_tach_rpm.get(p).copied().unwrap_or(0.0);
            let s = match out.pump_states.get(p).copied().unwrap_or(CtlPump::Off) {
                CtlPump::Off => PumpState::Off,
                CtlPump::Standby => PumpState::Standby,
                CtlPump::Running => PumpState::Running,
                CtlPump::Faulted => PumpState::Faulted,
            };
            let _ = t.pumps.push(PumpStatus {
                speed_rpm: u16_of(speed, 1.0),
                state: s,
            });
        }
        for z in 0..=cfg.racks {
            #[allow(clippy::cast_possible_truncation)] // zones < MAX_ZONES
            let critical = c.alarms().iter().any(|a| {
                a.code == Alarm::LeakDetected && a.instance == z as u8 && a.active && a.critical
            });
            for wet in [i.leak_moisture.get(z), i.leak_float.get(z)] {
                let state = match (wet.copied().unwrap_or(false), critical) {
                    (false, _) => LeakState::Ok,
                    (true, false) => LeakState::Warning,
                    (true, true) => LeakState::Critical,
                };
                let _ = t.leak_detectors.push(state);
            }
        }
        Message::CoolantTelemetry(t)
    }

    fn get_setpoint(&self, id: SetpointId) -> Result<Setpoint, Refusal> {
        let cfg = self.controller.config();
        let (value, min, max) = match id {
            SetpointId::SupplyTempCentiC => (
                scaled(cfg.supply_setpoint_c, 100.0),
                scaled(cfg.supply_setpoint_min_c, 100.0),
                scaled(cfg.supply_setpoint_max_c, 100.0),
            ),
            SetpointId::LeadRotationIntervalS => {
                (scaled(cfg.lead_rotation_interval_s, 1.0), 3_600, 2_592_000)
            }
            SetpointId::LeakReactionDelayS => (scaled(cfg.leak_reaction_delay_s, 1.0), 0, 300),
            other => return Err(not_here(other)),
        };
        Ok(Setpoint {
            id,
            value,
            min,
            max,
        })
    }

    fn set_setpoint(
        &mut self,
        now: Instant,
        id: SetpointId,
        value: i32,
    ) -> Result<Setpoint, Refusal> {
        let c = &mut self.controller;
        #[allow(clippy::cast_precision_loss)] // protocol integers are small
        let v = value as f32;
        match id {
            SetpointId::SupplyTempCentiC => c
                .set_supply_setpoint(now, v / 100.0)
                .map_err(|e| refusal(e, 100.0))?,
            SetpointId::LeadRotationIntervalS => c
                .set_lead_rotation_interval(v)
                .map_err(|e| refusal(e, 1.0))?,
            SetpointId::LeakReactionDelayS => {
                c.set_leak_reaction_delay(v).map_err(|e| refusal(e, 1.0))?;
            }
            other => return Err(not_here(other)),
        }
        self.get_setpoint(id)
    }

    fn set_mode(&mut self, now: Instant, mode: ModeSetting) -> Result<(), Refusal> {
        match mode {
            ModeSetting::Operating(OperatingMode::Auto) => self.controller.start(),
            ModeSetting::Operating(OperatingMode::Standby) => self.controller.stop(now),
            ModeSetting::Operating(OperatingMode::Manual) => return Err(Refusal::NotSupported),
            ModeSetting::PumpControl(PumpControlMode::DifferentialPressure) => {
                self.controller
                    .set_pump_control(PumpControl::DifferentialPressure);
            }
            ModeSetting::PumpControl(PumpControlMode::Flow) => {
                self.controller.set_pump_control(PumpControl::Flow);
            }
        }
        Ok(())
    }

    fn command(&mut self, now: Instant, action: Action) -> Result<(), Refusal> {
        let c = &mut self.controller;
        match action {
            Action::SetLeadPump(p) => c
                .set_lead_pump(now, usize::from(p))
                .map_err(|e| refusal(e, 1.0)),
            Action::RotateLead => {
                let pumps = c.config().pumps.max(1);
                let next = (usize::from(c.outputs().lead_pump) + 1) % pumps;
                c.set_lead_pump(now, next).map_err(|e| refusal(e, 1.0))
            }
            Action::RestoreRack(r) => c.restore_rack(usize::from(r)).map_err(|e| refusal(e, 1.0)),
            Action::ClearLatched => {
                c.acknowledge_all();
                Ok(())
            }
            // A rack is isolated by its power controller (the CDU closes no valve of its own
            // accord); trays are the power controller's.
            Action::IsolateRack(_) | Action::EnableTray(_) | Action::DisableTray(_) => {
                Err(Refusal::WrongDevice {
                    device: DeviceKind::CoolantController,
                })
            }
        }
    }

    fn alarms(&self, out: &mut heapless::Vec<AlarmEntry, MAX_ALARMS_PER_MESSAGE>) -> u8 {
        crate::alarm_entries(self.controller.alarms(), alarm_code, out)
    }

    fn acknowledge(&mut self, code: AlarmCode, instance: u8) -> bool {
        controller_alarm(code).is_some_and(|a| self.controller.acknowledge(a, instance))
    }

    fn acknowledge_all(&mut self) {
        self.controller.acknowledge_all();
    }

    fn drain_events(&mut self, emit: &mut dyn FnMut(Instant, EventKind)) {
        let info = self
            .controller
            .events()
            .read_from(self.next_event, usize::MAX, |r| {
                let kind = match r.event {
                    // The node records setpoint changes itself, with the protocol's id and unit.
                    CoolantEvent::SetpointChanged { .. } => return,
                    CoolantEvent::StateChanged {
                        from,
                        to,
                        reason: why,
                    } => EventKind::StateChanged {
                        from: state(from),
                        to: state(to),
                        reason: reason(why),
                    },
                    CoolantEvent::AlarmRaised { alarm, instance } => EventKind::AlarmRaised {
                        code: alarm_code(alarm),
                        instance,
                    },
                    CoolantEvent::AlarmCleared { alarm, instance } => EventKind::AlarmCleared {
                        code: alarm_code(alarm),
                        instance,
                    },
                    CoolantEvent::LeadPumpChanged {
                        from,
                        to,
                        reason: why,
                    } => EventKind::LeadPumpChanged {
                        from,
                        to,
                        reason: reason(why),
                    },
                    CoolantEvent::RackIsolated { rack } => EventKind::RackIsolated {
                        rack,
                        reason: Reason::Leak,
                    },
                    CoolantEvent::FeedForward { active } => EventKind::FeedForward { active },
                };
                emit(r.at, kind);
            });
        self.next_event = info.next_seq;
    }

    fn kept_setpoints(&self) -> &'static [SetpointId] {
        &[
            SetpointId::SupplyTempCentiC,
            SetpointId::LeadRotationIntervalS,
            SetpointId::LeakReactionDelayS,
        ]
    }

    fn kept_modes(&self) -> heapless::Vec<ModeSetting, { crate::settings::MAX_KEPT_MODES }> {
        // Manual (a fixed speed) is a technician's session, not a commissioning choice: the
        // loop it came from is what a reboot goes back to.
        let mode = match self.controller.config().pump_control {
            PumpControl::Flow => PumpControlMode::Flow,
            _ => PumpControlMode::DifferentialPressure,
        };
        heapless::Vec::from_iter([ModeSetting::PumpControl(mode)])
    }
}
