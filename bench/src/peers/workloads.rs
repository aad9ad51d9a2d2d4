//! The comparison's workloads, generic over [`PeerEngine`]: the load (shuffled batches, then
//! the flush), the timed get and range runs, and their rows ([`EngineRows`]).
//!
//! Invariants: every engine loads the same keys in the same shuffled order (one seed) and the
//! `r`-th read run of every engine draws the same keys (a seed per run); the timed part of a
//! load is the time spent in the engine's calls (building the values is left out), the timed
//! part of a read run its whole loop, checks included.

use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uring_io::BackendInfo;

use super::reads::EngineReads;
use super::{
    LOAD_BATCH_KEYS, PeerEngine, PeerFigures, PeersJob, RANGE_KEYS, RangeCheck, check_get,
    expected_value, peer_shape,
};
use crate::error::Result;
use crate::job::Progress;
use crate::report::{JobReport, Measurement, latency_histogram, record_latency};
use crate::workload::process_read_bytes;

/// Seed of the load's shuffle.
const LOAD_SEED: u64 = 0x10ad_5eed;

/// Seed of the read runs' keys (mixed with the run's number).
const READ_SEED: u64 = 0x4ead_5eed;

/// A read workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Workload {
    Get,
    Range,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Get => "get",
            Workload::Range => "range",
        }
    }
}

/// What one run measured: operations (batches, gets, ranges), payload bytes and latency per
/// operation, the records written or read, the device bytes read and, for infinitedb's gets,
/// its own read counters.
#[derive(Debug)]
pub(super) struct Run {
    measurement: Measurement,
    records: u64,
    device_read_bytes: Option<u64>,
    engine_reads: Option<EngineReads>,
}

impl Run {
    fn records_per_second(&self) -> f64 {
        let seconds = self.measurement.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.records as f64 / seconds
        } else {
            0.0
        }
    }
}

/// One engine's rows of the comparison.
#[derive(Clone, Debug)]
pub struct EngineRows {
    /// [`PeerEngine::NAME`].
    pub engine: &'static str,
    /// [`PeerEngine::DURABILITY`].
    pub durability: &'static str,
    /// The load: operations are batches, latency per batch; the flush is in its time.
    pub load: JobReport,
    /// Point gets (`None` when the job runs none).
    pub get: Option<JobReport>,
    /// Ranges of [`RANGE_KEYS`] keys: operations are ranges, latency per range.
    pub range: Option<JobReport>,
    /// infinitedb's backend (`None` for the peers).
    pub backend: Option<BackendInfo>,
    /// Bytes of the engine's files after the load and flush (`None` if unreadable).
    pub disk_bytes: Option<u64>,
}

impl EngineRows {
    /// The rows' reports, load first.
    pub fn reports(&self) -> Vec<JobReport> {
        std::iter::once(&self.load)
            .chain(&self.get)
            .chain(&self.range)
            .cloned()
            .collect()
    }
}

/// Runs `job` on a fresh `E` in a temporary directory under `job.directory`: the load, the
/// ramp of unmeasured gets (`job.ramp`), then `job.repeats` × (gets, ranges).
///
/// # Errors
/// [`crate::BenchError::InvalidJob`]; [`crate::BenchError::PeerMismatch`] on a wrong answer;
/// the engine's errors.
pub fn run_engine<E: PeerEngine>(job: &PeersJob) -> Result<EngineRows> {
    job.validate()?;
    let scratch = crate::job::scratch_directory(&job.directory, "infinitedb-bench-peers-")?;
    let mut engine = E::open(scratch.path(), job.backend)?;
    let progress = Progress::start(&format!("{} load", E::NAME), job.progress);
    let loaded = load(&mut engine, job, &progress);
    progress.finish();
    let loaded = loaded?;
    let disk_bytes = directory_bytes(scratch.path());
    if !job.ramp.is_zero() {
        let ramp = PeersJob {
            runtime: job.ramp,
            ..job.clone()
        };
        read_run(&engine, &ramp, Workload::Get, job.repeats)?;
    }
    let (mut gets, mut ranges) = (Vec::new(), Vec::new());
    for repeat in 0..job.repeats {
        if job.gets {
            gets.push(read_run(&engine, job, Workload::Get, repeat)?);
        }
        if job.ranges {
            ranges.push(read_run(&engine, job, Workload::Range, repeat)?);
        }
    }
    let backend = engine.backend();
    engine.close()?;
    Ok(EngineRows {
        engine: E::NAME,
        durability: E::DURABILITY,
        load: row::<E>(job, "load", (loaded, 1)),
        get: median_run(gets).map(|run| row::<E>(job, Workload::Get.name(), run)),
        range: median_run(ranges).map(|run| row::<E>(job, Workload::Range.name(), run)),
        backend,
        disk_bytes,
    })
}

