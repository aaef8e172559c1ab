//! Signed firmware images: what `cargo xtask firmware --sign KEY` writes, and what a device
//! checks before it lets an image into its update slot or swaps to it.
//!
//! An image is a 128-byte header followed by the board's binary (its flash contents from the
//! vector table on). All integers little-endian:
//!
//! | bytes    | field                                                                  |
//! |----------|------------------------------------------------------------------------|
//! | 0..4     | magic `RLFW`                                                           |
//! | 4        | header format (1)                                                      |
//! | 5        | device kind (0 coolant controller, 1 power controller: [`DeviceKind`]) |
//! | 6        | board ([`Board`])                                                      |
//! | 7        | signing key id                                                         |
//! | 8..11    | firmware version (major, minor, patch)                                 |
//! | 11       | zero                                                                   |
//! | 12..16   | binary length, bytes                                                   |
//! | 16..64   | zero (room for later fields; a reader of format 1 checks they are)     |
//! | 64..128  | ed25519 signature over bytes 0..64 and then the binary                 |
//!
//! The signature covers the header's fields as well as the binary: an image cannot be
//! relabelled for another kind, board or version without the key. A device holds the public
//! keys it trusts by id and its minimum version (anti-rollback): [`Expect`]. [`check`] reads a
//! header and refuses, with a typed [`Refusal`], what is not an image, another device's or
//! board's image, an older version than the minimum, or one too large for the slot, before a
//! byte of it is written; [`Verifier`] checks the signature over the binary as it arrives or
//! as it lies in flash, chunk by chunk, without holding it.
//!
//! Signing is host-side ([`sign`], behind the `image-sign` feature); the device only verifies.

use ed25519_compact::{PublicKey, Signature, VerifyingState};
use postcard::experimental::max_size::MaxSize;
use serde::{Deserialize, Serialize};

use crate::types::{DeviceKind, FirmwareVersion};

/// The header's length, bytes; the binary follows it.
pub const HEADER_LEN: usize = 128;
/// The first four bytes of every image.
pub const MAGIC: [u8; 4] = *b"RLFW";
/// The header format this code writes and reads.
pub const FORMAT: u8 = 1;
/// An ed25519 public key, bytes.
pub const PUBLIC_KEY_LEN: usize = 32;
/// The part of the header the signature covers (and that holds every field).
const SIGNED_LEN: usize = 64;

/// The board an image is built for.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, MaxSize)]
pub enum Board {
    /// QEMU's `mps2-an386` (Cortex-M4), the images CI runs.
    QemuMps2An386,
    /// ST's NUCLEO-G474RE.
    NucleoG474re,
}

impl Board {
    /// Every board, in code order.
    pub const ALL: [Board; 2] = [Board::QemuMps2An386, Board::NucleoG474re];

    /// Its code in the header.
    pub const fn code(self) -> u8 {
        match self {
            Board::QemuMps2An386 => 1,
            Board::NucleoG474re => 2,
        }
    }

    /// The board of header code `code`.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.code() == code)
    }

    /// Its name, as the board's folder under `firmware/boards/` has it.
    pub const fn name(self) -> &'static str {
        match self {
            Board::QemuMps2An386 => "qemu-mps2-an386",
            Board::NucleoG474re => "nucleo-g474re",
        }
    }
}

/// A device kind's code in the header.
pub const fn kind_code(kind: DeviceKind) -> u8 {
    match kind {
        DeviceKind::CoolantController => 0,
        DeviceKind::PowerController => 1,
    }
}

/// The device kind of header code `code`.
pub fn kind_from_code(code: u8) -> Option<DeviceKind> {
    match code {
        0 => Some(DeviceKind::CoolantController),
        1 => Some(DeviceKind::PowerController),
        _ => None,
    }
}

/// What an image's header says.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The controller it is for.
    pub kind: DeviceKind,
    /// The board it is for.
    pub board: Board,
    /// The key that signed it.
    pub key_id: u8,
    /// Its version.
    pub version: FirmwareVersion,
    /// The binary's length after the header, bytes.
    pub len: u32,
}

