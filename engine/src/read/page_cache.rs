//! [`PageCache`]: a user-space cache of verified, decoded block pages with a byte budget
//! (docs/design.md §6: O_DIRECT bypasses the OS page cache, so the engine keeps its own).
//!
//! Owns: the pages of every block this `Db` has read, keyed by `(block id, page offset)`.
//! Blocks are immutable and block ids are never reused (docs/design.md §8), so an entry never goes
//! stale; a removed block's pages simply age out.
//!
//! Eviction is CLOCK (second chance) per shard: a hit sets the slot's reference bit, the hand
//! clears set bits and evicts the first clear one. The cache is split into [`SHARD_COUNT`]
//! shards, each behind its own short `parking_lot::Mutex` held only for a map lookup or an
//! insert (never across I/O), so readers rarely contend; writers never touch the cache.
//!
//! Invariants: a shard's `bytes` is the sum of its live slots' charged bytes and stays
//! `<= shard_bytes_max` after every insert; a page larger than a shard's budget is returned
//! to the caller but not kept; only pages whose checksum verified are ever inserted (the
//! only constructor of [`CachedPage`] takes a decoded, verified `DataPage`).

use std::cmp::Reverse;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use infinitedb_format::{BlockId, DataPage, Key, RecordKind, Revision};
use parking_lot::Mutex;

use super::version::Version;

/// Number of independently locked shards.
pub(crate) const SHARD_COUNT: usize = 16;

/// Bytes charged per record besides its value (key, revision, value bounds).
const RECORD_CHARGE_BYTES: usize = std::mem::size_of::<PageRecord>();

/// Where a page lives: its block and its byte offset in the block file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct PageKey {
    /// The block holding the page.
    pub(crate) block_id: BlockId,
    /// The page run's offset in the block file.
    pub(crate) offset: u64,
}

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
    records: Vec<PageRecord>,
    values: Bytes,
}

