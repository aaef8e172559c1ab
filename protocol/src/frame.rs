//! Frames: how a message travels on a byte stream (UART, RS-485, USB CDC, TCP).
//!
//! ```text
//! on the wire:  COBS( header | body | crc ) 0x00
//! header:       version u8 | kind u8 | seq u16 little-endian        (4 bytes, fixed layout)
//! body:         postcard encoding of the kind's payload             (0..=MAX_BODY_SIZE bytes)
//! crc:          CRC-32C (Castagnoli) over header and body, little-endian (4 bytes)
//! ```
//!
//! The header has a fixed layout rather than a postcard one so that a receiver reads the
//! version before it trusts anything else, and so that a frame of a newer version is rejected
//! as `UnknownVersion`, not as garbage. CRC-32C is chosen over the Ethernet CRC-32 for its
//! better Hamming distance at these frame lengths; the table-driven `crc` crate does the work.
//! COBS (the `cobs` crate) makes 0x00 a delimiter that never appears inside a frame, so a
//! receiver that starts mid-stream or meets garbage resynchronises at the next 0x00.

use crc::{CRC_32_ISCSI, Crc};

use crate::message::{MAX_BODY_SIZE, Message, MessageKind};

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u8 = 1;
/// Bytes of the fixed header.
pub const HEADER_SIZE: usize = 4;
/// Bytes of the CRC trailer.
pub const CRC_SIZE: usize = 4;
/// Largest frame before COBS: header, largest body, CRC.
pub const MAX_RAW_FRAME_SIZE: usize = HEADER_SIZE + MAX_BODY_SIZE + CRC_SIZE;
/// Largest frame on the wire: COBS-encoded raw frame plus the 0x00 delimiter. Buffers sized
/// with this hold any frame of this protocol version.
pub const MAX_WIRE_FRAME_SIZE: usize = cobs::max_encoding_length(MAX_RAW_FRAME_SIZE) + 1;

/// The budget for a frame on the wire. Growing past it is a deliberate decision: firmware
/// receive and transmit buffers are sized from it, and a microcontroller with 32 KiB of RAM
/// holds several of them.
pub const WIRE_FRAME_BUDGET: usize = 512;
const _: () = assert!(
    MAX_WIRE_FRAME_SIZE <= WIRE_FRAME_BUDGET,
    "the largest frame outgrew its budget: raise WIRE_FRAME_BUDGET deliberately"
);

/// CRC-32C (iSCSI / Castagnoli polynomial 0x1EDC6F41, reflected, init and xorout 0xFFFFFFFF).
pub const CRC: Crc<u32> = Crc::<u32>::new(&CRC_32_ISCSI);

/// A frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// Protocol version of the body.
    pub version: u8,
    /// Message kind.
    pub kind: MessageKind,
    /// Sequence number: a response echoes its request's; other frames count up.
    pub seq: u16,
}

/// A decoded frame: its header and its message.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Sequence number from the header.
    pub seq: u16,
    /// The message.
    pub message: Message,
}

/// Why a frame was rejected. Every variant has its own counter in
/// [`crate::decoder::RejectCounters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameError {
    /// The bytes between two delimiters are not valid COBS.
    BadCobs,
    /// Longer than the largest frame of this version ([`MAX_WIRE_FRAME_SIZE`]); dropped
    /// up to the next delimiter.
    TooLong,
    /// Shorter than a header and a CRC.
    TooShort {
        /// Decoded bytes received.
        len: usize,
    },
    /// The CRC does not match: the frame was corrupted.
    BadCrc,
    /// The header names a protocol version this receiver does not speak.
    UnknownVersion {
        /// The version in the header.
        version: u8,
    },
    /// The header names a message kind this version does not have.
    UnknownKind {
        /// The kind byte in the header.
        kind: u8,
    },
    /// The body does not decode as the payload its kind says (or has bytes left over).
    UndecodableBody {
        /// The kind in the header.
        kind: MessageKind,
    },
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FrameError::BadCobs => write!(f, "bad COBS encoding"),
            FrameError::TooLong => write!(
                f,
                "frame longer than the protocol's maximum of {MAX_WIRE_FRAME_SIZE} bytes"
            ),
            FrameError::TooShort { len } => write!(
                f,
                "frame of {len} bytes is shorter than a header and CRC ({} bytes)",
                HEADER_SIZE + CRC_SIZE
            ),
            FrameError::BadCrc => write!(f, "CRC mismatch"),
            FrameError::UnknownVersion { version } => write!(
                f,
                "protocol version {version} is not spoken here (this side speaks {PROTOCOL_VERSION})"
            ),
            FrameError::UnknownKind { kind } => write!(
                f,
                "message kind {kind} does not exist in protocol version {PROTOCOL_VERSION} (0..={})",
                MessageKind::ALL.len() - 1
            ),
            FrameError::UndecodableBody { kind } => {
                write!(f, "body does not decode as a {} message", kind.name())
            }
        }
    }
}

impl core::error::Error for FrameError {}

