//! Stamped frames: the frame layout of a version-2 log (`docs/format.md`, "Stamped sectors").
//!
//! Owns: the sector stamp layout, the spreading of a frame's bytes over stamped sectors, and
//! the reader that classifies the frame at a log position as valid, torn or damaged.
//! Invariants: a stamped frame starts on a [`SECTOR_BYTES`] boundary and occupies
//! [`stamped_frame_bytes`] bytes (whole sectors); sector `i` of a frame holds bytes
//! `488 i .. 488 (i + 1)` of the frame as [`crate::encode_frame`] writes it, then zeros up to
//! the stamp (last sector only), then a 24-byte stamp naming the segment, the frame (its
//! header checksum) and `i`, checked together with the sector's file offset.
//!
//! A torn write keeps or loses whole sectors, and a lost sector reads as what was there
//! before: zeros, or a sector of another frame whose valid stamp names another segment,
//! another frame or another index. A bit flip at rest leaves a stamp whose check fails, or a
//! frame whose sectors all carry its stamp but whose checksums fail. The reader tells the two
//! apart from the stamps alone, so a damaged last frame is never taken for a torn one.

use crate::checksum::Checksum;
use crate::error::{DecodeClass, DecodeError, Expected, FileKind};
use crate::frame::{
    FRAME_HEADER_BYTES, Frame, decode_frame, decode_frame_header, encode_frame_of_group,
};
use crate::ids::{SegmentId, SpaceId};
use crate::int;
use crate::record::RecordRef;

/// The unit a device writes atomically and a torn write keeps or loses whole.
pub const SECTOR_BYTES: usize = 512;
/// Offset of the stamp in each sector of a stamped frame.
pub const SECTOR_STAMP_OFFSET: usize = SECTOR_BYTES - SECTOR_STAMP_BYTES;
/// Bytes of the frame each sector holds (before its stamp).
pub const SECTOR_DATA_BYTES: usize = SECTOR_STAMP_OFFSET;
/// Offset, within the stamp, of the segment id (`u64`).
pub const STAMP_SEGMENT_ID_OFFSET: usize = 0;
/// Offset, within the stamp, of the frame's header checksum (`u64`).
pub const STAMP_FRAME_CHECKSUM_OFFSET: usize = STAMP_SEGMENT_ID_OFFSET + 8;
/// Offset, within the stamp, of the sector's index within its frame (`u32`).
pub const STAMP_SECTOR_INDEX_OFFSET: usize = STAMP_FRAME_CHECKSUM_OFFSET + 8;
/// Offset, within the stamp, of the check (`u32`): the low 32 bits of xxh3-64 over the
/// stamp's first 20 bytes followed by the sector's file offset (`u64`).
pub const STAMP_CHECK_OFFSET: usize = STAMP_SECTOR_INDEX_OFFSET + 4;
/// Size of a sector stamp.
pub const SECTOR_STAMP_BYTES: usize = 24;

const _: () = assert!(STAMP_CHECK_OFFSET + 4 == SECTOR_STAMP_BYTES);
const _: () = assert!(FRAME_HEADER_BYTES <= SECTOR_DATA_BYTES);
const _: () = assert!(crate::layout::PAGE_BYTES.is_multiple_of(SECTOR_BYTES));

/// The bytes a frame whose [`crate::frame_encoded_bytes`] is `frame_bytes` occupies in a
/// version-2 log: whole sectors. Writers (room in a log, chain buffers) and the reader use it.
#[must_use]
pub const fn stamped_frame_bytes(frame_bytes: usize) -> usize {
    frame_bytes.div_ceil(SECTOR_DATA_BYTES) * SECTOR_BYTES
}

/// The largest [`crate::frame_encoded_bytes`] whose stamped frame fits in `physical_bytes`.
#[must_use]
pub const fn stamped_frame_bytes_max(physical_bytes: usize) -> usize {
    physical_bytes / SECTOR_BYTES * SECTOR_DATA_BYTES
}

/// The stamp of one sector of a stamped frame.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct SectorStamp {
    /// The segment (log generation) the frame was written to.
    pub segment_id: SegmentId,
    /// The frame's header checksum: which frame wrote the sector.
    pub frame_checksum: Checksum,
    /// The sector's index within its frame.
    pub sector_index: u32,
}

