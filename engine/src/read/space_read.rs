//! [`SpaceRead`]: every read of one space over one fixed set of sources (the memtables and
//! blocks of one published view), at a read revision: point reads, history, box queries, key
//! ranges and scans (docs/design.md §6 "Queries", "Ranges and reverse iteration").
//!
//! Owns: turning a request into key ranges and a [`Merge`] of one source per memtable and per
//! block that can hold a version in those ranges at or below the read revision (blocks are
//! pruned by their footer's key range and lowest revision, and for a single key by their key
//! filter, counted in `Stats::filter_skips`). A key range's bound points become one key range:
//! `Included` is the point's key, `Excluded` the key after (low) or before (high) it,
//! `Unbounded` the first or last key; both points are validated even when the range is empty.
//!
//! Invariants: every version in a memtable of the space is newer than every version in its
//! blocks (blocks are sealed from frozen memtables in revision order, and recovery replays
//! only segments not yet sealed), so a point read that finds a version in the memtables
//! needs no block page. Blocks come as runs, newest first (`levels.rs`): each level-0 block
//! alone, then each deeper level, whose blocks are disjoint and sorted by key; for one key
//! every version in a run is newer than every version in a later run. So a point read
//! consults at most one block per run, and stops at the first run that holds a version at
//! or below the read revision. A `SpaceRead` holds `Arc`s of every memtable and block it reads, so
//! the files stay open and readable for as long as it, or a [`Query`] made from it, lives,
//! whatever seals or compactions happen meanwhile. Input is validated into typed errors
//! before any I/O.

use std::collections::BTreeMap;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use bytes::Bytes;
use infinitedb_format::{Key, Revision, SpaceId};

use super::block_pages::{PagedBlock, newest_in_block, newest_in_cached_page, newest_of_keys};
use super::block_source::BlockSource;
use super::memtable_source::{MemtableSource, VersionRange};
use super::merge::{Merge, Resolve, VersionSource};
use super::page_cache::PageCache;
use super::query::Query;
use super::version::Version;
use crate::error::{Error, Result};
use crate::keyspace::{Curve, KeyRange, QueryBox};
use crate::stats::StatsCounters;

/// One space's sources, ready to read.
#[derive(Clone)]
pub(crate) struct SpaceRead {
    pub(crate) space: SpaceId,
    /// The space's name, for errors.
    pub(crate) name: Arc<str>,
    pub(crate) curve: Curve,
    pub(crate) memtables: Vec<Arc<dyn VersionRange>>,
    /// The sealed blocks as runs, newest first (module doc).
    pub(crate) runs: Vec<Vec<Arc<dyn PagedBlock>>>,
    pub(crate) cache: Arc<PageCache>,
    /// Where block reads count filter skips.
    pub(crate) stats: Arc<StatsCounters>,
    /// Most key ranges a box is decomposed into (`Options::query_range_budget`).
    pub(crate) range_budget: usize,
}

