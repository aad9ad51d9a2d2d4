//! Backpressure of a bulk load: under `NoSync` a writer outruns the sealer, and without a
//! bound the live tail grows far past its seal threshold while a seal is in progress, so a
//! block holds many times the records the threshold names. Writers wait once the live tail
//! passes twice a threshold while a seal of the space is in progress.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failure is a test failure"
)]

mod common;

use infinitedb::Readable;
use infinitedb::{Batch, Db, Durability};

#[test]
fn a_bulk_load_keeps_blocks_near_the_seal_threshold() {
    // Goal: the blocks of a fast `NoSync` load hold a few times the seal threshold's records
    // at most, not many times it. Method: four writers put 200,000 records of 100 bytes in
    // batches of 10 with a 1,000-record threshold and compaction off; level 0's records per
    // block must then average at most 8,000.
    let dir = tempfile::tempdir().unwrap();
    let options = common::small_options()
        .segment_bytes(64 * 1024 * 1024)
        .durability(Durability::NoSync)
        .seal_threshold_records(1000)
        .compaction(false);
    let db = Db::open(dir.path(), options).unwrap();
    let space = db.create_space("bulk", 2, 16).unwrap();
    std::thread::scope(|scope| {
        for writer in 0..4_u32 {
            let db = &db;
            scope.spawn(move || {
                for batch_index in 0..5000_u32 {
                    let mut batch = Batch::new(space);
                    for i in 0..10 {
                        let n = batch_index * 10 + i;
                        batch.put([n, writer], &[(n % 251) as u8; 100]);
                    }
                    db.write(batch).unwrap();
                }
            });
        }
    });
    db.sync().unwrap();
    db.flush(space).unwrap();
    let stats = db.space_stats(space).unwrap();
    let level_zero = stats.levels[0];
    assert_eq!(
        level_zero.records + stats.live_tail_records,
        200_000,
        "every record is in a block or the live tail: {stats:?}"
    );
    // Twice the threshold, plus the batches writers queued before the tail reached it, plus
    // what the tail gains between one seal's end and the I/O thread freezing the next, which
    // on a loaded machine (a CI run's other tests, the fallback backend's slower seals) is
    // several batches per writer more: blocks of 4,000-5,300 records were seen there. The
    // bound leaves room for that; without backpressure a block holds tens of thousands.
    let bound: u64 = 8 * 1000;
    assert!(
        level_zero.blocks as u64 >= level_zero.records / bound,
        "{} blocks for {} records: a block held more than {bound} records",
        level_zero.blocks,
        level_zero.records
    );
    assert!(db.get(space, &[12_345, 3]).unwrap().is_some());
    db.close().unwrap();
}
