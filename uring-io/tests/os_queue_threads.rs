//! A commit queue is driven by one thread for its whole life: the first to submit. It may be
//! made on another (the engine makes it at open and moves it to its I/O thread). On io_uring
//! the ring is bound to that thread and, where the kernel has `DEFER_TASKRUN`, a chain's
//! completion is processed only when that thread polls: it never interrupts the thread's
//! other blocking calls as a signal would.

mod os_support;

use std::io::ErrorKind;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::{Duration, Instant};

use os_support::{assert_durable, backends, patterned, poll_until_final};
use uring_io::{ChainEvent, CommitChain, CommitQueue, Storage};

#[test]
fn a_queue_made_on_one_thread_is_driven_by_another() {
    // Goal: the ring is bound to the thread that first uses the queue, not the one that made
    // it. Method: make the queue here, move it to a thread that runs two chains on it, then
    // check both chains' bytes on disk.
    for backend in backends() {
        let storage = backend.storage.clone();
        let alignment = storage.info().alignment_bytes;
        let file = storage
            .create_prewritten(Path::new("moved"), 64 << 10)
            .unwrap();
        let mut queue = storage.commit_queue().unwrap();
        std::thread::spawn(move || {
            for (round, offset) in [(1u8, 0u64), (2, 8192)] {
                let chain = CommitChain {
                    file: file.clone(),
                    offset,
                    buf: patterned(8192, alignment, round),
                    deadline: None,
                    tag: u64::from(round),
                };
                let id = queue.submit(chain).unwrap();
                let events = poll_until_final(queue.as_mut(), &[id]);
                assert_durable(&events, id);
            }
        })
        .join()
        .unwrap();
        let bytes = std::fs::read(backend.dir.path().join("moved")).unwrap();
        assert_eq!(&bytes[..8192], &patterned(8192, alignment, 1)[..]);
        assert_eq!(&bytes[8192..16384], &patterned(8192, alignment, 2)[..]);
    }
}

#[test]
fn a_chain_completing_does_not_interrupt_its_submitters_other_calls() {
    // Goal: while a chain is in flight, its submitter may make other blocking calls and none
    // is cut short by the chain's completion (a plain ring runs completion task work by
    // interrupting the submitter like a signal, and a timed `recv`, which the kernel does not
    // restart, then fails with `EINTR`). Method: submit a chain, then wait 20 times 5 ms in a
    // timed `recv` on a silent socket (the chain completes meanwhile), count the waits that
    // end in `EINTR`, then poll and find the chain durable. Checked where the ring defers its
    // task work (`DEFER_TASKRUN`), and on the fallback backend, which has no ring. Each
    // backend runs on a fresh thread: closing a ring queues exit work to every thread that
    // used it, which interrupts that thread once.
    for backend in backends() {
        std::thread::spawn(move || submitter_not_interrupted(&backend))
            .join()
            .unwrap();
    }
}

/// The body of `a_chain_completing_does_not_interrupt_its_submitters_other_calls`.
#[allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test body: a failure is a test failure"
)]
fn submitter_not_interrupted(backend: &os_support::Backend) {
    let info = backend.storage.info();
    let deferred = info.reason.contains("DEFER_TASKRUN");
    if info.kind == uring_io::BackendKind::Uring && !deferred {
        eprintln!(
            "SKIP: the ring does not defer its task work here: {}",
            info.reason
        );
        return;
    }
    let storage = backend.storage.clone();
    let alignment = info.alignment_bytes;
    let file = storage
        .create_prewritten(Path::new("quiet"), 64 << 10)
        .unwrap();
    let mut queue = storage.commit_queue().unwrap();
    let (socket, _peer) = UnixDatagram::pair().unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(5)))
        .unwrap();
    let chain = CommitChain {
        file,
        offset: 4096,
        buf: patterned(8192, alignment, 7),
        deadline: None,
        tag: 7,
    };
    let id = queue.submit(chain).unwrap();
    let mut interrupted = 0;
    for _ in 0..20 {
        let mut byte = [0_u8; 1];
        match socket.recv(&mut byte) {
            Err(error) if error.kind() == ErrorKind::Interrupted => interrupted += 1,
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            other => panic!("a recv on a silent socket returned {other:?}"),
        }
    }
    let events = poll_for(queue.as_mut(), Duration::from_secs(10));
    assert_eq!(interrupted, 0, "{:?}: {}", info.kind, info.reason);
    assert_durable(&events, id);
    let bytes = std::fs::read(backend.dir.path().join("quiet")).unwrap();
    assert_eq!(&bytes[4096..12288], &patterned(8192, alignment, 7)[..]);
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
