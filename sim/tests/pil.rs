//! Processor in the loop: the coolant controller's real ARM binary in QEMU (`mps2-an386`)
//! against the plant, and its host protocol on UART0. Needs `qemu-system-arm` and the image
//! that `cargo xtask firmware` builds; `cargo xtask test` provides both, and this test fails
//! (never skips) without them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::float_cmp,
    clippy::needless_pass_by_value
)]

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use rack_protocol::decoder::FrameDecoder;
use rack_protocol::frame::{self, MAX_WIRE_FRAME_SIZE};
use rack_protocol::message::{GetIdentity, GetTelemetry, SetSetpoint};
use rack_protocol::types::{DeviceKind, Refusal, SetpointId};
use rack_protocol::{Message, MessageKind};
use rack_sim::scenario::Scenario;

/// A short run with a load step and a pump trip: 300 lockstep exchanges (QEMU hands the UART
/// one byte per event-loop turn, so a step costs tens of milliseconds; the full scenarios run
/// with `racksim run SCENARIO --pil coolant`).
const SHORT: &str = r#"
name = "pil-short"
duration_s = 30
warmup_s = 0
[workload]
shape = { kind = "step", from = 0.4, to = 1.0, at_s = 8, ramp_s = 1 }
jitter = 0.02
[[faults]]
at_s = 18
fault = { kind = "pump_trip", pump = 0 }
"#;

fn image() -> std::path::PathBuf {
    let image = rack_sim::run::pil::default_image("coolant-controller");
    assert!(
        image.exists(),
        "no firmware image at {}: run `cargo xtask firmware` (cargo xtask test does)",
        image.display()
    );
    image
}

#[test]
fn the_arm_binary_drives_the_plant_and_agrees_with_the_host_build_bit_for_bit() {
    let scenario = Scenario::parse(Path::new("pil-short.toml"), SHORT).unwrap();
    let (outcome, log) =
        rack_sim::run_pil(&scenario, &image(), |_| {}).unwrap_or_else(|e| panic!("{e}"));
    let k = &outcome.summary.kpis;
    assert_eq!(k["pil_steps"], 300.0);
    assert_eq!(
        k["pil_mismatches"], 0.0,
        "the ARM binary and the host build disagreed"
    );
    assert!(
        k.contains_key("alarm_pump_fault_s"),
        "the firmware saw the pump trip: {k:?}"
    );
    assert!(
        log.contains("coolant-controller: up") && log.contains("end of run"),
        "{log}"
    );
}

/// The maintenance key the board images are built with (no `RACKLOOP_KEYS`).
fn dev_maintenance_key() -> rack_protocol::auth::Key {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware/boards/dev.keys"),
    )
    .unwrap();
    text.lines()
        .filter_map(|l| rack_protocol::auth::parse_key_line(l).unwrap())
        .find(|(_, role)| *role == rack_protocol::types::KeyRole::Maintenance)
        .unwrap()
        .0
}

fn request(
    stream: &mut std::net::TcpStream,
    decoder: &mut FrameDecoder,
    seq: u16,
    m: Message,
) -> Message {
    let mut wire = [0u8; MAX_WIRE_FRAME_SIZE];
    // A write is signed with the image's development maintenance key (firmware/boards/dev.keys).
    let len = if m.kind().needs_role().is_some() {
        frame::encode_signed(seq, &m, &dev_maintenance_key(), u64::from(seq), &mut wire)
    } else {
        frame::encode(seq, &m, &mut wire)
    }
    .unwrap();
    stream.write_all(&wire[..len]).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut buf = [0u8; 512];
    loop {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "the firmware closed UART0");
        let frames: Vec<_> = decoder.feed(&buf[..n]).filter_map(Result::ok).collect();
        if let Some(f) = frames.into_iter().find(|f| f.seq == seq) {
            return f.message;
        }
    }
}

