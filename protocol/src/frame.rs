//! Frames: how a message travels on a byte stream (UART, RS-485, USB CDC, TCP).
//!
//! ```text
//! on the wire:  COBS( header | body | crc ) 0x00
//! header:       version u8 | kind u8 | seq u16 little-endian        (4 bytes, fixed layout)
//! body:         postcard encoding of the kind's payload             (0..=MAX_BODY_SIZE bytes)
//! [trailer]:    version 2 and later, kind byte | 0x80: key id, counter, MAC   (see `crate::auth`)
//! crc:          CRC-32C (Castagnoli) over everything before it, little-endian (4 bytes)
//! ```
//!
//! Versions: this crate speaks 2 and still reads 1. Version 2 adds message kinds (append-only)
//! and the authentication trailer; every version-1 frame means in version 2 what it meant. A
//! device answers a request in the request's version, so a version-1 client keeps working for
//! reads and gets a refusal it understands for writes.
//!
//! The header has a fixed layout rather than a postcard one so that a receiver reads the
//! version before it trusts anything else, and so that a frame of a newer version is rejected
//! as `UnknownVersion`, not as garbage. CRC-32C is chosen over the Ethernet CRC-32 for its
//! better Hamming distance at these frame lengths; the table-driven `crc` crate does the work.
//! COBS (the `cobs` crate) makes 0x00 a delimiter that never appears inside a frame, so a
//! receiver that starts mid-stream or meets garbage resynchronises at the next 0x00.

use crc::{CRC_32_ISCSI, Crc};

use crate::auth::{self, Auth, Key, MAX_SIGNED_BODY_SIZE, SIGNED_FLAG, TRAILER_SIZE};
use crate::message::{MAX_BODY_SIZE, Message, MessageKind};

/// The protocol version this crate speaks and sends by default.
pub const PROTOCOL_VERSION: u8 = 4;
/// The oldest protocol version this crate still reads and can answer in.
pub const OLDEST_VERSION: u8 = 1;
/// Bytes of the fixed header.
pub const HEADER_SIZE: usize = 4;
/// Bytes of the CRC trailer.
pub const CRC_SIZE: usize = 4;
/// Largest frame before COBS: header, largest body, CRC (a signed frame's body is bounded
/// so that it is never the largest).
pub const MAX_RAW_FRAME_SIZE: usize = HEADER_SIZE + MAX_BODY_SIZE + CRC_SIZE;
const _: () = assert!(
    HEADER_SIZE + MAX_SIGNED_BODY_SIZE + TRAILER_SIZE + CRC_SIZE <= MAX_RAW_FRAME_SIZE,
    "a signed frame must fit the frame buffers"
);
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
pub const CRC: Crc<u32, CrcTable> = Crc::<u32, CrcTable>::new(&CRC_32_ISCSI);

/// How [`CRC`] is computed: with a 256-entry table, or bit by bit in an image short of flash
/// (feature `crc-no-table`, the Nucleo's: the table's 1 KiB is worth more in a 64 KiB slot
/// than the ~20 us a 300-byte frame then takes at 170 MHz; the QEMU images, which exchange a
/// frame with the plant every step, keep the table). The same checksum either way
/// (`protocol/tests`).
#[cfg(feature = "crc-no-table")]
pub type CrcTable = crc::NoTable;
/// How [`CRC`] is computed (see the `crc-no-table` build's).
#[cfg(not(feature = "crc-no-table"))]
pub type CrcTable = crc::Table<1>;

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
    /// The protocol version the sender spoke (an answer goes back in it).
    pub version: u8,
    /// The authentication trailer, if the frame carries one (its MAC not yet checked: the
    /// receiver holds the keys, see [`Auth::verify`]).
    pub auth: Option<Auth>,
}

