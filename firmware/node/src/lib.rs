//! # rack-node
//!
//! A controller as an application, without I/O, so that the boards and the simulator run the
//! same code: bytes from the host link go in through [`Node::on_bytes`], frames to send come
//! out through a sink the caller gives; the control step runs through [`Node::step`]; time is
//! always passed in.
//!
//! The node owns:
//! - the **protocol endpoint**: per host link ([`Link`]) a streaming frame decoder, a
//!   telemetry subscription and the protocol version it speaks; dispatch of every request of
//!   protocol versions 1 and 2, answers in the request's version with its sequence number,
//!   typed refusals (out of range with the range, wrong mode, not supported, no such
//!   instance, no such alarm, wrong device); rejections counted and readable (`Counters`);
//! - **authentication** ([`keys`]): a request that changes anything is carried out only when
//!   signed by a key of a role that may (operator: setpoints, acknowledgements; maintenance:
//!   modes, commands, keys), with a counter above that key's last; refusals are counted by
//!   reason and logged (at most once a second); each accepted write's event names its key;
//! - **telemetry subscription** at a chosen period (100 ms ..= 60 s);
//! - an **event log** ring of protocol events with sequence numbers: a host that reconnects
//!   reads exactly what it missed, and overwritten events are counted and reported;
//! - **comms-loss handling**: when the host has been silent longer than `comms_timeout_ms`
//!   the node says so (an event, the `comms-lost` alarm and `comms_lost()`), and the
//!   controller keeps running on its last valid settings;
//! - the **health signal** that decides whether the watchdog is fed: the control step must
//!   have run within two periods.
//!
//! The device-specific part (which controller, its telemetry, setpoints and commands) is an
//! [`Application`]: [`coolant::CoolantApp`] and [`power::PowerApp`].
#![no_std]
#![cfg_attr(
    test,
    allow(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::panic,
        clippy::float_cmp
    )
)]

pub mod coolant;
pub mod drivers;
pub mod field_io;
pub mod keys;
pub mod plant_io;
pub mod power;
pub mod rack_bus;
pub mod row_bus;
pub mod settings;
pub mod supervision;
pub mod trial;
pub mod update;

use rack_control::Instant;
use rack_control::events::EventLog;
use rack_protocol::decoder::{FrameDecoder, RejectCounters};
use rack_protocol::frame::{self, Frame, MAX_WIRE_FRAME_SIZE};
use rack_protocol::message::{
    Ack, Alarms, Counters, Diagnostics, Events, Heartbeat, Identity, MAX_EVENTS_PER_MESSAGE,
    Message, Refused, Setpoint,
};
use rack_protocol::types::{
    Action, AlarmCode, AlarmEntry, AuthRefusal, DeviceKind, Event, EventKind, FirmwareVersion,
    KeyRole, ModeSetting, Refusal, ResetCause, SetpointId, Severity, StoreStatus, TaskId,
};
#[cfg(feature = "update")]
use rack_protocol::types::{FirmwareStep, UpdateSlotState};
use rack_protocol::{MessageKind, PROTOCOL_VERSION};

pub use keys::{KeyError, KeyStore, MAX_KEYS};
use settings::{MAX_KEPT_MODES, SavePolicy};

/// The build's source revision (`RACKLOOP_GIT_HASH` from the build script; empty if unknown).
pub const BUILD: &str = env!("RACKLOOP_GIT_HASH");
include!(concat!(env!("OUT_DIR"), "/build_info.rs"));

/// Events the node's protocol log holds.
pub const EVENT_LOG_LEN: usize = 128;
/// Fastest telemetry subscription, ms.
pub const MIN_TELEMETRY_PERIOD_MS: u32 = 100;
/// Slowest telemetry subscription, ms.
pub const MAX_TELEMETRY_PERIOD_MS: u32 = 60_000;
/// Refused requests are written to the event log at most once per this many ms (all are
/// counted): a flood of bad frames must not push the real events out of the ring.
pub const REFUSAL_LOG_INTERVAL_MS: u64 = 1_000;

/// The device-specific part of a node.
pub trait Application {
    /// Which device this is.
    fn kind(&self) -> DeviceKind;

