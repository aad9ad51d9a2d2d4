//! `EIO` injected on the simulated disk, on a hot segment's write, on its fsync, on block
//! reads and on the staging log (docs/design.md §3 "Faults").
//!
//! Contract checked: the failed group's writers get an error (never `Ok`), the failed
//! segment is never trusted again (later writes succeed on another), reads go on, and after
//! a power loss every acknowledged write is there. A failed write's outcome is unknown: after
//! a crash its point holds nothing or exactly its value. Every write goes to its own point,
//! so the check needs no ordering between known and unknown writes.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a failure is a test failure"
)]

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use infinitedb::Readable;
use infinitedb::{Db, Error, Options, SpaceId};
use support::{suite_options, zero_deadline};
use uring_io::{Fault, OpMatch, SimStorage, Storage};

const EIO: i32 = 5;

/// Acknowledged points with their values, and points whose write failed.
#[derive(Default)]
struct Outcomes {
    acknowledged: BTreeMap<u32, Vec<u8>>,
    failed: BTreeMap<u32, Vec<u8>>,
}

fn value_of(index: u32) -> Vec<u8> {
    format!(
        "eio-{index}-{}",
        "v".repeat(usize::try_from(index % 50).unwrap())
    )
    .into_bytes()
}

/// Puts points `range` concurrently from `writers` threads, sorting outcomes.
fn put_range(
    db: &Db,
    space: SpaceId,
    range: std::ops::Range<u32>,
    writers: u32,
    outcomes: &mut Outcomes,
) {
    let results: Vec<(u32, Result<(), Error>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..writers)
            .map(|writer| {
                let range = range.clone();
                scope.spawn(move || {
                    range
                        .filter(|index| index % writers == writer)
                        .map(|index| {
                            (
                                index,
                                db.put(space, [index, 0], value_of(index)).map(|_| ()),
                            )
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().unwrap())
            .collect()
    });
    for (index, result) in results {
        match result {
            Ok(()) => {
                outcomes.acknowledged.insert(index, value_of(index));
            }
            Err(Error::WriteFailed { .. } | Error::Io { .. } | Error::Poisoned { .. }) => {
                outcomes.failed.insert(index, value_of(index));
            }
            Err(other) => panic!("point {index}: unexpected error kind {other:?}"),
        }
    }
}

/// Every acknowledged point holds its value; every failed point nothing or its value.
fn check(db: &Db, space: SpaceId, outcomes: &Outcomes, context: &str) {
    for (index, value) in &outcomes.acknowledged {
        assert_eq!(
            db.get(space, &[*index, 0]).unwrap().as_deref(),
            Some(value.as_slice()),
            "{context}: acknowledged {index} lost"
        );
    }
    for (index, value) in &outcomes.failed {
        let found = db.get(space, &[*index, 0]).unwrap();
        assert!(
            found.is_none() || found.as_deref() == Some(value.as_slice()),
            "{context}: failed write {index} came back wrong"
        );
    }
}

/// Closes `db`, cuts the power on `sim` with several seeds and checks each reopening.
fn power_loss_and_check(
    db: Db,
    sim: &SimStorage,
    options: &Options,
    space: SpaceId,
    outcomes: &Outcomes,
    context: &str,
) {
    db.close().unwrap();
    for seed in 0..4 {
        let storage: Arc<dyn Storage> = Arc::new(SimStorage::with_disk(sim.power_loss(seed), seed));
        let db = Db::open("/db", options.clone().storage(storage))
            .unwrap_or_else(|error| panic!("{context} seed {seed}: reopen failed: {error}"));
        check(
            &db,
            space,
            outcomes,
            &format!("{context} after power loss {seed}"),
        );
        db.close().unwrap();
    }
}

/// The shared scenario: 40 good puts, a fault rule, 40 puts under it, 40 after it.
fn scenario(context: &str, options: Options, matcher: OpMatch) -> (Outcomes, u64) {
    let sim = SimStorage::new(11);
    let db = Db::open("/db", options.clone().storage(Arc::new(sim.clone()))).unwrap();
    let space = db.create_space("eio", 2, 16).unwrap();
    let mut outcomes = Outcomes::default();
    put_range(&db, space, 0..40, 4, &mut outcomes);
    assert!(
        outcomes.failed.is_empty(),
        "{context}: failures before the fault"
    );
    let rule = sim.faults().on(matcher, Fault::Errno(EIO));
    put_range(&db, space, 40..80, 4, &mut outcomes);
    let fired = sim.faults().fired(rule);
    sim.faults().remove(rule);
    put_range(&db, space, 80..120, 4, &mut outcomes);
    let late_failures = outcomes.failed.keys().filter(|index| **index >= 80).count();
    assert_eq!(
        late_failures,
        0,
        "{context}: writes after the fault still fail: {:?}",
        db.stats()
    );
    check(&db, space, &outcomes, context);
    db.flush(space).unwrap();
    check(&db, space, &outcomes, &format!("{context} after flush"));
    power_loss_and_check(db, &sim, &options, space, &outcomes, context);
    (outcomes, fired)
}

#[test]
fn eio_on_a_hot_segment_fsync_fails_its_group_only() {
    // Goal: a failed fsync fails exactly its group's writers, the segment is abandoned, and
    // nothing acknowledged is lost. Method: `scenario` with EIO on the 3rd hot-segment fsync
    // after the rule is set, four concurrent writers.
    let matcher = OpMatch::fsync().path_contains("seg-").nth(3);
    let (outcomes, fired) = scenario("fsync EIO", suite_options(), matcher);
    assert_eq!(fired, 1);
    assert!(
        !outcomes.failed.is_empty(),
        "the failed group's writers must get an error"
    );
}

#[test]
fn eio_on_a_hot_segment_write_fails_its_group_only() {
    // Goal: as above for the write step of the chain. Method: EIO on the 2nd hot-segment
    // write after the rule is set.
    let matcher = OpMatch::write().path_contains("seg-").nth(2);
    let (outcomes, fired) = scenario("write EIO", suite_options(), matcher);
    assert_eq!(fired, 1);
    assert!(
        !outcomes.failed.is_empty(),
        "the failed group's writers must get an error"
    );
}

#[test]
fn eio_on_the_staging_log_keeps_the_direct_route() {
    // Goal: a failing staging log does not lose or falsely acknowledge writes when every
    // group is hedged. Method: deadline zero (every group goes staged too); EIO on the 2nd
    // staging fsync; the hot segment is healthy, so its copy may still acknowledge.
    let matcher = OpMatch::fsync().path_contains("stage-").nth(2);
    let (outcomes, fired) = scenario(
        "staging EIO",
        suite_options().deadline(zero_deadline()),
        matcher,
    );
    assert_eq!(fired, 1);
    println!(
        "staging EIO: {} acknowledged, {} failed",
        outcomes.acknowledged.len(),
        outcomes.failed.len()
    );
}

#[test]
fn eio_on_block_reads_fails_the_read_and_reads_resume() {
    // Goal: a read error is an error (never a wrong or missing value, never a panic), and
    // reads work again once the device does. Method: 200 puts, flush to a block, reopen (a
    // cold cache), EIO on every block read: each get is Ok(correct) or Err(Io); remove the
    // rule: every get is correct.
    let sim = SimStorage::new(12);
    let storage: Arc<dyn Storage> = Arc::new(sim.clone());
    let db = Db::open("/db", suite_options().storage(storage.clone())).unwrap();
    let space = db.create_space("eio", 2, 16).unwrap();
    let mut outcomes = Outcomes::default();
    put_range(&db, space, 0..200, 2, &mut outcomes);
    db.flush(space).unwrap();
    db.close().unwrap();
    let db = Db::open("/db", suite_options().storage(storage)).unwrap();
    let rule = sim
        .faults()
        .on(OpMatch::read().path_contains("blk-"), Fault::Errno(EIO));
    let mut errors = 0;
    for (index, value) in &outcomes.acknowledged {
        match db.get(space, &[*index, 0]) {
            Ok(found) => assert_eq!(
                found.as_deref(),
                Some(value.as_slice()),
                "point {index} wrong under read EIO"
            ),
            Err(Error::Io { .. } | Error::Corruption { .. }) => errors += 1,
            Err(other) => panic!("point {index}: unexpected error {other:?}"),
        }
    }
    println!(
        "block read EIO: {errors} of {} gets failed, rule fired {} times",
        outcomes.acknowledged.len(),
        sim.faults().fired(rule)
    );
    assert!(
        errors > 0 || sim.faults().fired(rule) == 0,
        "reads hit the fault but no get failed"
    );
    sim.faults().remove(rule);
    check(&db, space, &outcomes, "after read EIO");
    db.close().unwrap();
}

#[test]
fn eio_during_recovery_fails_the_open_and_a_later_open_succeeds() {
    // Goal: an I/O error while opening fails the open with an error, never opens empty or
    // partial, and the files stay usable. Method: 60 puts without a seal, close; for each
    // n in a range, fail the n-th read of the open with EIO; then open without faults.
    let sim = SimStorage::new(13);
    let storage: Arc<dyn Storage> = Arc::new(sim.clone());
    let db = Db::open("/db", suite_options().storage(storage.clone())).unwrap();
    let space = db.create_space("eio", 2, 16).unwrap();
    let mut outcomes = Outcomes::default();
    put_range(&db, space, 0..60, 1, &mut outcomes);
    db.close().unwrap();
    let mut failed_opens = 0;
    for nth in 1..6 {
        let rule = sim.faults().on(OpMatch::read().nth(nth), Fault::Errno(EIO));
        match Db::open("/db", suite_options().storage(storage.clone())) {
            Ok(db) => {
                check(
                    &db,
                    space,
                    &outcomes,
                    &format!("open with read {nth} failing"),
                );
                db.close().unwrap();
            }
            Err(_) => failed_opens += 1,
        }
        sim.faults().remove(rule);
    }
    assert!(failed_opens > 0, "no read of the open was ever hit");
    let db = Db::open("/db", suite_options().storage(storage)).unwrap();
    check(&db, space, &outcomes, "open after read faults");
    db.close().unwrap();
}
