//! # rack-sim
//!
//! The plant simulator of rackloop. It runs the very same `rack-control` code a board runs,
//! closed-loop against physical models of a row of liquid-cooled GPU racks, so control loops
//! are tested without hardware.
//!
//! In layers, each using only the layers listed before it:
//! - [`plant`]: the physical row (pumps, heat exchanger, valve, manifolds, racks of trays,
//!   GPUs), each rack's electrical plant, sensors, workload, and every parameter with its
//!   source and range;
//! - [`scenario`]: scenario and campus files, faults, validation, what the controllers are
//!   commissioned with (and the commissioning bump test), the KPI names checks may use;
//! - [`report`]: what a run leaves (trace, markers, KPIs) and how it is reported (checks,
//!   table, CSV, JSON, plots, a campus's sums);
//! - [`run`]: the closed loop of a row, its racks' power side, a campus, the
//!   processor-in-the-loop bridge, the live row for `rackctl`;
//!
//! beside them [`validate`], the ranges and the error that names a field (a leaf every layer
//! uses). This file ties them into the calls `racksim` makes.
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::float_cmp
    )
)]

pub mod plant;
pub mod report;
pub mod run;
pub mod scenario;
pub mod sweep;
pub mod validate;

use report::trace::RunResult;
use report::{BaselineSummary, Summary};
use run::runner;
use scenario::commissioning::Control;
use scenario::{Scenario, tuning};

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

/// The PI tuning of the scenario's row, from the automated bump test a commissioning engineer
/// makes at its setpoint: rackloop's supply loop runs on it, and so does the baseline's, so
/// that their comparison measures what rackloop adds, not a tuning gap.
fn commissioning_tuning(scenario: &Scenario) -> Result<tuning::Tuning, String> {
    let setpoint = f64::from(scenario.controller.supply_setpoint_c.unwrap_or(30.0));
    // The bump test is made on the row as it is (the plant), not on its nameplate.
    tuning::identify(
        &scenario.truth(),
        scenario.facility.supply_at(0.0).min(setpoint - 3.0),
        setpoint,
    )
    .map_err(|e| format!("commissioning bump test (the supply loop's PI tuning): {e}"))
}

/// Runs `scenario` with rackloop's control, and the baseline when `compare` is set or a check
/// needs it. `progress` receives the fraction done.
pub fn run_scenario(
    scenario: &Scenario,
    compare: bool,
    mut progress: impl FnMut(f64),
) -> Result<Outcome, String> {
    let tuning = commissioning_tuning(scenario)?;
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
    Ok(outcome(scenario, run, baseline.map(|b| (b, tuning))))
}

/// Evaluates the checks of `scenario` on `run` (and the baseline's run with its tuning).
fn outcome(
    scenario: &Scenario,
    run: RunResult,
    baseline: Option<(RunResult, tuning::Tuning)>,
) -> Outcome {
    let checks = report::evaluate(
        &scenario.checks,
        &run.kpis,
        baseline.as_ref().map(|(b, _)| &b.kpis),
    );
    let summary = Summary {
        scenario: scenario.name.clone(),
        passed: checks.iter().all(|c| c.passed),
        kpis: run.kpis.clone(),
        checks,
        events: run.markers.clone(),
        focus_rack: run.focus_rack.clone(),
        baseline: baseline.as_ref().map(|(b, tuning)| BaselineSummary {
            kpis: b.kpis.clone(),
            ratios: report::ratios(&run.kpis, &b.kpis),
            tuning: *tuning,
        }),
    };
    Outcome {
        summary,
        run,
        baseline: baseline.map(|(b, _)| b),
    }
}

/// The scenario `racksim serve` runs when none is given (`sim/serve/practice-row.toml`).
pub const PRACTICE_ROW: &str = include_str!("../serve/practice-row.toml");

/// Runs `scenario` live: every device on its TCP port from `base_port`, at `speed` x real
/// time, until the scenario ends or `stop` is set. `ready` gets the ports once they listen.
pub fn serve(
    scenario: &Scenario,
    base_port: u16,
    speed: f64,
    options: run::serve::ServeOptions,
    stop: &std::sync::atomic::AtomicBool,
    ready: impl FnOnce(&[u16]),
) -> Result<run::serve::ServeCounters, String> {
    let tuning = commissioning_tuning(scenario)?;
    let devices = 1 + if scenario.power.is_some() {
        scenario.row.racks
    } else {
        0
    };
    let mut server =
        run::serve::Server::bind(base_port, devices, speed, options).map_err(|e| e.to_string())?;
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
        None,
    );
    Ok(server.counters())
}

/// Runs `scenario` with the coolant controller's ARM binary `image` in QEMU driving the plant
/// (processor in the loop), the host build of the same controller beside it on the same inputs.
/// The KPIs gain `pil_steps` and `pil_mismatches` (steps where the two disagreed in any bit);
/// the firmware's semihosting log comes back too.
pub fn run_pil(
    scenario: &Scenario,
    image: &std::path::Path,
    progress: impl FnMut(f64),
) -> Result<(Outcome, String), String> {
    pil_ready(scenario)?;
    run_pil_on(scenario, run::pil::Pil::start(image)?, progress)
}

/// Whether `scenario` can run in the loop with the firmware: its built-in settings are the
/// defaults.
fn pil_ready(scenario: &Scenario) -> Result<(), String> {
    if scenario.power.is_some() || scenario.controller != scenario::ControllerOverrides::default() {
        return Err(format!(
            "{}: processor-in-the-loop runs use the firmware's built-in settings; remove the [controller] and [power] sections",
            scenario.name
        ));
    }
    if scenario.row != plant::params::RowParams::default() {
        return Err(format!(
            "{}: processor-in-the-loop runs need the default row (the firmware's built-in settings match it)",
            scenario.name
        ));
    }
    Ok(())
}

/// [`run_pil`] on a board already started (a test that talks to the firmware's host link
/// while the plant runs, e.g. to update it).
pub fn run_pil_on(
    scenario: &Scenario,
    mut link: run::pil::Pil,
    progress: impl FnMut(f64),
) -> Result<(Outcome, String), String> {
    pil_ready(scenario)?;
    let pid = rack_control::coolant::CoolantConfig::default().temp_pid;
    let run = runner::run_live(
        scenario,
        Control::Rackloop,
        pid,
        progress,
        &mut |_| {},
        Some(&mut link),
    );
    if run.kpis.contains_key("pil_failed") {
        let why = run
            .markers
            .iter()
            .find(|m| m.label.starts_with("PIL stopped"))
            .map(|m| m.label.clone());
        return Err(why.unwrap_or_else(|| "the processor-in-the-loop run stopped".into()));
    }
    let end_s = scenario.warmup_s + scenario.duration_s + 1.0;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // positive, small
    let end_us = (end_s * 1e6) as u64;
    let inputs =
        rack_control::coolant::CoolantInputs::uniform(rack_control::Instant(end_us / 1000), 30.0);
    let (exit_ok, log) =
        link.finish(&rack_node::plant_io::coolant_sample(end_us, &inputs, true))?;
    if !exit_ok {
        return Err(format!("the firmware exited with a failure:\n{log}"));
    }
    // Checks relative to the conventional controller need its run (on the host: it is the
    // reference, not the device under test).
    let baseline = if scenario.needs_baseline() {
        let tuning = commissioning_tuning(scenario)?;
        let b = runner::run(scenario, Control::Baseline, tuning.pid(), |_| {});
        Some((b, tuning))
    } else {
        None
    };
    Ok((outcome(scenario, run, baseline), log))
}
