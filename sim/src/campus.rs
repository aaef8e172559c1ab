//! A whole campus: thousands of rows, each one CDU and its racks, every controller the real
//! `rack-control` code inside its `rack-node` node, against the same plant as `racksim run`:
//! each row *is* a `racksim run` of a row scenario, with its own workload, jitter and faults.
//!
//! Rows share nothing but the facility water (an input here, the same profile for every row)
//! and the grid aggregate (summed here), so they run in parallel with rayon. Each row's series
//! is reduced in row order, whatever the thread that ran it: results are identical for any
//! thread count and the same seed.

// Step, row and rack counts are small and non-negative (the file is validated), so the casts
// between them and f64 are exact.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::runner::{self, Control, Live, Marker};
use crate::scenario::{
    Facility, Fault, FaultEvent, LeakDetector, Scenario, ScenarioError, SensorId, parse_toml,
    read_text,
};
use crate::sensors::SensorFault;
use crate::validate::{Invalid, within};
use crate::workload::Workload;

/// Racks per row (one CDU serves eight racks).
pub const RACKS_PER_ROW: usize = 8;
/// The built-in campus: 4.5 GW (`sim/campus/campus-4.5gw.toml`).
pub const DEFAULT_CAMPUS: &str = include_str!("../campus/campus-4.5gw.toml");
/// The built-in campus row (`sim/campus/row.toml`).
pub const DEFAULT_ROW: &str = include_str!("../campus/row.toml");
/// Control step, s.
const DT_S: f64 = 0.1;

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

/// What one row gave back.
#[derive(Debug, Clone)]
struct RowOutcome {
    grid_w: Vec<f64>,
    pump_kwh: f64,
    throttle_s: f64,
    alarms: BTreeMap<String, u64>,
    faults: u64,
    events: Vec<Marker>,
}

fn run_row(scenario: &Scenario) -> RowOutcome {
    let mut grid_w = Vec::with_capacity((scenario.duration_s / DT_S).round() as usize + 1);
    let pid = rack_control::coolant::CoolantConfig::default().temp_pid;
    let run = runner::run_live(
        scenario,
        Control::Rackloop,
        pid,
        |_| {},
        &mut |live: &mut Live| {
            if live.t >= 0.0 {
                grid_w.push(live.grid_w);
            }
        },
        None,
    );
    let mut alarms = BTreeMap::new();
    let mut faults = 0;
    for m in &run.markers {
        if m.fault {
            faults += 1;
        } else if m.label.chars().next().is_some_and(char::is_alphabetic)
            && !m.label.starts_with("lead")
        {
            // The kind: the label without its instance numbers ("PumpFault 0" -> "PumpFault").
            let kind: Vec<&str> = m
                .label
                .split_whitespace()
                .filter(|w| !w.chars().any(|c| c.is_ascii_digit()))
                .collect();
            *alarms.entry(kind.join(" ")).or_insert(0) += 1;
        }
    }
    let row = scenario.name.rsplit(' ').next().unwrap_or("?");
    RowOutcome {
        grid_w,
        pump_kwh: run.kpis.get("pump_energy_kwh").copied().unwrap_or(0.0),
        throttle_s: run.kpis.get("throttle_s").copied().unwrap_or(0.0),
        alarms,
        faults,
        events: run
            .markers
            .into_iter()
            .map(|m| Marker {
                device: format!("row {row} {}", m.device),
                ..m
            })
            .collect(),
    }
}

/// A campus run's results.
#[derive(Debug, Clone, Serialize)]
pub struct CampusRun {
    /// Campus input power at every control step after warm-up, W.
    pub grid_w: Vec<f64>,
    /// Total pump energy, kWh.
    pub pump_energy_kwh: f64,
    /// Throttle time summed over rows (seconds in which a row had a GPU throttling), s.
    pub throttle_s: f64,
    /// Alarms and events raised, by kind.
    pub alarms: BTreeMap<String, u64>,
    /// Faults injected.
    pub faults: u64,
    /// Faults and events of every row, in time order (rows in order at equal times), at most
    /// [`MAX_EVENTS`].
    pub events: Vec<Marker>,
    /// Events left out past [`MAX_EVENTS`].
    pub events_left_out: u64,
    /// Wall time, s.
    pub wall_s: f64,
}

/// The most events a campus run keeps for its summary and plot.
pub const MAX_EVENTS: usize = 1_000;

