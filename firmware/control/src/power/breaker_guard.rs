//! The feed breaker's guard: the breaker's thermal (I2t) state modelled from the measured
//! current (it heats above rated current and cools below, in fractions of trip), and before it
//! could trip the lowest-priority tray is shed, one every 0.5 s at most; a tray drawing more
//! than `tray_fault_ratio` x its cap for `tray_fault_s` is shed as faulted.

use crate::Instant;

use super::trays::{Shed, bits, lowest_priority_enabled, max};
use super::{Annunciator, PowerConfig, PowerInputs, PowerOutputs, PowerReason, TRAYS};

/// What the guard asks of the state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BreakerAction {
    /// Nothing.
    None,
    /// Shed tray `t` now for the breaker (enter `Shedding`).
    Shed(usize),
    /// The current is back under rating (leave `Shedding`).
    Relieved,
}

/// The breaker's modelled state and the trays' over-cap timers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct BreakerGuard {
    /// Modelled thermal state, fraction of trip.
    pub thermal: f32,
    over_cap_since: [Option<Instant>; TRAYS],
}

impl BreakerGuard {
    /// A cold breaker.
    pub const fn new() -> Self {
        Self {
            thermal: 0.0,
            over_cap_since: [None; TRAYS],
        }
    }

    /// Models the breaker, sheds faulted trays, and says whether to shed for the breaker.
    /// `shedding`: the controller is `Shedding` now.
    #[allow(clippy::too_many_arguments)] // the step's inputs, each from its own part
    pub fn step(
        &mut self,
        now: Instant,
        inputs: &PowerInputs,
        config: &PowerConfig,
        dt: f32,
        shedding: bool,
        shed: &mut Shed,
        outputs: &mut PowerOutputs,
        annunciator: &mut Annunciator,
    ) -> BreakerAction {
        let c = config;
        let ratio = inputs.feed_current_a / c.breaker_rated_a;
        // Heats above rated current, cools below, in units of "fraction of trip".
        self.thermal = (self.thermal + (ratio * ratio - 1.0) * dt / c.breaker_k_s).max(0.0);

        // A tray far above its cap is faulted: shed it. The trays to shed are gathered and shed
        // after the pass, in tray order: shedding one changes no later tray's test. Every slot
        // is walked (a fixed count, so the compiler checks no bounds): a tray past
        // `config.trays` is never enabled and never timed.
        let mut faulted = 0u32;
        for t in 0..TRAYS {
            let (Some(power), Some(cap), Some(enabled), Some(since)) = (
                inputs.tray_power_w.get(t),
                outputs.tray_cap_w.get(t),
                outputs.tray_enable.get(t),
                self.over_cap_since.get_mut(t),
            ) else {
                continue;
            };
            // (A zero's sign cannot change the comparison.)
            if *enabled && *power > c.tray_fault_ratio * max(*cap, c.tray_floor_w) {
                let at = *since.get_or_insert(now);
                if now.secs_since(at) >= c.tray_fault_s {
                    *since = None;
                    faulted |= 1 << t;
                }
            } else {
                *since = None;
            }
        }
        for t in bits(faulted) {
            shed.shed(
                now,
                t,
                PowerReason::TrayFault,
                &mut outputs.tray_enable,
                annunciator,
            );
        }

        let interval_ok = shed.last_at.is_none_or(|at| now.secs_since(at) >= 0.5);
        if self.thermal >= c.breaker_shed_at && ratio > 1.0 && interval_ok {
            lowest_priority_enabled(c, &outputs.tray_enable)
                .map_or(BreakerAction::None, BreakerAction::Shed)
        } else if shedding && ratio < 1.0 {
            BreakerAction::Relieved
        } else {
            BreakerAction::None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::power::PowerController;

    #[test]
    fn overcurrent_heats_the_breaker_model_until_the_lowest_priority_tray_is_shed() {
        let mut config = PowerConfig::default();
        config.tray_priority[7] = 0;
        let mut outputs = *PowerController::running(config).outputs();
        // Caps above what the trays draw: no tray is over its cap.
        outputs.tray_cap_w = [config.tray_max_w; TRAYS];
        let mut inputs = crate::power::tests_support::inputs();
        inputs.feed_current_a = 1.5 * config.breaker_rated_a;
        let mut guard = BreakerGuard::new();
        let mut shed = Shed::new();
        let mut ann = Annunciator::new();
        let mut first = None;
        for k in 1..=420u64 {
            let action = guard.step(
                Instant(k * 100),
                &inputs,
                &config,
                0.1,
                false,
                &mut shed,
                &mut outputs,
                &mut ann,
            );
            if action != BreakerAction::None {
                first = Some((k, action));
                break;
            }
        }
        // At 1.5 x rated, half of trip after 0.5 x 100 s / (1.5^2 - 1) = 40 s.
        let (k, action) = first.unwrap_or((0, BreakerAction::None));
        assert!((400..=401).contains(&k), "shed after {k} steps");
        assert_eq!(action, BreakerAction::Shed(7), "the lowest priority tray");
        inputs.feed_current_a = 0.5 * config.breaker_rated_a;
        let action = guard.step(
            Instant(k * 100 + 100),
            &inputs,
            &config,
            0.1,
            true,
            &mut shed,
            &mut outputs,
            &mut ann,
        );
        assert_eq!(action, BreakerAction::Relieved);
    }

    #[test]
    fn a_tray_far_above_its_cap_is_shed_as_faulted() {
        let config = PowerConfig::default();
        let mut outputs = *PowerController::running(config).outputs();
        outputs.tray_cap_w = [5_000.0; TRAYS];
        let mut inputs = crate::power::tests_support::inputs();
        inputs.tray_power_w[4] = 9_500.0;
        let mut guard = BreakerGuard::new();
        let mut shed = Shed::new();
        let mut ann = Annunciator::new();
        for k in 1..=5u64 {
            guard.step(
                Instant(k * 100),
                &inputs,
                &config,
                0.1,
                false,
                &mut shed,
                &mut outputs,
                &mut ann,
            );
        }
        assert!(outputs.tray_enable[4], "0.5 s over the cap first");
        guard.step(
            Instant(600),
            &inputs,
            &config,
            0.1,
            false,
            &mut shed,
            &mut outputs,
            &mut ann,
        );
        assert!(!outputs.tray_enable[4]);
        assert_eq!(shed.mask(), 1 << 4);
    }
}
