//! A block's footer: the last `BLOCK_FOOTER_BYTES` of its last page
//! (`docs/format.md`, "Block footer").
//!
//! Owns: the footer layout, versions 1 (no filter) and 2 (a key filter right after the index,
//! its checksum at offset 120, which version 1 reserves as zero). Invariants (checked on
//! decode): the checksum covers bytes 8..128; the block is whole pages; the index starts at a
//! page boundary after at least one page per run; in version 1 the index ends before the
//! footer, in the same last page; in version 2 a filter header and one word fit between the
//! index and the footer (the filter decoder checks that the filter ends in the last page);
//! min ≤ max for keys and revisions.

use super::BLOCK_PAGE_BYTES;
use super::filter::FILTER_BYTES_MIN;
use super::index::index_encoded_bytes;
use crate::checksum::Checksum;
use crate::error::{DecodeClass, DecodeError, Expected, FileKind};
use crate::ids::{BlockId, Key, Revision, SpaceId};
use crate::int;
use crate::layout::{
    BLOCK_FOOTER_MAGIC, BLOCK_FORMAT_VERSION, check_checksum, check_magic_versions, check_zero,
};
use crate::layout::{ensure, read_u32, read_u64, read_u128};

/// Field offsets of the footer.
pub(crate) mod offsets {
    /// Offset of the checksum (`u64`, xxh3-64 of footer bytes 8..128).
    pub const FOOTER_CHECKSUM_OFFSET: usize = 0;
    /// Offset of the magic (`u32`, "IDBB").
    pub const FOOTER_MAGIC_OFFSET: usize = FOOTER_CHECKSUM_OFFSET + 8;
    /// Offset of the format version (`u16`).
    pub const FOOTER_VERSION_OFFSET: usize = FOOTER_MAGIC_OFFSET + 4;
    /// Offset of a reserved zero `u16`.
    pub const FOOTER_RESERVED_A_OFFSET: usize = FOOTER_VERSION_OFFSET + 2;
    /// Offset of the space id (`u32`).
    pub const FOOTER_SPACE_ID_OFFSET: usize = FOOTER_RESERVED_A_OFFSET + 2;
    /// Offset of the data page run count (`u32`).
    pub const FOOTER_DATA_PAGE_COUNT_OFFSET: usize = FOOTER_SPACE_ID_OFFSET + 4;
    /// Offset of the block id (`u64`).
    pub const FOOTER_BLOCK_ID_OFFSET: usize = FOOTER_DATA_PAGE_COUNT_OFFSET + 4;
    /// Offset of the record count (`u64`).
    pub const FOOTER_RECORD_COUNT_OFFSET: usize = FOOTER_BLOCK_ID_OFFSET + 8;
    /// Offset of the smallest key (`u128`).
    pub const FOOTER_MIN_KEY_OFFSET: usize = FOOTER_RECORD_COUNT_OFFSET + 8;
    /// Offset of the largest key (`u128`).
    pub const FOOTER_MAX_KEY_OFFSET: usize = FOOTER_MIN_KEY_OFFSET + 16;
    /// Offset of the smallest revision (`u64`).
    pub const FOOTER_MIN_REVISION_OFFSET: usize = FOOTER_MAX_KEY_OFFSET + 16;
    /// Offset of the largest revision (`u64`).
    pub const FOOTER_MAX_REVISION_OFFSET: usize = FOOTER_MIN_REVISION_OFFSET + 8;
    /// Offset of the index offset in the block (`u64`).
    pub const FOOTER_INDEX_OFFSET_OFFSET: usize = FOOTER_MAX_REVISION_OFFSET + 8;
    /// Offset of the index length (`u64`).
    pub const FOOTER_INDEX_BYTES_OFFSET: usize = FOOTER_INDEX_OFFSET_OFFSET + 8;
    /// Offset of the block length (`u64`).
    pub const FOOTER_BLOCK_BYTES_OFFSET: usize = FOOTER_INDEX_BYTES_OFFSET + 8;
    /// Offset of the index checksum (`u64`).
    pub const FOOTER_INDEX_CHECKSUM_OFFSET: usize = FOOTER_BLOCK_BYTES_OFFSET + 8;
    /// Offset of the filter checksum (`u64`; version 2; a reserved zero in version 1).
    pub const FOOTER_FILTER_CHECKSUM_OFFSET: usize = FOOTER_INDEX_CHECKSUM_OFFSET + 8;
    /// Size of the footer.
    pub const FOOTER_BYTES: usize = FOOTER_FILTER_CHECKSUM_OFFSET + 8;
}
pub(crate) use offsets::*;

