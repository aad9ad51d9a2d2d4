//! [`Merge`]: the k-way merge of version sources (memtables and blocks), each sorted by
//! `(key asc, revision desc)` and readable from both ends, with MVCC resolution at a read
//! revision (docs/design.md §2 "Reads resolve per key", §6).
//!
//! Owns: the resolution rules and the meeting of the two ends. With [`Resolve::Latest`], per
//! key the newest version at or below the read revision wins and a delete hides every older
//! version (the key is then absent); with [`Resolve::History`], every version at or below the
//! read revision comes out, deletes included. Versions above the read revision are invisible
//! in both. The front yields in `(key asc, revision desc)` order, the back in the reverse.
//!
//! How the ends meet: each source sits in a [`Slot`] holding the version its front and its
//! back pulled but the merge has not taken yet. Once a source has nothing left between them
//! (it returned `None` at either end), what remains of it is those one or two versions, which
//! both ends see, so each end's heap always tops with the true extreme of what remains. A heap
//! entry whose version the other end took is stale and is dropped when it comes to the top.
//! `Latest` takes every version of a key in one step, so a key is resolved by one end, from
//! all of its versions (going backward they come oldest first); `History` skips a version
//! equal to the last one either end yielded (a version held by two sources).
//!
//! Invariants: each end's output is strictly monotonic in its order; mixing the ends yields
//! every output once, none skipped; a version held by two sources (the same
//! `(key, revision)`, e.g. a batch recovered from two logs) comes out once; after a source
//! fails the merge yields that error once and then ends (a reader never sees data past a
//! damaged page as if the page were empty).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use infinitedb_format::{Key, Revision};

use super::version::Version;
use crate::error::Result;
use crate::keyspace::KeyRange;

/// One end of a double-ended stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// The low end: `(key asc, revision desc)`.
    Front,
    /// The high end: `(key desc, revision asc)`.
    Back,
}

impl End {
    pub(crate) fn index(self) -> usize {
        match self {
            End::Front => 0,
            End::Back => 1,
        }
    }

    fn other(self) -> End {
        match self {
            End::Front => End::Back,
            End::Back => End::Front,
        }
    }

    /// Range `done` of `ranges` counted from this end (the front counts from the first range,
    /// the back from the last).
    pub(crate) fn range(self, ranges: &[KeyRange], done: usize) -> Option<KeyRange> {
        let index = match self {
            End::Front => done,
            End::Back => ranges.len().checked_sub(done.checked_add(1)?)?,
        };
        ranges.get(index).copied()
    }

    /// The key of a version of rank `rank` (the inverse of [`End::rank`] on keys).
    fn key_of(self, rank: (Key, u64)) -> Key {
        match self {
            End::Front => rank.0,
            End::Back => Key::MAX - rank.0,
        }
    }

    /// Where `version` sorts in this end's order, smallest first.
    fn rank(self, version: &Version) -> (Key, u64) {
        match self {
            End::Front => (version.key, u64::MAX - version.revision.0),
            End::Back => (Key::MAX - version.key, version.revision.0),
        }
    }
}

/// A sorted stream of versions, `(key asc, revision desc)`, lazily produced from either end.
///
/// Contract: a version comes out of at most one end; once an end returns `None` the two ends
/// have met and neither yields anything more.
pub(crate) trait VersionSource: Send {
    /// The next version at `end` (in that end's order), `None` when the ends have met.
    fn next_version(&mut self, end: End) -> Option<Result<Version>>;
}

/// How versions of one key are resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Resolve {
    /// The newest version at or below the read revision, if it is a put.
    Latest,
    /// Every version at or below the read revision, newest first (front) or oldest first
    /// (back).
    History,
}

/// One source and the versions pulled from its ends but not yet taken.
struct Slot {
    source: Box<dyn VersionSource>,
    /// By `End::index`: the version pulled from that end.
    heads: [Option<Version>; 2],
    /// The source returned `None`: nothing remains of it but `heads`.
    met: bool,
}

impl Slot {
    /// The version `end` takes next from this source, pulling one if needed.
    fn peek(&mut self, end: End) -> Result<Option<&Version>> {
        let (own, other) = (end.index(), end.other().index());
        if self.heads[own].is_none() && !self.met {
            match self.source.next_version(end) {
                Some(version) => self.heads[own] = Some(version?),
                None => self.met = true,
            }
        }
        match &self.heads[own] {
            Some(version) => Ok(Some(version)),
            None if self.met => Ok(self.heads[other].as_ref()),
            None => Ok(None),
        }
    }

