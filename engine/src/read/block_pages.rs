//! Fetching data pages of one sealed block: the cache first, then every missing page of the
//! request in one `Storage::read_many` (one io_uring submission on the uring backend), each
//! page's checksum verified before it is decoded or cached (docs/design.md §3 "Recovery", §6).
//!
//! Owns: [`PagedBlock`], what the read path needs from a block (its id, file, index, key
//! filter and key and revision bounds), [`fetch_pages`] (a batch of pages, for scans) and
//! [`newest_in_block`] (one key's page, for point reads).
//!
//! Invariants: a page is cached only after `decode_page` verified its checksum against both
//! its header and the block's index; a short read or a checksum mismatch is
//! `Error::Corruption { file, offset }` naming the block file and the byte offset of the
//! damage; buffers and offsets handed to the storage are aligned to its DIO alignment.

use std::path::Path;
use std::sync::Arc;

use infinitedb_format::{BlockId, BlockIndex, Key, PageLocation, Revision, decode_page};
use uring_io::{AlignedBuf, FileHandle, Storage};

use super::page_cache::{CachedPage, PageCache, PageKey, Seek};
use super::version::Version;
use crate::error::{Error, Result};

/// A sealed block as the read path sees it.
pub(crate) trait PagedBlock: Send + Sync {
    /// The block's id (unique for the life of the database).
    fn block_id(&self) -> BlockId;
    /// The block file (for errors).
    fn path(&self) -> &Path;
    /// The open block file.
    fn file(&self) -> &FileHandle;
    /// The storage that opened `file`.
    fn storage(&self) -> &dyn Storage;
    /// The block's verified sparse index.
    fn index(&self) -> &BlockIndex;
    /// The lowest and highest key held (from the footer).
    fn key_bounds(&self) -> (Key, Key);
    /// The lowest revision held (from the footer).
    fn revision_min(&self) -> Revision;
    /// False only when the block's key filter shows that it holds no version of `key`
    /// (`docs/format.md`, "Block filter"); true for a block without a filter.
    fn may_hold(&self, key: Key) -> bool;
    /// The distinct keys the block holds (its filter's key count; its record count for a
    /// block without a filter).
    fn distinct_keys(&self) -> u64;
}

/// The pages at `locations` (in the same order), from the cache or read in one batch.
///
/// # Errors
/// `Error::Corruption` when a page is short or does not verify; `Error::Io` from the storage.
pub(crate) fn fetch_pages(
    block: &dyn PagedBlock,
    locations: &[PageLocation],
    cache: &PageCache,
) -> Result<Vec<Arc<CachedPage>>> {
    let mut pages: Vec<Option<Arc<CachedPage>>> = locations
        .iter()
        .map(|location| {
            cache.get(&PageKey {
                block_id: block.block_id(),
                offset: location.offset,
            })
        })
        .collect();
    let missing: Vec<usize> = (0..locations.len())
        .filter(|&index| pages[index].is_none())
        .collect();
    if !missing.is_empty() {
        let missing_locations: Vec<PageLocation> =
            missing.iter().map(|&index| locations[index]).collect();
        let read = read_into_cache(block, &missing_locations, cache)?;
        for (index, page) in missing.into_iter().zip(read) {
            pages[index] = Some(page);
        }
    }
    let pages: Vec<Arc<CachedPage>> = pages.into_iter().flatten().collect();
    debug_assert_eq!(pages.len(), locations.len());
    Ok(pages)
}

