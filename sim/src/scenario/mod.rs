//! Scenario files: what to simulate, what to inject, and what must hold.
//!
//! A scenario is a TOML file in `sim/scenarios/`. A file with a mistake gets an error naming
//! the file, the line, the field (its path, such as `faults[1].fault.pump`) and what was wrong.
//! See `sim/scenarios/README.md` for the format.

pub mod campus;
pub mod commissioning;
mod facility;
mod faults;
mod file;
pub mod kpi_names;
pub mod tuning;
pub mod uncertainty;

mod controller;
mod plant;

use std::path::Path;

use serde::{Deserialize, Serialize};

use rack_control::power::{PSUS_PER_SHELF, SHELVES, TRAYS};

use crate::plant::params::RowParams;
use crate::plant::sensors::SensorFault;
use crate::plant::workload::Workload;
use crate::validate::{Invalid, TIME_LIMIT_S, within};

pub use controller::ControllerOverrides;
pub use facility::Facility;
pub(crate) use faults::fault_kind;
pub use faults::{Fault, FaultEvent, LeakDetector, SensorId};
pub use file::ScenarioError;
pub(crate) use file::{parse_toml, read_text};
pub(crate) use plant::STRUCTURE;

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
    /// The row's nameplate: what it was designed and sold as. The plant is built from it and
    /// the controllers are commissioned from it.
    #[serde(default)]
    pub row: RowParams,
    /// What the row really is where it differs from its nameplate: any `[row]` parameter but
    /// the row's structure (racks, trays, GPUs, pumps). Only the plant sees these; the
    /// controllers never do.
    #[serde(default, skip_serializing_if = "toml::Table::is_empty")]
    pub plant: toml::Table,
    /// What the controllers were commissioned with beside the nameplate, and their settings.
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
    /// What `racksim sweep` varies (absent: the default set in `sim/uncertainty/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncertainty: Option<uncertainty::Uncertainty>,
    /// Keep the trace (the plots and CSV); a campus row needs only its KPIs.
    #[serde(skip, default = "faults::yes")]
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
        if let Some(spec) = &self.uncertainty {
            uncertainty::validate(spec, self)?;
        }
        self.plant_params()?
            .validate()
            .map_err(|e| e.under("plant"))?;
        self.controller
            .validate()
            .map_err(|e| e.under("controller"))?;
        if let Some(n) = self.controller.running_pumps
            && !(1..=self.row.pumps).contains(&n)
        {
            return Err(Invalid::new(
                "controller.running_pumps",
                n,
                format!(
                    "1..={} (the row's pumps that may run at once)",
                    self.row.pumps
                ),
            ));
        }
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
            Fault::ControllerHalt { rack, duration_s } => {
                within(
                    "fault.duration_s",
                    *duration_s,
                    0.1,
                    3_600.0,
                    "s halted before the reset",
                )?;
                match rack {
                    Some(r) if self.power.is_none() => Err(Invalid::new(
                        "fault.rack",
                        r,
                        "only with a [power] section (the racks' power controllers); leave `rack` out for the CDU's controller",
                    )),
                    Some(r) => count("fault.rack", *r, self.row.racks, "the row's racks"),
                    None => Ok(()),
                }
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