    /// Takes the version [`Slot::peek`] returned.
    fn take(&mut self, end: End) -> Option<Version> {
        let (own, other) = (end.index(), end.other().index());
        match self.heads[own].take() {
            Some(version) => Some(version),
            None if self.met => self.heads[other].take(),
            None => None,
        }
    }
}

/// One end's heap of `(rank, source)`, smallest rank on top, and what it last yielded.
#[derive(Default)]
struct Side {
    heap: BinaryHeap<Reverse<((Key, u64), usize)>>,
    primed: bool,
    /// The `(key, revision)` of the last version this end yielded (`History` duplicates).
    yielded: Option<(Key, Revision)>,
    /// The rank of the last version taken, for the order check.
    taken: Option<(Key, u64)>,
}

/// The merged, resolved stream of versions of many sources, from either end.
pub(crate) struct Merge {
    slots: Vec<Slot>,
    /// By `End::index`.
    sides: [Side; 2],
    at: Revision,
    resolve: Resolve,
    finished: bool,
}

impl Merge {
    /// A merge of `sources` read at revision `at`.
    pub(crate) fn new(
        sources: Vec<Box<dyn VersionSource>>,
        at: Revision,
        resolve: Resolve,
    ) -> Merge {
        let slots = sources
            .into_iter()
            .map(|source| Slot {
                source,
                heads: [None, None],
                met: false,
            })
            .collect();
        Merge {
            slots,
            sides: [Side::default(), Side::default()],
            at,
            resolve,
            finished: false,
        }
    }

    /// Pushes the next version of `source` at `end`, if any, onto that end's heap.
    fn push(&mut self, end: End, source: usize) -> Result<()> {
        if let Some(version) = self.slots[source].peek(end)? {
            let rank = end.rank(version);
            self.sides[end.index()].heap.push(Reverse((rank, source)));
        }
        Ok(())
    }

    /// The key and source on top of `end`'s heap, dropping stale entries (versions the other
    /// end took).
    fn top(&mut self, end: End) -> Result<Option<(Key, usize)>> {
        // One source needs no heap: its slot's peek is the next version at either end.
        if let [slot] = self.slots.as_mut_slice() {
            return Ok(slot.peek(end)?.map(|version| (version.key, 0)));
        }
        let side = end.index();
        if !self.sides[side].primed {
            self.sides[side].primed = true;
            for source in 0..self.slots.len() {
                self.push(end, source)?;
            }
        }
        // Entries go stale only when the other end takes versions: until it starts, the top
        // is valid as it stands (the common, one-directional read checks nothing).
        let other_started = self.sides[end.other().index()].primed;
        while let Some(&Reverse((rank, source))) = self.sides[side].heap.peek() {
            if !other_started {
                return Ok(Some((end.key_of(rank), source)));
            }
            let current = self.slots[source].peek(end)?;
            if let Some(version) = current.filter(|version| end.rank(version) == rank) {
                return Ok(Some((version.key, source)));
            }
            self.sides[side].heap.pop();
            self.push(end, source)?;
        }
        Ok(None)
    }

    /// The next version at `end` in that end's merge order, before resolution.
    fn take(&mut self, end: End) -> Result<Option<Version>> {
        let Some((_, source)) = self.top(end)? else {
            return Ok(None);
        };
        let Some(version) = self.slots[source].take(end) else {
            return Ok(None);
        };
        if self.slots.len() > 1 {
            // The source's next version replaces it on top: one sift instead of a pop and a
            // push.
            let next = self.slots[source].peek(end)?.map(|next| end.rank(next));
            let heap = &mut self.sides[end.index()].heap;
            match (next, heap.peek_mut()) {
                (Some(next), Some(mut top)) => *top = Reverse((next, source)),
                (None, Some(top)) => drop(std::collections::binary_heap::PeekMut::pop(top)),
                (_, None) => {}
            }
        }
        let rank = end.rank(&version);
        let taken = self.sides[end.index()].taken.replace(rank);
        debug_assert!(
            taken.is_none_or(|taken| taken <= rank),
            "a source is out of order"
        );
        Ok(Some(version))
    }

    /// The next visible put at `end`: every version of the key on top is taken, the newest at
    /// or below the read revision wins, and a delete hides the key. One source needs no heap:
    /// its slot is read directly.
    fn next_latest(&mut self, end: End) -> Result<Option<Version>> {
        let at = self.at;
        match self.slots.as_mut_slice() {
            [slot] => resolve_latest(slot, end, at),
            _ => resolve_latest(self, end, at),
        }
    }

