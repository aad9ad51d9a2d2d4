//! [`Entry`]: one result of a box query, range or scan: the point (decoded from its Hilbert
//! key, the coordinates are not stored), the revision that wrote it, and its value
//! (docs/design.md §2); and [`Point`], the point's coordinates held inline.
//!
//! Invariants: a `Point` holds `1..=DIMS_MAX` coordinates in place (no allocation per
//! entry); an `Entry`'s value shares memory with the page or memtable it was read from.

use bytes::Bytes;
use infinitedb_format::Revision;

use crate::keyspace::DIMS_MAX;

/// [`DIMS_MAX`] as an array length.
const DIMS_MAX_USIZE: usize = DIMS_MAX as usize;

/// The coordinates of a point, stored inline (a query allocates nothing per entry for them).
/// Dereferences to `[u32]`, one coordinate per dimension of its space.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// use infinitedb::Readable;
/// let db = infinitedb::Db::open(dir.path(), infinitedb::Options::default())?;
/// let space = db.create_space("grid", 2, 8)?;
/// db.put(space, &[3, 4], b"here")?;
/// let entry = db.scan(space)?.next().ok_or("no entry")??;
/// assert_eq!(&entry.point[..], &[3, 4]);
/// assert_eq!(entry.point.to_vec(), vec![3, 4]);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy)]
pub struct Point {
    coords: [u32; DIMS_MAX_USIZE],
    dims: u8,
}

impl Point {
    /// A point of `dims` zero coordinates (`dims` is at most [`DIMS_MAX`]; more are cut).
    pub(crate) fn zeros(dims: usize) -> Point {
        Point {
            coords: [0; DIMS_MAX_USIZE],
            dims: u8::try_from(dims.min(DIMS_MAX_USIZE)).unwrap_or(0),
        }
    }

    /// The coordinates, mutably (for decoding a key into them).
    pub(crate) fn coords_mut(&mut self) -> &mut [u32] {
        &mut self.coords[..usize::from(self.dims)]
    }
}

impl std::ops::Deref for Point {
    type Target = [u32];

    fn deref(&self) -> &[u32] {
        &self.coords[..usize::from(self.dims)]
    }
}

impl AsRef<[u32]> for Point {
    fn as_ref(&self) -> &[u32] {
        self
    }
}

impl std::fmt::Debug for Point {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq for Point {
    fn eq(&self, other: &Point) -> bool {
        **self == **other
    }
}

impl Eq for Point {}

impl std::hash::Hash for Point {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (**self).hash(state);
    }
}

impl PartialEq<[u32]> for Point {
    fn eq(&self, other: &[u32]) -> bool {
        **self == *other
    }
}

impl PartialEq<Vec<u32>> for Point {
    fn eq(&self, other: &Vec<u32>) -> bool {
        **self == **other
    }
}

impl<const N: usize> PartialEq<[u32; N]> for Point {
    fn eq(&self, other: &[u32; N]) -> bool {
        **self == other[..]
    }
}

impl From<Point> for Vec<u32> {
    fn from(point: Point) -> Vec<u32> {
        point.to_vec()
    }
}

/// A live record at a point, as a query returns it.
///
/// ```
/// use infinitedb::{Db, Entry, Options, Readable};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let db = Db::open(dir.path(), Options::default())?;
/// let space = db.create_space("grid", 2, 8)?;
/// let revision = db.put(space, &[3, 4], b"x")?;
/// let entries: Vec<Entry> = db.scan(space)?.collect::<Result<_, _>>()?;
/// assert_eq!(entries[0].point, [3, 4]);
/// assert_eq!((entries[0].revision, &entries[0].value[..]), (revision, &b"x"[..]));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Entry {
    /// The point's coordinates, one per dimension of its space.
    pub point: Point,
    /// The revision of the write that set this value.
    pub revision: Revision,
    /// The value, sharing memory with the cached page or memtable entry it was read from.
    pub value: Bytes,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_point_compares_and_prints_as_its_coordinates() {
        // Goal: only the first `dims` coordinates count. Method: two points that differ only
        // beyond their length, compared with a slice, a vec and an array, and printed.
        let mut point = Point::zeros(2);
        point.coords_mut().copy_from_slice(&[7, 9]);
        let mut other = point;
        other.coords[5] = 1;
        assert_eq!(point, other);
        assert_eq!(point, [7, 9]);
        assert_eq!(point, vec![7, 9]);
        assert_ne!(point, [7, 9, 0]);
        assert_eq!(format!("{point:?}"), "[7, 9]");
        assert_eq!(Point::zeros(3).len(), 3);
    }
}
