//! `SimStorage`: the [`Storage`] implementation over a shared in-memory [`SimDisk`], with the
//! fault rules of [`SimFaults`] applied to every operation (see `super`'s header for the fault
//! model).
//!
//! Invariants:
//! - Every operation step goes through [`SimFaults::decide`] once, before it touches the disk;
//!   an injected errno leaves the disk unchanged (except that a failed fsync loses the file's
//!   unsynced writes, as a failed writeback does).
//! - Injected latency is slept on the calling thread with no lock held.
//! - A handle carries the id of the storage that opened it; handles of another storage (for
//!   example of the storage before a simulated crash) are [`IoError::ForeignHandle`].
//! - A failed fsync poisons the handle's open file (shared by its clones); reopening gives a
//!   fresh, unpoisoned one.

use std::ffi::OsString;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;

use super::disk::{InodeId, Node, SimDisk, parent_dir};
use super::faults::{OpKind, SimFaults};
use super::queue::SimCommitQueue;
use crate::aligned::{AlignedBuf, MIN_ALIGNMENT};
use crate::backend::{BackendInfo, BackendKind};
use crate::error::{IoError, Result};
use crate::storage::{CommitQueue, FileHandle, OpenMode, Storage};

/// The simulated disk's alignment: one page, as the OS backends require at least.
pub const SIM_ALIGNMENT_BYTES: usize = MIN_ALIGNMENT;

/// Distinguishes storages so that handles cannot cross between them.
static STORAGE_ID_NEXT: AtomicU64 = AtomicU64::new(1);

/// State shared by a [`SimStorage`], its clones and its commit queues.
#[derive(Debug)]
pub(crate) struct SimShared {
    pub(crate) id: u64,
    info: BackendInfo,
    seed: u64,
    disk: Mutex<SimDisk>,
    pub(crate) faults: SimFaults,
    crash_points: Mutex<CrashPoints>,
}

/// Copies of the disk after each change, while recording ([`SimStorage::record_crash_points`]).
#[derive(Debug, Default)]
struct CrashPoints {
    limit: usize,
    disks: Vec<SimDisk>,
}

/// One open file: what a [`FileHandle`] of a `SimStorage` carries.
#[derive(Debug)]
pub(crate) struct SimFile {
    storage_id: u64,
    pub(crate) inode: InodeId,
    writable: bool,
    poisoned: AtomicBool,
}

impl SimFile {
    pub(crate) fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    pub(crate) fn poison(&self) {
        self.poisoned.store(true, Ordering::Release);
    }
}

/// A deterministic simulated [`Storage`] for fault injection and crash tests.
///
/// ```
/// use std::path::Path;
/// use uring_io::{AlignedBuf, SimStorage, Storage};
/// let sim = SimStorage::new(42);
/// sim.create_dir_all(Path::new("/db")).unwrap();
/// let file = sim.create_prewritten(Path::new("/db/seg-1"), 8192).unwrap();
/// let mut buf = AlignedBuf::new(4096, 4096).unwrap();
/// buf.fill(7);
/// sim.write_durable(&file, 4096, &buf).unwrap();
/// // A power loss keeps what was synced.
/// let after = sim.power_loss(1);
/// assert_eq!(after.file_bytes(Path::new("/db/seg-1")).unwrap()[4096], 7);
/// ```
#[derive(Clone, Debug)]
pub struct SimStorage {
    shared: Arc<SimShared>,
}

impl SimStorage {
    /// A storage over an empty disk; `seed` drives random faults.
    pub fn new(seed: u64) -> SimStorage {
        SimStorage::with_disk(SimDisk::new(), seed)
    }

    /// A storage over `disk` (typically the result of a crash), with no fault rules.
    pub fn with_disk(disk: SimDisk, seed: u64) -> SimStorage {
        let info = BackendInfo {
            kind: BackendKind::Simulated,
            direct_io: true,
            alignment_bytes: SIM_ALIGNMENT_BYTES,
            reason: format!("simulated disk (seed {seed})"),
        };
        let shared = SimShared {
            id: STORAGE_ID_NEXT.fetch_add(1, Ordering::Relaxed),
            info,
            seed,
            disk: Mutex::new(disk),
            faults: SimFaults::new(seed),
            crash_points: Mutex::new(CrashPoints::default()),
        };
        SimStorage {
            shared: Arc::new(shared),
        }
    }

    /// The seed given at creation.
    pub fn seed(&self) -> u64 {
        self.shared.seed
    }

    /// The fault rules and operation counts.
    pub fn faults(&self) -> &SimFaults {
        &self.shared.faults
    }