    /// The next visible version at `end`, a duplicate of the last one either end yielded
    /// skipped.
    fn next_history(&mut self, end: End) -> Result<Option<Version>> {
        while let Some(version) = self.take(end)? {
            if version.revision > self.at {
                continue;
            }
            let id = Some((version.key, version.revision));
            if self.sides.iter().any(|side| side.yielded == id) {
                continue;
            }
            self.sides[end.index()].yielded = id;
            return Ok(Some(version));
        }
        Ok(None)
    }

    /// The next resolved version at `end`, `None` at the end; an error ends the merge.
    fn step(&mut self, end: End) -> Option<Result<Version>> {
        if self.finished {
            return None;
        }
        let next = match self.resolve {
            Resolve::Latest => self.next_latest(end),
            Resolve::History => self.next_history(end),
        };
        let next = next.transpose();
        if matches!(next, Some(Err(_))) {
            self.finished = true;
        }
        next
    }
}

/// A stream of versions in one end's merge order, as [`resolve_latest`] reads it.
trait Ordered {
    /// The key of the version [`Ordered::take_next`] returns next.
    fn next_key(&mut self, end: End) -> Result<Option<Key>>;
    /// The next version at `end`.
    fn take_next(&mut self, end: End) -> Result<Option<Version>>;
}

impl Ordered for Merge {
    fn next_key(&mut self, end: End) -> Result<Option<Key>> {
        Ok(self.top(end)?.map(|(key, _)| key))
    }

    fn take_next(&mut self, end: End) -> Result<Option<Version>> {
        self.take(end)
    }
}

impl Ordered for Slot {
    fn next_key(&mut self, end: End) -> Result<Option<Key>> {
        Ok(self.peek(end)?.map(|version| version.key))
    }

    fn take_next(&mut self, end: End) -> Result<Option<Version>> {
        self.peek(end)?;
        Ok(self.take(end))
    }
}

/// The next visible put of `stream` at `end`: every version of the next key is taken, the
/// newest at or below `at` wins, and a delete hides the key.
fn resolve_latest(stream: &mut impl Ordered, end: End, at: Revision) -> Result<Option<Version>> {
    while let Some(first) = stream.take_next(end)? {
        let key = first.key;
        let mut newest = Some(first).filter(|version| version.revision <= at);
        while stream.next_key(end)? == Some(key) {
            let Some(version) = stream.take_next(end)? else {
                break;
            };
            let newer = newest
                .as_ref()
                .is_none_or(|newest| version.revision > newest.revision);
            if version.revision <= at && newer {
                newest = Some(version);
            }
        }
        if let Some(version) = newest.filter(|version| version.value.is_some()) {
            return Ok(Some(version));
        }
    }
    Ok(None)
}

impl Iterator for Merge {
    type Item = Result<Version>;

    fn next(&mut self) -> Option<Self::Item> {
        self.step(End::Front)
    }
}

impl DoubleEndedIterator for Merge {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.step(End::Back)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::{BTreeMap, VecDeque};

    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::error::Error;

    /// A source over a vector (sorted by the caller), optionally failing after a number of
    /// versions taken from either end.
    pub(crate) struct VecSource {
        pub(crate) versions: VecDeque<Version>,
        pub(crate) fail_after: Option<usize>,
    }

    impl VersionSource for VecSource {
        fn next_version(&mut self, end: End) -> Option<Result<Version>> {
            if let Some(left) = self.fail_after.as_mut() {
                if *left == 0 {
                    return Some(Err(Error::corruption("test-block", 4096, "injected")));
                }
                *left -= 1;
            }
            match end {
                End::Front => self.versions.pop_front().map(Ok),
                End::Back => self.versions.pop_back().map(Ok),
            }
        }
    }

    /// Everything `source` yields, each step's end chosen by `rng` (`front_share` of them
    /// the front), as the front's output followed by the back's reversed; checks that both
    /// ends stay ended.
    pub(crate) fn read_mixed(
        source: &mut dyn VersionSource,
        rng: &mut impl Rng,
        front_share: f64,
    ) -> Vec<Version> {
        let (mut front, mut back) = (Vec::new(), Vec::new());
        loop {
            let end = if rng.gen_bool(front_share) {
                End::Front
            } else {
                End::Back
            };
            match source.next_version(end) {
                Some(version) if end == End::Front => front.push(version.unwrap()),
                Some(version) => back.push(version.unwrap()),
                None => break,
            }
        }
        assert!(source.next_version(End::Front).is_none());
        assert!(source.next_version(End::Back).is_none());
        front.extend(back.into_iter().rev());
        front
    }

