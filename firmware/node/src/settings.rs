//! Settings that survive a reset: the setpoints and commissioning values a technician set,
//! the pumps' controlled variable, and the protocol keys with their counters.
//!
//! **Layout.** The store is a log of whole records in a region of NOR flash, used page after
//! page round the region (wear levelling: a page is erased only when the log comes round to
//! it, so every page wears alike). A record is a 16-byte header (magic [`MAGIC`], layout
//! version [`LAYOUT`], device kind, body length and its complement, sequence number, and a
//! CRC-32C over header and body) and a body padded to the flash's word. The body is the
//! settings as the protocol requests that set them (`SetSetpoint`, `SetMode`, `SetKey` and the
//! key's last counter; see [`BodyWriter`] and [`read_body`]): each as its kind, its length and
//! its postcard payload, read back by the frame decoder's own code. The node writes and reads
//! bodies ([`crate::Node::write_settings`], [`crate::Node::restore_settings`]); the store keeps
//! them.
//! At boot the valid record with the highest sequence number is the one in force. Power lost
//! while saving costs at most that save: the page holding the newest record is never the one
//! erased, and a torn record fails its CRC.
//!
//! Written here rather than with `sequential-storage` (the field's crate for this, tried
//! first): it cost 13.6 KiB of flash in the QEMU image (its queue, its async state machines,
//! and the formatting its assertions pull in), and the Nucleo coolant image had 1.5 KiB left
//! of its 64 KiB budget. One record type, appended whole, needs only this.
//!
//! **What boot finds** ([`StoreStatus`]): valid records and nothing else: `Loaded`, the newest in
//! force; a store that is all erased flash: `Empty`, the built-in settings; a record that fails
//! its check beside good ones (a save cut short by a power cut, damaged flash): `Corrupt`, the
//! newest good record in force, and the store rewritten as that record alone; no good record
//! at all, or a newest of another layout or device kind: `Corrupt`, the built-in settings, the
//! store erased. Empty or corrupt, the node raises the `settings-lost` alarm.
//!
//! **Wear.** Flash endures about 10,000 erase cycles a page (STM32G4: 10 k). A save is taken
//! at most every [`SAVE_SETTLE_MS`] after the last change and out of a bucket of
//! [`SAVE_BURST`] saves that refills one save every [`SAVE_REFILL_MS`]: a technician's
//! changes are kept within a second, and a client that writes without pause (a gateway
//! moving a power budget every second) still leaves the store's pages good for decades (the
//! figures for the Nucleo's store are in the board README).
//!

use core::ops::Range;

use embedded_storage::nor_flash::{NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash};
use rack_control::Instant;
use rack_protocol::frame::CRC;
use rack_protocol::message::{Message, MessageKind, SetKey, SetMode, SetSetpoint};
use rack_protocol::types::{DeviceKind, ModeSetting, SetpointId, StoreStatus};
use serde::Serialize;

/// The first bytes of every record.
pub const MAGIC: [u8; 2] = *b"RL";
/// The record layout this firmware writes and reads. A change to the body that an older
/// reader would misread takes a new number.
pub const LAYOUT: u8 = 1;
/// Modes a record keeps, at most.
pub const MAX_KEPT_MODES: usize = 2;
/// The largest record: header and the largest body (eight setpoints, two modes and eight
/// keys: about 420 bytes), with room to spare.
pub const RECORD_MAX: usize = 512;
/// Where the QEMU board (`mps2-an386`) keeps its store: address and length in the machine's
/// code memory (its `memory.x` ends `FLASH` there). The processor-in-the-loop tests save and
/// preload it to carry a board's settings through a power cycle.
pub const QEMU_REGION: (u32, u32) = (0x003f_c000, 16 * 1024);
/// A save waits this long after the last change, so that a burst of changes is one save.
pub const SAVE_SETTLE_MS: u64 = 500;
/// Saves that may be taken in a row.
pub const SAVE_BURST: u32 = 32;
/// One more save is allowed every this many ms (20 min).
pub const SAVE_REFILL_MS: u64 = 20 * 60 * 1000;

