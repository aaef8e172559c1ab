//! The board layer for QEMU's `mps2-an386` (Cortex-M4F): the CMSDK UARTs, the semihosting
//! exit, and the fault handlers. The nodes themselves are `rack-node`'s, unchanged.
//!
//! UART0 (`0x4000_4000`) carries the host protocol, UART1 (`0x4000_5000`) the plant I/O frames of
//! processor-in-the-loop runs. QEMU drops input unless RX is enabled and `BAUDDIV >= 16`.
//!
//! **Supervision.** The CMSDK watchdog (`0x4000_8000`, 25 MHz) resets the board 1-2 s after it
//! was last fed; it is fed only while every task has checked in within its deadline
//! ([`rack_node::supervision::TaskMonitor`], timed by `SysTick` in the emulated machine's own
//! time, which stops while QEMU is stopped): the field I/O (the plant samples) within 2 s, the
//! control step (which follows the samples) within 3 s, the host
//! link loop within 1 s. On this board the field I/O is the
//! simulator's link, so supervision starts with the first plant sample (a protocol-only run
//! has no field to lose). A boot record in RAM that a reset keeps (`.uninit`) names the task
//! the watchdog was starved for; the chip has no reset flags, so the record also tells a
//! reset from outside (QEMU's `system_reset`: `Pin`) from a power-on.
//!
//! **Settings.** The last 16 KiB of the code memory (`0x003f_c000`,
//! `rack_node::settings::QEMU_REGION`) hold the
//! settings store ([`rack_node::settings`]) as NOR flash would (QEMU's code memory is RAM,
//! which a `system_reset` keeps; a test keeps it through a power cycle with QMP's `pmemsave`
//! and `-device loader`). RAM that QEMU zeroed at start stands for flash as it leaves the
//! factory: it is erased before the store is read. Saves are timed by `SysTick`.
//!
//! **Updates.** The board's flash is a file on the host (`qemu_mps2_an386_boot`): the
//! bootloader's state page, the active slot and the update slot. An image runs from
//! `APP_BASE`, where the bootloader loaded it; its node serves the update messages over the
//! update path the bootloader keeps ([`boot_services::update`]: `rack_node::update::Updater`
//! over the update slot and the state page, in the bootloader, as on the Nucleo), resets when
//! a swap is asked for, and, when it was swapped in, marks itself good only after its control
//! loop has run healthy for [`rack_node::update::CONFIRM_AFTER_S`]; past
//! [`rack_node::update::TRIAL_LIMIT_S`] of machine time without it (both set by the build:
//! `RACKLOOP_CONFIRM_AFTER_S`, `RACKLOOP_TRIAL_LIMIT_S`), it resets and the bootloader puts
//! the previous image back.
//!
//! The CMSDK UART and watchdog drivers are written here: a few registers each, and no
//! maintained crate covers this QEMU board.
#![no_std]
// A register-level driver and the exception handlers: `unsafe` is what they are made of, so
// this crate allows it (each block says why it is sound); the workspace denies it elsewhere.
#![allow(unsafe_code)]

use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::{AtomicU32, Ordering};

use boot_services::update::ServicesFirmware;
use cortex_m_semihosting::debug;
use rack_control::Instant;
use rack_node::plant_io::{injects_fault, is_end_of_run};
use rack_node::settings::{RamFlash, Store};
use rack_node::supervision::TaskMonitor;
use rack_node::update::UpdateConfig;
use rack_node::{Application, Node};
use rack_protocol::Message;
use rack_protocol::decoder::FrameDecoder;
use rack_protocol::frame::{self, MAX_WIRE_FRAME_SIZE};
use rack_protocol::image::qemu;
use rack_protocol::message::{ActuatorCommand, PlantSample};
use rack_protocol::types::TaskId;
use static_cell::StaticCell;

/// A CMSDK APB UART.
#[derive(Debug, Clone, Copy)]
pub struct Uart {
    base: usize,
}

const DATA: usize = 0x000;
const STATE: usize = 0x004;
const CTRL: usize = 0x008;
const INTSTATUS: usize = 0x00c;
const BAUDDIV: usize = 0x010;
const STATE_TX_FULL: u32 = 1 << 0;
const STATE_RX_FULL: u32 = 1 << 1;
const CTRL_TX_EN: u32 = 1 << 0;
const CTRL_RX_EN: u32 = 1 << 1;
const CTRL_RX_INT_EN: u32 = 1 << 3;
const INT_RX: u32 = 1 << 1;
/// The UARTs' receive interrupts on this board (QEMU `hw/arm/mps2.c`: UART0 RX is IRQ 0,
/// UART1 RX is IRQ 2).
const RX_IRQS: [u16; 2] = [0, 2];

