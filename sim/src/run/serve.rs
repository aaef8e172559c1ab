//! `racksim serve`: a live row whose devices speak the wire protocol over TCP.
//!
//! One port per device, on loopback: `base_port` is the CDU's coolant controller,
//! `base_port + 1 + r` is rack `r`'s power controller (when the scenario has `[power]`).
//! Each port accepts any number of clients; every client gets the answers to its own requests,
//! and every client of a device gets that device's subscribed telemetry. The simulation runs
//! at `speed` x real time, paced by the wall clock; faults come from the scenario's schedule,
//! so a technician can practise on a pump failure or a leak while it runs.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant as WallClock};

use rack_control::Instant;
use rack_node::{Application, Node};

use crate::run::runner::Live;

/// The listening side of every device.
#[derive(Debug)]
pub struct Server {
    devices: Vec<Device>,
    speed: f64,
    started: Option<(WallClock, f64)>,
}

#[derive(Debug)]
struct Device {
    listener: TcpListener,
    clients: Vec<TcpStream>,
}

impl Server {
    /// Listens on `127.0.0.1:base_port ..` for `devices` devices (`base_port` 0: free ports).
    pub fn bind(base_port: u16, devices: usize, speed: f64) -> std::io::Result<Self> {
        let devices = (0..devices)
            .map(|i| {
                // Port 0: every device on a free port of the system's choosing (tests).
                let offset = if base_port == 0 {
                    Some(0)
                } else {
                    u16::try_from(i).ok()
                };
                let port = offset
                    .and_then(|i| base_port.checked_add(i))
                    .ok_or_else(|| {
                        std::io::Error::new(
                            ErrorKind::InvalidInput,
                            format!("port {base_port} + {i} is beyond 65535"),
                        )
                    })?;
                let listener = TcpListener::bind(("127.0.0.1", port)).map_err(|e| {
                    std::io::Error::new(e.kind(), format!("cannot listen on 127.0.0.1:{port}: {e}"))
                })?;
                listener.set_nonblocking(true)?;
                Ok(Device {
                    listener,
                    clients: Vec::new(),
                })
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Self {
            devices,
            speed: speed.max(0.01),
            started: None,
        })
    }

    /// The ports in use, CDU first.
    pub fn ports(&self) -> Vec<u16> {
        self.devices
            .iter()
            .filter_map(|d| d.listener.local_addr().ok())
            .map(|a| a.port())
            .collect()
    }

    /// Serves every device once and paces the simulation; call from the run's hook.
    pub fn service(&mut self, live: &mut Live) {
        if live.t < 0.0 {
            return; // warm-up runs flat out
        }
        let now = live.now;
        let mut devices = self.devices.iter_mut();
        if let Some(device) = devices.next() {
            device.serve(now, &mut *live.cdu);
        }
        for (device, node) in devices.zip(live.racks.iter_mut()) {
            device.serve(now, node);
        }
        // Pace: simulated time runs at `speed` x the wall clock.
        let (start, t0) = *self.started.get_or_insert((WallClock::now(), live.t));
        let due = Duration::from_secs_f64(((live.t - t0) / self.speed).max(0.0));
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
    }
}

impl Device {
    fn serve<A: Application>(&mut self, now: Instant, node: &mut Node<A>) {
        while let Ok((stream, _)) = self.listener.accept() {
            if stream.set_nonblocking(true).is_ok() {
                let _ = stream.set_nodelay(true);
                self.clients.push(stream);
            }
        }
        let mut buf = [0u8; 1024];
        let mut closed = Vec::new();
        for (i, client) in self.clients.iter_mut().enumerate() {
            loop {
                match client.read(&mut buf) {
                    Ok(0) => {
                        closed.push(i);
                        break;
                    }
                    Ok(n) => {
                        let mut failed = false;
                        node.on_bytes(now, buf.get(..n).unwrap_or(&[]), &mut |frame| {
                            failed |= write_all(client, frame).is_err();
                        });
                        if failed {
                            closed.push(i);
                            break;
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => {
                        closed.push(i);
                        break;
                    }
                }
            }
        }
        let clients = &mut self.clients;
        node.poll(now, &mut |frame| {
            for c in clients.iter_mut() {
                let _ = write_all(c, frame);
            }
        });
        for i in closed.into_iter().rev() {
            if i < self.clients.len() {
                self.clients.remove(i);
            }
        }
    }
}

/// Writes a whole frame to a non-blocking socket (frames are small; a full socket buffer
/// means a client that stopped reading, whose frame is dropped).
fn write_all(stream: &mut TcpStream, mut bytes: &[u8]) -> std::io::Result<()> {
    let deadline = WallClock::now() + Duration::from_millis(50);
    while !bytes.is_empty() {
        match stream.write(bytes) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => bytes = bytes.get(n..).unwrap_or(&[]),
            Err(e) if e.kind() == ErrorKind::WouldBlock && WallClock::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
