//! Fetching data pages of one sealed block: the cache first, then every missing page of the
//! request in one `Storage::read_many` (one io_uring submission on the uring backend), each
//! page's checksum verified before it is decoded or cached (docs/design.md §3 "Recovery", §6).
//!
//! Owns: [`PagedBlock`], what the read path needs from a block (its file, index, page table,
//! key filter and key and revision bounds), [`fetch_pages`] (a batch of pages, for scans),
//! [`newest_in_block`] (one key's page, for point reads) and [`newest_of_keys`] (many keys'
//! pages, one batched read). Pages are named by their index position throughout; a location
//! (offset and length) is looked up only to read a page that missed the cache.
//!
//! Invariants: a page is cached only after `decode_page` verified its checksum against both
//! its header and the block's index; a short read or a checksum mismatch is
//! `Error::Corruption { file, offset }` naming the block file and the byte offset of the
//! damage; buffers and offsets handed to the storage are aligned to its DIO alignment.

use std::path::Path;
use std::sync::Arc;

use infinitedb_format::{BlockIndex, Key, PageLocation, Revision, decode_page};
use uring_io::{AlignedBuf, FileHandle, Storage};

use super::page_cache::{CachedPage, PageCache, PageTable, Seek};
use super::version::Version;
use crate::error::{Error, Result};

/// A sealed block as the read path sees it.
pub(crate) trait PagedBlock: Send + Sync {
    /// The cache slots of the block's pages.
    fn pages(&self) -> &Arc<PageTable>;
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

/// The pages at index `positions` (in the same order), from the cache or read in one batch.
///
/// # Errors
/// `Error::Corruption` when a page is short or does not verify; `Error::Io` from the storage.
pub(crate) fn fetch_pages(
    block: &dyn PagedBlock,
    positions: &[usize],
    cache: &PageCache,
) -> Result<Vec<Arc<CachedPage>>> {
    let mut pages: Vec<Option<Arc<CachedPage>>> = positions
        .iter()
        .map(|&position| cache.get(block.pages(), position))
        .collect();
    let missing: Vec<usize> = (0..positions.len())
        .filter(|&index| pages[index].is_none())
        .collect();
    if !missing.is_empty() {
        let missing_positions: Vec<usize> = missing.iter().map(|&index| positions[index]).collect();
        let read = read_into_cache(block, &missing_positions, cache)?;
        for (index, page) in missing.into_iter().zip(read) {
            pages[index] = Some(page);
        }
    }
    let pages: Vec<Arc<CachedPage>> = pages.into_iter().flatten().collect();
    debug_assert_eq!(pages.len(), positions.len());
    Ok(pages)
}

/// `read` of the page at index `position`, from the cache or read alone.
fn with_page<R>(
    block: &dyn PagedBlock,
    position: usize,
    cache: &PageCache,
    read: impl FnOnce(&CachedPage) -> R,
) -> Result<R> {
    let read = match cache.with(block.pages(), position, |page| read(page)) {
        Ok(answer) => return Ok(answer),
        Err(read) => read,
    };
    let page = read_into_cache(block, &[position], cache)?
        .into_iter()
        .next()
        .ok_or_else(|| not_read(block, position))?;
    Ok(read(&page))
}

/// The error for a page run that a read did not return (a broken invariant of the storage).
fn not_read(block: &dyn PagedBlock, position: usize) -> Error {
    Error::corruption(block.path(), 0, format!("page run {position} not read"))
}

/// What a page says of `key` at `at`: `Some` when it decides (the version, or `None` for
/// no version in the block), `None` when a later run may hold it.
fn decide(page: &CachedPage, key: Key, at: Revision) -> Option<Option<Version>> {
    match page.seek(key, at) {
        Seek::Found(record) => Some(page.version(record)),
        Seek::Absent => Some(None),
        Seek::After => None,
    }
}

/// What `block` says of `key` at `at` from its cache alone: `Some` as [`newest_in_block`]
/// answers, when the page the key reaches is cached and decides; `None` when it is not cached
/// or the key's versions may go on into the next page (then ask [`newest_in_block`]). Costs
/// no device read and no filter probe.
pub(crate) fn newest_in_cached_page(
    block: &dyn PagedBlock,
    key: Key,
    at: Revision,
    cache: &PageCache,
) -> Option<Option<Version>> {
    let first = block.index().first_run_reaching(key);
    if first >= block.index().len() {
        return Some(None);
    }
    cache
        .probe(block.pages(), first, |page| decide(page, key, at))
        .ok()
        .flatten()
}

/// The newest version of `key` at or below `at` in `block`, reading pages from the first
/// run that reaches the key while the key's versions may continue into the next (a point
/// read costs one page read per block on a miss, none on a hit).
///
/// # Errors
/// As [`fetch_pages`].
pub(crate) fn newest_in_block(
    block: &dyn PagedBlock,
    key: Key,
    at: Revision,
    cache: &PageCache,
) -> Result<Option<Version>> {
    let index = block.index();
    let first = index.first_run_reaching(key);
    newest_from(block, key, at, first, cache)
}

/// [`newest_in_block`] from run `first` on (the run [`BlockIndex::first_run_reaching`]
/// names for `key`).
fn newest_from(
    block: &dyn PagedBlock,
    key: Key,
    at: Revision,
    first: usize,
    cache: &PageCache,
) -> Result<Option<Version>> {
    let index = block.index();
    let mut position = first;
    // The first run's first key is not checked: a page that starts above the key answers
    // `Absent` by itself, so the common case touches the last-key column and one page.
    while position < index.len() {
        if position > first
            && index
                .first_key(position)
                .is_none_or(|first_key| first_key > key)
        {
            break;
        }
        match with_page(block, position, cache, |page| decide(page, key, at))? {
            Some(decided) => return Ok(decided),
            None => position += 1,
        }
    }
    Ok(None)
}

/// [`newest_in_block`] for several keys of one block: the first run each key reaches is
/// fetched in one [`fetch_pages`] (one batched read of the misses), and a key whose versions
/// continue into a later run goes on run by run. Returns each `(index, key)`'s index with its
/// version.
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
    let firsts: Vec<usize> = keys
        .iter()
        .map(|&(_, key)| index.first_run_reaching(key))
        .collect();
    let mut positions: Vec<usize> = firsts
        .iter()
        .copied()
        .filter(|&position| position < index.len())
        .collect();
    positions.sort_unstable();
    positions.dedup();
    let pages = fetch_pages(block, &positions, cache)?;
    let mut answers = Vec::with_capacity(keys.len());
    for (&(slot, key), first) in keys.iter().zip(firsts) {
        let fetched = positions
            .binary_search(&first)
            .ok()
            .and_then(|found| pages.get(found));
        let version = match fetched.map(|page| decide(page, key, at)) {
            Some(Some(decided)) => decided,
            None => None,
            Some(None) => newest_from(block, key, at, first + 1, cache)?,
        };
        answers.push((slot, version));
    }
    Ok(answers)
}

