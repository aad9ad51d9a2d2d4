//! Model-based property test of the read path: random sequences of put, delete, batch (of one
//! space or across both), get,
//! get_at, history, query, scan, snapshot reads, flush (seal), reopen, `Db::set_retention`
//! and `Db::compact`, on the real OS backend (io_uring where available), compared after
//! every read with a `BTreeMap` model of every version the database holds. Snapshots taken
//! earlier are read again after later writes, seals, compactions and reopens and must still
//! agree with the model as it was when they were taken.
//!
//! The model applies retention the way `Db::compact` does: background compaction is off, so
//! only `Db::compact` drops versions, and it merges every block of the space at the bottom.
//! Per point, newest first: `All` keeps all, `Latest` the newest, `Versions(n)` the newest
//! `n`, `Window(n)` every version above `last_revision − n` and the newest at or below it;
//! then, for every policy but `All`, deletes at the old end of what is kept go, and a point
//! left with nothing vanishes.
//!
//! Bounded: two small spaces (2-D × 5 bits, 3-D × 3 bits) and a hot corner in each so points
//! collide, a seal every 40
//! records so data spans memtables and several blocks, 4 seeds × 500 operations. The seed is
//! printed in every assertion message; `READ_MODEL_SEED=<n>` replays one seed.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failure is a test failure"
)]

mod common;

use std::collections::BTreeMap;

use infinitedb::Readable;
use infinitedb::keyspace::{Curve, QueryBox};
use infinitedb::{Batch, Db, Retention, Revision, Snapshot, SpaceId};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Every version the database holds: (space, point) → versions, oldest first.
type History = BTreeMap<(SpaceId, Vec<u32>), Vec<(Revision, Option<Vec<u8>>)>>;

struct Case {
    seed: u64,
    rng: ChaCha8Rng,
    dir: tempfile::TempDir,
    db: Option<Db>,
    spaces: Vec<(SpaceId, Curve)>,
    /// What the database holds now: every acknowledged version less what compactions
    /// dropped.
    model: History,
    /// Each space's retention, as last set.
    retention: BTreeMap<SpaceId, Retention>,
    /// Old snapshots, each with the model as it was when it was taken.
    snapshots: Vec<(Snapshot, History)>,
    /// The highest revision acknowledged so far: a new write's revision is above it.
    last: Revision,
    compactions: u32,
    /// Versions the compactions dropped.
    dropped: u64,
}

fn options() -> infinitedb::Options {
    common::small_options()
        .seal_threshold_records(40)
        .page_cache_bytes(256 * 1024)
        .query_range_budget(6)
        .compaction(false)
}

fn pick_retention(rng: &mut ChaCha8Rng) -> Retention {
    match rng.gen_range(0..4) {
        0 => Retention::All,
        1 => Retention::Latest,
        2 => Retention::Versions(rng.gen_range(1..=3)),
        _ => Retention::Window(rng.gen_range(0..=30)),
    }
}

