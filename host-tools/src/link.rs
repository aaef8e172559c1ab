//! Transports: a byte stream to a device, over TCP (the simulator, a gateway) or a serial port
//! (a board's ST-LINK virtual COM port, RS-485), and the request/answer exchange on top.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use rack_protocol::auth::Key;
use rack_protocol::decoder::FrameDecoder;
use rack_protocol::frame::{self, MAX_WIRE_FRAME_SIZE};
use rack_protocol::{Frame, Message, MessageKind};

/// Where a device is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `host:port`.
    Tcp(String),
    /// A serial device and its baud rate.
    Serial(String, u32),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Tcp(a) => write!(f, "{a}"),
            Target::Serial(p, b) => write!(f, "{p} at {b} baud"),
        }
    }
}

/// Why a request got no answer.
#[derive(Debug)]
pub enum LinkError {
    /// The device could not be reached.
    Connect(String),
    /// No answer within the timeout, after every retry.
    Timeout,
    /// The link broke.
    Io(std::io::Error),
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkError::Connect(e) => write!(f, "cannot reach the device: {e}"),
            LinkError::Timeout => write!(
                f,
                "no answer from the device (check --timeout, --retries and the cable)"
            ),
            LinkError::Io(e) => write!(f, "link error: {e}"),
        }
    }
}

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// A connection to one device.
pub struct Link {
    stream: Box<dyn Stream>,
    decoder: FrameDecoder,
    seq: u16,
    /// The key requests that change anything are signed with, and the last counter used.
    key: Option<Key>,
    counter: u64,
    /// Time to wait for an answer.
    pub timeout: Duration,
    /// Extra attempts after a timeout.
    pub retries: u32,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("seq", &self.seq)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Link {
    /// Opens `target`.
    pub fn open(target: &Target, timeout: Duration, retries: u32) -> Result<Self, LinkError> {
        // Reads return often so that a request's deadline is honoured.
        let poll = Duration::from_millis(20);
        let stream: Box<dyn Stream> = match target {
            Target::Tcp(addr) => {
                let addrs: Vec<_> = std::net::ToSocketAddrs::to_socket_addrs(addr.as_str())
                    .map_err(|e| LinkError::Connect(format!("{addr}: {e}")))?
                    .collect();
                let first = addrs
                    .first()
                    .ok_or_else(|| LinkError::Connect(format!("{addr}: no address")))?;
                let s = TcpStream::connect_timeout(first, timeout)
                    .map_err(|e| LinkError::Connect(format!("{addr}: {e}")))?;
                s.set_read_timeout(Some(poll)).map_err(LinkError::Io)?;
                let _ = s.set_nodelay(true);
                Box::new(s)
            }
            Target::Serial(path, baud) => {
                let port = serialport::new(path, *baud)
                    .timeout(poll)
                    .open()
                    .map_err(|e| LinkError::Connect(format!("{path}: {e}")))?;
                Box::new(port)
            }
        };
        Ok(Self {
            stream,
            decoder: FrameDecoder::new(),
            seq: 0,
            key: None,
            counter: 0,
            timeout,
            retries,
        })
    }

    /// Signs requests that change anything with `key` from now on.
    pub fn with_key(mut self, key: Option<Key>) -> Self {
        self.key = key;
        self
    }

    /// Signs the requests from now on with `key` (none: unsigned); the key it had.
    pub fn replace_key(&mut self, key: Option<Key>) -> Option<Key> {
        core::mem::replace(&mut self.key, key)
    }

    /// The next counter: the wall clock in microseconds, and never less than the last + 1,
    /// so that it rises across invocations (and hosts sharing a key) without a state file.
    fn next_counter(&mut self) -> u64 {
        let now_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        self.counter = now_us.max(self.counter.saturating_add(1));
        self.counter
    }

    /// Sends `message` and waits for the answer with its sequence number.
    pub fn request(&mut self, message: &Message) -> Result<Message, LinkError> {
        for _ in 0..=self.retries {
            self.seq = self.seq.wrapping_add(1);
            let seq = self.seq;
            let mut wire = [0u8; MAX_WIRE_FRAME_SIZE];
            // A write goes signed when there is a key (else unsigned: the device refuses it
            // and says the key is missing); each attempt with a fresh counter.
            let signer = match &self.key {
                Some(key) if message.kind().needs_role().is_some() => Some(key.clone()),
                _ => None,
            };
            let len = match signer {
                Some(key) => {
                    let counter = self.next_counter();
                    frame::encode_signed(seq, message, &key, counter, &mut wire)
                }
                None => frame::encode(seq, message, &mut wire),
            }
            .map_err(|e| LinkError::Io(std::io::Error::other(e.to_string())))?;
            // A leading delimiter flushes whatever half frame the device may hold.
            let mut out = Vec::with_capacity(len + 1);
            out.push(0);
            out.extend_from_slice(wire.get(..len).unwrap_or(&[]));
            self.stream.write_all(&out).map_err(LinkError::Io)?;
            self.stream.flush().map_err(LinkError::Io)?;
            let deadline = Instant::now() + self.timeout;
            while Instant::now() < deadline {
                for f in self.read_frames()? {
                    if f.seq == seq && answers(message.kind(), f.message.kind()) {
                        return Ok(f.message);
                    }
                }
            }
        }
        Err(LinkError::Timeout)
    }

    fn read_frames(&mut self) -> Result<Vec<Frame>, LinkError> {
        let mut buf = [0u8; 512];
        match self.stream.read(&mut buf) {
            Ok(0) => Err(LinkError::Io(std::io::Error::new(
                ErrorKind::UnexpectedEof,
                "the device closed the connection",
            ))),
            Ok(n) => Ok(self
                .decoder
                .feed(buf.get(..n).unwrap_or(&[]))
                .filter_map(Result::ok)
                .collect()),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                Ok(Vec::new())
            }
            Err(e) => Err(LinkError::Io(e)),
        }
    }
}

/// Whether `answer` can answer `request` (telemetry pushed by a subscription may carry any
/// sequence number, so kinds are checked too).
fn answers(request: MessageKind, answer: MessageKind) -> bool {
    use MessageKind as K;
    match answer {
        K::Refused | K::Ack => true,
        K::Identity => request == K::GetIdentity,
        K::CoolantTelemetry | K::PowerTelemetry => request == K::GetTelemetry,
        K::Setpoint => matches!(request, K::GetSetpoint | K::SetSetpoint),
        K::Alarms => request == K::GetAlarms,
        K::Events => request == K::GetEvents,
        K::Counters => request == K::GetCounters,
        K::Diagnostics => request == K::GetDiagnostics,
        K::FirmwareStatus => request == K::GetFirmwareStatus,
        K::FirmwareProgress => matches!(request, K::FirmwareBegin | K::FirmwareChunk),
        K::Heartbeat => request == K::Heartbeat,
        _ => false,
    }
}
