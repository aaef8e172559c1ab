//! Campus files: thousands of rows, each one CDU and its racks, every row a `racksim run` of
//! a row scenario with its own workload, jitter and faults. A campus file sets the rows, the
//! jobs spanning them, fault rates and scheduled faults, and the facility water every row sees;
//! this module reads and checks it and makes each row's scenario (`run::campus` runs them,
//! `report::campus` sums and reports them).

// Step, row and rack counts are small and non-negative (the file is validated), so the casts
// between them and f64 are exact.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)]

use std::path::{Path, PathBuf};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::plant::facility::WaterPlantParams;
use crate::plant::sensors::SensorFault;
use crate::plant::workload::Workload;
use crate::scenario::{
    Facility, Fault, FaultEvent, LeakDetector, Scenario, ScenarioError, SensorId, parse_toml,
    read_text,
};
use crate::validate::{Invalid, within};

/// Racks per row (one CDU serves eight racks).
pub const RACKS_PER_ROW: usize = 8;
/// The built-in campus: 4.5 GW (`sim/campus/campus-4.5gw.toml`).
pub const DEFAULT_CAMPUS: &str = include_str!("../../campus/campus-4.5gw.toml");
/// The built-in campus row (`sim/campus/row.toml`).
pub const DEFAULT_ROW: &str = include_str!("../../campus/row.toml");

/// A job spanning a range of the campus's rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    /// The rows it runs on, as fractions of the campus: `[from, to)`.
    pub rows: [f64; 2],
    /// What its racks do (shape, per-rack jitter).
    pub workload: Workload,
}

/// Fault rates, per hour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRates {
    /// Pump trips per row per hour.
    #[serde(default)]
    pub pump_trip_per_row_h: f64,
    /// Temperature sensor failures per row per hour.
    #[serde(default)]
    pub sensor_fault_per_row_h: f64,
    /// Leaks per row per hour.
    #[serde(default)]
    pub leak_per_row_h: f64,
    /// PSU failures per rack per hour.
    #[serde(default)]
    pub psu_fail_per_rack_h: f64,
}

/// A fault scheduled in one row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduledFault {
    /// The row (0-based).
    pub row: usize,
    /// When, s after warm-up.
    pub at_s: f64,
    /// What (as in a scenario's `[[faults]]`).
    pub fault: Fault,
}

/// A campus file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampusFile {
    /// Name.
    pub name: String,
    /// What it is.
    #[serde(default)]
    pub description: String,
    /// Rows (one CDU and eight racks each).
    pub rows: usize,
    /// Simulated time after warm-up, s.
    pub duration_s: f64,
    /// Warm-up, s.
    pub warmup_s: f64,
    /// Seed of every row's randomness.
    #[serde(default)]
    pub seed: u64,
    /// The row scenario every row starts from (relative to this file; the built-in campus row
    /// when absent). It must have a `[power]` section.
    #[serde(default)]
    pub row: Option<PathBuf>,
    /// Jobs spanning rows; rows no job covers run the row scenario's workload.
    #[serde(default)]
    pub jobs: Vec<Job>,
    /// Facility water for every row (supply temperature and available flow, fixed or as
    /// profiles, as a scenario's `[facility]`); the row scenario's when absent.
    #[serde(default)]
    pub facility: Option<Facility>,
    /// Faults drawn at random from rates, on top of the row scenario's scheduled ones.
    #[serde(default)]
    pub faults: FaultRates,
    /// Faults scheduled in given rows.
    #[serde(default)]
    pub scheduled: Vec<ScheduledFault>,
    /// The facility water plant every row's CDU rejects its heat to; its setpoint is the
    /// facility water's supply (`[facility]`, else the row scenario's).
    #[serde(default)]
    pub water_plant: WaterPlantParams,
    /// Chillers tripped on a schedule.
    #[serde(default)]
    pub chiller_trips: Vec<ChillerTrip>,
}

/// Chillers that trip.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChillerTrip {
    /// When, s after warm-up.
    pub at_s: f64,
    /// How many running chillers trip at once.
    pub units: usize,
}

