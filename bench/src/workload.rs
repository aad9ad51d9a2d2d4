//! Engine workloads: `numjobs` threads calling a fresh [`infinitedb::Db`] in a temporary
//! database directory, each operation timed into an HDR histogram.
//!
//! Modes (fio's `--rw` words): `write` puts fresh points; `overwrite` puts random points of a
//! preloaded key set; `read` gets the preloaded points in order, `randread` at random;
//! `mixed` does `rwmixread`% random gets and the rest random puts; `query` runs box queries
//! over random boxes sized to hold `query_records` preloaded records on average, each timed
//! from the call to the iterator's end (`query.rs`: sizing, and the brute-force check of a
//! sample of boxes that runs before the timed loop and fails the job on a wrong answer).
//!
//! Points: key `k` maps to a scattered point (`points.rs`). Preloading (not measured) writes
//! the key set in batches of [`PRELOAD_BATCH_RECORDS`], syncs, and for the read and query
//! modes seals it into a block (`flush`), so reads exercise the block path.
//!
//! A job may ramp first (fio's `ramp_time`): each thread runs its workload for
//! [`EngineJob::ramp`] unmeasured, then the measured part, whose limit, operations, latency
//! and elapsed time start at the ramp's end.
//!
//! A write is one batch of [`EngineJob::batch`] records (fresh writes take consecutive keys).
//! With [`Api::Blocking`] each of `numjobs` threads writes with `Db::write`, which blocks until
//! acknowledged; with [`Api::Async`] `numjobs` submitters are futures on one executor thread
//! (`executor.rs`), each awaiting its `Db::submit` handle, so `numjobs` writes are in flight
//! from one thread. The process's CPU time over the measured part is reported per record.
//!
//! Under `Durability::NoSync` a final `sync` is inside the measured time: the figure is for
//! data that reached the disk.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use infinitedb::{Batch, Bytes, Db, Durability, Options, SpaceId, Stats, WriteOptions};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uring_io::{BackendInfo, BackendRequest};

use crate::error::{BenchError, Result};
use crate::job::{Limit, Progress};
use crate::points::Points;
use crate::query::{self, BoxShape, QUERY_RANGE_BUDGET, Verification};
use crate::report::{
    EngineFigures, JobReport, JobShape, Measurement, QueryFigures, latency_histogram,
    record_latency,
};
use infinitedb::Readable;

/// Records per batch when preloading a key set.
pub const PRELOAD_BATCH_RECORDS: u64 = 1000;
/// The byte every preloaded value is filled with.
pub const PRELOAD_VALUE_BYTE: u8 = 0xA5;

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
    /// Box queries over the preloaded key set.
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
        self != EngineMode::Write
    }

    /// Whether the preloaded key set is sealed into a block before the timed part.
    fn seals_preload(self) -> bool {
        matches!(
            self,
            EngineMode::Read | EngineMode::RandRead | EngineMode::Query
        )
    }
}

/// How an engine job's writes are submitted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Api {
    /// `numjobs` threads, each blocked in `Db::write` until its write is acknowledged.
    #[default]
    Blocking,
    /// `numjobs` concurrent submitters as futures on one executor thread, each awaiting its
    /// `Db::submit` handle (write and overwrite modes).
    Async,
}

impl Api {
    /// The `--api` name.
    pub fn name(self) -> &'static str {
        match self {
            Api::Blocking => "blocking",
            Api::Async => "async",
        }
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
    /// How writes are submitted.
    pub api: Api,
    /// Records per write batch (1: one put per write).
    pub batch: u32,
    /// Spaces each write batch spreads its records over (1: batches of one space; more: every
    /// batch is an atomic batch across spaces, record `i` in space `i % spaces`). Write mode.
    pub spaces: u32,
    /// Size of the preloaded key set (read, randread, overwrite, mixed, query).
    pub keys: u64,
    /// Records a query box holds on average (query; [`query::QUERY_RECORDS_DEFAULT`]).
    pub query_records: u64,
    /// Time each thread runs the workload before measuring it (fio's `--ramp_time`): its
    /// operations are neither counted nor timed, and `limit` starts after it.
    pub ramp: Duration,
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
    /// Box-query figures (`query` jobs only).
    pub query: Option<QueryFigures>,
}

