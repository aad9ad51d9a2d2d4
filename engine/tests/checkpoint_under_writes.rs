//! Checkpoints of a database in use.
//!
//! Goal: `Db::checkpoint` makes an openable copy that holds every write acknowledged before the
//! call and nothing that was never written, while writers, seals and compactions go on; the
//! copy's blocks are hard links on the same filesystem; the copy and the source then change
//! independently; a copy cut short before its manifest is refused, never opened empty.
//! Method: real files; two writer threads write unique points (small seal thresholds and a
//! level-0 trigger of 2, so seals and compactions race with the checkpoint); the points
//! acknowledged before the call are recorded, and the copy is opened while the writers go on.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failure is a test failure"
)]

mod support;

use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use infinitedb::{Db, Error, Options, Readable};
use support::suite_options;

const WRITERS: u32 = 2;
const POINTS_BEFORE: usize = 400;

fn options() -> Options {
    suite_options()
        .seal_threshold_records(64)
        .l0_compaction_trigger(2)
}

fn value(writer: u32, index: u32) -> Vec<u8> {
    format!("writer {writer} point {index}").into_bytes()
}

#[test]
fn a_checkpoint_under_writes_holds_every_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    let dest = dir.path().join("copy");
    let db = Arc::new(Db::open(&source, options()).unwrap());
    let space = db.create_space("points", 2, 16).unwrap();
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let (db, acknowledged, stop) = (db.clone(), acknowledged.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut index = 0;
                while !stop.load(Ordering::Relaxed) && index < u32::from(u16::MAX) {
                    db.put(space, [writer, index], value(writer, index))
                        .unwrap();
                    acknowledged.lock().unwrap().push((writer, index));
                    index += 1;
                }
            })
        })
        .collect();
    while acknowledged.lock().unwrap().len() < POINTS_BEFORE {
        std::thread::yield_now();
    }
    let before: Vec<(u32, u32)> = acknowledged.lock().unwrap().clone();
    let info = db.checkpoint(&dest).unwrap();
    assert!(info.blocks_linked > 0, "{info:?}");
    assert_eq!(info.blocks_copied, 0, "same filesystem: {info:?}");

    // The copy opens (as a writer) while the source's writers go on.
    let copy = Db::open(&info.path, suite_options()).unwrap();
    for (writer, index) in &before {
        let found = copy.get(space, &[*writer, *index]).unwrap();
        assert_eq!(
            found.as_deref(),
            Some(&value(*writer, *index)[..]),
            "({writer}, {index})"
        );
    }
    let mut in_copy = 0;
    for entry in copy.scan(space).unwrap() {
        let entry = entry.unwrap();
        let (writer, index) = (entry.point[0], entry.point[1]);
        assert_eq!(
            &entry.value[..],
            &value(writer, index)[..],
            "a value never written"
        );
        in_copy += 1;
    }
    assert!(in_copy >= before.len());
    assert!(copy.last_revision() >= info.revision);

    stop.store(true, Ordering::Relaxed);
    writers
        .into_iter()
        .for_each(|writer| writer.join().unwrap());
    // Source and copy change independently.
    copy.put(space, [9, 9], b"only in the copy").unwrap();
    assert_eq!(db.get(space, &[9, 9]).unwrap(), None);
    copy.close().unwrap();
    Arc::try_unwrap(db).unwrap().close().unwrap();
    let source = Db::open_read_only(&source, suite_options()).unwrap();
    assert_eq!(source.get(space, &[9, 9]).unwrap(), None);
}

#[test]
fn a_checkpoints_blocks_are_hard_links_of_the_sources() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("source"), suite_options()).unwrap();
    let space = db.create_space("ids", 1, 32).unwrap();
    for index in 0..100 {
        db.put(space, [index], b"value").unwrap();
    }
    let info = db.checkpoint(dir.path().join("copy")).unwrap();
    assert_eq!((info.blocks_linked, info.blocks_copied), (1, 0));
    let source_blocks = std::fs::read_dir(dir.path().join("source/blocks")).unwrap();
    let copy_blocks = std::fs::read_dir(info.path.join("blocks")).unwrap();
    let inodes = |entries: std::fs::ReadDir| -> Vec<u64> {
        entries
            .map(|entry| entry.unwrap().metadata().unwrap().ino())
            .collect()
    };
    let copied = inodes(copy_blocks);
    assert_eq!(copied.len(), 1);
    assert!(
        inodes(source_blocks).contains(&copied[0]),
        "not a hard link"
    );
    let copy = Db::open_read_only(&info.path, suite_options()).unwrap();
    assert_eq!(copy.describe().logs.len(), 0, "a checkpoint needs no log");
    assert_eq!(copy.scan(space).unwrap().count(), 100);
}

#[test]
fn a_checkpoint_refuses_a_destination_that_is_not_empty() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("source"), suite_options()).unwrap();
    db.create_space("ids", 1, 32).unwrap();
    let dest = dir.path().join("busy");
    std::fs::create_dir(&dest).unwrap();
    std::fs::write(dest.join("notes.txt"), b"keep me").unwrap();
    let refused = db.checkpoint(&dest);
    assert!(
        matches!(refused, Err(Error::InvalidOption { .. })),
        "{refused:?}"
    );
    assert_eq!(std::fs::read(dest.join("notes.txt")).unwrap(), b"keep me");
    assert_eq!(std::fs::read_dir(&dest).unwrap().count(), 1);
}

#[test]
fn a_checkpoint_cut_before_its_manifest_is_refused_not_opened_empty() {
    // A crash before the manifest's rename leaves the blocks and no MANIFEST (the manifest is
    // written last): that state, made by removing the finished copy's manifest, must fail
    // closed on both kinds of open.
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("source"), suite_options()).unwrap();
    let space = db.create_space("ids", 1, 32).unwrap();
    db.put(space, [1], b"one").unwrap();
    let info = db.checkpoint(dir.path().join("copy")).unwrap();
    std::fs::remove_file(info.path.join("MANIFEST")).unwrap();
    let refused = Db::open_read_only(&info.path, suite_options());
    assert!(
        matches!(refused, Err(Error::MissingManifest { .. })),
        "{refused:?}"
    );
    let refused = Db::open(&info.path, suite_options());
    assert!(
        matches!(refused, Err(Error::MissingManifest { .. })),
        "{refused:?}"
    );
}
