//! The rack power controller as a node application.

use rack_control::Instant;
use rack_control::power::{
    PSUS_PER_SHELF, PowerAlarm, PowerController, PowerEvent, PowerInputs, PowerReason, PowerState,
    SHELVES, TRAYS,
};
use rack_protocol::message::{
    BbuStatus, MAX_ALARMS_PER_MESSAGE, Message, MessageKind, PowerTelemetry, Setpoint, ShelfStatus,
    TrayStatus,
};
use rack_protocol::types::{
    Action, AlarmCode, AlarmEntry, BbuState, BreakerState, ControllerState, DeviceKind, EventKind,
    ModeSetting, OperatingMode, PsuState, Reason, Refusal, SetpointId, TrayState,
};

use crate::{Application, scaled};

/// A power controller with the inputs it last stepped on.
#[derive(Debug, Clone)]
pub struct PowerApp {
    /// The controller.
    pub controller: PowerController,
    /// The inputs of the last step.
    pub inputs: Option<PowerInputs>,
    /// Bus voltage, V (reported only).
    pub bus_voltage_v: f32,
    next_event: u32,
    follow_on: Option<(SetpointId, i32)>,
}

/// A request for the coolant controller's setpoints, modes or commands.
fn wrong_device() -> Refusal {
    Refusal::WrongDevice {
        device: DeviceKind::PowerController,
    }
}

impl PowerApp {
    /// An application around `controller`.
    pub fn new(controller: PowerController) -> Self {
        Self {
            controller,
            inputs: None,
            bus_voltage_v: 50.0,
            next_event: 1,
            follow_on: None,
        }
    }

    /// The control step: remembers the inputs for telemetry.
    pub fn step(&mut self, now: Instant, inputs: &PowerInputs) {
        self.inputs = Some(*inputs);
        self.controller.step(now, inputs);
    }
}

fn state(s: PowerState) -> ControllerState {
    match s {
        PowerState::Off => ControllerState::Off,
        PowerState::Sequencing => ControllerState::Sequencing,
        PowerState::Running => ControllerState::Running,
        PowerState::Capped => ControllerState::Capped,
        PowerState::RideThrough => ControllerState::RideThrough,
        PowerState::Shedding => ControllerState::Shedding,
        PowerState::Isolated => ControllerState::Isolated,
    }
}

fn reason(r: PowerReason) -> Reason {
    match r {
        PowerReason::Boot => Reason::Boot,
        PowerReason::SequenceComplete => Reason::StartupComplete,
        PowerReason::OverBudget => Reason::OverBudget,
        PowerReason::WithinBudget => Reason::Recovered,
        PowerReason::AcLoss => Reason::AcLoss,
        PowerReason::AcRestored => Reason::AcRestored,
        PowerReason::Overcurrent => Reason::Overcurrent,
        PowerReason::TrayFault => Reason::TrayFault,
        PowerReason::IsolationRequested => Reason::IsolationRequested,
        PowerReason::PsuFault => Reason::PsuFault,
        PowerReason::ThermalLimit => Reason::ThermalLimit,
        PowerReason::Command => Reason::Command,
    }
}

/// The protocol code of a power controller alarm.
pub fn alarm_code(a: PowerAlarm) -> AlarmCode {
    match a {
        PowerAlarm::AcLoss => AlarmCode::AcLoss,
        PowerAlarm::PowerCapped => AlarmCode::PowerCapped,
        PowerAlarm::ThermalDerate => AlarmCode::ThermalDerate,
        PowerAlarm::TrayShed => AlarmCode::TrayShed,
        PowerAlarm::PsuFault => AlarmCode::PsuFault,
        PowerAlarm::BbuLow => AlarmCode::BbuLow,
    }
}

fn u32_of(v: f32) -> u32 {
    u32::try_from(scaled(v, 1.0).max(0)).unwrap_or(u32::MAX)
}

fn u16_of(v: f32, per_unit: f32) -> u16 {
    u16::try_from(scaled(v, per_unit).max(0)).unwrap_or(u16::MAX)
}

fn range(r: (f32, f32)) -> Refusal {
    Refusal::OutOfRange {
        min: scaled(r.0, 1.0),
        max: scaled(r.1, 1.0),
    }
}

impl Application for PowerApp {
    fn kind(&self) -> DeviceKind {
        DeviceKind::PowerController
    }

