//! One realistic example of every message kind: the golden vectors, the bit-flip test and the
//! size report are built from these. Values follow docs/domain.md's nominal row: W32 facility water,
//! 30 degC secondary supply, 8 racks of ~120 kW, 8 shelves of 6 PSUs, 18 trays.

use heapless::Vec;
use rack_protocol::message::{
    Ack, AckAlarm, AckAllAlarms, ActuatorCommand, Alarms, BbuStatus, Command, CoolantTelemetry,
    Counters, Diagnostics, Events, FirmwareBegin, FirmwareChunk, FirmwareProgress, FirmwareStatus,
    FirmwareSwap, GetAlarms, GetCounters, GetDiagnostics, GetEvents, GetFirmwareStatus,
    GetIdentity, GetSetpoint, GetTelemetry, Heartbeat, Identity, IsolationRequest, Message,
    MessageKind, PlantSample, PowerTelemetry, PumpStatus, RackPowerReport, Refused, RevokeKey,
    SetKey, SetMode, SetSetpoint, Setpoint, ShelfStatus, Subscribe, ThermalHeadroom, TrayStatus,
};
use rack_protocol::types::{
    Action, AlarmCode, AlarmEntry, BbuState, BootState, BreakerState, ControllerState, DeviceKind,
    Event, EventKind, FaultRecord, FirmwareVersion, KeyRole, LeakState, ModeSetting, OperatingMode,
    PsuState, PumpControlMode, PumpState, Reason, Refusal, ResetCause, SetpointId, Severity,
    StoreStatus, TaskId, TrayState, UpdateSlotState,
};

fn vec<T: Clone, const N: usize>(items: &[T]) -> Vec<T, N> {
    Vec::from_slice(items).expect("sample fits its vector")
}

/// One day of uptime, so that the sizes are those of a device that has been running.
const UPTIME_MS: u64 = 86_400_000;

/// A coolant snapshot of a running 8-rack row with 3 supply sensors and 2+1 pumps.
pub fn coolant_telemetry() -> CoolantTelemetry {
    let mut leak_detectors: Vec<LeakState, 34> = Vec::new();
    for _ in 0..9 {
        leak_detectors
            .extend_from_slice(&[LeakState::Ok, LeakState::Ok])
            .expect("fits");
    }
    CoolantTelemetry {
        uptime_ms: UPTIME_MS,
        state: ControllerState::Running,
        mode: OperatingMode::Auto,
        pump_control: PumpControlMode::DifferentialPressure,
        supply_setpoint_centi_c: 3000,
        secondary_supply_temps_centi_c: vec(&[3002, 2998, 3001]),
        secondary_return_temp_centi_c: 4012,
        primary_supply_temp_centi_c: 2650,
        primary_return_temp_centi_c: 3805,
        secondary_flow_deci_lpm: 13_750,
        differential_pressure_deci_kpa: 350,
        pumps: vec(&[
            PumpStatus {
                speed_rpm: 2870,
                state: PumpState::Running,
            },
            PumpStatus {
                speed_rpm: 2865,
                state: PumpState::Running,
            },
            PumpStatus {
                speed_rpm: 0,
                state: PumpState::Standby,
            },
        ]),
        lead_pump: 0,
        primary_valve_position_permille: 612,
        reservoir_level_permille: 874,
        leak_detectors,
        isolated_racks: 0,
        sensor_faults: 0,
        thermal_headroom_w: 184_000,
        active_alarms: 0,
    }
}

/// A power snapshot of a rack at ~118 kW with all PSUs and trays up.
pub fn power_telemetry() -> PowerTelemetry {
    let shelf = ShelfStatus {
        output_power_w: 14_750,
        psus: [PsuState::Ok; 6],
    };
    let tray = TrayStatus {
        power_w: 6_420,
        cap_w: 6_600,
        state: TrayState::On,
        hottest_gpu_temp_centi_c: 7_150,
    };
    let bbu = BbuStatus {
        state_of_charge_permille: 1000,
        power_w: 0,
        state: BbuState::Standby,
    };
    PowerTelemetry {
        uptime_ms: UPTIME_MS,
        state: ControllerState::Running,
        mode: OperatingMode::Auto,
        rack_input_power_w: 118_400,
        power_budget_w: 132_000,
        bus_voltage_mv: 50_800,
        ac_present: true,
        shelves: vec(&[shelf; 8]),
        trays: vec(&[tray; 18]),
        bbus: vec(&[bbu; 8]),
        breaker: BreakerState::Closed,
        breaker_i2t_permille: 0,
        active_alarms: 0,
    }
}

