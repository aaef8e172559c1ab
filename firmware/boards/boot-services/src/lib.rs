//! What rackloop's bootloaders offer the images they start, on every board: the check of an
//! update's signature, so that the ed25519 verifier (about 14 KiB) is kept once, in the
//! bootloader's region, and not in each image's 64 KiB slot, as a chip's boot ROM offers its
//! own services. The bootloader leaves the address of its [`BootServices`] table in a RAM word
//! the images leave alone ([`publish`]); an image finds it there ([`find`]) and checks an
//! update through it ([`ServicesCheck`]).
//!
//! The table is the interface between two programs built apart (an old bootloader starts new
//! images): `#[repr(C)]`, C calls, a magic word, and only ever grown at its end.
#![no_std]
// Reading and writing a fixed RAM word and calling into the other program are `unsafe` by
// nature (each block says why it is sound); the workspace denies it elsewhere.
#![allow(unsafe_code)]

use core::ops::Range;

use rack_protocol::image::{HEADER_LEN, PUBLIC_KEY_LEN, Refusal, verify_from};

/// The bootloader's services.
#[repr(C)]
pub struct BootServices {
    /// [`MAGIC`].
    pub magic: u32,
    /// Checks the binary in the update slot against the image header at `head` (128 bytes)
    /// under the ed25519 public key at `key` (32 bytes): 0 when its signature checks out.
    pub verify_update: unsafe extern "C" fn(head: *const u8, key: *const u8) -> u32,
}

/// Marks a services table.
pub const MAGIC: u32 = 0x5342_4c52;

/// Leaves `table`'s address at `at` (a RAM word no image uses) for the image about to start.
///
/// # Safety
/// `at` must be a writable, aligned RAM word that the images leave alone.
pub unsafe fn publish(at: u32, table: &'static BootServices) {
    // SAFETY: the caller gives a RAM word no one else uses.
    unsafe { core::ptr::write_volatile(at as *mut u32, core::ptr::from_ref(table) as u32) }
}

/// The services the bootloader left at `at`, believed only when the address there points into
/// `bootloader` (its code region) and the table there has its magic: an image started without
/// the bootloader (by a debugger, or a bootloader without services) finds none.
pub fn find(at: u32, bootloader: Range<u32>) -> Option<&'static BootServices> {
    // SAFETY: `at` is a RAM word the boards' layouts keep for this (read, whatever it holds);
    // the address in it is dereferenced only inside the bootloader's code region, aligned.
    unsafe {
        let table = core::ptr::read_volatile(at as *const u32);
        // Two words on the 32-bit targets this runs on.
        #[allow(clippy::cast_possible_truncation)]
        let size = core::mem::size_of::<BootServices>() as u32;
        if !table.is_multiple_of(4)
            || !bootloader.contains(&table)
            || !bootloader.contains(&(table + size - 1))
        {
            return None;
        }
        let table = &*(table as *const BootServices);
        (core::ptr::read_volatile(&table.magic) == MAGIC).then_some(table)
    }
}

/// The bootloader's side of [`BootServices::verify_update`]: the update slot's binary, read
/// through `read`, checked with `rack_protocol`'s verifier (`image::verify_from`).
///
/// # Safety
/// `head` must point at 128 readable bytes and `key` at 32.
pub unsafe fn verify_update_with<E>(
    head: *const u8,
    key: *const u8,
    read: impl FnMut(u32, &mut [u8]) -> Result<(), E>,
) -> u32 {
    // SAFETY: the caller gives 128 and 32 readable bytes.
    let (head, key) = unsafe {
        (
            core::slice::from_raw_parts(head, HEADER_LEN),
            &*(key.cast::<[u8; PUBLIC_KEY_LEN]>()),
        )
    };
    u32::from(verify_from(head, key, read).is_err())
}

/// An update's signature checked by the bootloader's services.
pub struct ServicesCheck(pub &'static BootServices);

impl rack_node::update::SignatureCheck for ServicesCheck {
    fn check<F: embedded_storage::nor_flash::NorFlash>(
        &mut self,
        head: &[u8; HEADER_LEN],
        key: &[u8; PUBLIC_KEY_LEN],
        _flash: &mut F,
    ) -> Result<(), Refusal> {
        // SAFETY: `head` and `key` are 128 and 32 bytes, borrowed for the call; the bootloader
        // reads the update slot itself.
        let verdict = unsafe { (self.0.verify_update)(head.as_ptr(), key.as_ptr()) };
        if verdict == 0 {
            Ok(())
        } else {
            Err(Refusal::BadSignature)
        }
    }
}
