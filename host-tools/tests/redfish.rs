//! `rackgw`'s Redfish service as a site runs it, as a process, against a live simulated row (a
//! CDU and two racks, `racksim serve`'s server in a thread of this test), checked by DMTF's own
//! tools: `redfish-service-validator` over HTTPS (its self-signed certificate, made on the first
//! run) and `redfish-interop-validator` against the repository's OCP CDU profile
//! (`docs/redfish/`). Then what a DCIM does: log in, write the supply setpoint and a rack's
//! power limit, be refused what a key may not do, hear a pump trip and a leak as events, and
//! see the row's link lost as `UnavailableOffline` with no readings. Needs the validators in a
//! Python environment (`RACKGW_PYTHON`'s, else `target/venv`); `cargo xtask test` provides
//! them, and this test fails (never skips) without them.
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
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::Row;

/// A CDU and two racks at a steady load; the lead pump trips, then a rack's float switch sees
/// a leak.
const ROW: &str = r#"
name = "redfish-row"
duration_s = 3600
warmup_s = 30
[row]
racks = 2
[workload]
shape = { kind = "constant", level = 0.8 }
[power]
[[faults]]
at_s = 150
fault = { kind = "pump_trip", pump = 0 }
[[faults]]
at_s = 160
fault = { kind = "leak", zone = 1, detector = "float" }
"#;

/// The row's speed: the faults come about 30 s after it starts.
const SPEED: f64 = 5.0;

