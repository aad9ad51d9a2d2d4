//! [`PageCache`]: a user-space cache of verified, decoded block pages with a byte budget
//! (docs/design.md §6 "Two read tiers").
//!
//! Owns: the byte budget and the eviction order of every cached page of this `Db`. The pages
//! themselves sit in each open block's [`PageTable`], one slot per index position, so a hit is
//! one slot lock and one reference count, with no hashing; the cache's shards hold only the
//! eviction ring (which block table and position each cached page is in, and its bytes).
//! Blocks are immutable and block ids are never reused (docs/design.md §8), so a cached page
//! never goes stale; a removed block's table goes with the block, and its ring entries are
//! dropped (and their bytes freed from the budget) when the hand reaches them.
//!
//! Eviction is CLOCK (second chance) per shard: a hit sets the page's reference bit, the hand
//! clears set bits and evicts the first page whose bit is clear. The cache is split into
//! [`SHARD_COUNT`] shards, each behind its own `parking_lot::Mutex` held only for an insert
//! and its evictions (never across I/O and never by a hit).
//!
//! Invariants: a shard's `bytes` is the sum of its ring entries' bytes and stays
//! `<= shard_bytes_max` after every insert; a table slot holds a page only while a ring
//! entry of the slot's shard names it, and every change to a slot is made under that shard's
//! lock (the slot's own lock orders it against hits); a page larger than a shard's budget is
//! returned to the caller but not kept; only pages whose checksum verified are ever inserted
//! (the only constructor of [`CachedPage`] outside tests takes a decoded, verified `DataPage`).

use std::cmp::Reverse;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use bytes::Bytes;
use infinitedb_format::{BlockId, DataPage, Key, RecordKind, Revision};
use parking_lot::Mutex;

use super::version::Version;

/// Number of independently locked shards.
pub(crate) const SHARD_COUNT: usize = 16;

/// Bytes charged per record besides its value (key, revision, value bounds).
const RECORD_CHARGE_BYTES: usize = std::mem::size_of::<PageRecord>();

/// `PageRecord::value_length` of a delete.
const DELETE_LENGTH: u32 = u32::MAX;

/// One record of a cached page; the value lives in the page's `values` arena.
#[derive(Clone, Copy, Debug)]
struct PageRecord {
    key: Key,
    revision: Revision,
    /// Where the value starts in `values`.
    value_start: u32,
    /// The value's length, [`DELETE_LENGTH`] for a delete.
    value_length: u32,
}

/// Where a page stands for one key at one revision ([`CachedPage::seek`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Seek {
    /// Record `index` is the newest version of the key at or below the revision.
    Found(usize),
    /// The page holds a later key after the key's versions: no later page holds one.
    Absent,
    /// Every record of the page sorts before the position: a later page may hold it.
    After,
}

/// A data page run, verified and decoded once, in block order (key asc, revision desc).
/// Values are slices of one shared arena, so a read hands them out without copying.
#[derive(Debug)]
pub(crate) struct CachedPage {
    records: Box<[PageRecord]>,
    values: Bytes,
    /// CLOCK's reference bit: set by a hit, cleared by the passing hand.
    referenced: AtomicBool,
}

impl CachedPage {
    /// Copies the records of a page that `decode_page` verified.
    pub(crate) fn from_page(page: &DataPage<'_>) -> CachedPage {
        let count = usize::try_from(page.record_count()).unwrap_or(0);
        let mut records = Vec::with_capacity(count);
        let mut values = Vec::new();
        for record in page.records() {
            // A page run is far smaller than 4 GiB (the block format bounds it), so arena
            // offsets and lengths fit in `u32` below `DELETE_LENGTH`.
            let value_start = u32::try_from(values.len()).unwrap_or(u32::MAX);
            let value_length = match record.kind {
                RecordKind::Put => {
                    values.extend_from_slice(record.value);
                    u32::try_from(record.value.len()).unwrap_or(DELETE_LENGTH - 1)
                }
                RecordKind::Delete => DELETE_LENGTH,
            };
            records.push(PageRecord {
                key: record.key,
                revision: record.revision,
                value_start,
                value_length,
            });
        }
        CachedPage::new(records.into(), Bytes::from(values))
    }

