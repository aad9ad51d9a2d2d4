//! Key-order ranges and reverse iteration (docs/design.md §6 "Ranges and reverse iteration"):
//! `Db::range` and `Snapshot::range` return the live entries whose Hilbert keys lie between
//! the keys of two bound points, in key order, and every `Query` (box, range, scan) reads the
//! same entries backward with `rev()`, or from both ends mixed, each entry once. Data spread
//! over several sealed blocks and the live memtable, deletes hidden, bounds of every kind, a
//! range pinned at the revision it was made at, and n-dimensional ranges as curve stretches.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failure is a test failure"
)]

mod common;

use std::collections::BTreeMap;
use std::ops::Bound;

use infinitedb::Readable;
use infinitedb::keyspace::{Curve, QueryBox};
use infinitedb::{Batch, Db, Durability, Entry, Error, Query, SpaceId};
use rand::{Rng, SeedableRng};

/// Coordinates of the 1-D test space (`bits_per_dim` 12).
const LINE: u32 = 4096;

/// A model of a 1-D space: coordinate → live value.
type LineModel = BTreeMap<u32, Vec<u8>>;

fn open(dir: &std::path::Path) -> Db {
    let options = common::small_options()
        .durability(Durability::NoSync)
        .compaction(false);
    Db::open(dir, options).unwrap()
}

/// Four rounds of random puts and deletes on a 1-D × 12 space; the first three are sealed
/// into a block each (later rounds overwrite and delete points of earlier blocks), the last
/// stays in the memtable.
fn spread_line(db: &Db, rng: &mut impl Rng) -> (SpaceId, LineModel) {
    let space = db.create_space("line", 1, 12).unwrap();
    let mut model = LineModel::new();
    for round in 0..4_u32 {
        let mut batch = Batch::new(space);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..1500 {
            let x = rng.gen_range(0..LINE);
            if !seen.insert(x) {
                continue;
            }
            if round > 0 && rng.gen_bool(0.25) {
                batch.delete([x]);
                model.remove(&x);
            } else {
                let value = format!("{round}:{x}").into_bytes();
                batch.put([x], &value);
                model.insert(x, value);
            }
        }
        db.write(batch).unwrap();
        if round < 3 {
            db.flush(space).unwrap();
        }
    }
    assert_eq!(db.space_stats(space).unwrap().blocks(), 3);
    (space, model)
}

