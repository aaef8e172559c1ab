//! The pictures an operator reads: `plots.png` of a scenario run and `campus.png` of a campus.
//!
//! Both open with an events strip: every fault (red) and controller event (orange) as a line
//! on the time axis with its device and name, labels stacked so none covers another. Below,
//! one quantity per axis: a scenario's temperatures, the supply's deviation from its setpoint
//! (scaled to the deviation, so a tenth of a degree is visible), the hottest GPU against the
//! plant's slowdown and shutdown temperatures, pumps and valve, flow, differential pressure,
//! and with racks' power the rack that matters (the one a fault acted on, else the one
//! isolated, else the hottest), the row's grid input, that rack's BBU charge and the row's
//! ramp rate; the baseline's curves in grey when compared. A campus: its input power and its
//! ramp, without smoothing in grey.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::report::trace::{Marker, PowerTrace, RackPowerTrace, RunResult, TraceRow};

/// `DejaVu` Sans (free licence, see `sim/assets/DejaVuSans-LICENSE.txt`), bundled so plots need
/// no system font library.
static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

/// Width of every picture, px.
const WIDTH: u32 = 1400;
/// Height of one panel, px.
const PANEL_PX: u32 = 300;
/// Height of the events strip, px.
const EVENTS_PX: u32 = 190;
/// Label rows in the events strip.
const EVENT_ROWS: usize = 7;
/// Grey of the baseline's (or the unsmoothed campus's) curves.
const GREY: RGBColor = RGBColor(160, 160, 160);
/// Colour of controller events (faults are red).
const ORANGE: RGBColor = RGBColor(230, 120, 0);

/// Registers the bundled font (once).
pub(crate) fn register_font() {
    REGISTER.call_once(|| {
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

type Error = Box<dyn std::error::Error>;
type Accessor<'a> = Box<dyn Fn(&TraceRow) -> f64 + 'a>;
type Series<'a> = (String, RGBColor, Accessor<'a>);

/// One panel: its axis label, its curves, the baseline's curve, and whether its y range is
/// symmetric about zero (a deviation).
struct Panel<'a> {
    label: String,
    series: Vec<Series<'a>>,
    baseline: Option<(String, Accessor<'a>)>,
    about_zero: bool,
}

impl<'a> Panel<'a> {
    fn new(label: impl Into<String>, series: Vec<Series<'a>>) -> Self {
        Self {
            label: label.into(),
            series,
            baseline: None,
            about_zero: false,
        }
    }

    fn with_baseline(mut self, name: &str, f: impl Fn(&TraceRow) -> f64 + 'a) -> Self {
        self.baseline = Some((name.into(), Box::new(f)));
        self
    }
}

fn curve<'a>(name: &str, color: RGBColor, f: impl Fn(&TraceRow) -> f64 + 'a) -> Series<'a> {
    (name.into(), color, Box::new(f))
}

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

