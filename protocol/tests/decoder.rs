//! The streaming decoder's behaviour on the inputs a real link produces: garbage, truncation,
//! overlong frames, frames of other versions and kinds. Each rejection has its typed reason and
//! its counter, and the frame after it still decodes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use rack_protocol::decoder::{FrameDecoder, RejectCounters};
use rack_protocol::frame::{self, CRC, MAX_WIRE_FRAME_SIZE};
use rack_protocol::message::{Heartbeat, Subscribe};
use rack_protocol::{Frame, FrameError, Message, MessageKind, PROTOCOL_VERSION};

fn heartbeat() -> Message {
    Message::Heartbeat(Heartbeat { uptime_ms: 1234 })
}

fn encode(seq: u16, message: &Message) -> Vec<u8> {
    let mut wire = [0u8; MAX_WIRE_FRAME_SIZE];
    let len = frame::encode(seq, message, &mut wire).unwrap();
    wire[..len].to_vec()
}

/// A wire frame from raw parts (header fields, body), with a correct CRC.
fn craft(version: u8, kind: u8, seq: u16, body: &[u8]) -> Vec<u8> {
    let mut raw = vec![version, kind];
    raw.extend_from_slice(&seq.to_le_bytes());
    raw.extend_from_slice(body);
    raw.extend_from_slice(&CRC.checksum(&raw).to_le_bytes());
    let mut wire = vec![0u8; raw.len() + raw.len() / 254 + 2];
    let len = cobs::encode(&raw, &mut wire);
    wire.truncate(len);
    wire.push(0);
    wire
}

/// Feeds `bad` then a good heartbeat; expects exactly `expected` then the heartbeat.
fn rejected_then_recovered(bad: &[u8], expected: FrameError) -> RejectCounters {
    let mut stream = bad.to_vec();
    stream.extend(encode(9, &heartbeat()));
    let mut decoder = FrameDecoder::new();
    let results: Vec<_> = decoder.feed(&stream).collect();
    assert_eq!(results, vec![Err(expected), Ok(Frame::new(9, heartbeat()))]);
    assert_eq!(decoder.frames(), 1);
    assert_eq!(decoder.rejects().total(), 1);
    decoder.rejects()
}

#[test]
fn garbage_before_a_frame_is_rejected_and_the_frame_still_decodes() {
    let counters = rejected_then_recovered(&[0x13, 0x37, 0xff, 0x42, 0x00], FrameError::BadCobs);
    assert_eq!(counters.bad_cobs, 1);
}

#[test]
fn a_decoder_started_mid_frame_resynchronises_at_the_next_delimiter() {
    let whole = encode(1, &heartbeat());
    let tail = &whole[whole.len() / 2..];
    let mut stream = tail.to_vec();
    stream.extend(encode(2, &heartbeat()));
    let results: Vec<_> = FrameDecoder::new().feed(&stream).collect();
    assert_eq!(results.len(), 2);
    assert!(
        results[0].is_err(),
        "the torn half is rejected: {:?}",
        results[0]
    );
    assert_eq!(results[1], Ok(Frame::new(2, heartbeat())));
}

#[test]
fn an_overlong_frame_is_dropped_whole_and_counted_once() {
    let overlong = vec![0x55; MAX_WIRE_FRAME_SIZE * 3];
    let mut bad = overlong;
    bad.push(0);
    let counters = rejected_then_recovered(&bad, FrameError::TooLong);
    assert_eq!(counters.too_long, 1);
}

#[test]
fn a_frame_of_exactly_the_maximum_size_is_not_too_long() {
    // Filling every byte of the buffer is allowed; one more is not.
    let mut decoder = FrameDecoder::new();
    let fill = vec![0x55; MAX_WIRE_FRAME_SIZE];
    let results: Vec<_> = decoder.feed(&fill).collect();
    assert!(results.is_empty());
    assert_eq!(decoder.pending(), MAX_WIRE_FRAME_SIZE);
    let results: Vec<_> = decoder.feed(&[0]).collect();
    assert_ne!(results, vec![Err(FrameError::TooLong)]);
}

#[test]
fn a_corrupted_byte_is_a_crc_error() {
    let mut bad = encode(3, &Message::Subscribe(Subscribe { period_ms: 500 }));
    let at = bad.len() - 4;
    bad[at] ^= 0x10;
    let counters = rejected_then_recovered(&bad, FrameError::BadCrc);
    assert_eq!(counters.bad_crc, 1);
}

#[test]
fn a_frame_of_another_protocol_version_is_named_as_such() {
    for version in [0, PROTOCOL_VERSION + 1, 0xff] {
        let bad = craft(version, MessageKind::Heartbeat as u8, 1, &[0x05]);
        let counters = rejected_then_recovered(&bad, FrameError::UnknownVersion { version });
        assert_eq!(counters.unknown_version, 1);
    }
}

