//! Identity newtypes shared by every layout: spaces, segments, blocks, revisions, keys.
//!
//! Owns: the meaning of each id. Invariant: ids are plain values; memory safety never depends
//! on one being valid (docs/design.md §2).

/// A space (a named multi-dimensional keyspace), fixed at creation.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SpaceId(pub u32);

/// A log file generation (a hot segment or a staging log). Frames carry it so that frames left
/// over in a recycled file are recognised as foreign.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SegmentId(pub u64);

/// A sealed block (one immutable file of Hilbert-sorted records).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct BlockId(pub u64);

/// A write's position in the database's history: dense, strictly increasing in log order.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Revision(pub u64);

/// A Hilbert key, top-aligned: its most significant used bit is bit 127.
pub type Key = u128;

impl std::fmt::Display for SpaceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "space {}", self.0)
    }
}

impl std::fmt::Display for SegmentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "segment {}", self.0)
    }
}

impl std::fmt::Display for BlockId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "block {}", self.0)
    }
}

impl std::fmt::Display for Revision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "revision {}", self.0)
    }
}
