//! A rack's power controller on the STM32G474RE Nucleo. Pin map: the board's README.
//!
//! - control step every 100 ms in the high-priority executor: eighteen INA228 monitors (nine
//!   on I2C1, nine on I2C2) give each tray's power, ADC1 the feed current and input power from
//!   4-20 mA transducers, the rack bus (FDCAN2) the trays' demands and GPU temperatures, the
//!   shelves' PSU status and AC, the battery's charge; the node steps the controller; PCA9555
//!   expanders on I2C1 drive the tray and PSU enables, the rack bus carries the caps, floors and
//!   the battery command, the row bus (FDCAN1) the power report; the watchdog is fed if the
//!   node is healthy;
//! - host protocol on LPUART1 (ST-LINK VCP) and both buses' receive sides in thread mode.
#![no_std]
#![no_main]

use core::cell::RefCell;

use embassy_executor::Spawner;
use embassy_stm32::adc::{Adc, AdcChannel, AdcConfig, AnyAdcChannel, SampleTime};
use embassy_stm32::can::{self, CanConfigurator, CanTx, frame::Frame};
use embassy_stm32::gpio::{Input, Level, Output, Pull, Speed};
use embassy_stm32::i2c::{self, I2c};
use embassy_stm32::mode::Blocking;
use embassy_stm32::peripherals::ADC1;
use embassy_stm32::usart::{self, BufferedUart};
use embassy_stm32::{bind_interrupts, peripherals};
use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_time::{Duration, Ticker};
use embedded_can::Id;
use embedded_hal_bus::i2c::AtomicDevice;
use embedded_hal_bus::util::AtomicCell;
use ina228::Ina228;
use nucleo_g474re::expander::{BusErrors, Pca9555};
use nucleo_g474re::{
    Shared, Watchdog, check_in, config, host_link, host_uart, i2c_fast, in_the_way, now,
    record_boot, row_bus, send_row_frame, start_control_executor,
};
use rack_control::power::{
    PSUS_PER_SHELF, PowerConfig, PowerController, PowerInputs, PowerOutputs, TRAYS,
};
use rack_control::sensor::Reading;
use rack_node::field_io::CurrentLoop;
use rack_node::power::PowerApp;
use rack_node::rack_bus::{self, RackBus};
use rack_node::row_bus::RackRowBus;
use rack_node::{Node, NodeConfig};
use rack_protocol::types::TaskId;
use static_cell::StaticCell;

bind_interrupts!(struct Irqs {
    LPUART1 => usart::BufferedInterruptHandler<peripherals::LPUART1>;
    FDCAN1_IT0 => can::IT0InterruptHandler<peripherals::FDCAN1>;
    FDCAN1_IT1 => can::IT1InterruptHandler<peripherals::FDCAN1>;
    FDCAN2_IT0 => can::IT0InterruptHandler<peripherals::FDCAN2>;
    FDCAN2_IT1 => can::IT1InterruptHandler<peripherals::FDCAN2>;
});

/// Control period, ms.
#[allow(clippy::cast_lossless)] // `u64::from` is not `const`
const PERIOD_MS: u64 = rack_control::CONTROL_PERIOD_MS as u64;
/// Trays per I2C bus.
const TRAYS_PER_BUS: usize = TRAYS / 2;
/// Tray shunts: 0.5 mOhm, 200 A full scale (a 7.2 kW tray draws 144 A from the 50 V bus).
const SHUNT_OHM: f32 = 0.0005;
const MAX_TRAY_A: f32 = 200.0;
/// PCA9555 expanders on I2C1: tray enables (two chips), PSU enables (three chips).
const EXP_TRAYS: [Pca9555; 2] = [Pca9555 { addr: 0x20 }, Pca9555 { addr: 0x21 }];
const EXP_PSUS: [Pca9555; 3] = [
    Pca9555 { addr: 0x22 },
    Pca9555 { addr: 0x23 },
    Pca9555 { addr: 0x24 },
];
/// Feed current and input power transducers, 4-20 mA.
const FEED_CURRENT: CurrentLoop = CurrentLoop {
    at_4ma: 0.0,
    at_20ma: 400.0,
};
const INPUT_POWER: CurrentLoop = CurrentLoop {
    at_4ma: 0.0,
    at_20ma: 200_000.0,
};

