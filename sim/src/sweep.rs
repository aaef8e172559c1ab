//! `racksim sweep`: Monte Carlo over a scenario's uncertainty. Each sample is a plant drawn
//! from the spec (`[uncertainty]`, else the default set) that the controllers know only by its
//! nameplate; it runs with rackloop and with the baseline, both commissioned by the bump test
//! on that sample's plant (as an engineer commissions each row). Samples run in parallel and
//! are each seeded by their index, so a sweep's result is the same for any thread count.

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde::Serialize;

use crate::report::Kpis;
use crate::scenario::Scenario;
use crate::scenario::uncertainty::{self, Uncertainty};

/// One sample's outcome.
#[derive(Debug, Clone)]
pub struct SampleOutcome {
    /// The sampled scenario (reruns it).
    pub scenario: Scenario,
    /// Every check held.
    pub passed: bool,
    /// rackloop's KPIs.
    pub rackloop: Kpis,
    /// The baseline's KPIs.
    pub baseline: Kpis,
    /// Why the row could not be commissioned (its bump test was refused): neither controller
    /// ran, and the sample counts as failing its checks.
    pub refused: Option<String>,
}

/// Median, 95th percentile (nearest rank) and maximum.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    /// Median.
    pub median: f64,
    /// 95th percentile.
    pub p95: f64,
    /// Largest.
    pub max: f64,
}

/// Per-sample rackloop / baseline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RatioSpread {
    /// Median.
    pub median: f64,
    /// 95th percentile.
    pub p95: f64,
}

/// One KPI over the samples.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KpiSweep {
    /// rackloop's values.
    pub rackloop: Spread,
    /// The baseline's values.
    pub baseline: Spread,
    /// rackloop / baseline per sample, over samples whose baseline is not 0 (absent if none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio: Option<RatioSpread>,
    /// Share of samples where rackloop is no worse than the baseline (lower is better, but
    /// for the KPIs where higher is: flows, headroom, charge, budget).
    pub no_worse_fraction: f64,
}

/// A sweep's result, as `--json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct SweepReport {
    /// The scenario swept.
    pub scenario: String,
    /// Samples run.
    pub samples: u64,
    /// The seed.
    pub seed: u64,
    /// Share of samples whose checks all held.
    pub checks_pass_fraction: f64,
    /// Samples where rackloop throttled a GPU and the baseline did not.
    pub throttle_only_rackloop: u64,
    /// Samples where a GPU shut down under rackloop and none did under the baseline.
    pub shutdown_only_rackloop: u64,
    /// Samples where rackloop's supply deviated more than the baseline's while its hottest GPU
    /// ran at least `COOLER_GPU_K` cooler: the trade a row out of valve authority forces (more
    /// secondary flow keeps the GPUs from slowdown and warms the supply), not a loop that did
    /// worse.
    pub worse_supply_cooler_gpus: u64,
    /// Samples whose row could not be commissioned (the bump test refused it: the CDU cannot
    /// hold the row); the KPIs are over the others.
    pub not_commissioned: u64,
    /// Each KPI both controllers produced in every sample.
    pub kpis: BTreeMap<String, KpiSweep>,
    /// The worst sample (largest supply deviation ratio, a failed check first), written as a
    /// scenario file that reruns it.
    pub worst: String,
    /// Its index.
    pub worst_index: u64,
}

/// Runs `samples` samples of `scenario` drawn with `seed`; `progress` is called once per
/// finished sample (from any thread).
pub fn run(
    scenario: &Scenario,
    samples: u64,
    seed: u64,
    progress: impl Fn() + Sync,
) -> Result<Vec<SampleOutcome>, String> {
    let spec = scenario
        .uncertainty
        .clone()
        .unwrap_or_else(uncertainty::default_spec);
    uncertainty::validate(&spec, scenario).map_err(|e| format!("{}: {e}", scenario.name))?;
    (0..samples)
        .into_par_iter()
        .map(|i| {
            let outcome = run_sample(&spec, scenario, seed, i);
            progress();
            outcome
        })
        .collect()
}

