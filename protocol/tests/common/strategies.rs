//! proptest strategies for every message of protocol version 4, written out by hand: the
//! payloads use `heapless` collections, for which no derive crate offers strategies.
//! Floats are finite (a NaN never equals itself, so a round trip could not be compared).

use heapless::Vec;
use proptest::collection::vec as pvec;
use proptest::prelude::*;
use rack_protocol::image::{Board, Refusal as ImageRefusal};
use rack_protocol::message::{
    Ack, AckAlarm, AckAllAlarms, ActuatorCommand, Alarms, BbuStatus, Command, CoolantTelemetry,
    Counters, Diagnostics, Events, FirmwareBegin, FirmwareChunk, FirmwareProgress, FirmwareStatus,
    FirmwareSwap, GetAlarms, GetCounters, GetDiagnostics, GetEvents, GetFirmwareStatus,
    GetIdentity, GetSetpoint, GetTelemetry, Heartbeat, Identity, IsolationRequest,
    MAX_ALARMS_PER_MESSAGE, MAX_BBUS, MAX_EVENTS_PER_MESSAGE, MAX_LEAK_DETECTORS,
    MAX_PLANT_ANALOG_IN, MAX_PLANT_ANALOG_OUT, MAX_PUMPS, MAX_SHELVES, MAX_SUPPLY_SENSORS,
    MAX_TRAYS, Message, MessageKind, PSUS_PER_SHELF, PlantSample, PowerTelemetry, PumpStatus,
    RackPowerReport, Refused, RevokeKey, SERIAL_NUMBER_LEN, SetKey, SetMode, SetSetpoint, Setpoint,
    ShelfStatus, Subscribe, ThermalHeadroom, TrayStatus,
};
use rack_protocol::types::{
    Action, AlarmCode, AlarmEntry, AuthRefusal, BbuState, BootState, BreakerState, ControllerState,
    DeviceKind, Event, EventKind, FaultRecord, FirmwareStep, FirmwareVersion, KeyRole, LeakState,
    ModeSetting, OperatingMode, PsuState, PumpControlMode, PumpState, Reason, Refusal, ResetCause,
    SetpointId, Severity, StoreStatus, TaskId, TrayState, UpdateProblem, UpdateSlotState,
};

/// A heapless vector of up to `N` elements.
fn hvec<S: Strategy, const N: usize>(element: S) -> impl Strategy<Value = Vec<S::Value, N>>
where
    S::Value: core::fmt::Debug,
{
    pvec(element, 0..=N).prop_map(|items| {
        let mut out = Vec::new();
        for item in items {
            let _ = out.push(item);
        }
        out
    })
}

/// Picks one variant of a field-less enum.
macro_rules! pick {
    ($($value:expr),+ $(,)?) => {
        prop_oneof![$(Just($value)),+]
    };
}

fn device_kind() -> impl Strategy<Value = DeviceKind> {
    pick![DeviceKind::CoolantController, DeviceKind::PowerController]
}

fn controller_state() -> impl Strategy<Value = ControllerState> {
    use ControllerState::*;
    pick![
        Startup,
        Running,
        Degraded,
        Failsafe,
        Stopped,
        Off,
        Sequencing,
        Capped,
        RideThrough,
        Shedding,
        Isolated
    ]
}

fn reason() -> impl Strategy<Value = Reason> {
    use Reason::*;
    pick![
        Boot,
        Command,
        StartupComplete,
        SensorFault,
        NoValidSupplySensor,
        PumpFault,
        ValveFault,
        Leak,
        ReservoirLow,
        Recovered,
        OverBudget,
        AcLoss,
        AcRestored,
        Overcurrent,
        ThermalLimit,
        IsolationRequested,
        CommsLost,
        LeadRotation,
        TrayFault,
        PsuFault
    ]
}

fn alarm_code() -> impl Strategy<Value = AlarmCode> {
    use AlarmCode::*;
    pick![
        SupplyTempHigh,
        SupplyTempLow,
        SensorFault,
        SupplySensorsLost,
        LeakDetected,
        ReservoirLow,
        PumpFault,
        ValveFault,
        CannotHoldSetpoint,
        RowBusSilent,
        PsuFault,
        AcLoss,
        BbuLow,
        PowerCapped,
        TrayShed,
        BreakerTripped,
        ThermalDerate,
        CommsLost,
        SettingsLost
    ]
}

