//! Builds a block from records sorted by `(key asc, revision desc)`
//! (`docs/format.md`, "Block").
//!
//! Owns: packing records into data page runs, collecting the filter hash of each distinct
//! key, then writing the index, the key filter and the footer (a version-2 block).
//! Invariants: a run holds whole records; a run is one page unless its first record alone
//! needs more, in which case it is the fewest pages that hold it; every distinct key has
//! exactly one hash in the filter (records arrive sorted by key, so a key's versions are
//! adjacent); every byte not written by a field is zero.

use super::BLOCK_PAGE_BYTES;
use super::filter::{encode_filter, filter_encoded_bytes, key_hash};
use super::footer::{BLOCK_FOOTER_BYTES, BlockFooter};
use super::index::{PageLocation, encode_index, index_encoded_bytes};
use super::page::{PAGE_HEADER_BYTES, encode_page_header};
use crate::checksum::Checksum;
use crate::ids::{BlockId, Key, Revision, SpaceId};
use crate::int;
use crate::record::{RecordKind, RecordRef, encode_record};

/// The largest value a block record may hold (64 MiB, the frame payload cap).
pub const BLOCK_VALUE_BYTES_MAX: usize = 64 * 1024 * 1024;

/// A finished block: its bytes and the footer fields the manifest records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuiltBlock {
    /// The whole block, a multiple of 4096 bytes.
    pub bytes: Vec<u8>,
    /// The footer written at the end of `bytes`.
    pub footer: BlockFooter,
    /// The footer's checksum, to be kept in the manifest's `BlockMeta`.
    pub footer_checksum: Checksum,
}

/// The run being filled.
#[derive(Clone, Debug)]
struct OpenRun {
    start: usize,
    used_bytes: usize,
    capacity_bytes: usize,
    record_count: u32,
    first_key: Key,
    last_key: Key,
}

/// Accumulates sorted records into a block.
#[derive(Clone, Debug)]
pub struct BlockBuilder {
    space_id: SpaceId,
    block_id: BlockId,
    bytes: Vec<u8>,
    open_run: Option<OpenRun>,
    locations: Vec<PageLocation>,
    /// The filter hash of every distinct key pushed, in key order.
    key_hashes: Vec<u128>,
    last: Option<(Key, Revision)>,
    record_count: u64,
    min_key: Key,
    max_key: Key,
    min_revision: Revision,
    max_revision: Revision,
}

impl BlockBuilder {
    /// A builder for block `block_id` of space `space_id`.
    #[must_use]
    pub fn new(space_id: SpaceId, block_id: BlockId) -> Self {
        Self {
            space_id,
            block_id,
            bytes: Vec::new(),
            open_run: None,
            locations: Vec::new(),
            key_hashes: Vec::new(),
            last: None,
            record_count: 0,
            min_key: Key::MAX,
            max_key: 0,
            min_revision: Revision(u64::MAX),
            max_revision: Revision(0),
        }
    }

    /// The number of records pushed so far.
    #[must_use]
    pub fn record_count(&self) -> u64 {
        self.record_count
    }

    /// Appends a record.
    ///
    /// # Panics
    /// If the record is not after the previous one in `(key asc, revision desc)` order (an
    /// exact duplicate `(key, revision)` included), a delete carries a value, or the value is
    /// over [`BLOCK_VALUE_BYTES_MAX`]: each would seal a block that loses or garbles data.
    pub fn push(&mut self, record: RecordRef<'_>) {
        if let Some((key, revision)) = self.last {
            let after = record.key > key || (record.key == key && record.revision < revision);
            assert!(
                after,
                "block records are sorted by (key asc, revision desc) without duplicates"
            );
        }
        assert!(
            record.value.len() <= BLOCK_VALUE_BYTES_MAX,
            "block value over BLOCK_VALUE_BYTES_MAX"
        );
        assert!(
            record.kind == RecordKind::Put || record.value.is_empty(),
            "a delete record carries no value"
        );
        let record_bytes = record.encoded_bytes();
        let fits = self
            .open_run
            .as_ref()
            .is_some_and(|run| run.used_bytes + record_bytes <= run.capacity_bytes);
        if !fits {
            self.close_run();
            self.open_run(record_bytes, record.key);
        }
        let Some(run) = self.open_run.as_mut() else {
            return;
        };
        if self.last.is_none_or(|(key, _)| key != record.key) {
            self.key_hashes.push(key_hash(record.key));
        }
        let end = encode_record(&mut self.bytes, run.start + run.used_bytes, &record);
        run.used_bytes = end - run.start;
        run.record_count += 1;
        run.last_key = record.key;
        self.last = Some((record.key, record.revision));
        self.record_count += 1;
        self.min_key = self.min_key.min(record.key);
        self.max_key = self.max_key.max(record.key);
        self.min_revision = self.min_revision.min(record.revision);
        self.max_revision = self.max_revision.max(record.revision);
    }