/// The scenario's panels, top to bottom.
fn panels(run: &RunResult) -> Vec<Panel<'_>> {
    let p = &run.row;
    let max_rpm = p.pump_max_rpm;
    let mut panels = vec![
        Panel::new(
            "temperature (degC)",
            vec![
                curve("supply", RED, |r| r.supply_c),
                curve("return", BLUE, |r| r.return_c),
                curve("facility supply", GREEN, |r| r.facility_c),
            ],
        )
        .with_baseline("baseline supply", |r| r.supply_c),
        Panel {
            about_zero: true,
            ..Panel::new(
                "supply - setpoint (K)",
                vec![curve("supply deviation", RED, |r| {
                    r.supply_c - r.setpoint_c
                })],
            )
            .with_baseline("baseline deviation", |r| r.supply_c - r.setpoint_c)
        },
        Panel::new(
            "hottest GPU (degC)",
            vec![
                curve("hottest GPU", RED, |r| r.hottest_gpu_c),
                curve(
                    &format!("slowdown {}", p.gpu_slowdown_c),
                    MAGENTA,
                    move |_| p.gpu_slowdown_c,
                ),
                curve(
                    &format!("shutdown {}", p.gpu_shutdown_c),
                    BLACK,
                    move |_| p.gpu_shutdown_c,
                ),
            ],
        )
        .with_baseline("baseline hottest GPU", |r| r.hottest_gpu_c),
        Panel::new(
            "pumps and valve (%)",
            [BLUE, CYAN, RGBColor(0, 90, 160)]
                .into_iter()
                .enumerate()
                .take(p.pumps)
                .map(|(i, color)| {
                    curve(&format!("pump {i} speed"), color, move |r: &TraceRow| {
                        r.pump_rpm.get(i).map_or(0.0, |rpm| rpm / max_rpm * 100.0)
                    })
                })
                .chain([curve("valve", RED, |r| r.valve_pct)])
                .collect(),
        )
        .with_baseline("baseline valve", |r| r.valve_pct),
        Panel::new(
            "secondary flow (L/min)",
            vec![curve("flow", BLUE, |r| r.flow_lpm)],
        )
        .with_baseline("baseline flow", |r| r.flow_lpm),
        Panel::new(
            "differential pressure (kPa)",
            vec![
                curve("dP", BLUE, |r| r.dp_kpa),
                curve("dP setpoint", BLACK, |r| r.dp_setpoint_kpa),
            ],
        )
        .with_baseline("baseline dP", |r| r.dp_kpa),
    ];
    if let Some(focus) = &run.focus_rack {
        let rack = focus.rack;
        let row = |f: fn(&PowerTrace) -> f64| move |r: &TraceRow| r.power.as_ref().map_or(0.0, f);
        let one = move |f: fn(&RackPowerTrace) -> f32| {
            move |r: &TraceRow| {
                r.power
                    .as_ref()
                    .and_then(|p| p.racks.get(rack))
                    .map_or(0.0, |k| f64::from(f(k)))
            }
        };
        panels.extend([
            Panel::new(
                format!("rack {rack} power (kW): {}", focus.why),
                vec![
                    curve("grid input", BLUE, one(|k| k.grid_kw)),
                    curve("budget", BLACK, one(|k| k.budget_kw)),
                    curve("sum of caps", MAGENTA, one(|k| k.caps_kw)),
                    curve("BBU (+ discharge)", GREEN, one(|k| k.bbu_kw)),
                ],
            )
            .with_baseline("baseline grid input", one(|k| k.grid_kw)),
            Panel::new(
                "row grid input (kW)",
                vec![curve("row grid input", BLUE, row(|p| p.row_grid_kw))],
            )
            .with_baseline("baseline row grid input", row(|p| p.row_grid_kw)),
            Panel::new(
                format!("rack {rack} BBU charge (%)"),
                vec![curve("state of charge", GREEN, one(|k| k.bbu_soc_pct))],
            )
            .with_baseline("baseline state of charge", one(|k| k.bbu_soc_pct)),
            Panel::new(
                "row grid ramp (kW/s)",
                vec![curve("ramp over 1 s", RED, row(|p| p.row_ramp_kw_per_s))],
            )
            .with_baseline("baseline ramp", row(|p| p.row_ramp_kw_per_s)),
        ]);
    }
    panels
}

fn draw(
    path: &Path,
    title: &str,
    run: &RunResult,
    baseline: Option<&RunResult>,
) -> Result<(), Error> {
    let panels = panels(run);
    let height = EVENTS_PX + 40 + PANEL_PX * u32::try_from(panels.len()).unwrap_or(1);
    let root = BitMapBackend::new(path, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(&format!("racksim: {title}"), ("sans-serif", 28))?;
    let (events, rest) = root.split_vertically(EVENTS_PX);
    let t_end = run.trace.last().map_or(1.0, |r| r.t_s).max(1.0);
    draw_events(&events, t_end, &run.markers)?;
    let areas = rest.split_evenly((panels.len(), 1));
    for (area, panel) in areas.iter().zip(&panels) {
        draw_panel(area, t_end, run, baseline, panel)?;
    }
    root.present()?;
    Ok(())
}

/// The y range of `values`: padded, or symmetric about zero for a deviation.
fn y_range(values: impl Iterator<Item = f64>, about_zero: bool) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return (0.0, 1.0);
    }
    if about_zero {
        // At least +/-0.05 K, so sensor noise does not fill the panel.
        let reach = lo.abs().max(hi.abs()).max(0.05) * 1.15;
        return (-reach, reach);
    }
    let pad = ((hi - lo) * 0.08).max(0.2);
    (lo - pad, hi + pad)
}

fn draw_panel(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    t_end: f64,
    run: &RunResult,
    baseline: Option<&RunResult>,
    panel: &Panel<'_>,
) -> Result<(), Error> {
    let ours = panel
        .series
        .iter()
        .flat_map(|(_, _, f)| run.trace.iter().map(f));
    let theirs = baseline
        .zip(panel.baseline.as_ref())
        .into_iter()
        .flat_map(|(b, (_, f))| b.trace.iter().map(f));
    let (lo, hi) = y_range(ours.chain(theirs), panel.about_zero);
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..t_end, lo..hi)?;
    chart
        .configure_mesh()
        .y_desc(panel.label.as_str())
        .x_desc("t (s)")
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    marker_lines(&mut chart, &run.markers, lo, hi)?;
    if panel.about_zero {
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(0.0, 0.0), (t_end, 0.0)],
            BLACK.stroke_width(1),
        )))?;
    }
    if let (Some(b), Some((name, f))) = (baseline, &panel.baseline) {
        chart
            .draw_series(LineSeries::new(
                b.trace.iter().map(|r| (r.t_s, f(r))),
                GREY.stroke_width(2),
            ))?
            .label(name.as_str())
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], GREY));
    }
    for (name, color, f) in &panel.series {
        chart
            .draw_series(LineSeries::new(
                run.trace.iter().map(|r| (r.t_s, f(r))),
                color.stroke_width(2),
            ))?
            .label(name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    Ok(())
}

type Chart<'a, 'b> = ChartContext<
    'a,
    BitMapBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// Faint vertical lines at each marker, so a panel's curves can be read against the events.
fn marker_lines(
    chart: &mut Chart<'_, '_>,
    markers: &[Marker],
    lo: f64,
    hi: f64,
) -> Result<(), Error> {
    for m in markers {
        let color = if m.fault {
            RED.mix(0.35)
        } else {
            ORANGE.mix(0.3)
        };
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(m.t_s, lo), (m.t_s, hi)],
            color.stroke_width(1),
        )))?;
    }
    Ok(())
}

