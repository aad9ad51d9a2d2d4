//! One data page run of a block: a 32-byte header then records, zero-padded to a multiple of
//! 4096 bytes (`docs/format.md`, "Block data page").
//!
//! Owns: encoding a run's header and decoding a run. Invariants: the checksum covers bytes
//! 8..run_bytes (padding included); records are sorted `(key asc, revision desc)` without
//! duplicates; the run's first and last keys, record count, length and checksum equal its
//! index entry.

use super::index::PageLocation;
use crate::checksum::Checksum;
use crate::error::{DecodeError, Expected, FileKind};
use crate::int;
use crate::layout::{
    BLOCK_PAGE_MAGIC, FORMAT_VERSION, check_checksum, check_magic_version, check_zero,
};
use crate::layout::{ensure, read_u32};
use crate::record::{RecordRef, ValidatedRecords, decode_record};

/// Field offsets of a data page header.
pub(crate) mod offsets {
    /// Offset of the checksum (`u64`, xxh3-64 of bytes 8..run_bytes).
    pub const PAGE_CHECKSUM_OFFSET: usize = 0;
    /// Offset of the magic (`u32`, "IDBP").
    pub const PAGE_MAGIC_OFFSET: usize = PAGE_CHECKSUM_OFFSET + 8;
    /// Offset of the format version (`u16`).
    pub const PAGE_VERSION_OFFSET: usize = PAGE_MAGIC_OFFSET + 4;
    /// Offset of a reserved zero `u16`.
    pub const PAGE_RESERVED_A_OFFSET: usize = PAGE_VERSION_OFFSET + 2;
    /// Offset of the record count (`u32`).
    pub const PAGE_RECORD_COUNT_OFFSET: usize = PAGE_RESERVED_A_OFFSET + 2;
    /// Offset of the used length (`u32`: header plus records).
    pub const PAGE_USED_BYTES_OFFSET: usize = PAGE_RECORD_COUNT_OFFSET + 4;
    /// Offset of the run length (`u32`, a multiple of 4096).
    pub const PAGE_RUN_BYTES_OFFSET: usize = PAGE_USED_BYTES_OFFSET + 4;
    /// Offset of a reserved zero `u32`.
    pub const PAGE_RESERVED_B_OFFSET: usize = PAGE_RUN_BYTES_OFFSET + 4;
    /// Size of the header; records follow.
    pub const PAGE_HEADER_BYTES: usize = PAGE_RESERVED_B_OFFSET + 4;
}
pub(crate) use offsets::*;

const _: () = assert!(PAGE_HEADER_BYTES == 32);

/// A decoded data page borrowing its bytes; its records were validated while decoding.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct DataPage<'a> {
    records: &'a [u8],
    record_count: u32,
}

impl<'a> DataPage<'a> {
    /// The records in `(key asc, revision desc)` order. Infallible: validated by
    /// [`decode_page`].
    pub fn records(&self) -> impl Iterator<Item = RecordRef<'a>> + use<'a> {
        ValidatedRecords::new(self.records, int::usize_from_u32(self.record_count))
    }

    /// The number of records in the page.
    #[must_use]
    pub fn record_count(&self) -> u32 {
        self.record_count
    }
}

/// Writes a run's header into `run[..PAGE_HEADER_BYTES]` and its checksum; the records are
/// already in place after the header and the rest of `run` is zero. Returns the checksum.
pub(crate) fn encode_page_header(run: &mut [u8], record_count: u32, used_bytes: u32) -> Checksum {
    let run_bytes = int::u32_from_usize(run.len());
    assert!(run_bytes.is_some(), "page run longer than u32::MAX");
    debug_assert!(
        run.len().is_multiple_of(super::BLOCK_PAGE_BYTES),
        "runs are whole pages"
    );
    int::write_u32(run, PAGE_MAGIC_OFFSET, BLOCK_PAGE_MAGIC);
    int::write_u16(run, PAGE_VERSION_OFFSET, FORMAT_VERSION);
    int::write_u16(run, PAGE_RESERVED_A_OFFSET, 0);
    int::write_u32(run, PAGE_RECORD_COUNT_OFFSET, record_count);
    int::write_u32(run, PAGE_USED_BYTES_OFFSET, used_bytes);
    int::write_u32(run, PAGE_RUN_BYTES_OFFSET, run_bytes.unwrap_or(0));
    int::write_u32(run, PAGE_RESERVED_B_OFFSET, 0);
    let checksum = Checksum::of(run.get(PAGE_MAGIC_OFFSET..).unwrap_or_default());
    int::write_u64(run, PAGE_CHECKSUM_OFFSET, checksum.0);
    checksum
}

