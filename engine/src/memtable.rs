//! The live tail of one space: a concurrent sorted map of `(key asc, revision desc) → value`
//! (docs/design.md §6, "Live tail").
//!
//! Choice: `crossbeam-skiplist`'s lock-free `SkipMap`, shared as `Arc<Memtable>`. The I/O
//! thread inserts while readers search, and neither waits for the other; a seal freezes the
//! memtable by moving the same `Arc` into the view's frozen list (no copy), and the sealer
//! iterates it in block order; readers copy chunks of a key range out in either direction
//! (`visit_from`, `visit_back_from`). A persistent tree would copy O(log n) nodes per insert and an
//! append-only log would need sorting at seal time; the skiplist does neither.
//!
//! Invariants: an entry is never changed; `(key, revision)` is unique, so inserting a
//! duplicate (the same batch seen in two logs during recovery) is idempotent. Under
//! `Durability::Sync` the commit path inserts a batch's records while its hot chain is in
//! flight, before the batch is decided (`io_thread::publish`): such entries sit above the
//! space's published mark, which every read is clamped to, so no reader can see them; they
//! are removed ([`Memtable::remove_undecided`]) if the batch leaves its chain undecided, and
//! only then. Every other entry is inserted once published (durable under `Sync`, sequenced
//! under `NoSync`) and never removed.

use std::cmp::Reverse;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use crossbeam_skiplist::SkipMap;
use infinitedb_format::{Key, RecordKind, RecordRef, Revision};

/// A memtable entry's key: the Hilbert key, then the revision in descending order.
type EntryKey = (Key, Reverse<u64>);
/// A memtable entry's value: `Some(value)` for a put, `None` for a delete; shared with the
/// batch it came from, so the commit path inserts without copying it.
type EntryValue = Option<Bytes>;

/// One space's in-memory records.
#[derive(Debug, Default)]
pub(crate) struct Memtable {
    map: SkipMap<EntryKey, EntryValue>,
    encoded_bytes: AtomicU64,
    revision_max: AtomicU64,
}

/// What a memtable says about a key at a revision (its unit test's view of `get`).
#[cfg(test)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// A put of this value at this revision.
    Put(Revision, Vec<u8>),
    /// A delete at this revision.
    Deleted(Revision),
}

impl Memtable {
    /// Inserts a record; a duplicate `(key, revision)` keeps the first copy (recovery sees
    /// the same batch in a hot segment and the staging log).
    pub(crate) fn insert(&self, key: Key, revision: Revision, value: EntryValue) {
        if self.map.contains_key(&(key, Reverse(revision.0))) {
            return;
        }
        self.insert_unique(key, revision, value);
    }

    /// Inserts a record whose `(key, revision)` is not yet held: the commit path's insert,
    /// one skiplist search instead of two (a batch holds each key once, and each batch has
    /// its own revision).
    pub(crate) fn insert_unique(&self, key: Key, revision: Revision, value: EntryValue) {
        let bytes = infinitedb_format::RECORD_HEADER_BYTES as u64
            + value.as_ref().map_or(0, |value| value.len() as u64);
        let map_key = (key, Reverse(revision.0));
        debug_assert!(
            !self.map.contains_key(&map_key),
            "(key, revision) inserted twice on the commit path"
        );
        self.map.insert(map_key, value);
        self.encoded_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.revision_max.fetch_max(revision.0, Ordering::Relaxed);
    }

    /// Removes a record inserted before its batch was decided, because the batch left its hot
    /// chain undecided (cancelled, or the chain failed). Only for a revision above the space's
    /// published mark: no reader can have seen it. A missing entry is a no-op.
    pub(crate) fn remove_undecided(&self, key: Key, revision: Revision) {
        if let Some(entry) = self.map.remove(&(key, Reverse(revision.0))) {
            let bytes = infinitedb_format::RECORD_HEADER_BYTES as u64
                + entry.value().as_ref().map_or(0, |value| value.len() as u64);
            self.encoded_bytes.fetch_sub(bytes, Ordering::Relaxed);
        }
    }

    /// The newest record of `key` at or below `at`: its revision and value (`None`: a
    /// delete). One skiplist search; the value is shared, not copied.
    pub(crate) fn newest(&self, key: Key, at: Revision) -> Option<(Revision, EntryValue)> {
        let entry = self
            .map
            .range((key, Reverse(at.0))..=(key, Reverse(0)))
            .next()?;
        let revision = Revision(entry.key().1.0);
        debug_assert!(revision <= at);
        Some((revision, entry.value().clone()))
    }

