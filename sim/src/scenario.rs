//! Scenario files: what to simulate, what to inject, and what must hold.
//!
//! A scenario is a TOML file in `sim/scenarios/`. A file with a mistake gets an error naming
//! the file, the line, the field (its path, such as `faults[1].fault.pump`) and what was wrong.
//! See `sim/scenarios/README.md` for the format.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::params::RowParams;
use crate::sensors::SensorFault;
use crate::workload::Workload;

/// A scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name (used in reports).
    pub name: String,
    /// What it shows.
    #[serde(default)]
    pub description: String,
    /// Simulated time after warm-up, s.
    pub duration_s: f64,
    /// Simulated time before `t = 0` with the initial workload, to reach steady state, s.
    /// Not part of the KPIs.
    #[serde(default = "default_warmup")]
    pub warmup_s: f64,
    /// Seed for sensor noise.
    #[serde(default)]
    pub seed: u64,
    /// Row parameter overrides.
    #[serde(default)]
    pub row: RowParams,
    /// Controller setting overrides.
    #[serde(default)]
    pub controller: ControllerOverrides,
    /// Facility water.
    #[serde(default)]
    pub facility: Facility,
    /// The GPUs' workload.
    pub workload: Workload,
    /// Faults, in time order.
    #[serde(default)]
    pub faults: Vec<FaultEvent>,
    /// How KPIs are measured.
    #[serde(default)]
    pub kpi: KpiSettings,
    /// What must hold for the scenario to pass.
    #[serde(default)]
    pub checks: Vec<Check>,
    /// Rack power controllers and the electrical plant; absent: racks draw their workload
    /// uncapped and only the coolant controller runs.
    #[serde(default)]
    pub power: Option<PowerSettings>,
    /// Keep the trace (the plots and CSV); a campus row needs only its KPIs.
    #[serde(skip, default = "yes")]
    pub record_trace: bool,
}

/// The racks' power controllers and electrical plant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerSettings {
    /// Start with every rack off and sequence it up (true), or running (false).
    #[serde(default)]
    pub cold_start: bool,
    /// Host budget per rack, W.
    #[serde(default)]
    pub budget_w: Option<f32>,
    /// Guaranteed ride-through on battery, s.
    #[serde(default)]
    pub ride_through_s: Option<f32>,
    /// Grid-side ramp limit per rack, W/s.
    #[serde(default)]
    pub ramp_limit_w_per_s: Option<f32>,
    /// Grid power floor per rack while smoothing, W.
    #[serde(default)]
    pub power_floor_w: Option<f32>,
    /// Grid smoothing on.
    #[serde(default)]
    pub smoothing: Option<bool>,
    /// Tray priorities (18 values, higher keeps power longer).
    #[serde(default)]
    pub tray_priorities: Option<Vec<u8>>,
    /// Electrical parameter overrides.
    #[serde(default)]
    pub electrical: crate::electrical::ElectricalParams,
}

fn default_warmup() -> f64 {
    600.0
}

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
    /// Use the row-bus feed-forward.
    pub feed_forward: Option<bool>,
    /// Feed-forward lag at design flow, s.
    pub feed_forward_lag_s: Option<f32>,
}

/// Facility water supply temperature over time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Facility {
    /// Supply temperature, degC, when there is no profile.
    #[serde(default = "default_facility_c")]
    pub supply_c: f64,
    /// Piecewise-linear profile: `[[t_s, degC], ...]`, held before the first and after the last.
    #[serde(default)]
    pub profile: Vec<[f64; 2]>,
    /// Facility flow available as a fraction of full, piecewise linear: `[[t_s, fraction], ...]`
    /// (empty: always 1).
    #[serde(default)]
    pub flow_profile: Vec<[f64; 2]>,
}

fn default_facility_c() -> f64 {
    25.0
}

impl Default for Facility {
    fn default() -> Self {
        Self {
            supply_c: default_facility_c(),
            profile: Vec::new(),
            flow_profile: Vec::new(),
        }
    }
}