impl Case {
    fn new(seed: u64) -> Case {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), options()).unwrap();
        let plane = db.create_space("plane", 2, 5).unwrap();
        let cube_retention = pick_retention(&mut rng);
        let cube = db.create_space_with("cube", 3, 3, cube_retention).unwrap();
        let spaces = vec![
            (plane, Curve::new(2, 5).unwrap()),
            (cube, Curve::new(3, 3).unwrap()),
        ];
        let retention = BTreeMap::from([(plane, Retention::All), (cube, cube_retention)]);
        Case {
            seed,
            rng,
            last: db.last_revision(),
            dir,
            db: Some(db),
            spaces,
            model: History::new(),
            retention,
            snapshots: Vec::new(),
            compactions: 0,
            dropped: 0,
        }
    }

    fn db(&self) -> &Db {
        self.db.as_ref().unwrap()
    }

    fn pick_space(&mut self) -> (SpaceId, Curve) {
        let index = self.rng.gen_range(0..self.spaces.len());
        self.spaces[index]
    }

    /// Half the time a point of a small hot corner (16 points of the plane, 8 of the cube),
    /// so points collect versions for retention to cut.
    fn pick_point(&mut self, curve: &Curve) -> Vec<u32> {
        let high = if self.rng.gen_bool(0.5) {
            ((curve.coordinate_max() + 1) / 8).max(2) - 1
        } else {
            curve.coordinate_max()
        };
        (0..curve.dims())
            .map(|_| self.rng.gen_range(0..=high))
            .collect()
    }

    fn pick_revision(&mut self) -> Revision {
        let last = self.db().last_revision().0;
        Revision(self.rng.gen_range(0..=last + 1))
    }

    /// Checks that `revision`, a new write's, is above every earlier one, and remembers it.
    fn acknowledged(&mut self, revision: Revision) {
        assert!(
            revision > self.last,
            "seed {}: revision {revision:?} after {:?}",
            self.seed,
            self.last
        );
        self.last = revision;
    }

    fn record(
        &mut self,
        space: SpaceId,
        point: Vec<u32>,
        revision: Revision,
        value: Option<Vec<u8>>,
    ) {
        self.model
            .entry((space, point))
            .or_default()
            .push((revision, value));
    }

    fn write_one(&mut self) {
        let (space, curve) = self.pick_space();
        let point = self.pick_point(&curve);
        if self.rng.gen_bool(0.8) {
            let value = format!("v{}-{}", self.seed, self.rng.r#gen::<u32>()).into_bytes();
            let revision = self.db().put(space, &point, &value).unwrap();
            self.acknowledged(revision);
            self.record(space, point, revision, Some(value));
        } else {
            let revision = self.db().delete(space, &point).unwrap();
            self.acknowledged(revision);
            self.record(space, point, revision, None);
        }
    }

    /// A batch of one space, or (two times in five) of both spaces, each record's space drawn.
    fn write_batch(&mut self) {
        let (space, curve) = self.pick_space();
        let spanning = self.rng.gen_bool(0.4);
        let mut batch = Batch::new(space);
        let mut written: BTreeMap<(SpaceId, Vec<u32>), Option<Vec<u8>>> = BTreeMap::new();
        for _ in 0..self.rng.gen_range(1..12) {
            let (space, curve) = if spanning {
                self.pick_space()
            } else {
                (space, curve)
            };
            let point = self.pick_point(&curve);
            if written.contains_key(&(space, point.clone())) {
                continue;
            }
            let value = self
                .rng
                .gen_bool(0.85)
                .then(|| vec![self.rng.r#gen::<u8>(); self.rng.gen_range(0..300)]);
            match &value {
                Some(value) => batch.put_in(space, &point, value),
                None => batch.delete_in(space, &point),
            };
            written.insert((space, point), value);
        }
        let revision = self.db().write(batch).unwrap();
        self.acknowledged(revision);
        for ((space, point), value) in written {
            self.record(space, point, revision, value);
        }
    }
}

/// Drops from `model` what a `Db::compact` of `space` under `policy` drops, the database's
/// last revision being `now`; returns the points left with no version (removed from
/// `model`).
fn prune(model: &mut History, space: SpaceId, policy: Retention, now: Revision) -> Vec<Vec<u32>> {
    let mut gone = Vec::new();
    for ((_, point), versions) in model.iter_mut().filter(|((id, _), _)| *id == space) {
        // `versions` is oldest first: keep its last `keep`.
        let keep = match policy {
            Retention::All => versions.len(),
            Retention::Latest => 1,
            Retention::Versions(count) => usize::try_from(count).unwrap(),
            Retention::Window(window) => {
                let horizon = Revision(now.0.saturating_sub(window));
                let above = versions
                    .iter()
                    .rev()
                    .take_while(|(revision, _)| *revision > horizon)
                    .count();
                above + 1
            }
        };
        versions.drain(..versions.len().saturating_sub(keep));
        if policy != Retention::All {
            let deletes = versions
                .iter()
                .take_while(|(_, value)| value.is_none())
                .count();
            versions.drain(..deletes);
        }
        if versions.is_empty() {
            gone.push(point.clone());
        }
    }
    for point in &gone {
        model.remove(&(space, point.clone()));
    }
    gone
}

/// How many versions of `space` the model holds.
fn versions_in(model: &History, space: SpaceId) -> u64 {
    model
        .iter()
        .filter(|((id, _), _)| *id == space)
        .map(|(_, versions)| versions.len() as u64)
        .sum()
}

/// The model's value at `point` at `at`.
fn latest(model: &History, space: SpaceId, point: &[u32], at: Revision) -> Option<Vec<u8>> {
    let versions = model.get(&(space, point.to_vec()))?;
    versions
        .iter()
        .rev()
        .find(|(revision, _)| *revision <= at)
        .and_then(|(_, value)| value.clone())
}

/// The model's history of `point` at `at`, newest first.
fn history(
    model: &History,
    space: SpaceId,
    point: &[u32],
    at: Revision,
) -> Vec<(Revision, Option<Vec<u8>>)> {
    let versions = model
        .get(&(space, point.to_vec()))
        .cloned()
        .unwrap_or_default();
    versions
        .into_iter()
        .rev()
        .filter(|(revision, _)| *revision <= at)
        .collect()
}

/// The model's live entries of `space` in `query_box` (all of them for `None`) at `at`, in
/// Hilbert order.
fn in_box(
    model: &History,
    space: SpaceId,
    curve: &Curve,
    query_box: Option<&QueryBox>,
    at: Revision,
) -> Vec<(Vec<u32>, Vec<u8>)> {
    let mut found: Vec<(u128, Vec<u32>, Vec<u8>)> = Vec::new();
    for (space_id, point) in model.keys().filter(|(space_id, _)| *space_id == space) {
        if query_box.is_some_and(|query_box| !query_box.contains(point)) {
            continue;
        }
        if let Some(value) = latest(model, *space_id, point, at) {
            found.push((curve.encode(point).unwrap(), point.clone(), value));
        }
    }
    found.sort();
    found
        .into_iter()
        .map(|(_, point, value)| (point, value))
        .collect()
}

fn pick_box(rng: &mut ChaCha8Rng, curve: &Curve) -> QueryBox {
    let (mut lo, mut hi) = (Vec::new(), Vec::new());
    for _ in 0..curve.dims() {
        let a = rng.gen_range(0..=curve.coordinate_max());
        let b = rng.gen_range(0..=curve.coordinate_max());
        lo.push(a.min(b));
        hi.push(a.max(b));
    }
    QueryBox::new(lo, hi).unwrap()
}

impl Case {
    fn check_point_reads(&mut self) {
        let (space, curve) = self.pick_space();
        let point = self.pick_point(&curve);
        let at = self.pick_revision();
        let seed = self.seed;
        let db = self.db();
        assert_eq!(
            db.get(space, &point).unwrap(),
            latest(&self.model, space, &point, Revision(u64::MAX)).map(Into::into),
            "seed {seed} get {point:?}"
        );
        assert_eq!(
            db.get_at(space, &point, at).unwrap(),
            latest(&self.model, space, &point, at).map(Into::into),
            "seed {seed} get_at {point:?} {at:?}"
        );
        assert_eq!(
            db.history(space, &point)
                .unwrap()
                .into_iter()
                .map(|(r, v)| (r, v.map(|v| v.to_vec())))
                .collect::<Vec<_>>(),
            history(&self.model, space, &point, Revision(u64::MAX)),
            "seed {seed} history {point:?}"
        );
    }

    fn check_query(&mut self) {
        let (space, curve) = self.pick_space();
        let query_box = pick_box(&mut self.rng, &curve);
        let seed = self.seed;
        let found: Vec<(Vec<u32>, Vec<u8>)> = self
            .db()
            .query(space, &query_box)
            .unwrap()
            .map(|entry| entry.map(|entry| (entry.point.to_vec(), entry.value.to_vec())))
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            found,
            in_box(
                &self.model,
                space,
                &curve,
                Some(&query_box),
                Revision(u64::MAX)
            ),
            "seed {seed} query {query_box:?}"
        );
        if self.rng.gen_bool(0.2) {
            let scanned: Vec<(Vec<u32>, Vec<u8>)> = self
                .db()
                .scan(space)
                .unwrap()
                .map(|entry| entry.map(|entry| (entry.point.to_vec(), entry.value.to_vec())))
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(
                scanned,
                in_box(&self.model, space, &curve, None, Revision(u64::MAX)),
                "seed {seed} scan"
            );
        }
    }

    fn check_snapshot(&mut self) {
        if self.snapshots.is_empty() {
            return;
        }
        let index = self.rng.gen_range(0..self.snapshots.len());
        let (space, curve) = self.pick_space();
        let point = self.pick_point(&curve);
        let query_box = pick_box(&mut self.rng, &curve);
        let (seed, (snapshot, model)) = (self.seed, &self.snapshots[index]);
        let at = snapshot.revision();
        assert_eq!(
            snapshot.get(space, &point).unwrap(),
            latest(model, space, &point, at).map(Into::into),
            "seed {seed} snapshot {at:?} get {point:?}"
        );
        assert_eq!(
            snapshot
                .history(space, &point)
                .unwrap()
                .into_iter()
                .map(|(r, v)| (r, v.map(|v| v.to_vec())))
                .collect::<Vec<_>>(),
            history(model, space, &point, at),
            "seed {seed} snapshot history"
        );
        let found: Vec<(Vec<u32>, Vec<u8>)> = snapshot
            .query(space, &query_box)
            .unwrap()
            .map(|entry| entry.map(|entry| (entry.point.to_vec(), entry.value.to_vec())))
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            found,
            in_box(model, space, &curve, Some(&query_box), at),
            "seed {seed} snapshot {at:?} query {query_box:?}"
        );
    }

    fn take_snapshot(&mut self) {
        let snapshot = self.db().snapshot();
        assert_eq!(
            snapshot.revision(),
            self.db().last_revision(),
            "seed {}: one writer, so everything is visible",
            self.seed
        );
        if self.snapshots.len() >= 4 {
            self.snapshots.remove(0);
        }
        self.snapshots.push((snapshot, self.model.clone()));
    }

    /// Every space holds as many versions as the model says, and keeps its retention.
    fn check_spaces(&self, when: &str) {
        let seed = self.seed;
        for (space, _) in &self.spaces {
            assert_eq!(
                self.db().space_stats(*space).unwrap().records(),
                versions_in(&self.model, *space),
                "seed {seed} versions of {space:?} {when}"
            );
            assert_eq!(
                self.db().retention(*space).unwrap(),
                self.retention[space],
                "seed {seed} retention of {space:?} {when}"
            );
        }
    }

    fn reopen(&mut self) {
        self.db.take().unwrap().close().unwrap();
        self.db = Some(Db::open(self.dir.path(), options()).unwrap());
        assert_eq!(
            self.db().last_revision(),
            self.last,
            "seed {}: reopen recovers the last revision",
            self.seed
        );
        self.check_spaces("after reopen");
    }

    fn set_retention(&mut self) {
        let (space, _) = self.pick_space();
        let policy = pick_retention(&mut self.rng);
        self.db().set_retention(space, policy).unwrap();
        self.retention.insert(space, policy);
        assert_eq!(self.db().retention(space).unwrap(), policy);
    }

    /// `Db::compact` of one space, the model pruned the same way, then every point of the
    /// space (and every point the compaction removed) checked.
    fn compact(&mut self) {
        let (space, curve) = self.pick_space();
        let seed = self.seed;
        let policy = self.retention[&space];
        let now = self.db().last_revision();
        self.db().compact(space).unwrap();
        assert_eq!(
            self.db().last_revision(),
            now,
            "seed {seed}: compact writes nothing"
        );
        let before = versions_in(&self.model, space);
        let gone = prune(&mut self.model, space, policy, now);
        self.compactions += 1;
        self.dropped += before - versions_in(&self.model, space);
        let stats = self.db().space_stats(space).unwrap();
        assert_eq!(
            (stats.levels[0].blocks, stats.live_tail_records),
            (0, 0),
            "seed {seed}: compact leaves no level-0 block and no tail: {stats:?}"
        );
        assert_eq!(
            stats.block_records(),
            versions_in(&self.model, space),
            "seed {seed}: {policy:?} at {now:?} keeps the model's versions: {stats:?}"
        );
        self.check_space(space, &curve, &gone);
    }

    /// Every read of `space` agrees with the model: history and get_at at each version's
    /// revision and the one before for every point, get_at at every revision for one point,
    /// a scan, and nothing at the points in `gone`.
    fn check_space(&mut self, space: SpaceId, curve: &Curve, gone: &[Vec<u32>]) {
        let (seed, db, model) = (self.seed, self.db.as_ref().unwrap(), &self.model);
        let everywhere = Revision(u64::MAX);
        for ((_, point), versions) in model.iter().filter(|((id, _), _)| *id == space) {
            assert_eq!(
                db.history(space, point)
                    .unwrap()
                    .into_iter()
                    .map(|(r, v)| (r, v.map(|v| v.to_vec())))
                    .collect::<Vec<_>>(),
                history(model, space, point, everywhere),
                "seed {seed} history {point:?} after compact"
            );
            for at in versions
                .iter()
                .flat_map(|(revision, _)| [Revision(revision.0.saturating_sub(1)), *revision])
            {
                assert_eq!(
                    db.get_at(space, point, at).unwrap(),
                    latest(model, space, point, at).map(Into::into),
                    "seed {seed} get_at {point:?} {at:?} after compact"
                );
            }
        }
        for point in gone {
            assert_eq!(
                db.history(space, point).unwrap(),
                Vec::new(),
                "seed {seed} {point:?} is gone after compact"
            );
        }
        let point = self.pick_point(curve);
        let db = self.db();
        for at in 0..=db.last_revision().0 + 1 {
            assert_eq!(
                db.get_at(space, &point, Revision(at)).unwrap(),
                latest(&self.model, space, &point, Revision(at)).map(Into::into),
                "seed {seed} get_at {point:?} {at} after compact"
            );
        }
        let scanned: Vec<(Vec<u32>, Vec<u8>)> = db
            .scan(space)
            .unwrap()
            .map(|entry| entry.map(|entry| (entry.point.to_vec(), entry.value.to_vec())))
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            scanned,
            in_box(&self.model, space, curve, None, everywhere),
            "seed {seed} scan after compact"
        );
    }

    fn step(&mut self) {
        match self.rng.gen_range(0..100) {
            0..30 => self.write_one(),
            30..40 => self.write_batch(),
            40..55 => self.check_point_reads(),
            55..70 => self.check_query(),
            70..85 => self.check_snapshot(),
            85..90 => self.take_snapshot(),
            90..94 => {
                let (space, _) = self.pick_space();
                self.db().flush(space).unwrap();
            }
            94..97 => self.compact(),
            97..98 => self.set_retention(),
            _ => self.reopen(),
        }
    }
}