fn run_sample(
    spec: &Uncertainty,
    scenario: &Scenario,
    seed: u64,
    index: u64,
) -> Result<SampleOutcome, String> {
    let mut sampled = uncertainty::sample(spec, scenario, seed, index)
        .map_err(|e| format!("sample {index}: {e}"))?;
    sampled.record_trace = false;
    let outcome = match crate::run_scenario(&sampled, true, |_| {}) {
        Ok(o) => o,
        Err(e) if e.contains("refused") => {
            sampled.record_trace = true;
            return Ok(SampleOutcome {
                scenario: sampled,
                passed: false,
                rackloop: Kpis::new(),
                baseline: Kpis::new(),
                refused: Some(e),
            });
        }
        Err(e) => return Err(format!("sample {index}: {e}")),
    };
    sampled.record_trace = true;
    Ok(SampleOutcome {
        scenario: sampled,
        passed: outcome.summary.passed,
        rackloop: outcome.run.kpis,
        baseline: outcome.baseline.map(|b| b.kpis).unwrap_or_default(),
        refused: None,
    })
}

/// KPIs where a higher value is the better one.
fn higher_is_better(kpi: &str) -> bool {
    kpi.starts_with("flow_min")
        || kpi.starts_with("headroom")
        || kpi.starts_with("min_")
        || kpi == "cap_fairness"
}

fn spread(values: &mut [f64]) -> Spread {
    values.sort_by(f64::total_cmp);
    let rank = |q: f64| {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )] // a rank within the slice
        let i = ((q * values.len() as f64).ceil() as usize).saturating_sub(1);
        values.get(i).copied().unwrap_or(f64::NAN)
    };
    Spread {
        median: rank(0.5),
        p95: rank(0.95),
        max: values.last().copied().unwrap_or(f64::NAN),
    }
}

/// The supply's largest deviation, the KPI the sweep is judged on.
const SUPPLY_DEV: &str = "supply_temp_max_dev_c";
/// The hottest GPU.
const GPU_MAX: &str = "max_gpu_temp_c";
/// The supply's largest deviation while the valve could still move.
const SUPPLY_DEV_IN_AUTHORITY: &str = "supply_temp_max_dev_in_authority_c";
/// Time any GPU spent slowed down.
const THROTTLE: &str = "throttle_s";

/// `name` in `kpis`, NaN where the run has none.
fn kpi(kpis: &Kpis, name: &str) -> f64 {
    kpis.get(name).copied().unwrap_or(f64::NAN)
}

/// How much cooler rackloop's hottest GPU must run for a warmer supply to count as the trade
/// (`worse_supply_cooler_gpus`), K.
pub const COOLER_GPU_K: f64 = 0.5;