    fn put(key: Key, revision: u64, value: u8) -> Version {
        Version {
            key,
            revision: Revision(revision),
            value: Some(vec![value].into()),
        }
    }

    fn delete(key: Key, revision: u64) -> Version {
        Version {
            key,
            revision: Revision(revision),
            value: None,
        }
    }

    fn merge_over(sources: Vec<Vec<Version>>, at: u64, resolve: Resolve) -> Merge {
        let boxed = sources.into_iter().map(|mut versions| {
            versions.sort_by_key(Version::order);
            Box::new(VecSource {
                versions: versions.into(),
                fail_after: None,
            }) as Box<dyn VersionSource>
        });
        Merge::new(boxed.collect(), Revision(at), resolve)
    }

    fn merge_of(sources: Vec<Vec<Version>>, at: u64, resolve: Resolve) -> Vec<Version> {
        merge_over(sources, at, resolve)
            .collect::<Result<Vec<_>>>()
            .unwrap()
    }

    /// The merge read from the back, reversed into front order.
    fn merge_back(sources: Vec<Vec<Version>>, at: u64, resolve: Resolve) -> Vec<Version> {
        let mut read = merge_over(sources, at, resolve)
            .rev()
            .collect::<Result<Vec<_>>>()
            .unwrap();
        read.reverse();
        read
    }

    /// The merge read from both ends, each step's end chosen by `rng` (`front_share` of
    /// them the front), as the front's output followed by the back's reversed.
    fn merge_mixed(
        sources: Vec<Vec<Version>>,
        at: u64,
        resolve: Resolve,
        rng: &mut impl Rng,
        front_share: f64,
    ) -> Vec<Version> {
        let mut merge = merge_over(sources, at, resolve);
        let (mut front, mut back) = (Vec::new(), Vec::new());
        loop {
            let from_front = rng.gen_bool(front_share);
            let next = if from_front {
                merge.next()
            } else {
                merge.next_back()
            };
            match next {
                Some(version) if from_front => front.push(version.unwrap()),
                Some(version) => back.push(version.unwrap()),
                None => break,
            }
        }
        assert!(merge.next().is_none() && merge.next_back().is_none());
        front.extend(back.into_iter().rev());
        front
    }

    #[test]
    fn latest_takes_the_newest_visible_version_and_deletes_hide() {
        // Goal: MVCC resolution across sources, from both ends. Method: key 1 put/put, key 2
        // put then delete, key 3 a version above the read revision only; read at several
        // revisions forward and backward (backward meets each key's versions oldest first).
        let block = vec![put(1, 1, 10), put(2, 2, 20), put(3, 9, 30)];
        let memtable = vec![put(1, 4, 11), delete(2, 5)];
        let both = || vec![block.clone(), memtable.clone()];
        for read in [merge_of, merge_back] {
            assert_eq!(
                read(both(), 3, Resolve::Latest),
                vec![put(1, 1, 10), put(2, 2, 20)]
            );
            assert_eq!(read(both(), 8, Resolve::Latest), vec![put(1, 4, 11)]);
            assert_eq!(
                read(both(), 9, Resolve::Latest),
                vec![put(1, 4, 11), put(3, 9, 30)]
            );
        }
    }

    #[test]
    fn history_yields_every_visible_version_once() {
        // Goal: history keeps deletes and drops duplicates, from both ends. Method: the same
        // version in two sources, read at 5 (revision 9 invisible) forward and backward.
        let first = vec![put(2, 2, 20), delete(2, 5), put(2, 9, 21)];
        let second = vec![put(2, 2, 20), put(2, 1, 19), put(4, 3, 40)];
        let expected = vec![delete(2, 5), put(2, 2, 20), put(2, 1, 19), put(4, 3, 40)];
        let both = || vec![first.clone(), second.clone()];
        assert_eq!(merge_of(both(), 5, Resolve::History), expected);
        assert_eq!(merge_back(both(), 5, Resolve::History), expected);
    }

    #[test]
    fn the_ends_meet_inside_one_key_without_repeating_it() {
        // Goal: a key whose versions sit in several sources is resolved once when the ends
        // meet on it, whichever end reaches it. Method: key 5 with versions in three sources
        // between keys 1 and 9; take key 1 from the front and key 9 from the back, then key 5
        // from either end, then nothing from both.
        let sources = || {
            vec![
                vec![put(1, 1, 1), put(5, 2, 52)],
                vec![put(5, 7, 57), put(9, 3, 9)],
                vec![delete(5, 4)],
            ]
        };
        for front_last in [false, true] {
            let mut merge = merge_over(sources(), 10, Resolve::Latest);
            assert_eq!(merge.next().unwrap().unwrap(), put(1, 1, 1));
            assert_eq!(merge.next_back().unwrap().unwrap(), put(9, 3, 9));
            let middle = if front_last {
                merge.next()
            } else {
                merge.next_back()
            };
            assert_eq!(middle.unwrap().unwrap(), put(5, 7, 57));
            assert!(merge.next().is_none() && merge.next_back().is_none());
        }
    }