fn setpoint_id() -> impl Strategy<Value = SetpointId> {
    use SetpointId::*;
    pick![
        SupplyTempCentiC,
        DifferentialPressureDeciKpa,
        FlowDeciLpm,
        LeadRotationIntervalS,
        LeakReactionDelayS,
        RackPowerBudgetW,
        RampLimitWPerS,
        PowerFloorW,
        RideThroughS
    ]
}

fn operating_mode() -> impl Strategy<Value = OperatingMode> {
    pick![
        OperatingMode::Auto,
        OperatingMode::Manual,
        OperatingMode::Standby
    ]
}

fn pump_control_mode() -> impl Strategy<Value = PumpControlMode> {
    pick![PumpControlMode::DifferentialPressure, PumpControlMode::Flow]
}

fn mode_setting() -> impl Strategy<Value = ModeSetting> {
    prop_oneof![
        operating_mode().prop_map(ModeSetting::Operating),
        pump_control_mode().prop_map(ModeSetting::PumpControl),
    ]
}

fn refusal() -> impl Strategy<Value = Refusal> {
    prop_oneof![
        (any::<i32>(), any::<i32>()).prop_map(|(min, max)| Refusal::OutOfRange { min, max }),
        operating_mode().prop_map(|current| Refusal::WrongMode { current }),
        Just(Refusal::NotPermitted),
        Just(Refusal::NotSupported),
        any::<u8>().prop_map(|count| Refusal::NoSuchInstance { count }),
        auth_refusal().prop_map(Refusal::Unauthorized),
        Just(Refusal::NoSuchAlarm),
        device_kind().prop_map(|device| Refusal::WrongDevice { device }),
        image_refusal().prop_map(Refusal::Image),
        update_problem().prop_map(Refusal::Update),
    ]
}

fn version() -> impl Strategy<Value = FirmwareVersion> {
    any::<[u8; 3]>().prop_map(|[major, minor, patch]| FirmwareVersion {
        major,
        minor,
        patch,
    })
}

fn board() -> impl Strategy<Value = Board> {
    pick![Board::QemuMps2An386, Board::NucleoG474re]
}

fn image_refusal() -> impl Strategy<Value = ImageRefusal> {
    prop_oneof![
        Just(ImageRefusal::Unsigned),
        any::<u8>().prop_map(ImageRefusal::Format),
        Just(ImageRefusal::Malformed),
        (device_kind(), device_kind())
            .prop_map(|(image, device)| ImageRefusal::WrongKind { image, device }),
        (board(), board()).prop_map(|(image, device)| ImageRefusal::WrongBoard { image, device }),
        (version(), version())
            .prop_map(|(image, minimum)| ImageRefusal::Downgrade { image, minimum }),
        (any::<u32>(), any::<u32>()).prop_map(|(len, slot)| ImageRefusal::TooLarge { len, slot }),
        any::<u8>().prop_map(ImageRefusal::UnknownKey),
        Just(ImageRefusal::BadSignature),
        (any::<u32>(), any::<u32>())
            .prop_map(|(expected, got)| ImageRefusal::LengthMismatch { expected, got }),
    ]
}

fn update_problem() -> impl Strategy<Value = UpdateProblem> {
    prop_oneof![
        any::<u32>().prop_map(|expected| UpdateProblem::OutOfOrder { expected }),
        Just(UpdateProblem::NotReceiving),
        Just(UpdateProblem::NotVerified),
        Just(UpdateProblem::TooLong),
        Just(UpdateProblem::OnTrial),
        Just(UpdateProblem::Flash),
    ]
}

fn firmware_step() -> impl Strategy<Value = FirmwareStep> {
    pick![
        FirmwareStep::Verified,
        FirmwareStep::Swapping,
        FirmwareStep::Trial,
        FirmwareStep::Confirmed,
        FirmwareStep::RolledBack
    ]
}

fn firmware_status() -> impl Strategy<Value = FirmwareStatus> {
    (
        version(),
        pick![
            BootState::Confirmed,
            BootState::Trial,
            BootState::RolledBack
        ],
        prop_oneof![
            Just(UpdateSlotState::Empty),
            (version(), any::<u32>(), any::<u32>()).prop_map(|(version, received, len)| {
                UpdateSlotState::Receiving {
                    version,
                    received,
                    len,
                }
            }),
            version().prop_map(|version| UpdateSlotState::Verified { version }),
            Just(UpdateSlotState::Previous),
        ],
        version(),
        any::<u16>(),
        any::<u16>(),
    )
        .prop_map(
            |(running, boot, slot, minimum, confirm_after_s, healthy_s)| FirmwareStatus {
                running,
                boot,
                slot,
                minimum,
                confirm_after_s,
                healthy_s,
            },
        )
}

