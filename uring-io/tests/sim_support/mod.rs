//! Helpers shared by the `sim_*` scenario tests: page buffers and draining a commit queue.

#![allow(dead_code, reason = "each test binary uses a different subset")]
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions: a failure there is a test failure"
)]

use std::time::Duration;

use uring_io::{AlignedBuf, ChainEvent, CommitChain, CommitQueue, FileHandle};

/// The simulated disk's page.
pub const PAGE_BYTES: usize = 4096;

/// A page filled with `byte`.
pub fn page(byte: u8) -> AlignedBuf {
    let mut buf = AlignedBuf::new(PAGE_BYTES, PAGE_BYTES).unwrap();
    buf.fill(byte);
    buf
}

/// A chain writing one page of `byte` at `page_index`.
pub fn chain(
    file: &FileHandle,
    page_index: u64,
    byte: u8,
    deadline: Option<Duration>,
    tag: u64,
) -> CommitChain {
    CommitChain {
        file: file.clone(),
        offset: page_index * PAGE_BYTES as u64,
        buf: page(byte),
        deadline,
        tag,
    }
}

/// Polls until `finals` final events have arrived; returns every event in arrival order.
/// Bounded: gives up (and fails the test) after 10,000 polls of up to 10 ms.
pub fn poll_until_final(queue: &mut dyn CommitQueue, finals: usize) -> Vec<ChainEvent> {
    let mut events = Vec::new();
    for _ in 0..10_000 {
        if events
            .iter()
            .filter(|e: &&ChainEvent| e.outcome.is_final())
            .count()
            >= finals
        {
            return events;
        }
        queue
            .poll(Some(Duration::from_millis(10)), &mut events)
            .unwrap();
    }
    panic!("chains did not finish: {events:?}");
}
