//! Read-only opens: what they read, what they refuse, and that they write nothing.
//!
//! Goal: `Db::open_read_only` reads a database's blocks and the records still in its logs (a
//! writer's close or crash leaves them there, unsealed) at the highest revision on disk,
//! shares the directory with other read-only opens and with no writer (in this process or
//! another), and leaves every byte of the directory as it found it. Method: real files on the
//! default backend; a directory's every file is hashed before and after; a writer child
//! process (this test binary re-executed, switched by `INFINITEDB_READ_ONLY_CHILD`) holds the
//! directory, then is killed with SIGKILL mid-life, and a read-only open reads what it
//! acknowledged.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failure is a test failure"
)]

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use infinitedb::{Db, Error, Options, Readable, Revision};
use support::suite_options;

const CHILD_ENV: &str = "INFINITEDB_READ_ONLY_CHILD";
const CHILD_TEST: &str = "a_killed_writer_processs_acknowledged_writes_are_read_from_its_logs";
/// Points the child writes and acknowledges before it reports `written`.
const CHILD_POINTS: u32 = 300;

/// Every file under `dir` (recursively), by relative path, with its bytes.
fn files_of(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(dir).unwrap().to_path_buf();
                files.insert(relative, std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

fn value(index: u32, generation: u32) -> Vec<u8> {
    format!("value {index} generation {generation}").into_bytes()
}

#[test]
fn read_only_open_reads_blocks_and_logs_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), suite_options()).unwrap();
    let space = db.create_space("ids", 1, 32).unwrap();
    for index in 0..200 {
        db.put(space, [index], value(index, 0)).unwrap();
    }
    db.flush(space).unwrap(); // into a block
    for index in 100..150 {
        db.put(space, [index], value(index, 1)).unwrap(); // into the logs only
    }
    for index in 150..160 {
        db.delete(space, [index]).unwrap();
    }
    let last = db.last_revision();
    db.close().unwrap();
    let before = files_of(dir.path());

    let reader = Db::open_read_only(dir.path(), suite_options()).unwrap();
    assert_eq!(reader.last_revision(), last);
    let space = reader.space("ids").unwrap();
    for index in 0..200 {
        let expected = match index {
            100..150 => Some(value(index, 1)),
            150..160 => None,
            _ => Some(value(index, 0)),
        };
        let found = reader.get(space, &[index]).unwrap();
        assert_eq!(found.as_deref(), expected.as_deref(), "point {index}");
    }
    assert_eq!(reader.history(space, &[120]).unwrap().len(), 2);
    let description = reader.describe();
    assert_eq!(description.spaces.len(), 1);
    let described = &description.spaces[0];
    assert_eq!(described.info.name, "ids");
    assert_eq!(described.blocks.len(), 1, "the flush's block");
    assert_eq!(described.blocks[0].record_count, 200);
    assert_eq!(
        described.live_tail_records, 60,
        "the close left 60 versions in the logs"
    );
    assert_eq!(description.revision_last, last);
    assert!(description.bytes_on_disk >= described.blocks[0].len_bytes);
    assert!(!description.logs.is_empty(), "the live logs are named");
    drop(reader);

    assert_eq!(
        files_of(dir.path()),
        before,
        "a read-only open changed the directory"
    );
    let db = Db::open(dir.path(), suite_options()).unwrap();
    assert_eq!(
        db.get(space, &[120]).unwrap().as_deref(),
        Some(&value(120, 1)[..])
    );
    assert_eq!(db.last_revision(), last);
}

