//! [`Readable`]: the reads a [`crate::Db`] (at its latest published revision) and a
//! [`crate::Snapshot`] (at its pinned revision) share, written once as provided methods over
//! one required step: pinning a space's sources at a revision ([`sealed::Pin`]).
//!
//! Invariant: every method reads one pinned `SpaceRead` at one revision, so each call is
//! consistent on its own (a `multi_get` answers every point at the same revision); a Db's
//! successive calls may see newer writes, a snapshot's never do.

use std::ops::RangeBounds;
use std::sync::Arc;

use bytes::Bytes;
use infinitedb_format::{Revision, SpaceId};

use super::query::Query;
use super::space_read::SpaceRead;
use crate::error::Result;
use crate::keyspace::QueryBox;

/// The sealed half of [`Readable`]: how a reader pins a space. Not implementable outside
/// the crate, so the provided methods can rely on what a pin promises.
pub(crate) mod sealed {
    use std::sync::Arc;

    use infinitedb_format::{Revision, SpaceId};

    use crate::error::Result;
    use crate::read::space_read::SpaceRead;

    /// One space's sources and the revision to read them at.
    pub struct Pinned<'a> {
        pub(crate) read: PinnedRead<'a>,
        pub(crate) at: Revision,
    }

    /// The sources of a pin: a snapshot's, borrowed, or a view's, shared.
    pub(crate) enum PinnedRead<'a> {
        /// A snapshot's sources, for as long as the snapshot is borrowed.
        Borrowed(&'a SpaceRead),
        /// The current view's sources.
        Shared(Arc<SpaceRead>),
    }

    impl std::ops::Deref for PinnedRead<'_> {
        type Target = SpaceRead;

        fn deref(&self) -> &SpaceRead {
            match self {
                PinnedRead::Borrowed(read) => read,
                PinnedRead::Shared(read) => read,
            }
        }
    }

    /// Pins a space for one read call.
    pub trait Pin {
        /// The sources of `space` and the revision this reader reads at.
        ///
        /// # Errors
        /// [`crate::Error::UnknownSpace`].
        fn pin(&self, space: SpaceId) -> Result<Pinned<'_>>;
    }
}

/// Point reads, histories, box queries, key-order scans and counts, the same on a
/// [`crate::Db`] and on a [`crate::Snapshot`]. Bring it into scope to call them:
///
/// ```
/// use infinitedb::{Db, Options, Readable};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let db = Db::open(dir.path(), Options::default())?;
/// let space = db.create_space("sensors", 2, 16)?;
/// db.put(space, &[3, 4], b"21.5")?;
/// let snapshot = db.snapshot();
/// db.put(space, &[3, 4], b"22.0")?;
/// // The same calls on either reader: the Db sees the latest write, the snapshot its own.
/// assert_eq!(db.get(space, &[3, 4])?.as_deref(), Some(&b"22.0"[..]));
/// assert_eq!(snapshot.get(space, &[3, 4])?.as_deref(), Some(&b"21.5"[..]));
/// assert!(snapshot.contains(space, &[3, 4])? && !snapshot.contains(space, &[4, 3])?);
/// # Ok(())
/// # }
/// ```
pub trait Readable: sealed::Pin {
    /// The value at `point` (`None` if never written, or deleted). The value shares memory
    /// with the cached block page or the live-tail entry it was read from.
    ///
    /// # Errors
    /// [`crate::Error::UnknownSpace`] (for a snapshot, also a space created after it);
    /// [`crate::Error::InvalidPoint`]; [`crate::Error::Corruption`] or [`crate::Error::Io`]
    /// from a block read.
    fn get(&self, space: SpaceId, point: &[u32]) -> Result<Option<Bytes>> {
        let pinned = self.pin(space)?;
        Ok(pinned
            .read
            .get_at(point, pinned.at)?
            .map(|(_, value)| value))
    }

