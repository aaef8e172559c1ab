//! Prometheus exposition (`/metrics`, with `prometheus-client`): every telemetry value in base
//! units (celsius, pascals, watts, volts, cubic metres per second, hertz, ratios), the alarms,
//! the link's health and the devices' rejection counters. A device whose link is down shows
//! `rackloop_link_up 0` and its counters, and none of its values: a stale number never looks
//! live.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};
use rack_protocol::Message;
use rack_protocol::types::words;

use crate::model::{Device, Row, snapshot};

/// Labels of one sample.
type Labels = Vec<(String, String)>;

/// A metric family being gathered: its samples, by labels.
struct Family {
    name: &'static str,
    help: &'static str,
    unit: Option<Unit>,
    counter: bool,
    samples: Vec<(Labels, f64)>,
}

/// Gathers the families of one scrape.
#[derive(Default)]
struct Scrape {
    families: Vec<Family>,
}

impl Scrape {
    fn add(
        &mut self,
        (name, help, unit): (&'static str, &'static str, Option<Unit>),
        labels: Labels,
        value: f64,
    ) {
        self.push(name, help, unit, false, labels, value);
    }

    fn count(&mut self, name: &'static str, help: &'static str, labels: Labels, value: f64) {
        self.push(name, help, None, true, labels, value);
    }

    fn push(
        &mut self,
        name: &'static str,
        help: &'static str,
        unit: Option<Unit>,
        counter: bool,
        labels: Labels,
        value: f64,
    ) {
        if let Some(f) = self.families.iter_mut().find(|f| f.name == name) {
            f.samples.push((labels, value));
        } else {
            self.families.push(Family {
                name,
                help,
                unit,
                counter,
                samples: vec![(labels, value)],
            });
        }
    }
}

fn kebab(debug: &impl std::fmt::Debug) -> String {
    words(&format!("{debug:?}"), '_').collect()
}

fn device_labels(d: &Device) -> Labels {
    vec![("device".to_owned(), d.name.clone())]
}

#[allow(clippy::needless_pass_by_value)] // numbers and names alike, as they come
fn with(mut labels: Labels, key: &str, value: impl ToString) -> Labels {
    labels.push((key.to_owned(), value.to_string()));
    labels
}

const CELSIUS: Option<Unit> = Some(Unit::Celsius);

fn watts() -> Option<Unit> {
    Some(Unit::Other("watts".to_owned()))
}

fn ratio() -> Option<Unit> {
    Some(Unit::Ratios)
}

/// Everything the row says, as metric families.
fn gather(devices: &[Device]) -> Scrape {
    let mut s = Scrape::default();
    for d in devices {
        let base = device_labels(d);
        s.add(
            (
                "rackloop_link_up",
                "1 while the device answers its polls; its values are shown only then",
                None,
            ),
            base.clone(),
            f64::from(u8::from(d.link_up)),
        );
        #[allow(clippy::cast_precision_loss)] // a count of polls
        s.count(
            "rackloop_link_errors",
            "Polls of the device that failed (no answer, a broken link)",
            base.clone(),
            d.link_errors as f64,
        );
        if let Some(i) = &d.identity {
            let info = with(
                with(
                    with(base.clone(), "kind", kebab(&i.device_kind)),
                    "serial",
                    i.serial_number.as_str(),
                ),
                "firmware",
                format!(
                    "{}.{}.{}",
                    i.firmware_version.major, i.firmware_version.minor, i.firmware_version.patch
                ),
            );
            s.add(
                ("rackloop_device_info", "The device's identity", None),
                info,
                1.0,
            );
        }
        if let Some(c) = d.counters.filter(|_| d.link_up) {
            s.count(
                "rackloop_frames",
                "Frames the device decoded",
                base.clone(),
                f64::from(c.frames),
            );
            let reasons = [
                "bad_cobs",
                "too_long",
                "too_short",
                "bad_crc",
                "unknown_version",
                "unknown_kind",
                "undecodable_body",
            ];
            for (reason, n) in reasons.iter().zip(c.frame_rejects) {
                s.count(
                    "rackloop_frame_rejects",
                    "Frames the device rejected before decoding, by reason",
                    with(base.clone(), "reason", reason),
                    f64::from(n),
                );
            }
            s.count(
                "rackloop_writes_accepted",
                "Authenticated writes the device carried out",
                base.clone(),
                f64::from(c.writes_accepted),
            );
            let refusals = [
                "missing_mac",
                "bad_mac",
                "unknown_key",
                "replayed",
                "role_too_low",
            ];
            for (reason, n) in refusals.iter().zip(c.auth_refusals) {
                s.count(
                    "rackloop_auth_refusals",
                    "Requests the device refused for their authentication, by reason",
                    with(base.clone(), "reason", reason),
                    f64::from(n),
                );
            }
        }
        if !d.link_up {
            continue;
        }
        for a in &d.alarms {
            let labels = with(
                with(
                    with(base.clone(), "code", kebab(&a.code)),
                    "instance",
                    a.instance,
                ),
                "severity",
                kebab(&a.severity),
            );
            s.add(
                (
                    "rackloop_alarm_active",
                    "A listed alarm: 1 while its condition holds, 0 latched until acknowledged",
                    None,
                ),
                labels,
                f64::from(u8::from(a.active)),
            );
        }
        match d.live() {
            Some(Message::CoolantTelemetry(t)) => coolant(&mut s, &base, t),
            Some(Message::PowerTelemetry(t)) => power(&mut s, &base, t),
            _ => {}
        }
    }
    s
}

