//! GPU workloads: each rack's power demand over time, as a fraction of its design power.
//!
//! Shapes: constant; a step (with a ramp); synchronized training oscillation (compute and
//! communication phases, one or several periods in turn); a job that starts, checkpoints
//! (power dips) and stops; and a 24 h diurnal mix of jobs. Every rack follows the same shape
//! with its own jitter: a fixed level offset and a time offset, so "synchronized" racks are
//! nearly, not perfectly, in phase.

use serde::{Deserialize, Serialize};

use crate::validate::{Invalid, TIME_LIMIT_S, within};

/// The shape of the workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", deny_unknown_fields)]
pub enum Shape {
    /// A constant level.
    Constant {
        /// Fraction of design power.
        level: f64,
    },
    /// From one level to another at a time, over a ramp.
    Step {
        /// Level before.
        from: f64,
        /// Level after.
        to: f64,
        /// Start of the ramp, s.
        at_s: f64,
        /// Ramp duration, s.
        #[serde(default = "one")]
        ramp_s: f64,
    },
    /// Square-wave training swings between two levels; `periods_s` are played in turn, each
    /// for `each_s` seconds.
    Oscillation {
        /// Level in the communication phase.
        low: f64,
        /// Level in the compute phase.
        high: f64,
        /// Periods, s.
        periods_s: Vec<f64>,
        /// How long each period is played, s.
        each_s: f64,
        /// Fraction of a period at `high`.
        #[serde(default = "half")]
        duty: f64,
    },
    /// A job: idle, then running with checkpoint dips, then idle again.
    Job {
        /// Level when idle.
        idle: f64,
        /// Level while running.
        level: f64,
        /// Start, s.
        start_s: f64,
        /// Stop, s.
        stop_s: f64,
        /// Checkpoint interval, s.
        checkpoint_every_s: f64,
        /// Checkpoint duration, s.
        checkpoint_s: f64,
        /// Level during a checkpoint.
        checkpoint_level: f64,
    },
    /// A 24 h mix: a daily swing between `night` and `day` levels, jobs that start and stop
    /// every `job_s` on some racks, and checkpoint dips.
    Diurnal {
        /// Mean level at night.
        night: f64,
        /// Mean level at the afternoon peak.
        day: f64,
        /// Job length, s.
        job_s: f64,
        /// Checkpoint interval, s.
        checkpoint_every_s: f64,
    },
}

fn one() -> f64 {
    1.0
}

fn half() -> f64 {
    0.5
}

/// A workload: a shape and per-rack jitter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// The shape.
    pub shape: Shape,
    /// Per-rack level spread, fraction (each rack gets a fixed offset within +/- this).
    #[serde(default)]
    pub jitter: f64,
    /// Per-rack time spread, s (each rack runs up to this much late).
    #[serde(default)]
    pub time_jitter_s: f64,
    /// Index of this row's first rack in a campus: keys the racks' jitter, so that no two
    /// rows of a campus jitter alike (0 for a lone row).
    #[serde(default, skip)]
    pub rack_offset: u64,
}

impl Workload {
    /// The shape's level at `t_s` before jitter.
    pub fn level(&self, t_s: f64) -> f64 {
        match &self.shape {
            Shape::Constant { level } => *level,
            Shape::Step {
                from,
                to,
                at_s,
                ramp_s,
            } => {
                let x = ((t_s - at_s) / ramp_s.max(1e-9)).clamp(0.0, 1.0);
                from + (to - from) * x
            }
            Shape::Oscillation {
                low,
                high,
                periods_s,
                each_s,
                duty,
            } => {
                if periods_s.is_empty() || t_s < 0.0 {
                    return *high;
                }
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // t >= 0
                let index = ((t_s / each_s.max(1e-9)) as usize).min(periods_s.len() - 1);
                let period = periods_s.get(index).copied().unwrap_or(1.0).max(1e-9);
                if (t_s % period) / period < *duty {
                    *high
                } else {
                    *low
                }
            }
            Shape::Job {
                idle,
                level,
                start_s,
                stop_s,
                checkpoint_every_s,
                checkpoint_s,
                checkpoint_level,
            } => {
                if t_s < *start_s || t_s >= *stop_s {
                    *idle
                } else if *checkpoint_every_s > 0.0
                    && (t_s - start_s) % checkpoint_every_s > checkpoint_every_s - checkpoint_s
                {
                    *checkpoint_level
                } else {
                    *level
                }
            }
            Shape::Diurnal {
                night,
                day,
                job_s,
                checkpoint_every_s,
            } => {
                let phase = 2.0 * std::f64::consts::PI * (t_s / 86_400.0 - 0.625);
                let base = night + (day - night) * 0.5 * (1.0 + phase.cos());
                // Jobs: a slow square wave of +/-10 % on top, and 30 s checkpoint dips.
                let job = if (t_s / job_s.max(1.0)).floor() % 2.0 == 0.0 {
                    0.1
                } else {
                    -0.1
                };
                let dip = if *checkpoint_every_s > 0.0 && t_s % checkpoint_every_s < 30.0 {
                    -0.25
                } else {
                    0.0
                };
                (base + job + dip).clamp(0.1, 1.0)
            }
        }
    }

