//! Every kind of bad input is a typed error and writes nothing (docs/design.md §2 "Faults
//! and bad input").

mod common;

use common::small_options;
use infinitedb::Readable;
use infinitedb::{Batch, Db, Error};

#[test]
fn bad_points_values_and_batches_are_typed_errors() {
    // Goal: each bad input gives its own variant and leaves no trace. Method: try each, then
    // check that no revision was used and nothing is readable.
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), small_options().value_bytes_max(100)).unwrap();
    let space = db.create_space("plane", 2, 8).unwrap();

    assert!(
        matches!(db.put(space, [1], b"x"), Err(Error::InvalidPoint { .. })),
        "too few coordinates"
    );
    assert!(
        matches!(
            db.put(space, [1, 2, 3], b"x"),
            Err(Error::InvalidPoint { .. })
        ),
        "too many coordinates"
    );
    assert!(
        matches!(
            db.put(space, [256, 0], b"x"),
            Err(Error::InvalidPoint { .. })
        ),
        "coordinate >= 2^bits"
    );
    assert!(matches!(
        db.get(space, &[0, 256]),
        Err(Error::InvalidPoint { .. })
    ));
    assert!(matches!(
        db.put(space, [1, 1], &[0; 101]),
        Err(Error::ValueTooLarge {
            bytes: 101,
            max: 100
        })
    ));
    let unknown = infinitedb::SpaceId(99);
    assert!(matches!(
        db.put(unknown, [1, 1], b"x"),
        Err(Error::UnknownSpace { .. })
    ));
    assert!(matches!(
        db.get(unknown, &[1, 1]),
        Err(Error::UnknownSpace { .. })
    ));
    assert!(matches!(db.flush(unknown), Err(Error::UnknownSpace { .. })));
    assert!(matches!(
        db.write(Batch::new(space)),
        Err(Error::EmptyBatch)
    ));
    let mut mixed = Batch::new(space);
    mixed.put([1, 1], b"fine").put([300, 1], b"bad");
    assert!(
        matches!(db.write(mixed), Err(Error::InvalidPoint { .. })),
        "one bad record refuses the batch"
    );

    assert_eq!(db.last_revision().0, 0, "no bad input used a revision");
    assert_eq!(
        db.get(space, &[1, 1]).unwrap(),
        None,
        "the refused batch left nothing"
    );
    assert_eq!(db.space_stats(space).unwrap().records(), 0);
    db.close().unwrap();
    let db = Db::open(dir.path(), small_options()).unwrap();
    assert_eq!(db.space("plane").unwrap(), space);
    assert_eq!(db.last_revision().0, 0);
    db.close().unwrap();
}

#[test]
fn bad_space_definitions_are_typed_errors() {
    // Goal: duplicate names and shapes out of range are refused and not persisted. Method:
    // try each, reopen, check only the valid spaces exist.
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), small_options()).unwrap();
    db.create_space("plane", 2, 8).unwrap();
    assert!(matches!(
        db.create_space("plane", 2, 8),
        Err(Error::SpaceExists { .. })
    ));
    assert!(matches!(
        db.create_space("zero-dims", 0, 8),
        Err(Error::InvalidSpace { .. })
    ));
    assert!(matches!(
        db.create_space("many-dims", 17, 1),
        Err(Error::InvalidSpace { .. })
    ));
    assert!(matches!(
        db.create_space("zero-bits", 2, 0),
        Err(Error::InvalidSpace { .. })
    ));
    assert!(matches!(
        db.create_space("wide-bits", 1, 33),
        Err(Error::InvalidSpace { .. })
    ));
    assert!(matches!(
        db.create_space("over-128", 5, 26),
        Err(Error::InvalidSpace { .. })
    ));
    assert!(matches!(
        db.create_space("", 2, 8),
        Err(Error::InvalidSpace { .. })
    ));
    assert!(db.create_space("exactly-128", 4, 32).is_ok());

    db.close().unwrap();
    let db = Db::open(dir.path(), small_options()).unwrap();
    assert!(matches!(
        db.space("zero-dims"),
        Err(Error::UnknownSpace { .. })
    ));
    assert!(db.space("plane").is_ok() && db.space("exactly-128").is_ok());
    db.close().unwrap();
}
