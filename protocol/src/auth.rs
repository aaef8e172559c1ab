//! Authenticated requests (protocol version 2).
//!
//! A request that changes anything on a device carries, between its body and its CRC, a
//! trailer that says who sent it and proves it:
//!
//! ```text
//! raw frame:  header | body | key_id u16 LE | counter u64 LE | mac [16] | crc
//! header:     version 2 | kind | 0x80 (SIGNED_FLAG) | seq u16 LE
//! mac:        HMAC-SHA256(secret of key_id, header | body | key_id | counter), first 16 bytes
//! ```
//!
//! The MAC covers the whole frame before it (header with the sequence number, body, key id and
//! counter), so no part of a signed request can be changed or moved to another request. The
//! counter must rise with every request signed by a key: the device accepts a counter only
//! above the last one it accepted for that key, which refuses a replayed or reordered frame.
//! `rackctl` uses the wall clock in microseconds (never less than its last counter + 1), so a
//! key shared by several hosts keeps rising without a shared state file.
//!
//! HMAC-SHA256 truncated to 128 bits is the `RustCrypto` `hmac` and `sha2` crates (`no_std`, no
//! allocation), as RFC 2104 / RFC 4868 allow; the comparison is constant-time
//! ([`Auth::matches`]). A device may have the MAC computed outside its image (the Nucleo's
//! bootloader offers it, see `rack_node::keys::MacFn`): it checks it the same way. The CRC
//! still guards against line noise: a corrupted frame is dropped as `BadCrc` before any MAC is
//! computed.

use heapless::Vec;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::frame::HEADER_SIZE;
use crate::types::KeyRole;

/// Bytes of a key's secret.
pub const SECRET_SIZE: usize = 32;
/// Bytes of the (truncated) MAC on the wire.
pub const MAC_SIZE: usize = 16;
/// Bytes of a whole HMAC-SHA256, before it is truncated to [`MAC_SIZE`].
pub const FULL_MAC_SIZE: usize = 32;
/// Bytes of the trailer: key id, counter, MAC.
pub const TRAILER_SIZE: usize = 2 + 8 + MAC_SIZE;
/// Set in the header's kind byte of a version-2 frame that carries the trailer. Message kinds
/// stay below 0x80 for ever (the table is append-only and checked at compile time).
pub const SIGNED_FLAG: u8 = 0x80;
/// The largest body a signed frame may have: every request a device receives fits (checked at
/// compile time), and the bytes a device keeps to check a MAC stay small. Version 4's
/// firmware chunks (a 128-byte piece of an image, and its offset) are the largest.
pub const MAX_SIGNED_BODY_SIZE: usize = 136;
/// The most bytes a MAC covers: header, body, key id and counter.
pub const MAX_SIGNED_SIZE: usize = HEADER_SIZE + MAX_SIGNED_BODY_SIZE + 2 + 8;

/// A key as the sender holds it: its id and secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    /// The key's id, as the device knows it.
    pub id: u16,
    /// The shared secret.
    pub secret: [u8; SECRET_SIZE],
}

impl core::fmt::Debug for Key {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print a secret.
        f.debug_struct("Key")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A received frame's authentication trailer, with the bytes its MAC covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    /// The key the sender names.
    pub key_id: u16,
    /// The sender's counter.
    pub counter: u64,
    mac: [u8; MAC_SIZE],
    signed: Vec<u8, MAX_SIGNED_SIZE>,
}

