//! [`BlockSource`]: the versions of one sealed block that fall in a query's key ranges,
//! produced lazily from either end, with the pages fetched in batches of at most
//! [`FETCH_PAGES_MAX`] pages and [`FETCH_BYTES_MAX`] bytes, each batch one `read_many` through
//! the page cache (docs/design.md §6 "pages found by the sparse index"). Each end reads ahead:
//! when it runs out of decoded pages it fetches the next batch of pages in its direction
//! (ascending offsets at the front, descending at the back) in one call, and decodes records
//! from them one at a time.
//!
//! Invariants: ranges are sorted, disjoint and never adjacent (as `Curve::key_ranges` returns
//! them); each end fetches a page at most once even when several ranges share it (it walks the
//! index positions monotonically); only records whose key lies in some range are yielded, the
//! front in block order and the back in reverse. A record is named by its position (index
//! position of its page, record number in the page): an end yields a record only strictly
//! before the last one the other end yielded, so no record comes out of both ends; a page
//! both ends reach (where they meet) may be fetched by both, the second time from the cache.
//! Once an end yields a record, the records after it in its page that lie in the same range
//! and before the other end's last yielded record form a run that the end then yields with no
//! further checks; a record the other end yields ends that run.

use std::collections::VecDeque;
use std::sync::Arc;

use infinitedb_format::PageLocation;

use super::block_pages::{PagedBlock, fetch_pages};
use super::merge::{End, VersionSource};
use super::page_cache::{CachedPage, PageCache};
use super::version::Version;
use crate::error::Result;
use crate::keyspace::KeyRange;

/// Most pages fetched by one `read_many`.
pub(crate) const FETCH_PAGES_MAX: usize = 64;
/// Most bytes fetched by one `read_many` (a single larger run is still fetched alone).
pub(crate) const FETCH_BYTES_MAX: u64 = 4 * 1024 * 1024;

/// A record's place in the block: (index position of its page, record number in the page).
type RecordPosition = (usize, usize);

/// One end's progress through the block.
#[derive(Default)]
struct Cursor {
    /// Ranges this end has fetched every page of (counted from this end).
    fetch_range: usize,
    /// The index position this end fetches next: the front's lowest unfetched position, or
    /// one past the back's highest unfetched position (`None`: not started).
    fetch_next: Option<usize>,
    /// Ranges this end's records have passed (counted from this end).
    filter_range: usize,
    /// Fetched pages in this end's order, with their index positions.
    pages: VecDeque<(usize, Arc<CachedPage>)>,
    /// Records of the first page of `pages` this end has passed.
    records_done: usize,
    /// The last record this end yielded.
    yielded: Option<RecordPosition>,
    /// Records of the first page of `pages`, next in this end's order, known to lie in the
    /// current range and before the other end's last yielded record (0: unknown).
    run: usize,
}

/// One block's versions within a set of key ranges.
pub(crate) struct BlockSource {
    block: Arc<dyn PagedBlock>,
    cache: Arc<PageCache>,
    ranges: Arc<[KeyRange]>,
    /// By `End::index`: the front's and the back's cursors.
    cursors: [Cursor; 2],
    finished: bool,
}

impl BlockSource {
    /// The versions of `block` whose keys lie in `ranges`.
    pub(crate) fn new(
        block: Arc<dyn PagedBlock>,
        cache: Arc<PageCache>,
        ranges: Arc<[KeyRange]>,
    ) -> BlockSource {
        debug_assert!(ranges.windows(2).all(|pair| pair[0].last < pair[1].first));
        BlockSource {
            block,
            cache,
            ranges,
            cursors: [Cursor::default(), Cursor::default()],
            finished: false,
        }
    }

    /// The next batch of pages to fetch at `end`, as (index position, location) in that end's
    /// order, advancing the end's fetch cursor. Pages past the other end's last yielded record
    /// are done and not fetched.
    fn next_batch(&mut self, end: End) -> Vec<(usize, PageLocation)> {
        let index = self.block.index();
        let [front, back] = &mut self.cursors;
        let (cursor, other) = match end {
            End::Front => (front, &*back),
            End::Back => (back, &*front),
        };
        let mut batch = Vec::new();
        let mut batch_bytes = 0_u64;
        while let Some(range) = end.range(&self.ranges, cursor.fetch_range) {
            let span = index.positions_for_range(range.first, range.last);
            let (low, high) = match end {
                End::Front => (
                    span.start.max(cursor.fetch_next.unwrap_or(0)),
                    span.end
                        .min(other.yielded.map_or(usize::MAX, |(page, _)| page + 1)),
                ),
                End::Back => (
                    span.start.max(other.yielded.map_or(0, |(page, _)| page)),
                    span.end.min(cursor.fetch_next.unwrap_or(usize::MAX)),
                ),
            };
            for step in 0..high.saturating_sub(low) {
                let position = match end {
                    End::Front => low + step,
                    End::Back => high - 1 - step,
                };
                let Some(location) = index.location(position) else {
                    break;
                };
                let full = batch.len() >= FETCH_PAGES_MAX
                    || batch_bytes + u64::from(location.bytes) > FETCH_BYTES_MAX;
                if full && !batch.is_empty() {
                    return batch;
                }
                batch_bytes += u64::from(location.bytes);
                batch.push((position, location));
                cursor.fetch_next = Some(match end {
                    End::Front => position + 1,
                    End::Back => position,
                });
            }
            cursor.fetch_range += 1;
        }
        batch
    }

