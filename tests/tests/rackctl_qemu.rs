//! `rackctl` against the coolant controller's ARM image in QEMU: the technician's tool and the
//! firmware meet over the image's UART0 (QEMU's side of it is a TCP stream; a bridge here
//! offers it on a local port, as a serial-to-TCP server would). Needs `qemu-system-arm` and the
//! image `cargo xtask firmware` builds (`cargo xtask test` provides both).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Output;
use std::time::Duration;

use rack_sim::run::pil::{Pil, default_image};

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "rackctl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The image's development keys (`firmware/boards/dev.keys`), in a private copy as rackctl
/// demands, and a key with the maintenance key's id but another secret.
fn key_files() -> (String, String) {
    let dir = std::env::temp_dir().join(format!("rackctl-qemu-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dev = dir.join("dev.keys");
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware/boards/dev.keys"),
    )
    .unwrap();
    let wrong = dir.join("wrong.keys");
    let private = |path: &std::path::Path, text: &str| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    };
    private(&dev, &text);
    private(&wrong, &format!("1 maintenance {}\n", "5a".repeat(32)));
    (
        dev.to_str().unwrap().to_owned(),
        wrong.to_str().unwrap().to_owned(),
    )
}

/// Sends one frame on a fresh connection and returns the first answer.
fn exchange(addr: &str, wire: &[u8]) -> rack_protocol::Message {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(wire).unwrap();
    let mut decoder = rack_protocol::FrameDecoder::new();
    let mut buf = [0u8; 512];
    loop {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "the bridge closed");
        if let Some(Ok(f)) = decoder.feed(&buf[..n]).next() {
            return f.message;
        }
    }
}

#[test]
fn rackctl_writes_only_with_the_right_key_to_the_firmware_over_its_uart() {
    let pil = Pil::start(&default_image("coolant-controller")).unwrap();
    let bridge = rack_tests::Bridge::new(&pil.host, rack_tests::Tamper::default()).unwrap();
    let addr = bridge.addr.clone();
    let run = |args: &[&str]| {
        rack_tests::rackctl(&addr)
            .unwrap()
            .args(["--timeout", "5000"])
            .args(args)
            .output()
            .unwrap()
    };
    let (dev_keys, wrong_keys) = key_files();
    let stderr = |out: &Output| String::from_utf8_lossy(&out.stderr).into_owned();

    let status = json(&run(&["status"]));
    assert_eq!(
        status["identity"]["serial_number"], "CDU-QEMU-0",
        "{status}"
    );
    assert_eq!(
        status["identity"]["device_kind"], "CoolantController",
        "{status}"
    );
    let setpoint = json(&run(&["get", "supply-temp"]));
    assert_eq!(setpoint["value"], 3000, "{setpoint}");
    // Out of the firmware's range: refused (exit 1) with the range the firmware states.
    let refused = run(&["set", "supply-temp", "40"]);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(stderr(&refused).contains("need a key"), "{refused:?}");
    // With the maintenance key: out of the firmware's range, refused with the range it states.
    let refused = run(&["--key-file", &dev_keys, "set", "supply-temp", "40"]);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    let text = String::from_utf8_lossy(&refused.stdout);
    assert!(text.contains("OutOfRange"), "{text}");
    // A wrong secret under the maintenance key's id, and the operator key for a maintenance
    // command: refused.
    let out = run(&["--key-file", &wrong_keys, "set", "supply-temp", "31"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stderr(&out).contains("does not accept this key"), "{out:?}");
    let out = run(&["--key-file", &dev_keys, "--key-id", "2", "pump", "rotate"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stderr(&out).contains("maintenance role"), "{out:?}");
    // The right keys: accepted.
    let set = json(&run(&[
        "--key-file",
        &dev_keys,
        "--key-id",
        "2",
        "set",
        "supply-temp",
        "31",
    ]));
    assert_eq!(set["value"], 3100, "{set}");
    json(&run(&["--key-file", &dev_keys, "pump", "rotate"]));
    // A signed frame sent twice: the second is a replay.
    let text = std::fs::read_to_string(&dev_keys).unwrap();
    let (operator, _) = text
        .lines()
        .filter_map(|l| rack_protocol::auth::parse_key_line(l).unwrap())
        .find(|(k, _)| k.id == 2)
        .unwrap();
    let counter = u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros(),
    )
    .unwrap()
        + 1_000_000_000;
    let mut wire = [0u8; rack_protocol::frame::MAX_WIRE_FRAME_SIZE];
    let message = rack_protocol::Message::SetSetpoint(rack_protocol::message::SetSetpoint {
        id: rack_protocol::types::SetpointId::SupplyTempCentiC,
        value: 2_950,
    });
    let n =
        rack_protocol::frame::encode_signed(9, &message, &operator, counter, &mut wire).unwrap();
    let first = exchange(&addr, &wire[..n]);
    assert!(
        matches!(first, rack_protocol::Message::Setpoint(s) if s.value == 2_950),
        "{first:?}"
    );
    let again = exchange(&addr, &wire[..n]);
    assert_eq!(
        again,
        rack_protocol::Message::Refused(rack_protocol::message::Refused {
            of: rack_protocol::MessageKind::SetSetpoint,
            reason: rack_protocol::types::Refusal::Unauthorized(
                rack_protocol::types::AuthRefusal::Replayed
            ),
        })
    );

    drop(bridge);
    let inputs = rack_control::coolant::CoolantInputs::uniform(rack_control::Instant(1), 30.0);
    let (ok, log) = pil
        .finish(&rack_node::plant_io::coolant_sample(1000, &inputs, true))
        .unwrap();
    assert!(ok, "{log}");
}
