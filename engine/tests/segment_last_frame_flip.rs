//! The last frame of a hot segment: a bit flipped at rest in an acknowledged frame fails the
//! open with `Error::Corruption`, and a torn write of an unacknowledged one is truncated
//! without error. The sector stamps of a version-2 log tell the two apart
//! (`docs/format.md`, "Recovery table for a log").
//!
//! Method common to the cases: acknowledged puts on real files with the default backend,
//! closed without a seal, so their frames stay in the hot segment; the last put's value spans
//! four sectors. The last frame's bytes are then damaged the way a flip at rest or a torn
//! write would, and the database is reopened.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a failure is a test failure"
)]

mod common;

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use common::{copy_tree, frame_sectors, small_options, stamped_frames, value_of};
use infinitedb::Readable;
use infinitedb::{Db, Error};
use infinitedb_format::offsets::FRAME_FIRST_REVISION_OFFSET;
use infinitedb_format::{
    FRAME_HEADER_BYTES, LogHeader, SECTOR_BYTES, SECTOR_STAMP_OFFSET, SegmentId,
};

const RECORDS: u32 = 8;
/// The last record's value: its frame spans four sectors.
const LAST_VALUE_BYTES: usize = 1500;

fn value(i: u32) -> Vec<u8> {
    if i == RECORDS - 1 {
        (0..LAST_VALUE_BYTES)
            .map(|index| u8::try_from(index % 253).unwrap())
            .collect()
    } else {
        value_of(i, 5)
    }
}

/// The hot segment holding the frames, relative to the database directory.
struct Written {
    segment: PathBuf,
    segment_id: SegmentId,
    last: (usize, usize),
}

/// Writes `RECORDS` acknowledged puts (one frame each) and closes.
fn write_frames(dir: &Path) -> Written {
    let db = Db::open(dir, small_options()).unwrap();
    let space = db.create_space("flip", 2, 10).unwrap();
    for i in 0..RECORDS {
        db.put(space, [i, 5], value(i)).unwrap();
    }
    db.close().unwrap();
    for entry in std::fs::read_dir(dir.join("segments")).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let frames = stamped_frames(&bytes);
        if let Some(&last) = frames.last() {
            assert_eq!(frames.len(), RECORDS as usize);
            return Written {
                segment: path.strip_prefix(dir).unwrap().to_path_buf(),
                segment_id: LogHeader::decode(&bytes).unwrap().segment_id,
                last,
            };
        }
    }
    panic!("no segment holds frames");
}

/// Checks every record: the first `RECORDS - 1` always, the last one if `last_present`.
fn assert_records(db: &Db, last_present: bool, context: &str) {
    let space = db.space("flip").unwrap();
    for i in 0..RECORDS {
        let expected = (i + 1 < RECORDS || last_present).then(|| value(i));
        assert_eq!(
            db.get(space, &[i, 5]).unwrap(),
            expected.map(Into::into),
            "{context}: record {i}"
        );
    }
}

fn xor_byte(path: &Path, offset: usize, mask: u8) {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut byte = [0_u8];
    file.read_exact_at(&mut byte, offset as u64).unwrap();
    byte[0] ^= mask;
    file.write_all_at(&byte, offset as u64).unwrap();
}

