//! `OsStorage`: the operating system's [`Storage`] — io_uring with O_DIRECT where the kernel and
//! filesystem allow it, else a thread pool doing `pwrite`/`fdatasync` (with O_DIRECT where the
//! filesystem allows it), else buffered I/O (tmpfs). docs/design.md §4.
//!
//! Roles: `detect` (probing and the reason string), `file` (per-file state, poison flag,
//! blocking syscalls), `ring` (the only place SQEs are pushed), `chain_round` (the completion
//! state machine of a commit chain), `errno_policy` (every errno per operation), `uring_queue`
//! and `thread_queue` (the two [`CommitQueue`]s), `read_batch` (`read_many` via a per-thread
//! ring), `raw_queue` (plain reads/writes for benchmarks).
//!
//! Invariants:
//! - Relative paths are resolved against the storage's root; handles keep the path given.
//! - A handle works only with the storage that opened it ([`IoError::ForeignHandle`]).
//! - Every creation of a file or directory is followed by an fsync of its parent directory,
//!   except the names `hard_link` and `copy_file` make, which are durable only at the
//!   caller's `sync_dir` (a checkpoint makes one per block, then syncs the directory once).
//! - Blocking operations may run on any thread; they use plain syscalls, except `read_many`
//!   on the io_uring backend, which batches the reads in one submission.

mod chain_round;
mod detect;
mod errno_policy;
mod file;
mod fixed_bufs;
mod raw_queue;
mod read_batch;
mod ring;
mod thread_queue;
mod uring_queue;

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use raw_queue::{RAW_QUEUE_DEPTH_MAX, RawCompletion, RawQueue};

use self::detect::Probe;
use self::file::{OsFile, check_alignment};
use self::ring::RingSetup;
use crate::aligned::AlignedBuf;
use crate::backend::{BackendInfo, BackendKind, BackendRequest};
use crate::error::{IoError, Result};
use crate::storage::{CommitQueue, FileHandle, OpenMode, Storage};

/// Bytes of zeros written per `pwrite` by [`Storage::create_prewritten`].
const PREWRITE_CHUNK_BYTES: usize = 1 << 20;

/// Distinguishes storages, so a handle from one is refused by another.
static NEXT_STORAGE_ID: AtomicU64 = AtomicU64::new(1);

/// The operating system's storage (see the module docs).
///
/// ```
/// use uring_io::{BackendRequest, OsStorage, Storage};
/// let dir = tempfile::tempdir().unwrap();
/// let storage = OsStorage::open(dir.path(), BackendRequest::Auto).unwrap();
/// println!("{}: {}", storage.info().kind.name(), storage.info().reason);
/// assert!(storage.info().alignment_bytes >= 4096);
/// ```
#[derive(Debug)]
pub struct OsStorage {
    root: PathBuf,
    info: BackendInfo,
    ring_setup: Option<RingSetup>,
    storage_id: u64,
}

impl OsStorage {
    /// Opens the storage rooted at `root` (created, with its missing parents, if needed):
    /// probes io_uring, O_DIRECT and the direct-I/O alignment there, and picks the backend
    /// for `request` ([`BackendRequest::Auto`] honours [`crate::BACKEND_ENV_VAR`]).
    ///
    /// # Errors
    /// [`IoError::BackendUnavailable`] when the requested backend cannot run here (or the
    /// environment variable is not one of `uring|fallback|buffered`); [`IoError::Os`] when
    /// `root` cannot be created or probed.
    pub fn open(root: &Path, request: BackendRequest) -> Result<Arc<OsStorage>> {
        let absolute = std::path::absolute(root).map_err(os_error("absolute", root))?;
        create_dir_all_synced(&absolute)?;
        let root = std::fs::canonicalize(&absolute).map_err(os_error("canonicalize", &absolute))?;
        Self::start(root, request, Probe::WriteFile)
    }