/// Runs every row of `campus` (in parallel on the current rayon pool). `progress` gets the
/// rows done so far.
pub fn run(campus: &Campus, smoothing: bool, progress: &(dyn Fn(usize) + Sync)) -> CampusRun {
    let started = Instant::now();
    let rows = campus.file.rows;
    let steps = (campus.file.duration_s / DT_S).round() as usize;
    let done = std::sync::atomic::AtomicUsize::new(0);
    let mut total = CampusRun {
        grid_w: vec![0.0; steps],
        pump_energy_kwh: 0.0,
        throttle_s: 0.0,
        alarms: BTreeMap::new(),
        faults: 0,
        events: Vec::new(),
        events_left_out: 0,
        wall_s: 0.0,
    };
    // Rows in chunks: memory stays bounded (a chunk's series at a time), and each chunk is
    // reduced in row order, so the sums do not depend on which thread ran which row.
    let chunk = rayon::current_num_threads().max(1) * 8;
    for first in (0..rows).step_by(chunk) {
        let outcomes: Vec<RowOutcome> = (first..(first + chunk).min(rows))
            .into_par_iter()
            .map(|r| {
                let o = run_row(&campus.row_scenario(r, smoothing));
                progress(done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1);
                o
            })
            .collect();
        for o in outcomes {
            for (sum, w) in total.grid_w.iter_mut().zip(&o.grid_w) {
                *sum += w;
            }
            total.pump_energy_kwh += o.pump_kwh;
            total.throttle_s += o.throttle_s;
            total.faults += o.faults;
            for (k, n) in o.alarms {
                *total.alarms.entry(k).or_insert(0) += n;
            }
            total.events.extend(o.events);
        }
    }
    // A stable sort of events gathered in row order: the same order for any thread count.
    total.events.sort_by(|a, b| a.t_s.total_cmp(&b.t_s));
    total.events_left_out = total.events.len().saturating_sub(MAX_EVENTS) as u64;
    total.events.truncate(MAX_EVENTS);
    total.wall_s = started.elapsed().as_secs_f64();
    total
}

/// The largest ramp of a series sampled every `dt_s` over `window_s`, per second.
pub fn max_ramp(series: &[f64], dt_s: f64, window_s: f64) -> f64 {
    let lag = ((window_s / dt_s).round() as usize).max(1);
    series
        .iter()
        .zip(series.iter().skip(lag))
        .map(|(a, b)| (b - a).abs() / (lag as f64 * dt_s))
        .fold(0.0, f64::max)
}

/// The energy of a series' swings between `lo_hz` and `hi_hz` (bounded by the Nyquist
/// frequency of its sampling): the mean square of its band-passed part, by Parseval over
/// the FFT of the mean-removed series. Units: the series' unit squared.
pub fn band_energy(series: &[f64], dt_s: f64, lo_hz: f64, hi_hz: f64) -> f64 {
    let n = series.len();
    if n < 4 {
        return 0.0;
    }
    let mean = series.iter().sum::<f64>() / n as f64;
    let mut buf: Vec<rustfft::num_complex::Complex<f64>> = series
        .iter()
        .map(|x| rustfft::num_complex::Complex::new(x - mean, 0.0))
        .collect();
    rustfft::FftPlanner::new()
        .plan_fft_forward(n)
        .process(&mut buf);
    let df = 1.0 / (n as f64 * dt_s);
    let mut sum = 0.0;
    for (k, x) in buf.iter().enumerate().skip(1) {
        // Both halves of the spectrum: bin k and bin n - k are the same frequency.
        let f = if k <= n / 2 {
            k as f64 * df
        } else {
            (n - k) as f64 * df
        };
        if f >= lo_hz && f <= hi_hz {
            sum += x.norm_sqr();
        }
    }
    sum / (n as f64 * n as f64)
}

/// Peak resident memory of this process, bytes (Linux; 0 elsewhere).
pub fn peak_memory_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

/// Lowest and highest frequency of the swing band, Hz.
pub const BAND_HZ: (f64, f64) = (0.1, 20.0);

