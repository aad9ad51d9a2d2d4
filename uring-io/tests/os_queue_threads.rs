//! A commit queue is created by one thread and used by another (the engine builds it, then
//! moves it into its I/O thread). With a `SINGLE_ISSUER` ring this only works because the ring
//! is created disabled and bound to the first thread that uses it.

mod os_support;

use std::path::Path;

use os_support::{assert_durable, backends, patterned, poll_until_final};
use uring_io::{CommitChain, Storage};

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
