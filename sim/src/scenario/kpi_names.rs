//! The KPIs a scenario's checks may name: the vocabulary shared by the file format (checks
//! are validated against it when a file is read) and the report (which produces them; its
//! tests hold the two lists together).

use rack_control::coolant::Alarm;
use rack_protocol::types::words;

/// KPI names a check may use (the `alarm_*_s` family is listed per alarm).
pub const KPI_NAMES: &[&str] = &[
    "max_gpu_temp_c",
    "throttle_s",
    "gpu_shutdowns",
    "supply_temp_max_dev_c",
    "supply_temp_settle_s",
    "supply_temp_max_dev_in_authority_c",
    "supply_temp_pp_c",
    "pump_energy_kwh",
    "energy_balance_error_pct",
    "flow_min_pct",
    "flow_recovery_s",
    "standby_pump_start_s",
    "failsafe_s",
    "isolation_s",
    "other_racks_max_gpu_c",
    "ff_drop_s",
    "valve_jump_at_ff_drop_pct",
    "headroom_start_kw",
    "headroom_end_kw",
    "max_pump_speed_pct",
    "failsafe_relay_s",
    "takeover_valve_step_pct",
    "takeover_pump_step_pct",
    "takeover_trays_off",
    "alarm_<alarm>_s",
    "breaker_trips",
    "max_feed_current_ratio",
    "tray_power_loss_s",
    "all_trays_on_s",
    "cap_response_s",
    "cap_fairness",
    "min_budget_kw",
    "trays_shed_max",
    "min_bbu_soc_pct",
    "max_bbu_discharge_pct",
    "ac_recovery_s",
    "rack_ramp_max_w_per_s",
    "row_ramp_max_kw_per_s",
    "row_grid_pp_kw",
    "isolation_shed_s",
    "other_racks_trays_off",
    "pil_steps",
    "pil_mismatches",
];

/// The KPI name of an alarm's timing, for example `alarm_pump_fault_s`.
pub fn alarm_kpi(alarm: Alarm) -> String {
    let snake: String = words(&format!("{alarm:?}"), '_').collect();
    format!("alarm_{snake}_s")
}

/// Whether `name` is a KPI this report produces.
pub fn is_known_kpi(name: &str) -> bool {
    KPI_NAMES.contains(&name) || Alarm::ALL.iter().any(|a| alarm_kpi(*a) == name)
}