fn key_role() -> impl Strategy<Value = KeyRole> {
    pick![KeyRole::Reader, KeyRole::Operator, KeyRole::Maintenance]
}

fn auth_refusal() -> impl Strategy<Value = AuthRefusal> {
    prop_oneof![
        Just(AuthRefusal::MissingMac),
        Just(AuthRefusal::BadMac),
        Just(AuthRefusal::UnknownKey),
        Just(AuthRefusal::Replayed),
        key_role().prop_map(|needed| AuthRefusal::RoleTooLow { needed }),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        any::<u8>().prop_map(Action::SetLeadPump),
        Just(Action::RotateLead),
        any::<u8>().prop_map(Action::IsolateRack),
        any::<u8>().prop_map(Action::RestoreRack),
        any::<u8>().prop_map(Action::EnableTray),
        any::<u8>().prop_map(Action::DisableTray),
        Just(Action::ClearLatched),
    ]
}

fn event_kind() -> impl Strategy<Value = EventKind> {
    prop_oneof![
        Just(EventKind::Boot),
        (controller_state(), controller_state(), reason())
            .prop_map(|(from, to, reason)| EventKind::StateChanged { from, to, reason }),
        (alarm_code(), any::<u8>())
            .prop_map(|(code, instance)| EventKind::AlarmRaised { code, instance }),
        (alarm_code(), any::<u8>())
            .prop_map(|(code, instance)| EventKind::AlarmCleared { code, instance }),
        (alarm_code(), any::<u8>())
            .prop_map(|(code, instance)| EventKind::AlarmAcknowledged { code, instance }),
        (setpoint_id(), any::<i32>())
            .prop_map(|(id, value)| EventKind::SetpointChanged { id, value }),
        mode_setting().prop_map(EventKind::ModeChanged),
        (any::<u8>(), any::<u8>(), reason())
            .prop_map(|(from, to, reason)| EventKind::LeadPumpChanged { from, to, reason }),
        (any::<u8>(), reason()).prop_map(|(rack, reason)| EventKind::RackIsolated { rack, reason }),
        (any::<u8>(), any::<bool>(), reason()).prop_map(|(tray, enabled, reason)| {
            EventKind::TrayChanged {
                tray,
                enabled,
                reason,
            }
        }),
        any::<bool>().prop_map(|active| EventKind::FeedForward { active }),
        (any::<u8>(), any::<u8>()).prop_map(|(shelf, psu)| EventKind::PsuFaulted { shelf, psu }),
        (message_kind(), any::<u16>())
            .prop_map(|(of, key_id)| EventKind::WriteAccepted { of, key_id }),
        (message_kind(), any::<u16>(), auth_refusal())
            .prop_map(|(of, key_id, reason)| { EventKind::WriteRefused { of, key_id, reason } }),
        (any::<u16>(), proptest::option::of(key_role()))
            .prop_map(|(key_id, role)| EventKind::KeyChanged { key_id, role }),
        (reset_cause(), proptest::option::of(task_id()))
            .prop_map(|(cause, missed_task)| EventKind::Reset { cause, missed_task }),
        (firmware_step(), version())
            .prop_map(|(step, version)| EventKind::Firmware { step, version }),
    ]
}

fn reset_cause() -> impl Strategy<Value = ResetCause> {
    prop_oneof![
        Just(ResetCause::PowerOn),
        Just(ResetCause::Pin),
        Just(ResetCause::Software),
        Just(ResetCause::Watchdog),
        Just(ResetCause::BrownOut),
        Just(ResetCause::Fault),
        Just(ResetCause::Unknown),
    ]
}

fn task_id() -> impl Strategy<Value = TaskId> {
    proptest::sample::select(TaskId::ALL.to_vec())
}

fn store_status() -> impl Strategy<Value = StoreStatus> {
    prop_oneof![
        Just(StoreStatus::None),
        Just(StoreStatus::Loaded),
        Just(StoreStatus::Empty),
        Just(StoreStatus::Corrupt),
        Just(StoreStatus::Unwritable),
    ]
}