impl std::fmt::Debug for SpaceRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpaceRead")
            .field("space", &self.space)
            .field("name", &self.name)
            .field("memtables", &self.memtables.len())
            .field("runs", &self.runs.iter().map(Vec::len).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl SpaceRead {
    /// A merge of every source that may hold versions in `ranges` at or below `at`.
    fn merge(&self, ranges: Vec<KeyRange>, at: Revision, resolve: Resolve) -> Merge {
        debug_assert!(!ranges.is_empty());
        let ranges: Arc<[KeyRange]> = ranges.into();
        let mut streams: Vec<Box<dyn VersionSource>> =
            Vec::with_capacity(self.memtables.len() + self.runs.len());
        // A memtable empty now holds nothing at or below `at` later: every version at or
        // below the published mark was inserted before the mark rose, and the mark was read
        // before this view.
        for memtable in self
            .memtables
            .iter()
            .filter(|memtable| memtable.version_count() > 0)
        {
            streams.push(Box::new(MemtableSource::new(
                memtable.clone(),
                ranges.clone(),
            )));
        }
        let point = match ranges.as_ref() {
            [range] if range.first == range.last => Some(range.first),
            _ => None,
        };
        for block in self.runs.iter().flatten() {
            if block.revision_min() <= at && overlaps(&ranges, block.key_bounds()) {
                if point.is_some_and(|key| !block.may_hold(key)) {
                    StatsCounters::add(&self.stats.filter_skips, 1);
                    continue;
                }
                let cache = self.cache.clone();
                streams.push(Box::new(BlockSource::new(
                    block.clone(),
                    cache,
                    ranges.clone(),
                )));
            }
        }
        Merge::new(streams, at, resolve)
    }

    fn key_of(&self, point: &[u32]) -> Result<Key> {
        self.curve
            .encode(point)
            .map_err(|source| Error::InvalidPoint {
                space: self.name.to_string(),
                source,
            })
    }

    /// The newest put at `point` at or below `at` with its revision (`None` if absent or
    /// deleted there).
    pub(crate) fn get_at(&self, point: &[u32], at: Revision) -> Result<Option<(Revision, Bytes)>> {
        let key = self.key_of(point)?;
        let found = self.newest(key, at)?;
        Ok(found.and_then(|version| version.value.map(|value| (version.revision, value))))
    }

    /// The newest version of `key` at or below `at` (a delete included), without a merge:
    /// every memtable version is newer than every block version of the space, and every
    /// version in a run newer than every version in a later run (module doc), so the newest
    /// memtable version decides, else the first run holding one.
    fn newest(&self, key: Key, at: Revision) -> Result<Option<Version>> {
        if let Some(version) = self.newest_in_memtables(key, at) {
            self.stats.record_point_read(0);
            return Ok(Some(version));
        }
        let (found, consulted) = self.get_from_blocks(key, at)?;
        self.stats.record_point_read(consulted);
        Ok(found)
    }

    /// The newest version of `key` at or below `at` in the live tail.
    fn newest_in_memtables(&self, key: Key, at: Revision) -> Option<Version> {
        self.memtables
            .iter()
            .filter_map(|memtable| memtable.newest(key, at))
            .max_by_key(|version| version.revision)
    }

    /// The newest version of `key` at or below `at` in the blocks, and how many blocks were
    /// consulted (read, not skipped by their key range, revisions or filter) to find it.
    ///
    /// The bottom run's block is asked its cached page before its filter: a read that gets
    /// that far usually finds its key there (every key lives in the bottom run once
    /// compaction has run), and then the filter would only cost a cache miss of its own;
    /// an uncached page still waits for the filter, so an absent key costs no device read.
    fn get_from_blocks(&self, key: Key, at: Revision) -> Result<(Option<Version>, usize)> {
        let mut consulted = 0;
        let bottom = self.runs.len().saturating_sub(1);
        for (depth, run) in self.runs.iter().enumerate() {
            let Some(position) = block_in_range(run, key, at) else {
                continue;
            };
            let block = run[position].as_ref();
            if depth == bottom
                && let Some(decided) = newest_in_cached_page(block, key, at, &self.cache)
            {
                return Ok((decided, consulted + 1));
            }
            if !self.filter_may_hold(block, key) {
                continue;
            }
            consulted += 1;
            if let Some(version) = newest_in_block(block, key, at, &self.cache)? {
                return Ok((Some(version), consulted));
            }
        }
        Ok((None, consulted))
    }

    /// The position in `run` of the block a point read of `key` at `at` must consult: the
    /// one whose key range holds the key, unless its revisions are all above `at` or its
    /// filter rules the key out (counted in `Stats::filter_skips`).
    fn consulted_block(
        &self,
        run: &[Arc<dyn PagedBlock>],
        key: Key,
        at: Revision,
    ) -> Option<usize> {
        let position = block_in_range(run, key, at)?;
        self.filter_may_hold(run[position].as_ref(), key)
            .then_some(position)
    }

    /// Whether `block`'s filter lets `key` through; a skip is counted in
    /// `Stats::filter_skips`.
    fn filter_may_hold(&self, block: &dyn PagedBlock, key: Key) -> bool {
        let may_hold = block.may_hold(key);
        if !may_hold {
            StatsCounters::add(&self.stats.filter_skips, 1);
        }
        may_hold
    }

    /// The values at `points` at `at` (`None`: absent or deleted), in their order. Keys the
    /// live tail does not answer go run by run, newest first; a run's keys are grouped by
    /// block, and each block's pages for them are read with one batched submission.
    pub(crate) fn multi_get<P: AsRef<[u32]>>(
        &self,
        points: &[P],
        at: Revision,
    ) -> Result<Vec<Option<Bytes>>> {
        let keys: Vec<Key> = points
            .iter()
            .map(|point| self.key_of(point.as_ref()))
            .collect::<Result<_>>()?;
        let mut found: Vec<Option<Version>> = keys
            .iter()
            .map(|&key| self.newest_in_memtables(key, at))
            .collect();
        let mut pending: Vec<usize> = (0..keys.len()).filter(|&i| found[i].is_none()).collect();
        let mut consulted = vec![0_usize; keys.len()];
        for run in &self.runs {
            if pending.is_empty() {
                break;
            }
            let mut by_block: BTreeMap<usize, Vec<(usize, Key)>> = BTreeMap::new();
            for &index in &pending {
                if let Some(position) = self.consulted_block(run, keys[index], at) {
                    consulted[index] += 1;
                    by_block
                        .entry(position)
                        .or_default()
                        .push((index, keys[index]));
                }
            }
            for (position, wanted) in by_block {
                let answers = newest_of_keys(run[position].as_ref(), &wanted, at, &self.cache)?;
                for (index, version) in answers {
                    found[index] = version;
                }
            }
            pending.retain(|&index| found[index].is_none());
        }
        for blocks in consulted {
            self.stats.record_point_read(blocks);
        }
        Ok(found
            .into_iter()
            .map(|version| version.and_then(|version| version.value))
            .collect())
    }

    /// An estimate of the live points: each block's distinct keys plus the live tail's
    /// records (`Readable::estimate_live_points` says when it is exact).
    pub(crate) fn estimate_live_points(&self) -> u64 {
        let blocks: u64 = self
            .runs
            .iter()
            .flatten()
            .map(|block| block.distinct_keys())
            .sum();
        let tail: u64 = self
            .memtables
            .iter()
            .map(|memtable| memtable.version_count())
            .sum();
        blocks + tail
    }

    /// Every version of `point` at or below `at`, newest first (`None`: a delete).
    pub(crate) fn history(
        &self,
        point: &[u32],
        at: Revision,
    ) -> Result<Vec<(Revision, Option<Bytes>)>> {
        let key = self.key_of(point)?;
        let merge = self.merge(
            vec![KeyRange {
                first: key,
                last: key,
            }],
            at,
            Resolve::History,
        );
        merge
            .map(|version| version.map(|version| (version.revision, version.value)))
            .collect()
    }

    /// The live entries inside `query_box` at `at`, in Hilbert order.
    pub(crate) fn query(&self, query_box: &QueryBox, at: Revision) -> Result<Query> {
        let ranges = self
            .curve
            .key_ranges(query_box, self.range_budget)
            .map_err(|source| Error::InvalidBox {
                space: self.name.to_string(),
                source,
            })?;
        let merge = self.merge(ranges, at, Resolve::Latest);
        Ok(Query::new(
            merge,
            self.space,
            self.name.clone(),
            self.curve,
            Some(query_box.clone()),
        ))
    }

    /// The live entries whose Hilbert keys lie between the keys of `range`'s bound points, at
    /// `at`, in Hilbert order (empty when the bounds are inverted or exclude each other).
    pub(crate) fn range<P: AsRef<[u32]>>(
        &self,
        range: &impl RangeBounds<P>,
        at: Revision,
    ) -> Result<Query> {
        let first = match range.start_bound() {
            Bound::Included(point) => Some(self.key_of(point.as_ref())?),
            Bound::Excluded(point) => self.key_of(point.as_ref())?.checked_add(1),
            Bound::Unbounded => Some(0),
        };
        let last = match range.end_bound() {
            Bound::Included(point) => Some(self.key_of(point.as_ref())?),
            Bound::Excluded(point) => self.key_of(point.as_ref())?.checked_sub(1),
            Bound::Unbounded => Some(Key::MAX),
        };
        let keys = first
            .zip(last)
            .filter(|(first, last)| first <= last)
            .map(|(first, last)| KeyRange { first, last });
        Ok(self.over_keys(keys, at))
    }

    /// Every live entry of the space at `at`, in Hilbert order.
    pub(crate) fn scan(&self, at: Revision) -> Query {
        let everything = KeyRange {
            first: 0,
            last: Key::MAX,
        };
        self.over_keys(Some(everything), at)
    }

    /// The live entries with keys in `keys` (`None`: no key) at `at`, in Hilbert order.
    fn over_keys(&self, keys: Option<KeyRange>, at: Revision) -> Query {
        let merge = match keys {
            Some(keys) => self.merge(vec![keys], at, Resolve::Latest),
            None => Merge::new(Vec::new(), at, Resolve::Latest),
        };
        Query::new(merge, self.space, self.name.clone(), self.curve, None)
    }
}

/// Whether some range of `ranges` (sorted, disjoint) intersects `low..=high`.
fn overlaps(ranges: &[KeyRange], (low, high): (Key, Key)) -> bool {
    let first_not_below = ranges.partition_point(|range| range.last < low);
    ranges
        .get(first_not_below)
        .is_some_and(|range| range.first <= high)
}

/// The position in `run` of the block whose key range holds `key`, unless its revisions are
/// all above `at`.
fn block_in_range(run: &[Arc<dyn PagedBlock>], key: Key, at: Revision) -> Option<usize> {
    let position = run.partition_point(|block| block.key_bounds().1 < key);
    let block = run
        .get(position)
        .filter(|block| block.key_bounds().0 <= key)?;
    (block.revision_min() <= at).then_some(position)
}

#[cfg(test)]
mod tests {
    use std::cmp::Reverse;
    use std::collections::BTreeMap;

    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::read::block_pages::tests::{storage_in, write_block};
    use crate::read::memtable_source::tests::MapMemtable;
    use crate::read::version::Version;

    type ModelMap = BTreeMap<(Key, Reverse<Revision>), Option<Bytes>>;

    #[test]
    fn overlap_uses_the_sorted_ranges() {
        // Goal: block pruning by key bounds. Method: bounds before, between, on and after.
        let ranges = [
            KeyRange {
                first: 10,
                last: 20,
            },
            KeyRange {
                first: 40,
                last: 50,
            },
        ];
        assert!(!overlaps(&ranges, (0, 9)));
        assert!(!overlaps(&ranges, (21, 39)));
        assert!(overlaps(&ranges, (39, 40)));
        assert!(overlaps(&ranges, (0, 100)));
        assert!(!overlaps(&ranges, (51, 60)));
    }

    /// Random writes on a 2-D × 5-bit grid, split into 3 real blocks and 2 memtables.
    fn random_space(dir: &std::path::Path, seed: u64) -> (SpaceRead, ModelMap) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let curve = Curve::new(2, 5).unwrap();
        let storage = storage_in(dir);
        let mut model = ModelMap::new();
        let mut parts: Vec<Vec<Version>> = vec![Vec::new(); 5];
        for revision in 1..=1500_u64 {
            let point = [rng.gen_range(0..32_u32), rng.gen_range(0..32_u32)];
            let key = curve.encode(&point).unwrap();
            let value = rng
                .gen_bool(0.8)
                .then(|| revision.to_le_bytes().to_vec().into());
            let version = Version {
                key,
                revision: Revision(revision),
                value,
            };
            model.insert(version.order(), version.value.clone());
            parts[usize::try_from((revision - 1) / 300).unwrap()].push(version);
        }
        // Three level-0 blocks: runs of one block each, newest first.
        let mut runs: Vec<Vec<Arc<dyn PagedBlock>>> = Vec::new();
        for (index, part) in parts[..3].iter_mut().enumerate() {
            part.sort_by_key(Version::order);
            runs.insert(
                0,
                vec![Arc::new(write_block(&storage, dir, index as u64 + 1, part))],
            );
        }
        let mut memtables: Vec<Arc<dyn VersionRange>> = Vec::new();
        for part in &parts[3..] {
            let memtable = MapMemtable::default();
            part.iter()
                .for_each(|version| memtable.insert(version.clone()));
            memtables.push(Arc::new(memtable));
        }
        let cache = Arc::new(PageCache::new(1 << 20));
        (
            SpaceRead {
                space: SpaceId(1),
                name: Arc::from("test"),
                curve,
                memtables,
                runs,
                cache,
                stats: Arc::new(StatsCounters::default()),
                range_budget: 8,
            },
            model,
        )
    }

    /// Four real blocks on a 2-D × 8-bit grid holding the points whose coordinates are both
    /// multiples of 4, dealt round-robin (so each block's key range spans nearly the whole
    /// curve), and no memtable.
    fn interleaved_blocks(dir: &std::path::Path) -> (SpaceRead, Vec<[u32; 2]>) {
        let curve = Curve::new(2, 8).unwrap();
        let storage = storage_in(dir);
        let mut parts: Vec<Vec<Version>> = vec![Vec::new(); 4];
        let mut present = Vec::new();
        for (index, point) in (0..64_u32)
            .flat_map(|x| (0..64_u32).map(move |y| [4 * x, 4 * y]))
            .enumerate()
        {
            let revision = Revision(u64::try_from(index).unwrap() + 1);
            let key = curve.encode(&point).unwrap();
            let value = Some(revision.0.to_le_bytes().to_vec().into());
            parts[index % 4].push(Version {
                key,
                revision,
                value,
            });
            present.push(point);
        }
        // Four level-0 blocks: runs of one block each.
        let mut runs: Vec<Vec<Arc<dyn PagedBlock>>> = Vec::new();
        for (index, part) in parts.iter_mut().enumerate() {
            part.sort_by_key(Version::order);
            let block_id = u64::try_from(index).unwrap() + 1;
            runs.push(vec![Arc::new(write_block(&storage, dir, block_id, part))]);
        }
        let space = SpaceRead {
            space: SpaceId(1),
            name: Arc::from("test"),
            curve,
            memtables: Vec::new(),
            runs,
            cache: Arc::new(PageCache::new(64 << 20)),
            stats: Arc::new(StatsCounters::default()),
            range_budget: 8,
        };
        (space, present)
    }

    /// How many blocks of `runs` have key ranges holding `point`'s key.
    fn holding_ranges(
        space: &SpaceRead,
        runs: &[Vec<Arc<dyn PagedBlock>>],
        point: &[u32],
    ) -> usize {
        let key = space.curve.encode(point).unwrap();
        let bounds = runs.iter().flatten().map(|block| block.key_bounds());
        bounds
            .filter(|&(low, high)| low <= key && key <= high)
            .count()
    }

    #[test]
    fn a_point_read_of_an_absent_key_skips_blocks_by_their_filter() {
        // Goal: a get of a key no block holds reads (almost) no data page, though every
        // block's key range contains the key; present keys are all still found. Without the
        // filter each absent get reads a page of each of the 4 blocks (4,000 for 1,000 gets).
        // The bottom run's block is asked its cached page before its filter, so only the
        // blocks above it must be skipped by their filters. Method: four interleaved real
        // blocks; 1,000 gets of points with odd coordinates, counting page reads (cache
        // misses) and filter skips; then one get of an absent key all four filters rule out
        // must read no page at all.
        let dir = tempfile::tempdir().unwrap();
        let (space, present) = interleaved_blocks(dir.path());
        let spans = |block: &Arc<dyn PagedBlock>| block.key_bounds().1 - block.key_bounds().0;
        let narrow = space
            .runs
            .iter()
            .flatten()
            .find(|b| spans(b) <= Key::MAX / 8);
        assert!(narrow.is_none(), "each block spans most of the curve");
        let odd_points =
            || (0..128_u32).flat_map(|x| (0..128_u32).map(move |y| [2 * x + 1, 2 * y + 1]));
        let absent: Vec<[u32; 2]> = odd_points().step_by(13).take(1000).collect();
        let overlapping = |point: &[u32; 2]| holding_ranges(&space, &space.runs, point);
        let consulted: usize = absent.iter().map(overlapping).sum();
        assert!(
            consulted > 3000,
            "{consulted} block key ranges hold the absent keys"
        );
        let above: &[_] = &space.runs[..space.runs.len() - 1];
        let above_bottom: usize = absent
            .iter()
            .map(|point| holding_ranges(&space, above, point))
            .sum();
        for point in &absent {
            assert_eq!(space.get_at(point, Revision(u64::MAX)).unwrap(), None);
        }
        let reads = space.cache.counts().misses;
        let skips = space.stats.snapshot(&space.cache.counts()).filter_skips;
        println!("{reads} page reads, {skips} filter skips of {consulted} blocks");
        assert!(reads < 100, "{reads} page reads for 1,000 absent keys");
        assert!(
            skips + 100 > above_bottom as u64,
            "{skips} of the {above_bottom} blocks above the bottom run skipped"
        );
        let all_rule_out = odd_points()
            .find(|point| {
                let key = space.curve.encode(point).unwrap();
                overlapping(point) == 4
                    && space
                        .runs
                        .iter()
                        .flatten()
                        .all(|block| !block.may_hold(key))
            })
            .unwrap();
        let before = space.cache.counts();
        assert_eq!(
            space.get_at(&all_rule_out, Revision(u64::MAX)).unwrap(),
            None
        );
        assert_eq!(
            space.history(&all_rule_out, Revision(u64::MAX)).unwrap(),
            []
        );
        assert_eq!(
            space.cache.counts().misses,
            before.misses,
            "no page read for {all_rule_out:?}"
        );
        for (index, point) in present.iter().enumerate().step_by(7) {
            let revision = Revision(u64::try_from(index).unwrap() + 1);
            let expected = Some((revision, revision.0.to_le_bytes().to_vec().into()));
            assert_eq!(space.get_at(point, Revision(u64::MAX)).unwrap(), expected);
        }
    }

    fn model_latest(model: &ModelMap, key: Key, at: Revision) -> Option<(Revision, Bytes)> {
        let (found, value) = model
            .range((key, Reverse(at))..=(key, Reverse(Revision(0))))
            .next()?;
        value.clone().map(|value| (found.1.0, value))
    }

    #[test]
    fn reads_agree_with_a_model_across_blocks_and_memtables() {
        // Goal: get_at, history, query and scan equal a model over real blocks and memtables.
        // Method: random versions on a small grid; every point read at several revisions;
        // random boxes compared with the model filtered to the box.
        let seed = 0xb0c5_u64;
        let dir = tempfile::tempdir().unwrap();
        let (space, model) = random_space(dir.path(), seed);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 1);
        for at in [0_u64, 1, 299, 300, 301, 900, 1200, 1499, 1500, u64::MAX] {
            let at = Revision(at);
            for point in (0..32_u32)
                .flat_map(|x| (0..32_u32).map(move |y| [x, y]))
                .step_by(3)
            {
                let key = space.curve.encode(&point).unwrap();
                assert_eq!(
                    space.get_at(&point, at).unwrap(),
                    model_latest(&model, key, at),
                    "seed {seed} {point:?} at {at:?}"
                );
                let history: Vec<(Revision, Option<Bytes>)> = model
                    .range((key, Reverse(at))..=(key, Reverse(Revision(0))))
                    .map(|((_, revision), value)| (revision.0, value.clone()))
                    .collect();
                assert_eq!(space.history(&point, at).unwrap(), history);
            }
            for _ in 0..5 {
                let (x, y) = (rng.gen_range(0..32_u32), rng.gen_range(0..32_u32));
                let (w, h) = (rng.gen_range(0..32 - x), rng.gen_range(0..32 - y));
                let query_box = QueryBox::new(vec![x, y], vec![x + w, y + h]).unwrap();
                let found: Vec<_> = space
                    .query(&query_box, at)
                    .unwrap()
                    .map(|entry| {
                        entry.map(|entry| (entry.point.to_vec(), entry.revision, entry.value))
                    })
                    .collect::<Result<_>>()
                    .unwrap();
                let mut expected = Vec::new();
                let mut keys: Vec<Key> = model.keys().map(|(key, _)| *key).collect();
                keys.dedup();
                for key in keys {
                    let mut point = vec![0; 2];
                    space.curve.decode(key, &mut point).unwrap();
                    if let (true, Some((revision, value))) =
                        (query_box.contains(&point), model_latest(&model, key, at))
                    {
                        expected.push((point, revision, value));
                    }
                }
                assert_eq!(found, expected, "seed {seed} box {query_box:?} at {at:?}");
            }
            let scanned = space.scan(at).count();
            let live = model
                .keys()
                .map(|(key, _)| *key)
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .filter(|&key| model_latest(&model, key, at).is_some())
                .count();
            assert_eq!(scanned, live);
        }
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        // Goal: wrong dims and out-of-range coordinates are typed errors, before any I/O.
        // Method: a 2-D × 5-bit space given a 3-D point, a too-large coordinate and a 3-D box.
        let dir = tempfile::tempdir().unwrap();
        let (space, _) = random_space(dir.path(), 7);
        assert!(matches!(
            space.get_at(&[1, 2, 3], Revision(5)),
            Err(Error::InvalidPoint { .. })
        ));
        assert!(matches!(
            space.history(&[32, 0], Revision(5)),
            Err(Error::InvalidPoint { .. })
        ));
        let wrong_dims = QueryBox::new(vec![0, 0, 0], vec![1, 1, 1]).unwrap();
        assert!(matches!(
            space.query(&wrong_dims, Revision(5)),
            Err(Error::InvalidBox { .. })
        ));
        let too_big = QueryBox::new(vec![0, 0], vec![1, 40]).unwrap();
        assert!(matches!(
            space.query(&too_big, Revision(5)),
            Err(Error::InvalidBox { .. })
        ));
    }
}
