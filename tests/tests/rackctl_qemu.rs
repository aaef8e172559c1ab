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
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rack_sim::run::pil::{Pil, default_image};

/// Copies bytes from `from` to `to` until `stop` is set or either side closes.
fn pump(mut from: TcpStream, mut to: TcpStream, stop: &AtomicBool) {
    from.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut buf = [0u8; 512];
    while !stop.load(Ordering::Relaxed) {
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "rackctl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn rackctl_reads_and_is_refused_by_the_firmware_over_its_uart() {
    let rackctl = rack_tests::binary("rackctl", "rackctl").unwrap();
    let pil = Pil::start(&default_image("coolant-controller")).unwrap();
    let uart0 = pil.host.try_clone().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let bridge = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            // One rackctl connection at a time, each bridged until it closes.
            listener.set_nonblocking(true).unwrap();
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        // This connection's answers flow until the client has gone.
                        let gone = Arc::new(AtomicBool::new(false));
                        let back = std::thread::spawn({
                            let (from, to, gone) = (
                                uart0.try_clone().unwrap(),
                                client.try_clone().unwrap(),
                                gone.clone(),
                            );
                            move || pump(from, to, &gone)
                        });
                        pump(client, uart0.try_clone().unwrap(), &stop);
                        gone.store(true, Ordering::Relaxed);
                        back.join().unwrap();
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        })
    };
    let run = |args: &[&str]| {
        Command::new(&rackctl)
            .args(["--connect", &addr, "--timeout", "5000", "--json"])
            .args(args)
            .output()
            .unwrap()
    };

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
    let text = String::from_utf8_lossy(&refused.stdout);
    assert!(
        text.contains("OutOfRange") || text.contains("out of range"),
        "{text}"
    );

    stop.store(true, Ordering::Relaxed);
    bridge.join().unwrap();
    let inputs = rack_control::coolant::CoolantInputs::uniform(rack_control::Instant(1), 30.0);
    let (ok, log) = pil
        .finish(rack_node::plant_io::coolant_sample(1000, &inputs, true))
        .unwrap();
    assert!(ok, "{log}");
}