/// A campus run's report.
#[derive(Debug, Clone, Serialize)]
pub struct CampusSummary {
    /// Campus name.
    pub campus: String,
    /// Rows.
    pub rows: usize,
    /// Racks.
    pub racks: usize,
    /// Simulated seconds (after warm-up).
    pub duration_s: f64,
    /// Mean campus input power, MW.
    pub mean_mw: f64,
    /// Peak campus input power, MW.
    pub peak_mw: f64,
    /// Largest campus ramp over 1 s, MW/s.
    pub max_ramp_mw_per_s: f64,
    /// The band the swing energy covers, Hz: 0.1 Hz to the control step's Nyquist frequency
    /// (5 Hz at 100 ms; the grid's 0.1-20 Hz band is cut there).
    pub band_hz: (f64, f64),
    /// Mean square of the campus power's swings in the band, MW^2.
    pub band_energy_mw2: f64,
    /// The same without the racks' smoothing, MW^2 (when compared).
    pub band_energy_unsmoothed_mw2: Option<f64>,
    /// Smoothed over unsmoothed band energy.
    pub band_energy_ratio: Option<f64>,
    /// Largest ramp without smoothing, MW/s (when compared).
    pub max_ramp_unsmoothed_mw_per_s: Option<f64>,
    /// Total pump energy, kWh.
    pub pump_energy_kwh: f64,
    /// Throttle time summed over rows, s.
    pub throttle_s: f64,
    /// Alarms and events by kind.
    pub alarms: BTreeMap<String, u64>,
    /// Faults injected.
    pub faults: u64,
    /// Faults and events of every row in time order: time, device (`row 12 CDU`), event; at
    /// most [`MAX_EVENTS`].
    pub events: Vec<Marker>,
    /// Events left out past [`MAX_EVENTS`].
    pub events_left_out: u64,
    /// Simulated seconds per wall second (whole campus, every run).
    pub speed_x_real_time: f64,
    /// Threads used.
    pub threads: usize,
    /// Peak resident memory, MiB.
    pub peak_memory_mib: f64,
}

/// Builds the report of `run` (and of `unsmoothed`, the same campus without smoothing).
pub fn summarize(
    campus: &Campus,
    run: &CampusRun,
    unsmoothed: Option<&CampusRun>,
) -> CampusSummary {
    let mw: Vec<f64> = run.grid_w.iter().map(|w| w / 1e6).collect();
    let nyquist = 0.5 / DT_S;
    let band = (BAND_HZ.0, BAND_HZ.1.min(nyquist));
    let energy = |s: &[f64]| band_energy(s, DT_S, band.0, band.1);
    let unsmoothed_mw: Option<Vec<f64>> =
        unsmoothed.map(|u| u.grid_w.iter().map(|w| w / 1e6).collect());
    let e = energy(&mw);
    let eu = unsmoothed_mw.as_deref().map(energy);
    let wall = run.wall_s + unsmoothed.map_or(0.0, |u| u.wall_s);
    let runs = if unsmoothed.is_some() { 2.0 } else { 1.0 };
    CampusSummary {
        campus: campus.file.name.clone(),
        rows: campus.file.rows,
        racks: campus.racks(),
        duration_s: campus.file.duration_s,
        mean_mw: mw.iter().sum::<f64>() / mw.len().max(1) as f64,
        peak_mw: mw.iter().copied().fold(0.0, f64::max),
        max_ramp_mw_per_s: max_ramp(&mw, DT_S, 1.0),
        band_hz: band,
        band_energy_mw2: e,
        band_energy_unsmoothed_mw2: eu,
        band_energy_ratio: eu.filter(|u| *u > 0.0).map(|u| e / u),
        max_ramp_unsmoothed_mw_per_s: unsmoothed_mw.as_deref().map(|u| max_ramp(u, DT_S, 1.0)),
        pump_energy_kwh: run.pump_energy_kwh,
        throttle_s: run.throttle_s,
        alarms: run.alarms.clone(),
        faults: run.faults,
        events: run.events.clone(),
        events_left_out: run.events_left_out,
        speed_x_real_time: if wall > 0.0 {
            runs * (campus.file.duration_s + campus.file.warmup_s) / wall
        } else {
            0.0
        },
        threads: rayon::current_num_threads(),
        peak_memory_mib: peak_memory_bytes() as f64 / (1024.0 * 1024.0),
    }
}

