//! `Db::flush` and `Db::compact` when the write that reached the seal threshold already froze
//! the live tail: the frozen memtable is still on its way to a block, and the active one is
//! empty. `flush` returns only once that earlier seal is durable too (its records are in a
//! block, none in the live tail), and `compact` merges its block with the others.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failure is a test failure"
)]

mod common;

use infinitedb::Readable;
use infinitedb::{Batch, Db, Retention, SpaceId};

/// Records per seal.
const THRESHOLD: u32 = 40;

fn options() -> infinitedb::Options {
    common::small_options()
        .seal_threshold_records(u64::from(THRESHOLD))
        .compaction(false)
}

/// One batch of exactly `THRESHOLD` records, round `round` of points `(0..THRESHOLD, 0)`:
/// it fills the active memtable to the threshold, so the I/O thread freezes it on its own.
fn fill_to_threshold(db: &Db, space: SpaceId, round: u32) {
    let mut batch = Batch::new(space);
    for x in 0..THRESHOLD {
        batch.put([x, 0], format!("{round}-{x}").as_bytes());
    }
    db.write(batch).unwrap();
    // A round trip through the I/O thread: it freezes the full memtable before it answers.
    db.sync().unwrap();
}

#[test]
fn flush_waits_for_a_seal_the_threshold_started() {
    // Goal: after `flush` returns, the space's live tail is empty, even when the write before
    // it froze the tail itself. Method: 20 rounds of one batch of exactly the threshold's
    // records, then `flush`; the live tail is empty and the blocks hold every record written.
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    let space = db.create_space("s", 2, 8).unwrap();
    for round in 0..20 {
        fill_to_threshold(&db, space, round);
        db.flush(space).unwrap();
        let stats = db.space_stats(space).unwrap();
        assert_eq!(
            (stats.live_tail_records, stats.block_records()),
            (0, u64::from((round + 1) * THRESHOLD)),
            "round {round}: flush returned with records still in the live tail: {stats:?}"
        );
    }
    db.close().unwrap();
}

#[test]
fn compact_merges_a_seal_the_threshold_started() {
    // Goal: `Db::compact` applies retention to every record written before it, including
    // those of a memtable the threshold froze just before. Method: under `Latest`, 20 rounds
    // of one batch of exactly the threshold's records, then `compact`: one version per
    // point, no level-0 block, nothing in the live tail.
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    let space = db.create_space_with("s", 2, 8, Retention::Latest).unwrap();
    for round in 0..20 {
        fill_to_threshold(&db, space, round);
        db.compact(space).unwrap();
        let stats = db.space_stats(space).unwrap();
        assert_eq!(
            (
                stats.levels[0].blocks,
                stats.live_tail_records,
                stats.block_records()
            ),
            (0, 0, u64::from(THRESHOLD)),
            "round {round}: {stats:?}"
        );
        assert_eq!(
            db.get(space, &[3, 0]).unwrap(),
            Some(format!("{round}-3").into_bytes().into())
        );
    }
    db.close().unwrap();
}
