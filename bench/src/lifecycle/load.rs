//! The lifecycle job's writes: the preload, the random overwrites in durable batches with a
//! close and reopen every `reopen_every` records, and the wait for background compaction
//! to catch up ([`settle`]) before every close and at the end.
//!
//! Invariants: segment `s`, thread `t` draws its keys from a generator seeded by `(s, t)`
//! alone, so both passes of a job write the same keys; the engine's counters, which start
//! at zero on every open (holding the block that open's recovery sealed from the tail the
//! close left), are summed over the opens into [`Overwrites::totals`], each open's read
//! once its compactions are done.

use std::path::Path;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use infinitedb::{Batch, Db, Options, SpaceId, SpaceStats, Stats};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Compaction, LifecycleJob};
use crate::error::{BenchError, Result};
use crate::job::Progress;
use crate::points::Points;
use crate::report::{latency_histogram, record_latency};
use crate::workload::{preload_keys, process_write_bytes};

/// Seed of the overwrites' key generators (mixed with the segment and the thread).
const WRITE_SEED: u64 = 0x11fe_c7c1_e5ee_d000;

/// Longest wait for background compaction to catch up; past it the job goes on (a
/// compaction that keeps failing must not hang the run) and the wait shows in the figures.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(300);

/// How often [`settle`] looks at the space.
const SETTLE_POLL: Duration = Duration::from_millis(20);

/// Value byte of the overwrites' records.
pub(super) const OVERWRITE_VALUE_BYTE: u8 = 0x5A;

/// What the overwrites of one pass measured.
#[derive(Debug)]
pub(super) struct Overwrites {
    /// Latency of each `Db::write` (one commit of `batch_records` records).
    pub(super) commits: Histogram<u64>,
    /// Engine counters over the overwrites, summed over every open.
    pub(super) totals: Stats,
    /// Bytes the process sent to the block layer over the overwrites (`/proc/self/io`).
    pub(super) device_write_bytes: u64,
    /// Time spent in the writer threads.
    pub(super) write_elapsed: Duration,
    /// Time spent waiting for compaction before closes and at the end.
    pub(super) settle_elapsed: Duration,
    /// Waits that ended at [`SETTLE_TIMEOUT`] with compaction still behind.
    pub(super) settle_timeouts: u64,
    /// Closes and reopens.
    pub(super) reopens: u64,
}

/// Writes keys `0..job.keys` in batches and syncs (`workload::preload_keys`).
pub(super) fn preload(db: &Db, space: SpaceId, job: &LifecycleJob) -> Result<()> {
    let points = Points::new(job.dims, job.bits);
    preload_keys(db, space, &points, job.keys, job.value_bytes)
}

/// Writes the job's overwrites into `db`, closing it and reopening `path` every
/// `job.reopen_every` records; returns the database open at the end, compaction caught up.
pub(super) fn overwrite(
    mut db: Db,
    path: &Path,
    (options, compaction): (&Options, Compaction),
    space: SpaceId,
    job: &LifecycleJob,
    progress: &Progress,
) -> Result<(Db, Overwrites)> {
    let total = job.overwrites();
    let segment_records = if job.reopen_every == 0 {
        total
    } else {
        job.reopen_every
    };
    let mut done = Overwrites {
        commits: latency_histogram()?,
        totals: Stats::default(),
        device_write_bytes: 0,
        write_elapsed: Duration::ZERO,
        settle_elapsed: Duration::ZERO,
        settle_timeouts: 0,
        reopens: 0,
    };
    let mut opened = db.stats();
    let device_before = process_write_bytes();
    let (mut written, mut segment) = (0u64, 0u64);
    loop {
        let records = segment_records.min(total - written);
        let begin = Instant::now();
        let commits = write_segment(&db, space, job, segment, records, progress)?;
        done.write_elapsed += begin.elapsed();
        add_histogram(&mut done.commits, &commits)?;
        (written, segment) = (written + records, segment + 1);
        db.sync()?;
        let settled = settle(&db, space, job, compaction)?;
        done.settle_elapsed += settled.elapsed;
        done.settle_timeouts += u64::from(settled.timed_out);
        add_stats(&mut done.totals, &opened, &db.stats());
        if written >= total {
            break;
        }
        db.close()?;
        db = Db::open(path, options.clone())?;
        // A fresh open's counters start at zero and already hold its recovery's seal.
        opened = Stats::default();
        done.reopens += 1;
    }
    done.device_write_bytes = process_write_bytes()
        .zip(device_before)
        .map_or(0, |(after, before)| after.saturating_sub(before));
    Ok((db, done))
}

