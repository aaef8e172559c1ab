//! Protocol version 4 (1 is its first 25 kinds, 2 its first 29, 3 its first 31): every
//! message, its kind byte, and its payload.
//!
//! A message's **kind** travels in the frame header (see [`crate::frame`]); its payload is the
//! postcard encoding of the payload struct named after it. Kinds are **append-only**: a new
//! message takes the next free number; a number is never reused or given another payload. A
//! response carries the sequence number of the request it answers; unsolicited frames
//! (telemetry, events, heartbeats, row-bus broadcasts, plant I/O) carry the sender's own
//! running sequence number.
//!
//! | direction | messages |
//! |---|---|
//! | host -> device | `GetIdentity`, `GetTelemetry`, `Subscribe`, `GetSetpoint`, `SetSetpoint`, `SetMode`, `GetAlarms`, `AckAlarm`, `AckAllAlarms`, `GetEvents`, `Command`; v2: `GetCounters`, `SetKey`, `RevokeKey`; v3: `GetDiagnostics`; v4: `GetFirmwareStatus`, `FirmwareBegin`, `FirmwareChunk`, `FirmwareSwap` |
//! | device -> host | `Identity`, `CoolantTelemetry`, `PowerTelemetry`, `Setpoint`, `Alarms`, `Events`, `Ack`, `Refused`; v2: `Counters`; v3: `Diagnostics`; v4: `FirmwareStatus`, `FirmwareProgress` |
//!
//! Requests that change anything (`SetSetpoint`, `AckAlarm`, `AckAllAlarms`: operator;
//! `SetMode`, `Command`, `SetKey`, `RevokeKey`, and v4's `FirmwareBegin`, `FirmwareChunk`,
//! `FirmwareSwap`: maintenance; [`MessageKind::needs_role`]) are
//! carried out only when signed (see [`crate::auth`]).
//! | both | `Heartbeat` |
//! | row bus (controller to controller) | `RackPowerReport`, `ThermalHeadroom`, `IsolationRequest` |
//! | plant I/O (processor-in-the-loop) | `PlantSample` (simulator -> firmware), `ActuatorCommand` (firmware -> simulator) |

use heapless::{String, Vec};
use postcard::experimental::max_size::MaxSize;
use serde::{Deserialize, Serialize};

use crate::types::{
    Action, AlarmCode, AlarmEntry, BbuState, BootState, BreakerState, ControllerState, DeviceKind,
    Event, FaultRecord, FirmwareVersion, KeyRole, LeakState, ModeSetting, OperatingMode, PsuState,
    PumpControlMode, PumpState, Reason, Refusal, ResetCause, SetpointId, StoreStatus, TaskId,
    TrayState, UpdateSlotState,
};

/// Redundant secondary supply temperature sensors a CDU may have.
pub const MAX_SUPPLY_SENSORS: usize = 3;
/// Pumps a CDU may have (N+1 with N up to 3).
pub const MAX_PUMPS: usize = 4;
/// Racks a row may have.
pub const MAX_RACKS_PER_ROW: usize = 16;
/// Leak zones: one per rack plus the CDU's own (the last), each with a moisture and a float
/// detector: detector `2 * zone` is moisture, `2 * zone + 1` is float.
pub const MAX_LEAK_DETECTORS: usize = 2 * (MAX_RACKS_PER_ROW + 1);
/// Power shelves per rack (GB200 reference rack: 8).
pub const MAX_SHELVES: usize = 8;
/// PSUs per shelf (6 x 5.5 kW).
pub const PSUS_PER_SHELF: usize = 6;
/// Compute trays per rack (NVL72: 18).
pub const MAX_TRAYS: usize = 18;
/// Battery backup units per rack.
pub const MAX_BBUS: usize = 8;
/// Alarm entries one `Alarms` message carries.
pub const MAX_ALARMS_PER_MESSAGE: usize = 16;
/// Events one `Events` message carries.
pub const MAX_EVENTS_PER_MESSAGE: usize = 8;
/// Analog inputs one plant sample carries (sensor channels, engineering units).
pub const MAX_PLANT_ANALOG_IN: usize = 96;
/// Analog outputs one actuator command carries.
pub const MAX_PLANT_ANALOG_OUT: usize = 32;
/// Length of a serial number string.
pub const SERIAL_NUMBER_LEN: usize = 16;