    /// How many operations of `kind` were attempted so far.
    pub fn op_count(&self, kind: OpKind) -> u64 {
        self.shared.faults.count(kind)
    }

    /// How many operations of every kind were attempted so far.
    pub fn op_count_total(&self) -> u64 {
        self.shared.faults.count_total()
    }

    /// A copy of the disk as it is now, volatile state included (for crash enumeration).
    pub fn disk(&self) -> SimDisk {
        self.shared.disk.lock().clone()
    }

    /// Starts recording crash points: a copy of the disk now and after every later change
    /// (write, sync, namespace operation; a chain's write and its sync are separate changes),
    /// at most `limit` copies in all. For exhaustive tests: crash each recorded disk with
    /// every plan ([`SimDisk::crash_states`]). A `limit` of 0 stops recording.
    pub fn record_crash_points(&self, limit: usize) {
        let disk = self.shared.disk.lock();
        let mut points = self.shared.crash_points.lock();
        points.limit = limit;
        points.disks.clear();
        if limit > 0 {
            points.disks.push(disk.clone());
        }
    }

    /// Takes the crash points recorded so far, oldest first (recording goes on).
    pub fn take_crash_points(&self) -> Vec<SimDisk> {
        let mut points = self.shared.crash_points.lock();
        points.limit = points.limit.saturating_sub(points.disks.len());
        std::mem::take(&mut points.disks)
    }

    /// The disk after a power loss now, drawn from `seed` ([`SimDisk::power_loss`]). This
    /// storage goes on unaffected; reopen on the result with [`SimStorage::with_disk`].
    pub fn power_loss(&self, seed: u64) -> SimDisk {
        self.disk().power_loss(seed)
    }

    /// [`SimStorage::power_loss`] with the storage's own seed.
    pub fn crash(&self) -> SimDisk {
        self.power_loss(self.shared.seed)
    }

    fn handle(&self, path: &Path, inode: InodeId, writable: bool) -> FileHandle {
        let file = SimFile {
            storage_id: self.shared.id,
            inode,
            writable,
            poisoned: AtomicBool::new(false),
        };
        FileHandle::new(path.to_path_buf(), Arc::new(file))
    }

    /// Runs a disk change; errno becomes [`IoError::Os`] for `operation` on `path`.
    fn with_disk_op<T>(
        &self,
        operation: &'static str,
        path: &Path,
        op: impl FnOnce(&mut SimDisk) -> std::result::Result<T, i32>,
    ) -> Result<T> {
        self.shared
            .change_disk(op)
            .map_err(|errno| IoError::from_errno(operation, path, errno))
    }

    /// Runs a disk lookup (no change, no crash point).
    fn with_disk_read<T>(
        &self,
        operation: &'static str,
        path: &Path,
        op: impl FnOnce(&SimDisk) -> std::result::Result<T, i32>,
    ) -> Result<T> {
        op(&self.shared.disk.lock()).map_err(|errno| IoError::from_errno(operation, path, errno))
    }

    fn create_dir_step(&self, dir: &Path) -> Result<()> {
        let existing = self.shared.disk.lock().node(dir);
        match existing {
            Some(Node::Dir) => return Ok(()),
            Some(Node::File(_)) => return Err(IoError::from_errno("mkdir", dir, libc::ENOTDIR)),
            None => {}
        }
        self.shared.step(OpKind::Create, dir, "mkdir")?;
        self.with_disk_op("mkdir", dir, |disk| match disk.make_dir(dir) {
            Err(libc::EEXIST) if disk.is_dir(dir) => Ok(()),
            other => other,
        })?;
        self.sync_parent_step(dir)
    }

    fn sync_parent_step(&self, path: &Path) -> Result<()> {
        let Some(parent) = parent_dir(path) else {
            return Ok(());
        };
        self.shared.step(OpKind::SyncDir, parent, "fsync")?;
        self.with_disk_op("fsync", parent, |disk| disk.sync_dir(parent))
    }

    fn create_file_step(&self, path: &Path) -> Result<InodeId> {
        self.shared.step(OpKind::Create, path, "open")?;
        self.with_disk_op("open", path, |disk| disk.create_file_inode(path))
    }

    /// Writes then fdatasyncs through the fault rules; a failed sync poisons `file`.
    fn write_then_sync(&self, file: &SimFile, path: &Path, offset: u64, data: &[u8]) -> Result<()> {
        self.shared.step(OpKind::Write, path, "pwrite")?;
        self.with_disk_op("pwrite", path, |disk| disk.write(file.inode, offset, data))?;
        if let Err(error) = self.shared.step(OpKind::Fsync, path, "fdatasync") {
            file.poison();
            self.with_disk_op("fdatasync", path, |disk| disk.lose_unsynced(file.inode))?;
            return Err(error);
        }
        self.with_disk_op("fdatasync", path, |disk| disk.sync_data(file.inode))
    }
}

