//! Background compaction over many reopens: a fixed set of points overwritten again and
//! again, with small seals, under `Retention::Latest` and under `Retention::All`. After each
//! reopen every point reads its newest value, and the space's blocks stay bounded.
//!
//! Why the bounds hold (the options below): a close lets the compactor finish every job
//! queued before it, and each job compacts while some level scores at least 1, so at a close
//! level 0 holds fewer than `L0_TRIGGER` blocks and each level `n >= 1` less than its target
//! (`LEVEL_BASE × 10^(n−1)`). The next open seals the logs' tail into one more level-0 block,
//! so just after an open level 0 holds at most `L0_TRIGGER` blocks (the compactor may already
//! be merging them). A level-0 block holds what one memtable held: at least `SEAL_RECORDS`
//! but more when writes outrun the sealer (a switch waits for the spare segment the previous
//! seal recycles), and never more than one open's writes, since an open seals the tail.
//! Levels 1 and deeper are key-disjoint within a level and their blocks are cut at the first
//! key past `BLOCK_TARGET` record bytes, so a level holds about its bytes / `BLOCK_TARGET`
//! blocks: the test allows twice that plus one per level, for the short last block of each
//! compaction's output.
//! - Under `Latest` each compaction output keeps one version per point, so each level from 1
//!   on holds at most one record per point, and level 0 at most `L0_TRIGGER` blocks of one
//!   open's `ROUNDS × POINTS` writes: records and bytes stay within
//!   `levels in use + L0_TRIGGER × ROUNDS` copies of the live data, however many versions
//!   were written.
//! - Under `All` nothing is dropped: the blocks hold exactly every version written, while
//!   the block count follows their bytes / `BLOCK_TARGET`, not the number of seals.
//!
//! Bounded in time: 1,024 points, 30 reopens of 2 overwrites each (61,440 versions).

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failure is a test failure"
)]

mod common;

use std::path::Path;

use infinitedb::Readable;
use infinitedb::{Batch, Db, Options, Retention, SpaceId, SpaceStats};

/// The points: a `SIDE × SIDE` grid.
const SIDE: u32 = 32;
const POINTS: u64 = (SIDE * SIDE) as u64;
/// Overwrites of every point between two reopens.
const ROUNDS: u32 = 2;
const REOPENS: u32 = 30;
/// Records per seal (and per batch, so each batch fills a memtable).
const SEAL_RECORDS: u64 = 128;
const L0_TRIGGER: usize = 4;
const L0_STOP: usize = 20;
const LEVEL_BASE: u64 = 1024 * 1024;
const BLOCK_TARGET: u64 = 64 * 1024;

fn options() -> Options {
    common::small_options()
        .seal_threshold_records(SEAL_RECORDS)
        .l0_compaction_trigger(L0_TRIGGER)
        .l0_stop_writes(L0_STOP)
        .level_base_bytes(LEVEL_BASE)
        .block_target_bytes(BLOCK_TARGET)
}

/// The value of `(x, y)` written in round `round` (all values have the same length).
fn value(round: u32, x: u32, y: u32) -> Vec<u8> {
    format!("{round:06}-{x:03}-{y:03}-{}", "v".repeat(26)).into_bytes()
}

/// Writes round `round` of every point, in batches of `SEAL_RECORDS`.
fn write_round(db: &Db, space: SpaceId, round: u32) {
    let mut batch = Batch::new(space);
    for x in 0..SIDE {
        for y in 0..SIDE {
            batch.put([x, y], value(round, x, y));
            if batch.len() as u64 == SEAL_RECORDS {
                db.write(std::mem::replace(&mut batch, Batch::new(space)))
                    .unwrap();
            }
        }
    }
    if !batch.is_empty() {
        db.write(batch).unwrap();
    }
}

/// Every point reads round `round`'s value, by get and by scan.
fn assert_latest(db: &Db, space: SpaceId, round: u32, context: &str) {
    for x in 0..SIDE {
        for y in 0..SIDE {
            assert_eq!(
                db.get(space, &[x, y]).unwrap(),
                Some(value(round, x, y).into()),
                "{context}: point {x},{y}"
            );
        }
    }
    let mut scanned = 0;
    for entry in db.scan(space).unwrap() {
        let entry = entry.unwrap();
        let (x, y) = (entry.point[0], entry.point[1]);
        assert_eq!(entry.value, value(round, x, y), "{context}: scan {x},{y}");
        scanned += 1;
    }
    assert_eq!(scanned, POINTS, "{context}: scan");
}

