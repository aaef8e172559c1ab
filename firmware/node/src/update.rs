//! Receiving a signed update image into the update slot: the device's side of a firmware
//! update, sans-I/O, over any NOR flash region (`embedded-storage`), before any link or
//! bootloader is wired to it.
//!
//! The slot holds the image as it came: its 128-byte header ([`rack_protocol::image`]) at the
//! start and the binary after it. [`Receiver::begin`] checks the header against the device
//! ([`image::check`]: the other controller or board, a downgrade, too large, an untrusted key,
//! each refused with its reason before a byte is written), erases the pages the image needs
//! and writes the header. [`Receiver::chunk`] takes the binary in order, at the offset the
//! receiver expects: a chunk it already has (a resend after a lost answer) is taken as done, one
//! past a gap is refused with the offset it expects, so a sender that lost its link asks
//! [`Receiver::next_offset`] and goes on from there. [`Receiver::verify`] reads the slot back
//! from flash (what the bootloader would swap in, not what was meant to be written) through
//! the signature check; an image that fails it is refused and its header erased, so nothing
//! can later take the slot for a good image.

// The header (128 B), a flash word (at most 32 B), a page (a few KiB) and a slot (at most a
// bank) are far inside u32, and u32 offsets inside usize on the targets this runs on.
#![allow(clippy::cast_possible_truncation)]

use embedded_storage::nor_flash::NorFlash;
use rack_protocol::image::{self, Expect, HEADER_LEN, Header, Refusal, Verifier};

/// Bytes held until a whole flash word can be written (the largest word this supports).
const MAX_WORD: usize = 32;
/// Bytes read back from flash at a time while verifying.
const READ_CHUNK: usize = 256;

/// What the update slot holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotState {
    /// Nothing being received (or a refused image, erased).
    Empty,
    /// An image being received: its header, and the binary's bytes written so far.
    Receiving {
        /// The image's header.
        header: Header,
        /// Binary bytes received.
        received: u32,
    },
    /// A whole image whose signature checked out as it lies in flash.
    Verified(Header),
}

/// Why the receiver did not take a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateError {
    /// The image is refused, with the reason.
    Refused(Refusal),
    /// A chunk past a gap: the receiver expects this offset.
    OutOfOrder {
        /// The offset of the next byte it needs.
        expected: u32,
    },
    /// A chunk or verify with no image begun.
    NotReceiving,
    /// More binary than the header said.
    TooLong,
    /// The flash refused an erase, a write or a read.
    Flash,
}

/// The update slot's receiver.
pub struct Receiver<F> {
    flash: F,
    state: SlotState,
    signature: [u8; 64],
    /// Received bytes not yet written (less than a flash word).
    tail: heapless::Vec<u8, MAX_WORD>,
}

impl<F: NorFlash> Receiver<F> {
    /// A receiver over `flash`, the whole update slot (its header and the largest binary).
    pub fn new(flash: F) -> Self {
        Self {
            flash,
            state: SlotState::Empty,
            signature: [0; 64],
            tail: heapless::Vec::new(),
        }
    }

    /// What the slot holds.
    pub fn state(&self) -> SlotState {
        self.state
    }

    /// The binary offset the receiver needs next (0 when nothing is being received).
    pub fn next_offset(&self) -> u32 {
        match self.state {
            SlotState::Receiving { received, .. } => received,
            SlotState::Verified(h) => h.len,
            SlotState::Empty => 0,
        }
    }

    /// The slot's flash, for the bootloader's side and for tests.
    pub fn flash(&mut self) -> &mut F {
        &mut self.flash
    }

    /// Starts receiving the image whose first bytes (at least its header) are `header`:
    /// checks it against `expect`, erases what the image needs and writes the header. Any
    /// image begun or verified before is dropped.
    pub fn begin(&mut self, header: &[u8], expect: &Expect<'_>) -> Result<(), UpdateError> {
        self.state = SlotState::Empty;
        self.tail.clear();
        let slot = u32::try_from(self.flash.capacity()).unwrap_or(u32::MAX);
        let room = Expect {
            slot_len: expect.slot_len.min(slot.saturating_sub(HEADER_LEN as u32)),
            ..*expect
        };
        let (h, signature) = image::check(header, &room).map_err(UpdateError::Refused)?;
        let raw = header
            .get(..HEADER_LEN)
            .ok_or(UpdateError::Refused(Refusal::Unsigned))?;
        let erase = F::ERASE_SIZE as u32;
        let end = (HEADER_LEN as u32 + h.len).div_ceil(erase) * erase;
        self.flash
            .erase(0, end.min(slot))
            .map_err(|_| UpdateError::Flash)?;
        self.flash.write(0, raw).map_err(|_| UpdateError::Flash)?;
        self.signature = signature;
        self.state = SlotState::Receiving {
            header: h,
            received: 0,
        };
        Ok(())
    }

