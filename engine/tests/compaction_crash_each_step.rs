//! A crash anywhere in a compaction leaves the space either as it was before or as the
//! compaction left it, never a mix: no acknowledged write is lost, no version or delete the
//! policy dropped comes back, no block file is left behind, and an acknowledged compaction
//! (`Db::compact` returned `Ok`) survives any power loss. The steps are those of
//! `engine/src/compaction/mod.rs`: output blocks written, one manifest batch, view swap,
//! inputs deleted once no reader holds them.
//!
//! Each check reopens the crashed disk and compares every point's history, the latest
//! values, a full scan and the record-version count against a model of the space before and
//! after the compaction; which of the two the space must match is read from its levels (a
//! compacted space has no level-0 block), and every point must then match that one. It then
//! writes, compacts and reopens again, so recovery itself left a state later compactions
//! build on (block ids not reused, no stray file in the way).

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
use uring_io::{Fault, OpMatch, SimDisk, SimStorage, Storage};

/// errno EIO: every operation after the countdown fails like a dead device.
const EIO: i32 = 5;
/// Seeded power-loss plans tried per step.
const SEEDS_PER_STEP: u64 = 3;
/// Crash points recorded per compaction at most.
const POINTS_MAX: usize = 2_048;
/// Distinct crash states tried per point at most.
const STATES_PER_POINT_MAX: usize = 64;
/// Points written per round; each round overwrites all of them.
const POINTS_PER_ROUND: u32 = 10;

/// Every version written per point, oldest first (`None`: a delete).
type Written = BTreeMap<Vec<u32>, Vec<(Revision, Option<Vec<u8>>)>>;

/// Which side of the compaction a recovered space is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Before,
    After,
}

/// No background compaction (only `Db::compact` runs), no seal unless asked, and output
/// blocks of at most about a page, so a compaction writes several.
fn options(storage: Arc<dyn Storage>) -> Options {
    small_options()
        .storage(storage)
        .compaction(false)
        .seal_threshold_records(1_000_000)
        .block_target_bytes(4096)
}

fn open(disk: SimDisk, seed: u64, context: &str) -> (Db, SimStorage) {
    let sim = SimStorage::with_disk(disk, seed);
    let db = Db::open("/db", options(Arc::new(sim.clone())))
        .unwrap_or_else(|error| panic!("{context}: open failed: {error}"));
    (db, sim)
}

fn value(round: u32, i: u32) -> Vec<u8> {
    format!("r{round}-p{i}-{}", "v".repeat(300)).into_bytes()
}

fn record(written: &mut Written, point: &[u32], revision: Revision, value: Option<Vec<u8>>) {
    written
        .entry(point.to_vec())
        .or_default()
        .push((revision, value));
}

/// Three sealed rounds of overwrites, deletes and a batch, and an unsealed tail, on a new
/// database on `sim`: four level-0 blocks once `Db::compact` seals the tail. Point `(5, 2)`
/// ends deleted and `(7, 1)` ends deleted in the tail (both vanish at the bottom under every
/// policy but `All`); `(2, 2)` is deleted in round 1 and written again in round 2.
fn populate(sim: &SimStorage, retention: Retention) -> (Db, SpaceId, Written) {
    let db = Db::open("/db", options(Arc::new(sim.clone()))).unwrap();
    let space = db.create_space_with("c", 2, 8, retention).unwrap();
    let mut written = Written::new();
    for round in 0..3 {
        for i in 0..POINTS_PER_ROUND {
            let point = [i, i % 3];
            if round == 1 && (i == 2 || i == 5) || round == 2 && i == 5 {
                let revision = db.delete(space, point).unwrap();
                record(&mut written, &point, revision, None);
            } else {
                let revision = db.put(space, point, value(round, i)).unwrap();
                record(&mut written, &point, revision, Some(value(round, i)));
            }
        }
        let mut batch = Batch::new(space);
        let points = [[20 + round, 1], [30, 30 + round]];
        for point in &points {
            batch.put(point, value(round, 99));
        }
        let revision = db.write(batch).unwrap();
        for point in &points {
            record(&mut written, point, revision, Some(value(round, 99)));
        }
        db.flush(space).unwrap();
    }
    let revision = db.put(space, [0, 0], value(3, 0)).unwrap();
    record(&mut written, &[0, 0], revision, Some(value(3, 0)));
    let revision = db.delete(space, [7, 1]).unwrap();
    record(&mut written, &[7, 1], revision, None);
    (db, space, written)
}

