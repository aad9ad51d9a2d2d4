//! The engine's one error type, [`Error`]: every way a call into [`crate::Db`] can fail, with
//! typed context (file, offset, sizes, the space's name) and the underlying cause reachable
//! through `source()`. A message describes its own context and leaves the cause to
//! `source()`, so an error-chain reporter prints each cause once.
//!
//! Callers branch on the cause with [`Error::io_error`], [`Error::raw_os_error`] and
//! [`Error::is_storage_full`] instead of parsing messages.
//!
//! Invariant: nothing in the engine panics on I/O errors, disk bytes or user input; such
//! failures become one of these variants.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::keyspace::KeyspaceError;

/// Result alias of the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A failed engine operation. Each variant's message names its own context; the cause, when
/// there is one, is its `source()`. Match on the variants a caller can act on; the rest are
/// reported.
///
/// ```
/// use infinitedb::{Db, Error, Options};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let db = Db::open(dir.path(), Options::default())?;
/// let space = db.create_space("grid", 2, 8)?; // coordinates 0..=255
/// match db.put(space, &[3, 300], b"x") {
///     Err(Error::InvalidPoint { space, source }) => {
///         assert_eq!(space, "grid");
///         println!("refused: {source}"); // names the coordinate and the limit
///     }
///     other => panic!("expected an invalid point, got {other:?}"),
/// }
/// assert!(matches!(db.create_space("grid", 2, 8), Err(Error::SpaceExists { .. })));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bytes on disk inside acknowledged history or metadata did not verify. The database
    /// refuses to open (or the read fails) rather than silently dropping data; restore the file
    /// from a backup or investigate the device.
    #[error("corruption in {file:?} at offset {offset}: {detail}")]
    Corruption {
        /// The damaged file.
        file: PathBuf,
        /// Byte offset within the file where the damage was found.
        offset: u64,
        /// What did not verify.
        detail: String,
    },
    /// Another `Db` (in this or another process) holds the directory's lock.
    #[error("database directory {path:?} is locked by another open Db; close it first")]
    Locked {
        /// The database directory.
        path: PathBuf,
    },
    /// A point does not fit its space (wrong number of coordinates, coordinate too large).
    #[error("invalid point for space {space:?}")]
    InvalidPoint {
        /// The space's name.
        space: String,
        /// Why the point does not fit.
        #[source]
        source: KeyspaceError,
    },
    /// A query box does not fit its space (wrong number of coordinates, a bound too large).
    #[error("invalid box for space {space:?}")]
    InvalidBox {
        /// The space's name.
        space: String,
        /// Why the box does not fit.
        #[source]
        source: KeyspaceError,
    },
    /// A space's shape is out of range (dims 1..=16, bits 1..=32, dims × bits ≤ 128) or its
    /// name is empty or too long.
    #[error("invalid space definition: {detail}")]
    InvalidSpace {
        /// What is wrong.
        detail: String,
        /// The keyspace's reason, when it came from there.
        #[source]
        source: Option<KeyspaceError>,
    },
    /// No space has this name or id.
    #[error("unknown space {name}")]
    UnknownSpace {
        /// The name (or `#id`) asked for.
        name: String,
    },
    /// A space with this name already exists.
    #[error("a space named {name:?} already exists")]
    SpaceExists {
        /// The name.
        name: String,
    },
    /// A value is larger than `Options::value_bytes_max`.
    #[error("value of {bytes} bytes exceeds Options::value_bytes_max ({max} bytes)")]
    ValueTooLarge {
        /// The value's size.
        bytes: usize,
        /// The configured maximum.
        max: usize,
    },
    /// A batch encodes to more bytes than one frame (or the write queue) can hold: the limit
    /// is the smaller of what one segment holds (`Options::segment_bytes` less its header,
    /// at most one frame's payload) and `Options::queue_bytes_max` less a write's overhead.
    #[error(
        "batch of {bytes} encoded bytes exceeds the maximum of {max} bytes \
         (raise Options::segment_bytes or Options::queue_bytes_max, or split the batch)"
    )]
    BatchTooLarge {
        /// The batch's encoded size.
        bytes: usize,
        /// The maximum.
        max: usize,
    },
    /// A batch holds no records.
    #[error("empty batch: nothing to write")]
    EmptyBatch,
    /// An option is out of range.
    #[error("invalid option {name}: {detail}")]
    InvalidOption {
        /// The option.
        name: &'static str,
        /// Why it is invalid.
        detail: String,
    },
    /// The storage backend reported an error (EIO, ENOSPC, a poisoned file, ...); the
    /// `source` names the operation, the file and the errno.
    #[error("storage operation failed")]
    Io {
        /// The backend's error.
        #[from]
        source: uring_io::IoError,
    },
    /// A write (or the seal a `flush` waited for) failed on the device: its write or sync
    /// failed, or the new segment or block it needed could not be made (a full disk). The
    /// write was never acknowledged, and its outcome is unknown: it may reappear after a
    /// crash. The engine rolls to a new segment, so later writes may succeed (once space is
    /// freed, for a full disk). From `sync` under `Durability::NoSync`: a write the barrier
    /// covers failed (see [`crate::Db::sync`]).
    ///
    /// `source` is the device's error, shared by every caller the one failure reached;
    /// [`Error::is_storage_full`] and [`Error::raw_os_error`] read it.
    #[error("write to space {space:?} failed and was not acknowledged")]
    WriteFailed {
        /// The name of the space written.
        space: String,
        /// The failed operation, with its file and errno.
        #[source]
        source: Arc<uring_io::IoError>,
    },
    /// An internal thread stopped or the engine refuses writes after an unrecoverable failure;
    /// reopen the database.
    #[error("database is poisoned: {detail}; reopen it")]
    Poisoned {
        /// What happened.
        detail: String,
    },
    /// The `Db` is closed (or closing).
    #[error("database is closed")]
    Closed,
    /// The directory holds data files but no `MANIFEST`: the database refuses to open empty.
    #[error(
        "{path:?} holds data files but no MANIFEST; refusing to open an empty database over them"
    )]
    MissingManifest {
        /// The database directory.
        path: PathBuf,
    },
    /// The directory is not a database this engine may open or create: it holds files of
    /// something else, or a `MANIFEST` without the `LOCK` file every database has. Nothing was
    /// written to it.
    #[error("{path:?} is not an infinitedb database: {reason}; found: {}", found.join(", "))]
    NotADatabase {
        /// The directory.
        path: PathBuf,
        /// Why it is refused, and what to do.
        reason: String,
        /// The entries that decided it (names relative to the directory).
        found: Vec<String>,
    },
    /// A decode error in metadata or a block, with its file.
    #[error("cannot decode {file:?}")]
    Decode {
        /// The file.
        file: PathBuf,
        /// The decoder's error.
        #[source]
        source: infinitedb_format::DecodeError,
    },
    /// A point, box or curve made outside any space was refused by the keyspace (for
    /// example `QueryBox::new` with a low corner above the high one). Points and boxes given
    /// to a space's methods are [`Error::InvalidPoint`] and [`Error::InvalidBox`] instead,
    /// which name the space.
    ///
    /// ```
    /// use infinitedb::{Error, KeyspaceError, QueryBox};
    ///
    /// fn make_box() -> infinitedb::Result<QueryBox> {
    ///     Ok(QueryBox::new(vec![5], vec![1])?)
    /// }
    /// match make_box() {
    ///     Err(Error::Keyspace { source }) => assert!(matches!(source, KeyspaceError::InvertedBox { .. })),
    ///     other => panic!("expected a keyspace error, got {other:?}"),
    /// }
    /// ```
    #[error("refused by the keyspace")]
    Keyspace {
        /// Why.
        #[from]
        source: KeyspaceError,
    },
}

