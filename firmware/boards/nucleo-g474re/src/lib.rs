//! The board layer for the STM32G474RE Nucleo (Embassy), shared by both images: clocks, the
//! control executor, the node shared between the control task and the links, the host link on
//! LPUART1 (the ST-LINK virtual COM port), the row bus on FDCAN1 (and each image's row-bus
//! state, [`row_bus_state!`]), I2C at 400 kHz, the PCA9555 expanders with their bus-error
//! count ([`expander`]) and the watchdog. The nodes are `rack-node`'s, unchanged; the conversions
//! from field signals (4-20 mA loops, tach pulses) and the row-bus framing are in `rack-node`
//! too, where the host tests them.
//!
//! Priorities: the control step runs in an interrupt-mode executor (it preempts everything
//! else); the host link and the row bus run in thread mode. They share the node through a
//! critical-section mutex, held only while the node handles bytes (tens of microseconds).
//!
//! **Settings** ([`rack_node::settings`]) are kept in the last 16 KiB of the flash's second
//! bank (`rack_protocol::image::nucleo::SETTINGS`, eight 2 KiB pages): the chip runs in dual-bank mode (`DBANK`, the
//! factory setting), so the code keeps running from bank 1 while bank 2 is erased or written.
//! The host-link task loads them at boot and saves them when the node says a save is due.
//! With eight pages of five records and 10 k erase cycles a page, the store takes 400 k saves;
//! the node's wear budget (32 at once, then one every 20 minutes) spends at most 26 k a year.
//! The serial number is made from the chip's 96-bit unique ID ([`serial`]).
//!
//! **Supervision.** Each task checks in ([`check_in`]): the host link and the row-bus receiver
//! at least every 100 ms (they wake on a timer when idle), the control task after its field
//! I/O and after its step. The control task feeds the independent watchdog only while every
//! task has checked in within its deadline (`TASK_DEADLINES_MS`), and toggles the fail-safe
//! relay's heartbeat only then. The task in the watchdog's way is kept in a boot record in RAM
//! a reset keeps (the phase the control task is in, or a late task), so after a watchdog reset
//! the firmware names it; the reset's cause comes from the RCC's reset flags.
#![no_std]
// The boot record in RAM a reset keeps (`rack_node::boot_record_in_ram!`) is volatile access to
// a static; the interrupt executor's entry below is the other `unsafe` site.
#![allow(unsafe_code)]

pub mod expander;

use core::cell::RefCell;

use defmt_rtt as _;
use embassy_futures::select::{Either, select};
use embassy_stm32::can::{self, CanRx, CanTx, frame::FdFrame};
use embassy_stm32::interrupt::typelevel::Binding;
use embassy_stm32::time::Hertz;
use embassy_stm32::usart::BufferedUart;
use embassy_stm32::wdg::IndependentWatchdog;
use embassy_stm32::{interrupt, peripherals, usart};
use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_time::{Duration, Timer};
use embedded_io_async::{Read, Write};
// A panic halts for probe-rs (`udf`). Its `print-defmt` feature would print the message, but
// formatting it keeps every panic site's message and `core::fmt` in flash: measured +35 KiB
// (98 KiB for the coolant image), more than half a slot. The firmware never panics on input.
use boot_services::update::ServicesFirmware;
use embassy_embedded_hal::flash::partition::BlockingPartition;
use embassy_stm32::flash::{Blocking, Flash};
use panic_probe as _;
use rack_control::Instant;
use rack_node::row_bus::{self, BusFrame};
use rack_node::settings::Store;
use rack_node::update::UpdateConfig;
use rack_node::{Application, Node};
use rack_protocol::Message;
use rack_protocol::decoder::FrameDecoder;
use rack_protocol::image::nucleo;

/// The executor the control step runs in: interrupt mode, from a spare interrupt (UART5), so
/// that it preempts the links and the buses.
pub static CONTROL_EXECUTOR: embassy_executor::InterruptExecutor =
    embassy_executor::InterruptExecutor::new();

// Embassy's interrupt executor has no safe entry.
#[embassy_stm32::pac::interrupt]
unsafe fn UART5() {
    // SAFETY: the executor's documented way to run from its interrupt.
    unsafe { CONTROL_EXECUTOR.on_interrupt() }
}

