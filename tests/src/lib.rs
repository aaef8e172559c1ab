//! # rack-tests
//!
//! End-to-end tests across rackloop's crates, in `tests/tests/`:
//!
//! - `rackctl_qemu`: `rackctl`, as a technician runs it, against the coolant controller's ARM
//!   image in QEMU, over the image's UART0 (bridged to a TCP port);
//! - `protocol_client`: a v1 protocol client (framing, sequence numbers, every request a device
//!   receives) against the coolant and power device nodes;
//! - `campus`: `racksim campus` as a process, with one and two threads: the summary and the
//!   CSV byte for byte the same.
//!
//! This library holds what they share: where the workspace's binaries are.

use std::path::PathBuf;
use std::process::Command;

/// The path of the workspace binary `name` of package `package`, built now if the test run has
/// not built it (a test of this crate alone does not build other packages' binaries).
pub fn binary(package: &str, name: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let profile_dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .ok_or_else(|| format!("no target folder above {}", exe.display()))?;
    let path = profile_dir.join(name);
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--locked", "--package", package, "--bin", name])
            .status()
            .map_err(|e| format!("cannot start cargo to build {name}: {e}"))?;
        if !status.success() {
            return Err(format!("building {name} failed ({status})"));
        }
    }
    Ok(path)
}

/// `rackctl --connect ADDR --json`, as a technician's script runs it: no key from the
/// environment or a configuration file (the caller names one with `--key-file`).
pub fn rackctl(addr: &str) -> Result<Command, String> {
    let mut command = Command::new(binary("rackctl", "rackctl")?);
    command
        .args(["--connect", addr, "--json"])
        .env_remove("RACKCTL_KEY")
        .env_remove("RACKCTL_KEY_FILE")
        .env("HOME", "/nonexistent");
    Ok(command)
}

/// A serial-to-TCP server in miniature: offers a device's UART (QEMU's side of it, a TCP
/// stream) on a local port, one client connection at a time, as a technician's terminal
/// server would. What a client sends can be made to go wrong on the way ([`Tamper`]).
pub struct Bridge {
    /// The local address clients connect to.
    pub addr: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What the bridge does to the bytes clients send: after `drop_after` bytes in all it closes
/// the client's connection (a dropped link); the byte at `flip_at` (counted over all
/// connections) has a bit flipped (line noise past the framing).
#[derive(Debug, Clone, Copy, Default)]
pub struct Tamper {
    /// Close the first connection once this many bytes have gone through.
    pub drop_after: Option<u64>,
    /// Flip a bit of the byte with this index.
    pub flip_at: Option<u64>,
}

impl Bridge {
    /// Bridges `uart` to a new local port.
    pub fn new(uart: &std::net::TcpStream, tamper: Tamper) -> Result<Self, String> {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let addr = listener
            .local_addr()
            .map_err(|e| e.to_string())?
            .to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let uart = uart.try_clone().map_err(|e| e.to_string())?;
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut sent = 0u64;
                let mut dropped = false;
                let _ = listener.set_nonblocking(true);
                while !stop.load(Ordering::Relaxed) {
                    let Ok((client, _)) = listener.accept() else {
                        std::thread::sleep(std::time::Duration::from_millis(10));
                        continue;
                    };
                    let _ = client.set_nonblocking(false);
                    // Answers go out as they come (no Nagle wait on a request-answer link).
                    let _ = client.set_nodelay(true);
                    let (Ok(back_from), Ok(back_to), Ok(to)) =
                        (uart.try_clone(), client.try_clone(), uart.try_clone())
                    else {
                        continue;
                    };
                    // This connection's answers flow until the client has gone.
                    let gone = Arc::new(AtomicBool::new(false));
                    let back = std::thread::spawn({
                        let gone = gone.clone();
                        move || pump(back_from, back_to, &gone, &mut |_, _| true)
                    });
                    let drop_after = tamper.drop_after.filter(|_| !dropped);
                    pump(client, to, &stop, &mut |bytes, _| {
                        for b in bytes.iter_mut() {
                            if Some(sent) == tamper.flip_at {
                                *b ^= 0x10;
                            }
                            sent += 1;
                        }
                        // Past the drop point: the link goes.
                        drop_after.is_none_or(|n| sent < n)
                    });
                    dropped |= drop_after.is_some();
                    gone.store(true, Ordering::Relaxed);
                    let _ = back.join();
                }
            })
        };
        Ok(Self {
            addr,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Copies bytes from `from` to `to`, each read through `each` (which may change them and says
/// whether to go on), until `stop` is set, `each` says stop (then `from`, a client, is shut
/// down), or either side closes.
fn pump(
    mut from: std::net::TcpStream,
    mut to: std::net::TcpStream,
    stop: &std::sync::atomic::AtomicBool,
    each: &mut dyn FnMut(&mut [u8], usize) -> bool,
) {
    use std::io::{Read, Write};
    let _ = from.set_read_timeout(Some(std::time::Duration::from_millis(20)));
    let mut buf = [0u8; 512];
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let Some(bytes) = buf.get_mut(..n) else { break };
                let go_on = each(bytes, n);
                if to.write_all(bytes).is_err() {
                    break;
                }
                if !go_on {
                    // The link drops: the client's side closes (never the UART's).
                    let _ = from.shutdown(std::net::Shutdown::Both);
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
