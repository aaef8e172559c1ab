//! rackctl as a technician runs it, as a process, against a live simulated row
//! (`racksim serve`'s server, in a thread of this test) and against a device on a serial
//! port (a pseudo-terminal pair whose other end runs the real coolant node).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A live row: no power side, a lead pump trip 20 s (simulated) after the warm-up.
const ROW: &str = r#"
name = "e2e-row"
duration_s = 3600
warmup_s = 60
[workload]
shape = { kind = "constant", level = 0.9 }
[[faults]]
at_s = 20
fault = { kind = "pump_trip", pump = 0 }
"#;

mod common;
use common::Row;

fn start_row(speed: f64) -> Row {
    let dir = std::env::temp_dir().join(format!("rackctl-e2e-{speed}-{}", std::process::id()));
    Row::start(ROW, speed, &dir)
}

fn rackctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rackctl"))
        .args(args)
        .env_remove("RACKCTL_CONNECT")
        .output()
        .unwrap()
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn a_technician_session_against_the_live_simulator() {
    let row = start_row(20.0);
    let addr = format!("127.0.0.1:{}", row.port());
    let keys = row.keys.to_str().unwrap().to_owned();
    let at = |args: &[&str]| {
        let mut all = vec![
            "--connect",
            addr.as_str(),
            "--json",
            "--key-file",
            keys.as_str(),
        ];
        all.extend_from_slice(args);
        rackctl(&all)
    };
    let anonymous = |args: &[&str]| {
        let mut all = vec!["--connect", addr.as_str()];
        all.extend_from_slice(args);
        rackctl(&all)
    };

    // Without a key a change is refused, says what is missing, and changes nothing.
    let out = anonymous(&["set", "supply-temp", "31C"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("need a key"),
        "{out:?}"
    );
    // The operator key (2) may set, not stop the pumps; standby off a terminal needs --yes.
    let operator = ["--key-file", keys.as_str(), "--key-id", "2"];
    let out = anonymous(&[&operator[..], &["mode", "standby", "--yes"]].concat());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("maintenance role"),
        "{out:?}"
    );
    let out = at(&["mode", "standby"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--yes"),
        "{out:?}"
    );
    // Wrong device, missing alarm, a negative value reaching the device: named as such.
    let out = anonymous(&[&operator[..], &["set", "power-cap", "100kW"]].concat());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("other kind of device"),
        "{out:?}"
    );
    let out = anonymous(&[&operator[..], &["ack", "sensor-fault", "9"]].concat());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no such alarm"),
        "{out:?}"
    );
    let out = anonymous(&[&operator[..], &["set", "supply-temp", "-5C"]].concat());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("allowed 10C ..= 35C"),
        "{out:?}"
    );
    // A reader that goes away ends rackctl quietly.
    let mut child = Command::new(env!("CARGO_BIN_EXE_rackctl"))
        .args(["--connect", addr.as_str(), "log"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "{out:?}"
    );

    // Status: identity, telemetry and alarms of the CDU.
    let out = at(&["status"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = json_of(&out);
    assert_eq!(status["identity"]["device_kind"], "CoolantController");
    assert_eq!(status["telemetry"]["supply_setpoint_centi_c"], 3000);

    // A setpoint change shows in telemetry.
    let out = at(&["set", "supply-temp", "32C"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json_of(&out)["value"], 3200);
    assert_eq!(
        json_of(&at(&["status"]))["telemetry"]["supply_setpoint_centi_c"],
        3200
    );

    // A bad setpoint is refused with its range, and a non-zero exit.
    let out = at(&["set", "supply-temp", "50C"]);
    assert_eq!(out.status.code(), Some(1));
    let refused = json_of(&out);
    assert_eq!(refused["refused"]["OutOfRange"]["min"], 1000);
    assert_eq!(refused["refused"]["OutOfRange"]["max"], 3500);
    assert!(String::from_utf8_lossy(&out.stderr).contains("allowed 10C ..= 35C"));

    // The injected pump failure raises an alarm that `alarms` shows and `ack` acknowledges.
    let deadline = Instant::now() + Duration::from_secs(30);
    let pump_fault = loop {
        let alarms = json_of(&at(&["alarms"]));
        let found = alarms["alarms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["code"] == "PumpFault")
            .cloned();
        if let Some(a) = found {
            break a;
        }
        assert!(Instant::now() < deadline, "no pump fault alarm: {alarms}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(pump_fault["acknowledged"], false);
    let out = at(&["ack", "pump-fault", "0"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let alarms = json_of(&at(&["alarms"]));
    let after = alarms["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["code"] == "PumpFault")
        .cloned();
    // The pump is still faulted: the alarm stays listed, now acknowledged.
    let after = after.unwrap_or_else(|| panic!("the acknowledged alarm vanished: {alarms}"));
    assert_eq!(after["acknowledged"], true, "{alarms}");
    assert_eq!(after["active"], true, "{alarms}");
    // An alarm that is not there cannot be acknowledged.
    assert_eq!(at(&["ack", "leak-detected", "5"]).status.code(), Some(1));

    // The event log across reconnects: every event exactly once.
    let first = json_of(&at(&["log", "--since", "1"]));
    let next = first["next_seq"].as_u64().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let second = json_of(&at(&["log", "--since", &next.to_string()]));
    let mut seqs: Vec<u64> = first["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    seqs.extend(
        second["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["seq"].as_u64().unwrap()),
    );
    let expected: Vec<u64> = (1..second["next_seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, expected, "every event once, in order");
    assert!(
        seqs.len() >= 4,
        "boot, start, pump fault, lead change at least: {seqs:?}"
    );

    // Watch survives and prints a fixed number of updates.
    let out = at(&["watch", "--interval", "0.1", "--count", "3"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains("telemetry"))
            .count(),
        3
    );

    // Discover finds the device.
    let out = at(&[
        "discover",
        "--tcp",
        &format!("{}-{}", row.port(), row.port()),
    ]);
    let found = json_of(&out);
    assert!(
        found["devices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["identity"]["serial_number"] == "CDU-SIM-0"),
        "{found}"
    );
}

#[test]
fn no_device_and_bad_input_get_clear_errors_and_stable_exit_codes() {
    let out = rackctl(&["--connect", "127.0.0.1:1", "--timeout", "200", "status"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach the device"));
    let out = rackctl(&["--connect", "127.0.0.1:1", "set", "supply-temp", "warm"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("32C"));
    let out = rackctl(&["--connect", "127.0.0.1:1", "get", "temperature"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("supply-temp"));
    let out = rackctl(&["status"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--connect"));
    let out = rackctl(&["completions", "bash"]);
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("rackctl"));
    // A host without a port is bad usage, not an unreachable device.
    let out = rackctl(&["--connect", "localhost", "status"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("HOST:PORT"),
        "{out:?}"
    );
    // A watch of a device that is down ends after its count, and says why.
    let out = rackctl(&[
        "--connect",
        "127.0.0.1:1",
        "--timeout",
        "100",
        "watch",
        "--interval",
        "0.05",
        "--count",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("refused"),
        "{out:?}"
    );
    // `set --help` lists the settings.
    let out = rackctl(&["set", "--help"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("ride-through"));
}

/// A device that always says more events wait, and never moves on: `log` stops with an error
/// instead of asking for ever.
#[test]
fn a_log_that_never_ends_is_stopped() {
    use rack_protocol::frame::{self, MAX_WIRE_FRAME_SIZE};
    use rack_protocol::message::{Events, Message};
    use std::io::{Read, Write};

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let device = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut decoder = rack_protocol::FrameDecoder::new();
        let mut buf = [0u8; 512];
        let mut answered = 0u32;
        while let Ok(n) = stream.read(&mut buf) {
            if n == 0 {
                break;
            }
            let frames: Vec<_> = decoder.feed(&buf[..n]).filter_map(Result::ok).collect();
            for f in frames {
                let reply = Message::Events(Events {
                    events: heapless::Vec::new(),
                    next_seq: 5,
                    more: true,
                    lost: 0,
                    overwritten_total: 0,
                });
                let mut wire = [0u8; MAX_WIRE_FRAME_SIZE];
                let len = frame::encode(f.seq, &reply, &mut wire).unwrap();
                if stream.write_all(&wire[..len]).is_err() {
                    return answered;
                }
                answered += 1;
            }
        }
        answered
    });
    let out = rackctl(&[
        "--connect",
        &format!("127.0.0.1:{port}"),
        "log",
        "--since",
        "5",
    ]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not move on"),
        "{out:?}"
    );
    assert!(device.join().unwrap() < 10);
}

/// A coolant node on the master side of a pseudo-terminal pair; rackctl opens the slave as a
/// serial port, so the serial transport runs without hardware.
#[test]
fn the_serial_transport_talks_to_a_node_through_a_pseudo_terminal() {
    use rack_control::coolant::{CoolantConfig, CoolantController};
    use rack_node::coolant::CoolantApp;
    use rack_node::{Node, NodeConfig};

    use std::io::{Read, Write};

    use serialport::SerialPort;

    // A pseudo-terminal pair: the node on the master side, rackctl opens the slave by name.
    let (mut master, slave) = serialport::TTYPort::pair().expect("a pseudo-terminal pair");
    let name = slave.name().expect("the slave end's device name");
    master
        .set_timeout(Duration::from_millis(20))
        .expect("a read timeout on the master end");

    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let device = std::thread::spawn(move || {
        let app = CoolantApp::new(CoolantController::new(CoolantConfig::default()));
        let mut node = Node::new(
            app,
            NodeConfig {
                serial: "CDU-PTY-1",
                ..NodeConfig::default()
            },
            rack_control::Instant(0),
        );
        let started = Instant::now();
        let mut buf = [0u8; 256];
        while !flag.load(Ordering::Relaxed) {
            let now =
                rack_control::Instant(u64::try_from(started.elapsed().as_millis()).unwrap_or(0));
            match master.read(&mut buf) {
                Ok(n) if n > 0 => {
                    node.on_bytes(now, &buf[..n], &mut |frame| {
                        let _ = master.write_all(frame);
                    });
                }
                _ => {}
            }
        }
    });

    let out = rackctl(&[
        "--port",
        &name,
        "--baud",
        "115200",
        "--json",
        "get",
        "supply-temp",
    ]);
    let identity = rackctl(&["--port", &name, "--json", "status"]);
    stop.store(true, Ordering::Relaxed);
    device.join().unwrap();
    drop(slave);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json_of(&out)["value"], 3000);
    assert_eq!(json_of(&identity)["identity"]["serial_number"], "CDU-PTY-1");
}
