//! Pass/fail checks of a scenario's KPIs, their ratios to the baseline's, and the summary
//! (`summary.json`, `--json`).

use serde::Serialize;

use crate::report::kpis::Kpis;
use crate::report::trace::{FocusRack, Marker};
use crate::scenario::Check;

/// The outcome of one check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// The KPI.
    pub kpi: String,
    /// The rule, in words.
    pub rule: String,
    /// The KPI's value (absent if the run did not produce it).
    pub value: Option<f64>,
    /// The baseline's value, for ratio checks.
    pub baseline: Option<f64>,
    /// Passed.
    pub passed: bool,
}

/// Evaluates `checks` on `kpis` (and `baseline` for ratio checks).
pub fn evaluate(checks: &[Check], kpis: &Kpis, baseline: Option<&Kpis>) -> Vec<CheckResult> {
    checks
        .iter()
        .map(|c| {
            let value = kpis.get(&c.kpi).copied();
            let base = baseline.and_then(|b| b.get(&c.kpi).copied());
            let mut rules = Vec::new();
            // A NaN or infinite KPI means the run went wrong: it fails every check on it
            // (a NaN compares false, and -inf is below any maximum).
            let mut passed = value.is_some_and(f64::is_finite);
            if let Some(min) = c.min {
                rules.push(format!(">= {min}"));
                passed &= value.is_some_and(|v| v >= min);
            }
            if let Some(max) = c.max {
                rules.push(format!("<= {max}"));
                passed &= value.is_some_and(|v| v <= max);
            }
            if let Some(ratio) = c.max_ratio_to_baseline {
                rules.push(format!("<= {ratio} x baseline"));
                passed &=
                    matches!((value, base), (Some(v), Some(b)) if b.is_finite() && v <= ratio * b);
            }
            CheckResult {
                kpi: c.kpi.clone(),
                rule: rules.join(" and "),
                value,
                baseline: base,
                passed,
            }
        })
        .collect()
}

/// The JSON summary.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Scenario name.
    pub scenario: String,
    /// All checks passed.
    pub passed: bool,
    /// KPIs of rackloop's control.
    pub kpis: Kpis,
    /// Checks.
    pub checks: Vec<CheckResult>,
    /// Faults injected and the controllers' events, in time order: time, device, event.
    pub events: Vec<Marker>,
    /// The rack whose power the plot and the CSV show, and why (runs with racks' power).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub focus_rack: Option<FocusRack>,
    /// The baseline run, when compared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineSummary>,
}

/// The baseline's part of the summary.
#[derive(Debug, Clone, Serialize)]
pub struct BaselineSummary {
    /// The baseline's KPIs.
    pub kpis: Kpis,
    /// rackloop / baseline, per KPI.
    pub ratios: Kpis,
    /// The identified plant and the SIMC tuning used.
    pub tuning: crate::scenario::tuning::Tuning,
}

/// Ratios rackloop / baseline for KPIs both runs produced.
pub fn ratios(ours: &Kpis, baseline: &Kpis) -> Kpis {
    ours.iter()
        .filter_map(|(k, v)| {
            baseline
                .get(k)
                .filter(|b| b.abs() > 1e-12)
                .map(|b| (k.clone(), v / b))
        })
        .collect()
}