/// Decodes the data page run at the start of `bytes`, described by `location` (from the
/// block's index); verifies its checksum against both its header and the index entry.
///
/// Order: fewer than `location.bytes` bytes is `Incomplete`; a checksum mismatch is
/// `Corrupt`; then magic, version, and fields against `location` (`Corrupt`).
///
/// # Errors
/// A [`DecodeError`] naming the field; offsets are relative to `bytes`.
pub fn decode_page<'a>(
    bytes: &'a [u8],
    location: &PageLocation,
) -> Result<DataPage<'a>, DecodeError> {
    let kind = FileKind::BlockPage;
    let run_bytes = int::usize_from_u32(location.bytes);
    let Some(run) = bytes.get(..run_bytes) else {
        return Err(DecodeError::incomplete(
            kind,
            "bytes",
            run_bytes,
            bytes.len(),
        ));
    };
    let at_least = Expected::AtLeast(int::u128_from_usize(PAGE_HEADER_BYTES));
    let found = int::u128_from_usize(run_bytes);
    ensure(
        run_bytes >= PAGE_HEADER_BYTES,
        kind,
        "run_bytes",
        at_least,
        found,
        0,
    )?;
    let covered = run.get(PAGE_MAGIC_OFFSET..).unwrap_or_default();
    check_checksum(kind, "checksum", run, PAGE_CHECKSUM_OFFSET, covered)?;
    let stored = crate::layout::read_u64(kind, "checksum", run, PAGE_CHECKSUM_OFFSET)?;
    let expected = Expected::Equal(u128::from(location.checksum.0));
    ensure(
        stored == location.checksum.0,
        kind,
        "checksum",
        expected,
        u128::from(stored),
        0,
    )?;
    check_magic_version(kind, run, PAGE_MAGIC_OFFSET, BLOCK_PAGE_MAGIC)?;
    let (record_count, used_bytes) = decode_page_fields(run, location)?;
    let records = run.get(PAGE_HEADER_BYTES..used_bytes).unwrap_or_default();
    validate_page_records(records, record_count, location)
        .map_err(|error| error.at_base(PAGE_HEADER_BYTES))?;
    Ok(DataPage {
        records,
        record_count,
    })
}

/// The header fields of a run whose checksum matched: `(record_count, used_bytes)`.
fn decode_page_fields(run: &[u8], location: &PageLocation) -> Result<(u32, usize), DecodeError> {
    let kind = FileKind::BlockPage;
    check_zero(kind, "reserved", run, PAGE_RESERVED_A_OFFSET, 2)?;
    check_zero(kind, "reserved", run, PAGE_RESERVED_B_OFFSET, 4)?;
    let run_field = read_u32(kind, "run_bytes", run, PAGE_RUN_BYTES_OFFSET)?;
    let expected = Expected::Equal(u128::from(location.bytes));
    ensure(
        run_field == location.bytes,
        kind,
        "run_bytes",
        expected,
        u128::from(run_field),
        PAGE_RUN_BYTES_OFFSET,
    )?;
    let record_count = read_u32(kind, "record_count", run, PAGE_RECORD_COUNT_OFFSET)?;
    let expected = Expected::Equal(u128::from(location.record_count));
    let found = u128::from(record_count);
    ensure(
        record_count == location.record_count,
        kind,
        "record_count",
        expected,
        found,
        PAGE_RECORD_COUNT_OFFSET,
    )?;
    let used_bytes =
        int::usize_from_u32(read_u32(kind, "used_bytes", run, PAGE_USED_BYTES_OFFSET)?);
    let in_range = used_bytes >= PAGE_HEADER_BYTES && used_bytes <= run.len();
    let expected = Expected::Describe("32 <= used_bytes <= run_bytes");
    let found = int::u128_from_usize(used_bytes);
    ensure(
        in_range,
        kind,
        "used_bytes",
        expected,
        found,
        PAGE_USED_BYTES_OFFSET,
    )?;
    Ok((record_count, used_bytes))
}

/// Every record decodes, in order, with the index entry's first and last keys, filling the
/// used region exactly. Offsets are relative to `records`.
fn validate_page_records(
    records: &[u8],
    record_count: u32,
    location: &PageLocation,
) -> Result<(), DecodeError> {
    let kind = FileKind::BlockPage;
    let mut offset = 0;
    let mut previous: Option<RecordRef<'_>> = None;
    for _ in 0..record_count {
        let (record, end) = decode_record(records, offset)?;
        let key = record.key;
        let ordered = match previous {
            None => {
                let expected = Expected::Equal(location.first_key);
                ensure(
                    key == location.first_key,
                    kind,
                    "first_key",
                    expected,
                    key,
                    offset,
                )?;
                true
            }
            Some(before) => {
                key > before.key || (key == before.key && record.revision < before.revision)
            }
        };
        let expected = Expected::Describe("(key asc, revision desc), no duplicates");
        ensure(ordered, FileKind::Record, "key", expected, key, offset)?;
        previous = Some(record);
        offset = end;
    }
    let last_key = previous.map_or(0, |record| record.key);
    let expected = Expected::Equal(location.last_key);
    ensure(
        previous.is_some() && last_key == location.last_key,
        kind,
        "last_key",
        expected,
        last_key,
        offset,
    )?;
    let expected = Expected::Equal(int::u128_from_usize(records.len()));
    ensure(
        offset == records.len(),
        kind,
        "used_bytes",
        expected,
        int::u128_from_usize(offset),
        offset,
    )
}
