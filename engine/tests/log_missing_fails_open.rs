//! A log the manifest names as live (a hot segment or a staging log that may hold
//! acknowledged records not yet in a block) that is missing, cut short or replaced fails the
//! open with `Error::Corruption` naming the file; it never passes for an empty log.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a failure is a test failure"
)]

mod support;

use std::path::{Path, PathBuf};

use infinitedb::Readable;
use infinitedb::{Db, Error, Options};
use support::{suite_options, zero_deadline};

fn options() -> Options {
    suite_options().segment_bytes(4 * 1024 * 1024)
}

/// The files of `dir` whose names start with `prefix`, sorted.
fn files(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with(prefix))
        })
        .collect();
    found.sort();
    found
}

/// The hot segment holding the space's unsealed records: after a close, the one segment of
/// space 1 that holds a frame (the other is the spare, header only).
fn segment_with_frames(dir: &Path) -> PathBuf {
    let with_frames: Vec<PathBuf> = files(&dir.join("segments"), "seg-1-")
        .into_iter()
        .filter(|path| {
            let bytes = std::fs::read(path).unwrap();
            bytes[4096..8192].iter().any(|&byte| byte != 0)
        })
        .collect();
    assert_eq!(with_frames.len(), 1, "{with_frames:?}");
    with_frames[0].clone()
}

/// Opens `dir` and expects `Corruption` naming `file`.
fn expect_corruption_naming(dir: &Path, options: Options, file: &Path, case: &str) {
    match Db::open(dir, options) {
        Err(Error::Corruption {
            file: named,
            detail,
            ..
        }) => {
            assert_eq!(named, file, "{case}: {detail}");
        }
        Err(other) => panic!("{case}: expected Corruption naming {file:?}, got {other}"),
        Ok(db) => {
            let space = db.space("a").unwrap();
            let found = db.get(space, &[1, 1]).unwrap();
            panic!("{case}: open succeeded; get([1,1]) = {found:?}")
        }
    }
}

/// A closed database with one acknowledged, unsealed put at [1,1] in space "a".
fn one_unsealed_put(dir: &Path) {
    let db = Db::open(dir, options()).unwrap();
    let space = db.create_space("a", 2, 8).unwrap();
    db.put(space, [1, 1], b"acknowledged").unwrap();
    db.close().unwrap();
}

#[test]
fn a_deleted_hot_segment_fails_the_open() {
    // Goal: the reported loss: a deleted hot segment silently dropped its acknowledged
    // records. Method: one put, close, delete the segment holding it, open: Corruption naming
    // that file.
    let dir = tempfile::tempdir().unwrap();
    one_unsealed_put(dir.path());
    let segment = segment_with_frames(dir.path());
    std::fs::remove_file(&segment).unwrap();
    expect_corruption_naming(dir.path(), options(), &segment, "deleted");
}

#[test]
fn a_truncated_or_shortened_hot_segment_fails_the_open() {
    // Goal: a segment cut to zero bytes, to its header alone, or to a page short of its
    // length is not an empty or shorter log. Method: one put, close; per case truncate a
    // copy of the database's segment; open: Corruption naming it.
    for (case, keep_bytes) in [("zero", 0_u64), ("header only", 4096), ("short", 8192)] {
        let dir = tempfile::tempdir().unwrap();
        one_unsealed_put(dir.path());
        let segment = segment_with_frames(dir.path());
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&segment)
            .unwrap();
        file.set_len(keep_bytes).unwrap();
        drop(file);
        expect_corruption_naming(dir.path(), options(), &segment, case);
    }
}

