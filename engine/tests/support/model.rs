//! The reference model: per space, every batch sequenced with its revision, and the check of
//! a recovered database against a prefix of that history (docs/design.md §3 "Recovery").
//!
//! Two checks, one per promise: [`check_recovered`] for a space that keeps every version
//! (`Retention::All`: record versions are counted, so nothing appears twice and nothing
//! unwritten appears), and [`check_recovered_latest`] for a space under `Retention::Latest`,
//! whose compactions drop older versions and, at the bottom, deletes: there the live state
//! (every point's value and revision, scans and box queries) must equal the model at a prefix
//! holding every acknowledged batch, each point's newest version must be the model's (or
//! gone, if that is a delete), and every version still shown must be one the model wrote.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use infinitedb::Readable;
use infinitedb::{Db, Options, QueryBox, Retention, Revision, SpaceId};
use uring_io::{SimDisk, SimStorage, Storage};

/// A point of a space.
pub type Point = Vec<u32>;
/// One record of a batch: a value, or `None` for a delete.
pub type Record = (Point, Option<Vec<u8>>);

/// One batch as the engine sequenced it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed {
    /// Its revision.
    pub revision: Revision,
    /// Its records (distinct points).
    pub records: Vec<Record>,
}

/// Every batch sequenced, per space, each space's batches in the order they were recorded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    spaces: BTreeMap<SpaceId, Vec<Committed>>,
}

impl History {
    /// Records a batch of `space` sequenced at `revision`.
    pub fn record(&mut self, space: SpaceId, revision: Revision, records: Vec<Record>) {
        let points: BTreeSet<&Point> = records.iter().map(|(point, _)| point).collect();
        assert_eq!(
            points.len(),
            records.len(),
            "a batch writes each point once"
        );
        self.spaces
            .entry(space)
            .or_default()
            .push(Committed { revision, records });
    }

    /// Adds every batch of `other`.
    pub fn extend(&mut self, other: &History) {
        for (space, batches) in &other.spaces {
            for batch in batches {
                self.record(*space, batch.revision, batch.records.clone());
            }
        }
    }

    /// Every batch as recorded: spaces in id order, each space's batches in recording order
    /// (recording them again in this order gives an equal history).
    pub fn entries(&self) -> impl Iterator<Item = (SpaceId, &Committed)> {
        self.spaces
            .iter()
            .flat_map(|(space, batches)| batches.iter().map(move |batch| (*space, batch)))
    }

    /// This history without the batch of `space` at `revision` (to build a wrong model on
    /// purpose); asserts there was one.
    pub fn without(&self, space: SpaceId, revision: Revision) -> History {
        let mut kept = History::default();
        let mut removed = 0;
        for (batch_space, batch) in self.entries() {
            if batch_space == space && batch.revision == revision {
                removed += 1;
            } else {
                kept.record(batch_space, batch.revision, batch.records.clone());
            }
        }
        assert_eq!(removed, 1, "space {space:?} has no batch at {revision:?}");
        kept
    }

    /// The spaces with at least one batch.
    pub fn spaces(&self) -> Vec<SpaceId> {
        self.spaces.keys().copied().collect()
    }

    /// The batches of `space` in revision order; asserts revisions are distinct.
    pub fn batches(&self, space: SpaceId) -> Vec<Committed> {
        let mut batches = self.spaces.get(&space).cloned().unwrap_or_default();
        batches.sort_by_key(|batch| batch.revision);
        for pair in batches.windows(2) {
            assert!(
                pair[0].revision < pair[1].revision,
                "space {space:?}: revision {:?} given to two batches",
                pair[0].revision
            );
        }
        batches
    }

    /// The highest revision of `space`, if any.
    pub fn revision_max(&self, space: SpaceId) -> Option<Revision> {
        self.spaces
            .get(&space)?
            .iter()
            .map(|batch| batch.revision)
            .max()
    }

    /// Every point `space` ever wrote.
    pub fn points(&self, space: SpaceId) -> BTreeSet<Point> {
        let batches = self
            .spaces
            .get(&space)
            .map(Vec::as_slice)
            .unwrap_or_default();
        batches
            .iter()
            .flat_map(|batch| batch.records.iter().map(|(point, _)| point.clone()))
            .collect()
    }
}

/// The latest revision and value of each point after the first `prefix` batches.
pub fn state_at(
    batches: &[Committed],
    prefix: usize,
) -> BTreeMap<Point, (Revision, Option<Vec<u8>>)> {
    let mut state = BTreeMap::new();
    for batch in &batches[..prefix] {
        for (point, value) in &batch.records {
            state.insert(point.clone(), (batch.revision, value.clone()));
        }
    }
    state
}

