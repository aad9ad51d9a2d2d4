//! `--vs-fio`: our figures and fio's from the same run on the same directory, alternating
//! the two sides (fio first on odd repeats, ours first on even ones) so neither always
//! inherits the other's device state (write-back, a cloud disk's burst credits), and reporting
//! the median of the repeats. Ratios from one run are what we compare: absolute numbers move
//! from machine to machine and minute to minute, the ratio to fio on the same disk at the same
//! minute much less.
//!
//! Rows: raw QD1 4 KiB write+fdatasync commits (fio `psync --fdatasync=1 --direct=1`),
//! sequential 1 MiB O_DIRECT writes at QD4 and QD32 and random 4 KiB O_DIRECT reads at QD32
//! (fio `io_uring --direct=1`), each with a 0.9× target (issue 3); then each engine workload of
//! the suite beside the fio figure that bounds it (issue 4's targets): durable puts beside QD1
//! commits, ingest beside QD32 sequential writes, point reads and box-query records/s beside
//! QD32 random 4 KiB reads. Every row also carries both sides' p50/p99 latency per operation
//! (medians over the repeats; fio's from its `lat_ns` percentiles, a commit's as its write's
//! plus its fdatasync's, see [`crate::fio::FioJobResult::latency_percentiles`]).
//!
//! Sequential-write rows move with the device's write-back cache: a side that runs right after
//! another write job inherits a cache the host is still draining. Before each side of those
//! rows the run pauses [`WRITE_SETTLE`] with no I/O of ours, so each starts from a drained cache.
//!
//! Both sides overwrite the same pre-written file (so they write the same blocks of the
//! device): commits a 64 MiB file (the engine's segment size,
//! [`crate::suite::COMMIT_FILE_BYTES`]), the streaming rows one of `file_bytes`; each file is
//! laid out once and reused by every repeat.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use uring_io::BackendRequest;

use crate::environment::Environment;
use crate::error::{BenchError, Result};
use crate::fio::{self, FioJob};
use crate::job::{Limit, Progress};
use crate::plot::LatencyCurve;
use crate::raw::{self, RawJob, RawMode};
use crate::report::{Comparison, JobReport, Latency, LatencyPercentiles, Report, median};
use crate::suite::{
    self, Bound, ENGINE_COMPARISONS, Metric, fio_commit_job, fio_read_job, fio_write_job,
    raw_directory, raw_file_bytes,
};

/// How the comparison runs.
#[derive(Clone, Debug)]
pub struct CompareConfig {
    /// Directory both sides work in (a temporary directory is made inside).
    pub directory: PathBuf,
    /// Runtime of every run.
    pub runtime: Duration,
    /// Repeats per row (the median is reported).
    pub repeats: u32,
    /// Backend of our side.
    pub backend: BackendRequest,
    /// Size of the file both sides run over.
    pub file_bytes: u64,
    /// Draw progress bars (on stderr, only when it is a terminal).
    pub progress: bool,
}

/// The idle pause before each side of a sequential-write row (see the module doc).
pub const WRITE_SETTLE: Duration = Duration::from_secs(3);

/// A device row: our raw mode against a fio job.
struct DeviceRow {
    key: &'static str,
    label: &'static str,
    unit: &'static str,
    mode: RawMode,
    block_bytes: usize,
    iodepth: usize,
}

const DEVICE_ROWS: [DeviceRow; 4] = [
    DeviceRow {
        key: "commit_qd1",
        label: "commits/s, 4KiB write+fdatasync QD1",
        unit: "ops/s",
        mode: RawMode::Commit,
        block_bytes: 4096,
        iodepth: 1,
    },
    DeviceRow {
        key: "seqwrite_qd4",
        label: "seq write 1MiB O_DIRECT QD4",
        unit: "MB/s",
        mode: RawMode::SequentialWrite,
        block_bytes: 1 << 20,
        iodepth: 4,
    },
    DeviceRow {
        key: "seqwrite_qd32",
        label: "seq write 1MiB O_DIRECT QD32",
        unit: "MB/s",
        mode: RawMode::SequentialWrite,
        block_bytes: 1 << 20,
        iodepth: 32,
    },
    DeviceRow {
        key: "randread_qd32",
        label: "rand read 4KiB O_DIRECT QD32",
        unit: "ops/s",
        mode: RawMode::RandomRead,
        block_bytes: 4096,
        iodepth: 32,
    },
];

