//! Sensor validation: every analog input passes through a [`Validator`] before control uses it.
//!
//! A reading is judged, in order:
//! - **out of range** (beyond the sensor's physical span, as an open or shorted input reads):
//!   invalid at once;
//! - **stale** (no new sample for `stale_after_s`): like hubris's thermal task, the value is
//!   projected to its worst case, `last good + age * slew` in the unsafe direction, so control
//!   errs toward safety; after `invalid_after_s` it is invalid;
//! - **stuck** (the raw value has not changed by more than `stuck_epsilon` for
//!   `stuck_after_s` *after the process moved*: a witness, a related signal the caller gives
//!   (a redundant partner, the row's heat), moved by more than `stuck_witness_delta` since the
//!   value froze, and the sensor had `stuck_after_s` to follow, lag included): invalid. A quiet transmitter on a steady process reads the same value for minutes and is
//!   healthy; only one that stays put while what it measures must have changed is stuck. Without
//!   a witness a reading is never judged stuck (nothing tells quiet from seized).
//!
//! Redundant sensors of one quantity are then voted by [`vote`]: with three or more, any that
//! strays from the median by more than the tolerance is excluded; with two that disagree, the
//! worse (the one in the unsafe direction) is used; with none left, the caller goes failsafe.

use crate::Instant;

/// A sample from a board or the simulator: the value and when it was taken.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// Engineering units (degC, kPa, L/min, %).
    pub value: f32,
    /// When the sample was taken.
    pub at: Instant,
}

/// Limits of one sensor.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SensorLimits {
    /// Lowest plausible value.
    pub min: f32,
    /// Highest plausible value.
    pub max: f32,
    /// No new sample for this long: stale, s.
    pub stale_after_s: f32,
    /// Stale for this long: invalid, s.
    pub invalid_after_s: f32,
    /// Largest credible rate of change, units/s, used for the worst-case projection.
    pub max_slew_per_s: f32,
    /// Worst case is a high value (temperatures) or a low one (flow, pressure).
    pub worst_is_high: bool,
    /// A raw value that moves less than this...
    pub stuck_epsilon: f32,
    /// ...for this long is stuck, s (0 disables)...
    pub stuck_after_s: f32,
    /// ...if its witness moved by more than this meanwhile, units of the witness.
    pub stuck_witness_delta: f32,
}

/// A stuck judgement under way: the frozen value, the witness's range since it froze, and
/// when that range first exceeded `stuck_witness_delta` (the process moved).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Frozen {
    value: f32,
    witness_min: f32,
    witness_max: f32,
    moved_at: Option<Instant>,
}

/// A validated reading.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Good.
    Ok,
    /// Outside the plausible range.
    OutOfRange,
    /// No fresh sample; the value is a worst-case projection.
    Stale,
    /// Stale for too long.
    Lost,
    /// Not moving.
    Stuck,
    /// Excluded by the vote of its redundant partners.
    Disagrees,
}

impl Status {
    /// Whether control may use the value.
    pub fn usable(self) -> bool {
        matches!(self, Status::Ok | Status::Stale)
    }
}

/// Validation state of one sensor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Validator {
    /// Limits.
    pub limits: SensorLimits,
    last_good: Option<(f32, Instant)>,
    frozen: Option<Frozen>,
    status: Status,
    value: f32,
}

impl Validator {
    /// A validator that has seen nothing yet.
    pub const fn new(limits: SensorLimits) -> Self {
        Self {
            limits,
            last_good: None,
            frozen: None,
            status: Status::Lost,
            value: 0.0,
        }
    }