/// Bits of [`CoolantTelemetry::sensor_faults`]: which sensors failed validation.
pub mod sensor_fault_bit {
    /// Secondary supply temperature sensor `n` is bit `SUPPLY_0 + n` (n < 3).
    pub const SUPPLY_0: u32 = 0;
    /// Secondary return temperature.
    pub const SECONDARY_RETURN: u32 = 3;
    /// Primary (facility) supply temperature.
    pub const PRIMARY_SUPPLY: u32 = 4;
    /// Primary (facility) return temperature.
    pub const PRIMARY_RETURN: u32 = 5;
    /// Secondary flow.
    pub const FLOW: u32 = 6;
    /// Secondary differential pressure.
    pub const DIFFERENTIAL_PRESSURE: u32 = 7;
    /// Reservoir level.
    pub const RESERVOIR: u32 = 8;
    /// Primary valve position feedback.
    pub const VALVE_FEEDBACK: u32 = 9;
}

/// Ask a device who it is. Answered by [`Identity`].
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct GetIdentity;

/// Who a device is.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct Identity {
    /// Which controller.
    pub device_kind: DeviceKind,
    /// Firmware version.
    pub firmware_version: FirmwareVersion,
    /// Highest protocol version the device speaks.
    pub protocol_version: u8,
    /// Serial number (printable ASCII, at most 16 bytes).
    pub serial_number: String<SERIAL_NUMBER_LEN>,
    /// Time since boot, 1 ms resolution.
    pub uptime_ms: u64,
}

/// Ask for one telemetry snapshot. Answered by [`CoolantTelemetry`] or [`PowerTelemetry`].
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct GetTelemetry;

/// One pump's reading.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct PumpStatus {
    /// Measured speed, 1 rpm.
    pub speed_rpm: u16,
    /// State.
    pub state: PumpState,
}

/// A coolant controller's snapshot.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct CoolantTelemetry {
    /// Time since boot, 1 ms resolution.
    pub uptime_ms: u64,
    /// State machine state.
    pub state: ControllerState,
    /// Operating mode.
    pub mode: OperatingMode,
    /// What the pumps hold.
    pub pump_control: PumpControlMode,
    /// Secondary supply temperature setpoint, 0.01 degC.
    pub supply_setpoint_centi_c: i16,
    /// Secondary supply temperature, each redundant sensor, 0.01 degC.
    pub secondary_supply_temps_centi_c: Vec<i16, MAX_SUPPLY_SENSORS>,
    /// Secondary return temperature, 0.01 degC.
    pub secondary_return_temp_centi_c: i16,
    /// Primary (facility water) supply temperature, 0.01 degC.
    pub primary_supply_temp_centi_c: i16,
    /// Primary (facility water) return temperature, 0.01 degC.
    pub primary_return_temp_centi_c: i16,
    /// Secondary flow, 0.1 L/min.
    pub secondary_flow_deci_lpm: u16,
    /// Secondary differential pressure, 0.1 kPa.
    pub differential_pressure_deci_kpa: u16,
    /// Each pump's speed and state.
    pub pumps: Vec<PumpStatus, MAX_PUMPS>,
    /// Index of the lead pump.
    pub lead_pump: u8,
    /// Primary valve position (feedback), 0.1 %.
    pub primary_valve_position_permille: u16,
    /// Reservoir level, 0.1 %.
    pub reservoir_level_permille: u16,
    /// Leak detectors, two per zone (see [`MAX_LEAK_DETECTORS`]).
    pub leak_detectors: Vec<LeakState, MAX_LEAK_DETECTORS>,
    /// Racks whose isolation valve is closed, bit n = rack n.
    pub isolated_racks: u16,
    /// Sensors that failed validation, bits per [`sensor_fault_bit`].
    pub sensor_faults: u32,
    /// Heat the loop could still absorb at the current facility water conditions, 1 W.
    pub thermal_headroom_w: u32,
    /// Number of active alarms.
    pub active_alarms: u8,
}

/// One power shelf's reading.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct ShelfStatus {
    /// Output power, 1 W.
    pub output_power_w: u32,
    /// Each PSU's state.
    pub psus: [PsuState; PSUS_PER_SHELF],
}

/// One compute tray's reading.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct TrayStatus {
    /// Input power, 1 W.
    pub power_w: u16,
    /// GPU power cap allotted to the tray, 1 W.
    pub cap_w: u16,
    /// State.
    pub state: TrayState,
    /// Hottest GPU on the tray, 0.01 degC.
    pub hottest_gpu_temp_centi_c: i16,
}

/// One battery backup unit's reading.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct BbuStatus {
    /// State of charge, 0.1 %.
    pub state_of_charge_permille: u16,
    /// Power into the bus (positive: discharging), 1 W.
    pub power_w: i32,
    /// State.
    pub state: BbuState,
}