/// Writes `records` overwrites over `job.numjobs` threads; returns their commit latencies.
fn write_segment(
    db: &Db,
    space: SpaceId,
    job: &LifecycleJob,
    segment: u64,
    records: u64,
    progress: &Progress,
) -> Result<Histogram<u64>> {
    let threads = u64::from(job.numjobs);
    let results: Vec<Result<Histogram<u64>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                let share = records / threads + u64::from(thread < records % threads);
                let progress = progress.clone();
                scope.spawn(move || {
                    write_thread(db, space, job, (segment, thread), share, &progress)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle.join().unwrap_or_else(|_| {
                    Err(BenchError::WorkerPanicked {
                        job: super::LIFECYCLE_RW.to_string(),
                    })
                })
            })
            .collect()
    });
    let mut commits = latency_histogram()?;
    for result in results {
        add_histogram(&mut commits, &result?)?;
    }
    Ok(commits)
}

/// One writer: `records` random overwrites in batches of `job.batch_records`, each write
/// timed from the call to its return.
fn write_thread(
    db: &Db,
    space: SpaceId,
    job: &LifecycleJob,
    (segment, thread): (u64, u64),
    records: u64,
    progress: &Progress,
) -> Result<Histogram<u64>> {
    let mut random = ChaCha8Rng::seed_from_u64(WRITE_SEED ^ (segment << 16) ^ thread);
    let points = Points::new(job.dims, job.bits);
    let value = vec![OVERWRITE_VALUE_BYTE; job.value_bytes];
    let mut point = Vec::with_capacity(job.dims as usize);
    let mut commits = latency_histogram()?;
    let mut left = records;
    while left > 0 {
        let count = left.min(job.batch_records);
        let mut batch = Batch::new(space);
        for _ in 0..count {
            points.point(random.gen_range(0..job.keys), &mut point);
            batch.put(&point, &value);
        }
        let started = Instant::now();
        db.write(batch)?;
        record_latency(&mut commits, started.elapsed());
        left -= count;
        progress.add(count);
    }
    Ok(commits)
}

/// How a [`settle`] ended.
#[derive(Clone, Copy, Debug)]
pub(super) struct Settled {
    /// How long it waited.
    pub(super) elapsed: Duration,
    /// Whether it gave up at [`SETTLE_TIMEOUT`].
    pub(super) timed_out: bool,
}

/// Waits until background compaction of `space` has nothing left to do (see
/// [`caught_up`]), at most [`SETTLE_TIMEOUT`]. With compaction off it waits for nothing but
/// pending seals.
pub(super) fn settle(
    db: &Db,
    space: SpaceId,
    job: &LifecycleJob,
    compaction: Compaction,
) -> Result<Settled> {
    let begin = Instant::now();
    let mut previous: Option<(SpaceStats, u64)> = None;
    loop {
        let shape = db.space_stats(space)?;
        let stats = db.stats();
        let counters = stats.seals + stats.compactions + stats.compaction_failures;
        // Two polls alike: nothing finished in between, so nothing was about to.
        let steady = previous
            .as_ref()
            .is_some_and(|(last, last_counters)| *last == shape && *last_counters == counters);
        let timed_out = begin.elapsed() >= SETTLE_TIMEOUT;
        if (steady && caught_up(&shape, job, compaction)) || timed_out {
            return Ok(Settled {
                elapsed: begin.elapsed(),
                timed_out,
            });
        }
        previous = Some((shape, counters));
        std::thread::sleep(SETTLE_POLL);
    }
}

/// Whether no seal is pending (the live tail is under both seal thresholds) and, when the
/// job compacts, no level is over its trigger: level 0 under `l0_compaction_trigger` blocks,
/// level `n >= 1` (but the last, which never compacts) under `level_base_bytes × 10^(n−1)`
/// bytes, as `engine/src/compaction/plan.rs` scores them.
pub(super) fn caught_up(shape: &SpaceStats, job: &LifecycleJob, compaction: Compaction) -> bool {
    let tuning = &job.tuning;
    let tail = shape.live_tail_records;
    if tail >= tuning.seal_threshold_records
        || tail.saturating_mul(job.record_bytes()) >= tuning.seal_threshold_bytes
    {
        return false;
    }
    if compaction == Compaction::Off {
        return true;
    }
    let last_level = usize::from(infinitedb_format::LEVEL_COUNT) - 1;
    shape.levels.iter().enumerate().all(|(level, stats)| {
        if level == 0 {
            stats.blocks < tuning.l0_compaction_trigger
        } else if level >= last_level {
            true
        } else {
            let exponent = u32::try_from(level - 1).unwrap_or(u32::MAX);
            let target = tuning
                .level_base_bytes
                .saturating_mul(10u64.saturating_pow(exponent));
            stats.bytes < target
        }
    })
}

fn add_histogram(total: &mut Histogram<u64>, part: &Histogram<u64>) -> Result<()> {
    total.add(part).map_err(|error| BenchError::Histogram {
        detail: error.to_string(),
    })
}