    /// Judges `reading` at `now`; returns the status and the value to use. `witness` is a
    /// related signal that moves when the process does (see the module's stuck rule); `None`
    /// when there is none.
    pub fn update(
        &mut self,
        now: Instant,
        reading: Reading,
        witness: Option<f32>,
    ) -> (Status, f32) {
        let l = self.limits;
        let age = now.secs_since(reading.at);
        let in_range =
            reading.value.is_finite() && reading.value >= l.min && reading.value <= l.max;
        self.status = if !in_range {
            Status::OutOfRange
        } else if age > l.stale_after_s {
            self.project(age)
        } else if self.is_stuck(reading, witness) {
            Status::Stuck
        } else {
            self.last_good = Some((reading.value, reading.at));
            self.value = reading.value;
            Status::Ok
        };
        (self.status, self.value)
    }

    fn project(&mut self, age_s: f32) -> Status {
        match self.last_good {
            Some((last, _)) if age_s <= self.limits.invalid_after_s => {
                let drift = age_s * self.limits.max_slew_per_s;
                self.value = if self.limits.worst_is_high {
                    last + drift
                } else {
                    last - drift
                };
                Status::Stale
            }
            _ => Status::Lost,
        }
    }

    fn is_stuck(&mut self, reading: Reading, witness: Option<f32>) -> bool {
        let l = self.limits;
        let Some(w) = witness.filter(|w| w.is_finite() && l.stuck_after_s > 0.0) else {
            self.frozen = None;
            return false;
        };
        match &mut self.frozen {
            Some(f) if (reading.value - f.value).abs() <= l.stuck_epsilon => {
                f.witness_min = f.witness_min.min(w);
                f.witness_max = f.witness_max.max(w);
                if f.moved_at.is_none() && f.witness_max - f.witness_min > l.stuck_witness_delta {
                    f.moved_at = Some(reading.at);
                }
                f.moved_at
                    .is_some_and(|t| reading.at.secs_since(t) >= l.stuck_after_s)
            }
            _ => {
                self.frozen = Some(Frozen {
                    value: reading.value,
                    witness_min: w,
                    witness_max: w,
                    moved_at: None,
                });
                false
            }
        }
    }

    /// The value last judged (a worst-case projection while stale).
    pub fn value(&self) -> f32 {
        self.value
    }

    /// The last status.
    pub fn status(&self) -> Status {
        self.status
    }

    /// Marks the sensor as excluded by the vote.
    pub fn exclude(&mut self) {
        self.status = Status::Disagrees;
    }
}