/// Starts the control executor at a priority above thread mode; spawn the control task on it.
pub fn start_control_executor() -> embassy_executor::SendSpawner {
    use embassy_stm32::interrupt::{InterruptExt, Priority};
    interrupt::UART5.set_priority(Priority::P6);
    CONTROL_EXECUTOR.start(interrupt::UART5)
}

/// I2C at 400 kHz (fast mode), as every expander and monitor on the boards runs.
pub fn i2c_fast() -> embassy_stm32::i2c::Config {
    let mut config = embassy_stm32::i2c::Config::default();
    config.frequency = Hertz(400_000);
    config
}

/// Declares a board image's row-bus state (`static ROW`, the image's own row-bus endpoint
/// type, filled at start) and the task that feeds it every received message.
#[macro_export]
macro_rules! row_bus_state {
    ($bus:ty) => {
        // The state lives in a `StaticCell` (zeroed RAM) and the mutex holds a reference: an
        // `Option` of the state itself would be initialised data, its bytes copied from flash.
        static ROW: embassy_sync::blocking_mutex::Mutex<
            embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex,
            core::cell::RefCell<Option<&'static mut $bus>>,
        > = embassy_sync::blocking_mutex::Mutex::new(core::cell::RefCell::new(None));

        /// Puts the row bus's state in place (once, at boot).
        fn install_row_bus(bus: $bus) {
            static STATE: static_cell::StaticCell<$bus> = static_cell::StaticCell::new();
            let state = STATE.init(bus);
            ROW.lock(|row| *row.borrow_mut() = Some(state));
        }

        #[embassy_executor::task]
        async fn row_rx(rx: embassy_stm32::can::CanRx<'static>) {
            $crate::row_bus_receive(rx, |t, m| {
                ROW.lock(|row| {
                    if let Some(row) = row.borrow_mut().as_mut() {
                        row.receive(t, m);
                    }
                });
            })
            .await;
        }
    };
}

/// A node shared by the control task and the links.
pub type Shared<A> = Mutex<CriticalSectionRawMutex, RefCell<Node<A>>>;

/// The host link's baud rate (the ST-LINK VCP).
pub const HOST_BAUD: u32 = 115_200;
/// The watchdog's timeout: a control loop that misses this many periods resets the board.
pub const WATCHDOG_TIMEOUT_US: u32 = 500_000;

rack_node::boot_record_in_ram!();

// Every log line carries the time since boot.
defmt::timestamp!("{=u64:ms}", embassy_time::Instant::now().as_millis());
// SRAM starts at 0x2000_0000 on both the MPS2 and the STM32G4.
rack_node::stack_painting!(0x2000_0000);

/// Errors the row-bus receiver has met since boot.
static ROW_BUS_ERRORS: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

/// Saves the fault (where, and the fault status registers) in the boot record for the next
/// boot to report, and resets the board.
#[cortex_m_rt::exception]
unsafe fn HardFault(frame: &cortex_m_rt::ExceptionFrame) -> ! {
    // SAFETY: reading the System Control Block's fault status registers.
    let scb = unsafe { &*cortex_m::peripheral::SCB::PTR };
    let mut record = read_boot_record();
    record.save_fault(rack_protocol::types::FaultRecord {
        pc: frame.pc(),
        lr: frame.lr(),
        cfsr: scb.cfsr.read(),
        hfsr: scb.hfsr.read(),
    });
    write_boot_record(&record);
    cortex_m::peripheral::SCB::sys_reset()
}

/// Each task's deadline, ms: `[control, host link, row bus, field I/O]` (the control period is
/// 100 ms; the links wake at least every 100 ms).
pub const TASK_DEADLINES_MS: [Option<u32>; 4] = [Some(300), Some(300), Some(300), Some(300)];

/// Each task's last check-in, ms since boot (truncated: compared within deadlines).
static CHECK_INS: [core::sync::atomic::AtomicU32; 4] = [
    core::sync::atomic::AtomicU32::new(0),
    core::sync::atomic::AtomicU32::new(0),
    core::sync::atomic::AtomicU32::new(0),
    core::sync::atomic::AtomicU32::new(0),
];

/// `task` is alive now.
pub fn check_in(task: rack_protocol::types::TaskId) {
    let i = rack_protocol::types::TaskId::ALL
        .iter()
        .position(|t| *t == task)
        .unwrap_or(0);
    #[allow(clippy::cast_possible_truncation)] // ms since boot, truncated on purpose
    let ms = now().as_millis() as u32;
    if let Some(slot) = CHECK_INS.get(i) {
        slot.store(ms, core::sync::atomic::Ordering::Relaxed);
    }
}