fn diagnostics() -> impl Strategy<Value = Diagnostics> {
    (
        (reset_cause(), proptest::option::of(task_id())),
        proptest::option::of(any::<[u32; 4]>()),
        (proptest::option::of(any::<u32>()), any::<u32>()),
        (any::<u32>(), any::<u32>(), store_status()),
        "[0-9a-f]{0,12}",
    )
        .prop_map(
            |(
                (reset_cause, missed_task),
                fault,
                (stack_peak_bytes, stack_size_bytes),
                (field_bus_errors, row_bus_errors, settings),
                build,
            )| Diagnostics {
                reset_cause,
                missed_task,
                fault: fault.map(|[pc, lr, cfsr, hfsr]| FaultRecord { pc, lr, cfsr, hfsr }),
                stack_peak_bytes,
                stack_size_bytes,
                field_bus_errors,
                row_bus_errors,
                settings,
                build: heapless::String::try_from(build.as_str()).unwrap_or_default(),
            },
        )
}

fn event() -> impl Strategy<Value = Event> {
    (any::<u32>(), any::<u64>(), event_kind()).prop_map(|(seq, at_ms, kind)| Event {
        seq,
        at_ms,
        kind,
    })
}

fn alarm_entry() -> impl Strategy<Value = AlarmEntry> {
    (
        alarm_code(),
        any::<u8>(),
        pick![Severity::Warning, Severity::Critical],
        any::<(bool, bool, bool)>(),
        any::<u64>(),
    )
        .prop_map(
            |(code, instance, severity, (active, latched, acknowledged), raised_at_ms)| {
                AlarmEntry {
                    code,
                    instance,
                    severity,
                    active,
                    latched,
                    acknowledged,
                    raised_at_ms,
                }
            },
        )
}

fn identity() -> impl Strategy<Value = Identity> {
    (
        device_kind(),
        any::<(u8, u8, u8)>(),
        any::<u8>(),
        proptest::string::string_regex(&format!("[ -~]{{0,{SERIAL_NUMBER_LEN}}}")).expect("regex"),
        any::<u64>(),
    )
        .prop_map(
            |(device_kind, (major, minor, patch), protocol_version, serial, uptime_ms)| Identity {
                device_kind,
                firmware_version: FirmwareVersion {
                    major,
                    minor,
                    patch,
                },
                protocol_version,
                serial_number: heapless::String::try_from(serial.as_str()).expect("ascii fits"),
                uptime_ms,
            },
        )
}

fn coolant_telemetry() -> impl Strategy<Value = CoolantTelemetry> {
    let leak = pick![
        LeakState::Ok,
        LeakState::Warning,
        LeakState::Critical,
        LeakState::Unavailable,
        LeakState::Absent
    ];
    let pump = (
        any::<u16>(),
        pick![
            PumpState::Off,
            PumpState::Standby,
            PumpState::Running,
            PumpState::Faulted
        ],
    )
        .prop_map(|(speed_rpm, state)| PumpStatus { speed_rpm, state });
    (
        (
            any::<u64>(),
            controller_state(),
            operating_mode(),
            pump_control_mode(),
            any::<i16>(),
        ),
        (
            hvec::<_, MAX_SUPPLY_SENSORS>(any::<i16>()),
            any::<(i16, i16, i16)>(),
            any::<(u16, u16)>(),
        ),
        (hvec::<_, MAX_PUMPS>(pump), any::<u8>(), any::<(u16, u16)>()),
        (
            hvec::<_, MAX_LEAK_DETECTORS>(leak),
            any::<u16>(),
            any::<u32>(),
            any::<u32>(),
            any::<u8>(),
        ),
    )
        .prop_map(
            |(
                (uptime_ms, state, mode, pump_control, supply_setpoint_centi_c),
                (secondary_supply_temps_centi_c, (ret, psup, pret), (flow, dp)),
                (pumps, lead_pump, (valve, reservoir)),
                (leak_detectors, isolated_racks, sensor_faults, thermal_headroom_w, active_alarms),
            )| CoolantTelemetry {
                uptime_ms,
                state,
                mode,
                pump_control,
                supply_setpoint_centi_c,
                secondary_supply_temps_centi_c,
                secondary_return_temp_centi_c: ret,
                primary_supply_temp_centi_c: psup,
                primary_return_temp_centi_c: pret,
                secondary_flow_deci_lpm: flow,
                differential_pressure_deci_kpa: dp,
                pumps,
                lead_pump,
                primary_valve_position_permille: valve,
                reservoir_level_permille: reservoir,
                leak_detectors,
                isolated_racks,
                sensor_faults,
                thermal_headroom_w,
                active_alarms,
            },
        )
}

