//! A block's sparse index: one entry per data page run, in key order
//! (`docs/format.md`, "Block index").
//!
//! Owns: encoding and decoding the index and finding the runs that may hold a key range.
//! Invariants (checked on decode): entries are contiguous from offset 0 to the index offset,
//! each run is whole pages, `first_key <= last_key` within an entry and
//! `last_key[i] <= first_key[i + 1]` across entries, and the counts and key bounds agree with
//! the footer. Because both key columns are sorted, the runs matching `lo..=hi` are one
//! contiguous slice found by two binary searches; a key whose versions span several runs
//! (`last_key[i] == first_key[i + 1]`) gets all of them.

use super::BLOCK_PAGE_BYTES;
use super::footer::BlockFooter;
use crate::checksum::Checksum;
use crate::error::{DecodeError, Expected, FileKind};
use crate::ids::Key;
use crate::int;
use crate::layout::{
    BLOCK_INDEX_MAGIC, FORMAT_VERSION, check_checksum, check_magic_version, check_zero,
};
use crate::layout::{ensure, read_u32};

/// Field offsets of the index header and of one entry.
pub(crate) mod offsets {
    /// Offset of the checksum (`u64`, xxh3-64 of bytes 8..index_bytes).
    pub const INDEX_CHECKSUM_OFFSET: usize = 0;
    /// Offset of the magic (`u32`, "IDBI").
    pub const INDEX_MAGIC_OFFSET: usize = INDEX_CHECKSUM_OFFSET + 8;
    /// Offset of the format version (`u16`).
    pub const INDEX_VERSION_OFFSET: usize = INDEX_MAGIC_OFFSET + 4;
    /// Offset of a reserved zero `u16`.
    pub const INDEX_RESERVED_A_OFFSET: usize = INDEX_VERSION_OFFSET + 2;
    /// Offset of the entry count (`u32`).
    pub const INDEX_ENTRY_COUNT_OFFSET: usize = INDEX_RESERVED_A_OFFSET + 2;
    /// Offset of a reserved zero `u32`.
    pub const INDEX_RESERVED_B_OFFSET: usize = INDEX_ENTRY_COUNT_OFFSET + 4;
    /// Size of the index header; entries follow.
    pub const INDEX_HEADER_BYTES: usize = INDEX_RESERVED_B_OFFSET + 4;
    /// Entry offset of the run's first key (`u128`).
    pub const ENTRY_FIRST_KEY_OFFSET: usize = 0;
    /// Entry offset of the run's last key (`u128`).
    pub const ENTRY_LAST_KEY_OFFSET: usize = ENTRY_FIRST_KEY_OFFSET + 16;
    /// Entry offset of the run's offset in the block (`u64`).
    pub const ENTRY_OFFSET_OFFSET: usize = ENTRY_LAST_KEY_OFFSET + 16;
    /// Entry offset of the run's checksum (`u64`, equal to the run header's).
    pub const ENTRY_CHECKSUM_OFFSET: usize = ENTRY_OFFSET_OFFSET + 8;
    /// Entry offset of the run's length in bytes (`u32`).
    pub const ENTRY_RUN_BYTES_OFFSET: usize = ENTRY_CHECKSUM_OFFSET + 8;
    /// Entry offset of the run's record count (`u32`).
    pub const ENTRY_RECORD_COUNT_OFFSET: usize = ENTRY_RUN_BYTES_OFFSET + 4;
    /// Size of one entry.
    pub const ENTRY_BYTES: usize = ENTRY_RECORD_COUNT_OFFSET + 4;
}
pub(crate) use offsets::*;

const _: () = assert!(INDEX_HEADER_BYTES == 24);
const _: () = assert!(ENTRY_BYTES == 56);

/// Where a data page run lies in its block, and what it holds.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct PageLocation {
    /// Byte offset of the run in the block (a multiple of 4096).
    pub offset: u64,
    /// Length of the run in bytes (a multiple of 4096).
    pub bytes: u32,
    /// The key of the run's first record.
    pub first_key: Key,
    /// The key of the run's last record.
    pub last_key: Key,
    /// The number of records in the run.
    pub record_count: u32,
    /// The run's checksum, as stored in its header.
    pub checksum: Checksum,
}

/// The `index_bytes` of an index with `entry_count` entries.
pub(crate) fn index_encoded_bytes(entry_count: usize) -> usize {
    INDEX_HEADER_BYTES + entry_count * ENTRY_BYTES
}