    /// Opens the storage rooted at the existing directory `root` without writing anything
    /// there: direct I/O is probed by opening `probe_file` (a path relative to `root`, an
    /// existing file) for direct reads, so the storage is fit for reads of a directory this
    /// process may not write (a read-only open, an inspection tool).
    ///
    /// # Errors
    /// As [`OsStorage::open`]; [`IoError::Os`] with `NotFound` when `root` or `probe_file`
    /// does not exist.
    pub fn open_existing(
        root: &Path,
        request: BackendRequest,
        probe_file: &Path,
    ) -> Result<Arc<OsStorage>> {
        let absolute = std::path::absolute(root).map_err(os_error("absolute", root))?;
        let root = std::fs::canonicalize(&absolute).map_err(os_error("canonicalize", &absolute))?;
        let probe_path = root.join(probe_file);
        Self::start(root, request, Probe::ReadExisting(&probe_path))
    }

    fn start(root: PathBuf, request: BackendRequest, probe: Probe<'_>) -> Result<Arc<OsStorage>> {
        let detection = detect::detect(&root, request, probe)?;
        Ok(Arc::new(OsStorage {
            root,
            info: detection.info,
            ring_setup: detection.ring_setup,
            storage_id: NEXT_STORAGE_ID.fetch_add(1, Ordering::Relaxed),
        }))
    }

    /// A queue of plain (unsynced) io_uring reads and writes, for benchmarks.
    ///
    /// # Errors
    /// [`IoError::BackendUnavailable`] unless the backend is [`BackendKind::Uring`].
    pub fn raw_queue(&self) -> Result<RawQueue> {
        match self.ring_setup {
            Some(setup) if self.info.kind == BackendKind::Uring => {
                RawQueue::new(setup, self.info.alignment_bytes, self.storage_id)
            }
            _ => Err(IoError::BackendUnavailable {
                backend: "uring",
                reason: format!(
                    "raw queue needs io_uring; backend is {}",
                    self.info.kind.name()
                ),
            }),
        }
    }

    /// The directory relative paths are resolved against: the directory `open` was given,
    /// made absolute and canonical (symlinks and `..` resolved) once, at open.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn resolve(&self, path: &Path) -> PathBuf {
        self.root.join(path)
    }

    fn os_file(&self, handle: &FileHandle) -> Result<Arc<OsFile>> {
        storage_file(handle, self.storage_id)
    }

    fn open_file(&self, path: &Path, mode: OpenMode) -> Result<FileHandle> {
        let resolved = self.resolve(path);
        let mut options = OpenOptions::new();
        options.read(true);
        match mode {
            OpenMode::Read | OpenMode::ReadCached => {}
            OpenMode::ReadWrite => {
                options.write(true);
            }
            OpenMode::CreateNew => {
                options.write(true).create_new(true);
            }
        }
        let direct_io = self.info.direct_io && mode != OpenMode::ReadCached;
        if direct_io {
            options.custom_flags(libc::O_DIRECT);
        }
        let file = options.open(&resolved).map_err(|source| IoError::Os {
            operation: "open",
            path: resolved.clone(),
            source,
        })?;
        if mode == OpenMode::CreateNew {
            sync_parent(&resolved)?;
        }
        if mode == OpenMode::ReadCached {
            advise_random(&file, &resolved)?;
        }
        let os_file = OsFile::new(file, resolved, self.storage_id, direct_io);
        Ok(FileHandle::new(path.to_path_buf(), Arc::new(os_file)))
    }

    fn prewrite(&self, file: &OsFile, len_bytes: u64) -> Result<()> {
        let chunk_bytes = usize::try_from(len_bytes)
            .unwrap_or(usize::MAX)
            .min(PREWRITE_CHUNK_BYTES);
        let zeros = AlignedBuf::new(chunk_bytes, self.info.alignment_bytes)?;
        let mut offset = 0u64;
        while offset < len_bytes {
            let left = usize::try_from(len_bytes - offset).unwrap_or(usize::MAX);
            let this_chunk = &zeros[..left.min(chunk_bytes)];
            file.write_all_at(offset, this_chunk)?;
            offset += this_chunk.len() as u64;
        }
        debug_assert_eq!(offset, len_bytes);
        file.sync_data()
    }
}

