//! [`Options`] of a [`crate::Db`] and their documented defaults, and [`Durability`].
//!
//! Every limit of the engine is here or a named constant: queue bytes, value
//! size, seal thresholds, segment size. `validate` checks relations between them at open.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use infinitedb_format::{FRAME_HEADER_BYTES, LOG_HEADER_BYTES, RECORD_HEADER_BYTES};
use uring_io::{BackendRequest, Storage};

use crate::error::{Error, Result};

/// When a write returns ([`Options::durability`]).
///
/// ```
/// use infinitedb::{Db, Durability, Options, Readable};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let db = Db::open(dir.path(), Options::default().durability(Durability::NoSync))?;
/// let space = db.create_space("ids", 1, 32)?;
/// db.put(space, &[1], b"one")?; // sequenced and visible, not yet durable
/// assert!(db.contains(space, &[1])?);
/// db.sync()?; // durable now
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Durability {
    /// Return once the write is on disk (hot segment or staging log fdatasync acknowledged)
    /// and visible to reads. The default.
    #[default]
    Sync,
    /// Return once the write is sequenced and visible to reads: at once, unless a `Sync`
    /// write of the same space sequenced before it is still on its way to the disk (then
    /// right after that one). It reaches the disk with a later group;
    /// [`crate::Db::wait_durable`] and [`crate::Db::sync`] wait for it. A batch of several
    /// spaces ([`crate::Batch::put_in`]) returns once it is on disk whatever its durability:
    /// one staging-log write decides it (docs/design.md §4).
    NoSync,
}

/// Options of one write ([`crate::Db::write_with`], [`crate::Db::submit_with`]).
///
/// ```
/// use infinitedb::{Batch, Db, Durability, Options, WriteOptions};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let db = Db::open(dir.path(), Options::default())?; // Sync by default
/// let space = db.create_space("events", 1, 32)?;
/// let mut bulk = Batch::new(space);
/// for key in 0..1000 {
///     bulk.put(&[key], b"payload");
/// }
/// // One bulk load that need not wait for the device, beside durable commits on the same Db.
/// let revision = db.write_with(bulk, &WriteOptions::default().durability(Durability::NoSync))?;
/// db.wait_durable(revision)?; // now it is on disk
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteOptions {
    pub(crate) durability: Option<Durability>,
}

impl WriteOptions {
    /// When this write returns (default: the database's [`Options::durability`]).
    #[must_use]
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = Some(durability);
        self
    }
}

/// How sealed blocks are read when a page is not in the engine's page cache. Writes of every
/// kind use O_DIRECT either way (where the filesystem allows it).
///
/// ```
/// use infinitedb::{BlockReads, Options};
/// // A data set far larger than memory, with the engine's cache sized to its working set.
/// let options = Options::default()
///     .block_reads(BlockReads::Direct)
///     .page_cache_bytes(8 << 30);
/// # let _ = options;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BlockReads {
    /// Through the OS page cache with readahead off (`POSIX_FADV_RANDOM`), the default:
    /// pages the engine's cache evicts stay in free memory, so a data set that fits in memory
    /// is served from memory once read, and a cold page is one device read of that page.
    /// Costs a second copy of hot pages (kernel and engine) and a system call per miss.
    #[default]
    Buffered,
    /// O_DIRECT: the engine's page cache is the only cache. Wins when the data set is far
    /// larger than memory (no kernel copy, no page-cache pollution of other processes) or
    /// when [`Options::page_cache_bytes`] holds the working set.
    Direct,
}

