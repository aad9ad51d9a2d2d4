//! A background compaction whose output block or manifest append fails (EIO, ENOSPC) on the
//! simulated disk: it is counted, retried, and succeeds once the fault passes.
//!
//! Contract checked (`engine/src/compaction/mod.rs`): a failed compaction is counted in
//! `Stats::compaction_failures` and retried on its timer; meanwhile writes and reads go on and
//! nothing is lost; once the fault is gone the retry succeeds; the output files of every
//! failed attempt are removed (a failed block write removes them at once, a failed manifest
//! append after the next successful one), so after the retry, and again after a reopen, the
//! blocks directory holds exactly the blocks the database names. A power loss while the fault
//! holds (failed attempts' outputs possibly on disk) reopens with every acknowledged write
//! and no stray block file.
//!
//! Method: two sealed blocks are written and the database closed; the fault rules are armed,
//! then the database is reopened with a level-0 trigger of 2, so the compaction the open
//! starts is the first to create a block file. An arming rule notes that creation; the fault
//! rule (one operation kind, on block files or on the manifest) fails every matching
//! operation from then on, until it is removed. It fails if a failed compaction went
//! uncounted or unretried, stalled writes, lost a record, or left its outputs behind.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a failure is a test failure"
)]

mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use infinitedb::Readable;
use infinitedb::{Db, Options, SpaceId};
use support::suite_options;
use uring_io::{Fault, OpKind, OpMatch, RuleId, SimStorage, Storage};

/// How long a wait for the compactor may take at most (it retries every 500 ms).
const WAIT_MAX: Duration = Duration::from_secs(30);

fn value_of(index: u32) -> Vec<u8> {
    let mut value = format!("compacted-{index}-").into_bytes();
    value.resize(200, b'v');
    value
}

fn put_all(db: &Db, space: SpaceId, range: std::ops::Range<u32>) {
    for index in range {
        db.put(space, [index, 7], value_of(index)).unwrap();
    }
}

/// Every point of `0..written` reads its value, and a scan finds exactly them.
fn check(db: &Db, space: SpaceId, written: u32, context: &str) {
    for index in 0..written {
        assert_eq!(
            db.get(space, &[index, 7]).unwrap(),
            Some(value_of(index).into()),
            "{context}: point {index}"
        );
    }
    let scanned = db.scan(space).unwrap().count();
    assert_eq!(
        scanned,
        usize::try_from(written).unwrap(),
        "{context}: scan"
    );
}

fn block_files(storage: &dyn Storage) -> usize {
    storage.list_dir(Path::new("/db/blocks")).unwrap().len()
}

/// The blocks directory holds exactly the blocks `db` names.
fn assert_no_stray_blocks(db: &Db, storage: &dyn Storage, space: SpaceId, context: &str) {
    let named = db.space_stats(space).unwrap().blocks();
    assert_eq!(
        block_files(storage),
        named,
        "{context}: block files beyond the {named} the database names"
    );
}

