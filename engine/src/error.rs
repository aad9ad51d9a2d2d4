//! The engine's one error type, [`Error`]: every way a call into [`crate::Db`] can fail, with
//! typed context (file, offset, sizes) and the underlying cause reachable through `source()`.
//!
//! Invariant: nothing in the engine panics on I/O errors, disk bytes or user input; such
//! failures become one of these variants (STYLE.md §3).

use std::path::PathBuf;

use crate::keyspace::KeyspaceError;

/// Result alias of the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A failed engine operation.
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
    #[error("invalid point for space {space}: {source}")]
    InvalidPoint {
        /// The space id.
        space: u32,
        /// Why the point does not fit.
        #[source]
        source: KeyspaceError,
    },
    /// A query box does not fit its space (wrong number of coordinates, a bound too large).
    #[error("invalid box for space {space}: {source}")]
    InvalidBox {
        /// The space id.
        space: u32,
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
    #[error("value of {bytes} bytes exceeds the maximum of {max} bytes")]
    ValueTooLarge {
        /// The value's size.
        bytes: usize,
        /// The configured maximum.
        max: usize,
    },
    /// A batch encodes to more bytes than one frame (or the write queue) can hold.
    #[error("batch of {bytes} encoded bytes exceeds the maximum of {max} bytes")]
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
    /// The storage backend reported an error (EIO, ENOSPC, a poisoned file, ...).
    #[error("I/O error: {source}")]
    Io {
        /// The backend's error.
        #[from]
        source: uring_io::IoError,
    },
    /// A write failed because its segment's sync failed earlier; the engine rolled to a new
    /// segment and later writes may succeed. The write's outcome is unknown (it may reappear
    /// after a crash), never silently acknowledged.
    #[error("write failed: {detail}")]
    WriteFailed {
        /// The failing step and errno.
        detail: String,
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
    #[error("cannot decode {file:?}: {source}")]
    Decode {
        /// The file.
        file: PathBuf,
        /// The decoder's error.
        #[source]
        source: infinitedb_format::DecodeError,
    },
}

impl Error {
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