/// The first task that has not checked in within its deadline, if any.
pub fn late_task() -> Option<rack_protocol::types::TaskId> {
    #[allow(clippy::cast_possible_truncation)] // as in `check_in`
    let ms = now().as_millis() as u32;
    rack_protocol::types::TaskId::ALL
        .into_iter()
        .zip(&CHECK_INS)
        .zip(TASK_DEADLINES_MS)
        .find(|((_, last), deadline)| {
            deadline.is_some_and(|d| {
                ms.wrapping_sub(last.load(core::sync::atomic::Ordering::Relaxed)) > d
            })
        })
        .map(|((task, _), _)| task)
}

/// Why the chip last reset, from the RCC's reset flags (then cleared). A power-on also
/// raises the brown-out flag on this chip: both read as `PowerOn`.
pub fn reset_cause() -> rack_protocol::types::ResetCause {
    use rack_protocol::types::ResetCause;
    let rcc = embassy_stm32::pac::RCC;
    let csr = rcc.csr().read();
    let cause = if csr.iwdgrstf() || csr.wwdgrstf() {
        ResetCause::Watchdog
    } else if csr.sftrstf() {
        ResetCause::Software
    } else if csr.borrstf() {
        ResetCause::PowerOn
    } else if csr.pinrstf() {
        ResetCause::Pin
    } else {
        ResetCause::Unknown
    };
    rcc.csr().modify(|w| w.set_rmvf(true));
    cause
}

/// At boot: installs the build's keys and has the requests' MAC computed by the bootloader
/// (the images keep no HMAC of their own: rack-node's `provided-mac`, 0.3 KiB). Without it (an
/// image started by a debugger, or a bootloader too old to offer it) every signed request is
/// refused as `BadMac`.
pub fn install_keys<A: Application>(node: &Shared<A>) {
    if !nucleo_g474re_boot::services().is_some_and(boot_services::BootServices::has_mac) {
        defmt::error!("the bootloader computes no MAC: signed requests will be refused");
    }
    node.lock(|cell| {
        let mut n = cell.borrow_mut();
        n.keys_mut().install_build_keys();
        n.keys_mut().set_mac(service_mac);
    });
}

/// The requests' MAC, computed by the bootloader ([`boot_services::BootServices::mac`]).
fn service_mac(secret: &[u8; 32], signed: &[u8]) -> Option<[u8; 32]> {
    nucleo_g474re_boot::services()?.mac(secret, signed)
}

/// At boot: reads why the chip reset (and the task in the watchdog's way, from the boot
/// record) into the node's log and diagnostics; the record starts afresh.
pub fn record_boot<A: Application>(node: &Shared<A>) {
    let mut record = read_boot_record();
    let (cause, missed, fault) = record.boot(Some(reset_cause()));
    write_boot_record(&record);
    node.lock(|cell| {
        let mut n = cell.borrow_mut();
        n.record_reset(now(), cause, missed);
        n.diagnostics_mut().fault = fault;
    });
    defmt::info!("reset: {}, task in the way: {}", cause, missed);
}

/// Resets the chip for the bootloader (a swap asked for, a trial run out), noted in the boot
/// record so the next boot names a software reset and no task in the watchdog's way.
fn reset_for_bootloader() -> ! {
    let mut record = read_boot_record();
    record.reset_by_software();
    write_boot_record(&record);
    cortex_m::peripheral::SCB::sys_reset()
}

/// The chip's flash, for the settings store (a region of it; the update path's regions are
/// the bootloader's, driven by its own driver).
pub type BoardFlash = Mutex<CriticalSectionRawMutex, RefCell<Flash<'static, Blocking>>>;

/// A region of the chip's flash ([`rack_protocol::image::nucleo`]'s offsets).
pub type Region = BlockingPartition<'static, CriticalSectionRawMutex, Flash<'static, Blocking>>;

