//! Simulated power losses during checkpoints (docs/design.md §3 "Checkpoints").
//!
//! Goal: a power loss at any instant of `Db::checkpoint` leaves a destination that is empty,
//! refused by both opens (`Error::MissingManifest`), or complete: opened, it holds exactly the
//! data acknowledged before the checkpoint began (with writes racing the checkpoint, per space
//! that data and a prefix of the racing writes), never an empty or partial database. A
//! checkpoint that returned `Ok` survives every power loss, and the source keeps every write
//! acknowledged before the cut. Blocks are hard-linked, or copied when the link fails as one
//! across filesystems does (an injected `EXDEV`).
//!
//! Method: on the simulated disk, populate a database (two spaces, sealed blocks, and an
//! unsealed tail that the checkpoint seals), then cut power three ways:
//! 1. for every n up to the operation count of a clean checkpoint, the device dies after n
//!    operations (every later one fails with `EIO`) and power is cut with several seeded
//!    plans (unsynced writes kept, lost, reordered or torn; a prefix of each directory's
//!    unsynced namespace operations kept);
//! 2. the disk is recorded after every change a checkpoint makes and every crash state of
//!    each recorded disk is enumerated (a seeded sample where there are too many);
//! 3. per seed, a writer thread races the checkpoint; every recorded disk is tagged with the
//!    writes acknowledged, and whether the checkpoint had returned, before it was recorded,
//!    and a seeded sample of them is cut with seeded plans.
//!
//! Each crashed disk is reopened: the source is checked against the model of every write
//! (support::model), and the destination is classified (empty, refused or complete) and, when
//! complete, checked the same way.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a failure is a test failure"
)]

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::channel;

use infinitedb::{Batch, Db, Error, Options, SpaceId};
use parking_lot::Mutex;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use support::model::{History, Record, check_recovered};
use support::seeds::{SeedGuard, seeds};
use support::suite_options;
use support::workload::{SPACE_BITS, SPACE_DIMS};
use uring_io::{Fault, OpKind, OpMatch, SimDisk, SimStorage, Storage};

const TEST: &str = "checkpoint_power_loss_sim";
const SOURCE: &str = "/db";
const COPY: &str = "/copy";
const SPACES: u32 = 2;
/// Rounds of writes per space; every round but the last is sealed before the checkpoint.
const ROUNDS: u32 = 3;
/// Batches per space and round, and points per batch.
const BATCHES_PER_ROUND: u32 = 2;
const POINTS_PER_BATCH: u32 = 8;
/// Seeded power-loss plans per step of the countdown test.
const SEEDS_PER_STEP: u64 = 3;
/// Crash points recorded per checkpoint at most.
const POINTS_MAX: usize = 4_096;
/// Distinct crash states tried per crash point at most.
const STATES_PER_POINT_MAX: usize = 48;
/// Seeds of the racing test that CI runs (`INFINITEDB_CRASH_SEEDS` overrides).
const RACING_SEEDS: u64 = 12;
/// Writes of the racing writer: at least this many after the checkpoint returned ...
const RACING_WRITES_AFTER: u32 = 4;
/// ... and at most this many in all.
const RACING_WRITES_MAX: u32 = 60;
/// Recorded disks of one racing run that are cut and checked.
const RACING_POINTS_CHECKED: usize = 24;

/// How the checkpoint places blocks in the copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Placement {
    /// Hard links (one filesystem).
    Link,
    /// Copies: every link fails with `EXDEV`, as across filesystems.
    Copy,
}

impl Placement {
    fn install(self, sim: &SimStorage) {
        if self == Placement::Copy {
            sim.faults()
                .on(OpMatch::kind(OpKind::Link), Fault::Errno(libc::EXDEV));
        }
    }
}

/// What a crashed destination turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    /// No directory, or an empty one.
    Empty,
    /// Both opens refuse it as a checkpoint cut short.
    Refused,
    /// It opens, with the data checked; `racing_writes`: some space holds writes
    /// acknowledged after the checkpoint began.
    Complete { racing_writes: bool },
}

/// Whether a complete copy must hold exactly the required writes (no racing writes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Racing {
    None,
    Allowed,
}

/// No background compaction and no seal unless asked: a block per seal, so the copy places
/// one per space and round.
fn options(storage: Arc<dyn Storage>) -> Options {
    suite_options()
        .storage(storage)
        .compaction(false)
        .seal_threshold_records(1_000_000)
}

fn space_name(index: u32) -> String {
    format!("space-{index}")
}

/// The records of batch `batch` of round `round`: overwrites of the same points each round,
/// and in round 1 a delete of the batch's first point.
fn round_records(round: u32, batch: u32) -> Vec<Record> {
    (0..POINTS_PER_BATCH)
        .map(|index| {
            let point = vec![index, batch];
            let value = (round != 1 || index != 0)
                .then(|| format!("r{round}-b{batch}-p{index}-{}", "v".repeat(200)).into_bytes());
            (point, value)
        })
        .collect()
}