/// An I2C bus shared by several devices. The control task owns all of them, so a device only
/// marks the bus taken with an atomic flag for its transaction (a second user would get
/// `Busy`): no interrupt is disabled, as a critical section per transaction (18 monitors and
/// 5 expanders each step) would.
type Bus = AtomicCell<I2c<'static, Blocking, i2c::Master>>;
type Monitor = Ina228<AtomicDevice<'static, I2c<'static, Blocking, i2c::Master>>>;

static NODE: StaticCell<Shared<PowerApp>> = StaticCell::new();
static I2C1_BUS: StaticCell<Bus> = StaticCell::new();
static I2C2_BUS: StaticCell<Bus> = StaticCell::new();
/// The rack bus's state, in zeroed RAM (see `row_bus_state!`).
static RACK: Mutex<CriticalSectionRawMutex, RefCell<Option<&'static mut RackBus>>> =
    Mutex::new(RefCell::new(None));
static RACK_STATE: StaticCell<RackBus> = StaticCell::new();
nucleo_g474re::row_bus_state!(RackRowBus);

struct Io {
    monitors: [Monitor; TRAYS],
    expanders: AtomicDevice<'static, I2c<'static, Blocking, i2c::Master>>,
    adc: Adc<'static, ADC1>,
    feed: [AnyAdcChannel<'static, ADC1>; 2],
    feed_current: Reading,
    input_power: Reading,
    i2c_errors: BusErrors,
}

impl Io {
    fn read(&mut self, t: rack_control::Instant, inputs: &mut PowerInputs) {
        for (w, m) in inputs.tray_power_w.iter_mut().zip(self.monitors.iter_mut()) {
            // A monitor that does not answer keeps its last reading (and is counted).
            if let Some(p) = self.i2c_errors.note(m.power()) {
                *w = p;
            }
        }
        let [c, p] = &mut self.feed;
        let current = self.adc.blocking_read(c, SampleTime::CYCLES92_5);
        let power = self.adc.blocking_read(p, SampleTime::CYCLES92_5);
        FEED_CURRENT.update(&mut self.feed_current, current, t);
        INPUT_POWER.update(&mut self.input_power, power, t);
        // A failed transducer reads as its full scale: the breaker model then sheds rather
        // than trusts a stale low value.
        let fresh = |r: &Reading| t.as_millis().saturating_sub(r.at.as_millis()) <= 1_000;
        inputs.feed_current_a = if fresh(&self.feed_current) {
            self.feed_current.value
        } else {
            FEED_CURRENT.at_20ma
        };
        inputs.input_power_w = if fresh(&self.input_power) {
            self.input_power.value
        } else {
            INPUT_POWER.at_20ma
        };
    }