/// When the settings are written: [`SAVE_SETTLE_MS`] after the last change, out of a bucket
/// of [`SAVE_BURST`] saves that refills one every [`SAVE_REFILL_MS`] (the flash's wear budget).
///
/// A change is only counted ([`SavePolicy::changed`]); its time is taken by the policy's own
/// clock, the one [`SavePolicy::due`] is asked with, so that a board whose protocol clock is
/// not its machine's (QEMU runs on the simulator's) still settles on real time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SavePolicy {
    changes: u32,
    seen: u32,
    /// Since when the changes seen wait to be saved.
    waiting_since: Option<Instant>,
    saves: u32,
    refilled_at: Instant,
}

impl SavePolicy {
    /// Nothing to save, a full bucket.
    pub const fn new(now: Instant) -> Self {
        Self {
            changes: 0,
            seen: 0,
            waiting_since: None,
            saves: SAVE_BURST,
            refilled_at: now,
        }
    }

    /// Something kept changed.
    pub fn changed(&mut self) {
        self.changes = self.changes.wrapping_add(1);
    }

    /// Whether to save at `now`; if so, the save is taken from the bucket.
    pub fn due(&mut self, now: Instant) -> bool {
        let elapsed = now.as_millis().saturating_sub(self.refilled_at.as_millis());
        let earned = elapsed / SAVE_REFILL_MS;
        if self.saves >= SAVE_BURST {
            self.refilled_at = now;
        } else if earned > 0 {
            let earned = u32::try_from(earned).unwrap_or(u32::MAX);
            self.saves = self.saves.saturating_add(earned).min(SAVE_BURST);
            self.refilled_at = self
                .refilled_at
                .plus_millis(u64::from(earned) * SAVE_REFILL_MS);
        }
        if self.changes != self.seen {
            // A change since the last look: it settles from now.
            self.seen = self.changes;
            self.waiting_since = Some(now);
            return false;
        }
        let settled = self.waiting_since.is_some_and(|since| {
            now.as_millis().saturating_sub(since.as_millis()) >= SAVE_SETTLE_MS
        });
        if settled && self.saves > 0 {
            self.saves -= 1;
            self.waiting_since = None;
            true
        } else {
            false
        }
    }
}

/// Writes a record body: one item per kept request.
#[derive(Debug)]
pub struct BodyWriter<'a> {
    out: &'a mut [u8],
    len: usize,
}

