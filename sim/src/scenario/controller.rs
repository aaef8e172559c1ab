//! `[controller]`: what the commissioning engineer set and entered beside the nameplate, each
//! checked as the controller itself, or the nameplate's range, would check it.

use serde::{Deserialize, Serialize};

use rack_control::coolant::{CoolantConfig, CoolantController, SettingError};

use crate::validate::{Invalid, within};

/// Controller settings a scenario may change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControllerOverrides {
    /// Secondary supply setpoint, degC.
    pub supply_setpoint_c: Option<f32>,
    /// Supply alarm inhibit after start, s.
    pub startup_inhibit_s: Option<f32>,
    /// Supply alarm delay, s.
    pub supply_alarm_delay_s: Option<f32>,
    /// Leak reaction delay, s.
    pub leak_reaction_delay_s: Option<f32>,
    /// Lead pump rotation interval, s.
    pub lead_rotation_interval_s: Option<f32>,
    /// Pumps that run at once, sharing the flow (1: lead/standby; at most the row's pumps,
    /// checked with the row).
    pub running_pumps: Option<usize>,
    /// Use the row-bus feed-forward.
    pub feed_forward: Option<bool>,
    /// Feed-forward lag at design flow, s (else the commissioned loop volume over the design
    /// flow: the time the heat takes round the loop).
    pub feed_forward_lag_s: Option<f32>,
    // What the commissioning engineer entered where it differs from the nameplate `[row]`.
    /// Heat exchanger UA at design flows, W/K.
    pub hx_ua_design_w_per_k: Option<f32>,
    /// Valve actuator full-stroke time, s.
    pub valve_stroke_s: Option<f32>,
    /// Valve rangeability (equal-percentage characteristic).
    pub valve_rangeability: Option<f32>,
    /// Supply plus return manifold volume, L.
    pub manifold_volume_l: Option<f32>,
    /// Secondary design flow, L/min.
    pub design_flow_lpm: Option<f32>,
    /// Differential pressure across the racks at design flow, kPa.
    pub dp_design_kpa: Option<f32>,
}

impl ControllerOverrides {
    /// Checks each setting: the ones a technician can change through the coolant controller's
    /// own setters (supply setpoint, leak reaction delay, lead rotation) with those setters, so
    /// a file can never give the controller what the controller would refuse; the rest within
    /// what a commissioning engineer would set.
    pub fn validate(&self) -> Result<(), Invalid> {
        let mut controller = CoolantController::new(CoolantConfig::default());
        let refused = |field: &str, v: f32, e: SettingError| {
            let allowed = match e {
                SettingError::OutOfRange { min, max } => format!("{min}..={max}"),
                other => format!("{other:?}"),
            };
            Invalid::new(
                field,
                v,
                format!("{allowed} (the coolant controller's own range)"),
            )
        };
        if let Some(v) = self.supply_setpoint_c {
            controller
                .set_supply_setpoint(rack_control::Instant(0), v)
                .map_err(|e| refused("supply_setpoint_c", v, e))?;
        }
        if let Some(v) = self.leak_reaction_delay_s {
            controller
                .set_leak_reaction_delay(v)
                .map_err(|e| refused("leak_reaction_delay_s", v, e))?;
        }
        if let Some(v) = self.lead_rotation_interval_s {
            controller
                .set_lead_rotation_interval(v)
                .map_err(|e| refused("lead_rotation_interval_s", v, e))?;
        }
        for (field, value, max, why) in [
            (
                "startup_inhibit_s",
                self.startup_inhibit_s,
                86_400.0,
                "s the supply alarms wait after start",
            ),
            (
                "supply_alarm_delay_s",
                self.supply_alarm_delay_s,
                3_600.0,
                "s a supply excursion lasts before it alarms",
            ),
            (
                "feed_forward_lag_s",
                self.feed_forward_lag_s,
                600.0,
                "s the heat takes from racks to CDU at design flow",
            ),
        ] {
            if let Some(v) = value {
                within(field, f64::from(v), 0.0, max, why)?;
            }
        }
        self.validate_commissioned()
    }

    /// What the engineer entered beside the nameplate: the nameplate's own ranges.
    fn validate_commissioned(&self) -> Result<(), Invalid> {
        for (field, row_field, value) in [
            (
                "hx_ua_design_w_per_k",
                "hx_ua_design_w_per_k",
                self.hx_ua_design_w_per_k,
            ),
            ("valve_stroke_s", "valve_stroke_s", self.valve_stroke_s),
            (
                "valve_rangeability",
                "valve_rangeability",
                self.valve_rangeability,
            ),
            ("dp_design_kpa", "rack_dp_design_kpa", self.dp_design_kpa),
        ] {
            if let (Some(v), Some(range)) = (
                value,
                crate::plant::params::ROW_RANGES
                    .iter()
                    .find(|r| r.field == row_field),
            ) {
                within(field, f64::from(v), range.min, range.max, range.why)?;
            }
        }
        if let Some(v) = self.manifold_volume_l {
            within(
                "manifold_volume_l",
                f64::from(v),
                1.0,
                100_000.0,
                "L of supply and return manifold",
            )?;
        }
        if let Some(v) = self.design_flow_lpm {
            within(
                "design_flow_lpm",
                f64::from(v),
                10.0,
                20_000.0,
                "L/min of secondary flow at the design point",
            )?;
        }
        Ok(())
    }
}