impl Header {
    /// The signed part of the header (bytes 0..64) for these fields.
    fn signed_bytes(&self) -> [u8; SIGNED_LEN] {
        let mut b = [0u8; SIGNED_LEN];
        let len = self.len.to_le_bytes();
        let fields = [
            MAGIC[0],
            MAGIC[1],
            MAGIC[2],
            MAGIC[3],
            FORMAT,
            kind_code(self.kind),
            self.board.code(),
            self.key_id,
            self.version.major,
            self.version.minor,
            self.version.patch,
            0,
            len[0],
            len[1],
            len[2],
            len[3],
        ];
        for (slot, v) in b.iter_mut().zip(fields) {
            *slot = v;
        }
        b
    }
}

/// What a device expects of an image.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'k> {
    /// The device's kind.
    pub kind: DeviceKind,
    /// The device's board.
    pub board: Board,
    /// The oldest version it takes (its anti-rollback floor).
    pub minimum: FirmwareVersion,
    /// The most binary its update slot holds, bytes.
    pub slot_len: u32,
    /// The public keys it trusts, by key id.
    pub keys: &'k [(u8, [u8; PUBLIC_KEY_LEN])],
}

/// Why a device refuses an image.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, MaxSize)]
pub enum Refusal {
    /// Shorter than a header, or without the magic: not a signed image (a raw binary).
    Unsigned,
    /// A header format this device does not read.
    Format(u8),
    /// A header with fields this format does not have (reserved bytes not zero, an unknown
    /// kind or board code).
    Malformed,
    /// An image for the other controller kind.
    WrongKind {
        /// What the image is for.
        image: DeviceKind,
        /// What this device is.
        device: DeviceKind,
    },
    /// An image for another board.
    WrongBoard {
        /// What the image is for.
        image: Board,
        /// What this device is.
        device: Board,
    },
    /// Older than the device's minimum version.
    Downgrade {
        /// The image's version.
        image: FirmwareVersion,
        /// The oldest the device takes.
        minimum: FirmwareVersion,
    },
    /// Larger than the update slot.
    TooLarge {
        /// The binary's length, bytes.
        len: u32,
        /// What the slot holds, bytes.
        slot: u32,
    },
    /// Signed by a key id the device does not trust.
    UnknownKey(u8),
    /// The signature does not match the header and binary (damaged, altered, or signed with
    /// another key under a trusted id).
    BadSignature,
    /// The binary is not as long as its header says.
    LengthMismatch {
        /// What the header says, bytes.
        expected: u32,
        /// What came, bytes.
        got: u32,
    },
}

impl core::fmt::Display for Refusal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let name = |k: &DeviceKind| match k {
            DeviceKind::CoolantController => "coolant controller",
            DeviceKind::PowerController => "power controller",
        };
        let v = |v: &FirmwareVersion| (v.major, v.minor, v.patch);
        match self {
            Refusal::Unsigned => write!(f, "not a signed image (no rackloop image header)"),
            Refusal::Format(n) => write!(f, "image header format {n}: this device reads {FORMAT}"),
            Refusal::Malformed => write!(f, "image header has fields this format does not have"),
            Refusal::WrongKind { image, device } => {
                write!(
                    f,
                    "image is for a {}, this is a {}",
                    name(image),
                    name(device)
                )
            }
            Refusal::WrongBoard { image, device } => {
                write!(
                    f,
                    "image is for {}, this is {}",
                    image.name(),
                    device.name()
                )
            }
            Refusal::Downgrade { image, minimum } => {
                let (a, b, c) = v(image);
                let (x, y, z) = v(minimum);
                write!(
                    f,
                    "image version {a}.{b}.{c} is below this device's minimum {x}.{y}.{z}"
                )
            }
            Refusal::TooLarge { len, slot } => {
                write!(
                    f,
                    "image binary of {len} B does not fit the {slot} B update slot"
                )
            }
            Refusal::UnknownKey(id) => write!(
                f,
                "image signed by key {id}, which this device does not trust"
            ),
            Refusal::BadSignature => write!(f, "image signature does not match its contents"),
            Refusal::LengthMismatch { expected, got } => {
                write!(f, "image binary is {got} B, its header says {expected} B")
            }
        }
    }
}