/// Encodes the index for `locations` into `out` (exactly `index_encoded_bytes` long); returns
/// its checksum.
pub(crate) fn encode_index(locations: &[PageLocation], out: &mut [u8]) -> Checksum {
    assert_eq!(
        out.len(),
        index_encoded_bytes(locations.len()),
        "index buffer size"
    );
    let entry_count = int::u32_from_usize(locations.len());
    assert!(entry_count.is_some(), "index entry count over u32::MAX");
    int::write_u32(out, INDEX_MAGIC_OFFSET, BLOCK_INDEX_MAGIC);
    int::write_u16(out, INDEX_VERSION_OFFSET, FORMAT_VERSION);
    int::write_u32(out, INDEX_ENTRY_COUNT_OFFSET, entry_count.unwrap_or(0));
    for (position, location) in locations.iter().enumerate() {
        let base = INDEX_HEADER_BYTES + position * ENTRY_BYTES;
        int::write_u128(out, base + ENTRY_FIRST_KEY_OFFSET, location.first_key);
        int::write_u128(out, base + ENTRY_LAST_KEY_OFFSET, location.last_key);
        int::write_u64(out, base + ENTRY_OFFSET_OFFSET, location.offset);
        int::write_u64(out, base + ENTRY_CHECKSUM_OFFSET, location.checksum.0);
        int::write_u32(out, base + ENTRY_RUN_BYTES_OFFSET, location.bytes);
        int::write_u32(out, base + ENTRY_RECORD_COUNT_OFFSET, location.record_count);
    }
    let checksum = Checksum::of(out.get(INDEX_MAGIC_OFFSET..).unwrap_or_default());
    int::write_u64(out, INDEX_CHECKSUM_OFFSET, checksum.0);
    checksum
}

/// A decoded, validated block index: its entries decoded once, with their first and last
/// keys also kept as dense columns, so the binary searches of a lookup touch 16 bytes per
/// step (four keys per cache line) rather than a whole entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockIndex {
    locations: Box<[PageLocation]>,
    first_keys: Box<[Key]>,
    last_keys: Box<[Key]>,
    entry_count: usize,
}

/// Entry `position` of the entry bytes `entries`, or `None` past their end.
fn entry_at(entries: &[u8], position: usize) -> Option<PageLocation> {
    let base = position.checked_mul(ENTRY_BYTES)?;
    let entry = entries.get(base..base.checked_add(ENTRY_BYTES)?)?;
    Some(PageLocation {
        first_key: int::read_u128(entry, ENTRY_FIRST_KEY_OFFSET)?,
        last_key: int::read_u128(entry, ENTRY_LAST_KEY_OFFSET)?,
        offset: int::read_u64(entry, ENTRY_OFFSET_OFFSET)?,
        checksum: Checksum(int::read_u64(entry, ENTRY_CHECKSUM_OFFSET)?),
        bytes: int::read_u32(entry, ENTRY_RUN_BYTES_OFFSET)?,
        record_count: int::read_u32(entry, ENTRY_RECORD_COUNT_OFFSET)?,
    })
}

