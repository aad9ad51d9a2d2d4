//! Scenario: crash at every step of two group commits, CrashMonkey-style.
//!
//! Goal: `record_crash_points` captures the disk before the workload and after every change
//! (a chain's write, then its sync), and crashing each point with every plan gives exactly
//! the fsync history's allowed states: an acknowledged page is intact at every later point;
//! an in-flight page is old, new or torn sector by sector; nothing else appears. Method: two
//! chains to a pre-written segment; enumerate `crash_states` of every recorded point.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions: a failure there is a test failure"
)]

mod sim_support;

use std::collections::BTreeSet;
use std::path::Path;

use sim_support::{PAGE_BYTES, chain, poll_until_final};
use uring_io::{ChainOutcome, SECTOR_BYTES, SimStorage, Storage};

/// Per sector of a page: its byte if the sector is uniform.
fn page_sectors(bytes: &[u8], page_index: usize) -> Vec<u8> {
    let page = &bytes[page_index * PAGE_BYTES..(page_index + 1) * PAGE_BYTES];
    page.chunks(SECTOR_BYTES)
        .map(|sector| {
            assert!(
                sector.iter().all(|&b| b == sector[0]),
                "torn inside a sector"
            );
            sector[0]
        })
        .collect()
}

#[test]
fn every_crash_point_and_plan_respects_the_acknowledgements() {
    let sim = SimStorage::new(21);
    let seg_path = Path::new("/db/seg-1");
    sim.create_dir_all(Path::new("/db")).unwrap();
    let seg = sim
        .create_prewritten(seg_path, 2 * PAGE_BYTES as u64)
        .unwrap();
    sim.record_crash_points(100);
    let mut queue = sim.commit_queue().unwrap();
    for (page_index, byte) in [(0, 1u8), (1, 2u8)] {
        queue
            .submit(chain(&seg, page_index, byte, None, page_index))
            .unwrap();
        let events = poll_until_final(queue.as_mut(), 1);
        assert_eq!(events[0].outcome, ChainOutcome::Durable);
    }
    let points = sim.take_crash_points();
    // Before, chain 0's write, chain 0's sync, chain 1's write, chain 1's sync.
    assert_eq!(points.len(), 5);

    for (point, disk) in points.iter().enumerate() {
        let mut page_states: [BTreeSet<Vec<u8>>; 2] = Default::default();
        for state in disk.crash_states(1_000).unwrap() {
            let bytes = state.file_bytes(seg_path).unwrap();
            assert_eq!(bytes.len(), 2 * PAGE_BYTES);
            for (page_index, byte) in [(0usize, 1u8), (1, 2)] {
                let sectors = page_sectors(&bytes, page_index);
                let (write_point, sync_point) = (1 + 2 * page_index, 2 + 2 * page_index);
                if point >= sync_point {
                    assert!(sectors.iter().all(|&b| b == byte), "acknowledged page lost");
                } else if point < write_point {
                    assert!(sectors.iter().all(|&b| b == 0), "page written from nowhere");
                } else {
                    assert!(sectors.iter().all(|&b| b == 0 || b == byte));
                }
                page_states[page_index].insert(sectors);
            }
        }
        // At a point with a write in flight: old, new and torn (prefix) states all occur.
        let in_flight = [1, 3].contains(&point);
        let page_index = usize::from(point == 3);
        let expected = if in_flight {
            PAGE_BYTES / SECTOR_BYTES + 1
        } else {
            1
        };
        assert_eq!(page_states[page_index].len(), expected, "point {point}");
    }
}
