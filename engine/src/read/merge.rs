//! [`Merge`]: the k-way merge of version sources (memtables and blocks), each sorted by
//! `(key asc, revision desc)`, with MVCC resolution at a read revision (docs/design.md §2 "Reads
//! resolve per key", §6).
//!
//! Owns: the resolution rules. With [`Resolve::Latest`], per key the newest version at or
//! below the read revision wins and a delete hides every older version (the key is then
//! absent); with [`Resolve::History`], every version at or below the read revision comes out,
//! newest first, deletes included. Versions above the read revision are invisible in both.
//!
//! Invariants: the output is strictly increasing in `(key asc, revision desc)`; a version held
//! by two sources (the same `(key, revision)`, e.g. a batch recovered from two logs) comes out
//! once; after a source fails the merge yields that error once and then ends (a reader never
//! sees data past a damaged page as if the page were empty).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use infinitedb_format::{Key, Revision};

use super::version::Version;
use crate::error::Result;

/// A sorted stream of versions: `(key asc, revision desc)`, lazily produced.
pub(crate) trait VersionSource: Send {
    /// The next version, `None` at the end.
    fn next_version(&mut self) -> Option<Result<Version>>;
}

/// How versions of one key are resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Resolve {
    /// The newest version at or below the read revision, if it is a put.
    Latest,
    /// Every version at or below the read revision, newest first.
    History,
}

/// The head of one source in the heap; ordered so the smallest `order()` is on top.
struct Head {
    version: Version,
    source: usize,
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Head {}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Head {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap: reverse so the smallest version (then source) is on top.
        (other.version.order(), other.source).cmp(&(self.version.order(), self.source))
    }
}

/// The merged, resolved stream of versions of many sources.
pub(crate) struct Merge {
    sources: Vec<Box<dyn VersionSource>>,
    heap: BinaryHeap<Head>,
    at: Revision,
    resolve: Resolve,
    primed: bool,
    finished: bool,
    /// The last `(key, revision)` taken from the heap (for duplicates and key resolution).
    last_taken: Option<(Key, Revision)>,
}

impl Merge {
    /// A merge of `sources` read at revision `at`.
    pub(crate) fn new(
        sources: Vec<Box<dyn VersionSource>>,
        at: Revision,
        resolve: Resolve,
    ) -> Merge {
        Merge {
            heap: BinaryHeap::with_capacity(sources.len()),
            sources,
            at,
            resolve,
            primed: false,
            finished: false,
            last_taken: None,
        }
    }

    /// Pulls the next version of `source` into the heap.
    fn refill(&mut self, source: usize) -> Result<()> {
        let Some(next) = self
            .sources
            .get_mut(source)
            .and_then(|stream| stream.next_version())
        else {
            return Ok(());
        };
        let version = next?;
        self.heap.push(Head { version, source });
        Ok(())
    }

    /// The next version in merge order, before resolution.
    fn take(&mut self) -> Result<Option<Version>> {
        if !self.primed {
            self.primed = true;
            for source in 0..self.sources.len() {
                self.refill(source)?;
            }
        }
        let Some(head) = self.heap.pop() else {
            return Ok(None);
        };
        self.refill(head.source)?;
        debug_assert!(
            self.heap
                .peek()
                .is_none_or(|next| next.version.order() >= head.version.order()),
            "a source is out of order"
        );
        Ok(Some(head.version))
    }

    /// The next resolved version, or `None` at the end.
    fn advance(&mut self) -> Result<Option<Version>> {
        while let Some(version) = self.take()? {
            if version.revision > self.at {
                continue;
            }
            let previous = self.last_taken.replace((version.key, version.revision));
            let same_key = previous.is_some_and(|(key, _)| key == version.key);
            let duplicate = previous == Some((version.key, version.revision));
            debug_assert!(
                !same_key || previous.is_some_and(|(_, revision)| revision >= version.revision)
            );
            match self.resolve {
                Resolve::History if !duplicate => return Ok(Some(version)),
                Resolve::Latest if !same_key && version.value.is_some() => {
                    return Ok(Some(version));
                }
                Resolve::History | Resolve::Latest => {}
            }
        }
        Ok(None)
    }
}

impl Iterator for Merge {
    type Item = Result<Version>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let next = self.advance().transpose();
        if !matches!(next, Some(Ok(_))) {
            self.finished = true;
        }
        next
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::error::Error;

    /// A source over a vector (sorted by the caller), optionally failing at a position.
    pub(crate) struct VecSource {
        pub(crate) versions: std::vec::IntoIter<Version>,
        pub(crate) fail_after: Option<usize>,
    }