impl BlockIndex {
    /// Decodes the index from the start of `index_bytes` (at least `footer.index_bytes` long),
    /// checking it against `footer`.
    ///
    /// Order: short input is `Incomplete`; the checksum (against the index header and the
    /// footer's `index_checksum`) is `Corrupt`; then magic and version; then every entry
    /// (`Corrupt`).
    ///
    /// # Errors
    /// A [`DecodeError`] naming the field; offsets are relative to `index_bytes`.
    pub fn decode(index_bytes: &[u8], footer: &BlockFooter) -> Result<BlockIndex, DecodeError> {
        let kind = FileKind::BlockIndex;
        let length = int::usize_from_u64(footer.index_bytes).unwrap_or(usize::MAX);
        let Some(index) = index_bytes.get(..length) else {
            return Err(DecodeError::incomplete(
                kind,
                "bytes",
                length,
                index_bytes.len(),
            ));
        };
        let at_least = Expected::AtLeast(int::u128_from_usize(INDEX_HEADER_BYTES));
        ensure(
            length >= INDEX_HEADER_BYTES,
            kind,
            "bytes",
            at_least,
            int::u128_from_usize(length),
            0,
        )?;
        let covered = index.get(INDEX_MAGIC_OFFSET..).unwrap_or_default();
        check_checksum(kind, "checksum", index, INDEX_CHECKSUM_OFFSET, covered)?;
        let stored = crate::layout::read_u64(kind, "checksum", index, INDEX_CHECKSUM_OFFSET)?;
        let expected = Expected::Equal(u128::from(footer.index_checksum.0));
        ensure(
            stored == footer.index_checksum.0,
            kind,
            "checksum",
            expected,
            u128::from(stored),
            0,
        )?;
        check_magic_version(kind, index, INDEX_MAGIC_OFFSET, BLOCK_INDEX_MAGIC)?;
        check_zero(kind, "reserved", index, INDEX_RESERVED_A_OFFSET, 2)?;
        check_zero(kind, "reserved", index, INDEX_RESERVED_B_OFFSET, 4)?;
        let entry_count = read_u32(kind, "entry_count", index, INDEX_ENTRY_COUNT_OFFSET)?;
        let expected = Expected::Equal(u128::from(footer.data_page_count));
        let found = u128::from(entry_count);
        ensure(
            entry_count == footer.data_page_count,
            kind,
            "entry_count",
            expected,
            found,
            INDEX_ENTRY_COUNT_OFFSET,
        )?;
        let entry_count = int::usize_from_u32(entry_count);
        let expected = Expected::Equal(int::u128_from_usize(index_encoded_bytes(entry_count)));
        let found = int::u128_from_usize(length);
        ensure(
            length == index_encoded_bytes(entry_count),
            kind,
            "bytes",
            expected,
            found,
            0,
        )?;
        let entries = index.get(INDEX_HEADER_BYTES..).unwrap_or_default();
        let decoded = BlockIndex::of_entries(entries, entry_count);
        decoded
            .validate(footer)
            .map_err(|error| error.at_base(INDEX_HEADER_BYTES))?;
        Ok(decoded)
    }

    /// The index of the first `entry_count` entries of `entries` (lengths checked by the
    /// caller; an entry past the end reads as an invalid location, which `validate` rejects).
    fn of_entries(entries: &[u8], entry_count: usize) -> BlockIndex {
        let locations: Box<[PageLocation]> = (0..entry_count)
            .map(|position| entry_at(entries, position).unwrap_or(EMPTY_LOCATION))
            .collect();
        BlockIndex {
            first_keys: locations
                .iter()
                .map(|location| location.first_key)
                .collect(),
            last_keys: locations.iter().map(|location| location.last_key).collect(),
            locations,
            entry_count,
        }
    }

    /// Checks entry contiguity, ordering and agreement with the footer.
    fn validate(&self, footer: &BlockFooter) -> Result<(), DecodeError> {
        let kind = FileKind::BlockIndex;
        let mut next_offset = 0_u64;
        let mut record_count = 0_u64;
        let mut previous_last_key: Key = footer.min_key;
        let page = u64::from(int::u32_from_usize(BLOCK_PAGE_BYTES).unwrap_or(u32::MAX));
        for position in 0..self.entry_count {
            let base = position * ENTRY_BYTES;
            let location = self.location(position).unwrap_or(EMPTY_LOCATION);
            let found = u128::from(location.offset);
            ensure(
                location.offset == next_offset,
                kind,
                "offset",
                Expected::Equal(u128::from(next_offset)),
                found,
                base + ENTRY_OFFSET_OFFSET,
            )?;
            let run = u64::from(location.bytes);
            let whole = run > 0 && run % page == 0;
            let expected = Expected::Describe("a non-zero multiple of 4096");
            ensure(
                whole,
                kind,
                "run_bytes",
                expected,
                u128::from(run),
                base + ENTRY_RUN_BYTES_OFFSET,
            )?;
            let count = u128::from(location.record_count);
            ensure(
                location.record_count >= 1,
                kind,
                "record_count",
                Expected::AtLeast(1),
                count,
                base + ENTRY_RECORD_COUNT_OFFSET,
            )?;
            let expected = Expected::AtLeast(previous_last_key);
            ensure(
                location.first_key >= previous_last_key,
                kind,
                "first_key",
                expected,
                location.first_key,
                base,
            )?;
            let expected = Expected::AtLeast(location.first_key);
            ensure(
                location.last_key >= location.first_key,
                kind,
                "last_key",
                expected,
                location.last_key,
                base + ENTRY_LAST_KEY_OFFSET,
            )?;
            previous_last_key = location.last_key;
            next_offset = next_offset.saturating_add(run);
            record_count = record_count.saturating_add(u64::from(location.record_count));
        }
        self.validate_totals(footer, next_offset, record_count)
    }