    /// The newest record of `key` at or below `at`.
    #[cfg(test)]
    pub(crate) fn get(&self, key: Key, at: Revision) -> Option<Lookup> {
        Some(match self.newest(key, at)? {
            (revision, Some(value)) => Lookup::Put(revision, value.to_vec()),
            (revision, None) => Lookup::Deleted(revision),
        })
    }

    /// Calls `visit` with at most `limit` records in block order, starting at position
    /// `(from_key, from_revision)` (inclusive) and ending at key `last_key` (inclusive): the
    /// read path copies a memtable out in chunks so it never holds the skiplist across calls.
    pub(crate) fn visit_from(
        &self,
        from_key: Key,
        from_revision: Revision,
        last_key: Key,
        limit: usize,
        visit: impl FnMut(Key, Revision, Option<&Bytes>),
    ) {
        let from = (from_key, Reverse(from_revision.0));
        self.visit_between(from, (last_key, Reverse(0)), false, limit, visit);
    }

    /// Calls `visit` with at most `limit` records in reverse block order, starting at position
    /// `(from_key, from_revision)` (inclusive) and ending at key `first_key` (inclusive).
    pub(crate) fn visit_back_from(
        &self,
        from_key: Key,
        from_revision: Revision,
        first_key: Key,
        limit: usize,
        visit: impl FnMut(Key, Revision, Option<&Bytes>),
    ) {
        let from = (from_key, Reverse(from_revision.0));
        self.visit_between((first_key, Reverse(u64::MAX)), from, true, limit, visit);
    }

    /// Calls `visit` with at most `limit` records of `low..=high`, in block order or
    /// (`backward`) in reverse.
    fn visit_between(
        &self,
        low: EntryKey,
        high: EntryKey,
        backward: bool,
        limit: usize,
        mut visit: impl FnMut(Key, Revision, Option<&Bytes>),
    ) {
        if low > high {
            return;
        }
        let range = self.map.range(low..=high);
        let mut emit = |entry: crossbeam_skiplist::map::Entry<'_, EntryKey, EntryValue>| {
            let (key, Reverse(revision)) = *entry.key();
            visit(key, Revision(revision), entry.value().as_ref());
        };
        if backward {
            range.rev().take(limit).for_each(&mut emit);
        } else {
            range.take(limit).for_each(&mut emit);
        }
    }

    /// Records held.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no record is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Encoded bytes of the records held.
    pub(crate) fn encoded_bytes(&self) -> u64 {
        self.encoded_bytes.load(Ordering::Relaxed)
    }

    /// The highest revision held (0 when empty).
    pub(crate) fn revision_max(&self) -> Revision {
        Revision(self.revision_max.load(Ordering::Relaxed))
    }

    /// Calls `visit` with every record in block order (key ascending, revision descending).
    pub(crate) fn for_each(&self, mut visit: impl FnMut(RecordRef<'_>)) {
        for entry in self.map.iter() {
            let (key, Reverse(revision)) = *entry.key();
            let record = match entry.value() {
                Some(value) => RecordRef {
                    key,
                    revision: Revision(revision),
                    kind: RecordKind::Put,
                    value,
                },
                None => RecordRef {
                    key,
                    revision: Revision(revision),
                    kind: RecordKind::Delete,
                    value: &[],
                },
            };
            visit(record);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_at_or_below_the_read_revision_wins() {
        // Goal: MVCC lookup and block order. Method: three revisions of one key, one other key.
        let memtable = Memtable::default();
        memtable.insert(7, Revision(1), Some(b"a".as_slice().into()));
        memtable.insert(7, Revision(3), None);
        memtable.insert(7, Revision(5), Some(b"c".as_slice().into()));
        memtable.insert(7, Revision(5), Some(b"dup".as_slice().into()));
        memtable.insert(2, Revision(4), Some(b"x".as_slice().into()));
        assert_eq!(
            memtable.get(7, Revision(2)),
            Some(Lookup::Put(Revision(1), b"a".to_vec()))
        );
        assert_eq!(
            memtable.get(7, Revision(4)),
            Some(Lookup::Deleted(Revision(3)))
        );
        assert_eq!(
            memtable.get(7, Revision(9)),
            Some(Lookup::Put(Revision(5), b"c".to_vec()))
        );
        assert_eq!(memtable.get(7, Revision(0)), None);
        assert_eq!(memtable.get(8, Revision(9)), None);
        let mut order = Vec::new();
        memtable.for_each(|record| order.push((record.key, record.revision.0)));
        assert_eq!(order, vec![(2, 4), (7, 5), (7, 3), (7, 1)]);
        assert_eq!(memtable.len(), 4);
        assert_eq!(memtable.revision_max(), Revision(5));
    }
}
