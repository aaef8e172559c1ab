//! A protocol client against the device nodes: frames built (writes signed with a key the
//! device holds) and decoded by `rack-protocol` as a host tool builds them, fed to the coolant and power nodes as bytes on a
//! link, every request kind a device receives answered with the kind the protocol promises and
//! the request's sequence number; a request in pieces across reads, and garbage between frames,
//! change nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use rack_control::Instant;
use rack_control::coolant::{CoolantConfig, CoolantController, CoolantInputs};
use rack_control::power::{PowerConfig, PowerController};
use rack_node::coolant::CoolantApp;
use rack_node::power::PowerApp;
use rack_node::{Application, Node, NodeConfig};
use rack_protocol::auth::Key;
use rack_protocol::decoder::FrameDecoder;
use rack_protocol::frame::{self, MAX_WIRE_FRAME_SIZE};
use rack_protocol::message::{
    AckAllAlarms, Command, FirmwareBegin, FirmwareChunk, FirmwareSwap, GetAlarms, GetCounters,
    GetEvents, GetFirmwareStatus, GetIdentity, GetSetpoint, GetTelemetry, Heartbeat, RevokeKey,
    SetKey, SetSetpoint, Subscribe,
};
use rack_protocol::types::{Action, DeviceKind, KeyRole, SetpointId};

/// The key the client signs writes with; [`keyed`] installs it in a node.
fn key() -> Key {
    Key {
        id: 3,
        secret: [0x33; 32],
    }
}

/// `node` holding the client's key as a maintenance key.
fn keyed<A: Application>(mut node: Node<A>) -> Node<A> {
    node.keys_mut()
        .install(key().id, KeyRole::Maintenance, key().secret)
        .unwrap();
    node
}
use rack_protocol::{Message, MessageKind};

/// A host-side client: sequence numbers, framing, and a decoder for the answers.
struct Client {
    seq: u16,
    counter: u64,
    decoder: FrameDecoder,
}

impl Client {
    fn new() -> Self {
        Self {
            seq: 0,
            counter: 0,
            decoder: FrameDecoder::new(),
        }
    }

    /// Sends `m` to `node` in chunks of `chunk` bytes and returns the answers with our seq.
    fn ask<A: Application>(
        &mut self,
        node: &mut Node<A>,
        now: u64,
        m: &Message,
        chunk: usize,
    ) -> Vec<Message> {
        self.seq = self.seq.wrapping_add(1);
        let mut wire = [0u8; MAX_WIRE_FRAME_SIZE];
        let len = if m.kind().needs_role().is_some() {
            self.counter += 1;
            frame::encode_signed(self.seq, m, &key(), self.counter, &mut wire)
        } else {
            frame::encode(self.seq, m, &mut wire)
        }
        .unwrap();
        let mut out = Vec::new();
        for piece in wire[..len].chunks(chunk) {
            node.on_bytes(Instant(now), piece, &mut |b| out.extend_from_slice(b));
        }
        self.decoder
            .feed(&out)
            .map(|f| f.expect("the device's frames decode"))
            .filter(|f| f.seq == self.seq)
            .map(|f| f.message)
            .collect()
    }
}

