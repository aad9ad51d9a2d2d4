//! [`BlockSource`]: the versions of one sealed block that fall in a query's key ranges,
//! produced lazily, with the pages fetched in batches of at most [`FETCH_PAGES_MAX`] pages
//! and [`FETCH_BYTES_MAX`] bytes, each batch one `read_many` through the page cache
//! (docs/design.md §6 "pages found by the sparse index").
//!
//! Invariants: ranges are sorted, disjoint and never adjacent (as `Curve::key_ranges` returns
//! them); each page is fetched at most once per source even when several ranges share it
//! (pages are visited in offset order, which is key order, and a page at or before the last
//! fetched offset is skipped); only records whose key lies in some range are yielded, in block
//! order.

use std::collections::VecDeque;
use std::sync::Arc;

use infinitedb_format::PageLocation;

use super::block_pages::{PagedBlock, fetch_pages};
use super::merge::VersionSource;
use super::page_cache::{CachedPage, PageCache};
use super::version::Version;
use crate::error::Result;
use crate::keyspace::KeyRange;

/// Most pages fetched by one `read_many`.
pub(crate) const FETCH_PAGES_MAX: usize = 64;
/// Most bytes fetched by one `read_many` (a single larger run is still fetched alone).
pub(crate) const FETCH_BYTES_MAX: u64 = 4 * 1024 * 1024;

/// One block's versions within a set of key ranges.
pub(crate) struct BlockSource {
    block: Arc<dyn PagedBlock>,
    cache: Arc<PageCache>,
    ranges: Arc<[KeyRange]>,
    /// The first range whose pages may not all be fetched yet.
    fetch_range: usize,
    /// The last page fetched (pages at or before its offset are done).
    last_fetched: Option<PageLocation>,
    /// The first range a record may still fall in.
    filter_range: usize,
    pages: VecDeque<Arc<CachedPage>>,
    record_index: usize,
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
            fetch_range: 0,
            last_fetched: None,
            filter_range: 0,
            pages: VecDeque::new(),
            record_index: 0,
            finished: false,
        }
    }

    /// The next batch of page locations to fetch, advancing the fetch cursor.
    fn next_batch(&mut self) -> Vec<PageLocation> {
        let mut batch: Vec<PageLocation> = Vec::new();
        let mut batch_bytes = 0_u64;
        let index = self.block.index();
        while let Some(range) = self.ranges.get(self.fetch_range) {
            // Pages after the last fetched one hold keys >= its last key: start the index
            // search there rather than at the range's start (no rescans of a long range).
            let low = match self.last_fetched {
                Some(last) if last.last_key > range.first => last.last_key,
                _ => range.first,
            };
            for location in index.pages_for_range(low, range.last) {
                if self
                    .last_fetched
                    .is_some_and(|last| location.offset <= last.offset)
                {
                    continue;
                }
                let full = batch.len() >= FETCH_PAGES_MAX
                    || batch_bytes + u64::from(location.bytes) > FETCH_BYTES_MAX;
                if full && !batch.is_empty() {
                    return batch;
                }
                batch_bytes += u64::from(location.bytes);
                batch.push(location);
                self.last_fetched = Some(location);
            }
            self.fetch_range += 1;
        }
        batch
    }

    /// Makes `pages` non-empty; `false` when the block has no more pages in the ranges.
    fn ensure_page(&mut self) -> Result<bool> {
        while self
            .pages
            .front()
            .is_some_and(|page| self.record_index >= page.len())
        {
            self.pages.pop_front();
            self.record_index = 0;
        }
        if !self.pages.is_empty() {
            return Ok(true);
        }
        let batch = self.next_batch();
        if batch.is_empty() {
            return Ok(false);
        }
        let fetched = fetch_pages(self.block.as_ref(), &batch, &self.cache)?;
        self.pages
            .extend(fetched.into_iter().filter(|page| page.len() > 0));
        Ok(!self.pages.is_empty() || self.fetch_range < self.ranges.len())
    }

    /// The next version in the ranges, or `None` at the end.
    fn advance(&mut self) -> Result<Option<Version>> {
        while self.ensure_page()? {
            let Some(page) = self.pages.front() else {
                continue;
            };
            let Some(key) = page.key(self.record_index) else {
                continue;
            };
            while self
                .ranges
                .get(self.filter_range)
                .is_some_and(|range| range.last < key)
            {
                self.filter_range += 1;
            }
            let Some(range) = self.ranges.get(self.filter_range) else {
                return Ok(None);
            };
            let index = self.record_index;
            self.record_index += 1;
            if range.first <= key {
                return Ok(page.version(index));
            }
        }
        Ok(None)
    }
}

impl VersionSource for BlockSource {
    fn next_version(&mut self) -> Option<Result<Version>> {
        if self.finished {
            return None;
        }
        let next = self.advance().transpose();
        if !matches!(next, Some(Ok(_))) {
            self.finished = true;
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::block_pages::tests::{storage_in, versions, write_block};

    fn collect(source: &mut BlockSource) -> Vec<Version> {
        std::iter::from_fn(|| source.next_version())
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
}