#[test]
fn the_firmware_answers_the_host_protocol_on_uart0() {
    let pil = rack_sim::run::pil::Pil::start(&image()).unwrap();
    let mut host = pil.host.try_clone().unwrap();
    let mut decoder = FrameDecoder::new();
    let Message::Identity(id) = request(
        &mut host,
        &mut decoder,
        1,
        Message::GetIdentity(GetIdentity),
    ) else {
        panic!()
    };
    assert_eq!(id.device_kind, DeviceKind::CoolantController);
    assert_eq!(id.serial_number.as_str(), "CDU-QEMU-0");
    let telemetry = request(
        &mut host,
        &mut decoder,
        2,
        Message::GetTelemetry(GetTelemetry),
    );
    assert!(
        matches!(telemetry, Message::CoolantTelemetry(_)),
        "{telemetry:?}"
    );
    let refused = request(
        &mut host,
        &mut decoder,
        3,
        Message::SetSetpoint(SetSetpoint {
            id: SetpointId::SupplyTempCentiC,
            value: 9000,
        }),
    );
    assert_eq!(
        refused,
        Message::Refused(rack_protocol::message::Refused {
            of: MessageKind::SetSetpoint,
            reason: Refusal::OutOfRange {
                min: 1000,
                max: 3500
            }
        })
    );
    let inputs = rack_control::coolant::CoolantInputs::uniform(rack_control::Instant(1), 30.0);
    let (ok, log) = pil
        .finish(&rack_node::plant_io::coolant_sample(1000, &inputs, true))
        .unwrap();
    assert!(ok, "{log}");
}

#[test]
fn the_power_controller_image_answers_on_uart0_and_steps_on_plant_samples() {
    let image = rack_sim::run::pil::default_image("power-controller");
    assert!(
        image.exists(),
        "no firmware image at {}: run `cargo xtask firmware`",
        image.display()
    );
    let mut pil = rack_sim::run::pil::Pil::start(&image).unwrap();
    let mut host = pil.host.try_clone().unwrap();
    let mut decoder = FrameDecoder::new();
    let Message::Identity(id) = request(
        &mut host,
        &mut decoder,
        1,
        Message::GetIdentity(GetIdentity),
    ) else {
        panic!()
    };
    assert_eq!(id.device_kind, DeviceKind::PowerController);
    assert_eq!(id.serial_number.as_str(), "RACK-QEMU-0");
    let refused = request(
        &mut host,
        &mut decoder,
        2,
        Message::SetSetpoint(SetSetpoint {
            id: SetpointId::RackPowerBudgetW,
            value: 900_000,
        }),
    );
    assert!(
        matches!(refused, Message::Refused(r) if matches!(r.reason, Refusal::OutOfRange { max, .. } if max > 100_000 && max < 900_000)),
        "{refused:?}"
    );
    // AC present, every PSU fitted: the controller starts its power-on sequence.
    let inputs = rack_control::power::PowerInputs {
        ac_present: true,
        input_power_w: 0.0,
        feed_current_a: 0.0,
        psu_present: [[true; 6]; 8],
        psu_fault: [[false; 6]; 8],
        tray_demand_w: [6_000.0; 18],
        tray_power_w: [0.0; 18],
        tray_hottest_gpu_c: [40.0; 18],
        bbu_soc: 1.0,
        headroom: None,
        isolation_requested: false,
    };
    let mut enabled = 0;
    for k in 1..=40u64 {
        let cmd = pil
            .exchange(&rack_node::plant_io::power::sample(
                k * 100_000,
                &inputs,
                false,
            ))
            .unwrap();
        enabled = (cmd.digital & 0x3ffff).count_ones();
    }
    assert!(enabled >= 1, "after 4 s the sequence has switched trays on");
    let (ok, log) = pil
        .finish(&rack_node::plant_io::power::sample(
            41 * 100_000,
            &inputs,
            true,
        ))
        .unwrap();
    assert!(ok && log.contains("power-controller: up"), "{log}");
}