/// Every request kind a device receives, with the kind of answer the protocol promises.
fn requests(kind: DeviceKind) -> Vec<(Message, MessageKind)> {
    let telemetry = match kind {
        DeviceKind::PowerController => MessageKind::PowerTelemetry,
        _ => MessageKind::CoolantTelemetry,
    };
    let (setpoint, action) = match kind {
        DeviceKind::PowerController => (SetpointId::RackPowerBudgetW, Action::EnableTray(0)),
        _ => (SetpointId::SupplyTempCentiC, Action::ClearLatched),
    };
    vec![
        (Message::GetIdentity(GetIdentity), MessageKind::Identity),
        (Message::GetTelemetry(GetTelemetry), telemetry),
        (
            Message::GetSetpoint(GetSetpoint { id: setpoint }),
            MessageKind::Setpoint,
        ),
        (Message::GetAlarms(GetAlarms), MessageKind::Alarms),
        (Message::AckAllAlarms(AckAllAlarms), MessageKind::Ack),
        (
            Message::GetEvents(GetEvents { from_seq: 1 }),
            MessageKind::Events,
        ),
        (
            Message::Heartbeat(Heartbeat { uptime_ms: 5 }),
            MessageKind::Heartbeat,
        ),
        (
            Message::Subscribe(Subscribe { period_ms: 0 }),
            MessageKind::Ack,
        ),
        (
            // A setting out of range: refused, with the range.
            Message::SetSetpoint(SetSetpoint {
                id: setpoint,
                value: i32::MAX,
            }),
            MessageKind::Refused,
        ),
        (Message::Command(Command { action }), MessageKind::Ack),
        (Message::GetCounters(GetCounters), MessageKind::Counters),
        (
            Message::GetDiagnostics(rack_protocol::message::GetDiagnostics),
            MessageKind::Diagnostics,
        ),
        (
            Message::SetKey(SetKey {
                key_id: 9,
                role: KeyRole::Operator,
                secret: [9; 32],
            }),
            MessageKind::Ack,
        ),
        (
            // No such key: refused (and so the same answer each of the three times).
            Message::RevokeKey(RevokeKey { key_id: 99 }),
            MessageKind::Refused,
        ),
        // A node with no update path (these have none; the boards' are tested in
        // firmware_update.rs): each update request refused as not supported.
        (
            Message::GetFirmwareStatus(GetFirmwareStatus),
            MessageKind::Refused,
        ),
        (
            Message::FirmwareBegin(FirmwareBegin {
                header: [0u8; 128].into_iter().collect(),
            }),
            MessageKind::Refused,
        ),
        (
            Message::FirmwareChunk(FirmwareChunk {
                offset: 0,
                data: [1u8, 2, 3].into_iter().collect(),
            }),
            MessageKind::Refused,
        ),
        (Message::FirmwareSwap(FirmwareSwap), MessageKind::Refused),
    ]
}

fn exercise<A: Application>(
    node: &mut Node<A>,
    kind: DeviceKind,
    step: &mut dyn FnMut(&mut Node<A>, u64),
) {
    let mut client = Client::new();
    let mut now = 0;
    let answered: std::collections::BTreeSet<MessageKind> =
        requests(kind).into_iter().map(|(m, _)| m.kind()).collect();
    for (i, (request, expected)) in requests(kind).into_iter().enumerate() {
        now += 100;
        step(node, now);
        // Whole, then byte by byte, then with garbage before it: the same answer.
        for chunk in [usize::MAX, 1, 7] {
            if chunk == 7 {
                node.on_bytes(Instant(now), &[0x55, 0x13, 0x00], &mut |_| {});
            }
            let answers = client.ask(node, now, &request, chunk.min(MAX_WIRE_FRAME_SIZE));
            assert_eq!(
                answers.len(),
                1,
                "{kind:?} request {i} {request:?}: {answers:?}"
            );
            assert_eq!(
                answers[0].kind(),
                expected,
                "{kind:?} request {request:?} answered {:?}",
                answers[0]
            );
            if let Message::Identity(id) = &answers[0] {
                assert_eq!(id.device_kind, kind);
                assert_eq!(id.protocol_version, rack_protocol::PROTOCOL_VERSION);
            }
        }
    }
    // The client covered every kind a device receives, but those of other roles (row bus,
    // plant I/O, which arrive on other links) and modes (tested in the nodes' own tests).
    for k in MessageKind::ALL.iter().filter(|k| k.device_receives()) {
        let elsewhere = matches!(
            k,
            MessageKind::RackPowerReport
                | MessageKind::ThermalHeadroom
                | MessageKind::IsolationRequest
                | MessageKind::PlantSample
                | MessageKind::SetMode
                | MessageKind::AckAlarm
        );
        assert!(
            answered.contains(k) || elsewhere,
            "no request of kind {k:?}"
        );
    }
}

#[test]
fn a_client_gets_every_answer_from_the_coolant_node() {
    let mut node = keyed(Node::new(
        CoolantApp::new(CoolantController::new(CoolantConfig::default())),
        NodeConfig {
            serial: "CDU-E2E-1",
            ..NodeConfig::default()
        },
        Instant(0),
    ));
    exercise(&mut node, DeviceKind::CoolantController, &mut |n, now| {
        let inputs = CoolantInputs::uniform(Instant(now), 30.0);
        n.step(Instant(now), |app| app.step(Instant(now), &inputs));
    });
}

#[test]
fn a_client_gets_every_answer_from_the_power_node() {
    let mut node = keyed(Node::new(
        PowerApp::new(PowerController::running(PowerConfig::default())),
        NodeConfig {
            serial: "RACK-E2E-1",
            ..NodeConfig::default()
        },
        Instant(0),
    ));
    exercise(&mut node, DeviceKind::PowerController, &mut |_, _| {});
}
