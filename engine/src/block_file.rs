//! [`BlockFile`]: one sealed, immutable block on disk, with its footer, sparse index and key
//! filter kept in memory, and the minimal point read the write path needs (`docs/format.md`, "Block").
//!
//! Owns: writing a block (seal step 2) and opening it again (recovery). Invariants: a block
//! file is written whole with one `write_durable` into a new file (`CreateNew` syncs the
//! directory), and is trusted only if its footer's checksum equals the one the manifest
//! recorded (the checksum lives outside the thing it protects); its index and key filter are
//! read back and verified against the footer once, when the block is written or opened,
//! before any read uses them; page checksums are verified on every read.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use infinitedb_format::{
    BLOCK_PAGE_BYTES, BlockBuilder, BlockFilter, BlockFooter, BlockId, BlockIndex, BlockMeta,
    BuiltBlock, Key, SpaceId,
};
use uring_io::{AlignedBuf, FileHandle, MIN_ALIGNMENT, OpenMode, Storage};

use crate::error::{Error, Result};
use crate::memtable::Memtable;
use crate::options::BlockReads;
use crate::read::PageTable;

/// The aligned buffer a thread that writes many blocks (the sealer, a compaction with several
/// outputs) keeps between them: each block after the first is copied into pages already
/// faulted in, not into a fresh mapping the kernel zero-fills first (on the development VM
/// that zero-filling cost the sealer about as much CPU as building the block). It keeps the
/// largest block's length allocated.
#[derive(Debug, Default)]
pub(crate) struct WriteBuffer(Option<AlignedBuf>);

impl WriteBuffer {
    /// The kept buffer holding `bytes`, zero-padded to `alignment`; a new one when the kept
    /// one is too small.
    fn holding(&mut self, bytes: &[u8], alignment: usize) -> Result<&AlignedBuf> {
        let alignment = alignment.max(MIN_ALIGNMENT);
        let len_bytes = bytes.len().max(1).div_ceil(alignment) * alignment;
        let kept = self
            .0
            .take()
            .filter(|buf| buf.alignment() == alignment && buf.capacity() >= len_bytes);
        let mut buf = match kept {
            Some(mut buf) => {
                buf.set_len(len_bytes)?;
                buf
            }
            None => AlignedBuf::new(len_bytes, alignment)?,
        };
        let (block, padding) = buf.split_at_mut(bytes.len());
        block.copy_from_slice(bytes);
        padding.fill(0);
        Ok(self.0.insert(buf))
    }
}

/// A sealed block that the manifest names.
#[derive(Debug)]
pub(crate) struct BlockFile {
    pub(crate) path: PathBuf,
    pub(crate) meta: BlockMeta,
    file: FileHandle,
    index: BlockIndex,
    /// The verified key filter; `None` for a version-1 block (no filter).
    filter: Option<BlockFilter>,
    storage: Arc<dyn Storage>,
    /// The page cache's slots for this block's pages (they go when the block goes).
    pages: Arc<PageTable>,
}

impl BlockFile {
    /// Seal step 2: writes the records of `memtable` as block `block_id` at `path`, durably.
    /// Returns `None` for an empty memtable (nothing to write).
    pub(crate) fn write(
        storage: &Arc<dyn Storage>,
        reads: BlockReads,
        path: PathBuf,
        space: SpaceId,
        block_id: BlockId,
        memtable: &Memtable,
    ) -> Result<Option<BlockFile>> {
        let mut buffer = WriteBuffer::default();
        BlockFile::write_with(storage, reads, path, space, block_id, memtable, &mut buffer)
    }

    /// As [`BlockFile::write`], copying the block into `buffer` for the write.
    pub(crate) fn write_with(
        storage: &Arc<dyn Storage>,
        reads: BlockReads,
        path: PathBuf,
        space: SpaceId,
        block_id: BlockId,
        memtable: &Memtable,
        buffer: &mut WriteBuffer,
    ) -> Result<Option<BlockFile>> {
        if memtable.is_empty() {
            return Ok(None);
        }
        let mut builder = BlockBuilder::new(space, block_id);
        memtable.for_each(|record| builder.push(record));
        BlockFile::write_built_with(storage, reads, path, builder.finish(), 0, buffer).map(Some)
    }

