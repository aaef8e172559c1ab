//! Power-on sequencing: once at least half the PSUs are up (N of N+N), the trays are enabled
//! one every `tray_stagger_s` (so inrush stays under the breaker's instantaneous limit), each
//! logged; the sequence is done when every fitted tray is on.

use crate::Instant;

use super::{Annunciator, PSUS_PER_SHELF, PowerConfig, PowerEvent, PowerReason, SHELVES, TRAYS};

/// The next tray to enable and when the last one was.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Sequencer {
    next: usize,
    last_at: Option<Instant>,
}

impl Sequencer {
    /// No tray on yet.
    pub const fn new() -> Self {
        Self {
            next: 0,
            last_at: None,
        }
    }

    /// Every tray on already.
    /// A sequence resumed at a warm start: trays before `next` are as the controller found
    /// them, the rest come on one per stagger from `now`.
    pub const fn resume(next: usize, now: Instant) -> Self {
        Self {
            next,
            last_at: Some(now),
        }
    }

    pub const fn done() -> Self {
        Self {
            next: TRAYS,
            last_at: None,
        }
    }

    /// Enables the next tray when it is due; true once every fitted tray is on (with the PSUs
    /// up).
    pub fn step(
        &mut self,
        now: Instant,
        config: &PowerConfig,
        psus_ok: u8,
        tray_enable: &mut [bool; TRAYS],
        annunciator: &mut Annunciator,
    ) -> bool {
        // Trays start once at least half the PSUs are up (N of N+N).
        let needed = SHELVES * PSUS_PER_SHELF / 2;
        if usize::from(psus_ok) < needed {
            return false;
        }
        let due = self
            .last_at
            .is_none_or(|at| now.secs_since(at) >= config.tray_stagger_s);
        if due && self.next < config.trays {
            if let Some(e) = tray_enable.get_mut(self.next) {
                *e = true;
            }
            #[allow(clippy::cast_possible_truncation)] // < TRAYS
            annunciator.log(
                now,
                PowerEvent::TrayChanged {
                    tray: self.next as u8,
                    enabled: true,
                    reason: PowerReason::Boot,
                },
            );
            self.next += 1;
            self.last_at = Some(now);
        }
        self.next >= config.trays
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trays_come_on_one_per_stagger_once_half_the_psus_are_up() {
        let config = PowerConfig::default();
        let mut seq = Sequencer::new();
        let mut trays = [false; TRAYS];
        let mut ann = Annunciator::new();
        assert!(!seq.step(Instant(0), &config, 23, &mut trays, &mut ann));
        assert!(trays.iter().all(|t| !t), "fewer than half the PSUs up");
        let mut done_at = None;
        for k in 0..100u64 {
            if seq.step(Instant(k * 100), &config, 24, &mut trays, &mut ann) {
                done_at = Some(k * 100);
                break;
            }
        }
        assert_eq!(
            done_at,
            Some(8_500),
            "18 trays, 0.5 s apart, the first at once"
        );
        assert!(trays.iter().all(|t| *t));
        assert_eq!(ann.events().iter().count(), TRAYS);
    }
}
