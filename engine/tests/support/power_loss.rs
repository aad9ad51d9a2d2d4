//! The seeded power-loss harness: a seed's configuration and workload, the run up to
//! a power cut, the check after it, and saving and replaying a failed check.
//!
//! A seed fixes the configuration ([`Config::draw`]), the workload, the number of
//! acknowledgements after which the power is cut, and the crash plan's seed; it does not fix
//! which writes were in flight at the cut, which depends on how the writer threads, the
//! engine's I/O thread and its sealer thread were scheduled. The run phase
//! ([`run_until_power_loss`]) is therefore not repeatable; the check phase
//! ([`check_after_power_loss`]) is a function of its inputs: the post-power-loss disk, the
//! histories and the configuration. When the check panics, [`run_seed`] saves those inputs
//! with `super::replay::save_case` before the panic goes on, and [`replay_case`] runs the check
//! again on exactly them.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use infinitedb::{Db, Durability, Options, Retention, Revision, SpaceId, WriteOptions};
use parking_lot::Mutex;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uring_io::{Fault, OpMatch, SimDisk, SimStorage, Storage};

use super::model::{History, Recovered, check_recovered_under, check_spanning_atomic};
use super::replay::{CaseNote, SavedCase, case_dir, load_case, panic_text, save_case, set_note};
use super::suite_options;
use super::workload::{
    Op, SPACE_BITS, SPACE_DIMS, Shape, apply_with, generate, partner_records_of, records_of,
};

/// A seed's configuration.
#[derive(Debug)]
pub struct Config {
    /// Spaces created.
    pub spaces: u32,
    /// Concurrent writer threads (writer `w` writes space `w % spaces`, and its batches
    /// across spaces also write space `(w + 1) % spaces`).
    pub writers: u32,
    /// Steps per writer.
    pub ops_per_writer: u32,
    /// The engine's seal threshold.
    pub seal_threshold_records: u64,
    /// Level-0 blocks that start a background compaction (1 compacts after every seal).
    pub l0_compaction_trigger: usize,
    /// Record bytes at which a compaction finishes an output block (small: several outputs).
    pub block_target_bytes: u64,
    /// The spaces' retention: `All` (the model is exact) or `Latest` (checked by what it
    /// promises, `super::model::check_recovered_latest`).
    pub retention: Retention,
    /// The engine's commit deadline.
    pub deadline: Option<Duration>,
    /// Hot-segment fsync stalls: probability and latency.
    pub stall: Option<(f64, Duration)>,
    /// The workload's shape.
    pub shape: Shape,
    /// The database's default durability.
    pub durability: Durability,
    /// Per mille of the writes made with the other durability (`WriteOptions`): a seed mixes
    /// durable commits and writes acknowledged before they reach the disk in one database.
    pub other_durability_per_mille: u32,
}

impl Config {
    /// The configuration of the seed `rng` was seeded with (its first draws).
    pub fn draw(rng: &mut ChaCha8Rng) -> Config {
        let deadline = match rng.gen_range(0..4) {
            0 => Some(Duration::ZERO),
            1 => Some(Duration::from_millis(1)),
            _ => None,
        };
        let stall = (rng.gen_range(0..3) == 0).then(|| {
            let latency = Duration::from_micros(rng.gen_range(200..2_000));
            (rng.gen_range(0.1..0.5), latency)
        });
        let spaces = rng.gen_range(1..=2);
        let spanning_per_mille = if spaces > 1 && rng.gen_bool(0.75) {
            rng.gen_range(50..400)
        } else {
            0
        };
        Config {
            spaces,
            writers: rng.gen_range(1..=3),
            ops_per_writer: rng.gen_range(4..=24),
            seal_threshold_records: if rng.gen_bool(0.5) {
                rng.gen_range(4..40)
            } else {
                1_000_000
            },
            l0_compaction_trigger: rng.gen_range(1..=4),
            block_target_bytes: if rng.gen_bool(0.5) { 4096 } else { 1 << 20 },
            retention: if rng.gen_range(0..4) == 0 {
                Retention::Latest
            } else {
                Retention::All
            },
            deadline,
            stall,
            shape: Shape {
                flush_per_mille: rng.gen_range(0..60),
                compact_per_mille: rng.gen_range(0..80),
                spanning_per_mille,
                ..Shape::default()
            },
            durability: if rng.gen_range(0..4) == 0 {
                Durability::NoSync
            } else {
                Durability::Sync
            },
            other_durability_per_mille: if rng.gen_bool(0.5) {
                0
            } else {
                rng.gen_range(1..=1000)
            },
        }
    }

