//! Exhaustive crash states of small workloads, CrashMonkey-style.
//!
//! Goal: for workloads of up to four group commits and one seal, every crash point (the disk
//! after every single change: each write, each sync, each namespace operation) and every
//! allowed crash state of it (each subset and order of the unsynced writes, a tear of one,
//! each prefix of each directory's unsynced namespace operations) reopens to a prefix of each
//! space's history that holds every write acknowledged before that point, with every batch
//! across two spaces in both or in neither. Method: record
//! crash points while running the workload step by step, tag the points taken after each step
//! with the acknowledgements known when they were recorded, enumerate `crash_states` of each
//! point, reopen each state and check it against the model.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a failure is a test failure"
)]

mod support;

use std::sync::Arc;

use infinitedb::{Db, Durability, Options, SpaceId};
use std::collections::BTreeMap;

use support::model::{History, check_recovered, check_spanning_atomic};
use support::suite_options;
use support::workload::{Op, SPACE_BITS, SPACE_DIMS, apply, partner_records_of, records_of};
use uring_io::{SimDisk, SimStorage, Storage};

/// Crash points recorded per workload at most.
const POINTS_MAX: usize = 4_096;
/// Distinct crash states tried per point at most.
const STATES_PER_POINT_MAX: usize = 256;

/// One step of a small workload: an op on space `0` or `1`, or a `sync` barrier.
#[derive(Clone, Debug)]
enum Step {
    On(usize, Op),
    Sync,
}

fn put(space: usize, x: u32, value: &str) -> Step {
    Step::On(space, Op::Put(vec![x, x + 1], value.as_bytes().to_vec()))
}

fn delete(space: usize, x: u32) -> Step {
    Step::On(space, Op::Delete(vec![x, x + 1]))
}

fn batch(space: usize, xs: &[u32], value: &str) -> Step {
    let records = xs
        .iter()
        .map(|x| (vec![*x, x + 1], Some(format!("{value}{x}").into_bytes())));
    Step::On(space, Op::Batch(records.collect()))
}

/// A batch writing `x` in space 0 and `y` in space 1 (a delete there when `y` is odd).
fn spanning(x: u32, y: u32, value: &str) -> Step {
    let own = vec![(vec![x, x + 1], Some(format!("{value}{x}").into_bytes()))];
    let partner = vec![(
        vec![y, y + 1],
        y.is_multiple_of(2)
            .then(|| format!("{value}{y}").into_bytes()),
    )];
    Step::On(0, Op::Spanning(own, partner))
}

