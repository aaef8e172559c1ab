//! The row's thermal headroom, broadcast on the row bus for the racks' power controllers: the
//! heat the loop could still absorb, the lesser of what the heat exchanger rejects with the
//! valve wide open (at the measured facility water temperature) and what the pumps' largest
//! flow carries at the design temperature rise (beyond it the GPUs run hot), less the load.
//! Zero while stopped or without a usable facility temperature.

use super::model::FullOpen;
use super::sensors::SensorBank;
use super::{CoolantConfig, CoolantState};

/// The heat exchanger fully open at the pumps' largest flow (fixed by the config, so computed
/// once).
#[derive(Debug, Clone)]
pub(super) struct Headroom {
    full_open: FullOpen,
}

impl Headroom {
    pub fn new(config: &CoolantConfig) -> Self {
        Self {
            full_open: config
                .hx
                .full_open(config.hx.secondary_design_kg_s * config.max_flow_factor),
        }
    }

    /// The headroom with the row at `heat_w`, W.
    pub fn headroom_w(
        &self,
        config: &CoolantConfig,
        state: CoolantState,
        sensors: &SensorBank,
        heat_w: f32,
    ) -> f32 {
        let c = config;
        if !sensors.primary_supply.status().usable() || state == CoolantState::Stopped {
            return 0.0;
        }
        let max_kg_s = c.hx.secondary_design_kg_s * c.max_flow_factor;
        let hx_limit = self
            .full_open
            .max_heat_w(c.supply_setpoint_c, sensors.primary_supply.value());
        let flow_limit = max_kg_s * c.hx.secondary_cp_j_per_kg_k * c.design_rise_k;
        (hx_limit.min(flow_limit) - heat_w).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Instant;

    #[test]
    fn headroom_is_what_the_exchanger_and_flow_leave_and_none_while_stopped() {
        let config = CoolantConfig::default();
        let mut sensors = SensorBank::new(&config);
        let mut inputs = super::super::CoolantInputs::uniform(Instant(100), 30.0);
        inputs.primary_supply_temp_c.value = 25.0;
        let mut ann = super::super::Annunciator::new();
        sensors.step(Instant(100), &inputs, &config, &mut ann);
        let h = Headroom::new(&config);
        let idle = h.headroom_w(&config, CoolantState::Running, &sensors, 0.0);
        let busy = h.headroom_w(&config, CoolantState::Running, &sensors, 500_000.0);
        assert!(idle > 500_000.0, "{idle}");
        assert!((idle - busy - 500_000.0).abs() < 1.0);
        assert_eq!(
            h.headroom_w(&config, CoolantState::Running, &sensors, 1e9),
            0.0
        );
        assert_eq!(
            h.headroom_w(&config, CoolantState::Stopped, &sensors, 0.0),
            0.0
        );
    }
}