/// A power controller's snapshot.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct PowerTelemetry {
    /// Time since boot, 1 ms resolution.
    pub uptime_ms: u64,
    /// State machine state.
    pub state: ControllerState,
    /// Operating mode.
    pub mode: OperatingMode,
    /// Rack input power from the AC feed, 1 W.
    pub rack_input_power_w: u32,
    /// Power budget in force (host budget, thermal derate and ride-through applied), 1 W.
    pub power_budget_w: u32,
    /// Busbar voltage, 1 mV.
    pub bus_voltage_mv: u16,
    /// AC input present.
    pub ac_present: bool,
    /// Each shelf.
    pub shelves: Vec<ShelfStatus, MAX_SHELVES>,
    /// Each compute tray.
    pub trays: Vec<TrayStatus, MAX_TRAYS>,
    /// Each battery backup unit.
    pub bbus: Vec<BbuStatus, MAX_BBUS>,
    /// Feed breaker state.
    pub breaker: BreakerState,
    /// How far the breaker's I2t integral is toward its trip point, 0.1 %.
    pub breaker_i2t_permille: u16,
    /// Number of active alarms.
    pub active_alarms: u8,
}

/// Ask for periodic telemetry. Answered by [`Ack`] or [`Refused`] (period out of range).
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct Subscribe {
    /// Period between snapshots, 1 ms; 0 stops the subscription.
    pub period_ms: u32,
}

/// Liveness, either direction; a device answers a heartbeat with its own.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct Heartbeat {
    /// Sender's time since boot, 1 ms resolution.
    pub uptime_ms: u64,
}

/// A request was carried out.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct Ack {
    /// Kind of the request acknowledged.
    pub of: MessageKind,
}

/// A request was refused, and why.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct Refused {
    /// Kind of the request refused.
    pub of: MessageKind,
    /// Why.
    pub reason: Refusal,
}

/// Read a setpoint. Answered by [`Setpoint`] or [`Refused`].
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct GetSetpoint {
    /// Which.
    pub id: SetpointId,
}

/// Change a setpoint. Answered by [`Setpoint`] (the value now in force) or [`Refused`].
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct SetSetpoint {
    /// Which.
    pub id: SetpointId,
    /// New value, in the setpoint's unit (see [`SetpointId`]).
    pub value: i32,
}

/// A setpoint's value and its allowed range.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct Setpoint {
    /// Which.
    pub id: SetpointId,
    /// Value in force.
    pub value: i32,
    /// Smallest allowed value.
    pub min: i32,
    /// Largest allowed value.
    pub max: i32,
}

/// Change a mode. Answered by [`Ack`] or [`Refused`].
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct SetMode {
    /// The mode to set.
    pub mode: ModeSetting,
}

/// Ask for the alarm list. Answered by [`Alarms`].
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct GetAlarms;

/// Active and latched alarms.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct Alarms {
    /// The alarms, most severe first.
    pub entries: Vec<AlarmEntry, MAX_ALARMS_PER_MESSAGE>,
    /// How many alarms the device holds in all (more than `entries` when the list was cut).
    pub total: u8,
}

/// Acknowledge one alarm. Answered by [`Ack`] or [`Refused`] (no such alarm).
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct AckAlarm {
    /// Which.
    pub code: AlarmCode,
    /// Which instance.
    pub instance: u8,
}

/// Acknowledge every alarm. Answered by [`Ack`].
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct AckAllAlarms;

/// Read the event log from a sequence number. Answered by [`Events`].
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct GetEvents {
    /// First sequence number wanted (events with `seq >= from_seq`).
    pub from_seq: u32,
}

/// A batch of events.
///
/// A host that reconnects asks from the sequence number after the last it saw, then keeps
/// asking from `next_seq` of each answer while `more` is set: it gets every event exactly once,
/// and `lost` tells it how many it can no longer get because the ring overwrote them.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct Events {
    /// Events in sequence order.
    pub events: Vec<Event, MAX_EVENTS_PER_MESSAGE>,
    /// Sequence number to ask from next.
    pub next_seq: u32,
    /// More events are waiting after this batch.
    pub more: bool,
    /// Requested events already overwritten in the device's ring.
    pub lost: u32,
    /// Events the ring has overwritten since boot.
    pub overwritten_total: u32,
}

/// A technician command. Answered by [`Ack`] or [`Refused`].
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct Command {
    /// What to do.
    pub action: Action,
}

