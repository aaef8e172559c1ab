//! The N+1 pumps: one runs (the lead), the others stand by. A running pump is judged once it
//! has had `pump_spinup_s` to reach speed: a tach below `pump_underspeed_fraction` of its
//! command for `pump_fault_delay_s`, or a drive over-current, faults it (`PumpFault`,
//! critical) and the lead **fails over** to the next pump standing by. At the rotation
//! interval the lead **rotates**: the next pump starts, and takes the lead once at 90 % of the
//! lead's speed (the old lead then stands by). Every lead change is logged with its reason.
//!
//! ```text
//!  Standby ──start──▶ Running ──under-speed or over-current──▶ Faulted
//!     ▲                  │ another pump takes the lead, or stop
//!     └──────────────────┘
//! ```

use crate::Instant;

use super::{
    Alarm, Annunciator, CoolantConfig, CoolantEvent, CoolantInputs, CoolantOutputs, MAX_PUMPS,
    PumpState, Reason, SettingError,
};

#[derive(Debug, Clone, Copy, PartialEq)]
struct Pump {
    state: PumpState,
    started_at: Instant,
    underspeed_since: Option<Instant>,
}

/// Where the scheduled rotation stands.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Rotation {
    /// The next rotation is due at `due`.
    Waiting { due: Instant },
    /// Pump `to` is starting to take the lead; the rotation after is due at `due`.
    Handover { to: usize, due: Instant },
}

/// The pumps, the lead, and the rotation.
#[derive(Debug, Clone)]
pub(super) struct PumpBank {
    pumps: [Pump; MAX_PUMPS],
    lead: usize,
    rotation: Rotation,
}

impl PumpBank {
    pub const fn new() -> Self {
        let pump = Pump {
            state: PumpState::Standby,
            started_at: Instant(0),
            underspeed_since: None,
        };
        Self {
            pumps: [pump; MAX_PUMPS],
            lead: 0,
            rotation: Rotation::Waiting { due: Instant(0) },
        }
    }

    /// The lead pump.
    pub fn lead(&self) -> usize {
        self.lead
    }

    /// The first rotation falls due one interval after the controller's first step.
    pub fn schedule_rotation(&mut self, now: Instant, config: &CoolantConfig) {
        self.rotation = Rotation::Waiting {
            due: now.plus_millis(secs_to_ms(config.lead_rotation_interval_s)),
        };
    }

    /// Judges the running pumps (failing over from a faulted lead) and runs the rotation.
    /// `commanded` is last step's speed command; `may_rotate` whether the controller runs.
    pub fn supervise(
        &mut self,
        now: Instant,
        inputs: &CoolantInputs,
        config: &CoolantConfig,
        commanded: &[f32; MAX_PUMPS],
        may_rotate: bool,
        annunciator: &mut Annunciator,
    ) {
        let c = config;
        for i in 0..c.pumps {
            let commanded = commanded.get(i).copied().unwrap_or(0.0);
            let tach = inputs.pump_tach_rpm.get(i).copied().unwrap_or(0.0);
            let overcurrent = inputs.pump_overcurrent.get(i).copied().unwrap_or(false);
            let Some(pump) = self.pumps.get_mut(i) else {
                continue;
            };
            if pump.state != PumpState::Running {
                continue;
            }
            let expected = commanded / 100.0 * c.pump_max_rpm;
            let judged = now.secs_since(pump.started_at) >= c.pump_spinup_s;
            let under = judged && tach < c.pump_underspeed_fraction * expected;
            if under {
                pump.underspeed_since.get_or_insert(now);
            } else {
                pump.underspeed_since = None;
            }
            let under_long = pump
                .underspeed_since
                .is_some_and(|s| now.secs_since(s) >= c.pump_fault_delay_s);
            if overcurrent || under_long {
                pump.state = PumpState::Faulted;
                #[allow(clippy::cast_possible_truncation)] // i < MAX_PUMPS
                annunciator.set(now, Alarm::PumpFault, i as u8, true, true);
                if i == self.lead
                    && let Some(next) = self.next_pump(c, i)
                {
                    self.change_lead(now, next, Reason::PumpFault, annunciator);
                }
            }
        }

        // Scheduled lead rotation: start the next pump, stop the old one once it is at speed.
        if let Rotation::Waiting { due } = self.rotation
            && c.lead_rotation_interval_s > 0.0
            && now >= due
        {
            let due = now.plus_millis(secs_to_ms(c.lead_rotation_interval_s));
            self.rotation = Rotation::Waiting { due };
            if let Some(next) = self.next_pump(c, self.lead)
                && may_rotate
            {
                self.start(now, next);
                self.rotation = Rotation::Handover { to: next, due };
            }
        }
        if let Rotation::Handover { to: next, due } = self.rotation {
            let lead_commanded = commanded.get(self.lead).copied().unwrap_or(0.0);
            let tach = inputs.pump_tach_rpm.get(next).copied().unwrap_or(0.0);
            let at_speed = tach >= 0.9 * lead_commanded / 100.0 * c.pump_max_rpm;
            let next_ok = self
                .pumps
                .get(next)
                .is_some_and(|p| p.state == PumpState::Running);
            if !next_ok {
                self.rotation = Rotation::Waiting { due };
            } else if at_speed {
                self.rotation = Rotation::Waiting { due };
                self.change_lead(now, next, Reason::LeadRotation, annunciator);
            }
        }
    }

