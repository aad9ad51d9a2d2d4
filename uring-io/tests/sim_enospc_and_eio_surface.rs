//! Scenario: `ENOSPC` on writes and `EIO` on a read.
//!
//! Goal: an `ENOSPC` write surfaces as an error from `write_durable`, as
//! `Failed { step: "write", errno: ENOSPC }` from a chain, and from `create_prewritten` (which
//! leaves no file behind); a failed write does not poison the file, so writes resume once space
//! is back; a read `EIO` fails only that read. Method: scripted path and `nth` rules, removed
//! again to model freed space.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions: a failure there is a test failure"
)]

mod sim_support;

use std::path::Path;

use sim_support::{PAGE_BYTES, chain, page, poll_until_final};
use uring_io::{AlignedBuf, ChainOutcome, Fault, OpMatch, SimStorage, Storage};

#[test]
fn enospc_surfaces_on_every_write_path_and_writes_resume_after() {
    let sim = SimStorage::new(5);
    sim.create_dir_all(Path::new("/db")).unwrap();
    let seg = sim
        .create_prewritten(Path::new("/db/seg-1"), 2 * PAGE_BYTES as u64)
        .unwrap();
    let full = sim
        .faults()
        .on(OpMatch::write(), Fault::Errno(libc::ENOSPC));

    let error = sim.write_durable(&seg, 0, &page(1)).unwrap_err();
    assert_eq!(error.errno(), Some(libc::ENOSPC));

    let mut queue = sim.commit_queue().unwrap();
    queue.submit(chain(&seg, 1, 2, None, 7)).unwrap();
    let events = poll_until_final(queue.as_mut(), 1);
    assert_eq!(
        events[0].outcome,
        ChainOutcome::Failed {
            step: "write",
            errno: libc::ENOSPC
        }
    );

    let created = sim.create_prewritten(Path::new("/db/seg-2"), PAGE_BYTES as u64);
    assert_eq!(created.unwrap_err().errno(), Some(libc::ENOSPC));
    assert!(!sim.exists(Path::new("/db/seg-2")).unwrap());

    assert!(sim.faults().remove(full));
    sim.write_durable(&seg, 0, &page(3)).unwrap();
    queue.submit(chain(&seg, 1, 4, None, 8)).unwrap();
    let events = poll_until_final(queue.as_mut(), 1);
    assert_eq!(events[0].outcome, ChainOutcome::Durable);
    let bytes = sim.crash().file_bytes(Path::new("/db/seg-1")).unwrap();
    assert!(bytes[..PAGE_BYTES].iter().all(|&b| b == 3));
    assert!(bytes[PAGE_BYTES..].iter().all(|&b| b == 4));
}

#[test]
fn read_eio_fails_that_read_only() {
    let sim = SimStorage::new(6);
    let file = sim
        .create_prewritten(Path::new("/blk-1"), PAGE_BYTES as u64)
        .unwrap();
    sim.faults()
        .on(OpMatch::read().nth(2), Fault::Errno(libc::EIO));
    let mut reads: Vec<(u64, AlignedBuf)> = (0..3).map(|_| (0, page(9))).collect();
    let error = sim.read_many(&file, &mut reads).unwrap_err();
    assert_eq!(error.errno(), Some(libc::EIO));
    let mut buf = page(9);
    assert_eq!(sim.read_at(&file, 0, &mut buf).unwrap(), PAGE_BYTES);
    assert!(buf.iter().all(|&b| b == 0));
    assert_eq!(
        sim.read_at(&file, PAGE_BYTES as u64, &mut buf).unwrap(),
        0,
        "end of file"
    );
}