impl DeviceRow {
    fn fio_job(&self, file: &Path, config: &CompareConfig) -> FioJob {
        let iodepth = u32::try_from(self.iodepth).unwrap_or(1);
        let job = match self.mode {
            RawMode::Commit => fio_commit_job(file, config.runtime),
            RawMode::SequentialWrite => fio_write_job(file, config.runtime, iodepth),
            RawMode::RandomRead => fio_read_job(file, config.runtime, iodepth),
        };
        FioJob {
            file_bytes: raw_file_bytes(self.mode, config.file_bytes),
            ..job
        }
    }

    /// Pauses before a side of a sequential-write row, so the device's write-back cache has
    /// drained what the previous job left in it.
    fn settle(&self) {
        if self.mode == RawMode::SequentialWrite {
            std::thread::sleep(WRITE_SETTLE);
        }
    }

    fn value_of(&self, ops_per_second: f64, mb_per_second: f64) -> f64 {
        if self.unit == "MB/s" {
            mb_per_second
        } else {
            ops_per_second
        }
    }
}

/// Runs every row `repeats` times, alternating fio and ours; returns the report whose
/// comparisons are the medians and whose jobs (and fio latency curves, for `--plot`) are the
/// runs of the last repeat.
///
/// # Errors
/// [`BenchError::Fio`] when fio is missing or fails; any job's error.
pub fn run(config: &CompareConfig) -> Result<Report> {
    if !fio::available() {
        return Err(BenchError::Fio {
            detail: "fio is not installed (apt-get install -y fio, or run scripts/bench-vs-fio.sh)"
                .to_string(),
        });
    }
    if config.repeats == 0 {
        return Err(BenchError::invalid("--repeats must be positive"));
    }
    let temporary = crate::job::scratch_directory(&config.directory, "infinitedb-bench-vs-fio-")?;
    let directory = temporary.path();
    let mut report = Report::new(Environment::probe(directory, None));
    let mut samples: HashMap<String, Vec<f64>> = HashMap::new();
    for repeat in 1..=config.repeats {
        report.jobs.clear();
        report.fio_curves.clear();
        for row in &DEVICE_ROWS {
            let fio_first = repeat % 2 == 1;
            if fio_first {
                row.settle();
                run_fio_side(row, directory, config, &mut samples, &mut report)?;
            }
            row.settle();
            run_our_side(row, directory, config, &mut samples, &mut report)?;
            if !fio_first {
                row.settle();
                run_fio_side(row, directory, config, &mut samples, &mut report)?;
            }
        }
        run_engine_side(directory, config, &mut samples, &mut report)?;
    }
    report.comparisons = comparisons(&samples, config.repeats);
    report.notes.push(format!(
        "medians of {} runs of {} s per side, fio and ours alternating; {} s idle before each \
         side of a sequential-write row; a raw row's ratio is the median of its per-repeat \
         ratios (both sides of a repeat run back to back)",
        config.repeats,
        config.runtime.as_secs_f64(),
        WRITE_SETTLE.as_secs()
    ));
    Ok(report)
}