/// The OS file behind `handle`, if `handle` belongs to storage `storage_id`.
pub(crate) fn storage_file(handle: &FileHandle, storage_id: u64) -> Result<Arc<OsFile>> {
    let foreign = || IoError::ForeignHandle {
        path: handle.path().to_path_buf(),
    };
    let file = Arc::clone(handle.inner())
        .downcast::<OsFile>()
        .map_err(|_| foreign())?;
    if file.storage_id() != storage_id {
        return Err(foreign());
    }
    Ok(file)
}

fn os_error(operation: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> IoError {
    let path = path.to_path_buf();
    move |source| IoError::Os {
        operation,
        path,
        source,
    }
}

/// Advises the kernel that `file` is read at random (`POSIX_FADV_RANDOM`), which turns off
/// its readahead: without it a cold 4 KiB read may pull in tens of KiB around it.
fn advise_random(file: &std::fs::File, path: &Path) -> Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: `posix_fadvise` only reads its integer arguments; `file` owns a valid open fd
    // for the duration of the call.
    let code = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_RANDOM) };
    if code != 0 {
        return Err(IoError::Os {
            operation: "posix_fadvise",
            path: path.to_path_buf(),
            source: std::io::Error::from_raw_os_error(code),
        });
    }
    Ok(())
}

/// fsyncs a directory.
fn sync_directory(dir: &Path) -> Result<()> {
    let handle = std::fs::File::open(dir).map_err(os_error("open directory", dir))?;
    handle.sync_all().map_err(os_error("fsync directory", dir))
}

/// fsyncs the directory containing `path`.
fn sync_parent(path: &Path) -> Result<()> {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => sync_directory(parent),
        _ => sync_directory(Path::new(".")),
    }
}

/// Copies all of `reader` into `writer`, the new file `target` (buffered; `std::io::copy`
/// uses `copy_file_range(2)` where the kernel allows), and fsyncs it.
fn copy_synced(
    reader: &mut std::fs::File,
    writer: &mut std::fs::File,
    target: &Path,
) -> Result<u64> {
    let copied = std::io::copy(reader, writer).map_err(os_error("copy", target))?;
    writer.sync_all().map_err(os_error("fsync", target))?;
    Ok(copied)
}

/// Creates `dir` and its missing ancestors, fsyncing each new directory's parent.
fn create_dir_all_synced(dir: &Path) -> Result<()> {
    let mut missing = Vec::new();
    let mut cursor = Some(dir);
    while let Some(path) = cursor.filter(|path| !path.as_os_str().is_empty()) {
        if path.try_exists().map_err(os_error("stat", path))? {
            break;
        }
        missing.push(path);
        cursor = path.parent();
    }
    for path in missing.into_iter().rev() {
        match std::fs::create_dir(path) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(source) => return Err(os_error("mkdir", path)(source)),
        }
        sync_parent(path)?;
    }
    Ok(())
}

impl Storage for OsStorage {
    fn info(&self) -> &BackendInfo {
        &self.info
    }

    fn create_dir_all(&self, dir: &Path) -> Result<()> {
        create_dir_all_synced(&self.resolve(dir))
    }

    fn list_dir(&self, dir: &Path) -> Result<Vec<OsString>> {
        let resolved = self.resolve(dir);
        let entries = std::fs::read_dir(&resolved).map_err(os_error("readdir", &resolved))?;
        entries
            .map(|entry| {
                entry
                    .map(|entry| entry.file_name())
                    .map_err(os_error("readdir", &resolved))
            })
            .collect()
    }

    fn exists(&self, path: &Path) -> Result<bool> {
        let resolved = self.resolve(path);
        resolved.try_exists().map_err(os_error("stat", &resolved))
    }

    fn remove_file(&self, path: &Path) -> Result<()> {
        let resolved = self.resolve(path);
        std::fs::remove_file(&resolved).map_err(os_error("unlink", &resolved))
    }

    fn rename(&self, source: &Path, target: &Path) -> Result<()> {
        let (source, target) = (self.resolve(source), self.resolve(target));
        std::fs::rename(&source, &target).map_err(os_error("rename", &source))
    }