#[test]
fn a_hot_segment_replaced_by_another_log_fails_the_open() {
    // Goal: a segment replaced by another log file of the same length (the space's spare,
    // which holds only its own header) does not pass for the missing one. Method: one put,
    // close; rename the spare over the segment that holds the put; open: Corruption naming
    // it.
    let dir = tempfile::tempdir().unwrap();
    one_unsealed_put(dir.path());
    let segment = segment_with_frames(dir.path());
    let spare = files(&dir.path().join("segments"), "seg-1-")
        .into_iter()
        .find(|path| *path != segment)
        .unwrap();
    std::fs::rename(&spare, &segment).unwrap();
    // The spare's name is gone too: either file may be the one reported.
    match Db::open(dir.path(), options()) {
        Err(Error::Corruption { file, .. }) => {
            assert!(file == segment || file == spare, "{file:?}");
        }
        other => panic!("expected Corruption, got {other:?}"),
    }
}

#[test]
fn a_hot_segment_overwritten_by_a_copy_of_another_log_fails_the_open() {
    // Goal: a segment whose bytes were replaced by another log's (same length, a valid header
    // naming the other log) is caught by its header. Method: one put, close; copy the spare's
    // bytes over the segment holding the put, the spare staying in place; open: Corruption
    // naming the overwritten segment.
    let dir = tempfile::tempdir().unwrap();
    one_unsealed_put(dir.path());
    let segment = segment_with_frames(dir.path());
    let spare = files(&dir.path().join("segments"), "seg-1-")
        .into_iter()
        .find(|path| *path != segment)
        .unwrap();
    std::fs::copy(&spare, &segment).unwrap();
    expect_corruption_naming(dir.path(), options(), &segment, "overwritten by the spare");
}

#[test]
fn a_deleted_staging_log_fails_the_open() {
    // Goal: a staging log may hold the only durable copy of a hedged group, so a missing one
    // is an error, not an empty log. Method: with a zero deadline every group is acknowledged
    // through the staging log; put, close; delete every staging log; open: Corruption naming
    // a staging log.
    let dir = tempfile::tempdir().unwrap();
    let staged = options().deadline(zero_deadline());
    let db = Db::open(dir.path(), staged.clone()).unwrap();
    let space = db.create_space("a", 2, 8).unwrap();
    db.put(space, [1, 1], b"acknowledged").unwrap();
    assert!(db.stats().groups_staged > 0, "the put was hedged");
    db.close().unwrap();
    let logs = files(&dir.path().join("staging"), "stage-");
    assert!(!logs.is_empty());
    for log in &logs {
        std::fs::remove_file(log).unwrap();
    }
    match Db::open(dir.path(), staged) {
        Err(Error::Corruption { file, .. }) => assert!(logs.contains(&file), "{file:?}"),
        other => panic!("expected Corruption, got {other:?}"),
    }
}

#[test]
fn every_log_survives_many_reopens_seals_and_spares() {
    // Goal: the manifest's list of live logs stays exact through seals (segments recycled),
    // spare segments and staging rotation, so no healthy database is ever refused. Method:
    // small segments and a zero deadline (so staging logs fill and rotate), many puts with
    // flushes, ten reopens; every point is there each time.
    let dir = tempfile::tempdir().unwrap();
    let options = suite_options()
        .deadline(zero_deadline())
        .seal_threshold_records(50);
    let mut written = Vec::new();
    for round in 0..10_u32 {
        let db = Db::open(dir.path(), options.clone()).unwrap();
        let space = db
            .space("a")
            .or_else(|_| db.create_space("a", 2, 16))
            .unwrap();
        for (point, value) in &written {
            let point: &[u32; 2] = point;
            let value: &Vec<u8> = value;
            assert_eq!(
                db.get(space, point).unwrap().as_deref(),
                Some(value.as_slice()),
                "round {round}"
            );
        }
        for i in 0..400_u32 {
            let point = [round, i];
            let value = vec![u8::try_from(i % 251).unwrap(); 600];
            db.put(space, point, &value).unwrap();
            written.push((point, value));
            if i % 150 == 0 {
                db.flush(space).unwrap();
            }
        }
        db.close().unwrap();
    }
}
