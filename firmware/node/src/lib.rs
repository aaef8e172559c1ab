//! # rack-node
//!
//! A controller as an application, without I/O, so that the boards and the simulator run the
//! same code: bytes from the host link go in through [`Node::on_bytes`], frames to send come
//! out through a sink the caller gives; the control step runs through [`Node::step`]; time is
//! always passed in.
//!
//! The node owns:
//! - the **protocol endpoint**: a streaming frame decoder (rejections counted), dispatch of
//!   every request of protocol version 1, answers with the request's sequence number, typed
//!   refusals (out of range with the range, wrong mode, not supported, no such instance);
//! - **telemetry subscription** at a chosen period (100 ms ..= 60 s);
//! - an **event log** ring of protocol events with sequence numbers: a host that reconnects
//!   reads exactly what it missed, and overwritten events are counted and reported;
//! - **comms-loss handling**: when the host has been silent longer than `comms_timeout_ms`
//!   the node says so (an event and `comms_lost()`), and the controller keeps running on its
//!   last valid settings;
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
pub mod field_io;
pub mod plant_io;
pub mod power;
pub mod rack_bus;
pub mod row_bus;

use rack_control::Instant;
use rack_control::events::EventLog;
use rack_protocol::PROTOCOL_VERSION;
use rack_protocol::decoder::FrameDecoder;
use rack_protocol::frame::{self, MAX_WIRE_FRAME_SIZE};
use rack_protocol::message::{
    Ack, Alarms, Events, Heartbeat, Identity, MAX_EVENTS_PER_MESSAGE, Message, Refused, Setpoint,
};
use rack_protocol::types::{
    Action, AlarmCode, AlarmEntry, DeviceKind, Event, EventKind, FirmwareVersion, ModeSetting,
    Refusal, SetpointId, Severity,
};

/// Events the node's protocol log holds.
pub const EVENT_LOG_LEN: usize = 128;
/// Fastest telemetry subscription, ms.
pub const MIN_TELEMETRY_PERIOD_MS: u32 = 100;
/// Slowest telemetry subscription, ms.
pub const MAX_TELEMETRY_PERIOD_MS: u32 = 60_000;

/// The device-specific part of a node.
pub trait Application {
    /// Which device this is.
    fn kind(&self) -> DeviceKind;
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
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            serial: "RACKLOOP-0000",
            firmware: FirmwareVersion {
                major: 0,
                minor: 1,
                patch: 0,
            },
            comms_timeout_ms: 10_000,
            control_period_ms: u64::from(rack_control::CONTROL_PERIOD_MS),
        }
    }
}

/// A node: an application behind the protocol endpoint.
#[derive(Debug)]
pub struct Node<A> {
    /// The device-specific part.
    pub app: A,
    config: NodeConfig,
    decoder: FrameDecoder,
    tx_seq: u16,
    subscription: Option<(u32, Instant)>,
    last_host_frame: Option<Instant>,
    comms_lost: bool,
    last_step: Option<Instant>,
    log: EventLog<EventKind, EVENT_LOG_LEN>,
}

impl<A: Application> Node<A> {
    /// A node around `app`; its log starts with a boot event.
    pub fn new(app: A, config: NodeConfig, now: Instant) -> Self {
        let mut log = EventLog::new();
        log.push(now, EventKind::Boot);
        Self {
            app,
            config,
            decoder: FrameDecoder::new(),
            tx_seq: 0,
            subscription: None,
            last_host_frame: None,
            comms_lost: false,
            last_step: None,
            log,
        }
    }

    /// Runs `control` (the controller's step) and collects its events.
    pub fn step<R>(&mut self, now: Instant, control: impl FnOnce(&mut A) -> R) -> R {
        let result = control(&mut self.app);
        self.last_step = Some(now);
        let log = &mut self.log;
        self.app.drain_events(&mut |at, kind| {
            log.push(at, kind);
        });
        result
    }

    /// Bytes from the host link: every complete frame is answered through `send`; rejected
    /// frames are counted by the decoder ([`Node::rejects`]).
    pub fn on_bytes(&mut self, now: Instant, bytes: &[u8], send: &mut dyn FnMut(&[u8])) {
        for &byte in bytes {
            if let Some(Ok(request)) = self.decoder.push(byte) {
                self.last_host_frame = Some(now);
                self.comms_lost = false;
                self.handle(now, request.seq, &request.message, send);
            }
        }
    }

