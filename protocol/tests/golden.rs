//! Golden vectors: the exact bytes of every message kind of every protocol version.
//!
//! IF THIS TEST FAILS, DO NOT CHANGE THE VECTOR. A golden frame is what devices in the field
//! send and expect; a change that breaks one breaks them. Add a new protocol version instead.
//!
//! Each `protocol/tests/golden/vN.txt` holds, per message kind of version N, a comment line
//! naming the kind and sequence number and a line of hex: the complete wire frame, delimiter
//! included. In version 2 and later, requests that change anything are signed with a test key (id 1,
//! secret 0x00..=0x1f, counter `0x0102_0304_0506_0700` + kind), so the trailer and its MAC are
//! pinned too. A kind without a vector fails the test; `RACK_PROTOCOL_BLESS=1 cargo test -p rack-protocol --test
//! golden` appends vectors for kinds that have none (it never rewrites an existing one).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use rack_protocol::auth::Key;
use rack_protocol::decoder::FrameDecoder;
use rack_protocol::frame::{self, MAX_WIRE_FRAME_SIZE};
use rack_protocol::{Message, MessageKind, OLDEST_VERSION, PROTOCOL_VERSION};

const HEADER: &str = "\
# rack-protocol golden frames, one per message kind: a comment naming kind and sequence number,
# then the wire frame in hex (COBS-encoded header | postcard body | CRC-32C, then 0x00).
# IF THE GOLDEN TEST FAILS, DO NOT CHANGE A VECTOR: add a new protocol version.
";

fn golden_path(version: u8) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/golden/v{version}.txt"))
}

/// Sequence number of a kind's golden frame: distinct per kind, with a high byte, so that the
/// header's byte order is pinned too.
fn golden_seq(kind: MessageKind) -> u16 {
    0x0100 + u16::from(kind as u8)
}

struct Vector {
    seq: u16,
    bytes: Vec<u8>,
}

/// Parses a golden file: `# <Kind> seq=<n>` then one hex line.
fn parse(text: &str) -> BTreeMap<String, Vector> {
    let mut vectors = BTreeMap::new();
    let mut pending: Option<(String, u16)> = None;
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(comment) = line.strip_prefix('#') {
            let mut words = comment.split_whitespace();
            if let (Some(kind), Some(seq)) = (
                words.next(),
                words.next().and_then(|w| w.strip_prefix("seq=")),
            ) {
                let seq = seq
                    .parse()
                    .unwrap_or_else(|_| panic!("line {}: bad seq `{seq}`", number + 1));
                pending = Some((kind.to_owned(), seq));
            }
            continue;
        }
        if line.is_empty() {
            continue;
        }
        let (kind, seq) = pending
            .take()
            .unwrap_or_else(|| panic!("line {}: hex without a `# Kind seq=N` line", number + 1));
        let bytes = line
            .split_whitespace()
            .map(|pair| {
                u8::from_str_radix(pair, 16)
                    .unwrap_or_else(|_| panic!("line {}: bad hex `{pair}`", number + 1))
            })
            .collect();
        assert!(
            vectors
                .insert(kind.clone(), Vector { seq, bytes })
                .is_none(),
            "{kind} has two vectors"
        );
    }
    vectors
}

/// The key that signs version 2's golden requests.
fn golden_key() -> Key {
    Key {
        id: 1,
        secret: core::array::from_fn(|i| u8::try_from(i).unwrap()),
    }
}

/// Whether a kind's golden frame in `version` is signed.
fn signed(version: u8, kind: MessageKind) -> bool {
    version >= 2 && kind.needs_role().is_some()
}

