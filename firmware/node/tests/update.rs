//! The update slot's receiver: a signed image in chunks of any size lands in flash byte for
//! byte and verifies there; a dropped link resumes from the offset the receiver gives; a
//! damaged image, a forged one and a wrong one are refused, and nothing they wrote can pass.
//! The updater over the bootloader's state page: a swap is marked as `embassy-boot` reads
//! it, an image on trial refuses to overwrite the one it would roll back to and marks itself
//! good only after its control loop has been healthy long enough, and one put back by the
//! bootloader says so.
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

/// What the coolant controller on QEMU expects of an image, trusting `keys`.
fn coolant_expect(keys: &[(u8, [u8; 32])]) -> Expect<'_> {
    Expect {
        kind: DeviceKind::CoolantController,
        board: Board::QemuMps2An386,
        minimum: version(),
        slot_len: 64 * 1024,
        keys,
    }
}

/// Runs `f` with a receiver over fresh (erased) flash and the coolant controller's
/// expectations.
fn with_slot<R>(f: impl FnOnce(&mut Receiver<RamFlash<'_>>, &Expect<'_>) -> R) -> R {
    let mut mem = vec![0xffu8; SLOT];
    let keys = [(1, image::public_key(&SEED))];
    let expect = coolant_expect(&keys);
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
        // The binary from the slot's first byte, as the bootloader swaps it in.
        assert_eq!(slot_bytes(rx, binary.len()), binary);
    });
}

/// A NOR flash that notes every erase it is asked for.
struct NotingErases<'a> {
    flash: RamFlash<'a>,
    erases: Vec<(u32, u32)>,
}

impl embedded_storage::nor_flash::ErrorType for NotingErases<'_> {
    type Error = <RamFlash<'static> as embedded_storage::nor_flash::ErrorType>::Error;
}

impl embedded_storage::nor_flash::ReadNorFlash for NotingErases<'_> {
    const READ_SIZE: usize = 1;
    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        self.flash.read(offset, bytes)
    }
    fn capacity(&self) -> usize {
        self.flash.capacity()
    }
}

impl embedded_storage::nor_flash::NorFlash for NotingErases<'_> {
    const WRITE_SIZE: usize = RamFlash::WRITE_SIZE;
    const ERASE_SIZE: usize = RamFlash::ERASE_SIZE;
    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        self.erases.push((from, to));
        self.flash.erase(from, to)
    }
    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        self.flash.write(offset, bytes)
    }
}

#[test]
fn each_page_is_erased_alone_just_before_the_binary_reaches_it_over_an_older_image() {
    use embedded_storage::nor_flash::NorFlash;
    let img = signed(DeviceKind::CoolantController, 9_000, &SEED);
    let binary = &img[HEADER_LEN..];
    // The slot holds an older image's bytes (bits a write alone could not set).
    let mut mem: Vec<u8> = (0..SLOT).map(|i| (i * 13 % 256) as u8).collect();
    let keys = [(1, image::public_key(&SEED))];
    let e = coolant_expect(&keys);
    let mut rx = Receiver::new(NotingErases {
        flash: RamFlash::new(&mut mem),
        erases: Vec::new(),
    });
    rx.begin(&img, &e).unwrap();
    // The header checked: nothing erased yet (a refused image costs no erase).
    assert!(rx.flash().erases.is_empty());
    let page = RamFlash::ERASE_SIZE;
    for (i, chunk) in binary.chunks(128).enumerate() {
        let at = i * 128;
        rx.chunk(at as u32, chunk).unwrap();
        // Erased: exactly the pages whole words of the binary have reached, one erase each.
        let written_to = (at + chunk.len()) / 8 * 8;
        let expected: Vec<(u32, u32)> = (0..written_to.div_ceil(page))
            .map(|p| ((p * page) as u32, ((p + 1) * page) as u32))
            .collect();
        assert_eq!(rx.flash().erases, expected, "after the chunk at {at}");
    }
    let h = rx.verify(&e).unwrap();
    assert_eq!(h.len, 9_000);
    assert_eq!(rx.flash().erases.len(), 9_000_usize.div_ceil(page));
    use embedded_storage::nor_flash::ReadNorFlash;
    let mut back = vec![0; binary.len()];
    rx.flash().read(0, &mut back).unwrap();
    assert_eq!(back, binary);
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
        assert_eq!(slot_bytes(rx, binary.len()), binary);
    });
}

