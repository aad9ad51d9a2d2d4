//! The database directory's lock: one writing `Db` per directory, or any number of read-only
//! opens and no writer (docs/design.md §3, "Isolation").
//!
//! On the OS storage, `LOCK` is a real file locked with `File::try_lock` (exclusive) or
//! `File::try_lock_shared` (flock(2): the lock belongs to the open file description, so a
//! second open in this process conflicts as well as one in another process, and the kernel
//! drops it when the process dies). With a supplied storage (the simulated disk) the directory
//! is not a real one, so a process-wide registry of `(storage, path)` pairs and their holders
//! stands in. Either lock is released when [`DirLock`] drops.

use std::collections::HashMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use uring_io::Storage;

use crate::directory::LockFileSeen;
use crate::error::{Error, Result};

/// Name of the lock file inside the database directory.
pub(crate) const LOCK_FILE_NAME: &str = "LOCK";

/// A held lock on a database directory.
#[derive(Debug)]
pub(crate) enum DirLock {
    /// An flock on `<dir>/LOCK`.
    File(File),
    /// An entry of the process-wide registry.
    Registry(RegistryKey),
}

/// Who holds a directory of a supplied storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holders {
    /// One writer.
    Exclusive,
    /// This many read-only opens.
    Shared(usize),
}

/// Identifies a directory of a supplied storage: the storage's address and the path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct RegistryKey {
    storage_address: usize,
    path: PathBuf,
}

fn registry() -> &'static Mutex<HashMap<RegistryKey, Holders>> {
    static REGISTRY: OnceLock<Mutex<HashMap<RegistryKey, Holders>>> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(HashMap::new()))
}

/// How a directory is locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LockMode {
    /// A writer: no other holder.
    Exclusive,
    /// A read-only open: other read-only opens, no writer.
    Shared,
}

impl DirLock {
    /// Locks the real directory `dir` (which exists) through `<dir>/LOCK`, creating the file
    /// if needed; says whether it was there before.
    pub(crate) fn lock_file(dir: &Path) -> Result<(DirLock, LockFileSeen)> {
        let path = dir.join(LOCK_FILE_NAME);
        let seen = match std::fs::symlink_metadata(&path) {
            Ok(_) => LockFileSeen::Present,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => LockFileSeen::Created,
            Err(source) => return Err(Error::os("stat", &path, source)),
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|source| Error::os("open", &path, source))?;
        match file.try_lock() {
            Ok(()) => Ok((DirLock::File(file), seen)),
            Err(TryLockError::WouldBlock) => Err(Error::Locked {
                path: dir.to_path_buf(),
            }),
            Err(TryLockError::Error(source)) => Err(Error::os("flock", &path, source)),
        }
    }

