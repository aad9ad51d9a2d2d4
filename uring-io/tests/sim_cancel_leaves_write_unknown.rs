//! Scenario: the io_uring queue cancels a stalled fsync at its deadline (an injected
//! `Fault::Cancel`).
//!
//! Goal: the chain reports `DeadlineExceeded` then `Cancelled`; the file is not poisoned; the
//! write is left unsynced, so a crash may keep or lose it (the engine must treat the region as
//! unknown). Method: a cancel rule on the segment's first fsync, then many seeded power losses.

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
fn injected_cancel_ends_the_chain_at_its_deadline_with_its_write_unknown() {
    // Goal and method: see the file's header.
    let sim = SimStorage::new(12);
    let seg = sim
        .create_prewritten(Path::new("/seg-9"), 2 * PAGE_BYTES as u64)
        .unwrap();
    sim.faults()
        .on(OpMatch::fsync().path_contains("seg-").nth(1), Fault::Cancel);
    let mut queue = sim.commit_queue().unwrap();
    queue.submit(chain(&seg, 0, 3, DEADLINE, 1)).unwrap();
    let events = poll_until_final(queue.as_mut(), 1);
    let seen: Vec<ChainOutcome> = events.iter().map(|e| e.outcome.clone()).collect();
    assert_eq!(
        seen,
        vec![ChainOutcome::DeadlineExceeded, ChainOutcome::Cancelled]
    );
    assert_eq!(
        sim.disk().pending_writes().len(),
        1,
        "the write is left unsynced"
    );
    let kept: std::collections::BTreeSet<u8> = (0..64)
        .map(|seed| {
            sim.power_loss(seed)
                .file_bytes(Path::new("/seg-9"))
                .unwrap()[0]
        })
        .collect();
    assert_eq!(
        kept,
        [0, 3].into_iter().collect(),
        "a crash keeps or loses it"
    );
    queue.submit(chain(&seg, 1, 4, DEADLINE, 2)).unwrap();
    let events = poll_until_final(queue.as_mut(), 1);
    assert_eq!(events[0].outcome, ChainOutcome::Durable, "not poisoned");
}