/// Size of the footer at the end of a block's last page.
pub const BLOCK_FOOTER_BYTES: usize = FOOTER_BYTES;

const _: () = assert!(BLOCK_FOOTER_BYTES == 128);
const _: () = assert!(BLOCK_FOOTER_BYTES < BLOCK_PAGE_BYTES);

/// The fields of a block footer.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct BlockFooter {
    /// The space the records belong to.
    pub space_id: SpaceId,
    /// The block's id.
    pub block_id: BlockId,
    /// The number of records.
    pub record_count: u64,
    /// The number of data page runs (index entries).
    pub data_page_count: u32,
    /// The smallest key.
    pub min_key: Key,
    /// The largest key.
    pub max_key: Key,
    /// The smallest revision.
    pub min_revision: Revision,
    /// The largest revision.
    pub max_revision: Revision,
    /// Byte offset of the index (a multiple of 4096, just after the last data run).
    pub index_offset: u64,
    /// Length of the index in bytes.
    pub index_bytes: u64,
    /// Length of the whole block in bytes (a multiple of 4096).
    pub block_bytes: u64,
    /// Checksum of the index (as stored in the index header).
    pub index_checksum: Checksum,
    /// Checksum of the key filter (as stored in the filter header); `None` for a version-1
    /// block, which has no filter. A footer with a filter is written as version 2, one
    /// without as version 1.
    pub filter_checksum: Option<Checksum>,
}

impl BlockFooter {
    /// Encodes the footer into `out` (exactly `BLOCK_FOOTER_BYTES`); returns its checksum.
    pub(crate) fn encode(&self, out: &mut [u8]) -> Checksum {
        assert_eq!(out.len(), BLOCK_FOOTER_BYTES, "footer buffer size");
        out.fill(0);
        int::write_u32(out, FOOTER_MAGIC_OFFSET, BLOCK_FOOTER_MAGIC);
        let version = match self.filter_checksum {
            Some(_) => BLOCK_FORMAT_VERSION,
            None => 1,
        };
        int::write_u16(out, FOOTER_VERSION_OFFSET, version);
        int::write_u32(out, FOOTER_SPACE_ID_OFFSET, self.space_id.0);
        int::write_u32(out, FOOTER_DATA_PAGE_COUNT_OFFSET, self.data_page_count);
        int::write_u64(out, FOOTER_BLOCK_ID_OFFSET, self.block_id.0);
        int::write_u64(out, FOOTER_RECORD_COUNT_OFFSET, self.record_count);
        int::write_u128(out, FOOTER_MIN_KEY_OFFSET, self.min_key);
        int::write_u128(out, FOOTER_MAX_KEY_OFFSET, self.max_key);
        int::write_u64(out, FOOTER_MIN_REVISION_OFFSET, self.min_revision.0);
        int::write_u64(out, FOOTER_MAX_REVISION_OFFSET, self.max_revision.0);
        int::write_u64(out, FOOTER_INDEX_OFFSET_OFFSET, self.index_offset);
        int::write_u64(out, FOOTER_INDEX_BYTES_OFFSET, self.index_bytes);
        int::write_u64(out, FOOTER_BLOCK_BYTES_OFFSET, self.block_bytes);
        int::write_u64(out, FOOTER_INDEX_CHECKSUM_OFFSET, self.index_checksum.0);
        let filter_checksum = self.filter_checksum.unwrap_or_default();
        int::write_u64(out, FOOTER_FILTER_CHECKSUM_OFFSET, filter_checksum.0);
        let checksum = Checksum::of(out.get(FOOTER_MAGIC_OFFSET..).unwrap_or_default());
        int::write_u64(out, FOOTER_CHECKSUM_OFFSET, checksum.0);
        checksum
    }

