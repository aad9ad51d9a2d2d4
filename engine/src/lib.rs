//! infinitedb: an embeddable storage engine for versioned records at points of
//! multi-dimensional spaces.
//!
//! Points are keyed on a Hilbert curve; every write gets a revision (dense, strictly
//! increasing, global to the database); writes go to disk through io_uring with O_DIRECT and
//! linked fdatasyncs, and a write whose hot segment misses its deadline is hedged onto a
//! staging log so commit latency stays bounded (see `docs/design.md` §4).
//!
//! ```
//! use infinitedb::{Db, Options, QueryBox, Readable};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! let db = Db::open(dir.path(), Options::default())?;
//! let space = db.create_space("points", 3, 21)?; // 3 dimensions, coordinates 0..2^21
//! db.put(space, &[1, 2, 3], b"value")?;
//! assert_eq!(db.get(space, &[1, 2, 3])?.as_deref(), Some(&b"value"[..]));
//! let near = QueryBox::new(vec![0, 0, 0], vec![1, 2, 3])?; // both corners inclusive
//! assert_eq!(db.query(space, &near)?.count(), 1);
//! db.close()?;
//! # Ok(())
//! # }
//! ```
//!
//! # Spaces
//!
//! A space is a grid of `dims` dimensions (1 to 16) whose coordinates are integers from 0 to
//! 2^`bits_per_dim` − 1 in every dimension ([`Db::create_space`]; `dims × bits_per_dim` is
//! at most 128). Each point of the grid holds at most one live value and the history of its
//! earlier values. Real-world quantities are mapped onto the grid by the caller: a latitude
//! in −90..=90 degrees becomes `((lat + 90) / 180 × (2^bits − 1)).round()`, a longitude
//! likewise over −180..=180, and time in unix seconds fits 32 bits as it is (or any coarser
//! unit counted from an epoch of the caller's choice). Points close in every dimension get
//! close keys on the Hilbert curve, so a box query reads few key ranges.
//! `engine/examples/sensor_store.rs` stores readings at (latitude, longitude, time) this way
//! and queries a region over a time window.
//!
//! Reads ([`Readable`], on a [`Db`] or a [`Snapshot`]) are point reads, box queries
//! ([`QueryBox`]: bounds inclusive in every dimension), key-order ranges and scans, and
//! histories. Every version of a point is kept until the space's [`Retention`] drops it (the
//! default, [`Retention::All`], keeps all): [`Readable::history`] and [`Readable::get_at`]
//! read them back, and a snapshot reads the database as it was at one revision
//! (`engine/examples/snapshots_and_history.rs`).
//!
//! # Guarantees
//!
//! - **Durability**: with [`Durability::Sync`] (the default) a write returns `Ok(revision)`
//!   only once it is on disk and visible; with [`Durability::NoSync`] once it is sequenced,
//!   and [`Db::sync`] is the barrier (`engine/examples/bulk_load.rs`).
//! - **Recovery**: after a crash, [`Db::open`] restores every acknowledged write, never a torn
//!   one, and per space a prefix of its history; damage inside acknowledged history is
//!   [`Error::Corruption`], never silently dropped (`docs/crash-analysis.md`).
//! - **Limits**: values up to [`Options::value_bytes_max`], queued bytes up to
//!   [`Options::queue_bytes_max`] (writers block beyond it).
//!
//! # Tracing
//!
//! With the cargo feature `tracing` (on by default) the engine emits
//! [`tracing`](https://docs.rs/tracing) events at the decisions it takes on its own, never
//! once per write; nothing is printed unless the application installs a subscriber. Each
//! event's message is the fixed name below and its data are fields (`space` is the space's
//! name, `path` a file or the database directory). Three `info` spans hold the events of
//! their work: `open` (`path`: recovery's events are inside it), `seal` (`space`) and
//! `compaction` (`space`, `output_level`).
//!
//! | event | level | fields |
//! |---|---|---|
//! | `backend` (every open) | info | `path`, `backend`, `direct_io`, `alignment_bytes`, `reason` |
//! | `files found` | info | `manifest`, `segments`, `staging_logs`, `block_files`, `named_blocks`, `named_logs` |
//! | `log scanned` | debug | `path`, `segment`, `header` |
//! | `torn tail` | info | `path`, `segment`, `offset`, `reason` |
//! | `unnamed block removed` | info | `path`, `block` |
//! | `tail sealed` | info | `space`, `records`, `bytes`, `block` |
//! | `recovered` (a writing open) | info | `path`, `revision`, `spaces`, `tail_blocks`, `tail_bytes` |
//! | `seal` | info | `space`, `records`, `bytes`, `block` |
//! | `seal failed` | warn | `space`, `records`, `error` |
//! | `compaction` | info | `space`, `level`, `inputs`, `outputs`, `bytes_read`, `bytes_written` |
//! | `compaction failed` | warn | `space`, `inputs`, `error` |
//! | `hedge` (a missed deadline) | info | `space`, `revisions` |
//! | `segment poisoned` | warn | `space`, `path`, `errno`, `error`, `requeued` |
//! | `segment rolled` | info | `space`, `from`, `to` |
//! | `spare failed` | warn | `space`, `errno`, `error` |
//! | `staging chain failed` | warn | `path`, `outcome`, `revisions` |
//! | `staging disabled` | warn | `detail`, `dropped` |
//! | `space broken` | error | `space`, `detail` |
//!
//! Without the feature the crate does not depend on `tracing` and the events compile to
//! nothing.
//!
//! On-disk layouts are specified in `docs/format.md`.
#![forbid(unsafe_code)]