/// A workload: name, durability, spaces, steps.
type Workload = (&'static str, Durability, usize, Vec<Step>);

/// The workloads of batches across two spaces.
fn spanning_workloads() -> Vec<Workload> {
    let flush = |space| Step::On(space, Op::Flush);
    vec![
        (
            "batches across two spaces around a seal",
            Durability::Sync,
            2,
            vec![
                put(1, 4, "s"),
                spanning(1, 4, "t"),
                put(0, 1, "u"),
                flush(1),
                spanning(2, 5, "v"),
                batch(1, &[4, 6], "w"),
            ],
        ),
        (
            "a batch across spaces under NoSync",
            Durability::NoSync,
            2,
            vec![
                put(0, 1, "a"),
                spanning(2, 4, "b"),
                put(1, 4, "c"),
                Step::Sync,
                spanning(1, 6, "d"),
                Step::Sync,
            ],
        ),
    ]
}

/// The workloads.
fn workloads() -> Vec<Workload> {
    let flush = |space| Step::On(space, Op::Flush);
    vec![
        (
            "four puts around a seal",
            Durability::Sync,
            1,
            vec![
                put(0, 1, "a"),
                put(0, 2, "b"),
                flush(0),
                put(0, 1, "c"),
                put(0, 3, "d"),
            ],
        ),
        (
            "batch, delete, overwrite, seal",
            Durability::Sync,
            1,
            vec![
                batch(0, &[1, 2, 3], "x"),
                delete(0, 2),
                put(0, 1, "y"),
                flush(0),
            ],
        ),
        (
            "two spaces interleaved",
            Durability::Sync,
            2,
            vec![
                put(0, 5, "p"),
                batch(1, &[5, 6], "q"),
                flush(0),
                put(1, 5, "r"),
                delete(0, 5),
            ],
        ),
        (
            "group commits under NoSync",
            Durability::NoSync,
            1,
            vec![
                put(0, 1, "a"),
                put(0, 2, "b"),
                delete(0, 1),
                Step::Sync,
                batch(0, &[3, 4], "g"),
                put(0, 2, "c"),
                Step::Sync,
                flush(0),
                put(0, 9, "z"),
                Step::Sync,
            ],
        ),
    ]
}

fn options(durability: Durability, storage: Arc<dyn Storage>) -> Options {
    suite_options().durability(durability).storage(storage)
}

/// Runs `steps`, returning every crash point with the acknowledgements durable before it,
/// and the whole history.
fn record(
    durability: Durability,
    space_count: usize,
    steps: &[Step],
) -> (Vec<(SimDisk, History)>, History, Vec<SpaceId>) {
    let sim = SimStorage::new(7);
    let db = Db::open("/db", options(durability, Arc::new(sim.clone()))).unwrap();
    let spaces: Vec<SpaceId> = (0..space_count)
        .map(|index| {
            db.create_space(&format!("space-{index}"), SPACE_DIMS, SPACE_BITS)
                .unwrap()
        })
        .collect();
    sim.record_crash_points(POINTS_MAX);
    let (mut durable, mut sequenced) = (History::default(), History::default());
    let mut points = Vec::new();
    for step in steps {
        match step {
            Step::On(space, op) => {
                let partner = spaces.get(1 - *space).copied();
                if let Some(revision) = apply(&db, spaces[*space], partner, op).unwrap() {
                    sequenced.record(spaces[*space], revision, records_of(op));
                    if let (Some(partner), Op::Spanning(..)) = (partner, op) {
                        sequenced.record(partner, revision, partner_records_of(op));
                    }
                }
            }
            Step::Sync => db.sync().unwrap(),
        }
        // Points recorded before this step returned only owe what was durable before it.
        points.extend(
            sim.take_crash_points()
                .into_iter()
                .map(|disk| (disk, durable.clone())),
        );
        if durability == Durability::Sync || matches!(step, Step::Sync) {
            durable = sequenced.clone();
        }
    }
    db.close().unwrap();
    points.extend(
        sim.take_crash_points()
            .into_iter()
            .map(|disk| (disk, durable.clone())),
    );
    assert!(points.len() < POINTS_MAX, "raise POINTS_MAX");
    (points, sequenced, spaces)
}

/// Reopens `disk` and checks every space; `context` names the case.
fn check_state(
    durability: Durability,
    disk: SimDisk,
    spaces: &[SpaceId],
    history: &History,
    required: &History,
    context: &str,
) {
    let storage: Arc<dyn Storage> = Arc::new(SimStorage::with_disk(disk, 0));
    let db = Db::open("/db", options(durability, storage))
        .unwrap_or_else(|error| panic!("{context}: open failed: {error}"));
    let mut recovered = BTreeMap::new();
    for space in spaces {
        let found = check_recovered(&db, *space, history, required.revision_max(*space), context);
        recovered.insert(*space, found);
    }
    check_spanning_atomic(history, &recovered, context);
    db.close().unwrap();
}

#[test]
fn every_crash_state_of_small_workloads_recovers_a_prefix() {
    // Goal and method: see the module doc. The counts printed show how much was enumerated.
    for (name, durability, space_count, steps) in
        workloads().into_iter().chain(spanning_workloads())
    {
        let (points, history, spaces) = record(durability, space_count, &steps);
        let (mut states, mut sampled_points) = (0usize, 0usize);
        for (index, (disk, required)) in points.iter().enumerate() {
            let context = format!("{name}: point {index}/{}", points.len());
            match disk.crash_states(STATES_PER_POINT_MAX) {
                Ok(all) => {
                    for (state_index, state) in all.enumerate() {
                        let context = format!("{context} state {state_index}");
                        check_state(durability, state, &spaces, &history, required, &context);
                        states += 1;
                    }
                }
                Err(_) => {
                    // Too many unsynced writes to enumerate: sample seeded plans instead.
                    sampled_points += 1;
                    for seed in 0..32 {
                        let context = format!("{context} sampled plan {seed}");
                        check_state(
                            durability,
                            disk.power_loss(seed),
                            &spaces,
                            &history,
                            required,
                            &context,
                        );
                        states += 1;
                    }
                }
            }
        }
        println!(
            "{name}: {} crash points, {states} crash states checked ({sampled_points} points sampled)",
            points.len()
        );
        assert!(points.len() >= 8, "{name}: too few crash points recorded");
    }
}