#[test]
fn random_operations_agree_with_the_model() {
    // Goal: every read (latest, at a revision, history, box, scan, from old snapshots) equals
    // the model, across seals, retention changes, compactions and reopens. Method: seeded
    // random operation sequences.
    let seeds: Vec<u64> = match std::env::var("READ_MODEL_SEED") {
        Ok(seed) => vec![seed.parse().unwrap()],
        Err(_) => vec![1, 2, 3, 0xdead_beef],
    };
    for seed in seeds {
        let mut case = Case::new(seed);
        for _ in 0..500 {
            case.step();
        }
        case.reopen();
        let snapshots = std::mem::take(&mut case.snapshots);
        for (snapshot, model) in &snapshots {
            let at = snapshot.revision();
            for (space, point) in model.keys() {
                assert_eq!(
                    snapshot.get(*space, point).unwrap(),
                    latest(model, *space, point, at).map(Into::into),
                    "seed {seed} old snapshot {at:?}"
                );
            }
            for (space, point) in case.model.keys() {
                assert_eq!(
                    case.db().get_at(*space, point, at).unwrap(),
                    latest(&case.model, *space, point, at).map(Into::into),
                    "seed {seed} get_at {at:?} after reopen"
                );
            }
        }
        eprintln!(
            "seed {seed}: {} points, {} versions, last revision {:?}, {} compactions dropped {} versions",
            case.model.len(),
            case.model.values().map(Vec::len).sum::<usize>(),
            case.db().last_revision(),
            case.compactions,
            case.dropped
        );
    }
}