impl CachedPage {
    /// Copies the records of a page that `decode_page` verified.
    pub(crate) fn from_page(page: &DataPage<'_>) -> CachedPage {
        let mut records = Vec::with_capacity(usize::try_from(page.record_count()).unwrap_or(0));
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
        debug_assert!(records.windows(2).all(|pair| (
            pair[0].key,
            std::cmp::Reverse(pair[0].revision)
        ) < (
            pair[1].key,
            std::cmp::Reverse(pair[1].revision)
        )));
        CachedPage {
            records,
            values: Bytes::from(values),
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

    /// Where the newest version of `key` at or below `at` is in this page (binary search;
    /// records are in `(key asc, revision desc)` order).
    pub(crate) fn seek(&self, key: Key, at: Revision) -> Seek {
        let index = self
            .records
            .partition_point(|record| (record.key, Reverse(record.revision)) < (key, Reverse(at)));
        match self.records.get(index) {
            Some(record) if record.key == key => Seek::Found(index),
            Some(_) => Seek::Absent,
            None => Seek::After,
        }
    }

    /// Bytes this page is charged in the cache.
    pub(crate) fn charged_bytes(&self) -> usize {
        self.values.len() + self.records.len() * RECORD_CHARGE_BYTES
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

#[derive(Debug)]
struct Slot {
    key: PageKey,
    page: Arc<CachedPage>,
    bytes: usize,
    referenced: bool,
}

/// The hasher of a shard's map: one multiply-rotate per word (FxHash's mix), then a
/// finalizer that spreads the high bits into the low ones (offsets are multiples of 4096,
/// so without it every page of a block would share the map's low bits). Page keys are the
/// engine's own block ids and offsets, never attacker-chosen, so SipHash's flood resistance
/// buys nothing and costs a tenth of a point read.
#[derive(Clone, Copy, Debug, Default)]
struct PageKeyHasher(u64);

impl std::hash::Hasher for PageKeyHasher {
    fn finish(&self) -> u64 {
        let mixed = (self.0 ^ (self.0 >> 33)).wrapping_mul(0xff_51_af_d7_ed_55_8c_cd);
        mixed ^ (mixed >> 33)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

type PageMap = HashMap<PageKey, usize, std::hash::BuildHasherDefault<PageKeyHasher>>;

#[derive(Debug, Default)]
struct Shard {
    map: PageMap,
    slots: Vec<Option<Slot>>,
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

    fn shard(&self, key: &PageKey) -> &Mutex<Shard> {
        // Pages are 4096-aligned, so drop the low 12 bits of the offset before mixing.
        let mixed = (key.block_id.0 ^ (key.offset >> 12).rotate_left(32))
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let index = usize::try_from(mixed >> 60).unwrap_or(0) % SHARD_COUNT;
        &self.shards[index]
    }

    /// The cached page at `key`, marking it recently used.
    pub(crate) fn get(&self, key: &PageKey) -> Option<Arc<CachedPage>> {
        let mut shard = self.shard(key).lock();
        let found = shard.map.get(key).copied();
        let page = found.and_then(|index| {
            let slot = shard.slots.get_mut(index)?.as_mut()?;
            slot.referenced = true;
            Some(slot.page.clone())
        });
        drop(shard);
        let counter = if page.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        page
    }

    /// Keeps `page` under `key`, evicting older pages to stay within the budget. A page larger
    /// than a shard's budget is not kept.
    pub(crate) fn insert(&self, key: PageKey, page: Arc<CachedPage>) {
        let bytes = page.charged_bytes();
        if bytes > self.shard_bytes_max {
            return;
        }
        let mut shard = self.shard(&key).lock();
        if shard.map.contains_key(&key) {
            return;
        }
        let evicted = shard.evict_until_fits(bytes, self.shard_bytes_max);
        if evicted > 0 {
            self.evictions.fetch_add(evicted, Ordering::Relaxed);
        }
        let slot = Some(Slot {
            key,
            page,
            bytes,
            referenced: false,
        });
        let index = match shard.free.pop() {
            Some(index) => {
                shard.slots[index] = slot;
                index
            }
            None => {
                shard.slots.push(slot);
                shard.slots.len() - 1
            }
        };
        shard.map.insert(key, index);
        shard.bytes += bytes;
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

impl Shard {
    /// CLOCK: sweeps the hand, giving referenced slots a second chance, until `bytes` more
    /// fit. Returns the number of pages evicted.
    fn evict_until_fits(&mut self, bytes: usize, bytes_max: usize) -> u64 {
        let mut evicted = 0;
        debug_assert!(bytes <= bytes_max);
        // Two full sweeps always suffice: the first clears every reference bit.
        let mut steps_left = 2 * self.slots.len() + 1;
        while self.bytes + bytes > bytes_max && steps_left > 0 && !self.slots.is_empty() {
            steps_left -= 1;
            self.hand %= self.slots.len();
            let index = self.hand;
            self.hand += 1;
            let Some(slot) = self.slots[index].as_mut() else {
                continue;
            };
            if slot.referenced {
                slot.referenced = false;
                continue;
            }
            let (key, slot_bytes) = (slot.key, slot.bytes);
            self.slots[index] = None;
            self.map.remove(&key);
            self.free.push(index);
            self.bytes -= slot_bytes;
            evicted += 1;
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
        Arc::new(CachedPage {
            records,
            values: Bytes::from(vec![7; value_bytes]),
        })
    }

    fn key(block: u64, offset: u64) -> PageKey {
        PageKey {
            block_id: BlockId(block),
            offset,
        }
    }

    #[test]
    fn stays_within_budget_and_evicts_unreferenced_first() {
        // Goal: the byte budget holds and CLOCK keeps a recently hit page. Method: fill one
        // shard's worth of same-shard keys, touch one, insert more, check it survived.
        let page_bytes = page_of(1000).charged_bytes();
        let cache = PageCache::new(SHARD_COUNT * page_bytes * 4);
        let target_shard = cache.shard(&key(1, 0)) as *const _;
        let same_shard: Vec<PageKey> = (0..4096)
            .map(|page| key(1, page * 4096))
            .filter(|candidate| std::ptr::eq(cache.shard(candidate), target_shard))
            .take(10)
            .collect();
        assert_eq!(same_shard.len(), 10);
        for &page_key in &same_shard[..4] {
            cache.insert(page_key, page_of(1000));
        }
        assert!(cache.get(&same_shard[0]).is_some());
        // Three more pages: the hand clears page 0's bit and evicts pages 1, 2 and 3.
        for &page_key in &same_shard[4..7] {
            cache.insert(page_key, page_of(1000));
            assert!(cache.bytes() <= cache.shard_bytes_max);
        }
        assert!(
            cache.get(&same_shard[0]).is_some(),
            "the referenced page got a second chance"
        );
        assert!(
            cache.get(&same_shard[1]).is_none(),
            "an unreferenced page was evicted"
        );
        assert_eq!(cache.bytes(), 4 * page_bytes);
        let counts = cache.counts();
        assert_eq!((counts.hits, counts.misses), (2, 1));
        assert_eq!(counts.evictions, 3, "pages 1, 2 and 3 made room");
        assert_eq!(counts.bytes, 4 * page_bytes as u64);
    }

    #[test]
    fn oversized_pages_and_a_zero_budget_are_not_kept() {
        // Goal: a page larger than a shard's budget is not cached. Method: budget 0 and tiny.
        let disabled = PageCache::new(0);
        disabled.insert(key(1, 0), page_of(10));
        assert!(disabled.get(&key(1, 0)).is_none());
        let tiny = PageCache::new(SHARD_COUNT * 100);
        tiny.insert(key(1, 0), page_of(500));
        assert!(tiny.get(&key(1, 0)).is_none());
        assert_eq!(tiny.bytes(), 0);
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
        let page = CachedPage {
            records,
            values: Bytes::from(vec![4, 5]),
        };
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