/// Row bus: a rack power controller's periodic report, the CDU's feed-forward input.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct RackPowerReport {
    /// Rack index in the row.
    pub rack: u8,
    /// Rack input power, 1 W.
    pub input_power_w: u32,
    /// Power cap in force, 1 W.
    pub power_cap_w: u32,
    /// Hottest GPU in the rack, 0.01 degC.
    pub hottest_gpu_temp_centi_c: i16,
}

/// Row bus: the CDU's thermal headroom, for the racks' thermal-aware power caps.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct ThermalHeadroom {
    /// Row index.
    pub row: u16,
    /// Heat the loop could still absorb at the current facility water conditions, 1 W.
    pub headroom_w: u32,
    /// Secondary supply temperature, 0.01 degC.
    pub supply_temp_centi_c: i16,
    /// CDU state.
    pub state: ControllerState,
}

/// Row bus: the CDU asks a rack's power controller to isolate the rack electrically.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct IsolationRequest {
    /// Rack index in the row.
    pub rack: u8,
    /// Why (a confirmed leak).
    pub reason: Reason,
}

/// Plant I/O: the simulator's sensor sample for processor-in-the-loop runs.
///
/// `sim_time_us` is the firmware's clock in this mode. Channels are in engineering units, in
/// the order of the device's channel map (defined by the node for each device kind).
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, MaxSize)]
pub struct PlantSample {
    /// Simulation time, 1 us.
    pub sim_time_us: u64,
    /// Analog channels.
    pub analog: Vec<f32, MAX_PLANT_ANALOG_IN>,
    /// Digital inputs, bit n = channel n.
    pub digital: u128,
}

/// Plant I/O: the firmware's actuator command answering a [`PlantSample`].
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, MaxSize)]
pub struct ActuatorCommand {
    /// Simulation time of the sample this answers, 1 us.
    pub sim_time_us: u64,
    /// Analog outputs (PWM duties, valve demands), in the device's channel-map order.
    pub analog: Vec<f32, MAX_PLANT_ANALOG_OUT>,
    /// Digital outputs, bit n = channel n.
    pub digital: u64,
}

/// Ask for the device's health record (protocol version 3). Answered by [`Diagnostics`].
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct GetDiagnostics;

/// The firmware's health record since boot (protocol version 3): why it last reset, what its
/// fault handler saved, how much stack it has used, its buses' errors, where its settings
/// came from and which build it runs.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct Diagnostics {
    /// Why the device last reset.
    pub reset_cause: ResetCause,
    /// The task that stopped checking in before a watchdog reset.
    pub missed_task: Option<TaskId>,
    /// The fault saved before the last reset, if one was.
    pub fault: Option<FaultRecord>,
    /// The deepest the stack has reached since boot, bytes (measured by painting; none where
    /// it is not measured).
    pub stack_peak_bytes: Option<u32>,
    /// The stack's size, bytes (0 where not known).
    pub stack_size_bytes: u32,
    /// Errors on the field buses (I2C: expanders, power monitors) since boot.
    pub field_bus_errors: u32,
    /// Errors on the row bus (and a rack's own bus) since boot.
    pub row_bus_errors: u32,
    /// Where the settings in force came from.
    pub settings: StoreStatus,
    /// The build's source revision (git hash, abbreviated; empty if unknown).
    pub build: String<12>,
}

/// Ask for the device's counters (protocol version 2). Answered by [`Counters`].
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct GetCounters;

/// What the device has accepted and refused since boot (protocol version 2). Counters
/// saturate instead of wrapping.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct Counters {
    /// Frames decoded.
    pub frames: u32,
    /// Frames rejected before decoding: bad COBS, too long, too short, bad CRC, unknown
    /// version, unknown kind, undecodable body (in that order).
    pub frame_rejects: [u32; 7],
    /// Authenticated requests carried out.
    pub writes_accepted: u32,
    /// Requests refused for their authentication, by [`crate::types::AuthRefusal`] in its
    /// order: missing MAC, bad MAC, unknown key, replayed, role too low.
    pub auth_refusals: [u32; 5],
    /// Refusals not written to the event log (it logs at most one a second).
    pub refusals_not_logged: u32,
}

/// Install or replace a key (protocol version 2; maintenance role). Answered by [`Ack`] or
/// [`Refused`]. The secret travels in the clear, under the MAC of a maintenance key: install
/// keys over a link only the commissioning engineer reaches.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct SetKey {
    /// The key's id (not 0, which means "no key").
    pub key_id: u16,
    /// What it may do.
    pub role: KeyRole,
    /// Its secret.
    #[serde(with = "secret_bytes")]
    pub secret: [u8; 32],
}