/// An NVIC interrupt number, for unmasking the UARTs' receive interrupts.
#[derive(Debug, Clone, Copy)]
struct Irq(u16);

// SAFETY: the numbers are this board's UART RX interrupt lines.
unsafe impl cortex_m::interrupt::InterruptNumber for Irq {
    fn number(self) -> u16 {
        self.0
    }
}

impl Uart {
    /// UART0: the host protocol.
    pub const HOST: Uart = Uart { base: 0x4000_4000 };
    /// UART1: plant I/O.
    pub const PLANT: Uart = Uart { base: 0x4000_5000 };

    fn reg(&self, offset: usize) -> *mut u32 {
        (self.base + offset) as *mut u32
    }

    /// Enables TX, RX and the receive interrupt (25 MHz / 16: QEMU ignores the rate but needs
    /// the divider).
    pub fn init(&self) {
        // SAFETY: the CMSDK UART's documented registers on this board.
        unsafe {
            write_volatile(self.reg(BAUDDIV), 16);
            write_volatile(self.reg(CTRL), CTRL_TX_EN | CTRL_RX_EN | CTRL_RX_INT_EN);
        }
    }

    /// A byte is waiting.
    pub fn rx_ready(&self) -> bool {
        // SAFETY: reading the UART's status register.
        unsafe { read_volatile(self.reg(STATE)) & STATE_RX_FULL != 0 }
    }

    fn clear_rx_interrupt(&self) {
        // SAFETY: write-one-to-clear of the receive interrupt flag.
        unsafe { write_volatile(self.reg(INTSTATUS), INT_RX) }
    }

    /// A received byte, if one is waiting.
    pub fn read(&self) -> Option<u8> {
        if self.rx_ready() {
            // SAFETY: reading the UART's data register.
            Some(unsafe { (read_volatile(self.reg(DATA)) & 0xff) as u8 })
        } else {
            None
        }
    }

    /// Sends every byte, waiting while the transmitter is full.
    pub fn write_all(&self, bytes: &[u8]) {
        for &b in bytes {
            // SAFETY: polling the status register, then writing the data register.
            unsafe {
                while read_volatile(self.reg(STATE)) & STATE_TX_FULL != 0 {}
                write_volatile(self.reg(DATA), u32::from(b));
            }
        }
    }
}

/// Starts `SysTick` at `period_us` so that [`idle`] wakes up regularly.
pub fn start_tick(period_us: u32) {
    if let Some(mut p) = cortex_m::Peripherals::take() {
        p.SYST
            .set_clock_source(cortex_m::peripheral::syst::SystClkSource::Core);
        // 25 MHz system clock on this board.
        p.SYST.set_reload(period_us.saturating_mul(25).max(1));
        p.SYST.clear_current();
        p.SYST.enable_interrupt();
        p.SYST.enable_counter();
    }
}

/// Unmasks the UARTs' receive interrupts, so that [`idle`] wakes as soon as a byte arrives.
pub fn enable_rx_interrupts() {
    for irq in RX_IRQS {
        // SAFETY: the handler below only clears the UART flags; no critical section depends
        // on these interrupts staying masked.
        unsafe { cortex_m::peripheral::NVIC::unmask(Irq(irq)) };
    }
}

/// Sleeps until a byte arrives on either UART (or the `SysTick`, a backstop). In QEMU this hands
/// the time to its main loop, which is what moves bytes between the sockets and the UARTs: a
/// CPU that polls the UART registers without pause starves it (measured: spinning made a
/// lockstep run slower, not faster).
///
/// Interrupts are masked while checking and sleeping: a byte that arrives between the check
/// and the `WFI` leaves its interrupt pending, which wakes the `WFI` at once (no lost wake-up).
pub fn idle() {
    cortex_m::interrupt::free(|_| {
        if !Uart::HOST.rx_ready() && !Uart::PLANT.rx_ready() {
            cortex_m::asm::wfi();
        }
    });
}

/// Milliseconds since boot, counted by `SysTick` (the machine's time, not the simulation's).
static UPTIME_MS: AtomicU32 = AtomicU32::new(0);

#[cortex_m_rt::exception]
fn SysTick() {
    UPTIME_MS.fetch_add(1, Ordering::Relaxed);
}

/// The machine's time since boot (wraps after 49 days, far beyond any run).
fn uptime() -> Instant {
    Instant(u64::from(UPTIME_MS.load(Ordering::Relaxed)))
}

rack_node::boot_record_in_ram!();
// SRAM starts at 0x2000_0000 on both the MPS2 and the STM32G4.
rack_node::stack_painting!(0x2000_0000);

/// The stack's peak into the node's health record.
fn note_stack<A: Application>(node: &mut Node<A>) {
    let (peak, budget) = stack_peak();
    let d = node.diagnostics_mut();
    d.stack_peak_bytes = Some(peak);
    d.stack_size_bytes = budget;
}

