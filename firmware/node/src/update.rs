//! Receiving a signed update image into the update slot: the device's side of a firmware
//! update, sans-I/O, over any NOR flash region (`embedded-storage`), before any link or
//! bootloader is wired to it.
//!
//! The slot (the bootloader's DFU partition) holds the binary from its first byte, as the
//! bootloader swaps it into the active slot; the image's 128-byte header
//! ([`rack_protocol::image`]) is kept in RAM while the binary comes. [`Receiver::begin`] checks
//! the header against the device ([`image::check`]: the other controller or board, a
//! downgrade, too large, an untrusted key, each refused with its reason before a byte is
//! written). [`Receiver::chunk`] takes the binary in order, at the offset the receiver
//! expects, and erases each page just before its first word is written (one page's erase, some
//! 20-40 ms on an STM32G4, between two control steps, where the slot's thirty at once would
//! outlast the watchdog): a chunk it already has (a resend after a lost answer) is taken as done, one
//! past a gap is refused with the offset it expects, so a sender that lost its link asks
//! [`Receiver::next_offset`] and goes on from there. [`Receiver::verify`] reads the slot back
//! from flash (what the bootloader would swap in, not what was meant to be written) through
//! the signature check; an image that fails it is refused and its first page erased.
//!
//! [`Updater`] is the device's whole update path over the bootloader's partitions
//! (`embassy-boot`'s layout: the update slot, and the state page where the bootloader reads
//! whether to swap): the receiver, the swap request, and the trial that a swapped-in image
//! must pass (its control loop healthy for `confirm_after_s`) before it marks itself good;
//! otherwise the bootloader swaps the previous image back at the next reset.
//!
//! On the boards the updater runs in the bootloader's region (`boot-services`' update agent:
//! some 3 KiB no image carries), and the images' nodes reach it through C calls of [`raw`]'s
//! types, as the [`Firmware`] they serve the update messages with.

// The header (128 B), a flash word (at most 32 B), a page (a few KiB) and a slot (at most a
// bank) are far inside u32, and u32 offsets inside usize on the targets this runs on.
#![allow(clippy::cast_possible_truncation)]

use embedded_storage::nor_flash::NorFlash;
use rack_protocol::image::{self, Expect, HEADER_LEN, Header, Refusal};
#[cfg(feature = "update")]
use {
    rack_control::Instant,
    rack_protocol::image::Board,
    rack_protocol::message::{FirmwareProgress, FirmwareStatus},
    rack_protocol::types::{
        BootState, DeviceKind, EventKind, FirmwareStep, FirmwareVersion, Refusal as ProtoRefusal,
        UpdateProblem, UpdateSlotState,
    },
};

#[cfg(feature = "update")]
pub mod raw;

include!(concat!(env!("OUT_DIR"), "/image_keys.rs"));
include!(concat!(env!("OUT_DIR"), "/trial_times.rs"));

/// Bytes held until a whole flash word can be written (the largest word this supports).
const MAX_WORD: usize = 32;

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

/// How a device checks an image's signature over the binary in its update slot.
pub trait SignatureCheck {
    /// Checks the binary of the image whose header is `head` (which [`image::check`]
    /// accepted), the first bytes of `flash`, under `key`.
    fn check<F: NorFlash>(
        &mut self,
        head: &[u8; HEADER_LEN],
        key: &[u8; image::PUBLIC_KEY_LEN],
        flash: &mut F,
    ) -> Result<(), Refusal>;
}

/// The signature checked where the updater runs, with [`rack_protocol::image::verify_from`]
/// (ed25519, about 14 KiB of flash): on the boards, in the bootloader, which keeps the update
/// path for its images (`boot-services`).
#[derive(Debug, Clone, Copy, Default)]
pub struct InImage;

impl SignatureCheck for InImage {
    fn check<F: NorFlash>(
        &mut self,
        head: &[u8; HEADER_LEN],
        key: &[u8; image::PUBLIC_KEY_LEN],
        flash: &mut F,
    ) -> Result<(), Refusal> {
        image::verify_from(head, key, |at, buf| flash.read(at, buf)).map(drop)
    }
}

/// The update slot's receiver.
pub struct Receiver<F, V = InImage> {
    flash: F,
    check: V,
    state: SlotState,
    /// The header of the image being received, as it came.
    head: [u8; HEADER_LEN],
    /// Received bytes not yet written (less than a flash word).
    tail: heapless::Vec<u8, MAX_WORD>,
}

impl<F: NorFlash> Receiver<F> {
    /// A receiver over `flash`, the whole update slot, that checks signatures itself.
    pub fn new(flash: F) -> Self {
        Self::with_check(flash, InImage)
    }
}

