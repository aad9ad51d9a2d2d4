//! Shared helpers of the `os_*` scenario tests: every scenario runs once per OS backend that
//! can run here (io_uring, then the thread fallback forced), so the whole suite also passes
//! with the fallback backend.

#![allow(dead_code, reason = "each test binary uses a subset of the helpers")]
#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failure is a test failure"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use uring_io::{
    AlignedBuf, BackendKind, BackendRequest, ChainEvent, ChainId, ChainOutcome, CommitQueue,
    OsStorage, Storage,
};

/// One backend under test, with its own directory on the project disk.
pub struct Backend {
    pub storage: Arc<OsStorage>,
    pub dir: tempfile::TempDir,
}

/// The OS backends to run each scenario on: io_uring (skipped loudly if refused here) and the
/// fallback forced.
pub fn backends() -> Vec<Backend> {
    let mut backends = Vec::new();
    for request in [BackendRequest::Uring, BackendRequest::Fallback] {
        let dir = tempfile::tempdir().unwrap();
        match OsStorage::open(dir.path(), request) {
            Ok(storage) => {
                if request == BackendRequest::Fallback {
                    assert_eq!(storage.info().kind, BackendKind::Fallback);
                }
                backends.push(Backend { storage, dir });
            }
            Err(error) => eprintln!("SKIP: backend {request:?} unavailable: {error}"),
        }
    }
    assert!(
        !backends.is_empty(),
        "the fallback backend must always be available"
    );
    backends
}

/// A buffer of `len_bytes` filled with a pattern derived from `seed`.
pub fn patterned(len_bytes: usize, alignment: usize, seed: u8) -> AlignedBuf {
    let mut buf = AlignedBuf::new(len_bytes, alignment).unwrap();
    // Byte i is seed + i % 251 (a prime period, so misplaced pages show); copied a period at a
    // time because these tests run unoptimised on 64 MiB buffers.
    let period: Vec<u8> = (0..251u8).map(|step| seed.wrapping_add(step)).collect();
    for chunk in buf.chunks_mut(period.len()) {
        chunk.copy_from_slice(&period[..chunk.len()]);
    }
    buf
}

/// Polls until every chain in `ids` has its final event (or 60 s pass: a test failure, not a
/// timing assertion), returning all events seen in order.
pub fn poll_until_final(queue: &mut dyn CommitQueue, ids: &[ChainId]) -> Vec<ChainEvent> {
    let give_up_at = Instant::now() + Duration::from_secs(60);
    let mut events = Vec::new();
    let mut finals = 0usize;
    while finals < ids.len() {
        assert!(
            Instant::now() < give_up_at,
            "chains never finished: {events:?}"
        );
        let before = events.len();
        queue
            .poll(Some(Duration::from_secs(1)), &mut events)
            .unwrap();
        finals += events[before..]
            .iter()
            .filter(|event| event.outcome.is_final())
            .count();
    }
    events
}

/// The final event of chain `id` among `events`.
pub fn final_event(events: &[ChainEvent], id: ChainId) -> &ChainEvent {
    let finals: Vec<&ChainEvent> = events
        .iter()
        .filter(|event| event.id == id && event.outcome.is_final())
        .collect();
    assert_eq!(
        finals.len(),
        1,
        "exactly one final event per chain: {events:?}"
    );
    finals[0]
}

/// Asserts the chain's final outcome is `Durable`.
pub fn assert_durable(events: &[ChainEvent], id: ChainId) {
    let event = final_event(events, id);
    assert_eq!(event.outcome, ChainOutcome::Durable, "chain {id:?}");
    assert!(event.buf.is_some(), "the final event returns the buffer");
}
