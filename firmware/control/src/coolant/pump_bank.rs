//! The N+1 pumps: `running_pumps` of them run in parallel at one speed (the lead and its
//! assists), the others stand by; a starting controller runs the lead alone until it is
//! Running. A running pump is judged once it has had `pump_spinup_s` to reach speed: a tach
//! below `pump_underspeed_fraction` of its command for `pump_fault_delay_s`, or a drive
//! over-current, faults it (`PumpFault`, critical); a faulted lead **fails over** to the next
//! pump that runs, else to the next standing by, and a pump standing by starts to keep the
//! running count. At the rotation interval the lead **rotates** to a pump standing by, if
//! any: it starts, and takes the lead once at 90 % of the lead's speed (the old lead then
//! stands by). Every lead change is logged with its reason.
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
                    && let Some(next) = self
                        .next_pump(c, i, PumpState::Running)
                        .or_else(|| self.next_pump(c, i, PumpState::Standby))
                {
                    self.change_lead(now, next, Reason::PumpFault, c, annunciator);
                }
            }
        }

        // The assists: pumps standing by start until `running_pumps` run (not while the
        // controller starts or stops).
        if may_rotate {
            while self.running(c) < c.running_pumps {
                let Some(next) = self.next_pump(c, self.lead, PumpState::Standby) else {
                    break;
                };
                self.start(now, next);
            }
        }

        // Scheduled lead rotation: start the next pump, stop the old one once it is at speed.
        if let Rotation::Waiting { due } = self.rotation
            && c.lead_rotation_interval_s > 0.0
            && now >= due
        {
            let due = now.plus_millis(secs_to_ms(c.lead_rotation_interval_s));
            self.rotation = Rotation::Waiting { due };
            if let Some(next) = self.next_pump(c, self.lead, PumpState::Standby)
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
                self.change_lead(now, next, Reason::LeadRotation, c, annunciator);
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
            self.change_lead(now, pump, Reason::Command, config, annunciator);
        }
        Ok(())
    }

    /// Starts the lead (the controller is starting).
    pub fn start_lead(&mut self, now: Instant) {
        self.start(now, self.lead);
    }

    /// The controller boots on a running row (it was reset, or flashed, while the drives ran
    /// on): the fitted pumps turning at `min_rpm` or more are the ones the drives kept
    /// running. They run on (up to `running_pumps`), the first of them as the lead; returns
    /// its speed, rpm, if any turns.
    pub fn adopt_running(
        &mut self,
        now: Instant,
        inputs: &CoolantInputs,
        config: &CoolantConfig,
        min_rpm: f32,
    ) -> Option<f32> {
        let mut lead_rpm = None;
        for (i, rpm) in inputs.pump_tach_rpm.iter().enumerate().take(config.pumps) {
            if *rpm >= min_rpm && self.running(config) < config.running_pumps {
                if lead_rpm.is_none() {
                    self.lead = i;
                    lead_rpm = Some(*rpm);
                }
                self.start(now, i);
            }
        }
        lead_rpm
    }

    /// Every running pump stands by (the controller stopped).
    pub fn stand_by(&mut self) {
        for p in &mut self.pumps {
            if p.state == PumpState::Running {
                p.state = PumpState::Standby;
            }
        }
    }

    /// How many fitted pumps run.
    fn running(&self, config: &CoolantConfig) -> usize {
        self.pumps
            .iter()
            .take(config.pumps)
            .filter(|p| p.state == PumpState::Running)
            .count()
    }

    /// The first pump after `from`, in turn, that is in `state`.
    fn next_pump(&self, config: &CoolantConfig, from: usize, state: PumpState) -> Option<usize> {
        (1..config.pumps)
            .map(|k| (from + k) % config.pumps)
            .find(|&i| self.pumps.get(i).is_some_and(|p| p.state == state))
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
        config: &CoolantConfig,
        annunciator: &mut Annunciator,
    ) {
        let from = self.lead;
        self.start(now, to);
        // The old lead stands by only if more pumps now run than should (it keeps running as
        // an assist when the new lead was one already).
        if self.running(config) > config.running_pumps
            && let Some(p) = self.pumps.get_mut(from)
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

    /// A bank whose lead has started at t = 0, its annunciator, and steady inputs.
    fn started(config: &CoolantConfig) -> (PumpBank, Annunciator, CoolantInputs) {
        let mut bank = PumpBank::new();
        bank.schedule_rotation(Instant(0), config);
        bank.start_lead(Instant(0));
        (
            bank,
            Annunciator::new(),
            CoolantInputs::uniform(Instant(0), 30.0),
        )
    }

    #[test]
    fn rotation_hands_over_once_the_next_pump_is_at_speed() {
        let config = CoolantConfig {
            lead_rotation_interval_s: 10.0,
            running_pumps: 1,
            ..CoolantConfig::default()
        };
        let (mut bank, mut ann, mut inputs) = started(&config);
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

    #[test]
    fn parallel_pumps_run_together_and_a_trip_leaves_the_others_running() {
        let config = CoolantConfig {
            pumps: 3,
            running_pumps: 2,
            ..CoolantConfig::default()
        };
        let (mut bank, mut ann, mut inputs) = started(&config);
        let commanded = [60.0, 60.0, 60.0];
        let mut out = super::super::CoolantController::new(config).outputs;
        let states = |bank: &PumpBank, out: &mut super::super::CoolantOutputs| {
            bank.command(60.0, false, &config, out);
            out.pump_states
        };
        // Starting: the lead alone.
        bank.supervise(Instant(100), &inputs, &config, &commanded, false, &mut ann);
        assert_eq!(
            states(&bank, &mut out),
            [PumpState::Running, PumpState::Standby, PumpState::Standby]
        );
        // Running: the next pump assists.
        bank.supervise(Instant(200), &inputs, &config, &commanded, true, &mut ann);
        assert_eq!(
            states(&bank, &mut out),
            [PumpState::Running, PumpState::Running, PumpState::Standby]
        );
        assert_eq!(out.pump_speed_pct, [60.0, 60.0, 0.0], "one speed for both");
        // A technician hands the lead to the assist: both keep running.
        bank.set_lead(Instant(300), 1, &config, &mut ann).unwrap();
        bank.set_lead(Instant(400), 0, &config, &mut ann).unwrap();
        assert_eq!(
            states(&bank, &mut out),
            [PumpState::Running, PumpState::Running, PumpState::Standby]
        );
        // The lead's tach falls to nothing: past its fault delay it faults, the assist that
        // already runs leads, and the pump standing by starts to keep two running.
        inputs.pump_tach_rpm = [0.0, 2_160.0, 0.0];
        let mut t = 10_000;
        while !bank.any_faulted(&config) {
            bank.supervise(Instant(t), &inputs, &config, &commanded, true, &mut ann);
            t += 100;
            assert!(t < 20_000, "the dead lead never faulted");
        }
        assert_eq!(bank.lead(), 1);
        assert_eq!(
            states(&bank, &mut out),
            [PumpState::Faulted, PumpState::Running, PumpState::Running]
        );
    }
}