impl<'a> BodyWriter<'a> {
    /// A body written into `out`.
    pub fn new(out: &'a mut [u8]) -> Self {
        Self { out, len: 0 }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is written yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends one item: kind, payload length, postcard payload. `None` when full.
    fn put<T: Serialize>(&mut self, kind: MessageKind, payload: &T) -> Option<()> {
        let (head, body) = self.out.get_mut(self.len..)?.split_at_mut_checked(2)?;
        let len = postcard::to_slice(payload, body).ok()?.len();
        head.copy_from_slice(&[kind as u8, u8::try_from(len).ok()?]);
        self.len += 2 + len;
        Some(())
    }

    /// A setpoint's value.
    pub fn setpoint(&mut self, id: SetpointId, value: i32) -> Option<()> {
        self.put(MessageKind::SetSetpoint, &SetSetpoint { id, value })
    }

    /// A mode.
    pub fn mode(&mut self, mode: ModeSetting) -> Option<()> {
        self.put(MessageKind::SetMode, &SetMode { mode })
    }

    /// A key and the last counter it signed with.
    pub fn key(&mut self, key: &SetKey, last_counter: Option<u64>) -> Option<()> {
        self.put(MessageKind::SetKey, key)?;
        // A flag and 8 bytes.
        let [c0, c1, c2, c3, c4, c5, c6, c7] = last_counter.unwrap_or(0).to_le_bytes();
        let counter = [
            u8::from(last_counter.is_some()),
            c0,
            c1,
            c2,
            c3,
            c4,
            c5,
            c6,
            c7,
        ];
        self.out
            .get_mut(self.len..self.len + counter.len())?
            .copy_from_slice(&counter);
        self.len += counter.len();
        Some(())
    }
}

/// Reads a record body: hands `each` every request in it (with, for a key, its last counter).
/// False, having stopped there, when something in it is not an item [`BodyWriter`] writes.
// One copy for every caller (`dyn`): the node reads a body twice at boot, to check it and to
// apply it, and an inlined copy each time cost the image 1 KiB.
pub fn read_body(mut rest: &[u8], each: &mut dyn FnMut(Message, Option<u64>)) -> bool {
    while let [kind, len, tail @ ..] = rest {
        let Some(kind) = MessageKind::from_u8(*kind) else {
            return false;
        };
        let Some((payload, tail)) = tail.split_at_checked(usize::from(*len)) else {
            return false;
        };
        rest = tail;
        let Ok(request) = Message::decode_body(kind, payload) else {
            return false;
        };
        let counter = match request {
            Message::SetKey(_) => {
                let Some(([flag, c0, c1, c2, c3, c4, c5, c6, c7], tail)) =
                    rest.split_first_chunk::<9>()
                else {
                    return false;
                };
                rest = tail;
                match flag {
                    0 => None,
                    1 => Some(u64::from_le_bytes([*c0, *c1, *c2, *c3, *c4, *c5, *c6, *c7])),
                    _ => return false,
                }
            }
            Message::SetSetpoint(_) | Message::SetMode(_) => None,
            _ => return false,
        };
        each(request, counter);
    }
    rest.is_empty()
}

/// Bytes of a record's header.
const HEADER: usize = 16;
/// [`HEADER`] as a flash length.
const HEADER_LEN: u32 = 16;

/// A record's header fields, as read from flash.
struct Header {
    layout: u8,
    kind: u8,
    len: usize,
    seq: u32,
    crc: u32,
}

impl Header {
    /// The header at the start of `bytes`, if its magic and length hold together (the CRC is
    /// checked with the body).
    fn parse(bytes: &[u8; HEADER]) -> Option<Self> {
        let [
            m0,
            m1,
            layout,
            kind,
            l0,
            l1,
            n0,
            n1,
            s0,
            s1,
            s2,
            s3,
            c0,
            c1,
            c2,
            c3,
        ] = *bytes;
        let len = u16::from_le_bytes([l0, l1]);
        if [m0, m1] != MAGIC || u16::from_le_bytes([n0, n1]) != !len {
            return None;
        }
        Some(Self {
            layout,
            kind,
            len: usize::from(len),
            seq: u32::from_le_bytes([s0, s1, s2, s3]),
            crc: u32::from_le_bytes([c0, c1, c2, c3]),
        })
    }
}

/// A record buffer, aligned for flashes that want aligned writes.
#[repr(C, align(8))]
struct Buffer([u8; RECORD_MAX]);

/// The settings store over a region of a NOR flash.
pub struct Store<F> {
    flash: F,
    range: Range<u32>,
    kind: DeviceKind,
    /// Bytes of a page (the flash's erase size).
    page: u32,
    /// Where the next record goes: page index and offset in it.
    cursor: (u32, u32),
    /// The newest record's sequence number.
    seq: u32,
    buf: Buffer,
}

/// Why a store could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreError {
    /// The region does not start and end on the flash's page boundaries, or holds fewer than
    /// two pages, or the flash's word does not divide the record header.
    BadRegion,
}

/// What one page holds.
#[derive(Default)]
struct PageWalk {
    /// The newest valid record on it: sequence number and offset.
    newest: Option<(u32, u32)>,
    /// Where its free space starts (the page's size when its records cannot be followed).
    end: u32,
    /// Whether it holds anything that is not a valid record or erased flash.
    damaged: bool,
}