    /// Whether this device ever sends `kind` on its host link: the node's encoder keeps only
    /// these (folded at compile time; the other controller's telemetry encoder costs an image
    /// some 450 B).
    fn sends(kind: MessageKind) -> bool {
        let _ = kind;
        true
    }
    /// A telemetry snapshot at `now`.
    fn telemetry(&self, now: Instant) -> Message;
    /// A setpoint's value and allowed range.
    fn get_setpoint(&self, id: SetpointId) -> Result<Setpoint, Refusal>;
    /// Sets a setpoint; answers with the value in force.
    fn set_setpoint(
        &mut self,
        now: Instant,
        id: SetpointId,
        value: i32,
    ) -> Result<Setpoint, Refusal>;
    /// Another setpoint the last `set_setpoint` moved with it (a power floor that follows its
    /// cap down), and its value now, for the event log.
    fn follow_on(&mut self) -> Option<(SetpointId, i32)> {
        None
    }
    /// Changes a mode.
    fn set_mode(&mut self, now: Instant, mode: ModeSetting) -> Result<(), Refusal>;
    /// Carries out a technician command.
    fn command(&mut self, now: Instant, action: Action) -> Result<(), Refusal>;
    /// The alarm list, most severe first.
    fn alarms(
        &self,
        out: &mut heapless::Vec<AlarmEntry, { rack_protocol::message::MAX_ALARMS_PER_MESSAGE }>,
    ) -> u8;
    /// Acknowledges one alarm; false if it is not listed.
    fn acknowledge(&mut self, code: AlarmCode, instance: u8) -> bool;
    /// Acknowledges every alarm.
    fn acknowledge_all(&mut self);
    /// Hands the controller's events since the last call to `emit`, as protocol events.
    fn drain_events(&mut self, emit: &mut dyn FnMut(Instant, EventKind));
    /// The setpoints and commissioning values a reset must not lose, in the order they are
    /// restored ([`settings`]).
    fn kept_setpoints(&self) -> &'static [SetpointId] {
        &[]
    }
    /// The modes a reset must not lose, as they are now. Not the operating mode: a device
    /// boots running, whatever mode it was left in.
    fn kept_modes(&self) -> heapless::Vec<ModeSetting, MAX_KEPT_MODES> {
        heapless::Vec::new()
    }
}

/// Node settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeConfig {
    /// Serial number (printable ASCII, at most 16 bytes).
    pub serial: &'static str,
    /// Firmware version.
    pub firmware: FirmwareVersion,
    /// The host link is lost after this much silence, ms.
    pub comms_timeout_ms: u64,
    /// Control period, ms (the watchdog is fed while steps come within two periods).
    pub control_period_ms: u64,
    /// Whether reads (telemetry, setpoints, alarms, events, counters) need a signed request
    /// from a key of at least the reader role. Identity and heartbeats stay open.
    pub reads_need_key: bool,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            serial: "RACKLOOP-0000",
            firmware: FIRMWARE,
            comms_timeout_ms: 10_000,
            control_period_ms: u64::from(rack_control::CONTROL_PERIOD_MS),
            reads_need_key: false,
        }
    }
}

/// One host link's own state: its frame decoder (a half frame from one client never mixes
/// with another's bytes), its telemetry subscription, and the protocol version it speaks
/// (answers and telemetry go out in it). A board has one ([`Node::on_bytes`]); `racksim
/// serve` keeps one per TCP client ([`Node::on_link_bytes`]).
#[derive(Debug, Clone)]
pub struct Link {
    decoder: FrameDecoder,
    subscription: Option<(u32, Instant)>,
    version: u8,
}

impl Default for Link {
    fn default() -> Self {
        Self::new()
    }
}

impl Link {
    /// A fresh link: no subscription, speaking the current version until told otherwise.
    pub const fn new() -> Self {
        Self {
            decoder: FrameDecoder::new(),
            subscription: None,
            version: PROTOCOL_VERSION,
        }
    }
}

/// What the node has accepted and refused, for `Counters`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Security {
    writes_accepted: u32,
    /// By `AuthRefusal` in its wire order.
    refusals: [u32; 5],
    refusals_not_logged: u32,
    last_logged: Option<Instant>,
}

/// One of the node's own alarms (the host link went silent; the settings are not kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NodeAlarm {
    code: AlarmCode,
    instance: u8,
    severity: Severity,
    raised_at: Instant,
    active: bool,
    acknowledged: bool,
}

impl NodeAlarm {
    /// Raises an alarm in `slot` and logs it.
    fn raise(
        slot: &mut Option<NodeAlarm>,
        log: &mut EventLog<EventKind, EVENT_LOG_LEN>,
        now: Instant,
        (code, instance, severity): (AlarmCode, u8, Severity),
    ) {
        *slot = Some(NodeAlarm {
            code,
            instance,
            severity,
            raised_at: now,
            active: true,
            acknowledged: false,
        });
        log.push(now, EventKind::AlarmRaised { code, instance });
    }

