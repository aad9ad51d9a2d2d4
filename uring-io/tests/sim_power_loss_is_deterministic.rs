//! Scenario: the same seed replays the same faults and the same power loss.
//!
//! Goal: with one seed, random fsync faults hit the same operations and the post-crash bytes
//! are identical across runs; different seeds give different outcomes (the randomness is
//! real). Method: a workload of durable writes under a 30% random fsync `EIO` rule, plus
//! chains left in flight by a long fsync stall, then `power_loss(seed)`; compare fingerprints.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions: a failure there is a test failure"
)]

mod sim_support;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use sim_support::{chain, page};
use uring_io::{Fault, OpMatch, SimStorage, Storage};

const FILE_COUNT: u8 = 8;

/// Runs the workload; returns which durable writes failed and the crashed disk's fingerprint.
fn run(seed: u64) -> (Vec<bool>, u64) {
    let sim = SimStorage::new(seed);
    let mut files = Vec::new();
    for index in 0..FILE_COUNT {
        let block = sim
            .create_prewritten(&PathBuf::from(format!("/blk-{index}")), 8192)
            .unwrap();
        let seg = sim
            .create_prewritten(&PathBuf::from(format!("/seg-{index}")), 8192)
            .unwrap();
        files.push((block, seg));
    }
    sim.faults().on(
        OpMatch::fsync().path_contains("blk-").probability(0.3),
        Fault::Errno(libc::EIO),
    );
    // The segments' fsyncs never complete within the test: their chains stay in flight.
    sim.faults().on(
        OpMatch::fsync().path_contains("seg-"),
        Fault::Latency(Duration::from_secs(3600)),
    );
    let mut queue = sim.commit_queue().unwrap();
    let mut failed = Vec::new();
    for (index, (block, seg)) in (0..FILE_COUNT).zip(&files) {
        failed.push(sim.write_durable(block, 0, &page(index + 1)).is_err());
        queue
            .submit(chain(seg, 1, index + 100, None, u64::from(index)))
            .unwrap();
    }
    assert_eq!(sim.disk().pending_writes().len(), usize::from(FILE_COUNT));
    (failed, sim.power_loss(seed).fingerprint())
}

#[test]
fn same_seed_same_faults_and_same_post_crash_bytes() {
    let mut outcomes = BTreeSet::new();
    for seed in 0..16 {
        let first = run(seed);
        assert_eq!(first, run(seed), "seed {seed} did not replay");
        outcomes.insert(first);
    }
    assert!(
        outcomes.len() > 8,
        "seeds barely matter: {} distinct outcomes",
        outcomes.len()
    );
}
