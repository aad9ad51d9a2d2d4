//! Writes in flight as [`Pending`] handles (`Db::submit`), per-write durability
//! (`WriteOptions`) and `Db::wait_durable`, on real files.
//!
//! Contract checked: a handle resolves to its write's revision under a real executor (tokio)
//! and under a hand-polled one whose waker the engine must call; revisions of one thread's
//! submissions rise in submission order; a dropped handle cancels nothing; thousands of
//! submissions in flight under a small queue bound all resolve; `NoSync` and `Sync` writes
//! mix in one database (each visible when it returns, each durable after `wait_durable`); a
//! write failure reaches every handle it affects with its typed cause; async submissions
//! (`Db::submit_async`) wait for room as pending futures, not by blocking their thread, and
//! thousands of them on one runtime thread under a small queue bound all resolve.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failure is a test failure"
)]

mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use infinitedb::{
    Batch, Db, Durability, Error, Options, Pending, Readable, Revision, SpaceId, WriteOptions,
};
use support::suite_options;
use uring_io::{Fault, OpMatch, SimStorage};

fn value_of(index: u32) -> Vec<u8> {
    format!("submitted-{index}").into_bytes()
}

fn batch_of(space: SpaceId, index: u32) -> Batch {
    let mut batch = Batch::new(space);
    batch.put([index, index % 7], value_of(index));
    batch
}

/// Every point `0..count` holds its value.
fn check_all(db: &impl Readable, space: SpaceId, count: u32, context: &str) {
    for index in 0..count {
        assert_eq!(
            db.get(space, &[index, index % 7]).unwrap().as_deref(),
            Some(value_of(index).as_slice()),
            "{context}: point {index}"
        );
    }
}

/// A waker that counts its wakes and unparks the polling thread.
struct CountingWaker {
    wakes: AtomicUsize,
    thread: std::thread::Thread,
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        self.thread.unpark();
    }
}

#[test]
fn hand_polled_handles_are_woken_by_the_engine() {
    // Goal: a handle is a future whose waker the engine calls: a poll that returns Pending is
    // followed by a wake, never by silence. Method: submit 300 writes, poll every handle with
    // a counting waker, park until woken while any is pending (a park without a wake would
    // hang: the timeout only bounds a broken run), check each revision and that every handle
    // found pending was woken at least once.
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let space = db.create_space("polled", 2, 16).unwrap();
    let waker_state = Arc::new(CountingWaker {
        wakes: AtomicUsize::new(0),
        thread: std::thread::current(),
    });
    let waker = Waker::from(waker_state.clone());
    let mut cx = Context::from_waker(&waker);
    let mut handles: Vec<Option<Pending<Revision>>> = (0..300)
        .map(|index| Some(db.submit(batch_of(space, index)).unwrap()))
        .collect();
    let mut revisions = vec![None; handles.len()];
    let mut pending_seen = 0_usize;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while revisions.iter().any(Option::is_none) {
        for (slot, revision) in handles.iter_mut().zip(revisions.iter_mut()) {
            let Some(handle) = slot else { continue };
            match Pin::new(handle).poll(&mut cx) {
                Poll::Ready(result) => {
                    *revision = Some(result.unwrap());
                    *slot = None;
                }
                Poll::Pending => pending_seen += 1,
            }
        }
        if revisions.iter().any(Option::is_none) {
            assert!(
                std::time::Instant::now() < deadline,
                "a handle was never woken"
            );
            std::thread::park_timeout(std::time::Duration::from_secs(1));
        }
    }
    let revisions: Vec<Revision> = revisions.into_iter().map(Option::unwrap).collect();
    assert!(
        revisions.windows(2).all(|pair| pair[0] < pair[1]),
        "one thread's submissions are sequenced in order"
    );
    if pending_seen > 0 {
        assert!(
            waker_state.wakes.load(Ordering::SeqCst) > 0,
            "{pending_seen} polls were pending and no wake came"
        );
    }
    check_all(&db, space, 300, "hand-polled");
    db.close().unwrap();
}

