//! A stalling hot-segment device with a 2 ms deadline (docs/design.md §4 "Direct vs staged
//! route"): commits are hedged onto the staging log, so their latency tracks the staging
//! log's rather than the stall's, and a power loss while hot-segment chains are still stalled
//! loses nothing acknowledged.
//!
//! Latencies are printed, never asserted (no timed assertions in tests); the assertions are
//! on the routes counted in `Stats` and on what survives the power loss.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a failure is a test failure"
)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use infinitedb::{Db, Options, SpaceId};
use parking_lot::Mutex;
use support::model::{History, assert_disk_holds_all};
use support::{percentile, suite_options};
use uring_io::{Fault, OpMatch, SimStorage};

const STALL: Duration = Duration::from_millis(50);
const DEADLINE: Duration = Duration::from_millis(2);
const WRITERS: u32 = 4;
const PUTS_PER_WRITER: u32 = 40;

/// Runs `WRITERS` × `PUTS_PER_WRITER` puts; returns the commit latencies and the history.
fn run_writers(db: &Db, space: SpaceId) -> (Vec<Duration>, History) {
    let history = Mutex::new(History::default());
    let latencies = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for writer in 0..WRITERS {
            let (history, latencies) = (&history, &latencies);
            scope.spawn(move || {
                for index in 0..PUTS_PER_WRITER {
                    let point = vec![writer, index];
                    let value = format!("stall-{writer}-{index}").into_bytes();
                    let started = Instant::now();
                    let revision = db.put(space, &point, &value).unwrap();
                    latencies.lock().push(started.elapsed());
                    history
                        .lock()
                        .record(space, revision, vec![(point, Some(value))]);
                }
            });
        }
    });
    (latencies.into_inner(), history.into_inner())
}

/// Opens a database on a fresh simulated disk with `options`; stalls hot-segment fsyncs if
/// `stall`.
fn open(options: Options, stall: bool) -> (SimStorage, Db, SpaceId) {
    let sim = SimStorage::new(5);
    let db = Db::open("/db", options.storage(Arc::new(sim.clone()))).unwrap();
    let space = db.create_space("stall", 2, 16).unwrap();
    if stall {
        sim.faults().on(
            OpMatch::fsync().path_contains("seg-"),
            Fault::Latency(STALL),
        );
    }
    (sim, db, space)
}

#[test]
fn a_stalled_hot_segment_is_hedged_and_loses_nothing_at_a_power_loss() {
    // Goal and method: three runs of the same writers: (a) no stall, staged route only
    // (deadline zero): the staging log's own latency; (b) hot-segment fsyncs stall 50 ms,
    // deadline 2 ms: the hedged latency, and Stats must count staged routes; (c) the same
    // stall without a deadline, for contrast. After (b) the power is cut at once, while
    // hot-segment chains are still stalled, and every acknowledged write must be there.
    let (_, db, space) = open(suite_options().deadline(Some(Duration::ZERO)), false);
    let (mut staging_only, _) = run_writers(&db, space);
    db.close().unwrap();

    let options = suite_options().deadline(Some(DEADLINE));
    let (sim, db, space) = open(options.clone(), true);
    let (mut hedged, history) = run_writers(&db, space);
    let disk = sim.power_loss(5); // hot-segment chains are still in their 50 ms stall
    let stats = db.stats();
    drop(db);

    let (_, db, space_unhedged) = open(suite_options().deadline(None), true);
    let (mut unhedged, _) = run_writers(&db, space_unhedged);
    db.close().unwrap();

    println!(
        "commit p99: staging log alone {:?}; 50 ms hot stall with 2 ms deadline {:?}; same stall without deadline {:?}",
        percentile(&mut staging_only, 99),
        percentile(&mut hedged, 99),
        percentile(&mut unhedged, 99)
    );
    println!("{stats:?}");
    assert!(
        stats.groups_staged > 0 && stats.records_staged > 0,
        "no staged routes: {stats:?}"
    );
    assert!(
        stats.deadline_misses > 0,
        "the stall never missed the deadline: {stats:?}"
    );

    assert_disk_holds_all(disk, 5, options, space, &history, "power loss during stall");
}
