//! Engine workloads: `numjobs` threads calling a fresh [`infinitedb::Db`] in a temporary
//! database directory, each operation timed into an HDR histogram.
//!
//! Modes (fio's `--rw` words): `write` puts fresh points; `overwrite` puts random points of a
//! preloaded key set; `read` gets the preloaded points in order, `randread` at random;
//! `mixed` does `rwmixread`% random gets and the rest random puts; `query` (box queries) is
//! not built yet (issue 5) and is refused with [`BenchError::NotAvailable`].
//!
//! Points: key `k` maps to a point through a 128-bit mix of `k` cut into `dims` coordinates
//! of `bits` bits, so writes land all over the Hilbert curve, not in order; the same `k` always
//! gives the same point (collisions only make the key set a little smaller). Preloading (not
//! measured) writes the key set in batches of [`PRELOAD_BATCH_RECORDS`], syncs, and for the
//! read modes seals it into a block (`flush`), so reads exercise the block path.
//!
//! Under `Durability::NoSync` a final `sync` is inside the measured time: the figure is for
//! data that reached the disk. The engine's `iodepth` is 1: `put` blocks, so concurrency comes
//! from `numjobs`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use infinitedb::{Batch, Db, Durability, Options, SpaceId, Stats};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uring_io::{BackendInfo, BackendRequest};

use crate::error::{BenchError, Result};
use crate::job::{Limit, Progress};
use crate::report::{EngineFigures, Measurement, latency_histogram, record_latency};

/// Records per batch when preloading a key set.
pub const PRELOAD_BATCH_RECORDS: u64 = 1000;

/// Name of the space the workloads use.
const SPACE_NAME: &str = "bench";

/// An engine workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EngineMode {
    /// Puts of fresh points.
    Write,
    /// Puts over the preloaded key set.
    Overwrite,
    /// Gets of the preloaded key set in order.
    Read,
    /// Gets of random preloaded keys.
    RandRead,
    /// Random gets (`read_percent`) and puts.
    Mixed {
        /// Share of gets, 0..=100.
        read_percent: u8,
    },
    /// Box queries (not available yet).
    Query,
}

impl EngineMode {
    /// The `--rw` name.
    pub fn name(self) -> &'static str {
        match self {
            EngineMode::Write => "write",
            EngineMode::Overwrite => "overwrite",
            EngineMode::Read => "read",
            EngineMode::RandRead => "randread",
            EngineMode::Mixed { .. } => "mixed",
            EngineMode::Query => "query",
        }
    }

    fn needs_preload(self) -> bool {
        !matches!(self, EngineMode::Write | EngineMode::Query)
    }
}

/// One engine job.
#[derive(Clone, Debug)]
pub struct EngineJob {
    /// Directory in which the job's temporary database is created (and removed after).
    pub directory: PathBuf,
    /// Workload.
    pub mode: EngineMode,
    /// Bytes per value.
    pub value_bytes: usize,
    /// Threads.
    pub numjobs: u32,
    /// When to stop.
    pub limit: Limit,
    /// `Sync` or `NoSync`.
    pub durability: Durability,
    /// Dimensions of the space.
    pub dims: u32,
    /// Bits per dimension.
    pub bits: u32,
    /// Backend to open.
    pub backend: BackendRequest,
    /// Direct-route deadline (`None`: no staged route).
    pub deadline: Option<Duration>,
    /// Size of the preloaded key set (read, randread, overwrite, mixed).
    pub keys: u64,
}

/// What an engine job measured.
#[derive(Debug)]
pub struct EngineRun {
    /// Operations, bytes, latency.
    pub measurement: Measurement,
    /// Engine counters over the measured part.
    pub figures: EngineFigures,
    /// The backend the database used.
    pub backend: BackendInfo,
}