/// What every device reports: uptime, state, active alarms.
fn common(
    s: &mut Scrape,
    base: &Labels,
    uptime_ms: u64,
    state: rack_protocol::types::ControllerState,
    active_alarms: u8,
) {
    #[allow(clippy::cast_precision_loss)] // ms since boot
    let uptime = uptime_ms as f64 / 1000.0;
    s.add(
        (
            "rackloop_uptime",
            "Time since the device booted",
            Some(Unit::Seconds),
        ),
        base.clone(),
        uptime,
    );
    s.add(
        (
            "rackloop_state",
            "The controller's state (the label), 1",
            None,
        ),
        with(base.clone(), "state", kebab(&state)),
        1.0,
    );
    s.add(
        (
            "rackloop_alarms_active",
            "Active alarms the device counts",
            None,
        ),
        base.clone(),
        f64::from(active_alarms),
    );
}

fn centi(v: i16) -> f64 {
    f64::from(v) / 100.0
}

fn coolant(s: &mut Scrape, base: &Labels, t: &rack_protocol::message::CoolantTelemetry) {
    common(s, base, t.uptime_ms, t.state, t.active_alarms);
    s.add(
        (
            "rackloop_cdu_supply_setpoint",
            "Secondary supply temperature setpoint",
            CELSIUS,
        ),
        base.clone(),
        centi(t.supply_setpoint_centi_c),
    );
    for (i, v) in t.secondary_supply_temps_centi_c.iter().enumerate() {
        s.add(
            (
                "rackloop_cdu_secondary_supply_temperature",
                "Secondary supply temperature, each sensor",
                CELSIUS,
            ),
            with(base.clone(), "sensor", i),
            centi(*v),
        );
    }
    for (name, help, v) in [
        (
            "rackloop_cdu_secondary_return_temperature",
            "Secondary return temperature",
            t.secondary_return_temp_centi_c,
        ),
        (
            "rackloop_cdu_primary_supply_temperature",
            "Facility water supply temperature",
            t.primary_supply_temp_centi_c,
        ),
        (
            "rackloop_cdu_primary_return_temperature",
            "Facility water return temperature",
            t.primary_return_temp_centi_c,
        ),
    ] {
        s.add((name, help, CELSIUS), base.clone(), centi(v));
    }
    s.add(
        (
            "rackloop_cdu_secondary_flow",
            "Secondary coolant flow",
            Some(Unit::Other("cubic_meters_per_second".to_owned())),
        ),
        base.clone(),
        f64::from(t.secondary_flow_deci_lpm) / 10.0 / 60_000.0,
    );
    s.add(
        (
            "rackloop_cdu_differential_pressure",
            "Secondary differential pressure",
            Some(Unit::Other("pascals".to_owned())),
        ),
        base.clone(),
        f64::from(t.differential_pressure_deci_kpa) * 100.0,
    );
    s.add(
        (
            "rackloop_cdu_valve_position",
            "Facility valve position (feedback), 0..1",
            ratio(),
        ),
        base.clone(),
        f64::from(t.primary_valve_position_permille) / 1000.0,
    );
    s.add(
        (
            "rackloop_cdu_reservoir_level",
            "Reservoir level, 0..1",
            ratio(),
        ),
        base.clone(),
        f64::from(t.reservoir_level_permille) / 1000.0,
    );
    s.add(
        (
            "rackloop_cdu_thermal_headroom",
            "Heat the row may still add",
            watts(),
        ),
        base.clone(),
        f64::from(t.thermal_headroom_w),
    );
    for (i, p) in t.pumps.iter().enumerate() {
        let labels = with(base.clone(), "pump", i);
        s.add(
            (
                "rackloop_cdu_pump_speed",
                "Pump speed (revolutions per second)",
                Some(Unit::Other("hertz".to_owned())),
            ),
            labels.clone(),
            f64::from(p.speed_rpm) / 60.0,
        );
        s.add(
            ("rackloop_cdu_pump_lead", "1 for the lead pump", None),
            labels.clone(),
            f64::from(u8::from(usize::from(t.lead_pump) == i)),
        );
        s.add(
            (
                "rackloop_cdu_pump_state",
                "The pump's state (the label), 1",
                None,
            ),
            with(labels, "state", kebab(&p.state)),
            1.0,
        );
    }
    for (i, l) in t.leak_detectors.iter().enumerate() {
        let labels = with(
            with(base.clone(), "zone", i / 2),
            "detector",
            if i % 2 == 0 { "moisture" } else { "float" },
        );
        s.add(
            (
                "rackloop_cdu_leak_detector_state",
                "A leak detector's state (the label), 1",
                None,
            ),
            with(labels, "state", kebab(l)),
            1.0,
        );
    }
    for r in 0..16 {
        s.add(
            (
                "rackloop_cdu_rack_isolated",
                "1 while a rack's isolation valve is closed",
                None,
            ),
            with(base.clone(), "rack", r),
            f64::from((t.isolated_racks >> r) & 1),
        );
    }
}

