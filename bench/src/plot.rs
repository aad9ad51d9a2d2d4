//! `--plot FILE.svg`: each job's latency percentile curve in one SVG chart, fio's jobs beside
//! ours where the run has them. A curve ([`LatencyCurve`]) is the latency at each of
//! [`PLOT_PERCENTILES`], taken from a job's HDR histogram when its report is made (the
//! histogram itself is not kept) or from fio's percentile map; the x axis spaces them evenly,
//! which is a log scale of the tail's share (1 − p) from p90 on, and the y axis is
//! logarithmic in microseconds, so a µs-scale get and a ms-scale commit fit one chart.

use std::path::Path;

use hdrhistogram::Histogram;
use plotters::prelude::*;

use crate::error::{BenchError, Result};

/// The percentiles each curve holds, in order: 50, 90, 99, 99.9 and 99.99 (all in fio's
/// default percentile list).
pub const PLOT_PERCENTILES: [f64; 5] = [50.0, 90.0, 99.0, 99.9, 99.99];

/// Stroke width of the curves (the axes and ticks are drawn 1 wide).
pub const CURVE_STROKE_WIDTH: u32 = 2;

/// Pixel size of the chart.
const PLOT_SIZE: (u32, u32) = (1200, 800);

/// One job's latency at each of [`PLOT_PERCENTILES`], in microseconds.
#[derive(Clone, Debug, PartialEq)]
pub struct LatencyCurve {
    /// The legend's name of the curve (the job's name, "fio ..." for fio's jobs).
    pub label: String,
    /// Latency in microseconds at each of [`PLOT_PERCENTILES`], all positive.
    pub latency_us: Vec<f64>,
}

impl LatencyCurve {
    /// The curve of a nanosecond histogram; `None` when it is empty.
    pub fn from_histogram(label: &str, histogram: &Histogram<u64>) -> Option<LatencyCurve> {
        if histogram.is_empty() {
            return None;
        }
        LatencyCurve::from_fn(label, |percent| {
            Some(histogram.value_at_quantile(percent / 100.0) as f64 / 1e3)
        })
    }

    /// The curve whose latency at percentile `percent` is `at(percent)` in microseconds;
    /// `None` if any is missing or not positive.
    pub fn from_fn(label: &str, at: impl Fn(f64) -> Option<f64>) -> Option<LatencyCurve> {
        let latency_us = PLOT_PERCENTILES
            .iter()
            .map(|percent| at(*percent).filter(|latency| *latency > 0.0))
            .collect::<Option<Vec<f64>>>()?;
        Some(LatencyCurve {
            label: label.to_string(),
            latency_us,
        })
    }
}

/// The axis label of percentile index `x` ("p99.9"), or "" between them.
fn percentile_label(x: f64) -> String {
    PLOT_PERCENTILES
        .iter()
        .enumerate()
        .find(|(index, _)| (x - *index as f64).abs() < 1e-6)
        .map_or_else(String::new, |(_, percent)| format!("p{percent}"))
}

/// The y range holding every curve, with a margin (1..10 µs when there is none).
fn latency_range(curves: &[LatencyCurve]) -> (f64, f64) {
    let values = curves.iter().flat_map(|curve| curve.latency_us.iter());
    let (low, high) = values.fold((f64::MAX, 0.0f64), |(low, high), value| {
        (low.min(*value), high.max(*value))
    });
    if high <= 0.0 {
        (1.0, 10.0)
    } else {
        (low / 1.5, high * 1.5)
    }
}

/// Writes `curves` as one SVG chart titled `title` to `path`: one line per curve (a
/// `polyline` of stroke width [`CURVE_STROKE_WIDTH`]), named in the legend.
///
/// # Errors
/// [`BenchError::Plot`] when the chart cannot be drawn or the file written.
pub fn write_svg(path: &Path, title: &str, curves: &[LatencyCurve]) -> Result<()> {
    let failed = |error: Box<dyn std::error::Error + Send + Sync>| BenchError::Plot {
        path: path.to_path_buf(),
        source: error,
    };
    draw(path, title, curves).map_err(failed)
}

type DrawResult = std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>;

fn draw(path: &Path, title: &str, curves: &[LatencyCurve]) -> DrawResult {
    let root = SVGBackend::new(path, PLOT_SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let (low, high) = latency_range(curves);
    let last = (PLOT_PERCENTILES.len() - 1) as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 24))
        .margin(20)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..last, (low..high).log_scale())?;
    chart
        .configure_mesh()
        .x_labels(PLOT_PERCENTILES.len())
        .max_light_lines(1)
        .x_label_formatter(&|x| percentile_label(*x))
        .x_desc("percentile")
        .y_desc("latency (us)")
        .draw()?;
    for (index, curve) in curves.iter().enumerate() {
        let color = Palette99::pick(index).to_rgba();
        let points = curve
            .latency_us
            .iter()
            .enumerate()
            .map(|(x, latency)| (x as f64, *latency));
        chart
            .draw_series(LineSeries::new(
                points,
                color.stroke_width(CURVE_STROKE_WIDTH),
            ))?
            .label(curve.label.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 4), (x + 16, y + 4)], color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{latency_histogram, record_latency};
    use std::time::Duration;

    #[test]
    fn a_curve_holds_each_percentile_of_its_histogram() {
        // Goal: a curve has one rising point per percentile, none for an empty histogram or a
        // missing fio percentile. Method: 1..=10000 µs; an empty histogram; a map without p99.
        let mut histogram = latency_histogram().unwrap();
        assert!(LatencyCurve::from_histogram("empty", &histogram).is_none());
        for us in 1..=10_000u64 {
            record_latency(&mut histogram, Duration::from_micros(us));
        }
        let curve = LatencyCurve::from_histogram("job", &histogram).unwrap();
        assert_eq!(curve.latency_us.len(), PLOT_PERCENTILES.len());
        assert!((curve.latency_us[0] - 5000.0).abs() < 10.0);
        assert!(curve.latency_us.windows(2).all(|pair| pair[0] <= pair[1]));
        let without_p99 = LatencyCurve::from_fn("fio", |percent| (percent != 99.0).then_some(1.0));
        assert!(without_p99.is_none());
        assert_eq!(percentile_label(2.0), "p99");
        assert_eq!(percentile_label(2.5), "");
    }
}