impl EngineJob {
    fn validate(&self) -> Result<()> {
        self.limit.validate()?;
        if self.mode == EngineMode::Query {
            return Err(BenchError::NotAvailable {
                what: "--rw query (box queries)",
                reason: "the engine's box queries are issue 5, not built yet",
            });
        }
        if self.numjobs == 0 || self.numjobs > 1024 {
            return Err(BenchError::invalid("--numjobs must be 1..=1024"));
        }
        if self.value_bytes == 0 {
            return Err(BenchError::invalid("--bs must be positive"));
        }
        if self.mode.needs_preload() && self.keys == 0 {
            return Err(BenchError::invalid("--keys must be positive for this --rw"));
        }
        if let EngineMode::Mixed { read_percent } = self.mode
            && read_percent > 100
        {
            return Err(BenchError::invalid("--rwmixread must be 0..=100"));
        }
        Ok(())
    }

    fn options(&self) -> Options {
        Options::default()
            .durability(self.durability)
            .deadline(self.deadline)
            .backend(self.backend)
    }
}

/// Runs `job` on a fresh database in a temporary directory under `job.directory`.
///
/// # Errors
/// [`BenchError::InvalidJob`], [`BenchError::NotAvailable`], engine errors, a worker panic.
pub fn run(job: &EngineJob, progress: &Progress) -> Result<EngineRun> {
    job.validate()?;
    let temporary = crate::job::scratch_directory(&job.directory, "infinitedb-bench-")?;
    let db = Db::open(temporary.path().join("db"), job.options())?;
    let space = db.create_space(SPACE_NAME, job.dims, job.bits)?;
    let points = Points::new(job.dims, job.bits);
    if job.mode.needs_preload() {
        preload(&db, space, &points, job)?;
    }
    let stats_before = db.stats();
    let device_before = process_write_bytes();
    let begin = Instant::now();
    let measurement = run_threads(&db, space, &points, job, progress)?;
    if job.durability == Durability::NoSync {
        db.sync()?;
    }
    let elapsed = begin.elapsed();
    let device_bytes = process_write_bytes()
        .zip(device_before)
        .map_or(0, |(after, before)| after.saturating_sub(before));
    let figures = engine_figures(&stats_before, &db.stats(), device_bytes, elapsed);
    let backend = db.backend().clone();
    db.close()?;
    Ok(EngineRun {
        measurement: Measurement {
            elapsed,
            ..measurement
        },
        figures,
        backend,
    })
}

/// Writes keys `0..job.keys` in batches, syncs, and seals for the read modes.
fn preload(db: &Db, space: SpaceId, points: &Points, job: &EngineJob) -> Result<()> {
    let value = vec![0xA5u8; job.value_bytes];
    let mut point = Vec::new();
    let mut key = 0u64;
    while key < job.keys {
        let mut batch = Batch::new(space);
        let end = (key + PRELOAD_BATCH_RECORDS).min(job.keys);
        for batch_key in key..end {
            points.point(batch_key, &mut point);
            batch.put(&point, &value);
        }
        db.write(batch)?;
        key = end;
    }
    db.sync()?;
    if matches!(job.mode, EngineMode::Read | EngineMode::RandRead) {
        db.flush(space)?;
    }
    Ok(())
}

/// One thread's result.
struct ThreadResult {
    ops: u64,
    bytes: u64,
    latency_ns: Histogram<u64>,
}

fn run_threads(
    db: &Db,
    space: SpaceId,
    points: &Points,
    job: &EngineJob,
    progress: &Progress,
) -> Result<Measurement> {
    let begin = Instant::now();
    let results: Vec<Result<ThreadResult>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..job.numjobs)
            .map(|thread| {
                let progress = progress.clone();
                scope.spawn(move || run_thread(db, space, points, job, thread, &progress))
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle.join().unwrap_or_else(|_| {
                    Err(BenchError::WorkerPanicked {
                        job: job.mode.name().to_string(),
                    })
                })
            })
            .collect()
    });
    let mut measurement = Measurement {
        ops: 0,
        bytes: 0,
        elapsed: begin.elapsed(),
        latency_ns: latency_histogram()?,
    };
    for result in results {
        let result = result?;
        measurement.ops += result.ops;
        measurement.bytes += result.bytes;
        measurement
            .latency_ns
            .add(&result.latency_ns)
            .map_err(|error| BenchError::Histogram {
                detail: error.to_string(),
            })?;
    }
    Ok(measurement)
}