    /// The alarm's condition is gone: it stays listed until acknowledged.
    fn clear(
        slot: &mut Option<NodeAlarm>,
        log: &mut EventLog<EventKind, EVENT_LOG_LEN>,
        now: Instant,
    ) {
        if let Some(alarm) = slot
            && alarm.active
        {
            alarm.active = false;
            log.push(
                now,
                EventKind::AlarmCleared {
                    code: alarm.code,
                    instance: alarm.instance,
                },
            );
            if alarm.acknowledged {
                *slot = None;
            }
        }
    }

    /// Acknowledges it; whether one was listed.
    fn acknowledge(slot: &mut Option<NodeAlarm>) -> bool {
        let Some(alarm) = slot else {
            return false;
        };
        alarm.acknowledged = true;
        if !alarm.active {
            *slot = None;
        }
        true
    }

    fn entry(&self) -> AlarmEntry {
        AlarmEntry {
            code: self.code,
            instance: self.instance,
            severity: self.severity,
            active: self.active,
            latched: true,
            acknowledged: self.acknowledged,
            raised_at_ms: self.raised_at.as_millis(),
        }
    }
}

/// A node: an application behind the protocol endpoint.
#[derive(Debug)]
pub struct Node<A> {
    /// The device-specific part.
    pub app: A,
    config: NodeConfig,
    link: Link,
    keys: KeyStore,
    frames: u32,
    rejects: RejectCounters,
    security: Security,
    tx_seq: u16,
    last_host_frame: Option<Instant>,
    comms_lost: bool,
    comms_alarm: Option<NodeAlarm>,
    settings_alarm: Option<NodeAlarm>,
    saves: SavePolicy,
    last_step: Option<Instant>,
    heartbeat: bool,
    diagnostics: Diagnostics,
    log: EventLog<EventKind, EVENT_LOG_LEN>,
    #[cfg(feature = "update")]
    firmware: FirmwarePath,
}

/// The board's firmware update path, if it has one ([`update::Firmware`]).
#[cfg(feature = "update")]
#[derive(Default)]
struct FirmwarePath(Option<&'static mut (dyn update::Firmware + Send)>);

#[cfg(feature = "update")]
impl core::fmt::Debug for FirmwarePath {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(if self.0.is_some() {
            "FirmwarePath(present)"
        } else {
            "FirmwarePath(none)"
        })
    }
}

impl<A: Application> Node<A> {
    /// A node around `app`, without keys (see [`Node::keys_mut`]); its log starts with a
    /// boot event.
    pub fn new(app: A, config: NodeConfig, now: Instant) -> Self {
        let mut log = EventLog::new();
        log.push(now, EventKind::Boot);
        Self {
            app,
            config,
            link: Link::new(),
            keys: KeyStore::new(),
            frames: 0,
            rejects: RejectCounters::default(),
            security: Security::default(),
            tx_seq: 0,
            last_host_frame: None,
            comms_lost: false,
            comms_alarm: None,
            settings_alarm: None,
            saves: SavePolicy::new(now),
            last_step: None,
            heartbeat: false,
            diagnostics: Diagnostics {
                reset_cause: ResetCause::Unknown,
                missed_task: None,
                fault: None,
                stack_peak_bytes: None,
                stack_size_bytes: 0,
                field_bus_errors: 0,
                row_bus_errors: 0,
                settings: StoreStatus::None,
                build: heapless::String::try_from(BUILD).unwrap_or_default(),
            },
            log,
            #[cfg(feature = "update")]
            firmware: FirmwarePath::default(),
        }
    }

    #[cfg(feature = "update")]
    /// Gives the node the board's firmware update path: it then serves the update messages
    /// (a node without one refuses them as `NotSupported`) and reports the control loop's
    /// health to it at every [`Node::poll`].
    pub fn set_firmware(&mut self, firmware: &'static mut (dyn update::Firmware + Send)) {
        self.firmware = FirmwarePath(Some(firmware));
    }

    #[cfg(feature = "update")]
    /// Whether the board should reset now (a swap was asked for, or a trial ran out): it
    /// resets once the answer has left.
    pub fn reset_due(&self, uptime_ms: u64) -> bool {
        self.firmware
            .0
            .as_deref()
            .is_some_and(|f| f.reset_due(uptime_ms))
    }

    /// Logs an event the board saw (how the image booted).
    pub fn record(&mut self, now: Instant, event: EventKind) {
        self.log.push(now, event);
    }

    /// Records why the device last reset, as the board read it at boot (and the task the
    /// watchdog found late, if it reset it): logged after `Boot`, answered in `Diagnostics`.
    pub fn record_reset(&mut self, now: Instant, cause: ResetCause, missed_task: Option<TaskId>) {
        self.diagnostics.reset_cause = cause;
        self.diagnostics.missed_task = missed_task;
        self.log.push(now, EventKind::Reset { cause, missed_task });
    }