    fn new(records: Box<[PageRecord]>, values: Bytes) -> CachedPage {
        debug_assert!(records.windows(2).all(|pair| {
            (pair[0].key, Reverse(pair[0].revision)) < (pair[1].key, Reverse(pair[1].revision))
        }));
        CachedPage {
            records,
            values,
            referenced: AtomicBool::new(false),
        }
    }

    /// Records held.
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    /// The key of record `index`.
    pub(crate) fn key(&self, index: usize) -> Option<Key> {
        self.records.get(index).map(|record| record.key)
    }

    /// Record `index` as a version whose value shares the page's arena.
    pub(crate) fn version(&self, index: usize) -> Option<Version> {
        let record = self.records.get(index)?;
        let value = if record.value_length == DELETE_LENGTH {
            None
        } else {
            let start = usize::try_from(record.value_start).ok()?;
            let end = start.checked_add(usize::try_from(record.value_length).ok()?)?;
            if end > self.values.len() {
                return None;
            }
            Some(self.values.slice(start..end))
        };
        Some(Version {
            key: record.key,
            revision: record.revision,
            value,
        })
    }

    /// How many records have keys below `key` (records are in key order).
    pub(crate) fn count_below(&self, key: Key) -> usize {
        self.records.partition_point(|record| record.key < key)
    }

    /// How many records have keys at or below `key`.
    pub(crate) fn count_through(&self, key: Key) -> usize {
        self.records.partition_point(|record| record.key <= key)
    }

    /// Where the newest version of `key` at or below `at` is in this page (records are in
    /// `(key asc, revision desc)` order). The first record of `key` is found by counting the
    /// records with smaller keys: the loads are independent, so the page's few cache lines of
    /// records are fetched together rather than one per step of a binary search.
    pub(crate) fn seek(&self, key: Key, at: Revision) -> Seek {
        let mut index = self
            .records
            .iter()
            .filter(|record| record.key < key)
            .count();
        while self
            .records
            .get(index)
            .is_some_and(|record| record.key == key && record.revision > at)
        {
            index += 1;
        }
        match self.key(index) {
            Some(held) if held == key => Seek::Found(index),
            Some(_) => Seek::Absent,
            None => Seek::After,
        }
    }

    /// Bytes this page is charged in the cache.
    pub(crate) fn charged_bytes(&self) -> usize {
        self.values.len() + self.records.len() * RECORD_CHARGE_BYTES
    }
}

/// One page run's cache slot: the page while it is cached.
type Slot = Mutex<Option<Arc<CachedPage>>>;

/// The cache slots of one open block's page runs, one per index position, allocated on the
/// first insert (a block never read costs one pointer).
#[derive(Debug)]
pub(crate) struct PageTable {
    block_id: BlockId,
    run_count: usize,
    slots: OnceLock<Box<[Slot]>>,
}

impl PageTable {
    /// The empty table of block `block_id`, whose index has `run_count` page runs.
    pub(crate) fn new(block_id: BlockId, run_count: usize) -> Arc<PageTable> {
        Arc::new(PageTable {
            block_id,
            run_count,
            slots: OnceLock::new(),
        })
    }

    fn slot(&self, position: usize) -> Option<&Slot> {
        self.slots.get()?.get(position)
    }

    fn slot_or_init(&self, position: usize) -> Option<&Slot> {
        let slots = self
            .slots
            .get_or_init(|| (0..self.run_count).map(|_| Mutex::new(None)).collect());
        slots.get(position)
    }
}

/// What the cache did since it was made, and what it holds now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PageCacheCounts {
    /// Lookups answered from the cache.
    pub(crate) hits: u64,
    /// Lookups that had to read the storage.
    pub(crate) misses: u64,
    /// Pages evicted to make room.
    pub(crate) evictions: u64,
    /// Page runs read from the storage by the cache's users ([`PageCache::note_reads`]).
    pub(crate) reads: u64,
    /// Bytes of those reads.
    pub(crate) read_bytes: u64,
    /// Charged bytes held now.
    pub(crate) bytes: u64,
    /// The byte budget.
    pub(crate) capacity_bytes: u64,
}

/// The shared page cache of one `Db`.
#[derive(Debug)]
pub(crate) struct PageCache {
    shards: Box<[Mutex<Shard>]>,
    shard_bytes_max: usize,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
    reads: AtomicU64,
    read_bytes: AtomicU64,
}

