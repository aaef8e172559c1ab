//! Property tests: round trips of every message, arbitrary and corrupted bytes, chunking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::collections::BTreeSet;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use rack_protocol::decoder::FrameDecoder;
use rack_protocol::frame::{self, CRC, CRC_SIZE, MAX_WIRE_FRAME_SIZE};
use rack_protocol::{Frame, FrameError, Message, MessageKind};

fn encode(seq: u16, message: &Message) -> Vec<u8> {
    let mut wire = [0u8; MAX_WIRE_FRAME_SIZE];
    let len = frame::encode(seq, message, &mut wire).expect("every message fits a frame");
    wire[..len].to_vec()
}

/// The CRC is CRC-32C: its check value.
#[test]
fn the_crc_is_crc32c() {
    assert_eq!(CRC.checksum(b"123456789"), 0xe306_9283);
}

fn decode_all(bytes: &[u8]) -> Vec<Result<Frame, FrameError>> {
    FrameDecoder::new().feed(bytes).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// The bit-by-bit CRC (feature `crc-no-table`, the Nucleo images') is the table CRC.
    #[test]
    fn the_bitwise_crc_is_the_table_crc(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let bitwise = crc::Crc::<u32, crc::NoTable>::new(&crc::CRC_32_ISCSI);
        let table = crc::Crc::<u32, crc::Table<1>>::new(&crc::CRC_32_ISCSI);
        prop_assert_eq!(bitwise.checksum(&bytes), table.checksum(&bytes));
        prop_assert_eq!(CRC.checksum(&bytes), table.checksum(&bytes));
    }


    #[test]
    fn every_message_round_trips(seq in any::<u16>(), message in common::strategies::message()) {
        let wire = encode(seq, &message);
        prop_assert!(wire.len() <= MAX_WIRE_FRAME_SIZE);
        prop_assert_eq!(wire.iter().filter(|&&b| b == 0).count(), 1, "0x00 only as the delimiter");
        let frames = decode_all(&wire);
        prop_assert_eq!(frames, vec![Ok(Frame::new(seq, message.clone()))]);
        // The one-shot decoder agrees with the streaming one.
        prop_assert_eq!(frame::decode(&wire), Ok(Frame::new(seq, message)));
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_never_yield_a_frame_failing_its_crc(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048)
    ) {
        assert_accepted_frames_pass_their_crc(&bytes)?;
    }

    #[test]
    fn corrupted_frames_never_panic_and_never_yield_a_frame_failing_its_crc(
        messages in proptest::collection::vec(common::strategies::message(), 1..4),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
    ) {
        let mut bytes: Vec<u8> = messages.iter().zip(0u16..).flat_map(|(m, i)| encode(i, m)).collect();
        for (at, value) in edits {
            let at = at.index(bytes.len());
            bytes[at] = value;
        }
        assert_accepted_frames_pass_their_crc(&bytes)?;
    }

    #[test]
    fn frames_split_at_arbitrary_boundaries_decode_the_same(
        messages in proptest::collection::vec(common::strategies::message(), 1..6),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let stream: Vec<u8> = messages.iter().zip(0u16..).flat_map(|(m, i)| encode(i, m)).collect();
        let whole = decode_all(&stream);
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
        cuts.push(0);
        cuts.push(stream.len());
        cuts.sort_unstable();
        let mut decoder = FrameDecoder::new();
        let mut chunked = Vec::new();
        for pair in cuts.windows(2) {
            chunked.extend(decoder.feed(&stream[pair[0]..pair[1]]));
        }
        prop_assert_eq!(chunked.len(), messages.len());
        prop_assert_eq!(&chunked, &whole);
        prop_assert_eq!(decoder.pending(), 0);
    }
}

/// Each accepted frame must have come from a delimiter-bounded segment whose COBS-decoded bytes
/// carry a matching CRC-32C, checked here independently of the decoder.
fn assert_accepted_frames_pass_their_crc(bytes: &[u8]) -> Result<(), TestCaseError> {
    let results = decode_all(bytes);
    let mut segments = bytes.split(|&b| b == 0).collect::<Vec<_>>();
    segments.pop(); // bytes after the last delimiter are not a frame yet
    let segments: Vec<&[u8]> = segments.into_iter().filter(|s| !s.is_empty()).collect();
    prop_assert_eq!(
        results.len(),
        segments.len(),
        "one result per non-empty segment"
    );
    for (result, segment) in results.iter().zip(&segments) {
        if result.is_ok() {
            let mut raw = segment.to_vec();
            let len = cobs::decode_in_place(&mut raw).expect("accepted frame is COBS");
            let (covered, crc) = raw[..len].split_at(len - CRC_SIZE);
            prop_assert_eq!(
                CRC.checksum(covered),
                u32::from_le_bytes(crc.try_into().unwrap())
            );
        }
    }
    Ok(())
}

#[test]
fn the_strategy_draws_every_message_kind() {
    let mut runner = TestRunner::deterministic();
    let strategy = common::strategies::message();
    let mut seen = BTreeSet::new();
    for _ in 0..2000 {
        seen.insert(strategy.new_tree(&mut runner).unwrap().current().kind());
    }
    let all: BTreeSet<MessageKind> = MessageKind::ALL.iter().copied().collect();
    assert_eq!(seen, all);
}