fn power_telemetry() -> impl Strategy<Value = PowerTelemetry> {
    use PsuState::*;
    let psu = pick![Absent, Debouncing, Settling, Ok, Faulted, Probation, Off];
    let shelf = (
        any::<u32>(),
        proptest::array::uniform::<_, PSUS_PER_SHELF>(psu),
    )
        .prop_map(|(output_power_w, psus)| ShelfStatus {
            output_power_w,
            psus,
        });
    let tray_state = {
        use TrayState::*;
        pick![Off, Pending, On, Capped, Shed, Disabled]
    };
    let tray = (any::<u16>(), any::<u16>(), tray_state, any::<i16>()).prop_map(
        |(power_w, cap_w, state, hottest_gpu_temp_centi_c)| TrayStatus {
            power_w,
            cap_w,
            state,
            hottest_gpu_temp_centi_c,
        },
    );
    let bbu_state = pick![
        BbuState::Standby,
        BbuState::Charging,
        BbuState::Discharging,
        BbuState::Faulted
    ];
    let bbu = (any::<u16>(), any::<i32>(), bbu_state).prop_map(
        |(state_of_charge_permille, power_w, state)| BbuStatus {
            state_of_charge_permille,
            power_w,
            state,
        },
    );
    (
        (
            any::<u64>(),
            controller_state(),
            operating_mode(),
            any::<(u32, u32, u16, bool)>(),
        ),
        (
            hvec::<_, MAX_SHELVES>(shelf),
            hvec::<_, MAX_TRAYS>(tray),
            hvec::<_, MAX_BBUS>(bbu),
        ),
        (
            pick![
                BreakerState::Closed,
                BreakerState::Tripped,
                BreakerState::Open
            ],
            any::<u16>(),
            any::<u8>(),
        ),
    )
        .prop_map(
            |(
                (
                    uptime_ms,
                    state,
                    mode,
                    (rack_input_power_w, power_budget_w, bus_voltage_mv, ac_present),
                ),
                (shelves, trays, bbus),
                (breaker, breaker_i2t_permille, active_alarms),
            )| PowerTelemetry {
                uptime_ms,
                state,
                mode,
                rack_input_power_w,
                power_budget_w,
                bus_voltage_mv,
                ac_present,
                shelves,
                trays,
                bbus,
                breaker,
                breaker_i2t_permille,
                active_alarms,
            },
        )
}

fn message_kind() -> impl Strategy<Value = MessageKind> {
    proptest::sample::select(MessageKind::ALL)
}

fn finite_f32() -> impl Strategy<Value = f32> {
    proptest::num::f32::NORMAL | proptest::num::f32::SUBNORMAL | proptest::num::f32::ZERO
}

