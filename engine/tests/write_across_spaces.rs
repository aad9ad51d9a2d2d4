//! Batches across spaces (`Batch::put_in`, `Batch::delete_in`) on real files.
//!
//! Contract checked: a batch of several spaces gets one revision and is visible in all of
//! them when it returns; a snapshot never sees part of one (a reader racing a writer whose
//! every batch writes one counter into three spaces always finds the three equal); the
//! batches survive a reopen, also when some of their spaces were sealed in between and
//! others were not; batches of one space and of several interleave from many threads and
//! from `submit` handles with every write readable afterwards; a batch naming an unknown
//! space, or a point outside one of its spaces, writes nothing. Crash atomicity is checked
//! by the power-loss harness (`crash_power_loss_seeded.rs`) and the exhaustive crash states
//! (`crash_exhaustive_small.rs`).

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a failure is a test failure"
)]

mod support;

use std::sync::atomic::{AtomicBool, Ordering};

use infinitedb::{
    BackendRequest, Batch, Db, Durability, Error, Options, Readable, SpaceId, WriteOptions,
};
use support::{REAL_BACKENDS, suite_options};

fn options(backend: BackendRequest) -> Options {
    suite_options().backend(backend)
}

fn counter_value(counter: u32) -> Vec<u8> {
    format!("counter-{counter}").into_bytes()
}

/// Three spaces of different shapes.
fn three_spaces(db: &Db) -> [SpaceId; 3] {
    [
        db.create_space("orders", 1, 32).unwrap(),
        db.create_space("stock", 2, 16).unwrap(),
        db.create_space("audit", 3, 10).unwrap(),
    ]
}

/// A batch writing `counter` at one point of each of `spaces`.
fn counter_batch(spaces: [SpaceId; 3], counter: u32) -> Batch {
    let mut batch = Batch::new(spaces[0]);
    batch
        .put([7], counter_value(counter))
        .put_in(spaces[1], [7, 7], counter_value(counter))
        .put_in(spaces[2], [7, 7, 7], counter_value(counter));
    batch
}

/// The three counters a reader sees.
fn counters(reader: &impl Readable, spaces: [SpaceId; 3]) -> [Option<Vec<u8>>; 3] {
    [
        reader
            .get(spaces[0], &[7])
            .unwrap()
            .map(|value| value.to_vec()),
        reader
            .get(spaces[1], &[7, 7])
            .unwrap()
            .map(|value| value.to_vec()),
        reader
            .get(spaces[2], &[7, 7, 7])
            .unwrap()
            .map(|value| value.to_vec()),
    ]
}

#[test]
fn a_batch_across_spaces_is_one_revision_visible_in_all() {
    // Goal: one revision, every part readable at it, history in each space at that revision.
    // Method: a batch of puts and a delete over three spaces, then reads.
    for backend in REAL_BACKENDS {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), options(backend)).unwrap();
        let spaces = three_spaces(&db);
        db.put(spaces[1], [1, 1], b"old").unwrap();
        let mut batch = counter_batch(spaces, 1);
        batch.delete_in(spaces[1], [1, 1]);
        let revision = db.write(batch).unwrap();
        let snapshot = db.snapshot();
        assert!(snapshot.revision() >= revision, "{backend:?}");
        assert_eq!(
            counters(&snapshot, spaces),
            [0, 1, 2].map(|_| Some(counter_value(1))),
            "{backend:?}"
        );
        assert_eq!(
            snapshot.get(spaces[1], &[1, 1]).unwrap(),
            None,
            "{backend:?}"
        );
        for (space, point) in [(spaces[0], vec![7]), (spaces[2], vec![7, 7, 7])] {
            let history = db.history(space, &point).unwrap();
            assert_eq!(history.len(), 1, "{backend:?}");
            assert_eq!(history[0].0, revision, "{backend:?}");
        }
        db.close().unwrap();
    }
}

#[test]
fn snapshots_never_see_part_of_a_batch_across_spaces() {
    // Goal: atomic visibility. Method: a writer writes counters 1..=N into three spaces, one
    // batch each, while a reader (started first) takes snapshots and checks the three
    // counters are equal every time.
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options(BackendRequest::Auto)).unwrap();
    let spaces = three_spaces(&db);
    let done = AtomicBool::new(false);
    let writes = 300;
    let started = std::sync::Barrier::new(2);
    let checked = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut checked = 0_u32;
            started.wait();
            loop {
                let finished = done.load(Ordering::Acquire);
                let snapshot = db.snapshot();
                let seen = counters(&snapshot, spaces);
                assert!(
                    seen.iter().all(|value| *value == seen[0]),
                    "snapshot at {:?} sees part of a batch: {seen:?}",
                    snapshot.revision()
                );
                checked += 1;
                if finished {
                    return checked;
                }
            }
        });
        // The writes start once the reader is running.
        started.wait();
        for counter in 1..=writes {
            db.write(counter_batch(spaces, counter)).unwrap();
        }
        done.store(true, Ordering::Release);
        reader.join().unwrap()
    });
    println!("{checked} snapshots checked while {writes} batches were written");
    assert_eq!(
        counters(&db.snapshot(), spaces),
        [0, 1, 2].map(|_| Some(counter_value(writes)))
    );
}

