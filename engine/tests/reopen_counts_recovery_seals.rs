//! The block `Db::open` seals from the live tail it recovers is counted in the new open's
//! `Stats::seals` and `Stats::sealed_bytes`, like every other seal, so write amplification
//! summed over opens (`(sealed_bytes + compaction_bytes_written)` over bytes written) sees
//! every block byte written.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failure is a test failure"
)]

mod common;

use common::small_options;
use infinitedb::Db;

#[test]
fn a_recovered_tail_counts_as_a_seal_of_the_open() {
    // Goal: after a close with an unsealed live tail, the reopen's counters show the one
    // block recovery wrote from it, with its exact bytes; a reopen with nothing to recover
    // counts none. Method: 500 puts, close (no flush), reopen with compaction off (nothing
    // else may touch the blocks) and compare the counters with `space_stats`; close and
    // reopen again.
    let dir = tempfile::tempdir().unwrap();
    let options = || small_options().compaction(false);
    let db = Db::open(dir.path(), options()).unwrap();
    let space = db.create_space("tail", 2, 10).unwrap();
    for i in 0..500 {
        db.put(space, [i, i], &[7; 100]).unwrap();
    }
    assert_eq!(db.stats().seals, 0);
    assert_eq!(db.space_stats(space).unwrap().blocks(), 0);
    db.close().unwrap();

    let db = Db::open(dir.path(), options()).unwrap();
    let shape = db.space_stats(space).unwrap();
    assert_eq!((shape.blocks(), shape.block_records()), (1, 500));
    let stats = db.stats();
    assert_eq!(stats.seals, 1, "{stats:?}");
    assert_eq!(stats.sealed_bytes, shape.block_bytes(), "{stats:?}");
    db.close().unwrap();

    let db = Db::open(dir.path(), options()).unwrap();
    let stats = db.stats();
    assert_eq!((stats.seals, stats.sealed_bytes), (0, 0), "{stats:?}");
    db.close().unwrap();
}
