//! Signed firmware images: an image signed by `image::sign` passes a device's checks, and
//! each thing a device must refuse is refused with its own reason, never a panic.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, missing_docs)]

use proptest::prelude::*;
use rack_protocol::image::{self, Board, Expect, HEADER_LEN, Header, Refusal};
use rack_protocol::types::{DeviceKind, FirmwareVersion};

const SEED: [u8; 32] = [7; 32];
const OTHER_SEED: [u8; 32] = [9; 32];

fn v(major: u8, minor: u8, patch: u8) -> FirmwareVersion {
    FirmwareVersion {
        major,
        minor,
        patch,
    }
}

fn header(kind: DeviceKind, board: Board, version: FirmwareVersion) -> Header {
    Header {
        kind,
        board,
        key_id: 1,
        version,
        len: 0,
    }
}

fn binary(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| u8::try_from(i * 31 % 251).unwrap())
        .collect()
}

/// An image of version 1.3.0 for `kind` on `board`, of `len` bytes, signed with `seed`.
fn signed(kind: DeviceKind, board: Board, len: usize, seed: &[u8; 32]) -> Vec<u8> {
    image::sign(header(kind, board, v(1, 3, 0)), &binary(len), seed).unwrap()
}

fn coolant_image(version: FirmwareVersion) -> Vec<u8> {
    image::sign(
        header(DeviceKind::CoolantController, Board::QemuMps2An386, version),
        &binary(5000),
        &SEED,
    )
    .unwrap()
}

/// A QEMU coolant controller at minimum version 1.2.0 with key 1.
fn with_keys<R>(f: impl FnOnce(&Expect<'_>) -> R) -> R {
    let keys = [(1, image::public_key(&SEED))];
    f(&Expect {
        kind: DeviceKind::CoolantController,
        board: Board::QemuMps2An386,
        minimum: v(1, 2, 0),
        slot_len: 64 * 1024,
        keys: &keys,
    })
}

#[test]
fn a_signed_image_passes_whole_and_in_chunks() {
    let img = coolant_image(v(1, 3, 0));
    assert_eq!(img.len(), HEADER_LEN + 5000);
    with_keys(|e| {
        let h = image::verify(&img, e).unwrap();
        assert_eq!((h.version, h.len), (v(1, 3, 0), 5000));
        let (h, sig) = image::check(&img, e).unwrap();
        let mut ver = image::Verifier::new(&h, &sig, e).unwrap();
        for chunk in img[HEADER_LEN..].chunks(333) {
            ver.absorb(chunk);
        }
        assert_eq!(ver.received(), 5000);
        ver.finish().unwrap();
    });
}

#[test]
fn the_same_version_as_the_minimum_is_taken_and_signing_is_deterministic() {
    let img = coolant_image(v(1, 2, 0));
    with_keys(|e| image::verify(&img, e)).unwrap();
    assert_eq!(img, coolant_image(v(1, 2, 0)));
}

#[test]
fn each_refusal_has_its_reason() {
    with_keys(|e| {
        // A raw binary, and a header cut short.
        assert_eq!(image::verify(&binary(5000), e), Err(Refusal::Unsigned));
        let img = coolant_image(v(1, 3, 0));
        assert_eq!(image::verify(&img[..100], e), Err(Refusal::Unsigned));
        // The other controller, the other board.
        let power = signed(DeviceKind::PowerController, Board::QemuMps2An386, 10, &SEED);
        assert_eq!(
            image::verify(&power, e),
            Err(Refusal::WrongKind {
                image: DeviceKind::PowerController,
                device: DeviceKind::CoolantController
            })
        );
        let nucleo = signed(
            DeviceKind::CoolantController,
            Board::NucleoG474re,
            10,
            &SEED,
        );
        assert_eq!(
            image::verify(&nucleo, e),
            Err(Refusal::WrongBoard {
                image: Board::NucleoG474re,
                device: Board::QemuMps2An386
            })
        );
        // Below the minimum.
        assert_eq!(
            image::verify(&coolant_image(v(1, 1, 9)), e),
            Err(Refusal::Downgrade {
                image: v(1, 1, 9),
                minimum: v(1, 2, 0)
            })
        );
        // Too large for the slot.
        let big = signed(
            DeviceKind::CoolantController,
            Board::QemuMps2An386,
            64 * 1024 + 1,
            &SEED,
        );
        assert_eq!(
            image::verify(&big, e),
            Err(Refusal::TooLarge {
                len: 64 * 1024 + 1,
                slot: 64 * 1024
            })
        );
        // A key id the device does not hold; another key under a trusted id.
        let mut unknown = header(
            DeviceKind::CoolantController,
            Board::QemuMps2An386,
            v(1, 3, 0),
        );
        unknown.key_id = 4;
        let img4 = image::sign(unknown, &binary(10), &SEED).unwrap();
        assert_eq!(image::verify(&img4, e), Err(Refusal::UnknownKey(4)));
        let forged = signed(
            DeviceKind::CoolantController,
            Board::QemuMps2An386,
            5000,
            &OTHER_SEED,
        );
        assert_eq!(image::verify(&forged, e), Err(Refusal::BadSignature));
        // Cut short, or with more than its header says.
        assert_eq!(
            image::verify(&img[..img.len() - 1], e),
            Err(Refusal::LengthMismatch {
                expected: 5000,
                got: 4999
            })
        );
        let mut longer = img.clone();
        longer.push(0);
        assert_eq!(
            image::verify(&longer, e),
            Err(Refusal::LengthMismatch {
                expected: 5000,
                got: 5001
            })
        );
        // A header of a later format; reserved bytes set.
        let mut later = img.clone();
        later[4] = 2;
        assert_eq!(image::verify(&later, e), Err(Refusal::Format(2)));
        let mut reserved = img.clone();
        reserved[40] = 1;
        assert_eq!(image::verify(&reserved, e), Err(Refusal::Malformed));
    });
}

#[test]
fn a_changed_byte_anywhere_breaks_the_signature() {
    let img = coolant_image(v(1, 3, 0));
    with_keys(|e| {
        // In the binary, in the signature, and a version raised to pass the floor.
        for at in [HEADER_LEN, HEADER_LEN + 2500, img.len() - 1, 64, 127] {
            let mut bad = img.clone();
            bad[at] ^= 0x01;
            assert_eq!(
                image::verify(&bad, e),
                Err(Refusal::BadSignature),
                "byte {at}"
            );
        }
        let mut relabelled = img.clone();
        relabelled[8] = 9;
        assert_eq!(image::verify(&relabelled, e), Err(Refusal::BadSignature));
    });
}

#[test]
fn refusals_read_as_what_is_wrong() {
    let text = Refusal::Downgrade {
        image: v(1, 1, 9),
        minimum: v(1, 2, 0),
    }
    .to_string();
    assert_eq!(
        text,
        "image version 1.1.9 is below this device's minimum 1.2.0"
    );
    assert!(Refusal::Unsigned.to_string().contains("not a signed image"));
    let text = Refusal::WrongBoard {
        image: Board::NucleoG474re,
        device: Board::QemuMps2An386,
    }
    .to_string();
    assert_eq!(text, "image is for nucleo-g474re, this is qemu-mps2-an386");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_bytes_are_refused_or_taken_never_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        with_keys(|e| {
            let mut with_magic = b"RLFW\x01\x00\x01\x01".to_vec();
            with_magic.extend_from_slice(&bytes);
            prop_assert!(image::verify(&bytes, e).is_err());
            prop_assert!(image::verify(&with_magic, e).is_err());
            Ok(())
        })?;
    }

    #[test]
    fn chunking_does_not_change_the_verdict(cuts in proptest::collection::vec(1usize..900, 1..20), flip in proptest::option::of(0usize..5000)) {
        let mut img = coolant_image(v(1, 3, 0));
        if let Some(at) = flip {
            img[HEADER_LEN + at] ^= 0x80;
        }
        with_keys(|e| {
            let whole = image::verify(&img, e).map(|_| ());
            let (h, sig) = image::check(&img, e).unwrap();
            let mut ver = image::Verifier::new(&h, &sig, e).unwrap();
            let mut rest = &img[HEADER_LEN..];
            for c in cuts.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (now, later) = rest.split_at((*c).min(rest.len()));
                ver.absorb(now);
                rest = later;
            }
            prop_assert_eq!(ver.finish(), whole);
            prop_assert_eq!(whole.is_ok(), flip.is_none());
            Ok(())
        })?;
    }
}

