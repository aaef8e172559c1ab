//! `rackgw` as a site runs it, as a process, against a live simulated row (`racksim serve`'s
//! server in a thread of this test: a CDU and two racks), checked by the field's own tools:
//! `promtool check metrics` on its exposition, `pymodbus` and `mbpoll` on its Modbus map. Needs
//! `promtool`, `mbpoll` and a Python with pymodbus (`RACKGW_PYTHON`, else `target/venv`);
//! `cargo xtask test` provides them, and this test fails (never skips) without them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A CDU and two racks at a steady load.
const ROW: &str = r#"
name = "rackgw-row"
duration_s = 3600
warmup_s = 30
[row]
racks = 2
[workload]
shape = { kind = "constant", level = 0.8 }
[power]
"#;

mod common;
use common::Row;

struct Gateway {
    child: Child,
    metrics: String,
    modbus: String,
    /// What it told the operator (stderr), as it comes.
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts rackgw on the row with `config`, and reads where it listens.
fn gateway(row: &Row, config: &Path) -> Gateway {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rackgw"));
    cmd.args(["--connect", &format!("127.0.0.1:{}", row.port())]);
    for port in &row.ports[1..] {
        cmd.args(["--device", &format!("127.0.0.1:{port}")]);
    }
    let mut child = cmd
        .args(["--metrics", "127.0.0.1:0", "--modbus", "127.0.0.1:0"])
        .args(["--period-ms", "200", "--config"])
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn({
        let log = log.clone();
        move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut l = log.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        }
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = || lines.next().unwrap().unwrap();
    let metrics = next()
        .strip_prefix("rackgw: metrics on http://")
        .and_then(|l| l.strip_suffix("/metrics"))
        .unwrap()
        .to_owned();
    let modbus = next()
        .strip_prefix("rackgw: modbus on ")
        .unwrap()
        .to_owned();
    Gateway {
        child,
        metrics,
        modbus,
        log,
    }
}

/// One GET of `/metrics`, as `accept` asks; the body.
fn scrape(addr: &str, accept: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    text.split_once("\r\n\r\n").unwrap().1.to_owned()
}

/// The value of the sample `series` (name and labels as exposed).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn python() -> PathBuf {
    std::env::var_os("RACKGW_PYTHON").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/venv/bin/python"),
        PathBuf::from,
    )
}