/// The newest version of `key` at or below `at` in `block`: the index names the page runs
/// that may hold the key (usually one), each is fetched through the cache alone and binary
/// searched, and the first that places the key decides (a point read costs one page read
/// per block on a miss, none on a hit).
///
/// # Errors
/// As [`fetch_pages`].
pub(crate) fn newest_in_block(
    block: &dyn PagedBlock,
    key: Key,
    at: Revision,
    cache: &PageCache,
) -> Result<Option<Version>> {
    for location in block.index().pages_for_key(key) {
        let page_key = PageKey {
            block_id: block.block_id(),
            offset: location.offset,
        };
        let page = match cache.get(&page_key) {
            Some(page) => page,
            None => {
                let read = read_into_cache(block, std::slice::from_ref(&location), cache)?;
                let Some(page) = read.into_iter().next() else {
                    return Err(Error::corruption(
                        block.path(),
                        location.offset,
                        "page not read",
                    ));
                };
                page
            }
        };
        match page.seek(key, at) {
            Seek::Found(index) => return Ok(page.version(index)),
            Seek::Absent => return Ok(None),
            Seek::After => {}
        }
    }
    Ok(None)
}

/// [`newest_in_block`] for several keys of one block: the first page run each key may be
/// in is fetched in one [`fetch_pages`] (one batched read of the misses), and a key whose
/// versions continue into a later run falls back to [`newest_in_block`]. Returns each
/// `(index, key)`'s index with its version.
///
/// # Errors
/// As [`fetch_pages`].
pub(crate) fn newest_of_keys(
    block: &dyn PagedBlock,
    keys: &[(usize, Key)],
    at: Revision,
    cache: &PageCache,
) -> Result<Vec<(usize, Option<Version>)>> {
    let index = block.index();
    let first_pages: Vec<Option<PageLocation>> = keys
        .iter()
        .map(|&(_, key)| index.pages_for_key(key).next())
        .collect();
    let mut locations: Vec<PageLocation> = first_pages.iter().flatten().copied().collect();
    locations.sort_by_key(|location| location.offset);
    locations.dedup_by_key(|location| location.offset);
    let pages = fetch_pages(block, &locations, cache)?;
    let mut answers = Vec::with_capacity(keys.len());
    for (&(slot, key), first) in keys.iter().zip(first_pages) {
        let Some(first) = first else {
            answers.push((slot, None));
            continue;
        };
        let position = locations.partition_point(|location| location.offset < first.offset);
        let version = match pages.get(position).map(|page| page.seek(key, at)) {
            Some(Seek::Found(record)) => pages.get(position).and_then(|page| page.version(record)),
            Some(Seek::Absent) => None,
            Some(Seek::After) | None => newest_in_block(block, key, at, cache)?,
        };
        answers.push((slot, version));
    }
    Ok(answers)
}

/// Reads and verifies `locations` with one `read_many` (they missed the cache), counts the
/// reads, and keeps the pages in `cache`.
fn read_into_cache(
    block: &dyn PagedBlock,
    locations: &[PageLocation],
    cache: &PageCache,
) -> Result<Vec<Arc<CachedPage>>> {
    let read = read_pages(block, locations)?;
    let read_bytes = locations.iter().map(|at| u64::from(at.bytes)).sum();
    cache.note_reads(locations.len(), read_bytes);
    for (location, page) in locations.iter().zip(&read) {
        let key = PageKey {
            block_id: block.block_id(),
            offset: location.offset,
        };
        cache.insert(key, page.clone());
    }
    Ok(read)
}