#[test]
fn read_only_opens_share_a_directory_and_exclude_a_writer() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), suite_options()).unwrap();
    db.create_space("ids", 1, 32).unwrap();
    let refused = Db::open_read_only(dir.path(), suite_options());
    assert!(matches!(refused, Err(Error::Locked { .. })), "{refused:?}");
    db.close().unwrap();

    let first = Db::open_read_only(dir.path(), suite_options()).unwrap();
    let second = Db::open_read_only(dir.path(), suite_options()).unwrap();
    let refused = Db::open(dir.path(), suite_options());
    assert!(matches!(refused, Err(Error::Locked { .. })), "{refused:?}");
    drop(first);
    let refused = Db::open(dir.path(), suite_options());
    assert!(matches!(refused, Err(Error::Locked { .. })), "{refused:?}");
    drop(second);
    Db::open(dir.path(), suite_options())
        .unwrap()
        .close()
        .unwrap();
}

#[test]
fn read_only_open_refuses_what_is_no_database_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let refused = Db::open_read_only(dir.path(), suite_options());
    assert!(
        matches!(refused, Err(Error::NotADatabase { .. })),
        "{refused:?}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing created"
    );

    let missing = dir.path().join("missing");
    let refused = Db::open_read_only(&missing, suite_options());
    let Err(Error::Io { source }) = refused else {
        panic!("a missing directory is an I/O error, got {refused:?}");
    };
    assert!(source.to_string().contains("canonicalize"), "{source}");
    assert!(!missing.exists(), "a read-only open created the directory");

    // A copy without its LOCK file is refused as a writing open refuses it.
    let source_dir = tempfile::tempdir().unwrap();
    Db::open(source_dir.path(), suite_options())
        .unwrap()
        .close()
        .unwrap();
    std::fs::remove_file(source_dir.path().join("LOCK")).unwrap();
    let refused = Db::open_read_only(source_dir.path(), suite_options());
    let Err(Error::NotADatabase { reason, .. }) = refused else {
        panic!("expected NotADatabase, got {refused:?}");
    };
    assert!(reason.contains("LOCK"), "{reason}");
}

#[test]
fn a_killed_writer_processs_acknowledged_writes_are_read_from_its_logs() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        run_child(Path::new(&dir));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([CHILD_TEST, "--exact", "--nocapture", "--test-threads", "1"])
        .env(CHILD_ENV, dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut last = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        // The harness's `test NAME ... ` precedes the line without a line break.
        if let Some((_, revision)) = line.split_once("written ") {
            last = Some(Revision(revision.parse().unwrap()));
            break;
        }
    }
    let last = last.expect("the child reports its writes");
    // The child holds the directory as a writer: a read-only open in this process is refused.
    let refused = Db::open_read_only(dir.path(), suite_options());
    assert!(matches!(refused, Err(Error::Locked { .. })), "{refused:?}");
    child.kill().unwrap();
    child.wait().unwrap();

    let before = files_of(dir.path());
    let reader = Db::open_read_only(dir.path(), suite_options()).unwrap();
    assert!(reader.last_revision() >= last);
    let space = reader.space("ids").unwrap();
    for index in 0..CHILD_POINTS {
        let found = reader.get(space, &[index]).unwrap();
        assert_eq!(
            found.as_deref(),
            Some(&value(index, 2)[..]),
            "point {index}"
        );
    }
    drop(reader);
    assert_eq!(
        files_of(dir.path()),
        before,
        "a read-only open changed the directory"
    );
}

/// The child: opens a writer, acknowledges `CHILD_POINTS` writes, reports the last revision
/// and waits to be killed (or for its standard input to close, if the parent is gone).
fn run_child(dir: &Path) {
    let db = Db::open(dir, suite_options()).unwrap();
    let space = db.create_space("ids", 1, 32).unwrap();
    let mut last = Revision(0);
    for index in 0..CHILD_POINTS {
        last = db.put(space, [index], value(index, 2)).unwrap();
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "written {}", last.0).unwrap();
    out.flush().unwrap();
    drop(out);
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    drop(db);
}

#[test]
fn read_only_options_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    Db::open(dir.path(), suite_options())
        .unwrap()
        .close()
        .unwrap();
    let refused = Db::open_read_only(dir.path(), Options::default().segment_bytes(1));
    assert!(
        matches!(refused, Err(Error::InvalidOption { .. })),
        "{refused:?}"
    );
}
