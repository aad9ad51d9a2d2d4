//! [`MemtableSource`]: the versions of one memtable (active or frozen) that fall in a query's
//! key ranges, from either end, copied out in chunks of [`CHUNK_VERSIONS_MAX`] so a reader
//! holds no borrow of the skiplist between calls and never blocks the I/O thread inserting
//! into it (docs/design.md §6 "Live tail").
//!
//! Owns: [`VersionRange`], what the read path needs from a memtable: an ordered range read in
//! either direction that resumes at a position. Invariants: a chunk resumes strictly after the
//! last version copied at its end, so an end yields a version once; an end yields a version
//! only strictly before the last one the other end yielded (a `(key, revision)` is unique in a
//! memtable), so no version comes out of both ends. Versions inserted meanwhile may or may not
//! appear, which is harmless because the merge discards revisions above the read revision and
//! every revision at or below it was published before the read began (the visible
//! high-water mark).

use std::cmp::Reverse;
use std::collections::VecDeque;
use std::sync::Arc;

use infinitedb_format::{Key, Revision};

use super::merge::{End, VersionSource};
use super::version::Version;
use crate::error::Result;
use crate::keyspace::KeyRange;

/// Most versions copied out of a memtable per chunk.
pub(crate) const CHUNK_VERSIONS_MAX: usize = 256;

/// A position in block order: key ascending, then revision descending.
type Position = (Key, Reverse<Revision>);

/// An ordered, concurrently readable set of versions.
pub(crate) trait VersionRange: Send + Sync {
    /// Appends to `out`, in `end`'s order, at most `limit` versions from position `from`
    /// (inclusive) on in that direction, with keys up to `bound` (at the front keys at most
    /// `bound`, at the back keys at least `bound`).
    fn versions_from(
        &self,
        end: End,
        from: Position,
        bound: Key,
        limit: usize,
        out: &mut Vec<Version>,
    );

    /// Versions held.
    fn version_count(&self) -> u64;

    /// The newest version of `key` at or below `at`, if any.
    fn newest(&self, key: Key, at: Revision) -> Option<Version> {
        let mut out = Vec::with_capacity(1);
        self.versions_from(End::Front, (key, Reverse(at)), key, 1, &mut out);
        out.pop()
    }
}

/// One end's progress through the memtable.
#[derive(Default)]
struct Cursor {
    /// Ranges this end has read every version of (counted from this end).
    ranges_done: usize,
    /// The last version copied from the current range at this end.
    resume_after: Option<(Key, Revision)>,
    /// Copied versions not yet yielded, in this end's order.
    buffer: VecDeque<Version>,
    /// The position of the last version this end yielded.
    yielded: Option<Position>,
}

/// One memtable's versions within a set of key ranges.
pub(crate) struct MemtableSource {
    memtable: Arc<dyn VersionRange>,
    ranges: Arc<[KeyRange]>,
    /// By `End::index`: the front's and the back's cursors.
    cursors: [Cursor; 2],
    chunk: Vec<Version>,
    finished: bool,
}

impl MemtableSource {
    /// The versions of `memtable` whose keys lie in `ranges`.
    pub(crate) fn new(memtable: Arc<dyn VersionRange>, ranges: Arc<[KeyRange]>) -> MemtableSource {
        debug_assert!(ranges.windows(2).all(|pair| pair[0].last < pair[1].first));
        MemtableSource {
            memtable,
            ranges,
            cursors: [Cursor::default(), Cursor::default()],
            chunk: Vec::new(),
            finished: false,
        }
    }

    /// Copies the next chunk at `end` into its buffer, moving to the next range when one is
    /// exhausted.
    fn refill(&mut self, end: End) {
        let cursor = &mut self.cursors[end.index()];
        while cursor.buffer.is_empty() {
            let Some(range) = end.range(&self.ranges, cursor.ranges_done) else {
                return;
            };
            let (from, bound) = match end {
                End::Front => ((range.first, Reverse(Revision(u64::MAX))), range.last),
                End::Back => ((range.last, Reverse(Revision(0))), range.first),
            };
            let from = match cursor.resume_after {
                None => Some(from),
                Some((key, revision)) => position_after(end, key, revision, bound),
            };
            let Some(from) = from else {
                cursor.ranges_done += 1;
                cursor.resume_after = None;
                continue;
            };
            self.chunk.clear();
            self.memtable
                .versions_from(end, from, bound, CHUNK_VERSIONS_MAX, &mut self.chunk);
            debug_assert!(self.chunk.len() <= CHUNK_VERSIONS_MAX);
            debug_assert!(self.chunk.first().is_none_or(|version| match end {
                End::Front => version.order() >= from && version.key <= bound,
                End::Back => version.order() <= from && version.key >= bound,
            }));
            let exhausted = self.chunk.len() < CHUNK_VERSIONS_MAX;
            cursor.resume_after = self
                .chunk
                .last()
                .map(|version| (version.key, version.revision));
            cursor.buffer.extend(self.chunk.drain(..));
            if exhausted {
                cursor.ranges_done += 1;
                cursor.resume_after = None;
            }
        }
    }

    /// The next version at `end`, `None` at the end of the ranges or where the ends meet.
    fn advance(&mut self, end: End) -> Option<Version> {
        if self.cursors[end.index()].buffer.is_empty() {
            self.refill(end);
        }
        let [front, back] = &mut self.cursors;
        let (cursor, other) = match end {
            End::Front => (front, &*back),
            End::Back => (back, &*front),
        };
        let version = cursor.buffer.pop_front()?;
        let here = version.order();
        let met = other.yielded.is_some_and(|there| match end {
            End::Front => here >= there,
            End::Back => here <= there,
        });
        if met {
            return None;
        }
        cursor.yielded = Some(here);
        Some(version)
    }
}