fn collect(query: impl Iterator<Item = infinitedb::Result<Entry>>) -> Vec<(u32, Vec<u8>)> {
    query
        .map(|entry| entry.map(|entry| (entry.point[0], entry.value.to_vec())))
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Everything `query` yields with the ends mixed at random, in front order.
fn collect_mixed(mut query: Query, rng: &mut impl Rng) -> Vec<Entry> {
    let (mut front, mut back) = (Vec::new(), Vec::new());
    loop {
        let from_front = rng.gen_bool(0.5);
        let next = if from_front {
            query.next()
        } else {
            query.next_back()
        };
        match next {
            Some(entry) if from_front => front.push(entry.unwrap()),
            Some(entry) => back.push(entry.unwrap()),
            None => break,
        }
    }
    assert!(query.next().is_none() && query.next_back().is_none());
    front.extend(back.into_iter().rev());
    front
}

/// A random bound at a random coordinate.
fn random_bound(rng: &mut impl Rng) -> Bound<[u32; 1]> {
    let x = [rng.gen_range(0..LINE)];
    match rng.gen_range(0..5) {
        0 => Bound::Unbounded,
        1 | 2 => Bound::Included(x),
        _ => Bound::Excluded(x),
    }
}

fn in_bounds(x: u32, (low, high): &(Bound<[u32; 1]>, Bound<[u32; 1]>)) -> bool {
    let above = match low {
        Bound::Included([low]) => x >= *low,
        Bound::Excluded([low]) => x > *low,
        Bound::Unbounded => true,
    };
    let below = match high {
        Bound::Included([high]) => x <= *high,
        Bound::Excluded([high]) => x < *high,
        Bound::Unbounded => true,
    };
    above && below
}

#[test]
fn line_ranges_match_the_model_forward_backward_and_mixed() {
    // Goal: a 1-D range is the coordinates between its bounds, in order, over blocks and
    // memtable, deletes hidden, whichever way it is read. Method: three sealed blocks and a
    // memtable of random puts, overwrites and deletes on 4,096 coordinates; 120 ranges with
    // random Included/Excluded/Unbounded bounds (some inverted) read forward, with `rev()`
    // and with the ends mixed, each compared with a filter over the model.
    let seed = 0x7a9e_u64;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let (space, model) = spread_line(&db, &mut rng);
    let mut non_empty = 0;
    for index in 0..120 {
        let bounds = (random_bound(&mut rng), random_bound(&mut rng));
        let expected: Vec<(u32, Vec<u8>)> = model
            .iter()
            .filter(|(x, _)| in_bounds(**x, &bounds))
            .map(|(x, value)| (*x, value.clone()))
            .collect();
        non_empty += usize::from(!expected.is_empty());
        let context = format!("seed {seed} range {index} {bounds:?}");
        assert_eq!(
            collect(db.range(space, bounds).unwrap()),
            expected,
            "{context}"
        );
        let mut backward = collect(db.range(space, bounds).unwrap().rev());
        backward.reverse();
        assert_eq!(backward, expected, "{context} rev");
        let mixed = collect_mixed(db.range(space, bounds).unwrap(), &mut rng);
        let mixed = collect(mixed.into_iter().map(Ok));
        assert_eq!(mixed, expected, "{context} mixed");
    }
    assert!(non_empty > 60, "most ranges hold entries");
    let all = collect(db.range::<[u32; 1]>(space, ..).unwrap());
    assert_eq!(all.len(), model.len());
}

#[test]
fn ranges_of_every_bound_kind_on_known_coordinates() {
    // Goal: each bound kind means what `std::ops` says, on coordinates. Method: the even
    // coordinates 0..=100 put, one sealed; spelled ranges of every kind compared with lists.
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let space = db.create_space("line", 1, 32).unwrap();
    for x in (0..=100_u32).step_by(2) {
        db.put(space, [x], &x.to_le_bytes()).unwrap();
    }
    db.flush(space).unwrap();
    db.put(space, [u32::MAX], b"last").unwrap();
    let points =
        |query: Query| -> Vec<u32> { collect(query).into_iter().map(|(x, _)| x).collect() };
    assert_eq!(
        points(db.range(space, [10]..[20]).unwrap()),
        [10, 12, 14, 16, 18]
    );
    assert_eq!(
        points(db.range(space, [10]..=[20]).unwrap()),
        [10, 12, 14, 16, 18, 20]
    );
    assert_eq!(points(db.range(space, [9]..[13]).unwrap()), [10, 12]);
    assert_eq!(
        points(db.range(space, [96]..).unwrap()),
        [96, 98, 100, u32::MAX]
    );
    assert_eq!(points(db.range(space, ..[5]).unwrap()), [0, 2, 4]);
    assert_eq!(points(db.range(space, ..=[4]).unwrap()), [0, 2, 4]);
    let excluded_low = (Bound::Excluded([10]), Bound::Included([16]));
    assert_eq!(points(db.range(space, excluded_low).unwrap()), [12, 14, 16]);
    let top = (Bound::Excluded([100]), Bound::<[u32; 1]>::Unbounded);
    assert_eq!(points(db.range(space, top).unwrap()), [u32::MAX]);
    let past_top = (Bound::Excluded([u32::MAX]), Bound::<[u32; 1]>::Unbounded);
    assert!(points(db.range(space, past_top).unwrap()).is_empty());
    assert!(points(db.range(space, ..[0]).unwrap()).is_empty());
    let reversed: Vec<u32> = collect(db.range(space, [90]..).unwrap().rev())
        .into_iter()
        .map(|(x, _)| x)
        .collect();
    assert_eq!(reversed, [u32::MAX, 100, 98, 96, 94, 92, 90]);
    let both = db.range(space, vec![0]..vec![7]).unwrap();
    let mut both = both.map(|entry| entry.unwrap().point[0]);
    assert_eq!(
        (both.next(), both.next_back(), both.next()),
        (Some(0), Some(6), Some(2))
    );
    assert_eq!(
        (both.next_back(), both.next(), both.next_back()),
        (Some(4), None, None)
    );
}

#[test]
fn empty_inverted_and_invalid_ranges() {
    // Goal: an empty or inverted range yields nothing and is no error; a bad bound point is
    // `Error::InvalidPoint`, an unknown space `Error::UnknownSpace`. Method: a 1-D × 8 space
    // holding every coordinate; ranges [x, x), (x, x], inverted, and bounds of the wrong
    // dimension or out of range, on the Db and on a snapshot.
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let space = db.create_space("byte", 1, 8).unwrap();
    for x in 0..256_u32 {
        db.put(space, [x], b"v").unwrap();
    }
    assert_eq!(db.range(space, [7]..[7]).unwrap().count(), 0);
    assert_eq!(db.range(space, [7]..=[7]).unwrap().count(), 1);
    let open_both = (Bound::Excluded([7]), Bound::Included([7]));
    assert_eq!(db.range(space, open_both).unwrap().count(), 0);
    assert_eq!(db.range(space, [9]..[3]).unwrap().count(), 0);
    assert_eq!(db.range(space, [9]..=[3]).unwrap().rev().count(), 0);
    let snapshot = db.snapshot();
    for result in [
        db.range(space, [256]..[300]),
        db.range(space, [3]..[256]),
        db.range(space, vec![1, 2]..vec![3, 4]),
        snapshot.range(space, ..=[1000]),
        // An invalid bound is an error even when the range would be empty.
        db.range(space, [300]..[3]),
    ] {
        assert!(
            matches!(result, Err(Error::InvalidPoint { .. })),
            "{result:?}"
        );
    }
    assert!(matches!(
        db.range(SpaceId(999), [0]..[1]),
        Err(Error::UnknownSpace { .. })
    ));
}

#[test]
fn a_range_reads_at_the_revision_it_was_made_at() {
    // Goal: snapshot semantics of a range (as of a query): writes, deletes and seals after a
    // Db range or a snapshot was made are invisible to it, from either end. Method: points
    // 0..200 in a block and the memtable; make a Db range and a snapshot; overwrite, delete
    // and add points, flush; read the old range forward and backward, and a snapshot range,
    // against the model before the writes, and a new range against the model after.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let space = db.create_space("line", 1, 16).unwrap();
    let mut model = LineModel::new();
    for x in 0..200_u32 {
        let value = format!("old-{x}").into_bytes();
        db.put(space, [x], &value).unwrap();
        model.insert(x, value);
        if x == 120 {
            db.flush(space).unwrap();
        }
    }
    let before: Vec<(u32, Vec<u8>)> = model.range(50..150).map(|(x, v)| (*x, v.clone())).collect();
    let forward = db.range(space, [50]..[150]).unwrap();
    let backward = db.range(space, [50]..[150]).unwrap();
    let snapshot = db.snapshot();
    for _ in 0..150 {
        let x = rng.gen_range(0..250_u32);
        if rng.gen_bool(0.4) {
            db.delete(space, [x]).unwrap();
            model.remove(&x);
        } else {
            let value = format!("new-{x}").into_bytes();
            db.put(space, [x], &value).unwrap();
            model.insert(x, value);
        }
    }
    db.flush(space).unwrap();
    assert_eq!(collect(forward), before);
    let mut read_back = collect(backward.rev());
    read_back.reverse();
    assert_eq!(read_back, before);
    assert_eq!(collect(snapshot.range(space, [50]..[150]).unwrap()), before);
    let after: Vec<(u32, Vec<u8>)> = model.range(50..150).map(|(x, v)| (*x, v.clone())).collect();
    assert_ne!(after, before);
    assert_eq!(collect(db.range(space, [50]..[150]).unwrap()), after);
}

#[test]
fn plane_ranges_are_curve_stretches_and_every_query_reverses() {
    // Goal: in 2-D a range is the stretch of the Hilbert curve between its bounds' keys (not
    // a box), and box queries and scans read backward as the reverse of forward. Method: a
    // 2-D × 6 space with random points over two blocks and the memtable; ranges between
    // random points compared with the model filtered by key; 20 random boxes and a scan read
    // forward, backward and mixed.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x2d);
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let space = db.create_space("plane", 2, 6).unwrap();
    let curve = Curve::new(2, 6).unwrap();
    let mut model: BTreeMap<u128, (Vec<u32>, Vec<u8>)> = BTreeMap::new();
    for round in 0..3 {
        let mut batch = Batch::new(space);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..900 {
            let point = vec![rng.gen_range(0..64_u32), rng.gen_range(0..64_u32)];
            let key = curve.encode(&point).unwrap();
            if !seen.insert(key) {
                continue;
            }
            if rng.gen_bool(0.2) {
                batch.delete(&point);
                model.remove(&key);
            } else {
                let value = format!("{round}:{point:?}").into_bytes();
                batch.put(&point, &value);
                model.insert(key, (point, value));
            }
        }
        db.write(batch).unwrap();
        if round < 2 {
            db.flush(space).unwrap();
        }
    }
    let reversed = |query: Query| {
        let mut read = entries_of(query.rev());
        read.reverse();
        read
    };
    for _ in 0..30 {
        let a = [rng.gen_range(0..64_u32), rng.gen_range(0..64_u32)];
        let b = [rng.gen_range(0..64_u32), rng.gen_range(0..64_u32)];
        let (low, high) = (curve.encode(&a).unwrap(), curve.encode(&b).unwrap());
        let expected: Vec<(Vec<u32>, Vec<u8>)> = model
            .range(low..=high.max(low))
            .filter(|_| low <= high)
            .map(|(_, entry)| entry.clone())
            .collect();
        assert_eq!(entries_of(db.range(space, a..=b).unwrap()), expected);
        assert_eq!(reversed(db.range(space, a..=b).unwrap()), expected);
    }
    let mut boxes: Vec<QueryBox> = (0..20)
        .map(|_| {
            let lo = vec![rng.gen_range(0..64_u32), rng.gen_range(0..64_u32)];
            let hi = vec![rng.gen_range(lo[0]..64), rng.gen_range(lo[1]..64)];
            QueryBox::new(lo, hi).unwrap()
        })
        .collect();
    boxes.push(QueryBox::new(vec![0, 0], vec![63, 63]).unwrap());
    for query_box in &boxes {
        let forward = entries_of(db.query(space, query_box).unwrap());
        assert_eq!(reversed(db.query(space, query_box).unwrap()), forward);
        let mixed = collect_mixed(db.query(space, query_box).unwrap(), &mut rng);
        assert_eq!(entries_of(mixed.into_iter().map(Ok)), forward);
    }
    let scan = entries_of(db.scan(space).unwrap());
    assert_eq!(scan.len(), model.len());
    assert_eq!(reversed(db.scan(space).unwrap()), scan);
}

fn entries_of(query: impl Iterator<Item = infinitedb::Result<Entry>>) -> Vec<(Vec<u32>, Vec<u8>)> {
    query
        .map(|entry| entry.map(|entry| (entry.point.to_vec(), entry.value.to_vec())))
        .collect::<Result<_, _>>()
        .unwrap()
}