/// A whole scenario file in lockstep with the ARM binary: every step goes through the
/// firmware, its commands equal the host build's at every step, and every check passes. (The
/// firmware runs its built-in settings; `racksim run` tunes the loop per scenario, so the KPIs
/// of the two runs are close, not equal.)
/// (QEMU's UART takes one byte per event-loop turn: a step costs about 20 ms, so these two run
/// 4-5 minutes each, side by side.)
fn full_scenario(file: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(file);
    let scenario = Scenario::load(&path).unwrap();
    let (pil, log) =
        rack_sim::run_pil(&scenario, &image(), |_| {}).unwrap_or_else(|e| panic!("{e}"));
    let k = &pil.summary.kpis;
    let steps = ((scenario.warmup_s + scenario.duration_s) / 0.1).round();
    assert_eq!(
        k["pil_steps"], steps,
        "{file}: every step went through the firmware"
    );
    assert_eq!(
        k["pil_mismatches"], 0.0,
        "{file}: the ARM binary and the host build disagreed"
    );
    let failed: Vec<_> = pil.summary.checks.iter().filter(|c| !c.passed).collect();
    assert!(
        failed.is_empty(),
        "{file}: checks failed in the loop with the firmware: {failed:?}"
    );
    assert!(log.contains("end of run"), "{log}");
}

#[test]
fn load_step_runs_in_the_loop_with_the_arm_binary() {
    full_scenario("load-step.toml");
}

#[test]
fn pump_failure_runs_in_the_loop_with_the_arm_binary() {
    full_scenario("pump-failure.toml");
}

/// The issue's halt test: at full load the firmware's CPU is halted for 60 s (QEMU stops it,
/// as a debugger or a hang would), then the board is reset (QEMU's reset line) and the
/// firmware boots afresh. Meanwhile the plant sees its outputs held and its heartbeat stopped:
/// the fail-safe relay drops, the valve's spring opens it, the drive runs the pump at its
/// preset. The scenario's checks hold the rest: no GPU throttles, the relay was out for the
/// halt, and the rebooted firmware moved the valve and the pumps from where they stood by no
/// more than its slews per step; its commands equal the host build's (which resets with it).
#[test]
fn the_firmware_halted_at_full_load_and_reset_leaves_the_row_safe_and_takes_over_bumplessly() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/controller-reset.toml");
    let scenario = Scenario::load(&path).unwrap();
    let halted_steps = scenario
        .faults
        .iter()
        .find_map(|f| match f.fault {
            rack_sim::scenario::Fault::ControllerHalt {
                rack: None,
                duration_s,
            } => Some((duration_s / 0.1).round()),
            _ => None,
        })
        .expect("the scenario halts the CDU's controller");
    let (pil, log) =
        rack_sim::run_pil(&scenario, &image(), |_| {}).unwrap_or_else(|e| panic!("{e}"));
    let k = &pil.summary.kpis;
    let steps = ((scenario.warmup_s + scenario.duration_s) / 0.1).round();
    assert_eq!(
        k["pil_steps"],
        steps - halted_steps,
        "every step but the halted ones went through the firmware"
    );
    assert_eq!(
        k["pil_mismatches"], 0.0,
        "the ARM binary and the host build disagreed"
    );
    let failed: Vec<_> = pil.summary.checks.iter().filter(|c| !c.passed).collect();
    assert!(
        failed.is_empty(),
        "checks failed in the loop with the firmware: {failed:?}"
    );
    assert!(k["failsafe_relay_s"] >= 59.0, "{k:?}");
    assert_eq!(
        log.matches("coolant-controller: up").count(),
        2,
        "booted, then booted again after the reset: {log}"
    );
}

fn diagnostics(
    host: &mut std::net::TcpStream,
    decoder: &mut FrameDecoder,
    seq: u16,
) -> rack_protocol::message::Diagnostics {
    match request(
        host,
        decoder,
        seq,
        Message::GetDiagnostics(rack_protocol::message::GetDiagnostics),
    ) {
        Message::Diagnostics(d) => d,
        other => panic!("{other:?}"),
    }
}

