//! The row's coolant controller (CDU) on the STM32G474RE Nucleo. Pin map: the board's README.
//!
//! - control step every 100 ms in the high-priority executor: ADC1 reads the ten 4-20 mA
//!   loops, EXTI counts the pump tach pulses, two PCA9555 expanders on I2C1 give the leak
//!   detectors, the node steps the controller, TIM1 (pumps) and TIM8 (valve) PWM take the
//!   commands, a third expander drives the rack isolation valves, the headroom and isolation
//!   requests go out on the row bus, and the watchdog is fed if the node is healthy;
//! - host protocol on LPUART1 (ST-LINK VCP, 115200 8N1) and row-bus receive on FDCAN1 in
//!   thread mode.
#![no_std]
#![no_main]

use core::cell::RefCell;
use core::sync::atomic::{AtomicU32, Ordering};

use embassy_executor::Spawner;
use embassy_stm32::adc::{Adc, AdcChannel, AdcConfig, AnyAdcChannel, SampleTime};
use embassy_stm32::can::{self, CanTx};
use embassy_stm32::exti::{self, ExtiInput};
use embassy_stm32::gpio::{Level, Output, OutputType, Pull, Speed};
use embassy_stm32::i2c::{self, I2c};
use embassy_stm32::interrupt;
use embassy_stm32::mode::Blocking;
use embassy_stm32::peripherals::{ADC1, TIM1, TIM8};
use embassy_stm32::time::Hertz;
use embassy_stm32::timer::simple_pwm::{PwmPin, SimplePwm};
use embassy_stm32::timer::{Channel, low_level::CountingMode};
use embassy_stm32::usart::{self, BufferedUart};
use embassy_stm32::{bind_interrupts, peripherals};
use embassy_sync::blocking_mutex::Mutex;
use embassy_time::{Duration, Ticker};
use nucleo_g474re::expander::{BusErrors, Pca9555};
use nucleo_g474re::{
    Shared, Watchdog, check_in, config, host_link, host_uart, i2c_fast, in_the_way, now,
    record_boot, row_bus, send_row_frame, start_control_executor,
};
use rack_control::coolant::{
    CoolantConfig, CoolantController, CoolantInputs, CoolantOutputs, MAX_PUMPS,
};
use rack_node::coolant::CoolantApp;
use rack_node::field_io::{CurrentLoop, TachCounter};
use rack_node::row_bus::{BusFrame, CduRowBus};
use rack_node::{Node, NodeConfig};
use rack_protocol::types::TaskId;
use static_cell::StaticCell;

bind_interrupts!(struct Irqs {
    LPUART1 => usart::BufferedInterruptHandler<peripherals::LPUART1>;
    FDCAN1_IT0 => can::IT0InterruptHandler<peripherals::FDCAN1>;
    FDCAN1_IT1 => can::IT1InterruptHandler<peripherals::FDCAN1>;
    EXTI4 => exti::InterruptHandler<interrupt::typelevel::EXTI4>;
    EXTI9_5 => exti::InterruptHandler<interrupt::typelevel::EXTI9_5>;
    EXTI15_10 => exti::InterruptHandler<interrupt::typelevel::EXTI15_10>;
});

/// Control period, ms (the simulator's step).
#[allow(clippy::cast_lossless)] // `u64::from` is not `const`
const PERIOD_MS: u64 = rack_control::CONTROL_PERIOD_MS as u64;
/// Tach pulses per pump revolution.
const TACH_PPR: u32 = 2;
/// PCA9555 expanders on I2C1: moisture cables, float switches, rack isolation valves.
const EXP_MOISTURE: Pca9555 = Pca9555 { addr: 0x20 };
const EXP_FLOAT: Pca9555 = Pca9555 { addr: 0x21 };
const EXP_VALVES: Pca9555 = Pca9555 { addr: 0x22 };

/// The ten loops in `rack_node::plant_io`'s reading order: three supply temperatures, return,
/// primary supply, primary return (degC), flow (L/min), dP (kPa), valve feedback (%),
/// reservoir level (%).
const LOOPS: [CurrentLoop; 10] = [
    span(100.0),
    span(100.0),
    span(100.0),
    span(100.0),
    span(100.0),
    span(100.0),
    span(1500.0),
    span(400.0),
    span(100.0),
    span(100.0),
];