fn power(s: &mut Scrape, base: &Labels, t: &rack_protocol::message::PowerTelemetry) {
    common(s, base, t.uptime_ms, t.state, t.active_alarms);
    s.add(
        (
            "rackloop_rack_input_power",
            "Rack input power from the AC feed",
            watts(),
        ),
        base.clone(),
        f64::from(t.rack_input_power_w),
    );
    s.add(
        (
            "rackloop_rack_power_budget",
            "Power budget in force",
            watts(),
        ),
        base.clone(),
        f64::from(t.power_budget_w),
    );
    s.add(
        (
            "rackloop_rack_bus_voltage",
            "Busbar voltage",
            Some(Unit::Volts),
        ),
        base.clone(),
        f64::from(t.bus_voltage_mv) / 1000.0,
    );
    s.add(
        (
            "rackloop_rack_ac_present",
            "1 while AC input is present",
            None,
        ),
        base.clone(),
        f64::from(u8::from(t.ac_present)),
    );
    s.add(
        (
            "rackloop_rack_breaker_i2t",
            "How far the breaker's I2t is toward its trip, 0..1",
            ratio(),
        ),
        base.clone(),
        f64::from(t.breaker_i2t_permille) / 1000.0,
    );
    s.add(
        (
            "rackloop_rack_breaker_state",
            "The feed breaker's state (the label), 1",
            None,
        ),
        with(base.clone(), "state", kebab(&t.breaker)),
        1.0,
    );
    for (i, sh) in t.shelves.iter().enumerate() {
        s.add(
            (
                "rackloop_shelf_output_power",
                "A power shelf's output power",
                watts(),
            ),
            with(base.clone(), "shelf", i),
            f64::from(sh.output_power_w),
        );
    }
    for (i, tr) in t.trays.iter().enumerate() {
        let labels = with(base.clone(), "tray", i);
        s.add(
            (
                "rackloop_tray_power",
                "A compute tray's input power",
                watts(),
            ),
            labels.clone(),
            f64::from(tr.power_w),
        );
        s.add(
            (
                "rackloop_tray_power_cap",
                "A compute tray's GPU power cap",
                watts(),
            ),
            labels.clone(),
            f64::from(tr.cap_w),
        );
        s.add(
            (
                "rackloop_tray_hottest_gpu_temperature",
                "A compute tray's hottest GPU",
                CELSIUS,
            ),
            labels,
            centi(tr.hottest_gpu_temp_centi_c),
        );
    }
    for (i, b) in t.bbus.iter().enumerate() {
        let labels = with(base.clone(), "bbu", i);
        s.add(
            (
                "rackloop_bbu_state_of_charge",
                "A battery's state of charge, 0..1",
                ratio(),
            ),
            labels.clone(),
            f64::from(b.state_of_charge_permille) / 1000.0,
        );
        s.add(
            (
                "rackloop_bbu_power",
                "Power a battery gives the bus (negative: charging)",
                watts(),
            ),
            labels,
            f64::from(b.power_w),
        );
    }
}

