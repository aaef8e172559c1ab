//! Runs a campus: every row (its CDU and its eight racks' power controllers, the real code,
//! against the same plant as `racksim run`), in parallel with rayon, coupled by the facility
//! water plant every facility step (1 s, ten control steps).
//!
//! The water takes the mains' transit between the plant and the rows each way: a row sees in
//! facility step j the supply that left the plant after its step j - transit, and the plant
//! takes in step j the heat the rows rejected in step j - transit. So every row runs a
//! transit's worth of facility steps at a time (its state stays in cache), then the rows' heat
//! of each of those steps is added up and the water plant (chillers, the loop's water) steps
//! through them, one facility step at a time. The grid aggregate is a sum over rows too.
//!
//! Sums are in integers (milliwatts), which add the same in any order: the results are
//! identical for any thread count (and any split of the rows) and the same seed. What cannot be
//! an integer (each row's pump energy, throttle time) is added in row order.

// Step, row and rack counts are small and non-negative (the file is validated), so the casts
// between them and f64 are exact; powers in milliwatts are far inside i64.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)]

use std::collections::BTreeMap;
use std::time::Instant;

use rayon::prelude::*;

use crate::plant::facility::WaterPlant;
use crate::report::campus::{CampusRun, CampusTotals, FacilityPoint, MAX_EVENTS};
use crate::report::trace::Marker;
use crate::run::exchange::{Alone, Exchange};
use crate::run::runner::{DT_S, RowStepper};
use crate::scenario::Scenario;
use crate::scenario::campus::Campus;
use crate::scenario::commissioning::Control;

/// Control steps per facility step (the water plant's 1 s).
const FACILITY_STEPS: u64 = 10;

/// Milliwatts, the integer the sums are kept in.
fn mw_int(w: f64) -> i64 {
    (w * 1e3).round() as i64
}

/// What one row gave back.
#[derive(Debug, Clone)]
struct RowOutcome {
    pump_kwh: f64,
    throttle_s: f64,
    alarms: BTreeMap<String, u64>,
    faults: u64,
    events: Vec<Marker>,
}

/// Row outcomes cross between processes as JSON with every float as its bits: the sums made
/// of them are then the same bits on every process and in a run of one.
fn encode(outcomes: &[RowOutcome]) -> Vec<u8> {
    let exact: Vec<_> = outcomes
        .iter()
        .map(|o| {
            (
                o.pump_kwh.to_bits(),
                o.throttle_s.to_bits(),
                &o.alarms,
                o.faults,
                Events(&o.events),
            )
        })
        .collect();
    serde_json::to_vec(&exact).unwrap_or_default()
}

fn decode(bytes: &[u8]) -> Vec<RowOutcome> {
    type Exact = (
        u64,
        u64,
        BTreeMap<String, u64>,
        u64,
        Vec<(u64, String, String, bool)>,
    );
    serde_json::from_slice::<Vec<Exact>>(bytes)
        .unwrap_or_default()
        .into_iter()
        .map(|(pump, throttle, alarms, faults, events)| RowOutcome {
            pump_kwh: f64::from_bits(pump),
            throttle_s: f64::from_bits(throttle),
            alarms,
            faults,
            events: events
                .into_iter()
                .map(|(t, device, label, fault)| Marker {
                    t_s: f64::from_bits(t),
                    device,
                    label,
                    fault,
                })
                .collect(),
        })
        .collect()
}

/// Markers as (time's bits, device, label, fault).
struct Events<'a>(&'a Vec<Marker>);

impl serde::Serialize for Events<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            self.0
                .iter()
                .map(|m| (m.t_s.to_bits(), &m.device, &m.label, m.fault)),
        )
    }
}

