//! The I/O thread alone commits every write, sleeping on its doorbell whenever it is idle
//! (`io_thread::driver`). These tests check that no command is stranded while writers, `sync`
//! and `flush` keep waking it from idle, and that a lone writer whose chain stalls past its
//! deadline gets a bounded answer from the staged copy and loses nothing.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a failure is a test failure"
)]

mod support;

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use infinitedb::Readable;
use infinitedb::{Db, Revision, SpaceId};
use support::model::{History, assert_disk_holds_all};
use support::suite_options;
use uring_io::{Fault, OpMatch, SimStorage};

/// How long a scenario may take before it is declared stuck (a stranded command hangs).
const STUCK_AFTER: Duration = Duration::from_secs(120);

/// Runs `body` on a thread and fails the test if it has not finished within `STUCK_AFTER`.
fn within_limit<T: Send + 'static>(what: &str, body: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(body());
    });
    match finished.recv_timeout(STUCK_AFTER) {
        Ok(value) => value,
        Err(_) => panic!("{what}: no answer within {STUCK_AFTER:?}: a command was stranded"),
    }
}

#[test]
fn writers_syncs_and_flushes_that_come_and_go_never_strand_a_command() {
    // Goal: no command is left unseen while the I/O thread keeps going idle (spinning, then
    // parking) and being woken. Method: 6 writers on 3 spaces put with pauses of 0–300 µs
    // (the engine goes idle and busy over and over), a seventh thread calls `sync` and
    // `flush` in between; everything must finish within the limit, every write must be
    // readable, and revisions distinct.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let (writers, puts) = (6_u32, 300_u32);
    let (db, spaces, mut revisions) = within_limit("writers, syncs and flushes", move || {
        let db = Arc::new(Db::open(&path, suite_options()).unwrap());
        let spaces: Vec<SpaceId> = (0..3)
            .map(|index| db.create_space(&format!("churn-{index}"), 2, 16).unwrap())
            .collect();
        let mut handles = Vec::new();
        for writer in 0..writers {
            let db = db.clone();
            let space = spaces[usize::try_from(writer).unwrap() % spaces.len()];
            handles.push(std::thread::spawn(move || {
                let mut revisions = Vec::new();
                for index in 0..puts {
                    let pause = u64::from((writer * 7919 + index * 104_729) % 300);
                    std::thread::sleep(Duration::from_micros(pause));
                    revisions.push(db.put(space, [writer, index], &[7; 48]).unwrap());
                }
                revisions
            }));
        }
        let barrier = {
            let (db, spaces) = (db.clone(), spaces.clone());
            std::thread::spawn(move || {
                for round in 0..40 {
                    db.sync().unwrap();
                    if round % 10 == 9 {
                        db.flush(spaces[round % spaces.len()]).unwrap();
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
        };
        let mut revisions: Vec<Revision> = handles
            .into_iter()
            .flat_map(|handle| handle.join().unwrap())
            .collect();
        barrier.join().unwrap();
        revisions.sort_unstable();
        (db, spaces, revisions)
    });
    let total = usize::try_from(writers * puts).unwrap();
    revisions.dedup();
    assert_eq!(revisions.len(), total, "revisions must be distinct");
    for writer in 0..writers {
        let space = spaces[usize::try_from(writer).unwrap() % spaces.len()];
        for index in 0..puts {
            assert_eq!(
                db.get(space, &[writer, index]).unwrap().map(|v| v.to_vec()),
                Some(vec![7; 48])
            );
        }
    }
}

/// Hot-segment fsyncs of this simulated disk stall this long; the deadline is far shorter.
const STALL: Duration = Duration::from_millis(40);
/// Puts before the stall begins.
const WARM_UP_PUTS: u32 = 5;

/// Puts `count` values from `first` on, recording them in `history`.
fn put_recorded(db: &Db, space: SpaceId, history: &mut History, first: u32, count: u32) {
    for index in first..first + count {
        let point = vec![index, 3];
        let value = format!("lone-{index}").into_bytes();
        let revision = db.put(space, &point, &value).unwrap();
        history.record(space, revision, vec![(point, Some(value))]);
    }
}

#[test]
fn a_lone_writer_whose_chain_stalls_is_answered_by_the_staged_copy_and_loses_nothing() {
    // Goal: a lone writer is not held by a stalled hot segment: its batch is hedged onto the
    // staging log and it returns while the hot chain is still in flight. Method: a lone
    // writer on a simulated disk puts a few values, then hot-segment fsyncs start to stall
    // 40 ms (deadline 2 ms) and it puts 20 more; the stall must have been hedged (staged
    // routes counted); then the power is cut while chains are still stalled, and every
    // acknowledged put must be recovered.
    let sim = SimStorage::new(11);
    let options = suite_options().deadline(Some(Duration::from_millis(2)));
    let (disk, history, space, stats) = {
        let (sim, options) = (sim.clone(), options.clone());
        within_limit("stalled lone writer", move || {
            let db = Db::open("/db", options.storage(Arc::new(sim.clone()))).unwrap();
            let space = db.create_space("stall", 2, 16).unwrap();
            let mut history = History::default();
            put_recorded(&db, space, &mut history, 0, WARM_UP_PUTS);
            sim.faults().on(
                OpMatch::fsync().path_contains("seg-"),
                Fault::Latency(STALL),
            );
            put_recorded(&db, space, &mut history, WARM_UP_PUTS, 20);
            let disk = sim.power_loss(11);
            let stats = db.stats();
            drop(db);
            (disk, history, space, stats)
        })
    };
    assert!(
        stats.groups_staged > 0 && stats.deadline_misses > 0,
        "the stall was not hedged: {stats:?}"
    );
    assert_disk_holds_all(
        disk,
        11,
        options,
        space,
        &history,
        "power loss with a lone writer's chain stalled",
    );
}
