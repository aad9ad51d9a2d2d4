//! The recovery table of a version-2 log is a table: for every combination of
//! the state of a stamped frame's first sector and of one later sector, the reader lands in
//! exactly the row the table names (docs/format.md, "Recovery table for a log"). A sector is
//! either the frame's own (its stamp names the segment, the frame and its index), old content
//! a torn write left (zeros, one flipped bit in zeros, another segment's, index's or frame's
//! stamp), or damaged at rest (a flip in its stamp, its data or its padding).
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a panic is a test failure"
)]

use infinitedb_format::{
    Checksum, FRAME_PAYLOAD_BYTES_MAX, RecordKind, RecordRef, Revision, SECTOR_BYTES,
    SECTOR_STAMP_BYTES, SECTOR_STAMP_OFFSET, SectorStamp, SegmentId, SpaceId, StampedFrame,
    decode_stamped_frame, encode_stamped_frame,
};

const OURS: SegmentId = SegmentId(5);
const POSITION: usize = 4096;
const SECTORS: usize = 3;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum FirstSector {
    Own,
    Zeros,
    OneBit,
    OtherSegment,
    OtherIndex,
    StampFlip,
    HeaderFlip,
    HeaderChecksumFlip,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum LaterSector {
    Own,
    Zeros,
    OneBit,
    OtherSegment,
    OtherFrame,
    StampFlip,
    DataFlip,
    PaddingFlip,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Row {
    /// Apply the frame, continue after its sectors.
    Valid,
    /// A torn write: end of the log.
    Torn,
    /// Damage at rest: `Error::Corruption`.
    Damaged,
}

fn expected_row(first: FirstSector, later: LaterSector) -> Row {
    match (first, later) {
        (
            FirstSector::Zeros
            | FirstSector::OneBit
            | FirstSector::OtherSegment
            | FirstSector::OtherIndex,
            _,
        ) => Row::Torn,
        (FirstSector::StampFlip | FirstSector::HeaderFlip | FirstSector::HeaderChecksumFlip, _) => {
            Row::Damaged
        }
        (FirstSector::Own, LaterSector::Own) => Row::Valid,
        (
            FirstSector::Own,
            LaterSector::Zeros
            | LaterSector::OneBit
            | LaterSector::OtherSegment
            | LaterSector::OtherFrame,
        ) => Row::Torn,
        (
            FirstSector::Own,
            LaterSector::StampFlip | LaterSector::DataFlip | LaterSector::PaddingFlip,
        ) => Row::Damaged,
    }
}

/// A log image: a header page's worth of bytes, one three-sector frame at `POSITION`, then a
/// zero sector. Returns it with the frame's header checksum.
fn log() -> (Vec<u8>, Checksum) {
    let value = [0x33_u8; 1000];
    let records = [RecordRef {
        key: 9,
        revision: Revision(7),
        kind: RecordKind::Put,
        value: &value,
    }];
    let mut log = vec![0_u8; POSITION + (SECTORS + 1) * SECTOR_BYTES];
    let used = encode_stamped_frame(
        OURS,
        SpaceId(1),
        &records,
        POSITION as u64,
        &mut log[POSITION..],
    );
    assert_eq!(used, SECTORS * SECTOR_BYTES);
    let checksum = Checksum(u64::from_le_bytes(
        log[POSITION..POSITION + 8].try_into().unwrap(),
    ));
    (log, checksum)
}

/// Replaces the stamp of sector `index` of the frame with one naming `segment`, `frame` and
/// `sector_index`, valid at that sector's offset.
fn restamp(log: &mut [u8], index: usize, segment: SegmentId, frame: Checksum, sector_index: u32) {
    let offset = POSITION + index * SECTOR_BYTES;
    let stamp = SectorStamp {
        segment_id: segment,
        frame_checksum: frame,
        sector_index,
    };
    stamp.encode(
        offset as u64,
        &mut log[offset + SECTOR_STAMP_OFFSET..offset + SECTOR_BYTES],
    );
}

fn sector(log: &mut [u8], index: usize) -> &mut [u8] {
    let offset = POSITION + index * SECTOR_BYTES;
    &mut log[offset..offset + SECTOR_BYTES]
}

fn input(first: FirstSector, later: LaterSector) -> Vec<u8> {
    let (mut log, frame) = log();
    match first {
        FirstSector::Own => {}
        FirstSector::Zeros => sector(&mut log, 0).fill(0),
        FirstSector::OneBit => {
            sector(&mut log, 0).fill(0);
            sector(&mut log, 0)[300] = 0x04;
        }
        FirstSector::OtherSegment => restamp(&mut log, 0, SegmentId(4), frame, 0),
        FirstSector::OtherIndex => restamp(&mut log, 0, OURS, frame, 1),
        FirstSector::StampFlip => sector(&mut log, 0)[SECTOR_STAMP_OFFSET + 9] ^= 0x10,
        FirstSector::HeaderFlip => sector(&mut log, 0)[40] ^= 0x01,
        FirstSector::HeaderChecksumFlip => sector(&mut log, 0)[3] ^= 0x80,
    }
    let last = SECTORS - 1;
    match later {
        LaterSector::Own => {}
        LaterSector::Zeros => sector(&mut log, last).fill(0),
        LaterSector::OneBit => {
            sector(&mut log, last).fill(0);
            sector(&mut log, last)[SECTOR_BYTES - 1] = 0x80;
        }
        LaterSector::OtherSegment => restamp(&mut log, last, SegmentId(6), frame, 2),
        LaterSector::OtherFrame => restamp(&mut log, last, OURS, Checksum(frame.0 ^ 1), 2),
        LaterSector::StampFlip => {
            sector(&mut log, last)[SECTOR_STAMP_OFFSET + SECTOR_STAMP_BYTES - 1] ^= 0x02;
        }
        LaterSector::DataFlip => sector(&mut log, last)[10] ^= 0x20,
        LaterSector::PaddingFlip => sector(&mut log, last)[400] ^= 0x01,
    }
    log
}

fn row(result: &StampedFrame<'_>) -> Row {
    match result {
        StampedFrame::Valid { .. } => Row::Valid,
        StampedFrame::Torn(_) => Row::Torn,
        StampedFrame::Damaged(_) => Row::Damaged,
    }
}

#[test]
fn every_combination_lands_in_its_row() {
    // Goal: see module doc. Method: enumerate first × later sector states, read the frame.
    let firsts = [
        FirstSector::Own,
        FirstSector::Zeros,
        FirstSector::OneBit,
        FirstSector::OtherSegment,
        FirstSector::OtherIndex,
        FirstSector::StampFlip,
        FirstSector::HeaderFlip,
        FirstSector::HeaderChecksumFlip,
    ];
    let laters = [
        LaterSector::Own,
        LaterSector::Zeros,
        LaterSector::OneBit,
        LaterSector::OtherSegment,
        LaterSector::OtherFrame,
        LaterSector::StampFlip,
        LaterSector::DataFlip,
        LaterSector::PaddingFlip,
    ];
    let mut scratch = Vec::new();
    for first in firsts {
        for later in laters {
            let log = input(first, later);
            let result =
                decode_stamped_frame(&log, POSITION, OURS, FRAME_PAYLOAD_BYTES_MAX, &mut scratch);
            assert_eq!(
                row(&result),
                expected_row(first, later),
                "{first:?} × {later:?}: {result:?}"
            );
        }
    }
}

#[test]
fn every_bit_of_a_frame_flipped_is_damage_and_every_sector_subset_lost_is_a_tear() {
    // Goal: the two halves of the table hold exhaustively for one frame. Method: flip each
    // bit of the three sectors in turn (Damaged); replace each proper subset of the sectors
    // with zeros (Torn); keep all (Valid).
    let (pristine, _) = log();
    let mut scratch = Vec::new();
    for bit in 0..SECTORS * SECTOR_BYTES * 8 {
        let mut log = pristine.clone();
        log[POSITION + bit / 8] ^= 1 << (bit % 8);
        let result =
            decode_stamped_frame(&log, POSITION, OURS, FRAME_PAYLOAD_BYTES_MAX, &mut scratch);
        assert_eq!(row(&result), Row::Damaged, "bit {bit}: {result:?}");
    }
    for kept in 0_u32..1 << SECTORS {
        let mut log = pristine.clone();
        for index in 0..SECTORS {
            if kept & (1 << index) == 0 {
                sector(&mut log, index).fill(0);
            }
        }
        let result =
            decode_stamped_frame(&log, POSITION, OURS, FRAME_PAYLOAD_BYTES_MAX, &mut scratch);
        let expected = if kept == (1 << SECTORS) - 1 {
            Row::Valid
        } else {
            Row::Torn
        };
        assert_eq!(row(&result), expected, "kept {kept:#05b}: {result:?}");
    }
}