/// The chip's flash, once, for its regions.
pub fn board_flash(flash: embassy_stm32::Peri<'static, peripherals::FLASH>) -> &'static BoardFlash {
    static FLASH: static_cell::StaticCell<BoardFlash> = static_cell::StaticCell::new();
    FLASH.init(Mutex::new(RefCell::new(Flash::new_blocking(flash))))
}

/// The region `(offset, len)` of the flash.
fn region(flash: &'static BoardFlash, (offset, len): (u32, u32)) -> Region {
    BlockingPartition::new(flash, offset, len)
}

/// The board's settings store.
pub type SettingsStore = Store<Region>;

/// The settings store for a `kind` device in the last 16 KiB of bank 2 (`nucleo::SETTINGS`),
/// if the chip is set up for it: in single-bank mode (`DBANK` cleared) the pages are laid out
/// otherwise, and the device runs on its built-in settings (`StoreStatus::None`) rather than
/// erase the wrong ones.
pub fn settings_store(
    flash: &'static BoardFlash,
    kind: rack_protocol::types::DeviceKind,
) -> Option<SettingsStore> {
    if !embassy_stm32::pac::FLASH.optr().read().dbank() {
        defmt::error!("flash in single-bank mode (DBANK=0): settings will not be kept");
        return None;
    }
    let (_, len) = nucleo::SETTINGS;
    Store::new(region(flash, nucleo::SETTINGS), 0..len, kind).ok()
}

/// Gives the node its update path, kept by the bootloader (the update slot and the state page
/// in bank 2, written while the image runs from bank 1: `boot_services::update`), and logs how
/// this image booted (verified and swapped in by the image before, on trial, or put back). An
/// image started without the bootloader, by a debugger, has none and answers the update
/// requests `NotSupported`.
pub fn start_update_path<A: Application>(node: &Shared<A>) {
    static FIRMWARE: static_cell::StaticCell<ServicesFirmware> = static_cell::StaticCell::new();
    node.lock(|cell| {
        let mut n = cell.borrow_mut();
        let config = UpdateConfig::for_board(
            n.app.kind(),
            rack_protocol::image::Board::NucleoG474re,
            nucleo::ACTIVE.1,
        );
        let Some((firmware, events)) = nucleo_g474re_boot::services()
            .and_then(|services| ServicesFirmware::open(services, &config))
        else {
            defmt::warn!("no update path in the bootloader's services");
            return;
        };
        let Some(firmware) = FIRMWARE.try_init(firmware) else {
            return;
        };
        n.set_firmware(firmware);
        for event in events.into_iter().flatten() {
            n.record(now(), event);
        }
    });
}

/// At boot, after [`record_boot`]: puts the kept settings in force (or the built-in ones,
/// with the `settings-lost` alarm, when the store is empty or corrupt).
pub fn load_settings<A: Application>(node: &Shared<A>, store: Option<&mut SettingsStore>) {
    let (status, kept) = match store {
        Some(store) => store.load(),
        None => (rack_protocol::types::StoreStatus::None, None),
    };
    node.lock(|cell| cell.borrow_mut().restore_settings(now(), status, kept));
    defmt::info!("settings: {}", status);
}

/// Writes the node's settings when a save is due (the flash is written outside the node's
/// lock: the control step never waits for it).
fn keep_settings<A: Application>(node: &Shared<A>, store: &mut SettingsStore) {
    let t = now();
    if node.lock(|cell| cell.borrow_mut().settings_due(t)) {
        // The body is written in the lock (microseconds), the flash outside it.
        let written = store
            .save_with(|out| node.lock(|cell| cell.borrow().write_settings(out)))
            .is_ok();
        if !written {
            defmt::error!("settings: the flash refused the save");
        }
        node.lock(|cell| cell.borrow_mut().settings_saved(now(), written));
    }
}

/// The serial number: `prefix` and 48 bits of the chip's 96-bit unique ID folded by FNV-1a
/// (12 hex digits: a collision between two chips of a campus of 100 000 is a 1 in 50 000
/// chance), at most 16 bytes.
pub fn serial(prefix: &str) -> &'static str {
    static SERIAL: static_cell::StaticCell<heapless::String<16>> = static_cell::StaticCell::new();
    let hash = embassy_stm32::uid::uid()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    let mut text = heapless::String::new();
    let _ = text.push_str(prefix);
    for shift in (0..12).rev() {
        let digit = (hash >> (shift * 4)) & 0xf;
        let _ = text.push(char::from_digit(u32::try_from(digit).unwrap_or(0), 16).unwrap_or('0'));
    }
    SERIAL.init(text).as_str()
}

/// Notes the task now in the watchdog's way (the control task's phase, or a late task; none
/// when all is well), for the next boot to name.
pub fn in_the_way(task: Option<rack_protocol::types::TaskId>) {
    write_in_the_way(task);
}

