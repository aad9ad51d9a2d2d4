//! A frame: one group commit's records for one space, appended to a hot segment or the staging
//! log, or one space's part of a batch of several spaces, written to the staging log as one of
//! its [`FrameGroup`] (`docs/format.md`, "Frame").
//!
//! Owns: the frame layout, its encoder and its decoder. Invariants (asserted by the encoder,
//! checked as errors by the decoder): at least one record; revisions non-decreasing and within
//! `first_revision..=last_revision`; a frame of a group has an index below its group's frame
//! count (at least 2); `payload_bytes <= FRAME_PAYLOAD_BYTES_MAX`; the header
//! checksum covers header bytes 8..64 (which hold the payload checksum), the payload checksum
//! covers the payload. Decoding borrows its input and never allocates.

use crate::checksum::Checksum;
use crate::error::{DecodeClass, DecodeError, Expected, FileKind};
use crate::ids::{Revision, SegmentId, SpaceId};
use crate::int;
use crate::layout::{FORMAT_VERSION, FRAME_MAGIC, check_checksum, check_magic_version, check_zero};
use crate::layout::{ensure, read_u16, read_u32, read_u64};
use crate::record::{
    RECORD_HEADER_BYTES, RecordRef, ValidatedRecords, decode_record, encode_record,
};

/// Offset of the header checksum (`u64`, xxh3-64 of header bytes 8..64).
pub const FRAME_HEADER_CHECKSUM_OFFSET: usize = 0;
/// Offset of the payload checksum (`u64`, xxh3-64 of the payload).
pub const FRAME_PAYLOAD_CHECKSUM_OFFSET: usize = FRAME_HEADER_CHECKSUM_OFFSET + 8;
/// Offset of the magic (`u32`, "IDBF").
pub const FRAME_MAGIC_OFFSET: usize = FRAME_PAYLOAD_CHECKSUM_OFFSET + 8;
/// Offset of the format version (`u16`).
pub const FRAME_VERSION_OFFSET: usize = FRAME_MAGIC_OFFSET + 4;
/// Offset of the number of frames of the frame's group (`u16`; 0: not in a group).
pub const FRAME_GROUP_FRAMES_OFFSET: usize = FRAME_VERSION_OFFSET + 2;
/// Offset of the segment id (`u64`).
pub const FRAME_SEGMENT_ID_OFFSET: usize = FRAME_GROUP_FRAMES_OFFSET + 2;
/// Offset of the first revision (`u64`).
pub const FRAME_FIRST_REVISION_OFFSET: usize = FRAME_SEGMENT_ID_OFFSET + 8;
/// Offset of the last revision (`u64`).
pub const FRAME_LAST_REVISION_OFFSET: usize = FRAME_FIRST_REVISION_OFFSET + 8;
/// Offset of the space id (`u32`).
pub const FRAME_SPACE_ID_OFFSET: usize = FRAME_LAST_REVISION_OFFSET + 8;
/// Offset of the record count (`u32`).
pub const FRAME_RECORD_COUNT_OFFSET: usize = FRAME_SPACE_ID_OFFSET + 4;
/// Offset of the payload length in bytes (`u32`).
pub const FRAME_PAYLOAD_BYTES_OFFSET: usize = FRAME_RECORD_COUNT_OFFSET + 4;
/// Offset of the frame's index in its group (`u32`; 0 when not in a group).
pub const FRAME_GROUP_INDEX_OFFSET: usize = FRAME_PAYLOAD_BYTES_OFFSET + 4;
/// Size of a frame header; the payload (the records) follows.
pub const FRAME_HEADER_BYTES: usize = FRAME_GROUP_INDEX_OFFSET + 4;

/// The hard format cap on a frame's payload (64 MiB). Decoders take their own, possibly
/// smaller, maximum and check it before touching the payload.
pub const FRAME_PAYLOAD_BYTES_MAX: u32 = 64 * 1024 * 1024;

const _: () = assert!(FRAME_HEADER_BYTES == 64);
const _: () = assert!(FRAME_HEADER_BYTES.is_multiple_of(8));