    fn write(&mut self, o: &PowerOutputs) {
        let mut trays = 0u32;
        for (i, on) in o.tray_enable.iter().enumerate() {
            trays |= u32::from(*on) << i;
        }
        let mut psus = 0u64;
        for (s, shelf) in o.psu_enable.iter().enumerate() {
            for (i, on) in shelf.iter().enumerate() {
                psus |= u64::from(*on) << (s * PSUS_PER_SHELF + i);
            }
        }
        // Each expander takes 16 of the bits: the low 16 on purpose.
        #[allow(clippy::cast_possible_truncation)]
        let words = [
            (EXP_TRAYS[0], trays as u16),
            (EXP_TRAYS[1], (trays >> 16) as u16),
            (EXP_PSUS[0], psus as u16),
            (EXP_PSUS[1], (psus >> 16) as u16),
            (EXP_PSUS[2], (psus >> 32) as u16),
        ];
        // Enables are active low (a low pin switches its tray or PSU on): the expander's
        // power-on latches (all ones) leave everything off, and an MCU reset leaves the latches
        // as they were (docs/failsafe.md).
        for (expander, word) in words {
            self.i2c_errors
                .note(expander.write(&mut self.expanders, !word));
        }
        self.i2c_errors.report("I2C1/I2C2 (monitors, expanders)");
    }
}

#[embassy_executor::task]
async fn control(
    node: &'static Shared<PowerApp>,
    mut io: Io,
    mut row_tx: CanTx<'static>,
    mut rack_tx: CanTx<'static>,
    mut watchdog: Watchdog,
) {
    let gpu_limit_c = PowerConfig::default().gpu_limit_c;
    let mut ticker = Ticker::every(Duration::from_millis(PERIOD_MS));
    let mut inputs = rack_bus::initial_inputs(gpu_limit_c);
    loop {
        ticker.next().await;
        let t = now();
        in_the_way(Some(TaskId::FieldIo));
        io.read(t, &mut inputs);
        check_in(TaskId::FieldIo);
        let field_errors = io.i2c_errors.count();
        in_the_way(Some(TaskId::Control));
        RACK.lock(|r| {
            if let Some(r) = r.borrow().as_ref() {
                r.fill(t, gpu_limit_c, &mut inputs);
            }
        });
        ROW.lock(|r| {
            if let Some(r) = r.borrow().as_ref() {
                r.fill(t, &mut inputs);
            }
        });
        let (outputs, healthy) = node.lock(|cell| {
            let mut n = cell.borrow_mut();
            // Judged before this step: whether the last one came within two periods (judged
            // after it, the step just taken would always pass and a stalled loop would feed).
            let healthy = n.healthy(t);
            n.step(t, |app| app.step(t, &inputs));
            check_in(TaskId::Control);
            n.diagnostics_mut().field_bus_errors = field_errors;
            (*n.app.controller.outputs(), healthy)
        });
        io.write(&outputs);
        let mut frames: heapless::Vec<Frame, { TRAYS + 1 }> = heapless::Vec::new();
        rack_bus::commands(&outputs, |id, data| {
            if let Ok(f) = Frame::new_standard(id, &data) {
                let _ = frames.push(f);
            }
        });
        in_the_way(Some(TaskId::RowBus));
        for f in &frames {
            if rack_tx.write(f).await.is_some() {
                defmt::warn!("rack bus: a queued frame was displaced");
            }
        }
        let report = ROW.lock(|r| {
            r.borrow_mut()
                .as_mut()
                .and_then(|r| r.report(&inputs, &outputs))
        });
        if let Some(f) = report {
            send_row_frame(&mut row_tx, &f).await;
        }
        let _fed = watchdog.feed_if(healthy);
    }
}

#[embassy_executor::task]
async fn host(
    uart: BufferedUart<'static>,
    node: &'static Shared<PowerApp>,
    store: Option<nucleo_g474re::SettingsStore>,
) {
    host_link(uart, node, store).await;
}

#[embassy_executor::task]
async fn rack_rx(mut rx: can::CanRx<'static>) {
    loop {
        match rx.read().await {
            Ok(envelope) => {
                let t = now();
                if let Id::Standard(id) = envelope.frame.id() {
                    let id = id.as_raw();
                    RACK.lock(|r| {
                        if let Some(r) = r.borrow_mut().as_mut() {
                            r.receive(t, id, envelope.frame.data());
                        }
                    });
                }
            }
            Err(e) => defmt::warn!("rack bus: error {} (can::BusError)", e as u8),
        }
    }
}

fn monitors(bus: &'static Bus) -> [Monitor; TRAYS_PER_BUS] {
    core::array::from_fn(|i| {
        #[allow(clippy::cast_possible_truncation)] // i < 9
        let mut m = Ina228::new(AtomicDevice::new(bus), 0x40 + i as u8);
        if m.calibrate(MAX_TRAY_A, SHUNT_OHM).is_err() {
            defmt::warn!("INA228 0x{:x} does not answer", 0x40 + i);
        }
        m
    })
}

/// The node as this image starts it. A function of its own, never inlined: the node is built
/// once in its frame and moved into its static with one copy; built inside `main`, it was
/// assembled and moved piece by piece, in 872 B more code on the coolant image (which has
/// none to spare) and an 11 KiB frame.
#[inline(never)]
fn make_node() -> Node<PowerApp> {
    Node::new(
        PowerApp::new(PowerController::new(PowerConfig::default())),
        NodeConfig {
            serial: nucleo_g474re::serial("RPC-"),
            ..NodeConfig::default()
        },
        now(),
    )
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    nucleo_g474re::paint_stack();
    let p = embassy_stm32::init(config());
    // The rack's slot in the row, from address straps on PC10, PC11, PC12 and PD2 (pulled up;
    // a strap to ground is a 1 bit).
    let straps = [
        Input::new(p.PC10, Pull::Up),
        Input::new(p.PC11, Pull::Up),
        Input::new(p.PC12, Pull::Up),
        Input::new(p.PD2, Pull::Up),
    ];
    let rack = straps
        .iter()
        .enumerate()
        .fold(0u8, |acc, (i, s)| acc | (u8::from(s.is_low()) << i));
    defmt::info!("power-controller: up, rack {}", rack);
    let node = NODE.init_with(|| Mutex::new(RefCell::new(make_node())));
    nucleo_g474re::install_keys(node);
    record_boot(node);
    let flash = nucleo_g474re::board_flash(p.FLASH);
    let mut store =
        nucleo_g474re::settings_store(flash, rack_protocol::types::DeviceKind::PowerController);
    nucleo_g474re::load_settings(node, store.as_mut());
    nucleo_g474re::start_update_path(node);
    install_row_bus(RackRowBus::new(rack));
    let rack_state = RACK_STATE.init(RackBus::new());
    RACK.lock(|r| *r.borrow_mut() = Some(rack_state));

    let uart = host_uart(p.LPUART1, p.PA3, p.PA2, Irqs);

    // Row bus: FDCAN1 on PA11/PA12 (CAN FD 500 k / 2 M); rack bus: FDCAN2 on PB12/PB13
    // (classic CAN 500 k).
    let (row_tx, row_rx_half) = row_bus(p.FDCAN1, p.PA11, p.PA12, Irqs);
    let mut rack_can = CanConfigurator::new(p.FDCAN2, p.PB12, p.PB13, Irqs);
    rack_can.set_bitrate(500_000);
    let (rack_tx, rack_rx_half, _) = rack_can
        .start(can::OperatingMode::NormalOperationMode)
        .split();

    let i2c_config = i2c_fast();
    let bus1 = I2C1_BUS.init(AtomicCell::new(I2c::new_blocking(
        p.I2C1, p.PB8, p.PB9, i2c_config,
    )));
    let bus2 = I2C2_BUS.init(AtomicCell::new(I2c::new_blocking(
        p.I2C2, p.PA9, p.PA8, i2c_config,
    )));
    let mut expanders = AtomicDevice::new(bus1);
    // The expanders' ports as outputs at the levels they hold: off after their own power-on,
    // as the last controller left them after an MCU reset (the controller's first step takes
    // the rack over as it finds it, and only then writes them).
    for expander in EXP_TRAYS.into_iter().chain(EXP_PSUS) {
        if expander.keep_outputs(&mut expanders).is_err() {
            defmt::warn!("expander 0x{:x} does not answer", expander.addr);
        }
    }
    let [a, b] = [monitors(bus1), monitors(bus2)];
    let mut all = a.into_iter().chain(b);
    let monitors: [Monitor; TRAYS] = core::array::from_fn(|_| match all.next() {
        Some(m) => m,
        None => defmt::panic!("tray monitor count"),
    });

    let io = Io {
        monitors,
        expanders,
        adc: Adc::new(p.ADC1, AdcConfig::default()),
        feed: [p.PA0.degrade_adc(), p.PA1.degrade_adc()],
        feed_current: Reading {
            value: 0.0,
            at: now(),
        },
        input_power: Reading {
            value: 0.0,
            at: now(),
        },
        i2c_errors: BusErrors::default(),
    };
    let _led = Output::new(p.PA5, Level::High, Speed::Low);

    let watchdog = Watchdog::start(p.IWDG);
    let high = start_control_executor();
    high.spawn(defmt::unwrap!(control(node, io, row_tx, rack_tx, watchdog)));
    spawner.spawn(defmt::unwrap!(host(uart, node, store)));
    spawner.spawn(defmt::unwrap!(row_rx(row_rx_half)));
    spawner.spawn(defmt::unwrap!(rack_rx(rack_rx_half)));
}