#[test]
fn handles_resolve_under_a_tokio_runtime() {
    // Goal: handles work as futures under a real executor, many in flight from few threads.
    // Method: a 2-thread tokio runtime runs 64 tasks, each submitting 40 writes and awaiting
    // each; every write's value is read back and the 2,560 revisions are distinct.
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(dir.path(), Options::default()).unwrap());
    let space = db.create_space("tokio", 2, 16).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let revisions: Vec<Revision> = runtime.block_on(async {
        let tasks: Vec<_> = (0..64_u32)
            .map(|task| {
                let db = db.clone();
                tokio::spawn(async move {
                    let mut revisions = Vec::new();
                    for step in 0..40 {
                        let pending = db.submit(batch_of(space, task * 40 + step)).unwrap();
                        revisions.push(pending.await.unwrap());
                    }
                    revisions
                })
            })
            .collect();
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.unwrap());
        }
        all
    });
    let mut distinct = revisions.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 64 * 40, "every write has its own revision");
    check_all(&*db, space, 64 * 40, "tokio");
    Arc::into_inner(db).unwrap().close().unwrap();
}

#[test]
fn dropped_handles_cancel_nothing() {
    // Goal: dropping a handle does not cancel its write. Method: submit 500 writes and drop
    // every handle at once; `sync`, close, reopen: every write is there.
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let space = db.create_space("dropped", 2, 16).unwrap();
    for index in 0..500 {
        drop(db.submit(batch_of(space, index)).unwrap());
    }
    db.sync().unwrap();
    check_all(&db, space, 500, "before reopen");
    db.close().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    check_all(&db, space, 500, "after reopen");
    db.close().unwrap();
}

#[test]
fn thousands_in_flight_under_a_small_queue_bound_all_resolve() {
    // Goal: backpressure holds with submissions in flight: a full queue makes `submit` wait
    // for room, and every submission still resolves. Method: a 64 KiB queue bound (a few
    // dozen writes), 5,000 submissions from one thread keeping every handle, then all
    // waited; revisions rise in submission order and every value reads back.
    let dir = tempfile::tempdir().unwrap();
    let options = Options::default()
        .value_bytes_max(1024)
        .queue_bytes_max(64 * 1024);
    let db = Db::open(dir.path(), options).unwrap();
    let space = db.create_space("bounded", 2, 16).unwrap();
    let handles: Vec<Pending<Revision>> = (0..5_000)
        .map(|index| db.submit(batch_of(space, index)).unwrap())
        .collect();
    let revisions: Vec<Revision> = handles
        .into_iter()
        .map(|handle| handle.wait().unwrap())
        .collect();
    assert!(revisions.windows(2).all(|pair| pair[0] < pair[1]));
    check_all(&db, space, 5_000, "bounded");
    db.close().unwrap();
}

#[test]
fn sync_and_nosync_writes_mix_in_one_database() {
    // Goal: per-write durability: in a `Sync` database, `NoSync` writes return visible and
    // become durable by `wait_durable`; in a `NoSync` database a `Sync` write is durable
    // when it returns. Method: interleave both kinds in two spaces of each database, read
    // each write right after it returns, `wait_durable` the last, cut the power on a
    // simulated disk and reopen: every write at or below the waited revision is there.
    for default in [Durability::Sync, Durability::NoSync] {
        let sim = SimStorage::new(5);
        let options = suite_options().durability(default);
        let db = Db::open("/db", options.clone().storage(Arc::new(sim.clone()))).unwrap();
        let spaces = [
            db.create_space("a", 2, 16).unwrap(),
            db.create_space("b", 2, 16).unwrap(),
        ];
        let mut last = Revision(0);
        for index in 0..400_u32 {
            let space = spaces[usize::try_from(index % 2).unwrap()];
            let durability = if index % 3 == 0 {
                Durability::Sync
            } else {
                Durability::NoSync
            };
            let write = WriteOptions::default().durability(durability);
            last = db.write_with(batch_of(space, index), &write).unwrap();
            assert_eq!(
                db.get(space, &[index, index % 7]).unwrap().as_deref(),
                Some(value_of(index).as_slice()),
                "{default:?}: write {index} ({durability:?}) not visible when it returned"
            );
        }
        db.wait_durable(last).unwrap();
        let disk = sim.power_loss(17);
        drop(db);
        let db = Db::open(
            "/db",
            options.storage(Arc::new(SimStorage::with_disk(disk, 0))),
        )
        .unwrap();
        for index in 0..400_u32 {
            let space = spaces[usize::try_from(index % 2).unwrap()];
            assert_eq!(
                db.get(space, &[index, index % 7]).unwrap().as_deref(),
                Some(value_of(index).as_slice()),
                "{default:?}: write {index} lost after wait_durable and a power loss"
            );
        }
        db.close().unwrap();
    }
}