#[test]
fn batches_across_spaces_survive_reopen_around_seals() {
    // Goal: recovery finds every acknowledged batch across spaces whether its parts are in
    // blocks, hot segments or the staging log. Method: write batches across spaces, flush one
    // space (its parts go to a block) but not the others, write more, close or drop, reopen,
    // read every counter; under both durabilities.
    for backend in REAL_BACKENDS {
        for durability in [Durability::Sync, Durability::NoSync] {
            let dir = tempfile::tempdir().unwrap();
            let context = format!("{backend:?} {durability:?}");
            {
                let db = Db::open(dir.path(), options(backend).durability(durability)).unwrap();
                let spaces = three_spaces(&db);
                for counter in 0..20 {
                    let mut batch = Batch::new(spaces[0]);
                    batch
                        .put([counter], counter_value(counter))
                        .put_in(spaces[1], [counter, 1], counter_value(counter))
                        .put_in(spaces[2], [counter, 1, 2], counter_value(counter));
                    db.write(batch).unwrap();
                    if counter == 9 {
                        db.flush(spaces[1]).unwrap();
                    }
                }
                db.sync().unwrap();
                db.close().unwrap();
            }
            let db = Db::open(dir.path(), options(backend)).unwrap();
            let spaces = [
                db.space("orders").unwrap(),
                db.space("stock").unwrap(),
                db.space("audit").unwrap(),
            ];
            for counter in 0..20 {
                let expected = Some(counter_value(counter));
                let found = [
                    db.get(spaces[0], &[counter]).unwrap(),
                    db.get(spaces[1], &[counter, 1]).unwrap(),
                    db.get(spaces[2], &[counter, 1, 2]).unwrap(),
                ];
                for value in found {
                    assert_eq!(value.map(|value| value.to_vec()), expected, "{context}");
                }
            }
            db.close().unwrap();
        }
    }
}

#[test]
fn batches_of_one_and_of_several_spaces_interleave() {
    // Goal: spanning batches hold back no one for good and lose nothing when mixed with
    // single-space writes, blocking and submitted, Sync and NoSync. Method: four threads, two
    // writing single-space puts, two writing batches across spaces (one through `submit`
    // handles awaited at the end), then every point is read.
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options(BackendRequest::Auto)).unwrap();
    let spaces = three_spaces(&db);
    let per_thread = 150_u32;
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for index in 0..per_thread {
                db.put(spaces[0], [10_000 + index], counter_value(index))
                    .unwrap();
            }
        });
        scope.spawn(|| {
            let no_sync = WriteOptions::default().durability(Durability::NoSync);
            for index in 0..per_thread {
                let mut batch = Batch::new(spaces[1]);
                batch.put([index, 2], counter_value(index));
                db.write_with(batch, &no_sync).unwrap();
            }
        });
        scope.spawn(|| {
            for index in 0..per_thread {
                let mut batch = Batch::new(spaces[0]);
                batch.put([20_000 + index], counter_value(index)).put_in(
                    spaces[1],
                    [index, 3],
                    counter_value(index),
                );
                db.write(batch).unwrap();
            }
        });
        scope.spawn(|| {
            let handles: Vec<_> = (0..per_thread)
                .map(|index| {
                    let mut batch = Batch::new(spaces[2]);
                    batch.put([index, 4, 4], counter_value(index)).put_in(
                        spaces[0],
                        [30_000 + index],
                        counter_value(index),
                    );
                    db.submit(batch).unwrap()
                })
                .collect();
            let mut last = None;
            for handle in handles {
                let revision = handle.wait().unwrap();
                assert!(last < Some(revision), "revisions rise in submission order");
                last = Some(revision);
            }
        });
    });
    for index in 0..per_thread {
        let expected = Some(counter_value(index));
        let found = [
            db.get(spaces[0], &[10_000 + index]).unwrap(),
            db.get(spaces[1], &[index, 2]).unwrap(),
            db.get(spaces[0], &[20_000 + index]).unwrap(),
            db.get(spaces[1], &[index, 3]).unwrap(),
            db.get(spaces[2], &[index, 4, 4]).unwrap(),
            db.get(spaces[0], &[30_000 + index]).unwrap(),
        ];
        for (at, value) in found.into_iter().enumerate() {
            assert_eq!(value.map(|value| value.to_vec()), expected, "{index} {at}");
        }
    }
    db.close().unwrap();
}

#[test]
fn a_batch_across_spaces_with_a_bad_part_writes_nothing() {
    // Goal: validation covers every part before anything is sequenced. Method: a batch with a
    // valid part and an unknown space, and one with a point outside its second space.
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options(BackendRequest::Auto)).unwrap();
    let spaces = three_spaces(&db);
    let before = db.last_revision();
    let mut unknown = Batch::new(spaces[0]);
    unknown.put([1], b"a").put_in(SpaceId(9_999), [1], b"b");
    assert!(matches!(db.write(unknown), Err(Error::UnknownSpace { .. })));
    let mut outside = Batch::new(spaces[0]);
    outside
        .put([1], b"a")
        .put_in(spaces[2], [1, 2, 1 << 10], b"b");
    assert!(matches!(db.write(outside), Err(Error::InvalidPoint { .. })));
    assert_eq!(db.last_revision(), before);
    assert_eq!(db.get(spaces[0], &[1]).unwrap(), None);
    db.close().unwrap();
}