/// The controller's clock: milliseconds since boot.
pub fn now() -> Instant {
    Instant(embassy_time::Instant::now().as_millis())
}

/// 170 MHz from the Nucleo's 24 MHz crystal (HSE / 6 * 85 / 2), boost mode on; FDCAN keeps
/// its default kernel clock, the HSE (24 MHz).
pub fn config() -> embassy_stm32::Config {
    use embassy_stm32::rcc::{
        Hse, HseMode, Pll, PllMul, PllPreDiv, PllQDiv, PllRDiv, PllSource, Sysclk,
    };
    let mut config = embassy_stm32::Config::default();
    config.rcc.hse = Some(Hse {
        freq: Hertz(24_000_000),
        mode: HseMode::Oscillator,
    });
    config.rcc.pll = Some(Pll {
        source: PllSource::HSE,
        prediv: PllPreDiv::DIV6,
        mul: PllMul::MUL85,
        divp: None,
        divq: Some(PllQDiv::DIV8),
        divr: Some(PllRDiv::DIV2),
    });
    config.rcc.sys = Sysclk::PLL1_R;
    config.rcc.boost = true;
    config
}

/// The independent watchdog, fed only while the node says the control loop is healthy.
pub struct Watchdog(IndependentWatchdog<'static, embassy_stm32::peripherals::IWDG>);

impl Watchdog {
    /// Starts the watchdog (it cannot be stopped again).
    pub fn start(iwdg: embassy_stm32::Peri<'static, embassy_stm32::peripherals::IWDG>) -> Self {
        let mut w = IndependentWatchdog::new(iwdg, WATCHDOG_TIMEOUT_US);
        w.unleash();
        Self(w)
    }

    /// Feeds the watchdog if `healthy` and every task has checked in within its deadline;
    /// otherwise lets it bite, with the late task noted for the next boot. Returns whether it
    /// fed (the fail-safe relay's heartbeat toggles only then).
    pub fn feed_if(&mut self, healthy: bool) -> bool {
        let late = late_task();
        in_the_way(late);
        let feed = healthy && late.is_none();
        if feed {
            self.0.pet();
        }
        feed
    }
}

/// Collects the frames a node sends while it is locked, to be written after.
struct Outbox {
    bytes: heapless::Vec<u8, 2048>,
    dropped: u32,
}

impl Outbox {
    const fn new() -> Self {
        Self {
            bytes: heapless::Vec::new(),
            dropped: 0,
        }
    }

    fn push(&mut self, frame: &[u8]) {
        if self.bytes.extend_from_slice(frame).is_err() {
            self.dropped = self.dropped.saturating_add(1);
        }
    }
}

/// The host link: bytes from the UART go to the node; answers and telemetry go back. Never
/// returns.
pub async fn host_link<A: Application>(
    mut uart: BufferedUart<'static>,
    node: &'static Shared<A>,
    mut store: Option<SettingsStore>,
) -> ! {
    let mut buf = [0u8; 256];
    let mut out = Outbox::new();
    loop {
        check_in(rack_protocol::types::TaskId::HostLink);
        // Telemetry is due every 100 ms at the fastest: poll at least every 10 ms.
        let n = match select(uart.read(&mut buf), Timer::after(Duration::from_millis(10))).await {
            Either::First(Ok(n)) => n,
            Either::First(Err(e)) => {
                defmt::warn!("host link: error {} (usart::Error)", e as u8);
                0
            }
            Either::Second(()) => 0,
        };
        let t = now();
        node.lock(|cell| {
            let mut node = cell.borrow_mut();
            if let Some(bytes) = buf.get(..n)
                && n > 0
            {
                // The health record as of this request: the stack's peak, the row bus.
                let (peak, budget) = stack_peak();
                let d = node.diagnostics_mut();
                d.stack_peak_bytes = Some(peak);
                d.stack_size_bytes = budget;
                d.row_bus_errors = ROW_BUS_ERRORS.load(core::sync::atomic::Ordering::Relaxed);
                node.on_bytes(t, bytes, &mut |f| out.push(f));
            }
            node.poll(t, &mut |f| out.push(f));
        });
        if let Some(store) = store.as_mut() {
            keep_settings(node, store);
        }
        if out.dropped > 0 {
            defmt::warn!(
                "host link: {} frames dropped (link slower than the node)",
                out.dropped
            );
            out.dropped = 0;
        }
        if !out.bytes.is_empty() {
            if let Err(e) = uart.write_all(&out.bytes).await {
                defmt::warn!("host link: error {} (usart::Error)", e as u8);
            }
            out.bytes.clear();
        }
        if node.lock(|cell| cell.borrow().reset_due(t.as_millis())) {
            // A swap asked for (its answer is out of the UART), or a trial run out: the
            // bootloader swaps the slots. The outputs fall to their fail-safe positions with
            // the reset (the heartbeat to the fail-safe relay stops).
            let _ = uart.flush().await;
            defmt::info!("reset for the bootloader");
            reset_for_bootloader();
        }
    }
}

static HOST_TX_BUF: static_cell::StaticCell<[u8; 1024]> = static_cell::StaticCell::new();
static HOST_RX_BUF: static_cell::StaticCell<[u8; 512]> = static_cell::StaticCell::new();

/// The host link: LPUART1 on PA2 (TX) / PA3 (RX), the ST-LINK virtual COM port, 115200 8N1.
pub fn host_uart(
    lpuart: embassy_stm32::Peri<'static, peripherals::LPUART1>,
    rx: embassy_stm32::Peri<'static, peripherals::PA3>,
    tx: embassy_stm32::Peri<'static, peripherals::PA2>,
    irqs: impl Binding<
        interrupt::typelevel::LPUART1,
        usart::BufferedInterruptHandler<peripherals::LPUART1>,
    > + 'static,
) -> BufferedUart<'static> {
    let mut config = usart::Config::default();
    config.baudrate = HOST_BAUD;
    match BufferedUart::new(
        lpuart,
        rx,
        tx,
        HOST_TX_BUF.init([0; 1024]),
        HOST_RX_BUF.init([0; 512]),
        irqs,
        config,
    ) {
        Ok(u) => u,
        Err(e) => defmt::panic!("LPUART1: config error {} (usart::ConfigError)", e as u8),
    }
}

