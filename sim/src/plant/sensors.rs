//! Sensors between the plant and the controller: first-order lag (a thermowell, a transmitter's
//! damping), Gaussian noise, quantization, and injectable faults.
//!
//! Faults a scenario can inject into any analog channel:
//! - `stuck`: the output freezes at its last value (a seized transmitter);
//! - `open_circuit`: the output reads far below range, as an open 4-20 mA loop or RTD does;
//! - `drift`: an offset growing at a rate (units/s);
//! - `offset`: a fixed offset;
//! - `stale`: no new samples (the bus to the sensor is down); the last sample keeps its old
//!   time stamp, so the controller sees its age.

use rack_control::Instant;
use rack_control::sensor::Reading;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// A sensor fault.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", deny_unknown_fields)]
pub enum SensorFault {
    /// Output frozen.
    Stuck,
    /// Reads far below range.
    OpenCircuit,
    /// Offset growing at `rate_per_s`.
    Drift {
        /// Units per second.
        rate_per_s: f64,
    },
    /// Fixed offset.
    Offset {
        /// Units.
        value: f64,
    },
    /// No new samples.
    Stale,
}

/// Noise, resolution and lag of one channel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SensorSpec {
    /// Standard deviation of the noise, units.
    pub noise_sd: f64,
    /// Resolution, units (0 = none).
    pub quantum: f64,
    /// First-order lag, s.
    pub lag_s: f64,
}

/// One analog channel.
#[derive(Debug, Clone)]
pub struct Sensor {
    spec: SensorSpec,
    filtered: Option<f64>,
    last: Reading,
    fault: Option<(SensorFault, f64)>,
    rng: SmallRng,
    /// The lag's blend for the last step length: `(dt_s, 1 - exp(-dt_s / lag_s))` (the step
    /// is the same every call, so its `exp` is taken once).
    blend: (f64, f64),
}

impl Sensor {
    /// A channel with its own noise stream.
    pub fn new(spec: SensorSpec, seed: u64) -> Self {
        Self {
            spec,
            filtered: None,
            last: Reading {
                value: 0.0,
                at: Instant(0),
            },
            fault: None,
            rng: SmallRng::seed_from_u64(seed),
            blend: (f64::NAN, 0.0),
        }
    }

    /// Injects `fault` from time `t_s` on (`None` repairs the sensor).
    pub fn set_fault(&mut self, fault: Option<SensorFault>, t_s: f64) {
        self.fault = fault.map(|f| (f, t_s));
    }

    /// Samples the true value `truth` at time `t_s`.
    pub fn sample(&mut self, t_s: f64, dt_s: f64, truth: f64) -> Reading {
        let filtered = match self.filtered {
            Some(f) if self.spec.lag_s > 0.0 => {
                if self.blend.0.to_bits() != dt_s.to_bits() {
                    self.blend = (dt_s, 1.0 - (-dt_s / self.spec.lag_s).exp());
                }
                f + (truth - f) * self.blend.1
            }
            _ => truth,
        };
        self.filtered = Some(filtered);
        let noise = self.spec.noise_sd * standard_normal(&mut self.rng);
        let mut value = filtered + noise;
        let at = Instant(millis(t_s));
        match self.fault {
            Some((SensorFault::Stuck, _)) => {
                self.last.at = at;
                return self.last;
            }
            Some((SensorFault::Stale, _)) => return self.last,
            Some((SensorFault::OpenCircuit, _)) => value = -999.0,
            Some((SensorFault::Drift { rate_per_s }, since)) => value += rate_per_s * (t_s - since),
            Some((SensorFault::Offset { value: offset }, _)) => value += offset,
            _ => {}
        }
        if self.spec.quantum > 0.0 {
            value = (value / self.spec.quantum).round() * self.spec.quantum;
        }
        #[allow(clippy::cast_possible_truncation)] // sensor values fit f32
        let reading = Reading {
            value: value as f32,
            at,
        };
        self.last = reading;
        reading
    }
}

/// Milliseconds of a time in seconds.
pub fn millis(t_s: f64) -> u64 {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // simulation time >= 0
    let ms = (t_s.max(0.0) * 1000.0).round() as u64;
    ms
}

/// A standard normal sample by the Box-Muller transform (written here rather than adding
/// `rand_distr` for one distribution).
pub fn standard_normal(rng: &mut SmallRng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SensorSpec {
        SensorSpec {
            noise_sd: 0.02,
            quantum: 0.01,
            lag_s: 0.0,
        }
    }

    #[test]
    fn a_live_sensor_moves_and_a_stuck_one_does_not() {
        let mut s = Sensor::new(spec(), 1);
        let a = s.sample(0.1, 0.1, 30.0);
        let b = s.sample(0.2, 0.1, 30.0);
        let c = s.sample(0.3, 0.1, 30.0);
        assert!(a.value != b.value || b.value != c.value);
        s.set_fault(Some(SensorFault::Stuck), 0.3);
        let stuck = s.sample(0.4, 0.1, 35.0);
        assert_eq!(stuck.value, c.value);
        assert_eq!(stuck.at, Instant(400));
    }

    #[test]
    fn a_stale_sensor_keeps_its_old_time_stamp() {
        let mut s = Sensor::new(spec(), 2);
        let last = s.sample(1.0, 0.1, 30.0);
        s.set_fault(Some(SensorFault::Stale), 1.0);
        assert_eq!(s.sample(5.0, 0.1, 40.0), last);
    }

    #[test]
    fn an_open_circuit_reads_out_of_range() {
        let mut s = Sensor::new(spec(), 3);
        s.set_fault(Some(SensorFault::OpenCircuit), 0.0);
        assert!(s.sample(1.0, 0.1, 30.0).value < -100.0);
    }
}