    /// The value at `point` as of `revision` (clamped to this reader's revision): the newest
    /// write at or below it. On a `Db`, reads above [`crate::Db::snapshot`]'s revision are not
    /// repeatable (a write of another space may still be published below them); pin a
    /// snapshot for that.
    ///
    /// ```
    /// use infinitedb::{Db, Options, Readable};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = Db::open(dir.path(), Options::default())?;
    /// let space = db.create_space("counter", 1, 8)?;
    /// let first = db.put(space, &[0], b"1")?;
    /// db.put(space, &[0], b"2")?;
    /// assert_eq!(db.get_at(space, &[0], first)?.as_deref(), Some(&b"1"[..]));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// As [`Readable::get`].
    fn get_at(&self, space: SpaceId, point: &[u32], revision: Revision) -> Result<Option<Bytes>> {
        let pinned = self.pin(space)?;
        let at = revision.min(pinned.at);
        Ok(pinned.read.get_at(point, at)?.map(|(_, value)| value))
    }

    /// Whether `point` holds a value (written and not deleted since).
    ///
    /// # Errors
    /// As [`Readable::get`].
    fn contains(&self, space: SpaceId, point: &[u32]) -> Result<bool> {
        Ok(self.get(space, point)?.is_some())
    }

    /// The values at `points`, in their order, all at one revision. The pages the points
    /// need from one block are read with one batched submission.
    ///
    /// ```
    /// use infinitedb::{Db, Options, Readable};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = Db::open(dir.path(), Options::default())?;
    /// let space = db.create_space("ids", 1, 32)?;
    /// db.put(space, &[7], b"seven")?;
    /// let values = db.multi_get(space, &[[7], [8]])?;
    /// assert_eq!(values[0].as_deref(), Some(&b"seven"[..]));
    /// assert_eq!(values[1], None);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// As [`Readable::get`]; an invalid point fails the whole call before any read.
    fn multi_get<P: AsRef<[u32]>>(
        &self,
        space: SpaceId,
        points: &[P],
    ) -> Result<Vec<Option<Bytes>>> {
        let pinned = self.pin(space)?;
        pinned.read.multi_get(points, pinned.at)
    }

    /// Every version of `point` at or below this reader's revision, newest first, with its
    /// revision; `None` marks a delete. Versions are kept until the space's retention drops
    /// them ([`crate::Db::set_retention`]).
    ///
    /// ```
    /// use infinitedb::{Db, Options, Readable};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = Db::open(dir.path(), Options::default())?;
    /// let space = db.create_space("doc", 1, 8)?;
    /// db.put(space, &[1], b"draft")?;
    /// db.delete(space, &[1])?;
    /// let versions = db.history(space, &[1])?;
    /// assert_eq!(versions.len(), 2);
    /// assert_eq!(versions[0].1, None); // the delete, newest first
    /// assert_eq!(versions[1].1.as_deref(), Some(&b"draft"[..]));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// As [`Readable::get`].
    fn history(&self, space: SpaceId, point: &[u32]) -> Result<Vec<(Revision, Option<Bytes>)>> {
        let pinned = self.pin(space)?;
        pinned.read.history(point, pinned.at)
    }

