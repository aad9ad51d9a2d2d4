//! Revisions, block ids and segment ids never go backwards across crashes and reopens, so no
//! new write reuses a revision and no new block overwrites a live block file (docs/design.md §8:
//! "revision and block counters persisted lazily").

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::{Model, assert_matches_model, small_options, value_of};
use infinitedb::Db;
use uring_io::{SimStorage, Storage};

fn block_files(sim: &SimStorage) -> BTreeSet<String> {
    sim.disk()
        .paths()
        .into_iter()
        .filter(|path| path.starts_with("/db/blocks"))
        .filter_map(|path| {
            path.file_name()
                .map(|name| name.to_string_lossy().into_owned())
        })
        .collect()
}

#[test]
fn counters_continue_above_everything_on_disk_after_power_losses() {
    // Goal: every reopen continues revisions and ids above what any file holds. Method: four
    // rounds of (writes, a flush, more writes, power loss keeping only durable state, reopen);
    // each round's revisions must exceed all earlier ones, earlier blocks must keep their
    // contents, and the block files of earlier rounds must still be there.
    let mut sim = SimStorage::new(5);
    let mut model = Model::new();
    let mut revision_max = 0;
    let mut blocks_seen: BTreeSet<String> = BTreeSet::new();
    for round in 0..4_u32 {
        let storage: Arc<dyn Storage> = Arc::new(sim.clone());
        // Compaction off: this test watches every block file stay where it was written.
        let options = small_options().storage(storage).compaction(false);
        let db = Db::open("/db", options).unwrap();
        let space = if round == 0 {
            db.create_space("counters", 2, 10).unwrap()
        } else {
            db.space("counters").unwrap()
        };
        assert_matches_model(&db, space, &model);
        for i in 0..10 {
            let revision = db.put(space, [round, i], value_of(round, i)).unwrap();
            assert!(
                revision.0 > revision_max,
                "round {round}: revision {} reused",
                revision.0
            );
            revision_max = revision.0;
            model.insert(vec![round, i], (revision, Some(value_of(round, i))));
            if i == 4 {
                db.flush(space).unwrap();
            }
        }
        let files = block_files(&sim);
        assert!(
            blocks_seen.is_subset(&files),
            "round {round}: a named block vanished"
        );
        blocks_seen = files;
        let after = sim.disk().durable_image();
        drop(db);
        sim = SimStorage::with_disk(after, u64::from(round));
    }
    let storage: Arc<dyn Storage> = Arc::new(sim);
    let db = Db::open("/db", small_options().storage(storage)).unwrap();
    assert_matches_model(&db, db.space("counters").unwrap(), &model);
    db.close().unwrap();
}
