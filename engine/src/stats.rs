//! Counters of the write path and of block reads ([`Stats`]) and their lock-free
//! accumulators.
//!
//! Routes: a batch is counted `direct` when its hot-segment chain made it durable first, and
//! `staged` when its staging-log copy did (docs/design.md §4). A group is one commit chain that
//! acknowledged at least one batch. A filter skip is one sealed block whose key filter ruled
//! out the key of a point read, so that no page of it was read (`docs/format.md`, "Block
//! filter"). Read counters (page cache, block page reads) come from the readers' page cache
//! when a snapshot is taken.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::read::PageCacheCounts;

/// A snapshot of the engine's counters ([`crate::Db::stats`]), counted since the database
/// was opened.
///
/// ```
/// use infinitedb::{Db, Options};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let db = Db::open(dir.path(), Options::default())?;
/// let space = db.create_space("ids", 1, 32)?;
/// db.put(space, &[1], b"one")?;
/// db.flush(space)?;
/// let stats = db.stats();
/// assert_eq!((stats.batches, stats.seals), (1, 1));
/// assert_eq!(stats.records_direct + stats.records_staged, 1);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Hot-segment chains that acknowledged batches (direct route).
    pub groups_direct: u64,
    /// Staging-log chains that acknowledged batches (staged route).
    pub groups_staged: u64,
    /// Records acknowledged by the direct route.
    pub records_direct: u64,
    /// Records acknowledged by the staged route.
    pub records_staged: u64,
    /// Hot-segment chains that passed their deadline.
    pub deadline_misses: u64,
    /// Commit chains that ended durable (each is one fdatasync).
    pub fsyncs: u64,
    /// Seals completed (blocks written, or empty segments retired), counting the blocks
    /// `Db::open` seals from the live tail it recovers.
    pub seals: u64,
    /// Seal attempts that failed (a block or manifest write error, or a `NoSync` live tail
    /// not logged in time); the seal stays queued and is retried.
    pub seal_failures: u64,
    /// Commit chains that failed (write or sync error).
    pub chain_failures: u64,
    /// Hot segments abandoned after a failure (poisoned and rolled).
    pub segments_rolled: u64,
    /// Batches sequenced.
    pub batches: u64,
    /// Compactions completed.
    pub compactions: u64,
    /// Compactions that failed (each is retried later).
    pub compaction_failures: u64,
    /// Bytes of blocks read by compactions.
    pub compaction_bytes_read: u64,
    /// Bytes of blocks written by compactions (their write amplification, over the bytes
    /// sealed).
    pub compaction_bytes_written: u64,
    /// Bytes of blocks written by seals (those `Db::open` seals from a recovered tail
    /// included).
    pub sealed_bytes: u64,
    /// Writes that waited for compaction to catch up (backpressure).
    pub write_stalls: u64,
    /// Blocks a point read (`get`, `get_at`, `history`) skipped without reading a page,
    /// because their key filter showed they hold no version of the key.
    pub filter_skips: u64,
    /// Point reads (`get`, `get_at`) by the number of blocks each consulted (read a page of:
    /// not ruled out by key range, revisions or filter): index `n` counts reads that
    /// consulted `n` blocks, the last index those that consulted that many or more.
    pub point_read_blocks: [u64; POINT_READ_BLOCKS_BUCKETS],
    /// Page lookups of reads answered by the engine's page cache.
    pub page_cache_hits: u64,
    /// Page lookups of reads the page cache could not answer (each one read from storage).
    pub page_cache_misses: u64,
    /// Pages the page cache evicted to make room.
    pub page_cache_evictions: u64,
    /// Bytes the page cache holds now (decoded records and values).
    pub page_cache_bytes: u64,
    /// The page cache's byte budget (`Options::page_cache_bytes`).
    pub page_cache_capacity_bytes: u64,
    /// Block page runs reads read from storage (one per miss; compactions not counted). With
    /// `BlockReads::Buffered` the OS page cache may answer some of them without the device.
    pub block_page_reads: u64,
    /// Bytes of those page runs.
    pub block_read_bytes: u64,
}

/// Buckets of [`Stats::point_read_blocks`].
pub const POINT_READ_BLOCKS_BUCKETS: usize = 17;

