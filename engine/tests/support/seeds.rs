//! Seed handling: which seeds a seeded test runs, and how a failure names its seed.
//!
//! `INFINITEDB_SEED=<seed>` replays exactly that seed; otherwise `INFINITEDB_CRASH_SEEDS=<n>`
//! (default: the test's own count) seeds run from `INFINITEDB_SEED_BASE` (default 0, so CI
//! runs the same seeds every time; the soak script picks a fresh base).

use std::env;

/// The seeds to run: the replayed one, or `count` (overridable) consecutive ones.
pub fn seeds(default_count: u64) -> Vec<u64> {
    if let Some(seed) = env_u64("INFINITEDB_SEED") {
        return vec![seed];
    }
    let count = env_u64("INFINITEDB_CRASH_SEEDS").unwrap_or(default_count);
    let base = env_u64("INFINITEDB_SEED_BASE").unwrap_or(0);
    (0..count).map(|index| base.wrapping_add(index)).collect()
}

/// A `u64` from the environment, if set and parseable.
pub fn env_u64(name: &str) -> Option<u64> {
    let text = env::var(name).ok()?;
    match text.trim().parse() {
        Ok(value) => Some(value),
        Err(_) => panic!("{name}={text:?} is not a u64"),
    }
}

/// Prints the seed and how to replay it if the test panics while this guard lives.
pub struct SeedGuard {
    test: &'static str,
    seed: u64,
}

impl SeedGuard {
    /// Names `seed` of `test` for the failure message.
    pub fn new(test: &'static str, seed: u64) -> SeedGuard {
        SeedGuard { test, seed }
    }
}

impl Drop for SeedGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "FAILED {} at seed {}; replay with INFINITEDB_SEED={} cargo test --release \
                 -p infinitedb --test {} -- --nocapture",
                self.test, self.seed, self.seed, self.test
            );
        }
    }
}