fn write_batch(db: &Db, space: SpaceId, records: Vec<Record>, history: &mut History) {
    let mut batch = Batch::new(space);
    for (point, value) in &records {
        match value {
            Some(value) => batch.put(point, value.clone()),
            None => batch.delete(point),
        };
    }
    let revision = db.write(batch).unwrap();
    history.record(space, revision, records);
}

/// A new database on `sim` with [`SPACES`] spaces of [`ROUNDS`] rounds each, all but the last
/// sealed; returns it, its spaces and every write (all acknowledged).
fn populate(sim: &SimStorage) -> (Db, Vec<SpaceId>, History) {
    let db = Db::open(SOURCE, options(Arc::new(sim.clone()))).unwrap();
    let spaces: Vec<SpaceId> = (0..SPACES)
        .map(|index| {
            db.create_space(&space_name(index), SPACE_DIMS, SPACE_BITS)
                .unwrap()
        })
        .collect();
    let mut history = History::default();
    for round in 0..ROUNDS {
        for space in &spaces {
            for batch in 0..BATCHES_PER_ROUND {
                write_batch(&db, *space, round_records(round, batch), &mut history);
            }
            if round + 1 < ROUNDS {
                db.flush(*space).unwrap();
            }
        }
    }
    (db, spaces, history)
}

/// Checks every space of `db` against `history` holding at least `required`; with
/// [`Racing::None`], exactly `required`. Returns whether some space holds more.
fn check_spaces(
    db: &Db,
    spaces: &[SpaceId],
    history: &History,
    required: &History,
    racing: Racing,
    context: &str,
) -> bool {
    let mut beyond = false;
    for (index, space) in spaces.iter().enumerate() {
        let name = space_name(u32::try_from(index).unwrap());
        assert_eq!(db.space(&name).unwrap(), *space, "{context}: {name}");
        let found = check_recovered(db, *space, history, required.revision_max(*space), context);
        if racing == Racing::None {
            assert_eq!(
                found.prefix, found.batches,
                "{context}: {name} holds extra writes"
            );
        }
        beyond |= found.revision_max > required.revision_max(*space);
    }
    beyond
}

/// Reopens the source on `disk` and checks it holds every write of `required`.
fn check_source(
    disk: &SimDisk,
    spaces: &[SpaceId],
    history: &History,
    required: &History,
    context: &str,
) {
    let context = format!("{context}: source");
    let storage: Arc<dyn Storage> = Arc::new(SimStorage::with_disk(disk.clone(), 0));
    let db = Db::open(SOURCE, options(storage))
        .unwrap_or_else(|error| panic!("{context}: open failed: {error}"));
    let _ = check_spaces(&db, spaces, history, required, Racing::Allowed, &context);
    db.close().unwrap();
}

/// Classifies the copy on `disk`; a complete one is checked to hold `required` (and, with
/// [`Racing::Allowed`], per space a prefix of the rest of `history`).
fn check_copy(
    disk: &SimDisk,
    spaces: &[SpaceId],
    history: &History,
    required: &History,
    racing: Racing,
    context: &str,
) -> Outcome {
    let context = format!("{context}: copy");
    let sim = SimStorage::with_disk(disk.clone(), 0);
    let entries = sim.list_dir(Path::new(COPY)).unwrap_or_default();
    if entries.is_empty() {
        return Outcome::Empty;
    }
    let storage: Arc<dyn Storage> = Arc::new(sim);
    match Db::open_read_only(COPY, options(Arc::clone(&storage))) {
        Err(Error::MissingManifest { .. }) => {
            let writable = Db::open(COPY, options(storage));
            assert!(
                matches!(writable, Err(Error::MissingManifest { .. })),
                "{context}: a writing open does not refuse what a read-only one did: \
                 {writable:?} (entries {entries:?})"
            );
            Outcome::Refused
        }
        Err(error) => panic!(
            "{context}: neither refused as incomplete nor opened: {error} (entries {entries:?})"
        ),
        Ok(reader) => {
            drop(reader);
            let db = Db::open(COPY, options(storage))
                .unwrap_or_else(|error| panic!("{context}: writing open failed: {error}"));
            let racing_writes = check_spaces(&db, spaces, history, required, racing, &context);
            db.close().unwrap();
            Outcome::Complete { racing_writes }
        }
    }
}