    /// Starts a run sized for a first record of `record_bytes`.
    fn open_run(&mut self, record_bytes: usize, first_key: Key) {
        debug_assert!(self.open_run.is_none());
        let start = self.bytes.len();
        debug_assert!(
            start.is_multiple_of(BLOCK_PAGE_BYTES),
            "runs start on page boundaries"
        );
        let capacity_bytes =
            (PAGE_HEADER_BYTES + record_bytes).div_ceil(BLOCK_PAGE_BYTES) * BLOCK_PAGE_BYTES;
        self.bytes.resize(start + capacity_bytes, 0);
        self.open_run = Some(OpenRun {
            start,
            used_bytes: PAGE_HEADER_BYTES,
            capacity_bytes,
            record_count: 0,
            first_key,
            last_key: first_key,
        });
    }

    /// Writes the open run's header and records its index entry.
    fn close_run(&mut self) {
        let Some(run) = self.open_run.take() else {
            return;
        };
        let end = run.start + run.capacity_bytes;
        let used_bytes = int::u32_from_usize(run.used_bytes).unwrap_or(u32::MAX);
        let Some(bytes) = self.bytes.get_mut(run.start..end) else {
            debug_assert!(false, "open run lies within the block buffer");
            return;
        };
        let checksum = encode_page_header(bytes, run.record_count, used_bytes);
        self.locations.push(PageLocation {
            offset: int::u64_from_usize(run.start),
            bytes: int::u32_from_usize(run.capacity_bytes).unwrap_or(u32::MAX),
            first_key: run.first_key,
            last_key: run.last_key,
            record_count: run.record_count,
            checksum,
        });
    }

    /// Writes the index, the key filter and the footer and returns the block.
    ///
    /// # Panics
    /// If no record was pushed: an empty block has no key range (the engine never seals one).
    #[must_use]
    pub fn finish(mut self) -> BuiltBlock {
        assert!(self.record_count > 0, "a block holds at least one record");
        self.close_run();
        let index_offset = self.bytes.len();
        let index_bytes = index_encoded_bytes(self.locations.len());
        let index_end = index_offset + index_bytes;
        let filter_end = index_end + filter_encoded_bytes(self.key_hashes.len());
        let block_bytes =
            (filter_end + BLOCK_FOOTER_BYTES).div_ceil(BLOCK_PAGE_BYTES) * BLOCK_PAGE_BYTES;
        self.bytes.resize(block_bytes, 0);
        let index_checksum = encode_index(
            &self.locations,
            self.bytes
                .get_mut(index_offset..index_end)
                .unwrap_or_default(),
        );
        let filter_bytes = self.bytes.get_mut(index_end..filter_end);
        let filter_checksum = encode_filter(&self.key_hashes, filter_bytes.unwrap_or_default());
        let footer = BlockFooter {
            space_id: self.space_id,
            block_id: self.block_id,
            record_count: self.record_count,
            data_page_count: int::u32_from_usize(self.locations.len()).unwrap_or(u32::MAX),
            min_key: self.min_key,
            max_key: self.max_key,
            min_revision: self.min_revision,
            max_revision: self.max_revision,
            index_offset: int::u64_from_usize(index_offset),
            index_bytes: int::u64_from_usize(index_bytes),
            block_bytes: int::u64_from_usize(block_bytes),
            index_checksum,
            filter_checksum: Some(filter_checksum),
        };
        let footer_start = block_bytes - BLOCK_FOOTER_BYTES;
        let footer_checksum = footer.encode(self.bytes.get_mut(footer_start..).unwrap_or_default());
        debug_assert!(self.bytes.len().is_multiple_of(BLOCK_PAGE_BYTES));
        BuiltBlock {
            bytes: self.bytes,
            footer,
            footer_checksum,
        }
    }
}
