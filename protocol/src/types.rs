//! The building blocks that messages are made of: device kinds, controller states, alarm codes,
//! setpoints, refusals and events.
//!
//! Every enum here is **append-only**: postcard encodes a variant as its index, so a variant may
//! be added at the end but never removed, reordered or given a different payload. Changing one
//! breaks every peer in the field; the golden vectors in `protocol/tests/golden/` catch it.
//!
//! Units and resolutions are part of the field names: `_centi_c` is 0.01 degC, `_deci_kpa` is
//! 0.1 kPa, `_deci_lpm` is 0.1 L/min, `_permille` is 0.1 %, `_w` is 1 W, `_mv` is 1 mV,
//! `_ms` is 1 ms, `_s` is 1 s. Integers keep postcard's varints short and make the resolution
//! explicit; controllers convert to `f32` at the edge.

use postcard::experimental::max_size::MaxSize;
use serde::{Deserialize, Serialize};

/// Which controller a device is.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, MaxSize)]
pub enum DeviceKind {
    /// The row's coolant distribution unit (CDU) controller.
    CoolantController,
    /// A rack's power controller.
    PowerController,
}

/// A firmware version, semantic-versioning style.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, MaxSize)]
pub struct FirmwareVersion {
    /// Incompatible changes.
    pub major: u8,
    /// Added features.
    pub minor: u8,
    /// Fixes.
    pub patch: u8,
}

/// The state of a controller's state machine, for both device kinds.
///
/// Coolant controller: `Startup -> Running <-> Degraded -> Failsafe`, `Stopped` on command.
/// Power controller: `Off -> Sequencing -> Running <-> Capped/RideThrough/Shedding`,
/// `Isolated` on a leak isolation request.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, MaxSize)]
pub enum ControllerState {
    /// Coolant: pumps starting, alarms inhibited while the loop settles.
    Startup,
    /// Normal control (both kinds).
    Running,
    /// Coolant: control continues with a reduced set of sensors or actuators.
    Degraded,
    /// Coolant: no valid supply measurement; valve fully open, pumps at a safe speed.
    Failsafe,
    /// Stopped on command or for lack of reservoir level (both kinds).
    Stopped,
    /// Power: all trays off.
    Off,
    /// Power: trays being enabled one by one to keep inrush under the breaker's limit.
    Sequencing,
    /// Power: demand above the budget; per-tray caps are active.
    Capped,
    /// Power: AC lost, the rack runs on its battery backup units.
    RideThrough,
    /// Power: low-priority trays shed to protect the feed breaker.
    Shedding,
    /// Power: the rack has been electrically isolated (leak).
    Isolated,
}

/// Why a state machine moved, or why an action was taken.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, MaxSize)]
pub enum Reason {
    /// Power-on or reset.
    Boot,
    /// A technician or host asked for it.
    Command,
    /// The start-up period elapsed.
    StartupComplete,
    /// A sensor failed validation (out of range, stale, stuck or disagreeing).
    SensorFault,
    /// Every redundant supply temperature sensor is invalid.
    NoValidSupplySensor,
    /// A pump faulted (tach lost, under-speed or over-current).
    PumpFault,
    /// The valve does not follow its demand.
    ValveFault,
    /// A leak was confirmed after its reaction delay.
    Leak,
    /// Reservoir level switch open.
    ReservoirLow,
    /// The fault that caused a degraded mode has cleared.
    Recovered,
    /// Demand exceeds the power budget.
    OverBudget,
    /// AC input lost.
    AcLoss,
    /// AC input returned.
    AcRestored,
    /// The feed breaker's I2t margin was about to run out.
    Overcurrent,
    /// The row's thermal headroom or a GPU's temperature requires lower caps.
    ThermalLimit,
    /// The CDU requested electrical isolation of this rack.
    IsolationRequested,
    /// The host link has been silent longer than its timeout.
    CommsLost,
    /// Scheduled lead pump rotation.
    LeadRotation,
    /// A tray drew far above its cap.
    TrayFault,
    /// A power supply unit faulted.
    PsuFault,
}

