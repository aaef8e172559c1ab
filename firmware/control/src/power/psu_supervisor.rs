//! The PSU supervisor: each of the rack's 8 x 6 PSUs through its own state machine (Oxide's
//! psc-seq-server timings, docs/domain.md): an inserted PSU is debounced, enabled and given time
//! to settle before it counts; a faulted one is switched off, retried after
//! `psu_fault_off_s` and watched through `psu_probation_s` (it carries load on probation).
//! Every new fault is logged. The counts (up, ok, faulted) are kept after each pass, and a
//! pass is skipped when no PSU is timing anything and their inputs have not changed: it would
//! change nothing.
//!
//! ```text
//!  Absent ─insert─▶ Debouncing ─1 s─▶ Settling ─0.5 s─▶ Ok ─fault─▶ Faulted ─5 s─▶ Probation
//!    ▲ (pulled, from any state)                          ▲                            │ 4 s
//!                                                        └────────────────────────────┘
//! ```

use crate::Instant;

use super::{Annunciator, PSUS_PER_SHELF, PowerConfig, PowerEvent, PowerInputs, SHELVES};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Psu {
    Absent,
    Debouncing(Instant),
    Settling(Instant),
    Ok,
    Faulted(Instant),
    Probation(Instant),
}

/// Every PSU's state and the counts kept from them.
#[derive(Debug, Clone)]
pub(super) struct PsuSupervisor {
    psus: [[Psu; PSUS_PER_SHELF]; SHELVES],
    /// PSUs `Ok`, and `Ok` or on probation (carrying load), as of the last pass over them.
    ok: u8,
    up: u8,
    /// PSUs `Faulted`, a bit per shelf x `PSUS_PER_SHELF` + PSU.
    faulted: u64,
    /// Every PSU was `Absent` or `Ok` after the last pass (no timer running) and their
    /// enables are as that pass set them: with the same inputs again, a pass changes nothing.
    settled: bool,
    /// The PSU inputs of the last pass.
    last_present: [[bool; PSUS_PER_SHELF]; SHELVES],
    last_fault: [[bool; PSUS_PER_SHELF]; SHELVES],
}

impl PsuSupervisor {
    /// Every PSU absent.
    pub const fn new() -> Self {
        Self {
            psus: [[Psu::Absent; PSUS_PER_SHELF]; SHELVES],
            ok: 0,
            up: 0,
            faulted: 0,
            settled: false,
            last_present: [[false; PSUS_PER_SHELF]; SHELVES],
            last_fault: [[false; PSUS_PER_SHELF]; SHELVES],
        }
    }

    /// Every PSU up, as after a completed sequence.
    pub fn all_ok() -> Self {
        let mut s = Self::new();
        s.psus = [[Psu::Ok; PSUS_PER_SHELF]; SHELVES];
        s.count();
        s
    }

    /// One pass over the PSUs: their states, their enables in `psu_enable`, new faults logged.
    pub fn step(
        &mut self,
        now: Instant,
        inputs: &PowerInputs,
        config: &PowerConfig,
        psu_enable: &mut [[bool; PSUS_PER_SHELF]; SHELVES],
        annunciator: &mut Annunciator,
    ) {
        if self.settled
            && inputs.psu_present == self.last_present
            && inputs.psu_fault == self.last_fault
        {
            // Nothing to time and nothing new: the pass below would change nothing.
            return;
        }
        self.last_present = inputs.psu_present;
        self.last_fault = inputs.psu_fault;
        let c = config;
        for s in 0..SHELVES {
            for p in 0..PSUS_PER_SHELF {
                let present = inputs
                    .psu_present
                    .get(s)
                    .and_then(|r| r.get(p))
                    .copied()
                    .unwrap_or(false);
                let fault = inputs
                    .psu_fault
                    .get(s)
                    .and_then(|r| r.get(p))
                    .copied()
                    .unwrap_or(false);
                let Some(psu) = self.psus.get_mut(s).and_then(|r| r.get_mut(p)) else {
                    continue;
                };
                let next = match *psu {
                    _ if !present => Psu::Absent,
                    Psu::Absent => Psu::Debouncing(now),
                    Psu::Debouncing(at) if now.secs_since(at) >= c.psu_debounce_s => {
                        Psu::Settling(now)
                    }
                    Psu::Settling(at) if now.secs_since(at) >= c.psu_settle_s => Psu::Ok,
                    Psu::Ok | Psu::Probation(_) if fault => Psu::Faulted(now),
                    Psu::Faulted(at) if now.secs_since(at) >= c.psu_fault_off_s => {
                        Psu::Probation(now)
                    }
                    Psu::Probation(at) if now.secs_since(at) >= c.psu_probation_s => Psu::Ok,
                    other => other,
                };
                let newly_faulted =
                    matches!(next, Psu::Faulted(_)) && !matches!(*psu, Psu::Faulted(_));
                *psu = next;
                if let Some(e) = psu_enable.get_mut(s).and_then(|r| r.get_mut(p)) {
                    *e = matches!(next, Psu::Settling(_) | Psu::Ok | Psu::Probation(_));
                }
                if newly_faulted {
                    #[allow(clippy::cast_possible_truncation)] // < 8
                    annunciator.log(
                        now,
                        PowerEvent::PsuFaulted {
                            shelf: s as u8,
                            psu: p as u8,
                        },
                    );
                }
            }
        }
        self.count();
    }