impl Auth {
    /// Reads a trailer from the bytes before the CRC (`covered`, header first); `None` when
    /// they are too short for a trailer or the body is too long to sign.
    pub(crate) fn parse(covered: &[u8]) -> Option<(Self, usize)> {
        let signed_len = covered.len().checked_sub(MAC_SIZE)?;
        let (signed, mac) = covered.split_at_checked(signed_len)?;
        let (_, ids) = signed.split_last_chunk::<10>()?;
        let (key_id, counter) = ids.split_first_chunk::<2>()?;
        let counter: [u8; 8] = counter.try_into().ok()?;
        let body_end = signed_len.checked_sub(10)?;
        if body_end < HEADER_SIZE {
            return None;
        }
        Some((
            Self {
                key_id: u16::from_le_bytes(*key_id),
                counter: u64::from_le_bytes(counter),
                mac: mac.try_into().ok()?,
                signed: Vec::from_slice(signed).ok()?,
            },
            body_end,
        ))
    }

    /// Whether the MAC is right under `secret` (constant-time comparison).
    pub fn verify(&self, secret: &[u8; SECRET_SIZE]) -> bool {
        self.matches(&hmac_sha256(secret, &self.signed))
    }

    /// The bytes the MAC covers (header, body, key id and counter), for a MAC computed
    /// elsewhere.
    pub fn signed(&self) -> &[u8] {
        &self.signed
    }

    /// Whether the frame's MAC is the first [`MAC_SIZE`] bytes of `full`, the HMAC-SHA256 of
    /// [`Auth::signed`] under the named key's secret: every byte compared, whatever the first
    /// difference, so the time taken tells a forger nothing.
    pub fn matches(&self, full: &[u8; FULL_MAC_SIZE]) -> bool {
        let diff = self
            .mac
            .iter()
            .zip(full)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        core::hint::black_box(diff) == 0
    }
}

/// A line of a keys file, as `racksim serve --keys`, `rackctl --key-file` and a board's
/// provisioning read it: `ID ROLE SECRET`, the id 1 ..= 65535, the role `reader`, `operator` or
/// `maintenance`, the secret 64 hex digits. Blank lines and lines starting with `#` hold no key.
pub fn parse_key_line(line: &str) -> Result<Option<(Key, KeyRole)>, KeyLineError> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let mut words = line.split_whitespace();
    let (Some(id), Some(role), Some(secret), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return Err(KeyLineError::Shape);
    };
    let id = id
        .parse::<u16>()
        .ok()
        .filter(|id| *id != 0)
        .ok_or(KeyLineError::Id)?;
    let role = [KeyRole::Reader, KeyRole::Operator, KeyRole::Maintenance]
        .into_iter()
        .find(|r| r.name() == role)
        .ok_or(KeyLineError::Role)?;
    let digits = secret.as_bytes();
    if digits.len() != 2 * SECRET_SIZE {
        return Err(KeyLineError::Secret);
    }
    let mut out = [0u8; SECRET_SIZE];
    for (o, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let hex = |c: u8| (c as char).to_digit(16);
        let (Some(hi), Some(lo)) = (
            pair.first().copied().and_then(hex),
            pair.get(1).copied().and_then(hex),
        ) else {
            return Err(KeyLineError::Secret);
        };
        *o = u8::try_from(hi * 16 + lo).map_err(|_| KeyLineError::Secret)?;
    }
    Ok(Some((Key { id, secret: out }, role)))
}

/// What is wrong with a keys-file line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyLineError {
    /// Not three words.
    Shape,
    /// The id is not 1 ..= 65535.
    Id,
    /// The role is not one of the three.
    Role,
    /// The secret is not 64 hex digits.
    Secret,
}

impl core::fmt::Display for KeyLineError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            KeyLineError::Shape => "a key line is `ID ROLE SECRET` (three words)",
            KeyLineError::Id => "the key id must be 1 ..= 65535",
            KeyLineError::Role => "the role must be reader, operator or maintenance",
            KeyLineError::Secret => "the secret must be 64 hex digits (32 bytes)",
        })
    }
}

impl core::error::Error for KeyLineError {}

/// The truncated MAC of `signed` under `secret`.
pub fn mac(secret: &[u8; SECRET_SIZE], signed: &[u8]) -> [u8; MAC_SIZE] {
    let full = hmac_sha256(secret, signed);
    let mut out = [0u8; MAC_SIZE];
    for (o, b) in out.iter_mut().zip(full) {
        *o = b;
    }
    out
}

