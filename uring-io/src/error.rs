//! The crate's error type: every failure of a storage operation, with the errno it came from
//! where there is one, so callers can tell retryable, fatal and impossible cases apart.

use std::path::{Path, PathBuf};

/// Result alias used throughout `uring-io`.
pub type Result<T, E = IoError> = std::result::Result<T, E>;

/// A failed storage operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IoError {
    /// The operating system (or the simulated disk) reported `errno` for `operation` on `path`.
    /// The message names the operation and the file; the errno's text is the `source()`.
    #[error("{operation} on {path:?} failed")]
    Os {
        /// What was attempted ("pwrite", "fdatasync", "open", "io_uring_setup", ...).
        operation: &'static str,
        /// The file or directory concerned (empty when none applies).
        path: PathBuf,
        /// The OS error, carrying the errno (`raw_os_error()`).
        #[source]
        source: std::io::Error,
    },
    /// A buffer, offset or length is not a multiple of the required direct-I/O alignment.
    /// Raised before anything is submitted.
    #[error("unaligned {what}: {value} is not a multiple of {alignment} bytes")]
    Unaligned {
        /// Which quantity is unaligned: "buffer address", "offset" or "length".
        what: &'static str,
        /// The offending value.
        value: u64,
        /// The alignment required, in bytes.
        alignment: u64,
    },
    /// A previous fsync of this file failed; the file is poisoned and refuses further writes
    /// until it is reopened (a failed fsync is never retried as if it had worked).
    #[error("{path:?} is poisoned by an earlier failed sync; reopen to continue")]
    Poisoned {
        /// The poisoned file.
        path: PathBuf,
    },
    /// A `FileHandle` from another storage instance was passed in.
    #[error("file handle for {path:?} belongs to another storage backend")]
    ForeignHandle {
        /// The handle's path.
        path: PathBuf,
    },
    /// The requested backend cannot run here (with the reason).
    #[error("backend {backend} unavailable: {reason}")]
    BackendUnavailable {
        /// The backend that was asked for.
        backend: &'static str,
        /// Why it cannot be used here.
        reason: String,
    },
    /// A hard link could not be made because `old_path` and `new_path` are on different
    /// filesystems (`EXDEV`, link(2)); the caller may copy the file instead.
    #[error("cannot link {old_path:?} as {new_path:?}: they are on different filesystems")]
    CrossesDevices {
        /// The existing file.
        old_path: PathBuf,
        /// The name that was to be made.
        new_path: PathBuf,
    },
    /// A read ended before the requested bytes (the file is shorter).
    #[error("short read of {path:?} at offset {offset}: wanted {wanted} bytes, got {got}")]
    ShortRead {
        /// The file read.
        path: PathBuf,
        /// Where the read started.
        offset: u64,
        /// Bytes requested.
        wanted: u64,
        /// Bytes obtained.
        got: u64,
    },
}

impl IoError {
    /// The errno behind this error, if it came from the OS or the simulated disk.
    pub fn errno(&self) -> Option<i32> {
        match self {
            IoError::Os { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    /// Whether the device or filesystem is out of space or quota (`ENOSPC`, `EDQUOT`): the
    /// operation may succeed once space is freed.
    ///
    /// ```
    /// use uring_io::IoError;
    /// let full = IoError::from_errno("pwrite", "/db/seg-1.log", libc::ENOSPC);
    /// assert!(full.is_storage_full());
    /// assert!(!IoError::from_errno("fdatasync", "/db/seg-1.log", libc::EIO).is_storage_full());
    /// ```
    pub fn is_storage_full(&self) -> bool {
        matches!(self.errno(), Some(libc::ENOSPC | libc::EDQUOT))
    }

    /// The error of a failed hard link of `old_path` as `new_path`: [`IoError::CrossesDevices`]
    /// for `EXDEV`, else [`IoError::Os`] naming `new_path`.
    pub(crate) fn from_link(old_path: &Path, new_path: &Path, source: std::io::Error) -> Self {
        if source.raw_os_error() == Some(libc::EXDEV) {
            return IoError::CrossesDevices {
                old_path: old_path.to_path_buf(),
                new_path: new_path.to_path_buf(),
            };
        }
        IoError::Os {
            operation: "link",
            path: new_path.to_path_buf(),
            source,
        }
    }

    /// Builds an [`IoError::Os`] from a raw errno.
    pub fn from_errno(operation: &'static str, path: impl Into<PathBuf>, errno: i32) -> Self {
        IoError::Os {
            operation,
            path: path.into(),
            source: std::io::Error::from_raw_os_error(errno),
        }
    }
}