    /// Rack `rack`'s level at `t_s`, with its jitter (deterministic per rack).
    pub fn rack_level(&self, rack: usize, t_s: f64) -> f64 {
        let key = self.rack_offset.wrapping_mul(2) + rack as u64;
        let u = unit_hash(key);
        let v = unit_hash(key + 1000 + self.rack_offset);
        let t = t_s - self.time_jitter_s * v;
        (self.level(t) * (1.0 + self.jitter * (2.0 * u - 1.0))).max(0.0)
    }
}

/// Levels are fractions of the rack's design power; a GPU rack's transients reach ~1.4 x its
/// steady power (docs/domain.md), so 1.5 is the most a level may be.
const LEVEL_MAX: f64 = 1.5;

impl Shape {
    /// Checks the levels, times and periods; fields are named as in the file's `shape`.
    pub fn validate(&self) -> Result<(), Invalid> {
        match self {
            Shape::Constant { level: l } => level("level", *l),
            Shape::Step {
                from,
                to,
                at_s,
                ramp_s,
            } => {
                level("from", *from)?;
                level("to", *to)?;
                time("at_s", *at_s)?;
                within("ramp_s", *ramp_s, 0.0, 86_400.0, "s; 0 is a jump")
            }
            Shape::Oscillation {
                low,
                high,
                periods_s,
                each_s,
                duty,
            } => validate_oscillation(*low, *high, periods_s, *each_s, *duty),
            Shape::Job {
                idle,
                level: running,
                start_s,
                stop_s,
                checkpoint_every_s,
                checkpoint_s,
                checkpoint_level,
            } => validate_job(
                [*idle, *running, *checkpoint_level],
                *start_s,
                *stop_s,
                *checkpoint_every_s,
                *checkpoint_s,
            ),
            Shape::Diurnal {
                night,
                day,
                job_s,
                checkpoint_every_s,
            } => {
                level("night", *night)?;
                level("day", *day)?;
                within("job_s", *job_s, 1.0, 86_400.0, "s a job runs")?;
                within(
                    "checkpoint_every_s",
                    *checkpoint_every_s,
                    0.0,
                    86_400.0,
                    "s; 0 for none",
                )
            }
        }
    }
}

/// A level: a fraction of design power.
fn level(field: &str, v: f64) -> Result<(), Invalid> {
    within(
        field,
        v,
        0.0,
        LEVEL_MAX,
        "fraction of design power; transients reach ~1.4",
    )
}

/// A time after the warm-up.
fn time(field: &str, v: f64) -> Result<(), Invalid> {
    within(
        field,
        v,
        -TIME_LIMIT_S,
        TIME_LIMIT_S,
        "s after the warm-up, finite",
    )
}

