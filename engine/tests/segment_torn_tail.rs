//! A torn last frame is truncated on open wherever the tear falls on a sector boundary (the
//! unit a torn write keeps or loses whole), with zeros or another segment's frames in the
//! lost sectors; zeros from inside a written sector on are not a torn write and are
//! `Error::Corruption`. Writing after such a recovery and reopening keeps everything
//! (docs/design.md §8: "a torn frame at a log's end made open fail", "reopening a segment without
//! truncating to its last valid frame appended after garbage"). A flipped bit inside acknowledged
//! history is `Error::Corruption` naming the segment file.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers: a failure is a test failure"
)]

mod common;

use std::path::{Path, PathBuf};

use common::{copy_tree, frame_sectors, small_options, stamped_frames, value_of};
use infinitedb::Readable;
use infinitedb::{Db, Error};
use infinitedb_format::{LogHeader, SECTOR_BYTES, SECTOR_STAMP_OFFSET, SegmentId};

const RECORDS: u32 = 10;
/// The last record's value spans several sectors.
const LAST_VALUE_BYTES: usize = 1500;

fn value(i: u32) -> Vec<u8> {
    if i == RECORDS - 1 {
        (0..LAST_VALUE_BYTES)
            .map(|index| u8::try_from(index % 251).unwrap())
            .collect()
    } else {
        value_of(i, 3)
    }
}

/// Writes `RECORDS` puts (one frame each) and closes; returns the hot segment holding them,
/// its segment id and the start and end offset of every frame.
fn write_frames(dir: &Path) -> (PathBuf, SegmentId, Vec<(usize, usize)>) {
    let db = Db::open(dir, small_options()).unwrap();
    let space = db.create_space("torn", 2, 10).unwrap();
    for i in 0..RECORDS {
        db.put(space, [i, 3], value(i)).unwrap();
    }
    db.close().unwrap();
    for entry in std::fs::read_dir(dir.join("segments")).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let frames = stamped_frames(&bytes);
        if !frames.is_empty() {
            let segment = LogHeader::decode(&bytes).unwrap().segment_id;
            return (path, segment, frames);
        }
    }
    panic!("no segment holds frames");
}

fn damage(path: &Path, from: usize, replacement: &[u8]) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[from..from + replacement.len()].copy_from_slice(replacement);
    std::fs::write(path, bytes).unwrap();
}

fn assert_prefix(db: &Db, count: u32) {
    let space = db.space("torn").unwrap();
    for i in 0..RECORDS {
        let expected = (i < count).then(|| value(i));
        assert_eq!(
            db.get(space, &[i, 3]).unwrap(),
            expected.map(Into::into),
            "record {i}"
        );
    }
}