/// Default deadline of the direct route before a group is hedged onto the staging log: 2 ms
/// ([`Options::deadline`]).
pub const DEADLINE_DEFAULT: Duration = Duration::from_millis(2);
/// Default bound on the bytes of writes queued or in flight, 64 MiB: beyond it writers wait
/// (backpressure).
pub const QUEUE_BYTES_MAX_DEFAULT: usize = 64 * 1024 * 1024;
/// Default largest value, 1 MiB: a larger one is `Error::ValueTooLarge`.
pub const VALUE_BYTES_MAX_DEFAULT: usize = 1024 * 1024;
/// Default size of a pre-written hot segment (and of a staging log file): 64 MiB.
pub const SEGMENT_BYTES_DEFAULT: u64 = 64 * 1024 * 1024;
/// Default seal threshold in encoded record bytes of a hot segment: 32 MiB.
pub const SEAL_THRESHOLD_BYTES_DEFAULT: u64 = 32 * 1024 * 1024;
/// Smallest default byte budget of the page cache of sealed blocks (also the default when
/// the machine's memory is unknown).
pub const PAGE_CACHE_BYTES_FLOOR: usize = 64 * 1024 * 1024;
/// Largest default byte budget of the page cache: beyond it, [`BlockReads::Buffered`] leaves
/// the rest of free memory to the OS page cache, which the kernel can reclaim.
pub const PAGE_CACHE_BYTES_CEILING: usize = 1024 * 1024 * 1024;
/// The default page cache is this fraction (1/N) of the usable memory (the smaller of
/// physical memory and the process's cgroup limit), within the floor and the ceiling.
pub const PAGE_CACHE_MEMORY_SHARE: u64 = 16;
/// Default most key ranges a query box is decomposed into: 64 (a box is covered by at most
/// this many Hilbert key ranges, over-reading a little at their edges).
pub const QUERY_RANGE_BUDGET_DEFAULT: usize = 64;
/// Default seal threshold in records of a hot segment: 1,000,000.
pub const SEAL_THRESHOLD_RECORDS_DEFAULT: u64 = 1_000_000;
/// Default number of level-0 blocks (seals) that start a compaction into level 1: 4.
pub const L0_COMPACTION_TRIGGER_DEFAULT: usize = 4;
/// Default number of level-0 blocks at which writers of the space wait for compaction: 20.
pub const L0_STOP_WRITES_DEFAULT: usize = 20;
/// Default target bytes of level 1, 256 MiB (each deeper level's is 10× the one above).
pub const LEVEL_BASE_BYTES_DEFAULT: u64 = 256 * 1024 * 1024;
/// Default size at which a compaction finishes an output block (at the next key): 32 MiB.
pub const BLOCK_TARGET_BYTES_DEFAULT: u64 = 32 * 1024 * 1024;

/// How a [`crate::Db`] is opened. Build with `Options::default()` and the setters; each
/// setter documents its default (the `*_DEFAULT` constants), and [`crate::Db::open`]
/// refuses values out of range or inconsistent with each other ([`Error::InvalidOption`]).
///
/// ```
/// use std::time::Duration;
/// use infinitedb::{BlockReads, Db, Durability, Options};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let options = Options::default()
///     .durability(Durability::Sync)
///     .deadline(Some(Duration::from_millis(2))) // hedge onto the staging log after 2 ms
///     .seal_threshold_records(100_000) // seal the live tail every 100,000 records
///     .page_cache_bytes(256 << 20)
///     .block_reads(BlockReads::Buffered)
///     .value_bytes_max(64 << 10);
/// let db = Db::open(dir.path(), options)?;
/// # drop(db);
/// // A segment must be a multiple of 4096 bytes, at least 1 MiB.
/// let refused = Db::open(dir.path(), Options::default().segment_bytes(1000));
/// assert!(matches!(refused, Err(infinitedb::Error::InvalidOption { .. })));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Options {
    pub(crate) durability: Durability,
    pub(crate) deadline: Option<Duration>,
    pub(crate) staging_dir: Option<PathBuf>,
    pub(crate) seal_threshold_bytes: u64,
    pub(crate) seal_threshold_records: u64,
    pub(crate) queue_bytes_max: usize,
    pub(crate) value_bytes_max: usize,
    pub(crate) backend: BackendRequest,
    pub(crate) storage: Option<Arc<dyn Storage>>,
    pub(crate) segment_bytes: u64,
    pub(crate) page_cache_bytes: usize,
    pub(crate) block_reads: BlockReads,
    pub(crate) query_range_budget: usize,
    pub(crate) compaction: bool,
    pub(crate) l0_compaction_trigger: usize,
    pub(crate) l0_stop_writes: usize,
    pub(crate) level_base_bytes: u64,
    pub(crate) block_target_bytes: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            durability: Durability::Sync,
            deadline: Some(DEADLINE_DEFAULT),
            staging_dir: None,
            seal_threshold_bytes: SEAL_THRESHOLD_BYTES_DEFAULT,
            seal_threshold_records: SEAL_THRESHOLD_RECORDS_DEFAULT,
            queue_bytes_max: QUEUE_BYTES_MAX_DEFAULT,
            value_bytes_max: VALUE_BYTES_MAX_DEFAULT,
            backend: BackendRequest::Auto,
            storage: None,
            segment_bytes: SEGMENT_BYTES_DEFAULT,
            page_cache_bytes: crate::memory::page_cache_bytes_default(),
            block_reads: BlockReads::Buffered,
            query_range_budget: QUERY_RANGE_BUDGET_DEFAULT,
            compaction: true,
            l0_compaction_trigger: L0_COMPACTION_TRIGGER_DEFAULT,
            l0_stop_writes: L0_STOP_WRITES_DEFAULT,
            level_base_bytes: LEVEL_BASE_BYTES_DEFAULT,
            block_target_bytes: BLOCK_TARGET_BYTES_DEFAULT,
        }
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("durability", &self.durability)
            .field("deadline", &self.deadline)
            .field("staging_dir", &self.staging_dir)
            .field("seal_threshold_bytes", &self.seal_threshold_bytes)
            .field("seal_threshold_records", &self.seal_threshold_records)
            .field("queue_bytes_max", &self.queue_bytes_max)
            .field("value_bytes_max", &self.value_bytes_max)
            .field("backend", &self.backend)
            .field(
                "storage",
                &self.storage.as_ref().map(|storage| storage.info().kind),
            )
            .field("segment_bytes", &self.segment_bytes)
            .field("page_cache_bytes", &self.page_cache_bytes)
            .field("block_reads", &self.block_reads)
            .field("query_range_budget", &self.query_range_budget)
            .field("compaction", &self.compaction)
            .field("l0_compaction_trigger", &self.l0_compaction_trigger)
            .field("l0_stop_writes", &self.l0_stop_writes)
            .field("level_base_bytes", &self.level_base_bytes)
            .field("block_target_bytes", &self.block_target_bytes)
            .finish()
    }
}