    /// The health record `GetDiagnostics` answers with, for the board to keep up to date (its
    /// buses' errors, its stack, its fault record, its settings store).
    pub fn diagnostics_mut(&mut self) -> &mut Diagnostics {
        &mut self.diagnostics
    }

    /// The device's keys, to provision them (from the board's configuration or a file).
    pub fn keys_mut(&mut self) -> &mut KeyStore {
        &mut self.keys
    }

    /// Runs `control` (the controller's step) and collects its events.
    pub fn step<R>(&mut self, now: Instant, control: impl FnOnce(&mut A) -> R) -> R {
        let result = control(&mut self.app);
        self.last_step = Some(now);
        self.heartbeat = !self.heartbeat;
        let log = &mut self.log;
        self.app.drain_events(&mut |at, kind| {
            log.push(at, kind);
        });
        result
    }

    /// Bytes from the board's host link: every complete frame is answered through `send`;
    /// rejected frames are counted ([`Node::rejects`]).
    pub fn on_bytes(&mut self, now: Instant, bytes: &[u8], send: &mut dyn FnMut(&[u8])) {
        let mut link = core::mem::take(&mut self.link);
        self.on_link_bytes(now, &mut link, bytes, send);
        self.link = link;
    }

    /// Bytes from one of several host links (each with its own [`Link`]).
    pub fn on_link_bytes(
        &mut self,
        now: Instant,
        link: &mut Link,
        bytes: &[u8],
        send: &mut dyn FnMut(&[u8]),
    ) {
        for &byte in bytes {
            match link.decoder.push(byte) {
                Some(Ok(request)) => {
                    self.frames = self.frames.saturating_add(1);
                    self.last_host_frame = Some(now);
                    if self.comms_lost {
                        self.comms_lost = false;
                        self.comms_restored(now);
                    }
                    self.handle(now, link, &request, send);
                }
                Some(Err(error)) => self.rejects.record(error),
                None => {}
            }
        }
    }

    /// Periodic duties at `now`: the board link's telemetry when due, comms-loss detection.
    pub fn poll(&mut self, now: Instant, send: &mut dyn FnMut(&[u8])) {
        let mut link = core::mem::take(&mut self.link);
        self.poll_link(now, &mut link, send);
        self.link = link;
        #[cfg(feature = "update")]
        {
            let healthy = self.healthy(now);
            if let Some(firmware) = self.firmware.0.as_deref_mut()
                && let Some(event) = firmware.health(now, healthy)
            {
                self.log.push(now, event);
            }
        }
        if let Some(last) = self.last_host_frame
            && !self.comms_lost
            && now.as_millis().saturating_sub(last.as_millis()) > self.config.comms_timeout_ms
        {
            self.comms_lost = true;
            // The controller keeps its last valid settings; a subscription stops with the link.
            self.link.subscription = None;
            NodeAlarm::raise(
                &mut self.comms_alarm,
                &mut self.log,
                now,
                (AlarmCode::CommsLost, 0, Severity::Warning),
            );
        }
    }

    /// One link's telemetry, when due.
    pub fn poll_link(&mut self, now: Instant, link: &mut Link, send: &mut dyn FnMut(&[u8])) {
        if let Some((period_ms, due)) = link.subscription
            && now >= due
        {
            let next = due.plus_millis(u64::from(period_ms)).max(now);
            link.subscription = Some((period_ms, next));
            let seq = self.next_seq();
            let telemetry = self.app.telemetry(now);
            emit::<A>(link.version, seq, &telemetry, send);
        }
    }

    /// Whether the host link is lost.
    pub fn comms_lost(&self) -> bool {
        self.comms_lost
    }

    /// The heartbeat output's level: it toggles at every control step, and the board drives
    /// it to the fail-safe relay (docs/failsafe.md) only while every task is alive, so the
    /// relay drops with a dead, hung, halted or resetting controller.
    pub fn heartbeat(&self) -> bool {
        self.heartbeat
    }

    /// Whether the watchdog may be fed: the control step ran within two periods.
    pub fn healthy(&self, now: Instant) -> bool {
        self.last_step.is_some_and(|last| {
            now.as_millis().saturating_sub(last.as_millis()) <= 2 * self.config.control_period_ms
        })
    }

    /// Frames rejected before decoding, per reason, over every link.
    pub fn rejects(&self) -> RejectCounters {
        self.rejects
    }

    /// The counters `GetCounters` answers with.
    pub fn counters(&self) -> Counters {
        Counters {
            frames: self.frames,
            frame_rejects: self.rejects.as_array(),
            writes_accepted: self.security.writes_accepted,
            auth_refusals: self.security.refusals,
            refusals_not_logged: self.security.refusals_not_logged,
        }
    }