    /// The durability of each of `ops`, drawn from `rng`.
    fn durabilities(&self, rng: &mut ChaCha8Rng, ops: usize) -> Vec<Durability> {
        let other = match self.durability {
            Durability::NoSync => Durability::Sync,
            _ => Durability::NoSync,
        };
        (0..ops)
            .map(|_| {
                if rng.gen_range(0..1000) < self.other_durability_per_mille {
                    other
                } else {
                    self.durability
                }
            })
            .collect()
    }

    /// The database options of this configuration on `storage`.
    pub fn options(&self, storage: Arc<dyn Storage>) -> Options {
        suite_options()
            .seal_threshold_records(self.seal_threshold_records)
            .l0_compaction_trigger(self.l0_compaction_trigger)
            .block_target_bytes(self.block_target_bytes)
            .deadline(self.deadline)
            .durability(self.durability)
            .storage(storage)
    }
}

/// The context every check message of `seed` starts with.
pub fn context_of(seed: u64, config: &Config) -> String {
    format!("seed {seed} {config:?}")
}

/// What the run phase leaves for the check phase.
pub struct PowerLoss {
    /// The disk after the cut.
    pub disk: SimDisk,
    /// The batches acknowledged as durable (`Sync`) before the cut.
    pub required: History,
    /// Every batch acknowledged, before or after the cut.
    pub history: History,
    /// The spaces, in creation order.
    pub spaces: Vec<SpaceId>,
    /// Compactions (background and `Db::compact`) finished before the cut.
    pub compactions_before_cut: u64,
}

/// What the running database acknowledged.
#[derive(Default)]
struct Acks {
    history: Mutex<History>,
    /// The batches acknowledged as durable (`Sync`).
    durable: Mutex<History>,
    count: AtomicUsize,
    writers_done: AtomicUsize,
}

/// Runs one writer's ops on `space` (its batches across spaces also on `partner`), each with
/// its durability, recording each acknowledgement.
fn run_writer(
    db: &Db,
    (space, partner): (SpaceId, SpaceId),
    ops: &[(Op, Durability)],
    acks: &Acks,
) {
    for (op, durability) in ops {
        let options = WriteOptions::default().durability(*durability);
        match apply_with(db, space, Some(partner), op, &options) {
            Ok(Some(revision)) => {
                let record = |history: &mut History| {
                    history.record(space, revision, records_of(op));
                    let other = partner_records_of(op);
                    if !other.is_empty() {
                        history.record(partner, revision, other);
                    }
                };
                // Durable ones first: the cut reads `history` after `durable`, so a batch in
                // `durable` is always in `history` too.
                if *durability == Durability::Sync {
                    record(&mut acks.durable.lock());
                }
                record(&mut acks.history.lock());
                acks.count.fetch_add(1, Ordering::Release);
            }
            Ok(None) => {}
            Err(error) => panic!("{op:?} failed without any injected fault: {error}"),
        }
    }
    acks.writers_done.fetch_add(1, Ordering::Release);
}

/// Opens a database on `sim` and creates the configuration's spaces.
fn open_with_spaces(config: &Config, sim: &SimStorage) -> (Db, Vec<SpaceId>) {
    let db = Db::open("/db", config.options(Arc::new(sim.clone()))).unwrap();
    let spaces = (0..config.spaces)
        .map(|index| {
            let name = format!("space-{index}");
            db.create_space_with(&name, SPACE_DIMS, SPACE_BITS, config.retention)
                .unwrap()
        })
        .collect();
    (db, spaces)
}

