//! Helpers shared by the engine's scenario tests: small options that keep pre-written
//! segments cheap, and a tiny model of acknowledged writes.
#![allow(dead_code, reason = "each test binary uses a subset of the helpers")]
#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failure is a test failure"
)]

use std::collections::BTreeMap;
use std::time::Duration;

use infinitedb::{BackendRequest, Db, Options, Revision, SpaceId};

/// Segment size for tests: small, so creating a space writes little.
pub const TEST_SEGMENT_BYTES: u64 = 1024 * 1024;

/// Options for a test database: 1 MiB segments and no staged route unless asked.
pub fn small_options() -> Options {
    Options::default()
        .segment_bytes(TEST_SEGMENT_BYTES)
        .value_bytes_max(64 * 1024)
        .deadline(None)
}

/// The same with a fixed backend.
pub fn small_options_on(backend: BackendRequest) -> Options {
    small_options().backend(backend)
}

/// The value written at point `(i, j)` in these tests.
pub fn value_of(i: u32, j: u32) -> Vec<u8> {
    format!("value-{i}-{j}").into_bytes()
}

/// A model of what was acknowledged: point → (revision, value or delete).
pub type Model = BTreeMap<Vec<u32>, (Revision, Option<Vec<u8>>)>;

/// Checks that `db` returns the model's latest value at every point of the model.
pub fn assert_matches_model(db: &Db, space: SpaceId, model: &Model) {
    for (point, (_, value)) in model {
        assert_eq!(&db.get(space, point).unwrap(), value, "point {point:?}");
    }
}

/// A deadline that every hot-segment chain misses.
pub fn zero_deadline() -> Option<Duration> {
    Some(Duration::ZERO)
}