    /// Counts the PSUs by state after a pass over them.
    fn count(&mut self) {
        let (mut ok, mut up, mut settled, mut faulted) = (0u8, 0u8, true, 0u64);
        for (i, psu) in self.psus.iter().flatten().enumerate() {
            match psu {
                Psu::Ok => {
                    ok += 1;
                    up += 1;
                }
                Psu::Probation(_) => {
                    up += 1;
                    settled = false;
                }
                Psu::Faulted(_) => {
                    faulted |= 1 << i;
                    settled = false;
                }
                Psu::Absent => {}
                Psu::Debouncing(_) | Psu::Settling(_) => settled = false,
            }
        }
        self.faulted = faulted;
        self.ok = ok;
        self.up = up;
        self.settled = settled;
    }

    /// PSUs `Ok`.
    pub fn ok(&self) -> u8 {
        self.ok
    }

    /// PSUs `Faulted`, a bit per shelf x `PSUS_PER_SHELF` + PSU.
    pub fn faulted(&self) -> u64 {
        self.faulted
    }

    /// What the PSUs carrying load can deliver, W (DC).
    pub fn capacity_w(&self, config: &PowerConfig) -> f32 {
        f32::from(self.up) * config.psu_rating_w
    }

    /// The enables no longer follow the PSUs' states (they were switched off): the next pass
    /// must set them.
    pub fn enables_overridden(&mut self) {
        self.settled = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(s: &mut PsuSupervisor, inputs: &PowerInputs, from_ms: u64, steps: u64) -> u64 {
        let config = PowerConfig::default();
        let mut enable = [[false; PSUS_PER_SHELF]; SHELVES];
        let mut ann = Annunciator::new();
        for k in 1..=steps {
            s.step(
                Instant(from_ms + k * 100),
                inputs,
                &config,
                &mut enable,
                &mut ann,
            );
        }
        from_ms + steps * 100
    }

    #[test]
    fn an_inserted_psu_counts_after_its_debounce_and_settle_and_a_faulted_one_is_retried() {
        let config = PowerConfig::default();
        let mut s = PsuSupervisor::new();
        let mut inputs = crate::power::tests_support::inputs();
        let now = pass(&mut s, &inputs, 0, 15);
        assert_eq!(s.ok(), 0, "1 s debounce, then 0.5 s settle");
        let now = pass(&mut s, &inputs, now, 2);
        assert_eq!(usize::from(s.ok()), SHELVES * PSUS_PER_SHELF);
        inputs.psu_fault[1][2] = true;
        let now = pass(&mut s, &inputs, now, 1);
        assert_eq!(s.faulted(), 1 << (PSUS_PER_SHELF + 2));
        let full = f32::from(s.ok() + 1) * config.psu_rating_w;
        assert_eq!(s.capacity_w(&config), full - config.psu_rating_w);
        inputs.psu_fault[1][2] = false;
        let now = pass(&mut s, &inputs, now, 50);
        assert_eq!(s.faulted(), 0, "retried after 5 s");
        assert_eq!(s.capacity_w(&config), full, "on probation it carries load");
        pass(&mut s, &inputs, now, 40);
        assert_eq!(
            usize::from(s.ok()),
            SHELVES * PSUS_PER_SHELF,
            "Ok after 4 s probation"
        );
    }
}