/// The position right after `(key, revision)` in `end`'s direction, `None` when that leaves
/// the range whose last key in that direction is `bound`.
fn position_after(end: End, key: Key, revision: Revision, bound: Key) -> Option<Position> {
    if key == bound && revision.0 == end_revision(end) {
        return None;
    }
    match (end, revision) {
        // The position right after (key, 0) is the next key's newest revision.
        (End::Front, Revision(0)) => Some((key.checked_add(1)?, Reverse(Revision(u64::MAX)))),
        (End::Front, Revision(revision)) => Some((key, Reverse(Revision(revision - 1)))),
        // The position right before (key, MAX) is the previous key's oldest revision.
        (End::Back, Revision(u64::MAX)) => Some((key.checked_sub(1)?, Reverse(Revision(0)))),
        (End::Back, Revision(revision)) => Some((key, Reverse(Revision(revision + 1)))),
    }
}

/// The revision at which a key ends in `end`'s direction.
fn end_revision(end: End) -> u64 {
    match end {
        End::Front => 0,
        End::Back => u64::MAX,
    }
}

impl VersionSource for MemtableSource {
    fn next_version(&mut self, end: End) -> Option<Result<Version>> {
        if self.finished {
            return None;
        }
        let next = self.advance(end);
        self.finished = next.is_none();
        next.map(Ok)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use parking_lot::RwLock;
    use rand::SeedableRng;

    use super::*;
    use crate::read::merge::tests::read_mixed;

    /// Versions in block order, as a map.
    type VersionMap = BTreeMap<(Key, Reverse<Revision>), Option<bytes::Bytes>>;

    /// A memtable stand-in: a locked `BTreeMap` in block order.
    #[derive(Debug, Default)]
    pub(crate) struct MapMemtable {
        pub(crate) map: RwLock<VersionMap>,
    }

    impl MapMemtable {
        pub(crate) fn insert(&self, version: Version) {
            self.map.write().insert(version.order(), version.value);
        }
    }

    impl VersionRange for MapMemtable {
        fn versions_from(
            &self,
            end: End,
            from: Position,
            bound: Key,
            limit: usize,
            out: &mut Vec<Version>,
        ) {
            let map = self.map.read();
            let as_version =
                |((key, revision), value): (&Position, &Option<bytes::Bytes>)| Version {
                    key: *key,
                    revision: revision.0,
                    value: value.clone(),
                };
            match end {
                End::Front => {
                    let found = map.range(from..=(bound, Reverse(Revision(0))));
                    out.extend(found.take(limit).map(as_version));
                }
                End::Back => {
                    let found = map.range((bound, Reverse(Revision(u64::MAX)))..=from);
                    out.extend(found.rev().take(limit).map(as_version));
                }
            }
        }

        fn version_count(&self) -> u64 {
            self.map.read().len() as u64
        }
    }

    #[test]
    fn chunks_resume_exactly_and_respect_ranges() {
        // Goal: chunking neither drops nor repeats a version, at key and range edges, from
        // either end or both mixed (the ends meeting inside a chunk). Method: 1,000 keys with
        // 1..=3 versions each (more than several chunks), key u128::MAX and 0 included; ranges
        // with edges inside runs of versions; read forward, backward, and with the ends mixed
        // at random.
        let memtable = Arc::new(MapMemtable::default());
        let mut all = Vec::new();
        for index in 0..1000_u128 {
            let key = if index == 999 { u128::MAX } else { index * 3 };
            for revision in 0..=u64::try_from(index % 3).unwrap() {
                let version = Version {
                    key,
                    revision: Revision(revision),
                    value: Some(vec![1].into()),
                };
                memtable.insert(version.clone());
                all.push(version);
            }
        }
        all.sort_by_key(Version::order);
        let ranges: Arc<[KeyRange]> = vec![
            KeyRange { first: 0, last: 3 },
            KeyRange {
                first: 7,
                last: 2000,
            },
            KeyRange {
                first: 2500,
                last: u128::MAX,
            },
        ]
        .into();
        let mut source = MemtableSource::new(memtable.clone(), ranges.clone());
        let read: Vec<Version> = std::iter::from_fn(|| source.next_version(End::Front))
            .collect::<Result<_>>()
            .unwrap();
        let expected: Vec<Version> = all
            .into_iter()
            .filter(|version| ranges.iter().any(|range| range.contains(version.key)))
            .collect();
        assert!(expected.len() > 3 * CHUNK_VERSIONS_MAX);
        assert_eq!(read, expected);
        let mut backward = MemtableSource::new(memtable.clone(), ranges.clone());
        let mut read: Vec<Version> = std::iter::from_fn(|| backward.next_version(End::Back))
            .collect::<Result<_>>()
            .unwrap();
        read.reverse();
        assert_eq!(read, expected, "backward");
        for seed in 0..8_u64 {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            for share in [0.02, 0.5, 0.98] {
                let mut source = MemtableSource::new(memtable.clone(), ranges.clone());
                let mixed = read_mixed(&mut source, &mut rng, share);
                assert_eq!(mixed, expected, "seed {seed} share {share}");
            }
        }
    }
}
