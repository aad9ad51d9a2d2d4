//! The key write-path scenarios again with io_uring off (`BackendRequest::Fallback`): reopen
//! after close, concurrent writers with dense revisions, the staged route, a torn tail.

mod common;

use std::sync::Arc;

use common::{Model, assert_matches_model, small_options_on, value_of, zero_deadline};
use infinitedb::Readable;
use infinitedb::{BackendKind, BackendRequest, Db};

fn options() -> infinitedb::Options {
    small_options_on(BackendRequest::Fallback)
}

#[test]
fn fallback_backend_keeps_every_write_across_reopen_and_seal() {
    // Goal: close/reopen, flush and concurrent writers on the fallback backend. Method:
    // 4 threads × 500 puts with a flush in between; dense revisions; reopen; compare.
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(dir.path(), options()).unwrap());
    assert!(
        matches!(
            db.backend().kind,
            BackendKind::Fallback | BackendKind::Buffered
        ),
        "{:?}",
        db.backend()
    );
    let space = db.create_space("fallback", 2, 12).unwrap();
    let handles: Vec<_> = (0..4_u32)
        .map(|thread| {
            let db = db.clone();
            std::thread::spawn(move || {
                (0..500)
                    .map(|i| db.put(space, [thread, i], value_of(thread, i)).unwrap().0)
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    db.flush(space).unwrap();
    let mut revisions: Vec<u64> = handles
        .into_iter()
        .flat_map(|handle| handle.join().unwrap())
        .collect();
    revisions.sort_unstable();
    assert_eq!(revisions, (1..=2000).collect::<Vec<u64>>());
    Arc::into_inner(db).unwrap().close().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    for thread in 0..4 {
        for i in 0..500 {
            assert_eq!(
                db.get(space, &[thread, i]).unwrap(),
                Some(value_of(thread, i).into())
            );
        }
    }
    assert_eq!(db.space_stats(space).unwrap().records(), 2000);
    db.close().unwrap();
}

#[test]
fn fallback_backend_staged_route_survives_reopen() {
    // Goal: the staged route on the fallback backend. Method: zero deadline, 200 puts, check
    // the staged counters, drop without close, reopen, compare.
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options().deadline(zero_deadline())).unwrap();
    let space = db.create_space("staged", 2, 12).unwrap();
    let mut model = Model::new();
    for i in 0..200 {
        let revision = db.put(space, [i, 7], value_of(i, 7)).unwrap();
        model.insert(vec![i, 7], (revision, Some(value_of(i, 7))));
    }
    assert_eq!(db.stats().records_staged, 200);
    drop(db);
    let db = Db::open(dir.path(), options()).unwrap();
    assert_matches_model(&db, space, &model);
    assert_eq!(db.space_stats(space).unwrap().records(), 200);
    db.close().unwrap();
}
