//! # rack-control
//!
//! The control laws, safety logic and state machines of rackloop's controllers, as
//! deterministic `step(now, &inputs) -> outputs` functions: no I/O, no clock reads, no
//! allocation, no panics. This crate depends on nothing of ours; the firmware node and the
//! simulator fill the same inputs and apply the same outputs.
//!
//! - [`coolant`]: the row's coolant distribution unit (CDU) controller.
//! - [`pid`]: the PID law both controllers build on (integral clamp, derivative on measurement,
//!   output slew limit, bumpless feed-forward changes).
//! - [`sensor`]: sensor validation (range, stale with worst-case projection, stuck, vote).
//! - [`alarm`]: delayed alarms with hysteresis, latching and acknowledgement.
//! - [`events`]: the event log ring with sequence numbers and an overflow count.
//!
//! All maths is `f32` through `libm`, so the host build and the ARM build compute the same
//! bits.
#![no_std]
#![cfg_attr(
    test,
    allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::float_cmp)
)]

pub mod alarm;
pub mod annunciator;
pub mod coolant;
pub mod events;
pub mod pid;
pub mod power;
pub mod sensor;

/// The square root: the FPU's `vsqrt.f32` on a target with hardware floating point (the
/// Cortex-M4F), libm's `sqrtf` elsewhere. Both are correctly rounded (IEEE 754), so host and
/// target agree bit for bit; libm's costs a 64 KiB image 464 B (its code and a 256-byte
/// table, measured on the Nucleo images) for what is one instruction.
pub fn sqrt(x: f32) -> f32 {
    #[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
    {
        let root: f32;
        // Through a core register and a named FPU register: Rust's `sreg` operands ask for a
        // `vfp2` target feature it does not report for the Cortex-M4F's single-precision FPU.
        // SAFETY: FPU instructions on registers only (s15 declared clobbered); no memory, no
        // stack, no flags.
        #[allow(unsafe_code)]
        unsafe {
            core::arch::asm!(
                "vmov s15, {x}",
                "vsqrt.f32 s15, s15",
                "vmov {root}, s15",
                x = in(reg) x,
                root = lateout(reg) root,
                out("s15") _,
                options(pure, nomem, nostack, preserves_flags)
            );
        }
        root
    }
    #[cfg(not(all(target_arch = "arm", target_abi = "eabihf")))]
    {
        libm::sqrtf(x)
    }
}

/// `base` to the power `exp` for `base >= 0`, as `exp(exp * ln base)`: within a few ULP of
/// libm's `powf`, whose general case (negative bases, exact integer powers, overflow
/// handling) these models never need and which costs 1.1 KiB of a 64 KiB image (measured on
/// the Nucleo coolant image). Host and target use the same libm, so they still agree bit
/// for bit. A base of 0 (or below) gives 0, or 1 for an exponent of 0, as `powf` does.
pub fn pow(base: f32, exp: f32) -> f32 {
    if base > 0.0 {
        libm::expf(exp * libm::logf(base))
    } else if exp == 0.0 {
        1.0
    } else {
        0.0
    }
}

/// The control period of both controllers, ms: boards, simulator and nodes call `step` this
/// often.
pub const CONTROL_PERIOD_MS: u32 = 100;

/// A point in time: milliseconds since the controller's clock started.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(pub u64);

impl Instant {
    /// Seconds from `earlier` to `self` (0 if `earlier` is later). Not inlined: the
    /// controllers call it from many places, and the inlined copies of its 64-bit subtraction
    /// and conversion cost the Nucleo coolant image 424 B of flash.
    #[inline(never)]
    pub fn secs_since(self, earlier: Instant) -> f32 {
        self.0.saturating_sub(earlier.0) as f32 / 1000.0
    }

    /// Milliseconds since the clock started.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// This instant plus `ms` milliseconds.
    #[must_use]
    pub const fn plus_millis(self, ms: u64) -> Instant {
        Instant(self.0.saturating_add(ms))
    }
}