/// Any message of protocol version 1; every kind is drawn.
pub fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        Just(Message::GetIdentity(GetIdentity)),
        identity().prop_map(Message::Identity),
        Just(Message::GetTelemetry(GetTelemetry)),
        coolant_telemetry().prop_map(Message::CoolantTelemetry),
        power_telemetry().prop_map(Message::PowerTelemetry),
        any::<u32>().prop_map(|period_ms| Message::Subscribe(Subscribe { period_ms })),
        any::<u64>().prop_map(|uptime_ms| Message::Heartbeat(Heartbeat { uptime_ms })),
        message_kind().prop_map(|of| Message::Ack(Ack { of })),
        (message_kind(), refusal())
            .prop_map(|(of, reason)| Message::Refused(Refused { of, reason })),
        setpoint_id().prop_map(|id| Message::GetSetpoint(GetSetpoint { id })),
        (setpoint_id(), any::<i32>())
            .prop_map(|(id, value)| Message::SetSetpoint(SetSetpoint { id, value })),
        (setpoint_id(), any::<(i32, i32, i32)>()).prop_map(|(id, (value, min, max))| {
            Message::Setpoint(Setpoint {
                id,
                value,
                min,
                max,
            })
        }),
        mode_setting().prop_map(|mode| Message::SetMode(SetMode { mode })),
        Just(Message::GetAlarms(GetAlarms)),
        (
            hvec::<_, MAX_ALARMS_PER_MESSAGE>(alarm_entry()),
            any::<u8>()
        )
            .prop_map(|(entries, total)| Message::Alarms(Alarms { entries, total })),
        (alarm_code(), any::<u8>())
            .prop_map(|(code, instance)| Message::AckAlarm(AckAlarm { code, instance })),
        Just(Message::AckAllAlarms(AckAllAlarms)),
        any::<u32>().prop_map(|from_seq| Message::GetEvents(GetEvents { from_seq })),
        (
            hvec::<_, MAX_EVENTS_PER_MESSAGE>(event()),
            any::<u32>(),
            any::<bool>(),
            any::<(u32, u32)>()
        )
            .prop_map(|(events, next_seq, more, (lost, overwritten_total))| {
                Message::Events(Events {
                    events,
                    next_seq,
                    more,
                    lost,
                    overwritten_total,
                })
            }),
        action().prop_map(|action| Message::Command(Command { action })),
        (any::<u8>(), any::<(u32, u32)>(), any::<i16>()).prop_map(
            |(rack, (input_power_w, power_cap_w), hottest_gpu_temp_centi_c)| {
                Message::RackPowerReport(RackPowerReport {
                    rack,
                    input_power_w,
                    power_cap_w,
                    hottest_gpu_temp_centi_c,
                })
            }
        ),
        (any::<u16>(), any::<u32>(), any::<i16>(), controller_state()).prop_map(
            |(row, headroom_w, supply_temp_centi_c, state)| {
                Message::ThermalHeadroom(ThermalHeadroom {
                    row,
                    headroom_w,
                    supply_temp_centi_c,
                    state,
                })
            }
        ),
        (any::<u8>(), reason()).prop_map(|(rack, reason)| Message::IsolationRequest(
            IsolationRequest { rack, reason }
        )),
        (
            any::<u64>(),
            hvec::<_, MAX_PLANT_ANALOG_IN>(finite_f32()),
            any::<u128>()
        )
            .prop_map(
                |(sim_time_us, analog, digital)| Message::PlantSample(PlantSample {
                    sim_time_us,
                    analog,
                    digital
                })
            ),
        (
            any::<u64>(),
            hvec::<_, MAX_PLANT_ANALOG_OUT>(finite_f32()),
            any::<u64>()
        )
            .prop_map(|(sim_time_us, analog, digital)| Message::ActuatorCommand(
                ActuatorCommand {
                    sim_time_us,
                    analog,
                    digital
                }
            )),
        Just(Message::GetCounters(GetCounters)),
        (
            any::<u32>(),
            any::<[u32; 7]>(),
            any::<u32>(),
            any::<[u32; 5]>(),
            any::<u32>()
        )
            .prop_map(
                |(frames, frame_rejects, writes_accepted, auth_refusals, refusals_not_logged)| {
                    Message::Counters(Counters {
                        frames,
                        frame_rejects,
                        writes_accepted,
                        auth_refusals,
                        refusals_not_logged,
                    })
                }
            ),
        (any::<u16>(), key_role(), any::<[u8; 32]>()).prop_map(|(key_id, role, secret)| {
            Message::SetKey(SetKey {
                key_id,
                role,
                secret,
            })
        }),
        any::<u16>().prop_map(|key_id| Message::RevokeKey(RevokeKey { key_id })),
        Just(Message::GetDiagnostics(GetDiagnostics)),
        diagnostics().prop_map(Message::Diagnostics),
        Just(Message::GetFirmwareStatus(GetFirmwareStatus)),
        firmware_status().prop_map(Message::FirmwareStatus),
        proptest::collection::vec(any::<u8>(), 0..=128).prop_map(|h| {
            Message::FirmwareBegin(FirmwareBegin {
                header: h.into_iter().collect(),
            })
        }),
        (
            any::<u32>(),
            proptest::collection::vec(any::<u8>(), 0..=128)
        )
            .prop_map(|(offset, d)| {
                Message::FirmwareChunk(FirmwareChunk {
                    offset,
                    data: d.into_iter().collect(),
                })
            }),
        (any::<u32>(), any::<u32>(), any::<bool>()).prop_map(|(next_offset, len, verified)| {
            Message::FirmwareProgress(FirmwareProgress {
                next_offset,
                len,
                verified,
            })
        }),
        Just(Message::FirmwareSwap(FirmwareSwap)),
    ]
}