/// Runs fio's side of `row`, records its figures in `samples` and its latency curve in
/// `report`.
fn run_fio_side(
    row: &DeviceRow,
    directory: &Path,
    config: &CompareConfig,
    samples: &mut HashMap<String, Vec<f64>>,
    report: &mut Report,
) -> Result<()> {
    // fio overwrites our side's file: both sides write the same blocks of the device.
    let file = raw_directory(directory, row.mode)?.join(crate::raw::RAW_FILE_NAME);
    let job = row.fio_job(&file, config);
    let progress = Progress::start(&format!("fio {}", row.label), config.progress);
    let output = fio::run(&job);
    progress.finish();
    let output = output?;
    let result = output.job()?;
    let reads = row.mode == RawMode::RandomRead;
    let direction = if reads { &result.read } else { &result.write };
    let value = row.value_of(direction.iops, direction.mb_per_second());
    let key = format!("fio:{}", row.key);
    record_latency_samples(samples, &key, result.latency_percentiles(reads));
    samples.entry(key).or_default().push(value);
    let label = format!("fio {}", row.label);
    report
        .fio_curves
        .extend(LatencyCurve::from_fn(&label, |percent| {
            result.latency_at(reads, percent)
        }));
    Ok(())
}

fn run_our_side(
    row: &DeviceRow,
    directory: &Path,
    config: &CompareConfig,
    samples: &mut HashMap<String, Vec<f64>>,
    report: &mut Report,
) -> Result<()> {
    let job = RawJob {
        directory: raw_directory(directory, row.mode)?,
        mode: row.mode,
        block_bytes: row.block_bytes,
        iodepth: row.iodepth,
        file_bytes: raw_file_bytes(row.mode, config.file_bytes),
        limit: Limit::runtime(config.runtime),
        backend: config.backend,
    };
    let progress = Progress::start(&format!("ours {}", row.label), config.progress);
    let result = raw::run(&job, &progress);
    progress.finish();
    let (measurement, info) = result?;
    let value = row.value_of(measurement.ops_per_second(), measurement.mb_per_second());
    let key = format!("ours:{}", row.key);
    let latency = Latency::from_histogram(&measurement.latency_ns);
    let percentiles = (measurement.ops > 0).then_some(LatencyPercentiles {
        p50: latency.p50,
        p99: latency.p99,
    });
    record_latency_samples(samples, &key, percentiles);
    samples.entry(key).or_default().push(value);
    report.environment.backend = Some((&info).into());
    let shape = crate::report::JobShape {
        name: format!("ours {}", row.label),
        rw: row.mode.name().to_string(),
        bs_bytes: row.block_bytes as u64,
        numjobs: 1,
        iodepth: u32::try_from(row.iodepth).unwrap_or(u32::MAX),
        durability: None,
    };
    report.jobs.push(JobReport::new(shape, &measurement, None));
    Ok(())
}

fn run_engine_side(
    directory: &Path,
    config: &CompareConfig,
    samples: &mut HashMap<String, Vec<f64>>,
    report: &mut Report,
) -> Result<()> {
    for index in 0..suite::suite_engine_job_names().len() {
        let run = suite::run_engine_job(
            directory,
            config.backend,
            config.runtime,
            config.progress,
            index,
        )?;
        if let Some(job_report) = run {
            record_engine_samples(samples, index, &job_report);
            report.jobs.push(job_report);
        }
    }
    Ok(())
}

fn comparisons(samples: &HashMap<String, Vec<f64>>, repeats: u32) -> Vec<Comparison> {
    let value = |key: &str| samples.get(key).map_or(0.0, |values| median(values));
    let mut rows = Vec::new();
    for row in &DEVICE_ROWS {
        let (ours_key, fio_key) = (format!("ours:{}", row.key), format!("fio:{}", row.key));
        let label = format!("raw {}", row.label);
        let comparison = Comparison::new(
            &label,
            row.unit,
            value(&ours_key),
            row.label,
            value(&fio_key),
        )
        .target(0.9)
        .latencies(
            latency_of(samples, &ours_key),
            latency_of(samples, &fio_key),
        );
        let mut comparison = comparison;
        if let Some(ratio) = paired_ratio(samples, &ours_key, &fio_key) {
            comparison.ratio = ratio;
        }
        rows.push(comparison);
    }
    for (figure, unit, index, metric, bound, target) in ENGINE_COMPARISONS {
        let fio_key = format!("fio:{}", fio_key(bound));
        let ours = value(&engine_key(index, metric));
        let mut row = Comparison::new(figure, unit, ours, bound.label(), value(&fio_key))
            .latencies(
                latency_of(samples, &engine_latency_key(index)),
                latency_of(samples, &fio_key),
            );
        row.target_ratio = target;
        rows.push(row);
    }
    for row in &mut rows {
        row.bound_source = "fio".to_string();
        row.repeats = repeats;
    }
    rows
}