impl EngineRun {
    /// The job's report, shaped `shape`.
    pub fn report(&self, shape: JobShape) -> JobReport {
        JobReport::new(shape, &self.measurement, Some(self.figures.clone()))
            .with_query(self.query.clone())
    }
}

impl EngineJob {
    fn validate(&self) -> Result<()> {
        self.limit.validate()?;
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
        if self.batch == 0 || self.batch > 100_000 {
            return Err(BenchError::invalid("--batch must be 1..=100000"));
        }
        if self.api == Api::Async && !matches!(self.mode, EngineMode::Write | EngineMode::Overwrite)
        {
            return Err(BenchError::invalid(
                "--api async submits writes: use it with --rw write or overwrite",
            ));
        }
        if self.spaces == 0 || self.spaces > 64 {
            return Err(BenchError::invalid("--spaces must be 1..=64"));
        }
        if self.spaces > 1 && (self.mode != EngineMode::Write || self.batch < self.spaces) {
            return Err(BenchError::invalid(
                "--spaces spreads each batch's records over spaces: use it with --rw write \
                 and a --batch of at least that many records",
            ));
        }
        if self.mode == EngineMode::Query && self.query_records == 0 {
            return Err(BenchError::invalid("--query-records must be positive"));
        }
        Ok(())
    }

    fn options(&self) -> Options {
        Options::default()
            .durability(self.durability)
            .deadline(self.deadline)
            .backend(self.backend)
            .query_range_budget(QUERY_RANGE_BUDGET)
    }

    /// The shape of the job's boxes (`query` jobs only).
    fn box_shape(&self) -> Result<Option<BoxShape>> {
        if self.mode != EngineMode::Query {
            return Ok(None);
        }
        BoxShape::for_records(self.dims, self.bits, self.keys, self.query_records).map(Some)
    }
}

/// Runs `job` on a fresh database in a temporary directory under `job.directory`.
///
/// # Errors
/// [`BenchError::InvalidJob`], [`BenchError::QueryMismatch`] when a sample box's answer is
/// wrong, engine errors, a worker panic.
pub fn run(job: &EngineJob, progress: &Progress) -> Result<EngineRun> {
    job.validate()?;
    let shape = job.box_shape()?;
    let temporary = crate::job::scratch_directory(&job.directory, "infinitedb-bench-")?;
    let db = Db::open(temporary.path().join("db"), job.options())?;
    let space = db.create_space(SPACE_NAME, job.dims, job.bits)?;
    let mut spaces = vec![space];
    for index in 1..job.spaces {
        spaces.push(db.create_space(&format!("{SPACE_NAME}-{index}"), job.dims, job.bits)?);
    }
    let points = Points::new(job.dims, job.bits);
    if job.mode.needs_preload() {
        preload(&db, space, &points, job)?;
    }
    let verification = match &shape {
        Some(shape) => Some(query::verify(&db, space, &points, job.keys, shape)?),
        None => None,
    };
    let (measurement, records, before) =
        run_threads(&db, &spaces, &points, shape.as_ref(), job, progress)?;
    if job.durability == Durability::NoSync {
        db.sync()?;
    }
    let elapsed = before.at.elapsed();
    let growth = |after: Option<u64>, before: Option<u64>| {
        after
            .zip(before)
            .map_or(0, |(after, before)| after.saturating_sub(before))
    };
    let device_bytes = growth(process_write_bytes(), before.write_bytes);
    let mut figures = engine_figures(&before.stats, &db.stats(), device_bytes, elapsed);
    figures.device_read_bytes = growth(process_read_bytes(), before.read_bytes);
    if let Some((after, before)) = process_cpu_time().zip(before.cpu) {
        let records = match job.mode {
            EngineMode::Write | EngineMode::Overwrite => measurement.ops * u64::from(job.batch),
            _ => measurement.ops,
        };
        figures.cpu_seconds = after.saturating_sub(before).as_secs_f64();
        if records > 0 {
            figures.cpu_us_per_record = figures.cpu_seconds * 1e6 / records as f64;
        }
    }
    let backend = db.backend().clone();
    db.close()?;
    let measurement = Measurement {
        elapsed,
        ..measurement
    };
    let query = shape
        .zip(verification)
        .map(|(shape, verified)| query_figures(&shape, job.keys, &verified, &measurement, records));
    Ok(EngineRun {
        measurement,
        figures,
        backend,
        query,
    })
}

