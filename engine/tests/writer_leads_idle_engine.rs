//! A writer that finds the engine idle commits its own group on its own thread, and hands
//! whatever it leaves (a chain still in flight, batches queued meanwhile) to the I/O thread
//! (`io_thread::driver`). These tests check that leading happens, that nothing is stranded
//! when writers, `sync` and `flush` keep moving the state between drivers, and that a leader
//! whose chain stalls past its deadline still gets a bounded answer and loses nothing.

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
use infinitedb::{Db, Options, Revision, SpaceId};
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
fn a_lone_writer_commits_its_own_puts_and_they_survive_reopen() {
    // Goal: with one writer and the real backend, puts are led by the writer itself (the
    // counter would stay 0 if every put went through the I/O thread), and what they wrote is
    // durable. Method: 300 sequential puts, check `writes_led`, the values, dense revisions,
    // then close, reopen and read everything back.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let puts = 300_u32;
    let (revisions, stats) = {
        let path = path.clone();
        within_limit("lone writer", move || {
            let db = Db::open(&path, Options::default()).unwrap();
            let space = db.create_space("lone", 2, 16).unwrap();
            let revisions: Vec<Revision> = (0..puts)
                .map(|index| db.put(space, [index, 1], &index.to_le_bytes()).unwrap())
                .collect();
            let stats = db.stats();
            db.close().unwrap();
            (revisions, stats)
        })
    };
    assert!(
        stats.writes_led >= u64::from(puts / 2),
        "most puts of a lone writer should be led by it: {stats:?}"
    );
    assert!(revisions.windows(2).all(|pair| pair[1].0 == pair[0].0 + 1));
    let db = Db::open(&path, Options::default()).unwrap();
    let space = db.space("lone").unwrap();
    for index in 0..puts {
        assert_eq!(
            db.get(space, &[index, 1]).unwrap(),
            Some(index.to_le_bytes().to_vec().into()),
            "point {index}"
        );
    }
    db.close().unwrap();
}

#[test]
fn writers_syncs_and_flushes_that_come_and_go_never_strand_a_command() {
    // Goal: no command is left with nobody to drive it while the state keeps moving between
    // leading writers and the I/O thread, and chains a leader leaves in flight (another
    // space's, committed in its turn) complete for the I/O thread. Method: 6 writers on 3
    // spaces put with pauses of 0–300 µs (the engine goes idle and busy over and over), a
    // seventh thread calls `sync` and `flush` in between; everything must finish within the
    // limit, every write must be readable, revisions distinct, and some writes led.
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
    let stats = db.stats();
    assert!(stats.writes_led > 0, "no write was led: {stats:?}");
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
/// Puts before the stall begins: the first put after `create_space` may race the I/O thread
/// (woken for the new space) for the lock; later ones find the engine idle.
const WARM_UP_PUTS: u32 = 5;

/// Puts `count` values from `first` on, recording them in `history`.
fn put_recorded(db: &Db, space: SpaceId, history: &mut History, first: u32, count: u32) {
    for index in first..first + count {
        let point = vec![index, 3];
        let value = format!("led-{index}").into_bytes();
        let revision = db.put(space, &point, &value).unwrap();
        history.record(space, revision, vec![(point, Some(value))]);
    }
}

#[test]
fn a_leader_whose_chain_stalls_is_answered_by_the_staged_copy_and_loses_nothing() {
    // Goal: a writer leading its own commit is not held by a stalled hot segment: its batch is
    // hedged onto the staging log, it returns, and the I/O thread takes over the chain left in
    // flight. Method: a lone writer on a simulated disk puts a few values, then hot-segment
    // fsyncs start to stall 40 ms (deadline 2 ms) and it puts 20 more; a put during the stall
    // must have been led and the stall hedged (staged routes counted); then the power is cut
    // while chains are still stalled, and every acknowledged put must be recovered.
    let sim = SimStorage::new(11);
    let options = suite_options().deadline(Some(Duration::from_millis(2)));
    let (disk, history, space, led_before, stats) = {
        let (sim, options) = (sim.clone(), options.clone());
        within_limit("stalled leader", move || {
            let db = Db::open("/db", options.storage(Arc::new(sim.clone()))).unwrap();
            let space = db.create_space("stall", 2, 16).unwrap();
            let mut history = History::default();
            put_recorded(&db, space, &mut history, 0, WARM_UP_PUTS);
            let led_before = db.stats().writes_led;
            sim.faults().on(
                OpMatch::fsync().path_contains("seg-"),
                Fault::Latency(STALL),
            );
            put_recorded(&db, space, &mut history, WARM_UP_PUTS, 20);
            let disk = sim.power_loss(11);
            let stats = db.stats();
            drop(db);
            (disk, history, space, led_before, stats)
        })
    };
    assert!(
        stats.writes_led > led_before,
        "no put was led during the stall: {stats:?}"
    );
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
        "power loss with a leader's chain stalled",
    );
}
