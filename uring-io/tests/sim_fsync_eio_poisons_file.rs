//! Scenario: an `EIO` injected on the second fsync of a hot segment.
//!
//! Goal: the failing chain reports `Failed { step: "fsync", errno: EIO }` and returns its
//! buffer; the file is poisoned (later chains and durable writes give `Poisoned`); reads go on
//! and still see the live bytes; at a power loss the failed write is lost while the earlier
//! durable one survives; a reopened handle writes again. Method: a scripted rule
//! `OpMatch::fsync().path_contains("seg-").nth(2)` on a `SimStorage`, then every seed of a
//! small range of power losses.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions: a failure there is a test failure"
)]

mod sim_support;

use std::path::Path;

use sim_support::{PAGE_BYTES, chain, page, poll_until_final};
use uring_io::{
    AlignedBuf, ChainOutcome, Fault, IoError, OpKind, OpMatch, OpenMode, SimStorage, Storage,
};

#[test]
fn eio_on_nth_fsync_fails_the_chain_and_poisons_the_segment() {
    let sim = SimStorage::new(3);
    let seg_path = Path::new("/db/seg-1");
    sim.create_dir_all(Path::new("/db")).unwrap();
    let seg = sim
        .create_prewritten(seg_path, 4 * PAGE_BYTES as u64)
        .unwrap();
    let rule = sim.faults().on(
        OpMatch::fsync().path_contains("seg-").nth(2),
        Fault::Errno(libc::EIO),
    );
    let mut queue = sim.commit_queue().unwrap();

    queue.submit(chain(&seg, 0, 1, None, 10)).unwrap();
    let events = poll_until_final(queue.as_mut(), 1);
    assert_eq!(events[0].outcome, ChainOutcome::Durable);

    queue.submit(chain(&seg, 1, 2, None, 11)).unwrap();
    let events = poll_until_final(queue.as_mut(), 1);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].tag, 11);
    assert_eq!(
        events[0].outcome,
        ChainOutcome::Failed {
            step: "fsync",
            errno: libc::EIO
        }
    );
    assert!(
        events[0].buf.is_some(),
        "the final event returns the buffer"
    );
    assert_eq!(sim.faults().fired(rule), 1);
    assert_eq!(queue.in_flight(), 0);

    let resubmitted = queue.submit(chain(&seg, 2, 3, None, 12));
    assert!(matches!(resubmitted, Err(IoError::Poisoned { .. })));
    let durable = sim.write_durable(&seg, 0, &page(4));
    assert!(matches!(durable, Err(IoError::Poisoned { .. })));
    assert!(matches!(
        sim.set_len(&seg, 0),
        Err(IoError::Poisoned { .. })
    ));

    let mut read = AlignedBuf::new(PAGE_BYTES, PAGE_BYTES).unwrap();
    assert_eq!(
        sim.read_at(&seg, PAGE_BYTES as u64, &mut read).unwrap(),
        PAGE_BYTES
    );
    assert!(
        read.iter().all(|&b| b == 2),
        "reads go on and see the live bytes"
    );

    for seed in 0..32 {
        let bytes = sim.power_loss(seed).file_bytes(seg_path).unwrap();
        assert!(
            bytes[..PAGE_BYTES].iter().all(|&b| b == 1),
            "durable write lost"
        );
        assert!(
            bytes[PAGE_BYTES..].iter().all(|&b| b == 0),
            "failed write survived"
        );
    }

    let reopened = sim.open(seg_path, OpenMode::ReadWrite).unwrap();
    sim.write_durable(&reopened, 3 * PAGE_BYTES as u64, &page(5))
        .unwrap();
    let bytes = sim.crash().file_bytes(seg_path).unwrap();
    assert!(bytes[3 * PAGE_BYTES..].iter().all(|&b| b == 5));
    // create_prewritten, chain 10, chain 11, the reopened write; rejected calls never count.
    assert_eq!(sim.op_count(OpKind::Fsync), 4);
}