impl Error {
    /// The storage backend's error behind this one, if the failure came from the device (a
    /// failed write, sync, read or file creation).
    ///
    /// ```
    /// use infinitedb::Error;
    /// use infinitedb::IoError;
    /// let error = Error::from(IoError::from_errno("pwrite", "/db/seg-1.log", libc::EIO));
    /// assert_eq!(error.io_error().and_then(IoError::errno), Some(libc::EIO));
    /// assert!(Error::Closed.io_error().is_none());
    /// ```
    pub fn io_error(&self) -> Option<&uring_io::IoError> {
        match self {
            Error::Io { source } => Some(source),
            Error::WriteFailed { source, .. } => Some(source),
            _ => None,
        }
    }

    /// The errno behind this error, if the device or the OS reported one.
    pub fn raw_os_error(&self) -> Option<i32> {
        self.io_error().and_then(uring_io::IoError::errno)
    }

    /// Whether the failure is a full device or an exhausted quota (`ENOSPC`, `EDQUOT`): the
    /// write was not acknowledged, and writes resume once space is freed (no reopen needed).
    ///
    /// ```
    /// use infinitedb::{Db, Options};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = Db::open(dir.path(), Options::default())?;
    /// let space = db.create_space("points", 2, 16)?;
    /// match db.put(space, &[3, 4], b"hello") {
    ///     Ok(_) => {}
    ///     Err(error) if error.is_storage_full() => {
    ///         // Back off, free space (or alert), then retry the write.
    ///     }
    ///     Err(error) => return Err(error.into()),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_storage_full(&self) -> bool {
        self.io_error()
            .is_some_and(uring_io::IoError::is_storage_full)
    }

    /// An [`Error::Io`] for a failed OS call `operation` on `path`.
    pub(crate) fn os(operation: &'static str, path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            source: uring_io::IoError::Os {
                operation,
                path: path.to_path_buf(),
                source,
            },
        }
    }

    /// A [`Error::Corruption`] for `file` at `offset`.
    pub(crate) fn corruption(
        file: impl Into<PathBuf>,
        offset: u64,
        detail: impl Into<String>,
    ) -> Self {
        Error::Corruption {
            file: file.into(),
            offset,
            detail: detail.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;
    use crate::keyspace::QueryBox;

    #[test]
    fn a_keyspace_error_converts_with_its_cause() {
        // Goal: `?` on a keyspace result works in a function returning `crate::Result`, and
        // the cause stays a typed source. Method: an inverted box through `?`.
        fn inverted() -> Result<QueryBox> {
            Ok(QueryBox::new(vec![5, 0], vec![1, 0])?)
        }
        let error = inverted().unwrap_err();
        let Error::Keyspace { source } = &error else {
            panic!("expected Error::Keyspace, got {error:?}");
        };
        let cause = error
            .source()
            .and_then(|cause| cause.downcast_ref::<KeyspaceError>());
        assert_eq!(cause, Some(source));
    }
}
