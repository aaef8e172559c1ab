//! A campus run's results and its report: campus input power, its ramps, the energy of its
//! swings in the grid's band (cut at the control step's Nyquist frequency), pump energy,
//! throttle time, alarms and events, the facility water plant (supply, heat against chiller
//! capacity, the CDUs' headroom), speed and peak memory; the table, `summary.json`,
//! `campus.csv`, `facility.csv` and `campus.png`.

// Step, row and rack counts are small and non-negative (the file is validated), so the casts
// between them and f64 are exact.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)]

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::report::trace::Marker;
use crate::scenario::campus::Campus;

/// Control step, s.
const DT_S: f64 = 0.1;

/// A campus run's results.
#[derive(Debug, Clone, Serialize)]
pub struct CampusRun {
    /// Campus input power at every control step after warm-up, W.
    pub grid_w: Vec<f64>,
    /// The water plant at every facility step after warm-up.
    pub facility: Vec<FacilityPoint>,
    /// What the rows add up to.
    #[serde(flatten)]
    pub totals: CampusTotals,
    /// Wall time, s.
    pub wall_s: f64,
    /// Wall time spent exchanging with the other processes (all-reduce, gather), s.
    pub exchange_s: f64,
    /// Processes the rows were split across (1 without MPI).
    pub ranks: usize,
}

/// The water plant and what the rows make of it, at one facility step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FacilityPoint {
    /// Time, s.
    pub t_s: f64,
    /// Facility water supply temperature leaving the plant (the rows see it the mains' transit
    /// later), degC.
    pub supply_c: f64,
    /// Heat reaching the plant (the rows rejected it the mains' transit before), MW.
    pub heat_mw: f64,
    /// Capacity of the running chillers, MW.
    pub capacity_mw: f64,
    /// Chillers running.
    pub chillers_running: usize,
    /// Headroom the rows' CDUs broadcast to their racks, summed, MW.
    pub headroom_mw: f64,
}

/// What a campus run adds up over its rows (the run's and the summary's alike).
#[derive(Debug, Clone, Default, Serialize)]
pub struct CampusTotals {
    /// Total pump energy, kWh.
    pub pump_energy_kwh: f64,
    /// Throttle time summed over rows (seconds in which a row had a GPU throttling), s.
    pub throttle_s: f64,
    /// Alarms and events raised, by kind.
    pub alarms: BTreeMap<String, u64>,
    /// Faults injected.
    pub faults: u64,
    /// Faults and events of every row in time order (rows in order at equal times): time,
    /// device (`row 12 CDU`), event; at most [`MAX_EVENTS`].
    pub events: Vec<Marker>,
    /// Events left out past [`MAX_EVENTS`].
    pub events_left_out: u64,
}