mod batch;
mod block_file;
mod checkpoint;
mod compaction;
mod db;
mod directory;
mod error;
mod failure;
mod io_thread;
pub mod keyspace;
mod levels;
mod lock;
mod log_file;
mod manifest;
mod memory;
mod memtable;
mod options;
mod paths;
mod pending;
mod queue;
mod read;
mod read_only;
mod recovery;
pub mod reply;
mod scan;
mod sealer;
mod space;
mod stats;
mod submission;
mod trace;
mod verify;

/// The README's code, compiled by `cargo test` as a doctest so that it stays true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
mod readme {}

pub use batch::{Batch, IntoValue};
pub use bytes::Bytes;
pub use checkpoint::CheckpointInfo;
pub use db::Db;
pub use error::{Error, Result};
pub use infinitedb_format::{
    BlockId, BlockMeta, Checksum, DecodeClass, DecodeError, Expected, FileKind, Key, LogKind,
    LogMeta, Retention, Revision, SegmentId, SpaceId,
};
pub use keyspace::{KeyspaceError, QueryBox};
pub use options::{
    BLOCK_TARGET_BYTES_DEFAULT, BlockReads, DEADLINE_DEFAULT, Durability,
    L0_COMPACTION_TRIGGER_DEFAULT, L0_STOP_WRITES_DEFAULT, LEVEL_BASE_BYTES_DEFAULT, Options,
    PAGE_CACHE_BYTES_CEILING, PAGE_CACHE_BYTES_FLOOR, PAGE_CACHE_MEMORY_SHARE,
    QUERY_RANGE_BUDGET_DEFAULT, QUEUE_BYTES_MAX_DEFAULT, SEAL_THRESHOLD_BYTES_DEFAULT,
    SEAL_THRESHOLD_RECORDS_DEFAULT, SEGMENT_BYTES_DEFAULT, VALUE_BYTES_MAX_DEFAULT, WriteOptions,
};
pub use pending::Pending;
pub use read::{Entry, Point, Query, Readable, Snapshot};
pub use read_only::{Description, ReadOnlyDb, SpaceDescription};
pub use space::SpaceInfo;
pub use stats::{LevelStats, POINT_READ_BLOCKS_BUCKETS, SpaceStats, Stats};
pub use submission::Submission;
pub use uring_io::{BackendInfo, BackendKind, BackendRequest, IoError, Storage};
pub use verify::{
    CheckedFile, FileRole, Note, Problem, ProblemKind, VerifyReport, verify, verify_with,
};

/// The storage interface the engine does its I/O through, for a custom backend passed to
/// [`Options::storage`]: [`Storage`] (the namespace, reads and durable writes) and its
/// [`CommitQueue`](storage::CommitQueue) of asynchronous write-then-sync chains, with every
/// type their signatures name. [`OsStorage`](storage::OsStorage) is the engine's own
/// backend, which a custom one can wrap.
///
/// ```
/// use std::sync::Arc;
/// use infinitedb::storage::{BackendRequest, OsStorage, Storage};
/// use infinitedb::{Db, Options, Readable};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let storage: Arc<dyn Storage> = OsStorage::open(dir.path(), BackendRequest::Auto)?;
/// let db = Db::open(dir.path(), Options::default().storage(storage))?;
/// let space = db.create_space("s", 1, 8)?;
/// db.put(space, &[7], b"seven")?;
/// assert_eq!(db.get(space, &[7])?.as_deref(), Some(&b"seven"[..]));
/// # Ok(())
/// # }
/// ```
pub mod storage {
    pub use uring_io::{
        AlignedBuf, BackendInfo, BackendKind, BackendRequest, ChainEvent, ChainId, ChainOutcome,
        CommitChain, CommitQueue, FileHandle, IoError, MIN_ALIGNMENT, OpenMode, OsStorage, Result,
        SECTOR_BYTES, Storage,
    };
}