#[test]
fn every_bit_flip_in_the_last_frame_is_corruption_never_a_lost_record() {
    // Goal: a flip at rest anywhere in the last acknowledged frame (header, payload, padding,
    // stamps) fails the open with Corruption naming the segment at the frame's offset, or
    // opens with every acknowledged record intact; never opens with the last record missing.
    // Method: for every byte of the last frame, flip each of its 8 bits in the frame header
    // and the stamps, and bit (byte mod 8) elsewhere, in a working copy; open. A refused open
    // writes nothing, so the flip is undone in place; an open that succeeds rewrites the
    // database, so the working copy is made again.
    let template = tempfile::tempdir().unwrap();
    let written = write_frames(template.path());
    let (start, end) = written.last;
    assert_eq!(
        end - start,
        4 * SECTOR_BYTES,
        "the last frame spans four sectors"
    );
    let work = tempfile::tempdir().unwrap();
    copy_tree(template.path(), work.path());
    let segment = work.path().join(&written.segment);
    let (mut refused, mut opened) = (0_usize, 0_usize);
    for offset in start..end {
        let in_sector = (offset - start) % SECTOR_BYTES;
        let every_bit = offset < start + FRAME_HEADER_BYTES || in_sector >= SECTOR_STAMP_OFFSET;
        let bits: Vec<u32> = if every_bit {
            (0..8).collect()
        } else {
            vec![u32::try_from(offset % 8).unwrap()]
        };
        for bit in bits {
            let context = format!("flip of bit {bit} at {offset} (frame {start}..{end})");
            xor_byte(&segment, offset, 1 << bit);
            match Db::open(work.path(), small_options()) {
                Err(Error::Corruption {
                    file, offset: at, ..
                }) => {
                    assert_eq!(file, segment, "{context}");
                    assert_eq!(at, start as u64, "{context}");
                    xor_byte(&segment, offset, 1 << bit);
                    refused += 1;
                }
                Err(other) => panic!("{context}: open failed with {other:?}, not Corruption"),
                Ok(db) => {
                    assert_records(&db, true, &context);
                    db.close().unwrap();
                    drop(std::fs::remove_dir_all(work.path()));
                    copy_tree(template.path(), work.path());
                    opened += 1;
                }
            }
        }
    }
    assert!(
        refused > 0 && opened == 0,
        "refused {refused}, opened {opened}"
    );
    let db = Db::open(work.path(), small_options()).unwrap();
    assert_records(&db, true, "undamaged");
    db.close().unwrap();
}

/// What a lost sector of the last frame reads as.
#[derive(Copy, Clone, Debug)]
enum OldContent {
    /// Prewritten zeros, or a chain's zero padding.
    Zeros,
    /// A recycled file's frame of an older segment at the same offsets.
    OtherSegment,
    /// An earlier, cancelled attempt at the same position: the same segment and first
    /// revision, another frame (one sector longer; its last sector lies past the new frame
    /// and holds the new chain's zero padding).
    EarlierAttempt,
}

#[test]
fn every_tear_of_an_unacknowledged_last_frame_is_truncated() {
    // Goal: a torn write of the last frame (any subset of its four sectors kept, the others
    // holding the old content) opens without error, without that frame's record and with
    // every earlier record; keeping all four is the whole frame, which is applied. Method:
    // for each old content (zeros, another segment's frame, an earlier attempt of the same
    // segment and revision) and each of the 16 subsets, rebuild the frame's sectors in a copy
    // of the database and open.
    let template = tempfile::tempdir().unwrap();
    let written = write_frames(template.path());
    let (start, end) = written.last;
    let sectors = (end - start) / SECTOR_BYTES;
    let pristine = std::fs::read(template.path().join(&written.segment)).unwrap();
    let first_revision = u64::from_le_bytes(
        pristine[start + FRAME_FIRST_REVISION_OFFSET..start + FRAME_FIRST_REVISION_OFFSET + 8]
            .try_into()
            .unwrap(),
    );
    let olds = [
        (OldContent::Zeros, vec![0_u8; end - start]),
        (
            OldContent::OtherSegment,
            frame_sectors(SegmentId(written.segment_id.0 - 1), start, sectors, 3, 1),
        ),
        (
            OldContent::EarlierAttempt,
            frame_sectors(written.segment_id, start, sectors + 1, 3, first_revision),
        ),
    ];
    for (kind, old) in &olds {
        for kept in 0_u32..1 << sectors {
            let context = format!("{kind:?}, sectors kept {kept:#06b}");
            let mut bytes = pristine.clone();
            for sector in 0..sectors {
                if kept & (1 << sector) == 0 {
                    let at = sector * SECTOR_BYTES;
                    bytes[start + at..start + at + SECTOR_BYTES]
                        .copy_from_slice(&old[at..at + SECTOR_BYTES]);
                }
            }
            let dir = tempfile::tempdir().unwrap();
            copy_tree(template.path(), dir.path());
            std::fs::write(dir.path().join(&written.segment), bytes).unwrap();
            let db = Db::open(dir.path(), small_options())
                .unwrap_or_else(|error| panic!("{context}: a torn write refused: {error}"));
            let whole = kept == (1 << sectors) - 1;
            assert_records(&db, whole, &context);
            db.close().unwrap();
        }
    }
}