#[test]
fn a_sync_write_in_a_nosync_database_survives_a_power_loss_on_return() {
    // Goal: a `Sync` write (and, per space, every write before it) is durable when it
    // returns, whatever the database's default. Method: a `NoSync` database; 50 `NoSync`
    // writes then one `Sync` write; power cut right after it returns; all 51 are there.
    let sim = SimStorage::new(9);
    let options = suite_options().durability(Durability::NoSync);
    let db = Db::open("/db", options.clone().storage(Arc::new(sim.clone()))).unwrap();
    let space = db.create_space("mixed", 2, 16).unwrap();
    for index in 0..50 {
        db.write(batch_of(space, index)).unwrap();
    }
    let sync = WriteOptions::default().durability(Durability::Sync);
    db.write_with(batch_of(space, 50), &sync).unwrap();
    let disk = sim.power_loss(3);
    drop(db);
    let db = Db::open(
        "/db",
        options.storage(Arc::new(SimStorage::with_disk(disk, 0))),
    )
    .unwrap();
    check_all(&db, space, 51, "after the power loss");
    db.close().unwrap();
}

#[test]
fn wait_durable_refuses_a_revision_not_assigned_yet() {
    // Goal: a barrier above the last revision is an input error, not a wait for ever.
    // Method: one write, then `wait_durable` of the next revision.
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let space = db.create_space("points", 2, 16).unwrap();
    let revision = db.put(space, [1, 1], b"a").unwrap();
    db.wait_durable(revision).unwrap();
    let error = db.wait_durable(Revision(revision.0 + 1)).unwrap_err();
    assert!(
        matches!(
            error,
            Error::InvalidOption {
                name: "revision",
                ..
            }
        ),
        "{error:?}"
    );
    db.close().unwrap();
}

