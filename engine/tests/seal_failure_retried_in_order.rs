//! A seal that fails (EIO on its block write) and later seals that succeed (docs/design.md §6
//! "Seal").
//!
//! Contract checked: recovery skips log records at or below a space's highest sealed revision,
//! so a newer block must never become durable while an older frozen memtable is unsealed. The
//! failed seal is retried first, in order; the `flush` that hit the fault gets an error, later
//! flushes succeed, reads never stop, and after a power loss every acknowledged write is there.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a failure is a test failure"
)]

mod support;

use std::sync::Arc;

use infinitedb::Readable;
use infinitedb::{Db, Error, SpaceId};
use support::suite_options;
use uring_io::{Fault, OpMatch, SimStorage, Storage};

const EIO: i32 = 5;

fn value_of(index: u32) -> Vec<u8> {
    format!("seal-{index}").into_bytes()
}

fn put_all(db: &Db, space: SpaceId, range: std::ops::Range<u32>) {
    for index in range {
        db.put(space, [index, 1], value_of(index)).unwrap();
    }
}

fn check(db: &Db, space: SpaceId, acknowledged: u32, context: &str) {
    for index in 0..acknowledged {
        assert_eq!(
            db.get(space, &[index, 1]).unwrap(),
            Some(value_of(index).into()),
            "{context}: point {index}"
        );
    }
}

#[test]
fn a_failed_seal_is_retried_before_later_ones_and_nothing_is_lost() {
    // Goal: no acknowledged write is lost when a seal fails and later seals succeed.
    // Method: 50 puts; EIO on the first block-file write; flush (fails); 50 puts; flush
    // (succeeds, after the failed seal is retried first); 50 puts; flush; power loss with
    // several seeds; reopen and read all 150 points.
    let sim = SimStorage::new(23);
    let options = suite_options();
    let db = Db::open("/db", options.clone().storage(Arc::new(sim.clone()))).unwrap();
    let space = db.create_space("seal", 2, 16).unwrap();
    put_all(&db, space, 0..50);
    let rule = sim.faults().on(
        OpMatch::write().path_contains("blk-").nth(1),
        Fault::Errno(EIO),
    );
    let failed = db.flush(space);
    assert!(
        matches!(failed, Err(Error::WriteFailed { .. } | Error::Io { .. })),
        "a flush whose block write failed must fail: {failed:?}"
    );
    assert_eq!(sim.faults().fired(rule), 1, "the fault must have fired");
    sim.faults().remove(rule);
    check(&db, space, 50, "reads after the failed seal");
    put_all(&db, space, 50..100);
    db.flush(space).unwrap();
    put_all(&db, space, 100..150);
    db.flush(space).unwrap();
    check(&db, space, 150, "after the later seals");
    assert!(
        db.stats().seals >= 3,
        "the failed seal and the two later ones must all be done: {:?}",
        db.stats()
    );
    db.close().unwrap();
    for seed in 0..4 {
        let storage: Arc<dyn Storage> = Arc::new(SimStorage::with_disk(sim.power_loss(seed), seed));
        let db = Db::open("/db", options.clone().storage(storage))
            .unwrap_or_else(|error| panic!("seed {seed}: reopen failed: {error}"));
        check(&db, space, 150, &format!("after power loss {seed}"));
        db.close().unwrap();
    }
}

#[test]
fn a_failed_seal_is_retried_on_its_own_once_the_fault_passes() {
    // Goal: a failed seal does not wait for a later seal or spare request to be retried: its
    // frozen memtable leaves memory once the device works again.
    // Method: 30 puts; EIO on the first block write; flush (fails, no seal done); remove the
    // fault; with no further write or flush, wait (up to 20 s, the sealer retries every
    // 500 ms) for the seal count to reach 1; then power loss and reopen: all 30 points read.
    let sim = SimStorage::new(29);
    let options = suite_options();
    let db = Db::open("/db", options.clone().storage(Arc::new(sim.clone()))).unwrap();
    let space = db.create_space("seal", 2, 16).unwrap();
    put_all(&db, space, 0..30);
    let rule = sim.faults().on(
        OpMatch::write().path_contains("blk-").nth(1),
        Fault::Errno(EIO),
    );
    assert!(db.flush(space).is_err(), "the flush hit the block fault");
    assert_eq!(db.stats().seals, 0, "the failed seal is not counted");
    sim.faults().remove(rule);
    let started = std::time::Instant::now();
    while db.stats().seals == 0 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "the failed seal was never retried on its own: {:?}",
            db.stats()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    check(&db, space, 30, "after the retried seal");
    let storage: Arc<dyn Storage> = Arc::new(SimStorage::with_disk(sim.power_loss(3), 3));
    drop(db);
    let db = Db::open("/db", options.storage(storage)).unwrap();
    check(&db, space, 30, "after power loss");
    db.close().unwrap();
}
