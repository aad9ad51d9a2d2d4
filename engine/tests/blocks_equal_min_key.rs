//! Two blocks of a space with the same lowest key both stay readable (docs/design.md §8: "a block
//! index keyed by a block's lowest key alone: a later block with the same lowest key replaced
//! the earlier one and its other records vanished").

mod common;

use common::small_options;
use infinitedb::Db;
use infinitedb::Readable;

#[test]
fn blocks_sharing_their_lowest_key_are_both_kept() {
    // Goal: the view keeps every block, whatever their key ranges. Method: seal {origin, a}
    // then {origin, b} (same lowest key: the origin is key 0), read a, b and the origin's
    // newest value, before and after a reopen.
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), small_options()).unwrap();
    let space = db.create_space("equal-min", 2, 8).unwrap();
    db.put(space, [0, 0], b"origin-1").unwrap();
    db.put(space, [200, 13], b"a").unwrap();
    db.flush(space).unwrap();
    db.put(space, [0, 0], b"origin-2").unwrap();
    db.put(space, [17, 250], b"b").unwrap();
    db.flush(space).unwrap();
    assert_eq!(db.stats().seals, 2);
    let check = |db: &Db| {
        assert_eq!(
            db.get(space, &[200, 13]).unwrap(),
            Some(b"a".to_vec().into())
        );
        assert_eq!(
            db.get(space, &[17, 250]).unwrap(),
            Some(b"b".to_vec().into())
        );
        assert_eq!(
            db.get(space, &[0, 0]).unwrap(),
            Some(b"origin-2".to_vec().into())
        );
        assert_eq!(db.space_stats(space).unwrap().records(), 4);
    };
    check(&db);
    db.close().unwrap();
    let db = Db::open(dir.path(), small_options()).unwrap();
    check(&db);
    db.close().unwrap();
}
