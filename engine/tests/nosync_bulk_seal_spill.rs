//! A `NoSync` bulk load never waits on itself at a seal. Under `NoSync` a batch is in the
//! live tail before its frame is logged, so a seal's switch can freeze records still queued
//! for the log; they go to the next segment, and the seal waits for them to be logged before
//! it writes its block. The segment after that one is the seal's own recycled segment, so
//! if the queued records did not all fit in the next segment, they would wait for the seal
//! and the seal for them, until the seal gave up (and failed) after its wait's bound.
//!
//! Goal: writers of a load that outruns the device, with segments far smaller than the
//! default queue bound, all complete, every seal succeeds on its first attempt, and every
//! record is stored. Method: four writers put 32 batches of 32 records of 4 KiB each (128 KiB
//! a batch, 16 MiB in all: sixteen 1 MiB segments) under `NoSync`, compaction off; a
//! watchdog fails the test if they are not done after five minutes (they take well under a
//! second here); then `sync`, `flush`, and the stats must show no failed seal and every
//! record in a block.

#![allow(clippy::unwrap_used, clippy::panic, reason = "test code")]

mod common;

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use infinitedb::Readable;
use infinitedb::{Batch, Db, Durability};

const WRITERS: u32 = 4;
const BATCHES: u32 = 32;
const RECORDS: u32 = 32;
const VALUE_BYTES: usize = 4096;
const WATCHDOG: Duration = Duration::from_secs(300);

#[test]
fn a_nosync_load_through_small_segments_never_stalls_a_seal() {
    let dir = tempfile::tempdir().unwrap();
    let options = common::small_options()
        .durability(Durability::NoSync)
        .compaction(false);
    let db = Arc::new(Db::open(dir.path(), options).unwrap());
    let space = db.create_space("bulk", 2, 16).unwrap();
    let (done, finished) = mpsc::channel();
    for writer in 0..WRITERS {
        let db = Arc::clone(&db);
        let done = done.clone();
        std::thread::spawn(move || {
            for batch_index in 0..BATCHES {
                let mut batch = Batch::new(space);
                for i in 0..RECORDS {
                    let n = batch_index * RECORDS + i;
                    batch.put([n, writer], &[(n % 251) as u8; VALUE_BYTES]);
                }
                db.write(batch).unwrap();
            }
            done.send(writer).unwrap();
        });
    }
    for _ in 0..WRITERS {
        if finished.recv_timeout(WATCHDOG).is_err() {
            panic!(
                "writers still blocked after {WATCHDOG:?} (or one failed): {:?}",
                db.stats()
            );
        }
    }
    db.sync().unwrap();
    db.flush(space).unwrap();
    let stats = db.stats();
    assert_eq!(
        stats.seal_failures, 0,
        "a seal waited for its own live tail to be logged and gave up: {stats:?}"
    );
    let shape = db.space_stats(space).unwrap();
    let total = u64::from(WRITERS * BATCHES * RECORDS);
    assert_eq!(shape.records(), total, "{shape:?}");
    assert_eq!(shape.live_tail_records, 0, "flushed: {shape:?}");
    let last = BATCHES * RECORDS - 1;
    assert_eq!(
        db.get(space, &[last, WRITERS - 1]).unwrap().unwrap().len(),
        VALUE_BYTES
    );
    drop(finished);
    Arc::into_inner(db).unwrap().close().unwrap();
}