/// Alarm codes, shared by both device kinds (Redfish Environmental registry names in the docs).
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, MaxSize)]
pub enum AlarmCode {
    /// Secondary supply temperature above setpoint + band, held for the alarm delay.
    SupplyTempHigh,
    /// Secondary supply temperature below setpoint - band, held for the alarm delay.
    SupplyTempLow,
    /// A sensor failed validation; `instance` names the sensor.
    SensorFault,
    /// No valid secondary supply temperature measurement remains; failsafe output.
    SupplySensorsLost,
    /// A leak detector reports a leak; `instance` names the zone (rack index, or 255 for the CDU).
    LeakDetected,
    /// Reservoir level low: pumps will not start.
    ReservoirLow,
    /// A pump faulted; `instance` names it (Redfish `PumpFailed`).
    PumpFault,
    /// The primary valve does not reach its demand (Redfish `ValveUnableToReachSetPoint`).
    ValveFault,
    /// The loop cannot hold the supply setpoint at the current facility water conditions.
    CannotHoldSetpoint,
    /// The row bus has gone silent (no power reports or headroom broadcasts).
    RowBusSilent,
    /// A power supply unit faulted; `instance` is shelf * 8 + PSU.
    PsuFault,
    /// AC input lost; running on battery.
    AcLoss,
    /// Battery state of charge low.
    BbuLow,
    /// Rack demand is being capped below what it asks for.
    PowerCapped,
    /// A tray was shed to protect the breaker; `instance` names the tray.
    TrayShed,
    /// The feed breaker tripped.
    BreakerTripped,
    /// GPU power derated for heat.
    ThermalDerate,
    /// The host link timed out; running on last valid settings.
    CommsLost,
    /// Protocol version 3: the settings store was empty (instance 0), corrupt (1) or could not
    /// be written (2); the device runs on its built-in settings, or on settings it cannot keep.
    SettingsLost,
}

impl AlarmCode {
    /// Every code, in wire order (append-only, like the enum).
    pub const ALL: [AlarmCode; 19] = [
        AlarmCode::SupplyTempHigh,
        AlarmCode::SupplyTempLow,
        AlarmCode::SensorFault,
        AlarmCode::SupplySensorsLost,
        AlarmCode::LeakDetected,
        AlarmCode::ReservoirLow,
        AlarmCode::PumpFault,
        AlarmCode::ValveFault,
        AlarmCode::CannotHoldSetpoint,
        AlarmCode::RowBusSilent,
        AlarmCode::PsuFault,
        AlarmCode::AcLoss,
        AlarmCode::BbuLow,
        AlarmCode::PowerCapped,
        AlarmCode::TrayShed,
        AlarmCode::BreakerTripped,
        AlarmCode::ThermalDerate,
        AlarmCode::CommsLost,
        AlarmCode::SettingsLost,
    ];

    /// The first protocol version that has this code: a peer of an older version cannot
    /// decode it, so a device leaves it out of what it sends such a peer.
    pub const fn first_version(self) -> u8 {
        match self {
            AlarmCode::SettingsLost => 3,
            _ => 1,
        }
    }
}

/// A `CamelCase` name as lower-case words joined by `sep`: `PumpFault` with `-` is
/// `pump-fault`, with `_` is `pump_fault` (how tools and reports spell the protocol's names).
pub fn words(name: &str, sep: char) -> impl Iterator<Item = char> + '_ {
    name.char_indices().flat_map(move |(i, ch)| {
        let lead = (ch.is_ascii_uppercase() && i > 0).then_some(sep);
        lead.into_iter()
            .chain(core::iter::once(ch.to_ascii_lowercase()))
    })
}

/// How serious an alarm is (Redfish `Health`-like).
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, MaxSize)]
pub enum Severity {
    /// Needs attention soon.
    Warning,
    /// Needs attention now; the controller has acted or will.
    Critical,
}