/// The Nucleo's layout holds what `embassy-boot` and the chip need: every region page-aligned,
/// inside the flash and apart from the others; the update slot a page larger than the active
/// slot; the state page large enough for the swap's progress (`embassy-boot` asks for
/// 2 + 4 words per page of the active slot); the bootloader and the running image in bank 1,
/// what is written while it runs in bank 2; the services word inside the bootloader's RAM.
#[test]
fn the_nucleo_layout_is_what_embassy_boot_and_the_chip_need() {
    use image::nucleo::*;
    let flash_len = 512 * 1024;
    let regions = [BOOTLOADER, ACTIVE, DFU, STATE, SETTINGS];
    for (i, (at, len)) in regions.iter().enumerate() {
        assert_eq!(at % PAGE, 0, "region {i} starts off a page");
        assert_eq!(len % PAGE, 0, "region {i} ends off a page");
        assert!(at + len <= flash_len, "region {i} past the flash");
        for (j, (bt, blen)) in regions.iter().enumerate().skip(i + 1) {
            assert!(
                at + len <= *bt || bt + blen <= *at,
                "regions {i} and {j} overlap"
            );
        }
    }
    assert_eq!(
        BOOTLOADER.0, 0,
        "the chip boots from the flash's first word"
    );
    assert!(DFU.1 >= ACTIVE.1 + PAGE);
    assert!(2 + 4 * (ACTIVE.1 / PAGE) <= STATE.1 / WORD);
    assert!(ACTIVE.0 + ACTIVE.1 <= BANK2);
    for (at, _) in [DFU, STATE, SETTINGS] {
        assert!(at >= BANK2);
    }
    assert_eq!(ACTIVE.1, 64 * 1024, "an image's budget is 64 KiB");
    let boot_ram = RAM_BASE + BOOT_RAM.0..RAM_BASE + BOOT_RAM.0 + BOOT_RAM.1;
    assert!(boot_ram.contains(&SERVICES_AT) && boot_ram.contains(&(SERVICES_AT + 3)));
    assert_eq!(BOOT_RAM.0 + BOOT_RAM.1, RAM_LEN);
}