/// The sweep's statistics over `outcomes` (in sample order); `worst` is the path the worst
/// sample is written to.
pub fn report(
    scenario: &Scenario,
    seed: u64,
    outcomes: &[SampleOutcome],
    worst: &str,
) -> SweepReport {
    let all = outcomes;
    let ran: Vec<SampleOutcome> = all
        .iter()
        .filter(|o| o.refused.is_none())
        .cloned()
        .collect();
    let outcomes = &ran[..];
    #[allow(clippy::cast_precision_loss)] // sample counts
    let n = outcomes.len().max(1) as f64;
    let names: Vec<&String> = outcomes.first().map_or(Vec::new(), |o| {
        o.rackloop
            .keys()
            .filter(|k| {
                outcomes
                    .iter()
                    .all(|o| o.rackloop.contains_key(*k) && o.baseline.contains_key(*k))
            })
            .collect()
    });
    let mut kpis = BTreeMap::new();
    for name in names {
        kpis.insert(name.clone(), kpi_sweep(name, outcomes, n));
    }
    let throttles = |k: &Kpis| k.get(THROTTLE).is_some_and(|t| *t > 0.0);
    let shuts_down = |k: &Kpis| k.get("gpu_shutdowns").is_some_and(|t| *t > 0.0);
    #[allow(clippy::cast_precision_loss)] // sample counts
    SweepReport {
        scenario: scenario.name.clone(),
        samples: all.len() as u64,
        seed,
        checks_pass_fraction: all.iter().filter(|o| o.passed).count() as f64
            / all.len().max(1) as f64,
        not_commissioned: (all.len() - outcomes.len()) as u64,
        throttle_only_rackloop: outcomes
            .iter()
            .filter(|o| throttles(&o.rackloop) && !throttles(&o.baseline))
            .count() as u64,
        worse_supply_cooler_gpus: outcomes
            .iter()
            .filter(|o| {
                kpi(&o.rackloop, SUPPLY_DEV) > kpi(&o.baseline, SUPPLY_DEV)
                    && kpi(&o.rackloop, GPU_MAX) <= kpi(&o.baseline, GPU_MAX) - COOLER_GPU_K
            })
            .count() as u64,
        shutdown_only_rackloop: outcomes
            .iter()
            .filter(|o| shuts_down(&o.rackloop) && !shuts_down(&o.baseline))
            .count() as u64,
        kpis,
        worst: worst.to_owned(),
        worst_index: worst_index(all) as u64,
    }
}

/// One KPI over `outcomes` (every one has it), `n` of them.
fn kpi_sweep(name: &str, outcomes: &[SampleOutcome], n: f64) -> KpiSweep {
    let pairs: Vec<(f64, f64)> = outcomes
        .iter()
        .filter_map(|o| Some((*o.rackloop.get(name)?, *o.baseline.get(name)?)))
        .collect();
    let mut ours: Vec<f64> = pairs.iter().map(|p| p.0).collect();
    let mut theirs: Vec<f64> = pairs.iter().map(|p| p.1).collect();
    let mut ratios: Vec<f64> = pairs
        .iter()
        .filter(|(_, b)| b.abs() > 1e-12)
        .map(|(r, b)| r / b)
        .collect();
    let higher = higher_is_better(name);
    let no_worse = pairs
        .iter()
        .filter(|(r, b)| {
            let slack = 1e-9 * b.abs().max(1.0);
            if higher {
                *r >= b - slack
            } else {
                *r <= b + slack
            }
        })
        .count();
    let ratio = (!ratios.is_empty()).then(|| {
        let s = spread(&mut ratios);
        RatioSpread {
            median: s.median,
            p95: s.p95,
        }
    });
    #[allow(clippy::cast_precision_loss)] // sample counts
    KpiSweep {
        rackloop: spread(&mut ours),
        baseline: spread(&mut theirs),
        ratio,
        no_worse_fraction: no_worse as f64 / n,
    }
}

/// The worst sample: a failed check first, then the largest supply deviation against the
/// baseline's.
pub fn worst_index(outcomes: &[SampleOutcome]) -> usize {
    let badness = |o: &SampleOutcome| {
        if o.refused.is_some() {
            return (false, f64::MIN);
        }
        let dev = |k: &Kpis| k.get(SUPPLY_DEV).copied().unwrap_or(0.0);
        let ratio = dev(&o.rackloop) / dev(&o.baseline).max(1e-6);
        (!o.passed, ratio)
    };
    outcomes
        .iter()
        .enumerate()
        .max_by(|(_, a), (_, b)| {
            let (fa, ra) = badness(a);
            let (fb, rb) = badness(b);
            fa.cmp(&fb).then(ra.total_cmp(&rb))
        })
        .map_or(0, |(i, _)| i)
}

