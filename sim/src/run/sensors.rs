//! The row's sensor set as the CDU's board would have it: three redundant supply
//! temperatures, return, facility supply and return, flow, differential pressure and the
//! valve's position feedback, each with its noise, resolution and lag.

use rack_control::coolant::MAX_SUPPLY_SENSORS;

use crate::plant::params::RowParams;
use crate::plant::sensors::{Sensor, SensorSpec};
use crate::scenario::SensorId;

pub(super) struct Sensors {
    pub(super) supply: Vec<Sensor>,
    pub(super) ret: Sensor,
    pub(super) primary_supply: Sensor,
    pub(super) primary_return: Sensor,
    pub(super) flow: Sensor,
    pub(super) dp: Sensor,
    pub(super) valve: Sensor,
}

impl Sensors {
    /// The sensors of the row `p` (their lags are the plant's), noise seeded from `seed`.
    pub(super) fn new(seed: u64, p: &RowParams) -> Self {
        // Pt100 in a thermowell: 0.02 K noise, 0.01 K resolution (assumed).
        let temp = |lag_s| SensorSpec {
            noise_sd: 0.02,
            quantum: 0.01,
            lag_s,
        };
        let s = |k: u64, spec| Sensor::new(spec, seed.wrapping_mul(31).wrapping_add(k));
        Self {
            supply: (0..MAX_SUPPLY_SENSORS as u64)
                .map(|k| s(k, temp(p.supply_sensor_lag_s)))
                .collect(),
            ret: s(10, temp(p.return_sensor_lag_s)),
            primary_supply: s(11, temp(p.facility_sensor_lag_s)),
            primary_return: s(12, temp(p.facility_sensor_lag_s)),
            flow: s(
                13,
                SensorSpec {
                    noise_sd: 3.0,
                    quantum: 0.1,
                    lag_s: p.flow_sensor_lag_s,
                },
            ),
            dp: s(
                14,
                SensorSpec {
                    noise_sd: 0.2,
                    quantum: 0.1,
                    lag_s: p.dp_sensor_lag_s,
                },
            ),
            valve: s(
                15,
                SensorSpec {
                    noise_sd: 0.2,
                    quantum: 0.1,
                    lag_s: 0.0,
                },
            ),
        }
    }

    pub(super) fn get(&mut self, id: SensorId) -> Option<&mut Sensor> {
        match id {
            SensorId::Supply0 => self.supply.get_mut(0),
            SensorId::Supply1 => self.supply.get_mut(1),
            SensorId::Supply2 => self.supply.get_mut(2),
            SensorId::Return => Some(&mut self.ret),
            SensorId::PrimarySupply => Some(&mut self.primary_supply),
            SensorId::PrimaryReturn => Some(&mut self.primary_return),
            SensorId::Flow => Some(&mut self.flow),
            SensorId::Dp => Some(&mut self.dp),
            SensorId::ValveFeedback => Some(&mut self.valve),
        }
    }
}