impl SimShared {
    /// Runs `op` on the disk under its lock; after a successful change, records a crash point
    /// if recording.
    pub(crate) fn change_disk<T>(
        &self,
        op: impl FnOnce(&mut SimDisk) -> std::result::Result<T, i32>,
    ) -> std::result::Result<T, i32> {
        let mut disk = self.disk.lock();
        let value = op(&mut disk)?;
        let mut points = self.crash_points.lock();
        if points.disks.len() < points.limit {
            points.disks.push(disk.clone());
        }
        Ok(value)
    }

    /// Resolves a handle of this storage.
    pub(crate) fn resolve(&self, file: &FileHandle) -> Result<Arc<SimFile>> {
        let foreign = || IoError::ForeignHandle {
            path: file.path().to_path_buf(),
        };
        let sim_file = Arc::clone(file.inner())
            .downcast::<SimFile>()
            .map_err(|_| foreign())?;
        if sim_file.storage_id != self.id {
            return Err(foreign());
        }
        Ok(sim_file)
    }

    /// Resolves a handle that is about to be written: writable, not poisoned.
    pub(crate) fn resolve_for_write(&self, file: &FileHandle) -> Result<Arc<SimFile>> {
        let sim_file = self.resolve(file)?;
        if !sim_file.writable {
            return Err(IoError::from_errno("pwrite", file.path(), libc::EBADF));
        }
        if sim_file.is_poisoned() {
            return Err(IoError::Poisoned {
                path: file.path().to_path_buf(),
            });
        }
        Ok(sim_file)
    }

    /// One blocking operation step: counts it, sleeps its latency, fails with its errno.
    pub(crate) fn step(&self, kind: OpKind, path: &Path, operation: &'static str) -> Result<()> {
        let decision = self.faults.decide(kind, path);
        if !decision.latency.is_zero() {
            std::thread::sleep(decision.latency);
        }
        let cancelled = decision.cancel.then_some(libc::ECANCELED);
        match decision.errno.or(cancelled) {
            Some(errno) => Err(IoError::from_errno(operation, path, errno)),
            None => Ok(()),
        }
    }
}

/// Checks that `offset` is a multiple of the simulated alignment.
pub(crate) fn check_offset(offset: u64) -> Result<()> {
    let alignment = SIM_ALIGNMENT_BYTES as u64;
    if offset.is_multiple_of(alignment) {
        return Ok(());
    }
    Err(IoError::Unaligned {
        what: "offset",
        value: offset,
        alignment,
    })
}

impl Storage for SimStorage {
    fn info(&self) -> &BackendInfo {
        &self.shared.info
    }

    fn create_dir_all(&self, dir: &Path) -> Result<()> {
        let mut missing: Vec<&Path> = dir
            .ancestors()
            .filter(|ancestor| parent_dir(ancestor).is_some())
            .collect();
        missing.reverse();
        for ancestor in missing {
            self.create_dir_step(ancestor)?;
        }
        Ok(())
    }

    fn list_dir(&self, dir: &Path) -> Result<Vec<OsString>> {
        let disk = self.shared.disk.lock();
        disk.list_dir(dir)
            .map_err(|errno| IoError::from_errno("readdir", dir, errno))
    }

    fn exists(&self, path: &Path) -> Result<bool> {
        Ok(self.shared.disk.lock().node(path).is_some())
    }

    fn remove_file(&self, path: &Path) -> Result<()> {
        self.shared.step(OpKind::Remove, path, "unlink")?;
        self.with_disk_op("unlink", path, |disk| disk.remove_file(path))
    }

    fn rename(&self, source: &Path, target: &Path) -> Result<()> {
        self.shared.step(OpKind::Rename, source, "rename")?;
        self.with_disk_op("rename", source, |disk| disk.rename(source, target))
    }

    fn sync_dir(&self, dir: &Path) -> Result<()> {
        self.shared.step(OpKind::SyncDir, dir, "fsync")?;
        self.with_disk_op("fsync", dir, |disk| disk.sync_dir(dir))
    }

    fn hard_link(&self, old_path: &Path, new_path: &Path) -> Result<()> {
        // An injected EXDEV stands for a link across filesystems, which one disk cannot have.
        let linked = self
            .shared
            .step(OpKind::Link, new_path, "link")
            .and_then(|()| {
                self.with_disk_op("link", new_path, |disk| disk.link(old_path, new_path))
            });
        linked.map_err(|error| match error.errno() {
            Some(errno) => {
                IoError::from_link(old_path, new_path, std::io::Error::from_raw_os_error(errno))
            }
            None => error,
        })
    }

