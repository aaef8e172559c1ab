//! `distributions.png` of a sweep: for each KPI, the share of samples at or below each value
//! (the empirical distribution) for rackloop (blue) and the baseline (grey), and the per-sample
//! ratio rackloop / baseline of the first KPI against 1 (no worse) and the median limit.

use std::path::Path;

use plotters::prelude::*;

use crate::report::plot::register_font;

/// Grey of the baseline's curves.
const GREY: RGBColor = RGBColor(150, 150, 150);

/// One panel's data: the KPI's name, rackloop's values and the baseline's.
pub type KpiSamples = (String, Vec<f64>, Vec<f64>);

/// Draws `panels` (one per KPI) and the ratio of the first into `path`.
pub fn plot(path: &Path, title: &str, panels: &[KpiSamples]) -> Result<(), String> {
    register_font();
    draw(path, title, panels).map_err(|e| format!("cannot draw {}: {e}", path.display()))
}

fn sorted(values: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    v
}

/// (value, share of samples at or below it) steps of `values` (sorted).
fn cdf(values: &[f64]) -> Vec<(f64, f64)> {
    #[allow(clippy::cast_precision_loss)] // sample counts
    let n = values.len() as f64;
    values
        .iter()
        .enumerate()
        .flat_map(|(i, v)| {
            #[allow(clippy::cast_precision_loss)]
            let (lo, hi) = (i as f64 / n, (i + 1) as f64 / n);
            [(*v, lo), (*v, hi)]
        })
        .collect()
}

fn draw(path: &Path, title: &str, panels: &[KpiSamples]) -> Result<(), Box<dyn std::error::Error>> {
    #[allow(clippy::cast_possible_truncation)] // a handful of panels
    let rows = panels.len() as u32 + 1;
    let root = BitMapBackend::new(path, (1200, 280 * rows + 40)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 22))?;
    let areas = root.split_evenly((rows as usize, 1));
    let mut areas = areas.iter();
    for (name, ours, theirs) in panels {
        let Some(area) = areas.next() else { break };
        let (ours, theirs) = (sorted(ours), sorted(theirs));
        let lo = ours
            .iter()
            .chain(&theirs)
            .copied()
            .fold(f64::INFINITY, f64::min);
        let hi = ours
            .iter()
            .chain(&theirs)
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        let (lo, hi) = if lo.is_finite() && hi > lo {
            (lo, hi + 0.02 * (hi - lo))
        } else {
            (lo.min(0.0) - 0.5, lo.max(0.0) + 1.0)
        };
        let mut chart = ChartBuilder::on(area)
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(60)
            .build_cartesian_2d(lo..hi, 0.0..1.0)?;
        chart
            .configure_mesh()
            .x_desc(name.as_str())
            .y_desc("share of samples <=")
            .draw()?;
        chart
            .draw_series(LineSeries::new(cdf(&theirs), GREY.stroke_width(2)))?
            .label("baseline")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], GREY.stroke_width(2)));
        chart
            .draw_series(LineSeries::new(cdf(&ours), BLUE.stroke_width(2)))?
            .label("rackloop")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE.stroke_width(2)));
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::LowerRight)
            .draw()?;
    }
    if let (Some(area), Some((name, ours, theirs))) = (areas.next(), panels.first()) {
        let ratios = sorted(
            &ours
                .iter()
                .zip(theirs)
                .filter(|(_, b)| b.abs() > 1e-12)
                .map(|(a, b)| a / b)
                .collect::<Vec<_>>(),
        );
        let hi = ratios.last().copied().unwrap_or(1.0).max(1.2);
        let mut chart = ChartBuilder::on(area)
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..hi, 0.0..1.0)?;
        chart
            .configure_mesh()
            .x_desc(format!("{name}: rackloop / baseline, per sample"))
            .y_desc("share of samples <=")
            .draw()?;
        chart.draw_series(LineSeries::new(cdf(&ratios), RED.stroke_width(2)))?;
        for (x, style) in [(1.0, BLACK.stroke_width(1)), (0.5, GREY.stroke_width(1))] {
            chart.draw_series(LineSeries::new([(x, 0.0), (x, 1.0)], style))?;
        }
    }
    root.present()?;
    Ok(())
}
