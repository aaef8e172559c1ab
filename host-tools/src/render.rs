//! How answers read on a terminal: names as words, temperatures and telemetry as text, events
//! as lines, and any protocol value as JSON.

use rack_protocol::Message;
use rack_protocol::types::words;
use serde_json::Value;

/// `PumpFault` -> `pump-fault`.
pub(crate) fn kebab(name: &str) -> String {
    words(name, '-').collect()
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

pub(crate) fn c(centi: i16) -> f64 {
    f64::from(centi) / 100.0
}

pub(crate) fn telemetry_text(m: &Message) -> String {
    match m {
        Message::CoolantTelemetry(t) => {
            let supplies: Vec<String> = t
                .secondary_supply_temps_centi_c
                .iter()
                .map(|s| format!("{:.2}", c(*s)))
                .collect();
            let pumps: Vec<String> = t
                .pumps
                .iter()
                .enumerate()
                .map(|(i, p)| format!("P{i} {:?} {} rpm", p.state, p.speed_rpm))
                .collect();
            format!(
                "state {:?} ({:?})  supply {} C (set {:.2})  return {:.2} C  facility {:.2} -> {:.2} C\n\
                 flow {:.1} L/min  dP {:.1} kPa  valve {:.1} %  reservoir {:.1} %  headroom {:.0} kW\n\
                 pumps: {} (lead P{})  isolated racks: {:#06b}",
                t.state,
                t.mode,
                supplies.join("/"),
                c(t.supply_setpoint_centi_c),
                c(t.secondary_return_temp_centi_c),
                c(t.primary_supply_temp_centi_c),
                c(t.primary_return_temp_centi_c),
                f64::from(t.secondary_flow_deci_lpm) / 10.0,
                f64::from(t.differential_pressure_deci_kpa) / 10.0,
                f64::from(t.primary_valve_position_permille) / 10.0,
                f64::from(t.reservoir_level_permille) / 10.0,
                f64::from(t.thermal_headroom_w) / 1000.0,
                pumps.join(", "),
                t.lead_pump,
                t.isolated_racks
            )
        }
        Message::PowerTelemetry(t) => {
            let on = t
                .trays
                .iter()
                .filter(|x| !matches!(x.state, rack_protocol::types::TrayState::Off))
                .count();
            let hottest = t
                .trays
                .iter()
                .map(|x| x.hottest_gpu_temp_centi_c)
                .max()
                .unwrap_or(0);
            format!(
                "state {:?}  input {:.1} kW  budget {:.1} kW  AC {}  breaker {:?} ({:.1} % of trip)\n\
                 trays on {}/{}  hottest GPU {:.1} C  BBU {:.1} %",
                t.state,
                f64::from(t.rack_input_power_w) / 1000.0,
                f64::from(t.power_budget_w) / 1000.0,
                if t.ac_present { "present" } else { "LOST" },
                t.breaker,
                f64::from(t.breaker_i2t_permille) / 10.0,
                on,
                t.trays.len(),
                c(hottest),
                t.bbus
                    .first()
                    .map_or(0.0, |b| f64::from(b.state_of_charge_permille) / 10.0)
            )
        }
        other => format!("unexpected answer {:?}", other.kind()),
    }
}

pub(crate) fn event_line(e: &rack_protocol::types::Event) -> String {
    format!(
        "#{:<5} {:>10.1} s  {:?}",
        e.seq,
        e.at_ms as f64 / 1000.0,
        e.kind
    )
}