impl SectorStamp {
    /// Encodes the stamp of the sector at file offset `sector_offset` into
    /// `out[..SECTOR_STAMP_BYTES]`.
    ///
    /// # Panics
    /// If `out` is shorter than [`SECTOR_STAMP_BYTES`]: a caller bug.
    pub fn encode(&self, sector_offset: u64, out: &mut [u8]) {
        assert!(
            out.len() >= SECTOR_STAMP_BYTES,
            "stamp buffer shorter than {SECTOR_STAMP_BYTES}"
        );
        int::write_u64(out, STAMP_SEGMENT_ID_OFFSET, self.segment_id.0);
        int::write_u64(out, STAMP_FRAME_CHECKSUM_OFFSET, self.frame_checksum.0);
        int::write_u32(out, STAMP_SECTOR_INDEX_OFFSET, self.sector_index);
        let check = stamp_check(out, sector_offset);
        int::write_u32(out, STAMP_CHECK_OFFSET, check);
    }

    /// Decodes the stamp in `stamp[..SECTOR_STAMP_BYTES]` of the sector at file offset
    /// `sector_offset`.
    ///
    /// # Errors
    /// `Incomplete` if `stamp` is short; `Corrupt` if the check does not match (the stamp or
    /// the sector's offset is not what was written). Offsets are relative to `stamp`.
    pub fn decode(stamp: &[u8], sector_offset: u64) -> Result<SectorStamp, DecodeError> {
        let kind = FileKind::SectorStamp;
        let Some(stamp) = stamp.get(..SECTOR_STAMP_BYTES) else {
            return Err(DecodeError::incomplete(
                kind,
                "bytes",
                SECTOR_STAMP_BYTES,
                stamp.len(),
            ));
        };
        let stored = int::read_u32(stamp, STAMP_CHECK_OFFSET).unwrap_or_default();
        let computed = stamp_check(stamp, sector_offset);
        if stored != computed {
            let expected = Expected::Equal(u128::from(computed));
            return Err(DecodeError::corrupt(
                kind,
                "check",
                expected,
                u128::from(stored),
                STAMP_CHECK_OFFSET,
            ));
        }
        Ok(SectorStamp {
            segment_id: SegmentId(int::read_u64(stamp, STAMP_SEGMENT_ID_OFFSET).unwrap_or(0)),
            frame_checksum: Checksum(
                int::read_u64(stamp, STAMP_FRAME_CHECKSUM_OFFSET).unwrap_or(0),
            ),
            sector_index: int::read_u32(stamp, STAMP_SECTOR_INDEX_OFFSET).unwrap_or(0),
        })
    }
}

/// The check of a stamp whose first 20 bytes are `stamp[..20]`, at file offset `offset`.
fn stamp_check(stamp: &[u8], sector_offset: u64) -> u32 {
    let mut covered = [0_u8; STAMP_CHECK_OFFSET + 8];
    int::write_bytes(
        &mut covered,
        0,
        stamp.get(..STAMP_CHECK_OFFSET).unwrap_or_default(),
    );
    int::write_u64(&mut covered, STAMP_CHECK_OFFSET, sector_offset);
    u32::try_from(Checksum::of(&covered).0 & u64::from(u32::MAX)).unwrap_or(0)
}