/// Votes redundant sensors of one quantity. `validators` have been updated this step.
/// Returns the value to control on, or `None` when no usable sensor remains.
/// Sensors that stray from the median of three or more by more than `tolerance` are excluded
/// (their status becomes `Disagrees`); of two that disagree, the worse is used.
pub fn vote(validators: &mut [Validator], tolerance: f32) -> Option<f32> {
    let mut values = [0.0f32; 8];
    let mut n = 0;
    for v in validators.iter().filter(|v| v.status.usable()) {
        if let Some(slot) = values.get_mut(n) {
            *slot = v.value;
            n += 1;
        }
    }
    let values = values.get_mut(..n)?;
    match n {
        0 => None,
        1 => values.first().copied(),
        2 => {
            let (a, b) = (values.first().copied()?, values.get(1).copied()?);
            let worst_is_high = validators.first().is_some_and(|v| v.limits.worst_is_high);
            if (a - b).abs() <= tolerance {
                Some(0.5 * (a + b))
            } else if worst_is_high {
                Some(a.max(b))
            } else {
                Some(a.min(b))
            }
        }
        _ => {
            values.sort_unstable_by(f32::total_cmp);
            let median = if n % 2 == 1 {
                values.get(n / 2).copied()?
            } else {
                0.5 * (values.get(n / 2 - 1).copied()? + values.get(n / 2).copied()?)
            };
            let mut sum = 0.0;
            let mut count = 0.0;
            for v in validators.iter_mut().filter(|v| v.status.usable()) {
                if (v.value - median).abs() > tolerance {
                    v.exclude();
                } else {
                    sum += v.value;
                    count += 1.0;
                }
            }
            if count > 0.0 {
                Some(sum / count)
            } else {
                Some(median)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: SensorLimits = SensorLimits {
        min: -10.0,
        max: 100.0,
        stale_after_s: 1.0,
        invalid_after_s: 10.0,
        max_slew_per_s: 0.5,
        worst_is_high: true,
        stuck_epsilon: 0.0,
        stuck_after_s: 5.0,
        stuck_witness_delta: 0.1,
    };

    fn at(ms: u64, value: f32) -> Reading {
        Reading {
            value,
            at: Instant(ms),
        }
    }

    #[test]
    fn an_open_circuit_reads_out_of_range() {
        let mut v = Validator::new(LIMITS);
        assert_eq!(
            v.update(Instant(0), at(0, -40.0), None).0,
            Status::OutOfRange
        );
    }

    #[test]
    fn a_stale_sensor_is_projected_to_its_worst_case_then_lost() {
        let mut v = Validator::new(LIMITS);
        v.update(Instant(0), at(0, 30.0), None);
        let (status, value) = v.update(Instant(4000), at(0, 30.0), None);
        assert_eq!(status, Status::Stale);
        assert!((value - 32.0).abs() < 1e-4, "{value}");
        assert_eq!(v.update(Instant(11_000), at(0, 30.0), None).0, Status::Lost);
    }

    #[test]
    fn a_reading_frozen_while_its_witness_moves_is_stuck() {
        let mut v = Validator::new(LIMITS);
        for ms in (0..6000).step_by(100) {
            // The process moves 0.2 K at 1 s; the sensor has 5 s to follow.
            let witness = if ms < 1000 { 30.0 } else { 30.2 };
            assert_eq!(
                v.update(Instant(ms), at(ms, 30.0), Some(witness)).0,
                Status::Ok,
                "{ms}"
            );
        }
        assert_eq!(
            v.update(Instant(6000), at(6000, 30.0), Some(30.2)).0,
            Status::Stuck
        );
        assert_eq!(
            v.update(Instant(6100), at(6100, 30.01), Some(30.2)).0,
            Status::Ok
        );
    }

    #[test]
    fn a_quiet_reading_on_a_steady_process_is_not_stuck() {
        let mut v = Validator::new(LIMITS);
        for ms in (0..600_000).step_by(100) {
            // The witness wanders within 0.1 K (its noise), the reading not at all.
            let witness = 30.0 + if ms % 300 == 0 { 0.09 } else { 0.0 };
            assert_eq!(
                v.update(Instant(ms), at(ms, 30.0), Some(witness)).0,
                Status::Ok,
                "{ms}"
            );
        }
        // Without a witness nothing tells quiet from seized.
        let mut v = Validator::new(LIMITS);
        for ms in (0..600_000).step_by(100) {
            assert_eq!(v.update(Instant(ms), at(ms, 30.0), None).0, Status::Ok);
        }
    }

    #[test]
    fn the_vote_excludes_the_odd_one_out() {
        let mut vs = [Validator::new(LIMITS); 3];
        for (v, x) in vs.iter_mut().zip([30.0, 30.1, 35.0]) {
            v.update(Instant(0), at(0, x), None);
        }
        let value = vote(&mut vs, 0.5).unwrap_or(f32::NAN);
        assert!((value - 30.05).abs() < 1e-4);
        assert_eq!(vs[2].status(), Status::Disagrees);
    }

    #[test]
    fn two_disagreeing_sensors_give_the_worse_value_and_none_give_nothing() {
        let mut vs = [Validator::new(LIMITS); 2];
        vs[0].update(Instant(0), at(0, 30.0), None);
        vs[1].update(Instant(0), at(0, 33.0), None);
        assert_eq!(vote(&mut vs, 0.5), Some(33.0));
        vs[0].update(Instant(0), at(0, 500.0), None);
        vs[1].update(Instant(0), at(0, 500.0), None);
        assert_eq!(vote(&mut vs, 0.5), None);
    }
}
