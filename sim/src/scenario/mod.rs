//! Scenario files: what to simulate, what to inject, and what must hold.
//!
//! A scenario is a TOML file in `sim/scenarios/`. A file with a mistake gets an error naming
//! the file, the line, the field (its path, such as `faults[1].fault.pump`) and what was wrong.
//! See `sim/scenarios/README.md` for the format.

pub mod campus;
pub mod commissioning;
pub mod kpi_names;
pub mod tuning;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use rack_control::coolant::{CoolantConfig, CoolantController, SettingError};
use rack_control::power::{PSUS_PER_SHELF, SHELVES, TRAYS};

use crate::plant::params::RowParams;
use crate::plant::sensors::SensorFault;
use crate::plant::workload::Workload;
use crate::validate::{Invalid, TIME_LIMIT_S, within};

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
    pub electrical: crate::plant::electrical::ElectricalParams,
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
        Ok(())
    }
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
    /// times >= 0 and in order. Fields are named under `facility.`.
    pub fn validate(&self) -> Result<(), Invalid> {
        const TEMPERATURE: &str = "degC of facility water; ASHRAE W17..W45 and beyond";
        within("facility.supply_c", self.supply_c, 0.0, 60.0, TEMPERATURE)?;
        let check = |name: &str, profile: &[[f64; 2]], max: f64, why: &str| {
            let mut last = 0.0;
            for (i, [t, v]) in profile.iter().enumerate() {
                within(
                    &format!("facility.{name}[{i}][0]"),
                    *t,
                    last,
                    TIME_LIMIT_S,
                    "s, not before the point before",
                )?;
                within(&format!("facility.{name}[{i}][1]"), *v, 0.0, max, why)?;
                last = *t;
            }
            Ok(())
        };
        check("profile", &self.profile, 60.0, TEMPERATURE)?;
        check(
            "flow_profile",
            &self.flow_profile,
            1.0,
            "fraction of the facility's full flow",
        )
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

/// A fault's `kind` as the file spells it (`pump_trip`, `ac_loss`, ...).
pub(crate) fn fault_kind(fault: &Fault) -> String {
    toml::Value::try_from(fault)
        .ok()
        .and_then(|v| v.get("kind")?.as_str().map(str::to_owned))
        .unwrap_or_default()
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

impl KpiSettings {
    /// The window and disturbance inside the run, and a settle band a sensor can resolve.
    pub fn validate(&self, duration_s: f64) -> Result<(), Invalid> {
        within(
            "window_start_s",
            self.window_start_s,
            0.0,
            duration_s,
            "s, inside the run (0..=duration_s)",
        )?;
        within(
            "disturbance_at_s",
            self.disturbance_at_s,
            0.0,
            duration_s,
            "s, inside the run (0..=duration_s)",
        )?;
        within(
            "settle_band_c",
            self.settle_band_c,
            0.01,
            10.0,
            "K either side of the setpoint; the supply sensors resolve 0.01 K",
        )
    }
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
        value: None,
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
        value: None,
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
    /// The value the file gave, when it parsed but is not allowed.
    pub value: Option<String>,
    /// What was wrong (with a value: what is allowed).
    pub message: String,
}

impl ScenarioError {
    /// A value of `text` (the file `path`) that is not allowed, found on its line.
    pub(crate) fn invalid(path: &Path, text: &str, invalid: Invalid) -> Self {
        Self {
            file: path.to_owned(),
            line: find_key_line(text, &invalid.field),
            field: Some(invalid.field),
            value: Some(invalid.value),
            message: format!("allowed {}", invalid.allowed),
        }
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        match (&self.field, &self.value) {
            (Some(field), Some(value)) => write!(f, ": {field} = {value}")?,
            (Some(field), None) => write!(f, ": field `{field}`")?,
            (None, _) => {}
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
            .map_err(|e| ScenarioError::invalid(path, text, e))?;
        Ok(scenario)
    }

    /// Checks what serde cannot: every value within its physical range and the values that
    /// must agree, before any simulation. The error names the field, the value and what is
    /// allowed.
    pub fn validate(&self) -> Result<(), Invalid> {
        within(
            "duration_s",
            self.duration_s,
            0.1,
            TIME_LIMIT_S,
            "s simulated after the warm-up",
        )?;
        within(
            "warmup_s",
            self.warmup_s,
            0.0,
            86_400.0,
            "s simulated before t = 0 to reach steady state",
        )?;
        self.row.validate().map_err(|e| e.under("row"))?;
        self.controller
            .validate()
            .map_err(|e| e.under("controller"))?;
        self.facility.validate()?;
        self.workload.validate().map_err(|e| e.under("workload"))?;
        for (i, f) in self.faults.iter().enumerate() {
            self.validate_fault(f)
                .map_err(|e| e.under(&format!("faults[{i}]")))?;
        }
        self.kpi
            .validate(self.duration_s)
            .map_err(|e| e.under("kpi"))?;
        if let Some(power) = &self.power {
            if self.row.trays_per_rack > TRAYS {
                return Err(Invalid::new(
                    "row.trays_per_rack",
                    self.row.trays_per_rack,
                    format!(
                        "1..={TRAYS} with a [power] section (the power controller drives at most {TRAYS} trays)"
                    ),
                ));
            }
            self.validate_power(power).map_err(|e| e.under("power"))?;
        }
        for (i, c) in self.checks.iter().enumerate() {
            if c.min.is_none() && c.max.is_none() && c.max_ratio_to_baseline.is_none() {
                return Err(Invalid::new(
                    format!("checks[{i}]"),
                    format!("{{ kpi = \"{}\" }}", c.kpi),
                    "a check with `min`, `max` or `max_ratio_to_baseline`",
                ));
            }
            if !kpi_names::is_known_kpi(&c.kpi) {
                return Err(Invalid::new(
                    format!("checks[{i}].kpi"),
                    format!("\"{}\"", c.kpi),
                    format!("one of {}", kpi_names::KPI_NAMES.join(", ")),
                ));
            }
            for (name, bound) in [
                ("min", c.min),
                ("max", c.max),
                ("max_ratio_to_baseline", c.max_ratio_to_baseline),
            ] {
                if let Some(v) = bound {
                    within(
                        &format!("checks[{i}].{name}"),
                        v,
                        f64::MIN,
                        f64::MAX,
                        "a finite number",
                    )?;
                }
            }
        }
        Ok(())
    }

    /// One fault against the row it acts on (fields under the fault's own path).
    pub(crate) fn validate_fault(&self, f: &FaultEvent) -> Result<(), Invalid> {
        let last = |n: usize| n.saturating_sub(1);
        within("at_s", f.at_s, 0.0, TIME_LIMIT_S, "s after the warm-up")?;
        let electrical = matches!(
            f.fault,
            Fault::AcLoss { .. }
                | Fault::AcSag { .. }
                | Fault::PsuFail { .. }
                | Fault::TrayFault { .. }
        );
        if electrical && self.power.is_none() {
            return Err(Invalid::new(
                "fault.kind",
                fault_kind(&f.fault),
                "only with a [power] section (electrical faults act on the racks' power plant)",
            ));
        }
        let count = |field: &str, v: usize, n: usize, what: &str| {
            if v < n {
                Ok(())
            } else {
                Err(Invalid::new(field, v, format!("0..={} ({what})", last(n))))
            }
        };
        match &f.fault {
            Fault::PumpTrip { pump } => {
                count("fault.pump", *pump, self.row.pumps, "the row's pumps")
            }
            Fault::Leak { zone, .. } => count(
                "fault.zone",
                *zone,
                self.row.racks + 1,
                "racks 0..racks-1, and the CDU as zone `racks`",
            ),
            Fault::ReservoirDrain { lpm } => {
                within("fault.lpm", *lpm, 0.0, 1_000.0, "L/min drained")
            }
            Fault::AcSag {
                volts_pct,
                duration_s,
            } => {
                within(
                    "fault.volts_pct",
                    *volts_pct,
                    0.0,
                    100.0,
                    "% of nominal left",
                )?;
                within("fault.duration_s", *duration_s, 0.0, 3_600.0, "s")
            }
            Fault::PsuFail { rack, shelf, psu } => {
                count("fault.rack", *rack, self.row.racks, "the row's racks")?;
                count("fault.shelf", *shelf, SHELVES, "power shelves in a rack")?;
                count("fault.psu", *psu, PSUS_PER_SHELF, "PSUs in a shelf")
            }
            Fault::TrayFault { rack, tray, factor } => {
                count("fault.rack", *rack, self.row.racks, "the row's racks")?;
                count(
                    "fault.tray",
                    *tray,
                    self.row.trays_per_rack,
                    "the rack's trays",
                )?;
                within(
                    "fault.factor",
                    *factor,
                    1.0,
                    100.0,
                    "multiple of the tray's demand",
                )
            }
            Fault::Sensor {
                failure:
                    Some(SensorFault::Drift { rate_per_s: v } | SensorFault::Offset { value: v }),
                ..
            } => within(
                "fault.failure",
                *v,
                -1_000.0,
                1_000.0,
                "units (per second), finite",
            ),
            _ => Ok(()),
        }
    }

    /// The `[power]` section: trays within the power controller's reach, and every setting
    /// checked by the power controller's own setter, so a file gets no value a technician
    /// could not set.
    fn validate_power(&self, power: &PowerSettings) -> Result<(), Invalid> {
        power
            .electrical
            .validate()
            .map_err(|e| e.under("electrical"))?;
        if let Some(p) = &power.tray_priorities
            && p.len() != self.row.trays_per_rack
        {
            return Err(Invalid::new(
                "tray_priorities",
                format!("{} values", p.len()),
                format!(
                    "{} values, one per tray (row.trays_per_rack)",
                    self.row.trays_per_rack
                ),
            ));
        }
        let plain = PowerSettings {
            budget_w: None,
            ride_through_s: None,
            ramp_limit_w_per_s: None,
            power_floor_w: None,
            ..power.clone()
        };
        let mut controller = rack_control::power::PowerController::new(
            commissioning::power_config(self, &plain, commissioning::Control::Rackloop),
        );
        let setting = |field: &str,
                       value: Option<f32>,
                       set: &mut dyn FnMut(f32) -> Result<(), (f32, f32)>| {
            match value {
                Some(v) => set(v).map_err(|(min, max)| {
                    Invalid::new(
                        field,
                        v,
                        format!("{min}..={max} (the power controller's own range)"),
                    )
                }),
                None => Ok(()),
            }
        };
        setting("budget_w", power.budget_w, &mut |v| {
            controller.set_budget(v)
        })?;
        setting("power_floor_w", power.power_floor_w, &mut |v| {
            controller.set_power_floor(v)
        })?;
        setting("ride_through_s", power.ride_through_s, &mut |v| {
            controller.set_ride_through(v)
        })?;
        setting("ramp_limit_w_per_s", power.ramp_limit_w_per_s, &mut |v| {
            controller.set_ramp_limit(v)
        })
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
        assert_eq!(
            e.to_string(),
            "bad.toml:6: facility.flow_profile[1][1] = -0.2: allowed 0..=1 (fraction of the facility's full flow)"
        );
        let text = format!("{MINIMAL}[facility]\nprofile = [[60, 25.0], [30, 26.0]]\n");
        let e = Scenario::parse(Path::new("bad.toml"), &text).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("facility.profile[1][0]"), "{e}");
        assert_eq!(e.value.as_deref(), Some("30"), "{e}");
        assert!(e.message.contains("not before the point before"), "{e}");
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