    /// Commands `speed` to the running pumps (none while `stopped`) and reports each pump.
    pub fn command(
        &self,
        speed: f32,
        stopped: bool,
        config: &CoolantConfig,
        outputs: &mut CoolantOutputs,
    ) {
        for i in 0..MAX_PUMPS {
            let running = !stopped
                && self
                    .pumps
                    .get(i)
                    .is_some_and(|p| p.state == PumpState::Running);
            if let Some(out) = outputs.pump_speed_pct.get_mut(i) {
                *out = if running { speed } else { 0.0 };
            }
            if let (Some(out), Some(p)) = (outputs.pump_states.get_mut(i), self.pumps.get(i)) {
                *out = if i < config.pumps {
                    p.state
                } else {
                    PumpState::Off
                };
            }
        }
        #[allow(clippy::cast_possible_truncation)] // lead < MAX_PUMPS
        {
            outputs.lead_pump = self.lead as u8;
        }
    }

    /// Whether any fitted pump is faulted.
    pub fn any_faulted(&self, config: &CoolantConfig) -> bool {
        self.pumps
            .iter()
            .take(config.pumps)
            .any(|p| p.state == PumpState::Faulted)
    }

    /// Makes `pump` the lead now (technician command).
    pub fn set_lead(
        &mut self,
        now: Instant,
        pump: usize,
        config: &CoolantConfig,
        annunciator: &mut Annunciator,
    ) -> Result<(), SettingError> {
        if pump >= config.pumps {
            #[allow(clippy::cast_possible_truncation)] // at most MAX_PUMPS
            return Err(SettingError::NoSuchInstance {
                count: config.pumps as u8,
            });
        }
        if self
            .pumps
            .get(pump)
            .is_none_or(|p| p.state == PumpState::Faulted)
        {
            return Err(SettingError::NotPermitted);
        }
        if pump != self.lead {
            self.change_lead(now, pump, Reason::Command, annunciator);
        }
        Ok(())
    }

    /// Starts the lead (the controller is starting).
    pub fn start_lead(&mut self, now: Instant) {
        self.start(now, self.lead);
    }

    /// The controller boots on a running row (it was reset, or flashed, while the drives ran
    /// on): the fitted pump turning fastest, if any turns at `min_rpm` or more, is the one the
    /// drives kept running; it becomes the lead.
    pub fn running_pump(
        inputs: &CoolantInputs,
        config: &CoolantConfig,
        min_rpm: f32,
    ) -> Option<(usize, f32)> {
        inputs
            .pump_tach_rpm
            .iter()
            .copied()
            .enumerate()
            .take(config.pumps)
            .filter(|(_, rpm)| *rpm >= min_rpm)
            .fold(None, |best: Option<(usize, f32)>, (i, rpm)| match best {
                Some((_, b)) if b >= rpm => best,
                _ => Some((i, rpm)),
            })
    }

    /// Makes `pump` the lead without logging a change (a warm start adopts the pump the
    /// drives kept running).
    pub fn adopt_lead(&mut self, pump: usize) {
        if pump < MAX_PUMPS {
            self.lead = pump;
        }
    }

    /// Every running pump stands by (the controller stopped).
    pub fn stand_by(&mut self) {
        for p in &mut self.pumps {
            if p.state == PumpState::Running {
                p.state = PumpState::Standby;
            }
        }
    }