    /// The entries' totals agree with the footer.
    fn validate_totals(
        &self,
        footer: &BlockFooter,
        end: u64,
        record_count: u64,
    ) -> Result<(), DecodeError> {
        let kind = FileKind::BlockIndex;
        let expected = Expected::Equal(u128::from(footer.index_offset));
        ensure(
            end == footer.index_offset,
            kind,
            "offset",
            expected,
            u128::from(end),
            0,
        )?;
        let expected = Expected::Equal(u128::from(footer.record_count));
        ensure(
            record_count == footer.record_count,
            kind,
            "record_count",
            expected,
            u128::from(record_count),
            0,
        )?;
        let first = self.location(0).map_or(0, |location| location.first_key);
        ensure(
            first == footer.min_key,
            kind,
            "first_key",
            Expected::Equal(footer.min_key),
            first,
            0,
        )?;
        let last_position = self.entry_count.saturating_sub(1);
        let last = self
            .location(last_position)
            .map_or(0, |location| location.last_key);
        let offset = last_position * ENTRY_BYTES + ENTRY_LAST_KEY_OFFSET;
        ensure(
            last == footer.max_key,
            kind,
            "last_key",
            Expected::Equal(footer.max_key),
            last,
            offset,
        )
    }

    /// The number of data page runs.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entry_count
    }

    /// True when the index has no entries (never for a decoded block).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entry_count == 0
    }

    /// The location of run `position`, or `None` past the end.
    #[must_use]
    pub fn location(&self, position: usize) -> Option<PageLocation> {
        self.locations.get(position).copied()
    }

    /// Every run, in key order.
    pub fn pages(&self) -> impl Iterator<Item = PageLocation> + '_ {
        (0..self.entry_count).filter_map(|position| self.location(position))
    }

    /// The runs that may hold records with keys in `lo..=hi`, in key order: every run whose
    /// `[first_key, last_key]` intersects the range. Empty when `lo > hi`.
    pub fn pages_for_range(&self, lo: Key, hi: Key) -> impl Iterator<Item = PageLocation> + '_ {
        self.positions_for_range(lo, hi)
            .filter_map(|position| self.location(position))
    }

    /// The positions (for [`BlockIndex::location`]) of the runs [`BlockIndex::pages_for_range`]
    /// returns: one contiguous, possibly empty, span.
    #[must_use]
    pub fn positions_for_range(&self, lo: Key, hi: Key) -> std::ops::Range<usize> {
        let start = self.first_run_reaching(lo);
        if lo > hi {
            return start..start;
        }
        // The span is usually short (one run for a point), so gallop from `start` over the
        // first keys rather than binary searching all of them.
        let tail = self.first_keys.get(start..).unwrap_or_default();
        let mut bound = 1;
        while tail.get(bound - 1).is_some_and(|&first| first <= hi) {
            bound *= 2;
        }
        let searched = tail
            .get(bound / 2..bound.min(tail.len()))
            .unwrap_or_default();
        let end = start + bound / 2 + searched.partition_point(|&first| first <= hi);
        start..end.min(self.entry_count)
    }

    /// The position of the first run whose last key is at or above `key`: the only run that
    /// can hold `key`'s newest versions (its first key may still lie above `key`), or
    /// [`BlockIndex::len`] when every key of the block is below `key`.
    #[must_use]
    pub fn first_run_reaching(&self, key: Key) -> usize {
        self.last_keys.partition_point(|&last| last < key)
    }

    /// The first key of run `position`, or `None` past the end.
    #[must_use]
    pub fn first_key(&self, position: usize) -> Option<Key> {
        self.first_keys.get(position).copied()
    }

    /// The runs that may hold versions of `key`, in order (several when its versions span
    /// runs).
    pub fn pages_for_key(&self, key: Key) -> impl Iterator<Item = PageLocation> + '_ {
        self.pages_for_range(key, key)
    }
}

const EMPTY_LOCATION: PageLocation = PageLocation {
    offset: u64::MAX,
    bytes: 0,
    first_key: 0,
    last_key: 0,
    record_count: 0,
    checksum: Checksum(0),
};