/// Reads and verifies `locations` with one `read_many`.
fn read_pages(block: &dyn PagedBlock, locations: &[PageLocation]) -> Result<Vec<Arc<CachedPage>>> {
    let alignment = block.storage().info().alignment_bytes;
    let alignment_u64 = alignment as u64;
    let mut reads = Vec::with_capacity(locations.len());
    let mut skips = Vec::with_capacity(locations.len());
    for location in locations {
        // Runs start on 4096-byte boundaries; a larger DIO alignment reads from the boundary
        // below and skips the difference (e.g. offset 12288, alignment 8192: read at 8192,
        // skip 4096).
        let start = location.offset / alignment_u64 * alignment_u64;
        let skip = usize::try_from(location.offset - start).unwrap_or(usize::MAX);
        let run_bytes = usize::try_from(location.bytes).unwrap_or(usize::MAX);
        let buf = AlignedBuf::with_capacity_for(skip.saturating_add(run_bytes), alignment)?;
        reads.push((start, buf));
        skips.push(skip);
    }
    let counts = block.storage().read_many(block.file(), &mut reads)?;
    let mut pages = Vec::with_capacity(locations.len());
    for (index, location) in locations.iter().enumerate() {
        let (skip, (_, buf)) = (skips[index], &reads[index]);
        let run_bytes = usize::try_from(location.bytes).unwrap_or(usize::MAX);
        let read = counts.get(index).copied().unwrap_or(0);
        let Some(bytes) = buf
            .get(skip..skip.saturating_add(run_bytes))
            .filter(|_| read >= skip + run_bytes)
        else {
            let detail = format!(
                "page run of {run_bytes} bytes is cut short: file ends after {read} bytes of the read"
            );
            return Err(Error::corruption(block.path(), location.offset, detail));
        };
        let page = decode_page(bytes, location).map_err(|error| {
            Error::corruption(
                block.path(),
                location.offset + error.offset(),
                format!("block page: {error}"),
            )
        })?;
        pages.push(Arc::new(CachedPage::from_page(&page)));
    }
    Ok(pages)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::PathBuf;

    use infinitedb_format::{BlockBuilder, BlockFilter, BlockFooter, SpaceId};
    use uring_io::{BackendRequest, OpenMode, OsStorage};

    use super::*;

    /// A block written to a real file for tests, read back through the real storage.
    #[derive(Debug)]
    pub(crate) struct TestBlock {
        pub(crate) block_id: BlockId,
        pub(crate) path: PathBuf,
        pub(crate) file: FileHandle,
        pub(crate) storage: Arc<dyn Storage>,
        pub(crate) index: BlockIndex,
        pub(crate) filter: Option<BlockFilter>,
        pub(crate) footer: BlockFooter,
    }

    impl PagedBlock for TestBlock {
        fn block_id(&self) -> BlockId {
            self.block_id
        }
        fn path(&self) -> &Path {
            &self.path
        }
        fn file(&self) -> &FileHandle {
            &self.file
        }
        fn storage(&self) -> &dyn Storage {
            self.storage.as_ref()
        }
        fn index(&self) -> &BlockIndex {
            &self.index
        }
        fn key_bounds(&self) -> (Key, Key) {
            (self.footer.min_key, self.footer.max_key)
        }
        fn revision_min(&self) -> Revision {
            self.footer.min_revision
        }
        fn may_hold(&self, key: Key) -> bool {
            self.filter
                .as_ref()
                .is_none_or(|filter| filter.may_hold(key))
        }
        fn distinct_keys(&self) -> u64 {
            self.filter
                .as_ref()
                .map_or(self.footer.record_count, BlockFilter::key_count)
        }
    }

    /// The real OS storage rooted at `dir`.
    pub(crate) fn storage_in(dir: &Path) -> Arc<dyn Storage> {
        OsStorage::open(dir, BackendRequest::Auto).unwrap()
    }

    /// Writes `versions` (already in block order) as block `block_id` in `dir`.
    pub(crate) fn write_block(
        storage: &Arc<dyn Storage>,
        dir: &Path,
        block_id: u64,
        versions: &[Version],
    ) -> TestBlock {
        let mut builder = BlockBuilder::new(SpaceId(1), BlockId(block_id));
        for version in versions {
            builder.push(version.record());
        }
        let built = builder.finish();
        let path = dir.join(format!("block-{block_id}"));
        let mut buf =
            AlignedBuf::with_capacity_for(built.bytes.len(), storage.info().alignment_bytes)
                .unwrap();
        buf[..built.bytes.len()].copy_from_slice(&built.bytes);
        let file = storage.open(&path, OpenMode::CreateNew).unwrap();
        storage.write_durable(&file, 0, &buf).unwrap();
        let footer = built.footer;
        let start = usize::try_from(footer.index_offset).unwrap();
        let end = start + usize::try_from(footer.index_bytes).unwrap();
        let index = BlockIndex::decode(&built.bytes[start..end], &footer).unwrap();
        let filter_start = usize::try_from(footer.filter_offset()).unwrap();
        let filter = BlockFilter::decode(&built.bytes[filter_start..], &footer).unwrap();
        assert!(filter.is_some(), "the builder writes a key filter");
        TestBlock {
            block_id: BlockId(block_id),
            path,
            file,
            storage: storage.clone(),
            index,
            filter,
            footer,
        }
    }

    /// `count` keys `key_step` apart, each with two versions (a put, and an older delete).
    pub(crate) fn versions(count: u64, key_step: u128, value_bytes: usize) -> Vec<Version> {
        let mut out = Vec::new();
        for index in 0..count {
            let key = u128::from(index) * key_step;
            out.push(Version {
                key,
                revision: Revision(2 * index + 2),
                value: Some(vec![u8::try_from(index % 251).unwrap(); value_bytes].into()),
            });
            out.push(Version {
                key,
                revision: Revision(2 * index + 1),
                value: None,
            });
        }
        out
    }

    #[test]
    fn pages_come_back_verified_and_cached() {
        // Goal: one batched read returns every page's records; the second fetch is all hits.
        // Method: a real block of 400 records over several pages, fetched twice.
        let dir = tempfile::tempdir().unwrap();
        let storage = storage_in(dir.path());
        let written = versions(200, 1 << 100, 100);
        let block = write_block(&storage, dir.path(), 7, &written);
        let locations: Vec<PageLocation> = block.index.pages().collect();
        assert!(locations.len() > 3, "the block spans several pages");
        let cache = PageCache::new(64 << 20);
        let pages = fetch_pages(&block, &locations, &cache).unwrap();
        let read: Vec<Version> = pages
            .iter()
            .flat_map(|page| (0..page.len()).filter_map(|index| page.version(index)))
            .collect();
        assert_eq!(read, written);
        assert_eq!(cache.counts().misses, locations.len() as u64);
        let again = fetch_pages(&block, &locations, &cache).unwrap();
        assert_eq!(again.len(), locations.len());
        assert_eq!(cache.counts().hits, locations.len() as u64);
    }

    #[test]
    fn a_flipped_bit_is_corruption_naming_file_and_offset() {
        // Goal: a damaged page is `Error::Corruption` with the block file and page offset, and
        // is not cached. Method: flip one byte inside the second page on disk, fetch it.
        let dir = tempfile::tempdir().unwrap();
        let storage = storage_in(dir.path());
        let block = write_block(&storage, dir.path(), 9, &versions(200, 1 << 100, 100));
        let second = block.index.location(1).unwrap();
        let mut bytes = std::fs::read(&block.path).unwrap();
        let damaged = usize::try_from(second.offset).unwrap() + 100;
        bytes[damaged] ^= 0x40;
        std::fs::write(&block.path, &bytes).unwrap();
        let reopened = TestBlock {
            file: storage.open(&block.path, OpenMode::Read).unwrap(),
            ..block
        };
        let cache = PageCache::new(64 << 20);
        let error = fetch_pages(&reopened, &[second], &cache).unwrap_err();
        match error {
            Error::Corruption { file, offset, .. } => {
                assert_eq!(file, reopened.path);
                assert!(
                    offset >= second.offset && offset < second.offset + u64::from(second.bytes),
                    "offset {offset}"
                );
            }
            other => panic!("expected corruption, got {other:?}"),
        }
        assert_eq!(cache.bytes(), 0, "a damaged page is never cached");
        let first = reopened.index.location(0).unwrap();
        assert_eq!(
            fetch_pages(&reopened, &[first], &cache).unwrap().len(),
            1,
            "other pages still read"
        );
    }
}
