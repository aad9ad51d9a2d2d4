//! Bad input to the read API is a typed error, never a panic or a silently masked read:
//! unknown space, wrong number of coordinates, coordinates too large, a box of the wrong
//! dimensions or out of range. An inverted box is refused when built.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failure is a test failure"
)]

mod common;

use infinitedb::Readable;
use infinitedb::keyspace::{KeyspaceError, QueryBox};
use infinitedb::{Db, Error, Revision, SpaceId};

#[test]
fn bad_reads_are_typed_errors() {
    // Goal: each bad input maps to its variant. Method: one space of 2-D × 4 bits, then every
    // read entry point with each kind of bad input, on the Db and on a snapshot.
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), common::small_options()).unwrap();
    let space = db.create_space("small", 2, 4).unwrap();
    db.put(space, [1, 2], b"x").unwrap();
    let unknown = SpaceId(99);
    assert!(matches!(
        db.get_at(unknown, &[1, 2], Revision(1)),
        Err(Error::UnknownSpace { .. })
    ));
    assert!(matches!(
        db.history(unknown, &[1, 2]),
        Err(Error::UnknownSpace { .. })
    ));
    assert!(matches!(db.scan(unknown), Err(Error::UnknownSpace { .. })));
    assert!(matches!(
        db.get_at(space, &[1, 2, 3], Revision(1)),
        Err(Error::InvalidPoint { .. })
    ));
    assert!(matches!(
        db.history(space, &[16, 0]),
        Err(Error::InvalidPoint { .. })
    ));
    let three_d = QueryBox::new(vec![0, 0, 0], vec![1, 1, 1]).unwrap();
    assert!(matches!(
        db.query(space, &three_d),
        Err(Error::InvalidBox { .. })
    ));
    let too_far = QueryBox::new(vec![0, 0], vec![3, 16]).unwrap();
    assert!(matches!(
        db.query(space, &too_far),
        Err(Error::InvalidBox { .. })
    ));
    assert!(matches!(
        QueryBox::new(vec![5, 0], vec![4, 3]),
        Err(KeyspaceError::InvertedBox { dimension: 0, .. })
    ));
    let snapshot = db.snapshot();
    assert!(matches!(
        snapshot.get(unknown, &[1, 2]),
        Err(Error::UnknownSpace { .. })
    ));
    assert!(matches!(
        snapshot.query(space, &three_d),
        Err(Error::InvalidBox { .. })
    ));
    assert_eq!(
        snapshot.get(space, &[1, 2]).unwrap(),
        Some(b"x".to_vec().into())
    );
    let later = db.create_space("later", 1, 8).unwrap();
    assert!(
        matches!(snapshot.scan(later), Err(Error::UnknownSpace { .. })),
        "a space created after the snapshot"
    );
    db.close().unwrap();
}
