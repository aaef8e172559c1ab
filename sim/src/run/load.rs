//! `racksim load`: the clients a live row must survive, against `racksim serve` on loopback.
//!
//! It opens, for a bounded time, a bounded number of misbehaving clients on one device's port:
//! one (or more) that floods requests as fast as the socket takes them, some that connect and
//! say nothing, some that send half a frame and stall, and some that subscribe to telemetry,
//! ask for more and never read. Meanwhile a probe asks the device for its identity four times
//! a second, as `rackctl status` would, and times each answer. The device's uptime against the
//! wall clock gives the row's speed: a row that keeps up runs at the `--speed` it was served at.
//!
//! Loopback only: this is a test of our own server, not a tool to load someone else's.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use rack_protocol::decoder::FrameDecoder;
use rack_protocol::frame::{self, MAX_WIRE_FRAME_SIZE};
use rack_protocol::message::{GetIdentity, GetTelemetry, Message, Subscribe};

/// How many clients of each kind, and for how long.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadPlan {
    /// Clients sending requests as fast as the socket takes them (and reading the answers).
    pub flood: usize,
    /// Clients that connect and send nothing.
    pub idle: usize,
    /// Clients that send half a frame and stall.
    pub half: usize,
    /// Clients that subscribe at 100 ms, ask for 200 snapshots, and never read.
    pub deaf: usize,
    /// How long the load lasts.
    pub duration: Duration,
}

/// The most clients one run may open, and the longest it may last.
pub const MAX_LOAD_CLIENTS: usize = 1_000;
/// The longest a load may last.
pub const MAX_LOAD_DURATION: Duration = Duration::from_secs(600);

/// What the load did to the row.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadReport {
    /// Wall-clock seconds the probe ran.
    pub wall_s: f64,
    /// Device seconds (its uptime) over the same span.
    pub device_s: f64,
    /// `device_s / wall_s`: the row's speed under load.
    pub speed: f64,
    /// Probe answers: how many, and their round-trip times, ms.
    pub probes: usize,
    /// Median probe round trip, ms.
    pub probe_p50_ms: f64,
    /// 99th-percentile probe round trip, ms.
    pub probe_p99_ms: f64,
    /// Slowest probe round trip, ms.
    pub probe_max_ms: f64,
    /// Probes without an answer within 2 s.
    pub probes_lost: usize,
    /// Bytes the flood clients sent.
    pub flood_bytes: u64,
    /// Clients connected (of those planned).
    pub connected: usize,
    /// Deaf clients the server had dropped by the end.
    pub deaf_dropped: usize,
}

/// Why a load could not run.
#[derive(Debug)]
pub enum LoadError {
    /// Not a loopback address.
    NotLoopback(SocketAddr),
    /// More clients or a longer time than allowed.
    TooMuch(String),
    /// The device did not answer the probe at the start.
    Io(std::io::Error),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::NotLoopback(a) => {
                write!(
                    f,
                    "{a} is not a loopback address: load only a row on this machine"
                )
            }
            LoadError::TooMuch(t) => f.write_str(t),
            LoadError::Io(e) => write!(f, "the device: {e}"),
        }
    }
}

fn wire(seq: u16, message: &Message) -> Vec<u8> {
    let mut out = [0u8; MAX_WIRE_FRAME_SIZE];
    let n = frame::encode(seq, message, &mut out).unwrap_or(0);
    out.get(..n).unwrap_or(&[]).to_vec()
}