/// What one recovered space showed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recovered {
    /// How many batches of the history it holds (a prefix).
    pub prefix: usize,
    /// How many batches the history has.
    pub batches: usize,
    /// The highest revision in the prefix.
    pub revision_max: Option<Revision>,
    /// The highest revision of the longest prefix the space also matches (under
    /// `Retention::Latest` several prefixes can leave the same state: a batch that only
    /// deleted absent points, once compacted, shows nowhere); `revision_max` when exact.
    pub revision_max_longest: Option<Revision>,
}

/// Opens the database at `/db` on `disk` (a simulated disk after a power loss, reopened with
/// `seed`) with `options`, checks that `space` holds every batch of `history`, each once, and
/// closes it.
pub fn assert_disk_holds_all(
    disk: SimDisk,
    seed: u64,
    options: Options,
    space: SpaceId,
    history: &History,
    context: &str,
) {
    let storage: Arc<dyn Storage> = Arc::new(SimStorage::with_disk(disk, seed));
    let db = Db::open("/db", options.storage(storage)).unwrap();
    let found = check_recovered(&db, space, history, history.revision_max(space), context);
    assert_eq!(found.prefix, found.batches, "{context}");
    db.close().unwrap();
}

/// Checks that `space` of `db` equals the model at a prefix of `history` that includes every
/// batch up to revision `required` (the last one acknowledged before the crash), counting
/// record versions so nothing appears twice and nothing unwritten appears.
pub fn check_recovered(
    db: &Db,
    space: SpaceId,
    history: &History,
    required: Option<Revision>,
    context: &str,
) -> Recovered {
    let batches = history.batches(space);
    let versions = db.space_stats(space).unwrap().records();
    let prefix = prefix_with_versions(&batches, versions).unwrap_or_else(|| {
        panic!(
            "{context}: space {space:?} holds {versions} record versions, which is no batch \
             boundary of its {} batches (a torn batch, a duplicate or an unwritten record)",
            batches.len()
        )
    });
    let required_prefix = required.map_or(0, |revision| {
        batches
            .iter()
            .take_while(|batch| batch.revision <= revision)
            .count()
    });
    assert!(
        prefix >= required_prefix,
        "{context}: space {space:?} recovered {prefix} batches but {required_prefix} were \
         acknowledged (up to revision {required:?}): acknowledged writes lost"
    );
    let state = state_at(&batches, prefix);
    let context = format!(
        "{context}: space {space:?} after prefix {prefix}/{}",
        batches.len()
    );
    for point in history.points(space) {
        check_point(db, space, &point, state.get(&point), &context);
    }
    check_scan_and_box(db, space, &state, &context);
    let revision_max = prefix.checked_sub(1).map(|last| batches[last].revision);
    Recovered {
        prefix,
        batches: batches.len(),
        revision_max,
        revision_max_longest: revision_max,
    }
}

/// Checks that every batch of several spaces (a revision `history` records in more than one
/// space) was recovered in all of its spaces or in none: `recovered` says, per space, up to
/// which revision its prefix goes.
pub fn check_spanning_atomic(
    history: &History,
    recovered: &BTreeMap<SpaceId, Recovered>,
    context: &str,
) {
    let mut spaces_of: BTreeMap<Revision, Vec<SpaceId>> = BTreeMap::new();
    for (space, batch) in history.entries() {
        spaces_of.entry(batch.revision).or_default().push(space);
    }
    for (revision, spaces) in spaces_of.iter().filter(|(_, spaces)| spaces.len() > 1) {
        // Per space: whether a prefix it matches holds the batch, and whether one lacks it.
        let included: Vec<(SpaceId, bool, bool)> = spaces
            .iter()
            .map(|space| {
                let found = recovered.get(space);
                let shortest = found.and_then(|found| found.revision_max);
                let longest = found.and_then(|found| found.revision_max_longest);
                let with = longest.is_some_and(|max| *revision <= max);
                let without = shortest.is_none_or(|max| *revision > max);
                (*space, with, without)
            })
            .collect();
        let all_with = included.iter().all(|(_, with, _)| *with);
        let all_without = included.iter().all(|(_, _, without)| *without);
        assert!(
            all_with || all_without,
            "{context}: the batch at {revision:?} across spaces was recovered in part \
             (space, a matching prefix holds it, a matching prefix lacks it): {included:?}"
        );
    }
}

/// [`check_recovered`] or [`check_recovered_latest`], as `retention` promises (`All` or
/// `Latest`; no other policy is drawn by the suite).
pub fn check_recovered_under(
    retention: Retention,
    db: &Db,
    space: SpaceId,
    history: &History,
    required: Option<Revision>,
    context: &str,
) -> Recovered {
    match retention {
        Retention::All => check_recovered(db, space, history, required, context),
        Retention::Latest => check_recovered_latest(db, space, history, required, context),
        other => panic!("{context}: the model has no check for {other:?}"),
    }
}