/// Runs the workload drawn from `rng` (after the configuration), cuts the power after a
/// drawn number of acknowledgements, and returns what the check phase needs.
pub fn run_until_power_loss(config: &Config, rng: &mut ChaCha8Rng, seed: u64) -> PowerLoss {
    let sim = SimStorage::new(seed);
    let (db, spaces) = open_with_spaces(config, &sim);
    if let Some((probability, latency)) = config.stall {
        let matcher = OpMatch::fsync()
            .path_contains("seg-")
            .probability(probability);
        sim.faults().on(matcher, Fault::Latency(latency));
    }
    type Workload = ((SpaceId, SpaceId), Vec<(Op, Durability)>);
    let workloads: Vec<Workload> = (0..config.writers)
        .map(|writer| {
            let space = spaces[usize::try_from(writer % config.spaces).unwrap()];
            let partner = spaces[usize::try_from((writer + 1) % config.spaces).unwrap()];
            let ops = generate(rng, &config.shape, writer, config.ops_per_writer);
            let durabilities = config.durabilities(rng, ops.len());
            (
                (space, partner),
                ops.into_iter().zip(durabilities).collect(),
            )
        })
        .collect();
    let writes: usize = workloads
        .iter()
        .map(|(_, ops)| ops.iter().filter(|(op, _)| op.is_write()).count())
        .sum();
    let crash_after = rng.gen_range(0..=writes);
    let linger_us = rng.gen_range(0..300);
    let plan_seed: u64 = rng.r#gen();
    let acks = Acks::default();
    let (disk, required, compactions_before_cut) = std::thread::scope(|scope| {
        for (spaces, ops) in &workloads {
            let (db, acks) = (&db, &acks);
            scope.spawn(move || run_writer(db, *spaces, ops, acks));
        }
        let writers = usize::try_from(config.writers).unwrap();
        while acks.count.load(Ordering::Acquire) < crash_after
            && acks.writers_done.load(Ordering::Acquire) < writers
        {
            std::thread::sleep(Duration::from_micros(20));
        }
        std::thread::sleep(Duration::from_micros(linger_us));
        // `Sync` acknowledgements read before the cut were durable before it.
        let required = acks.durable.lock().clone();
        let compactions = db.stats().compactions;
        (sim.power_loss(plan_seed), required, compactions)
    });
    db.close().unwrap();
    let history = acks.history.lock().clone();
    PowerLoss {
        disk,
        required,
        history,
        spaces,
        compactions_before_cut,
    }
}

/// Reopens on `storage` and checks every space; returns what each recovered.
fn reopen_and_check(
    config: &Config,
    storage: &Arc<dyn Storage>,
    spaces: &[SpaceId],
    history: &History,
    required: &History,
    context: &str,
) -> (Db, BTreeMap<SpaceId, Recovered>) {
    let db = Db::open("/db", config.options(storage.clone()))
        .unwrap_or_else(|error| panic!("{context}: open after power loss failed: {error}"));
    let mut recovered = BTreeMap::new();
    for (index, space) in spaces.iter().enumerate() {
        assert_eq!(
            db.space(&format!("space-{index}")).unwrap(),
            *space,
            "{context}"
        );
        assert_eq!(db.retention(*space).unwrap(), config.retention, "{context}");
        let required = required.revision_max(*space);
        let found =
            check_recovered_under(config.retention, &db, *space, history, required, context);
        recovered.insert(*space, found);
    }
    check_spanning_atomic(history, &recovered, context);
    (db, recovered)
}

/// The first `prefix` batches of each space of `history`.
fn truncated(history: &History, recovered: &BTreeMap<SpaceId, Recovered>) -> History {
    let mut kept = History::default();
    for (space, found) in recovered {
        for batch in history.batches(*space).into_iter().take(found.prefix) {
            kept.record(*space, batch.revision, batch.records);
        }
    }
    kept
}

/// The check phase: reopens on `disk` and checks every space against a prefix of `history`
/// holding `required`; writes once more (its revision must be above every recovered one),
/// reopens again and checks nothing was lost. Panics on a failed check; returns how many
/// batches the cut dropped. Depends only on its arguments (the engine's threads may
/// interleave differently, but what it recovers and reads back is a function of the disk).
pub fn check_after_power_loss(
    config: &Config,
    disk: SimDisk,
    history: &History,
    required: &History,
    spaces: &[SpaceId],
    context: &str,
) -> usize {
    let storage: Arc<dyn Storage> = Arc::new(SimStorage::with_disk(disk, 0));
    let (db, recovered) = reopen_and_check(config, &storage, spaces, history, required, context);

    // Revisions never go back: a new write lands above everything recovered.
    let mut after = truncated(history, &recovered);
    let revision_max = recovered
        .values()
        .filter_map(|found| found.revision_max)
        .max();
    let point = vec![60_000, 60_000];
    let revision = db.put(spaces[0], &point, b"after-recovery").unwrap();
    assert!(
        revision > revision_max.unwrap_or(Revision(0)),
        "{context}: new revision {revision:?} <= recovered {revision_max:?}"
    );
    after.record(
        spaces[0],
        revision,
        vec![(point, Some(b"after-recovery".to_vec()))],
    );
    db.close().unwrap();

    let second_context = format!("{context} (second reopen)");
    let (db, again) = reopen_and_check(config, &storage, spaces, &after, &after, &second_context);
    for (space, found) in &again {
        assert_eq!(
            found.prefix, found.batches,
            "{second_context}: space {space:?} lost a batch"
        );
    }
    db.close().unwrap();
    recovered
        .values()
        .map(|found| found.batches - found.prefix)
        .sum()
}

