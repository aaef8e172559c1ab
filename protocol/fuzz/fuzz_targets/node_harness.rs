//! What the node fuzz targets share: the input read as a script of link events, and the
//! invariants checked after it.
//!
//! Script (one op byte, then its operands; a short input simply ends the script):
//! - `0..=3` raw bytes: a length byte, then that many bytes onto the host link;
//! - `4..=5` a frame signed with the device's real maintenance key: a kind byte, a length byte,
//!   then the body (any bytes: postcard decides whether it is a message);
//! - `6` one control step (100 ms later);
//! - `7` the same as 4, signed with a wrong secret under the real key's id.
//!
//! Invariants: no panic; the device never counts more accepted writes than it was sent
//! validly signed write frames, and logs `WriteAccepted` only for the real key; every setpoint
//! it reads back lies within the range it states.

use rack_control::Instant;
use rack_node::{Application, Node, NodeConfig};
use rack_protocol::auth::{self, SECRET_SIZE, SIGNED_FLAG};
use rack_protocol::frame::{CRC, MAX_WIRE_FRAME_SIZE};
use rack_protocol::types::{EventKind, KeyRole, SetpointId};
use rack_protocol::MessageKind;

/// The device's maintenance key.
pub const KEY_ID: u16 = 1;
/// Its secret.
pub const SECRET: [u8; SECRET_SIZE] = [0x5a; SECRET_SIZE];

/// A node around `app`, holding the maintenance key.
pub fn node<A: Application>(app: A) -> Node<A> {
    let mut n = Node::new(app, NodeConfig::default(), Instant(0));
    n.keys_mut()
        .install(KEY_ID, KeyRole::Maintenance, SECRET)
        .expect("room for one key");
    n
}

/// A signed version-2 frame from a raw kind byte and body.
fn signed_frame(kind: u8, body: &[u8], secret: &[u8; SECRET_SIZE], counter: u64, seq: u16) -> Vec<u8> {
    let mut raw = vec![2, kind | SIGNED_FLAG];
    raw.extend_from_slice(&seq.to_le_bytes());
    raw.extend_from_slice(body);
    raw.extend_from_slice(&KEY_ID.to_le_bytes());
    raw.extend_from_slice(&counter.to_le_bytes());
    let tag = auth::mac(secret, &raw);
    raw.extend_from_slice(&tag);
    let crc = CRC.checksum(&raw).to_le_bytes();
    raw.extend_from_slice(&crc);
    let mut wire = vec![0u8; MAX_WIRE_FRAME_SIZE.max(raw.len() + raw.len() / 254 + 2)];
    let n = cobs::encode(&raw, &mut wire);
    wire.truncate(n);
    wire.push(0);
    wire
}

/// Runs the script `data` against `node`, stepping it with `step`, and checks the invariants.
pub fn run<A: Application>(
    mut node: Node<A>,
    data: &[u8],
    mut step: impl FnMut(&mut Node<A>, Instant),
) {
    let mut now = 0u64;
    let mut counter = 0u64;
    let mut valid_writes = 0u32;
    let mut bytes = data.iter().copied();
    let mut sink = |_: &[u8]| {};
    while let Some(op) = bytes.next() {
        match op % 8 {
            0..=3 => {
                let len = usize::from(bytes.next().unwrap_or(0));
                let chunk: Vec<u8> = bytes.by_ref().take(len).collect();
                node.on_bytes(Instant(now), &chunk, &mut sink);
            }
            code @ (4 | 5 | 7) => {
                let kind = bytes.next().unwrap_or(0) % 0x80;
                let len = usize::from(bytes.next().unwrap_or(0)) % 72;
                let body: Vec<u8> = bytes.by_ref().take(len).collect();
                counter += 1;
                let genuine = code != 7;
                let secret = if genuine { SECRET } else { [0xa5; SECRET_SIZE] };
                if genuine
                    && MessageKind::from_u8(kind).is_some_and(|k| k.needs_role().is_some())
                {
                    valid_writes += 1;
                }
                let frame = signed_frame(kind, &body, &secret, counter, counter as u16);
                node.on_bytes(Instant(now), &frame, &mut sink);
            }
            _ => {
                now += 100;
                step(&mut node, Instant(now));
            }
        }
        node.poll(Instant(now), &mut sink);
    }
    let counters = node.counters();
    assert!(
        counters.writes_accepted <= valid_writes,
        "{} writes accepted, {valid_writes} validly signed",
        counters.writes_accepted
    );
    for record in node.log().iter() {
        if let EventKind::WriteAccepted { key_id, .. } = record.event {
            assert_eq!(key_id, KEY_ID, "a write accepted under a key the device does not hold");
        }
    }
    for id in [
        SetpointId::SupplyTempCentiC,
        SetpointId::DifferentialPressureDeciKpa,
        SetpointId::FlowDeciLpm,
        SetpointId::LeadRotationIntervalS,
        SetpointId::LeakReactionDelayS,
        SetpointId::RackPowerBudgetW,
        SetpointId::RampLimitWPerS,
        SetpointId::PowerFloorW,
        SetpointId::RideThroughS,
    ] {
        if let Ok(s) = node.app.get_setpoint(id) {
            assert!(s.min <= s.value && s.value <= s.max, "{id:?} out of its range: {s:?}");
        }
    }
}