/// Encodes one frame as a stamped frame written at file offset `file_offset` (a sector
/// boundary) into the start of `out`; returns the bytes used, [`stamped_frame_bytes`] of the
/// frame. Allocates nothing: the frame is encoded in place, then its sectors are spread from
/// the last one back.
///
/// # Panics
/// As [`crate::encode_frame`]; also if `file_offset` is not a multiple of [`SECTOR_BYTES`] or `out`
/// is shorter than the stamped frame: caller bugs.
pub fn encode_stamped_frame(
    segment_id: SegmentId,
    space_id: SpaceId,
    records: &[RecordRef<'_>],
    file_offset: u64,
    out: &mut [u8],
) -> usize {
    encode_stamped_frame_of_group(segment_id, space_id, None, records, file_offset, out)
}

/// Encodes a frame as [`encode_stamped_frame`], as the frame `group` says of a group when it
/// is `Some` ([`crate::encode_frame_of_group`]).
///
/// # Panics
/// As [`encode_stamped_frame`] and [`crate::encode_frame_of_group`].
pub fn encode_stamped_frame_of_group(
    segment_id: SegmentId,
    space_id: SpaceId,
    group: Option<crate::FrameGroup>,
    records: &[RecordRef<'_>],
    file_offset: u64,
    out: &mut [u8],
) -> usize {
    assert!(
        file_offset.is_multiple_of(SECTOR_BYTES as u64),
        "a stamped frame starts on a sector boundary"
    );
    let frame_bytes = crate::frame::frame_encoded_bytes(records);
    let physical_bytes = stamped_frame_bytes(frame_bytes);
    assert!(
        out.len() >= physical_bytes,
        "stamped frame buffer {} < {physical_bytes}",
        out.len()
    );
    let written = encode_frame_of_group(segment_id, space_id, group, records, out);
    debug_assert_eq!(written, frame_bytes);
    let frame_checksum = Checksum(int::read_u64(out, 0).unwrap_or(0));
    let sectors = physical_bytes / SECTOR_BYTES;
    for index in (0..sectors).rev() {
        let from = index * SECTOR_DATA_BYTES;
        let to = (from + SECTOR_DATA_BYTES).min(frame_bytes);
        let sector = index * SECTOR_BYTES;
        out.copy_within(from..to, sector);
        let data_end = sector + (to - from);
        if let Some(padding) = out.get_mut(data_end..sector + SECTOR_STAMP_OFFSET) {
            padding.fill(0);
        }
        let stamp = SectorStamp {
            segment_id,
            frame_checksum,
            sector_index: int::u32_from_usize(index).unwrap_or(u32::MAX),
        };
        let sector_offset = file_offset + int::u64_from_usize(sector);
        if let Some(slot) = out.get_mut(sector + SECTOR_STAMP_OFFSET..sector + SECTOR_BYTES) {
            stamp.encode(sector_offset, slot);
        }
    }
    physical_bytes
}

/// What the reader found at a position of a version-2 log.
#[derive(Debug)]
pub enum StampedFrame<'a> {
    /// A frame of the segment, every sector written by it; the next frame starts
    /// `physical_bytes` further on.
    Valid {
        /// The decoded frame (borrowing the reader's scratch buffer).
        frame: Frame<'a>,
        /// The bytes the frame occupies in the log ([`stamped_frame_bytes`]).
        physical_bytes: usize,
    },
    /// No frame of this segment was written whole here: a sector holds what was there before
    /// (zeros, or another segment's, frame's or index's stamp). The end of the log.
    Torn(DecodeError),
    /// A sector written by this frame was changed at rest: a stamp's check fails, or every
    /// sector carries the frame's stamp and a checksum or field of the frame fails.
    Damaged(DecodeError),
}

/// How one sector relates to the frame being read.
enum Sector {
    /// Its stamp names the segment, the frame (when known) and the expected index.
    Written(SectorStamp),
    /// It holds what was there before the frame: zeros, or another sector's stamp.
    Old(DecodeError),
    /// Its stamp's check fails, and it is not a zero sector with one flipped bit.
    Damaged(DecodeError),
}

/// Classifies the sector at file offset `offset` of `log` (which starts at file offset 0)
/// for sector `index` of a frame of `segment` (of the frame with header checksum `frame`,
/// when known).
fn classify_sector(
    log: &[u8],
    offset: usize,
    segment: SegmentId,
    frame: Option<Checksum>,
    index: u32,
) -> Sector {
    let kind = FileKind::SectorStamp;
    let Some(sector) = offset
        .checked_add(SECTOR_BYTES)
        .and_then(|end| log.get(offset..end))
    else {
        return Sector::Old(DecodeError::incomplete(
            kind,
            "sector",
            offset.saturating_add(SECTOR_BYTES),
            log.len(),
        ));
    };
    let set_bits: u32 = sector.iter().map(|byte| byte.count_ones()).sum();
    let stamp_bytes = sector.get(SECTOR_STAMP_OFFSET..).unwrap_or_default();
    let stamp = match SectorStamp::decode(stamp_bytes, int::u64_from_usize(offset)) {
        Ok(stamp) => stamp,
        Err(_) if set_bits <= 1 => {
            let expected = Expected::Describe("a written sector, not zeros");
            let error = DecodeError::new(
                DecodeClass::Incomplete,
                kind,
                "sector",
                expected,
                u128::from(set_bits),
                offset,
            );
            return Sector::Old(error);
        }
        Err(error) => return Sector::Damaged(error.at_base(offset + SECTOR_STAMP_OFFSET)),
    };
    let stamp_at = offset + SECTOR_STAMP_OFFSET;
    if stamp.segment_id != segment {
        let error = DecodeError::new(
            DecodeClass::Foreign {
                found: stamp.segment_id,
            },
            kind,
            "segment_id",
            Expected::Equal(u128::from(segment.0)),
            u128::from(stamp.segment_id.0),
            stamp_at + STAMP_SEGMENT_ID_OFFSET,
        );
        return Sector::Old(error);
    }
    if stamp.sector_index != index {
        let error = DecodeError::new(
            DecodeClass::Incomplete,
            kind,
            "sector_index",
            Expected::Equal(u128::from(index)),
            u128::from(stamp.sector_index),
            stamp_at + STAMP_SECTOR_INDEX_OFFSET,
        );
        return Sector::Old(error);
    }
    if let Some(frame) = frame
        && stamp.frame_checksum != frame
    {
        let error = DecodeError::new(
            DecodeClass::Incomplete,
            kind,
            "frame_checksum",
            Expected::Equal(u128::from(frame.0)),
            u128::from(stamp.frame_checksum.0),
            stamp_at + STAMP_FRAME_CHECKSUM_OFFSET,
        );
        return Sector::Old(error);
    }
    Sector::Written(stamp)
}

/// The file offset of byte `logical` of the stamped frame at `position`.
fn physical_offset(position: usize, logical: u64) -> usize {
    let logical = usize::try_from(logical).unwrap_or(usize::MAX);
    let sector = logical / SECTOR_DATA_BYTES;
    position
        .saturating_add(sector.saturating_mul(SECTOR_BYTES))
        .saturating_add(logical % SECTOR_DATA_BYTES)
}

/// Reads the stamped frame at file offset `position` of the version-2 log `log` (the whole
/// file, from offset 0), whose frames carry `segment`. The frame's bytes are gathered into
/// `scratch` (cleared first; it grows to at most `64 + payload_bytes_max` bytes, and only
/// after the header verified). Error offsets are file offsets.
///
/// Rules, in order (`docs/format.md`, "Recovery table for a version-2 log"):
/// 1. sector 0 is zeros (or one set bit), past the end, or stamped for another segment or
///    index: `Torn`; its stamp's check fails: `Damaged`;
/// 2. the stamp names this segment and index 0, so the sector is this frame's: its header
///    must hold the stamp's frame checksum and decode, else `Damaged`;
/// 3. any later sector of the frame's length that is not stamped for this segment, frame and
///    index: `Torn`; otherwise any whose stamp's check fails: `Damaged`;
/// 4. every sector is the frame's: the frame must decode and the last sector's padding be
///    zero, else `Damaged`.
pub fn decode_stamped_frame<'s>(
    log: &[u8],
    position: usize,
    segment: SegmentId,
    payload_bytes_max: u32,
    scratch: &'s mut Vec<u8>,
) -> StampedFrame<'s> {
    let (frame_checksum, frame_bytes) =
        match stamped_frame_extent(log, position, segment, payload_bytes_max) {
            Ok(extent) => extent,
            Err(verdict) => return verdict,
        };
    let physical_bytes = stamped_frame_bytes(frame_bytes);
    let sectors = physical_bytes / SECTOR_BYTES;
    let mut damaged = None;
    for index in 1..sectors {
        let offset = position + index * SECTOR_BYTES;
        let index = int::u32_from_usize(index).unwrap_or(u32::MAX);
        match classify_sector(log, offset, segment, Some(frame_checksum), index) {
            Sector::Written(_) => {}
            Sector::Old(error) => return StampedFrame::Torn(error),
            Sector::Damaged(error) => {
                damaged.get_or_insert(error);
            }
        }
    }
    if let Some(error) = damaged {
        return StampedFrame::Damaged(error);
    }
    let padding_damaged = gather_frame(log, position, frame_bytes, scratch);
    let scratch: &'s Vec<u8> = scratch;
    match decode_frame(scratch, segment, payload_bytes_max) {
        Ok(frame) => match padding_damaged {
            Some(error) => StampedFrame::Damaged(error),
            None => StampedFrame::Valid {
                frame,
                physical_bytes,
            },
        },
        Err(error) => {
            let at = physical_offset(position, error.offset());
            StampedFrame::Damaged(error.at_offset(at))
        }
    }
}