/// The live state a scan shows: point to revision and value.
type LiveState = BTreeMap<Point, (Revision, Vec<u8>)>;
/// One version of a point: its revision and value (`None` for a delete).
type PointVersion = (Revision, Option<Vec<u8>>);
/// A model state: each point's newest version.
type ModelState = BTreeMap<Point, PointVersion>;

/// The live points of a model state.
fn live_of(state: &ModelState) -> LiveState {
    state
        .iter()
        .filter_map(|(point, (revision, value))| Some((point.clone(), (*revision, value.clone()?))))
        .collect()
}

/// Whether a point's newest version as found fits the model's newest under `Latest`: the
/// same, or gone when the model's newest is a delete (dropped by a bottom compaction) or
/// the point was never written.
fn latest_fits(found: Option<&PointVersion>, expected: Option<&PointVersion>) -> bool {
    found == expected || (found.is_none() && expected.is_none_or(|(_, value)| value.is_none()))
}

/// Checks that `space` of `db`, under `Retention::Latest`, equals the model at a prefix of
/// `history` that includes every batch up to revision `required`: the smallest such prefix
/// whose live state (scan, with revisions) and every point's newest version fit (see
/// [`latest_fits`]); then every point's value, every version `history` still shows (each
/// must be one the model wrote at that point) and a box query.
pub fn check_recovered_latest(
    db: &Db,
    space: SpaceId,
    history: &History,
    required: Option<Revision>,
    context: &str,
) -> Recovered {
    let batches = history.batches(space);
    let required_prefix = required.map_or(0, |revision| {
        batches
            .iter()
            .take_while(|batch| batch.revision <= revision)
            .count()
    });
    let scanned: LiveState = db
        .scan(space)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            (entry.point.to_vec(), (entry.revision, entry.value.to_vec()))
        })
        .collect();
    let points = history.points(space);
    let newest = newest_versions(db, space, &points);
    let fits = |state: &ModelState| {
        live_of(state) == scanned
            && newest
                .iter()
                .all(|(point, found)| latest_fits(found.as_ref(), state.get(point)))
    };
    let prefix = (required_prefix..=batches.len())
        .find(|prefix| fits(&state_at(&batches, *prefix)))
        .unwrap_or_else(|| {
            let state = state_at(&batches, required_prefix);
            panic!(
                "{context}: space {space:?} (Retention::Latest) matches no prefix of its {} \
                 batches from the {required_prefix} acknowledged (up to revision {required:?}) \
                 on: acknowledged writes lost, a torn batch, or a dropped version back; \
                 differences from the acknowledged prefix: {}",
                batches.len(),
                live_differences(&live_of(&state), &scanned)
            )
        });
    let longest = (prefix..=batches.len())
        .rev()
        .find(|longer| fits(&state_at(&batches, *longer)))
        .unwrap_or(prefix);
    let state = state_at(&batches, prefix);
    let context = format!(
        "{context}: space {space:?} (Retention::Latest) after prefix {prefix}/{}",
        batches.len()
    );
    check_versions_written(db, space, &batches, &context);
    for point in &points {
        let value = state.get(point).and_then(|(_, value)| value.clone());
        assert_eq!(
            db.get(space, point).unwrap(),
            value.map(Into::into),
            "{context}: point {point:?}"
        );
    }
    check_scan_and_box(db, space, &state, &context);
    Recovered {
        prefix,
        batches: batches.len(),
        revision_max: prefix.checked_sub(1).map(|last| batches[last].revision),
        revision_max_longest: longest.checked_sub(1).map(|last| batches[last].revision),
    }
}

/// Each of `points`' newest version in `space` of `db`, if it has one.
fn newest_versions(
    db: &Db,
    space: SpaceId,
    points: &BTreeSet<Point>,
) -> BTreeMap<Point, Option<PointVersion>> {
    points
        .iter()
        .map(|point| {
            let versions = db.history(space, point).unwrap();
            let newest = versions
                .into_iter()
                .next()
                .map(|(revision, value)| (revision, value.map(|value| value.to_vec())));
            (point.clone(), newest)
        })
        .collect()
}