    /// The binary's bytes from `offset`; the offset the receiver needs next.
    pub fn chunk(&mut self, offset: u32, data: &[u8]) -> Result<u32, UpdateError> {
        let SlotState::Receiving { header, received } = self.state else {
            return Err(UpdateError::NotReceiving);
        };
        let len = u32::try_from(data.len()).map_err(|_| UpdateError::TooLong)?;
        let end = offset.checked_add(len).ok_or(UpdateError::TooLong)?;
        if offset > received {
            return Err(UpdateError::OutOfOrder { expected: received });
        }
        if end <= received {
            // Already here: a resend.
            return Ok(received);
        }
        if end > header.len {
            return Err(UpdateError::TooLong);
        }
        // What is new of it.
        let new = data
            .get((received - offset) as usize..)
            .ok_or(UpdateError::OutOfOrder { expected: received })?;
        self.write_binary(received, new)?;
        self.state = SlotState::Receiving {
            header,
            received: end,
        };
        Ok(end)
    }

    /// Writes `bytes`, the binary from `at`, through the word buffer.
    fn write_binary(&mut self, at: u32, bytes: &[u8]) -> Result<(), UpdateError> {
        let word = F::WRITE_SIZE.clamp(1, MAX_WORD);
        // Where the buffered tail starts in the slot.
        let mut addr = HEADER_LEN as u32 + at - self.tail.len() as u32;
        for b in bytes {
            // The buffer has room for a word at least: it is emptied at every whole word.
            let _ = self.tail.push(*b);
            if self.tail.len() == word {
                self.flash
                    .write(addr, &self.tail)
                    .map_err(|_| UpdateError::Flash)?;
                addr += word as u32;
                self.tail.clear();
            }
        }
        Ok(())
    }

    /// Checks the whole image as it lies in flash. Refused: the header erased, the slot empty.
    pub fn verify(&mut self, expect: &Expect<'_>) -> Result<Header, UpdateError> {
        let SlotState::Receiving { header, received } = self.state else {
            return match self.state {
                SlotState::Verified(h) => Ok(h),
                _ => Err(UpdateError::NotReceiving),
            };
        };
        if received != header.len {
            return Err(UpdateError::OutOfOrder { expected: received });
        }
        // The last partial word, padded as erased flash.
        if !self.tail.is_empty() {
            let word = F::WRITE_SIZE.clamp(1, MAX_WORD);
            let addr = HEADER_LEN as u32 + received - self.tail.len() as u32;
            while self.tail.len() < word {
                let _ = self.tail.push(0xff);
            }
            self.flash
                .write(addr, &self.tail)
                .map_err(|_| UpdateError::Flash)?;
            self.tail.clear();
        }
        let verdict = self.check_flash(expect);
        match verdict {
            Ok(h) => {
                self.state = SlotState::Verified(h);
                Ok(h)
            }
            Err(e) => {
                self.state = SlotState::Empty;
                let erase = F::ERASE_SIZE as u32;
                let _ = self.flash.erase(0, erase);
                Err(e)
            }
        }
    }

    /// The header and the binary read back from flash, checked as a device checks an image.
    fn check_flash(&mut self, expect: &Expect<'_>) -> Result<Header, UpdateError> {
        let mut head = [0u8; HEADER_LEN];
        self.flash
            .read(0, &mut head)
            .map_err(|_| UpdateError::Flash)?;
        let (header, signature) = image::check(&head, expect).map_err(UpdateError::Refused)?;
        if signature != self.signature {
            return Err(UpdateError::Refused(Refusal::BadSignature));
        }
        let mut v = Verifier::new(&header, &signature, expect).map_err(UpdateError::Refused)?;
        let mut buf = [0u8; READ_CHUNK];
        let mut at = 0u32;
        while at < header.len {
            let n = (header.len - at).min(READ_CHUNK as u32);
            let piece = buf.get_mut(..n as usize).ok_or(UpdateError::Flash)?;
            self.flash
                .read(HEADER_LEN as u32 + at, piece)
                .map_err(|_| UpdateError::Flash)?;
            v.absorb(piece);
            at += n;
        }
        v.finish().map_err(UpdateError::Refused)?;
        Ok(header)
    }
}
