//! The Hilbert keyspace: points to keys and back, boxes to key ranges (docs/design.md §2 and §6).
//!
//! - `curve.rs`: `Curve`, a space's shape, and the point <-> top-aligned `u128` key bijection
//!   (Skilling's transform).
//! - `level_table.rs`: the same transform as a state machine for 2..=4 dims, several levels per
//!   table look-up (speed).
//! - `morton.rs`: bit interleaving for 2..=4 dims by magic-number spreads.
//! - `query_box.rs`: `QueryBox`, an axis-aligned box with inclusive bounds.
//! - `key_ranges.rs`: `KeyRange` and `Curve::key_ranges`, the box -> key ranges decomposition
//!   (never under-covers: docs/design.md §8, corner keys do not bound a box).
//! - `error.rs`: `KeyspaceError`.
//!
//! Nothing here allocates on the encode/decode path, does I/O, or panics on input.

mod curve;
mod error;
mod key_ranges;
mod level_table;
mod morton;
mod query_box;

pub use curve::{BITS_PER_DIM_MAX, Curve, DIMS_MAX, KEY_BITS};
pub use error::KeyspaceError;
pub use key_ranges::{CELLS_VISITED_MAX, CELLS_VISITED_MIN, CELLS_VISITED_PER_RANGE, KeyRange};
pub use query_box::QueryBox;
