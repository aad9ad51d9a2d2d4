//! A database directory is opened by one `Db` at a time: a second open, in this process, gets
//! `Error::Locked` until the first closes (docs/design.md §3 "Isolation").

mod common;

use std::sync::Arc;

use common::small_options;
use infinitedb::{Db, Error};
use uring_io::{SimStorage, Storage};

#[test]
fn second_open_of_a_directory_is_locked_until_close() {
    // Goal: flock on the real directory refuses a second open. Method: open twice, close,
    // open again.
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), small_options()).unwrap();
    match Db::open(dir.path(), small_options()) {
        Err(Error::Locked { path }) => assert_eq!(path, dir.path()),
        other => panic!("expected Locked, got {other:?}"),
    }
    db.close().unwrap();
    Db::open(dir.path(), small_options())
        .unwrap()
        .close()
        .unwrap();
}

#[test]
fn second_open_on_a_supplied_storage_is_locked_until_drop() {
    // Goal: with a supplied (simulated) storage the process-wide registry stands in for
    // flock. Method: open the same path of one SimStorage twice, drop, open again.
    let storage: Arc<dyn Storage> = Arc::new(SimStorage::new(1));
    let options = small_options().storage(storage.clone());
    let db = Db::open("/db", options.clone()).unwrap();
    assert!(matches!(
        Db::open("/db", options.clone()),
        Err(Error::Locked { .. })
    ));
    let other: Arc<dyn Storage> = Arc::new(SimStorage::new(2));
    Db::open("/db", small_options().storage(other))
        .unwrap()
        .close()
        .unwrap();
    drop(db);
    Db::open("/db", options).unwrap().close().unwrap();
}