/// Adds the counters' growth from `before` to `after` (one open) to `total`.
fn add_stats(total: &mut Stats, before: &Stats, after: &Stats) {
    type Field = fn(&mut Stats) -> &mut u64;
    let fields: [Field; 18] = [
        |stats| &mut stats.groups_direct,
        |stats| &mut stats.groups_staged,
        |stats| &mut stats.records_direct,
        |stats| &mut stats.records_staged,
        |stats| &mut stats.deadline_misses,
        |stats| &mut stats.fsyncs,
        |stats| &mut stats.seals,
        |stats| &mut stats.seal_failures,
        |stats| &mut stats.chain_failures,
        |stats| &mut stats.segments_rolled,
        |stats| &mut stats.batches,
        |stats| &mut stats.compactions,
        |stats| &mut stats.compaction_failures,
        |stats| &mut stats.compaction_bytes_read,
        |stats| &mut stats.compaction_bytes_written,
        |stats| &mut stats.sealed_bytes,
        |stats| &mut stats.write_stalls,
        |stats| &mut stats.filter_skips,
    ];
    let (mut before, mut after) = (before.clone(), after.clone());
    for field in fields {
        *field(total) += field(&mut after).saturating_sub(*field(&mut before));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caught_up_follows_the_compaction_triggers() {
        // Goal: the settle test says "caught up" exactly when no seal is pending and no level
        // is over its trigger, the last level never counting. Method: shapes built around
        // the thresholds of a small tuning.
        let job = LifecycleJob {
            tuning: super::super::LifecycleTuning {
                seal_threshold_records: 100,
                seal_threshold_bytes: 1 << 30,
                l0_compaction_trigger: 4,
                level_base_bytes: 1000,
                block_target_bytes: 4096,
            },
            ..test_job()
        };
        let shape = |tail: u64, levels: &[(usize, u64)]| {
            let mut shape = SpaceStats::default();
            shape.live_tail_records = tail;
            shape.levels = levels
                .iter()
                .map(|&(blocks, bytes)| {
                    let mut level = infinitedb::LevelStats::default();
                    level.blocks = blocks;
                    level.bytes = bytes;
                    level
                })
                .collect();
            shape
        };
        assert!(caught_up_on(&shape(0, &[]), &job));
        assert!(caught_up_on(
            &shape(99, &[(3, 10), (2, 999), (5, 9999)]),
            &job
        ));
        assert!(!caught_up_on(&shape(100, &[]), &job), "a seal is pending");
        assert!(
            !caught_up_on(&shape(0, &[(4, 10)]), &job),
            "level 0 at trigger"
        );
        assert!(
            !caught_up_on(&shape(0, &[(0, 0), (1, 1000)]), &job),
            "level 1 full"
        );
        assert!(!caught_up_on(
            &shape(0, &[(0, 0), (0, 0), (1, 10_000)]),
            &job
        ));
        let mut deep = vec![(0, 0); 8];
        deep[7] = (9, u64::MAX);
        assert!(
            caught_up_on(&shape(0, &deep), &job),
            "the last level never compacts"
        );
        let behind = shape(0, &[(40, 10)]);
        assert!(
            caught_up(&behind, &job, Compaction::Off),
            "nothing to wait for when off"
        );
        assert!(
            !caught_up(&shape(100, &[]), &job, Compaction::Off),
            "a seal is pending"
        );
    }

    #[test]
    fn counters_add_up_over_opens() {
        // Goal: each open's growth is added field by field, so totals survive the reset at
        // every open. Method: two opens' before/after pairs.
        let (mut before, mut after) = (Stats::default(), Stats::default());
        before.sealed_bytes = 100;
        after.sealed_bytes = 350;
        after.compaction_bytes_written = 40;
        after.filter_skips = 3;
        let mut total = Stats::default();
        add_stats(&mut total, &before, &after);
        add_stats(&mut total, &Stats::default(), &after);
        assert_eq!(total.sealed_bytes, 250 + 350);
        assert_eq!(total.compaction_bytes_written, 80);
        assert_eq!(total.filter_skips, 6);
        assert_eq!(total.seals, 0);
    }

    fn caught_up_on(shape: &SpaceStats, job: &LifecycleJob) -> bool {
        caught_up(shape, job, Compaction::On)
    }

    fn test_job() -> LifecycleJob {
        LifecycleJob {
            directory: std::env::temp_dir(),
            keys: 1,
            value_bytes: 100,
            retention: infinitedb::Retention::Latest,
            overwrite_factor: 1,
            reopen_every: 0,
            batch_records: 1,
            numjobs: 1,
            durability: infinitedb::Durability::Sync,
            reads: 1,
            queries: 0,
            query_records: 1,
            dims: 2,
            bits: 32,
            backend: uring_io::BackendRequest::Auto,
            deadline: None,
            tuning: super::super::LifecycleTuning::default(),
            compare_without_compaction: false,
        }
    }
}