    fn sends(kind: MessageKind) -> bool {
        kind != MessageKind::CoolantTelemetry
    }

    fn telemetry(&self, now: Instant) -> Message {
        let c = &self.controller;
        let out = c.outputs();
        let i = self.inputs;
        let mut t = PowerTelemetry {
            uptime_ms: now.as_millis(),
            state: state(out.state),
            mode: OperatingMode::Auto,
            rack_input_power_w: u32_of(i.map_or(0.0, |i| i.input_power_w)),
            power_budget_w: u32_of(out.budget_w),
            bus_voltage_mv: u16_of(self.bus_voltage_v, 1000.0),
            ac_present: i.is_some_and(|i| i.ac_present),
            shelves: heapless::Vec::new(),
            trays: heapless::Vec::new(),
            bbus: heapless::Vec::new(),
            breaker: if out.breaker_thermal >= 1.0 {
                BreakerState::Tripped
            } else {
                BreakerState::Closed
            },
            breaker_i2t_permille: u16_of(out.breaker_thermal, 1000.0),
            active_alarms: u8::try_from(c.alarms().iter().filter(|a| a.active).count())
                .unwrap_or(u8::MAX),
        };
        let none = [[false; PSUS_PER_SHELF]; SHELVES];
        let present = i.map_or(none, |i| i.psu_present);
        let faults = i.map_or(none, |i| i.psu_fault);
        let total_ok = out
            .psu_enable
            .iter()
            .flatten()
            .filter(|e| **e)
            .count()
            .max(1);
        let load: f32 = i.map_or(0.0, |i| i.tray_power_w.iter().sum());
        for ((present, faults), enabled) in present.iter().zip(&faults).zip(&out.psu_enable) {
            let mut psus = [PsuState::Absent; PSUS_PER_SHELF];
            for (slot, ((present, fault), on)) in
                psus.iter_mut().zip(present.iter().zip(faults).zip(enabled))
            {
                *slot = match (*present, *fault, *on) {
                    (false, _, _) => PsuState::Absent,
                    (true, true, _) => PsuState::Faulted,
                    (true, false, true) => PsuState::Ok,
                    (true, false, false) => PsuState::Off,
                };
            }
            let ok = psus.iter().filter(|p| **p == PsuState::Ok).count();
            #[allow(clippy::cast_precision_loss)] // small counts
            let share = ok as f32 / total_ok as f32;
            let _ = t.shelves.push(ShelfStatus {
                output_power_w: u32_of(load * share),
                psus,
            });
        }
        let zero = [0.0; TRAYS];
        let (power, demand, hottest) = i.map_or((zero, zero, zero), |i| {
            (i.tray_power_w, i.tray_demand_w, i.tray_hottest_gpu_c)
        });
        let rows = power
            .iter()
            .zip(&demand)
            .zip(&hottest)
            .zip(&out.tray_cap_w)
            .zip(&out.tray_enable);
        for ((((power, demand), hottest), cap), on) in rows.take(c.config().trays.min(TRAYS)) {
            let state = match (*on, *demand > *cap * 1.001) {
                (false, _) => TrayState::Off,
                (true, true) => TrayState::Capped,
                (true, false) => TrayState::On,
            };
            let _ = t.trays.push(TrayStatus {
                power_w: u16_of(*power, 1.0),
                cap_w: u16_of(*cap, 1.0),
                state,
                hottest_gpu_temp_centi_c: i16::try_from(scaled(*hottest, 100.0))
                    .unwrap_or(i16::MAX),
            });
        }
        let _ = t.bbus.push(BbuStatus {
            state_of_charge_permille: u16_of(i.map_or(0.0, |i| i.bbu_soc), 1000.0),
            power_w: scaled(out.bbu_power_w, 1.0),
            state: if out.bbu_power_w > 1.0 {
                BbuState::Discharging
            } else if out.bbu_power_w < -1.0 {
                BbuState::Charging
            } else {
                BbuState::Standby
            },
        });
        Message::PowerTelemetry(t)
    }

