//! Prints rough durable puts/s for 1 and 64 writers (128-byte values, `Durability::Sync`,
//! default backend and deadline). Not a benchmark and asserts nothing about speed: the
//! numbers tell where the write path stands; `infinitedb-bench` measures properly.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failure is a test failure"
)]

use std::sync::Arc;
use std::time::Instant;

use infinitedb::{Db, Options};

fn run(writers: u32, puts_per_writer: u32) {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(
        Db::open(
            dir.path(),
            Options::default().segment_bytes(8 * 1024 * 1024),
        )
        .unwrap(),
    );
    let space = db.create_space("throughput", 2, 20).unwrap();
    let value = [7_u8; 128];
    let started = Instant::now();
    let handles: Vec<_> = (0..writers)
        .map(|writer| {
            let db = db.clone();
            std::thread::spawn(move || {
                for i in 0..puts_per_writer {
                    db.put(space, [writer, i], &value).unwrap();
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    let elapsed = started.elapsed();
    let total = writers * puts_per_writer;
    let stats = db.stats();
    println!(
        "writers {writers}: {total} durable puts in {:.2} s = {:.0} puts/s; records/fsync {:.1}; backend {}; {stats:?}",
        elapsed.as_secs_f64(),
        f64::from(total) / elapsed.as_secs_f64(),
        stats.records_per_fsync(),
        db.backend().kind.name(),
    );
    assert_eq!(
        stats.records_direct + stats.records_staged,
        u64::from(total)
    );
    Arc::into_inner(db).unwrap().close().unwrap();
}

#[test]
fn print_durable_puts_per_second() {
    // Goal: report the write path's rough speed. Method: time 1 writer × 1,000 puts and
    // 64 writers × 100 puts; print puts/s and records per fsync; assert only the counts.
    run(1, 1_000);
    run(64, 100);
}
