//! The update path across the C call between an image and the bootloader that keeps its update
//! slot: every refusal, slot state, boot state and progress the updater gives reads back as it
//! was; a code this build does not know reads as what an image can still act on; the
//! configuration crosses with its keys.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, missing_docs)]

use rack_node::update::UpdateConfig;
use rack_node::update::raw::{RawConfig, RawKey, RawProgress, RawRefusal, RawStatus};
use rack_protocol::image::{Board, Refusal as ImageRefusal};
use rack_protocol::message::{FirmwareProgress, FirmwareStatus};
use rack_protocol::types::{
    BootState, DeviceKind, FirmwareVersion, Refusal, UpdateProblem, UpdateSlotState,
};

const V: FirmwareVersion = FirmwareVersion {
    major: 1,
    minor: 254,
    patch: 7,
};
const OLDER: FirmwareVersion = FirmwareVersion {
    major: 0,
    minor: 3,
    patch: 255,
};

/// Every refusal the update path gives, with fields at their edges.
fn refusals() -> Vec<Refusal> {
    let mut image = vec![
        ImageRefusal::Unsigned,
        ImageRefusal::Format(0),
        ImageRefusal::Format(255),
        ImageRefusal::Malformed,
        ImageRefusal::Downgrade {
            image: OLDER,
            minimum: V,
        },
        ImageRefusal::TooLarge {
            len: u32::MAX,
            slot: 64 * 1024,
        },
        ImageRefusal::UnknownKey(0),
        ImageRefusal::UnknownKey(255),
        ImageRefusal::BadSignature,
        ImageRefusal::LengthMismatch {
            expected: 65_536,
            got: 1,
        },
    ];
    for (a, b) in [
        (DeviceKind::CoolantController, DeviceKind::PowerController),
        (DeviceKind::PowerController, DeviceKind::CoolantController),
    ] {
        image.push(ImageRefusal::WrongKind {
            image: a,
            device: b,
        });
    }
    for a in Board::ALL {
        for b in Board::ALL {
            image.push(ImageRefusal::WrongBoard {
                image: a,
                device: b,
            });
        }
    }
    let update = [
        UpdateProblem::OutOfOrder { expected: 0 },
        UpdateProblem::OutOfOrder { expected: u32::MAX },
        UpdateProblem::NotReceiving,
        UpdateProblem::NotVerified,
        UpdateProblem::TooLong,
        UpdateProblem::OnTrial,
        UpdateProblem::Flash,
    ];
    image
        .into_iter()
        .map(Refusal::Image)
        .chain(update.into_iter().map(Refusal::Update))
        .collect()
}

#[test]
fn every_refusal_of_the_update_path_crosses_as_it_was_and_success_as_none() {
    let all = refusals();
    for r in &all {
        let raw = RawRefusal::from(*r);
        assert_ne!(raw.code, 0, "{r:?} crossed as a success");
        assert_eq!(raw.result(), Err(*r));
    }
    // No two refusals share a raw form.
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            assert_ne!(
                RawRefusal::from(*a),
                RawRefusal::from(*b),
                "{a:?} and {b:?}"
            );
        }
    }
    assert_eq!(RawRefusal::NONE.result(), Ok(()));
}

#[test]
fn a_code_this_build_does_not_know_reads_as_not_supported_and_an_unknown_kind_as_malformed() {
    for code in [11, 19, 26, 30, 31, 1000, u16::MAX] {
        let raw = RawRefusal { code, a: 7, b: 9 };
        assert_eq!(raw.result(), Err(Refusal::NotSupported), "code {code}");
    }
    // A refusal the update path never gives crosses as not supported too.
    assert_eq!(
        RawRefusal::from(Refusal::NoSuchAlarm).result(),
        Err(Refusal::NotSupported)
    );
    // A kind or board code from a newer bootloader.
    for code in [4, 5] {
        let raw = RawRefusal { code, a: 200, b: 0 };
        assert_eq!(
            raw.result(),
            Err(Refusal::Image(ImageRefusal::Malformed)),
            "code {code}"
        );
    }
}

#[test]
fn every_slot_and_boot_state_crosses_as_it_was() {
    let slots = [
        UpdateSlotState::Empty,
        UpdateSlotState::Receiving {
            version: V,
            received: 128,
            len: u32::MAX,
        },
        UpdateSlotState::Verified { version: OLDER },
        UpdateSlotState::Previous,
    ];
    for slot in slots {
        for boot in [
            BootState::Confirmed,
            BootState::Trial,
            BootState::RolledBack,
        ] {
            let status = FirmwareStatus {
                running: V,
                boot,
                slot,
                minimum: OLDER,
                confirm_after_s: 3600,
                healthy_s: u16::MAX,
            };
            assert_eq!(FirmwareStatus::from(RawStatus::from(&status)), status);
        }
    }
    // Codes a newer bootloader might give: an empty slot, a good image.
    let unknown = RawStatus {
        boot: 9,
        slot: 9,
        ..RawStatus::default()
    };
    let status = FirmwareStatus::from(unknown);
    assert_eq!(status.boot, BootState::Confirmed);
    assert_eq!(status.slot, UpdateSlotState::Empty);
}

#[test]
fn progress_crosses_as_it_was() {
    for verified in [false, true] {
        let p = FirmwareProgress {
            next_offset: 53_200,
            len: 54_112,
            verified,
        };
        assert_eq!(FirmwareProgress::from(RawProgress::from(p)), p);
    }
}

#[test]
fn the_configuration_crosses_with_its_keys_and_an_unknown_board_is_none() {
    static KEYS: [(u8, [u8; 32]); 2] = [(1, [0xab; 32]), (7, [0x01; 32])];
    for kind in [DeviceKind::CoolantController, DeviceKind::PowerController] {
        for board in Board::ALL {
            let config = UpdateConfig {
                kind,
                board,
                running: V,
                minimum: OLDER,
                keys: &KEYS,
                slot_len: 64 * 1024,
                confirm_after_s: 30,
                trial_limit_s: 7200,
            };
            let raw_keys: Vec<RawKey> = KEYS.iter().map(|&(id, key)| RawKey { id, key }).collect();
            let raw = RawConfig::new(&config, &raw_keys);
            assert_eq!(raw.key_count, 2);
            let back = raw.config(&KEYS).unwrap();
            assert_eq!(back.kind, kind);
            assert_eq!(back.board, board);
            assert_eq!(back.running, V);
            assert_eq!(back.minimum, OLDER);
            assert_eq!(back.keys, &KEYS);
            assert_eq!(back.slot_len, 64 * 1024);
            assert_eq!(back.confirm_after_s, 30);
            assert_eq!(back.trial_limit_s, 7200);
        }
    }
    let config = UpdateConfig::for_board(DeviceKind::CoolantController, Board::NucleoG474re, 1024);
    let mut raw = RawConfig::new(&config, &[]);
    raw.board = 99;
    assert!(raw.config(&KEYS).is_none());
    raw.board = Board::NucleoG474re.code();
    raw.kind = 99;
    assert!(raw.config(&KEYS).is_none());
}