impl Facility {
    /// Checks the values serde cannot: temperatures 0..=60 degC, flow fractions 0..=1, profile
    /// times >= 0 and in order. Returns the field (under `facility.`) and why.
    pub fn validate(&self) -> Result<(), (String, String)> {
        fn temperature(c: f64) -> bool {
            c.is_finite() && (0.0..=60.0).contains(&c)
        }
        fn fraction(f: f64) -> bool {
            f.is_finite() && (0.0..=1.0).contains(&f)
        }
        if !temperature(self.supply_c) {
            return Err((
                "facility.supply_c".into(),
                format!("{} degC: allowed 0..=60", self.supply_c),
            ));
        }
        let check = |name: &str, profile: &[[f64; 2]], ok: fn(f64) -> bool, allowed: &str| {
            let mut last = 0.0;
            for (i, [t, v]) in profile.iter().enumerate() {
                if !t.is_finite() || *t < last {
                    return Err((
                        format!("facility.{name}"),
                        format!(
                            "point {i}: time {t} s: allowed >= 0 and not before the point before"
                        ),
                    ));
                }
                if !ok(*v) {
                    return Err((
                        format!("facility.{name}"),
                        format!("point {i}: value {v}: allowed {allowed}"),
                    ));
                }
                last = *t;
            }
            Ok(())
        };
        check("profile", &self.profile, temperature, "degC 0..=60")?;
        check(
            "flow_profile",
            &self.flow_profile,
            fraction,
            "fractions 0..=1",
        )?;
        Ok(())
    }

    /// Supply temperature at `t_s`.
    pub fn supply_at(&self, t_s: f64) -> f64 {
        piecewise(&self.profile, t_s).unwrap_or(self.supply_c)
    }

    /// Facility flow fraction at `t_s`.
    pub fn flow_at(&self, t_s: f64) -> f64 {
        piecewise(&self.flow_profile, t_s).unwrap_or(1.0)
    }
}

/// A piecewise-linear profile's value at `t_s`, held before the first point and after the
/// last; `None` when the profile is empty.
fn piecewise(profile: &[[f64; 2]], t_s: f64) -> Option<f64> {
    let first = profile.first()?;
    if t_s <= first[0] {
        return Some(first[1]);
    }
    let mut prev = first;
    for point in profile.iter().skip(1) {
        let ([t0, v0], [t1, v1]) = (*prev, *point);
        if t_s <= t1 {
            return Some(if t1 > t0 {
                v0 + (v1 - v0) * (t_s - t0) / (t1 - t0)
            } else {
                v1
            });
        }
        prev = point;
    }
    Some(prev[1])
}

/// A fault at a time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultEvent {
    /// When, s after warm-up.
    pub at_s: f64,
    /// What.
    pub fault: Fault,
}

/// Injectable faults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", deny_unknown_fields)]
pub enum Fault {
    /// A pump trips and coasts down.
    PumpTrip {
        /// Which pump (0 is the lead at start).
        pump: usize,
    },
    /// A sensor fails (or is repaired with `fault` absent).
    Sensor {
        /// Which sensor.
        sensor: SensorId,
        /// The failure; absent repairs it.
        #[serde(default)]
        failure: Option<SensorFault>,
    },
    /// A leak detector gets wet (or dries, with `wet = false`).
    Leak {
        /// Zone: rack index, or the number of racks for the CDU.
        zone: usize,
        /// Which detector.
        detector: LeakDetector,
        /// Wet (true) or dry.
        #[serde(default = "yes")]
        wet: bool,
    },
    /// The primary valve freezes.
    ValveStuck,
    /// The reservoir drains.
    ReservoirDrain {
        /// Drain rate, L/min.
        lpm: f64,
    },
    /// The racks' power reports stop (or resume with `silent = false`).
    RowBusSilence {
        /// Silent (true) or back.
        #[serde(default = "yes")]
        silent: bool,
    },
    /// The AC feed of every rack fails (or returns with `lost = false`).
    AcLoss {
        /// Lost (true) or back.
        #[serde(default = "yes")]
        lost: bool,
    },
    /// The AC voltage sags to `volts_pct` of nominal for `duration_s`: below 85 % the PSUs
    /// drop out after their 20 ms hold-up and the BBUs carry the bus until it recovers.
    AcSag {
        /// Remaining voltage, % of nominal.
        volts_pct: f64,
        /// Duration, s.
        duration_s: f64,
    },
    /// A PSU fails.
    PsuFail {
        /// Rack.
        rack: usize,
        /// Shelf (0..=7).
        shelf: usize,
        /// PSU in the shelf (0..=5).
        psu: usize,
    },
    /// A tray faults and draws `factor` x its demand regardless of its cap.
    TrayFault {
        /// Rack.
        rack: usize,
        /// Tray (0..=17).
        tray: usize,
        /// Multiple of its demand.
        factor: f64,
    },
}