/// An oscillation's levels, periods (each at least two control steps), time per period, duty.
fn validate_oscillation(
    low: f64,
    high: f64,
    periods_s: &[f64],
    each_s: f64,
    duty: f64,
) -> Result<(), Invalid> {
    level("low", low)?;
    level("high", high)?;
    if periods_s.is_empty() {
        return Err(Invalid::new(
            "periods_s",
            "[]",
            "one or more periods (the swing's period, s, played in turn)",
        ));
    }
    for (i, p) in periods_s.iter().enumerate() {
        within(
            &format!("periods_s[{i}]"),
            *p,
            0.2,
            86_400.0,
            "s; a swing needs at least two 100 ms control steps",
        )?;
    }
    within(
        "each_s",
        each_s,
        0.1,
        TIME_LIMIT_S,
        "s each period is played",
    )?;
    within("duty", duty, 0.0, 1.0, "share of a period at `high`")
}

/// A job's levels (idle, running, at a checkpoint), its start and stop, its checkpoints.
fn validate_job(
    levels: [f64; 3],
    start_s: f64,
    stop_s: f64,
    checkpoint_every_s: f64,
    checkpoint_s: f64,
) -> Result<(), Invalid> {
    let [idle, running, checkpoint_level] = levels;
    level("idle", idle)?;
    level("level", running)?;
    level("checkpoint_level", checkpoint_level)?;
    time("start_s", start_s)?;
    within(
        "stop_s",
        stop_s,
        start_s,
        TIME_LIMIT_S,
        "s, not before start_s",
    )?;
    within(
        "checkpoint_every_s",
        checkpoint_every_s,
        0.0,
        TIME_LIMIT_S,
        "s; 0 for none",
    )?;
    within(
        "checkpoint_s",
        checkpoint_s,
        0.0,
        checkpoint_every_s.max(0.0),
        "s, at most checkpoint_every_s",
    )
}

impl Workload {
    /// Checks the shape and the jitter; fields are named as in the file under `[workload]`
    /// (`shape.level`, `jitter`, ...).
    pub fn validate(&self) -> Result<(), Invalid> {
        self.shape.validate().map_err(|e| e.under("shape"))?;
        within(
            "jitter",
            self.jitter,
            0.0,
            0.5,
            "each rack's level within +/- this share of the shape's",
        )?;
        within(
            "time_jitter_s",
            self.time_jitter_s,
            0.0,
            3_600.0,
            "s each rack may run late",
        )
    }
}

/// A fixed pseudo-random number in [0, 1) per key (splitmix64).
fn unit_hash(key: u64) -> f64 {
    let mut z = key.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_ramps_between_its_levels() {
        let w = Workload {
            shape: Shape::Step {
                from: 0.2,
                to: 1.0,
                at_s: 10.0,
                ramp_s: 1.0,
            },
            jitter: 0.0,
            time_jitter_s: 0.0,
            rack_offset: 0,
        };
        assert!((w.level(9.0) - 0.2).abs() < 1e-12);
        assert!((w.level(10.5) - 0.6).abs() < 1e-12);
        assert!((w.level(12.0) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn oscillation_plays_each_period_in_turn() {
        let w = Workload {
            shape: Shape::Oscillation {
                low: 0.3,
                high: 1.0,
                periods_s: vec![2.0, 60.0],
                each_s: 100.0,
                duty: 0.5,
            },
            jitter: 0.0,
            time_jitter_s: 0.0,
            rack_offset: 0,
        };
        assert!((w.level(0.5) - 1.0).abs() < 1e-12);
        assert!((w.level(1.5) - 0.3).abs() < 1e-12);
        assert!((w.level(100.0 + 20.0) - 1.0).abs() < 1e-12);
        assert!(
            (w.level(155.0) - 0.3).abs() < 1e-12,
            "35 s into a 60 s period is the low phase"
        );
    }

    #[test]
    fn jitter_spreads_racks_but_keeps_each_rack_fixed() {
        let w = Workload {
            shape: Shape::Constant { level: 1.0 },
            jitter: 0.05,
            time_jitter_s: 0.0,
            rack_offset: 0,
        };
        let levels: Vec<f64> = (0..8).map(|r| w.rack_level(r, 0.0)).collect();
        assert!(levels.iter().all(|l| (0.95..=1.05).contains(l)));
        assert!(levels.windows(2).any(|p| (p[0] - p[1]).abs() > 1e-6));
        assert!((w.rack_level(3, 0.0) - w.rack_level(3, 100.0)).abs() < 1e-12);
    }
}