/// A sample as a scenario file that reruns it (`racksim run FILE --compare baseline`).
pub fn scenario_file(outcome: &SampleOutcome) -> Result<String, String> {
    toml::to_string(&outcome.scenario).map_err(|e| format!("cannot write the sample: {e}"))
}

/// The KPIs the distribution picture shows, first the one whose ratio it draws.
const PICTURED: [&str; 4] = [
    "supply_temp_max_dev_c",
    "supply_temp_settle_s",
    "max_gpu_temp_c",
    "pump_energy_kwh",
];

/// One line per sample: its index, each swept plant parameter's value, whether it was
/// commissioned and passed, and both controllers' supply deviation and GPU peak with their
/// ratio, so the plants a controller does badly on can be found and rerun.
pub fn samples_csv(outcomes: &[SampleOutcome]) -> String {
    use std::fmt::Write;
    let params: Vec<&String> = outcomes
        .first()
        .map_or(Vec::new(), |o| o.scenario.plant.keys().collect());
    let mut s = String::from("sample");
    for p in &params {
        let _ = write!(s, ",{p}");
    }
    s.push_str(",commissioned,passed,rackloop_supply_dev_c,baseline_supply_dev_c,supply_dev_ratio,rackloop_gpu_max_c,baseline_gpu_max_c");
    s.push_str(",rackloop_supply_dev_in_authority_c,baseline_supply_dev_in_authority_c,rackloop_throttle_s,baseline_throttle_s\n");
    for (i, o) in outcomes.iter().enumerate() {
        let _ = write!(s, "{i}");
        for p in &params {
            let v = o.scenario.plant.get(p.as_str());
            let _ = match v.and_then(|v| v.as_float().or(v.as_integer().map(|i| i as f64))) {
                Some(x) => write!(s, ",{x}"),
                None => write!(s, ","),
            };
        }
        let (r, b) = (kpi(&o.rackloop, SUPPLY_DEV), kpi(&o.baseline, SUPPLY_DEV));
        let _ = writeln!(
            s,
            ",{},{},{r},{b},{},{},{},{},{},{},{}",
            o.refused.is_none(),
            o.passed,
            r / b,
            kpi(&o.rackloop, GPU_MAX),
            kpi(&o.baseline, GPU_MAX),
            kpi(&o.rackloop, SUPPLY_DEV_IN_AUTHORITY),
            kpi(&o.baseline, SUPPLY_DEV_IN_AUTHORITY),
            kpi(&o.rackloop, THROTTLE),
            kpi(&o.baseline, THROTTLE),
        );
    }
    s
}

/// Writes the worst sample to `worst` and, with `out`, `distributions.png`, `sweep.json` and
/// `samples.csv` there.
pub fn write_files(
    report: &SweepReport,
    outcomes: &[SampleOutcome],
    worst: &std::path::Path,
    out: Option<&std::path::Path>,
) -> Result<(), String> {
    if let Some(dir) = worst.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let worst_sample = outcomes
        .get(worst_index(outcomes))
        .ok_or("a sweep of no samples has no worst")?;
    let text = format!(
        "# {}: the worst of {} samples (seed {}); rerun: racksim run {} --compare baseline\n{}",
        report.scenario,
        report.samples,
        report.seed,
        worst.display(),
        scenario_file(worst_sample)?
    );
    std::fs::write(worst, text).map_err(|e| format!("cannot write {}: {e}", worst.display()))?;
    let Some(dir) = out else { return Ok(()) };
    let json = serde_json::to_string_pretty(report).map_err(|e| e.to_string())?;
    let path = dir.join("sweep.json");
    std::fs::write(&path, json).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let path = dir.join("samples.csv");
    std::fs::write(&path, samples_csv(outcomes))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let panels: Vec<crate::report::distribution::KpiSamples> = PICTURED
        .iter()
        .filter(|k| report.kpis.contains_key(**k))
        .map(|k| {
            let get = |m: &Kpis| m.get(*k).copied().unwrap_or(f64::NAN);
            (
                (*k).to_owned(),
                outcomes.iter().map(|o| get(&o.rackloop)).collect(),
                outcomes.iter().map(|o| get(&o.baseline)).collect(),
            )
        })
        .collect();
    crate::report::distribution::plot(
        &dir.join("distributions.png"),
        &format!(
            "{}: {} sampled plants, rackloop (blue) and baseline (grey)",
            report.scenario, report.samples
        ),
        &panels,
    )
}

