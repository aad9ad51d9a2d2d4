//! A commit queue is driven by one thread at a time, but not always the same one, and the
//! driver may change while chains are in flight (the engine: a writer submits its own group and
//! may leave its chain to the I/O thread). On io_uring the completion of a chain is task work of
//! the thread that submitted it; the queue's plain ring lets the kernel interrupt that thread's
//! sleep to run it, so the thread now polling sees the chain finish.

mod os_support;

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use os_support::{assert_durable, backends, patterned, poll_until_final};
use uring_io::{ChainEvent, CommitChain, CommitQueue, Storage};

#[test]
fn a_queue_built_on_one_thread_works_on_others_in_turn() {
    // Goal: moving an idle queue between threads is fine. Method: build the queue here, run a
    // chain on thread A, then move the (idle) queue to thread B and run another chain there.
    for backend in backends() {
        let storage = backend.storage.clone();
        let alignment = storage.info().alignment_bytes;
        let file = storage
            .create_prewritten(Path::new("moved"), 64 << 10)
            .unwrap();
        let mut queue = storage.commit_queue().unwrap();
        for (round, offset) in [(1u8, 0u64), (2, 8192)] {
            let file = file.clone();
            queue = std::thread::spawn(move || {
                let chain = CommitChain {
                    file,
                    offset,
                    buf: patterned(8192, alignment, round),
                    deadline: None,
                    tag: u64::from(round),
                };
                let id = queue.submit(chain).unwrap();
                let events = poll_until_final(queue.as_mut(), &[id]);
                assert_durable(&events, id);
                queue
            })
            .join()
            .unwrap();
        }
        let bytes = std::fs::read(backend.dir.path().join("moved")).unwrap();
        assert_eq!(&bytes[..8192], &patterned(8192, alignment, 1)[..]);
        assert_eq!(&bytes[8192..16384], &patterned(8192, alignment, 2)[..]);
    }
}

#[test]
fn a_chain_submitted_by_a_thread_that_then_sleeps_completes_for_another_poller() {
    // Goal: a chain completes for whichever thread polls, even though its submitter went to
    // sleep without ever polling (a `SINGLE_ISSUER` ring fails this: only its submitter may
    // enter it). Method: thread A submits and hands the queue over, then blocks on a channel
    // (a futex wait) until the test ends; this thread polls with a 10 s limit and must see
    // the chain durable, with the bytes on disk.
    for backend in backends() {
        let storage = backend.storage.clone();
        let alignment = storage.info().alignment_bytes;
        let file = storage
            .create_prewritten(Path::new("handed"), 64 << 10)
            .unwrap();
        let queue = storage.commit_queue().unwrap();
        let (handed_tx, handed_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let submitter = std::thread::spawn(move || {
            let mut queue = queue;
            let chain = CommitChain {
                file,
                offset: 4096,
                buf: patterned(8192, alignment, 7),
                deadline: None,
                tag: 7,
            };
            let id = queue.submit(chain).unwrap();
            handed_tx.send((queue, id)).unwrap();
            // Sleep, interruptibly, without entering io_uring again.
            let _ = release_rx.recv();
        });
        let (mut queue, id) = handed_rx.recv().unwrap();
        let events = poll_for(queue.as_mut(), Duration::from_secs(10));
        release_tx.send(()).unwrap();
        submitter.join().unwrap();
        assert_durable(&events, id);
        assert_eq!(queue.in_flight(), 0, "{:?}", backend.storage.info().kind);
        let bytes = std::fs::read(backend.dir.path().join("handed")).unwrap();
        assert_eq!(&bytes[4096..12288], &patterned(8192, alignment, 7)[..]);
    }
}

/// Polls until nothing is in flight or `limit` passes; returns every event seen.
#[allow(
    clippy::unwrap_used,
    reason = "test helper: a failed poll is a test failure"
)]
fn poll_for(queue: &mut dyn CommitQueue, limit: Duration) -> Vec<ChainEvent> {
    let give_up_at = Instant::now() + limit;
    let mut events = Vec::new();
    while queue.in_flight() > 0 && Instant::now() < give_up_at {
        queue
            .poll(Some(Duration::from_millis(50)), &mut events)
            .unwrap();
    }
    events
}
