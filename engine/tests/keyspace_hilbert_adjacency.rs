//! The defining Hilbert property, exhaustively on small grids: consecutive keys are
//! neighbouring cells (Manhattan distance 1) and every cell appears exactly once.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

use infinitedb::keyspace::Curve;

/// Walks every key of the curve in order and checks adjacency, uniqueness and the round trip.
fn walk_whole_curve(dims: u32, bits: u32) {
    let curve = Curve::new(dims, bits).unwrap();
    let used_bits = dims * bits;
    let cell_count = 1_usize << used_bits;
    let side = 1_usize << bits;
    let mut seen = vec![false; cell_count];
    let mut previous: Option<Vec<u32>> = None;
    let mut point = vec![0_u32; dims as usize];
    for index in 0..cell_count as u128 {
        let key = index << (128 - used_bits);
        curve.decode(key, &mut point).unwrap();
        assert_eq!(
            curve.encode(&point).unwrap(),
            key,
            "{dims}x{bits}: round trip of {index}"
        );
        let cell = point
            .iter()
            .fold(0_usize, |cell, &c| cell * side + c as usize);
        assert!(
            !seen[cell],
            "{dims}x{bits}: cell {point:?} visited twice (index {index})"
        );
        seen[cell] = true;
        if let Some(previous) = &previous {
            let distance: u32 = previous
                .iter()
                .zip(&point)
                .map(|(a, b)| a.abs_diff(*b))
                .sum();
            assert_eq!(
                distance, 1,
                "{dims}x{bits}: {previous:?} -> {point:?} at index {index}"
            );
        }
        previous = Some(point.clone());
    }
    assert!(
        seen.iter().all(|&s| s),
        "{dims}x{bits}: some cell never visited"
    );
}

// Goal: Hilbert adjacency in 2-D. Method: walk all 256 keys of a 2 x 4-bit curve.
#[test]
fn two_dims_four_bits() {
    walk_whole_curve(2, 4);
}

// Goal: Hilbert adjacency in 3-D. Method: walk all 512 keys of a 3 x 3-bit curve.
#[test]
fn three_dims_three_bits() {
    walk_whole_curve(3, 3);
}

// Goal: Hilbert adjacency in 4-D. Method: walk all 256 keys of a 4 x 2-bit curve.
#[test]
fn four_dims_two_bits() {
    walk_whole_curve(4, 2);
}

// Goal: the degenerate and larger shapes too. Method: walk 1 x 8, 5 x 2, 16 x 1 and 2 x 8.
#[test]
fn other_small_shapes() {
    for (dims, bits) in [(1, 8), (5, 2), (16, 1), (2, 8), (6, 2)] {
        walk_whole_curve(dims, bits);
    }
}
