//! Exhaustive crash states of one compaction, CrashMonkey-style.
//!
//! Goal: a compaction's result is one manifest batch (remove the inputs, add the outputs,
//! mark the space sealed); a crash at any step of it (an output block's creation, write,
//! fsync and directory sync, the manifest append, the inputs' deletion) recovers either side
//! of that batch with every acknowledged write and nothing resurrected. Method: seal three
//! blocks of puts, overwrites, deletes and batches (values long enough that the merge writes
//! several output blocks), then record crash points while one compaction runs: a
//! `Db::compact`, or a background compaction the third seal starts (level-0 trigger 3), up to
//! the deletion of the input files. Every allowed crash state of every point (each subset and
//! order of the unsynced writes, a tear of one, each prefix of each directory's unsynced
//! namespace operations) is reopened and checked:
//! - every write is there: under `Retention::All` each point's whole history is exactly the
//!   model's and the record versions add up; under `Retention::Latest` each point's value and
//!   newest version are the model's (a deleted point reads nothing and is in no scan: a delete
//!   dropped by the compaction must not let an older put back), and every version shown is one
//!   the model wrote;
//! - no block file is left that the reopened database does not name (recovery removes the
//!   outputs of a compaction cut before its manifest batch, and the inputs of one cut after);
//! - closing and reopening again shows the same records, versions, levels and files.
//!
//! It fails if the manifest batch were split (a state naming both inputs and outputs counts
//! versions twice under `All`; one naming neither loses them), if recovery kept or deleted the
//! wrong files, or if a Latest compaction's dropped delete were undone by an older version. The
//! states are counted by which side they recovered; both sides must occur.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a failure is a test failure"
)]

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use infinitedb::Readable;
use infinitedb::{Db, Durability, Options, Retention, SpaceId};
use support::model::{History, Point, check_recovered, check_recovered_latest};
use support::suite_options;
use support::workload::{Op, SPACE_BITS, SPACE_DIMS, apply, records_of};
use uring_io::{SimDisk, SimStorage, Storage};

/// Crash points recorded per case at most.
const POINTS_MAX: usize = 4_096;
/// Distinct crash states tried per point at most.
const STATES_PER_POINT_MAX: usize = 256;
/// The level-0 trigger of the background case: the third seal starts the compaction.
const BACKGROUND_TRIGGER: usize = 3;
/// How long the background case waits for its compaction and input deletion at most.
const WAIT_MAX: Duration = Duration::from_secs(60);

/// Which compaction runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Run {
    /// `Db::compact` after the third seal (background compaction off).
    Explicit,
    /// The background compaction the third seal starts.
    Background,
}

/// A value of about 700 bytes, so three blocks' worth make several 4 KiB output blocks.
fn value(tag: &str, x: u32) -> Vec<u8> {
    let mut value = format!("{tag}-{x}-").into_bytes();
    value.resize(700, b'a' + u8::try_from(x % 26).unwrap());
    value
}

fn point(x: u32) -> Point {
    vec![x, x + 1]
}

/// Three rounds, each ended by a seal: puts, overwrites, deletes (of live and of dead points)
/// and batches.
fn rounds() -> Vec<Vec<Op>> {
    let put = |x, tag| Op::Put(point(x), value(tag, x));
    let batch = |xs: &[u32], tag| {
        Op::Batch(
            xs.iter()
                .map(|x| (point(*x), Some(value(tag, *x))))
                .collect(),
        )
    };
    vec![
        vec![
            put(1, "a"),
            put(2, "a"),
            batch(&[3, 4, 5], "b"),
            put(6, "a"),
        ],
        vec![
            put(1, "c"),
            Op::Delete(point(2)),
            batch(&[4, 7], "d"),
            Op::Delete(point(6)),
        ],
        vec![
            Op::Delete(point(1)),
            put(2, "e"),
            Op::Batch(vec![(point(3), None), (point(8), Some(value("f", 8)))]),
            Op::Delete(point(9)),
        ],
    ]
}