/// The figures of a query job that ran `measurement.ops` queries returning `records`.
fn query_figures(
    shape: &BoxShape,
    keys: u64,
    verified: &Verification,
    measurement: &Measurement,
    records: u64,
) -> QueryFigures {
    let seconds = measurement.elapsed.as_secs_f64();
    QueryFigures {
        box_side_fraction: shape.side_fraction(),
        expected_records_per_box: shape.expected_records(keys),
        records,
        records_per_query: if measurement.ops > 0 {
            records as f64 / measurement.ops as f64
        } else {
            0.0
        },
        records_per_second: if seconds > 0.0 {
            records as f64 / seconds
        } else {
            0.0
        },
        verified_queries: verified.queries,
        verified_records: verified.records,
        range_over_read: verified.range_over_read(),
    }
}

/// Writes keys `0..keys` with `value_bytes`-byte values of [`PRELOAD_VALUE_BYTE`] in
/// batches of [`PRELOAD_BATCH_RECORDS`], then syncs.
pub(crate) fn preload_keys(
    db: &Db,
    space: SpaceId,
    points: &Points,
    keys: u64,
    value_bytes: usize,
) -> Result<()> {
    let value = vec![PRELOAD_VALUE_BYTE; value_bytes];
    let mut point = Vec::new();
    let mut key = 0u64;
    while key < keys {
        let mut batch = Batch::new(space);
        let end = (key + PRELOAD_BATCH_RECORDS).min(keys);
        for batch_key in key..end {
            points.point(batch_key, &mut point);
            batch.put(&point, &value);
        }
        db.write(batch)?;
        key = end;
    }
    db.sync()?;
    Ok(())
}

/// Writes keys `0..job.keys` in batches, syncs, and for the read modes compacts the space,
/// so reads are measured on settled levels rather than beside the preload's compactions.
fn preload(db: &Db, space: SpaceId, points: &Points, job: &EngineJob) -> Result<()> {
    preload_keys(db, space, points, job.keys, job.value_bytes)?;
    if job.mode.seals_preload() {
        db.compact(space)?;
    }
    Ok(())
}

/// One thread's result.
struct ThreadResult {
    ops: u64,
    bytes: u64,
    /// Records returned by box queries (0 for the other modes).
    records: u64,
    latency_ns: Histogram<u64>,
}

impl ThreadResult {
    fn new() -> Result<ThreadResult> {
        Ok(ThreadResult {
            ops: 0,
            bytes: 0,
            records: 0,
            latency_ns: latency_histogram()?,
        })
    }

    /// Counts one measured operation that started at `started` and moved `bytes`.
    fn record(&mut self, started: Instant, bytes: u64) {
        record_latency(&mut self.latency_ns, started.elapsed());
        self.ops += 1;
        self.bytes += bytes;
    }
}

/// The engine's and the process's counters where the measured part starts, and when.
struct Counters {
    at: Instant,
    stats: Stats,
    write_bytes: Option<u64>,
    read_bytes: Option<u64>,
    cpu: Option<Duration>,
}