    fn sync_dir(&self, dir: &Path) -> Result<()> {
        sync_directory(&self.resolve(dir))
    }

    fn hard_link(&self, old_path: &Path, new_path: &Path) -> Result<()> {
        let (old_path, new_path) = (self.resolve(old_path), self.resolve(new_path));
        std::fs::hard_link(&old_path, &new_path)
            .map_err(|source| IoError::from_link(&old_path, &new_path, source))
    }

    fn copy_file(&self, source: &Path, target: &Path) -> Result<u64> {
        let (source, target) = (self.resolve(source), self.resolve(target));
        let mut reader = std::fs::File::open(&source).map_err(os_error("open", &source))?;
        let mut writer = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
            .map_err(os_error("open", &target))?;
        let copied = copy_synced(&mut reader, &mut writer, &target);
        if copied.is_err() {
            // Best effort: a partial copy must not be mistaken for a whole one.
            let _ = std::fs::remove_file(&target);
        }
        copied
    }

    fn open(&self, path: &Path, mode: OpenMode) -> Result<FileHandle> {
        self.open_file(path, mode)
    }

    fn create_prewritten(&self, path: &Path, len_bytes: u64) -> Result<FileHandle> {
        let alignment = self.info.alignment_bytes as u64;
        if !len_bytes.is_multiple_of(alignment) {
            return Err(IoError::Unaligned {
                what: "length",
                value: len_bytes,
                alignment,
            });
        }
        let handle = self.open_file(path, OpenMode::CreateNew)?;
        let file = self.os_file(&handle)?;
        if let Err(error) = self.prewrite(&file, len_bytes) {
            // Best effort: a half-written file must not be mistaken for a prepared one.
            let _ = std::fs::remove_file(self.resolve(path));
            return Err(error);
        }
        sync_parent(&self.resolve(path))?;
        Ok(handle)
    }

    fn file_len(&self, file: &FileHandle) -> Result<u64> {
        self.os_file(file)?.len_bytes()
    }

    fn set_len(&self, file: &FileHandle, len_bytes: u64) -> Result<()> {
        let file = self.os_file(file)?;
        file.set_len(len_bytes)?;
        file.sync_all()
    }

    fn read_at(&self, file: &FileHandle, offset: u64, buf: &mut AlignedBuf) -> Result<usize> {
        let file = self.os_file(file)?;
        check_alignment(offset, buf, self.info.alignment_bytes)?;
        file.read_full_at(offset, buf, self.info.alignment_bytes)
    }

    fn read_many(&self, file: &FileHandle, reads: &mut [(u64, AlignedBuf)]) -> Result<Vec<usize>> {
        let file = self.os_file(file)?;
        let alignment = self.info.alignment_bytes;
        for (offset, buf) in reads.iter() {
            check_alignment(*offset, buf, alignment)?;
        }
        match self.ring_setup {
            Some(setup) if self.info.kind == BackendKind::Uring => {
                read_batch::read_batch(setup, &file, reads, alignment)
            }
            _ => reads
                .iter_mut()
                .map(|(offset, buf)| file.read_full_at(*offset, buf, alignment))
                .collect(),
        }
    }

    fn write_durable(&self, file: &FileHandle, offset: u64, buf: &AlignedBuf) -> Result<()> {
        let file = self.os_file(file)?;
        check_alignment(offset, buf, self.info.alignment_bytes)?;
        file.write_all_at(offset, buf)?;
        file.sync_data()
    }

    fn commit_queue(&self) -> Result<Box<dyn CommitQueue>> {
        let alignment = self.info.alignment_bytes;
        match self.ring_setup {
            Some(setup) if self.info.kind == BackendKind::Uring => {
                Ok(Box::new(uring_queue::UringCommitQueue::new(
                    commit_sync_step()?,
                    setup,
                    alignment,
                    self.storage_id,
                )))
            }
            _ => Ok(Box::new(thread_queue::ThreadCommitQueue::new(
                alignment,
                self.storage_id,
            )?)),
        }
    }
}