    fn next_pump(&self, config: &CoolantConfig, from: usize) -> Option<usize> {
        (1..config.pumps)
            .map(|k| (from + k) % config.pumps)
            .find(|&i| {
                self.pumps
                    .get(i)
                    .is_some_and(|p| p.state == PumpState::Standby)
            })
    }

    fn start(&mut self, now: Instant, i: usize) {
        if let Some(p) = self.pumps.get_mut(i)
            && p.state == PumpState::Standby
        {
            p.state = PumpState::Running;
            p.started_at = now;
            p.underspeed_since = None;
        }
    }

    fn change_lead(
        &mut self,
        now: Instant,
        to: usize,
        reason: Reason,
        annunciator: &mut Annunciator,
    ) {
        let from = self.lead;
        self.start(now, to);
        if let Some(p) = self.pumps.get_mut(from)
            && p.state == PumpState::Running
        {
            p.state = PumpState::Standby;
        }
        self.lead = to;
        #[allow(clippy::cast_possible_truncation)] // < MAX_PUMPS
        annunciator.log(
            now,
            CoolantEvent::LeadPumpChanged {
                from: from as u8,
                to: to as u8,
                reason,
            },
        );
    }
}

/// Seconds to whole milliseconds (negative as 0).
fn secs_to_ms(s: f32) -> u64 {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // clamped to >= 0
    let ms = libm::roundf(s.max(0.0) * 1000.0) as u64;
    ms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_underspeed_lead_faults_and_the_standby_takes_over() {
        let config = CoolantConfig::default();
        let mut bank = PumpBank::new();
        let mut ann = Annunciator::new();
        bank.schedule_rotation(Instant(0), &config);
        bank.start_lead(Instant(0));
        let inputs = CoolantInputs::uniform(Instant(0), 30.0);
        let commanded = [60.0, 0.0, 0.0];
        // The tach reads nothing: judged after the spin-up, faulted after the delay.
        for k in 1..=25 {
            bank.supervise(
                Instant(k * 100),
                &inputs,
                &config,
                &commanded,
                true,
                &mut ann,
            );
        }
        assert_eq!(bank.lead(), 0, "2 s spin-up, then 1 s under speed");
        for k in 26..=31 {
            bank.supervise(
                Instant(k * 100),
                &inputs,
                &config,
                &commanded,
                true,
                &mut ann,
            );
        }
        assert_eq!(bank.lead(), 1);
        assert!(bank.any_faulted(&config));
        assert!(ann.alarms().is_active(Alarm::PumpFault, 0));
        assert!(ann.events().iter().any(|r| r.event
            == CoolantEvent::LeadPumpChanged {
                from: 0,
                to: 1,
                reason: Reason::PumpFault
            }));
        assert_eq!(
            bank.set_lead(Instant(4_000), 0, &config, &mut ann),
            Err(SettingError::NotPermitted),
            "a faulted pump cannot lead"
        );
        let mut out = super::super::CoolantController::new(config).outputs;
        bank.command(55.0, false, &config, &mut out);
        assert_eq!(out.pump_speed_pct, [0.0, 55.0, 0.0]);
        assert_eq!(out.pump_states[0], PumpState::Faulted);
    }

    #[test]
    fn rotation_hands_over_once_the_next_pump_is_at_speed() {
        let config = CoolantConfig {
            lead_rotation_interval_s: 10.0,
            ..CoolantConfig::default()
        };
        let mut bank = PumpBank::new();
        let mut ann = Annunciator::new();
        bank.schedule_rotation(Instant(0), &config);
        bank.start_lead(Instant(0));
        let mut inputs = CoolantInputs::uniform(Instant(0), 30.0);
        inputs.pump_tach_rpm = [2_000.0, 0.0, 0.0];
        let commanded = [60.0, 0.0, 0.0];
        bank.supervise(
            Instant(10_000),
            &inputs,
            &config,
            &commanded,
            true,
            &mut ann,
        );
        assert_eq!(bank.lead(), 0, "pump 1 started, not yet at speed");
        inputs.pump_tach_rpm = [2_000.0, 0.9 * 0.6 * 3_600.0, 0.0];
        bank.supervise(
            Instant(10_100),
            &inputs,
            &config,
            &commanded,
            true,
            &mut ann,
        );
        assert_eq!(bank.lead(), 1);
        let mut out = super::super::CoolantController::new(config).outputs;
        bank.command(60.0, false, &config, &mut out);
        assert_eq!(
            out.pump_states[0],
            PumpState::Standby,
            "the old lead stands by"
        );
    }
}