/// One entry of a device's alarm list.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, MaxSize)]
pub struct AlarmEntry {
    /// What it is.
    pub code: AlarmCode,
    /// Which sensor, pump, rack, PSU or tray (meaning given per code), 0 when there is one.
    pub instance: u8,
    /// How serious.
    pub severity: Severity,
    /// The condition is still present (false: it cleared but the alarm is latched).
    pub active: bool,
    /// The alarm stays listed until acknowledged, even after the condition clears.
    pub latched: bool,
    /// A technician has acknowledged it.
    pub acknowledged: bool,
    /// Device uptime when it was raised, 1 ms resolution.
    pub raised_at_ms: u64,
}

/// Settable values. Each has a unit and resolution, and the receiver enforces its allowed range.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, MaxSize)]
pub enum SetpointId {
    /// Coolant: secondary supply temperature setpoint, 0.01 degC.
    SupplyTempCentiC,
    /// Coolant: secondary differential pressure setpoint, 0.1 kPa.
    DifferentialPressureDeciKpa,
    /// Coolant: secondary flow setpoint, 0.1 L/min.
    FlowDeciLpm,
    /// Coolant: lead pump rotation interval, 1 s.
    LeadRotationIntervalS,
    /// Coolant: leak reaction delay, 1 s (Redfish `ReactionDelaySeconds`).
    LeakReactionDelayS,
    /// Power: rack input power budget, 1 W.
    RackPowerBudgetW,
    /// Power: input power ramp-rate limit, 1 W/s.
    RampLimitWPerS,
    /// Power: input power floor while smoothing, 1 W.
    PowerFloorW,
    /// Power: battery ride-through time to guarantee, 1 s.
    RideThroughS,
}

/// Device operating modes.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, MaxSize)]
pub enum OperatingMode {
    /// The controller decides.
    Auto,
    /// Actuator commands come from the technician; protections stay active.
    Manual,
    /// Outputs off (pumps stopped, trays off); protections stay active.
    Standby,
}

/// Which variable the coolant controller's pumps hold.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, MaxSize)]
pub enum PumpControlMode {
    /// Hold the secondary differential pressure.
    DifferentialPressure,
    /// Hold the secondary flow.
    Flow,
}

/// A mode to set.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, MaxSize)]
pub enum ModeSetting {
    /// The device's operating mode.
    Operating(OperatingMode),
    /// Coolant only: the pumps' controlled variable.
    PumpControl(PumpControlMode),
}

/// Why a device refused a request.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, MaxSize)]
pub enum Refusal {
    /// The value is outside the allowed range, given inclusive in the setpoint's unit.
    OutOfRange {
        /// Smallest allowed value.
        min: i32,
        /// Largest allowed value.
        max: i32,
    },
    /// The request needs another operating mode; `current` is the device's mode.
    WrongMode {
        /// The mode the device is in.
        current: OperatingMode,
    },
    /// The device will not do this now (for example unisolating a rack with an active leak).
    NotPermitted,
    /// This device kind does not have that setpoint, command or object.
    NotSupported,
    /// An index (pump, rack, tray) does not exist on this device; `count` is how many there are.
    NoSuchInstance {
        /// How many instances the device has.
        count: u8,
    },
    /// Protocol version 2: the request changes something and its authentication does not
    /// allow it (see [`crate::auth`]).
    Unauthorized(AuthRefusal),
    /// Protocol version 2: no such alarm is listed on this device (v1 answers `NotPermitted`).
    NoSuchAlarm,
    /// Protocol version 2: the setting or command belongs to the other device kind; `device`
    /// is this device's kind.
    WrongDevice {
        /// What this device is.
        device: DeviceKind,
    },
    // The last variants: an image without the update path leaves them out (`update`), and
    // every other variant keeps its number.
    #[cfg(any(not(feature = "device-end"), feature = "update"))]
    /// Protocol version 4: the update image is refused, with the reason
    /// ([`crate::image::Refusal`]).
    Image(crate::image::Refusal),
    #[cfg(any(not(feature = "device-end"), feature = "update"))]
    /// Protocol version 4: the update request does not fit what the update slot is doing.
    Update(UpdateProblem),
}