/// The watchdog means something: the firmware's field I/O (on this board, the plant samples)
/// stops; the task misses its 2 s deadline, the watchdog goes unfed and resets the board; the
/// firmware boots again, reads why, logs it after `Boot` and answers it in `Diagnostics`. A
/// reset from outside (QEMU's reset line) reads as `Pin`, the first boot as `PowerOn`.
#[test]
fn a_task_that_stops_gets_the_board_reset_by_the_watchdog_and_is_named_after_the_reset() {
    use rack_protocol::types::{EventKind, ResetCause, TaskId};
    let mut pil = rack_sim::run::pil::Pil::start(&image()).unwrap();
    let mut host = pil.host.try_clone().unwrap();
    let mut decoder = FrameDecoder::new();
    let first = diagnostics(&mut host, &mut decoder, 1);
    assert_eq!(first.reset_cause, ResetCause::PowerOn, "{first:?}");
    assert!(!first.build.is_empty(), "the build names its revision");
    let inputs = rack_control::coolant::CoolantInputs::uniform(rack_control::Instant(0), 30.0);
    for k in 1..=20u64 {
        pil.exchange(&rack_node::plant_io::coolant_sample(
            k * 100_000,
            &inputs,
            false,
        ))
        .unwrap();
    }
    // The plant link falls silent.
    let boots = pil.boots();
    pil.wait_for_boot(boots, Duration::from_secs(15))
        .expect("the watchdog reset the board");
    let after = diagnostics(&mut host, &mut decoder, 2);
    assert_eq!(after.reset_cause, ResetCause::Watchdog, "{after:?}");
    assert_eq!(after.missed_task, Some(TaskId::FieldIo), "{after:?}");
    let Message::Events(events) = request(
        &mut host,
        &mut decoder,
        3,
        Message::GetEvents(rack_protocol::message::GetEvents { from_seq: 0 }),
    ) else {
        panic!()
    };
    let kinds: Vec<EventKind> = events.events.iter().map(|e| e.kind).collect();
    assert_eq!(
        &kinds[..2],
        &[
            EventKind::Boot,
            EventKind::Reset {
                cause: ResetCause::Watchdog,
                missed_task: Some(TaskId::FieldIo)
            }
        ],
        "{kinds:?}"
    );
    // A reset from outside.
    pil.reset().unwrap();
    assert_eq!(
        diagnostics(&mut host, &mut decoder, 4).reset_cause,
        ResetCause::Pin
    );
    let (ok, log) = pil
        .finish(&rack_node::plant_io::coolant_sample(
            3_000_000, &inputs, true,
        ))
        .unwrap();
    assert!(ok, "{log}");
}

/// A hard fault (here an undefined instruction the QEMU image executes on a test sample's
/// request) is saved by the fault handler (PC, LR, CFSR, HFSR) in RAM a reset keeps; the board
/// resets, and the next boot reports it: reset cause `Fault`, the record in `Diagnostics`. The
/// stack's peak, measured by painting, is reported too, and leaves at least 4 KiB of the
/// smallest STM32G4's stack budget.
#[test]
fn a_hard_fault_is_saved_the_board_resets_and_the_next_boot_reports_it() {
    use rack_protocol::types::ResetCause;
    let mut pil = rack_sim::run::pil::Pil::start(&image()).unwrap();
    let mut host = pil.host.try_clone().unwrap();
    let mut decoder = FrameDecoder::new();
    let inputs = rack_control::coolant::CoolantInputs::uniform(rack_control::Instant(0), 30.0);
    for k in 1..=10u64 {
        pil.exchange(&rack_node::plant_io::coolant_sample(
            k * 100_000,
            &inputs,
            false,
        ))
        .unwrap();
    }
    let before = diagnostics(&mut host, &mut decoder, 1);
    assert_eq!(before.fault, None);
    let mut faulting = rack_node::plant_io::coolant_sample(1_100_000, &inputs, false);
    faulting.digital |= 1 << rack_node::plant_io::FAULT_INJECTION_BIT;
    let boots = pil.boots();
    pil.send(&faulting).unwrap();
    pil.wait_for_boot(boots, Duration::from_secs(15))
        .expect("the fault handler reset the board");
    let after = diagnostics(&mut host, &mut decoder, 2);
    assert_eq!(after.reset_cause, ResetCause::Fault, "{after:?}");
    let fault = after.fault.expect("the fault was saved");
    assert_ne!(fault.pc, 0);
    assert_ne!(fault.cfsr & (1 << 16), 0, "UNDEFINSTR: {fault:x?}");
    assert_ne!(
        fault.hfsr & (1 << 30),
        0,
        "escalated to a hard fault: {fault:x?}"
    );
    // The stack, painted at boot, measured at the request.
    let peak = after.stack_peak_bytes.expect("the stack is measured");
    assert!(
        peak > 0 && after.stack_size_bytes >= peak + 4096,
        "{after:?}"
    );
    let (ok, log) = pil
        .finish(&rack_node::plant_io::coolant_sample(
            3_000_000, &inputs, true,
        ))
        .unwrap();
    assert!(ok && log.contains("hard fault at pc"), "{log}");
}

