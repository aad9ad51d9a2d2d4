//! A failed fsync of a hot segment is never retried as success: the writers of that group get
//! an error, the segment is poisoned and the space rolls to a fresh one, later writes succeed,
//! and nothing acknowledged is lost after a power loss (docs/design.md §3 "Faults").

mod common;

use std::sync::Arc;

use common::{Model, assert_matches_model, small_options, value_of};
use infinitedb::Readable;
use infinitedb::{Db, Error};
use uring_io::{Fault, OpMatch, SimStorage, Storage};

/// errno EIO.
const EIO: i32 = 5;

#[test]
fn eio_on_a_hot_segment_sync_fails_the_group_and_rolls_the_segment() {
    // Goal: fault containment on the direct route. Method: 20 puts; the next hot-segment
    // fsync fails with EIO; the put riding it must fail; 20 more puts must succeed on a new
    // segment; the poisoned one is sealed; power loss; reopen; all acknowledged are there.
    let sim = SimStorage::new(3);
    let storage: Arc<dyn Storage> = Arc::new(sim.clone());
    let db = Db::open("/db", small_options().storage(storage)).unwrap();
    let space = db.create_space("faulty", 2, 10).unwrap();
    let mut model = Model::new();
    for i in 0..20 {
        let revision = db.put(space, [i, 0], value_of(i, 0)).unwrap();
        model.insert(vec![i, 0], (revision, Some(value_of(i, 0))));
    }
    let rule = sim.faults().on(
        OpMatch::fsync().path_contains("seg-").nth(1),
        Fault::Errno(EIO),
    );
    let failed = db.put(space, [500, 500], b"doomed");
    assert!(
        matches!(failed, Err(Error::WriteFailed { .. })),
        "got {failed:?}"
    );
    assert_eq!(sim.faults().fired(rule), 1);
    for i in 0..20 {
        let revision = db.put(space, [i, 1], value_of(i, 1)).unwrap();
        model.insert(vec![i, 1], (revision, Some(value_of(i, 1))));
    }
    let stats = db.stats();
    assert!(
        stats.chain_failures >= 1 && stats.segments_rolled >= 1,
        "{stats:?}"
    );
    assert_matches_model(&db, space, &model);
    assert_eq!(
        db.get(space, &[500, 500]).unwrap(),
        None,
        "a failed write is not visible"
    );
    db.flush(space).unwrap();
    db.close().unwrap();

    for seed in 0..4 {
        let storage: Arc<dyn Storage> = Arc::new(SimStorage::with_disk(sim.power_loss(seed), seed));
        let db = Db::open("/db", small_options().storage(storage)).unwrap();
        assert_matches_model(&db, space, &model);
        db.close().unwrap();
    }
}
