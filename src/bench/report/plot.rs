//! SVG plots of a bench report, drawn with plotters: latency percentile distributions on
//! HdrHistogram's log "nines" axis, bars of packet rates, and values over time.

use std::io;
use std::path::Path;

use hdrhistogram::Histogram;
use plotters::prelude::*;

const SIZE: (u32, u32) = (900, 520);

fn err<E: std::fmt::Display>(e: E) -> io::Error {
    io::Error::other(format!("plot: {e}"))
}

/// Where quantile `q` sits on the nines axis: 0 at the median's 0.5 → 0.3, 1 at p90, 2 at p99…
pub fn nines(q: f64) -> f64 {
    -(1.0 - q).max(1e-9).log10()
}

/// The (nines, value) points of `h`'s percentile distribution, up to its largest recorded value.
pub fn distribution(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    let mut pts = Vec::new();
    for v in h.iter_quantiles(2) {
        let q = v.quantile_iterated_to();
        if q >= 1.0 {
            break;
        }
        pts.push((nines(q), v.value_iterated_to().max(1) as f64));
    }
    // The maximum, one decade past the last finite quantile reached.
    let top = pts.last().map_or(1.0, |p| p.0) + 1.0;
    pts.push((top, h.max().max(1) as f64));
    pts
}

/// Percentile distributions of latency histograms (ns), one line each, on the nines axis.
pub fn nines_svg(path: &Path, title: &str, series: &[(String, &Histogram<u64>)]) -> io::Result<()> {
    let lines: Vec<(String, Vec<(f64, f64)>)> = series
        .iter()
        .map(|(n, h)| (n.clone(), distribution(h)))
        .filter(|(_, p)| !p.is_empty())
        .collect();
    let xmax = lines
        .iter()
        .flat_map(|(_, p)| p.iter().map(|x| x.0))
        .fold(3.0f64, f64::max)
        .ceil();
    let (ymin, ymax) = lines
        .iter()
        .flat_map(|(_, p)| p.iter().map(|x| x.1))
        .fold((f64::MAX, 1.0f64), |(lo, hi), y| (lo.min(y), hi.max(y)));
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..xmax, (ymin.min(ymax) * 0.8..ymax * 1.5).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("ns")
        .x_label_formatter(&|x| {
            let p = 100.0 * (1.0 - 10f64.powf(-x));
            format!("{p:.4}")
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_string()
                + "%"
        })
        .draw()
        .map_err(err)?;
    draw_lines(&mut chart, &lines, SeriesLabelPosition::UpperLeft)?;
    root.present().map_err(err)
}

/// A chart with a linear x axis and a log y axis, as the line plots draw them.
type LogYChart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, LogCoord<f64>>,
>;

/// One coloured line per `(name, points)` with its legend entry, the legend at `legend`.
fn draw_lines<'a, 'b: 'a>(
    chart: &mut LogYChart<'a, 'b>,
    lines: &[(String, Vec<(f64, f64)>)],
    legend: SeriesLabelPosition,
) -> io::Result<()> {
    for (i, (name, pts)) in lines.iter().enumerate() {
        let c = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
            .map_err(err)?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(legend)
        .draw()
        .map_err(err)
}

/// Horizontal-axis bars: one per `(label, value)`.
pub fn bars_svg(path: &Path, title: &str, unit: &str, bars: &[(String, f64)]) -> io::Result<()> {
    let n = bars.len().max(1);
    let ymax = bars.iter().map(|b| b.1).fold(1.0f64, f64::max) * 1.1;
    let height = (80 + 26 * n as u32).max(200);
    let root = SVGBackend::new(path, (SIZE.0, height)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(260)
        .build_cartesian_2d(0f64..ymax, 0f64..n as f64)
        .map_err(err)?;
    let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc(unit)
        .y_labels(n * 2 + 1)
        .y_label_formatter(&|y| {
            let k = y.floor() as usize;
            // Label the middle of each bar only.
            if (y - k as f64 - 0.5).abs() < 1e-6 {
                labels
                    .get(n - 1 - k.min(n - 1))
                    .cloned()
                    .unwrap_or_default()
            } else {
                String::new()
            }
        })
        .draw()
        .map_err(err)?;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
            let y = (n - 1 - i) as f64;
            Rectangle::new(
                [(0.0, y + 0.15), (*v, y + 0.85)],
                Palette99::pick(i).filled(),
            )
        }))
        .map_err(err)?;
    root.present().map_err(err)
}

/// Lines over time: `(name, [(seconds, value)])`.
pub fn series_svg(
    path: &Path,
    title: &str,
    y_desc: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> io::Result<()> {
    let xmax = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|x| x.0))
        .fold(1.0f64, f64::max);
    let ymax = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|x| x.1))
        .fold(1.0f64, f64::max);
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..xmax, (0.5f64..ymax * 1.5).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc(y_desc)
        .draw()
        .map_err(err)?;
    // The log axis starts at 0.5: a zero would have no place on it.
    let lines: Vec<(String, Vec<(f64, f64)>)> = series
        .iter()
        .map(|(n, p)| (n.clone(), p.iter().map(|&(x, y)| (x, y.max(0.5))).collect()))
        .collect();
    draw_lines(&mut chart, &lines, SeriesLabelPosition::UpperRight)?;
    root.present().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nines_axis_places_percentiles_by_decade() {
        assert!((nines(0.9) - 1.0).abs() < 1e-9);
        assert!((nines(0.999) - 3.0).abs() < 1e-9);
        assert!(nines(1.0).is_finite());
    }

    #[test]
    fn distribution_is_monotone_and_ends_at_the_max() {
        let mut h = ringshot::stats::latency_histogram();
        for v in 1..=10_000u64 {
            h.record(v * 100).unwrap();
        }
        let d = distribution(&h);
        assert!(
            d.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
            "{d:?}"
        );
        assert_eq!(d.last().unwrap().1, h.max() as f64);
    }
}
