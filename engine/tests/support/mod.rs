//! Shared helpers of the crash and fault suite: seed handling, a workload
//! generator, a reference model of each space's history that checks a recovered database, the
//! seeded power-loss harness, and saving a failed power-loss case (disk image and histories)
//! so that its check replays exactly.
//!
//! Invariants the checks rely on: every write gets one revision per batch; a batch never
//! writes the same point twice; points of different spaces never mix. The model keeps, per
//! space, every batch sequenced (acknowledged, or learned later) in revision order; a
//! recovered space must equal the model at some prefix of that history that ends on a batch
//! boundary and includes every batch acknowledged before the crash.
#![allow(dead_code, reason = "each test binary uses a subset of the helpers")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failure is a test failure"
)]

mod copy;
pub mod disk_image;
pub mod history_text;
pub mod model;
pub mod power_loss;
pub mod replay;
pub mod seeds;
pub mod workload;

use std::time::Duration;

#[allow(
    unused_imports,
    reason = "each test binary uses a subset of the helpers"
)]
pub use copy::copy_tree;

use infinitedb::{BackendRequest, Options};

/// Segment size for the suite: the smallest the engine accepts, so pre-writing is cheap.
pub const SEGMENT_BYTES: u64 = 1024 * 1024;

/// Options for a suite database: 1 MiB segments, 16 KiB values, no staged route.
pub fn suite_options() -> Options {
    Options::default()
        .segment_bytes(SEGMENT_BYTES)
        .value_bytes_max(16 * 1024)
        .deadline(None)
}

/// The two real-file backends every real-file test body runs on.
pub const REAL_BACKENDS: [BackendRequest; 2] = [BackendRequest::Auto, BackendRequest::Fallback];

/// A deadline every hot-segment chain misses.
pub fn zero_deadline() -> Option<Duration> {
    Some(Duration::ZERO)
}

/// The p-th percentile (0..=100) of `samples`, sorting them.
pub fn percentile(samples: &mut [Duration], percent: usize) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort_unstable();
    let index = (samples.len() * percent).div_ceil(100).saturating_sub(1);
    samples[index.min(samples.len() - 1)]
}