/// One example of each message kind, in kind order.
pub fn all() -> std::vec::Vec<Message> {
    let messages = std::vec![
        Message::GetIdentity(GetIdentity),
        Message::Identity(Identity {
            device_kind: DeviceKind::CoolantController,
            firmware_version: FirmwareVersion {
                major: 0,
                minor: 1,
                patch: 0
            },
            protocol_version: 1,
            serial_number: heapless::String::try_from("CDU-R07-0003").expect("fits"),
            uptime_ms: UPTIME_MS,
        }),
        Message::GetTelemetry(GetTelemetry),
        Message::CoolantTelemetry(coolant_telemetry()),
        Message::PowerTelemetry(power_telemetry()),
        Message::Subscribe(Subscribe { period_ms: 1000 }),
        Message::Heartbeat(Heartbeat {
            uptime_ms: UPTIME_MS
        }),
        Message::Ack(Ack {
            of: MessageKind::Subscribe
        }),
        Message::Refused(Refused {
            of: MessageKind::SetSetpoint,
            reason: Refusal::OutOfRange {
                min: 1000,
                max: 3500
            },
        }),
        Message::GetSetpoint(GetSetpoint {
            id: SetpointId::SupplyTempCentiC
        }),
        Message::SetSetpoint(SetSetpoint {
            id: SetpointId::SupplyTempCentiC,
            value: 3200
        }),
        Message::Setpoint(Setpoint {
            id: SetpointId::SupplyTempCentiC,
            value: 3200,
            min: 1000,
            max: 3500,
        }),
        Message::SetMode(SetMode {
            mode: ModeSetting::PumpControl(PumpControlMode::Flow)
        }),
        Message::GetAlarms(GetAlarms),
        Message::Alarms(Alarms {
            entries: vec(&[AlarmEntry {
                code: AlarmCode::PumpFault,
                instance: 0,
                severity: Severity::Critical,
                active: true,
                latched: true,
                acknowledged: false,
                raised_at_ms: UPTIME_MS - 4_500,
            }]),
            total: 1,
        }),
        Message::AckAlarm(AckAlarm {
            code: AlarmCode::PumpFault,
            instance: 0
        }),
        Message::AckAllAlarms(AckAllAlarms),
        Message::GetEvents(GetEvents { from_seq: 41 }),
        Message::Events(Events {
            events: vec(&[
                Event {
                    seq: 41,
                    at_ms: UPTIME_MS - 4_500,
                    kind: EventKind::AlarmRaised {
                        code: AlarmCode::PumpFault,
                        instance: 0
                    },
                },
                Event {
                    seq: 42,
                    at_ms: UPTIME_MS - 4_400,
                    kind: EventKind::LeadPumpChanged {
                        from: 0,
                        to: 2,
                        reason: Reason::PumpFault
                    },
                },
                Event {
                    seq: 43,
                    at_ms: UPTIME_MS - 4_400,
                    kind: EventKind::StateChanged {
                        from: ControllerState::Running,
                        to: ControllerState::Degraded,
                        reason: Reason::PumpFault,
                    },
                },
            ]),
            next_seq: 44,
            more: false,
            lost: 0,
            overwritten_total: 0,
        }),
        Message::Command(Command {
            action: Action::IsolateRack(3)
        }),
        Message::RackPowerReport(RackPowerReport {
            rack: 3,
            input_power_w: 118_400,
            power_cap_w: 132_000,
            hottest_gpu_temp_centi_c: 7_150,
        }),
        Message::ThermalHeadroom(ThermalHeadroom {
            row: 7,
            headroom_w: 184_000,
            supply_temp_centi_c: 3001,
            state: ControllerState::Running,
        }),
        Message::IsolationRequest(IsolationRequest {
            rack: 3,
            reason: Reason::Leak
        }),
        Message::PlantSample(PlantSample {
            sim_time_us: 12_300_000,
            analog: vec(&[30.02, 29.98, 30.01, 40.12, 26.5, 38.05, 1375.0, 35.0]),
            digital: 0b1_0000_0000,
        }),
        Message::ActuatorCommand(ActuatorCommand {
            sim_time_us: 12_300_000,
            analog: vec(&[61.2, 82.5, 82.5, 0.0]),
            digital: 0b1111_1111,
        }),
        Message::GetCounters(GetCounters),
        Message::Counters(Counters {
            frames: 1_204,
            frame_rejects: [0, 1, 0, 3, 0, 0, 2],
            writes_accepted: 17,
            auth_refusals: [4, 1, 0, 2, 1],
            refusals_not_logged: 3,
        }),
        Message::SetKey(SetKey {
            key_id: 7,
            role: KeyRole::Operator,
            secret: core::array::from_fn(|i| u8::try_from(i).unwrap_or(0) ^ 0x5a),
        }),
        Message::RevokeKey(RevokeKey { key_id: 7 }),
        Message::GetDiagnostics(GetDiagnostics),
        Message::Diagnostics(Diagnostics {
            reset_cause: ResetCause::Watchdog,
            missed_task: Some(TaskId::FieldIo),
            fault: Some(FaultRecord {
                pc: 0x0800_1a2c,
                lr: 0x0800_0f91,
                cfsr: 0x0000_0400,
                hfsr: 0x4000_0000,
            }),
            stack_peak_bytes: Some(5_312),
            stack_size_bytes: 13_696,
            field_bus_errors: 2,
            row_bus_errors: 0,
            settings: StoreStatus::Loaded,
            build: heapless::String::try_from("72f0748").expect("fits"),
        }),
        Message::GetFirmwareStatus(GetFirmwareStatus),
        Message::FirmwareStatus(FirmwareStatus {
            running: FirmwareVersion {
                major: 0,
                minor: 2,
                patch: 0,
            },
            boot: BootState::Trial,
            slot: UpdateSlotState::Previous,
            minimum: FirmwareVersion {
                major: 0,
                minor: 1,
                patch: 0,
            },
            confirm_after_s: 60,
            healthy_s: 42,
        }),
        Message::FirmwareBegin(FirmwareBegin {
            header: (0..128u8).map(|i| i.wrapping_mul(37) ^ 0xa5).collect(),
        }),
        Message::FirmwareChunk(FirmwareChunk {
            offset: 41_600,
            data: (0..128u8)
                .map(|i| i.wrapping_mul(11).wrapping_add(3))
                .collect(),
        }),
        Message::FirmwareProgress(FirmwareProgress {
            next_offset: 41_728,
            len: 41_732,
            verified: false,
        }),
        Message::FirmwareSwap(FirmwareSwap),
    ];
    let kinds: std::vec::Vec<MessageKind> = messages.iter().map(Message::kind).collect();
    assert_eq!(
        kinds,
        MessageKind::ALL,
        "one sample per kind, in kind order"
    );
    messages
}
