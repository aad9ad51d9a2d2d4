//! Reopening after a clean close and after a drop without close restores every write,
//! including those sealed into blocks by `flush`.

mod common;

use common::{Model, assert_matches_model, small_options, value_of};
use infinitedb::{Db, Error};

#[test]
fn writes_survive_close_and_drop() {
    // Goal: every acknowledged write is readable after close, after drop, and across seals.
    // Method: put, delete, flush (block), put more; close; reopen and compare with a model;
    // then write more, drop without close, reopen and compare again.
    let dir = tempfile::tempdir().unwrap();
    let mut model = Model::new();
    {
        let db = Db::open(dir.path(), small_options()).unwrap();
        let space = db.create_space("grid", 2, 10).unwrap();
        for i in 0..50 {
            let revision = db.put(space, [i, i + 1], value_of(i, 0)).unwrap();
            model.insert(vec![i, i + 1], (revision, Some(value_of(i, 0))));
        }
        let revision = db.delete(space, [3, 4]).unwrap();
        model.insert(vec![3, 4], (revision, None));
        db.flush(space).unwrap();
        assert_eq!(db.stats().seals, 1);
        for i in 0..10 {
            let revision = db.put(space, [i, i + 1], value_of(i, 1)).unwrap();
            model.insert(vec![i, i + 1], (revision, Some(value_of(i, 1))));
        }
        assert_matches_model(&db, space, &model);
        db.close().unwrap();
    }
    let last = model.values().map(|(revision, _)| *revision).max().unwrap();
    {
        let db = Db::open(dir.path(), small_options()).unwrap();
        let space = db.space("grid").unwrap();
        assert_matches_model(&db, space, &model);
        assert!(matches!(db.space("nope"), Err(Error::UnknownSpace { .. })));
        let revision = db.put(space, [7, 7], b"after-reopen").unwrap();
        assert!(
            revision > last,
            "revisions continue above every recovered one"
        );
        model.insert(vec![7, 7], (revision, Some(b"after-reopen".to_vec())));
        drop(db);
    }
    let db = Db::open(dir.path(), small_options()).unwrap();
    let space = db.space("grid").unwrap();
    assert_matches_model(&db, space, &model);
    db.close().unwrap();
}