    fn get_setpoint(&self, id: SetpointId) -> Result<Setpoint, Refusal> {
        let c = self.controller.config();
        let (budget_min, budget_max) = self.controller.budget_range();
        let (value, min, max) = match id {
            SetpointId::RackPowerBudgetW => (c.budget_w, budget_min, budget_max),
            SetpointId::RampLimitWPerS => (c.ramp_limit_w_per_s, 100.0, 100_000.0),
            SetpointId::PowerFloorW => (c.power_floor_w, 0.0, c.budget_w),
            SetpointId::RideThroughS => (c.ride_through_s, 10.0, 1_800.0),
            _ => return Err(wrong_device()),
        };
        Ok(Setpoint {
            id,
            value: scaled(value, 1.0),
            min: scaled(min, 1.0),
            max: scaled(max, 1.0),
        })
    }

    fn set_setpoint(
        &mut self,
        _now: Instant,
        id: SetpointId,
        value: i32,
    ) -> Result<Setpoint, Refusal> {
        #[allow(clippy::cast_precision_loss)] // protocol integers are small
        let v = value as f32;
        let c = &mut self.controller;
        match id {
            SetpointId::RackPowerBudgetW => {
                let floor_w = c.config().power_floor_w;
                c.set_budget(v).map_err(range)?;
                let now_w = c.config().power_floor_w;
                if now_w.to_bits() != floor_w.to_bits() {
                    self.follow_on = Some((SetpointId::PowerFloorW, scaled(now_w, 1.0)));
                }
            }
            SetpointId::RampLimitWPerS => c.set_ramp_limit(v).map_err(range)?,
            SetpointId::PowerFloorW => c.set_power_floor(v).map_err(range)?,
            SetpointId::RideThroughS => c.set_ride_through(v).map_err(range)?,
            _ => return Err(wrong_device()),
        }
        self.get_setpoint(id)
    }

    fn follow_on(&mut self) -> Option<(SetpointId, i32)> {
        self.follow_on.take()
    }

    fn set_mode(&mut self, _now: Instant, mode: ModeSetting) -> Result<(), Refusal> {
        match mode {
            ModeSetting::PumpControl(_) => Err(wrong_device()),
            ModeSetting::Operating(_) => Err(Refusal::NotSupported),
        }
    }

    fn command(&mut self, now: Instant, action: Action) -> Result<(), Refusal> {
        let trays = u8::try_from(self.controller.config().trays).unwrap_or(u8::MAX);
        let set = |c: &mut PowerController, t: u8, on: bool| {
            c.set_tray_enabled(now, usize::from(t), on)
                .ok_or(Refusal::NoSuchInstance { count: trays })
        };
        match action {
            Action::EnableTray(t) => set(&mut self.controller, t, true),
            Action::DisableTray(t) => set(&mut self.controller, t, false),
            Action::SetLeadPump(_) | Action::RotateLead => Err(wrong_device()),
            _ => Err(Refusal::NotSupported),
        }
    }

    fn alarms(&self, out: &mut heapless::Vec<AlarmEntry, MAX_ALARMS_PER_MESSAGE>) -> u8 {
        crate::alarm_entries(self.controller.alarms(), alarm_code, out)
    }

    fn acknowledge(&mut self, code: AlarmCode, instance: u8) -> bool {
        PowerAlarm::ALL
            .into_iter()
            .find(|a| alarm_code(*a) == code)
            .is_some_and(|a| self.controller.acknowledge(a, instance))
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
                    PowerEvent::StateChanged {
                        from,
                        to,
                        reason: why,
                    } => EventKind::StateChanged {
                        from: state(from),
                        to: state(to),
                        reason: reason(why),
                    },
                    PowerEvent::TrayChanged {
                        tray,
                        enabled,
                        reason: why,
                    } => EventKind::TrayChanged {
                        tray,
                        enabled,
                        reason: reason(why),
                    },
                    PowerEvent::PsuFaulted { shelf, psu } => EventKind::PsuFaulted { shelf, psu },
                    PowerEvent::AlarmRaised { alarm, instance } => EventKind::AlarmRaised {
                        code: alarm_code(alarm),
                        instance,
                    },
                    PowerEvent::AlarmCleared { alarm, instance } => EventKind::AlarmCleared {
                        code: alarm_code(alarm),
                        instance,
                    },
                };
                emit(r.at, kind);
            });
        self.next_event = info.next_seq;
    }

    fn kept_setpoints(&self) -> &'static [SetpointId] {
        // The budget first: the floor it bounds is restored after it.
        &[
            SetpointId::RackPowerBudgetW,
            SetpointId::RampLimitWPerS,
            SetpointId::PowerFloorW,
            SetpointId::RideThroughS,
        ]
    }
}
