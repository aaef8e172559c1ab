//! Signed requests: what the trailer proves and what it does not.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use rack_protocol::auth::Key;
use rack_protocol::frame::{self, CRC, CRC_SIZE, MAX_WIRE_FRAME_SIZE};
use rack_protocol::message::{Command, SetSetpoint};
use rack_protocol::types::{Action, SetpointId};
use rack_protocol::{Message, PROTOCOL_VERSION};

fn key(id: u16, fill: u8) -> Key {
    Key {
        id,
        secret: [fill; 32],
    }
}

fn signed(message: &Message, key: &Key, counter: u64) -> Vec<u8> {
    let mut wire = [0u8; MAX_WIRE_FRAME_SIZE];
    let n = frame::encode_signed(3, message, key, counter, &mut wire).unwrap();
    wire[..n].to_vec()
}

fn setpoint() -> Message {
    Message::SetSetpoint(SetSetpoint {
        id: SetpointId::SupplyTempCentiC,
        value: 3_100,
    })
}

#[test]
fn a_signed_frame_names_its_key_and_counter_and_verifies_only_under_its_secret() {
    let k = key(9, 0x42);
    let wire = signed(&setpoint(), &k, 77);
    let f = frame::decode(&wire).unwrap();
    assert_eq!(f.version, PROTOCOL_VERSION);
    assert_eq!(f.message, setpoint());
    let auth = f.auth.unwrap();
    assert_eq!((auth.key_id, auth.counter), (9, 77));
    assert!(auth.verify(&k.secret));
    assert!(!auth.verify(&key(9, 0x43).secret));
}

/// Re-frames a raw frame with `edit` applied and a fresh CRC, as an attacker on the link could.
fn tampered(wire: &[u8], edit: impl Fn(&mut Vec<u8>)) -> Vec<u8> {
    let mut raw = vec![0u8; wire.len()];
    let n = cobs::decode(&wire[..wire.len() - 1], &mut raw).unwrap();
    raw.truncate(n.frame_size() - CRC_SIZE);
    edit(&mut raw);
    raw.extend_from_slice(&CRC.checksum(&raw).to_le_bytes());
    let mut out = vec![0u8; raw.len() + raw.len() / 254 + 2];
    let m = cobs::encode(&raw, &mut out);
    out.truncate(m);
    out.push(0);
    out
}

#[test]
fn changing_any_covered_byte_breaks_the_mac_even_with_a_good_crc() {
    let k = key(1, 7);
    let wire = signed(&setpoint(), &k, 1_000);
    let covered = {
        let mut raw = vec![0u8; wire.len()];
        cobs::decode(&wire[..wire.len() - 1], &mut raw)
            .unwrap()
            .frame_size()
            - CRC_SIZE
    };
    for at in 0..covered {
        for bit in 0..8 {
            let bad = tampered(&wire, |raw| raw[at] ^= 1 << bit);
            // The frame may no longer decode at all (header, body); if it does, the MAC fails.
            if let Ok(f) = frame::decode(&bad)
                && let Some(auth) = f.auth
            {
                assert!(
                    !auth.verify(&k.secret),
                    "byte {at} bit {bit}: a changed frame verified ({:?})",
                    f.message
                );
            }
        }
    }
}

#[test]
fn an_unsigned_write_has_no_trailer_and_a_long_body_cannot_be_signed() {
    let mut wire = [0u8; MAX_WIRE_FRAME_SIZE];
    let command = Message::Command(Command {
        action: Action::RotateLead,
    });
    let n = frame::encode(1, &command, &mut wire).unwrap();
    assert_eq!(frame::decode(&wire[..n]).unwrap().auth, None);
    let big = Message::PlantSample(rack_protocol::message::PlantSample {
        sim_time_us: 0,
        analog: heapless::Vec::from_slice(&[1.0; 40]).unwrap(),
        digital: 0,
    });
    assert_eq!(
        frame::encode_signed(1, &big, &key(1, 1), 1, &mut wire),
        Err(frame::EncodeError::TooLongToSign)
    );
}