impl Options {
    /// When writes return (default [`Durability::Sync`]).
    #[must_use]
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// How long a group may wait on its hot segment before it is hedged onto the staging log
    /// (default 2 ms; `None` disables the staged route; zero sends every group staged too).
    /// Applies to groups holding a [`Durability::Sync`] write (under a `NoSync` default, those
    /// written with [`crate::WriteOptions`]): a group of `NoSync` writes only, whose writers are
    /// answered before it reaches the disk, is not hedged, since hedging would write each late
    /// group twice for no writer's benefit.
    #[must_use]
    pub fn deadline(mut self, deadline: Option<Duration>) -> Self {
        self.deadline = deadline;
        self
    }

    /// Directory of the staging log (default `<db>/staging`); may sit on another device.
    #[must_use]
    pub fn staging_dir(mut self, staging_dir: PathBuf) -> Self {
        self.staging_dir = Some(staging_dir);
        self
    }

    /// Seal a space's hot segment once its records encode to this many bytes (default 32 MiB).
    #[must_use]
    pub fn seal_threshold_bytes(mut self, bytes: u64) -> Self {
        self.seal_threshold_bytes = bytes;
        self
    }

    /// Seal a space's hot segment once it holds this many records (default 1,000,000).
    #[must_use]
    pub fn seal_threshold_records(mut self, records: u64) -> Self {
        self.seal_threshold_records = records;
        self
    }

    /// Bound on the bytes of writes queued or in flight; writers block beyond it (default
    /// 64 MiB). A single batch larger than this is refused with [`Error::BatchTooLarge`].
    /// The bound in force is at most the largest frame of a segment
    /// ([`Options::segment_bytes`]), whatever this asks: the records a seal freezes before
    /// they are logged must fit the next segment (docs/design.md §4, "Backpressure").
    #[must_use]
    pub fn queue_bytes_max(mut self, bytes: usize) -> Self {
        self.queue_bytes_max = bytes;
        self
    }

    /// Largest value accepted (default 1 MiB); larger is [`Error::ValueTooLarge`].
    #[must_use]
    pub fn value_bytes_max(mut self, bytes: usize) -> Self {
        self.value_bytes_max = bytes;
        self
    }

    /// Which OS backend to open (default `Auto`; ignored when [`Options::storage`] is set).
    #[must_use]
    pub fn backend(mut self, backend: BackendRequest) -> Self {
        self.backend = backend;
        self
    }

    /// Use this storage instead of opening the OS one: any implementation of
    /// [`crate::storage::Storage`] (the crash tests pass a simulated disk). Paths are used as
    /// given in its namespace, and the directory lock is a process-wide registry of
    /// (storage, path) pairs instead of a file lock.
    #[must_use]
    pub fn storage(mut self, storage: Arc<dyn Storage>) -> Self {
        self.storage = Some(storage);
        self
    }

    /// Size of each pre-written hot segment and staging log file (default 64 MiB; a multiple
    /// of 4096, at least 1 MiB).
    #[must_use]
    pub fn segment_bytes(mut self, bytes: u64) -> Self {
        self.segment_bytes = bytes;
        self
    }

    /// Byte budget of the cache of verified, decoded block pages shared by all readers
    /// (0 disables it). The default is 1/[`PAGE_CACHE_MEMORY_SHARE`] of the usable memory
    /// (the smaller of physical memory and the process's cgroup limit), at least
    /// [`PAGE_CACHE_BYTES_FLOOR`] and at most [`PAGE_CACHE_BYTES_CEILING`]. A hit costs no
    /// system call and no checksum; with [`BlockReads::Buffered`] a miss may still be served
    /// from the OS page cache.
    #[must_use]
    pub fn page_cache_bytes(mut self, bytes: usize) -> Self {
        self.page_cache_bytes = bytes;
        self
    }

