//! `RawQueue`: plain io_uring reads and writes (no fsync, no deadline) with many in flight, for
//! the fio comparison in `bench` (`raw_io`: sequential 1 MiB writes at QD4/QD32, random 4 KiB
//! reads at QD32). Writes through it are NOT durable; the engine commits through
//! [`crate::CommitQueue`] instead.
//!
//! Invariants: the in-flight table (keyed by `user_data`) owns each buffer and file until its
//! CQE is reaped; `submit_*` only queues, `wait` submits everything queued in one
//! `io_uring_enter` and reaps; dropping the queue waits for (or leaks) what is in flight.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use io_uring::opcode;
use io_uring::types::Fd;

use super::file::{OsFile, check_alignment};
use super::ring::{Completion, Ring, RingSetup};
use crate::aligned::AlignedBuf;
use crate::error::{IoError, Result};
use crate::storage::FileHandle;

/// Operations a raw queue holds in flight at most (its ring's size).
pub const RAW_QUEUE_DEPTH_MAX: usize = 256;

/// One finished raw operation.
#[derive(Debug)]
pub struct RawCompletion {
    /// The caller's tag.
    pub tag: u64,
    /// Bytes transferred, or the errno. A short count is returned as is.
    pub result: std::result::Result<usize, i32>,
    /// The buffer, handed back.
    pub buf: AlignedBuf,
}

struct RawOp {
    tag: u64,
    _file: Arc<OsFile>,
    buf: AlignedBuf,
}

/// Plain io_uring reads and writes for benchmarks (see the module docs). Owned by one thread.
pub struct RawQueue {
    ring: Ring,
    alignment: usize,
    storage_id: u64,
    ops: HashMap<u64, RawOp>,
    next_op: u64,
    completions: Vec<Completion>,
}

impl std::fmt::Debug for RawQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawQueue")
            .field("in_flight", &self.ops.len())
            .finish_non_exhaustive()
    }
}

impl RawQueue {
    pub(crate) fn new(setup: RingSetup, alignment: usize, storage_id: u64) -> Result<Self> {
        let depth = u32::try_from(RAW_QUEUE_DEPTH_MAX).unwrap_or(256);
        let ring = Ring::new(setup, depth, depth * 2, false).map_err(|source| IoError::Os {
            operation: "io_uring_setup",
            path: std::path::PathBuf::new(),
            source,
        })?;
        Ok(RawQueue {
            ring,
            alignment,
            storage_id,
            ops: HashMap::new(),
            next_op: 0,
            completions: Vec::new(),
        })
    }

    /// Queues a write of all of `buf` at `offset` (aligned; not synced).
    ///
    /// # Errors
    /// [`IoError::Unaligned`], [`IoError::ForeignHandle`], [`IoError::Poisoned`], or `EBUSY` when
    /// [`RAW_QUEUE_DEPTH_MAX`] operations are already in flight.
    pub fn submit_write(
        &mut self,
        file: &FileHandle,
        offset: u64,
        buf: AlignedBuf,
        tag: u64,
    ) -> Result<()> {
        self.queue(file, offset, buf, tag, true)
    }

    /// Queues a read filling `buf` at `offset` (aligned).
    ///
    /// # Errors
    /// As [`RawQueue::submit_write`].
    pub fn submit_read(
        &mut self,
        file: &FileHandle,
        offset: u64,
        buf: AlignedBuf,
        tag: u64,
    ) -> Result<()> {
        self.queue(file, offset, buf, tag, false)
    }

    fn queue(
        &mut self,
        file: &FileHandle,
        offset: u64,
        mut buf: AlignedBuf,
        tag: u64,
        is_write: bool,
    ) -> Result<()> {
        let os_file = super::storage_file(file, self.storage_id)?;
        check_alignment(offset, &buf, self.alignment)?;
        if is_write {
            os_file.check_not_poisoned()?;
        }
        if self.ops.len() >= RAW_QUEUE_DEPTH_MAX {
            return Err(IoError::from_errno(
                "raw queue full",
                file.path(),
                libc::EBUSY,
            ));
        }
        let len = u32::try_from(buf.len())
            .map_err(|_| IoError::from_errno("raw io length", file.path(), libc::EINVAL))?;
        let fd = Fd(os_file.fd());
        let user_data = self.next_op;
        let entry = if is_write {
            opcode::Write::new(fd, buf.as_ptr(), len)
                .offset(offset)
                .build()
        } else {
            opcode::Read::new(fd, buf.as_mut_ptr(), len)
                .offset(offset)
                .build()
        };
        let entry = entry.user_data(user_data);
        if self.ring.free_slots() == 0 {
            self.ring
                .submit()
                .map_err(|source| os_file.os_error("io_uring_enter", source))?;
        }
        // SAFETY: the entry points into `buf` and uses `os_file`'s descriptor; both move into
        // the in-flight table below under `user_data` and stay there until `wait` reaps that
        // CQE (or `Drop` leaks them). Moving an `AlignedBuf` does not move its heap memory.
        let pushed = unsafe { self.ring.push_group(&[entry]) };
        pushed.map_err(|_| IoError::from_errno("raw queue push", file.path(), libc::EBUSY))?;
        self.next_op += 1;
        self.ops.insert(
            user_data,
            RawOp {
                tag,
                _file: os_file,
                buf,
            },
        );
        Ok(())
    }

    /// Submits everything queued, then waits until at least `min_complete` operations (capped
    /// at those in flight) have completed, appending them to `out`.
    ///
    /// # Errors
    /// [`IoError::Os`] when `io_uring_enter` fails for good.
    pub fn wait(&mut self, min_complete: usize, out: &mut Vec<RawCompletion>) -> Result<()> {
        let want = min_complete.min(self.ops.len());
        let mut got = 0usize;
        loop {
            let map = |source| IoError::Os {
                operation: "io_uring_enter",
                path: std::path::PathBuf::new(),
                source,
            };
            self.ring.reap(&mut self.completions).map_err(map)?;
            for completion in self.completions.drain(..) {
                let Some(op) = self.ops.remove(&completion.user_data) else {
                    continue;
                };
                let result = usize::try_from(completion.result).map_err(|_| -completion.result);
                out.push(RawCompletion {
                    tag: op.tag,
                    result,
                    buf: op.buf,
                });
                got += 1;
            }
            if got >= want {
                return Ok(());
            }
            self.ring.wait(None).map_err(map)?;
        }
    }

    /// Operations queued or in flight.
    pub fn in_flight(&self) -> usize {
        self.ops.len()
    }
}

impl Drop for RawQueue {
    fn drop(&mut self) {
        let give_up_at = Instant::now() + Duration::from_secs(10);
        let mut out = Vec::new();
        while !self.ops.is_empty() && Instant::now() < give_up_at {
            if self.ring.wait(Some(Duration::from_millis(100))).is_err() {
                break;
            }
            if self.wait(0, &mut out).is_err() {
                break;
            }
            out.clear();
        }
        for (_, op) in self.ops.drain() {
            std::mem::forget(op);
        }
    }
}