/// The CMSDK APB watchdog: counts `LOAD` ticks of 25 MHz down, raises its interrupt, counts
/// again and resets the machine unless fed in between.
struct Watchdog;

impl Watchdog {
    const BASE: usize = 0x4000_8000;
    const LOAD: usize = 0x000;
    const CTRL: usize = 0x008;
    const INTCLR: usize = 0x00c;
    const LOCK: usize = 0xc00;
    const UNLOCK: u32 = 0x1acc_e551;
    /// 1 s of 25 MHz: a reset 1-2 s after the last feed.
    const TICKS: u32 = 25_000_000;

    fn write(offset: usize, value: u32) {
        // SAFETY: the watchdog's documented registers on this board.
        unsafe { write_volatile((Self::BASE + offset) as *mut u32, value) }
    }

    /// Starts it: interrupt and reset enabled.
    fn start() {
        Self::write(Self::LOCK, Self::UNLOCK);
        Self::write(Self::LOAD, Self::TICKS);
        Self::write(Self::CTRL, 0b11);
    }

    /// Reloads the count.
    fn feed() {
        Self::write(Self::INTCLR, 1);
    }
}

/// The UART receive interrupts only wake the main loop, which reads the data: clear them.
#[cortex_m_rt::exception]
unsafe fn DefaultHandler(_irqn: i16) {
    Uart::HOST.clear_rx_interrupt();
    Uart::PLANT.clear_rx_interrupt();
}

/// The settings store over [`SETTINGS`], for a device of `kind`.
fn settings_store(kind: rack_protocol::types::DeviceKind) -> Option<Store<RamFlash<'static>>> {
    let (base, len) = rack_node::settings::QEMU_REGION;
    // SAFETY: the region is code memory outside the image (memory.x ends `FLASH` before it),
    // which nothing else in the program names, and this runs once, at boot (`run` is `-> !`).
    let mem: &'static mut [u8] =
        unsafe { core::slice::from_raw_parts_mut(base as *mut u8, len as usize) };
    // QEMU starts its RAM zeroed; a chip's flash leaves the factory erased.
    if mem.iter().all(|&b| b == 0) {
        mem.fill(0xff);
    }
    Store::new(RamFlash::new(mem), 0..len, kind).ok()
}

/// The node's update path, kept by the bootloader, and how this image booted (the events to
/// log); `None` without a bootloader that keeps one (an image started on its own).
fn update_path(
    kind: rack_protocol::types::DeviceKind,
) -> Option<(
    &'static mut ServicesFirmware,
    [Option<rack_protocol::types::EventKind>; 3],
)> {
    static FIRMWARE: StaticCell<ServicesFirmware> = StaticCell::new();
    let (firmware, events) = ServicesFirmware::open(
        qemu_mps2_an386_boot::services()?,
        &UpdateConfig::for_board(
            kind,
            rack_protocol::image::Board::QemuMps2An386,
            qemu::ACTIVE.1,
        ),
    )?;
    Some((FIRMWARE.try_init(firmware)?, events))
}

/// The requests' MAC, computed by the bootloader ([`boot_services::BootServices::mac`]).
fn service_mac(secret: &[u8; 32], signed: &[u8]) -> Option<[u8; 32]> {
    qemu_mps2_an386_boot::services()?.mac(secret, signed)
}