/// The report as text.
pub fn table(s: &CampusSummary) -> String {
    let mut t = format!(
        "campus {}: {} rows, {} racks, {} s simulated\n",
        s.campus, s.rows, s.racks, s.duration_s
    );
    let mut line = |k: &str, v: String| t.push_str(&format!("  {k:<44} {v}\n"));
    line(
        "campus input power mean / peak (MW)",
        format!("{:.1} / {:.1}", s.mean_mw, s.peak_mw),
    );
    line(
        "largest ramp over 1 s (MW/s)",
        format!("{:.2}", s.max_ramp_mw_per_s),
    );
    if let Some(u) = s.max_ramp_unsmoothed_mw_per_s {
        line("  without the racks' smoothing (MW/s)", format!("{u:.2}"));
    }
    line(
        &format!(
            "swing energy {:.1}-{:.1} Hz (MW^2)",
            s.band_hz.0, s.band_hz.1
        ),
        format!("{:.4}", s.band_energy_mw2),
    );
    if let (Some(u), Some(r)) = (s.band_energy_unsmoothed_mw2, s.band_energy_ratio) {
        line("  without smoothing (MW^2)", format!("{u:.4}"));
        line("  ratio smoothed / unsmoothed", format!("{r:.3}"));
    }
    line("pump energy (kWh)", format!("{:.1}", s.pump_energy_kwh));
    line(
        "throttle, summed over rows (s)",
        format!("{:.1}", s.throttle_s),
    );
    line("faults injected", s.faults.to_string());
    for (k, n) in &s.alarms {
        line(&format!("alarms/events: {k}"), n.to_string());
    }
    line(
        "speed (simulated s per wall s)",
        format!(
            "{:.2}x real time on {}",
            s.speed_x_real_time,
            threads(s.threads)
        ),
    );
    line("peak memory (MiB)", format!("{:.0}", s.peak_memory_mib));
    t
}

/// Writes `summary.json`, `campus.csv` (time, MW, ramp, and unsmoothed MW) and `campus.png`.
pub fn write_outputs(
    dir: &Path,
    summary: &CampusSummary,
    run: &CampusRun,
    unsmoothed: Option<&CampusRun>,
) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let json = serde_json::to_string_pretty(summary).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("summary.json"), json).map_err(|e| e.to_string())?;
    let mut csv = String::from("t_s,campus_mw,ramp_mw_per_s,unsmoothed_mw\n");
    let mut last = None;
    for (k, w) in run.grid_w.iter().enumerate() {
        let mw = w / 1e6;
        let ramp = last.map_or(0.0, |l: f64| (mw - l) / DT_S);
        last = Some(mw);
        let u = unsmoothed
            .and_then(|u| u.grid_w.get(k))
            .map_or(String::new(), |w| format!("{:.6}", w / 1e6));
        csv.push_str(&format!("{:.1},{mw:.6},{ramp:.6},{u}\n", k as f64 * DT_S));
    }
    std::fs::write(dir.join("campus.csv"), csv).map_err(|e| e.to_string())?;
    plot(&dir.join("campus.png"), summary, run, unsmoothed)
}

fn plot(
    path: &Path,
    s: &CampusSummary,
    run: &CampusRun,
    unsmoothed: Option<&CampusRun>,
) -> Result<(), String> {
    use crate::plot::CampusCurve;
    let power = |r: &CampusRun| -> Vec<(f64, f64)> {
        r.grid_w
            .iter()
            .enumerate()
            .map(|(k, w)| (k as f64 * DT_S, w / 1e6))
            .collect()
    };
    let ramps = |r: &CampusRun| -> Vec<(f64, f64)> {
        r.grid_w
            .iter()
            .zip(r.grid_w.iter().skip(1))
            .enumerate()
            .map(|(k, (a, b))| ((k + 1) as f64 * DT_S, (b - a) / 1e6 / DT_S))
            .collect()
    };
    let curves = |pick: &dyn Fn(&CampusRun) -> Vec<(f64, f64)>| {
        unsmoothed
            .map(|u| CampusCurve {
                name: "without smoothing",
                grey: true,
                points: pick(u),
            })
            .into_iter()
            .chain([CampusCurve {
                name: "rackloop",
                grey: false,
                points: pick(run),
            }])
            .collect::<Vec<_>>()
    };
    crate::plot::plot_campus(
        path,
        &format!("racksim campus: {} ({} racks)", s.campus, s.racks),
        s.duration_s.max(DT_S),
        &run.events,
        &[
            ("campus input power (MW)", curves(&power)),
            ("ramp over one step (MW/s)", curves(&ramps)),
        ],
    )
}

/// "1 thread", "2 threads".
pub fn threads(n: usize) -> String {
    if n == 1 {
        "1 thread".into()
    } else {
        format!("{n} threads")
    }
}