/// The device's uptime and the round trip of one identity request, or `None` after 2 s.
fn probe(stream: &mut TcpStream, decoder: &mut FrameDecoder, seq: u16) -> Option<(u64, Duration)> {
    let sent = Instant::now();
    stream
        .write_all(&wire(seq, &Message::GetIdentity(GetIdentity)))
        .ok()?;
    let mut buf = [0u8; 512];
    while sent.elapsed() < Duration::from_secs(2) {
        match stream.read(&mut buf) {
            Ok(0) => return None,
            Ok(n) => {
                for f in decoder.feed(buf.get(..n).unwrap_or(&[])).flatten() {
                    if let (true, Message::Identity(id)) = (f.seq == seq, &f.message) {
                        return Some((id.uptime_ms, sent.elapsed()));
                    }
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return None,
        }
    }
    None
}

/// Runs `plan` against the device at `addr` (loopback only).
pub fn run_load(addr: SocketAddr, plan: LoadPlan) -> Result<LoadReport, LoadError> {
    if !addr.ip().is_loopback() {
        return Err(LoadError::NotLoopback(addr));
    }
    let clients = plan.flood + plan.idle + plan.half + plan.deaf;
    if clients > MAX_LOAD_CLIENTS || plan.duration > MAX_LOAD_DURATION {
        return Err(LoadError::TooMuch(format!(
            "{clients} clients for {:.0} s: at most {MAX_LOAD_CLIENTS} clients for {} s",
            plan.duration.as_secs_f64(),
            MAX_LOAD_DURATION.as_secs()
        )));
    }
    let connect = || TcpStream::connect_timeout(&addr, Duration::from_secs(2));
    let mut probe_stream = connect().map_err(LoadError::Io)?;
    probe_stream
        .set_read_timeout(Some(Duration::from_millis(20)))
        .map_err(LoadError::Io)?;
    let _ = probe_stream.set_nodelay(true);
    let mut probe_decoder = FrameDecoder::new();

    let mut held = Vec::new();
    let mut connected = 0;
    for _ in 0..plan.idle {
        if let Ok(s) = connect() {
            connected += 1;
            held.push(s);
        }
    }
    let half_frame = wire(1, &Message::GetTelemetry(GetTelemetry));
    let half_frame = half_frame
        .get(..half_frame.len() / 2)
        .unwrap_or(&[])
        .to_vec();
    for _ in 0..plan.half {
        if let Ok(mut s) = connect() {
            connected += 1;
            let _ = s.write_all(&half_frame);
            held.push(s);
        }
    }
    let mut deaf = Vec::new();
    let mut asks = wire(1, &Message::Subscribe(Subscribe { period_ms: 100 }));
    for seq in 0..200u16 {
        asks.extend(wire(seq, &Message::GetTelemetry(GetTelemetry)));
    }
    for _ in 0..plan.deaf {
        if let Ok(mut s) = connect() {
            connected += 1;
            let _ = s.write_all(&asks);
            deaf.push(s);
        }
    }
    let stop = std::sync::atomic::AtomicBool::new(false);
    let flood_bytes = std::sync::atomic::AtomicU64::new(0);
    let mut flooders = Vec::new();
    for _ in 0..plan.flood {
        if let Ok(s) = connect() {
            connected += 1;
            flooders.push(s);
        }
    }

    let report = std::thread::scope(|scope| {
        for s in &flooders {
            let (stop, flood_bytes) = (&stop, &flood_bytes);
            let Ok(mut writer) = s.try_clone() else {
                continue;
            };
            let Ok(mut reader) = s.try_clone() else {
                continue;
            };
            scope.spawn(move || {
                let mut burst = Vec::new();
                for seq in 0..64u16 {
                    burst.extend(wire(seq, &Message::GetTelemetry(GetTelemetry)));
                }
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    if writer.write_all(&burst).is_err() {
                        break;
                    }
                    flood_bytes.fetch_add(burst.len() as u64, std::sync::atomic::Ordering::Relaxed);
                }
            });
            scope.spawn(move || {
                let _ = reader.set_read_timeout(Some(Duration::from_millis(50)));
                let mut buf = [0u8; 4096];
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    match reader.read(&mut buf) {
                        Ok(0) => break,
                        Ok(_) => {}
                        Err(e)
                            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                        Err(_) => break,
                    }
                }
            });
        }
        // The probe: four identity requests a second, timed.
        let mut times = Vec::new();
        let mut lost = 0;
        let mut first: Option<(Instant, u64)> = None;
        let mut last: Option<(Instant, u64)> = None;
        let start = Instant::now();
        let mut seq = 1u16;
        while start.elapsed() < plan.duration {
            seq = seq.wrapping_add(1);
            match probe(&mut probe_stream, &mut probe_decoder, seq) {
                Some((uptime, rtt)) => {
                    let at = Instant::now();
                    first.get_or_insert((at, uptime));
                    last = Some((at, uptime));
                    times.push(rtt.as_secs_f64() * 1000.0);
                }
                None => lost += 1,
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        (times, lost, first, last)
    });
    let (mut times, lost, first, last) = report;
    // A deaf client the server dropped reads as closed (or reset) once its queue is drained.
    // A client still served keeps getting telemetry, so each is read for a bounded time.
    let mut deaf_dropped = 0;
    let mut buf = vec![0u8; 1 << 20];
    for mut s in deaf {
        let _ = s.set_read_timeout(Some(Duration::from_millis(100)));
        let until = Instant::now() + Duration::from_millis(300);
        let dropped = loop {
            match s.read(&mut buf) {
                Ok(0) => break true,
                Ok(_) if Instant::now() < until => {}
                Ok(_) => break false,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    break false;
                }
                Err(_) => break true,
            }
        };
        deaf_dropped += usize::from(dropped);
    }
    drop(held);
    times.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        if times.is_empty() {
            f64::NAN
        } else {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // an index
            let i = ((times.len() - 1) as f64 * q).round() as usize;
            times.get(i).copied().unwrap_or(f64::NAN)
        }
    };
    let (wall_s, device_s) = match (first, last) {
        (Some((t0, u0)), Some((t1, u1))) => (
            t1.duration_since(t0).as_secs_f64(),
            u1.saturating_sub(u0) as f64 / 1000.0,
        ),
        _ => (0.0, 0.0),
    };
    Ok(LoadReport {
        wall_s,
        device_s,
        speed: if wall_s > 0.0 { device_s / wall_s } else { 0.0 },
        probes: times.len(),
        probe_p50_ms: pick(0.5),
        probe_p99_ms: pick(0.99),
        probe_max_ms: pick(1.0),
        probes_lost: lost,
        flood_bytes: flood_bytes.load(std::sync::atomic::Ordering::Relaxed),
        connected,
        deaf_dropped,
    })
}
