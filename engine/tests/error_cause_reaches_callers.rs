//! A device failure reaches every caller it affects with its typed cause: the errno and the
//! file, readable through `Error::raw_os_error`, `Error::is_storage_full` and
//! `Error::io_error`, never only as text (docs/design.md §3 "Faults").
//!
//! Faults come from the simulated disk, so each errno is deterministic: ENOSPC on a hot
//! segment's write, EIO on its fsync under one group of several writers, and EIO under
//! `Durability::NoSync`, where `sync` is the call that reports it. Messages name the space and
//! print each cause once along the `source()` chain.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions: a failure there is a test failure"
)]

mod common;

use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::small_options;
use infinitedb::Readable;
use infinitedb::{Db, Durability, Error, IoError};
use uring_io::{Fault, OpMatch, SimStorage, Storage};

/// How long the stalled chain of a test takes: long enough for the other callers to queue.
const STALL: Duration = Duration::from_millis(500);

fn open(sim: &SimStorage, durability: Durability) -> Db {
    let storage: Arc<dyn Storage> = Arc::new(sim.clone());
    Db::open(
        "/db",
        small_options().durability(durability).storage(storage),
    )
    .unwrap()
}

/// The message of `error` and of every `source()` below it, top first.
fn chain_messages(error: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut messages = vec![error.to_string()];
    let mut next = error.source();
    while let Some(cause) = next {
        messages.push(cause.to_string());
        next = cause.source();
    }
    messages
}

/// Asserts that `error` is a failed write of `space` whose cause is `operation` on a hot
/// segment with `errno`.
fn assert_write_failed(error: &Error, space: &str, operation: &str, errno: i32) {
    match error {
        Error::WriteFailed { space: named, .. } => assert_eq!(named, space, "{error:?}"),
        other => panic!("expected WriteFailed, got {other:?}"),
    }
    assert_eq!(error.raw_os_error(), Some(errno), "{error:?}");
    match error.io_error() {
        Some(IoError::Os {
            operation: failed,
            path,
            ..
        }) => {
            assert_eq!(*failed, operation, "{error:?}");
            assert!(
                path.to_string_lossy().contains("seg-"),
                "the cause names the segment: {error:?}"
            );
        }
        other => panic!("expected an OS error as the cause, got {other:?}"),
    }
}

#[test]
fn enospc_on_a_segment_write_reaches_the_writer_as_storage_full() {
    // Goal: a full device is told apart from other failures. Method: ENOSPC on the next hot
    // segment write; the put riding it fails with `is_storage_full`, errno ENOSPC and the
    // segment's path as its cause; the next put succeeds on a fresh segment.
    let sim = SimStorage::new(21);
    let db = open(&sim, Durability::Sync);
    let space = db.create_space("meters", 2, 10).unwrap();
    db.put(space, [1, 1], b"before").unwrap();
    let rule = sim.faults().on(
        OpMatch::write().path_contains("seg-").nth(1),
        Fault::Errno(libc::ENOSPC),
    );
    let error = db.put(space, [2, 2], b"doomed").unwrap_err();
    assert_eq!(sim.faults().fired(rule), 1);
    assert!(error.is_storage_full(), "{error:?}");
    assert_write_failed(&error, "meters", "write", libc::ENOSPC);
    db.put(space, [3, 3], b"after").unwrap();
    assert_eq!(db.get(space, &[2, 2]).unwrap(), None);
    db.close().unwrap();
}

#[test]
fn eio_on_a_group_fsync_reaches_every_writer_of_the_group() {
    // Goal: one failed fsync reaches each writer of its group with the same typed cause.
    // Method: the first hot-segment write stalls (500 ms) so that five writers queue behind
    // it and go out as one group; that group's fsync fails with EIO. Each of the five gets
    // WriteFailed with errno EIO, not storage-full, naming the segment.
    let sim = SimStorage::new(22);
    let db = open(&sim, Durability::Sync);
    let space = db.create_space("meters", 2, 10).unwrap();
    db.put(space, [0, 0], b"before").unwrap();
    sim.faults().on(
        OpMatch::write().path_contains("seg-").nth(1),
        Fault::Latency(STALL),
    );
    let eio = sim.faults().on(
        OpMatch::fsync().path_contains("seg-").nth(2),
        Fault::Errno(libc::EIO),
    );
    let results: Vec<Result<_, Error>> = std::thread::scope(|scope| {
        let db = &db;
        let first = scope.spawn(move || db.put(space, [1, 0], b"stalled"));
        std::thread::sleep(STALL / 5);
        let group: Vec<_> = (0..5_u32)
            .map(|index| scope.spawn(move || db.put(space, [2, index], b"grouped")))
            .collect();
        first.join().unwrap().unwrap();
        group
            .into_iter()
            .map(|writer| writer.join().unwrap())
            .collect()
    });
    assert_eq!(sim.faults().fired(eio), 1);
    for result in &results {
        let error = result.as_ref().unwrap_err();
        assert!(!error.is_storage_full(), "{error:?}");
        assert_write_failed(error, "meters", "fsync", libc::EIO);
    }
    db.put(space, [3, 0], b"after").unwrap();
    db.close().unwrap();
}