fn encode(version: u8, seq: u16, message: &Message) -> Vec<u8> {
    let mut wire = [0u8; MAX_WIRE_FRAME_SIZE];
    let kind = message.kind();
    let len = if signed(version, kind) {
        let counter = 0x0102_0304_0506_0700 + u64::from(kind as u8);
        frame::encode_signed_version(version, seq, message, &golden_key(), counter, &mut wire)
    } else {
        frame::encode_version(version, seq, message, &mut wire)
    }
    .expect("sample encodes");
    wire[..len].to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn every_kind_of_every_version_matches_its_golden_frame_both_ways() {
    for version in OLDEST_VERSION..=PROTOCOL_VERSION {
        check_version(version);
    }
}

fn check_version(version: u8) {
    let path = golden_path(version);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let vectors = parse(&text);
    let bless = std::env::var_os("RACK_PROTOCOL_BLESS").is_some();

    let mut missing = Vec::new();
    let mut appended = String::new();
    for message in common::samples::all() {
        let kind = message.kind();
        if kind.first_version() > version {
            continue;
        }
        let Some(vector) = vectors.get(kind.name()) else {
            missing.push(kind.name());
            let seq = golden_seq(kind);
            writeln!(
                appended,
                "# {} seq={seq}\n{}",
                kind.name(),
                hex(&encode(version, seq, &message))
            )
            .unwrap();
            continue;
        };
        // Encoding the sample gives exactly the golden bytes...
        assert_eq!(
            hex(&encode(version, vector.seq, &message)),
            hex(&vector.bytes),
            "{}: encoding changed. DO NOT CHANGE THE VECTOR: add a new protocol version",
            kind.name()
        );
        // ...and the golden bytes decode, through the streaming decoder, to the sample.
        let mut decoder = FrameDecoder::new();
        let frames: Vec<_> = decoder.feed(&vector.bytes).collect();
        assert_eq!(frames.len(), 1, "{}: one frame expected", kind.name());
        let frame = frames[0].as_ref().expect("golden frame decodes");
        assert_eq!(frame.seq, vector.seq, "{}", kind.name());
        assert_eq!(frame.message, message, "{}", kind.name());
        assert_eq!(frame.version, version, "{}", kind.name());
        let auth = frame.auth.as_ref();
        assert_eq!(auth.is_some(), signed(version, kind), "{}", kind.name());
        if let Some(auth) = auth {
            assert_eq!(auth.key_id, 1);
            assert!(auth.verify(&golden_key().secret), "{}", kind.name());
        }
    }
    if !missing.is_empty() && bless {
        let mut out = if text.is_empty() {
            HEADER.to_owned()
        } else {
            text
        };
        out.push_str(&appended);
        std::fs::write(&path, out).expect("write golden file");
        eprintln!(
            "appended golden vectors for {missing:?} to {}",
            path.display()
        );
    } else {
        assert!(
            missing.is_empty(),
            "no golden vector for {missing:?} in {}: run with RACK_PROTOCOL_BLESS=1 to append them",
            path.display()
        );
    }
    let known: Vec<&str> = MessageKind::ALL
        .iter()
        .filter(|k| k.first_version() <= version)
        .map(|k| k.name())
        .collect();
    for name in vectors.keys() {
        assert!(
            known.contains(&name.as_str()),
            "golden vector for unknown kind {name}"
        );
    }
}

#[test]
fn every_single_bit_flip_of_every_golden_frame_is_rejected() {
    for message in common::samples::all() {
        let kind = message.kind();
        let wire = encode(PROTOCOL_VERSION, golden_seq(kind), &message);
        for byte in 0..wire.len() {
            for bit in 0..8 {
                let mut corrupted = wire.clone();
                corrupted[byte] ^= 1 << bit;
                // A flip that turns the trailing 0x00 into data must not leave a frame
                // half-held: the extra delimiter ends whatever is pending.
                corrupted.push(0);
                let mut decoder = FrameDecoder::new();
                let accepted: Vec<_> = decoder.feed(&corrupted).filter_map(Result::ok).collect();
                assert!(
                    accepted.is_empty(),
                    "{}: flipping bit {bit} of byte {byte} gave an accepted frame {accepted:?}",
                    kind.name()
                );
            }
        }
    }
}