/// Where a frame stands in the group of frames that carries batches of several spaces: one
/// frame per space, each with that space's records of the group's batches, written one after
/// the other in one write to the staging log. Recovery keeps the group's batches only if
/// every frame of it is valid (`docs/format.md`, "Frame groups").
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct FrameGroup {
    /// How many frames the group has (at least 2: one per space of the batch).
    pub frames: u16,
    /// This frame's place in the group, `0..frames`.
    pub index: u16,
}

/// The fixed fields of a frame.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct FrameHeader {
    /// The log file generation the frame was written to.
    pub segment_id: SegmentId,
    /// The space whose records the frame holds.
    pub space_id: SpaceId,
    /// The revision of the first record.
    pub first_revision: Revision,
    /// The revision of the last record.
    pub last_revision: Revision,
    /// The number of records (at least 1).
    pub record_count: u32,
    /// The payload length in bytes.
    pub payload_bytes: u32,
    /// The frame's group, if it carries one space's part of a batch of several spaces.
    pub group: Option<FrameGroup>,
}

/// A decoded frame borrowing its input; its records were validated while decoding.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The header fields.
    pub header: FrameHeader,
    /// The bytes the frame occupies: header plus payload. The next frame starts here.
    pub encoded_bytes: usize,
    payload: &'a [u8],
}

impl<'a> Frame<'a> {
    /// The records in log order. Infallible: every record was validated by [`decode_frame`].
    pub fn records(&self) -> impl Iterator<Item = RecordRef<'a>> + '_ {
        ValidatedRecords::new(self.payload, int::usize_from_u32(self.header.record_count))
    }
}