#[test]
fn a_failed_group_reaches_every_handle_with_its_cause() {
    // Goal: a write failure is delivered to every handle of the failed group, with the
    // device's errno as its typed cause, and later submissions succeed on a new segment.
    // Method: simulated disk, no staged route; EIO on the next hot-segment fsync; submit
    // 64 writes at once (one or a few groups); every handle resolves, those that failed
    // carry `WriteFailed` with errno 5, at least one failed, and 64 more all succeed.
    let sim = SimStorage::new(21);
    let db = Db::open("/db", suite_options().storage(Arc::new(sim.clone()))).unwrap();
    let space = db.create_space("failing", 2, 16).unwrap();
    db.put(space, [0, 0], b"before").unwrap();
    let rule = sim.faults().on(
        OpMatch::fsync().path_contains("seg-").nth(1),
        Fault::Errno(5),
    );
    let handles: Vec<Pending<Revision>> = (1..=64)
        .map(|index| db.submit(batch_of(space, index)).unwrap())
        .collect();
    let mut failed = 0;
    for handle in handles {
        match handle.wait() {
            Ok(_) => {}
            Err(error @ Error::WriteFailed { .. }) => {
                assert_eq!(error.raw_os_error(), Some(5), "{error:?}");
                failed += 1;
            }
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    assert_eq!(sim.faults().fired(rule), 1);
    assert!(failed > 0, "the failed fsync's group got no error");
    sim.faults().remove(rule);
    let later: Vec<Pending<Revision>> = (100..164)
        .map(|index| db.submit(batch_of(space, index)).unwrap())
        .collect();
    for handle in later {
        handle.wait().unwrap();
    }
    db.close().unwrap();
}

/// The state a submission's `Debug` shows.
fn state_of(submission: &infinitedb::Submission<'_>) -> String {
    format!("{submission:?}")
}

#[test]
fn async_submissions_wait_for_room_without_blocking_the_thread() {
    // Goal: under backpressure an async submission is pending, not blocking its thread, and
    // is woken when room frees. Method: a queue bound of about two writes and hot-segment
    // flushes slowed by 300 ms on the simulated disk; one thread polls 12 submissions once
    // each: some are queued and the rest are still waiting for room when that round ends (a
    // poll that blocked for room would have queued each in turn). Then it polls them all to
    // completion, parking until woken, and checks every write and that wakes came.
    let sim = SimStorage::new(11);
    sim.faults().on(
        OpMatch::fsync().path_contains("seg-"),
        Fault::Latency(std::time::Duration::from_millis(300)),
    );
    let options = suite_options()
        .storage(Arc::new(sim.clone()))
        .queue_bytes_max(20 * 1024);
    let db = Db::open("/db", options).unwrap();
    let space = db.create_space("room", 2, 16).unwrap();
    let waker_state = Arc::new(CountingWaker {
        wakes: AtomicUsize::new(0),
        thread: std::thread::current(),
    });
    let waker = Waker::from(waker_state.clone());
    let mut cx = Context::from_waker(&waker);
    let value = |index: u32| vec![u8::try_from(index).unwrap(); 8 * 1024];
    let mut submissions: Vec<Option<infinitedb::Submission<'_>>> = (0..12_u32)
        .map(|index| {
            let mut batch = Batch::new(space);
            batch.put([index, 1], value(index));
            Some(db.submit_async(batch, &WriteOptions::default()).unwrap())
        })
        .collect();
    let mut revisions: Vec<Option<Revision>> = vec![None; submissions.len()];
    for (slot, revision) in submissions.iter_mut().zip(revisions.iter_mut()) {
        let submission = slot.as_mut().unwrap();
        if let Poll::Ready(result) = Pin::new(submission).poll(&mut cx) {
            *revision = Some(result.unwrap());
            *slot = None;
        }
    }
    let waiting = submissions
        .iter()
        .flatten()
        .filter(|submission| state_of(submission).contains("waiting for room"))
        .count();
    assert!(
        waiting > 0,
        "after one round every submission had room: a poll blocked until it had"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while revisions.iter().any(Option::is_none) {
        for (slot, revision) in submissions.iter_mut().zip(revisions.iter_mut()) {
            let Some(submission) = slot else { continue };
            if let Poll::Ready(result) = Pin::new(submission).poll(&mut cx) {
                *revision = Some(result.unwrap());
                *slot = None;
            }
        }
        if revisions.iter().any(Option::is_none) {
            assert!(
                std::time::Instant::now() < deadline,
                "a submission was never woken"
            );
            std::thread::park_timeout(std::time::Duration::from_secs(1));
        }
    }
    assert!(waker_state.wakes.load(Ordering::SeqCst) > 0, "no wake came");
    for index in 0..12_u32 {
        assert_eq!(
            db.get(space, &[index, 1]).unwrap().as_deref(),
            Some(value(index).as_slice()),
            "write {index}"
        );
    }
    db.close().unwrap();
}

#[test]
fn async_submissions_on_one_tokio_thread_all_resolve() {
    // Goal: many async submissions from a single-threaded runtime, under a queue bound far
    // below what is in flight, all resolve (no task blocks the runtime's one thread, so
    // none waits for a task that cannot run). Method: a current-thread tokio runtime spawns
    // 2,000 tasks, each submitting one 4 KiB write through `submit_async` and awaiting it;
    // every value is read back and the revisions are distinct.
    let dir = tempfile::tempdir().unwrap();
    let options = suite_options().queue_bytes_max(64 * 1024);
    let db = Arc::new(Db::open(dir.path(), options).unwrap());
    let space = db.create_space("one-thread", 2, 16).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let count = 2_000_u32;
    let mut revisions: Vec<Revision> = runtime.block_on(async {
        let tasks: Vec<_> = (0..count)
            .map(|index| {
                let db = db.clone();
                tokio::spawn(async move {
                    let mut batch = Batch::new(space);
                    batch.put([index, 2], vec![7_u8; 4096]);
                    db.submit_async(batch, &WriteOptions::default())
                        .unwrap()
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut revisions = Vec::new();
        for task in tasks {
            revisions.push(task.await.unwrap());
        }
        revisions
    });
    revisions.sort_unstable();
    revisions.dedup();
    assert_eq!(revisions.len(), count as usize, "distinct revisions");
    for index in 0..count {
        assert_eq!(
            db.get(space, &[index, 2]).unwrap().as_deref(),
            Some(&[7_u8; 4096][..]),
            "write {index}"
        );
    }
}