/// The most events a campus run keeps for its summary and plot.
pub const MAX_EVENTS: usize = 1_000;

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
    /// The facility water: warmest supply the rows saw, degC.
    pub facility_supply_max_c: f64,
    /// The most heat the rows rejected beyond the running chillers' capacity, MW.
    pub facility_shortfall_max_mw: f64,
    /// The least headroom the rows' CDUs broadcast in all, MW.
    pub campus_headroom_min_mw: f64,
    /// What the rows add up to.
    #[serde(flatten)]
    pub totals: CampusTotals,
    /// Simulated seconds per wall second (whole campus, every run).
    pub speed_x_real_time: f64,
    /// Threads used.
    pub threads: usize,
    /// Peak resident memory, MiB (of this process).
    pub peak_memory_mib: f64,
    /// Processes the rows were split across (MPI ranks; 1 without MPI).
    pub ranks: usize,
    /// Wall time in the exchanges between processes per facility step, ms.
    pub exchange_ms_per_facility_step: f64,
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
        facility_supply_max_c: run
            .facility
            .iter()
            .map(|f| f.supply_c)
            .fold(f64::MIN, f64::max)
            .max(0.0),
        facility_shortfall_max_mw: run
            .facility
            .iter()
            .map(|f| f.heat_mw - f.capacity_mw)
            .fold(0.0, f64::max),
        campus_headroom_min_mw: run
            .facility
            .iter()
            .map(|f| f.headroom_mw)
            .reduce(f64::min)
            .unwrap_or(0.0),
        totals: run.totals.clone(),
        speed_x_real_time: if wall > 0.0 {
            runs * (campus.file.duration_s + campus.file.warmup_s) / wall
        } else {
            0.0
        },
        threads: rayon::current_num_threads(),
        peak_memory_mib: peak_memory_bytes() as f64 / (1024.0 * 1024.0),
        ranks: run.ranks,
        exchange_ms_per_facility_step: 1e3 * run.exchange_s
            / ((campus.file.duration_s + campus.file.warmup_s).max(1.0)),
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
    line(
        "facility supply max (degC)",
        format!("{:.2}", s.facility_supply_max_c),
    );
    line(
        "heat beyond the chillers' capacity, max (MW)",
        format!("{:.1}", s.facility_shortfall_max_mw),
    );
    line(
        "headroom the CDUs broadcast, least (MW)",
        format!("{:.1}", s.campus_headroom_min_mw),
    );
    line(
        "pump energy (kWh)",
        format!("{:.1}", s.totals.pump_energy_kwh),
    );
    line(
        "throttle, summed over rows (s)",
        format!("{:.1}", s.totals.throttle_s),
    );
    line("faults injected", s.totals.faults.to_string());
    for (k, n) in &s.totals.alarms {
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
    if s.ranks > 1 {
        line(
            "processes (MPI ranks)",
            format!(
                "{}; exchanges {:.3} ms per facility step",
                s.ranks, s.exchange_ms_per_facility_step
            ),
        );
    }
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
    let mut water = String::from(
        "t_s,facility_supply_c,heat_mw,chiller_capacity_mw,chillers_running,headroom_mw\n",
    );
    for f in &run.facility {
        water.push_str(&format!(
            "{:.1},{:.4},{:.4},{:.4},{},{:.4}\n",
            f.t_s, f.supply_c, f.heat_mw, f.capacity_mw, f.chillers_running, f.headroom_mw
        ));
    }
    std::fs::write(dir.join("facility.csv"), water).map_err(|e| e.to_string())?;
    plot(&dir.join("campus.png"), summary, run, unsmoothed)
}

fn plot(
    path: &Path,
    s: &CampusSummary,
    run: &CampusRun,
    unsmoothed: Option<&CampusRun>,
) -> Result<(), String> {
    use crate::report::plot::CampusCurve;
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
    crate::report::plot::plot_campus(
        path,
        &format!("racksim campus: {} ({} racks)", s.campus, s.racks),
        s.duration_s.max(DT_S),
        &run.totals.events,
        &[
            ("campus input power (MW)", curves(&power)),
            ("ramp over one step (MW/s)", curves(&ramps)),
            (
                "facility supply (degC)",
                curves(&|r: &CampusRun| r.facility.iter().map(|f| (f.t_s, f.supply_c)).collect()),
            ),
            (
                "heat / chiller capacity (MW)",
                vec![
                    CampusCurve {
                        name: "chiller capacity",
                        grey: true,
                        points: run
                            .facility
                            .iter()
                            .map(|f| (f.t_s, f.capacity_mw))
                            .collect(),
                    },
                    CampusCurve {
                        name: "heat from the rows, at the plant",
                        grey: false,
                        points: run.facility.iter().map(|f| (f.t_s, f.heat_mw)).collect(),
                    },
                ],
            ),
            (
                "CDUs' headroom, summed (MW)",
                curves(&|r: &CampusRun| {
                    r.facility.iter().map(|f| (f.t_s, f.headroom_mw)).collect()
                }),
            ),
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
