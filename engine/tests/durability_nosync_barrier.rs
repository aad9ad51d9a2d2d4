//! Under `Durability::NoSync` writes return once sequenced and are visible at once; `sync` is
//! the barrier after which they survive a power loss (docs/design.md §3 "Durability").

mod common;

use std::sync::Arc;

use common::{Model, assert_matches_model, small_options, value_of};
use infinitedb::{Db, Durability};
use uring_io::{SimStorage, Storage};

#[test]
fn writes_synced_by_the_barrier_survive_power_loss() {
    // Goal: NoSync writes are readable immediately and durable after `sync`. Method: 300
    // NoSync puts on the simulated disk, read them, `sync`, cut power keeping only durable
    // state, reopen, compare with the model.
    let sim = SimStorage::new(9);
    let storage: Arc<dyn Storage> = Arc::new(sim.clone());
    let options = small_options().durability(Durability::NoSync);
    let db = Db::open("/db", options.clone().storage(storage)).unwrap();
    let space = db.create_space("nosync", 2, 10).unwrap();
    let mut model = Model::new();
    for i in 0..300 {
        let revision = db.put(space, [i, 5], value_of(i, 5)).unwrap();
        model.insert(vec![i, 5], (revision, Some(value_of(i, 5))));
    }
    assert_matches_model(&db, space, &model);
    db.sync().unwrap();
    let after = sim.disk().durable_image();
    drop(db);
    let storage: Arc<dyn Storage> = Arc::new(SimStorage::with_disk(after, 1));
    let db = Db::open("/db", options.storage(storage)).unwrap();
    assert_matches_model(&db, space, &model);
    assert_eq!(db.space_stats(space).unwrap().records(), 300);
    db.close().unwrap();
}
