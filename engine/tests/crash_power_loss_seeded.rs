//! Seeded power-loss harness on the simulated disk (docs/design.md §3 "Recovery").
//!
//! Each seed draws a configuration (spaces, concurrent writers, seal thresholds, deadline,
//! hot-segment fsync stalls that hold chains in flight, the level-0 compaction trigger and
//! output block size, the spaces' retention) and a workload of puts, deletes, batches,
//! flushes and compactions (`Db::compact`); with small seal thresholds background
//! compactions run too, so cuts land in every step of a compaction (outputs written, the
//! manifest batch, inputs deleted). Writers run concurrently; at a random instant (after a
//! random number of acknowledgements) the power is cut with a seeded plan (unsynced writes
//! kept, lost, reordered, one torn at sector granularity). The database is reopened on what
//! survived and every space must equal the model at a prefix of its history that holds every
//! write acknowledged before the cut (under `Retention::All` exactly, every version counted;
//! under `Retention::Latest` by what it promises: the live state and each point's newest
//! version, so a dropped delete that let an older value back fails); a new write must get a
//! revision above every recovered one; a second reopen must show the same. The harness is
//! `support::power_loss`.
//!
//! Replay. The seed fixes the configuration, the workload, the cut instant (counted in
//! acknowledgements) and the crash plan's seed, but not which writes were in flight at the
//! cut: that depends on how the writer threads and the engine's I/O and sealer threads were
//! scheduled. So when the check after the cut fails, the harness saves its whole input (the
//! post-power-loss disk image, every acknowledged batch, the batches acknowledged before the
//! cut, the space ids, the configuration as text and the failure message) to
//! `<CARGO_TARGET_TMPDIR>/crash-replay/seed-<seed>/` (`target/<dir>/tmp/...`; format in
//! `support::replay`) before the panic goes on. Then:
//! - `INFINITEDB_SEED=<seed>` loads that case into a fresh simulated disk and reruns only the
//!   check, on exactly the same bytes and histories, and says whether it failed exactly as
//!   saved. Within the check the engine's threads still run, but what it recovers and reads
//!   back depends only on the disk, so the outcome is deterministic.
//! - Without a saved case (a seed that never failed here, or a failure before the cut),
//!   `INFINITEDB_SEED=<seed>` reruns the workload, which may not reproduce the failure;
//!   `INFINITEDB_SEED_RERUN=1` forces that; `INFINITEDB_SEED_REPEAT=<n>` runs the workload
//!   `n` times to catch a scheduling-dependent failure (the first failure is saved).
//!
//! Saving happens only on failure, so a passing run costs what it did before.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a failure is a test failure"
)]

mod support;

use std::path::{Path, PathBuf};

use support::power_loss::{replay_case, run_seed};
use support::replay::{case_dir, replay_root};
use support::seeds::{SeedGuard, repeat_count, rerun_forced, seed_named, seeds};

/// Seeds CI runs (about 2,000; `INFINITEDB_CRASH_SEEDS` overrides).
const CI_SEEDS: u64 = 2_000;

/// This test's name, for the replay instructions.
const TEST: &str = "crash_power_loss_seeded";

/// The saved case to replay for `seed`: only for the seed named by `INFINITEDB_SEED`, when a
/// case exists and neither a rerun nor a repeat is asked for.
fn case_to_replay(seed: u64, root: &Path) -> Option<PathBuf> {
    let dir = case_dir(root, seed);
    let wanted = seed_named() == Some(seed) && !rerun_forced() && repeat_count() == 1;
    (wanted && dir.is_dir()).then_some(dir)
}

/// Why the workload of `seed` is rerun, when the seed was named (printed so the mode is clear).
fn rerun_reason(seed: u64, root: &Path) -> Option<String> {
    seed_named()?;
    let dir = case_dir(root, seed);
    let why = if !dir.is_dir() {
        "no saved image".to_owned()
    } else if rerun_forced() {
        format!(
            "INFINITEDB_SEED_RERUN is set; a saved image exists in {}",
            dir.display()
        )
    } else {
        format!(
            "INFINITEDB_SEED_REPEAT is set; a saved image exists in {}",
            dir.display()
        )
    };
    Some(why)
}

#[test]
fn power_loss_at_random_instants_keeps_every_acknowledged_write() {
    // Goal: the recovery contract holds over many random workloads and crash instants.
    // Method: for each seed, run_seed (see the module doc), or replay a saved failed case;
    // count the unacknowledged or in-flight batches that the cuts dropped, to show the
    // harness does cut mid-stream.
    let seeds = seeds(CI_SEEDS);
    let root = replay_root();
    let repeat = repeat_count();
    let (mut dropped_total, mut workload_runs) = (0, 0u64);
    let (mut compactions_total, mut cuts_after_compaction) = (0u64, 0u64);
    for seed in &seeds {
        let _guard = SeedGuard::new(TEST, *seed);
        if let Some(dir) = case_to_replay(*seed, &root) {
            println!(
                "replaying the saved image of seed {seed} from {}",
                dir.display()
            );
            dropped_total += replay_case(*seed, &dir);
            continue;
        }
        if let Some(why) = rerun_reason(*seed, &root) {
            println!("rerunning seed {seed}'s workload ({why}): thread scheduling may differ");
        }
        for round in 1..=repeat {
            if repeat > 1 {
                println!("seed {seed}: workload run {round}/{repeat}");
            }
            let run = run_seed(*seed, &root);
            dropped_total += run.dropped;
            compactions_total += run.compactions_before_cut;
            cuts_after_compaction += u64::from(run.compactions_before_cut > 0);
            workload_runs += 1;
        }
    }
    println!(
        "{} seeds, {workload_runs} workload runs; batches dropped by the cuts (never \
         acknowledged before them): {dropped_total}; {compactions_total} compactions \
         before the cuts, {cuts_after_compaction} runs cut after at least one",
        seeds.len()
    );
    if workload_runs >= 100 {
        assert!(
            dropped_total > 0,
            "no cut ever dropped an in-flight write: the harness is too tame"
        );
        assert!(
            cuts_after_compaction * 10 >= workload_runs,
            "fewer than one run in ten was cut after a compaction: the workloads do not \
             compact enough"
        );
    }
}
