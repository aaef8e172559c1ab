//! `plots.png`: supply and return temperatures against the setpoint, the hottest GPU against
//! its limits, pump speeds and the valve, flow, and differential pressure; faults (red) and
//! alarms (orange) marked on the time axis; the baseline's curves in grey when compared.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::runner::{RunResult, TraceRow};

/// `DejaVu` Sans (free licence, see `sim/assets/DejaVuSans-LICENSE.txt`), bundled so plots need
/// no system font library.
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

/// Registers the bundled font (once).
pub(crate) fn register_font() {
    REGISTER.call_once(|| {
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

type Accessor<'a> = Box<dyn Fn(&TraceRow) -> f64 + 'a>;
type Series<'a> = (&'a str, RGBColor, Accessor<'a>);
/// A panel: its axis label, its curves, and the baseline's curve.
type Panel<'a> = (&'a str, Vec<Series<'a>>, Option<(&'a str, Accessor<'a>)>);

/// Draws the plots of `run` (and `baseline`) into `path`.
pub fn plot(
    path: &Path,
    title: &str,
    run: &RunResult,
    baseline: Option<&RunResult>,
) -> Result<(), String> {
    register_font();
    draw(path, title, run, baseline).map_err(|e| format!("cannot draw {}: {e}", path.display()))
}

fn draw(
    path: &Path,
    title: &str,
    run: &RunResult,
    baseline: Option<&RunResult>,
) -> Result<(), Box<dyn std::error::Error>> {
    let power = run.trace.first().is_some_and(|r| r.power.is_some());
    let height = if power { 2600 } else { 1800 };
    let root = BitMapBackend::new(path, (1400, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(&format!("racksim: {title}"), ("sans-serif", 28))?;
    let panels = root.split_evenly((if power { 8 } else { 5 }, 1));
    let t_end = run.trace.last().map_or(1.0, |r| r.t_s).max(1.0);
    let max_rpm = 3600.0;

    let specs: Vec<Panel> = vec![
        (
            "temperature (degC)",
            vec![
                ("supply", RED, Box::new(|r: &TraceRow| r.supply_c)),
                ("setpoint", BLACK, Box::new(|r: &TraceRow| r.setpoint_c)),
                ("return", BLUE, Box::new(|r: &TraceRow| r.return_c)),
                (
                    "facility supply",
                    GREEN,
                    Box::new(|r: &TraceRow| r.facility_c),
                ),
            ],
            Some(("baseline supply", Box::new(|r: &TraceRow| r.supply_c))),
        ),
        (
            "hottest GPU (degC)",
            vec![
                ("hottest GPU", RED, Box::new(|r: &TraceRow| r.hottest_gpu_c)),
                ("slowdown 83", MAGENTA, Box::new(|_: &TraceRow| 83.0)),
                ("shutdown 91", BLACK, Box::new(|_: &TraceRow| 91.0)),
            ],
            Some((
                "baseline hottest GPU",
                Box::new(|r: &TraceRow| r.hottest_gpu_c),
            )),
        ),
        (
            "pumps and valve (%)",
            vec![
                (
                    "pump 0",
                    BLUE,
                    Box::new(move |r: &TraceRow| r.pump_rpm[0] / max_rpm * 100.0),
                ),
                (
                    "pump 1",
                    CYAN,
                    Box::new(move |r: &TraceRow| r.pump_rpm[1] / max_rpm * 100.0),
                ),
                ("valve", RED, Box::new(|r: &TraceRow| r.valve_pct)),
            ],
            Some(("baseline valve", Box::new(|r: &TraceRow| r.valve_pct))),
        ),
        (
            "secondary flow (L/min)",
            vec![("flow", BLUE, Box::new(|r: &TraceRow| r.flow_lpm))],
            Some(("baseline flow", Box::new(|r: &TraceRow| r.flow_lpm))),
        ),
        (
            "differential pressure (kPa)",
            vec![
                ("dP", BLUE, Box::new(|r: &TraceRow| r.dp_kpa)),
                (
                    "dP setpoint",
                    BLACK,
                    Box::new(|r: &TraceRow| r.dp_setpoint_kpa),
                ),
            ],
            Some(("baseline dP", Box::new(|r: &TraceRow| r.dp_kpa))),
        ),
    ];
    let mut specs = specs;
    if power {
        let pw = |f: fn(&crate::runner::PowerTrace) -> f64| {
            move |r: &TraceRow| r.power.as_ref().map_or(0.0, f)
        };
        specs.push((
            "rack 0 power (kW)",
            vec![
                ("grid input", BLUE, Box::new(pw(|p| p.rack0_grid_kw))),
                ("budget", BLACK, Box::new(pw(|p| p.rack0_budget_kw))),
                ("sum of caps", MAGENTA, Box::new(pw(|p| p.rack0_caps_kw))),
                ("BBU (+ discharge)", GREEN, Box::new(pw(|p| p.rack0_bbu_kw))),
            ],
            Some(("baseline grid input", Box::new(pw(|p| p.rack0_grid_kw)))),
        ));
        specs.push((
            "row grid input (kW)",
            vec![("row grid input", BLUE, Box::new(pw(|p| p.row_grid_kw)))],
            Some(("baseline row grid input", Box::new(pw(|p| p.row_grid_kw)))),
        ));
        specs.push((
            "BBU SoC (%), row ramp (kW/s)",
            vec![
                (
                    "rack 0 BBU state of charge",
                    GREEN,
                    Box::new(pw(|p| p.bbu_soc_pct)),
                ),
                ("row grid ramp", RED, Box::new(pw(|p| p.row_ramp_kw_per_s))),
            ],
            Some((
                "baseline row grid ramp",
                Box::new(pw(|p| p.row_ramp_kw_per_s)),
            )),
        ));
    }

    for (area, (label, series, base_series)) in panels.iter().zip(specs) {
        let mut lo = f64::MAX;
        let mut hi = f64::MIN;
        for (_, _, f) in &series {
            for r in &run.trace {
                let v = f(r);
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
        if let (Some(b), Some((_, f))) = (baseline, &base_series) {
            for r in &b.trace {
                lo = lo.min(f(r));
                hi = hi.max(f(r));
            }
        }
        if !(lo.is_finite() && hi.is_finite()) {
            lo = 0.0;
            hi = 1.0;
        }
        let pad = ((hi - lo) * 0.08).max(0.2);
        let mut chart = ChartBuilder::on(area)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..t_end, (lo - pad)..(hi + pad))?;
        chart
            .configure_mesh()
            .y_desc(label)
            .x_desc("t (s)")
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        if let (Some(b), Some((name, f))) = (baseline, base_series) {
            chart
                .draw_series(LineSeries::new(
                    b.trace.iter().map(|r| (r.t_s, f(r))),
                    RGBColor(160, 160, 160).stroke_width(2),
                ))?
                .label(name)
                .legend(|(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], RGBColor(160, 160, 160))
                });
        }
        for (name, color, f) in &series {
            chart
                .draw_series(LineSeries::new(
                    run.trace.iter().map(|r| (r.t_s, f(r))),
                    color.stroke_width(2),
                ))?
                .label(*name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        for m in &run.markers {
            let color = if m.fault {
                RED.mix(0.6)
            } else {
                RGBColor(255, 140, 0).mix(0.5)
            };
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(m.t_s, lo - pad), (m.t_s, hi + pad)],
                color.stroke_width(1),
            )))?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()?;
    }
    root.present()?;
    Ok(())
}