/// The options of the run; a reopen for a check runs no background compaction (`None`), so
/// what it shows is what recovery made of the crash state, and two reopens compare exactly.
fn options(run: Option<Run>, storage: Arc<dyn Storage>) -> Options {
    let options = suite_options()
        .durability(Durability::Sync)
        .block_target_bytes(4096)
        .storage(storage);
    match run {
        None | Some(Run::Explicit) => options.compaction(false),
        Some(Run::Background) => options.l0_compaction_trigger(BACKGROUND_TRIGGER),
    }
}

/// The block files on `storage`.
fn block_files(storage: &dyn Storage) -> Vec<String> {
    let mut names: Vec<String> = storage
        .list_dir(Path::new("/db/blocks"))
        .unwrap()
        .into_iter()
        .map(|name| name.to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Waits until `db` has done `compactions` compactions and `storage` holds only the blocks
/// the space names (the inputs' files are deleted after the compaction's reply).
fn wait_for_compaction(db: &Db, storage: &dyn Storage, space: SpaceId, compactions: u64) {
    let started = Instant::now();
    loop {
        let named = db.space_stats(space).unwrap().blocks();
        if db.stats().compactions >= compactions && block_files(storage).len() == named {
            return;
        }
        assert!(
            started.elapsed() < WAIT_MAX,
            "the compaction did not finish: {:?}, {} files",
            db.stats(),
            block_files(storage).len()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Runs the case; returns the crash points recorded during its compaction, the history
/// (every write acknowledged, and durable, before the first point) and the space.
fn record(run: Run, retention: Retention) -> (Vec<SimDisk>, History, SpaceId) {
    let sim = SimStorage::new(11);
    let db = Db::open("/db", options(Some(run), Arc::new(sim.clone()))).unwrap();
    let space = db
        .create_space_with("space-0", SPACE_DIMS, SPACE_BITS, retention)
        .unwrap();
    let mut history = History::default();
    let rounds = rounds();
    for (index, ops) in rounds.iter().enumerate() {
        for op in ops {
            let revision = apply(&db, space, None, op).unwrap().unwrap();
            history.record(space, revision, records_of(op));
        }
        if run == Run::Background && index + 1 == rounds.len() {
            // The seal that starts the compaction is recorded too.
            sim.record_crash_points(POINTS_MAX);
        }
        db.flush(space).unwrap();
    }
    let stats = db.space_stats(space).unwrap();
    if run == Run::Explicit {
        assert_eq!(stats.levels[0].blocks, 3, "three sealed blocks: {stats:?}");
        sim.record_crash_points(POINTS_MAX);
        db.compact(space).unwrap();
    }
    wait_for_compaction(&db, &sim, space, 1);
    let points = sim.take_crash_points();
    sim.record_crash_points(0);
    let stats = db.space_stats(space).unwrap();
    assert_eq!(
        db.stats().compactions,
        1,
        "one compaction: {:?}",
        db.stats()
    );
    assert_eq!(stats.levels[0].blocks, 0, "level 0 went down: {stats:?}");
    if retention == Retention::All {
        assert!(
            stats.blocks() >= 2,
            "the merge writes several output blocks: {stats:?}"
        );
    }
    db.close().unwrap();
    assert!(points.len() < POINTS_MAX, "raise POINTS_MAX");
    (points, history, space)
}

/// What a reopened database shows: per point its history, the scan, the record versions,
/// the levels and the block files (compared between two reopens).
fn contents(db: &Db, storage: &dyn Storage, space: SpaceId, history: &History) -> String {
    let histories: Vec<_> = history
        .points(space)
        .iter()
        .map(|point| db.history(space, point).unwrap())
        .collect();
    let scan: Vec<_> = db
        .scan(space)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            (entry.point.to_vec(), entry.revision, entry.value.to_vec())
        })
        .collect();
    format!(
        "{histories:?} {scan:?} {} {:?} {:?}",
        db.space_stats(space).unwrap().records(),
        db.space_stats(space).unwrap(),
        block_files(storage)
    )
}

/// Under `Retention::All`: each point's history is the model's, every version, newest first.
fn check_histories_exact(db: &Db, space: SpaceId, history: &History, context: &str) {
    for point in history.points(space) {
        let mut expected: Vec<_> = history
            .batches(space)
            .iter()
            .filter_map(|batch| {
                let (_, value) = batch.records.iter().find(|(at, _)| *at == point)?;
                Some((batch.revision, value.clone()))
            })
            .collect();
        expected.reverse();
        assert_eq!(
            db.history(space, &point)
                .unwrap()
                .into_iter()
                .map(|(r, v)| (r, v.map(|v| v.to_vec())))
                .collect::<Vec<_>>(),
            expected,
            "{context}: history of {point:?}"
        );
    }
}

/// Which side of the compaction a reopened state is on.
#[derive(Debug, Default)]
struct Sides {
    before: usize,
    after: usize,
}

/// Reopens `disk`, checks it (module doc), closes, reopens again and compares.
fn check_state(
    retention: Retention,
    disk: SimDisk,
    (space, history): (SpaceId, &History),
    sides: &mut Sides,
    context: &str,
) {
    let storage: Arc<dyn Storage> = Arc::new(SimStorage::with_disk(disk, 0));
    let db = Db::open("/db", options(None, storage.clone()))
        .unwrap_or_else(|error| panic!("{context}: open failed: {error}"));
    let required = history.revision_max(space);
    let found = match retention {
        Retention::All => {
            check_histories_exact(&db, space, history, context);
            check_recovered(&db, space, history, required, context)
        }
        _ => check_recovered_latest(&db, space, history, required, context),
    };
    assert_eq!(found.prefix, found.batches, "{context}: a batch is missing");
    let stats = db.space_stats(space).unwrap();
    assert_eq!(
        block_files(storage.as_ref()).len(),
        stats.blocks(),
        "{context}: block files {:?} beyond the {} the database names ({stats:?})",
        block_files(storage.as_ref()),
        stats.blocks()
    );
    if stats.levels[0].blocks == 3 && stats.blocks() == 3 {
        sides.before += 1;
    } else if stats.levels[0].blocks == 0 {
        sides.after += 1;
    } else {
        panic!("{context}: neither side of the compaction: {stats:?}");
    }
    let first = contents(&db, storage.as_ref(), space, history);
    db.close().unwrap();
    let db = Db::open("/db", options(None, storage.clone()))
        .unwrap_or_else(|error| panic!("{context}: second open failed: {error}"));
    let second = contents(&db, storage.as_ref(), space, history);
    db.close().unwrap();
    assert_eq!(first, second, "{context}: the second reopen differs");
}

/// Enumerates every crash state of the case and checks each.
fn check_case(run: Run, retention: Retention) {
    let name = format!("{run:?} compaction under {retention:?}");
    let (points, history, space) = record(run, retention);
    let (mut states, mut sides) = (0usize, Sides::default());
    for (index, disk) in points.iter().enumerate() {
        let context = format!("{name}: point {index}/{}", points.len());
        let all = disk
            .crash_states(STATES_PER_POINT_MAX)
            .unwrap_or_else(|error| panic!("{context}: {error}"));
        for (state_index, state) in all.enumerate() {
            let context = format!("{context} state {state_index}");
            check_state(retention, state, (space, &history), &mut sides, &context);
            states += 1;
        }
    }
    println!(
        "{name}: {} crash points, {states} crash states checked, {sides:?}",
        points.len()
    );
    assert!(points.len() >= 8, "{name}: too few crash points recorded");
    assert!(
        sides.before > 0 && sides.after > 0,
        "{name}: the states must recover both sides of the compaction: {sides:?}"
    );
}

#[test]
fn every_crash_state_of_an_explicit_compaction_recovers_one_side() {
    // Goal and method: see the module doc; `Db::compact`, every version kept.
    check_case(Run::Explicit, Retention::All);
}

#[test]
fn every_crash_state_of_an_explicit_latest_compaction_recovers_one_side() {
    // Goal and method: see the module doc; `Db::compact` under `Latest`, which drops the
    // older versions and, at the bottom, the deletes.
    check_case(Run::Explicit, Retention::Latest);
}

#[test]
fn every_crash_state_of_a_background_compaction_recovers_one_side() {
    // Goal and method: see the module doc; the compaction the third seal starts.
    check_case(Run::Background, Retention::All);
}

#[test]
fn every_crash_state_of_a_background_latest_compaction_recovers_one_side() {
    // Goal and method: see the module doc; the background compaction under `Latest`
    // (level 1 is the bottom here, so deletes are dropped too).
    check_case(Run::Background, Retention::Latest);
}
