//! With a zero deadline every group is acknowledged through the staging log; the hot segments
//! still receive every batch, and everything is there after a reopen.

mod common;

use std::sync::Arc;

use common::{Model, assert_matches_model, small_options, value_of, zero_deadline};
use infinitedb::Db;
use infinitedb::Readable;

#[test]
fn zero_deadline_acknowledges_every_group_staged() {
    // Goal: the staged route alone carries acknowledgements, and both logs stay consistent.
    // Method: 4 threads × 300 puts plus a flush with deadline 0; check route counters; close;
    // reopen and compare with the model; drop without close and reopen once more.
    let dir = tempfile::tempdir().unwrap();
    let options = small_options().deadline(zero_deadline());
    let db = Arc::new(Db::open(dir.path(), options.clone()).unwrap());
    let space = db.create_space("staged", 2, 12).unwrap();
    let handles: Vec<_> = (0..4_u32)
        .map(|thread| {
            let db = db.clone();
            std::thread::spawn(move || {
                let mut model = Model::new();
                for i in 0..300 {
                    let revision = db.put(space, [thread, i], value_of(thread, i)).unwrap();
                    model.insert(vec![thread, i], (revision, Some(value_of(thread, i))));
                    if thread == 0 && i == 150 {
                        db.flush(space).unwrap();
                    }
                }
                model
            })
        })
        .collect();
    let mut model = Model::new();
    for handle in handles {
        model.extend(handle.join().unwrap());
    }
    let stats = db.stats();
    println!("{stats:?}");
    assert_eq!(
        stats.records_staged, 1200,
        "every record acknowledged staged"
    );
    assert_eq!(stats.records_direct, 0);
    assert_eq!(stats.groups_direct, 0);
    assert!(stats.groups_staged > 0);
    assert_matches_model(&db, space, &model);
    Arc::into_inner(db).unwrap().close().unwrap();

    let db = Db::open(dir.path(), options.clone()).unwrap();
    assert_matches_model(&db, space, &model);
    assert_eq!(
        db.space_stats(space).unwrap().records(),
        1200,
        "copies in both logs count once"
    );
    db.put(space, [9, 9], b"more").unwrap();
    drop(db);
    let db = Db::open(dir.path(), options).unwrap();
    assert_matches_model(&db, space, &model);
    assert_eq!(
        db.get(space, &[9, 9]).unwrap(),
        Some(b"more".to_vec().into())
    );
    db.close().unwrap();
}
