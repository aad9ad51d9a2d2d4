//! [`Entry`]: one result of a box query or scan: the point (decoded from its Hilbert key, the
//! coordinates are not stored), the revision that wrote it, and its value (docs/design.md §2).

use infinitedb_format::Revision;

/// A live record at a point, as a query returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Entry {
    /// The point's coordinates, one per dimension of its space.
    pub point: Vec<u32>,
    /// The revision of the write that set this value.
    pub revision: Revision,
    /// The value.
    pub value: Vec<u8>,
}