    fn copy_file(&self, source: &Path, target: &Path) -> Result<u64> {
        self.shared.step(OpKind::Open, source, "open")?;
        let bytes = self.with_disk_read("open", source, |disk| {
            disk.file_inode(source)
                .and_then(|inode| disk.live_bytes(inode))
        })?;
        let inode = self.create_file_step(target)?;
        let handle = self.handle(target, inode, true);
        let file = self.shared.resolve(&handle)?;
        if let Err(error) = self.write_then_sync(&file, target, 0, &bytes) {
            // As the OS backend does: no partial copy left behind (durable with the directory).
            let _ = self.with_disk_op("unlink", target, |disk| disk.remove_file(target));
            return Err(error);
        }
        Ok(bytes.len() as u64)
    }

    fn open(&self, path: &Path, mode: OpenMode) -> Result<FileHandle> {
        match mode {
            OpenMode::Read | OpenMode::ReadCached | OpenMode::ReadWrite => {
                self.shared.step(OpKind::Open, path, "open")?;
                let inode = self.with_disk_read("open", path, |disk| disk.file_inode(path))?;
                Ok(self.handle(path, inode, mode == OpenMode::ReadWrite))
            }
            OpenMode::CreateNew => {
                let inode = self.create_file_step(path)?;
                self.sync_parent_step(path)?;
                Ok(self.handle(path, inode, true))
            }
        }
    }

    fn create_prewritten(&self, path: &Path, len_bytes: u64) -> Result<FileHandle> {
        if len_bytes == 0 || !len_bytes.is_multiple_of(SIM_ALIGNMENT_BYTES as u64) {
            return Err(IoError::Unaligned {
                what: "length",
                value: len_bytes,
                alignment: SIM_ALIGNMENT_BYTES as u64,
            });
        }
        let len = usize::try_from(len_bytes)
            .map_err(|_| IoError::from_errno("pwrite", path, libc::EFBIG))?;
        let inode = self.create_file_step(path)?;
        let handle = self.handle(path, inode, true);
        let file = self.shared.resolve(&handle)?;
        if let Err(error) = self.write_then_sync(&file, path, 0, &vec![0; len]) {
            // Like the OS backend, do not leave a half-made segment behind: unlink it (the
            // unlink, like the creation, is durable only with the directory).
            let _ = self.with_disk_op("unlink", path, |disk| disk.remove_file(path));
            return Err(error);
        }
        self.sync_parent_step(path)?;
        Ok(handle)
    }

    fn file_len(&self, file: &FileHandle) -> Result<u64> {
        let sim_file = self.shared.resolve(file)?;
        self.with_disk_read("fstat", file.path(), |disk| disk.len_bytes(sim_file.inode))
    }

    fn set_len(&self, file: &FileHandle, len_bytes: u64) -> Result<()> {
        let sim_file = self.shared.resolve_for_write(file)?;
        self.shared.step(OpKind::SetLen, file.path(), "ftruncate")?;
        self.with_disk_op("ftruncate", file.path(), |disk| {
            disk.set_len(sim_file.inode, len_bytes)
        })
    }

    fn read_at(&self, file: &FileHandle, offset: u64, buf: &mut AlignedBuf) -> Result<usize> {
        let sim_file = self.shared.resolve(file)?;
        check_offset(offset)?;
        self.shared.step(OpKind::Read, file.path(), "pread")?;
        self.with_disk_read("pread", file.path(), |disk| {
            disk.read(sim_file.inode, offset, buf.as_mut_slice())
        })
    }

    fn read_many(&self, file: &FileHandle, reads: &mut [(u64, AlignedBuf)]) -> Result<Vec<usize>> {
        for (offset, _) in reads.iter() {
            check_offset(*offset)?;
        }
        reads
            .iter_mut()
            .map(|(offset, buf)| self.read_at(file, *offset, buf))
            .collect()
    }

    fn write_durable(&self, file: &FileHandle, offset: u64, buf: &AlignedBuf) -> Result<()> {
        check_offset(offset)?;
        let sim_file = self.shared.resolve_for_write(file)?;
        self.write_then_sync(&sim_file, file.path(), offset, buf.as_slice())
    }

    fn commit_queue(&self) -> Result<Box<dyn CommitQueue>> {
        Ok(Box::new(SimCommitQueue::new(Arc::clone(&self.shared))))
    }
}
