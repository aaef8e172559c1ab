//! Fuzzes the streaming decoder with arbitrary bytes in arbitrary chunks.
//!
//! Checks beyond "no panic": the decoder's counts add up; chunking does not change the result;
//! every accepted frame passes its CRC (checked apart from the decoder) and re-encodes stably.
//!
//! Random bytes rarely get past the CRC, so the input is also used as the header and body of a
//! frame given a correct CRC: that drives postcard's decoding of every message kind.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rack_protocol::decoder::FrameDecoder;
use rack_protocol::frame::{self, CRC, CRC_SIZE, MAX_RAW_FRAME_SIZE, MAX_WIRE_FRAME_SIZE};
use rack_protocol::Message;

/// Encoding, decoding and encoding again gives the same bytes (NaN-safe, unlike `==`).
fn assert_stable(seq: u16, message: &Message) {
    let mut first = [0u8; MAX_WIRE_FRAME_SIZE];
    let len = frame::encode(seq, message, &mut first).expect("a decoded message re-encodes");
    let again = frame::decode(&first[..len]).expect("a re-encoded message decodes");
    let mut second = [0u8; MAX_WIRE_FRAME_SIZE];
    let len2 = frame::encode(again.seq, &again.message, &mut second).expect("re-encodes");
    assert_eq!(&first[..len], &second[..len2], "encoding is not stable");
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks a chunk size, so the same input is also fed in pieces.
    let Some((&chunk, bytes)) = data.split_first() else { return };
    let chunk = usize::from(chunk).max(1);

    let mut whole = FrameDecoder::new();
    let all: Vec<_> = whole.feed(bytes).collect();

    let mut pieces = FrameDecoder::new();
    let mut chunked = Vec::new();
    for part in bytes.chunks(chunk) {
        chunked.extend(pieces.feed(part));
    }
    assert_eq!(all, chunked, "chunking changed the result");
    assert_eq!(whole.frames() + whole.rejects().total(), all.len() as u32);

    let segments = bytes.split(|&b| b == 0).filter(|s| !s.is_empty());
    for (result, segment) in all.iter().zip(segments) {
        if let Ok(decoded) = result {
            let mut raw = segment.to_vec();
            let len = cobs::decode_in_place(&mut raw).expect("accepted frame is COBS");
            let (covered, crc) = raw[..len].split_at(len - CRC_SIZE);
            assert_eq!(CRC.checksum(covered).to_le_bytes(), crc, "accepted frame fails its CRC");
            assert_stable(decoded.seq, &decoded.message);
        }
    }

    // The same bytes as version-1 header and body, with a correct CRC.
    if bytes.len() + CRC_SIZE <= MAX_RAW_FRAME_SIZE {
        let mut raw = Vec::with_capacity(bytes.len() + 1 + CRC_SIZE);
        raw.push(rack_protocol::PROTOCOL_VERSION);
        raw.extend_from_slice(bytes);
        raw.extend_from_slice(&CRC.checksum(&raw).to_le_bytes());
        let mut wire = [0u8; MAX_WIRE_FRAME_SIZE];
        let len = cobs::encode(&raw, &mut wire);
        if let Ok(decoded) = frame::decode(&wire[..len]) {
            assert_stable(decoded.seq, &decoded.message);
        }
    }
});