impl<F: NorFlash> Store<F> {
    /// A store for a `kind` device over `range` of `flash`: whole pages, at least two (with
    /// one, a full store would erase its only record before writing the next).
    pub fn new(flash: F, range: Range<u32>, kind: DeviceKind) -> Result<Self, StoreError> {
        let page = u32::try_from(F::ERASE_SIZE).map_err(|_| StoreError::BadRegion)?;
        let fits = page > 0
            && range.start.is_multiple_of(page)
            && range.end.is_multiple_of(page)
            && range.end >= range.start.saturating_add(2 * page)
            && F::WRITE_SIZE > 0
            && HEADER.is_multiple_of(F::WRITE_SIZE)
            && RECORD_MAX.is_multiple_of(F::WRITE_SIZE);
        if !fits {
            return Err(StoreError::BadRegion);
        }
        Ok(Self {
            flash,
            range,
            kind,
            page,
            cursor: (0, 0),
            seq: 0,
            buf: Buffer([0; RECORD_MAX]),
        })
    }

    fn pages(&self) -> u32 {
        (self.range.end - self.range.start) / self.page
    }

    fn address(&self, page: u32, offset: u32) -> u32 {
        self.range.start + page * self.page + offset
    }

    /// A record's length in flash: header and body, padded to the word.
    fn footprint(len: usize) -> u32 {
        let total = (HEADER + len).next_multiple_of(F::WRITE_SIZE);
        u32::try_from(total).unwrap_or(u32::MAX)
    }

    /// Reads the header at `at` and, if it parses, the body after it into the buffer;
    /// `Some((header, crc ok))`.
    fn read_record(&mut self, at: u32) -> Option<(Header, bool)> {
        let mut head = [0u8; HEADER];
        self.flash.read(at, &mut head).ok()?;
        if head.iter().all(|&b| b == 0xff) {
            return None;
        }
        let header = Header::parse(&head)?;
        let body = self.buf.0.get_mut(..header.len)?;
        self.flash.read(at + HEADER_LEN, body).ok()?;
        let mut digest = CRC.digest();
        digest.update(head.get(..12)?);
        digest.update(body);
        let good = digest.finalize() == header.crc;
        Some((header, good))
    }

    /// Follows the records on `page`.
    fn walk(&mut self, page: u32) -> PageWalk {
        let mut walk = PageWalk::default();
        let mut at = 0;
        while at + HEADER_LEN <= self.page {
            let address = self.address(page, at);
            let mut head = [0u8; HEADER];
            if self.flash.read(address, &mut head).is_err() {
                walk.damaged = true;
                at = self.page;
                break;
            }
            if head.iter().all(|&b| b == 0xff) {
                break;
            }
            match self.read_record(address) {
                Some((header, good)) if at + Self::footprint(header.len) <= self.page => {
                    if good && walk.newest.is_none_or(|(seq, ..)| header.seq > seq) {
                        walk.newest = Some((header.seq, at));
                    }
                    walk.damaged |= !good;
                    at += Self::footprint(header.len);
                }
                // A header that does not hold together: the rest of the page cannot be
                // followed, and is not written again until the page is erased.
                _ => {
                    walk.damaged = true;
                    at = self.page;
                }
            }
        }
        walk.end = at;
        walk
    }

    /// Reads the settings in force: the newest valid record. A corrupt store is erased (the
    /// next save starts it afresh).
    pub fn load(&mut self) -> (StoreStatus, Option<&[u8]>) {
        let mut newest: Option<(u32, u32, u32)> = None;
        let mut damaged = false;
        let mut cursor = (0, 0);
        for page in 0..self.pages() {
            let walk = self.walk(page);
            damaged |= walk.damaged;
            if let Some((seq, at)) = walk.newest
                && newest.is_none_or(|(s, ..)| seq > s)
            {
                newest = Some((seq, page, at));
                cursor = (page, walk.end);
            }
        }
        // The newest record, read again; another layout or device kind is not ours.
        let found = newest.and_then(|(seq, page, at)| {
            let (header, good) = self.read_record(self.address(page, at))?;
            let ours = good && header.layout == LAYOUT && header.kind == self.kind as u8;
            ours.then_some((seq, header.len))
        });
        match (found, newest, damaged) {
            (Some((seq, len)), _, false) => {
                self.seq = seq;
                self.cursor = cursor;
                (StoreStatus::Loaded, self.buf.0.get(..len))
            }
            (Some((seq, len)), Some((_, page, at)), true) => {
                // A record failed its check (a save cut short, or the flash damaged): the newest
                // good one is in force, and the store says it was corrupt.
                self.seq = seq;
                (StoreStatus::Corrupt, self.heal(page, at, len))
            }
            (None, None, false) => (StoreStatus::Empty, None),
            _ => {
                // Erasing cannot make it worse; if it fails, the next save says so.
                let _ = self.flash.erase(self.range.start, self.range.end);
                self.seq = 0;
                self.cursor = (0, 0);
                (StoreStatus::Corrupt, None)
            }
        }
    }