/// The median of the per-repeat ratios `ours[i] / fio[i]` of a device row, whose two sides
/// run back to back in each repeat: a drift of the device between repeats (write-back, burst
/// credits) moves both sides of a pair, so it cancels in the pair's ratio but not in a ratio
/// of medians taken from different repeats. `None` without complete pairs.
fn paired_ratio(samples: &HashMap<String, Vec<f64>>, ours_key: &str, fio_key: &str) -> Option<f64> {
    let (ours, fio) = (samples.get(ours_key)?, samples.get(fio_key)?);
    if ours.is_empty() || ours.len() != fio.len() || fio.iter().any(|value| *value <= 0.0) {
        return None;
    }
    let ratios: Vec<f64> = ours.iter().zip(fio).map(|(ours, fio)| ours / fio).collect();
    Some(median(&ratios))
}

/// Records every metric and the latency of the `index`-th engine job's report.
fn record_engine_samples(samples: &mut HashMap<String, Vec<f64>>, index: usize, job: &JobReport) {
    for metric in [
        Metric::Ops,
        Metric::Payload,
        Metric::Device,
        Metric::Records,
    ] {
        let key = engine_key(index, metric);
        samples.entry(key).or_default().push(metric.of(job));
    }
    record_latency_samples(
        samples,
        &engine_latency_key(index),
        job.latency_percentiles(),
    );
}

/// The sample key of an engine job's metric.
fn engine_key(index: usize, metric: Metric) -> String {
    format!("engine:{index}:{metric:?}")
}

/// The sample key prefix of an engine job's latency.
fn engine_latency_key(index: usize) -> String {
    format!("engine:{index}")
}

/// Records `latency` (if any) under `key:p50` and `key:p99`.
fn record_latency_samples(
    samples: &mut HashMap<String, Vec<f64>>,
    key: &str,
    latency: Option<LatencyPercentiles>,
) {
    if let Some(latency) = latency {
        samples
            .entry(format!("{key}:p50"))
            .or_default()
            .push(latency.p50);
        samples
            .entry(format!("{key}:p99"))
            .or_default()
            .push(latency.p99);
    }
}

/// The medians of the latencies recorded under `key`, if any run reported them.
fn latency_of(samples: &HashMap<String, Vec<f64>>, key: &str) -> Option<LatencyPercentiles> {
    let p50 = samples.get(&format!("{key}:p50"))?;
    let p99 = samples.get(&format!("{key}:p99"))?;
    Some(LatencyPercentiles {
        p50: median(p50),
        p99: median(p99),
    })
}

