//! Runs a campus: every row (its CDU and its eight racks' power controllers, the real code,
//! against the same plant as `racksim run`) in parallel with rayon.
//!
//! Rows share nothing but the facility water (an input, the same profile for every row) and
//! the grid aggregate (summed here), so they run in parallel. Each row's series is reduced in
//! row order, whatever the thread that ran it: results are identical for any thread count and
//! the same seed.

// Step, row and rack counts are small and non-negative (the file is validated), so the casts
// between them and f64 are exact.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)]

use std::collections::BTreeMap;
use std::time::Instant;

use rayon::prelude::*;

use crate::report::campus::{CampusRun, CampusTotals, MAX_EVENTS};
use crate::report::trace::Marker;
use crate::run::runner::{self, Live};
use crate::scenario::Scenario;
use crate::scenario::campus::Campus;
use crate::scenario::commissioning::Control;

/// Control step, s.
const DT_S: f64 = 0.1;

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

/// Runs every row of `campus` (in parallel on the current rayon pool). `progress` gets the
/// rows done so far.
pub fn run(campus: &Campus, smoothing: bool, progress: &(dyn Fn(usize) + Sync)) -> CampusRun {
    let started = Instant::now();
    let rows = campus.file.rows;
    let steps = (campus.file.duration_s / DT_S).round() as usize;
    let done = std::sync::atomic::AtomicUsize::new(0);
    let mut total = CampusRun {
        grid_w: vec![0.0; steps],
        totals: CampusTotals::default(),
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
            total.totals.pump_energy_kwh += o.pump_kwh;
            total.totals.throttle_s += o.throttle_s;
            total.totals.faults += o.faults;
            for (k, n) in o.alarms {
                *total.totals.alarms.entry(k).or_insert(0) += n;
            }
            total.totals.events.extend(o.events);
        }
    }
    // A stable sort of events gathered in row order: the same order for any thread count.
    total.totals.events.sort_by(|a, b| a.t_s.total_cmp(&b.t_s));
    total.totals.events_left_out = total.totals.events.len().saturating_sub(MAX_EVENTS) as u64;
    total.totals.events.truncate(MAX_EVENTS);
    total.wall_s = started.elapsed().as_secs_f64();
    total
}