    /// Rewrites the store as the good record at `page`/`at` alone (its body `len` bytes): a
    /// copy on the next page first, then every other page erased, so that a record is good at
    /// every moment and the next boot finds the store sound. Returns the body.
    fn heal(&mut self, page: u32, at: u32, len: usize) -> Option<&[u8]> {
        let address = self.address(page, at) + HEADER_LEN;
        let body = self.buf.0.get_mut(HEADER..HEADER + len)?;
        if self.flash.read(address, body).is_err() {
            return None;
        }
        // The write goes to the next page (erased for it).
        self.cursor = (page, self.page);
        if self.write_record(len).is_err() {
            return self.buf.0.get(HEADER..HEADER + len);
        }
        let kept = self.cursor.0;
        for other in (0..self.pages()).filter(|p| *p != kept) {
            let start = self.address(other, 0);
            let _ = self.flash.erase(start, start + self.page);
        }
        // The write's check read the record back: the body is at the buffer's start.
        self.buf.0.get(..len)
    }

    /// Whether `len` bytes at `at` read as erased flash.
    fn erased(&mut self, at: u32, len: u32) -> bool {
        let mut word = [0u8; HEADER];
        let mut offset = 0;
        while offset < len {
            let n = (len - offset).min(HEADER_LEN);
            let Some(chunk) = word.get_mut(..n as usize) else {
                return false;
            };
            if self.flash.read(at + offset, chunk).is_err() || chunk.iter().any(|&b| b != 0xff) {
                return false;
            }
            offset += n;
        }
        true
    }

    /// Appends `body` as the newest record.
    pub fn save(&mut self, body: &[u8]) -> Result<(), SaveError> {
        self.save_with(|out| {
            out.get_mut(..body.len())?.copy_from_slice(body);
            Some(body.len())
        })
    }

    /// Appends the body `write` writes (into the buffer it is given; it returns the length,
    /// or `None` when the body does not fit) as the newest record. When the page is full, the
    /// next page (which holds the oldest records) is erased for it.
    pub fn save_with(
        &mut self,
        write: impl FnOnce(&mut [u8]) -> Option<usize>,
    ) -> Result<(), SaveError> {
        let body = self.buf.0.get_mut(HEADER..).ok_or(SaveError::TooBig)?;
        let len = write(body).ok_or(SaveError::TooBig)?;
        self.write_record(len)
    }