#[test]
fn a_version_1_frame_decodes_as_version_1_and_knows_only_version_1_kinds() {
    let old = craft(1, MessageKind::Heartbeat as u8, 1, &[0x05]);
    let frames: Vec<_> = FrameDecoder::new().feed(&old).collect();
    assert_eq!(
        frames,
        vec![Ok(rack_protocol::Frame {
            seq: 1,
            message: Message::Heartbeat(rack_protocol::message::Heartbeat { uptime_ms: 5 }),
            version: 1,
            auth: None,
        })]
    );
    // A kind version 2 added is unknown in a version-1 frame, and so is the signed flag.
    let kind = MessageKind::GetCounters as u8;
    let bad = craft(1, kind, 1, &[]);
    rejected_then_recovered(&bad, FrameError::UnknownKind { kind });
    let flagged = MessageKind::Heartbeat as u8 | rack_protocol::auth::SIGNED_FLAG;
    let bad = craft(1, flagged, 1, &[0x05]);
    rejected_then_recovered(&bad, FrameError::UnknownKind { kind: flagged });
}

#[test]
fn a_signed_frame_too_short_for_its_trailer_is_undecodable() {
    let flagged = MessageKind::AckAllAlarms as u8 | rack_protocol::auth::SIGNED_FLAG;
    let bad = craft(2, flagged, 1, &[0; 10]);
    rejected_then_recovered(
        &bad,
        FrameError::UndecodableBody {
            kind: MessageKind::AckAllAlarms,
        },
    );
}

#[test]
fn a_kind_this_version_lacks_is_named_with_its_number() {
    let bad = craft(1, 200, 1, &[]);
    let counters = rejected_then_recovered(&bad, FrameError::UnknownKind { kind: 200 });
    assert_eq!(counters.unknown_kind, 1);
}

#[test]
fn a_body_that_does_not_fit_its_kind_is_undecodable() {
    // A Subscribe body with a byte left over, and one cut short.
    for body in [&[0xe8, 0x07, 0x01][..], &[0xe8][..]] {
        let bad = craft(1, MessageKind::Subscribe as u8, 1, body);
        let counters = rejected_then_recovered(
            &bad,
            FrameError::UndecodableBody {
                kind: MessageKind::Subscribe,
            },
        );
        assert_eq!(counters.undecodable_body, 1);
    }
}

#[test]
fn an_enum_value_outside_its_variants_is_undecodable() {
    // An Ack naming message kind 99.
    let bad = craft(1, MessageKind::Ack as u8, 1, &[99]);
    rejected_then_recovered(
        &bad,
        FrameError::UndecodableBody {
            kind: MessageKind::Ack,
        },
    );
}

#[test]
fn a_frame_shorter_than_header_and_crc_is_too_short() {
    let mut bad = vec![0u8; 8];
    let len = cobs::encode(&[1, 6, 0], &mut bad);
    bad.truncate(len);
    bad.push(0);
    let counters = rejected_then_recovered(&bad, FrameError::TooShort { len: 3 });
    assert_eq!(counters.too_short, 1);
}

#[test]
fn empty_frames_between_delimiters_are_skipped_silently() {
    let mut stream = vec![0, 0, 0];
    stream.extend(encode(4, &heartbeat()));
    stream.extend([0, 0]);
    let mut decoder = FrameDecoder::new();
    let results: Vec<_> = decoder.feed(&stream).collect();
    assert_eq!(results, vec![Ok(Frame::new(4, heartbeat()))]);
    assert_eq!(decoder.rejects(), RejectCounters::default());
}

#[test]
fn dropping_the_iterator_early_keeps_the_stream_in_step() {
    let mut stream = encode(1, &heartbeat());
    stream.extend(encode(2, &heartbeat()));
    let half = encode(3, &heartbeat());
    stream.extend(&half[..4]);
    let mut decoder = FrameDecoder::new();
    let first = decoder.feed(&stream).next();
    assert_eq!(first, Some(Ok(Frame::new(1, heartbeat()))));
    assert_eq!(
        decoder.frames(),
        2,
        "the second frame was consumed and counted"
    );
    let rest: Vec<_> = decoder.feed(&half[4..]).collect();
    assert_eq!(rest, vec![Ok(Frame::new(3, heartbeat()))]);
}

#[test]
fn errors_name_what_was_wrong_and_what_is_allowed() {
    assert_eq!(
        FrameError::UnknownVersion { version: 5 }.to_string(),
        "protocol version 5 is not spoken here (this side speaks 1..=4)"
    );
    assert_eq!(
        FrameError::UnknownKind { kind: 200 }.to_string(),
        format!(
            "message kind 200 does not exist in protocol version {PROTOCOL_VERSION} (0..={})",
            MessageKind::ALL.len() - 1
        )
    );
    assert!(
        FrameError::TooLong
            .to_string()
            .contains(&MAX_WIRE_FRAME_SIZE.to_string())
    );
}

#[test]
fn encoding_into_a_small_buffer_is_an_error_not_a_panic() {
    let mut small = [0u8; 6];
    assert_eq!(
        frame::encode(1, &heartbeat(), &mut small),
        Err(frame::EncodeError::BufferTooSmall)
    );
}