/// The row as a `prometheus-client` collector: gathered afresh at every scrape.
#[derive(Debug)]
pub struct RowCollector {
    row: Row,
}

impl Collector for RowCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for family in gather(&snapshot(&self.row)).families {
            let kind = if family.counter {
                MetricType::Counter
            } else {
                MetricType::Gauge
            };
            let mut metric =
                encoder.encode_descriptor(family.name, family.help, family.unit.as_ref(), kind)?;
            for (labels, value) in &family.samples {
                let sample = metric.encode_family(labels)?;
                if family.counter {
                    ConstCounter::new(*value).encode(sample)?;
                } else {
                    ConstGauge::new(*value).encode(sample)?;
                }
            }
        }
        Ok(())
    }
}

/// A registry that reads `row` at every scrape.
pub fn registry(row: Row) -> Registry {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(RowCollector { row }));
    registry
}

/// The exposition of `registry` in `OpenMetrics` text, as `prometheus-client` writes it.
pub fn exposition(registry: &Registry) -> String {
    let mut text = String::new();
    if prometheus_client::encoding::text::encode(&mut text, registry).is_err() {
        text.clear();
    }
    text
}

/// `OpenMetrics` text as Prometheus's classic text format (0.0.4), for a scraper that does not
/// ask for `OpenMetrics` (`curl`, `promtool check metrics`): a counter family's `HELP` and `TYPE`
/// name its samples (`x_total`, where `OpenMetrics` names the family `x`), and the `UNIT` and
/// `EOF` lines, which the classic format lacks, go. `prometheus-client` writes only `OpenMetrics`.
pub fn classic(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|tag| {
            let rest = line.strip_prefix(tag)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(&name)
                .then(|| format!("{tag}{name}_total {tail}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn the_classic_text_names_counters_by_their_samples_and_drops_what_it_lacks() {
        let om = "# HELP x_frames Frames\n# TYPE x_frames counter\nx_frames_total{d=\"a\"} 3\n\
                  # HELP t_celsius T\n# TYPE t_celsius gauge\n# UNIT t_celsius celsius\n\
                  t_celsius 20.5\n# EOF\n";
        assert_eq!(
            classic(om),
            "# HELP x_frames_total Frames\n# TYPE x_frames_total counter\nx_frames_total{d=\"a\"} 3\n\
             # HELP t_celsius T\n# TYPE t_celsius gauge\nt_celsius 20.5\n"
        );
    }

    #[test]
    fn a_device_whose_link_is_down_shows_no_values() {
        use rack_protocol::message::CoolantTelemetry;
        let mut d = Device::new("cdu".into(), rack_host::link::Target::Tcp("x:1".into()));
        d.telemetry = Some(Message::CoolantTelemetry(CoolantTelemetry {
            uptime_ms: 1,
            state: rack_protocol::types::ControllerState::Running,
            mode: rack_protocol::types::OperatingMode::Auto,
            pump_control: rack_protocol::types::PumpControlMode::DifferentialPressure,
            supply_setpoint_centi_c: 3000,
            secondary_supply_temps_centi_c: heapless::Vec::from_slice(&[3000]).unwrap(),
            secondary_return_temp_centi_c: 4000,
            primary_supply_temp_centi_c: 2500,
            primary_return_temp_centi_c: 3500,
            secondary_flow_deci_lpm: 12_000,
            differential_pressure_deci_kpa: 300,
            pumps: heapless::Vec::new(),
            lead_pump: 0,
            primary_valve_position_permille: 500,
            reservoir_level_permille: 800,
            leak_detectors: heapless::Vec::new(),
            isolated_racks: 0,
            sensor_faults: 0,
            thermal_headroom_w: 1000,
            active_alarms: 0,
        }));
        d.link_up = true;
        let live = exposition_of(std::slice::from_ref(&d));
        assert!(
            live.contains("rackloop_cdu_supply_setpoint_celsius{device=\"cdu\"} 30.0"),
            "{live}"
        );
        assert!(
            live.contains(
                "rackloop_cdu_secondary_flow_cubic_meters_per_second{device=\"cdu\"} 0.02"
            ),
            "{live}"
        );
        d.link_up = false;
        let down = exposition_of(&[d]);
        assert!(
            down.contains("rackloop_link_up{device=\"cdu\"} 0"),
            "{down}"
        );
        assert!(!down.contains("rackloop_cdu_"), "{down}");
    }

    fn exposition_of(devices: &[Device]) -> String {
        let row: Row = std::sync::Arc::new(std::sync::RwLock::new(devices.to_vec()));
        classic(&exposition(&registry(row)))
    }
}
