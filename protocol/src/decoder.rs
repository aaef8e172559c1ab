//! The streaming frame decoder: bytes in, frames out, in fixed memory.
//!
//! States: **collecting** (bytes since the last delimiter are buffered) and **discarding** (the
//! frame outgrew the buffer; bytes are dropped up to the next delimiter, then one `TooLong` is
//! reported). A 0x00 ends a frame; an empty frame (two delimiters in a row, as a sender may
//! emit to flush a line) is skipped without counting. Nothing here can panic: every index is
//! checked, and the buffer is a fixed array.

use crate::frame::{self, Frame, FrameError, MAX_WIRE_FRAME_SIZE};

/// How many frames were rejected, per reason. Counters saturate instead of wrapping.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct RejectCounters {
    /// Not valid COBS.
    pub bad_cobs: u32,
    /// Longer than the largest frame.
    pub too_long: u32,
    /// Shorter than a header and CRC.
    pub too_short: u32,
    /// CRC mismatch.
    pub bad_crc: u32,
    /// Protocol version not spoken.
    pub unknown_version: u32,
    /// Message kind not in this version.
    pub unknown_kind: u32,
    /// Body does not decode as its kind's payload.
    pub undecodable_body: u32,
}

impl RejectCounters {
    /// All rejected frames.
    pub fn total(&self) -> u32 {
        self.bad_cobs
            .saturating_add(self.too_long)
            .saturating_add(self.too_short)
            .saturating_add(self.bad_crc)
            .saturating_add(self.unknown_version)
            .saturating_add(self.unknown_kind)
            .saturating_add(self.undecodable_body)
    }

    /// The counters in the order of `Counters::frame_rejects`: bad COBS, too long, too
    /// short, bad CRC, unknown version, unknown kind, undecodable body.
    pub fn as_array(&self) -> [u32; 7] {
        [
            self.bad_cobs,
            self.too_long,
            self.too_short,
            self.bad_crc,
            self.unknown_version,
            self.unknown_kind,
            self.undecodable_body,
        ]
    }

    /// Counts one rejection.
    pub fn record(&mut self, error: FrameError) {
        let counter = match error {
            FrameError::BadCobs => &mut self.bad_cobs,
            FrameError::TooLong => &mut self.too_long,
            FrameError::TooShort { .. } => &mut self.too_short,
            FrameError::BadCrc => &mut self.bad_crc,
            FrameError::UnknownVersion { .. } => &mut self.unknown_version,
            FrameError::UnknownKind { .. } => &mut self.unknown_kind,
            FrameError::UndecodableBody { .. } => &mut self.undecodable_body,
        };
        *counter = counter.saturating_add(1);
    }
}

/// A streaming decoder with a buffer for the largest frame of this protocol version.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    buf: [u8; MAX_WIRE_FRAME_SIZE],
    len: usize,
    discarding: bool,
    frames: u32,
    rejects: RejectCounters,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    /// An empty decoder.
    pub const fn new() -> Self {
        Self {
            buf: [0; MAX_WIRE_FRAME_SIZE],
            len: 0,
            discarding: false,
            frames: 0,
            rejects: RejectCounters {
                bad_cobs: 0,
                too_long: 0,
                too_short: 0,
                bad_crc: 0,
                unknown_version: 0,
                unknown_kind: 0,
                undecodable_body: 0,
            },
        }
    }

    /// Takes one byte; at a delimiter returns the frame it ended, or why it was rejected.
    pub fn push(&mut self, byte: u8) -> Option<Result<Frame, FrameError>> {
        if byte != 0 {
            if !self.discarding {
                if let Some(slot) = self.buf.get_mut(self.len) {
                    *slot = byte;
                    self.len += 1;
                } else {
                    self.discarding = true;
                }
            }
            return None;
        }
        let result = if self.discarding {
            Some(Err(FrameError::TooLong))
        } else if self.len == 0 {
            None
        } else {
            let frame = self
                .buf
                .get_mut(..self.len)
                .map_or(Err(FrameError::TooLong), frame::decode_in_place);
            Some(frame)
        };
        self.len = 0;
        self.discarding = false;
        match &result {
            Some(Ok(_)) => self.frames = self.frames.saturating_add(1),
            Some(Err(error)) => self.rejects.record(*error),
            None => {}
        }
        result
    }

    /// Takes a chunk of bytes; the iterator yields each frame (or rejection) the chunk ends.
    /// Bytes of an unfinished frame stay buffered for the next chunk. Iterate to the end: if
    /// the iterator is dropped early, the rest of the chunk is still consumed (so the stream
    /// stays in step) but frames it completes are only counted, not returned.
    #[must_use = "frames are returned by the iterator"]
    pub fn feed<'d, 'b>(&'d mut self, bytes: &'b [u8]) -> Feed<'d, 'b> {
        Feed {
            decoder: self,
            bytes: bytes.iter(),
        }
    }

    /// Frames decoded since creation.
    pub fn frames(&self) -> u32 {
        self.frames
    }

    /// Frames rejected since creation, per reason.
    pub fn rejects(&self) -> RejectCounters {
        self.rejects
    }

    /// Bytes of an unfinished frame held (0 between frames).
    pub fn pending(&self) -> usize {
        self.len
    }
}

/// The frames a chunk of bytes completes; see [`FrameDecoder::feed`].
#[derive(Debug)]
pub struct Feed<'d, 'b> {
    decoder: &'d mut FrameDecoder,
    bytes: core::slice::Iter<'b, u8>,
}

impl Iterator for Feed<'_, '_> {
    type Item = Result<Frame, FrameError>;

    fn next(&mut self) -> Option<Self::Item> {
        for &byte in self.bytes.by_ref() {
            if let Some(result) = self.decoder.push(byte) {
                return Some(result);
            }
        }
        None
    }
}

impl Drop for Feed<'_, '_> {
    /// Bytes the caller did not iterate over still reach the decoder, so that dropping the
    /// iterator early never cuts the next frame in two. Their results are only counted.
    fn drop(&mut self) {
        for &byte in self.bytes.by_ref() {
            let _ = self.decoder.push(byte);
        }
    }
}
