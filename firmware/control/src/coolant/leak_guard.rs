//! Leaks: a wet detector (moisture cable or float switch) raises `LeakDetected` at once; a rack
//! zone still wet after the reaction delay is **isolated**: its electrical isolation is
//! requested on the row bus at once, and its valve closes `isolation_valve_delay_s` later, so
//! its GPUs never run without flow. A detector that dries within the delay cancels the
//! reaction. An isolated rack stays isolated, dry or not, until a technician restores it once
//! its detectors are dry. The CDU's own zone (index `racks`) alarms but isolates nothing.
//!
//! ```text
//!        wet              wet for the delay (a rack)
//!  Dry ───────▶ Wet ─────────────────────────────▶ Isolated ──(dry, restore)──▶ Dry
//!   ▲            │ dry
//!   └────────────┘
//! ```

use crate::Instant;

use super::{
    Alarm, Annunciator, CoolantConfig, CoolantEvent, CoolantInputs, CoolantOutputs, MAX_ZONES,
    SettingError,
};

/// One leak zone.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Zone {
    /// Dry, served.
    Dry,
    /// Wet since `since`, not (or not yet) isolated.
    Wet { since: Instant },
    /// Isolation requested at `at`; `wet_since` while a detector is still wet.
    Isolated {
        at: Instant,
        wet_since: Option<Instant>,
    },
}

/// The leak zones of the row.
#[derive(Debug, Clone)]
pub(super) struct LeakGuard {
    zones: [Zone; MAX_ZONES],
}

impl LeakGuard {
    pub const fn new() -> Self {
        Self {
            zones: [Zone::Dry; MAX_ZONES],
        }
    }

    /// Reads the detectors, raises the alarms, isolates confirmed rack leaks, and sets the
    /// rack valves and isolation requests.
    pub fn step(
        &mut self,
        now: Instant,
        inputs: &CoolantInputs,
        config: &CoolantConfig,
        annunciator: &mut Annunciator,
        outputs: &mut CoolantOutputs,
    ) {
        let delay = config.leak_reaction_delay_s;
        for (z, zone) in self.zones.iter_mut().enumerate().take(config.racks + 1) {
            let wet = inputs.leak_moisture.get(z).copied().unwrap_or(false)
                || inputs.leak_float.get(z).copied().unwrap_or(false);
            #[allow(clippy::cast_possible_truncation)] // z < MAX_ZONES
            let instance = z as u8;
            if wet {
                let since = match *zone {
                    Zone::Dry => now,
                    Zone::Wet { since } => since,
                    Zone::Isolated { wet_since, .. } => wet_since.unwrap_or(now),
                };
                let confirmed = now.secs_since(since) >= delay;
                *zone = match *zone {
                    Zone::Isolated { at, .. } => Zone::Isolated {
                        at,
                        wet_since: Some(since),
                    },
                    _ if confirmed && z < config.racks => {
                        annunciator.log(now, CoolantEvent::RackIsolated { rack: instance });
                        Zone::Isolated {
                            at: now,
                            wet_since: Some(since),
                        }
                    }
                    _ => Zone::Wet { since },
                };
                annunciator.set(now, Alarm::LeakDetected, instance, confirmed, true);
            } else {
                *zone = match *zone {
                    Zone::Isolated { at, .. } => Zone::Isolated {
                        at,
                        wet_since: None,
                    },
                    _ => Zone::Dry,
                };
                annunciator.set(now, Alarm::LeakDetected, instance, false, false);
            }
        }
        let mut requests = 0u16;
        for (rack, open) in outputs.rack_valve_open.iter_mut().enumerate() {
            let isolated_at = match self.zones.get(rack) {
                Some(Zone::Isolated { at, .. }) => Some(*at),
                _ => None,
            };
            *open =
                isolated_at.is_none_or(|at| now.secs_since(at) < config.isolation_valve_delay_s);
            if isolated_at.is_some() {
                requests |= 1 << rack;
            }
        }
        outputs.isolation_requests = requests;
    }

    /// Whether zone `rack` is isolated.
    pub fn is_isolated(&self, rack: usize) -> bool {
        matches!(self.zones.get(rack), Some(Zone::Isolated { .. }))
    }

    /// Whether any zone is isolated.
    pub fn any_isolated(&self) -> bool {
        self.zones
            .iter()
            .any(|z| matches!(z, Zone::Isolated { .. }))
    }

    /// Serves `rack` again, if its detectors are dry.
    pub fn restore(&mut self, rack: usize) -> Result<(), SettingError> {
        let zone = self.zones.get_mut(rack).ok_or(SettingError::NotPermitted)?;
        match zone {
            Zone::Wet { .. }
            | Zone::Isolated {
                wet_since: Some(_), ..
            } => Err(SettingError::NotPermitted),
            Zone::Dry
            | Zone::Isolated {
                wet_since: None, ..
            } => {
                *zone = Zone::Dry;
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(guard: &mut LeakGuard, wet: &[usize], from_ms: u64, seconds: u64) -> CoolantOutputs {
        let config = CoolantConfig::default();
        let mut inputs = CoolantInputs::uniform(Instant(0), 30.0);
        for z in wet {
            inputs.leak_moisture[*z] = true;
        }
        let mut ann = Annunciator::new();
        let mut out = super::super::CoolantController::new(config).outputs;
        for k in 1..=seconds * 10 {
            guard.step(
                Instant(from_ms + k * 100),
                &inputs,
                &config,
                &mut ann,
                &mut out,
            );
        }
        out
    }

    #[test]
    fn a_rack_wet_for_the_delay_is_isolated_and_its_valve_closes_later() {
        let mut g = LeakGuard::new();
        let out = run(&mut g, &[3], 0, 14);
        assert!(!g.is_isolated(3), "inside the 15 s reaction delay");
        assert_eq!(out.isolation_requests, 0);
        let out = run(&mut g, &[3], 14_000, 2);
        assert!(g.is_isolated(3));
        assert_eq!(
            out.isolation_requests,
            1 << 3,
            "electrical isolation at once"
        );
        assert!(
            out.rack_valve_open[3],
            "the valve waits for the rack to shed"
        );
        let out = run(&mut g, &[3], 16_000, 6);
        assert!(!out.rack_valve_open[3], "closed 5 s later");
        assert!(out.rack_valve_open[2]);
        assert_eq!(g.restore(3), Err(SettingError::NotPermitted), "still wet");
        run(&mut g, &[], 22_000, 1);
        assert!(g.is_isolated(3), "dry is not restored");
        assert_eq!(g.restore(3), Ok(()));
        assert!(!g.any_isolated());
    }

    #[test]
    fn a_detector_that_dries_within_the_delay_cancels_and_the_cdu_zone_never_isolates() {
        let mut g = LeakGuard::new();
        run(&mut g, &[1], 0, 10);
        run(&mut g, &[], 10_000, 1);
        run(&mut g, &[1], 11_000, 10);
        assert!(!g.is_isolated(1), "the delay starts again after drying");
        let cdu_zone = CoolantConfig::default().racks;
        run(&mut g, &[cdu_zone], 0, 60);
        assert!(!g.any_isolated());
    }
}
