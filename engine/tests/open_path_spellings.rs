//! Every spelling of a database directory opens the same database, and every file is under
//! the directory that was named.
//!
//! One test in this binary: it changes the working directory, which is process-wide.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a failure is a test failure"
)]

mod support;

use std::collections::BTreeSet;
use std::path::Path;

use infinitedb::Db;
use infinitedb::Readable;
use support::suite_options;

/// The names directly inside `dir`.
fn entries(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect()
}

#[test]
fn relative_absolute_dotdot_and_symlinked_paths_open_one_database() {
    // Goal: a database opened by a relative path keeps every file under that directory, and
    // opening it by its absolute path, through `..` or through a symlink finds the same
    // data. Method: from a working directory D, open "rel/db", create space "s", put [1,2],
    // flush (a block), put [3,4] (a log record), close; check D/rel/db holds exactly the
    // database's entries; reopen by each spelling, check both points, write one more point
    // per spelling, and check every earlier point is still there; while one spelling holds
    // it open, another is refused as locked.
    let base = tempfile::tempdir().unwrap();
    let base_path = std::fs::canonicalize(base.path()).unwrap();
    std::env::set_current_dir(&base_path).unwrap();
    {
        let db = Db::open("rel/db", suite_options()).unwrap();
        let space = db.create_space("s", 2, 8).unwrap();
        db.put(space, [1, 2], b"sealed").unwrap();
        db.flush(space).unwrap();
        db.put(space, [3, 4], b"logged").unwrap();
        db.close().unwrap();
    }
    let db_dir = base_path.join("rel/db");
    let expected: BTreeSet<String> = ["LOCK", "MANIFEST", "blocks", "segments", "staging"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(entries(&db_dir), expected, "nothing nested under rel/db");
    assert!(
        !entries(&db_dir.join("blocks")).is_empty(),
        "the flushed block is in rel/db/blocks"
    );

    std::os::unix::fs::symlink(base_path.join("rel"), base_path.join("link")).unwrap();
    let spellings = [
        db_dir.clone(),
        base_path.join("rel/../rel/db"),
        base_path.join("link/db"),
        Path::new("./rel/db").to_path_buf(),
        Path::new("link/../rel/db").to_path_buf(),
    ];
    let mut written = vec![
        ([1_u32, 2_u32], b"sealed".to_vec()),
        ([3, 4], b"logged".to_vec()),
    ];
    for (index, spelling) in spellings.iter().enumerate() {
        let db = Db::open(spelling, suite_options()).unwrap();
        let space = db
            .space("s")
            .unwrap_or_else(|error| panic!("{}: space s not found: {error}", spelling.display()));
        for (point, value) in &written {
            assert_eq!(
                db.get(space, point).unwrap().as_deref(),
                Some(value.as_slice()),
                "{}: point {point:?}",
                spelling.display()
            );
        }
        let other = &spellings[(index + 1) % spellings.len()];
        assert!(
            matches!(
                Db::open(other, suite_options()),
                Err(infinitedb::Error::Locked { .. })
            ),
            "{} is the same database as {}: it is locked",
            other.display(),
            spelling.display()
        );
        let point = [10 + u32::try_from(index).unwrap(), 0];
        let value = format!("via {}", spelling.display()).into_bytes();
        db.put(space, point, &value).unwrap();
        written.push((point, value));
        db.close().unwrap();
        assert_eq!(entries(&db_dir), expected, "{}", spelling.display());
    }
    assert_eq!(
        entries(&base_path),
        ["link", "rel"].into_iter().map(String::from).collect(),
        "nothing was created beside the database"
    );
    std::env::set_current_dir("/").unwrap();
}