/// The operations of one clean checkpoint of [`populate`]'s database, checking that it
/// placed every block as `placement` says.
fn checkpoint_operations(placement: Placement) -> u64 {
    let sim = SimStorage::new(0);
    let (db, _, _) = populate(&sim);
    placement.install(&sim);
    let before = sim.op_count_total();
    let info = db.checkpoint(COPY).unwrap();
    let operations = sim.op_count_total() - before;
    match placement {
        Placement::Link => assert_eq!(info.blocks_copied, 0, "{info:?}"),
        Placement::Copy => assert_eq!(info.blocks_linked, 0, "{info:?}"),
    }
    assert_eq!(
        info.blocks_linked + info.blocks_copied,
        u64::from(SPACES * ROUNDS),
        "a block per seal: {info:?}"
    );
    db.close().unwrap();
    operations
}

#[test]
fn power_loss_after_every_checkpoint_operation_leaves_the_copy_refused_or_complete() {
    // Goal and method: see the module doc (1). The source's background work (a segment
    // recycled after a seal) counts too and its timing varies, so n runs on until two
    // checkpoints in a row returned. Every outcome must be seen, and a returned checkpoint
    // must be complete after every cut.
    for placement in [Placement::Link, Placement::Copy] {
        let steps = checkpoint_operations(placement);
        let mut seen = BTreeMap::new();
        let (mut step, mut returned) = (0, 0);
        while returned < 2 {
            assert!(
                step <= 2 * steps,
                "{placement:?}: no checkpoint returned by step {step}"
            );
            let sim = SimStorage::new(step);
            let (db, spaces, history) = populate(&sim);
            placement.install(&sim);
            sim.faults().fail_after(step, libc::EIO);
            let result = db.checkpoint(COPY);
            let _ = db.close();
            returned = if result.is_ok() { returned + 1 } else { 0 };
            for seed in 0..SEEDS_PER_STEP {
                let context = format!("{placement:?} step {step} (of about {steps}) seed {seed}");
                let disk = sim.power_loss(step * 10 + seed);
                check_source(&disk, &spaces, &history, &history, &context);
                let outcome =
                    check_copy(&disk, &spaces, &history, &history, Racing::None, &context);
                if let Ok(info) = &result {
                    assert!(
                        matches!(outcome, Outcome::Complete { .. }),
                        "{context}: returned {info:?}, then {outcome:?}"
                    );
                }
                *seen.entry(outcome).or_insert(0) += 1;
            }
            step += 1;
        }
        println!(
            "{placement:?}: {step} steps (a clean checkpoint: {steps} operations), outcomes {seen:?}"
        );
        assert_eq!(seen.len(), 3, "{placement:?}: every outcome seen: {seen:?}");
    }
}

/// The disks recorded while a checkpoint runs and after it returned.
fn record_checkpoint(placement: Placement) -> (Vec<SimDisk>, Vec<SimDisk>, Vec<SpaceId>, History) {
    let sim = SimStorage::new(7);
    let (db, spaces, history) = populate(&sim);
    placement.install(&sim);
    sim.record_crash_points(POINTS_MAX);
    db.checkpoint(COPY).unwrap();
    let during = sim.take_crash_points();
    db.close().unwrap();
    let after = sim.take_crash_points();
    assert!(during.len() + after.len() < POINTS_MAX, "raise POINTS_MAX");
    (during, after, spaces, history)
}

#[test]
fn every_crash_state_of_a_checkpoint_leaves_the_copy_refused_or_complete() {
    // Goal and method: see the module doc (2). Crash points after the checkpoint returned
    // must all be complete; every outcome must be seen.
    for placement in [Placement::Link, Placement::Copy] {
        let (during, after, spaces, history) = record_checkpoint(placement);
        let (mut states, mut sampled) = (0, 0);
        let mut seen = BTreeMap::new();
        let points = during.iter().map(|disk| (disk, false));
        let points = points.chain(after.iter().map(|disk| (disk, true)));
        for (index, (disk, returned)) in points.enumerate() {
            let crashed: Vec<SimDisk> = match disk.crash_states(STATES_PER_POINT_MAX) {
                Ok(all) => all.collect(),
                Err(_) => {
                    sampled += 1;
                    (0..16).map(|seed| disk.power_loss(seed)).collect()
                }
            };
            for (state_index, state) in crashed.iter().enumerate() {
                let context = format!("{placement:?} point {index} state {state_index}");
                check_source(state, &spaces, &history, &history, &context);
                let outcome =
                    check_copy(state, &spaces, &history, &history, Racing::None, &context);
                if returned {
                    assert!(
                        matches!(outcome, Outcome::Complete { .. }),
                        "{context}: after the return, {outcome:?}"
                    );
                }
                *seen.entry(outcome).or_insert(0) += 1;
                states += 1;
            }
        }
        println!(
            "{placement:?}: {} crash points ({} after the return), {states} crash states \
             checked ({sampled} points sampled), outcomes {seen:?}",
            during.len() + after.len(),
            after.len()
        );
        assert_eq!(seen.len(), 3, "{placement:?}: every outcome seen: {seen:?}");
    }
}