/// [`populate`], closed and reopened: recovery seals the tail, and no seal or segment
/// recycle is left running, so the operations of a compaction that follows are the same on
/// every run.
fn populate_reopened(sim: &SimStorage, retention: Retention) -> (Db, SpaceId, Written) {
    let (db, space, written) = populate(sim, retention);
    db.close().unwrap();
    let db = Db::open("/db", options(Arc::new(sim.clone()))).unwrap();
    (db, space, written)
}

/// What a bottom compaction under `retention`, started when the last revision was `now`,
/// keeps of `versions` (oldest first), newest first. An independent statement of the
/// policies of `Db::set_retention`.
fn retained(
    versions: &[(Revision, Option<Vec<u8>>)],
    retention: Retention,
    now: Revision,
) -> Vec<(Revision, Option<Vec<u8>>)> {
    let mut kept: Vec<_> = versions.iter().rev().cloned().collect();
    let keep = match retention {
        Retention::All => return kept,
        Retention::Latest => 1,
        Retention::Versions(count) => usize::try_from(count).unwrap(),
        Retention::Window(revisions) => {
            let horizon = now.0.saturating_sub(revisions);
            1 + kept
                .iter()
                .filter(|(revision, _)| revision.0 > horizon)
                .count()
        }
    };
    kept.truncate(keep);
    while kept.last().is_some_and(|(_, value)| value.is_none()) {
        kept.pop();
    }
    kept
}

/// The newest revision written.
fn newest(written: &Written) -> Revision {
    let revisions = written.values().flatten().map(|(revision, _)| *revision);
    revisions.max().unwrap()
}

/// Checks `space` against `written` before or after a compaction under `retention` (which
/// one, from its levels), and that no block file is on `sim`'s disk that it does not name.
fn check_space(
    db: &Db,
    sim: &SimStorage,
    space: SpaceId,
    written: &Written,
    retention: Retention,
    context: &str,
) -> Phase {
    let stats = db.space_stats(space).unwrap();
    let phase = if stats.levels[0].blocks == 0 && stats.blocks() > 0 {
        Phase::After
    } else {
        Phase::Before
    };
    let context = format!("{context}: {phase:?} the compaction ({stats:?})");
    let now = newest(written);
    let mut versions = 0;
    let mut live = BTreeMap::new();
    for (point, history) in written {
        let expected = match phase {
            Phase::Before => retained(history, Retention::All, now),
            Phase::After => retained(history, retention, now),
        };
        assert_eq!(
            db.history(space, point)
                .unwrap()
                .into_iter()
                .map(|(r, v)| (r, v.map(|v| v.to_vec())))
                .collect::<Vec<_>>(),
            expected,
            "{context}: history of {point:?}"
        );
        let latest = history.last().and_then(|(_, value)| value.clone());
        assert_eq!(
            db.get(space, point).unwrap(),
            latest.clone().map(Into::into),
            "{context}: {point:?}"
        );
        if let Some(value) = latest {
            live.insert(point.clone(), value);
        }
        versions += expected.len() as u64;
    }
    assert_eq!(
        db.space_stats(space).unwrap().records(),
        versions,
        "{context}"
    );
    let scanned: BTreeMap<Vec<u32>, Vec<u8>> = db
        .scan(space)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            (entry.point.to_vec(), entry.value.to_vec())
        })
        .collect();
    assert_eq!(scanned, live, "{context}: scan");
    assert_eq!(
        block_files(&sim.disk()),
        stats.blocks(),
        "{context}: block files on disk against blocks named"
    );
    phase
}

/// Block files in the live namespace of `disk`.
fn block_files(disk: &SimDisk) -> usize {
    let is_block = |path: &std::path::PathBuf| {
        path.starts_with("/db/blocks") && path.extension().is_some_and(|ext| ext == "blk")
    };
    disk.paths().iter().filter(|path| is_block(path)).count()
}

/// Reopens `disk`, checks it, then writes, compacts and reopens again: the result must be
/// the compacted space with the new write. Returns the phase first found.
fn check_and_continue(
    disk: SimDisk,
    seed: u64,
    space: SpaceId,
    written: &Written,
    retention: Retention,
    context: &str,
) -> Phase {
    let (db, sim) = open(disk, seed, context);
    let phase = check_space(&db, &sim, space, written, retention, context);
    let revision = db.put(space, [100, 1], b"after").unwrap();
    assert!(
        revision > newest(written),
        "{context}: revisions never go back"
    );
    let mut written = written.clone();
    record(&mut written, &[100, 1], revision, Some(b"after".to_vec()));
    db.compact(space)
        .unwrap_or_else(|error| panic!("{context}: compaction after recovery: {error}"));
    db.close().unwrap();
    let (db, sim) = open(sim.disk(), seed, context);
    let context = format!("{context}, compacted again");
    let again = check_space(&db, &sim, space, &written, retention, &context);
    assert_eq!(again, Phase::After, "{context}");
    db.close().unwrap();
    phase
}