struct Gateway {
    child: Child,
    http: String,
    https: String,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn gateway(row: &Row, config: &Path) -> Gateway {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rackgw"));
    cmd.args(["--connect", &format!("127.0.0.1:{}", row.port())]);
    for port in &row.ports[1..] {
        cmd.args(["--device", &format!("127.0.0.1:{port}")]);
    }
    let mut child = cmd
        .args(["--redfish-http", "127.0.0.1:0", "--redfish", "127.0.0.1:0"])
        .args(["--period-ms", "200", "--config"])
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = || lines.next().unwrap().unwrap();
    let http = next()
        .strip_prefix("rackgw: redfish on http://")
        .and_then(|l| l.strip_suffix("/redfish/v1"))
        .unwrap()
        .to_owned();
    let https = next()
        .strip_prefix("rackgw: redfish on ")
        .and_then(|l| l.strip_suffix("/redfish/v1"))
        .unwrap()
        .to_owned();
    Gateway { child, http, https }
}

/// One HTTP/1.1 exchange: (status, headers as text, body).
fn http(
    addr: &str,
    method: &str,
    path: &str,
    auth: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in auth {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body.as_bytes()).unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (headers, body) = text.split_once("\r\n\r\n").unwrap();
    let status = headers.split(' ').nth(1).unwrap().parse().unwrap();
    (status, headers.to_owned(), body.to_owned())
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// The Python environment's scripts directory (the validators' commands).
fn scripts() -> PathBuf {
    let python = std::env::var_os("RACKGW_PYTHON").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/venv/bin/python"),
        PathBuf::from,
    );
    python.parent().unwrap().to_path_buf()
}

/// Runs a DMTF validator; its (PASS, WARN, FAIL) counts, after asserting it succeeded.
fn validator(command: &str, args: &[&str]) -> (u64, u64, u64) {
    let out = Command::new(scripts().join(command))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{command} (cargo xtask test installs it): {e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    // The summary: a row of four numbers under PASS | WARN | FAIL | NOT TESTED.
    let counts: Vec<u64> = text
        .lines()
        .skip_while(|l| !l.contains("PASS") || !l.contains("FAIL"))
        .find_map(|l| {
            let n: Vec<u64> = l.split('|').filter_map(|c| c.trim().parse().ok()).collect();
            (n.len() == 4).then_some(n)
        })
        .unwrap_or_else(|| panic!("{command}: no summary in\n{text}"));
    assert!(
        out.status.success(),
        "{command} failed ({}):\n{}",
        out.status,
        text.lines()
            .filter(|l| !l.starts_with("Validating") && !l.contains("Fail: 0"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    (counts[0], counts[1], counts[2])
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Reads a Server-Sent Events stream into `into`, as it comes.
fn listen(addr: &str, auth: &str, into: Arc<Mutex<String>>) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET /redfish/v1/EventService/SSE HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            into.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
}

#[test]
fn redfish_checked_by_dmtf_validators_written_to_and_honest_about_a_lost_link() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("redfish");
    let mut row = Row::start(ROW, SPEED, &dir);
    // The row's keys (maintenance 1, operator 2) and a reader key the devices never saw.
    let mut keys = std::fs::read_to_string(&row.keys).unwrap();
    let secret = |id: &str| -> String {
        keys.lines()
            .find_map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                (w.first() == Some(&id)).then(|| w[2].to_owned())
            })
            .unwrap()
    };
    let (maintenance, operator) = (secret("1"), secret("2"));
    let reader = "ab".repeat(32);
    keys.push_str(&format!("3 reader {reader}\n"));
    let keys_file = dir.join("gateway.keys");
    std::fs::write(&keys_file, keys).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&keys_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let config = dir.join("rackgw.toml");
    std::fs::write(&config, "[keys]\nfile = \"gateway.keys\"\n").unwrap();
    let gw = gateway(&row, &config);
    let a = gw.http.as_str();

    // The self-signed certificate, made on this first run, its key private.
    assert!(dir.join("rackgw-cert.pem").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("rackgw-key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the certificate's key is private");
    }

    // Anyone may read the service root; nothing else without logging in.
    let (status, _, body) = http(a, "GET", "/redfish/v1/", &[], "");
    assert_eq!(status, 200);
    assert_eq!(
        json(&body)["Links"]["Sessions"]["@odata.id"],
        "/redfish/v1/SessionService/Sessions"
    );
    let (status, headers, _) = http(a, "GET", "/redfish/v1/Chassis", &[], "");
    assert_eq!(status, 401);
    assert!(headers.to_lowercase().contains("www-authenticate: basic"));
    let wrong = basic("2", &"00".repeat(32));
    let (status, _, _) = http(
        a,
        "GET",
        "/redfish/v1/Chassis",
        &[("Authorization", &wrong)],
        "",
    );
    assert_eq!(status, 401, "a wrong password is refused");

    // Events from now on.
    let events = Arc::new(Mutex::new(String::new()));
    listen(a, &basic("1", &maintenance), events.clone());

    let cdu = "/redfish/v1/ThermalEquipment/CDUs/cdu";
    let op = basic("2", &operator);
    wait_for("the CDU's telemetry", Duration::from_secs(30), || {
        let (_, _, body) = http(
            a,
            "GET",
            &format!("{cdu}/SecondaryCoolantConnectors/1"),
            &[("Authorization", &op)],
            "",
        );
        json(&body)["FlowLitersPerMinute"]["Reading"].is_number()
    });

    // DMTF's validators: the whole service over HTTPS, and the OCP CDU profile.
    let logs = dir.join("validator-logs");
    let (pass, warn, fail) = validator(
        "rf_service_validator",
        &[
            "--rhost",
            &gw.https,
            "-u",
            "2",
            "-p",
            &operator,
            "--logdir",
            logs.to_str().unwrap(),
            "--schema_directory",
            logs.join("schemas").to_str().unwrap(),
        ],
    );
    assert_eq!((warn, fail), (0, 0), "service validator: {pass} passed");
    assert!(pass > 500, "the service validator checked {pass} items");
    let profile = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/redfish/rackloop-OCPCoolantDistributionUnit.v1_0_0.json");
    let (pass, _, fail) = validator(
        "rf_interop_validator",
        &[
            "--rhost",
            &format!("http://{a}"),
            "-u",
            "2",
            "-p",
            &operator,
            "--logdir",
            logs.to_str().unwrap(),
            profile.to_str().unwrap(),
        ],
    );
    assert_eq!(fail, 0, "interop validator: {pass} passed");
    assert!(pass > 100, "the interop validator checked {pass} items");

    // A session: log in as the operator key, write the supply setpoint with its token.
    let (status, headers, _) = http(
        a,
        "POST",
        "/redfish/v1/SessionService/Sessions",
        &[],
        &format!(r#"{{"UserName":"2","Password":"{operator}"}}"#),
    );
    assert_eq!(status, 201);
    let header = |name: &str| {
        headers
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(": ")?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
            .unwrap()
    };
    let (token, location) = (header("x-auth-token"), header("location"));
    let session = [("X-Auth-Token", token.as_str())];
    let secondary = format!("{cdu}/SecondaryCoolantConnectors/1");
    let set = |auth: &[(&str, &str)], value: &str| {
        http(
            a,
            "PATCH",
            &secondary,
            auth,
            &format!(r#"{{"SupplyTemperatureControlCelsius":{{"SetPoint":{value}}}}}"#),
        )
    };
    let (status, _, body) = set(&session, "29.5");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        json(&body)["SupplyTemperatureControlCelsius"]["SetPoint"],
        29.5
    );
    // What the device now holds (a fresh poll of it).
    std::thread::sleep(Duration::from_millis(600));
    let (_, _, body) = http(a, "GET", &secondary, &session, "");
    assert_eq!(
        json(&body)["SupplyTemperatureControlCelsius"]["SetPoint"],
        29.5
    );

    // Refused, each with its reason, nothing written.
    let (status, _, body) = set(&session, "80");
    assert_eq!(status, 400);
    assert!(
        body.contains("PropertyValueOutOfRange") && body.contains("10..=35"),
        "{body}"
    );
    let (status, _, body) = set(&[("Authorization", &basic("3", &reader))], "28");
    assert_eq!(status, 403, "a reader key may not write");
    assert!(body.contains("InsufficientPrivilege"), "{body}");
    let (status, _, body) = http(a, "PATCH", &secondary, &session, r#"{"Name":"x"}"#);
    assert_eq!(status, 400);
    assert!(body.contains("PropertyNotWritable"), "{body}");
    let (status, _, _) = http(a, "PATCH", cdu, &session, r#"{"Name":"x"}"#);
    assert_eq!(status, 405, "the CDU itself is read-only");
    let (_, _, body) = http(a, "GET", &secondary, &session, "");
    assert_eq!(
        json(&body)["SupplyTemperatureControlCelsius"]["SetPoint"],
        29.5
    );

    // A rack's power limit, by Basic authentication with the maintenance key.
    let limit = "/redfish/v1/Chassis/rack-1/Controls/PowerLimit";
    let (status, _, body) = http(
        a,
        "PATCH",
        limit,
        &[("Authorization", &basic("1", &maintenance))],
        r#"{"SetPoint": 100000}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["SetPoint"], 100_000);

    // Logged out, the token opens nothing.
    let (status, _, _) = http(a, "DELETE", &location, &session, "");
    assert_eq!(status, 204);
    let (status, _, _) = http(a, "GET", cdu, &session, "");
    assert_eq!(status, 401);

    // The pump trip and the leak, as the Environmental registry says them.
    wait_for("the pump and leak events", Duration::from_secs(90), || {
        let e = events.lock().unwrap();
        e.contains("Environmental.1.3.0.PumpFailed")
            && e.contains("Environmental.1.3.0.LeakDetected")
    });
    {
        let e = events.lock().unwrap();
        assert!(
            e.contains(&format!(
                r#""OriginOfCondition":{{"@odata.id":"{cdu}/Pumps/1"}}"#
            )),
            "{e}"
        );
        assert!(
            e.contains("/redfish/v1/Chassis/rack-1/LeakDetectors/"),
            "{e}"
        );
    }
    let mp = basic("1", &maintenance);
    let auth = [("Authorization", mp.as_str())];
    let (_, _, body) = http(a, "GET", &format!("{cdu}/Pumps/1"), &auth, "");
    assert_eq!(json(&body)["Status"]["Health"], "Critical", "{body}");

    // The row gone: its resources say so, with no reading shown as live.
    row.stop();
    wait_for("the CDU's link to be lost", Duration::from_secs(30), || {
        let (_, _, body) = http(a, "GET", cdu, &auth, "");
        json(&body)["Status"]["State"] == "UnavailableOffline"
    });
    let (_, _, body) = http(a, "GET", &secondary, &auth, "");
    let v = json(&body);
    for sensor in [
        "SupplyTemperatureCelsius",
        "ReturnTemperatureCelsius",
        "FlowLitersPerMinute",
        "DeltaPressurekPa",
        "HeatRemovedkW",
    ] {
        assert!(
            v[sensor]["Reading"].is_null(),
            "{sensor} shown while the link is down: {body}"
        );
    }
    assert!(v["SupplyTemperatureControlCelsius"]["SetPoint"].is_null());
    wait_for("the link-lost event", Duration::from_secs(10), || {
        events
            .lock()
            .unwrap()
            .contains("ResourceEvent.1.3.0.ResourceStatusChangedCritical")
    });
}

/// A configuration rackgw cannot serve Redfish with is refused at once, with what is wrong and
/// what is allowed (exit 2).
#[test]
fn a_redfish_configuration_it_cannot_serve_is_refused_with_the_reason() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("redfish-bad-config");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let keys = dir.join("row.keys");
    std::fs::write(&keys, format!("2 operator {}\n", "cd".repeat(32))).unwrap();
    let set_mode = |mode: u32| {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(mode)).unwrap();
        }
    };
    set_mode(0o600);
    let refused = |config: Option<&str>, expect: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rackgw"));
        cmd.args(["--connect", "127.0.0.1:1", "--redfish", "127.0.0.1:0"]);
        if let Some(text) = config {
            let path = dir.join("rackgw.toml");
            std::fs::write(&path, text).unwrap();
            cmd.arg("--config").arg(path);
        }
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{config:?}: {err}");
        assert!(
            err.contains(expect),
            "{config:?}: expected `{expect}` in: {err}"
        );
    };
    refused(None, "Redfish needs [keys]");
    refused(
        Some("[redfish]\ncert = \"a.pem\"\n[keys]\nfile = \"row.keys\"\n"),
        "needs both cert and key",
    );
    refused(
        Some("[keys]\nfile = \"row.keys\"\n[cdu]\npump_rpm = 3000\n"),
        "unknown field `pump_rpm`",
    );
    std::fs::write(dir.join("bad.pem"), "not a certificate").unwrap();
    let bad_key = dir.join("bad-key.pem");
    std::fs::write(&bad_key, "not a key").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bad_key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    refused(
        Some("[keys]\nfile = \"row.keys\"\n[redfish]\ncert = \"bad.pem\"\nkey = \"bad-key.pem\"\n"),
        "the HTTPS certificate or key",
    );
    set_mode(0o644);
    refused(Some("[keys]\nfile = \"row.keys\"\n"), "chmod 600");
}
