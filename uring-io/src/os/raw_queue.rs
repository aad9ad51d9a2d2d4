//! `RawQueue`: plain io_uring reads and writes (no fsync, no deadline) with many in flight, for
//! the fio comparison in `bench` (`raw_io`: sequential 1 MiB writes at QD4/QD32, random 4 KiB
//! reads at QD32). Writes through it are NOT durable; the engine commits through
//! [`crate::CommitQueue`] instead.
//!
//! Invariants: the in-flight table (keyed by `user_data`) owns each buffer and file until its
//! CQE is reaped; `submit_*` only queues (entering the kernel only when the SQ is full), `wait`
//! submits everything queued and waits in the same `io_uring_enter`, then reaps; dropping the
//! queue waits for (or leaks) what is in flight.
//!
//! Optionally, buffers registered with the ring ([`RawQueue::register_buffers`]) are used by
//! index (`WRITE_FIXED`/`READ_FIXED`, sparing the kernel a page pinning per operation); the
//! queue owns them, and lends one per operation until its CQE is reaped (see `fixed_bufs`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use io_uring::opcode;
use io_uring::types::Fd;

use super::file::{OsFile, check_alignment};
use super::fixed_bufs::FixedBufs;
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
    /// The buffer, handed back; `None` for an operation on a registered buffer (which stays
    /// in the queue: see [`RawQueue::registered_buf_mut`]).
    pub buf: Option<AlignedBuf>,
}

/// The memory of one operation.
enum OpBuf {
    /// A buffer the caller handed over, returned in the completion.
    Owned(AlignedBuf),
    /// Registered buffer `index`, lent until the CQE.
    Fixed(usize),
}

struct RawOp {
    tag: u64,
    _file: Arc<OsFile>,
    buf: OpBuf,
}

