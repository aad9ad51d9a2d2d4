//! The interface every backend implements: a namespace (directories, files), blocking reads and
//! durable writes usable from any thread, and a [`CommitQueue`] of asynchronous
//! WRITE → FSYNC(DATASYNC) chains with deadlines, owned by one thread.
//!
//! Paths: every path a `Storage` takes is absolute, or relative to the backend's root
//! ([`crate::OsStorage::root`], the canonical directory it was opened at; `/` on the
//! simulated disk). A caller that names files under the root either spells them relative to
//! it or absolute, never relative to something else.
//!
//! Invariants every implementation keeps:
//! - Data offsets, lengths and buffer addresses are multiples of `info().alignment_bytes`;
//!   violations are [`IoError::Unaligned`] before anything is submitted.
//! - A failed sync poisons the file: later writes and syncs on it fail with
//!   [`IoError::Poisoned`] until it is reopened; nothing is ever retried as if it had worked.
//! - A chain's buffer is owned by the queue until its final event, which hands it back.

use std::any::Any;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::aligned::AlignedBuf;
use crate::backend::BackendInfo;
use crate::error::Result;

/// Size of a sector, the unit a write torn by a power loss keeps or loses whole: after a
/// crash each aligned 512-byte sector of an unsynced write holds either its old or its new
/// bytes. The simulated disk tears writes at this unit; on-disk layouts that must survive a
/// torn write (the engine's manifest, a log's sealed prefix) are laid out in sectors.
pub const SECTOR_BYTES: usize = 512;

/// An open file of some [`Storage`]. Cheap to clone; the file closes when the last clone drops.
/// Handles are only valid with the storage that opened them ([`crate::IoError::ForeignHandle`]
/// otherwise).
#[derive(Clone)]
pub struct FileHandle {
    path: Arc<PathBuf>,
    inner: Arc<dyn Any + Send + Sync>,
}

impl FileHandle {
    /// Wraps a backend's per-file state. Only backends call this.
    pub fn new(path: PathBuf, inner: Arc<dyn Any + Send + Sync>) -> Self {
        FileHandle {
            path: Arc::new(path),
            inner,
        }
    }

    /// The path the file was opened at.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The backend's per-file state, for the backend to downcast.
    pub fn inner(&self) -> &Arc<dyn Any + Send + Sync> {
        &self.inner
    }
}

impl std::fmt::Debug for FileHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileHandle")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// How to open a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenMode {
    /// Open an existing file for reading only.
    Read,
    /// Open an existing file for reading only through the OS page cache (never O_DIRECT),
    /// advised for random access (`POSIX_FADV_RANDOM`: no readahead, so a cold read of one
    /// page is one device read of that page). For immutable files whose hot pages are worth
    /// keeping in free memory; reads keep the backend's alignment rules.
    ReadCached,
    /// Open an existing file for reading and writing.
    ReadWrite,
    /// Create the file (it must not exist), open it read-write, and sync its directory.
    CreateNew,
}

/// A storage backend: a directory tree of files with aligned, durable I/O.
/// Shared across threads as `Arc<dyn Storage>`.
pub trait Storage: Send + Sync + std::fmt::Debug {
    /// Which backend this is, its alignment, and why it was chosen.
    fn info(&self) -> &BackendInfo;

    /// Creates `dir` and missing parents, syncing each new directory's parent.
    fn create_dir_all(&self, dir: &Path) -> Result<()>;
    /// Names of the entries in `dir` (files and directories, no `.`/`..`), unsorted.
    fn list_dir(&self, dir: &Path) -> Result<Vec<OsString>>;
    /// Whether `path` exists.
    fn exists(&self, path: &Path) -> Result<bool>;
    /// Removes a file (not durable until [`Storage::sync_dir`] of its directory).
    fn remove_file(&self, path: &Path) -> Result<()>;
    /// Atomically renames `source` to `target`, replacing `target` (not durable until
    /// [`Storage::sync_dir`]).
    fn rename(&self, source: &Path, target: &Path) -> Result<()>;
    /// fsyncs the directory itself, making creations, removals, renames and links in it
    /// durable.
    fn sync_dir(&self, dir: &Path) -> Result<()>;
    /// Makes `new_path` (which must not exist) another name of the file `old_path`, sharing
    /// its contents (link(2); not durable until [`Storage::sync_dir`] of `new_path`'s
    /// directory). [`crate::IoError::CrossesDevices`] when the two are on different
    /// filesystems, so that the caller can copy instead.
    fn hard_link(&self, old_path: &Path, new_path: &Path) -> Result<()>;
    /// Creates `target` (which must not exist) holding the bytes of the file `source`, and
    /// fsyncs it: its contents are durable when this returns, its name once
    /// [`Storage::sync_dir`] of its directory has. Returns the bytes copied. On failure
    /// `target` is removed (best effort; the removal, too, is durable only with the
    /// directory).
    fn copy_file(&self, source: &Path, target: &Path) -> Result<u64>;