    /// The protocol event log.
    pub fn log(&self) -> &EventLog<EventKind, EVENT_LOG_LEN> {
        &self.log
    }

    fn next_seq(&mut self) -> u16 {
        self.tx_seq = self.tx_seq.wrapping_add(1);
        self.tx_seq
    }

    fn comms_restored(&mut self, now: Instant) {
        NodeAlarm::clear(&mut self.comms_alarm, &mut self.log, now);
    }

    /// Acknowledges the node's own alarms (comms lost, settings lost).
    fn acknowledge_own(&mut self) {
        NodeAlarm::acknowledge(&mut self.comms_alarm);
        NodeAlarm::acknowledge(&mut self.settings_alarm);
    }

    /// Writes the settings a reset must not lose, as they are now, as a settings body
    /// ([`settings`]) into `out`; its length, or `None` if it does not fit.
    pub fn write_settings(&self, out: &mut [u8]) -> Option<usize> {
        let mut body = settings::BodyWriter::new(out);
        for &id in self.app.kept_setpoints() {
            if let Ok(s) = self.app.get_setpoint(id) {
                body.setpoint(id, s.value)?;
            }
        }
        for mode in self.app.kept_modes() {
            body.mode(mode)?;
        }
        self.keys.write_kept(&mut body)?;
        Some(body.len())
    }

    /// Puts in force what the board's settings store held at boot: `status` says what it
    /// found, `body` is the kept settings, if any (a corrupt store may still give the newest good
    /// record). Values the firmware no longer accepts keep their built-in ones; a body this
    /// firmware cannot read counts as corrupt, and is not applied. An empty or corrupt store
    /// raises the `settings-lost` alarm (critical when nothing kept could be used).
    pub fn restore_settings(&mut self, now: Instant, status: StoreStatus, body: Option<&[u8]>) {
        let readable = body.filter(|b| settings::read_body(b, &mut |_, _| {}));
        let status = if body.is_some() && readable.is_none() {
            StoreStatus::Corrupt
        } else {
            status
        };
        let body = readable;
        self.diagnostics.settings = status;
        if let (StoreStatus::Loaded | StoreStatus::Corrupt, Some(body)) = (status, body) {
            let (app, keys) = (&mut self.app, &mut self.keys);
            let mut keys_cleared = false;
            settings::read_body(body, &mut |request, counter| match request {
                Message::SetSetpoint(s) => {
                    let _ = app.set_setpoint(now, s.id, s.value);
                    // A follow-on (the floor under a budget) is restored in its own right.
                    let _ = app.follow_on();
                }
                Message::SetMode(m) => {
                    let _ = app.set_mode(now, m.mode);
                }
                Message::SetKey(k) => {
                    if !keys_cleared {
                        keys.clear();
                        keys_cleared = true;
                    }
                    keys.restore(&k, counter);
                }
                _ => {}
            });
        }
        let instance = match (status, body) {
            (StoreStatus::Empty, _) => Some((0, Severity::Warning)),
            // The newest good record is in force: a later save may be lost.
            (StoreStatus::Corrupt, Some(_)) => Some((1, Severity::Warning)),
            (StoreStatus::Corrupt, None) => Some((1, Severity::Critical)),
            _ => None,
        };
        if let Some((instance, severity)) = instance {
            NodeAlarm::raise(
                &mut self.settings_alarm,
                &mut self.log,
                now,
                (AlarmCode::SettingsLost, instance, severity),
            );
        }
    }

    /// Whether the settings should be written to the store at `now` (the board's machine
    /// time): they changed and a save is due (see [`settings::SavePolicy`]). The board then
    /// writes [`Node::write_settings`] and reports with [`Node::settings_saved`]. Boards ask
    /// about once a second.
    pub fn settings_due(&mut self, now: Instant) -> bool {
        self.saves.due(now)
    }

    /// The outcome of writing [`Node::write_settings`]: once written, the device
    /// runs on kept settings (a `settings-lost` alarm clears); a write that failed is tried
    /// again later and raises the alarm (instance 2).
    pub fn settings_saved(&mut self, now: Instant, written: bool) {
        if written {
            NodeAlarm::clear(&mut self.settings_alarm, &mut self.log, now);
        } else {
            self.saves.changed();
            self.diagnostics.settings = StoreStatus::Unwritable;
            if !self
                .settings_alarm
                .is_some_and(|a| a.active && a.instance == 2)
            {
                NodeAlarm::raise(
                    &mut self.settings_alarm,
                    &mut self.log,
                    now,
                    (AlarmCode::SettingsLost, 2, Severity::Critical),
                );
            }
        }
    }