/// What a thread does next.
enum Step {
    Put(u64),
    Get(u64),
}

fn run_thread(
    db: &Db,
    space: SpaceId,
    points: &Points,
    job: &EngineJob,
    thread: u32,
    progress: &Progress,
) -> Result<ThreadResult> {
    let limit = job.limit.per_thread(job.numjobs);
    let mut random = ChaCha8Rng::seed_from_u64(0x5eed ^ u64::from(thread));
    let value = vec![0x5Au8; job.value_bytes];
    let mut point = Vec::with_capacity(job.dims as usize);
    let mut latency_ns = latency_histogram()?;
    let (mut ops, mut bytes) = (0u64, 0u64);
    let begin = Instant::now();
    while !limit.reached(begin.elapsed(), bytes) {
        let step = next_step(job, thread, ops, &mut random);
        let started = Instant::now();
        match step {
            Step::Put(key) => {
                points.point(key, &mut point);
                db.put(space, &point, &value)?;
                bytes += value.len() as u64;
            }
            Step::Get(key) => {
                points.point(key, &mut point);
                let found = db.get(space, &point)?;
                bytes += found.map_or(0, |found| found.len() as u64);
            }
        }
        record_latency(&mut latency_ns, started.elapsed());
        ops += 1;
        progress.add(1);
    }
    Ok(ThreadResult {
        ops,
        bytes,
        latency_ns,
    })
}

/// The `index`-th step of `thread`. Fresh writes interleave threads (`thread + numjobs × i`)
/// above the preloaded range, so no two threads write the same key.
fn next_step(job: &EngineJob, thread: u32, index: u64, random: &mut ChaCha8Rng) -> Step {
    let numjobs = u64::from(job.numjobs);
    match job.mode {
        EngineMode::Write => Step::Put(job.keys + u64::from(thread) + numjobs * index),
        EngineMode::Overwrite => Step::Put(random.gen_range(0..job.keys)),
        EngineMode::Read => {
            let start = job.keys / numjobs * u64::from(thread);
            Step::Get((start + index) % job.keys)
        }
        EngineMode::RandRead | EngineMode::Query => Step::Get(random.gen_range(0..job.keys)),
        EngineMode::Mixed { read_percent } => {
            let key = random.gen_range(0..job.keys);
            if random.gen_range(0..100u8) < read_percent {
                Step::Get(key)
            } else {
                Step::Put(key)
            }
        }
    }
}

fn engine_figures(
    before: &Stats,
    after: &Stats,
    device_bytes: u64,
    elapsed: Duration,
) -> EngineFigures {
    let delta = |after: u64, before: u64| after.saturating_sub(before);
    let fsyncs = delta(after.fsyncs, before.fsyncs);
    let records_direct = delta(after.records_direct, before.records_direct);
    let records_staged = delta(after.records_staged, before.records_staged);
    let records = records_direct + records_staged;
    let seconds = elapsed.as_secs_f64();
    EngineFigures {
        fsyncs,
        records_per_fsync: if fsyncs > 0 {
            records as f64 / fsyncs as f64
        } else {
            0.0
        },
        groups_direct: delta(after.groups_direct, before.groups_direct),
        groups_staged: delta(after.groups_staged, before.groups_staged),
        records_direct,
        records_staged,
        deadline_misses: delta(after.deadline_misses, before.deadline_misses),
        seals: delta(after.seals, before.seals),
        device_write_bytes: device_bytes,
        device_mb_per_second: if seconds > 0.0 {
            device_bytes as f64 / seconds / 1e6
        } else {
            0.0
        },
    }
}

