//! Snapshots are repeatable (docs/design.md §3 "Isolation"): a snapshot pinned at revision R gives
//! the same answers however many writes and seals happen meanwhile, holds every write at or below
//! R although spaces publish independently (the visible high-water mark), and keeps the
//! memtables and block files it reads alive.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failure is a test failure"
)]

mod common;

use std::collections::BTreeMap;
use std::sync::Mutex;

use infinitedb::Readable;
use infinitedb::{Db, Entry, Revision, Snapshot, SpaceId};

/// What the writers acknowledged: space, point, revision, value.
type WriteLog = Vec<(SpaceId, Vec<u32>, Revision, Vec<u8>)>;

fn scan_all(snapshot: &Snapshot, space: SpaceId) -> Vec<Entry> {
    snapshot
        .scan(space)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn snapshots_taken_under_concurrent_writers_never_change() {
    // Goal: repeatability and completeness of snapshots under concurrency. Method: two writer
    // threads on two spaces (revisions interleave across spaces) while a third thread takes
    // snapshots and scans them; after more writes and a seal of each space, every snapshot is
    // scanned again and compared with its first scan and with the writers' log at its revision.
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(
        dir.path(),
        common::small_options().seal_threshold_records(150),
    )
    .unwrap();
    let spaces = [
        db.create_space("a", 2, 8).unwrap(),
        db.create_space("b", 2, 8).unwrap(),
    ];
    let log: Mutex<WriteLog> = Mutex::new(Vec::new());
    let taken: Mutex<Vec<(Snapshot, [Vec<Entry>; 2])>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for (writer, space) in spaces.iter().enumerate() {
            let (db, log) = (&db, &log);
            scope.spawn(move || {
                for index in 0..400_u32 {
                    let point = vec![
                        index % 37,
                        (index * 7 + u32::try_from(writer).unwrap()) % 41,
                    ];
                    let value = format!("{writer}-{index}").into_bytes();
                    let revision = db.put(*space, &point, &value).unwrap();
                    log.lock().unwrap().push((*space, point, revision, value));
                }
            });
        }
        let (db, taken) = (&db, &taken);
        scope.spawn(move || {
            for _ in 0..40 {
                let snapshot = db.snapshot();
                let scans = [
                    scan_all(&snapshot, spaces[0]),
                    scan_all(&snapshot, spaces[1]),
                ];
                taken.lock().unwrap().push((snapshot, scans));
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        });
    });
    for space in spaces {
        db.flush(space).unwrap();
    }
    let log = log.into_inner().unwrap();
    for (snapshot, first_scans) in taken.into_inner().unwrap() {
        let at = snapshot.revision();
        for (index, space) in spaces.iter().enumerate() {
            let again = scan_all(&snapshot, *space);
            assert_eq!(again, first_scans[index], "snapshot at {at:?} changed");
            let mut model: BTreeMap<Vec<u32>, (Revision, Vec<u8>)> = BTreeMap::new();
            for (_, point, revision, value) in log
                .iter()
                .filter(|entry| entry.0 == *space && entry.2 <= at)
            {
                if model.get(point).is_none_or(|(known, _)| known < revision) {
                    model.insert(point.clone(), (*revision, value.clone()));
                }
            }
            let mut from_scan: BTreeMap<Vec<u32>, (Revision, Vec<u8>)> = BTreeMap::new();
            for entry in again {
                assert!(
                    entry.revision <= at,
                    "an entry above the snapshot's revision"
                );
                from_scan.insert(entry.point.to_vec(), (entry.revision, entry.value.to_vec()));
            }
            assert_eq!(from_scan, model, "snapshot at {at:?} misses or adds writes");
        }
    }
    db.close().unwrap();
}

#[test]
fn a_snapshot_outlives_seals_and_keeps_its_files() {
    // Goal: a snapshot reads the same after its memtable was sealed into a block and after
    // the Db that made it was closed. Method: write, snapshot, overwrite, flush, close, read.
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), common::small_options()).unwrap();
    let space = db.create_space("s", 1, 16).unwrap();
    for index in 0..300_u32 {
        db.put(space, [index], b"old").unwrap();
    }
    db.flush(space).unwrap();
    db.delete(space, [5]).unwrap();
    let snapshot = db.snapshot();
    let before = scan_all(&snapshot, space);
    assert_eq!(before.len(), 299);
    for index in 0..300_u32 {
        db.put(space, [index], b"new").unwrap();
    }
    db.flush(space).unwrap();
    assert_eq!(scan_all(&snapshot, space), before);
    assert_eq!(snapshot.get(space, &[5]).unwrap(), None);
    assert_eq!(db.get(space, &[5]).unwrap(), Some(b"new".to_vec().into()));
    let history = db.history(space, &[5]).unwrap();
    assert_eq!(history.len(), 3);
    assert_eq!(history[1].1, None, "the delete sits between the two puts");
    db.close().unwrap();
    assert_eq!(
        scan_all(&snapshot, space),
        before,
        "readable after the Db closed"
    );
}