    /// The role a request needs, if any.
    fn needs(&self, kind: MessageKind) -> Option<KeyRole> {
        kind.needs_role().or_else(|| {
            let open = matches!(kind, MessageKind::GetIdentity | MessageKind::Heartbeat);
            (self.config.reads_need_key && !open).then_some(KeyRole::Reader)
        })
    }

    /// Counts a refused request and logs it, at most once per [`REFUSAL_LOG_INTERVAL_MS`].
    fn refused_auth(&mut self, now: Instant, of: MessageKind, key_id: u16, reason: AuthRefusal) {
        let index = match reason {
            AuthRefusal::MissingMac => 0,
            AuthRefusal::BadMac => 1,
            AuthRefusal::UnknownKey => 2,
            AuthRefusal::Replayed => 3,
            AuthRefusal::RoleTooLow { .. } => 4,
        };
        if let Some(c) = self.security.refusals.get_mut(index) {
            *c = c.saturating_add(1);
        }
        let quiet = self.security.last_logged.is_some_and(|last| {
            now.as_millis().saturating_sub(last.as_millis()) < REFUSAL_LOG_INTERVAL_MS
        });
        if quiet {
            self.security.refusals_not_logged = self.security.refusals_not_logged.saturating_add(1);
        } else {
            self.security.last_logged = Some(now);
            self.log
                .push(now, EventKind::WriteRefused { of, key_id, reason });
        }
    }