/// Waits until `done` holds, or fails with `what`.
fn wait_until(what: &str, db: &Db, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < WAIT_MAX,
            "{what} never happened: {:?}",
            db.stats()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Options of the reopened database: the open's compaction check merges the two blocks.
fn compacting(options: Options) -> Options {
    options.l0_compaction_trigger(2).block_target_bytes(4096)
}

/// Arms `errno` on every `kind` operation on paths containing `target`, from the first block
/// file created on: returns the arming rule and the fault rule.
fn arm(sim: &SimStorage, kind: OpKind, target: &'static str, errno: i32) -> (RuleId, RuleId) {
    let armed = Arc::new(AtomicBool::new(false));
    let arming = armed.clone();
    let notice = OpMatch::create().path_matches(move |path| {
        if path.to_string_lossy().contains("blk-") {
            arming.store(true, Ordering::Release);
        }
        false
    });
    let notice = sim.faults().on(notice, Fault::Latency(Duration::ZERO));
    let matcher = OpMatch::kind(kind).path_matches(move |path| {
        armed.load(Ordering::Acquire) && path.to_string_lossy().contains(target)
    });
    (notice, sim.faults().on(matcher, Fault::Errno(errno)))
}

/// The scenario for one fault: see the module doc.
fn scenario(kind: OpKind, target: &'static str, errno: i32) {
    let context = format!("{kind:?} on {target} failing with errno {errno}");
    let sim = SimStorage::new(41);
    let storage: Arc<dyn Storage> = Arc::new(sim.clone());
    let options = suite_options().storage(storage.clone());
    let db = Db::open("/db", options.clone()).unwrap();
    let space = db.create_space("compacted", 2, 16).unwrap();
    put_all(&db, space, 0..40);
    db.flush(space).unwrap();
    put_all(&db, space, 40..80);
    db.flush(space).unwrap();
    db.close().unwrap();

    let (notice, rule) = arm(&sim, kind, target, errno);
    let db = Db::open("/db", compacting(options.clone())).unwrap();
    // The first attempt and at least one retry fail.
    wait_until("two failed compactions", &db, || {
        db.stats().compaction_failures >= 2
    });
    assert!(sim.faults().fired(rule) >= 2, "{context}: the fault fired");
    assert_eq!(
        db.stats().compactions,
        0,
        "{context}: nothing compacted yet"
    );
    // Writes and reads go on (no stall while the space's compaction fails).
    put_all(&db, space, 80..120);
    check(&db, space, 120, &format!("{context}, while failing"));
    let during = sim.power_loss(5);

    sim.faults().remove(rule);
    sim.faults().remove(notice);
    wait_until("the retried compaction", &db, || {
        db.stats().compactions >= 1
    });
    let stats = db.space_stats(space).unwrap();
    assert_eq!(
        stats.levels[0].blocks, 0,
        "{context}: level 0 went down: {stats:?}"
    );
    check(&db, space, 120, &format!("{context}, after the retry"));
    // The inputs go once no reader holds them; the failed attempts' outputs are gone by then.
    wait_until(
        "only the named blocks left (inputs deleted, failed outputs removed)",
        &db,
        || block_files(storage.as_ref()) == db.space_stats(space).unwrap().blocks(),
    );
    db.close().unwrap();

    let db = Db::open("/db", compacting(options.clone())).unwrap();
    check(&db, space, 120, &format!("{context}, reopened"));
    assert_no_stray_blocks(
        &db,
        storage.as_ref(),
        space,
        &format!("{context}, reopened"),
    );
    db.close().unwrap();

    let storage: Arc<dyn Storage> = Arc::new(SimStorage::with_disk(during, 5));
    let db = Db::open("/db", suite_options().storage(storage.clone())).unwrap();
    let context = format!("{context}, after a power loss while failing");
    check(&db, space, 120, &context);
    assert_no_stray_blocks(&db, storage.as_ref(), space, &context);
    db.close().unwrap();
}

#[test]
fn enospc_creating_an_output_block_is_retried() {
    // Goal and method: see the module doc; the fault is ENOSPC creating each output block file (a
    // full disk): nothing is written, nothing is left.
    scenario(OpKind::Create, "blk-", libc::ENOSPC);
}

#[test]
fn eio_writing_an_output_block_is_retried() {
    // Goal and method: see the module doc; the fault is EIO on each output block's write: the
    // created file must be removed again.
    scenario(OpKind::Write, "blk-", libc::EIO);
}

#[test]
fn eio_syncing_an_output_block_is_retried() {
    // Goal and method: see the module doc; the fault is EIO on each output block's fsync (the
    // file is poisoned): the file must be removed again.
    scenario(OpKind::Fsync, "blk-", libc::EIO);
}

#[test]
fn enospc_appending_the_manifest_batch_is_retried() {
    // Goal and method: see the module doc; the fault is ENOSPC on the manifest (the append and
    // the rewrite after it): the outputs are whole but unnamed, and go once an append succeeds.
    scenario(OpKind::Write, "MANIFEST", libc::ENOSPC);
}

#[test]
fn eio_syncing_the_manifest_batch_is_retried() {
    // Goal and method: see the module doc; the fault is EIO on the manifest's fsync: the batch
    // may not be durable, so the outputs stay until an append (after a rewrite) succeeds, then
    // go.
    scenario(OpKind::Fsync, "MANIFEST", libc::EIO);
}