/// Loads keys `0..job.keys` in shuffled batches of [`LOAD_BATCH_KEYS`], then flushes.
pub(super) fn load<E: PeerEngine>(
    engine: &mut E,
    job: &PeersJob,
    progress: &Progress,
) -> Result<Run> {
    let mut keys: Vec<u64> = (0..job.keys).collect();
    keys.shuffle(&mut ChaCha8Rng::seed_from_u64(LOAD_SEED));
    let mut latency_ns = latency_histogram()?;
    let device_before = process_read_bytes();
    let mut elapsed = Duration::ZERO;
    let mut batch = Vec::with_capacity(LOAD_BATCH_KEYS);
    for chunk in keys.chunks(LOAD_BATCH_KEYS) {
        batch.clear();
        batch.extend(
            chunk
                .iter()
                .map(|&key| (key, expected_value(key, job.value_bytes))),
        );
        let started = Instant::now();
        engine.load(&batch)?;
        let took = started.elapsed();
        record_latency(&mut latency_ns, took);
        elapsed += took;
        progress.add(chunk.len() as u64);
    }
    let started = Instant::now();
    engine.flush()?;
    elapsed += started.elapsed();
    Ok(Run {
        measurement: Measurement {
            ops: keys.len().div_ceil(LOAD_BATCH_KEYS) as u64,
            bytes: job.keys * job.value_bytes as u64,
            elapsed,
            latency_ns,
        },
        records: job.keys,
        device_read_bytes: read_bytes_since(device_before),
        engine_reads: None,
    })
}

/// One timed run of `workload` for `job.runtime`, every answer checked.
fn read_run<E: PeerEngine>(
    engine: &E,
    job: &PeersJob,
    workload: Workload,
    repeat: u32,
) -> Result<Run> {
    let mut random = ChaCha8Rng::seed_from_u64(READ_SEED ^ u64::from(repeat));
    let progress = Progress::start(&format!("{} {}", E::NAME, workload.name()), job.progress);
    let mut latency_ns = latency_histogram()?;
    let (mut ops, mut records) = (0u64, 0u64);
    let stats_before = engine.read_stats().filter(|_| workload == Workload::Get);
    let device_before = process_read_bytes();
    let begin = Instant::now();
    while begin.elapsed() < job.runtime {
        let started = match workload {
            Workload::Get => {
                let key = random.gen_range(0..job.keys);
                let started = Instant::now();
                engine.get(key, |found| check_get(E::NAME, key, found, job.value_bytes))?;
                records += 1;
                started
            }
            Workload::Range => {
                let lo = random.gen_range(0..=job.keys - RANGE_KEYS);
                let started = Instant::now();
                let mut check = RangeCheck::new(E::NAME, lo, RANGE_KEYS, job.value_bytes);
                engine.range(lo, RANGE_KEYS, |key, value| check.visit(key, value))?;
                records += check.finish(lo)?;
                started
            }
        };
        record_latency(&mut latency_ns, started.elapsed());
        ops += 1;
        progress.add(1);
    }
    let elapsed = begin.elapsed();
    let device_read_bytes = read_bytes_since(device_before);
    let engine_reads = stats_before
        .zip(engine.read_stats())
        .map(|(before, after)| EngineReads::between(&before, &after));
    progress.finish();
    Ok(Run {
        measurement: Measurement {
            ops,
            bytes: records * job.value_bytes as u64,
            elapsed,
            latency_ns,
        },
        records,
        device_read_bytes,
        engine_reads,
    })
}

/// Bytes of the files under `directory`, its subdirectories included (`None` if it cannot
/// be listed).
pub(crate) fn directory_bytes(directory: &std::path::Path) -> Option<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(directory).ok()? {
        let entry = entry.ok()?;
        let kind = entry.file_type().ok()?;
        total += if kind.is_dir() {
            directory_bytes(&entry.path())?
        } else {
            entry.metadata().ok()?.len()
        };
    }
    Some(total)
}

/// `read_bytes` of `/proc/self/io` since `before`.
fn read_bytes_since(before: Option<u64>) -> Option<u64> {
    process_read_bytes()
        .zip(before)
        .map(|(after, before)| after.saturating_sub(before))
}

/// The run with the median records/s of `runs` (the lower middle) and how many there were.
fn median_run(mut runs: Vec<Run>) -> Option<(Run, u32)> {
    runs.sort_by(|a, b| a.records_per_second().total_cmp(&b.records_per_second()));
    let count = runs.len();
    let measured = u32::try_from(count).unwrap_or(u32::MAX);
    runs.into_iter()
        .nth(count.saturating_sub(1) / 2)
        .map(|run| (run, measured))
}

/// The row of one workload: `run`, chosen of `runs` runs.
fn row<E: PeerEngine>(job: &PeersJob, workload: &str, (run, runs): (Run, u32)) -> JobReport {
    let ops = run.measurement.ops;
    let figures = PeerFigures {
        engine: E::NAME.to_string(),
        workload: workload.to_string(),
        keys: job.keys,
        records: run.records,
        records_per_second: run.records_per_second(),
        runs,
        device_read_bytes: run.device_read_bytes,
        device_read_bytes_per_op: run
            .device_read_bytes
            .filter(|_| ops > 0)
            .map(|bytes| bytes as f64 / ops as f64),
        engine_reads: run.engine_reads,
        durability: E::DURABILITY.to_string(),
    };
    JobReport::new(
        peer_shape(E::NAME, workload, job.value_bytes),
        &run.measurement,
        None,
    )
    .with_peer(Some(figures))
}