/// The device row measuring `bound`.
fn fio_key(bound: Bound) -> &'static str {
    match bound {
        Bound::Commit => "commit_qd1",
        Bound::Write => "seqwrite_qd32",
        Bound::Read => "randread_qd32",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{EngineFigures, JobShape, Measurement, QueryFigures, latency_histogram};

    /// An engine job's report of `repeat`: 100 × `repeat` ops/s, 7/70 µs p50/p99.
    fn engine_report(repeat: u64) -> JobReport {
        let measurement = Measurement {
            ops: 100 * repeat,
            bytes: 1_000_000 * repeat,
            elapsed: Duration::from_secs(1),
            latency_ns: latency_histogram().unwrap(),
        };
        let shape = JobShape {
            name: "job".to_string(),
            rw: "write".to_string(),
            bs_bytes: 128,
            numjobs: 1,
            iodepth: 1,
            durability: None,
        };
        let figures = EngineFigures {
            device_mb_per_second: 5.0,
            ..EngineFigures::default()
        };
        let mut report =
            JobReport::new(shape, &measurement, Some(figures)).with_query(Some(QueryFigures {
                records_per_second: 1000.0,
                ..QueryFigures::default()
            }));
        report.latency_percentiles_us.p50 = 7.0;
        report.latency_percentiles_us.p99 = 70.0;
        report
    }

    #[test]
    fn every_comparison_finds_its_samples() {
        // Goal: each row reads the samples the runs recorded (no key mismatch leaves a 0).
        // Method: record two repeats of every row and every engine job, check the medians.
        let mut samples: HashMap<String, Vec<f64>> = HashMap::new();
        for (repeat, value) in [(1, 10.0), (2, 30.0)] {
            for row in &DEVICE_ROWS {
                samples
                    .entry(format!("fio:{}", row.key))
                    .or_default()
                    .push(value);
                samples
                    .entry(format!("ours:{}", row.key))
                    .or_default()
                    .push(value / 2.0);
                let latency = LatencyPercentiles {
                    p50: value,
                    p99: value * 10.0,
                };
                record_latency_samples(&mut samples, &format!("fio:{}", row.key), Some(latency));
            }
            for index in 0..suite::suite_engine_job_names().len() {
                record_engine_samples(&mut samples, index, &engine_report(repeat));
            }
        }
        let rows = comparisons(&samples, 2);
        assert_eq!(rows.len(), DEVICE_ROWS.len() + ENGINE_COMPARISONS.len());
        for row in &rows {
            assert!(row.ours > 0.0, "{} has no sample", row.figure);
            assert!(row.bound > 0.0, "{} has no bound", row.figure);
            assert_eq!(row.repeats, 2);
            let bound_latency = row.bound_latency_percentiles_us.unwrap();
            assert_eq!(
                bound_latency.p99,
                bound_latency.p50 * 10.0,
                "{}",
                row.figure
            );
        }
        // Every engine row has our latency; raw rows only where ours was recorded (not here).
        for row in &rows[DEVICE_ROWS.len()..] {
            assert_eq!(
                row.ours_latency_percentiles_us,
                Some(LatencyPercentiles {
                    p50: 7.0,
                    p99: 70.0
                })
            );
        }
        assert!(rows[0].ours_latency_percentiles_us.is_none());
        let query_row = rows.iter().find(|row| row.unit == "records/s").unwrap();
        assert_eq!(query_row.ours, 1000.0);
        assert_eq!(query_row.bound_figure, Bound::Read.label());
        // Medians take the lower middle of two: the first repeat's values.
        assert_eq!(rows[0].bound, 10.0);
        assert_eq!(rows[0].ratio, 0.5);
        assert_eq!(rows[DEVICE_ROWS.len()].ours, 100.0);
    }

    #[test]
    fn raw_rows_take_the_median_of_paired_ratios() {
        // Goal: a device drift between repeats does not skew a raw row's ratio. Method: fio
        // 100/200/300 and ours 300/180/270 (ours is 0.9x fio in two repeats out of three):
        // the ratio of medians would say 1.35x, the paired median says 0.9x.
        let mut samples: HashMap<String, Vec<f64>> = HashMap::new();
        samples.insert("fio:commit_qd1".to_string(), vec![100.0, 200.0, 300.0]);
        samples.insert("ours:commit_qd1".to_string(), vec![300.0, 180.0, 270.0]);
        let ratio = paired_ratio(&samples, "ours:commit_qd1", "fio:commit_qd1").unwrap();
        assert!((ratio - 0.9).abs() < 1e-9, "{ratio}");
        let rows = comparisons(&samples, 3);
        assert!((rows[0].ratio - 0.9).abs() < 1e-9, "{}", rows[0].ratio);
        assert_eq!(rows[0].ours, 270.0);
        samples.insert("fio:commit_qd1".to_string(), vec![100.0, 200.0]);
        assert_eq!(
            paired_ratio(&samples, "ours:commit_qd1", "fio:commit_qd1"),
            None,
            "unpaired samples"
        );
    }
}