impl Frame {
    /// An unsigned frame of the current protocol version.
    pub fn new(seq: u16, message: Message) -> Self {
        Self {
            seq,
            message,
            version: PROTOCOL_VERSION,
            auth: None,
        }
    }
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
    /// The header names a message kind its version does not have.
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
                "protocol version {version} is not spoken here (this side speaks \
                 {OLDEST_VERSION}..={PROTOCOL_VERSION})"
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
    /// The message kind does not exist in the protocol version asked for.
    NotInVersion {
        /// The version asked for.
        version: u8,
    },
    /// A signed body may be at most [`MAX_SIGNED_BODY_SIZE`] bytes.
    TooLongToSign,
    /// Built for a device (`device-end`): a kind only a host sends (a request, a plant
    /// sample) is not encoded.
    NotSentByDevice,
}

impl core::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            EncodeError::BufferTooSmall => write!(
                f,
                "output buffer too small for the frame (use MAX_WIRE_FRAME_SIZE = {MAX_WIRE_FRAME_SIZE})"
            ),
            EncodeError::Serialize => write!(f, "payload could not be serialized"),
            EncodeError::NotInVersion { version } => {
                write!(
                    f,
                    "the message kind does not exist in protocol version {version}"
                )
            }
            EncodeError::TooLongToSign => write!(
                f,
                "a signed body may be at most {MAX_SIGNED_BODY_SIZE} bytes"
            ),
            EncodeError::NotSentByDevice => write!(
                f,
                "a device build (feature device-end) does not encode requests or plant samples"
            ),
        }
    }
}

impl core::error::Error for EncodeError {}

/// Encodes `message` with sequence number `seq` as a complete wire frame (COBS, then the 0x00
/// delimiter) of the current protocol version, unsigned, into `out`, returning the bytes
/// written.
pub fn encode(seq: u16, message: &Message, out: &mut [u8]) -> Result<usize, EncodeError> {
    encode_version(PROTOCOL_VERSION, seq, message, out)
}

/// [`encode`] in protocol `version` (an answer to an older peer).
pub fn encode_version(
    version: u8,
    seq: u16,
    message: &Message,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    encode_version_sent_by(version, seq, message, out, |_| true)
}

/// [`encode_version`] by a device that sends only the kinds `sends` lets through (a `fn` item
/// or a closure without state, folded at compile time: its image keeps no encoder for the
/// others; a message of another kind is refused as [`EncodeError::NotSentByDevice`]).
pub fn encode_version_sent_by(
    version: u8,
    seq: u16,
    message: &Message,
    out: &mut [u8],
    sends: impl Fn(MessageKind) -> bool,
) -> Result<usize, EncodeError> {
    speaks(OLDEST_VERSION, version, message)?;
    let mut raw = [0u8; MAX_RAW_FRAME_SIZE];
    let raw_len = encode_raw(version, seq, message, &mut raw, sends)?;
    finish(raw.get(..raw_len).ok_or(EncodeError::BufferTooSmall)?, out)
}

/// Whether `message` can be sent in `version`: one this crate speaks from `oldest` on, and
/// that has the message's kind.
fn speaks(oldest: u8, version: u8, message: &Message) -> Result<(), EncodeError> {
    if (oldest..=PROTOCOL_VERSION).contains(&version) && message.kind().first_version() <= version {
        Ok(())
    } else {
        Err(EncodeError::NotInVersion { version })
    }
}

/// Encodes `message` signed with `key` and `counter` (see [`crate::auth`]): the frame a
/// request that changes anything must be.
pub fn encode_signed(
    seq: u16,
    message: &Message,
    key: &Key,
    counter: u64,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    encode_signed_version(PROTOCOL_VERSION, seq, message, key, counter, out)
}