#[test]
fn torn_last_frame_is_truncated_at_every_sector_and_a_cut_sector_is_corruption() {
    // Goal: open succeeds with the first RECORDS-1 records wherever the last frame tears on
    // a sector boundary, and fails with Corruption where a written sector is zeroed from
    // inside on (its stamp is gone, its data is not). Method: for every sector boundary of
    // the last frame and offsets inside each sector (data, both edges of the stamp), copy the
    // pristine database and replace the bytes from the cut to the frame's end with zeros or
    // with another segment's stamped sectors; open. Expected: a sector cut before or at its stamp
    // and filled from another frame carries that frame's stamp and reads as old content; a
    // cut inside its stamp leaves a stamp that fails its check; a zeroed sector left with at
    // most one set bit reads as a zero sector with a flipped bit, so as old content; a frame
    // whose sector 0 is its own and one of whose later sectors holds old content is torn,
    // whatever its other sectors hold.
    let pristine = tempfile::tempdir().unwrap();
    let (segment, segment_id, frames) = write_frames(pristine.path());
    let (last_start, last_end) = frames[frames.len() - 1];
    assert!(
        last_end - last_start >= 3 * SECTOR_BYTES,
        "a multi-sector frame"
    );
    let relative = segment.strip_prefix(pristine.path()).unwrap().to_path_buf();
    let sectors = (last_end - last_start) / SECTOR_BYTES;
    let foreign = frame_sectors(SegmentId(segment_id.0 - 1), last_start, sectors, 9, 3);
    let inside = [0, 1, 2, 100, 487, 488, 489, 500, 511];
    for sector in 0..sectors {
        for in_sector in inside {
            for foreign_fill in [false, true] {
                let cut = last_start + sector * SECTOR_BYTES + in_sector;
                let copy = tempfile::tempdir().unwrap();
                copy_tree(pristine.path(), copy.path());
                let replacement = if foreign_fill {
                    foreign[cut - last_start..].to_vec()
                } else {
                    vec![0; last_end - cut]
                };
                let path = copy.path().join(&relative);
                damage(&path, cut, &replacement);
                let sector_start = cut / SECTOR_BYTES * SECTOR_BYTES;
                let set_bits: u32 = std::fs::read(&path).unwrap()
                    [sector_start..sector_start + SECTOR_BYTES]
                    .iter()
                    .map(|byte| byte.count_ones())
                    .sum();
                let later_sector_old = sector > 0 && sector + 1 < sectors;
                let stamp_kept = foreign_fill && in_sector <= SECTOR_STAMP_OFFSET;
                let torn = in_sector == 0 || set_bits <= 1 || stamp_kept || later_sector_old;
                let context = format!("cut at {cut}, foreign fill {foreign_fill}");
                let opened = Db::open(copy.path(), small_options());
                if torn {
                    let db = opened.unwrap_or_else(|error| panic!("{context}: {error}"));
                    assert_prefix(&db, RECORDS - 1);
                    db.close().unwrap();
                } else {
                    match opened {
                        Err(Error::Corruption { offset, .. }) => {
                            assert_eq!(offset, last_start as u64, "{context}");
                        }
                        Err(other) => panic!("{context}: {other:?}"),
                        Ok(_) => panic!("{context}: a cut inside a written sector opened"),
                    }
                }
            }
        }
    }
}

#[test]
fn writes_after_recovering_a_torn_tail_survive_the_next_reopen() {
    // Goal: nothing is appended after the old content of a torn frame. Method: tear the last
    // frame (its sectors after the first hold another segment's frame), open, write more,
    // close, reopen: old prefix and new writes are all there.
    let dir = tempfile::tempdir().unwrap();
    let (segment, segment_id, frames) = write_frames(dir.path());
    let (last_start, last_end) = frames[frames.len() - 1];
    let sectors = (last_end - last_start) / SECTOR_BYTES;
    let foreign = frame_sectors(SegmentId(segment_id.0 + 7), last_start, sectors, 1, 1);
    damage(
        &segment,
        last_start + SECTOR_BYTES,
        &foreign[SECTOR_BYTES..],
    );
    let db = Db::open(dir.path(), small_options()).unwrap();
    let space = db.space("torn").unwrap();
    db.put(space, [100, 100], b"new").unwrap();
    db.close().unwrap();
    let db = Db::open(dir.path(), small_options()).unwrap();
    assert_prefix(&db, RECORDS - 1);
    assert_eq!(
        db.get(space, &[100, 100]).unwrap(),
        Some(b"new".to_vec().into())
    );
    db.close().unwrap();
}

#[test]
fn flipped_bit_inside_acknowledged_history_is_corruption() {
    // Goal: damage followed by valid frames fails closed, naming the file. Method: flip one
    // bit in the middle of frame 5 of 10, open.
    let dir = tempfile::tempdir().unwrap();
    let (segment, _, frames) = write_frames(dir.path());
    let (start, end) = frames[4];
    let middle = (start + end) / 2;
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[middle] ^= 0x10;
    std::fs::write(&segment, bytes).unwrap();
    match Db::open(dir.path(), small_options()) {
        Err(Error::Corruption { file, offset, .. }) => {
            assert_eq!(file, segment);
            assert_eq!(offset, start as u64);
        }
        other => panic!("expected Corruption, got {other:?}"),
    }
}