    /// Takes a shared lock on the real directory `dir` through its existing `<dir>/LOCK`,
    /// which is opened for reading only. Returns `Ok(None)` when there is no `LOCK` file (no
    /// database this engine made, or a copy without it: the caller says which).
    pub(crate) fn lock_file_shared(dir: &Path) -> Result<Option<DirLock>> {
        let path = dir.join(LOCK_FILE_NAME);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(Error::os("open", &path, source)),
        };
        match file.try_lock_shared() {
            Ok(()) => Ok(Some(DirLock::File(file))),
            Err(TryLockError::WouldBlock) => Err(Error::Locked {
                path: dir.to_path_buf(),
            }),
            Err(TryLockError::Error(source)) => Err(Error::os("flock", &path, source)),
        }
    }

    /// Removes the lock file this open created, before the lock is released: an open that
    /// refuses a directory leaves it as it found it.
    pub(crate) fn remove_created_file(&self, dir: &Path) {
        if let DirLock::File(_) = self {
            let _ = std::fs::remove_file(dir.join(LOCK_FILE_NAME));
        }
    }

    /// Locks `dir` of the supplied `storage` in the process-wide registry.
    pub(crate) fn lock_registry(
        storage: &Arc<dyn Storage>,
        dir: &Path,
        mode: LockMode,
    ) -> Result<DirLock> {
        let storage_address = Arc::as_ptr(storage).cast::<()>() as usize;
        let key = RegistryKey {
            storage_address,
            path: dir.to_path_buf(),
        };
        let mut holders = registry().lock();
        let next = match (holders.get(&key).copied(), mode) {
            (None, LockMode::Exclusive) => Holders::Exclusive,
            (None, LockMode::Shared) => Holders::Shared(1),
            (Some(Holders::Shared(count)), LockMode::Shared) => Holders::Shared(count + 1),
            (Some(_), _) => {
                return Err(Error::Locked {
                    path: dir.to_path_buf(),
                });
            }
        };
        holders.insert(key.clone(), next);
        Ok(DirLock::Registry(key))
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        match self {
            // Closing the file releases the flock; unlock explicitly so the release does not
            // wait for other clones of the description.
            DirLock::File(file) => {
                let _ = file.unlock();
            }
            DirLock::Registry(key) => {
                let mut holders = registry().lock();
                match holders.get(key).copied() {
                    Some(Holders::Shared(count)) if count > 1 => {
                        holders.insert(key.clone(), Holders::Shared(count - 1));
                    }
                    _ => {
                        holders.remove(key);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_file_lock_in_the_same_process_is_refused_until_the_first_drops() {
        // Goal: flock per open description conflicts within one process. Method: lock twice.
        let dir = tempfile::tempdir().unwrap();
        let (first, seen) = DirLock::lock_file(dir.path()).unwrap();
        assert_eq!(seen, LockFileSeen::Created);
        assert!(matches!(
            DirLock::lock_file(dir.path()),
            Err(Error::Locked { .. })
        ));
        drop(first);
        let (_again, seen) = DirLock::lock_file(dir.path()).unwrap();
        assert_eq!(seen, LockFileSeen::Present);
    }

    #[test]
    fn shared_file_locks_coexist_and_exclude_a_writer() {
        // Goal: read-only opens share the directory and keep a writer out, and a writer keeps
        // them out. Method: take the locks in both orders.
        let dir = tempfile::tempdir().unwrap();
        assert!(DirLock::lock_file_shared(dir.path()).unwrap().is_none());
        let (writer, _) = DirLock::lock_file(dir.path()).unwrap();
        assert!(matches!(
            DirLock::lock_file_shared(dir.path()),
            Err(Error::Locked { .. })
        ));
        drop(writer);
        let first = DirLock::lock_file_shared(dir.path()).unwrap().unwrap();
        let second = DirLock::lock_file_shared(dir.path()).unwrap().unwrap();
        assert!(matches!(
            DirLock::lock_file(dir.path()),
            Err(Error::Locked { .. })
        ));
        drop((first, second));
        assert!(DirLock::lock_file(dir.path()).is_ok());
    }

    #[test]
    fn registry_locks_count_shared_holders() {
        // Goal: the registry behaves as flock does. Method: shared, shared, exclusive refused
        // until both shared holders drop.
        let root = tempfile::tempdir().unwrap();
        let storage: Arc<dyn Storage> =
            uring_io::OsStorage::open(root.path(), uring_io::BackendRequest::Auto).unwrap();
        let dir = Path::new("db");
        let first = DirLock::lock_registry(&storage, dir, LockMode::Shared).unwrap();
        let second = DirLock::lock_registry(&storage, dir, LockMode::Shared).unwrap();
        let refused = DirLock::lock_registry(&storage, dir, LockMode::Exclusive);
        assert!(matches!(refused, Err(Error::Locked { .. })));
        drop(first);
        let refused = DirLock::lock_registry(&storage, dir, LockMode::Exclusive);
        assert!(matches!(refused, Err(Error::Locked { .. })));
        drop(second);
        let writer = DirLock::lock_registry(&storage, dir, LockMode::Exclusive).unwrap();
        let refused = DirLock::lock_registry(&storage, dir, LockMode::Shared);
        assert!(matches!(refused, Err(Error::Locked { .. })));
        drop(writer);
    }
}