    /// Appends the body in the buffer after the header's room (`len` bytes) as the newest
    /// record.
    fn write_record(&mut self, len: usize) -> Result<(), SaveError> {
        let footprint = Self::footprint(len);
        let seq = self.seq.wrapping_add(1);
        let len16 = u16::try_from(len).map_err(|_| SaveError::TooBig)?;
        let [m0, m1] = MAGIC;
        let [l0, l1] = len16.to_le_bytes();
        let [n0, n1] = (!len16).to_le_bytes();
        let [s0, s1, s2, s3] = seq.to_le_bytes();
        let head = [
            m0,
            m1,
            LAYOUT,
            self.kind as u8,
            l0,
            l1,
            n0,
            n1,
            s0,
            s1,
            s2,
            s3,
        ];
        let mut digest = CRC.digest();
        digest.update(&head);
        digest.update(
            self.buf
                .0
                .get(HEADER..HEADER + len)
                .ok_or(SaveError::TooBig)?,
        );
        let crc = digest.finalize().to_le_bytes();
        let (header, rest) = self.buf.0.split_at_mut(HEADER);
        header
            .get_mut(..12)
            .ok_or(SaveError::TooBig)?
            .copy_from_slice(&head);
        header
            .get_mut(12..)
            .ok_or(SaveError::TooBig)?
            .copy_from_slice(&crc);
        rest.get_mut(len..footprint as usize - HEADER)
            .ok_or(SaveError::TooBig)?
            .fill(0xff);

        let (mut page, mut at) = self.cursor;
        if at + footprint > self.page || !self.erased(self.address(page, at), footprint) {
            page = (page + 1) % self.pages();
            at = 0;
            let start = self.address(page, 0);
            self.flash
                .erase(start, start + self.page)
                .map_err(|_| SaveError::Flash)?;
        }
        let address = self.address(page, at);
        let record = self
            .buf
            .0
            .get(..footprint as usize)
            .ok_or(SaveError::TooBig)?;
        self.flash
            .write(address, record)
            .map_err(|_| SaveError::Flash)?;
        // What was written must read back as written.
        match self.read_record(address) {
            Some((h, true)) if h.seq == seq => {}
            _ => return Err(SaveError::Flash),
        }
        self.cursor = (page, at + footprint);
        self.seq = seq;
        Ok(())
    }

    /// The flash, for a test to inspect or damage.
    pub fn flash_mut(&mut self) -> &mut F {
        &mut self.flash
    }
}

/// Why a save failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveError {
    /// The settings do not fit a record ([`RECORD_MAX`]).
    TooBig,
    /// The flash refused an erase or a write, or did not read back what was written.
    Flash,
}

/// Memory that behaves as NOR flash (erased to `0xff`, writes clear bits, 8-byte words and
/// 2 KiB pages as the STM32G4's): the store's flash in QEMU, whose "flash" is RAM, and in the
/// host tests. Written here: the field's RAM flashes (embassy-embedded-hal's `MemFlash`) are
/// test-only and not exported.
#[derive(Debug)]
pub struct RamFlash<'a> {
    mem: &'a mut [u8],
}

/// Why a [`RamFlash`] refused an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RamFlashError(NorFlashErrorKind);

impl NorFlashError for RamFlashError {
    fn kind(&self) -> NorFlashErrorKind {
        self.0
    }
}

impl<'a> RamFlash<'a> {
    /// Flash over `mem`, as it is (a fresh region reads as whatever it holds until erased).
    pub fn new(mem: &'a mut [u8]) -> Self {
        Self { mem }
    }

    /// The bytes `from..from + len`, checked against the size and `align`.
    fn span(&mut self, from: u32, len: usize, align: usize) -> Result<&mut [u8], RamFlashError> {
        let from = from as usize;
        if !from.is_multiple_of(align) || !len.is_multiple_of(align) {
            return Err(RamFlashError(NorFlashErrorKind::NotAligned));
        }
        from.checked_add(len)
            .and_then(|end| self.mem.get_mut(from..end))
            .ok_or(RamFlashError(NorFlashErrorKind::OutOfBounds))
    }
}

impl embedded_storage::nor_flash::ErrorType for RamFlash<'_> {
    type Error = RamFlashError;
}

impl ReadNorFlash for RamFlash<'_> {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        let span = self.span(offset, bytes.len(), 1)?;
        bytes.copy_from_slice(span);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.mem.len()
    }
}

impl NorFlash for RamFlash<'_> {
    const WRITE_SIZE: usize = 8;
    const ERASE_SIZE: usize = 2048;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        let len = to
            .checked_sub(from)
            .ok_or(RamFlashError(NorFlashErrorKind::OutOfBounds))?;
        self.span(from, len as usize, Self::ERASE_SIZE)?.fill(0xff);
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        let span = self.span(offset, bytes.len(), Self::WRITE_SIZE)?;
        // NOR flash can only clear bits.
        for (cell, b) in span.iter_mut().zip(bytes) {
            *cell &= b;
        }
        Ok(())
    }
}
