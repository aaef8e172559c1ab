//! rackloop's bootloader on QEMU `mps2-an386`: `embassy-boot` over the board's flash file
//! swaps in a marked update, or swaps the previous image back when the one swapped in did not
//! mark itself good, then loads the active slot at `APP_BASE` and jumps to it, leaving its
//! services: the signature check, and the update path over the flash file (the update slot
//! and the state page) that the images' nodes serve.
#![no_std]
#![no_main]
// Jumping to the image (its vector table, its stack) and loading it into code memory are
// `unsafe` by nature; the workspace denies it elsewhere.
#![allow(unsafe_code)]

use boot_services::BootServicesV2;
use boot_services::update::Agent;
use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use embassy_boot::{BootLoader, BootLoaderConfig, State};
use qemu_mps2_an386_boot::{FlashFile, Partition, SERVICES_AT, verify_update};
use rack_node::update::{UpdateConfig, Updater};
use rack_protocol::image::qemu;
use rack_protocol::types::EventKind;

/// The update path the images open: the updater over the flash file's update slot and state
/// page, with the signature checked here.
static AGENT: Agent<Updater<Partition, Partition>> = Agent::new();

/// The update path for the image `config` describes; `None` without the flash file.
fn make_updater(
    config: UpdateConfig,
) -> Option<(Updater<Partition, Partition>, Option<EventKind>)> {
    let file = FlashFile::open()?;
    Some(Updater::new(
        file.partition(qemu::DFU),
        file.partition(qemu::STATE),
        config,
    ))
}

/// The services this bootloader offers the images.
static SERVICES: BootServicesV2 = BootServicesV2::new(
    verify_update,
    boot_services::update_agent!(AGENT, make_updater),
);

#[entry]
fn main() -> ! {
    let Some(file) = FlashFile::open() else {
        hprintln!("bootloader: no flash file (flash.bin in QEMU's working directory)");
        fail()
    };
    let mut active = file.partition(qemu::ACTIVE);
    let mut loader = BootLoader::new(BootLoaderConfig {
        active,
        dfu: file.partition(qemu::DFU),
        state: file.partition(qemu::STATE),
    });
    let mut aligned = [0u8; qemu::WORD as usize];
    match loader.prepare_boot(&mut aligned) {
        Ok(State::Swap) => hprintln!("bootloader: swapped slots"),
        Ok(_) => {}
        Err(e) => hprintln!("bootloader: {:?}; booting the active slot as it is", e),
    }
    // SAFETY: the code memory from APP_BASE is the images' (their memory.x starts there) and
    // nothing runs from it now; the bootloader runs below it.
    let image: &mut [u8] = unsafe {
        core::slice::from_raw_parts_mut(qemu::APP_BASE as *mut u8, qemu::ACTIVE.1 as usize)
    };
    use embedded_storage::nor_flash::ReadNorFlash;
    if active.read(0, image).is_err() {
        hprintln!("bootloader: cannot read the active slot");
        fail()
    }
    file.close();
    // SAFETY: SERVICES_AT is the top of the bootloader's RAM, which its memory.x leaves out
    // and the images do not use.
    unsafe { boot_services::publish(SERVICES_AT, &SERVICES) };
    let vectors = qemu::APP_BASE as *const u32;
    // SAFETY: the active slot holds an image linked at APP_BASE, whose first words are its
    // stack pointer and reset vector; VTOR takes its vector table before it runs.
    unsafe {
        let scb = &*cortex_m::peripheral::SCB::PTR;
        scb.vtor.write(qemu::APP_BASE);
        cortex_m::asm::dsb();
        cortex_m::asm::isb();
        cortex_m::asm::bootload(vectors)
    }
}

fn fail() -> ! {
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    if let Some(at) = info.location() {
        hprintln!("bootloader: panic at {}:{}", at.file(), at.line());
    }
    fail()
}
