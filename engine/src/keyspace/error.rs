//! Errors of the Hilbert keyspace: invalid curve shapes, points and boxes.
//!
//! Every variant carries the values that were wrong, and its message says what to change. The
//! engine maps these into its own `Error` (`InvalidPoint`, `InvalidSpace`, ...), keeping this
//! error reachable through `source()`.

/// Why a curve, point, box or range budget was refused by the keyspace.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyspaceError {
    /// The curve shape is outside `dims` 1..=16, `bits_per_dim` 1..=32, `dims * bits_per_dim`
    /// <= 128.
    #[error("invalid space shape {dims} dimensions x {bits_per_dim} bits per dimension: {reason}")]
    InvalidShape {
        /// The requested number of dimensions.
        dims: u32,
        /// The requested bits per dimension.
        bits_per_dim: u32,
        /// Which limit was broken.
        reason: &'static str,
    },
    /// A point or box does not have exactly one coordinate per dimension.
    #[error("wrong number of coordinates: expected {expected} (one per dimension), found {found}")]
    WrongDimensions {
        /// The number of coordinates required.
        expected: u32,
        /// The number of coordinates given.
        found: usize,
    },
    /// A coordinate does not fit in the space's bits per dimension; it is never masked.
    #[error(
        "coordinate {value} in dimension {dimension} does not fit in {bits_per_dim} bits \
         (it must be below 2^{bits_per_dim}); scale or clamp it before use"
    )]
    CoordinateOutOfRange {
        /// The zero-based dimension of the coordinate.
        dimension: usize,
        /// The coordinate given.
        value: u32,
        /// The space's bits per dimension.
        bits_per_dim: u32,
    },
    /// A box has `lo > hi` in some dimension (bounds are inclusive).
    #[error("box is inverted in dimension {dimension}: lo {lo} > hi {hi}; swap the bounds")]
    InvertedBox {
        /// The zero-based dimension that is inverted.
        dimension: usize,
        /// The box's lower bound in that dimension.
        lo: u32,
        /// The box's upper bound in that dimension.
        hi: u32,
    },
    /// `key_ranges` was asked for at most zero ranges, which cannot cover a non-empty box.
    #[error("range budget is 0: a box needs at least one key range, pass 1 or more")]
    ZeroRangeBudget,
}
