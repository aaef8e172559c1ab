//! rackloop's bootloader on the STM32G474RE Nucleo, and what its images need of it: where it
//! leaves its services ([`services`]) and the update slot's signature check it offers
//! ([`verify_update`]). The layout is [`rack_protocol::image::nucleo`].
#![no_std]
// Reading the update slot where the flash is mapped is `unsafe` by nature (the block says why
// it is sound); the workspace denies it elsewhere.
#![allow(unsafe_code)]

use rack_protocol::image::nucleo;

/// The bootloader's code region, where its services table must lie.
pub const BOOTLOADER_CODE: core::ops::Range<u32> =
    nucleo::FLASH_BASE + nucleo::BOOTLOADER.0..nucleo::FLASH_BASE + nucleo::BOOTLOADER.1;

/// The bootloader's services, if it left them (an image flashed and started by a debugger
/// without the bootloader has none, and no update path).
pub fn services() -> Option<&'static boot_services::BootServices> {
    boot_services::find(nucleo::SERVICES_AT, BOOTLOADER_CODE)
}

/// The bootloader's side of [`boot_services::BootServices::verify_update`]: reads the update
/// slot where the flash is mapped (a read the chip serves while nothing writes the bank).
///
/// # Safety
/// `head` must point at 128 readable bytes and `key` at 32.
pub unsafe extern "C" fn verify_update(head: *const u8, key: *const u8) -> u32 {
    let at = nucleo::FLASH_BASE + nucleo::DFU.0;
    // SAFETY: the update slot is mapped flash, readable in whole, and the image calls this
    // between its own writes to it (from the one task that writes it).
    let slot: &[u8] =
        unsafe { core::slice::from_raw_parts(at as *const u8, nucleo::DFU.1 as usize) };
    let read = |from: u32, buf: &mut [u8]| -> Result<(), ()> {
        let from = from as usize;
        let bytes = slot.get(from..from + buf.len()).ok_or(())?;
        buf.copy_from_slice(bytes);
        Ok(())
    };
    // SAFETY: the caller's pointers, as this function's contract says.
    unsafe { boot_services::verify_update_with(head, key, read) }
}
