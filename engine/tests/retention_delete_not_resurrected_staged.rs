//! A delete that a `Retention::Latest` compaction dropped stays deleted after a reopen, even
//! though an older put of the same point is still in a live staging log.
//!
//! Contract checked (`engine/src/recovery.rs`, `sealed_revisions`): recovery skips log
//! records at or below a space's highest sealed revision, which is the highest revision in
//! its named blocks or its `SpaceSealed` mark, whichever is higher. A bottom compaction under
//! `Latest` drops a point whose newest version is a delete, with every older version, so no
//! block holds the delete's revision any more: only the compaction's `SpaceSealed` mark (the
//! inputs' highest revision) says that the staging log's older put is sealed. Without it the
//! put comes back on the reopen after a clean close, and a power-loss image whose input
//! block files survived fails to open (an unnamed block holding a record found nowhere
//! else): both fail this test.
//!
//! Method: with a zero deadline every group is copied to the staging log. `Q` is put, then
//! `P`, both staged; the staging log's next write fails (EIO), which disables the staged route,
//! so the delete of `P` is acknowledged through its hot segment alone and the staging log keeps
//! `P`'s put but not its delete. `Db::compact` seals and merges: `P` vanishes, `Q` stays (at a
//! revision below `P`'s put). The staging log is checked to still hold `P`'s value (the state
//! is real), then the database is reopened on power-loss images and after a clean close: `P`
//! reads nothing and has no history, `Q` reads its value, in each and on a second reopen.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a failure is a test failure"
)]

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use infinitedb::Readable;
use infinitedb::{Db, Options, Retention, SpaceId};
use support::{suite_options, zero_deadline};
use uring_io::{Fault, OpMatch, SimDisk, SimStorage, Storage};

const P: [u32; 2] = [5, 5];
const Q: [u32; 2] = [1, 1];
const P_VALUE: &[u8] = b"an older put of P that must stay deleted";
const Q_VALUE: &[u8] = b"Q, kept";

fn options(storage: Arc<dyn Storage>) -> Options {
    suite_options()
        .deadline(zero_deadline())
        .compaction(false)
        .storage(storage)
}

/// The staging log files on `disk` that hold `needle`.
fn staging_logs_holding(disk: &SimDisk, needle: &[u8]) -> Vec<PathBuf> {
    disk.paths()
        .into_iter()
        .filter(|path| path.starts_with(Path::new("/db/staging")))
        .filter(|path| {
            disk.file_bytes(path)
                .is_some_and(|bytes| bytes.windows(needle.len()).any(|window| window == needle))
        })
        .collect()
}

/// `P` is gone and `Q` is there, on a reopen of `disk` and on a second one.
fn check_reopened(disk: SimDisk, space: SpaceId, context: &str) {
    let storage: Arc<dyn Storage> = Arc::new(SimStorage::with_disk(disk, 3));
    for round in ["first", "second"] {
        let db = Db::open("/db", options(storage.clone()))
            .unwrap_or_else(|error| panic!("{context}, {round} reopen: {error}"));
        assert_eq!(db.retention(space).unwrap(), Retention::Latest);
        assert_eq!(
            db.get(space, &P).unwrap(),
            None,
            "{context}, {round} reopen: the dropped delete let P's older staged put back"
        );
        assert_eq!(
            db.history(space, &P).unwrap(),
            Vec::new(),
            "{context}, {round} reopen: P has versions again"
        );
        assert_eq!(
            db.get(space, &Q).unwrap().as_deref(),
            Some(Q_VALUE),
            "{context}, {round} reopen"
        );
        assert_eq!(
            db.scan(space).unwrap().count(),
            1,
            "{context}, {round} reopen"
        );
        db.close().unwrap();
    }
}

#[test]
fn a_delete_dropped_by_latest_stays_deleted_over_a_staged_older_put() {
    // Goal and method: see the module doc.
    let sim = SimStorage::new(17);
    let db = Db::open("/db", options(Arc::new(sim.clone()))).unwrap();
    let space = db
        .create_space_with("latest", 2, 8, Retention::Latest)
        .unwrap();
    db.put(space, Q, Q_VALUE).unwrap();
    db.put(space, P, P_VALUE).unwrap();
    assert_eq!(
        db.stats().records_staged,
        2,
        "both puts acknowledged staged"
    );
    let rule = sim.faults().on(
        OpMatch::write().path_contains("stage-").nth(1),
        Fault::Errno(libc::EIO),
    );
    db.delete(space, P).unwrap();
    assert_eq!(sim.faults().fired(rule), 1, "the staging write failed");
    assert_eq!(
        db.stats().records_direct,
        1,
        "the delete was acknowledged through its hot segment alone: {:?}",
        db.stats()
    );
    db.compact(space).unwrap();
    assert_eq!(db.get(space, &P).unwrap(), None);
    assert_eq!(
        db.space_stats(space).unwrap().block_records(),
        1,
        "the compaction dropped P's put and delete, and kept Q"
    );
    let disk = sim.disk();
    assert_eq!(
        staging_logs_holding(&disk, P_VALUE).len(),
        1,
        "a staging log still holds P's older put"
    );
    for seed in 0..4 {
        check_reopened(
            sim.power_loss(seed),
            space,
            &format!("power loss {seed} after the compaction"),
        );
    }
    db.close().unwrap();
    let disk = sim.disk();
    if staging_logs_holding(&disk, P_VALUE).is_empty() {
        println!("the clean close removed or recycled the staging log");
    }
    check_reopened(disk, space, "after a clean close");
}