/// A key's secret on the wire exactly as serde puts a `[u8; 32]` (a tuple of 32 bytes), read
/// back with a loop: serde's own array impl unrolls 32 reads, which cost a device image 1 KiB
/// of flash (measured on the Nucleo coolant image).
mod secret_bytes {
    use serde::de::{Error, SeqAccess, Visitor};
    use serde::{Deserializer, Serialize, Serializer};

    pub(super) fn serialize<S: Serializer>(secret: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        secret.serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        struct Bytes;
        impl<'de> Visitor<'de> for Bytes {
            type Value = [u8; 32];
            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("32 bytes")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<[u8; 32], A::Error> {
                let mut out = [0u8; 32];
                for (i, byte) in out.iter_mut().enumerate() {
                    *byte = seq
                        .next_element()?
                        .ok_or_else(|| A::Error::invalid_length(i, &self))?;
                }
                Ok(out)
            }
        }
        d.deserialize_tuple(32, Bytes)
    }
}

/// Revoke a key (protocol version 2; maintenance role). Answered by [`Ack`] or [`Refused`]
/// (no such key; or the last maintenance key, which would lock every writer out).
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct RevokeKey {
    /// Which key.
    pub key_id: u16,
}

/// Ask for the state of the firmware slots (protocol version 4; a read). Answered by
/// [`FirmwareStatus`], or [`Refused`] (`NotSupported`) by a device without an update slot.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct GetFirmwareStatus;

/// The firmware slots (protocol version 4): the image running and how it booted, and what the
/// update slot holds.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct FirmwareStatus {
    /// The running image's version.
    pub running: FirmwareVersion,
    /// How it booted: confirmed, on trial after a swap, or back after a failed trial.
    pub boot: BootState,
    /// What the update slot holds.
    pub slot: UpdateSlotState,
    /// The oldest version the device takes (its anti-rollback floor).
    pub minimum: FirmwareVersion,
    /// Control-loop seconds a new image must run healthy before it marks itself good.
    pub confirm_after_s: u16,
    /// Seconds it has run healthy so far on this trial (0 unless on trial).
    pub healthy_s: u16,
}

/// Begin an update (protocol version 4; maintenance role): the image's 128-byte header
/// ([`crate::image`]), checked before anything is erased or written. Answered by
/// [`FirmwareProgress`] or [`Refused`] with the image's refusal.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct FirmwareBegin {
    /// The image's header.
    pub header: Vec<u8, { crate::image::HEADER_LEN }>,
}

/// Bytes of an image's binary in one [`FirmwareChunk`].
pub const MAX_FIRMWARE_CHUNK: usize = 128;

/// A piece of the image's binary at `offset` (protocol version 4; maintenance role). Taken in
/// order: a chunk the device already has is taken again, one past a gap is refused with the
/// offset it needs. Answered by [`FirmwareProgress`] (after the last byte, once the image's
/// signature has checked out as it lies in flash) or [`Refused`].
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct FirmwareChunk {
    /// Where in the binary, bytes.
    pub offset: u32,
    /// The bytes.
    pub data: Vec<u8, MAX_FIRMWARE_CHUNK>,
}

/// How far an update has come (protocol version 4).
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct FirmwareProgress {
    /// The binary offset the device needs next (the resume point).
    pub next_offset: u32,
    /// The binary's length, bytes.
    pub len: u32,
    /// The whole image is in the slot and its signature checked out.
    pub verified: bool,
}

/// Swap to the verified image in the update slot (protocol version 4; maintenance role):
/// answered by [`Ack`], after which the device puts its outputs in their fail-safe positions
/// and resets into its bootloader, which swaps the slots; the new image runs on trial until it
/// has run its control loop healthy for [`FirmwareStatus::confirm_after_s`]. Refused
/// (`Update(NotVerified)`) without a verified image.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct FirmwareSwap;

