//! Seed handling: which seeds a seeded test runs, how a failure names its seed, and how a seed
//! is replayed.
//!
//! Environment:
//! - `INFINITEDB_SEED=<seed>` runs only that seed. For the power-loss test
//!   (`crash_power_loss_seeded`), if a failed check of that seed was saved
//!   (`<CARGO_TARGET_TMPDIR>/crash-replay/seed-<seed>/`, see `super::replay`), only the check
//!   phase is rerun on the saved post-power-loss disk and histories: that replay is exact
//!   and deterministic. Without a saved case the seed's workload is rerun: its configuration,
//!   operations, cut instant (counted in acknowledgements) and crash plan are the seed's, but
//!   which writes were in flight at the cut depends on thread scheduling, so the rerun may
//!   not reproduce a failure.
//! - `INFINITEDB_SEED_RERUN=1` reruns the workload even when a saved case exists.
//! - `INFINITEDB_SEED_REPEAT=<n>` runs each selected seed's workload `n` times (never a
//!   replay), to catch a failure that depends on scheduling; the first failure is saved.
//! - Otherwise `INFINITEDB_CRASH_SEEDS=<n>` (default: the test's own count) seeds run from
//!   `INFINITEDB_SEED_BASE` (default 0, so CI runs the same seeds every time; the soak script
//!   picks a fresh base).

use std::env;

use super::replay::{CaseNote, take_note};

/// The seeds to run: the replayed one, or `count` (overridable) consecutive ones.
pub fn seeds(default_count: u64) -> Vec<u64> {
    if let Some(seed) = env_u64("INFINITEDB_SEED") {
        return vec![seed];
    }
    let count = env_u64("INFINITEDB_CRASH_SEEDS").unwrap_or(default_count);
    let base = env_u64("INFINITEDB_SEED_BASE").unwrap_or(0);
    (0..count).map(|index| base.wrapping_add(index)).collect()
}

/// The seed named by `INFINITEDB_SEED`, if any.
pub fn seed_named() -> Option<u64> {
    env_u64("INFINITEDB_SEED")
}

/// Whether `INFINITEDB_SEED_RERUN` asks to rerun the workload rather than replay a saved case.
pub fn rerun_forced() -> bool {
    env_u64("INFINITEDB_SEED_RERUN").is_some_and(|value| value != 0)
}

/// How many times each seed's workload runs (`INFINITEDB_SEED_REPEAT`, at least 1).
pub fn repeat_count() -> u64 {
    env_u64("INFINITEDB_SEED_REPEAT").unwrap_or(1).max(1)
}

/// A `u64` from the environment, if set and parseable.
pub fn env_u64(name: &str) -> Option<u64> {
    let text = env::var(name).ok()?;
    match text.trim().parse() {
        Ok(value) => Some(value),
        Err(_) => panic!("{name}={text:?} is not a u64"),
    }
}

/// Prints the seed and how to replay it if the test panics while this guard lives, including
/// where a failed power-loss check was saved (`super::replay::CaseNote`).
pub struct SeedGuard {
    test: &'static str,
    seed: u64,
}

impl SeedGuard {
    /// Names `seed` of `test` for the failure message (and forgets any earlier seed's note).
    pub fn new(test: &'static str, seed: u64) -> SeedGuard {
        let _ = take_note();
        SeedGuard { test, seed }
    }
}

impl Drop for SeedGuard {
    fn drop(&mut self) {
        let note = take_note();
        if !std::thread::panicking() {
            return;
        }
        let (test, seed) = (self.test, self.seed);
        let command = format!(
            "INFINITEDB_SEED={seed} cargo test --release -p infinitedb --test {test} -- \
             --nocapture"
        );
        let how = match note {
            Some(CaseNote::Saved(dir)) => format!(
                "the post-power-loss disk image and histories were saved to {}; `{command}` \
                 replays the check on them exactly (INFINITEDB_SEED_RERUN=1 reruns the \
                 workload instead, whose thread scheduling may differ)",
                dir.display()
            ),
            Some(CaseNote::Replayed(dir)) => format!(
                "this was the replay of the case saved in {}; `{command}` replays it again",
                dir.display()
            ),
            Some(CaseNote::SaveFailed(why)) => format!(
                "saving the failed case failed ({why}); `{command}` reruns the workload, whose \
                 thread scheduling may differ"
            ),
            None => format!(
                "no case was saved (the failure came before the check after the power cut); \
                 `{command}` reruns the workload, whose thread scheduling may differ \
                 (INFINITEDB_SEED_REPEAT=<n> runs it n times)"
            ),
        };
        eprintln!("FAILED {test} at seed {seed}; {how}");
    }
}
