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
use std::sync::Arc;

use infinitedb_format::{Revision, SpaceId};

use super::readable::Readable;
use super::readable::sealed::{Pin, Pinned};
use super::space_read::SpaceRead;
use crate::error::{Error, Result};

/// A consistent, repeatable read-only view of the database at one revision. Cheap to take
/// (a few `Arc` clones per space); `Send + Sync`. Its reads are the [`Readable`] methods;
/// spaces created after it are unknown to it. A snapshot holds the blocks and memtables it
/// started with, so keep it only as long as its reads need them.
///
/// ```
/// use infinitedb::{Db, Options, Readable};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let db = Db::open(dir.path(), Options::default())?;
/// let space = db.create_space("ids", 1, 32)?;
/// let first = db.put(space, &[1], b"one")?;
/// let snapshot = db.snapshot();
/// assert_eq!(snapshot.revision(), first);
/// db.put(space, &[2], b"two")?;
/// db.flush(space)?; // seals and compactions do not change what it reads
/// assert_eq!(snapshot.scan(space)?.count(), 1);
/// assert_eq!(db.scan(space)?.count(), 2);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Snapshot {
    revision: Revision,
    spaces: HashMap<SpaceId, Arc<SpaceRead>>,
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
    pub(crate) fn new(revision: Revision, spaces: HashMap<SpaceId, Arc<SpaceRead>>) -> Snapshot {
        Snapshot { revision, spaces }
    }

    fn space(&self, space: SpaceId) -> Result<&SpaceRead> {
        self.spaces
            .get(&space)
            .map(|read| &**read)
            .ok_or_else(|| Error::UnknownSpace {
                name: format!("#{} (not in this snapshot)", space.0),
            })
    }

    /// The revision this snapshot reads at: every write at or below it, none above.
    #[must_use]
    pub fn revision(&self) -> Revision {
        self.revision
    }
}

impl Pin for Snapshot {
    fn pin(&self, space: SpaceId) -> Result<Pinned<'_>> {
        Ok(Pinned::borrowed(self.space(space)?, self.revision))
    }
}

impl Readable for Snapshot {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Query;

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