/// The whole HMAC-SHA256 of `message` under `secret` (what a bootloader offering the MAC to
/// its images computes).
pub fn hmac_sha256(secret: &[u8; SECRET_SIZE], message: &[u8]) -> [u8; FULL_MAC_SIZE] {
    let mut out = [0u8; FULL_MAC_SIZE];
    // HMAC takes a key of any length: this never fails.
    if let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret) {
        mac.update(message);
        for (o, b) in out.iter_mut().zip(mac.finalize().into_bytes()) {
            *o = b;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    extern crate std;
    use super::*;
    use std::borrow::ToOwned;
    use std::format;

    #[test]
    fn key_lines_are_read_and_bad_ones_named() {
        let line = "7 operator 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1F";
        let (key, role) = parse_key_line(line).unwrap().unwrap();
        assert_eq!((key.id, role), (7, KeyRole::Operator));
        assert_eq!(key.secret[31], 0x1f);
        assert_eq!(parse_key_line("  # a comment"), Ok(None));
        assert_eq!(parse_key_line(""), Ok(None));
        let secret = "00".repeat(32);
        let bad = [
            (format!("0 operator {secret}"), KeyLineError::Id),
            (format!("1 admin {secret}"), KeyLineError::Role),
            ("1 operator abcd".to_owned(), KeyLineError::Secret),
            (
                format!("1 operator {}zz", "00".repeat(31)),
                KeyLineError::Secret,
            ),
            ("1 operator".to_owned(), KeyLineError::Shape),
        ];
        for (line, error) in bad {
            assert_eq!(parse_key_line(&line), Err(error), "{line}");
        }
    }

    /// RFC 4231 test case 2 ("Jefe"), truncated to 128 bits as its test case 5 does.
    #[test]
    fn the_mac_is_hmac_sha256_truncated_as_rfc_4231_gives() {
        let mut secret = [0u8; SECRET_SIZE];
        secret[..4].copy_from_slice(b"Jefe");
        // HMAC pads a short key with zeros to the block size, so "Jefe" and "Jefe" + 28 zero
        // bytes are the same key.
        let tag = mac(&secret, b"what do ya want for nothing?");
        assert_eq!(
            tag,
            [
                0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24, 0x26, 0x08, 0x95,
                0x75, 0xc7
            ]
        );
    }

    #[test]
    fn the_whole_hmac_is_rfc_4231s_and_a_mac_matches_only_its_first_half() {
        let mut secret = [0u8; SECRET_SIZE];
        secret[..4].copy_from_slice(b"Jefe");
        let message = b"what do ya want for nothing?";
        let full = hmac_sha256(&secret, message);
        // RFC 4231, test case 2, HMAC-SHA-256.
        assert_eq!(
            full,
            [
                0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24, 0x26, 0x08, 0x95,
                0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9,
                0x64, 0xec, 0x38, 0x43
            ]
        );
        let auth = Auth {
            key_id: 1,
            counter: 1,
            mac: mac(&secret, message),
            signed: Vec::from_slice(message).unwrap(),
        };
        assert_eq!(auth.signed(), message);
        assert!(auth.verify(&secret));
        assert!(auth.matches(&full));
        // The half not on the wire is not compared; any bit of the other half is.
        let mut other_tail = full;
        other_tail[MAC_SIZE..].fill(0);
        assert!(auth.matches(&other_tail));
        for bit in 0..MAC_SIZE * 8 {
            let mut wrong = full;
            wrong[bit / 8] ^= 1 << (bit % 8);
            assert!(!auth.matches(&wrong), "bit {bit} flipped still matches");
        }
        let mut other = secret;
        other[0] ^= 1;
        assert!(!auth.verify(&other));
    }
}
