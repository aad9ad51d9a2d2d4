//! A real short write: with `RLIMIT_FSIZE` at 64 KiB, a 128 KiB chain at offset 0 is written
//! only up to the limit (the kernel's generic_write_check_limits shortens it), the linked fsync
//! comes back cancelled, the queue resubmits the rest, which fails with EFBIG. The chain must
//! end `Failed { write, EFBIG }` — never `Durable` — with the first 64 KiB on disk.
//!
//! This binary holds a single test because the limit and the SIGXFSZ disposition are
//! process-wide.

mod os_support;

use std::path::Path;

use os_support::{backends, final_event, patterned, poll_until_final};
use uring_io::{ChainOutcome, CommitChain, OpenMode, Storage};

const LIMIT_BYTES: u64 = 64 << 10;

fn set_file_size_limit(bytes: u64) -> libc::rlimit {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `old` is a valid, writable rlimit for the call's duration.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_FSIZE, &mut old) }, 0);
    let new = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: old.rlim_max,
    };
    // SAFETY: `new` is a valid rlimit; lowering the soft limit is always permitted.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &new) }, 0);
    old
}

#[test]
fn a_short_write_is_resubmitted_and_never_reported_durable() {
    // Goal: the short-write path of both queues against the real kernel. Method: see the
    // module docs; ignore SIGXFSZ so the over-limit write fails with EFBIG instead of killing
    // the process.
    // SAFETY: setting a signal's disposition to SIG_IGN has no handler code to be unsafe in.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    for backend in backends() {
        let storage = &backend.storage;
        let alignment = storage.info().alignment_bytes;
        let file = storage
            .open(Path::new("limited"), OpenMode::CreateNew)
            .unwrap();
        let mut queue = storage.commit_queue().unwrap();
        let buf = patterned(128 << 10, alignment, 5);
        let expected = buf[..usize::try_from(LIMIT_BYTES).unwrap()].to_vec();
        let old = set_file_size_limit(LIMIT_BYTES);
        let id = queue.submit(CommitChain {
            file,
            offset: 0,
            buf,
            deadline: None,
            tag: 0,
        });
        let events = poll_until_final(queue.as_mut(), &[id.unwrap()]);
        // SAFETY: restores the limits read above.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &old) }, 0);
        let last = final_event(&events, events[0].id);
        eprintln!("{}: {:?}", storage.info().kind.name(), last.outcome);
        assert_eq!(
            last.outcome,
            ChainOutcome::Failed {
                step: "write",
                errno: libc::EFBIG
            }
        );
        let on_disk = std::fs::read(backend.dir.path().join("limited")).unwrap();
        assert_eq!(on_disk.len() as u64, LIMIT_BYTES);
        assert_eq!(on_disk, expected);
    }
}
