//! [`MemtableSource`]: the versions of one memtable (active or frozen) that fall in a query's
//! key ranges, copied out in chunks of [`CHUNK_VERSIONS_MAX`] so a reader holds no borrow of
//! the skiplist between calls and never blocks the I/O thread inserting into it (docs/design.md §6
//! "Live tail").
//!
//! Owns: [`VersionRange`], what the read path needs from a memtable: an ordered range read
//! that resumes at a position. Invariants: a chunk resumes strictly after the last version
//! yielded, so a version is yielded once; versions inserted meanwhile may or may not appear,
//! which is harmless because the merge discards revisions above the read revision and every
//! revision at or below it was published before the read began (the visible high-water mark).

use std::cmp::Reverse;
use std::collections::VecDeque;
use std::sync::Arc;

use infinitedb_format::{Key, Revision};

use super::merge::VersionSource;
use super::version::Version;
use crate::error::Result;
use crate::keyspace::KeyRange;

/// Most versions copied out of a memtable per chunk.
pub(crate) const CHUNK_VERSIONS_MAX: usize = 256;

/// An ordered, concurrently readable set of versions.
pub(crate) trait VersionRange: Send + Sync {
    /// Appends to `out`, in `(key asc, revision desc)` order, at most `limit` versions at or
    /// after position `from` with keys at most `last`.
    fn versions_from(
        &self,
        from: (Key, Reverse<Revision>),
        last: Key,
        limit: usize,
        out: &mut Vec<Version>,
    );

    /// Versions held.
    fn version_count(&self) -> u64;

    /// The newest version of `key` at or below `at`, if any.
    fn newest(&self, key: Key, at: Revision) -> Option<Version> {
        let mut out = Vec::with_capacity(1);
        self.versions_from((key, Reverse(at)), key, 1, &mut out);
        out.pop()
    }
}

/// One memtable's versions within a set of key ranges.
pub(crate) struct MemtableSource {
    memtable: Arc<dyn VersionRange>,
    ranges: Arc<[KeyRange]>,
    range_index: usize,
    /// The last version yielded from the current range.
    resume_after: Option<(Key, Revision)>,
    buffer: VecDeque<Version>,
    chunk: Vec<Version>,
}

impl MemtableSource {
    /// The versions of `memtable` whose keys lie in `ranges`.
    pub(crate) fn new(memtable: Arc<dyn VersionRange>, ranges: Arc<[KeyRange]>) -> MemtableSource {
        debug_assert!(ranges.windows(2).all(|pair| pair[0].last < pair[1].first));
        MemtableSource {
            memtable,
            ranges,
            range_index: 0,
            resume_after: None,
            buffer: VecDeque::new(),
            chunk: Vec::new(),
        }
    }

    /// Copies the next chunk into `buffer`, moving to the next range when one is exhausted.
    fn refill(&mut self) {
        while self.buffer.is_empty() {
            let Some(range) = self.ranges.get(self.range_index).copied() else {
                return;
            };
            let from = match self.resume_after {
                None => (range.first, Reverse(Revision(u64::MAX))),
                Some((key, Revision(0))) if key == range.last => {
                    self.next_range();
                    continue;
                }
                // The position right after (key, 0) is the next key's newest revision.
                Some((key, Revision(0))) => (key + 1, Reverse(Revision(u64::MAX))),
                Some((key, Revision(revision))) => (key, Reverse(Revision(revision - 1))),
            };
            self.chunk.clear();
            self.memtable
                .versions_from(from, range.last, CHUNK_VERSIONS_MAX, &mut self.chunk);
            debug_assert!(self.chunk.len() <= CHUNK_VERSIONS_MAX);
            debug_assert!(
                self.chunk
                    .first()
                    .is_none_or(|version| version.order() >= from && version.key <= range.last)
            );
            let exhausted = self.chunk.len() < CHUNK_VERSIONS_MAX;
            self.resume_after = self
                .chunk
                .last()
                .map(|version| (version.key, version.revision));
            self.buffer.extend(self.chunk.drain(..));
            if exhausted {
                self.next_range();
            }
        }
    }

    fn next_range(&mut self) {
        self.range_index += 1;
        self.resume_after = None;
    }
}

impl VersionSource for MemtableSource {
    fn next_version(&mut self) -> Option<Result<Version>> {
        if self.buffer.is_empty() {
            self.refill();
        }
        self.buffer.pop_front().map(Ok)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use parking_lot::RwLock;

    use super::*;

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
            from: (Key, Reverse<Revision>),
            last: Key,
            limit: usize,
            out: &mut Vec<Version>,
        ) {
            let map = self.map.read();
            let found = map.range(from..=(last, Reverse(Revision(0)))).take(limit);
            out.extend(found.map(|((key, revision), value)| Version {
                key: *key,
                revision: revision.0,
                value: value.clone(),
            }));
        }

        fn version_count(&self) -> u64 {
            self.map.read().len() as u64
        }
    }

    #[test]
    fn chunks_resume_exactly_and_respect_ranges() {
        // Goal: chunking neither drops nor repeats a version, at key and range edges. Method:
        // 1,000 keys with 1..=3 versions each (more than several chunks), key u128::MAX and 0
        // included; ranges with edges inside runs of versions.
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
        let mut source = MemtableSource::new(memtable, ranges.clone());
        let read: Vec<Version> = std::iter::from_fn(|| source.next_version())
            .collect::<Result<_>>()
            .unwrap();
        let expected: Vec<Version> = all
            .into_iter()
            .filter(|version| ranges.iter().any(|range| range.contains(version.key)))
            .collect();
        assert!(expected.len() > 3 * CHUNK_VERSIONS_MAX);
        assert_eq!(read, expected);
    }
}
