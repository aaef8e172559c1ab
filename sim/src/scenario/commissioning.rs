//! What the controllers are commissioned with for a scenario: the coolant controller's and
//! the power controllers' settings, for rackloop's control and for the conventional baseline
//! (feedback-only PI, constant-speed pumps, static caps). The supply loop's PI comes from the
//! commissioning bump test ([`crate::scenario::tuning`]).

use rack_control::coolant::{CoolantConfig, MAX_SUPPLY_SENSORS, PumpControl};
use rack_control::pid::PidConfig;
use rack_control::power::{PowerConfig, TRAYS};

use crate::plant::params::RowParams;
use crate::scenario::{ControllerOverrides, PowerSettings, Scenario};

/// Which control the run uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Control {
    /// rackloop's controller: feed-forward, pressure reset, everything.
    Rackloop,
    /// A conventional CDU: feedback-only PI on the valve, constant-speed pumps (same
    /// protections), PI tuned by SIMC from an identified step response.
    Baseline,
}

/// The coolant controller's settings for a scenario: commissioned from the row's nameplate
/// (`[row]`) and what `[controller]` says the commissioning engineer entered, never from the
/// plant's truth (`[plant]`). Settings that differ between rackloop's control and the
/// baseline are set here too.
pub fn controller_config(
    scenario: &Scenario,
    control: Control,
    temp_pid: PidConfig,
) -> CoolantConfig {
    let p = &scenario.row;
    #[allow(clippy::cast_possible_truncation)] // physical values fit f32
    let mut c = CoolantConfig {
        racks: p.racks,
        pumps: p.pumps,
        supply_sensors: MAX_SUPPLY_SENSORS,
        temp_pid,
        design_heat_w: p.design_heat_w() as f32,
        design_rise_k: p.design_rise_k as f32,
        liquid_capture_fraction: p.liquid_capture_fraction as f32,
        coolant_density_kg_per_l: p.secondary_density_kg_per_l as f32,
        dp_design_kpa: p.rack_dp_design_kpa as f32,
        flow_exponent: p.rack_flow_exponent as f32,
        gpu_slowdown_c: p.gpu_slowdown_c as f32,
        pump_max_rpm: p.pump_max_rpm as f32,
        ..CoolantConfig::default()
    };
    #[allow(clippy::cast_possible_truncation)]
    {
        c.hx.ua_design_w_per_k = p.hx_ua_design_w_per_k as f32;
        c.hx.secondary_design_kg_s = p.secondary_design_kg_s() as f32;
        c.hx.primary_design_kg_s = p.primary_design_kg_s() as f32;
        c.hx.primary_max_kg_s = (p.primary_design_kg_s() * p.primary_max_flow_factor) as f32;
        c.hx.secondary_cp_j_per_kg_k = p.secondary_cp_j_per_kg_k as f32;
        c.hx.primary_cp_j_per_kg_k = p.primary_cp_j_per_kg_k as f32;
        c.hx.valve_rangeability = p.valve_rangeability as f32;
    }
    let o = &scenario.controller;
    enter_commissioned(&mut c, o, p);
    if let Some(v) = o.supply_setpoint_c {
        c.supply_setpoint_c = v;
    }
    if let Some(v) = o.startup_inhibit_s {
        c.startup_inhibit_s = v;
    }
    if let Some(v) = o.supply_alarm_delay_s {
        c.supply_alarm_delay_s = v;
    }
    if let Some(v) = o.leak_reaction_delay_s {
        c.leak_reaction_delay_s = v;
    }
    if let Some(v) = o.lead_rotation_interval_s {
        c.lead_rotation_interval_s = v;
    }
    if let Some(v) = o.running_pumps {
        c.running_pumps = v;
    }
    if let Some(v) = o.feed_forward {
        c.feed_forward = v;
    }
    if let Some(v) = o.feed_forward_lag_s {
        c.feed_forward_lag_s = v;
    }
    if control == Control::Baseline {
        c.feed_forward = false;
        c.running_pumps = 1;
        #[allow(clippy::cast_possible_truncation)]
        {
            c.pump_control = PumpControl::FixedSpeed((p.pump_design_speed * 100.0) as f32);
        }
    }
    c
}

/// What the engineer entered beside the nameplate `p` (`[controller]`'s commissioned values),
/// and the feed-forward lag from the loop's volume.
fn enter_commissioned(c: &mut CoolantConfig, o: &ControllerOverrides, p: &RowParams) {
    if let Some(v) = o.hx_ua_design_w_per_k {
        c.hx.ua_design_w_per_k = v;
    }
    if let Some(v) = o.valve_rangeability {
        c.hx.valve_rangeability = v;
    }
    if let Some(v) = o.design_flow_lpm {
        c.hx.secondary_design_kg_s = v * c.coolant_density_kg_per_l / 60.0;
    }
    if let Some(v) = o.dp_design_kpa {
        c.dp_design_kpa = v;
    }
    #[allow(clippy::cast_possible_truncation)]
    {
        // The valve's speed: as the engineer entered it, else as the bump test timed it.
        if let Some(stroke) = o.valve_stroke_s {
            c.temp_pid.slew_per_s = 100.0 / stroke;
        }
        // The heat's trip round the loop at design flow: manifolds, reservoir and CDU.
        let manifolds_l = o
            .manifold_volume_l
            .unwrap_or((p.supply_manifold_l + p.return_manifold_l) as f32);
        let loop_l = manifolds_l + (p.reservoir_l + p.cdu_outlet_l) as f32;
        let design_lps = c.hx.secondary_design_kg_s / c.coolant_density_kg_per_l;
        c.feed_forward_lag_s = loop_l / design_lps;
    }
}

/// The power controller's settings for a scenario.
pub fn power_config(
    scenario: &Scenario,
    settings: &PowerSettings,
    control: Control,
) -> PowerConfig {
    let e = &settings.electrical;
    #[allow(clippy::cast_possible_truncation)] // physical values fit f32
    let mut c = PowerConfig {
        trays: scenario.row.trays_per_rack.min(TRAYS),
        breaker_rated_a: e.breaker_rated_a as f32,
        feed_voltage_v: e.feed_voltage_v as f32,
        breaker_k_s: e.breaker_k_s as f32,
        psu_rating_w: e.psu_rating_w as f32,
        bbu_energy_j: e.bbu_energy_j as f32,
        bbu_max_discharge_w: e.bbu_max_discharge_w as f32,
        bbu_max_charge_w: e.bbu_max_charge_w as f32,
        gpu_limit_c: (scenario.row.gpu_slowdown_c - 3.0) as f32,
        racks_in_row: scenario.row.racks as f32,
        ..PowerConfig::default()
    };
    if let Some(v) = settings.budget_w {
        c.budget_w = v;
        c.conservative_budget_w = 0.8 * v;
        c.power_floor_w = 0.8 * v;
    }
    if let Some(v) = settings.ride_through_s {
        c.ride_through_s = v;
    }
    if let Some(v) = settings.ramp_limit_w_per_s {
        c.ramp_limit_w_per_s = v;
    }
    if let Some(v) = settings.power_floor_w {
        c.power_floor_w = v;
    }
    if let Some(v) = settings.smoothing {
        c.smoothing = v;
    }
    if let Some(p) = &settings.tray_priorities {
        for (slot, v) in c.tray_priority.iter_mut().zip(p) {
            *slot = *v;
        }
    }
    if control == Control::Baseline {
        c.static_caps = true;
        c.smoothing = false;
    }
    c
}
