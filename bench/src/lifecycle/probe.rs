//! One look at a lifecycle space ([`Probe`]): its level shape, `reads` random gets (each
//! timed, each checked to find a value of the job's size, each with the blocks its key
//! filters skipped) and `queries` random box queries (each timed to the iterator's end).
//!
//! Invariants: every probe of a job reads the same keys and boxes (fixed seeds), so probes
//! compare like with like; nothing else reads the database meanwhile, so the growth of
//! `Stats::filter_skips` and of `Stats::point_read_blocks` across one get is that get's.

use std::time::Instant;

use hdrhistogram::Histogram;
use infinitedb::{Db, SpaceId, SpaceStats};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::LifecycleJob;
use crate::error::{BenchError, Result};
use crate::points::Points;
use crate::query::BoxShape;
use crate::report::{latency_histogram, record_latency};
use infinitedb::Readable;

/// Seed of the probes' get keys.
const READ_SEED: u64 = 0x9e7c_0de5_eed0_0001;
/// Seed of the probes' boxes.
const QUERY_SEED: u64 = 0x9e7c_0de5_eed0_0002;

/// What one probe saw.
#[derive(Debug)]
pub(super) struct Probe {
    /// Blocks, bytes and records per level, and the live tail.
    pub(super) shape: SpaceStats,
    /// Latency of each get.
    pub(super) gets: Histogram<u64>,
    /// `skips[n]`: gets whose filters skipped `n` blocks.
    pub(super) skips: Vec<u64>,
    /// `consulted[n]`: gets that read a page of `n` blocks (`Stats::point_read_blocks`).
    pub(super) consulted: Vec<u64>,
    /// Latency of each box query (empty when the job runs none).
    pub(super) queries: Histogram<u64>,
    /// Records the box queries returned.
    pub(super) query_records: u64,
}

/// Probes `space`; `phase` names the probe in errors.
///
/// # Errors
/// [`BenchError::PointMissing`] when a get of a written point finds nothing or a value of
/// another size; engine errors.
pub(super) fn probe(db: &Db, space: SpaceId, job: &LifecycleJob, phase: &str) -> Result<Probe> {
    let shape = db.space_stats(space)?;
    let before = db.stats().point_read_blocks;
    let (gets, skips) = time_gets(db, space, job, phase)?;
    let after = db.stats().point_read_blocks;
    let consulted = after
        .iter()
        .zip(before.iter())
        .map(|(after, before)| after.saturating_sub(*before))
        .collect();
    let (queries, query_records) = time_queries(db, space, job)?;
    Ok(Probe {
        shape,
        gets,
        skips,
        consulted,
        queries,
        query_records,
    })
}

fn time_gets(
    db: &Db,
    space: SpaceId,
    job: &LifecycleJob,
    phase: &str,
) -> Result<(Histogram<u64>, Vec<u64>)> {
    let mut random = ChaCha8Rng::seed_from_u64(READ_SEED);
    let points = Points::new(job.dims, job.bits);
    let mut point = Vec::with_capacity(job.dims as usize);
    let mut gets = latency_histogram()?;
    let mut skips = Vec::new();
    for _ in 0..job.reads {
        let key = random.gen_range(0..job.keys);
        points.point(key, &mut point);
        let skipped_before = db.stats().filter_skips;
        let started = Instant::now();
        let found = db.get(space, &point)?;
        record_latency(&mut gets, started.elapsed());
        let skipped = db.stats().filter_skips.saturating_sub(skipped_before);
        if found.as_ref().map(|value| value.len()) != Some(job.value_bytes) {
            return Err(BenchError::PointMissing {
                key,
                phase: phase.to_string(),
                found: found.map(|value| value.len()),
            });
        }
        let index = usize::try_from(skipped).unwrap_or(usize::MAX).min(1 << 16);
        if skips.len() <= index {
            skips.resize(index + 1, 0);
        }
        if let Some(count) = skips.get_mut(index) {
            *count += 1;
        }
    }
    Ok((gets, skips))
}

fn time_queries(db: &Db, space: SpaceId, job: &LifecycleJob) -> Result<(Histogram<u64>, u64)> {
    let mut queries = latency_histogram()?;
    if job.queries == 0 {
        return Ok((queries, 0));
    }
    let shape = BoxShape::for_records(job.dims, job.bits, job.keys, job.query_records)?;
    let mut random = ChaCha8Rng::seed_from_u64(QUERY_SEED);
    let mut records = 0u64;
    for _ in 0..job.queries {
        let query_box = shape.random_box(&mut random)?;
        let started = Instant::now();
        for entry in db.query(space, &query_box)? {
            entry?;
            records += 1;
        }
        record_latency(&mut queries, started.elapsed());
    }
    Ok((queries, records))
}