    /// Writes the finished block `built` at `path` durably, as a block of `level`
    /// (a seal's block is level 0, a compaction's output deeper), and keeps it open for
    /// `reads`. If the write, its sync, the reopen or the read-back fails, the new file is
    /// removed again (best effort): no manifest edit names it yet, and a caller that retries
    /// writes another block id, so nothing else would remove it before the next open.
    /// The copy for the write goes through `buffer`.
    pub(crate) fn write_built_with(
        storage: &Arc<dyn Storage>,
        reads: BlockReads,
        path: PathBuf,
        built: BuiltBlock,
        level: u8,
        buffer: &mut WriteBuffer,
    ) -> Result<BlockFile> {
        let buf = buffer.holding(&built.bytes, storage.info().alignment_bytes)?;
        let file = storage.open(&path, OpenMode::CreateNew)?;
        let footer = built.footer;
        let len_bytes = built.bytes.len() as u64;
        let written = storage
            .write_durable(&file, 0, buf)
            .map_err(Error::from)
            .and_then(|()| reopen_for(storage.as_ref(), reads, &path, file))
            .and_then(|file| {
                read_index_and_filter(storage.as_ref(), &file, &path, &footer, len_bytes)
                    .map(|parts| (file, parts))
            });
        let (file, (index, filter)) = match written {
            Ok(parts) => parts,
            Err(error) => {
                remove_failed(storage.as_ref(), &path);
                return Err(error);
            }
        };
        let meta = BlockMeta {
            level,
            ..meta_of(&footer, len_bytes, built.footer_checksum)
        };
        Ok(BlockFile {
            pages: PageTable::new(meta.block_id, index.len()),
            path,
            meta,
            file,
            index,
            filter,
            storage: storage.clone(),
        })
    }

    /// The page cache's slots for this block's pages.
    pub(crate) fn pages(&self) -> &Arc<PageTable> {
        &self.pages
    }

    /// The open block file.
    pub(crate) fn file(&self) -> &FileHandle {
        &self.file
    }

    /// The block's verified sparse index.
    pub(crate) fn index(&self) -> &BlockIndex {
        &self.index
    }

    /// False only when the block's key filter shows that it holds no version of `key`;
    /// always true for a version-1 block (no filter).
    pub(crate) fn may_hold(&self, key: Key) -> bool {
        self.filter
            .as_ref()
            .is_none_or(|filter| filter.may_hold(key))
    }

    /// The distinct keys held: the filter's key count, or the record count of a version-1
    /// block (no filter).
    pub(crate) fn distinct_keys(&self) -> u64 {
        self.filter
            .as_ref()
            .map_or(self.meta.record_count, BlockFilter::key_count)
    }

    /// The storage that opened the file.
    pub(crate) fn storage(&self) -> &dyn Storage {
        self.storage.as_ref()
    }

    /// Opens the block the manifest describes with `meta`; a missing file, a footer whose
    /// checksum differs from the manifest's, or a bad index or key filter is
    /// [`Error::Corruption`].
    pub(crate) fn open(
        storage: &Arc<dyn Storage>,
        reads: BlockReads,
        path: PathBuf,
        meta: BlockMeta,
    ) -> Result<BlockFile> {
        if !storage.exists(&path)? {
            return Err(Error::corruption(
                &path,
                0,
                format!("block {} named by the manifest is missing", meta.block_id.0),
            ));
        }
        let file = storage.open(&path, open_mode(reads))?;
        let len_bytes = storage.file_len(&file)?;
        if len_bytes < meta.len_bytes || meta.len_bytes < BLOCK_PAGE_BYTES as u64 {
            return Err(Error::corruption(
                &path,
                len_bytes,
                format!(
                    "block is {len_bytes} bytes, manifest says {}",
                    meta.len_bytes
                ),
            ));
        }
        let last_page_offset = meta.len_bytes - BLOCK_PAGE_BYTES as u64;
        let page = read_exact(
            storage.as_ref(),
            &file,
            &path,
            last_page_offset,
            BLOCK_PAGE_BYTES,
        )?;
        let (footer, checksum) = BlockFooter::decode(&page).map_err(|error| {
            Error::corruption(&path, last_page_offset + error.offset(), error.to_string())
        })?;
        if checksum != meta.footer_checksum || footer.block_id != meta.block_id {
            return Err(Error::corruption(
                &path,
                last_page_offset,
                format!(
                    "footer checksum {checksum} differs from the manifest's {}",
                    meta.footer_checksum
                ),
            ));
        }
        let (index, filter) =
            read_index_and_filter(storage.as_ref(), &file, &path, &footer, meta.len_bytes)?;
        Ok(BlockFile {
            pages: PageTable::new(meta.block_id, index.len()),
            path,
            meta,
            file,
            index,
            filter,
            storage: storage.clone(),
        })
    }
}

/// How a block file is opened for `reads`.
fn open_mode(reads: BlockReads) -> OpenMode {
    match reads {
        BlockReads::Buffered => OpenMode::ReadCached,
        BlockReads::Direct => OpenMode::Read,
    }
}

/// The handle a just-written block is read through: the written one for direct reads, a
/// buffered one otherwise (the written handle is O_DIRECT; the write left no stale page
/// in the OS page cache, so buffered reads see its bytes).
fn reopen_for(
    storage: &dyn Storage,
    reads: BlockReads,
    path: &Path,
    written: FileHandle,
) -> Result<FileHandle> {
    match reads {
        BlockReads::Direct => Ok(written),
        BlockReads::Buffered => {
            drop(written);
            Ok(storage.open(path, OpenMode::ReadCached)?)
        }
    }
}