    fn handle(
        &mut self,
        now: Instant,
        link: &mut Link,
        frame: &Frame,
        send: &mut dyn FnMut(&[u8]),
    ) {
        let message = &frame.message;
        let kind = message.kind();
        let version = frame.version;
        link.version = version;
        let refuse = |reason: Refusal| {
            Message::Refused(Refused {
                of: kind,
                reason: for_version(reason, version),
            })
        };
        let mut key_id = None;
        if let Some(needed) = self.needs(kind) {
            match self.keys.authorize(frame.auth.as_ref(), needed) {
                Ok(id) => key_id = Some(id),
                Err(reason) => {
                    let named = frame.auth.as_ref().map_or(0, |a| a.key_id);
                    self.refused_auth(now, kind, named, reason);
                    emit::<A>(
                        version,
                        frame.seq,
                        &refuse(Refusal::Unauthorized(reason)),
                        send,
                    );
                    return;
                }
            }
        }
        let ack = Message::Ack(Ack { of: kind });
        // What the request did, for the log after its `WriteAccepted`.
        let mut effects: heapless::Vec<EventKind, 2> = heapless::Vec::new();
        let reply = match *message {
            Message::GetIdentity(_) => Message::Identity(Identity {
                device_kind: self.app.kind(),
                firmware_version: self.config.firmware,
                protocol_version: PROTOCOL_VERSION,
                serial_number: heapless::String::try_from(self.config.serial).unwrap_or_default(),
                uptime_ms: now.as_millis(),
            }),
            Message::GetTelemetry(_) => self.app.telemetry(now),
            Message::Subscribe(s) => {
                if s.period_ms == 0 {
                    link.subscription = None;
                    ack
                } else if (MIN_TELEMETRY_PERIOD_MS..=MAX_TELEMETRY_PERIOD_MS).contains(&s.period_ms)
                {
                    link.subscription = Some((s.period_ms, now));
                    ack
                } else {
                    #[allow(clippy::cast_possible_wrap)] // both fit i32
                    refuse(Refusal::OutOfRange {
                        min: MIN_TELEMETRY_PERIOD_MS as i32,
                        max: MAX_TELEMETRY_PERIOD_MS as i32,
                    })
                }
            }
            Message::Heartbeat(_) => Message::Heartbeat(Heartbeat {
                uptime_ms: now.as_millis(),
            }),
            Message::GetSetpoint(g) => self
                .app
                .get_setpoint(g.id)
                .map_or_else(refuse, Message::Setpoint),
            Message::SetSetpoint(s) => match self.app.set_setpoint(now, s.id, s.value) {
                Ok(setpoint) => {
                    let _ = effects.push(EventKind::SetpointChanged {
                        id: s.id,
                        value: setpoint.value,
                    });
                    if let Some((id, value)) = self.app.follow_on() {
                        let _ = effects.push(EventKind::SetpointChanged { id, value });
                    }
                    Message::Setpoint(setpoint)
                }
                Err(reason) => refuse(reason),
            },
            Message::SetMode(m) => match self.app.set_mode(now, m.mode) {
                Ok(()) => {
                    let _ = effects.push(EventKind::ModeChanged(m.mode));
                    ack
                }
                Err(reason) => refuse(reason),
            },
            Message::GetAlarms(_) => self.alarm_list(version),
            Message::AckAlarm(a) => {
                let listed = if a.code == AlarmCode::CommsLost && a.instance == 0 {
                    NodeAlarm::acknowledge(&mut self.comms_alarm)
                } else if a.code == AlarmCode::SettingsLost
                    && self
                        .settings_alarm
                        .is_some_and(|s| s.instance == a.instance)
                {
                    NodeAlarm::acknowledge(&mut self.settings_alarm)
                } else {
                    self.app.acknowledge(a.code, a.instance)
                };
                if listed {
                    let _ = effects.push(EventKind::AlarmAcknowledged {
                        code: a.code,
                        instance: a.instance,
                    });
                    ack
                } else {
                    refuse(Refusal::NoSuchAlarm)
                }
            }
            Message::AckAllAlarms(_) => {
                self.app.acknowledge_all();
                self.acknowledge_own();
                ack
            }
            Message::GetEvents(g) => self.events_from(g.from_seq, version),
            Message::Command(c) => match self.app.command(now, c.action) {
                Ok(()) => {
                    if c.action == Action::ClearLatched {
                        self.acknowledge_own();
                    }
                    ack
                }
                Err(reason) => refuse(reason),
            },
            Message::GetCounters(_) => Message::Counters(self.counters()),
            Message::GetDiagnostics(_) => Message::Diagnostics(self.diagnostics.clone()),
            Message::SetKey(k) => match self.keys.install(k.key_id, k.role, k.secret) {
                Ok(()) => {
                    let _ = effects.push(EventKind::KeyChanged {
                        key_id: k.key_id,
                        role: Some(k.role),
                    });
                    ack
                }
                Err(KeyError::ReservedId) => refuse(Refusal::OutOfRange {
                    min: 1,
                    max: i32::from(u16::MAX),
                }),
                Err(_) => refuse(Refusal::NotPermitted),
            },
            Message::RevokeKey(k) => match self.keys.revoke(k.key_id) {
                Ok(()) => {
                    let _ = effects.push(EventKind::KeyChanged {
                        key_id: k.key_id,
                        role: None,
                    });
                    ack
                }
                Err(KeyError::NoSuchKey) => refuse(Refusal::Unauthorized(AuthRefusal::UnknownKey)),
                Err(_) => refuse(Refusal::NotPermitted),
            },
            #[cfg(feature = "update")]
            Message::GetFirmwareStatus(_) => match self.firmware.0.as_deref_mut() {
                Some(f) => Message::FirmwareStatus(f.status()),
                None => refuse(Refusal::NotSupported),
            },
            #[cfg(feature = "update")]
            Message::FirmwareBegin(ref b) => match self.firmware.0.as_deref_mut() {
                Some(f) => f
                    .begin(&b.header)
                    .map_or_else(refuse, Message::FirmwareProgress),
                None => refuse(Refusal::NotSupported),
            },
            #[cfg(feature = "update")]
            Message::FirmwareChunk(ref c) => match self.firmware.0.as_deref_mut() {
                Some(f) => match (f.status().slot, f.chunk(c.offset, &c.data)) {
                    (before, Ok(p)) => {
                        if !matches!(before, UpdateSlotState::Verified { .. })
                            && let UpdateSlotState::Verified { version } = f.status().slot
                        {
                            let _ = effects.push(EventKind::Firmware {
                                step: FirmwareStep::Verified,
                                version,
                            });
                        }
                        Message::FirmwareProgress(p)
                    }
                    (_, Err(reason)) => refuse(reason),
                },
                None => refuse(Refusal::NotSupported),
            },
            #[cfg(feature = "update")]
            Message::FirmwareSwap(_) => match self.firmware.0.as_deref_mut() {
                Some(f) => match f.swap() {
                    Ok(version) => {
                        let _ = effects.push(EventKind::Firmware {
                            step: FirmwareStep::Swapping,
                            version,
                        });
                        ack
                    }
                    Err(reason) => refuse(reason),
                },
                None => refuse(Refusal::NotSupported),
            },
            // Messages a host does not send to a device.
            _ => refuse(Refusal::NotSupported),
        };
        if let Some(key_id) = key_id
            && kind.needs_role().is_some()
            && !matches!(reply, Message::Refused(_))
        {
            self.security.writes_accepted = self.security.writes_accepted.saturating_add(1);
            // What it changed, and the key's counter, are kept.
            self.saves.changed();
            self.log
                .push(now, EventKind::WriteAccepted { of: kind, key_id });
        }
        for effect in effects {
            self.log.push(now, effect);
        }
        emit::<A>(version, frame.seq, &reply, send);
    }