/// Settings persist: set over the protocol, kept in the board's store (the QEMU board's
/// "flash" is a region of its code memory), read back after a reset and after a power cycle
/// (the region saved by QMP, loaded into a new QEMU); a corrupt store boots the built-in
/// settings and raises the `settings-lost` alarm. A fresh board boots empty, with the alarm.
#[test]
fn settings_survive_a_reset_and_a_power_cycle_and_a_corrupt_store_raises_an_alarm() {
    use rack_protocol::message::{AckAlarm, GetAlarms, GetSetpoint, SetMode};
    use rack_protocol::types::{
        AlarmCode, AuthRefusal, ModeSetting, PumpControlMode, Severity, StoreStatus,
    };
    let (addr, len) = rack_node::settings::QEMU_REGION;
    let image_path = image;
    let dir = std::env::temp_dir().join(format!("rackloop-pil-settings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kept = dir.join("store.bin");
    let settings_alarm = |host: &mut std::net::TcpStream, decoder: &mut FrameDecoder, seq| {
        let Message::Alarms(a) = request(host, decoder, seq, Message::GetAlarms(GetAlarms)) else {
            panic!()
        };
        a.entries
            .iter()
            .find(|e| e.code == AlarmCode::SettingsLost)
            .copied()
    };
    let supply = |host: &mut std::net::TcpStream, decoder: &mut FrameDecoder, seq| {
        let Message::Setpoint(s) = request(
            host,
            decoder,
            seq,
            Message::GetSetpoint(GetSetpoint {
                id: SetpointId::SupplyTempCentiC,
            }),
        ) else {
            panic!()
        };
        s.value
    };

    // A fresh board: nothing kept.
    let mut pil = rack_sim::run::pil::Pil::start(&image()).unwrap();
    let mut host = pil.host.try_clone().unwrap();
    let mut decoder = FrameDecoder::new();
    assert_eq!(
        diagnostics(&mut host, &mut decoder, 1).settings,
        StoreStatus::Empty
    );
    let alarm = settings_alarm(&mut host, &mut decoder, 2).expect("an empty store raises it");
    assert_eq!((alarm.instance, alarm.active), (0, true), "{alarm:?}");
    // Set, and wait until the store has it (the alarm's condition clears with the save).
    let set = Message::SetSetpoint(SetSetpoint {
        id: SetpointId::SupplyTempCentiC,
        value: 2_870,
    });
    assert!(
        matches!(request(&mut host, &mut decoder, 3, set.clone()), Message::Setpoint(s) if s.value == 2_870)
    );
    let flow = Message::SetMode(SetMode {
        mode: ModeSetting::PumpControl(PumpControlMode::Flow),
    });
    assert!(matches!(
        request(&mut host, &mut decoder, 4, flow),
        Message::Ack(_)
    ));
    let mut seq = 5;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while settings_alarm(&mut host, &mut decoder, seq).is_some_and(|a| a.active) {
        assert!(std::time::Instant::now() < deadline, "never saved");
        std::thread::sleep(Duration::from_millis(200));
        seq += 1;
    }

    // A reset: read back, no alarm, and the counters kept (the write signed with counter 3 is
    // a replay now).
    pil.reset().unwrap();
    decoder = FrameDecoder::new();
    assert_eq!(
        diagnostics(&mut host, &mut decoder, 100).settings,
        StoreStatus::Loaded
    );
    assert_eq!(supply(&mut host, &mut decoder, 101), 2_870);
    assert_eq!(settings_alarm(&mut host, &mut decoder, 102), None);
    assert_eq!(
        request(&mut host, &mut decoder, 3, set),
        Message::Refused(rack_protocol::message::Refused {
            of: MessageKind::SetSetpoint,
            reason: Refusal::Unauthorized(AuthRefusal::Replayed),
        })
    );
    let Message::CoolantTelemetry(t) = request(
        &mut host,
        &mut decoder,
        103,
        Message::GetTelemetry(GetTelemetry),
    ) else {
        panic!()
    };
    assert_eq!(t.pump_control, PumpControlMode::Flow);

    // A power cycle: the store's region is what a board keeps.
    pil.save_memory(addr, len, &kept).unwrap();
    drop(pil);
    let mut pil = rack_sim::run::pil::Pil::start_with(&image(), Some((&kept, addr))).unwrap();
    let mut host = pil.host.try_clone().unwrap();
    let mut decoder = FrameDecoder::new();
    assert_eq!(
        diagnostics(&mut host, &mut decoder, 200).settings,
        StoreStatus::Loaded
    );
    assert_eq!(supply(&mut host, &mut decoder, 201), 2_870);
    // A second save: the store's region changes when it lands.
    let second = Message::SetSetpoint(SetSetpoint {
        id: SetpointId::SupplyTempCentiC,
        value: 2_890,
    });
    assert!(matches!(
        request(&mut host, &mut decoder, 202, second),
        Message::Setpoint(_)
    ));
    let two = dir.join("two.bin");
    let before = std::fs::read(&kept).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        pil.save_memory(addr, len, &two).unwrap();
        if std::fs::read(&two).unwrap() != before {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never saved");
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(pil);
    let bytes = std::fs::read(&two).unwrap();
    let end = bytes.iter().rposition(|&b| b != 0xff).unwrap();
    let boot = |image: &[u8], name: &str| {
        let file = dir.join(name);
        std::fs::write(&file, image).unwrap();
        let pil = rack_sim::run::pil::Pil::start_with(&image_path(), Some((&file, addr))).unwrap();
        let mut host = pil.host.try_clone().unwrap();
        let mut decoder = FrameDecoder::new();
        let status = diagnostics(&mut host, &mut decoder, 300).settings;
        let value = supply(&mut host, &mut decoder, 301);
        let alarm = settings_alarm(&mut host, &mut decoder, 302);
        (pil, host, decoder, status, value, alarm)
    };

    // The newest record damaged (a save cut short looks the same): the one before it is in
    // force, and the alarm says a save may be lost.
    let mut newest_damaged = bytes.clone();
    newest_damaged[end - 40] ^= 0x5a;
    let (pil, _, _, status, value, alarm) = boot(&newest_damaged, "newest-damaged.bin");
    assert_eq!((status, value), (StoreStatus::Corrupt, 2_870));
    let alarm = alarm.expect("a damaged store raises it");
    assert_eq!(
        (alarm.instance, alarm.severity, alarm.active),
        (1, Severity::Warning, true),
        "{alarm:?}"
    );
    drop(pil);

    // Every record damaged: the built-in settings, and the alarm critical.
    let mut all_damaged = newest_damaged;
    all_damaged[40] ^= 0x5a;
    let (pil, mut host, mut decoder, status, value, alarm) = boot(&all_damaged, "all-damaged.bin");
    assert_eq!((status, value), (StoreStatus::Corrupt, 3_000));
    let alarm = alarm.expect("a corrupt store raises it");
    assert_eq!(
        (alarm.instance, alarm.severity, alarm.active),
        (1, Severity::Critical, true),
        "{alarm:?}"
    );
    // The keys are the image's own again (the kept counters went with the store): a write
    // signed with a low counter is accepted, and acknowledges the alarm.
    let ack = Message::AckAlarm(AckAlarm {
        code: AlarmCode::SettingsLost,
        instance: 1,
    });
    assert!(matches!(
        request(&mut host, &mut decoder, 5, ack),
        Message::Ack(_)
    ));
    drop(pil);
    let _ = std::fs::remove_dir_all(&dir);
}