/// The row bus: FDCAN1 on PA11 (RX) / PA12 (TX), CAN FD at 500 kbit/s arbitration and
/// 2 Mbit/s data.
pub fn row_bus(
    fdcan: embassy_stm32::Peri<'static, peripherals::FDCAN1>,
    rx: embassy_stm32::Peri<'static, peripherals::PA11>,
    tx: embassy_stm32::Peri<'static, peripherals::PA12>,
    irqs: impl Binding<interrupt::typelevel::FDCAN1_IT0, can::IT0InterruptHandler<peripherals::FDCAN1>>
    + Binding<interrupt::typelevel::FDCAN1_IT1, can::IT1InterruptHandler<peripherals::FDCAN1>>
    + 'static,
) -> (CanTx<'static>, CanRx<'static>) {
    let mut bus = can::CanConfigurator::new(fdcan, rx, tx, irqs);
    bus.set_bitrate(500_000);
    bus.set_fd_data_bitrate(2_000_000, true);
    let (tx, rx, _) = bus.start(can::OperatingMode::NormalOperationMode).split();
    (tx, rx)
}

/// Sends one row-bus frame.
pub async fn send_row_frame(tx: &mut CanTx<'static>, f: &BusFrame) {
    match FdFrame::new_standard(f.id, f.payload()) {
        Ok(frame) => {
            // A full transmit queue hands back the frame it displaced: that one is lost.
            if tx.write_fd(&frame).await.is_some() {
                defmt::warn!("row bus: a queued frame was displaced");
            }
        }
        Err(_) => defmt::warn!("row bus: frame 0x{:x} not sendable", f.id),
    }
}

/// Receives row-bus frames and hands every decoded message to `on_message`. Never returns.
pub async fn row_bus_receive(
    mut rx: CanRx<'static>,
    mut on_message: impl FnMut(Instant, &Message),
) -> ! {
    let mut decoder = FrameDecoder::new();
    loop {
        check_in(rack_protocol::types::TaskId::RowBus);
        // Woken at least every 100 ms, so that a quiet bus is not a dead task.
        let Either::First(read) =
            select(rx.read_fd(), Timer::after(Duration::from_millis(100))).await
        else {
            continue;
        };
        match read {
            Ok(envelope) => {
                let t = now();
                for m in row_bus::decode(&mut decoder, envelope.frame.data()) {
                    on_message(t, &m);
                }
            }
            Err(e) => {
                ROW_BUS_ERRORS.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
                defmt::warn!("row bus: error {} (can::BusError)", e as u8);
            }
        }
    }
}
