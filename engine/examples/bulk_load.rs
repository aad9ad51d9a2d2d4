//! Loading many records fast: `Durability::NoSync` writes in batches, one `sync` barrier at
//! the end, then `flush` to seal the live tail into a block.
//!
//! Under `NoSync` a write returns once it is sequenced (it has its revision and reads see it)
//! and reaches the disk with a later group commit, so writers do not wait for each fsync.
//! `Db::sync` returns once everything written before it is durable, and reports a device
//! failure of any of those writes. `Db::flush` seals the space's live tail into an immutable
//! block now instead of when the seal thresholds are reached.
//!
//! Run with `cargo run --release -p infinitedb --example bulk_load`.

use std::path::Path;

use infinitedb::{Batch, Db, Durability, Options, Readable};

/// Side of the square grid of points loaded: 200 × 200 points.
const SIDE: u32 = 200;
/// Points per batch: one batch is written atomically, under one revision.
const BATCH_POINTS: u32 = 1_000;

fn run(dir: &Path) -> infinitedb::Result<()> {
    let options = Options::default().durability(Durability::NoSync);
    let db = Db::open(dir, options)?;
    let grid = db.create_space("grid", 2, 16)?;

    let mut batch = Batch::new(grid);
    for x in 0..SIDE {
        for y in 0..SIDE {
            batch.put([x, y], format!("cell {x},{y}").as_bytes());
            if batch.len() == BATCH_POINTS as usize {
                db.write(std::mem::replace(&mut batch, Batch::new(grid)))?;
            }
        }
    }
    if !batch.is_empty() {
        db.write(batch)?;
    }
    // The barrier: every write above is durable once it returns Ok.
    db.sync()?;
    // Seal the live tail into a block.
    db.flush(grid)?;

    let stats = db.space_stats(grid)?;
    let points = u64::from(SIDE * SIDE);
    println!(
        "{} records in {} block(s) of {} bytes; {} in the live tail",
        stats.records(),
        stats.blocks(),
        stats.block_bytes(),
        stats.live_tail_records
    );
    println!("{:.0} records per fsync", db.stats().records_per_fsync());
    assert_eq!(stats.records(), points);
    assert_eq!(stats.live_tail_records, 0, "the flush sealed everything");
    db.close()?;

    // Everything is there after a reopen.
    let db = Db::open(dir, Options::default())?;
    let grid = db.space("grid")?;
    assert_eq!(
        db.get(grid, &[17, 42])?.as_deref(),
        Some(&b"cell 17,42"[..])
    );
    assert_eq!(db.scan(grid)?.count() as u64, points);
    db.close()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The database lives in a temporary directory, removed when `dir` drops.
    let dir = tempfile::tempdir()?;
    run(dir.path())?;
    Ok(())
}