impl Counters {
    fn take(db: &Db, at: Instant) -> Counters {
        Counters {
            at,
            stats: db.stats(),
            write_bytes: process_write_bytes(),
            read_bytes: process_read_bytes(),
            cpu: process_cpu_time(),
        }
    }
}

/// A thread's two phases: the ramp (fio's `ramp_time`: operations run but are not measured)
/// until `measure_from`, then the measured part until `limit`, counted from `measure_from`.
#[derive(Clone, Copy, Debug)]
struct Phases {
    measure_from: Instant,
    limit: Limit,
}

impl Phases {
    /// `None` once the thread is done (having measured `measured_bytes`); else whether its
    /// next operation is measured.
    fn next(&self, measured_bytes: u64) -> Option<bool> {
        match Instant::now().checked_duration_since(self.measure_from) {
            None => Some(false),
            Some(elapsed) => (!self.limit.reached(elapsed, measured_bytes)).then_some(true),
        }
    }
}

/// Runs the job's threads (box queries when `shape` is given); returns their merged
/// measurement, the records their queries returned, and the counters where the measured part
/// began: before the threads start without a ramp, else sampled when the ramp ends (within a
/// scheduling delay of the threads' own switch, so the engine counters are approximate there).
fn run_threads(
    db: &Db,
    spaces: &[SpaceId],
    points: &Points,
    shape: Option<&BoxShape>,
    job: &EngineJob,
    progress: &Progress,
) -> Result<(Measurement, u64, Counters)> {
    let begin = Instant::now();
    let measure_from = begin
        .checked_add(job.ramp)
        .ok_or_else(|| BenchError::invalid("--ramp_time is too long"))?;
    let phases = Phases {
        measure_from,
        limit: job.limit.per_thread(job.numjobs),
    };
    let mut counters = job.ramp.is_zero().then(|| Counters::take(db, begin));
    let panicked = || BenchError::WorkerPanicked {
        job: job.mode.name().to_string(),
    };
    let results: Vec<Result<ThreadResult>> = std::thread::scope(|scope| {
        let handles: Vec<_> = match job.api {
            Api::Blocking => (0..job.numjobs)
                .map(|thread| {
                    let progress = progress.clone();
                    scope.spawn(move || {
                        vec![match shape {
                            Some(shape) => run_query_thread(
                                db,
                                spaces[0],
                                shape,
                                job,
                                (thread, phases),
                                &progress,
                            ),
                            None => {
                                run_thread(db, spaces, points, job, (thread, phases), &progress)
                            }
                        }]
                    })
                })
                .collect(),
            Api::Async => vec![scope.spawn(move || {
                let submitters = (0..job.numjobs)
                    .map(|task| {
                        Box::pin(run_submitter(
                            db,
                            spaces,
                            points,
                            job,
                            (task, phases),
                            progress,
                        ))
                            as crate::executor::Task<'_, Result<ThreadResult>>
                    })
                    .collect();
                crate::executor::block_on_all(submitters)
            })],
        };
        if counters.is_none() {
            if let Some(wait) = measure_from.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            counters = Some(Counters::take(db, measure_from));
        }
        handles
            .into_iter()
            .flat_map(|handle| handle.join().unwrap_or_else(|_| vec![Err(panicked())]))
            .collect()
    });
    let counters = counters.unwrap_or_else(|| Counters::take(db, measure_from));
    let (measurement, records) = merge_results(results, counters.at.elapsed())?;
    Ok((measurement, records, counters))
}

/// The measurement of every worker's result over `elapsed`, and the records their queries
/// returned; the first worker error if one failed.
fn merge_results(
    results: Vec<Result<ThreadResult>>,
    elapsed: Duration,
) -> Result<(Measurement, u64)> {
    let mut measurement = Measurement {
        ops: 0,
        bytes: 0,
        elapsed,
        latency_ns: latency_histogram()?,
    };
    let mut records = 0;
    for result in results {
        let result = result?;
        measurement.ops += result.ops;
        measurement.bytes += result.bytes;
        records += result.records;
        measurement
            .latency_ns
            .add(&result.latency_ns)
            .map_err(|error| BenchError::Histogram {
                detail: error.to_string(),
            })?;
    }
    Ok((measurement, records))
}