/// The main loop of every image: host protocol bytes from UART0 go to the node; each plant
/// sample from UART1 is turned into the node's step by `on_sample`, which returns the actuator
/// command sent back; an end-of-run sample exits through semihosting.
pub fn run<A: Application>(
    name: &str,
    node: &mut Node<A>,
    plant_decoder: &mut FrameDecoder,
    mut on_sample: impl FnMut(&mut Node<A>, &PlantSample) -> (Instant, ActuatorCommand),
) -> ! {
    paint_stack();
    let host = Uart::HOST;
    let plant = Uart::PLANT;
    host.init();
    plant.init();
    let mut record = read_boot_record();
    let (cause, missed, fault) = record.boot(None);
    write_boot_record(&record);
    node.record_reset(Instant(0), cause, missed);
    node.diagnostics_mut().fault = fault;
    let mut store = settings_store(node.app.kind());
    let (status, kept) = match store.as_mut() {
        Some(store) => store.load(),
        None => (rack_protocol::types::StoreStatus::None, None),
    };
    node.restore_settings(Instant(0), status, kept);
    if let Some((updater, events)) = update_path(node.app.kind()) {
        node.set_firmware(updater);
        for event in events.into_iter().flatten() {
            node.record(Instant(0), event);
        }
    }
    // Started by a bootloader that computes the requests' MAC: as the Nucleo's images (which
    // keep none of their own), so that CI runs the service they depend on.
    if qemu_mps2_an386_boot::services().is_some_and(boot_services::BootServices::has_mac) {
        node.keys_mut().set_mac(service_mac);
    }
    cortex_m_semihosting::hprintln!("{}: up", name);
    enable_rx_interrupts();
    // A backstop only: the receive interrupts wake the loop.
    start_tick(1000);
    let mut now = Instant(0);
    let mut host_bytes = [0u8; 64];
    let mut wire = [0u8; MAX_WIRE_FRAME_SIZE];
    // The control step runs on the field I/O's samples here: its deadline is a second longer,
    // so that a silent plant link names the field I/O, the task that stopped first.
    let mut monitor = TaskMonitor::new([Some(3_000), Some(1_000), None, Some(2_000)]);
    let mut starving = None;
    loop {
        let up = uptime();
        monitor.check_in(TaskId::HostLink, up);
        if monitor.started() {
            // The first task found late is the one named; fed again, the record clears.
            let late = monitor.late(up);
            if late.is_none() != starving.is_none() {
                starving = late;
                record.starving(late);
                write_boot_record(&record);
            }
            if late.is_none() {
                Watchdog::feed();
            }
        }
        let mut n = 0;
        while let (Some(slot), Some(b)) = (host_bytes.get_mut(n), host.read()) {
            *slot = b;
            n += 1;
        }
        if let Some(bytes) = host_bytes.get(..n)
            && n > 0
        {
            note_stack(node);
            node.on_bytes(now, bytes, &mut |f| host.write_all(f));
        }
        if node.reset_due(up.as_millis()) {
            // A swap asked for (its answer has left), or a trial run out: the bootloader
            // swaps the slots. The outputs fall to their fail-safe positions with the reset.
            cortex_m_semihosting::hprintln!("{}: reset for the bootloader", name);
            record.reset_by_software();
            write_boot_record(&record);
            cortex_m::peripheral::SCB::sys_reset();
        }
        if let Some(store) = store.as_mut()
            && node.settings_due(up)
        {
            let written = store.save_with(|out| node.write_settings(out)).is_ok();
            node.settings_saved(now, written);
        }
        let mut busy = n > 0;
        while let Some(b) = plant.read() {
            busy = true;
            let Some(Ok(request)) = plant_decoder.push(b) else {
                continue;
            };
            let Message::PlantSample(sample) = request.message else {
                continue;
            };
            if !monitor.started() {
                monitor.start(uptime());
                Watchdog::start();
            }
            if injects_fault(&sample) {
                cortex_m::asm::udf();
            }
            monitor.check_in(TaskId::FieldIo, uptime());
            let (t, command) = on_sample(node, &sample);
            monitor.check_in(TaskId::Control, uptime());
            now = t;
            if let Ok(len) =
                frame::encode(request.seq, &Message::ActuatorCommand(command), &mut wire)
                && let Some(bytes) = wire.get(..len)
            {
                plant.write_all(bytes);
            }
            node.poll(now, &mut |f| host.write_all(f));
            if is_end_of_run(&sample) {
                let (peak, budget) = stack_peak();
                cortex_m_semihosting::hprintln!(
                    "{}: end of run at {} ms; stack peak {} of {} B",
                    name,
                    now.as_millis(),
                    peak,
                    budget
                );
                exit(true);
            }
        }
        if !busy {
            idle();
        }
    }
}

/// Ends the QEMU run with `success` as its exit status (semihosting).
pub fn exit(success: bool) -> ! {
    debug::exit(if success {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    // panic-probe would hang in QEMU: report through semihosting and exit with a failure.
    // The location only: formatting the message would cost kilobytes of flash.
    if let Some(at) = info.location() {
        cortex_m_semihosting::hprintln!("panic at {}:{}", at.file(), at.line());
    }
    exit(false)
}

/// Saves the fault (where, and the fault status registers) in the boot record for the next
/// boot to report, and resets the board, as the field image does.
#[cortex_m_rt::exception]
unsafe fn HardFault(frame: &cortex_m_rt::ExceptionFrame) -> ! {
    // SAFETY: reading the System Control Block's fault status registers.
    let scb = unsafe { &*cortex_m::peripheral::SCB::PTR };
    let fault = rack_protocol::types::FaultRecord {
        pc: frame.pc(),
        lr: frame.lr(),
        cfsr: scb.cfsr.read(),
        hfsr: scb.hfsr.read(),
    };
    let mut record = read_boot_record();
    record.save_fault(fault);
    write_boot_record(&record);
    cortex_m_semihosting::hprintln!("hard fault at pc 0x{:08x}: reset", fault.pc);
    cortex_m::peripheral::SCB::sys_reset()
}