/// Plain io_uring reads and writes for benchmarks (see the module docs). Owned by one thread.
pub struct RawQueue {
    // Declared (so dropped) before `fixed`: the registration never outlives the buffers.
    ring: Ring,
    fixed: FixedBufs,
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
        let ring = Ring::new(setup, depth, depth * 2).map_err(|source| IoError::Os {
            operation: "io_uring_setup",
            path: std::path::PathBuf::new(),
            source,
        })?;
        Ok(RawQueue {
            ring,
            fixed: FixedBufs::default(),
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
        self.queue(file, offset, OpBuf::Owned(buf), tag, true)
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
        self.queue(file, offset, OpBuf::Owned(buf), tag, false)
    }

    /// Registers `bufs` with the ring; the queue keeps them for its whole life, and
    /// [`RawQueue::submit_write_fixed`] / [`RawQueue::submit_read_fixed`] use them by index
    /// (their position in `bufs`).
    ///
    /// # Errors
    /// `EBUSY` when buffers are already registered or operations are in flight; `EINVAL` for
    /// no buffers or more than 65,536; [`IoError::Os`] when the kernel refuses (`ENOMEM`: the
    /// locked-memory limit).
    pub fn register_buffers(&mut self, bufs: Vec<AlignedBuf>) -> Result<()> {
        let fail = |errno| IoError::from_errno("io_uring_register(BUFFERS)", "", errno);
        if self.fixed.len() > 0 || !self.ops.is_empty() {
            return Err(fail(libc::EBUSY));
        }
        for buf in &bufs {
            check_alignment(0, buf, self.alignment)?;
        }
        self.fixed = FixedBufs::register(&mut self.ring, bufs).map_err(|source| IoError::Os {
            operation: "io_uring_register(BUFFERS)",
            path: std::path::PathBuf::new(),
            source,
        })?;
        Ok(())
    }

    /// Registered buffer `index`, to fill or inspect; `None` while an operation uses it (or if
    /// there is no such buffer).
    pub fn registered_buf_mut(&mut self, index: usize) -> Option<&mut [u8]> {
        self.fixed.get_mut(index)
    }

    /// Queues a write of all of registered buffer `index` at `offset` (`WRITE_FIXED`).
    ///
    /// # Errors
    /// As [`RawQueue::submit_write`], and `EBUSY`/`EINVAL` when the buffer is in flight or
    /// does not exist.
    pub fn submit_write_fixed(
        &mut self,
        file: &FileHandle,
        offset: u64,
        index: usize,
        tag: u64,
    ) -> Result<()> {
        self.queue(file, offset, OpBuf::Fixed(index), tag, true)
    }

    /// Queues a read filling registered buffer `index` at `offset` (`READ_FIXED`).
    ///
    /// # Errors
    /// As [`RawQueue::submit_write_fixed`].
    pub fn submit_read_fixed(
        &mut self,
        file: &FileHandle,
        offset: u64,
        index: usize,
        tag: u64,
    ) -> Result<()> {
        self.queue(file, offset, OpBuf::Fixed(index), tag, false)
    }

    fn queue(
        &mut self,
        file: &FileHandle,
        offset: u64,
        buf: OpBuf,
        tag: u64,
        is_write: bool,
    ) -> Result<()> {
        let os_file = super::storage_file(file, self.storage_id)?;
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
        let mut buf = buf;
        let fd = Fd(os_file.fd());
        let entry = self.build_entry(file, fd, offset, &mut buf, is_write)?;
        let user_data = self.next_op;
        let entry = entry.user_data(user_data);
        if self.ring.free_slots() == 0 {
            self.ring
                .submit()
                .map_err(|source| os_file.os_error("io_uring_enter", source))?;
        }
        // SAFETY: the entry points into `buf` (an owned buffer, or a registered one the queue
        // owns and has marked busy) and uses `os_file`'s descriptor; both move into the
        // in-flight table below under `user_data` and stay there until `wait` reaps that CQE
        // (or `Drop` leaks them). Moving an `AlignedBuf` does not move its heap memory.
        let pushed = unsafe { self.ring.push_group(&[entry]) };
        if pushed.is_err() {
            if let OpBuf::Fixed(index) = buf {
                self.fixed.release(index);
            }
            return Err(IoError::from_errno(
                "raw queue push",
                file.path(),
                libc::EBUSY,
            ));
        }
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

    /// The SQE of one operation (without `user_data`); lends a registered buffer, so the
    /// caller must release it if the entry is not pushed.
    fn build_entry(
        &mut self,
        file: &FileHandle,
        fd: Fd,
        offset: u64,
        buf: &mut OpBuf,
        is_write: bool,
    ) -> Result<io_uring::squeue::Entry> {
        let (ptr, len, fixed_index) = match buf {
            OpBuf::Owned(owned) => {
                check_alignment(offset, owned, self.alignment)?;
                let len = u32::try_from(owned.len())
                    .map_err(|_| IoError::from_errno("raw io length", file.path(), libc::EINVAL))?;
                (owned.as_mut_ptr(), len, None)
            }
            OpBuf::Fixed(index) => {
                let alignment = self.alignment as u64;
                if !offset.is_multiple_of(alignment) {
                    return Err(IoError::Unaligned {
                        what: "offset",
                        value: offset,
                        alignment,
                    });
                }
                let errno = if *index < self.fixed.len() {
                    libc::EBUSY
                } else {
                    libc::EINVAL
                };
                let lent = self.fixed.lend(*index).ok_or_else(|| {
                    IoError::from_errno("raw queue registered buffer", file.path(), errno)
                })?;
                (lent.ptr, lent.len_bytes, Some(lent.index))
            }
        };
        let entry = match (is_write, fixed_index) {
            (true, None) => opcode::Write::new(fd, ptr, len).offset(offset).build(),
            (false, None) => opcode::Read::new(fd, ptr, len).offset(offset).build(),
            (true, Some(index)) => opcode::WriteFixed::new(fd, ptr, len, index)
                .offset(offset)
                .build(),
            (false, Some(index)) => opcode::ReadFixed::new(fd, ptr, len, index)
                .offset(offset)
                .build(),
        };
        Ok(entry)
    }

    /// Submits everything queued, then waits until at least `min_complete` operations (capped
    /// at those in flight) have completed, appending them to `out` (with whatever else has
    /// completed by then).
    ///
    /// Each round is one `io_uring_enter` that submits and waits for all that is still missing
    /// (fio's `iodepth_batch_complete_min`), plus a read of the CQ; a reap that finds enough
    /// already posted only submits (and enters not at all when nothing is queued).
    ///
    /// # Errors
    /// [`IoError::Os`] when `io_uring_enter` fails for good.
    pub fn wait(&mut self, min_complete: usize, out: &mut Vec<RawCompletion>) -> Result<()> {
        let want = min_complete.min(self.ops.len());
        let map = |source| IoError::Os {
            operation: "io_uring_enter",
            path: std::path::PathBuf::new(),
            source,
        };
        self.ring.collect(&mut self.completions);
        let mut got = self.hand_back(out);
        if got >= want {
            // Enough already: submit what is queued (and post pending task work) in one enter.
            self.ring.reap(&mut self.completions).map_err(map)?;
            self.hand_back(out);
            return Ok(());
        }
        while got < want {
            self.ring.wait_for(want - got, None).map_err(map)?;
            self.ring.reap(&mut self.completions).map_err(map)?;
            got += self.hand_back(out);
        }
        Ok(())
    }

    /// Moves reaped completions of known operations to `out`; returns how many.
    fn hand_back(&mut self, out: &mut Vec<RawCompletion>) -> usize {
        let mut got = 0usize;
        for completion in self.completions.drain(..) {
            let Some(op) = self.ops.remove(&completion.user_data) else {
                continue;
            };
            let result = usize::try_from(completion.result).map_err(|_| -completion.result);
            let buf = match op.buf {
                OpBuf::Owned(buf) => Some(buf),
                OpBuf::Fixed(index) => {
                    self.fixed.release(index);
                    None
                }
            };
            out.push(RawCompletion {
                tag: op.tag,
                result,
                buf,
            });
            got += 1;
        }
        got
    }

    /// Submits what is queued now, in one `io_uring_enter` that also posts pending completions
    /// (kept for the next [`RawQueue::wait`]); no system call when nothing is queued or
    /// pending. Calling it after every `submit_*` is fio's `iodepth_batch_submit=1`; not calling
    /// it leaves submission to `wait`, batched.
    ///
    /// # Errors
    /// [`IoError::Os`] when `io_uring_enter` fails for good.
    pub fn submit(&mut self) -> Result<()> {
        self.ring
            .reap(&mut self.completions)
            .map_err(|source| IoError::Os {
                operation: "io_uring_enter",
                path: std::path::PathBuf::new(),
                source,
            })
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
        if self.ops.is_empty() {
            return;
        }
        for (_, op) in self.ops.drain() {
            std::mem::forget(op);
        }
        // An operation on a registered buffer may still be in the kernel: leak them all.
        std::mem::forget(std::mem::take(&mut self.fixed));
    }
}
