//! What rackloop's bootloaders offer the images they start, on every board, as a chip's boot
//! ROM offers its own services: kept once, in the bootloader's region, not in each image's
//! 64 KiB slot. The first table ([`BootServices`]) checks an update's signature (the ed25519
//! verifier is about 14 KiB); the second ([`BootServicesV2`]) keeps the whole update path, the
//! update slot and the state page ([`update`]: `rack_node::update::Updater` in the bootloader,
//! about 3 KiB an image no longer carries), and computes the signed requests' HMAC-SHA256
//! ([`BootServices::mac`]: 0.3 KiB more). The bootloader leaves the address of its table in
//! a RAM word the images leave alone ([`publish`]); an image finds it there ([`find`]) and
//! opens its update path through it ([`update::ServicesFirmware`]).
//!
//! The tables are the interface between two programs built apart (an old bootloader starts new
//! images): `#[repr(C)]`, C calls of `rack_node::update::raw`'s types, a magic word for each
//! table, and each table the one before it grown at its end.
#![no_std]
// Reading and writing a fixed RAM word and calling into the other program are `unsafe` by
// nature (each block says why it is sound); the workspace denies it elsewhere.
#![allow(unsafe_code)]

use core::ops::Range;

use rack_protocol::image::{HEADER_LEN, PUBLIC_KEY_LEN, verify_from};

pub mod update;

/// The bootloader's services: the first table's, which every later one begins with.
#[repr(C)]
pub struct BootServices {
    /// [`MAGIC`], or [`MAGIC_V2`] when the table is a [`BootServicesV2`].
    pub magic: u32,
    /// Checks the binary in the update slot against the image header at `head` (128 bytes)
    /// under the ed25519 public key at `key` (32 bytes): 0 when its signature checks out.
    pub verify_update: unsafe extern "C" fn(head: *const u8, key: *const u8) -> u32,
}

/// The second table: the first, then the update path.
#[repr(C)]
pub struct BootServicesV2 {
    /// The first table's entries, with [`MAGIC_V2`].
    pub v1: BootServices,
    /// The update path the bootloader keeps.
    pub update: update::UpdateAgent,
    /// Writes to `out` (32 bytes) the HMAC-SHA256 of the `len` bytes at `message` under the
    /// 32-byte secret at `secret` (`rack_protocol::auth::hmac_sha256`).
    pub mac: unsafe extern "C" fn(secret: *const u8, message: *const u8, len: usize, out: *mut u8),
}

impl BootServicesV2 {
    /// A bootloader's second table: its signature check (`verify_update`, read from its flash)
    /// and its update path (`update`, [`update_agent!`]), with the MAC every board computes
    /// alike ([`mac`]).
    pub const fn new(
        verify_update: unsafe extern "C" fn(head: *const u8, key: *const u8) -> u32,
        update: update::UpdateAgent,
    ) -> Self {
        Self {
            v1: BootServices {
                magic: MAGIC_V2,
                verify_update,
            },
            update,
            mac,
        }
    }
}

/// Marks the first services table.
pub const MAGIC: u32 = 0x5342_4c52;
/// Marks the second ([`BootServicesV2`]).
pub const MAGIC_V2: u32 = 0x5342_4c53;

impl BootServices {
    /// The second table, if this is one.
    fn v2(&self) -> Option<&BootServicesV2> {
        if self.magic != MAGIC_V2 {
            return None;
        }
        // SAFETY: a table marked MAGIC_V2 is a BootServicesV2 (the bootloaders publish one
        // as such, and `find` checked that the whole of it lies in the bootloader's region).
        Some(unsafe { &*core::ptr::from_ref(self).cast::<BootServicesV2>() })
    }

    /// The update path, if the bootloader keeps it (a first-table bootloader does not).
    pub fn update(&self) -> Option<&update::UpdateAgent> {
        self.v2().map(|v2| &v2.update)
    }

    /// The HMAC-SHA256 of `message` under `secret`, if the bootloader computes it (a
    /// first-table bootloader does not).
    pub fn mac(&self, secret: &[u8; 32], message: &[u8]) -> Option<[u8; 32]> {
        let v2 = self.v2()?;
        let mut out = [0u8; 32];
        // SAFETY: the secret is 32 bytes, the message `len` bytes and `out` 32 bytes, all
        // borrowed for the call.
        unsafe {
            (v2.mac)(
                secret.as_ptr(),
                message.as_ptr(),
                message.len(),
                out.as_mut_ptr(),
            );
        }
        Some(out)
    }

    /// Whether the bootloader computes the requests' MAC.
    pub fn has_mac(&self) -> bool {
        self.v2().is_some()
    }
}

/// The bootloader's side of [`BootServicesV2::mac`], the same on every board.
///
/// # Safety
/// `secret` must point at 32 readable bytes, `message` at `len`, and `out` at 32 writable.
pub unsafe extern "C" fn mac(secret: *const u8, message: *const u8, len: usize, out: *mut u8) {
    // SAFETY: the caller's pointers, as this function's contract says.
    let (secret, message, out) = unsafe {
        (
            &*secret.cast::<[u8; 32]>(),
            core::slice::from_raw_parts(message, len),
            &mut *out.cast::<[u8; 32]>(),
        )
    };
    *out = rack_protocol::auth::hmac_sha256(secret, message);
}

/// Leaves `table`'s address at `at` (a RAM word no image uses) for the image about to start.
///
/// # Safety
/// `at` must be a writable, aligned RAM word that the images leave alone.
pub unsafe fn publish(at: u32, table: &'static BootServicesV2) {
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
        // A few words on the 32-bit targets this runs on.
        #[allow(clippy::cast_possible_truncation)]
        let inside = |size: usize| {
            table.is_multiple_of(4)
                && bootloader.contains(&table)
                && bootloader.contains(&(table + size as u32 - 1))
        };
        if !inside(core::mem::size_of::<BootServices>()) {
            return None;
        }
        let found = &*(table as *const BootServices);
        match core::ptr::read_volatile(&found.magic) {
            MAGIC => Some(found),
            MAGIC_V2 if inside(core::mem::size_of::<BootServicesV2>()) => Some(found),
            _ => None,
        }
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