    /// How sealed blocks are read on a page-cache miss (default [`BlockReads::Buffered`]).
    #[must_use]
    pub fn block_reads(mut self, reads: BlockReads) -> Self {
        self.block_reads = reads;
        self
    }

    /// Most key ranges a query box is decomposed into (default 64, at least 1): more ranges
    /// read fewer keys outside the box but seek more often.
    #[must_use]
    pub fn query_range_budget(mut self, ranges: usize) -> Self {
        self.query_range_budget = ranges;
        self
    }

    /// Background compaction (default on): merges each space's blocks as they accumulate, so
    /// a point read consults at most the level-0 blocks and one block per deeper level, and
    /// drops the versions the space's [`Retention`](crate::Retention) no longer wants. Off,
    /// blocks accumulate until [`Db::compact`](crate::Db::compact), and writers never wait
    /// for compaction.
    #[must_use]
    pub fn compaction(mut self, enabled: bool) -> Self {
        self.compaction = enabled;
        self
    }

    /// Level-0 blocks (one per seal) that start a compaction into level 1 (default 4, at
    /// least 1).
    #[must_use]
    pub fn l0_compaction_trigger(mut self, blocks: usize) -> Self {
        self.l0_compaction_trigger = blocks;
        self
    }

    /// Level-0 blocks at which writers of the space wait until compaction brings the count
    /// down (default 20; above the trigger). Writers do not wait while the space's last
    /// compaction failed (a full disk): writes and reads go on, and blocks accumulate.
    #[must_use]
    pub fn l0_stop_writes(mut self, blocks: usize) -> Self {
        self.l0_stop_writes = blocks;
        self
    }

    /// Target bytes of level 1 (default 256 MiB, at least 1 MiB); each deeper level's is
    /// 10× the one above, and a level over its target sends blocks down.
    #[must_use]
    pub fn level_base_bytes(mut self, bytes: u64) -> Self {
        self.level_base_bytes = bytes;
        self
    }

    /// Record bytes at which a compaction finishes an output block, at the next key
    /// (default 32 MiB, at least 4096).
    #[must_use]
    pub fn block_target_bytes(mut self, bytes: u64) -> Self {
        self.block_target_bytes = bytes;
        self
    }

    /// The largest encoded frame a segment accepts: one whose stamped sectors fill the
    /// segment minus its header and one page of slack for the rewritten tail page.
    pub(crate) fn frame_bytes_max(&self) -> usize {
        let usable = self
            .segment_bytes
            .saturating_sub(2 * LOG_HEADER_BYTES as u64);
        let usable = usize::try_from(usable).unwrap_or(usize::MAX);
        infinitedb_format::stamped_frame_bytes_max(usable)
            .min(infinitedb_format::FRAME_PAYLOAD_BYTES_MAX as usize)
    }

    /// Checks the options against each other.
    pub(crate) fn validate(&self) -> Result<()> {
        let invalid = |name, detail: String| Err(Error::InvalidOption { name, detail });
        if self.segment_bytes < 1024 * 1024 || !self.segment_bytes.is_multiple_of(4096) {
            return invalid(
                "segment_bytes",
                format!("{} is not a multiple of 4096 >= 1 MiB", self.segment_bytes),
            );
        }
        let record_bytes_max = FRAME_HEADER_BYTES + RECORD_HEADER_BYTES + self.value_bytes_max;
        if record_bytes_max > self.frame_bytes_max() {
            return invalid(
                "value_bytes_max",
                format!("{} does not fit a segment frame", self.value_bytes_max),
            );
        }
        if self.queue_bytes_max < record_bytes_max {
            return invalid(
                "queue_bytes_max",
                format!("{} is below one maximal record", self.queue_bytes_max),
            );
        }
        if self.seal_threshold_bytes == 0 || self.seal_threshold_records == 0 {
            return invalid("seal_threshold", "thresholds must be positive".to_string());
        }
        if self.query_range_budget == 0 {
            return invalid(
                "query_range_budget",
                "a box needs at least one key range".to_string(),
            );
        }
        if self.l0_compaction_trigger == 0 || self.l0_stop_writes <= self.l0_compaction_trigger {
            return invalid(
                "l0_stop_writes",
                format!(
                    "needs 1 <= l0_compaction_trigger ({}) < l0_stop_writes ({})",
                    self.l0_compaction_trigger, self.l0_stop_writes
                ),
            );
        }
        if self.level_base_bytes < 1024 * 1024 || self.block_target_bytes < 4096 {
            return invalid(
                "level_base_bytes",
                format!(
                    "level_base_bytes {} must be >= 1 MiB and block_target_bytes {} >= 4096",
                    self.level_base_bytes, self.block_target_bytes
                ),
            );
        }
        Ok(())
    }
}