    impl VersionSource for VecSource {
        fn next_version(&mut self) -> Option<Result<Version>> {
            if let Some(left) = self.fail_after.as_mut() {
                if *left == 0 {
                    return Some(Err(Error::corruption("test-block", 4096, "injected")));
                }
                *left -= 1;
            }
            self.versions.next().map(Ok)
        }
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

    fn merge_of(sources: Vec<Vec<Version>>, at: u64, resolve: Resolve) -> Vec<Version> {
        let boxed = sources.into_iter().map(|mut versions| {
            versions.sort_by_key(Version::order);
            Box::new(VecSource {
                versions: versions.into_iter(),
                fail_after: None,
            }) as Box<dyn VersionSource>
        });
        Merge::new(boxed.collect(), Revision(at), resolve)
            .collect::<Result<Vec<_>>>()
            .unwrap()
    }

    #[test]
    fn latest_takes_the_newest_visible_version_and_deletes_hide() {
        // Goal: MVCC resolution across sources. Method: key 1 put/put, key 2 put then delete,
        // key 3 a version above the read revision only; read at several revisions.
        let block = vec![put(1, 1, 10), put(2, 2, 20), put(3, 9, 30)];
        let memtable = vec![put(1, 4, 11), delete(2, 5)];
        let at_3 = merge_of(vec![block.clone(), memtable.clone()], 3, Resolve::Latest);
        assert_eq!(at_3, vec![put(1, 1, 10), put(2, 2, 20)]);
        let at_8 = merge_of(vec![block.clone(), memtable.clone()], 8, Resolve::Latest);
        assert_eq!(at_8, vec![put(1, 4, 11)]);
        let at_9 = merge_of(vec![block, memtable], 9, Resolve::Latest);
        assert_eq!(at_9, vec![put(1, 4, 11), put(3, 9, 30)]);
    }

    #[test]
    fn history_yields_every_visible_version_once_newest_first() {
        // Goal: history keeps deletes and drops duplicates. Method: the same version in two
        // sources, read at 5 (revision 9 invisible).
        let first = vec![put(2, 2, 20), delete(2, 5), put(2, 9, 21)];
        let second = vec![put(2, 2, 20), put(2, 1, 19), put(4, 3, 40)];
        let history = merge_of(vec![first, second], 5, Resolve::History);
        assert_eq!(
            history,
            vec![delete(2, 5), put(2, 2, 20), put(2, 1, 19), put(4, 3, 40)]
        );
    }

    #[test]
    fn a_failing_source_ends_the_merge_with_its_error() {
        // Goal: an error is yielded once and nothing after it. Method: a source failing after
        // one version.
        let good = VecSource {
            versions: vec![put(1, 1, 1), put(5, 1, 5)].into_iter(),
            fail_after: None,
        };
        let bad = VecSource {
            versions: vec![put(2, 1, 2), put(3, 1, 3)].into_iter(),
            fail_after: Some(1),
        };
        let merge = Merge::new(
            vec![Box::new(good), Box::new(bad)],
            Revision(9),
            Resolve::Latest,
        );
        let results: Vec<Result<Version>> = merge.collect();
        assert_eq!(results.len(), 2, "{results:?}");
        assert!(matches!(results[0], Ok(ref version) if version.key == 1));
        assert!(matches!(results[1], Err(Error::Corruption { .. })));
    }

    #[test]
    fn random_sources_agree_with_a_model() {
        // Goal: the merge equals a BTreeMap model at every revision. Method: 200 random
        // versions split across 4 sources, read Latest and History at every revision.
        use rand::{Rng, SeedableRng};
        let seed = 0x5eed_u64;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut sources = vec![Vec::new(); 4];
        let mut model: BTreeMap<(Key, std::cmp::Reverse<Revision>), Option<bytes::Bytes>> =
            BTreeMap::new();
        for revision in 1..=200_u64 {
            let key = rng.gen_range(0..20_u128);
            let value = rng.gen_bool(0.7).then(|| vec![rng.r#gen::<u8>()].into());
            let version = Version {
                key,
                revision: Revision(revision),
                value,
            };
            model.insert(version.order(), version.value.clone());
            sources[rng.gen_range(0..4)].push(version);
        }
        for at in (0..=200_u64).step_by(7) {
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
            assert_eq!(
                merge_of(sources.clone(), at, Resolve::History),
                history,
                "seed {seed} at {at}"
            );
            assert_eq!(
                merge_of(sources.clone(), at, Resolve::Latest),
                latest,
                "seed {seed} at {at}"
            );
        }
    }
}