fn yes() -> bool {
    true
}

/// Analog sensors of the CDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SensorId {
    /// Secondary supply temperature sensor 0.
    Supply0,
    /// Secondary supply temperature sensor 1.
    Supply1,
    /// Secondary supply temperature sensor 2.
    Supply2,
    /// Secondary return temperature.
    Return,
    /// Facility supply temperature.
    PrimarySupply,
    /// Facility return temperature.
    PrimaryReturn,
    /// Secondary flow.
    Flow,
    /// Differential pressure.
    Dp,
    /// Valve position feedback.
    ValveFeedback,
}

/// Leak detector kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeakDetector {
    /// Moisture-sensing cable.
    Moisture,
    /// Float switch in the drip pan.
    Float,
}

/// How KPIs are measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KpiSettings {
    /// Supply deviation is measured from this time on, s.
    #[serde(default)]
    pub window_start_s: f64,
    /// Settling is measured from this time (the disturbance), s.
    #[serde(default)]
    pub disturbance_at_s: f64,
    /// The band the supply must settle into, K.
    #[serde(default = "default_band")]
    pub settle_band_c: f64,
}

fn default_band() -> f64 {
    0.5
}

impl Default for KpiSettings {
    fn default() -> Self {
        Self {
            window_start_s: 0.0,
            disturbance_at_s: 0.0,
            settle_band_c: default_band(),
        }
    }
}

/// One pass criterion: a KPI against a bound, or against the baseline's value of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// The KPI's name (as in the report).
    pub kpi: String,
    /// The KPI must be at least this.
    #[serde(default)]
    pub min: Option<f64>,
    /// The KPI must be at most this.
    #[serde(default)]
    pub max: Option<f64>,
    /// The KPI must be at most this multiple of the baseline's (runs the baseline too).
    #[serde(default)]
    pub max_ratio_to_baseline: Option<f64>,
}

/// Reads a file named in errors as the scenario and campus files are.
pub(crate) fn read_text(path: &Path) -> Result<String, ScenarioError> {
    std::fs::read_to_string(path).map_err(|e| ScenarioError {
        file: path.to_owned(),
        line: None,
        field: None,
        message: format!("cannot read: {e}"),
    })
}

/// Parses TOML text into `T`; errors name the file, the line and the field.
pub(crate) fn parse_toml<T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
) -> Result<T, ScenarioError> {
    let line_of = |offset: usize| {
        text.get(..offset)
            .map_or(1, |s| s.matches('\n').count() + 1)
    };
    let error = |e: &toml::de::Error, field: Option<String>| ScenarioError {
        file: path.to_owned(),
        line: e.span().map(|s| line_of(s.start)),
        field,
        message: e.message().trim().to_owned(),
    };
    let deserializer = toml::Deserializer::parse(text).map_err(|e| error(&e, None))?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let field = e.path().to_string();
        let field = (field != ".").then_some(field);
        error(e.inner(), field)
    })
}

/// A scenario file that could not be used.
#[derive(Debug)]
pub struct ScenarioError {
    /// The file.
    pub file: PathBuf,
    /// Line (1-based), when known.
    pub line: Option<usize>,
    /// Path of the field, when known.
    pub field: Option<String>,
    /// What was wrong.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": field `{field}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ScenarioError {}

impl Scenario {
    /// Reads and checks a scenario file.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        Self::parse(path, &read_text(path)?)
    }

