//! Regression for docs/design.md §8: "Range queries took the Hilbert keys of the box's corners as
//! bounds: up to 80% of the matching records were missing." A Hilbert curve leaves and
//! re-enters a box, so `[key(lo corner), key(hi corner)]` is not a cover of it. These tests pin
//! boxes where that interval misses points, and check that `key_ranges` covers them all.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

use infinitedb::keyspace::{Curve, QueryBox};

fn box_points(query: &QueryBox) -> Vec<Vec<u32>> {
    let mut points = vec![vec![]];
    for (&lo, &hi) in query.lo().iter().zip(query.hi()) {
        points = points
            .into_iter()
            .flat_map(|prefix| {
                (lo..=hi).map(move |c| {
                    let mut point = prefix.clone();
                    point.push(c);
                    point
                })
            })
            .collect();
    }
    points
}

/// Returns how many box points the corner interval misses, and asserts `key_ranges` misses none.
fn corner_interval_misses(curve: &Curve, query: &QueryBox, range_budget: usize) -> usize {
    let corner_keys = [
        curve.encode(query.lo()).unwrap(),
        curve.encode(query.hi()).unwrap(),
    ];
    let (first, last) = (
        corner_keys[0].min(corner_keys[1]),
        corner_keys[0].max(corner_keys[1]),
    );
    let ranges = curve.key_ranges(query, range_budget).unwrap();
    let mut missed = 0;
    for point in box_points(query) {
        let key = curve.encode(&point).unwrap();
        missed += usize::from(!(first..=last).contains(&key));
        assert!(
            ranges.iter().any(|r| r.contains(key)),
            "key_ranges missed {point:?}"
        );
    }
    missed
}

// Goal: the module doc's example. Method: on a 2 x 2-bit curve the box x 1..=3, y 1..=2 has
// corner keys 2 and 11 but also holds keys 12 and 13; every budget must still cover them.
#[test]
fn corner_keys_miss_points_of_a_small_box() {
    let curve = Curve::new(2, 2).unwrap();
    let query = QueryBox::new(vec![1, 1], vec![3, 2]).unwrap();
    for range_budget in [1, 2, 3, usize::MAX] {
        assert_eq!(corner_interval_misses(&curve, &query, range_budget), 2);
    }
}

// Goal: the loss is large on realistic boxes, and key_ranges still loses nothing. Method: a
// 3 x 10-bit box straddling the centre, where over a fifth of the points (3,858 of 13,824)
// lie outside the corner interval.
#[test]
fn corner_keys_miss_most_of_a_centred_box() {
    let curve = Curve::new(3, 10).unwrap();
    let query = QueryBox::new(vec![500, 500, 500], vec![523, 523, 523]).unwrap();
    let missed = corner_interval_misses(&curve, &query, 8);
    let total = 24 * 24 * 24;
    assert!(
        missed * 5 > total,
        "corner keys missed only {missed} of {total}"
    );
}
