//! A torn last frame is truncated on open, at every byte where the tear can fall, with zeros
//! or garbage after it; writing after such a recovery and reopening keeps everything (DESIGN
//! §7: "a torn frame at a log's end made open fail", "reopening a segment without truncating
//! to its last valid frame appended after garbage"). A flipped bit inside acknowledged history
//! is `Error::Corruption` naming the segment file.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers: a failure is a test failure"
)]

mod common;

use std::path::{Path, PathBuf};

use common::{small_options, value_of};
use infinitedb::{Db, Error};
use infinitedb_format::{FRAME_PAYLOAD_BYTES_MAX, LOG_HEADER_BYTES, LogHeader, decode_frame};

const RECORDS: u32 = 10;

/// Writes `RECORDS` puts (one frame each) and closes; returns the hot segment holding them
/// and the start and end offset of every frame.
fn write_frames(dir: &Path) -> (PathBuf, Vec<(usize, usize)>) {
    let db = Db::open(dir, small_options()).unwrap();
    let space = db.create_space("torn", 2, 10).unwrap();
    for i in 0..RECORDS {
        db.put(space, &[i, 3], &value_of(i, 3)).unwrap();
    }
    db.close().unwrap();
    for entry in std::fs::read_dir(dir.join("segments")).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let header = LogHeader::decode(&bytes).unwrap();
        let mut frames = Vec::new();
        let mut offset = LOG_HEADER_BYTES;
        while let Ok(frame) =
            decode_frame(&bytes[offset..], header.segment_id, FRAME_PAYLOAD_BYTES_MAX)
        {
            frames.push((offset, offset + frame.encoded_bytes));
            offset += frame.encoded_bytes;
        }
        if !frames.is_empty() {
            return (path, frames);
        }
    }
    panic!("no segment holds frames");
}

fn copy_dir(source: &Path, target: &Path) {
    std::fs::create_dir_all(target).unwrap();
    for entry in std::fs::read_dir(source).unwrap() {
        let entry = entry.unwrap();
        let to = target.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), to).unwrap();
        }
    }
}

fn damage(path: &Path, from: usize, to: usize, fill: impl Fn(usize) -> u8) {
    let mut bytes = std::fs::read(path).unwrap();
    for (index, byte) in bytes[from..to].iter_mut().enumerate() {
        *byte = fill(index);
    }
    std::fs::write(path, bytes).unwrap();
}

fn assert_prefix(db: &Db, count: u32) {
    let space = db.space("torn").unwrap();
    for i in 0..RECORDS {
        let expected = (i < count).then(|| value_of(i, 3));
        assert_eq!(db.get(space, &[i, 3]).unwrap(), expected, "record {i}");
    }
}

#[test]
fn torn_last_frame_is_truncated_at_every_byte() {
    // Goal: open succeeds with the first RECORDS-1 records wherever the last frame tears.
    // Method: for every cut inside the last frame, copy the pristine database, zero (odd
    // cuts: fill with garbage) from the cut to the frame's end, open, check the prefix.
    let pristine = tempfile::tempdir().unwrap();
    let (segment, frames) = write_frames(pristine.path());
    let (last_start, last_end) = frames[frames.len() - 1];
    let relative = segment.strip_prefix(pristine.path()).unwrap().to_path_buf();
    for cut in last_start..last_end {
        let copy = tempfile::tempdir().unwrap();
        copy_dir(pristine.path(), copy.path());
        let garbage = cut % 2 == 1;
        damage(&copy.path().join(&relative), cut, last_end, |index| {
            if garbage {
                u8::try_from((index * 37 + 11) % 256).unwrap_or(0)
            } else {
                0
            }
        });
        let db = Db::open(copy.path(), small_options())
            .unwrap_or_else(|error| panic!("cut at {cut}: {error}"));
        assert_prefix(&db, RECORDS - 1);
        db.close().unwrap();
    }
}

#[test]
fn writes_after_recovering_a_torn_tail_survive_the_next_reopen() {
    // Goal: nothing is appended after garbage. Method: tear the last frame with garbage,
    // open, write more, close, reopen: old prefix and new writes are all there.
    let dir = tempfile::tempdir().unwrap();
    let (segment, frames) = write_frames(dir.path());
    let (last_start, last_end) = frames[frames.len() - 1];
    damage(&segment, last_start + 20, last_end, |index| {
        u8::try_from(index % 256).unwrap_or(0) ^ 0x5a
    });
    let db = Db::open(dir.path(), small_options()).unwrap();
    let space = db.space("torn").unwrap();
    db.put(space, &[100, 100], b"new").unwrap();
    db.close().unwrap();
    let db = Db::open(dir.path(), small_options()).unwrap();
    assert_prefix(&db, RECORDS - 1);
    assert_eq!(db.get(space, &[100, 100]).unwrap(), Some(b"new".to_vec()));
    db.close().unwrap();
}

#[test]
fn flipped_bit_inside_acknowledged_history_is_corruption() {
    // Goal: damage followed by valid frames fails closed, naming the file. Method: flip one
    // bit in the middle of frame 5 of 10, open.
    let dir = tempfile::tempdir().unwrap();
    let (segment, frames) = write_frames(dir.path());
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