/// The events strip: each marker as a line with `device: event` beside it, in the first label
/// row where it covers no label before it; markers that find no free row keep their line and
/// are counted in the strip's caption.
fn draw_events(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    t_end: f64,
    markers: &[Marker],
) -> Result<(), Error> {
    let rows = EVENT_ROWS as f64;
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(24)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..t_end, 0.0..rows)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .disable_y_axis()
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    let mut row_end_px = [i32::MIN; EVENT_ROWS];
    let mut unlabelled = 0;
    for m in markers {
        let color = if m.fault { RED } else { ORANGE };
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(m.t_s, 0.0), (m.t_s, rows)],
            color.mix(0.6).stroke_width(1),
        )))?;
        let text = format!("{}: {}", m.device, m.label);
        let x_px = chart.backend_coord(&(m.t_s, 0.0)).0;
        // DejaVu Sans at 13 px: about 7 px a character.
        let width_px = i32::try_from(text.chars().count() * 7 + 8).unwrap_or(i32::MAX);
        let Some(row) = row_end_px.iter().position(|end| *end < x_px) else {
            unlabelled += 1;
            continue;
        };
        if let Some(end) = row_end_px.get_mut(row) {
            *end = x_px.saturating_add(width_px);
        }
        let y = rows - row as f64 - 0.15;
        chart.draw_series(std::iter::once(
            EmptyElement::at((m.t_s, y))
                + Text::new(text, (4, 0), ("sans-serif", 13).into_font().color(&color)),
        ))?;
    }
    let caption = match (markers.len(), unlabelled) {
        (0, _) => "events: none".to_owned(),
        (n, 0) => format!("events: {n} (faults red, controller events orange)"),
        (n, u) => format!(
            "events: {n}, {u} too close to label (see summary.json); faults red, controller events orange"
        ),
    };
    area.draw(&Text::new(
        caption,
        (80, i32::try_from(EVENTS_PX).unwrap_or(0) - 16),
        ("sans-serif", 13).into_font().color(&BLACK),
    ))?;
    Ok(())
}

/// One curve of the campus plot: its name, colour and points.
pub struct CampusCurve<'a> {
    /// Legend entry.
    pub name: &'a str,
    /// Colour (grey for the unsmoothed campus).
    pub grey: bool,
    /// `(t_s, value)` points.
    pub points: Vec<(f64, f64)>,
}

/// Draws `campus.png`: the events strip, then one panel per `(axis label, curves)`.
pub fn plot_campus(
    path: &Path,
    title: &str,
    t_end: f64,
    markers: &[Marker],
    panels: &[(&str, Vec<CampusCurve<'_>>)],
) -> Result<(), String> {
    register_font();
    let draw = || -> Result<(), Error> {
        let height = EVENTS_PX + 40 + PANEL_PX * u32::try_from(panels.len()).unwrap_or(1);
        let root = BitMapBackend::new(path, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let root = root.titled(title, ("sans-serif", 26))?;
        let (events, rest) = root.split_vertically(EVENTS_PX);
        draw_events(&events, t_end, markers)?;
        let areas = rest.split_evenly((panels.len(), 1));
        for (area, (label, curves)) in areas.iter().zip(panels) {
            let (lo, hi) = y_range(
                curves.iter().flat_map(|c| c.points.iter().map(|p| p.1)),
                false,
            );
            let mut chart = ChartBuilder::on(area)
                .margin(12)
                .x_label_area_size(36)
                .y_label_area_size(70)
                .build_cartesian_2d(0.0..t_end, lo..hi)?;
            chart
                .configure_mesh()
                .x_desc("time (s)")
                .y_desc(*label)
                .draw()?;
            marker_lines(&mut chart, markers, lo, hi)?;
            for c in curves {
                let color = if c.grey { GREY } else { BLUE };
                chart
                    .draw_series(LineSeries::new(c.points.iter().copied(), color))?
                    .label(c.name)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            }
            chart
                .configure_series_labels()
                .border_style(BLACK)
                .background_style(WHITE)
                .draw()?;
        }
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| format!("cannot draw {}: {e}", path.display()))
}
