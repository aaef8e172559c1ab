//! The update path across a C call: what an image and a bootloader that keeps the update slot
//! for it (`boot-services`' update agent) pass each other, and the conversions to and from the
//! protocol's types.
//!
//! The two are built apart (a bootloader is flashed once; the images it starts are updated
//! for years after), so everything here is `#[repr(C)]`, made of integers, and of fixed
//! meaning: a code is never reused, new ones are only added. Reading a raw value never fails
//! and never panics: a code this build does not know reads as what the caller can still act
//! on (a refusal as `NotSupported`, a slot as empty, a boot as a good image).

use rack_protocol::image::{self, Board, Refusal as ImageRefusal};
use rack_protocol::message::{FirmwareProgress, FirmwareStatus};
use rack_protocol::types::{
    BootState, FirmwareVersion, Refusal as ProtoRefusal, UpdateProblem, UpdateSlotState,
};

use super::UpdateConfig;

/// A firmware version.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RawVersion {
    /// Incompatible changes.
    pub major: u8,
    /// Added features.
    pub minor: u8,
    /// Fixes.
    pub patch: u8,
}

impl From<FirmwareVersion> for RawVersion {
    fn from(v: FirmwareVersion) -> Self {
        Self {
            major: v.major,
            minor: v.minor,
            patch: v.patch,
        }
    }
}

impl From<RawVersion> for FirmwareVersion {
    fn from(v: RawVersion) -> Self {
        Self {
            major: v.major,
            minor: v.minor,
            patch: v.patch,
        }
    }
}

impl RawVersion {
    /// In one word (`major << 16 | minor << 8 | patch`), for a refusal's fields.
    pub const fn packed(self) -> u32 {
        (self.major as u32) << 16 | (self.minor as u32) << 8 | self.patch as u32
    }

    /// From [`RawVersion::packed`]'s word.
    #[allow(clippy::cast_possible_truncation)] // each byte taken alone
    pub const fn unpacked(word: u32) -> Self {
        Self {
            major: (word >> 16) as u8,
            minor: (word >> 8) as u8,
            patch: word as u8,
        }
    }
}

/// An image key the device trusts: its id and ed25519 public key.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawKey {
    /// The key id an image's header names.
    pub id: u8,
    /// The public key.
    pub key: [u8; image::PUBLIC_KEY_LEN],
}

/// What the image opens the update path with ([`UpdateConfig`]); the keys are `key_count`
/// [`RawKey`]s at `keys`, read during the call only.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RawConfig {
    /// The device kind's header code ([`image::kind_code`]).
    pub kind: u8,
    /// The board's header code ([`Board::code`]).
    pub board: u8,
    /// The running image's version.
    pub running: RawVersion,
    /// The oldest version the device takes.
    pub minimum: RawVersion,
    /// The trusted keys.
    pub keys: *const RawKey,
    /// How many.
    pub key_count: u32,
    /// The most binary the active slot holds, bytes.
    pub slot_len: u32,
    /// Control-loop seconds a swapped-in image runs healthy before it marks itself good.
    pub confirm_after_s: u16,
    /// Machine seconds after boot by which an image on trial must have marked itself good.
    pub trial_limit_s: u32,
}

impl RawConfig {
    /// `config` with its keys as `keys` (the caller's copy of `config.keys`, which must outlive
    /// the call it is passed to).
    pub fn new(config: &UpdateConfig, keys: &[RawKey]) -> Self {
        Self {
            kind: image::kind_code(config.kind),
            board: config.board.code(),
            running: config.running.into(),
            minimum: config.minimum.into(),
            keys: keys.as_ptr(),
            key_count: u32::try_from(keys.len()).unwrap_or(u32::MAX),
            slot_len: config.slot_len,
            confirm_after_s: config.confirm_after_s,
            trial_limit_s: config.trial_limit_s,
        }
    }

    /// The configuration, with `keys` (the bootloader's copy of the raw keys); `None` for a
    /// device kind or board this build does not know.
    pub fn config(
        &self,
        keys: &'static [(u8, [u8; image::PUBLIC_KEY_LEN])],
    ) -> Option<UpdateConfig> {
        Some(UpdateConfig {
            kind: image::kind_from_code(self.kind)?,
            board: Board::from_code(self.board)?,
            running: self.running.into(),
            minimum: self.minimum.into(),
            keys,
            slot_len: self.slot_len,
            confirm_after_s: self.confirm_after_s,
            trial_limit_s: self.trial_limit_s,
        })
    }
}

