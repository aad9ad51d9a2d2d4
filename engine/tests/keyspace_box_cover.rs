//! Box to key ranges never under-covers, respects its budget, returns sorted disjoint ranges,
//! and with an unlimited budget covers exactly the box's keys. Method: random boxes on small
//! grids, checked against every point of the grid; random small boxes on full-size curves,
//! checked against every point of the box.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

use infinitedb::keyspace::{Curve, KeyRange, QueryBox};
use proptest::prelude::*;

/// Small grids whose every point can be enumerated.
const SMALL_SHAPES: &[(u32, u32)] = &[
    (1, 6),
    (2, 4),
    (3, 3),
    (4, 2),
    (2, 5),
    (5, 2),
    (8, 1),
    (12, 1),
];

fn covered(ranges: &[KeyRange], key: u128) -> bool {
    ranges.iter().any(|range| range.contains(key))
}

fn assert_sorted_disjoint(ranges: &[KeyRange]) {
    assert!(ranges.iter().all(|r| r.first <= r.last), "{ranges:?}");
    assert!(
        ranges.windows(2).all(|pair| pair[0].last < pair[1].first),
        "{ranges:?}"
    );
}

/// A shape from `shapes` and a random box within it.
fn shape_and_box(shapes: &'static [(u32, u32)]) -> impl Strategy<Value = (Curve, QueryBox)> {
    proptest::sample::select(shapes).prop_flat_map(|(dims, bits)| {
        let max = u32::MAX >> (32 - bits);
        let bound = prop_oneof![Just(0), Just(max), 0..=max];
        let corners = proptest::collection::vec((bound.clone(), bound), dims as usize);
        corners.prop_map(move |pairs| {
            let lo = pairs.iter().map(|&(a, b)| a.min(b)).collect();
            let hi = pairs.iter().map(|&(a, b)| a.max(b)).collect();
            (
                Curve::new(dims, bits).unwrap(),
                QueryBox::new(lo, hi).unwrap(),
            )
        })
    })
}

/// Every point of the curve's grid (small grids only).
fn grid_points(curve: &Curve) -> impl Iterator<Item = Vec<u32>> + '_ {
    let used_bits = curve.dims() * curve.bits_per_dim();
    (0..1_u128 << used_bits).map(move |index| {
        let mut point = vec![0; curve.dims() as usize];
        curve
            .decode(index << (128 - used_bits), &mut point)
            .unwrap();
        point
    })
}

/// Every point of a box, by an odometer over its coordinates.
fn box_points(query: &QueryBox) -> Vec<Vec<u32>> {
    let mut points = vec![query.lo().to_vec()];
    let mut point = query.lo().to_vec();
    loop {
        let Some(dimension) = (0..point.len()).find(|&d| point[d] < query.hi()[d]) else {
            return points;
        };
        point[dimension] += 1;
        point[..dimension].copy_from_slice(&query.lo()[..dimension]);
        points.push(point.clone());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    // Goal: never under-cover, within budget, sorted and disjoint. Method: random boxes and
    // budgets on small grids; every grid point in the box must have its key in a range.
    #[test]
    fn budgeted_ranges_cover_the_box(
        (curve, query) in shape_and_box(SMALL_SHAPES),
        range_budget in 1_usize..=12,
    ) {
        let ranges = curve.key_ranges(&query, range_budget).unwrap();
        prop_assert!(!ranges.is_empty() && ranges.len() <= range_budget);
        assert_sorted_disjoint(&ranges);
        for point in grid_points(&curve).filter(|p| query.contains(p)) {
            prop_assert!(covered(&ranges, curve.encode(&point).unwrap()), "missed {:?}", point);
        }
    }

    // Goal: with an unlimited budget the cover is exact and no range lies outside the box.
    // Method: random boxes on small grids; a grid point is covered iff it is in the box, and
    // every range holds at least one key of the box.
    #[test]
    fn unlimited_ranges_are_exact((curve, query) in shape_and_box(SMALL_SHAPES)) {
        let ranges = curve.key_ranges(&query, usize::MAX).unwrap();
        assert_sorted_disjoint(&ranges);
        let mut range_has_box_key = vec![false; ranges.len()];
        for point in grid_points(&curve) {
            let key = curve.encode(&point).unwrap();
            let owner = ranges.iter().position(|range| range.contains(key));
            prop_assert_eq!(owner.is_some(), query.contains(&point), "point {:?}", point);
            if let Some(index) = owner {
                range_has_box_key[index] = true;
            }
        }
        prop_assert!(range_has_box_key.iter().all(|&has| has), "a range lies outside the box");
    }
}

/// A full-size shape and a random box of at most 4,096 points somewhere in it.
fn large_shape_and_small_box() -> impl Strategy<Value = (Curve, QueryBox, usize)> {
    let shapes: &[(u32, u32)] = &[(2, 32), (3, 21), (4, 32), (8, 16), (16, 8), (1, 32)];
    (
        proptest::sample::select(shapes),
        any::<u64>(),
        1_usize..=600,
    )
        .prop_map(|((dims, bits), seed, range_budget)| {
            let curve = Curve::new(dims, bits).unwrap();
            let mut state = seed;
            let mut next = move || {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                (state >> 32) as u32
            };
            // Extents multiply to at most 4096 points: 12 bits of extent spread over the dims.
            let mut extent_bits_left = 12_u32;
            let (mut lo, mut hi) = (Vec::new(), Vec::new());
            for _ in 0..dims {
                let extent_bits = next() % (extent_bits_left.min(bits) + 1);
                extent_bits_left -= extent_bits;
                let extent = (next() % (1 << extent_bits)).min(curve.coordinate_max());
                let start = next() % (curve.coordinate_max() - extent).saturating_add(1).max(1);
                lo.push(start);
                hi.push(start + extent);
            }
            (curve, QueryBox::new(lo, hi).unwrap(), range_budget)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    // Goal: never under-cover on full-size curves, where the cell budget cuts the recursion.
    // Method: random small boxes anywhere in 2x32 .. 16x8 spaces; every box point is covered.
    #[test]
    fn large_curves_never_under_cover((curve, query, range_budget) in large_shape_and_small_box()) {
        let ranges = curve.key_ranges(&query, range_budget).unwrap();
        prop_assert!(!ranges.is_empty() && ranges.len() <= range_budget);
        assert_sorted_disjoint(&ranges);
        for point in box_points(&query) {
            prop_assert!(covered(&ranges, curve.encode(&point).unwrap()), "missed {:?}", point);
        }
    }
}

// Goal: a box cut by every dyadic boundary still covers exactly. Method: on a 2 x 6-bit grid,
// the box 1..=62 x 31..=32 straddles the centre lines; unlimited budget, check each point.
#[test]
fn box_straddling_the_centre_is_exact() {
    let curve = Curve::new(2, 6).unwrap();
    let query = QueryBox::new(vec![1, 31], vec![62, 32]).unwrap();
    let ranges = curve.key_ranges(&query, usize::MAX).unwrap();
    let key_step = 1_u128 << (128 - 12);
    let covered_points: u128 = ranges
        .iter()
        .map(|r| (r.last - r.first + 1) / key_step)
        .sum();
    assert_eq!(covered_points, 62 * 2);
    for point in box_points(&query) {
        assert!(covered(&ranges, curve.encode(&point).unwrap()));
    }
}
