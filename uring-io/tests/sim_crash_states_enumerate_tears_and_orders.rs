//! Scenario: two overlapping unsynced writes, enumerated CrashMonkey-style.
//!
//! Goal: `SimDisk::crash_states` yields exactly the distinct disks the fault model allows
//! for its plans (each write kept or lost, one write torn at a sector prefix, kept writes in
//! either order — so the earlier write can win where they overlap), and a seeded random power
//! loss never leaves a sector no write put there. Method: write A = 1024 bytes of 1 at 0 and
//! B = 1024 bytes of 2 at 512 over a synced zero file; reduce every state to its three sector
//! values and compare with the set worked out by hand.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions: a failure there is a test failure"
)]

use std::collections::BTreeSet;
use std::path::Path;

use uring_io::{CrashPlan, CrashPlanError, ENUMERATED_WRITES_MAX, SECTOR_BYTES, SimDisk, Tear};

fn disk_with_two_overlapping_writes() -> SimDisk {
    let mut disk = SimDisk::new();
    disk.create_file(Path::new("/f")).unwrap();
    disk.sync_directory(Path::new("/")).unwrap();
    disk.write_unsynced(Path::new("/f"), 0, &[0; 2048]).unwrap();
    disk.sync_file(Path::new("/f")).unwrap();
    disk.write_unsynced(Path::new("/f"), 0, &[1; 1024]).unwrap();
    disk.write_unsynced(Path::new("/f"), 512, &[2; 1024])
        .unwrap();
    disk
}

/// The first byte of each of the first three sectors (each sector is uniform here).
fn sectors(disk: &SimDisk) -> (u8, u8, u8) {
    let bytes = disk.file_bytes(Path::new("/f")).unwrap();
    for chunk in bytes.chunks(SECTOR_BYTES) {
        assert!(
            chunk.iter().all(|&b| b == chunk[0]),
            "a sector was torn inside"
        );
    }
    (bytes[0], bytes[SECTOR_BYTES], bytes[2 * SECTOR_BYTES])
}

#[test]
fn enumeration_yields_exactly_the_allowed_states() {
    let disk = disk_with_two_overlapping_writes();
    let states: Vec<SimDisk> = disk.crash_states(10_000).unwrap().collect();
    let seen: BTreeSet<(u8, u8, u8)> = states.iter().map(sectors).collect();
    assert_eq!(seen.len(), states.len(), "states are distinct");
    let expected: BTreeSet<(u8, u8, u8)> = [
        (0, 0, 0), // both lost
        (1, 1, 0), // A only
        (1, 0, 0), // A torn after its first sector
        (0, 2, 2), // B only
        (0, 2, 0), // B torn after its first sector
        (1, 2, 2), // A then B (issue order)
        (1, 1, 2), // B then A: the earlier write wins the overlap
        (1, 2, 0), // A, then B torn
    ]
    .into_iter()
    .collect();
    assert_eq!(seen, expected);
    assert_eq!(states.len(), 8);
}

#[test]
fn random_power_loss_only_shows_written_sectors() {
    let disk = disk_with_two_overlapping_writes();
    let mut seen = BTreeSet::new();
    for seed in 0..256 {
        let (first, second, third) = sectors(&disk.power_loss(seed));
        assert!([0, 1].contains(&first));
        assert!([0, 1, 2].contains(&second));
        assert!([0, 2].contains(&third));
        seen.insert((first, second, third));
    }
    // Random tears keep arbitrary sectors: (0, 1, 0) is A keeping only its second sector.
    assert!(
        seen.contains(&(0, 1, 0)) && seen.contains(&(1, 1, 2)),
        "{seen:?}"
    );
}

#[test]
fn explicit_plans_and_limits() {
    let disk = disk_with_two_overlapping_writes();
    let torn_b_first = CrashPlan {
        applied: vec![1, 0],
        tear: Some(Tear {
            write_index: 0,
            sectors_kept: vec![false, true],
        }),
        namespace_kept: Vec::new(),
    };
    assert_eq!(sectors(&disk.crash(&torn_b_first).unwrap()), (0, 1, 2));
    assert_eq!(sectors(&disk.durable_image()), (0, 0, 0));
    assert_eq!(sectors(&disk.live_image()), (1, 2, 2));
    let bad_tear = CrashPlan {
        applied: vec![1],
        ..torn_b_first
    };
    assert!(matches!(
        disk.crash(&bad_tear),
        Err(CrashPlanError::BadTear { index: 0, .. })
    ));

    let mut big = SimDisk::new();
    big.create_file(Path::new("/g")).unwrap();
    for index in 0..=ENUMERATED_WRITES_MAX as u64 {
        big.write_unsynced(Path::new("/g"), index * 512, &[1; 512])
            .unwrap();
    }
    assert!(matches!(
        big.crash_plans(),
        Err(CrashPlanError::TooManyWrites { .. })
    ));
}
