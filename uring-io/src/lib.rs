//! All disk I/O of infinitedb: io_uring submission with O_DIRECT, `RWF_DSYNC` writes or linked
//! fsyncs, and cancellation at the deadline, with fallback, buffered and simulated backends
//! behind one interface, [`Storage`].
//!
//! The simulated backend (`SimStorage`: an in-memory disk with crash images and injected
//! faults, for tests) is compiled only with the cargo feature `sim`, which also brings in its
//! random-number dependencies; a build without it has the OS backends alone.
//!
//! Unsafe sites (keep this list current):
//! - `aligned.rs`: allocation, slice views and deallocation of [`AlignedBuf`]; invariant: the
//!   pointer, capacity and alignment come from one successful `alloc_zeroed` (or mapping),
//!   and the length never passes the capacity.
//! - `os/ring.rs`: `Ring::push_group` (an `unsafe fn`) is the only place SQEs enter a ring;
//!   `run_deferred_task_work` enters with no SQEs and no argument. Invariant (the callers'
//!   contract): every buffer, timespec and fd an SQE names outlives its CQE.
//! - `os/uring_queue.rs` (`push_round`), `os/raw_queue.rs` (`queue`), `os/read_batch.rs`
//!   (`read_wave`), `os/detect.rs` (NOP probe): callers of `push_group`; the in-flight table,
//!   or the borrowed wave, owns each buffer until its CQE is reaped, and `Drop`/`abandon` leak
//!   whatever the kernel may still touch. `os/uring_queue.rs` (`queue_cancel`) also pushes an
//!   `ASYNC_CANCEL`, which names no memory or fd (only a `user_data` to match).
//! - `os/detect.rs`: `fstatfs` and `statx` on open descriptors into zeroed out-parameters.
//! - `os/mod.rs` (`advise_random`): `posix_fadvise` on an fd the caller's `File` owns.
//! - `seccomp.rs`: `prctl(PR_SET_NO_NEW_PRIVS)` and `prctl(PR_SET_SECCOMP)` with a filter
//!   program that lives for the call (the kernel copies it).
//! - tests `os_short_write.rs` (`setrlimit`, `signal(SIGXFSZ, SIG_IGN)`) and
//!   `os_env_override.rs` (`set_var`): process-wide changes, each in a single-test binary.

mod aligned;
mod backend;
mod error;
mod os;
pub mod seccomp;
#[cfg(feature = "sim")]
mod sim;
mod storage;

pub use aligned::{AlignedBuf, MIN_ALIGNMENT};
pub use backend::{BACKEND_ENV_VAR, BackendInfo, BackendKind, BackendRequest, COMMIT_SYNC_ENV_VAR};
pub use error::{IoError, Result};
pub use os::{OsStorage, RAW_QUEUE_DEPTH_MAX, RawCompletion, RawQueue};
#[cfg(feature = "sim")]
pub use sim::{
    CrashPlan, CrashPlanError, ENUMERATED_WRITES_MAX, Fault, OpKind, OpMatch, PathMatch,
    PendingWrite, RuleId, SIM_ALIGNMENT_BYTES, SIM_CHAINS_IN_FLIGHT_MAX, SimDisk, SimFaults,
    SimStorage, Tear, Trigger,
};
pub use storage::{
    ChainEvent, ChainId, ChainOutcome, CommitChain, CommitQueue, FileHandle, OpenMode,
    SECTOR_BYTES, Storage,
};