/// Reads an image's header from its first bytes (at least [`HEADER_LEN`]): its fields and its
/// signature, refused only for what no device could read (no header, another format, unknown
/// fields). [`check`] then holds it against the device.
pub fn parse(image: &[u8]) -> Result<(Header, [u8; 64]), Refusal> {
    let header: &[u8; HEADER_LEN] = image
        .get(..HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(Refusal::Unsigned)?;
    let (signed, signature) = header.split_at(SIGNED_LEN);
    let byte = |i: usize| signed.get(i).copied().unwrap_or(0);
    if signed.get(..4) != Some(&MAGIC[..]) {
        return Err(Refusal::Unsigned);
    }
    if byte(4) != FORMAT {
        return Err(Refusal::Format(byte(4)));
    }
    let reserved_zero =
        byte(11) == 0 && signed.get(16..).is_some_and(|r| r.iter().all(|b| *b == 0));
    let (Some(kind), Some(board), true) = (
        kind_from_code(byte(5)),
        Board::from_code(byte(6)),
        reserved_zero,
    ) else {
        return Err(Refusal::Malformed);
    };
    let h = Header {
        kind,
        board,
        key_id: byte(7),
        version: FirmwareVersion {
            major: byte(8),
            minor: byte(9),
            patch: byte(10),
        },
        len: u32::from_le_bytes([byte(12), byte(13), byte(14), byte(15)]),
    };
    let mut sig = [0u8; 64];
    for (s, b) in sig.iter_mut().zip(signature) {
        *s = *b;
    }
    Ok((h, sig))
}

/// Reads an image's header from its first bytes (at least [`HEADER_LEN`]) and checks it
/// against what the device expects: everything but the signature, which needs the binary
/// ([`Verifier`]). Returns the header and the signature.
pub fn check(image: &[u8], expect: &Expect<'_>) -> Result<(Header, [u8; 64]), Refusal> {
    let (h, sig) = parse(image)?;
    if h.kind != expect.kind {
        return Err(Refusal::WrongKind {
            image: h.kind,
            device: expect.kind,
        });
    }
    if h.board != expect.board {
        return Err(Refusal::WrongBoard {
            image: h.board,
            device: expect.board,
        });
    }
    let order = |v: FirmwareVersion| (v.major, v.minor, v.patch);
    if order(h.version) < order(expect.minimum) {
        return Err(Refusal::Downgrade {
            image: h.version,
            minimum: expect.minimum,
        });
    }
    if h.len > expect.slot_len {
        return Err(Refusal::TooLarge {
            len: h.len,
            slot: expect.slot_len,
        });
    }
    if !expect.keys.iter().any(|(id, _)| *id == h.key_id) {
        return Err(Refusal::UnknownKey(h.key_id));
    }
    Ok((h, sig))
}

/// Checks an image's signature over its binary, fed in chunks of any size, in order.
pub struct Verifier {
    state: Option<VerifyingState>,
    expected: u32,
    got: u32,
}

impl Verifier {
    /// A verifier for the image whose header [`check`] accepted: `header` and `signature` as it
    /// returned them, under the trusted key of the header's id in `expect`.
    pub fn new(
        header: &Header,
        signature: &[u8; 64],
        expect: &Expect<'_>,
    ) -> Result<Self, Refusal> {
        let key = expect
            .keys
            .iter()
            .find(|(id, _)| *id == header.key_id)
            .map(|(_, k)| *k)
            .ok_or(Refusal::UnknownKey(header.key_id))?;
        Self::with_key(header, signature, &key)
    }

    /// A verifier for `header` and `signature` (as [`parse`] returned them) under the public
    /// key `key`.
    pub fn with_key(
        header: &Header,
        signature: &[u8; 64],
        key: &[u8; PUBLIC_KEY_LEN],
    ) -> Result<Self, Refusal> {
        let key = PublicKey::new(*key);
        // A signature or key that cannot be one (a point not on the curve) verifies nothing.
        let mut state = key
            .verify_incremental(&Signature::new(*signature))
            .map_err(|_| Refusal::BadSignature)?;
        state.absorb(header.signed_bytes());
        Ok(Self {
            state: Some(state),
            expected: header.len,
            got: 0,
        })
    }

    /// The next bytes of the binary.
    pub fn absorb(&mut self, chunk: &[u8]) {
        let n = u32::try_from(chunk.len()).unwrap_or(u32::MAX);
        self.got = self.got.saturating_add(n);
        if let Some(s) = self.state.as_mut() {
            s.absorb(chunk);
        }
    }

    /// The binary's bytes so far.
    pub fn received(&self) -> u32 {
        self.got
    }

    /// The verdict once the whole binary has been fed.
    pub fn finish(self) -> Result<(), Refusal> {
        if self.got != self.expected {
            return Err(Refusal::LengthMismatch {
                expected: self.expected,
                got: self.got,
            });
        }
        self.state
            .ok_or(Refusal::BadSignature)?
            .verify()
            .map_err(|_| Refusal::BadSignature)
    }
}

/// Checks the binary of the image whose header is `head` under the public key `key`, read
/// in order a few hundred bytes at a time through `read(offset, buf)`: the image as it lies
/// in a device's flash, never held whole. A read that fails verifies nothing.
pub fn verify_from<E>(
    head: &[u8],
    key: &[u8; PUBLIC_KEY_LEN],
    mut read: impl FnMut(u32, &mut [u8]) -> Result<(), E>,
) -> Result<Header, Refusal> {
    const PIECE: u32 = 256;
    let (header, signature) = parse(head)?;
    let mut v = Verifier::with_key(&header, &signature, key)?;
    let mut buf = [0u8; PIECE as usize];
    let mut at = 0u32;
    while at < header.len {
        let n = (header.len - at).min(PIECE);
        let piece = buf.get_mut(..n as usize).ok_or(Refusal::BadSignature)?;
        read(at, piece).map_err(|_| Refusal::BadSignature)?;
        v.absorb(piece);
        at += n;
    }
    v.finish()?;
    Ok(header)
}

/// Checks a whole image held in memory (or memory-mapped flash): [`check`], then its signature.
pub fn verify(image: &[u8], expect: &Expect<'_>) -> Result<Header, Refusal> {
    let (header, signature) = check(image, expect)?;
    let mut v = Verifier::new(&header, &signature, expect)?;
    v.absorb(image.get(HEADER_LEN..).unwrap_or_default());
    v.finish()?;
    Ok(header)
}

/// Signs `binary` for `header` (its `len` is set from the binary) with the ed25519 key whose
/// 32-byte seed is `seed`: the image, header and binary (`None` past 4 GiB). Host-side only.
///
/// RFC 8032's deterministic signature over the whole message at once: the crate's
/// incremental signer draws its nonce from the seed and a noise alone, which without fresh
/// randomness would be the same nonce for every image, and that gives the key away.
#[cfg(feature = "image-sign")]
pub fn sign(mut header: Header, binary: &[u8], seed: &[u8; 32]) -> Option<alloc::vec::Vec<u8>> {
    use ed25519_compact::{KeyPair, Seed};
    header.len = u32::try_from(binary.len()).ok()?;
    let mut image = alloc::vec::Vec::with_capacity(HEADER_LEN + binary.len());
    image.extend_from_slice(&header.signed_bytes());
    image.extend_from_slice(binary);
    let signature = KeyPair::from_seed(Seed::new(*seed)).sk.sign(&image, None);
    let mut header_end = [0u8; HEADER_LEN - SIGNED_LEN];
    header_end.copy_from_slice(signature.as_ref());
    // Header, signature, binary.
    let tail = image.split_off(SIGNED_LEN);
    image.extend_from_slice(&header_end);
    image.extend_from_slice(&tail);
    Some(image)
}

/// The public key of the ed25519 key whose seed is `seed`. Host-side only.
#[cfg(feature = "image-sign")]
pub fn public_key(seed: &[u8; 32]) -> [u8; PUBLIC_KEY_LEN] {
    use ed25519_compact::{KeyPair, Seed};
    *KeyPair::from_seed(Seed::new(*seed)).pk
}

/// QEMU `mps2-an386`'s update layout, which its bootloader, its images and the host's
/// harness share. QEMU's code memory is RAM that QEMU writes again at every reset, so the
/// board's flash, which must keep what was written through a reset and a power cut, is a
/// file on the host that the firmware reaches through semihosting (`flash.bin` in QEMU's
/// working directory): the bootloader's state page, the active slot, and the update slot (a
/// page larger, for the swap), with the geometry of the STM32G4's flash (2 KiB pages,
/// 8-byte words). The bootloader runs from the code memory's start and loads the active slot
/// at [`qemu::APP_BASE`] to run it, where a chip with flash would run it in place.
pub mod qemu {
    /// A flash page (the unit of erase), bytes.
    pub const PAGE: u32 = 2048;
    /// A flash word (the unit of write), bytes.
    pub const WORD: u32 = 8;
    /// The bootloader's state page: offset and length in the flash file.
    pub const STATE: (u32, u32) = (0, PAGE);
    /// The active slot: offset and length.
    pub const ACTIVE: (u32, u32) = (PAGE, 64 * 1024);
    /// The update (DFU) slot: offset and length.
    pub const DFU: (u32, u32) = (PAGE + 64 * 1024, 64 * 1024 + PAGE);
    /// The flash file's length, bytes.
    pub const FLASH_LEN: u32 = DFU.0 + DFU.1;
    /// The flash file's name, in QEMU's working directory (NUL-terminated for semihosting).
    pub const FLASH_FILE: &[u8] = b"flash.bin\0";
    /// Where the bootloader loads the active slot to run it (the images are linked there).
    pub const APP_BASE: u32 = 0x0001_0000;

    /// Programs `flash` (the flash file's [`FLASH_LEN`] bytes) as a board leaves the factory:
    /// `binary` (an image's flash contents from its vector table on) in the active slot, the
    /// rest erased. Refused when the binary does not fit the slot or `flash` is not the file's
    /// length.
    pub fn program(flash: &mut [u8], binary: &[u8]) -> Result<(), super::Refusal> {
        let too_large = super::Refusal::TooLarge {
            len: u32::try_from(binary.len()).unwrap_or(u32::MAX),
            slot: ACTIVE.1,
        };
        if flash.len() != FLASH_LEN as usize {
            return Err(super::Refusal::LengthMismatch {
                expected: FLASH_LEN,
                got: u32::try_from(flash.len()).unwrap_or(u32::MAX),
            });
        }
        flash.fill(0xff);
        let start = ACTIVE.0 as usize;
        flash
            .get_mut(start..start + binary.len())
            .filter(|_| binary.len() <= ACTIVE.1 as usize)
            .ok_or(too_large)?
            .copy_from_slice(binary);
        Ok(())
    }
}

/// The STM32G474RE Nucleo's flash and RAM layout, which its bootloader (`embassy-boot-stm32`),
/// its images and `cargo xtask firmware` share (the boards' `memory.x` files say the same, and
/// `cargo xtask firmware` checks that they do). The chip runs in dual-bank mode (2 KiB pages,
/// 8-byte words, two 256 KiB banks): the bootloader and the active slot are in bank 1, where the
/// image runs in place; the update slot, the bootloader's state page and the settings are in bank
/// 2, so that writing them never stalls the running image's instruction fetches (the G4 reads
/// one bank while it writes the other). Offsets are from [`nucleo::FLASH_BASE`].
pub mod nucleo {
    /// Where the flash is mapped.
    pub const FLASH_BASE: u32 = 0x0800_0000;
    /// A flash page in dual-bank mode (the unit of erase), bytes.
    pub const PAGE: u32 = 2048;
    /// A flash word (the unit of write), bytes.
    pub const WORD: u32 = 8;
    /// The bootloader: offset and length.
    pub const BOOTLOADER: (u32, u32) = (0, 32 * 1024);
    /// The active slot, where the image runs: offset and length (the images are linked at
    /// [`FLASH_BASE`] + its offset).
    pub const ACTIVE: (u32, u32) = (BOOTLOADER.1, 64 * 1024);
    /// Bank 2's first byte.
    pub const BANK2: u32 = 256 * 1024;
    /// The update (DFU) slot: offset and length (a page more than the active slot, for the
    /// swap).
    pub const DFU: (u32, u32) = (BANK2, 64 * 1024 + PAGE);
    /// The bootloader's state page: offset and length.
    pub const STATE: (u32, u32) = (DFU.0 + DFU.1, PAGE);
    /// The settings store (`rack_node::settings`): the last 16 KiB of bank 2.
    pub const SETTINGS: (u32, u32) = (512 * 1024 - 16 * 1024, 16 * 1024);
    /// Where the RAM is mapped (SRAM1, SRAM2 and the CCM SRAM, 128 KiB in one run).
    pub const RAM_BASE: u32 = 0x2000_0000;
    /// The RAM's length, bytes.
    pub const RAM_LEN: u32 = 128 * 1024;
    /// The bootloader's RAM, the top 16 KiB, which the images leave alone (their RAM ends
    /// below it), so that nothing the bootloader does touches the record an image keeps in
    /// RAM through a reset: offset from [`RAM_BASE`] and length.
    pub const BOOT_RAM: (u32, u32) = (RAM_LEN - 16 * 1024, 16 * 1024);
    /// Where the bootloader leaves the address of its services for the image: the last 16
    /// bytes of its RAM, which its own `memory.x` leaves out.
    pub const SERVICES_AT: u32 = RAM_BASE + RAM_LEN - 16;
}