/// Why a message could not be framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EncodeError {
    /// The output buffer is smaller than the encoded frame; [`MAX_WIRE_FRAME_SIZE`] always fits.
    BufferTooSmall,
    /// postcard could not serialize the payload for a reason other than a full buffer (none of
    /// the message types can produce one today; kept so that a future type's error is typed).
    Serialize,
}

impl core::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            EncodeError::BufferTooSmall => write!(
                f,
                "output buffer too small for the frame (use MAX_WIRE_FRAME_SIZE = {MAX_WIRE_FRAME_SIZE})"
            ),
            EncodeError::Serialize => write!(f, "payload could not be serialized"),
        }
    }
}

impl core::error::Error for EncodeError {}

/// Encodes `message` with sequence number `seq` as a complete wire frame (COBS, then the 0x00
/// delimiter) into `out`, returning the bytes written.
pub fn encode(seq: u16, message: &Message, out: &mut [u8]) -> Result<usize, EncodeError> {
    let mut raw = [0u8; MAX_RAW_FRAME_SIZE];
    let raw_len = encode_raw(seq, message, &mut raw)?;
    let raw = raw.get(..raw_len).ok_or(EncodeError::BufferTooSmall)?;
    let encoded_len = cobs::try_encode(raw, out).map_err(|_| EncodeError::BufferTooSmall)?;
    let delimiter = out
        .get_mut(encoded_len)
        .ok_or(EncodeError::BufferTooSmall)?;
    *delimiter = 0;
    Ok(encoded_len + 1)
}

/// Encodes header, body and CRC (before COBS) into `raw`, returning the length.
fn encode_raw(seq: u16, message: &Message, raw: &mut [u8]) -> Result<usize, EncodeError> {
    let (header, rest) = raw
        .split_first_chunk_mut::<HEADER_SIZE>()
        .ok_or(EncodeError::BufferTooSmall)?;
    let [seq_lo, seq_hi] = seq.to_le_bytes();
    *header = [PROTOCOL_VERSION, message.kind() as u8, seq_lo, seq_hi];
    let body_len = match message.encode_body(rest) {
        Ok(body) => body.len(),
        Err(postcard::Error::SerializeBufferFull) => return Err(EncodeError::BufferTooSmall),
        Err(_) => return Err(EncodeError::Serialize),
    };
    let crc_at = HEADER_SIZE + body_len;
    let covered = raw.get(..crc_at).ok_or(EncodeError::BufferTooSmall)?;
    let crc = CRC.checksum(covered).to_le_bytes();
    raw.get_mut(crc_at..crc_at + CRC_SIZE)
        .ok_or(EncodeError::BufferTooSmall)?
        .copy_from_slice(&crc);
    Ok(crc_at + CRC_SIZE)
}

/// Checks and decodes one raw frame (already COBS-decoded, without its delimiter).
pub fn decode_raw(raw: &[u8]) -> Result<Frame, FrameError> {
    let len = raw.len();
    let Some((covered, crc)) = raw.split_last_chunk::<CRC_SIZE>() else {
        return Err(FrameError::TooShort { len });
    };
    let Some(([version, kind, seq_lo, seq_hi], body)) = covered.split_first_chunk::<HEADER_SIZE>()
    else {
        return Err(FrameError::TooShort { len });
    };
    if CRC.checksum(covered) != u32::from_le_bytes(*crc) {
        return Err(FrameError::BadCrc);
    }
    if *version != PROTOCOL_VERSION {
        return Err(FrameError::UnknownVersion { version: *version });
    }
    let kind = MessageKind::from_u8(*kind).ok_or(FrameError::UnknownKind { kind: *kind })?;
    let message =
        Message::decode_body(kind, body).map_err(|_| FrameError::UndecodableBody { kind })?;
    Ok(Frame {
        seq: u16::from_le_bytes([*seq_lo, *seq_hi]),
        message,
    })
}

/// Decodes one complete wire frame (COBS bytes, with or without the trailing 0x00).
/// For a byte stream, use [`crate::decoder::FrameDecoder`].
pub fn decode(wire: &[u8]) -> Result<Frame, FrameError> {
    let wire = wire.strip_suffix(&[0]).unwrap_or(wire);
    if wire.len() > MAX_WIRE_FRAME_SIZE {
        return Err(FrameError::TooLong);
    }
    let mut raw = [0u8; MAX_WIRE_FRAME_SIZE];
    let raw = raw.get_mut(..wire.len()).ok_or(FrameError::TooLong)?;
    raw.copy_from_slice(wire);
    decode_in_place(raw)
}

/// COBS-decodes `buf` in place (no 0x00 inside), then checks and decodes the frame.
pub(crate) fn decode_in_place(buf: &mut [u8]) -> Result<Frame, FrameError> {
    if buf.contains(&0) {
        return Err(FrameError::BadCobs);
    }
    let raw_len = cobs::decode_in_place(buf).map_err(|_| FrameError::BadCobs)?;
    decode_raw(buf.get(..raw_len).ok_or(FrameError::BadCobs)?)
}