/// How far an update has come ([`FirmwareProgress`]).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RawProgress {
    /// The binary offset the device needs next.
    pub next_offset: u32,
    /// The binary's length, bytes (0 with no image begun).
    pub len: u32,
    /// 1 once the whole image is in and its signature checked out.
    pub verified: u8,
}

impl From<FirmwareProgress> for RawProgress {
    fn from(p: FirmwareProgress) -> Self {
        Self {
            next_offset: p.next_offset,
            len: p.len,
            verified: u8::from(p.verified),
        }
    }
}

impl From<RawProgress> for FirmwareProgress {
    fn from(p: RawProgress) -> Self {
        Self {
            next_offset: p.next_offset,
            len: p.len,
            verified: p.verified == 1,
        }
    }
}

/// The slots' state ([`FirmwareStatus`]).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RawStatus {
    /// The running image's version.
    pub running: RawVersion,
    /// How it booted: 0 a good image, 1 on trial, 2 put back after a failed trial.
    pub boot: u8,
    /// The update slot: 0 empty, 1 receiving, 2 verified, 3 the previous image.
    pub slot: u8,
    /// The slot's image's version (receiving, verified).
    pub slot_version: RawVersion,
    /// Binary bytes received (receiving).
    pub received: u32,
    /// The binary's length, bytes (receiving).
    pub len: u32,
    /// The oldest version the device takes.
    pub minimum: RawVersion,
    /// Seconds an image on trial must run healthy.
    pub confirm_after_s: u16,
    /// Seconds it has.
    pub healthy_s: u16,
}

impl From<&FirmwareStatus> for RawStatus {
    fn from(s: &FirmwareStatus) -> Self {
        let (slot, slot_version, received, len) = match s.slot {
            UpdateSlotState::Empty => (0, RawVersion::default(), 0, 0),
            UpdateSlotState::Receiving {
                version,
                received,
                len,
            } => (1, version.into(), received, len),
            UpdateSlotState::Verified { version } => (2, version.into(), 0, 0),
            UpdateSlotState::Previous => (3, RawVersion::default(), 0, 0),
        };
        Self {
            running: s.running.into(),
            boot: match s.boot {
                BootState::Confirmed => 0,
                BootState::Trial => 1,
                BootState::RolledBack => 2,
            },
            slot,
            slot_version,
            received,
            len,
            minimum: s.minimum.into(),
            confirm_after_s: s.confirm_after_s,
            healthy_s: s.healthy_s,
        }
    }
}

impl From<RawStatus> for FirmwareStatus {
    fn from(s: RawStatus) -> Self {
        Self {
            running: s.running.into(),
            boot: match s.boot {
                1 => BootState::Trial,
                2 => BootState::RolledBack,
                _ => BootState::Confirmed,
            },
            slot: match s.slot {
                1 => UpdateSlotState::Receiving {
                    version: s.slot_version.into(),
                    received: s.received,
                    len: s.len,
                },
                2 => UpdateSlotState::Verified {
                    version: s.slot_version.into(),
                },
                3 => UpdateSlotState::Previous,
                _ => UpdateSlotState::Empty,
            },
            minimum: s.minimum.into(),
            confirm_after_s: s.confirm_after_s,
            healthy_s: s.healthy_s,
        }
    }
}

/// A request's outcome: `code` 0 when it was carried out, else the refusal, its fields in `a`
/// and `b`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RawRefusal {
    /// What was refused (the codes below), 0 for nothing.
    pub code: u16,
    /// The refusal's first field.
    pub a: u32,
    /// Its second.
    pub b: u32,
}

impl RawRefusal {
    /// Carried out.
    pub const NONE: Self = Self {
        code: 0,
        a: 0,
        b: 0,
    };

    const fn of(code: u16, a: u32, b: u32) -> Self {
        Self { code, a, b }
    }

    /// `Ok(())` for [`RawRefusal::NONE`], else the refusal.
    pub fn result(self) -> Result<(), ProtoRefusal> {
        if self.code == 0 {
            Ok(())
        } else {
            Err(self.into())
        }
    }
}