    /// Periodic duties at `now`: telemetry when due, comms-loss detection.
    pub fn poll(&mut self, now: Instant, send: &mut dyn FnMut(&[u8])) {
        if let Some((period_ms, due)) = self.subscription
            && now >= due
        {
            let next = due.plus_millis(u64::from(period_ms)).max(now);
            self.subscription = Some((period_ms, next));
            let seq = self.next_seq();
            let telemetry = self.app.telemetry(now);
            emit(seq, &telemetry, send);
        }
        if let Some(last) = self.last_host_frame
            && !self.comms_lost
            && now.as_millis().saturating_sub(last.as_millis()) > self.config.comms_timeout_ms
        {
            self.comms_lost = true;
            // The controller keeps its last valid settings; a subscription stops with the link.
            self.subscription = None;
            self.log.push(
                now,
                EventKind::AlarmRaised {
                    code: AlarmCode::CommsLost,
                    instance: 0,
                },
            );
        }
    }

    /// Whether the host link is lost.
    pub fn comms_lost(&self) -> bool {
        self.comms_lost
    }

    /// Whether the watchdog may be fed: the control step ran within two periods.
    pub fn healthy(&self, now: Instant) -> bool {
        self.last_step.is_some_and(|last| {
            now.as_millis().saturating_sub(last.as_millis()) <= 2 * self.config.control_period_ms
        })
    }

    /// Frames rejected by the decoder, per reason.
    pub fn rejects(&self) -> rack_protocol::RejectCounters {
        self.decoder.rejects()
    }

    /// The protocol event log.
    pub fn log(&self) -> &EventLog<EventKind, EVENT_LOG_LEN> {
        &self.log
    }

    fn next_seq(&mut self) -> u16 {
        self.tx_seq = self.tx_seq.wrapping_add(1);
        self.tx_seq
    }

    fn handle(&mut self, now: Instant, seq: u16, message: &Message, send: &mut dyn FnMut(&[u8])) {
        let kind = message.kind();
        let refuse = |reason| Message::Refused(Refused { of: kind, reason });
        let ack = Message::Ack(Ack { of: kind });
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
                    self.subscription = None;
                    ack
                } else if (MIN_TELEMETRY_PERIOD_MS..=MAX_TELEMETRY_PERIOD_MS).contains(&s.period_ms)
                {
                    self.subscription = Some((s.period_ms, now));
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
                    self.log.push(
                        now,
                        EventKind::SetpointChanged {
                            id: s.id,
                            value: setpoint.value,
                        },
                    );
                    Message::Setpoint(setpoint)
                }
                Err(reason) => refuse(reason),
            },
            Message::SetMode(m) => match self.app.set_mode(now, m.mode) {
                Ok(()) => {
                    self.log.push(now, EventKind::ModeChanged(m.mode));
                    ack
                }
                Err(reason) => refuse(reason),
            },
            Message::GetAlarms(_) => {
                let mut entries = heapless::Vec::new();
                let total = self.app.alarms(&mut entries);
                Message::Alarms(Alarms { entries, total })
            }
            Message::AckAlarm(a) => {
                if self.app.acknowledge(a.code, a.instance) {
                    self.log.push(
                        now,
                        EventKind::AlarmAcknowledged {
                            code: a.code,
                            instance: a.instance,
                        },
                    );
                    ack
                } else {
                    refuse(Refusal::NotPermitted)
                }
            }
            Message::AckAllAlarms(_) => {
                self.app.acknowledge_all();
                ack
            }
            Message::GetEvents(g) => self.events_from(g.from_seq),
            Message::Command(c) => self
                .app
                .command(now, c.action)
                .map_or_else(refuse, |()| ack),
            // Messages a host does not send to a device.
            _ => refuse(Refusal::NotSupported),
        };
        emit(seq, &reply, send);
    }

    fn events_from(&self, from_seq: u32) -> Message {
        let mut events: heapless::Vec<Event, MAX_EVENTS_PER_MESSAGE> = heapless::Vec::new();
        let info = self
            .log
            .read_from(from_seq, MAX_EVENTS_PER_MESSAGE, |record| {
                let _ = events.push(Event {
                    seq: record.seq,
                    at_ms: record.at.as_millis(),
                    kind: record.event,
                });
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

/// Encodes `message` and hands the frame to `send`.
fn emit(seq: u16, message: &Message, send: &mut dyn FnMut(&[u8])) {
    let mut wire = [0u8; MAX_WIRE_FRAME_SIZE];
    if let Ok(len) = frame::encode(seq, message, &mut wire)
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
