//! The supervisory alarms, each a delayed level with hysteresis (Coolcentric's CDU practice):
//! the valve not following its demand (`ValveFault`), the supply above or below its setpoint
//! by the band (`SupplyTempHigh`/`Low`, inhibited while stopped and after a start until the
//! supply first enters its band, at most `startup_inhibit_s`), and the valve wide open with the supply still too warm
//! (`CannotHoldSetpoint`, critical).

use crate::Instant;
use crate::alarm::DelayedLevel;

use super::sensors::SensorBank;
use super::{Alarm, Annunciator, CoolantConfig, CoolantInputs};

/// The supervisory alarms' delayed levels.
#[derive(Debug, Clone)]
pub(super) struct Supervisor {
    supply_high: DelayedLevel,
    supply_low: DelayedLevel,
    cannot_hold: DelayedLevel,
    valve_fault: DelayedLevel,
}

impl Supervisor {
    pub fn new(config: &CoolantConfig) -> Self {
        Self {
            supply_high: DelayedLevel::new(
                config.supply_alarm_delay_s,
                config.supply_alarm_hysteresis_k,
            ),
            supply_low: DelayedLevel::new(
                config.supply_alarm_delay_s,
                config.supply_alarm_hysteresis_k,
            ),
            cannot_hold: DelayedLevel::new(config.cannot_hold_delay_s, config.cannot_hold_excess_k),
            valve_fault: DelayedLevel::new(config.valve_fault_delay_s, 2.0),
        }
    }

    /// Updates the alarms. `valve_demand_pct` is this step's demand; `inhibited`: the supply
    /// alarms are inhibited (stopped, or starting up).
    #[allow(clippy::too_many_arguments)] // the step's inputs, each from its own part
    pub fn step(
        &mut self,
        now: Instant,
        config: &CoolantConfig,
        inputs: &CoolantInputs,
        sensors: &SensorBank,
        supply_c: Option<f32>,
        valve_demand_pct: f32,
        inhibited: bool,
        annunciator: &mut Annunciator,
    ) {
        let c = config;
        let valve_error = if sensors.valve_feedback.status().usable() {
            (inputs.valve_feedback_pct.value - valve_demand_pct).abs() - c.valve_fault_tolerance_pct
        } else {
            -1.0
        };
        let valve_fault = self.valve_fault.update(now, valve_error);
        annunciator.set(now, Alarm::ValveFault, 0, false, valve_fault);

        if let (Some(supply), false) = (supply_c, inhibited) {
            let high = self
                .supply_high
                .update(now, supply - c.supply_setpoint_c - c.supply_alarm_band_k);
            let low = self
                .supply_low
                .update(now, c.supply_setpoint_c - c.supply_alarm_band_k - supply);
            annunciator.set(now, Alarm::SupplyTempHigh, 0, false, high);
            annunciator.set(now, Alarm::SupplyTempLow, 0, false, low);
        } else {
            self.supply_high.reset();
            self.supply_low.reset();
        }

        let excess = match supply_c {
            Some(s) if valve_demand_pct >= 98.0 => s - c.supply_setpoint_c - c.cannot_hold_excess_k,
            _ => -2.0 * c.cannot_hold_excess_k - 1.0,
        };
        let cannot_hold = self.cannot_hold.update(now, excess);
        annunciator.set(now, Alarm::CannotHoldSetpoint, 0, true, cannot_hold);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_high_supply_alarms_after_its_delay_unless_inhibited() {
        let config = CoolantConfig::default();
        let sensors = SensorBank::new(&config);
        let inputs = CoolantInputs::uniform(Instant(0), 30.0);
        let mut s = Supervisor::new(&config);
        let mut ann = Annunciator::new();
        let hot = Some(config.supply_setpoint_c + 3.0);
        for k in 1..=1300 {
            s.step(
                Instant(k * 100),
                &config,
                &inputs,
                &sensors,
                hot,
                50.0,
                true,
                &mut ann,
            );
        }
        assert!(
            !ann.alarms().is_active(Alarm::SupplyTempHigh, 0),
            "inhibited"
        );
        for k in 1301..=2500 {
            s.step(
                Instant(k * 100),
                &config,
                &inputs,
                &sensors,
                hot,
                50.0,
                false,
                &mut ann,
            );
        }
        assert!(
            !ann.alarms().is_active(Alarm::SupplyTempHigh, 0),
            "119.9 s of 120"
        );
        s.step(
            Instant(250_100),
            &config,
            &inputs,
            &sensors,
            hot,
            50.0,
            false,
            &mut ann,
        );
        assert!(ann.alarms().is_active(Alarm::SupplyTempHigh, 0));
    }
}