/// A cached page in a shard's eviction ring: where it is, and what it costs.
#[derive(Debug)]
struct RingEntry {
    table: Weak<PageTable>,
    position: usize,
    bytes: usize,
}

#[derive(Debug, Default)]
struct Shard {
    ring: Vec<Option<RingEntry>>,
    free: Vec<usize>,
    hand: usize,
    bytes: usize,
}

impl PageCache {
    /// A cache holding at most `bytes_max` charged bytes (0 disables caching).
    pub(crate) fn new(bytes_max: usize) -> PageCache {
        let shards = (0..SHARD_COUNT)
            .map(|_| Mutex::new(Shard::default()))
            .collect();
        PageCache {
            shards,
            shard_bytes_max: bytes_max / SHARD_COUNT,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            reads: AtomicU64::new(0),
            read_bytes: AtomicU64::new(0),
        }
    }

    /// The shard that owns slot `position` of `table` (a fixed mix of block id and position).
    fn shard(&self, table: &PageTable, position: usize) -> &Mutex<Shard> {
        let mixed = (table.block_id.0 ^ (position as u64).rotate_left(32))
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let index = usize::try_from(mixed >> 60).unwrap_or(0) % SHARD_COUNT;
        &self.shards[index]
    }

    /// The cached page at `position` of `table`, marking it recently used.
    pub(crate) fn get(&self, table: &PageTable, position: usize) -> Option<Arc<CachedPage>> {
        self.with(table, position, Arc::clone).ok()
    }

    /// `read` of the cached page at `position` of `table`, marking it recently used; on a
    /// miss, `read` itself comes back unrun. `read` runs under the slot's lock, so a point
    /// read that needs only a value out of the page costs no reference count on the page.
    pub(crate) fn with<R, F>(&self, table: &PageTable, position: usize, read: F) -> Result<R, F>
    where
        F: FnOnce(&Arc<CachedPage>) -> R,
    {
        let answer = self.probe(table, position, read);
        if answer.is_err() {
            self.misses.fetch_add(1, Ordering::Relaxed);
        }
        answer
    }

