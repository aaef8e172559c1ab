//! Trays as bit masks (a bit per tray) and the comparisons the per-tray loops use.

use crate::Instant;

use super::{Annunciator, PowerConfig, PowerEvent, PowerReason, TRAYS};

/// The larger of `a` and `b`; `b` if `a` is NaN, as `f32::max` where `b` is not NaN.
///
/// The per-tray loops use these rather than `f32::max`/`min`: on x86 the NaN handling of those
/// costs a compare and a blend on top of `maxss` (a seventh of the step's instructions), and on
/// the Cortex-M4F they are calls to `fmaxf`/`fminf`. Every use has a `b` that is not NaN, and
/// where the sign of a zero result could differ, it cannot change what the step computes from it
/// (noted at each).
pub(super) fn max(a: f32, b: f32) -> f32 {
    if a > b { a } else { b }
}

/// The smaller of `a` and `b`; `b` if `a` is NaN, as `f32::min` where `b` is not NaN.
pub(super) fn min(a: f32, b: f32) -> f32 {
    if a < b { a } else { b }
}

/// The trays whose `values` entry passes `test`, a bit per tray.
pub(super) fn mask_where<T: Copy>(values: &[T; TRAYS], test: impl Fn(T) -> bool) -> u32 {
    values
        .iter()
        .enumerate()
        .fold(0, |m, (t, v)| m | (u32::from(test(*v)) << t))
}

/// The fitted trays at each priority level in use (a bit per tray), highest level first, and
/// how many levels are in use.
pub(super) fn priority_groups(config: &PowerConfig) -> ([u32; TRAYS], usize) {
    // At most TRAYS (< 32) trays: the shift cannot overflow.
    let mut left = (1u32 << config.trays.min(TRAYS)) - 1;
    let mut groups = [0u32; TRAYS];
    let mut len = 0;
    // The highest level among the trays not yet grouped, and its trays, until none is left.
    while let Some(level) = bits(left)
        .filter_map(|t| config.tray_priority.get(t).copied())
        .max()
    {
        let trays = mask_where(&config.tray_priority, |p| p == level) & left;
        if let Some(g) = groups.get_mut(len) {
            *g = trays;
            len += 1;
        }
        left &= !trays;
    }
    (groups, len)
}

/// The trays in a mask, lowest first.
pub(super) fn bits(mut mask: u32) -> impl Iterator<Item = usize> {
    core::iter::from_fn(move || {
        (mask != 0).then(|| {
            let t = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            t
        })
    })
}

/// The trays shed (for the breaker, a fault, an isolation or a technician) and when the last
/// one was.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Shed {
    shed: [bool; TRAYS],
    /// When the last tray was shed (sheds are spaced).
    pub last_at: Option<Instant>,
}

impl Shed {
    /// Nothing shed.
    pub const fn new() -> Self {
        Self {
            shed: [false; TRAYS],
            last_at: None,
        }
    }

    /// Sheds tray `t` if it is on, logging `reason`.
    pub fn shed(
        &mut self,
        now: Instant,
        t: usize,
        reason: PowerReason,
        tray_enable: &mut [bool; TRAYS],
        annunciator: &mut Annunciator,
    ) {
        if let (Some(e), Some(s)) = (tray_enable.get_mut(t), self.shed.get_mut(t))
            && *e
        {
            *e = false;
            *s = true;
            self.last_at = Some(now);
            #[allow(clippy::cast_possible_truncation)] // < TRAYS
            annunciator.log(
                now,
                PowerEvent::TrayChanged {
                    tray: t as u8,
                    enabled: false,
                    reason,
                },
            );
        }
    }

    /// Tray `t` is on again (a technician enabled it).
    pub fn restore(&mut self, t: usize) {
        if let Some(s) = self.shed.get_mut(t) {
            *s = false;
        }
    }

    /// The shed trays, a bit per tray.
    pub fn mask(&self) -> u32 {
        mask_where(&self.shed, |s| s)
    }
}

/// The enabled tray of the lowest priority (the last such tray at a tie), if any.
pub(super) fn lowest_priority_enabled(
    config: &PowerConfig,
    tray_enable: &[bool; TRAYS],
) -> Option<usize> {
    (0..config.trays)
        .rev()
        .filter(|&t| tray_enable.get(t).copied().unwrap_or(false))
        .min_by_key(|&t| config.tray_priority.get(t).copied().unwrap_or(0))
}
