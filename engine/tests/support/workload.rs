//! A seeded workload generator: puts, deletes, batches, flushes (forced seals) and
//! compactions (`Db::compact`) over a small grid of points, so points are overwritten and
//! deleted often. Values are unique per write (writer and sequence number in their first
//! bytes) and of varied length, so a stale, torn or misplaced record shows up as a wrong
//! value.

use infinitedb::{Batch, Db, Revision, SpaceId, WriteOptions};
use rand::Rng;

use super::model::{Point, Record};

/// One step of a workload.
#[derive(Clone, Debug)]
pub enum Op {
    /// Writes a value at a point.
    Put(Point, Vec<u8>),
    /// Deletes a point.
    Delete(Point),
    /// Writes several distinct points atomically.
    Batch(Vec<Record>),
    /// Writes records of the writer's space and of a partner space in one atomic batch:
    /// `(own, partner's)`.
    Spanning(Vec<Record>, Vec<Record>),
    /// Forces a seal of the space (`Db::flush`).
    Flush,
    /// Seals the space and merges all its blocks into one level (`Db::compact`).
    Compact,
}

impl Op {
    /// Whether the op is a write (acknowledged with a revision), not a flush or compaction.
    pub fn is_write(&self) -> bool {
        !matches!(self, Op::Flush | Op::Compact)
    }
}

/// How a workload looks.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Coordinates are drawn from `0..grid` in each of two dimensions.
    pub grid: u32,
    /// Longest value padding in bytes.
    pub value_bytes_max: usize,
    /// Chance per mille that a step is a flush.
    pub flush_per_mille: u32,
    /// Chance per mille that a step is a compaction.
    pub compact_per_mille: u32,
    /// Chance per mille that a step is a delete.
    pub delete_per_mille: u32,
    /// Chance per mille that a step is a batch.
    pub batch_per_mille: u32,
    /// Chance per mille that a step is a batch across the writer's space and a partner.
    pub spanning_per_mille: u32,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            grid: 12,
            value_bytes_max: 600,
            flush_per_mille: 30,
            compact_per_mille: 0,
            delete_per_mille: 120,
            batch_per_mille: 200,
            spanning_per_mille: 0,
        }
    }
}

/// Dimensions and bits of the suite's spaces.
pub const SPACE_DIMS: u32 = 2;
/// Bits per dimension of the suite's spaces.
pub const SPACE_BITS: u32 = 16;

/// A unique value for writer `writer`'s `sequence`-th write, padded to a random length.
pub fn value_for(rng: &mut impl Rng, shape: &Shape, writer: u32, sequence: u32) -> Vec<u8> {
    let mut value = format!("w{writer}-n{sequence}-").into_bytes();
    let padding = rng.gen_range(0..=shape.value_bytes_max);
    let byte = b'a' + u8::try_from(sequence % 26).unwrap();
    value.extend(std::iter::repeat_n(byte, padding));
    value
}

/// `count` steps for writer `writer`.
pub fn generate(rng: &mut impl Rng, shape: &Shape, writer: u32, count: u32) -> Vec<Op> {
    let mut ops = Vec::new();
    for sequence in 0..count {
        let roll = rng.gen_range(0..1000);
        let point = |rng: &mut dyn rand::RngCore| {
            vec![rng.gen_range(0..shape.grid), rng.gen_range(0..shape.grid)]
        };
        let compact_end = shape.flush_per_mille + shape.compact_per_mille;
        let op = if roll < shape.flush_per_mille {
            Op::Flush
        } else if roll < compact_end {
            Op::Compact
        } else if roll < compact_end + shape.delete_per_mille {
            Op::Delete(point(rng))
        } else if roll < compact_end + shape.delete_per_mille + shape.batch_per_mille {
            Op::Batch(distinct_records(rng, shape, writer, sequence, 2..=5))
        } else if roll
            < compact_end
                + shape.delete_per_mille
                + shape.batch_per_mille
                + shape.spanning_per_mille
        {
            Op::Spanning(
                distinct_records(rng, shape, writer, sequence, 1..=3),
                distinct_records(rng, shape, writer, sequence, 1..=3),
            )
        } else {
            Op::Put(point(rng), value_for(rng, shape, writer, sequence))
        };
        ops.push(op);
    }
    ops
}

/// Up to `count` records (at least one) at distinct points, a quarter of them deletes.
fn distinct_records(
    rng: &mut impl Rng,
    shape: &Shape,
    writer: u32,
    sequence: u32,
    count: std::ops::RangeInclusive<u32>,
) -> Vec<Record> {
    let mut records: Vec<Record> = Vec::new();
    for _ in 0..rng.gen_range(count) {
        let target = vec![rng.gen_range(0..shape.grid), rng.gen_range(0..shape.grid)];
        if records.iter().all(|(existing, _)| *existing != target) {
            let value = (rng.gen_range(0..4) != 0).then(|| value_for(rng, shape, writer, sequence));
            records.push((target, value));
        }
    }
    records
}

/// The records an op writes in the writer's space (none for a flush or a compaction).
pub fn records_of(op: &Op) -> Vec<Record> {
    match op {
        Op::Put(point, value) => vec![(point.clone(), Some(value.clone()))],
        Op::Delete(point) => vec![(point.clone(), None)],
        Op::Batch(records) | Op::Spanning(records, _) => records.clone(),
        Op::Flush | Op::Compact => Vec::new(),
    }
}

/// The records an op writes in the partner space (only a spanning batch has some).
pub fn partner_records_of(op: &Op) -> Vec<Record> {
    match op {
        Op::Spanning(_, partner) => partner.clone(),
        _ => Vec::new(),
    }
}

/// Adds `records` of `space` to `batch`.
fn add_records(batch: &mut Batch, space: SpaceId, records: &[Record]) {
    for (point, value) in records {
        match value {
            Some(value) => batch.put_in(space, point, value),
            None => batch.delete_in(space, point),
        };
    }
}

/// Runs `op` on `space`; `Ok(Some(revision))` for an acknowledged write, `Ok(None)` for a
/// completed flush or compaction. A spanning batch's partner is `partner`.
pub fn apply(
    db: &Db,
    space: SpaceId,
    partner: Option<SpaceId>,
    op: &Op,
) -> infinitedb::Result<Option<Revision>> {
    apply_with(db, space, partner, op, &WriteOptions::default())
}

/// Applies `op` to `space` (and a spanning batch's part to `partner`), a write with
/// `options`; returns the revision for writes.
///
/// # Panics
/// On a spanning batch without a partner: a bug of the test.
pub fn apply_with(
    db: &Db,
    space: SpaceId,
    partner: Option<SpaceId>,
    op: &Op,
    options: &WriteOptions,
) -> infinitedb::Result<Option<Revision>> {
    let mut batch = Batch::new(space);
    match op {
        Op::Put(point, value) => {
            batch.put(point, value);
            db.write_with(batch, options).map(Some)
        }
        Op::Delete(point) => {
            batch.delete(point);
            db.write_with(batch, options).map(Some)
        }
        Op::Batch(records) => {
            add_records(&mut batch, space, records);
            db.write_with(batch, options).map(Some)
        }
        Op::Spanning(own, other) => {
            let partner = partner.expect("a spanning batch has a partner space");
            add_records(&mut batch, space, own);
            add_records(&mut batch, partner, other);
            db.write_with(batch, options).map(Some)
        }
        Op::Flush => db.flush(space).map(|()| None),
        Op::Compact => db.compact(space).map(|()| None),
    }
}