/// What a thread does next.
enum Step {
    Put(u64),
    Get(u64),
}

/// One thread of a put/get job: steps of [`next_step`] (numbered across both phases, so the
/// measured part's fresh writes follow the ramp's), each measured one timed.
fn run_thread(
    db: &Db,
    spaces: &[SpaceId],
    points: &Points,
    job: &EngineJob,
    (thread, phases): (u32, Phases),
    progress: &Progress,
) -> Result<ThreadResult> {
    let mut random = ChaCha8Rng::seed_from_u64(0x5eed ^ u64::from(thread));
    let value = Bytes::from(vec![0x5Au8; job.value_bytes]);
    let batch_bytes = value.len() as u64 * u64::from(job.batch);
    let mut point = Vec::with_capacity(job.dims as usize);
    let mut result = ThreadResult::new()?;
    let mut index = 0u64;
    while let Some(measured) = phases.next(result.bytes) {
        let step = next_step(job, thread, index, &mut random);
        let started = Instant::now();
        let moved = match step {
            Step::Put(key) => {
                db.write(write_batch(points, spaces, job, key, &value))?;
                batch_bytes
            }
            Step::Get(key) => {
                points.point(key, &mut point);
                let found = db.get(spaces[0], &point)?;
                found.map_or(0, |found| found.len() as u64)
            }
        };
        if measured {
            result.record(started, moved);
        }
        index += 1;
        progress.add(1);
    }
    Ok(result)
}

/// One submitter of an [`Api::Async`] job: the writes of [`next_step`] for `task`, each
/// submitted with `Db::submit` and awaited, each measured one timed from the submission to
/// its answer.
async fn run_submitter(
    db: &Db,
    spaces: &[SpaceId],
    points: &Points,
    job: &EngineJob,
    (task, phases): (u32, Phases),
    progress: &Progress,
) -> Result<ThreadResult> {
    let mut random = ChaCha8Rng::seed_from_u64(0x5eed ^ u64::from(task));
    let value = Bytes::from(vec![0x5Au8; job.value_bytes]);
    let batch_bytes = value.len() as u64 * u64::from(job.batch);
    let mut result = ThreadResult::new()?;
    let mut index = 0u64;
    while let Some(measured) = phases.next(result.bytes) {
        let Step::Put(key) = next_step(job, task, index, &mut random) else {
            return Err(BenchError::invalid("--api async submits writes only"));
        };
        let started = Instant::now();
        db.submit_async(
            write_batch(points, spaces, job, key, &value),
            &WriteOptions::default(),
        )?
        .await?;
        if measured {
            result.record(started, batch_bytes);
        }
        index += 1;
        progress.add(1);
    }
    Ok(result)
}

/// The write of step key `key`: [`EngineJob::batch`] records sharing `value` (no copy per
/// record), at keys `key × batch ..` (fresh writes) or those keys wrapped into the preloaded
/// set (overwrites), record `i` in space `i % spaces.len()`.
fn write_batch(
    points: &Points,
    spaces: &[SpaceId],
    job: &EngineJob,
    key: u64,
    value: &Bytes,
) -> Batch {
    let records = u64::from(job.batch);
    let mut batch = Batch::new(spaces[0]);
    let mut point = Vec::with_capacity(job.dims as usize);
    for offset in 0..records {
        let record_key = key * records + offset;
        let record_key = match job.mode {
            EngineMode::Write => record_key,
            _ => record_key % job.keys.max(1),
        };
        points.point(record_key, &mut point);
        let space = spaces[usize::try_from(offset).unwrap_or(0) % spaces.len()];
        batch.put_in(space, &point, value.clone());
    }
    batch
}