/// Operations of one `Db::compact` and the close after it (which deletes the inputs).
fn compaction_operations(retention: Retention) -> u64 {
    let sim = SimStorage::new(0);
    let (db, space, _) = populate_reopened(&sim, retention);
    let before = sim.op_count_total();
    db.compact(space).unwrap();
    db.close().unwrap();
    sim.op_count_total() - before
}

#[test]
fn power_loss_at_every_compaction_step_recovers_before_or_after_it() {
    // Goal: a compaction is crash-safe at every step, under policies that keep everything,
    // the newest version, or a window. Method: count the operations of a clean compaction
    // and close; for each n, let the device die after n of them (every later one fails with
    // EIO), cut power with three seeds (unsynced writes kept, lost, reordered or torn),
    // reopen and check the space is wholly before or after the compaction, and after it
    // whenever `Db::compact` returned `Ok`. Both sides must be seen.
    for retention in [Retention::All, Retention::Latest, Retention::Window(6)] {
        let steps = compaction_operations(retention);
        assert!(steps >= 10, "a compaction takes many steps, saw {steps}");
        let mut seen = BTreeMap::new();
        for step in 0..=steps {
            let sim = SimStorage::new(step);
            let (db, space, written) = populate_reopened(&sim, retention);
            sim.faults().fail_after(step, EIO);
            let compacted = db.compact(space);
            assert!(
                compacted.is_ok() || step < steps,
                "{retention:?} step {step}: {compacted:?}"
            );
            let _ = db.close();
            for seed in 0..SEEDS_PER_STEP {
                let context = format!("{retention:?} step {step}/{steps} seed {seed}");
                let disk = sim.power_loss(step * 10 + seed);
                let phase = check_and_continue(disk, seed, space, &written, retention, &context);
                if compacted.is_ok() {
                    assert_eq!(phase, Phase::After, "{context}: acknowledged compaction");
                }
                *seen.entry(phase).or_insert(0) += 1;
            }
        }
        println!("{retention:?}: {steps} steps, recovered {seen:?}");
        assert_eq!(
            seen.len(),
            2,
            "{retention:?}: both sides recovered: {seen:?}"
        );
    }
}

/// Crash points of one `Db::compact` (flushing the tail first), and of the close after it,
/// on a populated database under `retention`.
fn record_compaction(retention: Retention) -> (Vec<SimDisk>, Vec<SimDisk>, SpaceId, Written) {
    let sim = SimStorage::new(7);
    let (db, space, written) = populate(&sim, retention);
    sim.record_crash_points(POINTS_MAX);
    db.compact(space).unwrap();
    let during = sim.take_crash_points();
    db.close().unwrap();
    let after = sim.take_crash_points();
    assert!(during.len() + after.len() < POINTS_MAX, "raise POINTS_MAX");
    (during, after, space, written)
}

#[test]
fn every_crash_state_of_a_compaction_recovers_before_or_after_it() {
    // Goal: CrashMonkey-style, every crash point of a compaction (the disk after each write,
    // sync and namespace operation) and every crash state of it (each subset and order of the
    // unsynced writes, a tear of one, each prefix of each directory's unsynced namespace
    // operations) reopens wholly before or after the compaction, with deletes dropped at the
    // bottom staying gone. Points after `Db::compact` returned must all be after it. Method:
    // record the points, enumerate `crash_states` of each (a seeded sample where there are
    // too many unsynced writes), reopen and check each.
    for retention in [Retention::Latest, Retention::Versions(2)] {
        let (during, after, space, written) = record_compaction(retention);
        let (mut states, mut sampled) = (0, 0);
        let mut seen = BTreeMap::new();
        let points = during.iter().map(|disk| (disk, false));
        let points = points.chain(after.iter().map(|disk| (disk, true)));
        for (index, (disk, acknowledged)) in points.enumerate() {
            let context = format!("{retention:?} point {index}");
            let crashed: Vec<SimDisk> = match disk.crash_states(STATES_PER_POINT_MAX) {
                Ok(all) => all.collect(),
                Err(_) => {
                    sampled += 1;
                    (0..16).map(|seed| disk.power_loss(seed)).collect()
                }
            };
            for (state_index, state) in crashed.into_iter().enumerate() {
                let context = format!("{context} state {state_index}");
                let phase = check_and_continue(state, 0, space, &written, retention, &context);
                if acknowledged {
                    assert_eq!(phase, Phase::After, "{context}: acknowledged compaction");
                }
                *seen.entry(phase).or_insert(0) += 1;
                states += 1;
            }
        }
        println!(
            "{retention:?}: {} crash points ({} after the reply), {states} crash states \
             checked ({sampled} points sampled), recovered {seen:?}",
            during.len() + after.len(),
            after.len()
        );
        assert!(during.len() >= 10, "{retention:?}: too few crash points");
        assert_eq!(
            seen.len(),
            2,
            "{retention:?}: both sides recovered: {seen:?}"
        );
    }
}