impl<F: NorFlash, V: SignatureCheck> Receiver<F, V> {
    /// A receiver over `flash`, the whole update slot, that checks signatures with `check`.
    pub fn with_check(flash: F, check: V) -> Self {
        Self {
            flash,
            check,
            state: SlotState::Empty,
            head: [0; HEADER_LEN],
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
    /// checks it against `expect`. Any image begun or verified before is dropped (its pages are
    /// erased as the new binary reaches them).
    pub fn begin(&mut self, header: &[u8], expect: &Expect<'_>) -> Result<(), UpdateError> {
        self.state = SlotState::Empty;
        self.tail.clear();
        let slot = u32::try_from(self.flash.capacity()).unwrap_or(u32::MAX);
        let room = Expect {
            slot_len: expect.slot_len.min(slot),
            ..*expect
        };
        let (h, _) = image::check(header, &room).map_err(UpdateError::Refused)?;
        let raw = header
            .get(..HEADER_LEN)
            .ok_or(UpdateError::Refused(Refusal::Unsigned))?;
        self.head.copy_from_slice(raw);
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
        let mut addr = at - self.tail.len() as u32;
        for b in bytes {
            // The buffer has room for a word at least: it is emptied at every whole word.
            let _ = self.tail.push(*b);
            if self.tail.len() == word {
                self.write_tail(addr)?;
                addr += word as u32;
            }
        }
        Ok(())
    }

    /// Writes the word buffer at `addr` (a word boundary), erasing the page first when the
    /// word is the page's first: the binary is written in order from 0, so every page is
    /// erased once, just before it is needed.
    fn write_tail(&mut self, addr: u32) -> Result<(), UpdateError> {
        let erase = F::ERASE_SIZE as u32;
        if addr.is_multiple_of(erase) {
            self.flash
                .erase(addr, addr + erase)
                .map_err(|_| UpdateError::Flash)?;
        }
        self.flash
            .write(addr, &self.tail)
            .map_err(|_| UpdateError::Flash)?;
        self.tail.clear();
        Ok(())
    }

    /// Checks the whole image as it lies in flash. Refused: its first page erased, the slot
    /// empty.
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
            let addr = received - self.tail.len() as u32;
            while self.tail.len() < word {
                let _ = self.tail.push(0xff);
            }
            self.write_tail(addr)?;
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

    /// The binary read back from flash, checked with the header as a device checks an image.
    fn check_flash(&mut self, expect: &Expect<'_>) -> Result<Header, UpdateError> {
        let (header, _) = image::check(&self.head, expect).map_err(UpdateError::Refused)?;
        let key = expect
            .keys
            .iter()
            .find(|(id, _)| *id == header.key_id)
            .map(|(_, k)| *k)
            .ok_or(UpdateError::Refused(Refusal::UnknownKey(header.key_id)))?;
        self.check
            .check(&self.head, &key, &mut self.flash)
            .map_err(UpdateError::Refused)?;
        Ok(header)
    }
}

#[cfg(feature = "update")]
/// A device's firmware update path as its node serves it (the protocol's version-4 update
/// messages): implemented by [`Updater`] over a board's flash.
pub trait Firmware {
    /// The slots' state.
    fn status(&mut self) -> FirmwareStatus;
    /// Begins an update with the image's header.
    fn begin(&mut self, header: &[u8]) -> Result<FirmwareProgress, ProtoRefusal>;
    /// A piece of the binary at `offset`; the image is verified once the last byte is in.
    fn chunk(&mut self, offset: u32, data: &[u8]) -> Result<FirmwareProgress, ProtoRefusal>;
    /// Marks the verified image to be swapped in at the next reset; its version. The board
    /// resets once the answer is sent ([`Firmware::reset_due`]).
    fn swap(&mut self) -> Result<FirmwareVersion, ProtoRefusal>;
    /// Whether the board should reset now: a swap was asked for, or a trial ran out.
    fn reset_due(&self, uptime_ms: u64) -> bool;
    /// The control loop's health at `now`: on trial, a swapped-in image marks itself good once
    /// it has been healthy for `confirm_after_s`; the event to log when it does.
    fn health(&mut self, now: Instant, healthy: bool) -> Option<EventKind>;
}

#[cfg(feature = "update")]
/// What a board's [`Updater`] is set up with.
#[derive(Debug, Clone, Copy)]
pub struct UpdateConfig {
    /// The device's kind.
    pub kind: DeviceKind,
    /// Its board.
    pub board: Board,
    /// The running image's version (the build's).
    pub running: FirmwareVersion,
    /// The oldest version it takes.
    pub minimum: FirmwareVersion,
    /// The keys it trusts, by key id.
    pub keys: &'static [(u8, [u8; image::PUBLIC_KEY_LEN])],
    /// The most binary the active slot holds, bytes.
    pub slot_len: u32,
    /// Control-loop seconds a swapped-in image must run healthy before it marks itself good.
    pub confirm_after_s: u16,
    /// Machine seconds after boot by which an image on trial must have marked itself good;
    /// past them the board resets and the bootloader swaps the previous image back.
    pub trial_limit_s: u32,
}

#[cfg(feature = "update")]
impl UpdateConfig {
    /// A board's update path as this build sets it: a `kind` device on `board` whose active
    /// slot holds `slot_len` bytes, running this firmware and taking nothing older (a reinstall
    /// is taken, a downgrade refused), trusting the build's image keys, on trial for the
    /// build's times ([`CONFIRM_AFTER_S`], [`TRIAL_LIMIT_S`]).
    pub fn for_board(kind: DeviceKind, board: Board, slot_len: u32) -> Self {
        Self {
            kind,
            board,
            running: crate::FIRMWARE,
            minimum: crate::FIRMWARE,
            keys: IMAGE_KEYS,
            slot_len,
            confirm_after_s: CONFIRM_AFTER_S,
            trial_limit_s: TRIAL_LIMIT_S,
        }
    }
}

#[cfg(feature = "update")]
/// The update path over the bootloader's update slot (`D`, its DFU partition) and state page
/// (`S`), with `embassy-boot`'s state format.
pub struct Updater<D, S, V = InImage> {
    receiver: Receiver<D, V>,
    state: S,
    config: UpdateConfig,
    boot: BootState,
    healthy_since: Option<Instant>,
    healthy_ms: u64,
    swap_asked: bool,
}

#[cfg(feature = "update")]
impl<D: NorFlash, S: NorFlash> Updater<D, S> {
    /// [`Updater::with_check`] with the signature checked in the image itself.
    pub fn new(dfu: D, state: S, config: UpdateConfig) -> (Self, Option<EventKind>) {
        Self::with_check(dfu, state, config, InImage)
    }
}

#[cfg(feature = "update")]
impl<D: NorFlash, S: NorFlash, V: SignatureCheck> Updater<D, S, V> {
    /// The update path at boot: reads how this image came up from the state page (swapped in
    /// and on trial, back after a failed trial, or a good image) and returns it with the
    /// event to log (none for a good image). An image the bootloader put back marks itself
    /// good at once: it is the one that ran before.
    pub fn with_check(
        dfu: D,
        state: S,
        config: UpdateConfig,
        check: V,
    ) -> (Self, Option<EventKind>) {
        let mut this = Self {
            receiver: Receiver::with_check(dfu, check),
            state,
            config,
            boot: BootState::Confirmed,
            healthy_since: None,
            healthy_ms: 0,
            swap_asked: false,
        };
        let event = match this.boot_state() {
            Some(embassy_boot::State::Swap) => {
                this.boot = BootState::Trial;
                Some(FirmwareStep::Trial)
            }
            Some(embassy_boot::State::Revert) => {
                this.boot = BootState::RolledBack;
                let _ = this.mark(true);
                Some(FirmwareStep::RolledBack)
            }
            _ => None,
        };
        let event = event.map(|step| EventKind::Firmware {
            step,
            version: config.running,
        });
        (this, event)
    }

    /// The receiver (for tests and the bootloader's side).
    pub fn receiver(&mut self) -> &mut Receiver<D, V> {
        &mut self.receiver
    }

    /// How the running image booted.
    pub fn boot(&self) -> BootState {
        self.boot
    }

    fn expect(&self) -> Expect<'static> {
        Expect {
            kind: self.config.kind,
            board: self.config.board,
            minimum: self.config.minimum,
            slot_len: self.config.slot_len,
            keys: self.config.keys,
        }
    }

    /// The bootloader's state word, as `embassy-boot` reads it.
    fn boot_state(&mut self) -> Option<embassy_boot::State> {
        let mut word = [0u8; STATE_WORD];
        let aligned = word.get_mut(..S::WRITE_SIZE)?;
        embassy_boot::BlockingFirmwareState::new(&mut self.state, aligned)
            .get_state()
            .ok()
    }

    /// Writes the state word: this image is good (`good`), or swap at the next boot.
    fn mark(&mut self, good: bool) -> Result<(), ProtoRefusal> {
        let mut word = [0u8; STATE_WORD];
        let aligned = word
            .get_mut(..S::WRITE_SIZE)
            .ok_or(ProtoRefusal::Update(UpdateProblem::Flash))?;
        let mut state = embassy_boot::BlockingFirmwareState::new(&mut self.state, aligned);
        let done = if good {
            state.mark_booted()
        } else {
            state.mark_updated()
        };
        done.map_err(|_| ProtoRefusal::Update(UpdateProblem::Flash))
    }

    fn progress(&self) -> FirmwareProgress {
        let (len, verified) = match self.receiver.state() {
            SlotState::Receiving { header, .. } => (header.len, false),
            SlotState::Verified(h) => (h.len, true),
            SlotState::Empty => (0, false),
        };
        FirmwareProgress {
            next_offset: self.receiver.next_offset(),
            len,
            verified,
        }
    }
}

#[cfg(feature = "update")]
/// The largest flash write word the state page may have (`embassy-boot` writes its magic a
/// word at a time).
const STATE_WORD: usize = 32;

#[cfg(feature = "update")]
fn refusal(e: UpdateError) -> ProtoRefusal {
    match e {
        UpdateError::Refused(r) => ProtoRefusal::Image(r),
        UpdateError::OutOfOrder { expected } => {
            ProtoRefusal::Update(UpdateProblem::OutOfOrder { expected })
        }
        UpdateError::NotReceiving => ProtoRefusal::Update(UpdateProblem::NotReceiving),
        UpdateError::TooLong => ProtoRefusal::Update(UpdateProblem::TooLong),
        UpdateError::Flash => ProtoRefusal::Update(UpdateProblem::Flash),
    }
}

#[cfg(feature = "update")]
impl<D: NorFlash, S: NorFlash, V: SignatureCheck> Firmware for Updater<D, S, V> {
    fn status(&mut self) -> FirmwareStatus {
        let slot = match self.receiver.state() {
            SlotState::Receiving { header, received } => UpdateSlotState::Receiving {
                version: header.version,
                received,
                len: header.len,
            },
            SlotState::Verified(h) => UpdateSlotState::Verified { version: h.version },
            SlotState::Empty if self.boot == BootState::Trial => UpdateSlotState::Previous,
            SlotState::Empty => UpdateSlotState::Empty,
        };
        FirmwareStatus {
            running: self.config.running,
            boot: self.boot,
            slot,
            minimum: self.config.minimum,
            confirm_after_s: self.config.confirm_after_s,
            healthy_s: u16::try_from(self.healthy_ms / 1000).unwrap_or(u16::MAX),
        }
    }

