//! `racksim serve`: a live row whose devices speak the wire protocol over TCP.
//!
//! One port per device, on loopback: `base_port` is the CDU's coolant controller,
//! `base_port + 1 + r` is rack `r`'s power controller (when the scenario has `[power]`).
//! The simulation runs at `speed` x real time, paced by the wall clock; faults come from the
//! scenario's schedule, so a technician can practise on a pump failure or a leak while it runs.
//!
//! **No client can stall the row.** Each client has its own protocol link (its own frame
//! decoder, so a half frame never mixes with another client's bytes; its own subscription
//! and protocol version), a read budget per step ([`ServeLimits::read_budget_bytes`]), and a
//! bounded send queue written without blocking: a client that cannot keep up is dropped when
//! its queue is full. Clients beyond [`ServeLimits::max_clients`] are turned away, and a
//! client silent for [`ServeLimits::idle_timeout`] is dropped. Every drop is counted
//! ([`ServeCounters`]). Writes need a key: [`ServeOptions::keys`] are installed in every device.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant as WallClock};

use rack_control::Instant;
use rack_node::{Application, Link, Node};
use rack_protocol::auth::Key;
use rack_protocol::types::KeyRole;

use crate::run::runner::Live;

/// How much each client may take of the row's time and memory.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServeLimits {
    /// Clients per device; more are accepted and closed at once.
    pub max_clients: usize,
    /// Bytes read from one client per simulation step (the rest waits in its socket).
    pub read_budget_bytes: usize,
    /// Bytes queued for one client before it counts as not keeping up and is dropped.
    pub send_queue_bytes: usize,
    /// A client that sends nothing for this long is dropped.
    pub idle_timeout: Duration,
}

