//! rackloop's bootloader on the STM32G474RE Nucleo: `embassy-boot-stm32` over the chip's flash
//! swaps in a marked update, or swaps the previous image back when the one swapped in did not
//! mark itself good, leaves its services for the image (the signature check, and the update
//! path over the update slot and the state page that the image's node serves), and starts the
//! active slot in place.
//!
//! The swap (some 4 s for a full slot: every page erased and written three times) feeds the
//! independent watchdog between flash operations, in case the option bytes start it at reset
//! (`IWDG_SW` cleared); the outputs are at their hardware fail-safe positions throughout (the
//! heartbeat to the fail-safe relay stops with the image).
#![no_std]
#![no_main]
// Starting the image (its vector table, its stack) is `unsafe` by nature; the workspace denies
// it elsewhere.
#![allow(unsafe_code)]

use core::cell::RefCell;

use boot_services::BootServicesV2;
use boot_services::update::Agent;
use cortex_m_rt::entry;
use defmt_rtt as _;
use embassy_boot_stm32::{BootLoader, BootLoaderConfig, State};
use embassy_embedded_hal::flash::partition::BlockingPartition;
use embassy_stm32::flash::{Blocking, Flash};
use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::{CriticalSectionRawMutex, NoopRawMutex};
use embedded_storage::nor_flash::{ErrorType, NorFlash, ReadNorFlash};
use nucleo_g474re_boot::verify_update;
use rack_node::update::{UpdateConfig, Updater};
use rack_protocol::image::nucleo;
use rack_protocol::types::EventKind;
use static_cell::StaticCell;

/// The chip's flash, feeding the watchdog before every erase and write.
struct Fed(Flash<'static, Blocking>);

fn feed_watchdog() {
    // Reloads the counter; without effect while the watchdog is stopped.
    embassy_stm32::pac::IWDG
        .kr()
        .write(|w| w.set_key(embassy_stm32::pac::iwdg::vals::Key::RESET));
}

impl ErrorType for Fed {
    type Error = embassy_stm32::flash::Error;
}

impl ReadNorFlash for Fed {
    const READ_SIZE: usize = <Flash<'static, Blocking> as ReadNorFlash>::READ_SIZE;
    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        self.0.blocking_read(offset, bytes)
    }
    fn capacity(&self) -> usize {
        <Flash<'static, Blocking> as ReadNorFlash>::capacity(&self.0)
    }
}

impl NorFlash for Fed {
    const WRITE_SIZE: usize = <Flash<'static, Blocking> as NorFlash>::WRITE_SIZE;
    const ERASE_SIZE: usize = <Flash<'static, Blocking> as NorFlash>::ERASE_SIZE;
    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        feed_watchdog();
        self.0.blocking_erase(from, to)
    }
    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        feed_watchdog();
        self.0.blocking_write(offset, bytes)
    }
}

/// A region of the flash, for the update path (in the image's time: the image feeds the
/// watchdog, by its own rules, between the update's requests; a page's erase is 20-40 ms of
/// its 500 ms).
type Region = BlockingPartition<'static, CriticalSectionRawMutex, Flash<'static, Blocking>>;

/// The update path the images open: the updater over the update slot and the state page (in
/// bank 2, written while the image runs from bank 1), with the signature checked here.
static AGENT: Agent<Updater<Region, Region>> = Agent::new();

/// The update path for the image `config` describes, over the bootloader's own driver of the
/// flash (the image's drives its settings; the two are called from the image's one task that
/// serves its link, never at once).
fn make_updater(config: UpdateConfig) -> Option<(Updater<Region, Region>, Option<EventKind>)> {
    static FLASH: StaticCell<Mutex<CriticalSectionRawMutex, RefCell<Flash<'static, Blocking>>>> =
        StaticCell::new();
    // SAFETY: the image's own flash driver is idle while the image calls the update path,
    // from the task that also keeps its settings.
    let peripheral = unsafe { embassy_stm32::peripherals::FLASH::steal() };
    let flash = FLASH.try_init(Mutex::new(RefCell::new(Flash::new_blocking(peripheral))))?;
    let part = |(offset, len): (u32, u32)| BlockingPartition::new(flash, offset, len);
    Some(Updater::new(part(nucleo::DFU), part(nucleo::STATE), config))
}

/// The services this bootloader offers the images.
static SERVICES: BootServicesV2 = BootServicesV2::new(
    verify_update,
    boot_services::update_agent!(AGENT, make_updater),
);

#[entry]
fn main() -> ! {
    // The chip as the reset left it (16 MHz HSI, no interrupt enabled): the flash needs no
    // more, and `embassy_stm32::init` is the image's to call. Not calling it here also keeps
    // the time driver (built with the images' features, which cargo unifies when the two are
    // built together) from starting a timer and its interrupt under the image.
    // SAFETY: the flash controller is the one peripheral this program uses: here, and in the
    // update path once the image runs (this driver is gone by then).
    let flash_peripheral = unsafe { embassy_stm32::peripherals::FLASH::steal() };
    let flash =
        Mutex::<NoopRawMutex, _>::new(RefCell::new(Fed(Flash::new_blocking(flash_peripheral))));
    let part = |(offset, len): (u32, u32)| BlockingPartition::new(&flash, offset, len);
    let config = BootLoaderConfig {
        active: part(nucleo::ACTIVE),
        dfu: part(nucleo::DFU),
        state: part(nucleo::STATE),
    };
    match BootLoader::try_prepare::<_, _, _, { nucleo::PAGE as usize }>(config) {
        Ok(loader) if loader.state == State::Swap => defmt::info!("bootloader: swapped slots"),
        Ok(loader) if loader.state == State::Revert => {
            defmt::warn!("bootloader: the previous image put back");
        }
        Ok(_) => {}
        // A state page the bootloader cannot read or a flash that refuses: the active slot is
        // still whole (the swap resumes where it stopped at the next boot), so it runs.
        Err(_) => defmt::error!("bootloader: the flash refused; booting the active slot as it is"),
    }
    // SAFETY: SERVICES_AT is the top of the bootloader's RAM, which its memory.x leaves out
    // and the images do not use.
    unsafe { boot_services::publish(nucleo::SERVICES_AT, &SERVICES) };
    let start = nucleo::FLASH_BASE + nucleo::ACTIVE.0;
    // SAFETY: the active slot holds an image linked at its start (vector table first); the
    // loader sets VTOR, its stack pointer, and jumps to its reset vector.
    unsafe { BootLoader { state: State::Boot }.load(start) }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    defmt::error!("bootloader: panic; resetting");
    cortex_m::peripheral::SCB::sys_reset()
}