    /// The live entries inside `query_box` (bounds inclusive), lazily, in Hilbert order. The
    /// box becomes at most [`crate::Options::query_range_budget`] key ranges; blocks are pruned
    /// by key range, their pages read in batches through the page cache, and results
    /// filtered to the box exactly.
    ///
    /// ```
    /// use infinitedb::{Db, Options, QueryBox, Readable};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = Db::open(dir.path(), Options::default())?;
    /// let space = db.create_space("grid", 2, 8)?;
    /// db.put(space, &[3, 4], b"x")?;
    /// db.put(space, &[30, 40], b"far")?;
    /// for entry in db.query(space, &QueryBox::new(vec![0, 0], vec![9, 9])?)? {
    ///     let entry = entry?;
    ///     assert_eq!((&entry.point[..], &entry.value[..]), (&[3, 4][..], &b"x"[..]));
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`crate::Error::UnknownSpace`]; [`crate::Error::InvalidBox`] when the box has the wrong
    /// number of coordinates or a bound does not fit the space. Read errors come from the
    /// iterator.
    fn query(&self, space: SpaceId, query_box: &QueryBox) -> Result<Query> {
        let pinned = self.pin(space)?;
        pinned.read.query(query_box, pinned.at)
    }

    /// The live entries of `space` whose Hilbert keys lie in the range of the keys of
    /// `range`'s bounds (points), lazily, in Hilbert order; double-ended, so `.rev()` reads
    /// them last first. `Included`, `Excluded` and `Unbounded` bounds all work; an empty or
    /// inverted range yields nothing. The range reads at this reader's revision when it is
    /// made: later writes are not in it.
    ///
    /// In a 1-dimensional space the key order is the coordinate order, so `[10]..[20]` is the
    /// coordinates 10 to 19. In an n-dimensional space a range is a stretch of the Hilbert
    /// curve between two points, not a box: its points are those the curve visits between
    /// the two, and may lie anywhere (use [`Readable::query`] for a box).
    ///
    /// ```
    /// use infinitedb::{Db, Options, Readable};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = Db::open(dir.path(), Options::default())?;
    /// let line = db.create_space("line", 1, 32)?;
    /// for x in 0..100_u32 {
    ///     db.put(line, &[x], &x.to_le_bytes())?;
    /// }
    /// let points: Vec<u32> = db
    ///     .range(line, [10]..[20])?
    ///     .map(|entry| entry.map(|entry| entry.point[0]))
    ///     .collect::<Result<_, _>>()?;
    /// assert_eq!(points, (10..20).collect::<Vec<_>>());
    /// let last = db.range(line, [90]..)?.next_back().transpose()?;
    /// assert_eq!(last.map(|entry| entry.point[0]), Some(99));
    /// let all = db.range::<[u32; 1]>(line, ..)?.rev().count();
    /// assert_eq!(all, 100);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`crate::Error::UnknownSpace`]; [`crate::Error::InvalidPoint`] when a bound has the
    /// wrong number of coordinates or a coordinate does not fit the space. Read errors come
    /// from the iterator.
    fn range<P: AsRef<[u32]>>(&self, space: SpaceId, range: impl RangeBounds<P>) -> Result<Query> {
        let pinned = self.pin(space)?;
        pinned.read.range(&range, pinned.at)
    }

    /// Every live entry of `space`, lazily, in Hilbert order (double-ended, as
    /// [`Readable::range`]).
    ///
    /// ```
    /// use infinitedb::{Db, Options, Readable};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = Db::open(dir.path(), Options::default())?;
    /// let space = db.create_space("grid", 2, 8)?;
    /// db.put(space, &[1, 1], b"a")?;
    /// db.put(space, &[200, 3], b"b")?;
    /// db.delete(space, &[1, 1])?;
    /// let live: Vec<_> = db.scan(space)?.collect::<Result<_, _>>()?;
    /// assert_eq!(live.len(), 1);
    /// assert_eq!(live[0].point, [200, 3]);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`crate::Error::UnknownSpace`]. Read errors come from the iterator.
    fn scan(&self, space: SpaceId) -> Result<Query> {
        let pinned = self.pin(space)?;
        Ok(pinned.read.scan(pinned.at))
    }

    /// An estimate of the live points of `space`, without reading a page: the distinct keys
    /// of each sealed block (from its key filter's header) plus the live tail's records. It
    /// is exact for a space whose versions each sit in one place with no deletes (say, after
    /// [`crate::Db::compact`] under `Retention::Latest`); otherwise it counts a point once per
    /// block and memtable holding a version of it, deleted or not, so it is an upper bound.
    ///
    /// ```
    /// use infinitedb::{Db, Options, Readable, Retention};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = Db::open(dir.path(), Options::default())?;
    /// let space = db.create_space_with("ids", 1, 32, Retention::Latest)?;
    /// for id in 0..10_u32 {
    ///     db.put(space, &[id], b"v1")?;
    /// }
    /// db.put(space, &[0], b"v2")?; // a second version: counted twice until compaction
    /// assert!(db.estimate_live_points(space)? >= 10);
    /// db.compact(space)?;
    /// assert_eq!(db.estimate_live_points(space)?, 10);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`crate::Error::UnknownSpace`].
    fn estimate_live_points(&self, space: SpaceId) -> Result<u64> {
        Ok(self.pin(space)?.read.estimate_live_points())
    }
}

impl<'a> sealed::Pinned<'a> {
    /// A pin of a borrowed `read` (a snapshot's) at `at`.
    pub(crate) fn borrowed(read: &'a SpaceRead, at: Revision) -> Self {
        sealed::Pinned {
            read: sealed::PinnedRead::Borrowed(read),
            at,
        }
    }

    /// A pin of a shared `read` (a Db's current view's) at `at`.
    pub(crate) fn shared(read: Arc<SpaceRead>, at: Revision) -> Self {
        sealed::Pinned {
            read: sealed::PinnedRead::Shared(read),
            at,
        }
    }
}