impl Default for ServeLimits {
    fn default() -> Self {
        Self {
            max_clients: 512,
            // A request is 6-40 bytes: 2 KiB is ~100 requests per step, 1,000 a second.
            read_budget_bytes: 2_048,
            // ~250 telemetry frames: a client 25 s behind a 100 ms subscription.
            send_queue_bytes: 64 * 1024,
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// What `racksim serve` is configured with beyond the scenario.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Keys every device accepts signed writes from (none: every write is refused).
    pub keys: Vec<(Key, KeyRole)>,
    /// Per-client limits.
    pub limits: ServeLimits,
}

/// Clients turned away or dropped since the start, over every device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServeCounters {
    /// Connections accepted.
    pub accepted: u64,
    /// Turned away: the device had `max_clients` already.
    pub over_cap: u64,
    /// Dropped: their send queue overflowed (they stopped reading).
    pub too_slow: u64,
    /// Dropped: silent for the idle timeout.
    pub idle: u64,
}

/// The listening side of every device.
#[derive(Debug)]
pub struct Server {
    devices: Vec<Device>,
    speed: f64,
    started: Option<(WallClock, f64)>,
    options: ServeOptions,
    keys_installed: bool,
    counters: ServeCounters,
}

#[derive(Debug)]
struct Device {
    listener: TcpListener,
    clients: Vec<Client>,
}

#[derive(Debug)]
struct Client {
    stream: TcpStream,
    link: Link,
    queue: VecDeque<u8>,
    last_heard: WallClock,
}

/// Why a client leaves.
enum Leave {
    Closed,
    TooSlow,
    Idle,
}

impl Server {
    /// Listens on `127.0.0.1:base_port ..` for `devices` devices (`base_port` 0: free ports).
    pub fn bind(
        base_port: u16,
        devices: usize,
        speed: f64,
        options: ServeOptions,
    ) -> std::io::Result<Self> {
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
            options,
            keys_installed: false,
            counters: ServeCounters::default(),
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

    /// Clients turned away and dropped so far.
    pub fn counters(&self) -> ServeCounters {
        self.counters
    }

    /// Serves every device once and paces the simulation; call from the run's hook.
    pub fn service(&mut self, live: &mut Live) {
        if !self.keys_installed {
            self.keys_installed = true;
            for (key, role) in &self.options.keys {
                // A full store is reported at start-up by `racksim serve` (it checks the count).
                let _ = live.cdu.keys_mut().install(key.id, *role, key.secret);
                for rack in live.racks.iter_mut() {
                    let _ = rack.keys_mut().install(key.id, *role, key.secret);
                }
            }
        }
        if live.t < 0.0 {
            return; // warm-up runs flat out
        }
        let now = live.now;
        let limits = self.options.limits;
        let counters = &mut self.counters;
        let mut devices = self.devices.iter_mut();
        if let Some(device) = devices.next() {
            device.serve(now, &mut *live.cdu, &limits, counters);
        }
        for (device, node) in devices.zip(live.racks.iter_mut()) {
            device.serve(now, node, &limits, counters);
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
    fn serve<A: Application>(
        &mut self,
        now: Instant,
        node: &mut Node<A>,
        limits: &ServeLimits,
        counters: &mut ServeCounters,
    ) {
        let wall = WallClock::now();
        while let Ok((stream, _)) = self.listener.accept() {
            if self.clients.len() >= limits.max_clients {
                counters.over_cap += 1;
                drop(stream);
                continue;
            }
            if stream.set_nonblocking(true).is_ok() {
                let _ = stream.set_nodelay(true);
                counters.accepted += 1;
                self.clients.push(Client {
                    stream,
                    link: Link::new(),
                    queue: VecDeque::new(),
                    last_heard: wall,
                });
            }
        }
        let mut buf = [0u8; 1024];
        self.clients.retain_mut(|client| {
            let leave = client.serve(now, node, limits, wall, &mut buf);
            match leave {
                None => true,
                Some(Leave::Closed) => false,
                Some(Leave::TooSlow) => {
                    counters.too_slow += 1;
                    false
                }
                Some(Leave::Idle) => {
                    counters.idle += 1;
                    false
                }
            }
        });
        // The node's own duties (comms-loss detection); its board link is unused here.
        node.poll(now, &mut |_| {});
    }
}

impl Client {
    /// Reads up to the budget, answers, sends the subscription's telemetry when due, and
    /// writes what the socket takes; why the client leaves, if it does.
    fn serve<A: Application>(
        &mut self,
        now: Instant,
        node: &mut Node<A>,
        limits: &ServeLimits,
        wall: WallClock,
        buf: &mut [u8],
    ) -> Option<Leave> {
        let mut budget = limits.read_budget_bytes;
        while budget > 0 {
            let take = budget.min(buf.len());
            match self.stream.read(buf.get_mut(..take).unwrap_or(&mut [])) {
                Ok(0) => return Some(Leave::Closed),
                Ok(n) => {
                    budget = budget.saturating_sub(n);
                    self.last_heard = wall;
                    let queue = &mut self.queue;
                    node.on_link_bytes(
                        now,
                        &mut self.link,
                        buf.get(..n).unwrap_or(&[]),
                        &mut |frame| queue.extend(frame),
                    );
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Some(Leave::Closed),
            }
        }
        let queue = &mut self.queue;
        node.poll_link(now, &mut self.link, &mut |frame| queue.extend(frame));
        // Write without blocking: whatever the socket takes now, the rest next step.
        while !self.queue.is_empty() {
            let (front, _) = self.queue.as_slices();
            match self.stream.write(front) {
                Ok(0) => return Some(Leave::Closed),
                Ok(n) => {
                    self.queue.drain(..n.min(self.queue.len()));
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Some(Leave::Closed),
            }
        }
        if self.queue.len() > limits.send_queue_bytes {
            return Some(Leave::TooSlow);
        }
        if wall.duration_since(self.last_heard) > limits.idle_timeout {
            return Some(Leave::Idle);
        }
        None
    }
}

/// Reads a keys file (`ID ROLE SECRET` per line, see `rack_protocol::auth::parse_key_line`);
/// if it does not exist, makes one with a fresh maintenance key (id 1) and operator key
/// (id 2) from the system's random source, readable by its owner only, and says so in the
/// second value.
pub fn load_or_create_keys(path: &std::path::Path) -> Result<(Vec<(Key, KeyRole)>, bool), String> {
    let created = !path.exists();
    if created {
        let mut random = [0u8; 64];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut random))
            .map_err(|e| format!("cannot read /dev/urandom for new keys: {e}"))?;
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let text = format!(
            "# rackloop keys: ID ROLE SECRET (64 hex digits). Keep this file private.\n\
             1 maintenance {}\n2 operator {}\n",
            hex(random.get(..32).unwrap_or(&[])),
            hex(random.get(32..).unwrap_or(&[]))
        );
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options
            .open(path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut keys = Vec::new();
    for (number, line) in text.lines().enumerate() {
        match rack_protocol::auth::parse_key_line(line) {
            Ok(Some(key)) => keys.push(key),
            Ok(None) => {}
            Err(e) => return Err(format!("{} line {}: {e}", path.display(), number + 1)),
        }
    }
    if keys.len() > rack_node::MAX_KEYS {
        return Err(format!(
            "{}: {} keys; a device holds at most {}",
            path.display(),
            keys.len(),
            rack_node::MAX_KEYS
        ));
    }
    Ok((keys, created))
}