    /// Makes `end`'s `pages` non-empty with a record left in the first; `false` when the end
    /// has no more pages in the ranges.
    fn ensure_page(&mut self, end: End) -> Result<bool> {
        loop {
            let cursor = &mut self.cursors[end.index()];
            while cursor
                .pages
                .front()
                .is_some_and(|(_, page)| cursor.records_done >= page.len())
            {
                cursor.pages.pop_front();
                cursor.records_done = 0;
            }
            if !cursor.pages.is_empty() {
                return Ok(true);
            }
            let batch = self.next_batch(end);
            if batch.is_empty() {
                return Ok(false);
            }
            let positions: Vec<usize> = batch.iter().map(|(position, _)| *position).collect();
            let fetched = fetch_pages(self.block.as_ref(), &positions, &self.cache)?;
            self.cursors[end.index()]
                .pages
                .extend(positions.into_iter().zip(fetched));
        }
    }

    /// The next version of `end`'s run, if it has one left.
    fn take_run(&mut self, end: End) -> Option<Option<Version>> {
        let [front, back] = &mut self.cursors;
        let (cursor, other) = match end {
            End::Front => (front, back),
            End::Back => (back, front),
        };
        if cursor.run == 0 {
            return None;
        }
        let (position, page) = cursor.pages.front()?;
        let record = match end {
            End::Front => cursor.records_done,
            End::Back => page.len().checked_sub(1 + cursor.records_done)?,
        };
        cursor.run -= 1;
        cursor.records_done += 1;
        cursor.yielded = Some((*position, record));
        other.run = 0;
        Some(page.version(record))
    }

    /// The next version in the ranges at `end`, or `None` where the ends meet.
    fn advance(&mut self, end: End) -> Result<Option<Version>> {
        if let Some(next) = self.take_run(end) {
            return Ok(next);
        }
        while self.ensure_page(end)? {
            let [front, back] = &mut self.cursors;
            let (cursor, other) = match end {
                End::Front => (front, back),
                End::Back => (back, front),
            };
            let Some((position, page)) = cursor.pages.front() else {
                return Ok(None);
            };
            let record = match end {
                End::Front => cursor.records_done,
                End::Back => page.len() - 1 - cursor.records_done,
            };
            let here = (*position, record);
            let met = other.yielded.is_some_and(|there| match end {
                End::Front => here >= there,
                End::Back => here <= there,
            });
            let Some(key) = page.key(record).filter(|_| !met) else {
                return Ok(None);
            };
            while end
                .range(&self.ranges, cursor.filter_range)
                .is_some_and(|range| past(end, range, key))
            {
                cursor.filter_range += 1;
            }
            let Some(range) = end.range(&self.ranges, cursor.filter_range) else {
                return Ok(None);
            };
            cursor.records_done += 1;
            if range.contains(key) {
                cursor.yielded = Some(here);
                cursor.run = run_after(end, page, here, range, other.yielded);
                other.run = 0;
                return Ok(page.version(record));
            }
        }
        Ok(None)
    }
}

/// How many records of `page` follow record `here` in `end`'s order and lie in `range`, up
/// to (not including) the other end's last yielded record `other`.
fn run_after(
    end: End,
    page: &CachedPage,
    here: RecordPosition,
    range: KeyRange,
    other: Option<RecordPosition>,
) -> usize {
    let (position, record) = here;
    let other_here = other.filter(|(page, _)| *page == position);
    match end {
        End::Front => {
            let mut stop = page.count_through(range.last);
            if let Some((_, there)) = other_here {
                stop = stop.min(there);
            }
            stop.saturating_sub(record + 1)
        }
        End::Back => {
            let mut start = page.count_below(range.first);
            if let Some((_, there)) = other_here {
                start = start.max(there + 1);
            }
            record.saturating_sub(start)
        }
    }
}