/// The report as a table for a terminal.
pub fn table(report: &SweepReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "sweep {}: {} samples, seed {}\n  checks held in {:.1} % of samples; rackloop throttled where the baseline did not in {}, shut a GPU down where it did not in {}; rows the bump test refused: {}\n  supply deviated more under rackloop with its hottest GPU {COOLER_GPU_K} K or more cooler (more flow on a row out of valve authority) in {}",
        report.scenario,
        report.samples,
        report.seed,
        100.0 * report.checks_pass_fraction,
        report.throttle_only_rackloop,
        report.shutdown_only_rackloop,
        report.not_commissioned,
        report.worse_supply_cooler_gpus
    );
    let _ = writeln!(
        s,
        "  {:<36} {:>27}   {:>27}   {:>15}  {:>8}",
        "KPI", "rackloop median/p95/max", "baseline median/p95/max", "ratio med/p95", "no worse"
    );
    for (name, k) in &report.kpis {
        let ratio = k.ratio.map_or_else(
            || "-".to_owned(),
            |r| format!("{:.3}/{:.3}", r.median, r.p95),
        );
        let _ = writeln!(
            s,
            "  {:<36} {:>8.3} {:>9.3} {:>8.3}   {:>8.3} {:>9.3} {:>8.3}   {:>15}  {:>7.1}%",
            name,
            k.rackloop.median,
            k.rackloop.p95,
            k.rackloop.max,
            k.baseline.median,
            k.baseline.p95,
            k.baseline.max,
            ratio,
            100.0 * k.no_worse_fraction
        );
    }
    let _ = writeln!(s, "  worst sample {}: {}", report.worst_index, report.worst);
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::float_cmp)]
    use super::*;

    /// A sample where rackloop's supply deviated `dev` and its hottest GPU reached `gpu`,
    /// against the baseline's 1 degC and 80 degC.
    fn sample(scenario: &Scenario, dev: f64, gpu: f64) -> SampleOutcome {
        let kpis = |dev: f64, gpu: f64| {
            Kpis::from([
                ("supply_temp_max_dev_c".to_owned(), dev),
                ("max_gpu_temp_c".to_owned(), gpu),
            ])
        };
        SampleOutcome {
            scenario: scenario.clone(),
            passed: true,
            rackloop: kpis(dev, gpu),
            baseline: kpis(1.0, 80.0),
            refused: None,
        }
    }

    #[test]
    fn a_warmer_supply_bought_with_cooler_gpus_is_counted_apart() {
        let scenario = Scenario::parse(
            std::path::Path::new("t.toml"),
            "name = \"t\"\nduration_s = 10\n[workload]\nshape = { kind = \"constant\", level = 1.0 }\n",
        )
        .unwrap();
        let outcomes = [
            // Worse supply, GPUs 2 K cooler: the trade.
            sample(&scenario, 1.5, 78.0),
            // Worse supply, GPUs only 0.2 K cooler: simply worse.
            sample(&scenario, 1.2, 79.8),
            // Better supply and cooler GPUs: not worse at all.
            sample(&scenario, 0.5, 77.0),
        ];
        let report = report(&scenario, 1, &outcomes, "worst.toml");
        assert_eq!(report.worse_supply_cooler_gpus, 1);
        let dev = &report.kpis["supply_temp_max_dev_c"];
        assert!((dev.no_worse_fraction - 1.0 / 3.0).abs() < 1e-12);
    }
}