/// Why an update request does not fit the update slot's state (protocol version 4).
/// Append-only.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, MaxSize)]
pub enum UpdateProblem {
    /// A chunk past a gap: the device needs this offset next (resume from it).
    OutOfOrder {
        /// The binary offset the device needs next.
        expected: u32,
    },
    /// A chunk or swap with no image begun.
    NotReceiving,
    /// A swap before the whole image is in and verified.
    NotVerified,
    /// More binary than the header said.
    TooLong,
    /// The running image is on trial: the update slot holds the image to roll back to until
    /// it has run healthy long enough to mark itself good.
    OnTrial,
    /// The flash refused an erase, a write or a read.
    Flash,
}

/// How the running image booted (protocol version 4). Append-only.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, MaxSize)]
pub enum BootState {
    /// A good image: confirmed after its trial, or the one the board was programmed with.
    Confirmed,
    /// Swapped in at this boot and on trial: the bootloader swaps the previous image back at
    /// the next reset unless this one marks itself good first.
    Trial,
    /// Back on the previous image: the one swapped in did not mark itself good.
    RolledBack,
}

/// What the update slot holds (protocol version 4). Append-only.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, MaxSize)]
pub enum UpdateSlotState {
    /// Nothing this device knows of since it booted (an image refused or never sent; after a
    /// swap, the previous image, kept for a rollback).
    Empty,
    /// An image being received.
    Receiving {
        /// Its version.
        version: FirmwareVersion,
        /// Binary bytes received.
        received: u32,
        /// The binary's length, bytes.
        len: u32,
    },
    /// A whole image whose signature checked out as it lies in flash, ready to swap.
    Verified {
        /// Its version.
        version: FirmwareVersion,
    },
    /// The previous image, kept for a rollback while the running one is on trial.
    Previous,
}

/// A step of a firmware update, as the event log records it (protocol version 4).
/// Append-only.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, MaxSize)]
pub enum FirmwareStep {
    /// An image was received whole and its signature checked out (its version).
    Verified,
    /// The device resets to swap to the image (its version).
    Swapping,
    /// The image swapped in booted, on trial (its version).
    Trial,
    /// The image on trial ran healthy long enough and marked itself good (its version).
    Confirmed,
    /// The image swapped in never marked itself good: the bootloader put the previous one
    /// back (the version running now).
    RolledBack,
}

/// Why an authenticated request was refused (protocol version 2). Append-only.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, MaxSize)]
pub enum AuthRefusal {
    /// The request carries no MAC (a version-1 frame, or a version-2 frame without its trailer).
    MissingMac,
    /// The MAC does not match the frame under the named key.
    BadMac,
    /// The device holds no key with that id.
    UnknownKey,
    /// The counter is not above the last one accepted for that key (a replay or a reorder).
    Replayed,
    /// The key's role may not do this; `needed` is the role that may.
    RoleTooLow {
        /// The least role that may.
        needed: KeyRole,
    },
}

/// What a key may do. Append-only; each role may do everything of the roles before it.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, MaxSize,
)]
pub enum KeyRole {
    /// Reads, where the device asks for a key to read.
    Reader,
    /// Setpoints and alarm acknowledgements.
    Operator,
    /// Modes, pumps, trays, racks, latched alarms and keys.
    Maintenance,
}

impl KeyRole {
    /// The role's name as the tools spell it.
    pub const fn name(self) -> &'static str {
        match self {
            KeyRole::Reader => "reader",
            KeyRole::Operator => "operator",
            KeyRole::Maintenance => "maintenance",
        }
    }
}

/// What a technician command does.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, MaxSize)]
pub enum Action {
    /// Coolant: make this pump the lead.
    SetLeadPump(u8),
    /// Coolant: rotate the lead pump now.
    RotateLead,
    /// Coolant: close a rack's isolation valve; power: isolate the rack.
    IsolateRack(u8),
    /// Undo an isolation (refused while the cause persists).
    RestoreRack(u8),
    /// Power: enable a compute tray.
    EnableTray(u8),
    /// Power: disable a compute tray.
    DisableTray(u8),
    /// Clear latched alarms whose condition has gone.
    ClearLatched,
}

