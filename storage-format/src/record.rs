//! One record as stored inside a frame payload and inside a block data page.
//!
//! Owns: the record layout (`docs/format.md`, "Record"): a 32-byte fixed part followed by the
//! value. Invariants: the kind is `Put` (1) or `Delete` (2); a `Delete` has an empty value;
//! reserved bytes are zero; the value lies within the enclosing payload.

use crate::error::{DecodeError, Expected, FileKind};
use crate::ids::{Key, Revision};
use crate::int;
use crate::layout::{check_zero, ensure, read_u8, read_u32, read_u64, read_u128};

/// Offset of the key (`u128`).
pub const RECORD_KEY_OFFSET: usize = 0;
/// Offset of the revision (`u64`).
pub const RECORD_REVISION_OFFSET: usize = RECORD_KEY_OFFSET + 16;
/// Offset of the value length in bytes (`u32`).
pub const RECORD_VALUE_BYTES_OFFSET: usize = RECORD_REVISION_OFFSET + 8;
/// Offset of the kind (`u8`: 1 put, 2 delete).
pub const RECORD_KIND_OFFSET: usize = RECORD_VALUE_BYTES_OFFSET + 4;
/// Offset of three reserved zero bytes.
pub const RECORD_RESERVED_OFFSET: usize = RECORD_KIND_OFFSET + 1;
/// Size of a record's fixed part; the value follows.
pub const RECORD_HEADER_BYTES: usize = RECORD_RESERVED_OFFSET + 3;

const _: () = assert!(RECORD_HEADER_BYTES == 32);

/// Whether a record sets or removes its key's value.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// Sets the value (on disk: 1).
    Put,
    /// Removes the key; hides older revisions (on disk: 2).
    Delete,
}

impl RecordKind {
    /// The on-disk byte.
    #[must_use]
    pub fn to_byte(self) -> u8 {
        match self {
            Self::Put => 1,
            Self::Delete => 2,
        }
    }

    /// The kind of an on-disk byte, `None` for anything but 1 and 2.
    #[must_use]
    pub fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(Self::Put),
            2 => Some(Self::Delete),
            _ => None,
        }
    }
}

/// A record borrowed from its encoding or from the caller.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct RecordRef<'a> {
    /// The Hilbert key.
    pub key: Key,
    /// The revision that wrote it.
    pub revision: Revision,
    /// Put or delete.
    pub kind: RecordKind,
    /// The value; empty for a delete.
    pub value: &'a [u8],
}

impl RecordRef<'_> {
    /// The encoded size of this record: fixed part plus value.
    #[must_use]
    pub fn encoded_bytes(&self) -> usize {
        RECORD_HEADER_BYTES + self.value.len()
    }
}

/// Encodes `record` at `offset` of `out`; returns the offset after it.
///
/// Asserts that a delete carries no value and that the value length fits a `u32`: a violation
/// would write a record the decoder rejects.
pub(crate) fn encode_record(out: &mut [u8], offset: usize, record: &RecordRef<'_>) -> usize {
    assert!(
        record.kind == RecordKind::Put || record.value.is_empty(),
        "a delete record carries no value"
    );
    let value_bytes = int::u32_from_usize(record.value.len());
    assert!(
        value_bytes.is_some(),
        "record value longer than u32::MAX bytes"
    );
    let mut fixed = [0_u8; RECORD_HEADER_BYTES];
    int::write_u128(&mut fixed, RECORD_KEY_OFFSET, record.key);
    int::write_u64(&mut fixed, RECORD_REVISION_OFFSET, record.revision.0);
    int::write_u32(
        &mut fixed,
        RECORD_VALUE_BYTES_OFFSET,
        value_bytes.unwrap_or(0),
    );
    int::write_u8(&mut fixed, RECORD_KIND_OFFSET, record.kind.to_byte());
    int::write_bytes(out, offset, &fixed);
    int::write_bytes(out, offset + RECORD_HEADER_BYTES, record.value);
    offset + record.encoded_bytes()
}

/// The fixed part of a record: key, revision, value length, kind.
struct RecordFixed {
    key: Key,
    revision: Revision,
    value_bytes: usize,
    kind: RecordKind,
}

/// Decodes the fixed part of the record at `offset`; `payload` holds at least
/// `RECORD_HEADER_BYTES` from `offset`.
fn decode_record_fixed(payload: &[u8], offset: usize) -> Result<RecordFixed, DecodeError> {
    let kind_of = FileKind::Record;
    let key = read_u128(kind_of, "key", payload, offset + RECORD_KEY_OFFSET)?;
    let revision_offset = offset + RECORD_REVISION_OFFSET;
    let revision = Revision(read_u64(kind_of, "revision", payload, revision_offset)?);
    let value_offset = offset + RECORD_VALUE_BYTES_OFFSET;
    let value_bytes = read_u32(kind_of, "value_bytes", payload, value_offset)?;
    let kind_offset = offset + RECORD_KIND_OFFSET;
    let kind_byte = read_u8(kind_of, "kind", payload, kind_offset)?;
    let Some(kind) = RecordKind::from_byte(kind_byte) else {
        let expected = Expected::Describe("1 (put) or 2 (delete)");
        let found = u128::from(kind_byte);
        return Err(DecodeError::corrupt(
            kind_of,
            "kind",
            expected,
            found,
            kind_offset,
        ));
    };
    let reserved_offset = offset + RECORD_RESERVED_OFFSET;
    check_zero(kind_of, "reserved", payload, reserved_offset, 3)?;
    let value_bytes = int::usize_from_u32(value_bytes);
    Ok(RecordFixed {
        key,
        revision,
        value_bytes,
        kind,
    })
}

