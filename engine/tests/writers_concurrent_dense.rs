//! Eight writer threads put 10,000 records each at once; after a reopen every record is there
//! and the revisions they were given are distinct and dense.

mod common;

use std::sync::Arc;

use common::{small_options, value_of};
use infinitedb::Db;
use infinitedb::Readable;

const THREADS: u32 = 8;
const PUTS_PER_THREAD: u32 = 10_000;

#[test]
fn concurrent_puts_get_dense_revisions_and_survive_reopen() {
    // Goal: group commit under contention keeps every write, revisions distinct and dense.
    // Method: 8 threads × 10,000 Sync puts at distinct points (small seal thresholds so seals
    // happen meanwhile); collect revisions; reopen; read every point back.
    let dir = tempfile::tempdir().unwrap();
    let options = small_options().seal_threshold_records(20_000);
    let db = Arc::new(Db::open(dir.path(), options.clone()).unwrap());
    let space = db.create_space("concurrent", 2, 16).unwrap();
    let handles: Vec<_> = (0..THREADS)
        .map(|thread| {
            let db = db.clone();
            std::thread::spawn(move || {
                (0..PUTS_PER_THREAD)
                    .map(|i| db.put(space, [thread, i], value_of(thread, i)).unwrap().0)
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut revisions: Vec<u64> = handles
        .into_iter()
        .flat_map(|handle| handle.join().unwrap())
        .collect();
    revisions.sort_unstable();
    let total = u64::from(THREADS * PUTS_PER_THREAD);
    assert_eq!(
        revisions,
        (1..=total).collect::<Vec<u64>>(),
        "revisions are distinct and dense"
    );
    let stats = db.stats();
    println!(
        "stats after {total} concurrent puts: {stats:?}, records/fsync {:.1}",
        stats.records_per_fsync()
    );
    assert!(
        stats.seals >= 1,
        "the record threshold sealed at least once"
    );
    Arc::into_inner(db).unwrap().close().unwrap();

    let db = Db::open(dir.path(), options).unwrap();
    let space = db.space("concurrent").unwrap();
    for thread in 0..THREADS {
        for i in 0..PUTS_PER_THREAD {
            assert_eq!(
                db.get(space, &[thread, i]).unwrap(),
                Some(value_of(thread, i).into()),
                "point {thread},{i}"
            );
        }
    }
    assert_eq!(
        db.space_stats(space).unwrap().records(),
        total,
        "no record twice"
    );
    assert_eq!(db.last_revision().0, total);
    db.close().unwrap();
}