/// Runs `check_after_power_loss`; if it panics, saves the case as `dir` (noting it for the
/// seed guard) and lets the panic go on.
pub fn check_or_save(seed: u64, config: &Config, loss: PowerLoss, dir: &Path) -> usize {
    let context = context_of(seed, config);
    let disk = loss.disk.clone();
    let checked = catch_unwind(AssertUnwindSafe(|| {
        check_after_power_loss(
            config,
            disk,
            &loss.history,
            &loss.required,
            &loss.spaces,
            &context,
        )
    }));
    let payload = match checked {
        Ok(dropped) => return dropped,
        Err(payload) => payload,
    };
    let case = SavedCase {
        seed,
        config_debug: format!("{config:?}"),
        disk: loss.disk,
        history: loss.history,
        required: loss.required,
        spaces: loss.spaces,
        failure: panic_text(payload.as_ref()),
    };
    match save_case(dir, &case) {
        Ok(()) => set_note(CaseNote::Saved(dir.to_path_buf())),
        Err(error) => set_note(CaseNote::SaveFailed(format!("{}: {error}", dir.display()))),
    }
    resume_unwind(payload)
}

/// What one run of a seed did, for the test's counts.
#[derive(Clone, Copy, Debug, Default)]
pub struct SeedRun {
    /// Batches the cut dropped (never acknowledged before it).
    pub dropped: usize,
    /// Compactions finished before the cut.
    pub compactions_before_cut: u64,
}

/// One run of `seed`: its workload up to the cut, then the check; a failed check is saved
/// under `root` (see `super::replay::case_dir`).
pub fn run_seed(seed: u64, root: &Path) -> SeedRun {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let config = Config::draw(&mut rng);
    let loss = run_until_power_loss(&config, &mut rng, seed);
    let compactions_before_cut = loss.compactions_before_cut;
    let dropped = check_or_save(seed, &config, loss, &case_dir(root, seed));
    SeedRun {
        dropped,
        compactions_before_cut,
    }
}

/// Reruns the check phase of `seed` on the case saved as `dir`, exactly: the same disk, the
/// same histories, the configuration re-derived from the seed (which must match the saved
/// one). Prints whether the saved failure reproduced. Panics as the check does.
pub fn replay_case(seed: u64, dir: &Path) -> usize {
    set_note(CaseNote::Replayed(dir.to_path_buf()));
    let case = load_case(dir)
        .unwrap_or_else(|error| panic!("cannot load the case saved in {}: {error}", dir.display()));
    assert_eq!(case.seed, seed, "{} holds another seed", dir.display());
    let config = Config::draw(&mut ChaCha8Rng::seed_from_u64(seed));
    assert_eq!(
        format!("{config:?}"),
        case.config_debug,
        "seed {seed} now draws another configuration than the one saved in {}: the harness \
         changed, so the saved case no longer replays exactly (remove it or rerun the workload \
         with INFINITEDB_SEED_RERUN=1)",
        dir.display()
    );
    let context = context_of(seed, &config);
    let checked = catch_unwind(AssertUnwindSafe(|| {
        check_after_power_loss(
            &config,
            case.disk.clone(),
            &case.history,
            &case.required,
            &case.spaces,
            &context,
        )
    }));
    match checked {
        Ok(dropped) => {
            println!("the saved failure of seed {seed} did not reproduce: the check passes now");
            dropped
        }
        Err(payload) => {
            let same = panic_text(payload.as_ref()) == case.failure;
            println!(
                "replayed seed {seed}: the check failed {} the saved failure",
                if same {
                    "exactly as"
                } else {
                    "differently from"
                }
            );
            resume_unwind(payload)
        }
    }
}
