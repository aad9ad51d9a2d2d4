//! Under `Sync`, the commit path puts a batch's records into the live tail while its hot
//! chain is in flight, before the batch is decided (`io_thread::publish`). These
//! scenarios check the two things that keep that invisible:
//! - no read sees a record before its write is acknowledged (reads are clamped to the
//!   published mark), whatever the read: `get`, `history`, a box query or a snapshot;
//! - a batch whose hot chain is cancelled at its deadline leaves the live tail at once,
//!   so a seal that runs before the batch is decided never writes it into a block: a power
//!   loss then cannot bring back a write that was never durable anywhere (docs/design.md §3
//!   "Recovery": never a record that was not written).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Model, assert_matches_model, small_options, value_of};
use infinitedb::Readable;
use infinitedb::{Db, QueryBox};
use uring_io::{Fault, OpMatch, SimStorage, Storage};

#[test]
fn a_write_in_flight_is_seen_by_no_read_until_it_is_acknowledged() {
    // Goal: records inserted ahead of their decision stay invisible. Method: the next
    // hot-segment sync takes 300 ms (no deadline, so no hedge); while the put waits, read its
    // point every way the API offers; none may see it. Once the put returns, all must.
    let sim = SimStorage::new(5);
    let storage: Arc<dyn Storage> = Arc::new(sim.clone());
    let db = Arc::new(Db::open("/db", small_options().storage(storage)).unwrap());
    let space = db.create_space("in-flight", 2, 10).unwrap();
    for i in 0..10 {
        db.put(space, [i, 0], value_of(i, 0)).unwrap();
    }
    let slow = sim.faults().on(
        OpMatch::fsync().path_contains("seg-").nth(1),
        Fault::Latency(Duration::from_millis(300)),
    );
    let writer = {
        let db = db.clone();
        std::thread::spawn(move || db.put(space, [7, 7], b"in flight"))
    };
    let whole = QueryBox::new(vec![0, 0], vec![1023, 1023]).unwrap();
    let mut reads = 0;
    while !writer.is_finished() {
        let snapshot = db.snapshot();
        let query_hits = db
            .query(space, &whole)
            .unwrap()
            .filter(|entry| entry.as_ref().unwrap().point == [7, 7])
            .count();
        let seen = (
            db.get(space, &[7, 7]).unwrap(),
            db.history(space, &[7, 7]).unwrap(),
            snapshot.get(space, &[7, 7]).unwrap(),
            query_hits,
        );
        if writer.is_finished() {
            break; // acknowledged meanwhile: what was read may legitimately include it
        }
        assert_eq!(seen, (None, Vec::new(), None, 0), "read #{reads}");
        reads += 1;
        std::thread::sleep(Duration::from_millis(5));
    }
    let revision = writer.join().unwrap().unwrap();
    assert_eq!(sim.faults().fired(slow), 1);
    assert!(
        reads >= 10,
        "only {reads} reads while the write was in flight"
    );
    assert_eq!(
        db.get(space, &[7, 7]).unwrap(),
        Some(b"in flight".to_vec().into())
    );
    assert_eq!(
        db.history(space, &[7, 7])
            .unwrap()
            .into_iter()
            .map(|(r, v)| (r, v.map(|v| v.to_vec())))
            .collect::<Vec<_>>(),
        vec![(revision, Some(b"in flight".to_vec()))]
    );
    assert_eq!(
        db.snapshot().get(space, &[7, 7]).unwrap(),
        Some(b"in flight".to_vec().into())
    );
}

#[test]
fn a_cancelled_batch_is_not_in_a_block_sealed_before_it_is_durable() {
    // Goal: a batch whose hot chain is cancelled leaves the live tail until it is decided.
    // Method: the doomed put's hot write is cancelled at its 100 ms deadline (the hedge to
    // the staging log and the retry on the new segment each take 1 s to sync); a flush asked
    // meanwhile switches the space while the batch waits, and its seal completes. Power loss
    // now, keeping only what is durable: the doomed write is durable nowhere, so the reopened
    // database must not have it. The original database then acknowledges it once, and a clean
    // reopen has it exactly once.
    let sim = SimStorage::new(9);
    let storage: Arc<dyn Storage> = Arc::new(sim.clone());
    let options = small_options()
        .deadline(Some(Duration::from_millis(100)))
        .storage(storage);
    let db = Arc::new(Db::open("/db", options.clone()).unwrap());
    let space = db.create_space("cancelled", 2, 10).unwrap();
    let mut model = Model::new();
    for i in 0..10 {
        let revision = db.put(space, [i, 0], value_of(i, 0)).unwrap();
        model.insert(vec![i, 0], (revision, Some(value_of(i, 0))));
    }
    let cancel = sim
        .faults()
        .on(OpMatch::write().path_contains("seg-").nth(1), Fault::Cancel);
    for slow_log in ["seg-", "stage-"] {
        sim.faults().on(
            OpMatch::fsync().path_contains(slow_log),
            Fault::Latency(Duration::from_secs(1)),
        );
    }
    let writer = {
        let db = db.clone();
        std::thread::spawn(move || db.put(space, [500, 500], b"doomed"))
    };
    std::thread::sleep(Duration::from_millis(20));
    db.flush(space).unwrap();
    assert_eq!(
        sim.faults().fired(cancel),
        1,
        "the doomed chain was cancelled"
    );
    assert!(
        !writer.is_finished(),
        "no copy of the doomed write is durable yet"
    );

    let durable_now = sim.disk().durable_image();
    let reopened = Db::open(
        "/db",
        small_options().storage(Arc::new(SimStorage::with_disk(durable_now, 10))),
    )
    .unwrap();
    assert_eq!(
        reopened.get(space, &[500, 500]).unwrap(),
        None,
        "a write durable nowhere came back from a sealed block"
    );
    assert_matches_model(&reopened, space, &model);
    reopened.close().unwrap();

    let revision = writer.join().unwrap().unwrap();
    model.insert(vec![500, 500], (revision, Some(b"doomed".to_vec())));
    assert_matches_model(&db, space, &model);
    assert_eq!(
        db.space_stats(space).unwrap().records(),
        11,
        "nothing twice"
    );
    sim.faults().clear();
    Arc::into_inner(db).unwrap().close().unwrap();
    let db = Db::open("/db", options).unwrap();
    assert_matches_model(&db, space, &model);
    assert_eq!(
        db.space_stats(space).unwrap().records(),
        11,
        "nothing twice"
    );
    db.close().unwrap();
}