/// The bounds of the module doc every policy shares: level 0 just after an open, and the
/// block count of the deeper levels from their bytes.
fn assert_shape(stats: &SpaceStats, context: &str) {
    assert!(
        stats.levels[0].blocks <= L0_TRIGGER,
        "{context}: level 0 just after an open: {stats:?}"
    );
    for (level, shape) in stats.levels.iter().enumerate().skip(1) {
        let allowed = 2 * shape.bytes.div_ceil(BLOCK_TARGET) + 1;
        assert!(
            shape.blocks as u64 <= allowed,
            "{context}: level {level} holds {} blocks for {} bytes: {stats:?}",
            shape.blocks,
            shape.bytes
        );
    }
}

fn block_files(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("blocks")).unwrap().count()
}

/// What one run saw.
#[derive(Default)]
struct Run {
    /// Per reopen, the space's shape just after the open.
    shapes: Vec<SpaceStats>,
    compactions: u64,
    compaction_bytes_written: u64,
    seals: u64,
    write_stalls: u64,
    /// Block bytes of one version per point, after a `Db::compact`.
    live_bytes: u64,
}

impl Run {
    fn add(&mut self, stats: &infinitedb::Stats) {
        self.compactions += stats.compactions;
        self.compaction_bytes_written += stats.compaction_bytes_written;
        self.seals += stats.seals;
        self.write_stalls += stats.write_stalls;
        assert_eq!(stats.compaction_failures, 0, "no compaction failed");
    }
}

/// A policy's own checks of the shape just after an open, the last round written being
/// `round`.
type Check = fn(&Db, SpaceId, &SpaceStats, u32, &Run, &str);

/// `REOPENS` opens of a space under `policy`, each checking the newest values, the shared
/// bounds and `check`, then overwriting every point `ROUNDS` times.
fn run(policy: Retention, check: Check) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let mut run = Run::default();
    let db = Db::open(dir.path(), options()).unwrap();
    let space = db.create_space_with("grid", 2, 8, policy).unwrap();
    write_round(&db, space, 0);
    db.compact(space).unwrap();
    run.live_bytes = db.space_stats(space).unwrap().block_bytes();
    run.add(&db.stats());
    db.close().unwrap();
    let mut round = 0;
    for reopen in 1..=REOPENS {
        let db = Db::open(dir.path(), options()).unwrap();
        let context = format!("{policy:?}, reopen {reopen}");
        assert_eq!(db.retention(space).unwrap(), policy, "{context}");
        let stats = db.space_stats(space).unwrap();
        assert_shape(&stats, &context);
        check(&db, space, &stats, round, &run, &context);
        assert_latest(&db, space, round, &context);
        for _ in 0..ROUNDS {
            round += 1;
            write_round(&db, space, round);
        }
        run.add(&db.stats());
        run.shapes.push(stats);
        db.close().unwrap();
    }
    // Without background compaction the last open's shape stays put: no block file is left
    // behind by 30 opens' compactions.
    let db = Db::open(dir.path(), options().compaction(false)).unwrap();
    assert_latest(&db, space, round, &format!("{policy:?}, last open"));
    let stats = db.space_stats(space).unwrap();
    db.close().unwrap();
    assert_eq!(
        block_files(dir.path()),
        stats.blocks(),
        "{policy:?}: {stats:?}"
    );
    report(policy, &run);
    run
}

fn report(policy: Retention, run: &Run) {
    for (reopen, shape) in run.shapes.iter().enumerate() {
        let levels: Vec<String> = shape
            .levels
            .iter()
            .map(|level| format!("{}/{}/{}", level.blocks, level.records, level.bytes))
            .collect();
        eprintln!(
            "{policy:?} reopen {}: {} blocks, {} records, {} bytes; levels (blocks/records/bytes) {}",
            reopen + 1,
            shape.blocks(),
            shape.block_records(),
            shape.block_bytes(),
            levels.join(" ")
        );
    }
    eprintln!(
        "{policy:?}: live {} bytes, {} seals, {} compactions writing {} bytes, {} write stalls",
        run.live_bytes, run.seals, run.compactions, run.compaction_bytes_written, run.write_stalls
    );
}