/// Declares the message table once: the kind enum, the message enum, body encoding and
/// decoding by kind, and the largest body size. Written as a macro so the kind number, the
/// variant and its payload type are stated in exactly one place.
macro_rules! messages {
    ($( $(#[$doc:meta])* $kind:literal => $name:ident ),* $(,)?) => {
        /// The kind byte of a frame header. Append-only.
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum MessageKind {
            $( $(#[$doc])* $name = $kind, )*
        }

        impl MessageKind {
            /// Every kind of this protocol version, in kind order.
            pub const ALL: &'static [MessageKind] = &[$(MessageKind::$name),*];

            /// The kind with this number, if this version has one.
            pub const fn from_u8(value: u8) -> Option<Self> {
                match value {
                    $( $kind => Some(MessageKind::$name), )*
                    _ => None,
                }
            }

            /// The kind's name, as in the golden vector files.
            pub const fn name(self) -> &'static str {
                match self {
                    $( MessageKind::$name => stringify!($name), )*
                }
            }

            /// The largest postcard encoding of this kind's payload.
            pub const fn max_body_size(self) -> usize {
                match self {
                    $( MessageKind::$name => <$name as MaxSize>::POSTCARD_MAX_SIZE, )*
                }
            }
        }

        /// A message of protocol version 2 (version 1 is its first 25 kinds).
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        #[derive(Debug, Clone, PartialEq)]
        #[allow(clippy::large_enum_variant)] // messages live in one frame buffer, not in bulk
        pub enum Message {
            $( $(#[$doc])* $name($name), )*
        }

        impl Message {
            /// This message's kind.
            pub const fn kind(&self) -> MessageKind {
                match self {
                    $( Message::$name(_) => MessageKind::$name, )*
                }
            }

            /// Encodes the payload into `out`, returning the bytes written. Built with the
            /// `device-end` feature, a kind a device never sends (a host's request, a plant
            /// sample) is refused (`WontImplement`): its encoder would cost flash for nothing
            /// (see [`MessageKind::encoded_here`]).
            ///
            /// `sends` narrows it further at compile time: a kind it refuses is refused too
            /// (a device passes what its own kind of controller sends, a `fn` item or a
            /// closure without state, so that the other controller's telemetry encoder is
            /// folded away from its image).
            pub(crate) fn encode_body<'a>(
                &self,
                out: &'a mut [u8],
                sends: impl Fn(MessageKind) -> bool,
            ) -> postcard::Result<&'a mut [u8]> {
                match self {
                    $( Message::$name(payload) => {
                        if !MessageKind::$name.encoded_here() || !sends(MessageKind::$name) {
                            Err(postcard::Error::WontImplement)
                        } else {
                            postcard::to_slice(payload, out)
                        }
                    } )*
                }
            }

            /// Decodes a payload of `kind` (the body of a frame, without its header); the
            /// payload must use every byte. A device's settings store keeps its settings as
            /// the requests that set them, and reads them back through this, its frame decoder's
            /// own code.
            pub fn decode_body(kind: MessageKind, body: &[u8]) -> postcard::Result<Self> {
                fn exact<'de, T: Deserialize<'de>>(body: &'de [u8]) -> postcard::Result<T> {
                    match postcard::take_from_bytes(body)? {
                        (value, []) => Ok(value),
                        _ => Err(postcard::Error::DeserializeBadEncoding),
                    }
                }
                match kind {
                    $( MessageKind::$name => {
                        // Folded at compile time: a device image keeps no decoder for the
                        // kinds only a host receives.
                        if !MessageKind::$name.decoded_here() {
                            return Err(postcard::Error::DeserializeBadEncoding);
                        }
                        exact(body).map(Message::$name)
                    } )*
                }
            }
        }

        $(
            impl From<$name> for Message {
                fn from(payload: $name) -> Self {
                    Message::$name(payload)
                }
            }
        )*

        /// The largest postcard body of any message.
        pub const MAX_BODY_SIZE: usize = {
            let mut max = 0;
            $(
                if <$name as MaxSize>::POSTCARD_MAX_SIZE > max {
                    max = <$name as MaxSize>::POSTCARD_MAX_SIZE;
                }
            )*
            max
        };
    };
}

messages! {
    /// Host asks who the device is.
    0 => GetIdentity,
    /// Device says who it is.
    1 => Identity,
    /// Host asks for one telemetry snapshot.
    2 => GetTelemetry,
    /// Coolant controller snapshot.
    3 => CoolantTelemetry,
    /// Power controller snapshot.
    4 => PowerTelemetry,
    /// Host subscribes to periodic telemetry.
    5 => Subscribe,
    /// Liveness, either direction.
    6 => Heartbeat,
    /// A request was carried out.
    7 => Ack,
    /// A request was refused, with the reason.
    8 => Refused,
    /// Host reads a setpoint.
    9 => GetSetpoint,
    /// Host changes a setpoint.
    10 => SetSetpoint,
    /// A setpoint's value and allowed range.
    11 => Setpoint,
    /// Host changes a mode.
    12 => SetMode,
    /// Host asks for the alarm list.
    13 => GetAlarms,
    /// Active and latched alarms.
    14 => Alarms,
    /// Host acknowledges one alarm.
    15 => AckAlarm,
    /// Host acknowledges every alarm.
    16 => AckAllAlarms,
    /// Host reads the event log from a sequence number.
    17 => GetEvents,
    /// A batch of events.
    18 => Events,
    /// A technician command.
    19 => Command,
    /// Row bus: a rack's power report.
    20 => RackPowerReport,
    /// Row bus: the CDU's thermal headroom.
    21 => ThermalHeadroom,
    /// Row bus: electrical isolation request for a rack.
    22 => IsolationRequest,
    /// Plant I/O: sensor sample in.
    23 => PlantSample,
    /// Plant I/O: actuator command out.
    24 => ActuatorCommand,
    /// Host reads the device's counters (v2).
    25 => GetCounters,
    /// The device's counters (v2).
    26 => Counters,
    /// Host installs a key (v2).
    27 => SetKey,
    /// Host revokes a key (v2).
    28 => RevokeKey,
    /// Host asks for the device's health record (v3).
    29 => GetDiagnostics,
    /// The device's health record (v3).
    30 => Diagnostics,
    /// Host asks for the firmware slots' state (v4).
    31 => GetFirmwareStatus,
    /// The firmware slots' state (v4).
    32 => FirmwareStatus,
    /// Host begins a firmware update with the image's header (v4).
    33 => FirmwareBegin,
    /// Host sends a piece of the image (v4).
    34 => FirmwareChunk,
    /// How far the update has come (v4).
    35 => FirmwareProgress,
    /// Host asks the device to swap to the verified image (v4).
    36 => FirmwareSwap,
}

impl MessageKind {
    /// The first protocol version that has this kind.
    pub const fn first_version(self) -> u8 {
        if (self as u8) <= MessageKind::ActuatorCommand as u8 {
            1
        } else if (self as u8) <= MessageKind::RevokeKey as u8 {
            2
        } else if (self as u8) <= MessageKind::Diagnostics as u8 {
            3
        } else {
            4
        }
    }

    /// The least key role a request of this kind needs when it changes something; `None`
    /// for a read (open, unless the device asks for a key to read).
    pub const fn needs_role(self) -> Option<KeyRole> {
        match self {
            MessageKind::SetSetpoint | MessageKind::AckAlarm | MessageKind::AckAllAlarms => {
                Some(KeyRole::Operator)
            }
            MessageKind::SetMode
            | MessageKind::Command
            | MessageKind::SetKey
            | MessageKind::RevokeKey
            | MessageKind::FirmwareBegin
            | MessageKind::FirmwareChunk
            | MessageKind::FirmwareSwap => Some(KeyRole::Maintenance),
            _ => None,
        }
    }
}

// Kinds keep the header's signed flag free, and every request a device receives (but the
// simulator's plant samples) can be signed.
#[allow(clippy::indexing_slicing)] // `i` stays below the length; a const block cannot `get`
const _: () = {
    let mut i = 0;
    while i < MessageKind::ALL.len() {
        let kind = MessageKind::ALL[i];
        assert!((kind as u8) < crate::auth::SIGNED_FLAG);
        if kind.device_receives() && !matches!(kind, MessageKind::PlantSample) {
            assert!(kind.max_body_size() <= crate::auth::MAX_SIGNED_BODY_SIZE);
        }
        i += 1;
    }
};

impl MessageKind {
    /// Whether a device receives this kind: a host's requests, the row bus and plant samples.
    /// Built with the `device-end` feature (the firmware images), frames of the other kinds
    /// (answers and telemetry, which only a host receives) are rejected as undecodable
    /// instead of decoded: their decoders would cost a device kilobytes of flash for nothing.
    pub const fn device_receives(self) -> bool {
        !matches!(
            self,
            MessageKind::Identity
                | MessageKind::CoolantTelemetry
                | MessageKind::PowerTelemetry
                | MessageKind::Ack
                | MessageKind::Refused
                | MessageKind::Setpoint
                | MessageKind::Alarms
                | MessageKind::Events
                | MessageKind::ActuatorCommand
                | MessageKind::Counters
                | MessageKind::Diagnostics
                | MessageKind::FirmwareStatus
                | MessageKind::FirmwareProgress
        )
    }
}

impl MessageKind {
    /// Whether this build decodes the kind: every kind on a host; in a device image
    /// (`device-end`), what a device receives, less the simulator's plant samples unless the
    /// image runs in the loop (`plant-io`, the QEMU images). Folded at compile time, so an
    /// image keeps no decoder it cannot use (the plant sample's cost a field image 1 KiB).
    pub const fn decoded_here(self) -> bool {
        !cfg!(feature = "device-end")
            || (self.device_receives()
                && (cfg!(feature = "plant-io") || !matches!(self, MessageKind::PlantSample))
                && (cfg!(feature = "update") || !self.is_update()))
    }

    /// Whether the kind is one of the firmware update's (protocol version 4): a device image
    /// has their coders only with the `update` feature.
    pub const fn is_update(self) -> bool {
        matches!(
            self,
            MessageKind::GetFirmwareStatus
                | MessageKind::FirmwareStatus
                | MessageKind::FirmwareBegin
                | MessageKind::FirmwareChunk
                | MessageKind::FirmwareProgress
                | MessageKind::FirmwareSwap
        )
    }

    /// Whether this build encodes the kind: every kind on a host; in a device image, what a
    /// device sends, less actuator commands unless the image runs in the loop (`plant-io`).
    pub const fn encoded_here(self) -> bool {
        !cfg!(feature = "device-end")
            || (self.device_sends()
                && (cfg!(feature = "plant-io") || !matches!(self, MessageKind::ActuatorCommand))
                && (cfg!(feature = "update") || !self.is_update()))
    }
}

impl MessageKind {
    /// Whether a device sends this kind: answers, telemetry, heartbeats, row-bus broadcasts
    /// and actuator commands; never a host's request or a plant sample.
    pub const fn device_sends(self) -> bool {
        !matches!(
            self,
            MessageKind::GetIdentity
                | MessageKind::GetTelemetry
                | MessageKind::Subscribe
                | MessageKind::GetSetpoint
                | MessageKind::SetSetpoint
                | MessageKind::SetMode
                | MessageKind::GetAlarms
                | MessageKind::AckAlarm
                | MessageKind::AckAllAlarms
                | MessageKind::GetEvents
                | MessageKind::Command
                | MessageKind::PlantSample
                | MessageKind::GetCounters
                | MessageKind::SetKey
                | MessageKind::RevokeKey
                | MessageKind::GetDiagnostics
                | MessageKind::GetFirmwareStatus
                | MessageKind::FirmwareBegin
                | MessageKind::FirmwareChunk
                | MessageKind::FirmwareSwap
        )
    }
}

// `MessageKind` travels inside `Ack` and `Refused` as its kind byte.
impl Serialize for MessageKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(*self as u8)
    }
}

impl<'de> Deserialize<'de> for MessageKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = u8::deserialize(deserializer)?;
        MessageKind::from_u8(value).ok_or_else(|| {
            serde::de::Error::invalid_value(
                serde::de::Unexpected::Unsigned(u64::from(value)),
                &"a message kind of protocol version 4",
            )
        })
    }
}

