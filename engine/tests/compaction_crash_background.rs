//! Power losses while background compactions run alongside seals: every acknowledged write
//! survives, reads at the latest revision are exact, each point's history keeps what its
//! policy promises and holds nothing that was never written, and no block file leaks.
//!
//! A single writer on `Durability::Sync` makes the acknowledged state exact at each cut: the
//! disk is copied between two acknowledged writes, while the sealer and the compactor run on
//! their own threads, so where inside a seal or a compaction the cut falls depends on the
//! schedule; the seed fixes the workload and each crash plan, and the context of a failure
//! names both.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a failure is a test failure"
)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::small_options;
use infinitedb::Readable;
use infinitedb::{Batch, Db, Options, Retention, Revision, SpaceId};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uring_io::{SimDisk, SimStorage, Storage};

/// Writes per run.
const OPS: u32 = 400;
/// The disk is copied after every this many writes.
const CUT_EVERY: u32 = 10;
/// A write is followed by a forced seal (`Db::flush`) with chance one in this many: the
/// writer outruns threshold seals, which wait for a spare segment.
const FLUSH_ONE_IN: u32 = 12;
/// Coordinates are drawn from `0..GRID` in both dimensions.
const GRID: u32 = 6;

/// Every version written per point, oldest first (`None`: a delete).
type Written = BTreeMap<Vec<u32>, Vec<(Revision, Option<Vec<u8>>)>>;

/// A seal every 8 records, compaction from 2 level-0 blocks, small output blocks.
fn options(storage: Arc<dyn Storage>) -> Options {
    small_options()
        .storage(storage)
        .seal_threshold_records(8)
        .l0_compaction_trigger(2)
        .level_base_bytes(1024 * 1024)
        .block_target_bytes(4096)
}

fn point(rng: &mut ChaCha8Rng) -> Vec<u32> {
    vec![rng.gen_range(0..GRID), rng.gen_range(0..GRID)]
}

/// One acknowledged write of a seeded workload: a put, a delete or a batch of distinct points.
fn write_one(db: &Db, space: SpaceId, rng: &mut ChaCha8Rng, step: u32, written: &mut Written) {
    let value = |rng: &mut ChaCha8Rng| {
        let padding = rng.gen_range(0..200);
        Some(format!("s{step}-{}", "x".repeat(padding)).into_bytes())
    };
    let mut records: Vec<(Vec<u32>, Option<Vec<u8>>)> = Vec::new();
    match rng.gen_range(0..10) {
        0 | 1 => records.push((point(rng), None)),
        2 => {
            for _ in 0..4 {
                let target = point(rng);
                if records.iter().all(|(existing, _)| *existing != target) {
                    let value = value(rng);
                    records.push((target, value));
                }
            }
        }
        _ => {
            let target = point(rng);
            let value = value(rng);
            records.push((target, value));
        }
    }
    let mut batch = Batch::new(space);
    for (target, value) in &records {
        match value {
            Some(value) => batch.put(target, value),
            None => batch.delete(target),
        };
    }
    let revision = db.write(batch).unwrap();
    for (target, value) in records {
        written.entry(target).or_default().push((revision, value));
    }
}

/// The newest versions `retention` promises to keep (newest first), trailing deletes
/// dropped as a bottom compaction drops them.
fn promised(
    versions: &[(Revision, Option<Vec<u8>>)],
    retention: Retention,
) -> Vec<(Revision, Option<Vec<u8>>)> {
    let count = match retention {
        Retention::Latest => 1,
        Retention::Versions(count) => usize::try_from(count).unwrap(),
        other => panic!("no model for {other:?}"),
    };
    let mut kept: Vec<_> = versions.iter().rev().take(count).cloned().collect();
    while kept.last().is_some_and(|(_, value)| value.is_none()) {
        kept.pop();
    }
    kept
}

/// Whether `found` (newest first) is a subsequence of `versions` (oldest first).
fn is_subsequence(
    found: &[(Revision, Option<Vec<u8>>)],
    versions: &[(Revision, Option<Vec<u8>>)],
) -> bool {
    let mut all = versions.iter().rev();
    found
        .iter()
        .all(|version| all.any(|other| other == version))
}