/// The sync step [`crate::COMMIT_SYNC_ENV_VAR`] asks for (`RWF_DSYNC` writes by default).
fn commit_sync_step() -> Result<chain_round::SyncStep> {
    let Some(value) = std::env::var_os(crate::backend::COMMIT_SYNC_ENV_VAR) else {
        return Ok(chain_round::SyncStep::DsyncWrite);
    };
    match value.to_str() {
        Some("dsync") | Some("") => Ok(chain_round::SyncStep::DsyncWrite),
        Some("fsync") => Ok(chain_round::SyncStep::LinkedFsync),
        _ => Err(IoError::BackendUnavailable {
            backend: "uring",
            reason: format!(
                "{}={value:?} is not `dsync` or `fsync`",
                crate::backend::COMMIT_SYNC_ENV_VAR
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::storage::{ChainOutcome, CommitChain};

    fn storages() -> Vec<(tempfile::TempDir, Arc<OsStorage>)> {
        [BackendRequest::Uring, BackendRequest::Fallback]
            .into_iter()
            .filter_map(|request| {
                let dir = tempfile::tempdir().ok()?;
                let storage = OsStorage::open(dir.path(), request).ok()?;
                Some((dir, storage))
            })
            .collect()
    }

    #[test]
    fn poisoned_files_refuse_chains_and_durable_writes() {
        // Goal: after a failed sync (simulated by setting the flag: a real fsync failure cannot
        // be provoked here; the simulated disk covers it end to end) every write path refuses
        // the file. Method: poison by hand, then try submit, write_durable and set_len.
        for (_dir, storage) in storages() {
            let alignment = storage.info.alignment_bytes;
            let handle = storage.create_prewritten(Path::new("p"), 8192).unwrap();
            storage_file(&handle, storage.storage_id).unwrap().poison();
            let mut queue = storage.commit_queue().unwrap();
            let buf = AlignedBuf::new(4096, alignment).unwrap();
            let chain = CommitChain {
                file: handle.clone(),
                offset: 0,
                buf,
                deadline: None,
                tag: 0,
            };
            assert!(matches!(queue.submit(chain), Err(IoError::Poisoned { .. })));
            let buf = AlignedBuf::new(4096, alignment).unwrap();
            let durable = storage.write_durable(&handle, 0, &buf);
            assert!(matches!(durable, Err(IoError::Poisoned { .. })));
            assert!(matches!(
                storage.set_len(&handle, 0),
                Err(IoError::Poisoned { .. })
            ));
            let reopened = storage.open(Path::new("p"), OpenMode::ReadWrite).unwrap();
            storage.write_durable(&reopened, 0, &buf).unwrap();
        }
    }

    #[test]
    fn a_chain_whose_file_is_poisoned_in_flight_is_never_durable() {
        // Goal: fsyncgate — a sync that succeeds after another sync of the file failed proves
        // nothing. Method (io_uring): submit, poison the file before the first poll (the
        // round is only decided in poll), and expect Failed { fsync, EIO }.
        let dir = tempfile::tempdir().unwrap();
        let Ok(storage) = OsStorage::open(dir.path(), BackendRequest::Uring) else {
            eprintln!("SKIP: io_uring unavailable");
            return;
        };
        let handle = storage.create_prewritten(Path::new("q"), 8192).unwrap();
        let mut queue = storage.commit_queue().unwrap();
        let buf = AlignedBuf::new(4096, storage.info.alignment_bytes).unwrap();
        let chain = CommitChain {
            file: handle.clone(),
            offset: 0,
            buf,
            deadline: None,
            tag: 0,
        };
        queue.submit(chain).unwrap();
        storage_file(&handle, storage.storage_id).unwrap().poison();
        let mut events = Vec::new();
        while events.is_empty() {
            queue
                .poll(Some(Duration::from_secs(5)), &mut events)
                .unwrap();
        }
        assert_eq!(
            events[0].outcome,
            ChainOutcome::Failed {
                step: "fsync",
                errno: libc::EIO
            }
        );
    }
}