/// What a finished row gave back.
fn outcome(scenario: &Scenario, run: crate::report::trace::RunResult) -> RowOutcome {
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

/// A batch's sums over rows, in milliwatts: the grid power at each of its control steps, the
/// heat to the facility water and the headroom broadcast at the end of each facility step.
struct Batch {
    grid: Vec<i64>,
    heat: Vec<i64>,
    headroom: Vec<i64>,
}

impl Batch {
    fn new(facility_steps: usize) -> Self {
        Self {
            grid: vec![0; facility_steps * FACILITY_STEPS as usize],
            heat: vec![0; facility_steps],
            headroom: vec![0; facility_steps],
        }
    }

    /// Runs `row` through the batch's facility steps (each with the water it sees) and adds
    /// what it gave.
    fn add_row<'a>(
        &mut self,
        row: &mut RowStepper,
        steps: impl Iterator<Item = (u64, &'a (f64, f64))>,
        total_steps: u64,
    ) {
        let mut grid = self.grid.iter_mut();
        for ((j, water), (heat, headroom)) in
            steps.zip(self.heat.iter_mut().zip(&mut self.headroom))
        {
            row.set_facility(Some(*water));
            let last_k = (j * FACILITY_STEPS).min(total_steps);
            for k in (j - 1) * FACILITY_STEPS + 1..=last_k {
                row.step(k, None, &mut |_| {});
                if let Some(slot) = grid.next() {
                    *slot += mw_int(row.grid_w());
                }
            }
            *heat += mw_int(row.heat_to_facility_w());
            *headroom += mw_int(row.headroom_w());
        }
    }

    fn merge(mut self, other: Self) -> Self {
        for (a, b) in self
            .grid
            .iter_mut()
            .chain(&mut self.heat)
            .chain(&mut self.headroom)
            .zip(
                other
                    .grid
                    .into_iter()
                    .chain(other.heat)
                    .chain(other.headroom),
            )
        {
            *a += b;
        }
        self
    }
}

/// Runs every row of `campus` (in parallel on the current rayon pool), coupled by
/// its water plant. `progress` gets the rows' worth of work done so far.
pub fn run(campus: &Campus, smoothing: bool, progress: &(dyn Fn(usize) + Sync)) -> CampusRun {
    run_with(campus, smoothing, progress, &Alone)
}

/// [`run`] as one of the processes `exchange` joins: this process runs its range of the rows,
/// and every process ends with the whole campus's results.
pub fn run_with(
    campus: &Campus,
    smoothing: bool,
    progress: &(dyn Fn(usize) + Sync),
    exchange: &dyn Exchange,
) -> CampusRun {
    let started = Instant::now();
    let rows = campus.file.rows;
    let mine = exchange.rows(rows);
    let scenarios: Vec<Scenario> = mine
        .clone()
        .into_par_iter()
        .map(|r| campus.row_scenario(r, smoothing))
        .collect();
    let pid = rack_control::coolant::CoolantConfig::default().temp_pid;
    let mut steppers: Vec<RowStepper> = scenarios
        .par_iter()
        .map(|s| RowStepper::new(s, Control::Rackloop, pid, false))
        .collect();
    let total_steps = ((campus.file.warmup_s + campus.file.duration_s) / DT_S).round() as u64;
    let facility_steps = total_steps.div_ceil(FACILITY_STEPS);
    let mut exchange_s = 0.0;
    let warmup_s = campus.file.warmup_s;
    let duration_steps = (campus.file.duration_s / DT_S).round() as usize;
    let mut grid_mw = vec![0i64; duration_steps];
    // The water plant: its setpoint is the facility water's supply, sized for the campus; it
    // starts staged for the design heat (the warm-up stops what is not needed).
    let row = &campus.row;
    let truth = row.truth();
    let design_heat_w = (rows * truth.racks) as f64 * truth.rack_design_power_w;
    let setpoint = |t: f64| row_facility(campus).supply_at(t.max(0.0));
    let flow = |t: f64| row_facility(campus).flow_at(t.max(0.0));
    // The end of facility step `j` (from 1; 0 is the start), s from the end of the warm-up.
    let end_of = |j: u64| (j * FACILITY_STEPS).min(total_steps) as f64 * DT_S - warmup_s;
    let mut water = WaterPlant::new(
        campus.file.water_plant,
        design_heat_w,
        design_heat_w,
        setpoint(end_of(0)),
    );
    let mut trips = campus.file.chiller_trips.clone();
    trips.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    let mut next_trip = 0;
    let mut facility = Vec::new();
    let mut markers = Vec::new();
    // A batch is the mains' transit in facility steps (see the module's description); with a
    // transit of one step, a batch is one facility step.
    let transit = campus
        .file
        .water_plant
        .transit_steps(FACILITY_STEPS as f64 * DT_S);
    // The plant's supply after each of its steps (index 0: before the first), and the rows'
    // heat in each facility step (index 0: none yet), mW.
    let mut supplied = vec![water.supply_c];
    let mut heat_hist = vec![0i64];
    let mut j0 = 1;
    while j0 <= facility_steps {
        let j1 = (j0 + transit - 1).min(facility_steps);
        let batch = (j1 - j0 + 1) as usize;
        let first_k = (j0 - 1) * FACILITY_STEPS + 1;
        // What every row sees in each facility step of the batch: the supply that left the
        // plant `transit` steps before, the flow as the facility water's profile has it.
        let seen: Vec<(f64, f64)> = (j0..=j1)
            .map(|j| {
                let left = supplied
                    .get(j.saturating_sub(transit) as usize)
                    .copied()
                    .unwrap_or(water.supply_c);
                (left, flow(end_of(j - 1)))
            })
            .collect();
        // Every row through the batch; the grid power at each control step, the heat and
        // headroom at the end of each facility step, added up.
        let sums = steppers
            .par_iter_mut()
            .fold(
                || Batch::new(batch),
                |mut acc, row| {
                    acc.add_row(row, (j0..=j1).zip(&seen), total_steps);
                    acc
                },
            )
            .reduce(|| Batch::new(batch), Batch::merge);
        for (k, w) in (first_k..).zip(&sums.grid) {
            let t = k as f64 * DT_S - warmup_s;
            let i = ((t / DT_S).round()) as usize;
            if t >= -DT_S / 2.0
                && let Some(slot) = grid_mw.get_mut(i)
            {
                *slot += *w;
            }
        }
        // The campus's heat and headroom (every process's rows), step by step.
        let mut exchanged = sums.heat;
        exchanged.extend(sums.headroom);
        let at = Instant::now();
        exchange.sum(&mut exchanged);
        exchange_s += at.elapsed().as_secs_f64();
        let (heat, headroom) = exchanged.split_at(batch);
        heat_hist.extend_from_slice(heat);
        // The water plant through the batch, under the heat that reaches it.
        for (j, headroom_mw) in (j0..=j1).zip(headroom) {
            let t = end_of(j);
            let arriving = heat_hist
                .get(j.saturating_sub(transit).max(1) as usize)
                .copied()
                .unwrap_or(0);
            let load_w = arriving as f64 / 1e3;
            while let Some(trip) = trips.get(next_trip).filter(|trip| trip.at_s <= t) {
                next_trip += 1;
                water.trip(trip.units);
                markers.push(Marker {
                    t_s: trip.at_s,
                    device: "water plant".into(),
                    label: format!(
                        "{} chiller{} trip",
                        trip.units,
                        if trip.units == 1 { "" } else { "s" }
                    ),
                    fault: true,
                });
            }
            water.step(t - end_of(j - 1), load_w, setpoint(t));
            supplied.push(water.supply_c);
            if t >= 0.0 {
                facility.push(FacilityPoint {
                    t_s: t,
                    supply_c: water.supply_c,
                    heat_mw: load_w / 1e6,
                    capacity_mw: water.capacity_w() / 1e6,
                    chillers_running: water.running(),
                    headroom_mw: *headroom_mw as f64 / 1e9,
                });
            }
        }
        progress(((j1 as f64 / facility_steps.max(1) as f64) * rows as f64) as usize);
        j0 = j1 + 1;
    }
    // Each row's outcome, every process's, added up in row order.
    let outcomes: Vec<RowOutcome> = steppers
        .into_par_iter()
        .zip(scenarios.par_iter())
        .map(|(row, s)| outcome(s, row.finish(false)))
        .collect();
    let at = Instant::now();
    exchange.sum(&mut grid_mw);
    let outcomes: Vec<RowOutcome> = exchange
        .gather(&encode(&outcomes))
        .iter()
        .flat_map(|bytes| decode(bytes))
        .collect();
    exchange_s += at.elapsed().as_secs_f64();
    let mut total = CampusRun {
        grid_w: grid_mw.iter().map(|w| *w as f64 / 1e3).collect(),
        facility,
        totals: CampusTotals::default(),
        wall_s: 0.0,
        exchange_s: 0.0,
        ranks: exchange.rank_size().1,
    };
    for o in outcomes {
        total.totals.pump_energy_kwh += o.pump_kwh;
        total.totals.throttle_s += o.throttle_s;
        total.totals.faults += o.faults;
        for (k, n) in o.alarms {
            *total.totals.alarms.entry(k).or_insert(0) += n;
        }
        total.totals.events.extend(o.events);
    }
    total.totals.faults += markers.len() as u64;
    total.totals.events.extend(markers);
    // A stable sort of events gathered in row order: the same order for any thread count.
    total.totals.events.sort_by(|a, b| a.t_s.total_cmp(&b.t_s));
    total.totals.events_left_out = total.totals.events.len().saturating_sub(MAX_EVENTS) as u64;
    total.totals.events.truncate(MAX_EVENTS);
    total.wall_s = started.elapsed().as_secs_f64();
    total.exchange_s = exchange_s;
    total
}

/// The facility water the campus's rows would see without a water plant: the campus's
/// `[facility]`, else the row scenario's. Its supply is the water plant's setpoint.
fn row_facility(campus: &Campus) -> &crate::scenario::Facility {
    campus
        .file
        .facility
        .as_ref()
        .unwrap_or(&campus.row.facility)
}
