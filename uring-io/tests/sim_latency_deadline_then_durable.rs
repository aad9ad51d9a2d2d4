//! Scenario: the hot segment's device stalls 50 ms per fsync while the staging log stays fast.
//!
//! Goal: with a 2 ms deadline, a chain to the stalled segment reports `DeadlineExceeded` and
//! later `Durable`; a chain to the staging log submitted alongside is durable first; two chains
//! to the same segment complete in submission order; the stalled write is in flight (unsynced)
//! until its fsync completes. Method: a latency rule on paths containing "seg-"; the assertions
//! are on the order and kind of events, never on elapsed time.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions: a failure there is a test failure"
)]

mod sim_support;

use std::path::Path;
use std::time::Duration;

use sim_support::{PAGE_BYTES, chain, poll_until_final};
use uring_io::{ChainOutcome, Fault, OpMatch, SimStorage, Storage};

const DEADLINE: Option<Duration> = Some(Duration::from_millis(2));

#[test]
fn stalled_segment_misses_its_deadline_then_becomes_durable() {
    let sim = SimStorage::new(9);
    sim.create_dir_all(Path::new("/db")).unwrap();
    let seg = sim
        .create_prewritten(Path::new("/db/seg-1"), 4 * PAGE_BYTES as u64)
        .unwrap();
    let log = sim
        .create_prewritten(Path::new("/db/staging.log"), 4 * PAGE_BYTES as u64)
        .unwrap();
    let stall = Fault::Latency(Duration::from_millis(50));
    sim.faults()
        .on(OpMatch::fsync().path_contains("seg-"), stall);
    let mut queue = sim.commit_queue().unwrap();

    queue.submit(chain(&log, 0, 1, DEADLINE, 1)).unwrap();
    queue.submit(chain(&seg, 0, 2, DEADLINE, 2)).unwrap();
    assert_eq!(
        sim.disk().pending_writes().len(),
        1,
        "the stalled write is in flight"
    );
    let events = poll_until_final(queue.as_mut(), 2);
    let seen: Vec<(u64, ChainOutcome)> =
        events.iter().map(|e| (e.tag, e.outcome.clone())).collect();
    assert_eq!(
        seen,
        vec![
            (1, ChainOutcome::Durable),
            (2, ChainOutcome::DeadlineExceeded),
            (2, ChainOutcome::Durable),
        ]
    );
    assert!(events[1].buf.is_none() && events[2].buf.is_some());
    assert!(sim.disk().pending_writes().is_empty());
}

#[test]
fn chains_to_one_file_complete_in_order() {
    let sim = SimStorage::new(10);
    let seg = sim
        .create_prewritten(Path::new("/seg-7"), 4 * PAGE_BYTES as u64)
        .unwrap();
    sim.faults().on(
        OpMatch::fsync().path_contains("seg-"),
        Fault::Latency(Duration::from_millis(20)),
    );
    let mut queue = sim.commit_queue().unwrap();
    queue.submit(chain(&seg, 0, 1, DEADLINE, 1)).unwrap();
    queue.submit(chain(&seg, 1, 2, DEADLINE, 2)).unwrap();
    assert_eq!(queue.in_flight(), 2);
    // The second chain has not started: only the first write reached the cache.
    assert_eq!(sim.disk().pending_writes().len(), 1);
    let events = poll_until_final(queue.as_mut(), 2);
    let seen: Vec<(u64, ChainOutcome)> =
        events.iter().map(|e| (e.tag, e.outcome.clone())).collect();
    assert_eq!(
        seen,
        vec![
            (1, ChainOutcome::DeadlineExceeded),
            (2, ChainOutcome::DeadlineExceeded),
            (1, ChainOutcome::Durable),
            (2, ChainOutcome::Durable),
        ]
    );
    assert_eq!(queue.in_flight(), 0);
}
