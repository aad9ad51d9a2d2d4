//! `INFINITEDB_COMMIT_SYNC` picks how an io_uring chain becomes durable: `dsync` (the default,
//! one `RWF_DSYNC` write) or `fsync` (`WRITE -link-> FSYNC`). Both must keep the chain contract
//! on real files; a typo is an error. One test per binary: the environment is process-wide.

#![allow(clippy::unwrap_used, reason = "test code: a failure is a test failure")]

mod os_support;

use std::path::Path;
use std::time::Duration;

use os_support::{assert_durable, patterned, poll_until_final};
use uring_io::{
    BackendRequest, COMMIT_SYNC_ENV_VAR, ChainOutcome, CommitChain, IoError, OsStorage, Storage,
};

/// Commits 64 KiB at 128 KiB of a pre-written file and checks it reads back; then a 16 MiB
/// chain with a 1 µs deadline reports `DeadlineExceeded` once, then a final outcome, and leaves
/// nothing in flight for the next chain.
fn check_chains(storage: &OsStorage, dir: &Path, mode: &str) {
    let alignment = storage.info().alignment_bytes;
    let name = format!("segment-{mode}");
    let segment = storage
        .create_prewritten(Path::new(&name), 1 << 20)
        .unwrap();
    let mut queue = storage.commit_queue().unwrap();
    let buf = patterned(64 << 10, alignment, 11);
    let expected = buf.to_vec();
    let chain = CommitChain {
        file: segment.clone(),
        offset: 128 << 10,
        buf,
        deadline: Some(Duration::from_secs(30)),
        tag: 1,
    };
    let id = queue.submit(chain).unwrap();
    assert_durable(&poll_until_final(queue.as_mut(), &[id]), id);
    let on_disk = std::fs::read(dir.join(&name)).unwrap();
    assert_eq!(&on_disk[128 << 10..192 << 10], &expected[..], "{mode}");

    let big = storage
        .create_prewritten(Path::new(&format!("big-{mode}")), 16 << 20)
        .unwrap();
    let chain = CommitChain {
        file: big,
        offset: 0,
        buf: patterned(16 << 20, alignment, 5),
        deadline: Some(Duration::from_micros(1)),
        tag: 2,
    };
    let id = queue.submit(chain).unwrap();
    let events = poll_until_final(queue.as_mut(), &[id]);
    assert_eq!(events[0].outcome, ChainOutcome::DeadlineExceeded, "{mode}");
    let last = events.last().unwrap();
    assert!(
        matches!(
            last.outcome,
            ChainOutcome::Durable | ChainOutcome::Cancelled
        ),
        "{mode}: final outcome {:?}",
        last.outcome
    );
    eprintln!("{mode}: late chain {:?}", last.outcome);
    // Its sync step cancelled or not, the late chain leaves nothing behind (no cancel or CQE
    // left over): the next chain completes alone.
    assert_eq!(queue.in_flight(), 0, "{mode}");
    let id = queue
        .submit(CommitChain {
            file: segment,
            offset: 0,
            buf: patterned(8192, alignment, 12),
            deadline: None,
            tag: 3,
        })
        .unwrap();
    let events = poll_until_final(queue.as_mut(), &[id]);
    assert_eq!(events.len(), 1, "{mode}: {events:?}");
    assert_durable(&events, id);
}

#[test]
fn both_sync_steps_keep_the_chain_contract_and_typos_fail() {
    // Goal: each sync step makes chains durable and honours deadlines; a bad value is a typed
    // error at commit_queue(). Method: for `fsync` then `dsync`, open an io_uring storage and
    // run check_chains; then set a typo.
    let dir = tempfile::tempdir().unwrap();
    let storage = match OsStorage::open(dir.path(), BackendRequest::Uring) {
        Ok(storage) => storage,
        Err(error) => {
            eprintln!("SKIP: io_uring unavailable here: {error}");
            return;
        }
    };
    for mode in ["fsync", "dsync"] {
        // SAFETY: this binary runs a single test, so no other thread reads the environment.
        unsafe { std::env::set_var(COMMIT_SYNC_ENV_VAR, mode) };
        check_chains(&storage, dir.path(), mode);
    }
    // SAFETY: as above.
    unsafe { std::env::set_var(COMMIT_SYNC_ENV_VAR, "fdatasync") };
    assert!(matches!(
        storage.commit_queue().map(|_| ()),
        Err(IoError::BackendUnavailable { .. })
    ));
    // SAFETY: as above.
    unsafe { std::env::remove_var(COMMIT_SYNC_ENV_VAR) };
}