/// Under `Latest`: at most one record per point in each level from 1 on.
fn check_latest(_: &Db, _: SpaceId, stats: &SpaceStats, _: u32, run: &Run, context: &str) {
    for (level, shape) in stats.levels.iter().enumerate().skip(1) {
        assert!(
            shape.records <= POINTS,
            "{context}: level {level} holds {} records for {POINTS} points: {stats:?}",
            shape.records
        );
    }
    // Level 0: a block holds what one memtable held, and a memtable never spans an open (the
    // open seals the logs' tail), so at most one open's `ROUNDS × POINTS` writes.
    let level_zero_max = stats.levels[0].blocks as u64 * u64::from(ROUNDS) * POINTS;
    assert!(
        stats.levels[0].records <= level_zero_max,
        "{context}: level 0: {stats:?}"
    );
    let levels_deeper = stats
        .levels
        .iter()
        .skip(1)
        .filter(|level| level.blocks > 0)
        .count() as u64;
    let records_max = levels_deeper * POINTS + level_zero_max;
    // Bytes per record are those of the compacted live data, plus a page of rounding, index
    // and footer per block.
    let bytes_max = records_max * run.live_bytes / POINTS + stats.blocks() as u64 * 8192;
    assert!(
        stats.block_bytes() <= bytes_max,
        "{context}: {} bytes, at most {bytes_max} for {records_max} records: {stats:?}",
        stats.block_bytes()
    );
}

/// Under `All`: the blocks hold every version written, and a point's history all of them.
fn check_all(db: &Db, space: SpaceId, stats: &SpaceStats, round: u32, _: &Run, context: &str) {
    let written = POINTS * u64::from(round + 1);
    assert_eq!(
        (stats.block_records(), stats.live_tail_records),
        (written, 0),
        "{context}: every version written is in a block: {stats:?}"
    );
    assert_eq!(
        db.space_stats(space).unwrap().records(),
        written,
        "{context}"
    );
    let history = db.history(space, &[5, 17]).unwrap();
    let values: Vec<Vec<u8>> = history
        .into_iter()
        .map(|(_, value)| value.unwrap().to_vec())
        .collect();
    let expected: Vec<Vec<u8>> = (0..=round).rev().map(|round| value(round, 5, 17)).collect();
    assert_eq!(values, expected, "{context}: history of 5,17");
}

#[test]
fn latest_stays_within_a_small_multiple_of_the_live_data() {
    // Goal: under `Latest`, 30 reopens of overwrites (60 versions per point) leave the blocks
    // within a small multiple of the live data, every point reading its newest value.
    // Method: the module doc's run; at every open, records and bytes within
    // `(levels in use + L0_TRIGGER × ROUNDS)` copies of the live data.
    let run = run(Retention::Latest, check_latest);
    let most = run
        .shapes
        .iter()
        .map(SpaceStats::block_records)
        .max()
        .unwrap();
    let copies_max = 1 + L0_TRIGGER as u64 * u64::from(ROUNDS);
    assert!(
        most <= copies_max * POINTS,
        "at most {most} records for {POINTS} points"
    );
}

#[test]
fn all_keeps_every_version_in_few_blocks() {
    // Goal: under `All`, 30 reopens of overwrites lose no version while the block count
    // follows the bytes. Method: the module doc's run; at the last open the count is within
    // the level-0 bound plus twice the blocks the bytes of the deeper levels need.
    let run = run(Retention::All, check_all);
    let last = run.shapes.last().unwrap();
    let deeper_bytes: u64 = last.levels.iter().skip(1).map(|level| level.bytes).sum();
    let blocks_max =
        L0_TRIGGER as u64 + 2 * deeper_bytes.div_ceil(BLOCK_TARGET) + last.levels.len() as u64;
    assert!(
        last.blocks() as u64 <= blocks_max,
        "{} blocks, at most {blocks_max}: {last:?}",
        last.blocks()
    );
    assert!(
        last.levels.len() > 2,
        "level 1 overflowed into level 2: {last:?}"
    );
}
