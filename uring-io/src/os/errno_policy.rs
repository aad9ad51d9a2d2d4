//! Every errno the OS backends can see, mapped per operation in one place: retry, short
//! (resubmit the rest), cancelled, fatal, benign bookkeeping, or impossible (a named bug).
//! TigerBeetle `src/io/linux.zig` does the same.
//!
//! Sources for the non-obvious rows:
//! - io_uring_enter(2): `EINTR` (a signal arrived; nothing lost), `EAGAIN` (the kernel could not
//!   allocate request memory: retry), `EBUSY` (the CQ is overflowing or too many requests are in
//!   flight: reap completions first, then retry), `ETIME` (our wait timed out: not an error).
//! - io_uring_prep_cancel(3): an `ASYNC_CANCEL` completes `0` when it found its target and
//!   cancelled it (the target then completes `-ECANCELED`), `-ENOENT` when no such request was
//!   found (it had completed, or is not yet issued: a linked fsync waiting for its write), and
//!   `-EALREADY` when the target was already running and could not be stopped (it completes
//!   normally). Only `-EINVAL` (bad flags) is left, which our SQE cannot cause.
//! - A short read/write breaks an IOSQE_IO_LINK chain: the linked requests complete
//!   `-ECANCELED` (io_uring_enter(2), "IOSQE_IO_LINK").

/// The operation a completion belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Operation {
    /// `IORING_OP_WRITE` (or `pwrite`).
    Write,
    /// `IORING_OP_FSYNC` with `DATASYNC` (or `fdatasync`).
    Fsync,
    /// `IORING_OP_ASYNC_CANCEL` (the commit queue's cancel at a chain's deadline).
    Cancel,
    /// `IORING_OP_READ` (or `pread`).
    Read,
}

/// What a completion result means for its operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Disposition {
    /// Succeeded, transferring this many bytes (0 for a sync). May be fewer than asked: the
    /// caller compares against what it asked for (a short transfer).
    Complete(usize),
    /// Transient: nothing happened; submit the same request again.
    Retry,
    /// Cancelled by our `ASYNC_CANCEL` or a broken link; it did not run to completion.
    Cancelled,
    /// Failed with this errno; for a sync the file is poisoned.
    Fatal(i32),
    /// Bookkeeping only (cancel results); no effect on the chain's fate.
    Benign,
    /// Cannot happen if our code and the kernel keep their contracts: a named bug.
    Impossible(&'static str),
}

/// Classifies a CQE `result` (negative errno or a byte count) for `operation`.
pub(crate) fn classify(operation: Operation, result: i32) -> Disposition {
    match operation {
        Operation::Write | Operation::Read => classify_transfer(result),
        Operation::Fsync => classify_fsync(result),
        Operation::Cancel => classify_cancel(result),
    }
}

fn classify_transfer(result: i32) -> Disposition {
    if let Ok(bytes) = usize::try_from(result) {
        return Disposition::Complete(bytes);
    }
    match -result {
        libc::EINTR | libc::EAGAIN => Disposition::Retry,
        // Reads and writes are always the head of our chains, so no broken link cancels them.
        // The one write we cancel, an `RWF_DSYNC` commit write at its deadline, is recognised
        // by `chain_round::decide` before it gets here.
        libc::ECANCELED => Disposition::Impossible("read/write head of a chain was cancelled"),
        errno => Disposition::Fatal(errno),
    }
}

fn classify_fsync(result: i32) -> Disposition {
    match result {
        0 => Disposition::Complete(0),
        positive if positive > 0 => Disposition::Impossible("fsync returned a positive count"),
        _ => match -result {
            libc::ECANCELED => Disposition::Cancelled,
            // Any other failure, EINTR included, is treated as a failed sync: we cannot prove
            // the dirty data reached the disk, so the file is poisoned rather than retried.
            errno => Disposition::Fatal(errno),
        },
    }
}

fn classify_cancel(result: i32) -> Disposition {
    const ENOENT: i32 = -libc::ENOENT;
    const EALREADY: i32 = -libc::EALREADY;
    match result {
        0 | ENOENT | EALREADY => Disposition::Benign,
        positive if positive > 0 => Disposition::Impossible("async cancel returned a count"),
        _ => Disposition::Impossible("async cancel rejected (bad flags)"),
    }
}

/// What to do when `io_uring_enter` itself fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EnterDisposition {
    /// Call again (EINTR; EAGAIN after a short pause).
    Retry,
    /// Reap completions first, then call again (EBUSY: CQ overflow backlog).
    ReapThenRetry,
    /// Our wait's timeout expired: not an error.
    TimedOut,
    /// Give up: the ring is unusable (EBADF, EFAULT, EINVAL, EEXIST from a second submitter
    /// thread on a SINGLE_ISSUER ring, ...).
    Fatal,
}

/// Classifies an `io_uring_enter` errno.
pub(crate) fn classify_enter(errno: i32) -> EnterDisposition {
    match errno {
        libc::EINTR | libc::EAGAIN => EnterDisposition::Retry,
        libc::EBUSY => EnterDisposition::ReapThenRetry,
        libc::ETIME => EnterDisposition::TimedOut,
        _ => EnterDisposition::Fatal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_of_the_table() {
        // Goal: pin the errno table. Method: one assertion per documented row.
        assert_eq!(
            classify(Operation::Write, 4096),
            Disposition::Complete(4096)
        );
        assert_eq!(classify(Operation::Write, -libc::EINTR), Disposition::Retry);
        assert_eq!(classify(Operation::Read, -libc::EAGAIN), Disposition::Retry);
        assert_eq!(
            classify(Operation::Write, -libc::ENOSPC),
            Disposition::Fatal(libc::ENOSPC)
        );
        assert!(matches!(
            classify(Operation::Write, -libc::ECANCELED),
            Disposition::Impossible(_)
        ));
        assert_eq!(classify(Operation::Fsync, 0), Disposition::Complete(0));
        assert_eq!(
            classify(Operation::Fsync, -libc::ECANCELED),
            Disposition::Cancelled
        );
        assert_eq!(
            classify(Operation::Fsync, -libc::EIO),
            Disposition::Fatal(libc::EIO)
        );
        assert_eq!(
            classify(Operation::Fsync, -libc::EINTR),
            Disposition::Fatal(libc::EINTR)
        );
        for errno in [0, libc::EALREADY, libc::ENOENT] {
            assert_eq!(classify(Operation::Cancel, -errno), Disposition::Benign);
        }
        for result in [-libc::EINVAL, -libc::ECANCELED, 1] {
            assert!(matches!(
                classify(Operation::Cancel, result),
                Disposition::Impossible(_)
            ));
        }
        assert_eq!(classify_enter(libc::EINTR), EnterDisposition::Retry);
        assert_eq!(classify_enter(libc::EBUSY), EnterDisposition::ReapThenRetry);
        assert_eq!(classify_enter(libc::ETIME), EnterDisposition::TimedOut);
        assert_eq!(classify_enter(libc::EEXIST), EnterDisposition::Fatal);
    }
}