    #[test]
    fn a_failing_source_ends_the_merge_with_its_error() {
        // Goal: an error is yielded once and nothing after it, at either end. Method: a
        // source failing after one version, read from the front, then from the back.
        for end in [End::Front, End::Back] {
            let good = VecSource {
                versions: vec![put(1, 1, 1), put(5, 1, 5)].into(),
                fail_after: None,
            };
            let bad = VecSource {
                versions: vec![put(2, 1, 2), put(3, 1, 3)].into(),
                fail_after: Some(1),
            };
            let sources: Vec<Box<dyn VersionSource>> = vec![Box::new(good), Box::new(bad)];
            let mut merge = Merge::new(sources, Revision(9), Resolve::Latest);
            let results: Vec<Result<Version>> = std::iter::from_fn(|| merge.step(end)).collect();
            assert_eq!(results.len(), 2, "{results:?}");
            let first_key = if end == End::Front { 1 } else { 5 };
            assert!(matches!(results[0], Ok(ref version) if version.key == first_key));
            assert!(matches!(results[1], Err(Error::Corruption { .. })));
            assert!(merge.next().is_none() && merge.next_back().is_none());
        }
    }

    /// The model's `History` and `Latest` answers at `at`, in front order.
    fn model_at(model: &ModelMap, at: u64) -> (Vec<Version>, Vec<Version>) {
        let visible = model.iter().filter(|((_, revision), _)| revision.0.0 <= at);
        let history: Vec<Version> = visible
            .map(|((key, revision), value)| Version {
                key: *key,
                revision: revision.0,
                value: value.clone(),
            })
            .collect();
        let mut latest = Vec::new();
        for version in &history {
            if latest
                .last()
                .is_none_or(|last: &Version| last.key != version.key)
            {
                latest.push(version.clone());
            }
        }
        latest.retain(|version| version.value.is_some());
        (history, latest)
    }

    type ModelMap = BTreeMap<(Key, std::cmp::Reverse<Revision>), Option<bytes::Bytes>>;

    #[test]
    fn random_sources_agree_with_a_model_from_both_ends() {
        // Goal: the merge equals a BTreeMap model at every revision, forward, backward and
        // with the ends mixed at random (no entry twice, none skipped). Method: 200 random
        // versions over 20 keys split across 4 sources, a tenth of them also copied into a
        // second source, and the same in one source (the merge's path without a heap); read
        // Latest and History at every 7th revision, forward, backward, and mixed with three
        // front shares over several interleavings.
        let cases = [
            (0x5eed_u64, 4),
            (1, 4),
            (2, 4),
            (3, 4),
            (4, 1),
            (5, 1),
            (6, 1),
        ];
        for (seed, source_count) in cases {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let mut sources = vec![Vec::new(); source_count];
            let mut model = ModelMap::new();
            for revision in 1..=200_u64 {
                let key = rng.gen_range(0..20_u128);
                let value = rng.gen_bool(0.7).then(|| vec![rng.r#gen::<u8>()]);
                let version = Version {
                    key,
                    revision: Revision(revision),
                    value: value.map(Into::into),
                };
                model.insert(version.order(), version.value.clone());
                let source = rng.gen_range(0..source_count);
                if source_count > 1 && rng.gen_bool(0.1) {
                    sources[(source + 1) % source_count].push(version.clone());
                }
                sources[source].push(version);
            }
            for at in (0..=200_u64).step_by(7) {
                let (history, latest) = model_at(&model, at);
                for (resolve, expected) in [(Resolve::History, history), (Resolve::Latest, latest)]
                {
                    let context =
                        format!("seed {seed} ({source_count} sources) at {at} {resolve:?}");
                    assert_eq!(
                        merge_of(sources.clone(), at, resolve),
                        expected,
                        "{context}"
                    );
                    assert_eq!(
                        merge_back(sources.clone(), at, resolve),
                        expected,
                        "{context}"
                    );
                    for share in [0.2, 0.5, 0.8] {
                        let mixed = merge_mixed(sources.clone(), at, resolve, &mut rng, share);
                        assert_eq!(mixed, expected, "{context} mixed {share}");
                    }
                }
            }
        }
    }
}
