//! A directory that is not a database (foreign files and no manifest, a manifest without its
//! lock file, data files without a manifest) is refused with a typed error that says what was
//! found, and is left as it was; an empty directory, or what an interrupted first open
//! leaves, opens as a new database.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a failure is a test failure"
)]

mod support;

use std::collections::BTreeSet;
use std::path::Path;

use infinitedb::Readable;
use infinitedb::{Db, Error};
use support::suite_options;

/// Every path under `dir`, relative to it.
fn tree(dir: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            found.insert(path.strip_prefix(dir).unwrap().display().to_string());
            if path.is_dir() {
                stack.push(path);
            }
        }
    }
    found
}

/// A closed database in `dir` with one point, flushed into a block, and one in a log.
fn make_database(dir: &Path) {
    let db = Db::open(dir, suite_options()).unwrap();
    let space = db.create_space("s", 2, 8).unwrap();
    db.put(space, [1, 2], b"sealed").unwrap();
    db.flush(space).unwrap();
    db.put(space, [3, 4], b"logged").unwrap();
    db.close().unwrap();
}

#[test]
fn foreign_files_without_a_manifest_are_refused_and_left_alone() {
    // Goal: opening a directory of someone else's files never creates a database over them.
    // Method: a directory with a foreign file and a foreign subdirectory (the shape the
    // nested-path bug left: LOCK beside `rel/`); open; expect NotADatabase naming the foreign
    // entries; the directory's contents are exactly as before (no LOCK, no engine
    // directories added).
    for with_lock in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"mine").unwrap();
        std::fs::create_dir_all(dir.path().join("rel/db")).unwrap();
        if with_lock {
            std::fs::write(dir.path().join("LOCK"), b"").unwrap();
        }
        let before = tree(dir.path());
        match Db::open(dir.path(), suite_options()) {
            Err(Error::NotADatabase { found, .. }) => {
                assert!(found.contains(&"notes.txt".to_string()), "{found:?}");
                assert!(found.contains(&"rel".to_string()), "{found:?}");
                assert!(!found.contains(&"LOCK".to_string()), "{found:?}");
            }
            other => panic!("lock {with_lock}: expected NotADatabase, got {other:?}"),
        }
        assert_eq!(
            tree(dir.path()),
            before,
            "lock {with_lock}: nothing written"
        );
    }
}

#[test]
fn foreign_files_in_engine_directories_without_a_manifest_are_refused() {
    // Goal: a stray file inside `blocks/` (not an engine name) with no manifest is not an
    // empty database either. Method: create blocks/x.bin; open; expect NotADatabase naming
    // it.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("blocks")).unwrap();
    std::fs::write(dir.path().join("blocks/x.bin"), b"?").unwrap();
    match Db::open(dir.path(), suite_options()) {
        Err(Error::NotADatabase { found, .. }) => {
            assert_eq!(found, vec!["blocks/x.bin".to_string()]);
        }
        other => panic!("expected NotADatabase, got {other:?}"),
    }
}

#[test]
fn a_manifest_without_its_lock_file_is_refused_until_the_lock_file_is_there() {
    // Goal: a database directory that lost its LOCK file (a copy made without it, or files
    // moved out of a database) is not opened as if nothing happened, and the refusal does not
    // create the LOCK file (so a second try is refused too). Method: make a database, delete
    // LOCK; open twice: NotADatabase both times, no LOCK created; create an empty LOCK; open
    // finds both points.
    let dir = tempfile::tempdir().unwrap();
    make_database(dir.path());
    std::fs::remove_file(dir.path().join("LOCK")).unwrap();
    for attempt in 0..2 {
        match Db::open(dir.path(), suite_options()) {
            Err(Error::NotADatabase { reason, found, .. }) => {
                assert!(reason.contains("LOCK"), "{reason}");
                assert!(found.contains(&"MANIFEST".to_string()), "{found:?}");
            }
            other => panic!("attempt {attempt}: expected NotADatabase, got {other:?}"),
        }
        assert!(!dir.path().join("LOCK").exists(), "attempt {attempt}");
    }
    std::fs::write(dir.path().join("LOCK"), b"").unwrap();
    let db = Db::open(dir.path(), suite_options()).unwrap();
    let space = db.space("s").unwrap();
    assert_eq!(
        db.get(space, &[1, 2]).unwrap().as_deref(),
        Some(&b"sealed"[..])
    );
    assert_eq!(
        db.get(space, &[3, 4]).unwrap().as_deref(),
        Some(&b"logged"[..])
    );
    db.close().unwrap();
}

#[test]
fn data_files_without_a_manifest_are_refused_and_the_lock_file_is_not_left_behind() {
    // Goal: a database whose MANIFEST is gone fails closed, whether or not its LOCK is there.
    // Method: make a database; delete MANIFEST (and, second round, LOCK too); open: expect
    // MissingManifest; a LOCK this open created is removed again.
    for delete_lock in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        make_database(dir.path());
        std::fs::remove_file(dir.path().join("MANIFEST")).unwrap();
        if delete_lock {
            std::fs::remove_file(dir.path().join("LOCK")).unwrap();
        }
        let before = tree(dir.path());
        assert!(
            matches!(
                Db::open(dir.path(), suite_options()),
                Err(Error::MissingManifest { .. })
            ),
            "delete_lock {delete_lock}"
        );
        assert_eq!(tree(dir.path()), before, "delete_lock {delete_lock}");
    }
}

#[test]
fn an_empty_directory_and_an_interrupted_first_open_open_as_new_databases() {
    // Goal: what a first open leaves when it stops before its MANIFEST is durable (LOCK, the
    // engine's empty directories, perhaps MANIFEST.tmp) is a new database, not an error.
    // Method: three directories: empty; LOCK + empty engine directories; the same plus a
    // MANIFEST.tmp; each opens, takes a space and a point, and reopens with it.
    let leftovers: [&[&str]; 3] = [
        &[],
        &["LOCK", "segments/", "blocks/", "staging/"],
        &["LOCK", "segments/", "blocks/", "staging/", "MANIFEST.tmp"],
    ];
    for entries in leftovers {
        let dir = tempfile::tempdir().unwrap();
        for entry in entries {
            match entry.strip_suffix('/') {
                Some(name) => std::fs::create_dir_all(dir.path().join(name)).unwrap(),
                None => std::fs::write(dir.path().join(entry), b"").unwrap(),
            }
        }
        let db = Db::open(dir.path(), suite_options()).unwrap();
        let space = db.create_space("s", 1, 8).unwrap();
        db.put(space, [7], b"new").unwrap();
        db.close().unwrap();
        let db = Db::open(dir.path(), suite_options()).unwrap();
        let space = db.space("s").unwrap();
        assert_eq!(db.get(space, &[7]).unwrap().as_deref(), Some(&b"new"[..]));
        db.close().unwrap();
    }
}