#[test]
fn a_damaged_or_forged_image_is_refused_and_its_first_page_erased() {
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
            // Its vector table is gone: nothing could boot what is left.
            assert!(slot_bytes(rx, 2048).iter().all(|b| *b == 0xff));
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
        // Larger than this slot (16 KiB), though the device's limit is 64 KiB.
        let big = signed(DeviceKind::CoolantController, SLOT + 1, &SEED);
        assert_eq!(
            rx.begin(&big, e),
            Err(UpdateError::Refused(Refusal::TooLarge {
                len: SLOT as u32 + 1,
                slot: SLOT as u32
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

mod updater {
    use super::*;
    use embassy_boot::{BootLoader, BootLoaderConfig};
    use rack_control::Instant;
    use rack_node::update::{Firmware, UpdateConfig, Updater};
    use rack_protocol::types::{
        BootState, EventKind, FirmwareStep, Refusal as ProtoRefusal, UpdateProblem, UpdateSlotState,
    };

    const PAGE: usize = 2048;
    const ACTIVE: usize = 8 * PAGE;

    /// A board's flash: the active slot, the update slot (a page larger, for the swap) and
    /// the bootloader's state page.
    struct Board {
        active: Vec<u8>,
        dfu: Vec<u8>,
        state: Vec<u8>,
    }

    impl Board {
        /// Programmed at the factory with `old` in the active slot.
        fn new(old: &[u8]) -> Self {
            let mut active = vec![0xff; ACTIVE];
            active[..old.len()].copy_from_slice(old);
            Self {
                active,
                dfu: vec![0xff; ACTIVE + PAGE],
                state: vec![0xff; PAGE],
            }
        }

        /// The bootloader's run at reset (`embassy-boot`'s own code over this flash).
        fn reset(&mut self) -> embassy_boot::State {
            let mut bl = BootLoader::new(BootLoaderConfig {
                active: RamFlash::new(&mut self.active),
                dfu: RamFlash::new(&mut self.dfu),
                state: RamFlash::new(&mut self.state),
            });
            bl.prepare_boot(&mut [0u8; 8]).unwrap()
        }

        /// The image's update path after a boot.
        fn updater(
            &mut self,
            running: FirmwareVersion,
        ) -> (Updater<RamFlash<'_>, RamFlash<'_>>, Option<EventKind>) {
            static KEYS: std::sync::OnceLock<[(u8, [u8; 32]); 1]> = std::sync::OnceLock::new();
            let keys = KEYS.get_or_init(|| [(1, image::public_key(&SEED))]);
            Updater::new(
                RamFlash::new(&mut self.dfu),
                RamFlash::new(&mut self.state),
                UpdateConfig {
                    kind: DeviceKind::CoolantController,
                    board: rack_protocol::image::Board::QemuMps2An386,
                    running,
                    minimum: version(),
                    keys,
                    slot_len: ACTIVE as u32,
                    confirm_after_s: 30,
                    trial_limit_s: 120,
                },
            )
        }
    }

    fn v(minor: u8) -> FirmwareVersion {
        FirmwareVersion {
            major: 0,
            minor,
            patch: 0,
        }
    }

    /// Sends `img` through the update path in 128-byte chunks, as `rackctl` does.
    fn send(u: &mut impl Firmware, img: &[u8]) {
        u.begin(&img[..HEADER_LEN]).unwrap();
        let binary = &img[HEADER_LEN..];
        let mut last = None;
        for (i, c) in binary.chunks(128).enumerate() {
            last = Some(u.chunk((i * 128) as u32, c).unwrap());
        }
        let last = last.unwrap();
        assert!(last.verified);
        assert_eq!(last.next_offset as usize, binary.len());
    }

    #[test]
    fn a_swapped_image_runs_on_trial_and_marks_itself_good_only_after_running_healthy() {
        let old = vec![0x11u8; 5_000];
        let new = signed(DeviceKind::CoolantController, 7_000, &SEED);
        let mut board = Board::new(&old);
        assert_eq!(board.reset(), embassy_boot::State::Boot);
        {
            let (mut u, event) = board.updater(v(2));
            assert_eq!(event, None);
            assert_eq!(u.status().boot, BootState::Confirmed);
            // Swapping without a verified image is refused.
            assert_eq!(
                u.swap(),
                Err(ProtoRefusal::Update(UpdateProblem::NotVerified))
            );
            send(&mut u, &new);
            assert_eq!(
                u.status().slot,
                UpdateSlotState::Verified { version: version() }
            );
            assert!(!u.reset_due(0));
            assert_eq!(u.swap(), Ok(version()));
            assert!(u.reset_due(0), "the board resets to swap");
        }
        assert_eq!(board.reset(), embassy_boot::State::Swap);
        assert_eq!(&board.active[..7_000], &new[HEADER_LEN..]);
        let (mut u, event) = board.updater(version());
        assert_eq!(
            event,
            Some(EventKind::Firmware {
                step: FirmwareStep::Trial,
                version: version()
            })
        );
        assert_eq!(u.status().slot, UpdateSlotState::Previous);
        // On trial, the update slot is the way back: no new image may overwrite it.
        assert_eq!(
            u.begin(&new[..HEADER_LEN]),
            Err(ProtoRefusal::Update(UpdateProblem::OnTrial))
        );
        // Healthy 20 s, a stall, then healthy again: the count starts over.
        for s in 0..=20 {
            assert_eq!(u.health(Instant(s * 1000), true), None);
        }
        assert_eq!(u.health(Instant(21_000), false), None);
        for s in 22..52 {
            assert_eq!(u.health(Instant(s * 1000), true), None, "at {s} s");
        }
        assert_eq!(u.status().healthy_s, 29);
        assert_eq!(
            u.health(Instant(52_000), true),
            Some(EventKind::Firmware {
                step: FirmwareStep::Confirmed,
                version: version()
            })
        );
        assert_eq!(u.status().boot, BootState::Confirmed);
        assert!(!u.reset_due(1_000_000), "a good image never resets itself");
        drop(u);
        // Good: the next reset boots it again.
        assert_eq!(board.reset(), embassy_boot::State::Boot);
        assert_eq!(&board.active[..7_000], &new[HEADER_LEN..]);
    }

    #[test]
    fn an_image_that_never_runs_healthy_is_swapped_back_at_the_next_reset() {
        let old = vec![0x22u8; 3_000];
        let new = signed(DeviceKind::CoolantController, 6_000, &SEED);
        let mut board = Board::new(&old);
        board.reset();
        {
            let (mut u, _) = board.updater(v(2));
            send(&mut u, &new);
            u.swap().unwrap();
        }
        assert_eq!(board.reset(), embassy_boot::State::Swap);
        {
            let (mut u, _) = board.updater(version());
            for s in 0..100 {
                assert_eq!(u.health(Instant(s * 1000), false), None);
            }
            assert!(!u.reset_due(119_000));
            assert!(
                u.reset_due(121_000),
                "past its trial limit the board resets"
            );
        }
        // The bootloader puts the previous image back; it says so and is good again.
        assert_eq!(board.reset(), embassy_boot::State::Swap);
        assert_eq!(&board.active[..3_000], &old[..]);
        let (u, event) = board.updater(v(2));
        assert_eq!(
            event,
            Some(EventKind::Firmware {
                step: FirmwareStep::RolledBack,
                version: v(2)
            })
        );
        assert_eq!(u.boot(), BootState::RolledBack);
        drop(u);
        assert_eq!(board.reset(), embassy_boot::State::Boot);
        assert_eq!(&board.active[..3_000], &old[..]);
    }
}

/// How long an image is on trial, as a build sets it: the defaults, a longer trial, and each
/// wrong setting refused with what is allowed.
mod trial_times {
    use rack_node::trial::{TrialError, trial_times};

    #[test]
    fn unset_gives_thirty_seconds_and_a_ninety_second_limit() {
        assert_eq!(trial_times(None, None), Ok((30, 90)));
    }

    #[test]
    fn a_longer_confirm_time_moves_the_default_limit_with_it() {
        assert_eq!(trial_times(Some("600"), None), Ok((600, 660)));
        assert_eq!(trial_times(Some(" 10 "), Some("40")), Ok((10, 40)));
        assert_eq!(trial_times(None, Some("7200")), Ok((30, 7200)));
    }

    #[test]
    fn wrong_settings_are_refused_with_what_is_allowed() {
        assert_eq!(trial_times(Some("30s"), None), Err(TrialError::NotSeconds));
        assert_eq!(trial_times(Some("-5"), None), Err(TrialError::NotSeconds));
        assert_eq!(
            trial_times(Some("4"), None),
            Err(TrialError::ConfirmOutOfRange(4))
        );
        assert_eq!(
            trial_times(Some("70000"), None),
            Err(TrialError::ConfirmOutOfRange(70_000))
        );
        let short = trial_times(Some("60"), Some("80"));
        assert_eq!(
            short,
            Err(TrialError::LimitOutOfRange {
                limit: 80,
                confirm: 60
            })
        );
        assert_eq!(
            short.unwrap_err().to_string(),
            "trial limit 80 s: 90 to 7200 s allowed with a confirm time of 60 s"
        );
        assert_eq!(
            TrialError::ConfirmOutOfRange(4).to_string(),
            "confirm time 4 s: 5 to 3600 s allowed"
        );
        assert!(trial_times(None, Some("9000")).is_err());
    }

    #[test]
    fn the_build_compiled_in_what_its_variables_say() {
        assert_eq!(
            Ok((
                rack_node::update::CONFIRM_AFTER_S,
                rack_node::update::TRIAL_LIMIT_S
            )),
            trial_times(
                option_env!("RACKLOOP_CONFIRM_AFTER_S"),
                option_env!("RACKLOOP_TRIAL_LIMIT_S")
            )
        );
    }
}
