//! [`Query`]: the lazy iterator of a box query or scan: the merged, resolved versions of the
//! box's Hilbert key ranges, each key decoded back into its point, kept only when the point
//! lies inside the box exactly (the ranges over-cover once merged to their budget; docs/design.md
//! §6).
//!
//! Invariants: entries come out in Hilbert key order, each point at most once; a read error
//! ends the iteration after being yielded (see `merge.rs`).

use std::sync::Arc;

use infinitedb_format::SpaceId;

use super::entry::{Entry, Point};
use super::merge::Merge;
use crate::error::{Error, Result};
use crate::keyspace::{Curve, QueryBox};

/// The results of [`crate::Db::query`], [`crate::Db::scan`] or their [`crate::Snapshot`]
/// forms: `Result<Entry>` in Hilbert order, read lazily (pages are fetched in batches as the
/// iteration reaches them).
pub struct Query {
    merge: Merge,
    space: SpaceId,
    name: Arc<str>,
    curve: Curve,
    query_box: Option<QueryBox>,
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
        Query {
            merge,
            space,
            name,
            curve,
            query_box,
        }
    }
}

impl Iterator for Query {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let version = match self.merge.next()? {
                Ok(version) => version,
                Err(error) => return Some(Err(error)),
            };
            let Some(value) = version.value else {
                debug_assert!(false, "Resolve::Latest yields puts only");
                continue;
            };
            let dims = usize::try_from(self.curve.dims()).unwrap_or(0);
            let mut point = Point::zeros(dims);
            if let Err(source) = self.curve.decode(version.key, point.coords_mut()) {
                return Some(Err(Error::InvalidPoint {
                    space: self.name.to_string(),
                    source,
                }));
            }
            if self
                .query_box
                .as_ref()
                .is_none_or(|query_box| query_box.contains(&point))
            {
                return Some(Ok(Entry {
                    point,
                    revision: version.revision,
                    value,
                }));
            }
        }
    }
}