/// Decodes the record at `offset` of `payload`; returns it and the offset after it.
///
/// Errors are `Corrupt`: the caller has already verified the checksum covering `payload`,
/// so a record that does not fit or has an invalid field was written wrong or damaged.
pub(crate) fn decode_record(
    payload: &[u8],
    offset: usize,
) -> Result<(RecordRef<'_>, usize), DecodeError> {
    let kind_of = FileKind::Record;
    let fixed_end = offset.saturating_add(RECORD_HEADER_BYTES);
    let have = int::u128_from_usize(payload.len().saturating_sub(offset));
    let needed = Expected::AtLeast(int::u128_from_usize(RECORD_HEADER_BYTES));
    ensure(
        fixed_end <= payload.len(),
        kind_of,
        "bytes",
        needed,
        have,
        offset,
    )?;
    let fixed = decode_record_fixed(payload, offset)?;
    let value_offset = offset + RECORD_VALUE_BYTES_OFFSET;
    let remaining = payload.len() - fixed_end;
    let found = int::u128_from_usize(fixed.value_bytes);
    let at_most = Expected::AtMost(int::u128_from_usize(remaining));
    let fits = fixed.value_bytes <= remaining;
    ensure(fits, kind_of, "value_bytes", at_most, found, value_offset)?;
    let empty = Expected::Describe("0 for a delete");
    let delete_ok = fixed.kind == RecordKind::Put || fixed.value_bytes == 0;
    ensure(
        delete_ok,
        kind_of,
        "value_bytes",
        empty,
        found,
        value_offset,
    )?;
    let end = fixed_end + fixed.value_bytes;
    let value = payload.get(fixed_end..end).unwrap_or_default();
    let RecordFixed {
        key,
        revision,
        kind,
        ..
    } = fixed;
    Ok((
        RecordRef {
            key,
            revision,
            kind,
            value,
        },
        end,
    ))
}

/// Iterates over records already validated by a decoder: infallible by construction.
#[derive(Clone, Debug)]
pub(crate) struct ValidatedRecords<'a> {
    payload: &'a [u8],
    offset: usize,
    remaining_count: usize,
}

impl<'a> ValidatedRecords<'a> {
    /// Iterates `count` records of `payload`, which a decoder has validated.
    pub(crate) fn new(payload: &'a [u8], count: usize) -> Self {
        Self {
            payload,
            offset: 0,
            remaining_count: count,
        }
    }
}

impl<'a> Iterator for ValidatedRecords<'a> {
    type Item = RecordRef<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining_count == 0 {
            return None;
        }
        let decoded = decode_record(self.payload, self.offset);
        debug_assert!(decoded.is_ok(), "validated records decode");
        let (record, end) = decoded.ok()?;
        self.offset = end;
        self.remaining_count -= 1;
        Some(record)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.remaining_count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_pinned() {
        // Goal: the record layout matches docs/format.md. Method: compare every offset.
        assert_eq!(RECORD_KEY_OFFSET, 0);
        assert_eq!(RECORD_REVISION_OFFSET, 16);
        assert_eq!(RECORD_VALUE_BYTES_OFFSET, 24);
        assert_eq!(RECORD_KIND_OFFSET, 28);
        assert_eq!(RECORD_RESERVED_OFFSET, 29);
        assert_eq!(RECORD_HEADER_BYTES, 32);
    }

    #[test]
    fn round_trip_and_field_errors() {
        // Goal: a record decodes to itself; a bad kind or a delete with a value is corrupt.
        // Method: encode, decode, then damage single fields.
        let record = RecordRef {
            key: 7 << 100,
            revision: Revision(9),
            kind: RecordKind::Put,
            value: b"v1",
        };
        let mut out = vec![0_u8; record.encoded_bytes()];
        assert_eq!(encode_record(&mut out, 0, &record), out.len());
        assert_eq!(decode_record(&out, 0).unwrap(), (record, out.len()));
        let mut bad_kind = out.clone();
        bad_kind[RECORD_KIND_OFFSET] = 3;
        assert_eq!(decode_record(&bad_kind, 0).unwrap_err().field(), "kind");
        let mut delete_with_value = out.clone();
        delete_with_value[RECORD_KIND_OFFSET] = 2;
        assert_eq!(
            decode_record(&delete_with_value, 0).unwrap_err().field(),
            "value_bytes"
        );
        assert_eq!(
            decode_record(&out[..out.len() - 1], 0).unwrap_err().field(),
            "value_bytes"
        );
    }
}
