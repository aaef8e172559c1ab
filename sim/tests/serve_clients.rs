//! `racksim serve`'s clients, each on its own: a half frame from one never mixes with
//! another's bytes, one client's subscription is its own, writes need the right key over TCP,
//! and the client cap and idle timeout hold.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod live_row;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use rack_protocol::auth::Key;
use rack_protocol::decoder::FrameDecoder;
use rack_protocol::frame::{self, MAX_WIRE_FRAME_SIZE};
use rack_protocol::message::{GetIdentity, GetTelemetry, Message, SetSetpoint, Subscribe};
use rack_protocol::types::{AuthRefusal, KeyRole, Refusal, SetpointId};
use rack_sim::run::serve::{ServeLimits, ServeOptions};

use live_row::LiveRow;

fn operator() -> Key {
    Key {
        id: 2,
        secret: [0x22; 32],
    }
}

/// The live row with the operator key and `limits`, served at 5x real time.
fn start(limits: ServeLimits) -> LiveRow {
    LiveRow::start(
        5.0,
        ServeOptions {
            keys: vec![(operator(), KeyRole::Operator)],
            limits,
        },
    )
}

fn connect(row: &LiveRow) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", row.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    s
}

fn wire(seq: u16, m: &Message) -> Vec<u8> {
    let mut out = [0u8; MAX_WIRE_FRAME_SIZE];
    let n = frame::encode(seq, m, &mut out).unwrap();
    out[..n].to_vec()
}

fn signed(seq: u16, m: &Message, key: &Key, counter: u64) -> Vec<u8> {
    let mut out = [0u8; MAX_WIRE_FRAME_SIZE];
    let n = frame::encode_signed(seq, m, key, counter, &mut out).unwrap();
    out[..n].to_vec()
}

/// Frames read from `s` for `wait`.
fn read_for(
    s: &mut TcpStream,
    decoder: &mut FrameDecoder,
    wait: Duration,
) -> Vec<rack_protocol::Frame> {
    let until = Instant::now() + wait;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < until {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend(decoder.feed(&buf[..n]).filter_map(Result::ok)),
            Err(_) => {}
        }
    }
    out
}

/// The answer to the frame with `seq`, within 2 s.
fn answer(s: &mut TcpStream, decoder: &mut FrameDecoder, seq: u16) -> Message {
    let until = Instant::now() + Duration::from_secs(2);
    let mut buf = [0u8; 4096];
    while Instant::now() < until {
        if let Ok(n) = s.read(&mut buf)
            && let Some(f) = decoder
                .feed(&buf[..n])
                .filter_map(Result::ok)
                .find(|f| f.seq == seq && !matches!(f.message, Message::CoolantTelemetry(_)))
        {
            return f.message;
        }
    }
    panic!("no answer to {seq}");
}

#[test]
fn each_client_has_its_own_frames_subscription_and_keys_are_checked() {
    let row = start(ServeLimits::default());
    // A's half frame, then B's whole request: B is answered; A's frame completes later.
    let (mut a, mut b) = (connect(&row), connect(&row));
    let (mut da, mut db) = (FrameDecoder::new(), FrameDecoder::new());
    let ask_a = wire(11, &Message::GetIdentity(GetIdentity));
    let (first, rest) = ask_a.split_at(ask_a.len() / 2);
    a.write_all(first).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    b.write_all(&wire(22, &Message::GetIdentity(GetIdentity)))
        .unwrap();
    assert!(matches!(answer(&mut b, &mut db, 22), Message::Identity(_)));
    a.write_all(rest).unwrap();
    assert!(matches!(answer(&mut a, &mut da, 11), Message::Identity(_)));

    // A subscribes; B's "Subscribe 0" stops only B's (it had none).
    a.write_all(&wire(12, &Message::Subscribe(Subscribe { period_ms: 100 })))
        .unwrap();
    b.write_all(&wire(23, &Message::Subscribe(Subscribe { period_ms: 0 })))
        .unwrap();
    let to_a = read_for(&mut a, &mut da, Duration::from_millis(600));
    let to_b = read_for(&mut b, &mut db, Duration::from_millis(600));
    let telemetry = |frames: &[rack_protocol::Frame]| {
        frames
            .iter()
            .filter(|f| matches!(f.message, Message::CoolantTelemetry(_)))
            .count()
    };
    assert!(
        telemetry(&to_a) >= 3,
        "A's subscription went on: {}",
        telemetry(&to_a)
    );
    assert_eq!(telemetry(&to_b), 0);

    // Over TCP: a wrong secret, a replayed counter, no key; then the right key.
    let set = |v| {
        Message::SetSetpoint(SetSetpoint {
            id: SetpointId::SupplyTempCentiC,
            value: v,
        })
    };
    let refused = |r| {
        Message::Refused(rack_protocol::message::Refused {
            of: rack_protocol::MessageKind::SetSetpoint,
            reason: Refusal::Unauthorized(r),
        })
    };
    let wrong = Key {
        id: 2,
        secret: [0x99; 32],
    };
    b.write_all(&signed(30, &set(3100), &wrong, 1)).unwrap();
    assert_eq!(answer(&mut b, &mut db, 30), refused(AuthRefusal::BadMac));
    b.write_all(&wire(31, &set(3100))).unwrap();
    assert_eq!(
        answer(&mut b, &mut db, 31),
        refused(AuthRefusal::MissingMac)
    );
    b.write_all(&signed(32, &set(3100), &operator(), 5))
        .unwrap();
    assert!(matches!(answer(&mut b, &mut db, 32), Message::Setpoint(s) if s.value == 3100));
    // The same frame from another client is still a replay.
    a.write_all(&signed(32, &set(3100), &operator(), 5))
        .unwrap();
    assert_eq!(answer(&mut a, &mut da, 32), refused(AuthRefusal::Replayed));
    let _ = row.stop();
}

#[test]
fn clients_beyond_the_cap_are_turned_away_and_silent_ones_dropped() {
    let row = start(ServeLimits {
        max_clients: 2,
        idle_timeout: Duration::from_millis(1_500),
        ..ServeLimits::default()
    });
    let mut talker = connect(&row);
    let mut quiet = connect(&row);
    std::thread::sleep(Duration::from_millis(300));
    let mut third = connect(&row);
    let mut buf = [0u8; 64];
    third
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    assert!(
        matches!(third.read(&mut buf), Ok(0) | Err(_)),
        "a third client is closed at once"
    );
    // The talker keeps talking; the quiet one is dropped after the idle timeout.
    let mut decoder = FrameDecoder::new();
    for seq in 0..8u16 {
        talker
            .write_all(&wire(seq, &Message::GetTelemetry(GetTelemetry)))
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(!read_for(&mut talker, &mut decoder, Duration::from_millis(300)).is_empty());
    quiet
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    assert!(
        matches!(quiet.read(&mut buf), Ok(0) | Err(_)),
        "the quiet client was dropped"
    );
    let counters = row.stop();
    assert_eq!(counters.over_cap, 1, "{counters:?}");
    assert_eq!(counters.idle, 1, "{counters:?}");
}
