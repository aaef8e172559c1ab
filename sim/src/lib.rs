//! # rack-sim
//!
//! The plant simulator of rackloop. It runs the very same `rack-control` code a board runs,
//! closed-loop against physical models of a row of liquid-cooled GPU racks, so control loops
//! are tested without hardware.
//!
//! - [`params`]: every physical parameter, with its source;
//! - [`plant`]: pumps, heat exchanger, valve, manifolds, racks of trays, GPUs;
//! - [`sensors`]: noise, quantization, lag and injectable faults;
//! - [`workload`]: GPU power traces;
//! - [`scenario`]: scenario files and their errors;
//! - [`runner`]: the closed loop;
//! - [`tuning`]: the bump test and SIMC tuning shared by rackloop and the baseline;
//! - [`report`] and [`plot`]: KPIs, checks, JSON, CSV and PNG.
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::float_cmp
    )
)]

pub mod electrical;
pub mod params;
pub mod plant;
pub mod plot;
pub mod power_row;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod sensors;
pub mod serve;
pub mod tuning;
pub mod workload;

use report::{BaselineSummary, Summary};
use runner::{Control, RunResult};
use scenario::Scenario;

/// A scenario's outcome: the summary and the runs behind it.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// KPIs, checks and verdict.
    pub summary: Summary,
    /// rackloop's run.
    pub run: RunResult,
    /// The baseline's run, when compared.
    pub baseline: Option<RunResult>,
}

/// Runs `scenario` with rackloop's control, and the baseline when `compare` is set or a check
/// needs it. `progress` receives the fraction done.
pub fn run_scenario(
    scenario: &Scenario,
    compare: bool,
    mut progress: impl FnMut(f64),
) -> Result<Outcome, String> {
    let setpoint = f64::from(scenario.controller.supply_setpoint_c.unwrap_or(30.0));
    let tuning = tuning::identify(
        &scenario.row,
        scenario.facility.supply_at(0.0).min(setpoint - 3.0),
        setpoint,
    )?;
    let with_baseline = compare || scenario.needs_baseline();
    let share = if with_baseline { 0.5 } else { 1.0 };
    let run = runner::run(scenario, Control::Rackloop, tuning.pid(), |f| {
        progress(f * share);
    });
    let baseline = with_baseline.then(|| {
        runner::run(scenario, Control::Baseline, tuning.pid(), |f| {
            progress(0.5 + f * 0.5);
        })
    });
    let checks = report::evaluate(
        &scenario.checks,
        &run.kpis,
        baseline.as_ref().map(|b| &b.kpis),
    );
    let summary = Summary {
        scenario: scenario.name.clone(),
        passed: checks.iter().all(|c| c.passed),
        kpis: run.kpis.clone(),
        checks,
        baseline: baseline.as_ref().map(|b| BaselineSummary {
            kpis: b.kpis.clone(),
            ratios: report::ratios(&run.kpis, &b.kpis),
            tuning,
        }),
    };
    Ok(Outcome {
        summary,
        run,
        baseline,
    })
}

/// The scenario `racksim serve` runs when none is given (`sim/serve/practice-row.toml`).
pub const PRACTICE_ROW: &str = include_str!("../serve/practice-row.toml");

/// Runs `scenario` live: every device on its TCP port from `base_port`, at `speed` x real
/// time, until the scenario ends or `stop` is set. `ready` gets the ports once they listen.
pub fn serve(
    scenario: &Scenario,
    base_port: u16,
    speed: f64,
    stop: &std::sync::atomic::AtomicBool,
    ready: impl FnOnce(&[u16]),
) -> Result<(), String> {
    let setpoint = f64::from(scenario.controller.supply_setpoint_c.unwrap_or(30.0));
    let tuning = tuning::identify(
        &scenario.row,
        scenario.facility.supply_at(0.0).min(setpoint - 3.0),
        setpoint,
    )?;
    let devices = 1 + if scenario.power.is_some() {
        scenario.row.racks
    } else {
        0
    };
    let mut server = serve::Server::bind(base_port, devices, speed).map_err(|e| e.to_string())?;
    ready(&server.ports());
    runner::run_live(
        scenario,
        Control::Rackloop,
        tuning.pid(),
        |_| {},
        &mut |live| {
            server.service(live);
            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                live.stop = true;
            }
        },
    );
    Ok(())
}