/// Reads and verifies the pages at index `positions` with one `read_many` (they missed the
/// cache), counts the reads, and keeps the pages in `cache`.
fn read_into_cache(
    block: &dyn PagedBlock,
    positions: &[usize],
    cache: &PageCache,
) -> Result<Vec<Arc<CachedPage>>> {
    let locations = positions
        .iter()
        .map(|&position| {
            block.index().location(position).ok_or_else(|| {
                Error::corruption(
                    block.path(),
                    0,
                    format!("no page run {position} in the index"),
                )
            })
        })
        .collect::<Result<Vec<PageLocation>>>()?;
    let read = read_pages(block, &locations)?;
    let read_bytes = locations.iter().map(|at| u64::from(at.bytes)).sum();
    cache.note_reads(locations.len(), read_bytes);
    for (&position, page) in positions.iter().zip(&read) {
        cache.insert(block.pages(), position, page.clone());
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

    use infinitedb_format::{BlockBuilder, BlockFilter, BlockFooter, BlockId, SpaceId};
    use uring_io::{BackendRequest, OpenMode, OsStorage};

    use super::*;

    /// A block written to a real file for tests, read back through the real storage.
    #[derive(Debug)]
    pub(crate) struct TestBlock {
        pub(crate) pages: Arc<PageTable>,
        pub(crate) path: PathBuf,
        pub(crate) file: FileHandle,
        pub(crate) storage: Arc<dyn Storage>,
        pub(crate) index: BlockIndex,
        pub(crate) filter: Option<BlockFilter>,
        pub(crate) footer: BlockFooter,
    }

    impl PagedBlock for TestBlock {
        fn pages(&self) -> &Arc<PageTable> {
            &self.pages
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
            pages: PageTable::new(BlockId(block_id), index.len()),
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
        let locations: Vec<usize> = (0..block.index.len()).collect();
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
        let error = fetch_pages(&reopened, &[1], &cache).unwrap_err();
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
        assert_eq!(
            fetch_pages(&reopened, &[0], &cache).unwrap().len(),
            1,
            "other pages still read"
        );
    }
}
