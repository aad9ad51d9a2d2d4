//! [`Snapshot`]: reads pinned at one revision (docs/design.md §3 "Isolation": a reader pinned at
//! revision R sees the same answers however many writes, seals or compactions happen
//! meanwhile).
//!
//! Owns: the views of every space as they were when the snapshot was taken, and the pinned
//! revision. Invariants: the revision is the engine's visible high-water mark at the time,
//! so every write at or below it was already published into those views (no write `<= R` can
//! appear later); the snapshot holds `Arc`s of each view's memtables and blocks, so a seal
//! that moves a memtable into a block, or a compaction that deletes a block file's name, does
//! not change what it reads; writes above R land in the same memtables but are invisible.

use std::collections::HashMap;
use std::ops::RangeBounds;

use infinitedb_format::{Revision, SpaceId};

use super::query::Query;
use super::space_read::SpaceRead;
use crate::error::{Error, Result};
use crate::keyspace::QueryBox;

/// A consistent, repeatable read-only view of the database at one revision. Cheap to take
/// (a few `Arc` clones per space); `Send + Sync`.
pub struct Snapshot {
    revision: Revision,
    spaces: HashMap<SpaceId, SpaceRead>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("revision", &self.revision)
            .field("spaces", &self.spaces.len())
            .finish()
    }
}

impl Snapshot {
    /// A snapshot at `revision` over `spaces` (their views loaded after `revision` was read).
    pub(crate) fn new(revision: Revision, spaces: HashMap<SpaceId, SpaceRead>) -> Snapshot {
        Snapshot { revision, spaces }
    }

    fn space(&self, space: SpaceId) -> Result<&SpaceRead> {
        self.spaces.get(&space).ok_or_else(|| Error::UnknownSpace {
            name: format!("#{} (not in this snapshot)", space.0),
        })
    }

    /// The revision this snapshot reads at: every write at or below it, none above.
    #[must_use]
    pub fn revision(&self) -> Revision {
        self.revision
    }

    /// The value at `point` at the snapshot's revision (`None` if never written or deleted).
    ///
    /// # Errors
    /// [`Error::UnknownSpace`] (also for a space created after the snapshot);
    /// [`Error::InvalidPoint`]; [`Error::Corruption`] or [`Error::Io`] from a block read.
    pub fn get(&self, space: SpaceId, point: &[u32]) -> Result<Option<Vec<u8>>> {
        Ok(self
            .space(space)?
            .get_at(point, self.revision)?
            .map(|(_, value)| value))
    }

    /// The value at `point` at `revision`, which is clamped to the snapshot's revision.
    ///
    /// # Errors
    /// As [`Snapshot::get`].
    pub fn get_at(
        &self,
        space: SpaceId,
        point: &[u32],
        revision: Revision,
    ) -> Result<Option<Vec<u8>>> {
        let at = revision.min(self.revision);
        Ok(self
            .space(space)?
            .get_at(point, at)?
            .map(|(_, value)| value))
    }

    /// Every version of `point` at or below the snapshot's revision, newest first; `None`
    /// marks a delete.
    ///
    /// # Errors
    /// As [`Snapshot::get`].
    pub fn history(
        &self,
        space: SpaceId,
        point: &[u32],
    ) -> Result<Vec<(Revision, Option<Vec<u8>>)>> {
        self.space(space)?.history(point, self.revision)
    }

    /// The live entries inside `query_box` at the snapshot's revision, lazily, in Hilbert
    /// order.
    ///
    /// # Errors
    /// [`Error::UnknownSpace`]; [`Error::InvalidBox`] when the box has the wrong number of
    /// coordinates or a bound does not fit the space. Read errors come from the iterator.
    pub fn query(&self, space: SpaceId, query_box: &QueryBox) -> Result<Query> {
        self.space(space)?.query(query_box, self.revision)
    }

    /// The live entries of `space` at the snapshot's revision whose Hilbert keys lie in the
    /// range of the keys of `range`'s bound points, lazily, in Hilbert order, double-ended:
    /// as [`crate::Db::range`] (in a 1-dimensional space, a range of coordinates; in more, a
    /// stretch of the curve, not a box).
    ///
    /// ```no_run
    /// use infinitedb::{Db, Options};
    /// let db = Db::open("/tmp/example-snapshot-range", Options::default())?;
    /// let line = db.create_space("line", 1, 16)?;
    /// db.put(line, &[5], b"five")?;
    /// let snapshot = db.snapshot();
    /// db.put(line, &[6], b"six")?;
    /// let newest = snapshot.range(line, [0]..=[9])?.next_back().transpose()?;
    /// assert_eq!(newest.map(|entry| entry.point), Some(vec![5]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownSpace`]; [`Error::InvalidPoint`] when a bound does not fit the space.
    /// Read errors come from the iterator.
    pub fn range<P: AsRef<[u32]>>(
        &self,
        space: SpaceId,
        range: impl RangeBounds<P>,
    ) -> Result<Query> {
        self.space(space)?.range(&range, self.revision)
    }

    /// Every live entry of `space` at the snapshot's revision, lazily, in Hilbert order.
    ///
    /// # Errors
    /// [`Error::UnknownSpace`]. Read errors come from the iterator.
    pub fn scan(&self, space: SpaceId) -> Result<Query> {
        Ok(self.space(space)?.scan(self.revision))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shareable<T: Send + Sync>() {}
    fn movable<T: Send>() {}

    #[test]
    fn snapshots_are_shareable_and_queries_movable() {
        // Goal: a snapshot can be shared between threads and a query moved to one. Method:
        // the compiler checks the bounds.
        shareable::<Snapshot>();
        movable::<Query>();
    }
}