/// Rules 1 and 2 of [`decode_stamped_frame`]: the frame's checksum (from sector 0's stamp)
/// and its encoded length (from its verified header), or the verdict.
fn stamped_frame_extent(
    log: &[u8],
    position: usize,
    segment: SegmentId,
    payload_bytes_max: u32,
) -> Result<(Checksum, usize), StampedFrame<'static>> {
    if !position.is_multiple_of(SECTOR_BYTES) {
        let expected = Expected::Describe("a sector boundary");
        let found = int::u128_from_usize(position);
        let kind = FileKind::SectorStamp;
        return Err(StampedFrame::Damaged(DecodeError::corrupt(
            kind, "position", expected, found, position,
        )));
    }
    let first = match classify_sector(log, position, segment, None, 0) {
        Sector::Written(stamp) => stamp,
        Sector::Old(error) => return Err(StampedFrame::Torn(error)),
        Sector::Damaged(error) => return Err(StampedFrame::Damaged(error)),
    };
    let sector = log
        .get(position..position + SECTOR_DATA_BYTES)
        .unwrap_or_default();
    let stored = int::read_u64(sector, 0).unwrap_or(0);
    if stored != first.frame_checksum.0 {
        let expected = Expected::Equal(u128::from(first.frame_checksum.0));
        return Err(StampedFrame::Damaged(DecodeError::corrupt(
            FileKind::Frame,
            "header_checksum",
            expected,
            u128::from(stored),
            position,
        )));
    }
    match decode_frame_header(sector, segment, payload_bytes_max) {
        Ok(header) => Ok((
            first.frame_checksum,
            FRAME_HEADER_BYTES + int::usize_from_u32(header.payload_bytes),
        )),
        Err(error) => Err(StampedFrame::Damaged(error.at_base(position))),
    }
}

