//! A `NoSync` seal whose frozen memtable holds batches not yet written to any log, and a
//! power loss between the block write and the manifest edit (docs/design.md §6 "Seal").
//!
//! Under `NoSync` a batch is published when sequenced, so a seal can freeze records whose
//! frames are still on their way (to the next segment). If the block held such records and
//! the power failed before they reached a log, recovery would find an unnamed block holding
//! records that exist nowhere else, which it must treat as a lost manifest edit and refuse to
//! open. The sealer therefore writes the block only once every record it freezes is in a log.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a failure is a test failure"
)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{small_options, value_of};
use infinitedb::Readable;
use infinitedb::{Db, Durability};
use uring_io::{Fault, OpMatch, SimStorage, Storage};

const EIO: i32 = 5;

#[test]
fn a_power_loss_after_a_nosync_block_write_still_opens_with_every_synced_write() {
    // Goal: the open after the crash succeeds and holds every write covered by `sync`.
    // Method: 20 NoSync puts and a sync; slow hot-segment writes (30 ms each); 10 more puts
    // (acknowledged at once, their frames still in flight); a seal whose manifest append
    // fails with EIO (so it stops right after its block write); cut the power at once with
    // several seeds, reopen.
    let sim = SimStorage::new(5);
    let options = small_options().durability(Durability::NoSync);
    let db = Db::open("/db", options.clone().storage(Arc::new(sim.clone()))).unwrap();
    let space = db.create_space("nosync", 2, 10).unwrap();
    for i in 0..20 {
        db.put(space, [i, 1], value_of(i, 1)).unwrap();
    }
    db.sync().unwrap();
    let slow = sim.faults().on(
        OpMatch::write().path_contains("seg-"),
        Fault::Latency(Duration::from_millis(30)),
    );
    for i in 20..30 {
        db.put(space, [i, 1], value_of(i, 1)).unwrap();
    }
    let manifest_fault = sim.faults().on(
        OpMatch::write().path_contains("MANIFEST").nth(1),
        Fault::Errno(EIO),
    );
    let flushed = db.flush(space);
    assert!(flushed.is_err(), "the seal's manifest append must fail");
    assert_eq!(sim.faults().fired(manifest_fault), 1);
    let disks: Vec<_> = (0..4).map(|seed| sim.power_loss(seed)).collect();
    sim.faults().remove(slow);
    drop(db);
    for (seed, disk) in disks.into_iter().enumerate() {
        let storage: Arc<dyn Storage> = Arc::new(SimStorage::with_disk(disk, seed as u64));
        let db = Db::open("/db", options.clone().storage(storage))
            .unwrap_or_else(|error| panic!("seed {seed}: open after the crash failed: {error}"));
        for i in 0..20 {
            assert_eq!(
                db.get(space, &[i, 1]).unwrap(),
                Some(value_of(i, 1).into()),
                "seed {seed}: synced point {i}"
            );
        }
        db.close().unwrap();
    }
}
