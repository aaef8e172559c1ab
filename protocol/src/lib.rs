//! # rack-protocol
//!
//! The wire protocol of rackloop, shared by the firmware (coolant and power controllers) and
//! the host (`rackctl`, the simulator). `no_std`, no allocation, and no panics on any input.
//!
//! - [`message`]: protocol version 2 (version 1 is its first 25 kinds): every message, its
//!   kind number and payload, with units and resolutions in the field names.
//! - [`auth`]: protocol version 2's signed requests: key id, counter and HMAC-SHA256 MAC.
//! - [`types`]: the enums and records messages are made of (states, alarms, setpoints, events).
//! - [`frame`]: COBS framing with a fixed header (version, kind, sequence) and a CRC-32C;
//!   the compile-time maximum frame size.
//! - [`decoder`]: the streaming decoder: bytes in, frames out, typed rejections with counters.
//! - [`image`]: signed firmware images: the header, the checks a device makes, the signer.
//!
//! ```
//! use rack_protocol::{frame, message::{Message, Subscribe}, decoder::FrameDecoder};
//!
//! let mut wire = [0u8; frame::MAX_WIRE_FRAME_SIZE];
//! let len = frame::encode(7, &Message::Subscribe(Subscribe { period_ms: 500 }), &mut wire)?;
//!
//! let mut decoder = FrameDecoder::new();
//! let frames: Vec<_> = decoder.feed(&wire[..len]).collect();
//! assert_eq!(frames.len(), 1);
//! assert_eq!(frames[0].as_ref().map(|f| f.seq), Ok(7));
//! # Ok::<(), rack_protocol::frame::EncodeError>(())
//! ```
//!
//! Compatibility rules: message kinds and every enum are append-only; the golden vectors in
//! `protocol/tests/golden/` pin the bytes of each message of each version. If a golden test
//! fails, do not change the vector: add a new protocol version.
#![no_std]

#[cfg(feature = "image-sign")]
extern crate alloc;

pub mod auth;
pub mod decoder;
pub mod frame;
pub mod golden;
pub mod image;
pub mod message;
pub mod types;

pub use decoder::{FrameDecoder, RejectCounters};
pub use frame::{Frame, FrameError, OLDEST_VERSION, PROTOCOL_VERSION};
pub use message::{Message, MessageKind};