/// A recorded disk with what happened before it was recorded.
struct Tagged {
    disk: SimDisk,
    acknowledged: History,
    checkpointed: bool,
}

/// What the racing writer and the checkpoint share: every event (an acknowledgement, the
/// checkpoint's return) is added right after taking the disks recorded so far, under one
/// lock, so each disk is tagged only with events that happened before it was recorded.
struct Race {
    acknowledged: History,
    checkpointed: bool,
    points: Vec<Tagged>,
}

impl Race {
    fn take(&mut self, sim: &SimStorage) {
        for disk in sim.take_crash_points() {
            self.points.push(Tagged {
                disk,
                acknowledged: self.acknowledged.clone(),
                checkpointed: self.checkpointed,
            });
        }
    }
}

/// Puts on alternate spaces until [`RACING_WRITES_AFTER`] writes after the checkpoint
/// returned (or [`RACING_WRITES_MAX`] in all); signals `started` after each of the first
/// writes.
fn race_writes(
    db: &Db,
    sim: &SimStorage,
    spaces: &[SpaceId],
    race: &Mutex<Race>,
    started: &std::sync::mpsc::Sender<()>,
) {
    let mut after_return = 0;
    for index in 0..RACING_WRITES_MAX {
        let space = spaces[index as usize % spaces.len()];
        let point = vec![index % 5, 10 + index % 3];
        let value = format!("race-{index}").into_bytes();
        let revision = db.put(space, &point, value.clone()).unwrap();
        let mut race = race.lock();
        race.take(sim);
        race.acknowledged
            .record(space, revision, vec![(point, Some(value))]);
        after_return += u32::from(race.checkpointed);
        drop(race);
        let _ = started.send(());
        if after_return >= RACING_WRITES_AFTER {
            break;
        }
    }
}

#[test]
fn power_loss_while_writes_race_a_checkpoint_keeps_source_and_copy_consistent() {
    // Goal and method: see the module doc (3). Disks recorded after the checkpoint returned
    // must be complete copies; over ten seeds or more, refused and complete copies must both
    // be seen. The outcomes printed count the complete copies holding racing writes.
    let mut seen = BTreeMap::new();
    let seeds = seeds(RACING_SEEDS);
    for seed in &seeds {
        let _guard = SeedGuard::new(TEST, *seed);
        let mut rng = ChaCha8Rng::seed_from_u64(*seed);
        let placement = *[Placement::Link, Placement::Copy].choose(&mut rng).unwrap();
        let sim = SimStorage::new(*seed);
        let (db, spaces, history) = populate(&sim);
        placement.install(&sim);
        sim.record_crash_points(POINTS_MAX);
        let race = Mutex::new(Race {
            acknowledged: history,
            checkpointed: false,
            points: Vec::new(),
        });
        let (started, writes) = channel();
        let before_checkpoint = std::thread::scope(|scope| {
            let writer = scope.spawn(|| race_writes(&db, &sim, &spaces, &race, &started));
            let lead_writes = rng.gen_range(1..=3);
            for _ in 0..lead_writes {
                writes.recv().unwrap();
            }
            let before = race.lock().acknowledged.clone();
            db.checkpoint(COPY).unwrap();
            let mut race_now = race.lock();
            race_now.take(&sim);
            race_now.checkpointed = true;
            drop(race_now);
            writer.join().unwrap();
            before
        });
        db.close().unwrap();
        let mut race = race.into_inner();
        race.take(&sim);
        let history = race.acknowledged.clone();
        let picked = race.points.choose_multiple(&mut rng, RACING_POINTS_CHECKED);
        for (index, tagged) in picked.enumerate() {
            let context = format!("seed {seed} ({placement:?}) point {index}");
            let disk = tagged.disk.power_loss(rng.r#gen());
            check_source(&disk, &spaces, &history, &tagged.acknowledged, &context);
            let outcome = check_copy(
                &disk,
                &spaces,
                &history,
                &before_checkpoint,
                Racing::Allowed,
                &context,
            );
            if tagged.checkpointed {
                assert!(
                    matches!(outcome, Outcome::Complete { .. }),
                    "{context}: after the return, {outcome:?}"
                );
            }
            *seen.entry(outcome).or_insert(0) += 1;
        }
    }
    println!("{} seeds, outcomes {seen:?}", seeds.len());
    if seeds.len() >= 10 {
        // About a third of the recorded disks are the checkpoint's own changes, so a run of
        // ten seeds that cuts none of them mid-way is a sampling bug, not bad luck.
        assert!(seen.contains_key(&Outcome::Refused), "{seen:?}");
        let complete = seen
            .keys()
            .any(|outcome| matches!(outcome, Outcome::Complete { .. }));
        assert!(complete, "{seen:?}");
    }
}