/// What happened, as recorded in a device's event log.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, MaxSize)]
pub enum EventKind {
    /// The device started.
    Boot,
    /// The state machine moved.
    StateChanged {
        /// State before.
        from: ControllerState,
        /// State after.
        to: ControllerState,
        /// Why.
        reason: Reason,
    },
    /// An alarm was raised.
    AlarmRaised {
        /// Which.
        code: AlarmCode,
        /// Which instance.
        instance: u8,
    },
    /// An alarm's condition cleared.
    AlarmCleared {
        /// Which.
        code: AlarmCode,
        /// Which instance.
        instance: u8,
    },
    /// An alarm was acknowledged.
    AlarmAcknowledged {
        /// Which.
        code: AlarmCode,
        /// Which instance.
        instance: u8,
    },
    /// A setpoint was changed.
    SetpointChanged {
        /// Which.
        id: SetpointId,
        /// The new value in the setpoint's unit.
        value: i32,
    },
    /// A mode was changed.
    ModeChanged(ModeSetting),
    /// The lead pump changed.
    LeadPumpChanged {
        /// Previous lead.
        from: u8,
        /// New lead.
        to: u8,
        /// Failover (pump fault) or rotation.
        reason: Reason,
    },
    /// A rack was isolated.
    RackIsolated {
        /// Which rack.
        rack: u8,
        /// Why.
        reason: Reason,
    },
    /// A tray was shed or re-enabled.
    TrayChanged {
        /// Which tray.
        tray: u8,
        /// Enabled after the change.
        enabled: bool,
        /// Why.
        reason: Reason,
    },
    /// The coolant controller's row-bus feed-forward was dropped (false) or resumed (true).
    FeedForward {
        /// Active after the change.
        active: bool,
    },
    /// A power supply unit faulted.
    PsuFaulted {
        /// Shelf.
        shelf: u8,
        /// PSU in the shelf.
        psu: u8,
    },
    /// Protocol version 2: an authenticated request was carried out; the events it caused
    /// follow this one.
    WriteAccepted {
        /// The request's kind.
        of: crate::message::MessageKind,
        /// The key that signed it.
        key_id: u16,
    },
    /// Protocol version 2: a request was refused for its authentication (logged at most
    /// once a second; every refusal is counted in `Counters`).
    WriteRefused {
        /// The request's kind.
        of: crate::message::MessageKind,
        /// The key it named (0 when it carried none).
        key_id: u16,
        /// Why.
        reason: AuthRefusal,
    },
    /// Protocol version 2: a key was installed or replaced (`role` set) or revoked.
    KeyChanged {
        /// Which key.
        key_id: u16,
        /// Its role now, or none when revoked.
        role: Option<KeyRole>,
    },
    /// Protocol version 3: why the device last reset, read at boot (logged right after
    /// `Boot`), and the task that missed its deadline if the watchdog reset it.
    Reset {
        /// The cause the hardware (or the record the firmware kept) gives.
        cause: ResetCause,
        /// The task that stopped checking in before a watchdog reset.
        missed_task: Option<TaskId>,
    },
    // The last variant: an image without the update path leaves it out (`update`).
    #[cfg(any(not(feature = "device-end"), feature = "update"))]
    /// Protocol version 4: a step of a firmware update.
    Firmware {
        /// Which step.
        step: FirmwareStep,
        /// The version it concerns.
        version: FirmwareVersion,
    },
}

/// Protocol version 3: why a device last reset.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, MaxSize)]
pub enum ResetCause {
    /// Power came on.
    PowerOn,
    /// The reset pin (a button, a debugger, a supervisor chip).
    Pin,
    /// The firmware asked for it (an update, a technician's command).
    Software,
    /// The watchdog: a task stopped checking in.
    Watchdog,
    /// The supply fell below the brown-out threshold.
    BrownOut,
    /// A fault the firmware could not recover from (a hard fault or a lock-up).
    Fault,
    /// Nothing said why.
    Unknown,
}