/// `write_bytes` of `/proc/self/io`: bytes this process caused to be sent to the block layer
/// (O_DIRECT writes included; see the kernel's `Documentation/filesystems/proc.rst`).
pub fn process_write_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/io").ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("write_bytes:"))
        .and_then(|value| value.trim().parse().ok())
}

/// Maps key numbers to points of a `dims × bits` space.
#[derive(Clone, Copy, Debug)]
struct Points {
    dims: u32,
    bits: u32,
}

impl Points {
    fn new(dims: u32, bits: u32) -> Points {
        Points { dims, bits }
    }

    /// Fills `point` with the coordinates of `key`: `dims` slices of `bits` bits of a 128-bit
    /// mix of `key`. `dims × bits ≤ 128` is the engine's rule, checked by `create_space`.
    fn point(&self, key: u64, point: &mut Vec<u32>) {
        let mixed = (u128::from(mix64(key)) << 64) | u128::from(mix64(key ^ 0x9E37_79B9_7F4A_7C15));
        let mask = if self.bits >= 32 {
            u128::from(u32::MAX)
        } else {
            (1u128 << self.bits) - 1
        };
        point.clear();
        for dim in 0..self.dims {
            let shift = (dim * self.bits) % 128;
            let coordinate = (mixed >> shift) & mask;
            point.push(u32::try_from(coordinate).unwrap_or(u32::MAX));
        }
    }
}

/// splitmix64's finaliser: a bijection on u64 that scatters nearby keys.
fn mix64(key: u64) -> u64 {
    let mut z = key.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_fit_the_space_and_are_stable() {
        // Goal: every coordinate is < 2^bits and a key always maps to the same point.
        // Method: many keys in a 3 × 21 space.
        let points = Points::new(3, 21);
        let (mut first, mut again) = (Vec::new(), Vec::new());
        for key in 0..10_000 {
            points.point(key, &mut first);
            points.point(key, &mut again);
            assert_eq!(first, again);
            assert_eq!(first.len(), 3);
            assert!(first.iter().all(|&coordinate| coordinate < (1 << 21)));
        }
    }

    #[test]
    fn a_small_write_job_reports_engine_counters() {
        // Goal: a Sync write job on this machine's disk completes, stops at --size and counts
        // its fsyncs. Method: 2 threads × 64 KiB of 128-byte values.
        let dir = tempfile::tempdir().unwrap();
        let job = EngineJob {
            directory: dir.path().to_path_buf(),
            mode: EngineMode::Write,
            value_bytes: 128,
            numjobs: 2,
            limit: Limit {
                runtime: Some(Duration::from_secs(20)),
                bytes: Some(128 * 1024),
            },
            durability: Durability::Sync,
            dims: 2,
            bits: 32,
            backend: BackendRequest::Auto,
            deadline: Some(Duration::from_millis(2)),
            keys: 0,
        };
        let run = run(&job, &Progress::hidden()).unwrap();
        assert_eq!(run.measurement.ops, 1024);
        assert_eq!(run.measurement.latency_ns.len(), 1024);
        assert!(run.figures.fsyncs > 0);
        assert!(run.figures.records_per_fsync >= 1.0);
    }

    #[test]
    fn query_is_refused_as_not_available() {
        // Goal: box queries say they are not built. Method: run one.
        let dir = tempfile::tempdir().unwrap();
        let job = EngineJob {
            directory: dir.path().to_path_buf(),
            mode: EngineMode::Query,
            value_bytes: 128,
            numjobs: 1,
            limit: Limit::runtime(Duration::from_secs(1)),
            durability: Durability::Sync,
            dims: 2,
            bits: 32,
            backend: BackendRequest::Auto,
            deadline: None,
            keys: 10,
        };
        assert!(matches!(
            run(&job, &Progress::hidden()),
            Err(BenchError::NotAvailable { .. })
        ));
    }
}