fn block_files(disk: &SimDisk) -> usize {
    let is_block = |path: &std::path::PathBuf| {
        path.starts_with("/db/blocks") && path.extension().is_some_and(|ext| ext == "blk")
    };
    disk.paths().iter().filter(|path| is_block(path)).count()
}

/// Reopens `disk` and checks `space` against the acknowledged `written` under `retention`;
/// then writes, compacts and closes, so recovery left a state compaction builds on.
fn check_cut(
    disk: SimDisk,
    space: SpaceId,
    written: &Written,
    retention: Retention,
    context: &str,
) {
    let sim = SimStorage::with_disk(disk, 0);
    // No background compaction while the files on disk are counted.
    let db = Db::open("/db", options(Arc::new(sim.clone())).compaction(false))
        .unwrap_or_else(|error| panic!("{context}: open failed: {error}"));
    let mut live = BTreeMap::new();
    for (point, versions) in written {
        let history: Vec<_> = db
            .history(space, point)
            .unwrap()
            .into_iter()
            .map(|(revision, value)| (revision, value.map(|value| value.to_vec())))
            .collect();
        let latest = versions.last().and_then(|(_, value)| value.clone());
        assert_eq!(
            db.get(space, point).unwrap(),
            latest.clone().map(Into::into),
            "{context}: {point:?}"
        );
        let promised = promised(versions, retention);
        assert!(
            history.starts_with(&promised) && is_subsequence(&history, versions),
            "{context}: history of {point:?} is {history:?}, written {versions:?}"
        );
        if let Some(value) = latest {
            live.insert(point.clone(), value);
        }
    }
    let scanned: BTreeMap<Vec<u32>, Vec<u8>> = db
        .scan(space)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            (entry.point.to_vec(), entry.value.to_vec())
        })
        .collect();
    assert_eq!(scanned, live, "{context}: scan");
    let stats = db.space_stats(space).unwrap();
    assert_eq!(
        block_files(&sim.disk()),
        stats.blocks(),
        "{context}: block files on disk against blocks named ({stats:?})"
    );
    db.put(space, [GRID, 0], b"after").unwrap();
    db.compact(space)
        .unwrap_or_else(|error| panic!("{context}: compaction after recovery: {error}"));
    assert_eq!(
        db.get(space, &[GRID, 0]).unwrap(),
        Some(b"after".to_vec().into())
    );
    db.close().unwrap();
}

#[test]
fn power_losses_during_background_compactions_keep_what_was_acknowledged() {
    // Goal: see the module doc. Method: per seed and policy, 400 seeded writes with a seal
    // every 8 records or on a seeded flush and compaction at 2 level-0 blocks; after every 10 writes copy the disk
    // with a seeded power loss; reopen and check each copy against the writes acknowledged
    // before it. Compactions must have run, or the test would prove nothing.
    let mut cuts = 0;
    let runs = [
        (1, Retention::Latest),
        (2, Retention::Versions(2)),
        (3, Retention::Latest),
        (4, Retention::Versions(3)),
    ];
    for (seed, retention) in runs {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let sim = SimStorage::new(seed);
        let db = Db::open("/db", options(Arc::new(sim.clone()))).unwrap();
        let space = db.create_space_with("b", 2, 8, retention).unwrap();
        let mut written = Written::new();
        let mut copies = Vec::new();
        for step in 1..=OPS {
            write_one(&db, space, &mut rng, step, &mut written);
            if rng.gen_range(0..FLUSH_ONE_IN) == 0 {
                db.flush(space).unwrap();
            }
            if step % CUT_EVERY == 0 {
                let disk = sim.power_loss(seed * 1_000 + u64::from(step));
                copies.push((step, disk, written.clone()));
            }
        }
        let stats = db.stats();
        db.close().unwrap();
        assert!(
            stats.compactions >= 5,
            "seed {seed}: background compactions ran: {stats:?}"
        );
        println!(
            "seed {seed} {retention:?}: {} compactions, {} failures, {} cuts",
            stats.compactions,
            stats.compaction_failures,
            copies.len()
        );
        for (step, disk, written) in copies {
            let context = format!("seed {seed} {retention:?}: cut after write {step}");
            check_cut(disk, space, &written, retention, &context);
            cuts += 1;
        }
    }
    assert_eq!(cuts, u32::try_from(runs.len()).unwrap() * OPS / CUT_EVERY);
}
