//! What a signed request costs the Cortex-M4: decoding and checking a signed `SetSetpoint`
//! frame against decoding the same request unsigned, counted in instructions. The frames are
//! the protocol's golden vectors (a device build encodes no requests): version 3's, signed
//! with the golden test key, and version 1's, unsigned.
//!
//! Run by `cargo xtask mac-cost` in QEMU with `-icount shift=0` (the virtual clock advances
//! 1 ns per instruction). `SysTick`, clocked from the board's system clock, is read before and
//! after; a million `nop`s (two loops of calls that differ by 100 `nop`s each) calibrate ticks
//! to instructions, so the figure does not
//! depend on the board's clock rate.
#![no_std]
#![no_main]
// The calibration block is inline assembly.
#![allow(unsafe_code)]

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::entry;
use cortex_m_semihosting::hprintln;
use qemu_mps2_an386::exit;
use rack_protocol::frame;

/// Frames per measurement.
const FRAMES: u32 = 200;

/// `SysTick` ticks `f` takes (it counts down from its 24-bit reload).
fn ticks(f: impl FnOnce()) -> u32 {
    let start = cortex_m::peripheral::SYST::get_current();
    f();
    let end = cortex_m::peripheral::SYST::get_current();
    start.wrapping_sub(end) & 0x00FF_FFFF
}

/// A hundred `nop`s, out of line so that no literal pool has to reach across them.
#[inline(never)]
fn hundred_nops() {
    // SAFETY: nops only; no memory, no registers touched.
    unsafe { core::arch::asm!(".rept 100", "nop", ".endr", options(nomem, nostack)) };
}

/// Two hundred `nop`s, likewise.
#[inline(never)]
fn two_hundred_nops() {
    // SAFETY: nops only; no memory, no registers touched.
    unsafe { core::arch::asm!(".rept 200", "nop", ".endr", options(nomem, nostack)) };
}

#[entry]
fn main() -> ! {
    let Some(mut p) = cortex_m::Peripherals::take() else {
        exit(false)
    };
    p.SYST.set_clock_source(SystClkSource::Core);
    p.SYST.set_reload(0x00FF_FFFF);
    p.SYST.clear_current();
    p.SYST.enable_counter();

    // A million instructions: 10,000 calls of 200 nops less 10,000 calls of 100 (the calls
    // and the loop cancel out).
    let hundreds = ticks(|| {
        for _ in 0..10_000 {
            hundred_nops();
        }
    });
    let two_hundreds = ticks(|| {
        for _ in 0..10_000 {
            two_hundred_nops();
        }
    });
    let calibration = two_hundreds.saturating_sub(hundreds);

    // The golden test key: id 1, secret 0x00..=0x1f.
    let secret: [u8; 32] = core::array::from_fn(|i| u8::try_from(i).unwrap_or(0));
    let (signed, ns) = rack_protocol::golden::frame(
        include_str!("../../../../protocol/tests/golden/v3.txt"),
        "SetSetpoint",
    );
    let (plain, np) = rack_protocol::golden::frame(
        include_str!("../../../../protocol/tests/golden/v1.txt"),
        "SetSetpoint",
    );
    if ns == 0 || np == 0 {
        exit(false)
    }
    let mut good = 0u32;
    let unsigned_ticks = ticks(|| {
        for _ in 0..FRAMES {
            let f = frame::decode(core::hint::black_box(plain.get(..np).unwrap_or(&[])));
            good += u32::from(f.is_ok());
        }
    });
    let signed_ticks = ticks(|| {
        for _ in 0..FRAMES {
            let f = frame::decode(core::hint::black_box(signed.get(..ns).unwrap_or(&[])));
            let ok = f
                .ok()
                .and_then(|f| f.auth)
                .is_some_and(|a| a.verify(core::hint::black_box(&secret)));
            good += u32::from(ok);
        }
    });
    if good != 2 * FRAMES || calibration == 0 {
        exit(false)
    }
    // Instructions = ticks x (1e6 / calibration ticks).
    let per_frame = |t: u32| u64::from(t) * 1_000_000 / u64::from(calibration) / u64::from(FRAMES);
    hprintln!(
        "mac-cost: frame {} B unsigned, {} B signed; decode {} instructions, decode + verify {} instructions, the MAC {} instructions per frame",
        np,
        ns,
        per_frame(unsigned_ticks),
        per_frame(signed_ticks),
        per_frame(signed_ticks).saturating_sub(per_frame(unsigned_ticks))
    );
    exit(true)
}