/// [`encode_signed`] in protocol `version` (2 or later: version 1 has no signed frames), to
/// speak to a device of that version.
pub fn encode_signed_version(
    version: u8,
    seq: u16,
    message: &Message,
    key: &Key,
    counter: u64,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    // Version 1 has no signed frames.
    speaks(2, version, message)?;
    let mut raw = [0u8; MAX_RAW_FRAME_SIZE];
    let raw_len = encode_raw(version, seq, message, &mut raw, |_| true)?;
    // Drop the CRC just written; the trailer goes before a new one.
    let body_end = raw_len - CRC_SIZE;
    if body_end - HEADER_SIZE > MAX_SIGNED_BODY_SIZE {
        return Err(EncodeError::TooLongToSign);
    }
    let kind = raw.get_mut(1).ok_or(EncodeError::BufferTooSmall)?;
    *kind |= SIGNED_FLAG;
    let mut at = body_end;
    for b in key
        .id
        .to_le_bytes()
        .into_iter()
        .chain(counter.to_le_bytes())
    {
        *raw.get_mut(at).ok_or(EncodeError::BufferTooSmall)? = b;
        at += 1;
    }
    let tag = auth::mac(
        &key.secret,
        raw.get(..at).ok_or(EncodeError::BufferTooSmall)?,
    );
    raw.get_mut(at..at + tag.len())
        .ok_or(EncodeError::BufferTooSmall)?
        .copy_from_slice(&tag);
    at += tag.len();
    let crc = CRC
        .checksum(raw.get(..at).ok_or(EncodeError::BufferTooSmall)?)
        .to_le_bytes();
    raw.get_mut(at..at + CRC_SIZE)
        .ok_or(EncodeError::BufferTooSmall)?
        .copy_from_slice(&crc);
    finish(
        raw.get(..at + CRC_SIZE)
            .ok_or(EncodeError::BufferTooSmall)?,
        out,
    )
}

/// COBS-encodes a raw frame into `out` and ends it with the delimiter.
fn finish(raw: &[u8], out: &mut [u8]) -> Result<usize, EncodeError> {
    let encoded_len = cobs::try_encode(raw, out).map_err(|_| EncodeError::BufferTooSmall)?;
    let delimiter = out
        .get_mut(encoded_len)
        .ok_or(EncodeError::BufferTooSmall)?;
    *delimiter = 0;
    Ok(encoded_len + 1)
}

/// Encodes header, body and CRC (before COBS) into `raw`, returning the length.
fn encode_raw(
    version: u8,
    seq: u16,
    message: &Message,
    raw: &mut [u8],
    sends: impl Fn(MessageKind) -> bool,
) -> Result<usize, EncodeError> {
    let (header, rest) = raw
        .split_first_chunk_mut::<HEADER_SIZE>()
        .ok_or(EncodeError::BufferTooSmall)?;
    let [seq_lo, seq_hi] = seq.to_le_bytes();
    *header = [version, message.kind() as u8, seq_lo, seq_hi];
    let body_len = match message.encode_body(rest, sends) {
        Ok(body) => body.len(),
        Err(postcard::Error::SerializeBufferFull) => return Err(EncodeError::BufferTooSmall),
        Err(postcard::Error::WontImplement) => return Err(EncodeError::NotSentByDevice),
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
    let version = *version;
    if !(OLDEST_VERSION..=PROTOCOL_VERSION).contains(&version) {
        return Err(FrameError::UnknownVersion { version });
    }
    let signed = version >= 2 && *kind & SIGNED_FLAG != 0;
    let kind_byte = if signed { *kind & !SIGNED_FLAG } else { *kind };
    let kind = MessageKind::from_u8(kind_byte)
        .filter(|k| k.first_version() <= version)
        .ok_or(FrameError::UnknownKind { kind: *kind })?;
    let (body, auth) = if signed {
        let (auth, body_end) = Auth::parse(covered).ok_or(FrameError::UndecodableBody { kind })?;
        let body = covered
            .get(HEADER_SIZE..body_end)
            .ok_or(FrameError::UndecodableBody { kind })?;
        (body, Some(auth))
    } else {
        (body, None)
    };
    let message =
        Message::decode_body(kind, body).map_err(|_| FrameError::UndecodableBody { kind })?;
    Ok(Frame {
        seq: u16::from_le_bytes([*seq_lo, *seq_hi]),
        message,
        version,
        auth,
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