impl Stats {
    /// The number of blocks at or below which a fraction `quantile` (0..=1) of point reads
    /// stayed (`None` before any point read); the last bucket stands for that many or more.
    ///
    /// ```
    /// use infinitedb::{Db, Options, Readable};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = Db::open(dir.path(), Options::default())?;
    /// let space = db.create_space("ids", 1, 32)?;
    /// assert_eq!(db.stats().point_read_blocks_quantile(0.99), None); // no point read yet
    /// db.put(space, &[1], b"one")?;
    /// db.flush(space)?;
    /// db.get(space, &[1])?;
    /// println!("p99 blocks per get: {:?}", db.stats().point_read_blocks_quantile(0.99));
    /// assert_eq!(db.stats().point_read_blocks_quantile(1.0), Some(1));
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn point_read_blocks_quantile(&self, quantile: f64) -> Option<usize> {
        let total: u64 = self.point_read_blocks.iter().sum();
        if total == 0 {
            return None;
        }
        let needed = (quantile.clamp(0.0, 1.0) * total as f64).max(1.0);
        let mut seen = 0;
        self.point_read_blocks.iter().position(|&count| {
            seen += count;
            seen as f64 >= needed
        })
    }

    /// Records acknowledged per durable fsync (0 when none yet).
    #[must_use]
    pub fn records_per_fsync(&self) -> f64 {
        if self.fsyncs == 0 {
            return 0.0;
        }
        let records = self.records_direct + self.records_staged;
        records as f64 / self.fsyncs as f64
    }
}

/// The shape of one space's data (`Db::space_stats`).
///
/// ```
/// use infinitedb::{Db, Options};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let db = Db::open(dir.path(), Options::default())?;
/// let space = db.create_space("ids", 1, 32)?;
/// db.put(space, &[1], b"one")?;
/// let before = db.space_stats(space)?;
/// assert_eq!((before.live_tail_records, before.blocks()), (1, 0));
/// db.flush(space)?; // the live tail becomes a level-0 block
/// let after = db.space_stats(space)?;
/// assert_eq!((after.live_tail_records, after.levels[0].blocks), (0, 1));
/// assert_eq!(after.records(), 1);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpaceStats {
    /// Per level, 0 first: level 0 holds one block per seal, deeper levels compactions'
    /// output (empty levels included, up to the deepest in use).
    pub levels: Vec<LevelStats>,
    /// Record versions in the live tail (memtables not sealed yet).
    pub live_tail_records: u64,
}

/// One level of a space.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LevelStats {
    /// Blocks in the level.
    pub blocks: usize,
    /// Bytes of their files.
    pub bytes: u64,
    /// Record versions they hold.
    pub records: u64,
}

impl SpaceStats {
    /// Blocks in every level.
    #[must_use]
    pub fn blocks(&self) -> usize {
        self.levels.iter().map(|level| level.blocks).sum()
    }

    /// Bytes of block files in every level.
    #[must_use]
    pub fn block_bytes(&self) -> u64 {
        self.levels.iter().map(|level| level.bytes).sum()
    }

    /// Record versions in blocks.
    #[must_use]
    pub fn block_records(&self) -> u64 {
        self.levels.iter().map(|level| level.records).sum()
    }

    /// Record versions the space stores: those in blocks and those in the live tail. Every
    /// put or delete of a point adds one; retention and compaction remove the versions they
    /// drop.
    ///
    /// ```
    /// use infinitedb::{Db, Options};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = Db::open(dir.path(), Options::default())?;
    /// let space = db.create_space("s", 2, 16)?;
    /// db.put(space, &[1, 2], b"a")?;
    /// db.put(space, &[1, 2], b"b")?;
    /// assert_eq!(db.space_stats(space)?.records(), 2);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn records(&self) -> u64 {
        self.block_records() + self.live_tail_records
    }
}

