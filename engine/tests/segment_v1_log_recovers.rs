//! A hot segment written by a version-1 build (log header version 1, frames back to back)
//! still opens: its records are recovered under version 1's rule (a last frame that fails to
//! decode is a torn tail), and the file is then reused as a version-2 log whose old bytes are
//! zeroed first, so that later writes and reopens keep everything.
//!
//! Method: write puts and close; rewrite the hot segment in the version-1 layout with the
//! format crate's version-1 encoders (the frames decoded from the stamped sectors, encoded
//! back to back after a version-1 header); reopen, write more, reopen.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a failure is a test failure"
)]

mod common;

use std::path::{Path, PathBuf};

use common::{copy_tree, small_options, stamped_frames, value_of};
use infinitedb::Db;
use infinitedb::Readable;
use infinitedb_format::{
    FRAME_PAYLOAD_BYTES_MAX, LOG_HEADER_BYTES, LogHeader, LogLayout, RecordRef, SECTOR_BYTES,
    StampedFrame, decode_stamped_frame, encode_frame, frame_encoded_bytes,
};

const RECORDS: u32 = 12;

fn value(i: u32) -> Vec<u8> {
    let mut value = value_of(i, 4);
    value.resize(40 + 90 * i as usize, b'x');
    value
}

fn write(dir: &Path) -> PathBuf {
    let db = Db::open(dir, small_options()).unwrap();
    let space = db.create_space("old", 2, 10).unwrap();
    for i in 0..RECORDS {
        db.put(space, [i, 4], value(i)).unwrap();
    }
    db.close().unwrap();
    std::fs::read_dir(dir.join("segments"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| !stamped_frames(&std::fs::read(path).unwrap()).is_empty())
        .unwrap()
}

/// Rewrites the version-2 log at `path` in the version-1 layout; returns the start and end
/// of every version-1 frame.
fn rewrite_as_v1(path: &Path) -> Vec<(usize, usize)> {
    let bytes = std::fs::read(path).unwrap();
    let header = LogHeader::decode(&bytes).unwrap();
    let mut old = vec![0_u8; bytes.len()];
    LogHeader {
        layout: LogLayout::Contiguous,
        ..header
    }
    .encode(&mut old);
    let mut scratch = Vec::new();
    let mut frames = Vec::new();
    let (mut read, mut written) = (LOG_HEADER_BYTES, LOG_HEADER_BYTES);
    while let StampedFrame::Valid {
        frame,
        physical_bytes,
    } = decode_stamped_frame(
        &bytes,
        read,
        header.segment_id,
        FRAME_PAYLOAD_BYTES_MAX,
        &mut scratch,
    ) {
        let records: Vec<RecordRef<'_>> = frame.records().collect();
        let used = encode_frame(
            header.segment_id,
            frame.header.space_id,
            &records,
            &mut old[written..],
        );
        assert_eq!(used, frame_encoded_bytes(&records));
        frames.push((written, written + used));
        written += used;
        read += physical_bytes;
    }
    assert_eq!(frames.len(), RECORDS as usize);
    std::fs::write(path, old).unwrap();
    frames
}

fn assert_records(db: &Db, count: u32, context: &str) {
    let space = db.space("old").unwrap();
    for i in 0..RECORDS {
        let expected = (i < count).then(|| value(i));
        assert_eq!(
            db.get(space, &[i, 4]).unwrap(),
            expected.map(Into::into),
            "{context}: {i}"
        );
    }
}

/// Every frame magic in every segment file sits where a stamped frame puts it.
fn assert_no_v1_bytes_left(dir: &Path) {
    let magic = infinitedb_format::magic::FRAME_MAGIC.to_le_bytes();
    for entry in std::fs::read_dir(dir.join("segments")).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        for (offset, window) in bytes.windows(4).enumerate() {
            if window == magic {
                assert_eq!(
                    offset % SECTOR_BYTES,
                    16,
                    "{path:?}: a frame magic at {offset}"
                );
            }
        }
    }
}

#[test]
fn a_version_1_log_opens_and_is_reused_as_version_2() {
    // Goal: an old database opens with every record, and the reused file never mixes
    // layouts. Method: see module doc; after the first open no version-1 frame is left in
    // any segment file.
    let dir = tempfile::tempdir().unwrap();
    let segment = write(dir.path());
    let frames = rewrite_as_v1(&segment);
    assert!(frames.iter().any(|(start, _)| start % SECTOR_BYTES != 0));
    let db = Db::open(dir.path(), small_options()).unwrap();
    assert_records(&db, RECORDS, "first open");
    let space = db.space("old").unwrap();
    db.put(space, [100, 100], b"new").unwrap();
    db.close().unwrap();
    assert_no_v1_bytes_left(dir.path());
    let db = Db::open(dir.path(), small_options()).unwrap();
    assert_records(&db, RECORDS, "second open");
    assert_eq!(
        db.get(space, &[100, 100]).unwrap(),
        Some(b"new".to_vec().into())
    );
    db.close().unwrap();
}

#[test]
fn a_version_1_log_keeps_version_1_torn_tail_rule() {
    // Goal: in a version-1 log a last frame that fails to decode is a torn tail, and damage
    // followed by a valid frame is Corruption. Method: zero the second half of the last
    // frame (opens without it); flip a bit in the payload of the middle frame (Corruption).
    let template = tempfile::tempdir().unwrap();
    let segment = write(template.path());
    let frames = rewrite_as_v1(&segment);
    let relative = segment.strip_prefix(template.path()).unwrap();
    let torn = tempfile::tempdir().unwrap();
    copy_tree(template.path(), torn.path());
    let mut bytes = std::fs::read(torn.path().join(relative)).unwrap();
    let (start, end) = frames[frames.len() - 1];
    bytes[(start + end) / 2..end].fill(0);
    std::fs::write(torn.path().join(relative), bytes).unwrap();
    let db = Db::open(torn.path(), small_options()).unwrap();
    assert_records(&db, RECORDS - 1, "torn");
    db.close().unwrap();
    let damaged = tempfile::tempdir().unwrap();
    copy_tree(template.path(), damaged.path());
    let mut bytes = std::fs::read(damaged.path().join(relative)).unwrap();
    let (start, _) = frames[frames.len() / 2];
    bytes[start + 100] ^= 0x08;
    std::fs::write(damaged.path().join(relative), bytes).unwrap();
    match Db::open(damaged.path(), small_options()) {
        Err(infinitedb::Error::Corruption { offset, .. }) => assert_eq!(offset, start as u64),
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("damage inside version-1 history opened"),
    }
}