impl CampusFile {
    /// Checks what serde cannot, against the row scenario every row starts from: counts and
    /// times in range, jobs' rows and workloads, scheduled faults in the campus's rows and
    /// valid for its row, the facility water, the fault rates.
    fn validate(&self, row: &Scenario) -> Result<(), Invalid> {
        #[allow(clippy::cast_precision_loss)] // counts are small
        within(
            "rows",
            self.rows as f64,
            1.0,
            100_000.0,
            "rows of one CDU and 8 racks",
        )?;
        within("duration_s", self.duration_s, 0.0, 86_400.0, "s simulated")?;
        within("warmup_s", self.warmup_s, 0.0, 3_600.0, "s before t = 0")?;
        for (i, job) in self.jobs.iter().enumerate() {
            let [from, to] = job.rows;
            if !(from >= 0.0 && from < to && to <= 1.0) {
                return Err(Invalid::new(
                    format!("jobs[{i}].rows"),
                    format!("[{from}, {to}]"),
                    "fractions of the campus's rows, 0 <= from < to <= 1",
                ));
            }
            job.workload
                .validate()
                .map_err(|e| e.under(&format!("jobs[{i}].workload")))?;
        }
        for (i, f) in self.scheduled.iter().enumerate() {
            if f.row >= self.rows {
                return Err(Invalid::new(
                    format!("scheduled[{i}].row"),
                    f.row,
                    format!("0..={} (the campus's rows)", self.rows - 1),
                ));
            }
            row.validate_fault(&FaultEvent {
                at_s: f.at_s,
                fault: f.fault.clone(),
            })
            .map_err(|e| e.under(&format!("scheduled[{i}]")))?;
        }
        if let Some(facility) = &self.facility {
            facility.validate()?;
        }
        self.water_plant.validate()?;
        for (i, trip) in self.chiller_trips.iter().enumerate() {
            within(
                "at_s",
                trip.at_s,
                0.0,
                self.duration_s,
                "s after warm-up, within the run",
            )
            .map_err(|e| e.under(&format!("chiller_trips[{i}]")))?;
            #[allow(clippy::cast_precision_loss)] // counts are small
            within(
                "units",
                trip.units as f64,
                1.0,
                self.water_plant.chillers as f64,
                "chillers (water_plant.chillers installed)",
            )
            .map_err(|e| e.under(&format!("chiller_trips[{i}]")))?;
        }
        let f = self.faults;
        for (field, v) in [
            ("pump_trip_per_row_h", f.pump_trip_per_row_h),
            ("sensor_fault_per_row_h", f.sensor_fault_per_row_h),
            ("leak_per_row_h", f.leak_per_row_h),
            ("psu_fail_per_rack_h", f.psu_fail_per_rack_h),
        ] {
            within(field, v, 0.0, 100.0, "per hour").map_err(|e| e.under("faults"))?;
        }
        if row.power.is_none() {
            return Err(Invalid::new(
                "row",
                format!("\"{}\" (no [power] section)", row.name),
                "a row scenario with a [power] section: a campus row runs its racks' power controllers",
            ));
        }
        if row.row.racks != RACKS_PER_ROW {
            return Err(Invalid::new(
                "row",
                format!("\"{}\" ({} racks)", row.name, row.row.racks),
                format!("a row scenario of {RACKS_PER_ROW} racks"),
            ));
        }
        Ok(())
    }
}

/// A campus ready to run.
#[derive(Debug, Clone)]
pub struct Campus {
    /// The file's settings (with `rows` possibly cut by `--racks`).
    pub file: CampusFile,
    /// The row scenario.
    pub row: Scenario,
}

impl Campus {
    /// The built-in 4.5 GW campus.
    pub fn builtin() -> Result<Self, ScenarioError> {
        Self::parse(Path::new("campus-4.5gw.toml"), DEFAULT_CAMPUS)
    }