/// One thread of a query job: random boxes of `shape`, each measured one timed from the call
/// to the iterator's end; bytes are the values returned.
fn run_query_thread(
    db: &Db,
    space: SpaceId,
    shape: &BoxShape,
    job: &EngineJob,
    (thread, phases): (u32, Phases),
    progress: &Progress,
) -> Result<ThreadResult> {
    debug_assert_eq!(job.mode, EngineMode::Query);
    let mut random = ChaCha8Rng::seed_from_u64(0x5eed ^ u64::from(thread));
    let mut result = ThreadResult::new()?;
    while let Some(measured) = phases.next(result.bytes) {
        let query_box = shape.random_box(&mut random)?;
        let started = Instant::now();
        let (mut moved, mut records) = (0u64, 0u64);
        for entry in db.query(space, &query_box)? {
            moved += entry?.value.len() as u64;
            records += 1;
        }
        if measured {
            result.record(started, moved);
            result.records += records;
        }
        progress.add(1);
    }
    Ok(result)
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
        // Query jobs run `run_query_thread`; a get keeps this match total.
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

/// The engine counters' growth from `before` to `after` over a job of `elapsed` that sent
/// `device_bytes` to the block layer.
pub(crate) fn engine_figures(
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
        device_read_bytes: 0,
        block_page_reads: delta(after.block_page_reads, before.block_page_reads),
        page_cache_hits: delta(after.page_cache_hits, before.page_cache_hits),
        page_cache_misses: delta(after.page_cache_misses, before.page_cache_misses),
        cpu_seconds: 0.0,
        cpu_us_per_record: 0.0,
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
    process_io_counter("write_bytes:")
}

/// `read_bytes` of `/proc/self/io`: bytes this process caused to be read from storage
/// (O_DIRECT reads and page-cache misses alike; reads served by the page cache count nothing).
pub fn process_read_bytes() -> Option<u64> {
    process_io_counter("read_bytes:")
}

/// The counter of `/proc/self/io` on the line starting with `label`.
/// The process's CPU time, user and system, from `/proc/self/stat` (fields 14 and 15, in
/// clock ticks of `USER_HZ`, which Linux fixes at 100 for user space); `None` where there is no
/// `/proc`.
pub fn process_cpu_time() -> Option<Duration> {
    const TICKS_PER_SECOND: u64 = 100;
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces: fields are counted after its ')'.
    let (_, after_name) = text.rsplit_once(')')?;
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis(
        (user + system) * 1000 / TICKS_PER_SECOND,
    ))
}

