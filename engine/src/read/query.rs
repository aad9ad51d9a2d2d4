//! [`Query`]: the lazy, double-ended iterator of a box query, a key range or a scan: the
//! merged, resolved versions of the request's Hilbert key ranges, each key decoded back into
//! its point, kept only when the point lies inside the box exactly (a box's ranges over-cover
//! once merged to their budget; a key range or scan has no box; docs/design.md §6).
//!
//! Invariants: entries come out in Hilbert key order from the front and in reverse from the
//! back, each point at most once however the two ends are mixed; a read error ends the
//! iteration after being yielded (see `merge.rs`).

use std::sync::Arc;

use infinitedb_format::SpaceId;

use super::entry::{Entry, Point};
use super::merge::{End, Merge};
use super::version::Version;
use crate::error::{Error, Result};
use crate::keyspace::{Curve, QueryBox};

/// The results of [`Readable::query`](crate::Readable::query),
/// [`Readable::range`](crate::Readable::range) or [`Readable::scan`](crate::Readable::scan) on a
/// [`crate::Db`] or a [`crate::Snapshot`]: `Result<Entry>` in Hilbert order, read lazily (pages are fetched
/// in batches as the iteration reaches them). Double-ended: `.rev()` reads the same entries in
/// reverse Hilbert order, fetching pages backwards, and `next` and `next_back` may be mixed.
///
/// ```
/// use infinitedb::{Db, Options, Readable};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let db = Db::open(dir.path(), Options::default())?;
/// let line = db.create_space("line", 1, 16)?;
/// for x in 1..=5_u32 {
///     db.put(line, &[x], &x.to_le_bytes())?;
/// }
/// let mut query = db.scan(line)?;
/// let first = query.next().transpose()?.map(|entry| entry.point[0]);
/// let last = query.next_back().transpose()?.map(|entry| entry.point[0]);
/// assert_eq!((first, last), (Some(1), Some(5)));
/// assert_eq!(query.count(), 3); // the ends met in the middle
/// # Ok(())
/// # }
/// ```
pub struct Query {
    merge: Merge,
    space: SpaceId,
    name: Arc<str>,
    curve: Curve,
    query_box: Option<QueryBox>,
    /// A point of the space's dimensions, each entry's key decoded into a copy of it.
    blank: Point,
}

impl std::fmt::Debug for Query {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Query")
            .field("space", &self.space)
            .field("query_box", &self.query_box)
            .finish_non_exhaustive()
    }
}

impl Query {
    /// The entries of `merge` (already restricted to the box's key ranges) inside `query_box`
    /// (`None`: every entry, a scan).
    pub(crate) fn new(
        merge: Merge,
        space: SpaceId,
        name: Arc<str>,
        curve: Curve,
        query_box: Option<QueryBox>,
    ) -> Query {
        let blank = Point::zeros(usize::try_from(curve.dims()).unwrap_or(0));
        Query {
            merge,
            space,
            name,
            curve,
            query_box,
            blank,
        }
    }

    /// `version` as an entry, `None` when its point lies outside the box.
    fn entry_of(&self, version: Version) -> Option<Result<Entry>> {
        let Some(value) = version.value else {
            debug_assert!(false, "Resolve::Latest yields puts only");
            return None;
        };
        let mut point = self.blank;
        if let Err(source) = self.curve.decode(version.key, point.coords_mut()) {
            return Some(Err(Error::InvalidPoint {
                space: self.name.to_string(),
                source,
            }));
        }
        let inside = self
            .query_box
            .as_ref()
            .is_none_or(|query_box| query_box.contains(&point));
        inside.then_some(Ok(Entry {
            point,
            revision: version.revision,
            value,
        }))
    }

    /// The next entry at `end`.
    fn step(&mut self, end: End) -> Option<Result<Entry>> {
        loop {
            let next = match end {
                End::Front => self.merge.next()?,
                End::Back => self.merge.next_back()?,
            };
            let version = match next {
                Ok(version) => version,
                Err(error) => return Some(Err(error)),
            };
            if let Some(entry) = self.entry_of(version) {
                return Some(entry);
            }
        }
    }
}

impl Iterator for Query {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Self::Item> {
        self.step(End::Front)
    }
}

/// Reverse Hilbert order: `query.rev()` yields the same entries last first, and mixing
/// `next` and `next_back` yields each entry once.
impl DoubleEndedIterator for Query {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.step(End::Back)
    }
}