/// Every version `history` shows for a point of `batches` is one a batch wrote there.
fn check_versions_written(db: &Db, space: SpaceId, batches: &[Committed], context: &str) {
    type Written<'a> = BTreeMap<&'a Point, BTreeSet<(Revision, Option<&'a [u8]>)>>;
    let mut written: Written<'_> = BTreeMap::new();
    for batch in batches {
        for (point, value) in &batch.records {
            written
                .entry(point)
                .or_default()
                .insert((batch.revision, value.as_deref()));
        }
    }
    for (point, versions) in &written {
        let shown = db.history(space, point).unwrap();
        assert!(
            shown.windows(2).all(|pair| pair[0].0 > pair[1].0),
            "{context}: point {point:?} shows a version twice or out of order: {:?}",
            shown
                .iter()
                .map(|(revision, _)| revision)
                .collect::<Vec<_>>()
        );
        for (revision, value) in shown {
            assert!(
                versions.contains(&(revision, value.as_deref())),
                "{context}: point {point:?} shows version {revision:?} {:?}, which no batch \
                 wrote there",
                value.as_deref().map(String::from_utf8_lossy)
            );
        }
    }
}

/// Up to five points where `expected` and `found` differ, as text.
fn live_differences(expected: &LiveState, found: &LiveState) -> String {
    let points: BTreeSet<&Point> = expected.keys().chain(found.keys()).collect();
    let text = |entry: Option<&(Revision, Vec<u8>)>| {
        entry.map(|(revision, value)| {
            let shown = &value[..value.len().min(24)];
            format!("{revision:?} {}", String::from_utf8_lossy(shown))
        })
    };
    points
        .into_iter()
        .filter(|point| expected.get(*point) != found.get(*point))
        .take(5)
        .map(|point| {
            format!(
                "{point:?}: expected {:?}, found {:?}",
                text(expected.get(point)),
                text(found.get(point))
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// `get` gives the model's value and `history`'s newest version its revision and value.
fn check_point(
    db: &Db,
    space: SpaceId,
    point: &Point,
    expected: Option<&(Revision, Option<Vec<u8>>)>,
    context: &str,
) {
    let value = expected.and_then(|(_, value)| value.clone());
    let found = db.get(space, point).unwrap();
    assert!(
        found.as_deref() == value.as_deref(),
        "{context}: point {point:?}: expected {:?}, found {:?}",
        value.as_deref().map(String::from_utf8_lossy),
        found.as_deref().map(String::from_utf8_lossy),
    );
    let versions = db.history(space, point).unwrap();
    let newest = versions
        .first()
        .map(|(revision, value)| (*revision, value.as_ref().map(|value| value.to_vec())));
    assert_eq!(
        newest.as_ref(),
        expected,
        "{context}: point {point:?}: newest version and revision"
    );
}

/// A full scan and a box query return exactly the model's live points with their revisions.
fn check_scan_and_box(
    db: &Db,
    space: SpaceId,
    state: &BTreeMap<Point, (Revision, Option<Vec<u8>>)>,
    context: &str,
) {
    let live = |inside: &dyn Fn(&Point) -> bool| -> BTreeMap<Point, (Revision, Vec<u8>)> {
        state
            .iter()
            .filter(|(point, _)| inside(point))
            .filter_map(|(point, (revision, value))| {
                Some((point.clone(), (*revision, value.clone()?)))
            })
            .collect()
    };
    let collect = |query: infinitedb::Query| -> BTreeMap<Point, (Revision, Vec<u8>)> {
        query
            .map(|entry| {
                let entry = entry.unwrap();
                (entry.point.to_vec(), (entry.revision, entry.value.to_vec()))
            })
            .collect()
    };
    let scanned = collect(db.scan(space).unwrap());
    assert_eq!(scanned, live(&|_| true), "{context}: scan");
    let query_box = QueryBox::new(vec![2, 3], vec![9, 10]).unwrap();
    let boxed = collect(db.query(space, &query_box).unwrap());
    assert_eq!(
        boxed,
        live(&|point| query_box.contains(point)),
        "{context}: box query"
    );
}

/// The number of leading batches holding exactly `versions` records, if one exists.
fn prefix_with_versions(batches: &[Committed], versions: u64) -> Option<usize> {
    let mut total = 0u64;
    for (index, batch) in batches.iter().enumerate() {
        if total == versions {
            return Some(index);
        }
        total += u64::try_from(batch.records.len()).unwrap();
    }
    (total == versions).then_some(batches.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_end_on_batch_boundaries() {
        // Goal: the version count maps to a prefix only on batch boundaries. Method: three
        // batches of 1, 2, 1 records.
        let batch = |revision, count: u32| Committed {
            revision: Revision(revision),
            records: (0..count).map(|index| (vec![index], None)).collect(),
        };
        let batches = [batch(1, 1), batch(2, 2), batch(3, 1)];
        assert_eq!(prefix_with_versions(&batches, 0), Some(0));
        assert_eq!(prefix_with_versions(&batches, 1), Some(1));
        assert_eq!(prefix_with_versions(&batches, 2), None);
        assert_eq!(prefix_with_versions(&batches, 4), Some(3));
        assert_eq!(prefix_with_versions(&batches, 5), None);
    }
}
