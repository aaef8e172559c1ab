//! The row's thermal headroom, broadcast on the row bus for the racks' power controllers: the
//! heat the loop could still reject now, less the load. It is what the row can do as measured,
//! not what its nameplate says:
//!
//! - the capacity is the model's heat with the valve wide open (at the measured facility water
//!   temperature, holding the setpoint, at the pumps' largest flow) **calibrated** by what the
//!   loop rejects now against what the model says it should at the valve's measured position
//!   and the measured flows (a fouled exchanger, a facility short of flow or a valve that passes
//!   less show as a factor below 1, a better row as one above; filtered over `CALIBRATION_S`);
//! - a valve that does not follow its demand (command and feedback apart by more than the
//!   valve-fault tolerance) is counted at where it stands: the capacity is what it rejects now;
//! - a valve wide open (95 % or more) with the supply still over its setpoint by more than
//!   0.5 K leaves none: the row cannot reject its present load at the setpoint, let alone more;
//! - the pumps' largest flow bounds it at the design temperature rise, and a loop whose flow has
//!   collapsed (no pump delivering), or whose flow cannot be measured, has none;
//! - while the supply holds its setpoint (within 0.5 K) with valve travel to spare, it is at
//!   least 5 % of the load: a model that thinks less of the row than the row does cannot
//!   starve the racks;
//! - it is never positive while the supply is above its alarm band, and zero while stopped or
//!   without a usable facility temperature.

use super::model::FullOpen;
use super::sensors::SensorBank;
use super::{CoolantConfig, CoolantInputs, CoolantState};

/// The supply holds its setpoint within this, K.
const HOLDING_K: f32 = 0.5;
/// A valve at this position or more has no travel left to reject more heat, %.
const OPEN_PCT: f32 = 95.0;
/// Time constant of the calibration factor's filter, s.
const CALIBRATION_S: f32 = 30.0;
/// The calibration moves only while the model's duty at the valve's position is at least this
/// share of the design heat (below, a ratio of small numbers is noise).
const CALIBRATION_MIN_SHARE: f32 = 0.1;

/// The heat exchanger fully open at the pumps' largest flow (fixed by the config, so computed
/// once) and the calibration of the model against the row.
#[derive(Debug, Clone)]
pub(super) struct Headroom {
    full_open: FullOpen,
    /// What the row rejects over what the model says, filtered (1 until measured).
    calibration: f32,
}

/// What the headroom is judged on this step.
pub(super) struct Measured<'a> {
    pub state: CoolantState,
    pub sensors: &'a SensorBank,
    pub inputs: &'a CoolantInputs,
    /// The voted supply, degC.
    pub supply_c: Option<f32>,
    /// The valve demand this step, %.
    pub valve_demand_pct: f32,
    /// The row's heat load, W.
    pub heat_w: f32,
}

impl Headroom {
    pub fn new(config: &CoolantConfig) -> Self {
        Self {
            full_open: config
                .hx
                .full_open(config.hx.secondary_design_kg_s * config.max_flow_factor),
            calibration: 1.0,
        }
    }