/// A transmitter ranged 0 at 4 mA to `at_20ma` at 20 mA.
const fn span(at_20ma: f32) -> CurrentLoop {
    CurrentLoop {
        at_4ma: 0.0,
        at_20ma,
    }
}

static NODE: StaticCell<Shared<CoolantApp>> = StaticCell::new();
static TACH_EDGES: [AtomicU32; MAX_PUMPS] =
    [AtomicU32::new(0), AtomicU32::new(0), AtomicU32::new(0)];
nucleo_g474re::row_bus_state!(CduRowBus);

/// Sensors and actuators of the CDU.
struct Io {
    adc: Adc<'static, ADC1>,
    loops: [AnyAdcChannel<'static, ADC1>; 10],
    tachs: [TachCounter<5>; MAX_PUMPS],
    i2c: I2c<'static, Blocking, i2c::Master>,
    pumps: SimplePwm<'static, TIM1>,
    valve: SimplePwm<'static, TIM8>,
    reservoir_ok: embassy_stm32::gpio::Input<'static>,
    overcurrent: [embassy_stm32::gpio::Input<'static>; MAX_PUMPS],
    i2c_errors: BusErrors,
}

fn duty(
    pwm: &mut SimplePwm<'static, impl embassy_stm32::timer::GeneralInstance4Channel>,
    ch: Channel,
    pct: f32,
) {
    let mut c = pwm.channel(ch);
    let max = c.max_duty_cycle();
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // clamped to 0..=max
    let d = (pct.clamp(0.0, 100.0) / 100.0 * f32::from(max as u16)) as u32;
    c.set_duty_cycle(d);
}

impl Io {
    /// Reads every input into `inputs` at `t`.
    fn read(&mut self, t: rack_control::Instant, inputs: &mut CoolantInputs) {
        let mut counts = [0u16; 10];
        for (c, ch) in counts.iter_mut().zip(self.loops.iter_mut()) {
            *c = self.adc.blocking_read(ch, SampleTime::CYCLES92_5);
        }
        let [s0, s1, s2, ret, psup, pret, flow, dp, valve, level] = counts;
        let [l0, l1, l2, l3, l4, l5, l6, l7, l8, l9] = LOOPS;
        let [t0, t1, t2] = &mut inputs.supply_temps_c;
        l0.update(t0, s0, t);
        l1.update(t1, s1, t);
        l2.update(t2, s2, t);
        l3.update(&mut inputs.return_temp_c, ret, t);
        l4.update(&mut inputs.primary_supply_temp_c, psup, t);
        l5.update(&mut inputs.primary_return_temp_c, pret, t);
        l6.update(&mut inputs.flow_lpm, flow, t);
        l7.update(&mut inputs.dp_kpa, dp, t);
        l8.update(&mut inputs.valve_feedback_pct, valve, t);
        if let Some(v) = l9.value(CurrentLoop::milliamps(level)) {
            inputs.reservoir_level_pct = v;
        }
        for ((rpm, tach), edges) in inputs
            .pump_tach_rpm
            .iter_mut()
            .zip(&mut self.tachs)
            .zip(&TACH_EDGES)
        {
            *rpm = tach.sample(t, edges.load(Ordering::Relaxed));
        }
        for (oc, pin) in inputs.pump_overcurrent.iter_mut().zip(&self.overcurrent) {
            *oc = pin.is_low();
        }
        inputs.reservoir_level_ok = self.reservoir_ok.is_high();
        // Leak detectors: a failed expander read counts as wet everywhere it covers (the
        // controller still waits its reaction delay, and a wire fault must not hide a leak).
        let mut read16 = |expander: Pca9555| {
            // Detectors pull low when wet.
            self.i2c_errors
                .note(expander.read(&mut self.i2c))
                .map_or(u16::MAX, |pins| !pins)
        };
        let wet = read16(EXP_MOISTURE);
        let float = read16(EXP_FLOAT);
        for (z, (m, f)) in inputs
            .leak_moisture
            .iter_mut()
            .zip(inputs.leak_float.iter_mut())
            .enumerate()
            .take(16)
        {
            *m = wet >> z & 1 == 1;
            *f = float >> z & 1 == 1;
        }
    }

    /// Applies the controller's commands.
    fn write(&mut self, o: &CoolantOutputs) {
        for (ch, pct) in [Channel::Ch1, Channel::Ch2, Channel::Ch3]
            .into_iter()
            .zip(o.pump_speed_pct)
        {
            duty(&mut self.pumps, ch, pct);
        }
        duty(&mut self.valve, Channel::Ch1, o.valve_demand_pct);
        let mut open = 0u16;
        for (r, v) in o.rack_valve_open.iter().enumerate().take(16) {
            open |= u16::from(*v) << r;
        }
        // The rack valves are normally open: a low pin energises a coil and closes its valve,
        // a high one (the expander's power-on state) leaves it open (docs/failsafe.md).
        self.i2c_errors.note(EXP_VALVES.write(&mut self.i2c, open));
        self.i2c_errors.report("I2C1 (expanders)");
    }
}

#[embassy_executor::task]
async fn control(
    node: &'static Shared<CoolantApp>,
    mut io: Io,
    mut tx: CanTx<'static>,
    mut watchdog: Watchdog,
    mut heartbeat: Output<'static>,
) {
    let mut ticker = Ticker::every(Duration::from_millis(PERIOD_MS));
    let mut inputs = CoolantInputs::uniform(now(), f32::NAN);
    loop {
        ticker.next().await;
        let t = now();
        in_the_way(Some(TaskId::FieldIo));
        io.read(t, &mut inputs);
        check_in(TaskId::FieldIo);
        let field_errors = io.i2c_errors.count();
        in_the_way(Some(TaskId::Control));
        ROW.lock(|row| {
            if let Some(row) = row.borrow().as_ref() {
                inputs.rack_reports = row.reports;
            }
        });
        let (outputs, healthy, beat) = node.lock(|cell| {
            let mut n = cell.borrow_mut();
            // Judged before this step: whether the last one came within two periods (judged
            // after it, the step just taken would always pass and a stalled loop would feed).
            let healthy = n.healthy(t);
            n.step(t, |app| app.step(t, &inputs));
            check_in(TaskId::Control);
            n.diagnostics_mut().field_bus_errors = field_errors;
            (*n.app.controller.outputs(), healthy, n.heartbeat())
        });
        io.write(&outputs);
        let mut frames: heapless::Vec<BusFrame, 17> = heapless::Vec::new();
        ROW.lock(|row| {
            if let Some(row) = row.borrow_mut().as_mut() {
                row.broadcasts(&outputs, |f| {
                    let _ = frames.push(f);
                });
            }
        });
        in_the_way(Some(TaskId::RowBus));
        for f in &frames {
            send_row_frame(&mut tx, f).await;
        }
        // The fail-safe relay holds while this pin keeps toggling (docs/failsafe.md): only
        // while the watchdog is fed.
        if watchdog.feed_if(healthy) {
            heartbeat.set_level(Level::from(beat));
        }
    }
}

#[embassy_executor::task]
async fn host(
    uart: BufferedUart<'static>,
    node: &'static Shared<CoolantApp>,
    store: Option<nucleo_g474re::SettingsStore>,
) {
    host_link(uart, node, store).await;
}

#[embassy_executor::task(pool_size = 3)]
async fn tach(mut pin: ExtiInput<'static, embassy_stm32::mode::Async>, edges: &'static AtomicU32) {
    loop {
        pin.wait_for_rising_edge().await;
        edges.fetch_add(1, Ordering::Relaxed);
    }
}

/// The node as this image starts it. A function of its own, never inlined: the node is built
/// once in its frame and moved into its static with one copy; built inside `main`, it was
/// assembled and moved piece by piece, in 872 B more code on the coolant image (which has
/// none to spare) and an 11 KiB frame.
#[inline(never)]
fn make_node() -> Node<CoolantApp> {
    Node::new(
        CoolantApp::new(CoolantController::new(CoolantConfig::default())),
        NodeConfig {
            serial: nucleo_g474re::serial("CDU-"),
            ..NodeConfig::default()
        },
        now(),
    )
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    nucleo_g474re::paint_stack();
    let p = embassy_stm32::init(config());
    defmt::info!("coolant-controller: up");
    let node = NODE.init_with(|| Mutex::new(RefCell::new(make_node())));
    nucleo_g474re::install_keys(node);
    record_boot(node);
    let flash = nucleo_g474re::board_flash(p.FLASH);
    let mut store =
        nucleo_g474re::settings_store(flash, rack_protocol::types::DeviceKind::CoolantController);
    nucleo_g474re::load_settings(node, store.as_mut());
    nucleo_g474re::start_update_path(node);
    install_row_bus(CduRowBus::new(0));

    let uart = host_uart(p.LPUART1, p.PA3, p.PA2, Irqs);

    let (tx, rx) = row_bus(p.FDCAN1, p.PA11, p.PA12, Irqs);

    // Analog inputs (ADC1), in LOOPS order.
    let adc = Adc::new(p.ADC1, AdcConfig::default());
    let loops = [
        p.PA0.degrade_adc(),
        p.PA1.degrade_adc(),
        p.PB0.degrade_adc(),
        p.PB1.degrade_adc(),
        p.PB11.degrade_adc(),
        p.PB12.degrade_adc(),
        p.PC0.degrade_adc(),
        p.PC1.degrade_adc(),
        p.PC2.degrade_adc(),
        p.PC3.degrade_adc(),
    ];

    // PWM: pumps on TIM1 CH1..3 (PA8, PA9, PA10), valve on TIM8 CH1 (PC6), 20 kHz.
    let mut pumps = SimplePwm::new(
        p.TIM1,
        Some(PwmPin::new(p.PA8, OutputType::PushPull)),
        Some(PwmPin::new(p.PA9, OutputType::PushPull)),
        Some(PwmPin::new(p.PA10, OutputType::PushPull)),
        None,
        Hertz(20_000),
        CountingMode::EdgeAlignedUp,
    );
    let mut valve = SimplePwm::new(
        p.TIM8,
        Some(PwmPin::new(p.PC6, OutputType::PushPull)),
        None,
        None,
        None,
        Hertz(20_000),
        CountingMode::EdgeAlignedUp,
    );
    for ch in [Channel::Ch1, Channel::Ch2, Channel::Ch3] {
        pumps.channel(ch).enable();
    }
    valve.channel(Channel::Ch1).enable();

    // Leak detector and valve expanders on I2C1: PB8 (SCL), PB9 (SDA), 400 kHz.
    let mut i2c = I2c::new_blocking(p.I2C1, p.PB8, p.PB9, i2c_fast());
    // The valve expander's ports as outputs at the levels they hold (every valve open after
    // its own power-on; as the last controller left them after an MCU reset) until the first
    // step.
    if EXP_VALVES.keep_outputs(&mut i2c).is_err() {
        defmt::warn!("valve expander 0x{:x} does not answer", EXP_VALVES.addr);
    }

    let io = Io {
        adc,
        loops,
        tachs: [
            TachCounter::new(TACH_PPR),
            TachCounter::new(TACH_PPR),
            TachCounter::new(TACH_PPR),
        ],
        i2c,
        pumps,
        valve,
        reservoir_ok: embassy_stm32::gpio::Input::new(p.PC4, Pull::Down),
        overcurrent: [
            embassy_stm32::gpio::Input::new(p.PC7, Pull::Up),
            embassy_stm32::gpio::Input::new(p.PC8, Pull::Up),
            embassy_stm32::gpio::Input::new(p.PC9, Pull::Up),
        ],
        i2c_errors: BusErrors::default(),
    };
    // LD2 on PA5 lights while the board runs.
    let _led = Output::new(p.PA5, Level::High, Speed::Low);

    // Tachs on PB4, PB5, PB10 (EXTI 4, 5, 10).
    let [e0, e1, e2] = &TACH_EDGES;
    spawner.spawn(defmt::unwrap!(tach(
        ExtiInput::new(p.PB4, p.EXTI4, Pull::Up, Irqs),
        e0
    )));
    spawner.spawn(defmt::unwrap!(tach(
        ExtiInput::new(p.PB5, p.EXTI5, Pull::Up, Irqs),
        e1
    )));
    spawner.spawn(defmt::unwrap!(tach(
        ExtiInput::new(p.PB10, p.EXTI10, Pull::Up, Irqs),
        e2
    )));

    // The heartbeat to the fail-safe relay's retriggerable monostable on PB7 (pulled down on
    // the board: a resetting MCU leaves it still, and the relay drops).
    let heartbeat = Output::new(p.PB7, Level::Low, Speed::Low);
    let watchdog = Watchdog::start(p.IWDG);
    let high = start_control_executor();
    high.spawn(defmt::unwrap!(control(node, io, tx, watchdog, heartbeat)));
    spawner.spawn(defmt::unwrap!(host(uart, node, store)));
    spawner.spawn(defmt::unwrap!(row_rx(rx)));
}