    /// Parses and checks scenario text; `path` names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ScenarioError> {
        let scenario: Scenario = parse_toml(path, text)?;
        scenario
            .validate()
            .map_err(|(field, message)| ScenarioError {
                file: path.to_owned(),
                line: find_key_line(text, &field),
                field: Some(field),
                message,
            })?;
        Ok(scenario)
    }

    /// Checks values serde cannot: ranges and cross-field rules. Returns the field and why.
    fn validate(&self) -> Result<(), (String, String)> {
        let positive = |field: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err((field.to_owned(), format!("must be a number > 0, got {v}")))
            }
        };
        positive("duration_s", self.duration_s)?;
        if !(0.0..=86_400.0).contains(&self.warmup_s) {
            return Err((
                "warmup_s".into(),
                format!("must be within 0..=86400 s, got {}", self.warmup_s),
            ));
        }
        if !(1..=rack_control::coolant::MAX_RACKS).contains(&self.row.racks) {
            return Err((
                "row.racks".into(),
                format!(
                    "must be within 1..={}, got {}",
                    rack_control::coolant::MAX_RACKS,
                    self.row.racks
                ),
            ));
        }
        if !(2..=rack_control::coolant::MAX_PUMPS).contains(&self.row.pumps) {
            return Err((
                "row.pumps".into(),
                format!(
                    "must be within 2..={}, got {}",
                    rack_control::coolant::MAX_PUMPS,
                    self.row.pumps
                ),
            ));
        }
        if self.row.trays_per_rack == 0 {
            return Err(("row.trays_per_rack".into(), "must be at least 1".into()));
        }
        self.facility.validate()?;
        for (i, f) in self.faults.iter().enumerate() {
            let field = format!("faults[{i}]");
            if !f.at_s.is_finite() || f.at_s < 0.0 {
                return Err((
                    format!("{field}.at_s"),
                    format!("must be >= 0, got {}", f.at_s),
                ));
            }
            match f.fault {
                Fault::PumpTrip { pump } if pump >= self.row.pumps => {
                    return Err((
                        format!("{field}.fault.pump"),
                        format!(
                            "no pump {pump}: the row has pumps 0..={}",
                            self.row.pumps - 1
                        ),
                    ));
                }
                Fault::AcLoss { .. } | Fault::PsuFail { .. } | Fault::TrayFault { .. }
                    if self.power.is_none() =>
                {
                    return Err((
                        format!("{field}.fault.kind"),
                        "needs a [power] section: electrical faults act on the racks' power plant"
                            .into(),
                    ));
                }
                Fault::PsuFail { rack, shelf, psu }
                    if rack >= self.row.racks || shelf >= 8 || psu >= 6 =>
                {
                    return Err((
                        format!("{field}.fault"),
                        format!(
                            "no PSU rack {rack} shelf {shelf} psu {psu}: racks 0..={}, shelves 0..=7, PSUs 0..=5",
                            self.row.racks - 1
                        ),
                    ));
                }
                Fault::TrayFault { rack, tray, factor }
                    if rack >= self.row.racks || tray >= 18 || factor.is_nan() || factor < 1.0 =>
                {
                    return Err((
                        format!("{field}.fault"),
                        format!(
                            "bad tray fault rack {rack} tray {tray} factor {factor}: racks 0..={}, trays 0..=17, factor >= 1",
                            self.row.racks - 1
                        ),
                    ));
                }
                Fault::Leak { zone, .. } if zone > self.row.racks => {
                    return Err((
                        format!("{field}.fault.zone"),
                        format!(
                            "no zone {zone}: racks are 0..={}, the CDU is {}",
                            self.row.racks - 1,
                            self.row.racks
                        ),
                    ));
                }
                _ => {}
            }
        }
        if let Some(power) = &self.power {
            if let Some(p) = &power.tray_priorities
                && p.len() != 18
            {
                return Err((
                    "power.tray_priorities".into(),
                    format!("needs 18 values, one per tray; got {}", p.len()),
                ));
            }
            if power
                .budget_w
                .is_some_and(|b| !(10_000.0..=200_000.0).contains(&b))
            {
                return Err((
                    "power.budget_w".into(),
                    "must be within 10000..=200000 W".into(),
                ));
            }
        }
        for (i, c) in self.checks.iter().enumerate() {
            if c.min.is_none() && c.max.is_none() && c.max_ratio_to_baseline.is_none() {
                return Err((
                    format!("checks[{i}]"),
                    "needs `min`, `max` or `max_ratio_to_baseline`".into(),
                ));
            }
            if !crate::report::is_known_kpi(&c.kpi) {
                return Err((
                    format!("checks[{i}].kpi"),
                    format!(
                        "unknown KPI `{}`; known: {}",
                        c.kpi,
                        crate::report::KPI_NAMES.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Whether any check compares with the baseline.
    pub fn needs_baseline(&self) -> bool {
        self.checks
            .iter()
            .any(|c| c.max_ratio_to_baseline.is_some())
    }
}

/// The line of a field path such as `faults[1].fault.pump`, found by walking the path: the
/// `n`-th `[[faults]]` table, then the first line after it that sets each key in turn.
pub(crate) fn find_key_line(text: &str, field: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut at = 0;
    for segment in field.split('.') {
        let (name, index) = match segment.split_once('[') {
            Some((name, rest)) => (name, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (segment, None),
        };
        let sets_key = |line: &str| {
            let line = line.trim_start();
            line.starts_with(&format!("[{name}]"))
                || line.starts_with(&format!("[[{name}]]"))
                || line.split(['{', ',']).any(|part| {
                    part.trim_start()
                        .strip_prefix(name)
                        .is_some_and(|rest| rest.trim_start().starts_with('='))
                })
        };
        let mut matches = lines
            .iter()
            .enumerate()
            .skip(at)
            .filter(|(_, l)| sets_key(l));
        let (found, _) = match index {
            Some(n) => matches.nth(n)?,
            None => matches.next()?,
        };
        at = found;
    }
    Some(at + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str =
        "name = \"t\"\nduration_s = 10\n[workload]\nshape = { kind = \"constant\", level = 1.0 }\n";

    #[test]
    fn a_minimal_scenario_parses_with_defaults() {
        let s = Scenario::parse(Path::new("t.toml"), MINIMAL).unwrap();
        assert_eq!(s.row.racks, 8);
        assert!((s.facility.supply_at(100.0) - 25.0).abs() < 1e-12);
    }

    #[test]
    fn a_misspelt_field_is_named_with_its_line() {
        let text = format!(
            "{MINIMAL}[[faults]]\nat_s = 5\nfault = {{ kind = \"pump_trip\", pmup = 0 }}\n"
        );
        let e = Scenario::parse(Path::new("bad.toml"), &text).unwrap_err();
        let shown = e.to_string();
        assert!(
            shown.starts_with("bad.toml:7: field `faults[0].fault"),
            "{shown}"
        );
        assert!(shown.contains("pmup"), "{shown}");
    }

    #[test]
    fn an_out_of_range_value_names_the_range() {
        let text = format!(
            "{MINIMAL}[[faults]]\nat_s = 5\nfault = {{ kind = \"pump_trip\", pump = 7 }}\n"
        );
        let e = Scenario::parse(Path::new("bad.toml"), &text).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("faults[0].fault.pump"));
        assert!(e.message.contains("0..=1"), "{e}");
    }

    #[test]
    fn a_facility_profile_out_of_range_or_order_names_the_point() {
        let text = format!("{MINIMAL}[facility]\nflow_profile = [[0, 1.0], [30, -0.2]]\n");
        let e = Scenario::parse(Path::new("bad.toml"), &text).unwrap_err();
        assert_eq!(e.line, Some(6), "{e}");
        assert_eq!(e.field.as_deref(), Some("facility.flow_profile"), "{e}");
        assert!(
            e.message
                .contains("point 1: value -0.2: allowed fractions 0..=1"),
            "{e}"
        );
        let text = format!("{MINIMAL}[facility]\nprofile = [[60, 25.0], [30, 26.0]]\n");
        let e = Scenario::parse(Path::new("bad.toml"), &text).unwrap_err();
        assert!(e.message.contains("point 1: time 30 s"), "{e}");
    }

    #[test]
    fn a_wrong_type_is_named() {
        let text = MINIMAL.replace("duration_s = 10", "duration_s = \"ten\"");
        let e = Scenario::parse(Path::new("bad.toml"), &text).unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        assert_eq!(e.field.as_deref(), Some("duration_s"), "{e}");
    }

    #[test]
    fn the_facility_profile_is_piecewise_linear() {
        let f = Facility {
            supply_c: 0.0,
            profile: vec![[60.0, 25.0], [660.0, 40.0]],
            flow_profile: vec![[0.0, 1.0], [10.0, 0.5]],
        };
        assert!((f.flow_at(5.0) - 0.75).abs() < 1e-12);
        assert!((f.supply_at(0.0) - 25.0).abs() < 1e-12);
        assert!((f.supply_at(360.0) - 32.5).abs() < 1e-12);
        assert!((f.supply_at(1000.0) - 40.0).abs() < 1e-12);
    }
}