    /// The headroom now, W; `dt` is the step.
    pub fn headroom_w(&mut self, config: &CoolantConfig, m: &Measured<'_>, dt: f32) -> f32 {
        let c = config;
        let s = m.sensors;
        let Some(supply) = m.supply_c else { return 0.0 };
        if !s.primary_supply.status().usable() || m.state == CoolantState::Stopped {
            return 0.0;
        }
        if supply > c.supply_setpoint_c + c.supply_alarm_band_k {
            return 0.0;
        }
        let facility = s.primary_supply.value();
        let kg_s = m.inputs.flow_lpm.value * c.coolant_density_kg_per_l / 60.0;
        if !s.flow.status().usable() || kg_s < 0.2 * c.hx.secondary_design_kg_s {
            // No pump is delivering, or nothing says one is: no heat can be promised.
            return 0.0;
        }
        // What the loop rejects now, measured: flow x (return - supply).
        let measured_w = s
            .return_temp
            .status()
            .usable()
            .then(|| kg_s * c.hx.secondary_cp_j_per_kg_k * (s.return_temp.value() - supply));
        let valve_ok = s.valve_feedback.status().usable();
        let position = m.inputs.valve_feedback_pct.value;
        if let (Some(q), true) = (measured_w, valve_ok) {
            let primary = c.hx.primary_max_kg_s * c.hx.fraction_for_valve(position);
            let model = c.hx.duty_w(kg_s, primary, s.return_temp.value(), facility);
            if model > CALIBRATION_MIN_SHARE * c.design_heat_w && q > 0.0 {
                let ratio = (q / model).clamp(0.2, 1.5);
                self.calibration += (ratio - self.calibration) * (dt / CALIBRATION_S).min(1.0);
            }
        }
        // Wide open and the supply still over its setpoint: the row cannot reject even its
        // load at the setpoint, whatever the model says it could.
        if valve_ok && position >= OPEN_PCT && supply > c.supply_setpoint_c + HOLDING_K {
            return 0.0;
        }
        let stuck = valve_ok && (position - m.valve_demand_pct).abs() > c.valve_fault_tolerance_pct;
        let capacity = match measured_w {
            // The valve will not move: the row rejects what it rejects now.
            Some(q) if stuck => q.max(0.0),
            _ => {
                let max_kg_s = c.hx.secondary_design_kg_s * c.max_flow_factor;
                let hx_limit =
                    self.calibration * self.full_open.max_heat_w(c.supply_setpoint_c, facility);
                let flow_limit = max_kg_s * c.hx.secondary_cp_j_per_kg_k * c.design_rise_k;
                hx_limit.min(flow_limit)
            }
        };
        // While the supply holds its setpoint with valve travel to spare, the row can take at
        // least a little more than it carries: the racks are not starved by a model that
        // thinks less of the row than the row does.
        let holding = (supply - c.supply_setpoint_c).abs() <= HOLDING_K
            && valve_ok
            && !stuck
            && position < OPEN_PCT;
        let capacity = if holding {
            capacity.max(1.05 * m.heat_w)
        } else {
            capacity
        };
        (capacity - m.heat_w).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Instant;

    /// Sensors with the supply at 30 degC, facility at `facility_c`, 1,300 L/min, return
    /// `return_c`, the valve's feedback at `valve_pct`.
    fn bench(
        return_c: f32,
        valve_pct: f32,
        facility_c: f32,
    ) -> (CoolantConfig, SensorBank, CoolantInputs) {
        let config = CoolantConfig::default();
        let mut sensors = SensorBank::new(&config);
        let mut inputs = CoolantInputs::uniform(Instant(100), 30.0);
        inputs.primary_supply_temp_c.value = facility_c;
        inputs.return_temp_c.value = return_c;
        inputs.flow_lpm.value = 1_300.0;
        inputs.valve_feedback_pct.value = valve_pct;
        let mut ann = super::super::Annunciator::new();
        sensors.step(Instant(100), &inputs, &config, &mut ann);
        (config, sensors, inputs)
    }

    fn measured<'a>(
        sensors: &'a SensorBank,
        inputs: &'a CoolantInputs,
        supply: f32,
        demand: f32,
        heat: f32,
    ) -> Measured<'a> {
        Measured {
            state: CoolantState::Running,
            sensors,
            inputs,
            supply_c: Some(supply),
            valve_demand_pct: demand,
            heat_w: heat,
        }
    }

    #[test]
    fn headroom_is_the_capacity_left_and_none_while_stopped_hot_or_stuck() {
        let (config, sensors, inputs) = bench(30.0, 10.0, 25.0);
        let mut h = Headroom::new(&config);
        let idle = h.headroom_w(&config, &measured(&sensors, &inputs, 30.0, 10.0, 0.0), 0.1);
        let busy = h.headroom_w(
            &config,
            &measured(&sensors, &inputs, 30.0, 10.0, 500_000.0),
            0.1,
        );
        assert!(idle > 500_000.0, "{idle}");
        assert!((idle - busy - 500_000.0).abs() < 1.0);
        // Above the alarm band: none, whatever the model says.
        assert_eq!(
            h.headroom_w(&config, &measured(&sensors, &inputs, 32.5, 10.0, 0.0), 0.1),
            0.0
        );
        let mut stopped = measured(&sensors, &inputs, 30.0, 10.0, 0.0);
        stopped.state = CoolantState::Stopped;
        assert_eq!(h.headroom_w(&config, &stopped, 0.1), 0.0);
        // A valve stuck at 50 % asked for 90 %: what it rejects now, no more.
        let (config, sensors, inputs) = bench(38.0, 50.0, 25.0);
        let now_w = 1_300.0 * config.coolant_density_kg_per_l / 60.0
            * config.hx.secondary_cp_j_per_kg_k
            * 8.0;
        let stuck = h.headroom_w(
            &config,
            &measured(&sensors, &inputs, 30.0, 90.0, now_w - 1_000.0),
            0.1,
        );
        assert!((stuck - 1_000.0).abs() < 50.0, "{stuck}");
        // Wide open and the supply 1 K over its setpoint, inside the alarm band: none, though
        // the model (facility water 5 K under the supply) promises plenty.
        let (config, sensors, inputs) = bench(38.0, 100.0, 25.0);
        let open = measured(&sensors, &inputs, 31.0, 100.0, now_w);
        assert_eq!(h.headroom_w(&config, &open, 0.1), 0.0);
        // The same valve with the supply held: the model's headroom.
        let held = measured(&sensors, &inputs, 30.0, 100.0, now_w);
        assert!(h.headroom_w(&config, &held, 0.1) > 100_000.0);
    }

    #[test]
    fn a_row_that_rejects_less_than_its_model_gets_less_headroom() {
        // Facility water 2 K under the setpoint: the exchanger, not the flow, limits. The valve
        // at 80 % should reject (by the model) much more than the 1 K rise measured.
        let (config, sensors, inputs) = bench(31.0, 80.0, 28.0);
        let mut h = Headroom::new(&config);
        let first = h.headroom_w(&config, &measured(&sensors, &inputs, 30.0, 80.0, 0.0), 0.1);
        let mut later = first;
        for _ in 0..3_000 {
            later = h.headroom_w(&config, &measured(&sensors, &inputs, 30.0, 80.0, 0.0), 0.1);
        }
        assert!(later < 0.7 * first, "{first} -> {later}");
    }
}