    /// The application's alarms and the node's own (comms lost, settings lost), as a peer
    /// speaking `version` can read them (it is not told of codes it cannot decode).
    fn alarm_list(&self, version: u8) -> Message {
        let mut entries = heapless::Vec::new();
        let mut total = self.app.alarms(&mut entries);
        for alarm in [self.comms_alarm, self.settings_alarm]
            .into_iter()
            .flatten()
        {
            if alarm.code.first_version() <= version {
                total = total.saturating_add(1);
                let _ = entries.push(alarm.entry());
            }
        }
        Message::Alarms(Alarms { entries, total })
    }

    fn events_from(&self, from_seq: u32, version: u8) -> Message {
        let mut events: heapless::Vec<Event, MAX_EVENTS_PER_MESSAGE> = heapless::Vec::new();
        let info = self
            .log
            .read_from(from_seq, MAX_EVENTS_PER_MESSAGE, |record| {
                // A reader cannot decode the events of later versions than its own: it
                // skips them.
                if event_version(record.event) <= version {
                    let _ = events.push(Event {
                        seq: record.seq,
                        at_ms: record.at.as_millis(),
                        kind: record.event,
                    });
                }
            });
        Message::Events(Events {
            events,
            next_seq: info.next_seq,
            more: info.more,
            lost: info.lost,
            overwritten_total: self.log.overwritten(),
        })
    }
}

/// The first protocol version that has this event.
fn event_version(kind: EventKind) -> u8 {
    match kind {
        EventKind::WriteAccepted { .. }
        | EventKind::WriteRefused { .. }
        | EventKind::KeyChanged { .. } => 2,
        EventKind::Reset { .. } => 3,
        #[cfg(feature = "update")]
        EventKind::Firmware { .. } => 4,
        EventKind::AlarmRaised { code, .. }
        | EventKind::AlarmCleared { code, .. }
        | EventKind::AlarmAcknowledged { code, .. } => code.first_version(),
        _ => 1,
    }
}

/// A refusal as a peer speaking `version` can read it: version 1 has no authentication
/// refusals, no "no such alarm" and no "wrong device", so it hears their nearest words.
fn for_version(reason: Refusal, version: u8) -> Refusal {
    if version >= 4 {
        return reason;
    }
    #[cfg(feature = "update")]
    if let Refusal::Image(_) | Refusal::Update(_) = reason {
        return Refusal::NotPermitted;
    }
    if version >= 2 {
        return reason;
    }
    match reason {
        Refusal::Unauthorized(_) | Refusal::NoSuchAlarm => Refusal::NotPermitted,
        Refusal::WrongDevice { .. } => Refusal::NotSupported,
        other => other,
    }
}

/// A controller's alarm table as protocol entries, critical first; returns how many it holds.
pub(crate) fn alarm_entries<C: Copy + PartialEq, const N: usize>(
    table: &rack_control::alarm::AlarmTable<C, N>,
    code: impl Fn(C) -> AlarmCode,
    out: &mut heapless::Vec<AlarmEntry, { rack_protocol::message::MAX_ALARMS_PER_MESSAGE }>,
) -> u8 {
    for critical in [true, false] {
        for a in table.iter().filter(|a| a.critical == critical) {
            let _ = out.push(AlarmEntry {
                code: code(a.code),
                instance: a.instance,
                severity: if a.critical {
                    Severity::Critical
                } else {
                    Severity::Warning
                },
                active: a.active,
                latched: true,
                acknowledged: a.acknowledged,
                raised_at_ms: a.raised_at.as_millis(),
            });
        }
    }
    u8::try_from(table.iter().count()).unwrap_or(u8::MAX)
}

/// Encodes `message` in protocol `version`, as an `A` device sends it, and hands the frame to
/// `send`.
fn emit<A: Application>(version: u8, seq: u16, message: &Message, send: &mut dyn FnMut(&[u8])) {
    let mut wire = [0u8; MAX_WIRE_FRAME_SIZE];
    if let Ok(len) = frame::encode_version_sent_by(version, seq, message, &mut wire, A::sends)
        && let Some(bytes) = wire.get(..len)
    {
        send(bytes);
    }
}

/// Scales a physical value to a protocol integer, saturating.
pub(crate) fn scaled(value: f32, per_unit: f32) -> i32 {
    let v = libm::roundf(value * per_unit);
    if v.is_nan() {
        0
    } else {
        #[allow(clippy::cast_possible_truncation)] // clamped into range first
        let out = v.clamp(i32::MIN as f32, i32::MAX as f32) as i32;
        out
    }
}

#[cfg(test)]
mod tests;