fn process_io_counter(label: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/io").ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix(label))
        .and_then(|value| value.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A job in `directory` writing 128-byte values from 2 blocking threads, Sync, until
    /// `bytes` moved (20 s at most), with no preload; tests change what they exercise.
    fn small_job(directory: &std::path::Path, bytes: u64) -> EngineJob {
        EngineJob {
            directory: directory.to_path_buf(),
            mode: EngineMode::Write,
            value_bytes: 128,
            numjobs: 2,
            limit: Limit {
                runtime: Some(Duration::from_secs(20)),
                bytes: Some(bytes),
                time_based: false,
            },
            durability: Durability::Sync,
            dims: 2,
            bits: 32,
            backend: BackendRequest::Auto,
            deadline: None,
            keys: 0,
            query_records: 0,
            ramp: Duration::ZERO,
            api: Api::Blocking,
            batch: 1,
            spaces: 1,
        }
    }

    #[test]
    fn a_small_write_job_reports_engine_counters() {
        // Goal: a Sync write job on this machine's disk completes, stops at --size and counts
        // its fsyncs. Method: 2 threads × 64 KiB of 128-byte values.
        let dir = tempfile::tempdir().unwrap();
        let job = EngineJob {
            deadline: Some(Duration::from_millis(2)),
            ..small_job(dir.path(), 128 * 1024)
        };
        let run = run(&job, &Progress::hidden()).unwrap();
        assert_eq!(run.measurement.ops, 1024);
        assert_eq!(run.measurement.latency_ns.len(), 1024);
        assert!(run.figures.fsyncs > 0);
        // Hedged groups are fsynced on both routes, so this can be below 1 on a loaded disk.
        assert!(run.figures.records_per_fsync > 0.0, "{:?}", run.figures);
        assert_eq!(
            run.figures.records_direct + run.figures.records_staged,
            1024,
            "each record acknowledged by exactly one route"
        );
    }

    #[test]
    fn an_async_batched_write_job_commits_every_record_once() {
        // Goal: async submitters with batches write `batch` records per operation, each
        // acknowledged once. Method: 16 submitters on one thread, batches of 10 records of 128
        // bytes, stopped at 320 KiB (256 batches, 16 per submitter); the records acknowledged
        // must be 2,560.
        let dir = tempfile::tempdir().unwrap();
        let job = EngineJob {
            numjobs: 16,
            limit: Limit {
                runtime: Some(Duration::from_secs(60)),
                bytes: Some(320 * 1024),
                time_based: false,
            },
            api: Api::Async,
            batch: 10,
            ..small_job(dir.path(), 320 * 1024)
        };
        let run = run(&job, &Progress::hidden()).unwrap();
        assert_eq!(run.measurement.ops, 256);
        assert_eq!(run.measurement.bytes, 320 * 1024);
        assert_eq!(run.figures.records_direct, 2560, "{:?}", run.figures);
    }

    #[test]
    fn a_job_of_batches_across_spaces_commits_every_record_once_through_the_staging_log() {
        // Goal: `--spaces` makes every batch one across spaces, decided by its staged copy.
        // Method: 16 async submitters, batches of 10 records over 3 spaces, stopped at
        // 320 KiB (256 batches); every record is acknowledged once, by the staged route.
        let dir = tempfile::tempdir().unwrap();
        let job = EngineJob {
            api: Api::Async,
            numjobs: 16,
            batch: 10,
            spaces: 3,
            ..small_job(dir.path(), 320 * 1024)
        };
        let run = run(&job, &Progress::hidden()).unwrap();
        assert_eq!(run.measurement.ops, 256);
        assert_eq!(run.figures.records_staged, 2560, "{:?}", run.figures);
        assert_eq!(run.figures.records_direct, 0, "{:?}", run.figures);
        let refused = EngineJob {
            spaces: 3,
            batch: 2,
            ..small_job(dir.path(), 1024)
        };
        assert!(refused.validate().is_err(), "fewer records than spaces");
    }

    #[test]
    fn a_small_query_job_verifies_its_boxes_and_counts_records() {
        // Goal: a query job on a sealed key set passes its brute-force check, stops at its
        // byte limit and reports records per query near the target. Method: 5,000 keys,
        // boxes of ~50 records, 2 threads, until 64 KiB of 128-byte values came back.
        let dir = tempfile::tempdir().unwrap();
        let job = EngineJob {
            mode: EngineMode::Query,
            keys: 5000,
            query_records: 50,
            ..small_job(dir.path(), 64 * 1024)
        };
        let run = run(&job, &Progress::hidden()).unwrap();
        let query = run.query.unwrap();
        assert_eq!(query.verified_queries, u64::from(query::VERIFIED_QUERIES));
        assert!(
            query.verified_records >= 1,
            "the first sample box holds a point"
        );
        assert!(query.range_over_read >= 1.0);
        assert!(run.measurement.bytes >= 64 * 1024);
        assert_eq!(run.measurement.bytes, query.records * 128);
        assert_eq!(run.measurement.latency_ns.len(), run.measurement.ops);
        assert!(
            (10.0..=250.0).contains(&query.records_per_query),
            "{query:?}"
        );
        assert!((query.expected_records_per_box - 50.0).abs() < 1.0);
    }
}