/// Runs a pymodbus script against `addr`; its stdout.
fn pymodbus(addr: &str, script: &str) -> String {
    let (host, port) = addr.rsplit_once(':').unwrap();
    let prelude = format!(
        r#"
from pymodbus.client import ModbusTcpClient
c = ModbusTcpClient("{host}", port={port})
assert c.connect()
def call(fn, unit, **kw):
    try:
        return fn(device_id=unit, **kw)
    except TypeError:
        return fn(slave=unit, **kw)
def regs(r):
    assert not r.isError(), r
    return r.registers
"#
    );
    let out = Command::new(python())
        .args(["-c", &format!("{prelude}\n{script}")])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "no Python with pymodbus at {} ({e}): `cargo xtask test` makes it",
                python().display()
            )
        });
    assert!(
        out.status.success(),
        "pymodbus: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `mbpoll` with `args`, at `addr`, writing `values` if any.
fn mbpoll(addr: &str, args: &[&str], values: &[&str]) -> std::process::Output {
    let (host, port) = addr.rsplit_once(':').unwrap();
    Command::new("mbpoll")
        .args(["-m", "tcp", "-p", port, "-0", "-1"])
        .args(args)
        .arg(host)
        .args(values)
        .output()
        .expect("mbpoll (apt-get install mbpoll; `cargo xtask test` does)")
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_row_in_prometheus_and_modbus_checked_by_their_own_tools() {
    let dir = std::env::temp_dir().join(format!("rackgw-{}", std::process::id()));
    let mut row = Row::start(ROW, 10.0, &dir);
    let config = dir.join("rackgw.toml");
    std::fs::write(
        &config,
        format!(
            "[keys]\nfile = {:?}\nid = 2\n[modbus]\nwritable = [\"setpoints\", \"alarms\"]\n",
            row.keys.file_name().unwrap().to_str().unwrap()
        ),
    )
    .unwrap();
    let gw = gateway(&row, &config);
    let text = || scrape(&gw.metrics, "text/plain");
    wait_for("every device polled", || {
        let t = text();
        ["cdu", "rack-0", "rack-1"]
            .iter()
            .all(|d| sample(&t, &format!("rackloop_link_up{{device=\"{d}\"}}")) == Some(1.0))
    });

    // Prometheus: the field's linter passes the classic text; the values are there, in base
    // units; a scraper that asks for OpenMetrics gets it.
    let exposition = text();
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (apt-get install prometheus; `cargo xtask test` does)");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let checked = promtool.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    let supply = sample(
        &exposition,
        "rackloop_cdu_secondary_supply_temperature_celsius{device=\"cdu\",sensor=\"0\"}",
    )
    .expect("the supply temperature");
    assert!((20.0..40.0).contains(&supply), "{supply}");
    let power = sample(
        &exposition,
        "rackloop_rack_input_power_watts{device=\"rack-1\"}",
    )
    .expect("rack 1's input power");
    assert!(power > 10_000.0, "{power}");
    let om = scrape(&gw.metrics, "application/openmetrics-text; version=1.0.0");
    assert!(om.trim_end().ends_with("# EOF"), "{om}");
    assert!(om.contains("# TYPE rackloop_frames counter"), "{om}");

    // Modbus through pymodbus: read the CDU and a rack, write a setpoint (the group is
    // enabled), and be refused a commissioning value (it is not) and a value out of range.
    let out = pymodbus(
        &gw.modbus,
        r#"
cdu = regs(call(c.read_input_registers, 1, address=0, count=5))
print("cdu", cdu[0], cdu[4])
rack = regs(call(c.read_input_registers, 3, address=0, count=5))
print("rack", rack[0], (rack[3] << 16) | rack[4])
r = call(c.write_register, 1, address=0, value=2950)
assert not r.isError(), r
print("holding", regs(call(c.read_holding_registers, 1, address=0, count=1))[0])
r = call(c.write_register, 1, address=1, value=60)
print("commissioning", r.exception_code if r.isError() else "written")
r = call(c.write_register, 1, address=0, value=9000)
print("out-of-range", r.exception_code if r.isError() else "written")
r = call(c.read_input_registers, 9, address=0, count=1)
print("no-such-unit", r.exception_code if r.isError() else "answered")
"#,
    );
    let said = |key: &str| -> Vec<String> {
        out.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("{key} missing: {out}"))
            .split(' ')
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(said("cdu"), ["1", "3000"], "{out}");
    assert_eq!(said("rack")[0], "1", "{out}");
    assert!(said("rack")[1].parse::<u32>().unwrap() > 10_000, "{out}");
    assert_eq!(said("holding"), ["2950"], "{out}");
    assert_eq!(said("commissioning"), ["2"], "illegal data address: {out}");
    assert_eq!(said("out-of-range"), ["3"], "illegal data value: {out}");
    assert_eq!(
        said("no-such-unit"),
        ["10"],
        "gateway path unavailable: {out}"
    );

    // mbpoll, as a BMS integrator would try the map.
    let read = mbpoll(
        &gw.modbus,
        &["-a", "1", "-t", "3", "-r", "0", "-c", "5"],
        &[],
    );
    let listing = String::from_utf8_lossy(&read.stdout);
    assert!(
        read.status.success() && listing.contains("[0]: \t1"),
        "{listing}"
    );
    let read = mbpoll(
        &gw.modbus,
        &["-a", "1", "-t", "4", "-r", "0", "-c", "1"],
        &[],
    );
    let listing = String::from_utf8_lossy(&read.stdout);
    assert!(
        read.status.success() && listing.contains("[0]: \t2950"),
        "{listing}"
    );
    let written = mbpoll(&gw.modbus, &["-a", "1", "-t", "4", "-r", "0"], &["2900"]);
    assert!(written.status.success(), "{written:?}");
    let refused = mbpoll(&gw.modbus, &["-a", "1", "-t", "4", "-r", "1"], &["60"]);
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("Illegal data address"),
        "{refused:?}"
    );
    // The device itself holds the value written: its telemetry follows.
    wait_for("the setpoint in the telemetry", || {
        sample(
            &text(),
            "rackloop_cdu_supply_setpoint_celsius{device=\"cdu\"}",
        ) == Some(29.0)
    });

    // The row goes away: no value is shown as live.
    row.stop();
    wait_for("the links seen down", || {
        sample(&text(), "rackloop_link_up{device=\"cdu\"}") == Some(0.0)
    });
    // The operator was told, once each way.
    let cdu = format!("rackgw: cdu (127.0.0.1:{})", row.port());
    wait_for("the link's loss logged", || {
        gw.log
            .lock()
            .unwrap()
            .contains(&format!("{cdu}: link down"))
    });
    let told = gw.log.lock().unwrap().clone();
    assert_eq!(
        told.matches(&format!("{cdu}: link up")).count(),
        1,
        "{told}"
    );
    assert_eq!(
        told.matches(&format!("{cdu}: link down")).count(),
        1,
        "{told}"
    );
    let stale = text();
    assert!(!stale.contains("rackloop_cdu_secondary_supply"), "{stale}");
    assert!(!stale.contains("rackloop_rack_input_power"), "{stale}");
    let out = pymodbus(
        &gw.modbus,
        "print(*regs(call(c.read_input_registers, 1, address=0, count=5)))",
    );
    assert_eq!(
        out.trim(),
        "0 65535 65535 65535 32768",
        "quality 0, nothing available"
    );

    // SIGINT (Ctrl-C, or a service manager) stops it cleanly.
    let mut gw = gw;
    let pid = gw.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = gw.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "rackgw did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