    /// Decodes the footer from the last `BLOCK_FOOTER_BYTES` of `last_page` (the block's last
    /// page, or the whole block); returns it with its checksum, which the caller compares with
    /// the manifest's `BlockMeta::footer_checksum`.
    ///
    /// Order: short input or an all-zero footer is `Incomplete`; the checksum is `Corrupt`;
    /// then magic and version; then field relations (`Corrupt`).
    ///
    /// # Errors
    /// A [`DecodeError`] naming the field; offsets are relative to `last_page`.
    pub fn decode(last_page: &[u8]) -> Result<(BlockFooter, Checksum), DecodeError> {
        let kind = FileKind::BlockFooter;
        let Some(start) = last_page.len().checked_sub(BLOCK_FOOTER_BYTES) else {
            return Err(DecodeError::incomplete(
                kind,
                "bytes",
                BLOCK_FOOTER_BYTES,
                last_page.len(),
            ));
        };
        let bytes = last_page.get(start..).unwrap_or_default();
        decode_footer_bytes(bytes).map_err(|error| error.at_base(start))
    }

    /// Byte offset of the key filter in the block: right after the index (a multiple of 8,
    /// as `index_bytes` is). Meaningful only when `filter_checksum` is `Some`.
    #[must_use]
    pub fn filter_offset(&self) -> u64 {
        self.index_offset.saturating_add(self.index_bytes)
    }

    /// Byte offset of the footer in the block.
    #[must_use]
    pub fn footer_offset(&self) -> u64 {
        let footer_bytes = int::u64_from_usize(BLOCK_FOOTER_BYTES);
        self.block_bytes.saturating_sub(footer_bytes)
    }
}

/// Decodes exactly `BLOCK_FOOTER_BYTES` of footer.
fn decode_footer_bytes(bytes: &[u8]) -> Result<(BlockFooter, Checksum), DecodeError> {
    let kind = FileKind::BlockFooter;
    if int::is_all_zero(bytes) {
        let expected = Expected::Describe("a block footer, not zeros");
        return Err(DecodeError::new(
            DecodeClass::Incomplete,
            kind,
            "footer",
            expected,
            0,
            0,
        ));
    }
    let covered = bytes.get(FOOTER_MAGIC_OFFSET..).unwrap_or_default();
    check_checksum(kind, "checksum", bytes, FOOTER_CHECKSUM_OFFSET, covered)?;
    let versions = 1..=BLOCK_FORMAT_VERSION;
    let version = check_magic_versions(
        kind,
        bytes,
        FOOTER_MAGIC_OFFSET,
        BLOCK_FOOTER_MAGIC,
        versions,
    )?;
    check_zero(kind, "reserved", bytes, FOOTER_RESERVED_A_OFFSET, 2)?;
    let filter_checksum = if version == 1 {
        check_zero(kind, "reserved", bytes, FOOTER_FILTER_CHECKSUM_OFFSET, 8)?;
        None
    } else {
        let offset = FOOTER_FILTER_CHECKSUM_OFFSET;
        Some(Checksum(read_u64(kind, "filter_checksum", bytes, offset)?))
    };
    let footer = BlockFooter {
        space_id: SpaceId(read_u32(kind, "space_id", bytes, FOOTER_SPACE_ID_OFFSET)?),
        data_page_count: read_u32(
            kind,
            "data_page_count",
            bytes,
            FOOTER_DATA_PAGE_COUNT_OFFSET,
        )?,
        block_id: BlockId(read_u64(kind, "block_id", bytes, FOOTER_BLOCK_ID_OFFSET)?),
        record_count: read_u64(kind, "record_count", bytes, FOOTER_RECORD_COUNT_OFFSET)?,
        min_key: read_u128(kind, "min_key", bytes, FOOTER_MIN_KEY_OFFSET)?,
        max_key: read_u128(kind, "max_key", bytes, FOOTER_MAX_KEY_OFFSET)?,
        min_revision: Revision(read_u64(
            kind,
            "min_revision",
            bytes,
            FOOTER_MIN_REVISION_OFFSET,
        )?),
        max_revision: Revision(read_u64(
            kind,
            "max_revision",
            bytes,
            FOOTER_MAX_REVISION_OFFSET,
        )?),
        index_offset: read_u64(kind, "index_offset", bytes, FOOTER_INDEX_OFFSET_OFFSET)?,
        index_bytes: read_u64(kind, "index_bytes", bytes, FOOTER_INDEX_BYTES_OFFSET)?,
        block_bytes: read_u64(kind, "block_bytes", bytes, FOOTER_BLOCK_BYTES_OFFSET)?,
        index_checksum: Checksum(read_u64(
            kind,
            "index_checksum",
            bytes,
            FOOTER_INDEX_CHECKSUM_OFFSET,
        )?),
        filter_checksum,
    };
    validate_footer(&footer)?;
    let checksum = Checksum(read_u64(kind, "checksum", bytes, FOOTER_CHECKSUM_OFFSET)?);
    Ok((footer, checksum))
}

