//! The update slot's receiver: a signed image in chunks of any size lands in flash byte for
//! byte and verifies there; a dropped link resumes from the offset the receiver gives; a
//! damaged image, a forged one and a wrong one are refused, and nothing they wrote can pass.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    missing_docs
)]

use rack_node::settings::RamFlash;
use rack_node::update::{Receiver, SlotState, UpdateError};
use rack_protocol::image::{self, Board, Expect, HEADER_LEN, Header, Refusal};
use rack_protocol::types::{DeviceKind, FirmwareVersion};

const SEED: [u8; 32] = [3; 32];
/// The slot: eight 2 KiB pages.
const SLOT: usize = 16 * 1024;

fn version() -> FirmwareVersion {
    FirmwareVersion {
        major: 0,
        minor: 2,
        patch: 0,
    }
}

fn signed(kind: DeviceKind, len: usize, seed: &[u8; 32]) -> Vec<u8> {
    let binary: Vec<u8> = (0..len)
        .map(|i| u8::try_from(i * 7 % 253).unwrap())
        .collect();
    let header = Header {
        kind,
        board: Board::QemuMps2An386,
        key_id: 1,
        version: version(),
        len: 0,
    };
    image::sign(header, &binary, seed).unwrap()
}

/// Runs `f` with a receiver over fresh (erased) flash and the coolant controller's
/// expectations.
fn with_slot<R>(f: impl FnOnce(&mut Receiver<RamFlash<'_>>, &Expect<'_>) -> R) -> R {
    let mut mem = vec![0xffu8; SLOT];
    let keys = [(1, image::public_key(&SEED))];
    let expect = Expect {
        kind: DeviceKind::CoolantController,
        board: Board::QemuMps2An386,
        minimum: version(),
        slot_len: 64 * 1024,
        keys: &keys,
    };
    let mut rx = Receiver::new(RamFlash::new(&mut mem));
    f(&mut rx, &expect)
}

/// The slot's first `n` bytes.
fn slot_bytes(rx: &mut Receiver<RamFlash<'_>>, n: usize) -> Vec<u8> {
    use embedded_storage::nor_flash::ReadNorFlash;
    let mut out = vec![0; n];
    rx.flash().read(0, &mut out).unwrap();
    out
}

#[test]
fn an_image_in_uneven_chunks_lands_byte_for_byte_and_verifies_in_flash() {
    let img = signed(DeviceKind::CoolantController, 9_999, &SEED);
    with_slot(|rx, e| {
        rx.begin(&img[..HEADER_LEN], e).unwrap();
        let binary = &img[HEADER_LEN..];
        let mut at = 0;
        for size in [1, 7, 333, 8, 1000].into_iter().cycle() {
            if at == binary.len() {
                break;
            }
            let end = (at + size).min(binary.len());
            let next = rx.chunk(at as u32, &binary[at..end]).unwrap();
            assert_eq!(next as usize, end);
            at = end;
        }
        let h = rx.verify(e).unwrap();
        assert_eq!((h.kind, h.len), (DeviceKind::CoolantController, 9_999));
        assert_eq!(rx.state(), SlotState::Verified(h));
        assert_eq!(slot_bytes(rx, img.len()), img);
    });
}

#[test]
fn a_dropped_link_resumes_from_the_offset_the_receiver_gives() {
    let img = signed(DeviceKind::CoolantController, 6_000, &SEED);
    let binary = &img[HEADER_LEN..];
    with_slot(|rx, e| {
        rx.begin(&img, e).unwrap();
        assert_eq!(rx.chunk(0, &binary[..2_500]).unwrap(), 2_500);
        // The answer was lost: the sender sends the last 500 again, then jumps a gap.
        assert_eq!(rx.chunk(2_000, &binary[2_000..2_500]).unwrap(), 2_500);
        assert_eq!(
            rx.chunk(3_000, &binary[3_000..4_000]),
            Err(UpdateError::OutOfOrder { expected: 2_500 })
        );
        // A chunk that overlaps what is here and goes on is taken from where it is needed.
        assert_eq!(rx.chunk(2_400, &binary[2_400..3_100]).unwrap(), 3_100);
        // Verifying early says where it is.
        assert_eq!(
            rx.verify(e),
            Err(UpdateError::OutOfOrder { expected: 3_100 })
        );
        let from = rx.next_offset() as usize;
        rx.chunk(from as u32, &binary[from..]).unwrap();
        rx.verify(e).unwrap();
        assert_eq!(slot_bytes(rx, img.len()), img);
    });
}

#[test]
fn a_damaged_or_forged_image_is_refused_and_its_header_erased() {
    let img = signed(DeviceKind::CoolantController, 4_000, &SEED);
    // A byte changed on the way (past the frame's check) or in flash.
    let mut damaged = img.clone();
    damaged[HEADER_LEN + 1_234] ^= 0x10;
    let forged = signed(DeviceKind::CoolantController, 4_000, &[4; 32]);
    for bad in [damaged, forged] {
        with_slot(|rx, e| {
            rx.begin(&bad, e).unwrap();
            rx.chunk(0, &bad[HEADER_LEN..]).unwrap();
            assert_eq!(
                rx.verify(e),
                Err(UpdateError::Refused(Refusal::BadSignature))
            );
            assert_eq!(rx.state(), SlotState::Empty);
            assert!(slot_bytes(rx, HEADER_LEN).iter().all(|b| *b == 0xff));
            // And the slot takes a good image after it.
            rx.begin(&img, e).unwrap();
            rx.chunk(0, &img[HEADER_LEN..]).unwrap();
            rx.verify(e).unwrap();
        });
    }
}

#[test]
fn a_wrong_image_is_refused_before_a_byte_is_written() {
    with_slot(|rx, e| {
        let power = signed(DeviceKind::PowerController, 100, &SEED);
        assert_eq!(
            rx.begin(&power, e),
            Err(UpdateError::Refused(Refusal::WrongKind {
                image: DeviceKind::PowerController,
                device: DeviceKind::CoolantController
            }))
        );
        assert_eq!(
            rx.begin(&[0u8; 300], e),
            Err(UpdateError::Refused(Refusal::Unsigned))
        );
        // Larger than this slot (16 KiB less the header), though the device's limit is 64 KiB.
        let big = signed(DeviceKind::CoolantController, SLOT, &SEED);
        assert_eq!(
            rx.begin(&big, e),
            Err(UpdateError::Refused(Refusal::TooLarge {
                len: SLOT as u32,
                slot: (SLOT - HEADER_LEN) as u32
            }))
        );
        assert!(slot_bytes(rx, SLOT).iter().all(|b| *b == 0xff));
        assert_eq!(rx.state(), SlotState::Empty);
    });
}

#[test]
fn chunks_without_an_image_or_past_its_end_are_refused() {
    let img = signed(DeviceKind::CoolantController, 100, &SEED);
    with_slot(|rx, e| {
        assert_eq!(rx.chunk(0, &[1, 2, 3]), Err(UpdateError::NotReceiving));
        assert_eq!(rx.verify(e), Err(UpdateError::NotReceiving));
        rx.begin(&img, e).unwrap();
        assert_eq!(rx.chunk(0, &[0; 101]), Err(UpdateError::TooLong));
        assert_eq!(rx.next_offset(), 0);
    });
}
