//! When some hot-segment syncs are slow (simulated latency on hot segments only), those
//! groups are hedged onto the staging log and acknowledged staged while the others go direct;
//! both routes are counted, and everything acknowledged survives a power loss.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Model, assert_matches_model, small_options, value_of};
use infinitedb::Db;
use uring_io::{Fault, OpMatch, SimStorage, Storage};

#[test]
fn slow_hot_syncs_are_hedged_and_both_routes_are_counted() {
    // Goal: direct and staged routes coexist; a late direct chain is still tracked; recovery
    // de-duplicates. Method: every 4th hot-segment fsync takes 30 ms against a 2 ms deadline;
    // 400 sequential puts; check both route counters; power loss; reopen; compare.
    let sim = SimStorage::new(7);
    sim.faults().on(
        OpMatch::fsync().path_contains("seg-").probability(0.25),
        Fault::Latency(Duration::from_millis(30)),
    );
    let storage: Arc<dyn Storage> = Arc::new(sim.clone());
    let options = small_options()
        .deadline(Some(Duration::from_millis(2)))
        .storage(storage);
    let db = Db::open("/db", options).unwrap();
    let space = db.create_space("mixed", 2, 12).unwrap();
    let mut model = Model::new();
    for i in 0..400 {
        let revision = db.put(space, [i, 1], value_of(i, 1)).unwrap();
        model.insert(vec![i, 1], (revision, Some(value_of(i, 1))));
    }
    let stats = db.stats();
    println!("{stats:?}");
    assert!(stats.records_direct > 0, "some groups went direct");
    assert!(stats.records_staged > 0, "some groups went staged");
    assert_eq!(stats.records_direct + stats.records_staged, 400);
    assert!(
        stats.deadline_misses > 0,
        "slow hot chains missed their deadline"
    );
    assert_matches_model(&db, space, &model);

    let after = sim.power_loss(11);
    drop(db);
    let storage: Arc<dyn Storage> = Arc::new(SimStorage::with_disk(after, 12));
    let db = Db::open("/db", small_options().storage(storage)).unwrap();
    assert_matches_model(&db, space, &model);
    assert_eq!(
        db.space_stats(space).unwrap().records(),
        400,
        "nothing twice"
    );
    db.close().unwrap();
}