#[test]
fn failed_manifest_append_then_power_loss_or_reopen_recovers() {
    // Goal: a compaction whose manifest append fails (the fsync fails: the batch's bytes may
    // be in the file as read, never durable) leaves its outputs as orphans that neither a
    // power loss, a reopen of the file as it reads, nor the next compaction turns into a
    // lost or leaked block. Method: fail the manifest fsync of `Db::compact` (the tail sealed
    // by a reopen); check the open database, reopen power-lost and as-is copies, then
    // compact again and check the orphans are gone and every power loss recovers after it.
    let retention = Retention::Latest;
    let sim = SimStorage::new(3);
    let (db, space, written) = populate_reopened(&sim, retention);
    let rule = sim.faults().on(
        OpMatch::fsync().path_contains("MANIFEST").nth(1),
        Fault::Errno(EIO),
    );
    assert!(db.compact(space).is_err(), "the manifest append failed");
    assert_eq!(sim.faults().fired(rule), 1);
    assert_eq!(db.stats().compaction_failures, 1);
    let stats = db.space_stats(space).unwrap();
    assert_eq!(stats.levels[0].blocks, 4, "the view still holds the inputs");
    assert!(
        block_files(&sim.disk()) > stats.blocks(),
        "the outputs stay as orphans until the next append: {stats:?}"
    );
    // The failed fsync lost the batch for a power loss; the file as it reads still holds
    // it, so a reopen without one finds the compaction done and needs the orphans.
    for seed in 0..4 {
        let context = format!("power loss after the failed append, seed {seed}");
        let disk = sim.power_loss(seed);
        let phase = check_and_continue(disk, seed, space, &written, retention, &context);
        assert_eq!(phase, Phase::Before, "{context}");
    }
    let context = "reopened as the disk reads after the failed append";
    let phase = check_and_continue(sim.disk(), 0, space, &written, retention, context);
    assert_eq!(phase, Phase::After, "{context}");

    db.compact(space).unwrap();
    assert_eq!(db.stats().compactions, 1);
    let outputs = db.space_stats(space).unwrap().blocks();
    db.close().unwrap();
    assert_eq!(
        block_files(&sim.disk()),
        outputs,
        "only the compaction's outputs are left: orphans and inputs deleted"
    );
    for seed in 0..4 {
        let context = format!("power loss after the retried compaction, seed {seed}");
        let phase = check_and_continue(
            sim.power_loss(seed),
            seed,
            space,
            &written,
            retention,
            &context,
        );
        assert_eq!(phase, Phase::After, "{context}");
    }
}

#[test]
fn failed_output_write_leaves_no_file_and_changes_nothing() {
    // Goal: a compaction that fails while writing its outputs removes what it wrote and
    // leaves the space as it was; the next compaction succeeds. Method: fail the second
    // block write of `Db::compact` (the tail sealed by a reopen), check the live database and
    // its disk, compact again, reopen.
    let retention = Retention::Versions(2);
    let sim = SimStorage::new(4);
    let (db, space, written) = populate_reopened(&sim, retention);
    let rule = sim.faults().on(
        OpMatch::write().path_contains("/blocks/").nth(2),
        Fault::Errno(EIO),
    );
    assert!(db.compact(space).is_err(), "the second output write failed");
    assert_eq!(sim.faults().fired(rule), 1);
    assert_eq!(db.stats().compaction_failures, 1);
    let phase = check_space(
        &db,
        &sim,
        space,
        &written,
        retention,
        "after the failed write",
    );
    assert_eq!(phase, Phase::Before);
    db.compact(space).unwrap();
    db.close().unwrap();
    let phase = check_and_continue(sim.disk(), 0, space, &written, retention, "retried");
    assert_eq!(phase, Phase::After);
}