impl From<ProtoRefusal> for RawRefusal {
    fn from(r: ProtoRefusal) -> Self {
        let of = Self::of;
        match r {
            ProtoRefusal::Image(i) => match i {
                ImageRefusal::Unsigned => of(1, 0, 0),
                ImageRefusal::Format(f) => of(2, u32::from(f), 0),
                ImageRefusal::Malformed => of(3, 0, 0),
                ImageRefusal::WrongKind { image, device } => of(
                    4,
                    u32::from(image::kind_code(image)),
                    u32::from(image::kind_code(device)),
                ),
                ImageRefusal::WrongBoard { image, device } => {
                    of(5, u32::from(image.code()), u32::from(device.code()))
                }
                ImageRefusal::Downgrade { image, minimum } => of(
                    6,
                    RawVersion::from(image).packed(),
                    RawVersion::from(minimum).packed(),
                ),
                ImageRefusal::TooLarge { len, slot } => of(7, len, slot),
                ImageRefusal::UnknownKey(id) => of(8, u32::from(id), 0),
                ImageRefusal::BadSignature => of(9, 0, 0),
                ImageRefusal::LengthMismatch { expected, got } => of(10, expected, got),
            },
            ProtoRefusal::Update(u) => match u {
                UpdateProblem::OutOfOrder { expected } => of(20, expected, 0),
                UpdateProblem::NotReceiving => of(21, 0, 0),
                UpdateProblem::NotVerified => of(22, 0, 0),
                UpdateProblem::TooLong => of(23, 0, 0),
                UpdateProblem::OnTrial => of(24, 0, 0),
                UpdateProblem::Flash => of(25, 0, 0),
            },
            // The update path refuses nothing else; anything else reads as not supported.
            _ => of(30, 0, 0),
        }
    }
}

impl From<RawRefusal> for ProtoRefusal {
    #[allow(clippy::cast_possible_truncation)] // fields a u8 was widened into, taken back
    fn from(r: RawRefusal) -> Self {
        let image = |i| ProtoRefusal::Image(i);
        let update = |u| ProtoRefusal::Update(u);
        let (a, b) = (r.a, r.b);
        match r.code {
            1 => image(ImageRefusal::Unsigned),
            2 => image(ImageRefusal::Format(a as u8)),
            3 => image(ImageRefusal::Malformed),
            4 => match (
                image::kind_from_code(a as u8),
                image::kind_from_code(b as u8),
            ) {
                (Some(image_kind), Some(device)) => image(ImageRefusal::WrongKind {
                    image: image_kind,
                    device,
                }),
                _ => image(ImageRefusal::Malformed),
            },
            5 => match (Board::from_code(a as u8), Board::from_code(b as u8)) {
                (Some(image_board), Some(device)) => image(ImageRefusal::WrongBoard {
                    image: image_board,
                    device,
                }),
                _ => image(ImageRefusal::Malformed),
            },
            6 => image(ImageRefusal::Downgrade {
                image: RawVersion::unpacked(a).into(),
                minimum: RawVersion::unpacked(b).into(),
            }),
            7 => image(ImageRefusal::TooLarge { len: a, slot: b }),
            8 => image(ImageRefusal::UnknownKey(a as u8)),
            9 => image(ImageRefusal::BadSignature),
            10 => image(ImageRefusal::LengthMismatch {
                expected: a,
                got: b,
            }),
            20 => update(UpdateProblem::OutOfOrder { expected: a }),
            21 => update(UpdateProblem::NotReceiving),
            22 => update(UpdateProblem::NotVerified),
            23 => update(UpdateProblem::TooLong),
            24 => update(UpdateProblem::OnTrial),
            25 => update(UpdateProblem::Flash),
            _ => ProtoRefusal::NotSupported,
        }
    }
}

/// How the image booted, as the update path's opening says: no event (a good image).
pub const BOOT_GOOD: u32 = 0;
/// Swapped in at this boot, on trial.
pub const BOOT_TRIAL: u32 = 1;
/// Put back after the image swapped in did not mark itself good.
pub const BOOT_ROLLED_BACK: u32 = 2;
/// The update path could not be opened (opened already, or its flash is missing).
pub const OPEN_FAILED: u32 = u32::MAX;
/// What [`super::Firmware::health`] says across the call: nothing.
pub const HEALTH_NOTHING: u32 = 0;
/// The image on trial has just marked itself good.
pub const HEALTH_CONFIRMED: u32 = 1;
