//! A blocking write changes nothing on the caller's thread: no kernel task work is left
//! behind on it, so a blocking call the thread makes afterwards is not interrupted.
//!
//! Contract checked (docs/design.md §4 "Submission"): after `Db::put` returns, a timed
//! `recv` the same thread makes (a call the kernel does not restart after a signal) is never
//! interrupted with `EINTR`, even when the put's hot chain is still in flight when it
//! returns (a zero deadline answers every put from its staged copy, and its hot chain
//! completes later).

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a failure is a test failure"
)]

mod support;

use std::io::ErrorKind;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use infinitedb::{Db, Readable};
use support::{suite_options, zero_deadline};

/// Waits `timeout` on a socket nobody writes to (a timed `recv` is not restarted after a
/// signal: it ends in `EINTR`); returns whether it was interrupted.
fn interrupted_wait(socket: &UnixDatagram) -> bool {
    let mut byte = [0_u8; 1];
    match socket.recv(&mut byte) {
        Err(error) if error.kind() == ErrorKind::Interrupted => true,
        Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
        other => panic!("a recv on a silent socket returned {other:?}"),
    }
}

#[test]
fn a_blocking_call_after_a_put_is_never_interrupted() {
    // Goal: a put whose chain outlives it (the staged copy answered it) leaves no completion
    // work aimed at the writer's thread. Method: real files, a zero deadline, 300 puts on one
    // thread, each followed by a 5 ms `recv` on a silent socket on the same thread; count
    // the waits that end in `EINTR` (a writer that submitted the chain itself is interrupted
    // when it completes), then check every put is readable after reopen.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let options = suite_options().deadline(zero_deadline());
    let (socket, _peer) = UnixDatagram::pair().unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(5)))
        .unwrap();
    let puts = 300_u32;
    let mut interrupted = 0;
    {
        let db = Db::open(&path, options.clone()).unwrap();
        let space = db.create_space("caller", 1, 32).unwrap();
        for index in 0..puts {
            db.put(space, [index], &index.to_le_bytes()).unwrap();
            interrupted += u32::from(interrupted_wait(&socket));
        }
        db.close().unwrap();
    }
    assert_eq!(
        interrupted, 0,
        "{interrupted} of {puts} blocking calls after a put were interrupted"
    );
    let db = Db::open(&path, options).unwrap();
    let space = db.space("caller").unwrap();
    for index in 0..puts {
        assert_eq!(
            db.get(space, &[index]).unwrap(),
            Some(index.to_le_bytes().to_vec().into()),
            "point {index}"
        );
    }
    db.close().unwrap();
}