/// Protocol version 3: the firmware tasks the watchdog supervises.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, MaxSize)]
pub enum TaskId {
    /// The control step.
    Control,
    /// The host link.
    HostLink,
    /// The row bus (and a rack's own bus).
    RowBus,
    /// Field I/O: sensors, expanders, plant samples.
    FieldIo,
}

impl TaskId {
    /// Every task, in wire order.
    pub const ALL: [TaskId; 4] = [
        TaskId::Control,
        TaskId::HostLink,
        TaskId::RowBus,
        TaskId::FieldIo,
    ];
}

/// Protocol version 3: the fault a device's fault handler saved before its reset.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, MaxSize)]
pub struct FaultRecord {
    /// Program counter of the faulting instruction.
    pub pc: u32,
    /// Link register at the fault.
    pub lr: u32,
    /// Configurable fault status register (Cortex-M `CFSR`).
    pub cfsr: u32,
    /// Hard fault status register (`HFSR`).
    pub hfsr: u32,
}

/// Protocol version 3: where the device's settings came from at boot.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, MaxSize)]
pub enum StoreStatus {
    /// The device keeps no settings store: it booted its built-in settings.
    None,
    /// The store was read and its settings are in force.
    Loaded,
    /// The store was empty: built-in settings.
    Empty,
    /// The store held a record that failed its check (a save cut short, damaged flash) or one
    /// of another layout: the newest good record is in force if there is one, else the
    /// built-in settings; alarm raised.
    Corrupt,
    /// Settings changed since boot could not be written (a flash error): they are in force
    /// until the next reset, not after it; alarm raised.
    Unwritable,
}

/// One event-log record. Sequence numbers count up from 1 without gaps for the life of a boot.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, MaxSize)]
pub struct Event {
    /// Sequence number, unique and increasing.
    pub seq: u32,
    /// Device uptime when it happened, 1 ms resolution.
    pub at_ms: u64,
    /// What happened.
    pub kind: EventKind,
}

/// State of one pump.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, MaxSize)]
pub enum PumpState {
    /// Not running, not available as standby (stopped, or no reservoir level).
    Off,
    /// Available to take over.
    Standby,
    /// Running.
    Running,
    /// Faulted; will not be started until the fault is cleared.
    Faulted,
}

/// State of one leak detector (Redfish `LeakDetector` states).
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, MaxSize)]
pub enum LeakState {
    /// Dry.
    Ok,
    /// Moisture seen, within the reaction delay.
    Warning,
    /// Leak confirmed.
    Critical,
    /// Detector fitted but not answering (open circuit).
    Unavailable,
    /// No detector fitted.
    Absent,
}

/// State of one power supply unit (sequencing per Oxide's psc-seq-server timing).
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, MaxSize)]
pub enum PsuState {
    /// Slot empty.
    Absent,
    /// Inserted, waiting out the insert debounce.
    Debouncing,
    /// Enabled, waiting to settle.
    Settling,
    /// Delivering power.
    Ok,
    /// Faulted and switched off; retried after the fault-off time.
    Faulted,
    /// Re-enabled after a fault, watched through its probation time.
    Probation,
    /// Switched off on command.
    Off,
}

/// State of one compute tray's power.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, MaxSize)]
pub enum TrayState {
    /// Switched off.
    Off,
    /// Waiting for its turn in the power-on sequence.
    Pending,
    /// On and drawing below its cap.
    On,
    /// On and held at its cap.
    Capped,
    /// Shed to protect the breaker.
    Shed,
    /// Disabled by a technician.
    Disabled,
}

/// State of a battery backup unit.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, MaxSize)]
pub enum BbuState {
    /// Full, on standby.
    Standby,
    /// Charging.
    Charging,
    /// Supplying the bus (ride-through or smoothing).
    Discharging,
    /// Faulted.
    Faulted,
}

/// State of the rack's feed breaker.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, MaxSize)]
pub enum BreakerState {
    /// Closed, carrying load.
    Closed,
    /// Tripped by overcurrent.
    Tripped,
    /// Opened on command.
    Open,
}