/// Whether an end moving over `key` has left `range` behind.
fn past(end: End, range: KeyRange, key: infinitedb_format::Key) -> bool {
    match end {
        End::Front => range.last < key,
        End::Back => range.first > key,
    }
}

impl VersionSource for BlockSource {
    fn next_version(&mut self, end: End) -> Option<Result<Version>> {
        if self.finished {
            return None;
        }
        let next = self.advance(end).transpose();
        if !matches!(next, Some(Ok(_))) {
            self.finished = true;
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    use crate::read::block_pages::tests::{storage_in, versions, write_block};
    use crate::read::merge::tests::read_mixed;

    fn collect(source: &mut BlockSource) -> Vec<Version> {
        std::iter::from_fn(|| source.next_version(End::Front))
            .collect::<Result<Vec<_>>>()
            .unwrap()
    }

    #[test]
    fn yields_exactly_the_records_in_the_ranges() {
        // Goal: range filtering, shared pages and batching are exact. Method: a block of 3,000
        // records over many pages; ranges that share pages, skip pages, and one spanning more
        // than a fetch batch; compare with a filter over the written versions.
        let dir = tempfile::tempdir().unwrap();
        let storage = storage_in(dir.path());
        let written = versions(1500, 1 << 100, 200);
        let block: Arc<dyn PagedBlock> = Arc::new(write_block(&storage, dir.path(), 3, &written));
        let key = |index: u128| index << 100;
        let ranges: Arc<[KeyRange]> = vec![
            KeyRange {
                first: key(2),
                last: key(3),
            },
            KeyRange {
                first: key(5),
                last: key(5),
            },
            KeyRange {
                first: key(40),
                last: key(1300),
            },
            KeyRange {
                first: key(1400) + 1,
                last: key(1401) - 1,
            },
            KeyRange {
                first: key(1499),
                last: u128::MAX,
            },
        ]
        .into();
        let cache = Arc::new(PageCache::new(64 << 20));
        let mut source = BlockSource::new(block.clone(), cache.clone(), ranges.clone());
        let expected: Vec<Version> = written
            .iter()
            .filter(|version| ranges.iter().any(|range| range.contains(version.key)))
            .cloned()
            .collect();
        assert_eq!(collect(&mut source), expected);
        let pages_read = cache.counts().misses;
        assert!(pages_read <= block.index().len() as u64);
        let mut again = BlockSource::new(block, cache.clone(), ranges);
        assert_eq!(collect(&mut again).len(), expected.len());
        assert_eq!(
            cache.counts().misses,
            pages_read,
            "the second pass is served by the cache"
        );
    }

    #[test]
    fn both_ends_yield_the_records_in_the_ranges_once() {
        // Goal: reading backward, and mixing the ends, yields exactly the forward records:
        // none twice where the ends meet inside a page or on a page two ranges share, none
        // skipped; the backward pass fetches each page once. Method: a block of 3,000
        // records over many pages, ranges sharing and skipping pages and one longer than a
        // fetch batch; a backward pass counting page-cache misses, then mixed passes with
        // several front shares and seeds compared with the forward answer.
        let dir = tempfile::tempdir().unwrap();
        let storage = storage_in(dir.path());
        let written = versions(1500, 1 << 100, 200);
        let block: Arc<dyn PagedBlock> = Arc::new(write_block(&storage, dir.path(), 4, &written));
        let key = |index: u128| index << 100;
        let ranges: Arc<[KeyRange]> = vec![
            KeyRange {
                first: 0,
                last: key(3),
            },
            KeyRange {
                first: key(3) + 2,
                last: key(4) - 1,
            },
            KeyRange {
                first: key(40),
                last: key(1300),
            },
            KeyRange {
                first: key(1499),
                last: u128::MAX,
            },
        ]
        .into();
        let expected: Vec<Version> = written
            .iter()
            .filter(|version| ranges.iter().any(|range| range.contains(version.key)))
            .cloned()
            .collect();
        let cache = Arc::new(PageCache::new(64 << 20));
        let mut backward = BlockSource::new(block.clone(), cache.clone(), ranges.clone());
        let mut read: Vec<Version> = std::iter::from_fn(|| backward.next_version(End::Back))
            .collect::<Result<_>>()
            .unwrap();
        read.reverse();
        assert_eq!(read, expected);
        assert!(cache.counts().misses <= block.index().len() as u64);
        for seed in 0..12_u64 {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            for share in [0.1, 0.5, 0.9] {
                let fresh = Arc::new(PageCache::new(64 << 20));
                let mut source = BlockSource::new(block.clone(), fresh, ranges.clone());
                let mixed = read_mixed(&mut source, &mut rng, share);
                assert_eq!(mixed, expected, "seed {seed} share {share}");
            }
        }
    }
}