    fn begin(&mut self, header: &[u8]) -> Result<FirmwareProgress, ProtoRefusal> {
        if self.boot == BootState::Trial {
            // The update slot holds the image to roll back to.
            return Err(ProtoRefusal::Update(UpdateProblem::OnTrial));
        }
        let expect = self.expect();
        self.receiver.begin(header, &expect).map_err(refusal)?;
        Ok(self.progress())
    }

    fn chunk(&mut self, offset: u32, data: &[u8]) -> Result<FirmwareProgress, ProtoRefusal> {
        if self.boot == BootState::Trial {
            return Err(ProtoRefusal::Update(UpdateProblem::OnTrial));
        }
        if let SlotState::Verified(h) = self.receiver.state()
            && offset.saturating_add(u32::try_from(data.len()).unwrap_or(u32::MAX)) <= h.len
        {
            // A resend of the last chunk after its answer was lost.
            return Ok(self.progress());
        }
        let next = self.receiver.chunk(offset, data).map_err(refusal)?;
        if let SlotState::Receiving { header, .. } = self.receiver.state()
            && next == header.len
        {
            let expect = self.expect();
            self.receiver.verify(&expect).map_err(refusal)?;
        }
        Ok(self.progress())
    }

    fn swap(&mut self) -> Result<FirmwareVersion, ProtoRefusal> {
        let SlotState::Verified(h) = self.receiver.state() else {
            return Err(ProtoRefusal::Update(UpdateProblem::NotVerified));
        };
        self.mark(false)?;
        self.swap_asked = true;
        Ok(h.version)
    }

    fn reset_due(&self, uptime_ms: u64) -> bool {
        self.swap_asked
            || (self.boot == BootState::Trial
                && uptime_ms > u64::from(self.config.trial_limit_s) * 1000)
    }

    fn health(&mut self, now: Instant, healthy: bool) -> Option<EventKind> {
        if self.boot != BootState::Trial {
            return None;
        }
        if !healthy {
            self.healthy_since = None;
            self.healthy_ms = 0;
            return None;
        }
        let since = *self.healthy_since.get_or_insert(now);
        self.healthy_ms = now.as_millis().saturating_sub(since.as_millis());
        if self.healthy_ms < u64::from(self.config.confirm_after_s) * 1000 {
            return None;
        }
        self.mark(true).ok()?;
        self.boot = BootState::Confirmed;
        Some(EventKind::Firmware {
            step: FirmwareStep::Confirmed,
            version: self.config.running,
        })
    }
}
