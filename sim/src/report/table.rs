//! The report as text: the KPI table with the checks, and the event list.

use std::fmt::Write as _;

use crate::report::checks::Summary;
use crate::report::trace::Marker;

/// The KPI table and checks, as text.
pub fn table(summary: &Summary) -> String {
    let mut out = String::new();
    let verdict = if summary.passed { "PASS" } else { "FAIL" };
    let _ = writeln!(out, "scenario {}: {verdict}", summary.scenario);
    let base = summary.baseline.as_ref();
    let _ = writeln!(
        out,
        "  {:<36} {:>12}{}",
        "KPI",
        "rackloop",
        if base.is_some() {
            format!(" {:>12} {:>8}", "baseline", "ratio")
        } else {
            String::new()
        }
    );
    for (name, value) in &summary.kpis {
        let _ = write!(out, "  {name:<36} {:>12}", number(*value));
        if let Some(b) = base {
            match (b.kpis.get(name), b.ratios.get(name)) {
                (Some(bv), Some(r)) => {
                    let _ = write!(out, " {:>12} {r:>8.3}", number(*bv));
                }
                (Some(bv), None) => {
                    let _ = write!(out, " {:>12} {:>8}", number(*bv), "-");
                }
                _ => {}
            }
        }
        out.push('\n');
    }
    let _ = writeln!(out, "  checks:");
    for c in &summary.checks {
        let value = c
            .value
            .map_or_else(|| "not produced".to_owned(), |v| format!("{v:.3}"));
        let _ = writeln!(
            out,
            "    [{}] {} {} (got {value})",
            if c.passed { "ok" } else { "FAIL" },
            c.kpi,
            c.rule
        );
    }
    if let Some(b) = base {
        let t = &b.tuning;
        let _ = writeln!(
            out,
            "  commissioning tuning, both supply loops (SIMC from a {:.0} % valve step at {:.0} % load and {:.1} % open, read {}): K = {:.4} K/%, tau = {:.1} s, theta = {:.1} s -> Kc = {:.2} %/K, Ti = {:.1} s",
            t.step_pct,
            t.load * 100.0,
            t.valve_before_pct,
            t.method,
            t.gain_k_per_pct,
            t.tau_s,
            t.theta_s,
            t.kc_pct_per_k,
            t.ti_s
        );
    }
    out
}

/// A KPI value for the table: three decimals, or scientific when that would show nothing.
fn number(v: f64) -> String {
    if v != 0.0 && v.abs() < 5e-4 {
        format!("{v:.2e}")
    } else {
        format!("{v:.3}")
    }
}

/// Markers, as text lines (for the terminal).
pub fn markers_text(markers: &[Marker]) -> String {
    let mut out = String::new();
    for m in markers.iter().take(40) {
        let _ = writeln!(
            out,
            "  t = {:>8.1} s  {:<8} {}{}",
            m.t_s,
            m.device,
            if m.fault { "FAULT " } else { "" },
            m.label
        );
    }
    if markers.len() > 40 {
        let _ = writeln!(out, "  ... {} more", markers.len() - 40);
    }
    out
}