/// The bytes [`encode_frame`] writes for `records`.
#[must_use]
pub fn frame_encoded_bytes(records: &[RecordRef<'_>]) -> usize {
    FRAME_HEADER_BYTES + records.iter().map(RecordRef::encoded_bytes).sum::<usize>()
}

/// Encodes one frame into the start of `out`; returns the bytes used.
///
/// # Panics
/// These are caller bugs that would write a frame recovery rejects, so they are asserted:
/// `records` empty, revisions decreasing, a delete with a value, a payload over
/// [`FRAME_PAYLOAD_BYTES_MAX`], or `out` shorter than [`frame_encoded_bytes`].
pub fn encode_frame(
    segment_id: SegmentId,
    space_id: SpaceId,
    records: &[RecordRef<'_>],
    out: &mut [u8],
) -> usize {
    encode_frame_of_group(segment_id, space_id, None, records, out)
}

/// Encodes one frame as [`encode_frame`], as the frame `group` says of a group when it is
/// `Some` (`docs/format.md`, "Frame groups").
///
/// # Panics
/// As [`encode_frame`], and for a group of fewer than 2 frames or an index outside it.
pub fn encode_frame_of_group(
    segment_id: SegmentId,
    space_id: SpaceId,
    group: Option<FrameGroup>,
    records: &[RecordRef<'_>],
    out: &mut [u8],
) -> usize {
    let (Some(first), Some(last)) = (records.first(), records.last()) else {
        assert!(!records.is_empty(), "a frame holds at least one record");
        return 0;
    };
    let encoded_bytes = frame_encoded_bytes(records);
    assert!(
        out.len() >= encoded_bytes,
        "frame buffer {} < {encoded_bytes}",
        out.len()
    );
    let payload_bytes = int::u32_from_usize(encoded_bytes - FRAME_HEADER_BYTES)
        .filter(|&bytes| bytes <= FRAME_PAYLOAD_BYTES_MAX);
    assert!(
        payload_bytes.is_some(),
        "frame payload over FRAME_PAYLOAD_BYTES_MAX"
    );
    let record_count = int::u32_from_usize(records.len());
    assert!(record_count.is_some(), "frame record count over u32::MAX");
    let mut offset = FRAME_HEADER_BYTES;
    let mut previous = first.revision;
    for record in records {
        assert!(
            record.revision >= previous,
            "frame revisions are non-decreasing"
        );
        previous = record.revision;
        offset = encode_record(out, offset, record);
    }
    debug_assert_eq!(offset, encoded_bytes);
    if let Some(group) = group {
        assert!(
            group.frames >= 2 && group.index < group.frames,
            "a frame group has at least 2 frames, and the index is inside it"
        );
    }
    let header = FrameHeader {
        segment_id,
        space_id,
        first_revision: first.revision,
        last_revision: last.revision,
        record_count: record_count.unwrap_or(0),
        payload_bytes: payload_bytes.unwrap_or(0),
        group,
    };
    let payload_checksum = Checksum::of(
        out.get(FRAME_HEADER_BYTES..encoded_bytes)
            .unwrap_or_default(),
    );
    encode_frame_header(&header, payload_checksum, out);
    encoded_bytes
}

/// Writes the header fields and both checksums into `out[..FRAME_HEADER_BYTES]`.
fn encode_frame_header(header: &FrameHeader, payload_checksum: Checksum, out: &mut [u8]) {
    let mut fixed = [0_u8; FRAME_HEADER_BYTES];
    int::write_u64(
        &mut fixed,
        FRAME_PAYLOAD_CHECKSUM_OFFSET,
        payload_checksum.0,
    );
    int::write_u32(&mut fixed, FRAME_MAGIC_OFFSET, FRAME_MAGIC);
    int::write_u16(&mut fixed, FRAME_VERSION_OFFSET, FORMAT_VERSION);
    int::write_u64(&mut fixed, FRAME_SEGMENT_ID_OFFSET, header.segment_id.0);
    int::write_u64(
        &mut fixed,
        FRAME_FIRST_REVISION_OFFSET,
        header.first_revision.0,
    );
    int::write_u64(
        &mut fixed,
        FRAME_LAST_REVISION_OFFSET,
        header.last_revision.0,
    );
    int::write_u32(&mut fixed, FRAME_SPACE_ID_OFFSET, header.space_id.0);
    int::write_u32(&mut fixed, FRAME_RECORD_COUNT_OFFSET, header.record_count);
    int::write_u32(&mut fixed, FRAME_PAYLOAD_BYTES_OFFSET, header.payload_bytes);
    if let Some(group) = header.group {
        int::write_u16(&mut fixed, FRAME_GROUP_FRAMES_OFFSET, group.frames);
        int::write_u32(&mut fixed, FRAME_GROUP_INDEX_OFFSET, u32::from(group.index));
    }
    let header_checksum = Checksum::of(
        fixed
            .get(FRAME_PAYLOAD_CHECKSUM_OFFSET..)
            .unwrap_or_default(),
    );
    int::write_u64(&mut fixed, FRAME_HEADER_CHECKSUM_OFFSET, header_checksum.0);
    int::write_bytes(out, 0, &fixed);
}

/// Decodes the frame at the start of `bytes`, which belongs to segment `expected_segment`.
///
/// The checks run in this order (`docs/format.md`, "Decoding order and error classes"), so that each
/// class is decided on trustworthy fields:
/// 1. fewer than `FRAME_HEADER_BYTES` bytes, or an all-zero header: `Incomplete`;
/// 2. header checksum wrong: `Corrupt`; then magic (`BadMagic`) and version
///    (`UnsupportedVersion`);
/// 3. another segment id: `Foreign` (the payload is not looked at);
/// 4. header fields: `payload_bytes <= payload_bytes_max` (before any payload access),
///    `record_count >= 1`, `first_revision <= last_revision`, the group fields (no group:
///    both zero; a group: at least 2 frames, the index inside): `Corrupt`;
/// 5. fewer bytes than header plus payload: `Incomplete`;
/// 6. payload checksum wrong: `Corrupt`; then every record is validated: `Corrupt`.
///
/// # Errors
/// A [`DecodeError`] whose [`DecodeError::class`] is one of the above.
pub fn decode_frame(
    bytes: &[u8],
    expected_segment: SegmentId,
    payload_bytes_max: u32,
) -> Result<Frame<'_>, DecodeError> {
    let header = decode_frame_header(bytes, expected_segment, payload_bytes_max)?;
    let payload_bytes = int::usize_from_u32(header.payload_bytes);
    let encoded_bytes = FRAME_HEADER_BYTES + payload_bytes;
    let Some(payload) = bytes.get(FRAME_HEADER_BYTES..encoded_bytes) else {
        return Err(DecodeError::incomplete(
            FileKind::Frame,
            "payload_bytes",
            encoded_bytes,
            bytes.len(),
        ));
    };
    check_checksum(
        FileKind::Frame,
        "payload_checksum",
        bytes,
        FRAME_PAYLOAD_CHECKSUM_OFFSET,
        payload,
    )?;
    validate_frame_records(payload, &header).map_err(|error| error.at_base(FRAME_HEADER_BYTES))?;
    Ok(Frame {
        header,
        encoded_bytes,
        payload,
    })
}

/// Steps 1 to 4 of [`decode_frame`]: the header alone.
pub(crate) fn decode_frame_header(
    bytes: &[u8],
    expected_segment: SegmentId,
    payload_bytes_max: u32,
) -> Result<FrameHeader, DecodeError> {
    let kind = FileKind::Frame;
    let Some(fixed) = bytes.get(..FRAME_HEADER_BYTES) else {
        return Err(DecodeError::incomplete(
            kind,
            "bytes",
            FRAME_HEADER_BYTES,
            bytes.len(),
        ));
    };
    if int::is_all_zero(fixed) {
        let expected = Expected::Describe("a frame header, not zeros");
        return Err(DecodeError::new(
            DecodeClass::Incomplete,
            kind,
            "header",
            expected,
            0,
            0,
        ));
    }
    let covered = fixed
        .get(FRAME_PAYLOAD_CHECKSUM_OFFSET..)
        .unwrap_or_default();
    check_checksum(
        kind,
        "header_checksum",
        fixed,
        FRAME_HEADER_CHECKSUM_OFFSET,
        covered,
    )?;
    check_magic_version(kind, fixed, FRAME_MAGIC_OFFSET, FRAME_MAGIC)?;
    let segment_id = SegmentId(read_u64(
        kind,
        "segment_id",
        fixed,
        FRAME_SEGMENT_ID_OFFSET,
    )?);
    if segment_id != expected_segment {
        let class = DecodeClass::Foreign { found: segment_id };
        let expected = Expected::Equal(u128::from(expected_segment.0));
        let found = u128::from(segment_id.0);
        return Err(DecodeError::new(
            class,
            kind,
            "segment_id",
            expected,
            found,
            FRAME_SEGMENT_ID_OFFSET,
        ));
    }
    let header = read_header_fields(fixed, segment_id)?;
    validate_frame_header(&header, payload_bytes_max)?;
    Ok(header)
}

/// The header fields after the segment id, read as they are (step 4 checks them).
fn read_header_fields(fixed: &[u8], segment_id: SegmentId) -> Result<FrameHeader, DecodeError> {
    let kind = FileKind::Frame;
    Ok(FrameHeader {
        segment_id,
        space_id: SpaceId(read_u32(kind, "space_id", fixed, FRAME_SPACE_ID_OFFSET)?),
        first_revision: Revision(read_u64(
            kind,
            "first_revision",
            fixed,
            FRAME_FIRST_REVISION_OFFSET,
        )?),
        last_revision: Revision(read_u64(
            kind,
            "last_revision",
            fixed,
            FRAME_LAST_REVISION_OFFSET,
        )?),
        record_count: read_u32(kind, "record_count", fixed, FRAME_RECORD_COUNT_OFFSET)?,
        payload_bytes: read_u32(kind, "payload_bytes", fixed, FRAME_PAYLOAD_BYTES_OFFSET)?,
        group: decode_group(fixed)?,
    })
}

/// The group fields: both zero outside a group; in one, at least 2 frames and an index
/// inside them.
fn decode_group(fixed: &[u8]) -> Result<Option<FrameGroup>, DecodeError> {
    let kind = FileKind::Frame;
    let frames = read_u16(kind, "group_frames", fixed, FRAME_GROUP_FRAMES_OFFSET)?;
    let index = read_u32(kind, "group_index", fixed, FRAME_GROUP_INDEX_OFFSET)?;
    if frames == 0 {
        check_zero(kind, "group_index", fixed, FRAME_GROUP_INDEX_OFFSET, 4)?;
        return Ok(None);
    }
    ensure(
        frames >= 2,
        kind,
        "group_frames",
        Expected::AtLeast(2),
        u128::from(frames),
        FRAME_GROUP_FRAMES_OFFSET,
    )?;
    let inside = u16::try_from(index).ok().filter(|index| *index < frames);
    ensure(
        inside.is_some(),
        kind,
        "group_index",
        Expected::AtMost(u128::from(frames - 1)),
        u128::from(index),
        FRAME_GROUP_INDEX_OFFSET,
    )?;
    Ok(inside.map(|index| FrameGroup { frames, index }))
}

/// Step 4 of [`decode_frame`]: header fields that the checksum cannot vouch for.
fn validate_frame_header(header: &FrameHeader, payload_bytes_max: u32) -> Result<(), DecodeError> {
    let kind = FileKind::Frame;
    let max = payload_bytes_max.min(FRAME_PAYLOAD_BYTES_MAX);
    let payload_bytes = u128::from(header.payload_bytes);
    let at_most = Expected::AtMost(u128::from(max));
    ensure(
        header.payload_bytes <= max,
        kind,
        "payload_bytes",
        at_most,
        payload_bytes,
        FRAME_PAYLOAD_BYTES_OFFSET,
    )?;
    let count = u128::from(header.record_count);
    ensure(
        header.record_count >= 1,
        kind,
        "record_count",
        Expected::AtLeast(1),
        count,
        FRAME_RECORD_COUNT_OFFSET,
    )?;
    let fits = u128::from(header.record_count) * int::u128_from_usize(RECORD_HEADER_BYTES)
        <= payload_bytes;
    let describe = Expected::Describe("record_count * 32 <= payload_bytes");
    ensure(
        fits,
        kind,
        "record_count",
        describe,
        count,
        FRAME_RECORD_COUNT_OFFSET,
    )?;
    let first = header.first_revision.0;
    let at_least = Expected::AtLeast(u128::from(first));
    let last = u128::from(header.last_revision.0);
    ensure(
        header.last_revision.0 >= first,
        kind,
        "last_revision",
        at_least,
        last,
        FRAME_LAST_REVISION_OFFSET,
    )
}

/// Step 6 of [`decode_frame`]: every record decodes, the count and revision bounds match and
/// the records fill the payload exactly. Offsets are relative to the payload.
fn validate_frame_records(payload: &[u8], header: &FrameHeader) -> Result<(), DecodeError> {
    let kind = FileKind::Frame;
    let mut offset = 0;
    let mut previous = header.first_revision;
    let mut first = true;
    for _ in 0..header.record_count {
        let (record, end) = decode_record(payload, offset)?;
        let revision = u128::from(record.revision.0);
        if first {
            let expected = Expected::Equal(u128::from(header.first_revision.0));
            ensure(
                record.revision == header.first_revision,
                kind,
                "first_revision",
                expected,
                revision,
                offset,
            )?;
            first = false;
        }
        let in_order = record.revision >= previous && record.revision <= header.last_revision;
        let expected = Expected::Describe("non-decreasing, <= last_revision");
        ensure(
            in_order,
            FileKind::Record,
            "revision",
            expected,
            revision,
            offset,
        )?;
        previous = record.revision;
        offset = end;
    }
    let expected = Expected::Equal(u128::from(header.last_revision.0));
    ensure(
        previous == header.last_revision,
        kind,
        "last_revision",
        expected,
        u128::from(previous.0),
        offset,
    )?;
    let expected = Expected::Equal(int::u128_from_usize(payload.len()));
    ensure(
        offset == payload.len(),
        kind,
        "payload_bytes",
        expected,
        int::u128_from_usize(offset),
        offset,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RecordKind;

    #[test]
    fn offsets_are_pinned() {
        // Goal: the frame header matches docs/format.md. Method: compare every offset.
        assert_eq!(FRAME_HEADER_CHECKSUM_OFFSET, 0);
        assert_eq!(FRAME_PAYLOAD_CHECKSUM_OFFSET, 8);
        assert_eq!(FRAME_MAGIC_OFFSET, 16);
        assert_eq!(FRAME_VERSION_OFFSET, 20);
        assert_eq!(FRAME_GROUP_FRAMES_OFFSET, 22);
        assert_eq!(FRAME_SEGMENT_ID_OFFSET, 24);
        assert_eq!(FRAME_FIRST_REVISION_OFFSET, 32);
        assert_eq!(FRAME_LAST_REVISION_OFFSET, 40);
        assert_eq!(FRAME_SPACE_ID_OFFSET, 48);
        assert_eq!(FRAME_RECORD_COUNT_OFFSET, 52);
        assert_eq!(FRAME_PAYLOAD_BYTES_OFFSET, 56);
        assert_eq!(FRAME_GROUP_INDEX_OFFSET, 60);
        assert_eq!(FRAME_HEADER_BYTES, 64);
    }

    #[test]
    fn round_trip_with_shared_revisions() {
        // Goal: a batch (records sharing a revision) round-trips and reports its extent.
        // Method: encode three records, two with one revision, into a larger zeroed buffer.
        let records = [
            RecordRef {
                key: 1,
                revision: Revision(5),
                kind: RecordKind::Put,
                value: b"a",
            },
            RecordRef {
                key: 2,
                revision: Revision(5),
                kind: RecordKind::Delete,
                value: b"",
            },
            RecordRef {
                key: 1,
                revision: Revision(6),
                kind: RecordKind::Put,
                value: b"bb",
            },
        ];
        let mut out = vec![0_u8; 4096];
        let used = encode_frame(SegmentId(3), SpaceId(4), &records, &mut out);
        assert_eq!(used, frame_encoded_bytes(&records));
        let frame = decode_frame(&out, SegmentId(3), FRAME_PAYLOAD_BYTES_MAX).unwrap();
        assert_eq!(frame.encoded_bytes, used);
        assert_eq!(frame.header.first_revision, Revision(5));
        assert_eq!(frame.header.last_revision, Revision(6));
        assert_eq!(frame.header.space_id, SpaceId(4));
        assert_eq!(frame.records().collect::<Vec<_>>(), records);
        let next = decode_frame(&out[used..], SegmentId(3), FRAME_PAYLOAD_BYTES_MAX).unwrap_err();
        assert_eq!(next.class(), DecodeClass::Incomplete);
        let foreign = decode_frame(&out, SegmentId(2), FRAME_PAYLOAD_BYTES_MAX).unwrap_err();
        assert_eq!(
            foreign.class(),
            DecodeClass::Foreign {
                found: SegmentId(3)
            }
        );
    }

    #[test]
    fn payload_over_the_callers_max_is_corrupt_before_reading_it() {
        // Goal: a length over the decoder's max is rejected from the header alone.
        // Method: decode a valid frame with a max one byte smaller than its payload, and
        // give only the header bytes so that reading the payload would be Incomplete.
        let records = [RecordRef {
            key: 1,
            revision: Revision(1),
            kind: RecordKind::Put,
            value: b"abc",
        }];
        let mut out = vec![0_u8; frame_encoded_bytes(&records)];
        encode_frame(SegmentId(1), SpaceId(1), &records, &mut out);
        let max = u32::try_from(out.len() - FRAME_HEADER_BYTES - 1).unwrap();
        let error = decode_frame(&out[..FRAME_HEADER_BYTES], SegmentId(1), max).unwrap_err();
        assert_eq!(error.class(), DecodeClass::Corrupt);
        assert_eq!(error.field(), "payload_bytes");
        assert_eq!(error.offset(), 56);
    }

    #[test]
    #[should_panic(expected = "non-decreasing")]
    fn encoder_rejects_decreasing_revisions() {
        // Goal: the encoder refuses a frame the decoder would reject. Method: revisions 2, 1.
        let records = [
            RecordRef {
                key: 1,
                revision: Revision(2),
                kind: RecordKind::Put,
                value: b"",
            },
            RecordRef {
                key: 1,
                revision: Revision(1),
                kind: RecordKind::Put,
                value: b"",
            },
        ];
        let mut out = vec![0_u8; 4096];
        encode_frame(SegmentId(1), SpaceId(1), &records, &mut out);
    }

    /// Rewrites header field bytes and re-seals the header checksum, as a writer that set
    /// them would.
    fn patch_header(out: &mut [u8], offset: usize, bytes: &[u8]) {
        out[offset..offset + bytes.len()].copy_from_slice(bytes);
        let checksum = Checksum::of(&out[FRAME_PAYLOAD_CHECKSUM_OFFSET..FRAME_HEADER_BYTES]);
        int::write_u64(out, FRAME_HEADER_CHECKSUM_OFFSET, checksum.0);
    }

    #[test]
    fn group_fields_round_trip_and_bad_ones_are_corrupt() {
        // Goal: a frame of a group says which; a frame outside one decodes with no group; group
        // fields that no encoder writes are `Corrupt`, even under a valid header checksum.
        // Method: encode one group frame, decode it, then patch its group fields one at a time.
        let records = [RecordRef {
            key: 9,
            revision: Revision(12),
            kind: RecordKind::Put,
            value: b"part",
        }];
        let group = FrameGroup {
            frames: 3,
            index: 2,
        };
        let mut out = vec![0_u8; 4096];
        encode_frame_of_group(SegmentId(2), SpaceId(5), Some(group), &records, &mut out);
        let frame = decode_frame(&out, SegmentId(2), FRAME_PAYLOAD_BYTES_MAX).unwrap();
        assert_eq!(frame.header.group, Some(group));
        let mut plain = vec![0_u8; 4096];
        encode_frame(SegmentId(2), SpaceId(5), &records, &mut plain);
        let frame = decode_frame(&plain, SegmentId(2), FRAME_PAYLOAD_BYTES_MAX).unwrap();
        assert_eq!(frame.header.group, None);

        let cases: [(usize, &[u8]); 4] = [
            (FRAME_GROUP_FRAMES_OFFSET, &1_u16.to_le_bytes()),
            (FRAME_GROUP_INDEX_OFFSET, &3_u32.to_le_bytes()),
            (FRAME_GROUP_INDEX_OFFSET, &0x1_0000_u32.to_le_bytes()),
            (FRAME_GROUP_FRAMES_OFFSET, &0_u16.to_le_bytes()),
        ];
        for (offset, bytes) in cases {
            let mut bad = out.clone();
            patch_header(&mut bad, offset, bytes);
            let error = decode_frame(&bad, SegmentId(2), FRAME_PAYLOAD_BYTES_MAX).unwrap_err();
            assert_eq!(error.class(), DecodeClass::Corrupt, "{offset} {bytes:?}");
        }
    }

    #[test]
    fn a_group_frame_holds_several_revisions() {
        // Goal: one space's records of several batches of a group share its frame. Method:
        // encode a group frame of two revisions and decode it.
        let records = [
            RecordRef {
                key: 1,
                revision: Revision(3),
                kind: RecordKind::Put,
                value: b"a",
            },
            RecordRef {
                key: 2,
                revision: Revision(4),
                kind: RecordKind::Put,
                value: b"b",
            },
        ];
        let group = FrameGroup {
            frames: 2,
            index: 0,
        };
        let mut out = vec![0_u8; 4096];
        encode_frame_of_group(SegmentId(1), SpaceId(1), Some(group), &records, &mut out);
        let frame = decode_frame(&out, SegmentId(1), FRAME_PAYLOAD_BYTES_MAX).unwrap();
        assert_eq!(frame.header.group, Some(group));
        assert_eq!(frame.records().collect::<Vec<_>>(), records);
    }
}