/// The live counters, updated by the engine's threads.
#[derive(Debug, Default)]
pub(crate) struct StatsCounters {
    pub(crate) groups_direct: AtomicU64,
    pub(crate) groups_staged: AtomicU64,
    pub(crate) records_direct: AtomicU64,
    pub(crate) records_staged: AtomicU64,
    pub(crate) deadline_misses: AtomicU64,
    pub(crate) fsyncs: AtomicU64,
    pub(crate) seals: AtomicU64,
    pub(crate) seal_failures: AtomicU64,
    pub(crate) chain_failures: AtomicU64,
    pub(crate) segments_rolled: AtomicU64,
    pub(crate) batches: AtomicU64,
    pub(crate) compactions: AtomicU64,
    pub(crate) compaction_failures: AtomicU64,
    pub(crate) compaction_bytes_read: AtomicU64,
    pub(crate) compaction_bytes_written: AtomicU64,
    pub(crate) sealed_bytes: AtomicU64,
    pub(crate) write_stalls: AtomicU64,
    pub(crate) filter_skips: AtomicU64,
    pub(crate) point_read_blocks: [AtomicU64; POINT_READ_BLOCKS_BUCKETS],
}

impl StatsCounters {
    /// Adds `amount` to `counter`.
    pub(crate) fn add(counter: &AtomicU64, amount: u64) {
        counter.fetch_add(amount, Ordering::Relaxed);
    }

    /// Counts one point read that consulted `blocks` blocks.
    pub(crate) fn record_point_read(&self, blocks: usize) {
        let bucket = blocks.min(POINT_READ_BLOCKS_BUCKETS - 1);
        Self::add(&self.point_read_blocks[bucket], 1);
    }

    /// A consistent-enough copy (each counter read once, relaxed), with the readers' page
    /// cache's counts.
    pub(crate) fn snapshot(&self, cache: &PageCacheCounts) -> Stats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Stats {
            groups_direct: read(&self.groups_direct),
            groups_staged: read(&self.groups_staged),
            records_direct: read(&self.records_direct),
            records_staged: read(&self.records_staged),
            deadline_misses: read(&self.deadline_misses),
            fsyncs: read(&self.fsyncs),
            seals: read(&self.seals),
            seal_failures: read(&self.seal_failures),
            chain_failures: read(&self.chain_failures),
            segments_rolled: read(&self.segments_rolled),
            batches: read(&self.batches),
            compactions: read(&self.compactions),
            compaction_failures: read(&self.compaction_failures),
            compaction_bytes_read: read(&self.compaction_bytes_read),
            compaction_bytes_written: read(&self.compaction_bytes_written),
            sealed_bytes: read(&self.sealed_bytes),
            write_stalls: read(&self.write_stalls),
            filter_skips: read(&self.filter_skips),
            point_read_blocks: std::array::from_fn(|bucket| read(&self.point_read_blocks[bucket])),
            page_cache_hits: cache.hits,
            page_cache_misses: cache.misses,
            page_cache_evictions: cache.evictions,
            page_cache_bytes: cache.bytes,
            page_cache_capacity_bytes: cache.capacity_bytes,
            block_page_reads: cache.reads,
            block_read_bytes: cache.read_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn point_read_quantiles_come_from_the_buckets() {
        // Goal: quantiles of blocks per point read; the last bucket absorbs larger counts.
        // Method: 90 reads of 1 block, 9 of 3, 1 of 40.
        let counters = StatsCounters::default();
        assert_eq!(
            counters
                .snapshot(&PageCacheCounts::default())
                .point_read_blocks_quantile(0.5),
            None
        );
        (0..90).for_each(|_| counters.record_point_read(1));
        (0..9).for_each(|_| counters.record_point_read(3));
        counters.record_point_read(40);
        let stats = counters.snapshot(&PageCacheCounts::default());
        assert_eq!(stats.point_read_blocks_quantile(0.5), Some(1));
        assert_eq!(stats.point_read_blocks_quantile(0.9), Some(1));
        assert_eq!(stats.point_read_blocks_quantile(0.99), Some(3));
        assert_eq!(
            stats.point_read_blocks_quantile(1.0),
            Some(POINT_READ_BLOCKS_BUCKETS - 1)
        );
    }

    #[test]
    fn records_per_fsync_counts_both_routes() {
        // Goal: the ratio adds both routes and is 0 without fsyncs. Method: fill counters.
        let counters = StatsCounters::default();
        assert_eq!(
            counters
                .snapshot(&PageCacheCounts::default())
                .records_per_fsync(),
            0.0
        );
        StatsCounters::add(&counters.records_direct, 30);
        StatsCounters::add(&counters.records_staged, 10);
        StatsCounters::add(&counters.fsyncs, 4);
        assert_eq!(
            counters
                .snapshot(&PageCacheCounts::default())
                .records_per_fsync(),
            10.0
        );
    }
}