impl MaxSize for MessageKind {
    const POSTCARD_MAX_SIZE: usize = 1;
}

#[cfg(all(test, feature = "device-end"))]
mod device_end_tests {
    use super::*;
    use crate::frame::{self, EncodeError, FrameError, MAX_WIRE_FRAME_SIZE};

    /// A golden frame (a device build encodes no requests).
    fn golden(kind: MessageKind) -> ([u8; MAX_WIRE_FRAME_SIZE], usize) {
        crate::golden::frame(include_str!("../tests/golden/v3.txt"), kind.name())
    }

    fn encode(message: &Message) -> Result<usize, EncodeError> {
        frame::encode(7, message, &mut [0u8; MAX_WIRE_FRAME_SIZE])
    }

    #[test]
    fn a_device_decodes_requests_and_rejects_what_only_a_host_receives() {
        let (identity, n) = golden(MessageKind::GetIdentity);
        assert_eq!(
            frame::decode(identity.get(..n).unwrap_or(&[])).map(|f| f.message),
            Ok(Message::GetIdentity(GetIdentity))
        );
        let (ack, n) = golden(MessageKind::Ack);
        assert_eq!(
            frame::decode(ack.get(..n).unwrap_or(&[])).map(|f| f.message),
            Err(FrameError::UndecodableBody {
                kind: MessageKind::Ack
            })
        );
        for kind in [
            MessageKind::Identity,
            MessageKind::CoolantTelemetry,
            MessageKind::Events,
        ] {
            assert!(!kind.device_receives());
        }
    }

    #[test]
    fn a_device_encodes_what_it_sends_and_no_request() {
        let heartbeat = Message::Heartbeat(Heartbeat { uptime_ms: 42 });
        assert!(encode(&heartbeat).is_ok());
        assert!(
            encode(&Message::Ack(Ack {
                of: MessageKind::SetSetpoint
            }))
            .is_ok()
        );
        assert_eq!(
            encode(&Message::GetIdentity(GetIdentity)),
            Err(EncodeError::NotSentByDevice)
        );
        for kind in MessageKind::ALL {
            assert!(
                kind.device_sends() || kind.device_receives(),
                "{} travels neither way",
                kind.name()
            );
        }
    }
}