    /// [`PageCache::with`] for a look that is not a read: a miss is not counted (the caller
    /// may then not read the page at all, or reads it through `with`).
    pub(crate) fn probe<R, F>(&self, table: &PageTable, position: usize, read: F) -> Result<R, F>
    where
        F: FnOnce(&Arc<CachedPage>) -> R,
    {
        let held = table.slot(position).map(|slot| slot.lock());
        let answer = match held.as_ref().and_then(|held| held.as_ref()) {
            Some(page) => {
                page.referenced.store(true, Ordering::Relaxed);
                Ok(read(page))
            }
            None => Err(read),
        };
        drop(held);
        if answer.is_ok() {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
        answer
    }

    /// Keeps `page` at `position` of `table`, evicting older pages to stay within the budget.
    /// A page larger than a shard's budget is not kept, nor one whose slot is already filled.
    pub(crate) fn insert(&self, table: &Arc<PageTable>, position: usize, page: Arc<CachedPage>) {
        let bytes = page.charged_bytes();
        if bytes > self.shard_bytes_max {
            return;
        }
        let mut shard = self.shard(table, position).lock();
        let Some(slot) = table.slot_or_init(position) else {
            return;
        };
        if slot.lock().is_some() {
            return;
        }
        let evicted = shard.evict_until_fits(bytes, self.shard_bytes_max);
        if evicted > 0 {
            self.evictions.fetch_add(evicted, Ordering::Relaxed);
        }
        let entry = Some(RingEntry {
            table: Arc::downgrade(table),
            position,
            bytes,
        });
        match shard.free.pop() {
            Some(index) => shard.ring[index] = entry,
            None => shard.ring.push(entry),
        }
        shard.bytes += bytes;
        *slot.lock() = Some(page);
        debug_assert!(shard.bytes <= self.shard_bytes_max);
    }

    /// Counts `reads` page runs of `bytes` in all read from the storage after misses.
    pub(crate) fn note_reads(&self, reads: usize, bytes: u64) {
        self.reads.fetch_add(reads as u64, Ordering::Relaxed);
        self.read_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Charged bytes held in all shards.
    pub(crate) fn bytes(&self) -> usize {
        self.shards.iter().map(|shard| shard.lock().bytes).sum()
    }

    /// The counters so far and the bytes held now (each shard locked briefly in turn).
    pub(crate) fn counts(&self) -> PageCacheCounts {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        PageCacheCounts {
            hits: read(&self.hits),
            misses: read(&self.misses),
            evictions: read(&self.evictions),
            reads: read(&self.reads),
            read_bytes: read(&self.read_bytes),
            bytes: self.bytes() as u64,
            capacity_bytes: (self.shard_bytes_max * SHARD_COUNT) as u64,
        }
    }
}

/// What the passing hand does with a ring entry.
enum Release {
    /// The page was hit since the hand last passed: its bit is cleared and it stays.
    Referenced,
    /// The page is taken out of its slot.
    Evicted,
    /// The page's block is gone (and its pages with it).
    Gone,
}

impl RingEntry {
    /// Clears the page's reference bit if set, else takes the page out of its slot.
    fn second_chance(&self) -> Release {
        let Some(table) = self.table.upgrade() else {
            return Release::Gone;
        };
        let Some(slot) = table.slot(self.position) else {
            return Release::Gone;
        };
        let mut held = slot.lock();
        let referenced = held
            .as_ref()
            .is_some_and(|page| page.referenced.swap(false, Ordering::Relaxed));
        if referenced {
            return Release::Referenced;
        }
        *held = None;
        Release::Evicted
    }
}

impl Shard {
    /// CLOCK: sweeps the hand, giving referenced pages a second chance, until `bytes` more
    /// fit. An entry whose block is gone is dropped without counting as an eviction. Returns
    /// the number of pages evicted.
    fn evict_until_fits(&mut self, bytes: usize, bytes_max: usize) -> u64 {
        let mut evicted = 0;
        debug_assert!(bytes <= bytes_max);
        // Two full sweeps always suffice: the first clears every reference bit.
        let mut steps_left = 2 * self.ring.len() + 1;
        while self.bytes + bytes > bytes_max && steps_left > 0 && !self.ring.is_empty() {
            steps_left -= 1;
            self.hand %= self.ring.len();
            let index = self.hand;
            self.hand += 1;
            let Some(entry) = self.ring[index].as_ref() else {
                continue;
            };
            let entry_bytes = entry.bytes;
            match entry.second_chance() {
                Release::Referenced => continue,
                Release::Evicted => evicted += 1,
                Release::Gone => {}
            }
            self.bytes -= entry_bytes;
            self.ring[index] = None;
            self.free.push(index);
        }
        debug_assert!(self.bytes + bytes <= bytes_max, "CLOCK could not make room");
        evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page_of(value_bytes: usize) -> Arc<CachedPage> {
        let records = vec![PageRecord {
            key: 1,
            revision: Revision(1),
            value_start: 0,
            value_length: u32::try_from(value_bytes).unwrap(),
        }];
        Arc::new(CachedPage::new(
            records.into(),
            Bytes::from(vec![7; value_bytes]),
        ))
    }

    #[test]
    fn stays_within_budget_and_evicts_unreferenced_first() {
        // Goal: the byte budget holds and CLOCK keeps a recently hit page. Method: fill one
        // shard's worth of same-shard positions, touch one, insert more, check it survived.
        let page_bytes = page_of(1000).charged_bytes();
        let cache = PageCache::new(SHARD_COUNT * page_bytes * 4);
        let table = PageTable::new(BlockId(1), 4096);
        let target_shard = cache.shard(&table, 0) as *const _;
        let same_shard: Vec<usize> = (0..4096)
            .filter(|&position| std::ptr::eq(cache.shard(&table, position), target_shard))
            .take(10)
            .collect();
        assert_eq!(same_shard.len(), 10);
        for &position in &same_shard[..4] {
            cache.insert(&table, position, page_of(1000));
        }
        assert!(cache.get(&table, same_shard[0]).is_some());
        // Three more pages: the hand clears page 0's bit and evicts pages 1, 2 and 3.
        for &position in &same_shard[4..7] {
            cache.insert(&table, position, page_of(1000));
            assert!(cache.bytes() <= cache.shard_bytes_max);
        }
        assert!(
            cache.get(&table, same_shard[0]).is_some(),
            "the referenced page got a second chance"
        );
        assert!(
            cache.get(&table, same_shard[1]).is_none(),
            "an unreferenced page was evicted"
        );
        assert_eq!(cache.bytes(), 4 * page_bytes);
        let counts = cache.counts();
        assert_eq!((counts.hits, counts.misses), (2, 1));
        assert_eq!(counts.evictions, 3, "pages 1, 2 and 3 made room");
        assert_eq!(counts.bytes, 4 * page_bytes as u64);
    }

    #[test]
    fn a_dropped_blocks_pages_leave_the_budget_without_counting_as_evictions() {
        // Goal: pages of a block that is gone free their bytes when the hand reaches them, and
        // the cache fills up again. Method: fill the budget from one table, drop it, insert
        // pages of another table: none of them is refused and no eviction is counted.
        let page_bytes = page_of(1000).charged_bytes();
        let cache = PageCache::new(SHARD_COUNT * page_bytes * 2);
        let old = PageTable::new(BlockId(1), 256);
        for position in 0..256 {
            cache.insert(&old, position, page_of(1000));
        }
        let full = cache.bytes();
        assert!(full <= SHARD_COUNT * page_bytes * 2);
        let evicted_while_full = cache.counts().evictions;
        drop(old);
        let new = PageTable::new(BlockId(2), 256);
        for position in 0..256 {
            cache.insert(&new, position, page_of(1000));
        }
        let kept = (0..256)
            .filter(|&position| cache.get(&new, position).is_some())
            .count();
        assert_eq!(
            kept * page_bytes,
            cache.bytes(),
            "only the new table's pages remain"
        );
        assert!(
            kept * page_bytes >= full,
            "the dropped block's bytes were reused"
        );
        let evicted_after = cache.counts().evictions - evicted_while_full;
        assert_eq!(
            evicted_after,
            256 - kept as u64,
            "every new page not held was evicted; the dropped block's entries were not counted"
        );
    }

    #[test]
    fn oversized_pages_and_a_zero_budget_are_not_kept() {
        // Goal: a page larger than a shard's budget is not cached. Method: budget 0 and tiny.
        let table = PageTable::new(BlockId(1), 1);
        let disabled = PageCache::new(0);
        disabled.insert(&table, 0, page_of(10));
        assert!(disabled.get(&table, 0).is_none());
        let tiny = PageCache::new(SHARD_COUNT * 100);
        tiny.insert(&table, 0, page_of(500));
        assert!(tiny.get(&table, 0).is_none());
        assert_eq!(tiny.bytes(), 0);
        let past_the_end = PageCache::new(1 << 20);
        past_the_end.insert(&table, 5, page_of(10));
        assert!(past_the_end.get(&table, 5).is_none());
        assert_eq!(
            past_the_end.bytes(),
            0,
            "a position past the table is not charged"
        );
    }

    #[test]
    fn cached_page_returns_its_versions() {
        // Goal: values come back from the arena intact. Method: a put and a delete.
        let records = vec![
            PageRecord {
                key: 3,
                revision: Revision(2),
                value_start: 0,
                value_length: 2,
            },
            PageRecord {
                key: 3,
                revision: Revision(1),
                value_start: 2,
                value_length: DELETE_LENGTH,
            },
            PageRecord {
                key: 5,
                revision: Revision(1),
                value_start: 2,
                value_length: 0,
            },
        ];
        let page = CachedPage::new(records.into(), Bytes::from(vec![4, 5]));
        assert_eq!(page.len(), 3);
        assert_eq!(
            page.version(0),
            Some(Version {
                key: 3,
                revision: Revision(2),
                value: Some(Bytes::from_static(&[4, 5]))
            })
        );
        assert_eq!(
            page.version(1),
            Some(Version {
                key: 3,
                revision: Revision(1),
                value: None
            })
        );
        assert_eq!(page.version(2).unwrap().value, Some(Bytes::new()));
        assert_eq!(page.version(3), None);
        assert_eq!(page.key(1), Some(3));
        // Seeks: the newest version at or below the revision, or where the key is not.
        assert_eq!(page.seek(3, Revision(9)), Seek::Found(0));
        assert_eq!(page.seek(3, Revision(1)), Seek::Found(1));
        assert_eq!(page.seek(3, Revision(0)), Seek::Absent);
        assert_eq!(page.seek(4, Revision(9)), Seek::Absent);
        assert_eq!(page.seek(1, Revision(9)), Seek::Absent);
        assert_eq!(page.seek(5, Revision(0)), Seek::After);
        assert_eq!(page.seek(6, Revision(9)), Seek::After);
    }
}