#[test]
fn concurrent_syncs_after_a_nosync_failure_each_get_the_typed_error() {
    // Goal: under NoSync, every `sync` waiting when a failure is reported learns of it with
    // its errno, and a `sync` called after that report returns Ok once later writes are
    // durable. Method: a NoSync put whose hot chain stalls 500 ms and then fails its fsync
    // with EIO; two threads call `sync` while it stalls; both get WriteFailed with EIO.
    // Then a put and a third `sync`: Ok.
    let sim = SimStorage::new(23);
    let db = open(&sim, Durability::NoSync);
    let space = db.create_space("meters", 2, 10).unwrap();
    db.put(space, [0, 0], b"before").unwrap();
    db.sync().unwrap();
    sim.faults().on(
        OpMatch::write().path_contains("seg-").nth(1),
        Fault::Latency(STALL),
    );
    let eio = sim.faults().on(
        OpMatch::fsync().path_contains("seg-").nth(1),
        Fault::Errno(libc::EIO),
    );
    db.put(space, [1, 0], b"unlucky").unwrap();
    let start = Barrier::new(2);
    let results: Vec<Result<(), Error>> = std::thread::scope(|scope| {
        let (db, start) = (&db, &start);
        let syncs: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(move || {
                    start.wait();
                    db.sync()
                })
            })
            .collect();
        syncs.into_iter().map(|sync| sync.join().unwrap()).collect()
    });
    assert_eq!(sim.faults().fired(eio), 1);
    for result in &results {
        let error = result.as_ref().unwrap_err();
        assert!(!error.is_storage_full(), "{error:?}");
        assert_write_failed(error, "meters", "fsync", libc::EIO);
    }
    db.put(space, [2, 0], b"later").unwrap();
    db.sync().unwrap();
    db.close().unwrap();
}

#[test]
fn messages_name_the_space_and_print_each_cause_once() {
    // Goal: a message describes its context (the space by name, the option to change) and
    // leaves the cause to `source()`, so an error-chain reporter prints it once. Method: an
    // ENOSPC write, an invalid point and a too-large value; walk Display and `source()`.
    let sim = SimStorage::new(24);
    let db = open(&sim, Durability::Sync);
    let space = db.create_space("meters", 2, 10).unwrap();
    sim.faults().on(
        OpMatch::write().path_contains("seg-").nth(1),
        Fault::Errno(libc::ENOSPC),
    );
    let error = db.put(space, [2, 2], b"doomed").unwrap_err();
    let messages = chain_messages(&error);
    assert!(messages[0].contains("\"meters\""), "{messages:?}");
    let errno_text = std::io::Error::from_raw_os_error(libc::ENOSPC).to_string();
    let printed = messages
        .iter()
        .filter(|message| message.contains(&errno_text))
        .count();
    assert_eq!(printed, 1, "{messages:?}");
    assert!(
        messages.iter().any(|message| message.contains("seg-")),
        "{messages:?}"
    );

    let error = db.put(space, [1 << 12, 0], b"x").unwrap_err();
    let messages = chain_messages(&error);
    assert!(matches!(error, Error::InvalidPoint { .. }), "{error:?}");
    assert!(messages[0].contains("\"meters\""), "{messages:?}");
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(!messages[0].contains(&messages[1]), "{messages:?}");

    let error = db.put(space, [1, 1], vec![0; 65 * 1024]).unwrap_err();
    assert!(
        error.to_string().contains("Options::value_bytes_max"),
        "{error}"
    );
    db.close().unwrap();
}