/// The relations between footer fields that the checksum cannot vouch for.
fn validate_footer(footer: &BlockFooter) -> Result<(), DecodeError> {
    let kind = FileKind::BlockFooter;
    let runs = u128::from(footer.data_page_count);
    ensure(
        runs >= 1,
        kind,
        "data_page_count",
        Expected::AtLeast(1),
        runs,
        FOOTER_DATA_PAGE_COUNT_OFFSET,
    )?;
    let records = u128::from(footer.record_count);
    ensure(
        records >= runs,
        kind,
        "record_count",
        Expected::AtLeast(runs),
        records,
        FOOTER_RECORD_COUNT_OFFSET,
    )?;
    let expected = Expected::AtLeast(footer.min_key);
    ensure(
        footer.max_key >= footer.min_key,
        kind,
        "max_key",
        expected,
        footer.max_key,
        FOOTER_MAX_KEY_OFFSET,
    )?;
    let (min_revision, max_revision) = (footer.min_revision.0, footer.max_revision.0);
    let expected = Expected::AtLeast(u128::from(min_revision));
    ensure(
        max_revision >= min_revision,
        kind,
        "max_revision",
        expected,
        u128::from(max_revision),
        FOOTER_MAX_REVISION_OFFSET,
    )?;
    validate_footer_layout(footer)
}

/// The placement of the index and the block length.
fn validate_footer_layout(footer: &BlockFooter) -> Result<(), DecodeError> {
    let kind = FileKind::BlockFooter;
    let page = u128::from(int::u64_from_usize(BLOCK_PAGE_BYTES));
    let runs = u128::from(footer.data_page_count);
    let index_offset = u128::from(footer.index_offset);
    let aligned = index_offset % page == 0 && index_offset >= runs * page;
    let expected = Expected::Describe("a multiple of 4096, >= 4096 * data_page_count");
    ensure(
        aligned,
        kind,
        "index_offset",
        expected,
        index_offset,
        FOOTER_INDEX_OFFSET_OFFSET,
    )?;
    let index_bytes = u128::from(footer.index_bytes);
    let entries = int::usize_from_u32(footer.data_page_count);
    let expected_index = int::u128_from_usize(index_encoded_bytes(entries));
    ensure(
        index_bytes == expected_index,
        kind,
        "index_bytes",
        Expected::Equal(expected_index),
        index_bytes,
        FOOTER_INDEX_BYTES_OFFSET,
    )?;
    let footer_bytes = int::u128_from_usize(BLOCK_FOOTER_BYTES);
    let block_bytes = u128::from(footer.block_bytes);
    let offset = FOOTER_BLOCK_BYTES_OFFSET;
    if footer.filter_checksum.is_none() {
        let expected_block = (index_offset + index_bytes + footer_bytes).div_ceil(page) * page;
        let expected = Expected::Equal(expected_block);
        let exact = block_bytes == expected_block;
        return ensure(exact, kind, "block_bytes", expected, block_bytes, offset);
    }
    // Version 2: the filter's length is in its own header, so the exact block length is
    // checked by the filter decoder; here the smallest filter must fit before the footer.
    let filter_min = int::u128_from_usize(FILTER_BYTES_MIN);
    let least = (index_offset + index_bytes + filter_min + footer_bytes).div_ceil(page) * page;
    let fits = block_bytes >= least && block_bytes % page == 0;
    let expected = Expected::Describe("a multiple of 4096 with room for index, filter, footer");
    ensure(fits, kind, "block_bytes", expected, block_bytes, offset)
}