/// The manifest's description of a block.
fn meta_of(
    footer: &BlockFooter,
    len_bytes: u64,
    footer_checksum: infinitedb_format::Checksum,
) -> BlockMeta {
    BlockMeta {
        block_id: footer.block_id,
        space_id: footer.space_id,
        level: 0,
        len_bytes,
        min_key: footer.min_key,
        max_key: footer.max_key,
        min_revision: footer.min_revision,
        max_revision: footer.max_revision,
        record_count: footer.record_count,
        footer_checksum,
    }
}

/// Reads the bytes from the index to the footer (index, key filter and padding) in one read
/// and verifies the sparse index and the filter the footer points to.
/// Removes the block file at `path` whose write failed, and syncs its directory, best
/// effort: a file left behind is removed by the next open (`recovery.rs` step 4; it does not
/// decode whole, or its records are in the named blocks or a live log).
fn remove_failed(storage: &dyn Storage, path: &Path) {
    if storage.remove_file(path).is_ok()
        && let Some(dir) = path.parent()
    {
        let _ = storage.sync_dir(dir);
    }
}

fn read_index_and_filter(
    storage: &dyn Storage,
    file: &FileHandle,
    path: &PathBuf,
    footer: &BlockFooter,
    len_bytes: u64,
) -> Result<(BlockIndex, Option<BlockFilter>)> {
    // `filter_offset` is the index's end (saturating), so this also bounds the index.
    let footer_offset = footer.footer_offset();
    let inside = footer.filter_offset() <= footer_offset && footer.block_bytes <= len_bytes;
    if !inside {
        return Err(Error::corruption(
            path,
            footer.index_offset,
            "block index lies outside the block",
        ));
    }
    let page = BLOCK_PAGE_BYTES as u64;
    let start = footer.index_offset / page * page;
    let skip = usize::try_from(footer.index_offset - start).unwrap_or(0);
    let length = usize::try_from(footer_offset - start).unwrap_or(usize::MAX);
    let bytes = read_exact(storage, file, path, start, length)?;
    let index = BlockIndex::decode(&bytes[skip..], footer).map_err(|error| {
        Error::corruption(
            path,
            footer.index_offset + error.offset(),
            error.to_string(),
        )
    })?;
    let filter_skip = usize::try_from(footer.filter_offset() - start).unwrap_or(usize::MAX);
    let filter_bytes = bytes.get(filter_skip..).unwrap_or_default();
    let filter = BlockFilter::decode(filter_bytes, footer).map_err(|error| {
        Error::corruption(
            path,
            footer.filter_offset() + error.offset(),
            error.to_string(),
        )
    })?;
    Ok((index, filter))
}

/// Reads `length` bytes at `offset` (aligned reads; the result is cut to `length`).
pub(crate) fn read_exact(
    storage: &dyn Storage,
    file: &FileHandle,
    path: &PathBuf,
    offset: u64,
    length: usize,
) -> Result<Vec<u8>> {
    let alignment = storage.info().alignment_bytes as u64;
    let start = offset / alignment * alignment;
    let skip = usize::try_from(offset - start).unwrap_or(0);
    let mut buf =
        AlignedBuf::with_capacity_for(skip.saturating_add(length), storage.info().alignment_bytes)?;
    let read = storage.read_at(file, start, &mut buf)?;
    if read < skip + length {
        return Err(Error::corruption(
            path,
            offset,
            format!("file ends after {read} of {} bytes", skip + length),
        ));
    }
    Ok(buf[skip..skip + length].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_buffer_reuses_its_allocation_with_the_same_bytes_a_new_one_would_hold() {
        // Goal: a smaller block reuses the kept buffer, at its own padded length, with zeros
        // (not the larger block's bytes) after it; a larger one gets a new buffer. Method: hold
        // 3 pages and a bit of 0xAA, then 1 page and a bit of 0x55, then 5 pages.
        let mut buffer = WriteBuffer::default();
        let large = vec![0xAA_u8; 3 * 4096 + 100];
        let held = buffer.holding(&large, 4096).unwrap();
        assert_eq!((held.len(), held.capacity()), (4 * 4096, 4 * 4096));
        let small = vec![0x55_u8; 4096 + 10];
        let held = buffer.holding(&small, 4096).unwrap();
        assert_eq!((held.len(), held.capacity()), (2 * 4096, 4 * 4096));
        assert_eq!(&held[..small.len()], &small[..]);
        assert!(held[small.len()..].iter().all(|&byte| byte == 0));
        let held = buffer.holding(&vec![1_u8; 5 * 4096], 4096).unwrap();
        assert_eq!((held.len(), held.capacity()), (5 * 4096, 5 * 4096));
    }
}