    /// Reads a campus file (and its row scenario).
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        Self::parse(path, &read_text(path)?)
    }

    /// Parses and checks campus text; `path` names it and anchors its row file.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ScenarioError> {
        let file: CampusFile = parse_toml(path, text)?;
        let row = match &file.row {
            Some(rel) => Scenario::load(&path.parent().unwrap_or(Path::new(".")).join(rel))?,
            None => Scenario::parse(Path::new("campus-row.toml"), DEFAULT_ROW)?,
        };
        file.validate(&row)
            .map_err(|e| ScenarioError::invalid(path, text, e))?;
        Ok(Self { file, row })
    }

    /// Keeps the rows of the first `racks` racks (`--racks N` for quick runs) and drops the
    /// scheduled faults of the rows cut off. Returns what changed beyond the plain cut, one
    /// sentence each, for the user to read: a count that is not whole rows, one above the
    /// campus's racks, and each scheduled fault dropped.
    pub fn cut_to_racks(&mut self, racks: usize) -> Vec<String> {
        let mut notes = Vec::new();
        let total = self.racks();
        let rows = racks.div_ceil(RACKS_PER_ROW).clamp(1, self.file.rows);
        if racks > total {
            notes.push(format!(
                "--racks {racks}: the campus has {total} racks ({} rows); running all of them",
                self.file.rows
            ));
        } else if !racks.is_multiple_of(RACKS_PER_ROW) {
            notes.push(format!(
                "--racks {racks}: a row has {RACKS_PER_ROW} racks, so {rows} row{} of {RACKS_PER_ROW} racks ({} racks) will run",
                if rows == 1 { "" } else { "s" },
                rows * RACKS_PER_ROW
            ));
        }
        for (i, f) in self.file.scheduled.iter().enumerate() {
            if f.row >= rows {
                notes.push(format!(
                    "--racks {racks}: scheduled[{i}] ({} in row {} at {} s) is in a row past the cut and will not run",
                    crate::scenario::fault_kind(&f.fault),
                    f.row,
                    f.at_s
                ));
            }
        }
        self.file.scheduled.retain(|f| f.row < rows);
        self.file.rows = rows;
        notes
    }

    /// Racks in the campus.
    pub fn racks(&self) -> usize {
        self.file.rows * RACKS_PER_ROW
    }

    /// Row `r`'s scenario: the row scenario with the campus's times, the job that covers
    /// the row (if any), jitter keyed by the row, and faults drawn from the rates.
    pub fn row_scenario(&self, r: usize, smoothing: bool) -> Scenario {
        let mut s = self.row.clone();
        s.name = format!("{} row {r}", self.file.name);
        s.duration_s = self.file.duration_s;
        s.warmup_s = self.file.warmup_s;
        s.seed = self
            .file
            .seed
            .wrapping_mul(1_000_003)
            .wrapping_add(r as u64);
        s.checks.clear();
        s.record_trace = false;
        if let Some(facility) = &self.file.facility {
            s.facility = facility.clone();
        }
        #[allow(clippy::cast_precision_loss)] // row counts are small
        let at = (r as f64 + 0.5) / self.file.rows as f64;
        if let Some(job) = self
            .file
            .jobs
            .iter()
            .find(|j| (j.rows[0]..j.rows[1]).contains(&at))
        {
            s.workload = job.workload.clone();
        }
        s.workload.rack_offset = (r * RACKS_PER_ROW) as u64;
        if let Some(p) = s.power.as_mut() {
            p.smoothing = Some(smoothing);
        }
        s.faults.extend(self.draw_faults(r));
        s.faults.extend(
            self.file
                .scheduled
                .iter()
                .filter(|f| f.row == r)
                .map(|f| FaultEvent {
                    at_s: f.at_s,
                    fault: f.fault.clone(),
                }),
        );
        s.faults.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
        s
    }

    /// Faults of row `r` drawn from the rates over the run (Poisson arrivals).
    fn draw_faults(&self, r: usize) -> Vec<FaultEvent> {
        let mut rng = SmallRng::seed_from_u64(
            self.file.seed ^ (r as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let hours = self.file.duration_s / 3600.0;
        let f = self.file.faults;
        let mut out = Vec::new();
        let arrivals = |rate_per_h: f64, rng: &mut SmallRng| -> Vec<f64> {
            let mut times = Vec::new();
            if rate_per_h <= 0.0 {
                return times;
            }
            let mut t = 0.0;
            loop {
                let u: f64 = rng.random_range(f64::EPSILON..1.0);
                t += -u.ln() / rate_per_h;
                if t >= hours {
                    return times;
                }
                times.push(t * 3600.0);
            }
        };
        for at_s in arrivals(f.pump_trip_per_row_h, &mut rng) {
            out.push(FaultEvent {
                at_s,
                fault: Fault::PumpTrip {
                    pump: rng.random_range(0..self.row.row.pumps),
                },
            });
        }
        for at_s in arrivals(f.sensor_fault_per_row_h, &mut rng) {
            let sensor = match rng.random_range(0..4) {
                0 => SensorId::Supply0,
                1 => SensorId::Supply1,
                2 => SensorId::Supply2,
                _ => SensorId::Return,
            };
            out.push(FaultEvent {
                at_s,
                fault: Fault::Sensor {
                    sensor,
                    failure: Some(SensorFault::Stuck),
                },
            });
        }
        for at_s in arrivals(f.leak_per_row_h, &mut rng) {
            let zone = rng.random_range(0..RACKS_PER_ROW);
            for detector in [LeakDetector::Moisture, LeakDetector::Float] {
                out.push(FaultEvent {
                    at_s,
                    fault: Fault::Leak {
                        zone,
                        detector,
                        wet: true,
                    },
                });
            }
        }
        for at_s in arrivals(f.psu_fail_per_rack_h * RACKS_PER_ROW as f64, &mut rng) {
            out.push(FaultEvent {
                at_s,
                fault: Fault::PsuFail {
                    rack: rng.random_range(0..RACKS_PER_ROW),
                    shelf: rng.random_range(0..8),
                    psu: rng.random_range(0..6),
                },
            });
        }
        out
    }
}