/// Copies the `frame_bytes` bytes of the stamped frame at `position` into `scratch`
/// (cleared first); returns the error for non-zero padding in its last sector, if any.
fn gather_frame(
    log: &[u8],
    position: usize,
    frame_bytes: usize,
    scratch: &mut Vec<u8>,
) -> Option<DecodeError> {
    scratch.clear();
    scratch.reserve(frame_bytes);
    let mut padding_damaged = None;
    let sectors = stamped_frame_bytes(frame_bytes) / SECTOR_BYTES;
    for index in 0..sectors {
        let from = position + index * SECTOR_BYTES;
        let take = (frame_bytes - index * SECTOR_DATA_BYTES).min(SECTOR_DATA_BYTES);
        scratch.extend_from_slice(log.get(from..from + take).unwrap_or_default());
        let padding = log
            .get(from + take..from + SECTOR_STAMP_OFFSET)
            .unwrap_or_default();
        if !int::is_all_zero(padding) && padding_damaged.is_none() {
            padding_damaged = Some(DecodeError::corrupt(
                FileKind::SectorStamp,
                "padding",
                Expected::Describe("zero"),
                1,
                from + take,
            ));
        }
    }
    padding_damaged
}

/// The file offset of the first valid stamped frame of `segment` at a sector boundary at or
/// after `from` in `log`, if any. Costs one stamp check per sector, and a frame decode only
/// where a sector is stamped as the first of a frame of `segment`.
#[must_use]
pub fn find_stamped_frame_after(
    log: &[u8],
    from: usize,
    segment: SegmentId,
    payload_bytes_max: u32,
) -> Option<usize> {
    let mut scratch = Vec::new();
    let mut offset = from.div_ceil(SECTOR_BYTES).checked_mul(SECTOR_BYTES)?;
    while offset.checked_add(SECTOR_BYTES)? <= log.len() {
        if let Sector::Written(_) = classify_sector(log, offset, segment, None, 0)
            && let StampedFrame::Valid { .. } =
                decode_stamped_frame(log, offset, segment, payload_bytes_max, &mut scratch)
        {
            return Some(offset);
        }
        offset += SECTOR_BYTES;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{FRAME_PAYLOAD_BYTES_MAX, encode_frame, frame_encoded_bytes};
    use crate::ids::Revision;
    use crate::record::RecordKind;

    #[test]
    fn offsets_are_pinned() {
        // Goal: the stamped sector matches docs/format.md. Method: compare every offset.
        assert_eq!(SECTOR_BYTES, 512);
        assert_eq!(SECTOR_DATA_BYTES, 488);
        assert_eq!(SECTOR_STAMP_OFFSET, 488);
        assert_eq!(STAMP_SEGMENT_ID_OFFSET, 0);
        assert_eq!(STAMP_FRAME_CHECKSUM_OFFSET, 8);
        assert_eq!(STAMP_SECTOR_INDEX_OFFSET, 16);
        assert_eq!(STAMP_CHECK_OFFSET, 20);
        assert_eq!(SECTOR_STAMP_BYTES, 24);
        assert_eq!(stamped_frame_bytes(1), 512);
        assert_eq!(stamped_frame_bytes(488), 512);
        assert_eq!(stamped_frame_bytes(489), 1024);
        assert_eq!(stamped_frame_bytes_max(1024), 976);
        assert_eq!(stamped_frame_bytes(stamped_frame_bytes_max(4096)), 4096);
    }

    #[test]
    fn stamp_round_trip_and_check() {
        // Goal: a stamp round-trips at its offset, and its check catches a changed field, a
        // changed check and a sector read at another offset. Method: encode, decode, flip
        // every bit one at a time, decode at a neighbouring offset.
        let stamp = SectorStamp {
            segment_id: SegmentId(9),
            frame_checksum: Checksum(0x1234_5678_9abc_def0),
            sector_index: 3,
        };
        let mut bytes = [0_u8; SECTOR_STAMP_BYTES];
        stamp.encode(8192, &mut bytes);
        assert_eq!(SectorStamp::decode(&bytes, 8192).unwrap(), stamp);
        assert_eq!(int::read_u64(&bytes, 0), Some(9));
        assert_eq!(int::read_u32(&bytes, 16), Some(3));
        let misplaced = SectorStamp::decode(&bytes, 8704).unwrap_err();
        assert_eq!(misplaced.class(), DecodeClass::Corrupt);
        for bit in 0..SECTOR_STAMP_BYTES * 8 {
            let mut flipped = bytes;
            flipped[bit / 8] ^= 1 << (bit % 8);
            let error = SectorStamp::decode(&flipped, 8192).unwrap_err();
            assert_eq!(error.field(), "check", "bit {bit}");
        }
        assert_eq!(
            SectorStamp::decode(&bytes[..23], 8192).unwrap_err().class(),
            DecodeClass::Incomplete
        );
    }

    #[test]
    fn spread_frame_reads_back_and_sectors_carry_their_stamps() {
        // Goal: a frame spanning several sectors is laid out as documented: 488 frame bytes
        // per sector, zero padding, stamps with index i and the header checksum; it reads
        // back. Method: encode into a buffer full of 0xEE, compare with the logical frame.
        let value = [7_u8; 1000];
        let records = [RecordRef {
            key: 5,
            revision: Revision(11),
            kind: RecordKind::Put,
            value: &value,
        }];
        let logical_bytes = frame_encoded_bytes(&records);
        let mut logical = vec![0_u8; logical_bytes];
        encode_frame(SegmentId(4), SpaceId(2), &records, &mut logical);
        let position = 4096;
        let mut log = vec![0xEE_u8; position + 4096];
        let used = encode_stamped_frame(
            SegmentId(4),
            SpaceId(2),
            &records,
            position as u64,
            &mut log[position..],
        );
        assert_eq!(used, stamped_frame_bytes(logical_bytes));
        assert_eq!(used, 3 * SECTOR_BYTES);
        for (index, chunk) in logical.chunks(SECTOR_DATA_BYTES).enumerate() {
            let sector = position + index * SECTOR_BYTES;
            assert_eq!(&log[sector..sector + chunk.len()], chunk);
            assert!(int::is_all_zero(
                &log[sector + chunk.len()..sector + SECTOR_STAMP_OFFSET]
            ));
            let stamp = SectorStamp::decode(
                &log[sector + SECTOR_STAMP_OFFSET..sector + SECTOR_BYTES],
                sector as u64,
            )
            .unwrap();
            assert_eq!(stamp.sector_index, u32::try_from(index).unwrap());
            assert_eq!(stamp.segment_id, SegmentId(4));
            assert_eq!(stamp.frame_checksum.0, int::read_u64(&logical, 0).unwrap());
        }
        let mut scratch = Vec::new();
        match decode_stamped_frame(
            &log,
            position,
            SegmentId(4),
            FRAME_PAYLOAD_BYTES_MAX,
            &mut scratch,
        ) {
            StampedFrame::Valid {
                frame,
                physical_bytes,
            } => {
                assert_eq!(physical_bytes, used);
                assert_eq!(frame.records().collect::<Vec<_>>(), records);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            find_stamped_frame_after(&log, 1, SegmentId(4), FRAME_PAYLOAD_BYTES_MAX),
            Some(position)
        );
        assert_eq!(
            find_stamped_frame_after(&log, position + 1, SegmentId(4), FRAME_PAYLOAD_BYTES_MAX),
            None
        );
    }
}
