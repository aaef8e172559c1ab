//! The flash of rackloop's QEMU board ([`rack_protocol::image::qemu`]): a file on the host,
//! reached through semihosting, with the geometry and the rules of NOR flash (erase to 0xff a
//! page at a time, writes of whole words that can only clear bits), so that `embassy-boot`'s
//! bootloader and the images' update path run over it as over a chip's flash, and a write cut
//! off by a power cut (QEMU killed) leaves what a chip would.
//!
//! Written here: no maintained crate drives a semihosting file as NOR flash.
#![no_std]
// Semihosting calls pass raw pointers to the host: `unsafe` is what they are made of (each
// block says why it is sound); the workspace denies it elsewhere.
#![allow(unsafe_code)]
// A block (256 B), a slot (64 KiB) and the flash file (132 KiB) are far inside u32, and u32
// inside usize on the target.
#![allow(clippy::cast_possible_truncation)]

use cortex_m_semihosting::{nr, syscall};
use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};
use rack_protocol::image::qemu;

/// Where the bootloader leaves the address of its services ([`boot_services`]): the top of its
/// RAM, which the images leave alone (their RAM starts above the bootloader's, which stops
/// below this).
pub const SERVICES_AT: u32 = 0x2000_fff0;

/// The bootloader's services, if it left them (an image started without the bootloader has
/// none).
pub fn services() -> Option<&'static boot_services::BootServices> {
    boot_services::find(SERVICES_AT, 0..qemu::APP_BASE)
}

/// The bootloader's side of [`boot_services::BootServices::verify_update`]: reads the update
/// slot from the flash file.
///
/// # Safety
/// `head` must point at 128 readable bytes and `key` at 32.
pub unsafe extern "C" fn verify_update(head: *const u8, key: *const u8) -> u32 {
    let Some(file) = FlashFile::open() else {
        return 3;
    };
    let mut dfu = file.partition(qemu::DFU);
    // SAFETY: the caller's pointers, as this function's contract says.
    let verdict =
        unsafe { boot_services::verify_update_with(head, key, |at, buf| dfu.read(at, buf)) };
    file.close();
    verdict
}

/// Bytes moved per semihosting call while erasing and read-modify-writing.
const BLOCK: usize = 256;

/// An open flash file.
#[derive(Debug, Clone, Copy)]
pub struct FlashFile {
    handle: usize,
}

impl FlashFile {
    /// Opens the board's flash file (read and write, never truncated); `None` if the host has
    /// none (QEMU started without one in its working directory).
    pub fn open() -> Option<Self> {
        let name = qemu::FLASH_FILE;
        let len = name.len().saturating_sub(1);
        // SAFETY: SYS_OPEN reads the NUL-terminated name, which lives for the whole call.
        let handle = unsafe { syscall!(OPEN, name.as_ptr(), nr::open::RW_BINARY, len) };
        // The host answers -1 when it cannot open the file.
        (handle != usize::MAX).then_some(Self { handle })
    }

    /// The partition at `(offset, len)` of the file.
    pub fn partition(self, (offset, len): (u32, u32)) -> Partition {
        Partition {
            file: self,
            offset,
            len,
        }
    }

    /// Closes the file (the handle goes back to the host).
    pub fn close(self) {
        // SAFETY: SYS_CLOSE takes the handle only.
        let _ = unsafe { syscall!(CLOSE, self.handle) };
    }

    fn seek(self, at: u32) -> Result<(), Error> {
        // SAFETY: SYS_SEEK takes the handle and a position, no memory.
        let r = unsafe { syscall!(SEEK, self.handle, at as usize) };
        if r == 0 {
            Ok(())
        } else {
            Err(Error(NorFlashErrorKind::Other))
        }
    }

    fn read(self, at: u32, out: &mut [u8]) -> Result<(), Error> {
        self.seek(at)?;
        // SAFETY: the host writes at most `out.len()` bytes into `out`, borrowed for the call.
        let left = unsafe { syscall!(READ, self.handle, out.as_mut_ptr(), out.len()) };
        if left == 0 {
            Ok(())
        } else {
            Err(Error(NorFlashErrorKind::Other))
        }
    }

    fn write(self, at: u32, bytes: &[u8]) -> Result<(), Error> {
        self.seek(at)?;
        // SAFETY: the host reads `bytes.len()` bytes from `bytes`, borrowed for the call.
        let left = unsafe { syscall!(WRITE, self.handle, bytes.as_ptr(), bytes.len()) };
        if left == 0 {
            Ok(())
        } else {
            Err(Error(NorFlashErrorKind::Other))
        }
    }
}

/// A flash error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error(NorFlashErrorKind);

impl NorFlashError for Error {
    fn kind(&self) -> NorFlashErrorKind {
        self.0
    }
}

/// A partition of the flash file, as NOR flash.
#[derive(Debug, Clone, Copy)]
pub struct Partition {
    file: FlashFile,
    offset: u32,
    len: u32,
}

impl Partition {
    /// The file offset of `[at, at + n)` in this partition, if it lies inside and is aligned
    /// to `align`.
    fn span(&self, at: u32, n: usize, align: u32) -> Result<u32, Error> {
        let n = u32::try_from(n).map_err(|_| Error(NorFlashErrorKind::OutOfBounds))?;
        let end = at
            .checked_add(n)
            .ok_or(Error(NorFlashErrorKind::OutOfBounds))?;
        if end > self.len {
            return Err(Error(NorFlashErrorKind::OutOfBounds));
        }
        if !at.is_multiple_of(align) || !n.is_multiple_of(align) {
            return Err(Error(NorFlashErrorKind::NotAligned));
        }
        Ok(self.offset + at)
    }
}

impl ErrorType for Partition {
    type Error = Error;
}

impl ReadNorFlash for Partition {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Error> {
        let at = self.span(offset, bytes.len(), 1)?;
        self.file.read(at, bytes)
    }

    fn capacity(&self) -> usize {
        self.len as usize
    }
}

impl NorFlash for Partition {
    const WRITE_SIZE: usize = qemu::WORD as usize;
    const ERASE_SIZE: usize = qemu::PAGE as usize;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Error> {
        let len = to
            .checked_sub(from)
            .ok_or(Error(NorFlashErrorKind::OutOfBounds))?;
        let mut at = self.span(from, len as usize, qemu::PAGE)?;
        let end = at + len;
        let erased = [0xffu8; BLOCK];
        while at < end {
            self.file.write(at, &erased)?;
            at += BLOCK as u32;
        }
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Error> {
        let mut at = self.span(offset, bytes.len(), qemu::WORD)?;
        let mut cells = [0u8; BLOCK];
        for piece in bytes.chunks(BLOCK) {
            let cells = cells
                .get_mut(..piece.len())
                .ok_or(Error(NorFlashErrorKind::Other))?;
            self.file.read(at, cells)?;
            // NOR flash only clears bits.
            for (cell, b) in cells.iter_mut().zip(piece) {
                *cell &= b;
            }
            self.file.write(at, cells)?;
            at += piece.len() as u32;
        }
        Ok(())
    }
}
