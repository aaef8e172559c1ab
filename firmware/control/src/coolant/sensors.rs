//! Sensor validation: every analog input through its [`Validator`] (range, stale with the
//! worst-case projection, stuck), the redundant secondary supply sensors voted, and a
//! `SensorFault` alarm per failed sensor (instances per [`sensor_index`]). Without any valid
//! supply reading the controller has nothing to hold: `SupplySensorsLost` (critical), and the
//! orchestrator goes Failsafe.

use heapless::Vec;

use crate::Instant;
use crate::sensor::{Status, Validator, vote};

use super::{Alarm, Annunciator, CoolantConfig, CoolantInputs, MAX_SUPPLY_SENSORS, sensor_index};

/// The validated inputs of one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Validated {
    /// The voted supply temperature, degC, if any supply sensor is valid.
    pub supply_c: Option<f32>,
    /// Sensors that failed validation, a bit per [`sensor_index`].
    pub faults: u32,
}

/// Every sensor's validator.
#[derive(Debug, Clone)]
pub(super) struct SensorBank {
    supply: [Validator; MAX_SUPPLY_SENSORS],
    pub return_temp: Validator,
    pub primary_supply: Validator,
    pub primary_return: Validator,
    pub flow: Validator,
    pub dp: Validator,
    pub valve_feedback: Validator,
}

impl SensorBank {
    pub fn new(config: &CoolantConfig) -> Self {
        Self {
            supply: [Validator::new(config.temp_sensor); MAX_SUPPLY_SENSORS],
            return_temp: Validator::new(config.temp_sensor),
            primary_supply: Validator::new(config.temp_sensor),
            primary_return: Validator::new(config.temp_sensor),
            flow: Validator::new(config.flow_sensor),
            dp: Validator::new(config.dp_sensor),
            valve_feedback: Validator::new(config.valve_sensor),
        }
    }

    /// Validates every sensor, votes the supply, and raises the sensor alarms.
    pub fn step(
        &mut self,
        now: Instant,
        inputs: &CoolantInputs,
        config: &CoolantConfig,
        annunciator: &mut Annunciator,
    ) -> Validated {
        let n = config.supply_sensors;
        for (i, (validator, reading)) in self
            .supply
            .iter_mut()
            .zip(&inputs.supply_temps_c)
            .take(n)
            .enumerate()
        {
            validator.update(now, *reading, partners_mean(inputs, config, i));
        }
        let heat = heat_witness_k(now, inputs, config);
        let supply_c = self
            .supply
            .get_mut(..n)
            .and_then(|s| vote(s, config.supply_vote_tolerance_k));
        let singles = [
            (
                sensor_index::RETURN,
                self.return_temp.update(now, inputs.return_temp_c, heat).0,
            ),
            (
                sensor_index::PRIMARY_SUPPLY,
                self.primary_supply
                    .update(now, inputs.primary_supply_temp_c, None)
                    .0,
            ),
            (
                sensor_index::PRIMARY_RETURN,
                self.primary_return
                    .update(now, inputs.primary_return_temp_c, heat)
                    .0,
            ),
            (
                sensor_index::FLOW,
                self.flow.update(now, inputs.flow_lpm, None).0,
            ),
            (
                sensor_index::DIFFERENTIAL_PRESSURE,
                self.dp.update(now, inputs.dp_kpa, None).0,
            ),
            (
                sensor_index::VALVE_FEEDBACK,
                self.valve_feedback
                    .update(now, inputs.valve_feedback_pct, None)
                    .0,
            ),
        ];
        let mut faults = 0u32;
        let statuses = self.supply.iter().take(n).enumerate().map(|(i, v)| {
            #[allow(clippy::cast_possible_truncation)] // i < 3
            (sensor_index::SUPPLY_0 + i as u8, v.status())
        });
        let all: Vec<(u8, Status), 12> = statuses.chain(singles).collect();
        for (index, status) in all {
            let bad = status != Status::Ok;
            if bad {
                faults |= 1 << index;
            }
            annunciator.set(now, Alarm::SensorFault, index, false, bad);
        }
        annunciator.set(now, Alarm::SupplySensorsLost, 0, true, supply_c.is_none());
        Validated { supply_c, faults }
    }

    /// Whether any of the `n` fitted supply sensors is not `Ok`.
    pub fn any_supply_not_ok(&self, n: usize) -> bool {
        self.supply.iter().take(n).any(|v| v.status() != Status::Ok)
    }
}

/// The stuck witness of supply sensor `i`: the mean of its fitted partners' in-range raw
/// readings (they see the same water), none without a partner.
fn partners_mean(inputs: &CoolantInputs, config: &CoolantConfig, i: usize) -> Option<f32> {
    let l = config.temp_sensor;
    let (sum, count) = inputs
        .supply_temps_c
        .iter()
        .take(config.supply_sensors)
        .enumerate()
        .filter(|&(j, r)| j != i && r.value.is_finite() && r.value >= l.min && r.value <= l.max)
        .fold((0.0, 0.0), |(s, c), (_, r)| (s + r.value, c + 1.0));
    (count > 0.0).then(|| sum / count)
}

/// The stuck witness of the return temperatures: the row's heat from the fresh rack power
/// reports as the rise it makes at design flow, K (none without a fresh report). A return
/// transmitter must move when this moves; the facility supply has no witness in the row.
fn heat_witness_k(now: Instant, inputs: &CoolantInputs, config: &CoolantConfig) -> Option<f32> {
    let mut power = 0.0;
    let mut fresh = false;
    for report in inputs.rack_reports.iter().take(config.racks).flatten() {
        if now.secs_since(report.at) <= config.report_stale_after_s {
            fresh = true;
            power += report.input_power_w;
        }
    }
    let design_w_per_k = config.hx.secondary_design_kg_s * config.hx.secondary_cp_j_per_kg_k;
    (fresh && design_w_per_k > 0.0).then(|| power * config.liquid_capture_fraction / design_w_per_k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_supply_sensor_alarms_and_the_vote_goes_on_until_none_is_left() {
        let config = CoolantConfig::default();
        let mut bank = SensorBank::new(&config);
        let mut ann = Annunciator::new();
        let mut inputs = CoolantInputs::uniform(Instant(100), 30.0);
        inputs.supply_temps_c[1].value = 500.0;
        let v = bank.step(Instant(100), &inputs, &config, &mut ann);
        assert_eq!(v.supply_c, Some(30.0));
        assert_eq!(v.faults, 1 << (sensor_index::SUPPLY_0 + 1));
        assert!(ann.alarms().is_active(Alarm::SensorFault, 1));
        assert!(!ann.alarms().is_active(Alarm::SupplySensorsLost, 0));
        inputs.supply_temps_c = [crate::sensor::Reading {
            value: 500.0,
            at: Instant(200),
        }; MAX_SUPPLY_SENSORS];
        let v = bank.step(Instant(200), &inputs, &config, &mut ann);
        assert_eq!(v.supply_c, None);
        assert!(ann.alarms().is_active(Alarm::SupplySensorsLost, 0));
    }
}
