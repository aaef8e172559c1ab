//! The report's files: `summary.json`, `trace.csv` (and `trace_baseline.csv`), `plots.png`.

use std::fmt::Write as _;
use std::path::Path;

use crate::report::checks::Summary;
use crate::report::trace::{FocusRack, RunResult, TraceRow};

/// Writes `trace.csv`, `summary.json` and `plots.png` into `dir`.
pub fn write_outputs(
    dir: &Path,
    summary: &Summary,
    run: &RunResult,
    baseline: Option<&RunResult>,
) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let json = serde_json::to_string_pretty(summary).map_err(|e| e.to_string())?;
    write(&dir.join("summary.json"), &json)?;
    write(
        &dir.join("trace.csv"),
        &csv(&run.trace, run.focus_rack.as_ref()),
    )?;
    if let Some(b) = baseline {
        write(
            &dir.join("trace_baseline.csv"),
            &csv(&b.trace, run.focus_rack.as_ref()),
        )?;
    }
    crate::report::plot::plot(&dir.join("plots.png"), &summary.scenario, run, baseline)
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The trace as CSV; the power columns are `focus`'s (the rack the report shows), named by
/// its number.
fn csv(trace: &[TraceRow], focus: Option<&FocusRack>) -> String {
    let mut out = String::from(
        "t_s,supply_c,setpoint_c,return_c,facility_c,flow_lpm,dp_kpa,dp_setpoint_kpa,valve_pct,pump0_rpm,pump1_rpm,pump2_rpm,hottest_gpu_c,heat_in_kw,hx_kw,headroom_kw,pump_kw,row_power_kw,state,feed_forward,row_grid_kw,row_ramp_kw_per_s",
    );
    let rack = focus.map_or(0, |f| f.rack);
    for column in ["grid_kw", "budget_kw", "caps_kw", "bbu_kw", "bbu_soc_pct"] {
        let _ = write!(out, ",rack{rack}_{column}");
    }
    out.push('\n');
    for r in trace {
        let _ = write!(
            out,
            "{:.1},{:.3},{:.2},{:.3},{:.3},{:.1},{:.2},{:.2},{:.2},{:.0},{:.0},{:.0},{:.2},{:.2},{:.2},{:.1},{:.3},{:.2},{:?},{}",
            r.t_s,
            r.supply_c,
            r.setpoint_c,
            r.return_c,
            r.facility_c,
            r.flow_lpm,
            r.dp_kpa,
            r.dp_setpoint_kpa,
            r.valve_pct,
            r.pump_rpm[0],
            r.pump_rpm[1],
            r.pump_rpm[2],
            r.hottest_gpu_c,
            r.heat_in_kw,
            r.hx_kw,
            r.headroom_kw,
            r.pump_kw,
            r.row_power_kw,
            r.state.map_or_else(String::new, |s| format!("{s:?}")),
            u8::from(r.feed_forward)
        );
        match r.power {
            Some(pw) => {
                let k = pw.racks.get(rack).copied().unwrap_or_default();
                let _ = writeln!(
                    out,
                    ",{:.2},{:.3},{:.2},{:.2},{:.2},{:.2},{:.2}",
                    pw.row_grid_kw,
                    pw.row_ramp_kw_per_s,
                    k.grid_kw,
                    k.budget_kw,
                    k.caps_kw,
                    k.bbu_kw,
                    k.bbu_soc_pct
                );
            }
            None => out.push_str(",,,,,,,\n"),
        }
    }
    out
}