    /// Opens a file.
    fn open(&self, path: &Path, mode: OpenMode) -> Result<FileHandle>;
    /// Creates a new file of `len_bytes` (a multiple of the alignment), writes zeros over all of
    /// it, fdatasyncs it and syncs its directory, so later commits overwrite written blocks
    /// (about 8,000 durable commits/s here against about 3,000/s into fallocated space).
    fn create_prewritten(&self, path: &Path, len_bytes: u64) -> Result<FileHandle>;
    /// The file's current length in bytes.
    fn file_len(&self, file: &FileHandle) -> Result<u64>;
    /// Truncates or extends the file to `len_bytes` and syncs it.
    fn set_len(&self, file: &FileHandle, len_bytes: u64) -> Result<()>;

    /// Reads `buf.len()` bytes at `offset` (blocking, any thread). Returns the bytes read, fewer
    /// only at end of file.
    fn read_at(&self, file: &FileHandle, offset: u64, buf: &mut AlignedBuf) -> Result<usize>;
    /// Reads many `(offset, buffer)` pairs of one file in one submission where the backend can
    /// (block pages of a query). Each entry gets the count of bytes read into it.
    fn read_many(&self, file: &FileHandle, reads: &mut [(u64, AlignedBuf)]) -> Result<Vec<usize>>;
    /// Writes all of `buf` at `offset` and fdatasyncs (blocking, any thread): blocks and
    /// manifest edits. A failed sync poisons the file.
    fn write_durable(&self, file: &FileHandle, offset: u64, buf: &AlignedBuf) -> Result<()>;

    /// A new commit queue, driven by one thread (see [`CommitQueue`]).
    fn commit_queue(&self) -> Result<Box<dyn CommitQueue>>;
}

/// Identifies one submitted chain within its [`CommitQueue`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChainId(pub u64);

/// One commit: write `buf` at `offset` of `file`, then fdatasync, within `deadline`.
#[derive(Debug)]
pub struct CommitChain {
    /// The file written.
    pub file: FileHandle,
    /// Byte offset (aligned).
    pub offset: u64,
    /// The bytes (aligned); owned by the queue until the chain's final event returns it.
    pub buf: AlignedBuf,
    /// How long after submission the chain may take before a `DeadlineExceeded` event;
    /// `None` waits for ever.
    pub deadline: Option<Duration>,
    /// Caller's tag, echoed in every event of this chain.
    pub tag: u64,
}

/// What happened to a chain. A chain yields at most one `DeadlineExceeded` and exactly one
/// final outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChainOutcome {
    /// Final: the bytes were written and the fdatasync acknowledged.
    Durable,
    /// Not final: the deadline passed first. The chain is still in flight or being cancelled;
    /// its final fate follows in a later event.
    DeadlineExceeded,
    /// Final: cancelled at its deadline before it was durable (io_uring cancels a sync step not
    /// yet issued to the device). The bytes may or may not have reached the disk: treat the
    /// region as unknown, never as written.
    Cancelled,
    /// Final: the write or the sync failed with this errno. After a failed sync the file is
    /// poisoned.
    Failed {
        /// Which step failed: "write" or "fsync".
        step: &'static str,
        /// The errno.
        errno: i32,
    },
}

impl ChainOutcome {
    /// Whether no further event follows for this chain.
    pub fn is_final(&self) -> bool {
        !matches!(self, ChainOutcome::DeadlineExceeded)
    }
}

/// One event of a chain.
#[derive(Debug)]
pub struct ChainEvent {
    /// The chain.
    pub id: ChainId,
    /// The tag given at submission.
    pub tag: u64,
    /// What happened.
    pub outcome: ChainOutcome,
    /// The chain's buffer, returned with its final event (None on `DeadlineExceeded`).
    pub buf: Option<AlignedBuf>,
}

/// Asynchronous commit chains. Several chains, to the same or to different files, may be in
/// flight at once; the queue reports each chain's events in the order they happen.
///
/// One thread drives a queue for its whole life: the first to submit. Calls take `&mut self`;
/// on io_uring the ring is bound to that thread (`SINGLE_ISSUER | DEFER_TASKRUN` where the
/// kernel has it), and a chain's completion is processed only when that thread polls, so it
/// never interrupts another thread (or that one, in another blocking call) like a signal.
/// Move a queue to its thread before its first call.
pub trait CommitQueue: Send {
    /// Submits a chain. Alignment is checked first ([`crate::IoError::Unaligned`], nothing
    /// submitted); a poisoned file gives [`crate::IoError::Poisoned`].
    fn submit(&mut self, chain: CommitChain) -> Result<ChainId>;
    /// Appends ready events to `events`, waiting up to `wait` for the first one (`None`: do not
    /// wait). Returns early at a chain's deadline to report `DeadlineExceeded`.
    fn poll(&mut self, wait: Option<Duration>, events: &mut Vec<ChainEvent>) -> Result<()>;
    /// Chains submitted whose final event has not been returned yet.
    fn in_flight(&self) -> usize;
}
