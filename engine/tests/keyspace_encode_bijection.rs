//! Encode/decode is a bijection between valid points and top-aligned keys, at every boundary
//! of the curve shape: dims 1 and 16, bits per dimension 1 and 32, dims x bits = 128.

use infinitedb::keyspace::Curve;
use proptest::prelude::*;

/// Shapes at the limits, plus every shape that uses all 128 key bits.
const BOUNDARY_SHAPES: &[(u32, u32)] = &[
    (1, 1),
    (1, 32),
    (16, 1),
    (16, 8),
    (2, 1),
    (2, 32),
    (3, 21),
    (4, 32),
    (8, 16),
    (5, 25),
    (15, 8),
    (7, 18),
];

fn shape() -> impl Strategy<Value = (u32, u32)> {
    prop_oneof![
        proptest::sample::select(BOUNDARY_SHAPES),
        (1_u32..=16).prop_flat_map(|dims| (Just(dims), 1..=(128 / dims).min(32))),
    ]
}

/// A shape and a point of it, its coordinates biased towards 0 and the maximum.
fn shape_and_point() -> impl Strategy<Value = (u32, u32, Vec<u32>)> {
    shape().prop_flat_map(|(dims, bits)| {
        let max = u32::MAX >> (32 - bits);
        let coordinate = prop_oneof![Just(0), Just(max), 0..=max];
        (
            Just(dims),
            Just(bits),
            proptest::collection::vec(coordinate, dims as usize),
        )
    })
}

fn low_mask(curve: &Curve) -> u128 {
    let unused_bits = 128 - curve.dims() * curve.bits_per_dim();
    if unused_bits == 0 {
        0
    } else {
        u128::MAX >> (128 - unused_bits)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    // Goal: decode inverts encode, and keys are top-aligned. Method: random points of random
    // boundary shapes; round trip, and check the low 128 - dims*bits bits of the key are zero.
    #[test]
    fn decode_inverts_encode((dims, bits, point) in shape_and_point()) {
        let curve = Curve::new(dims, bits).unwrap();
        let key = curve.encode(&point).unwrap();
        prop_assert_eq!(key & low_mask(&curve), 0, "key {:#x} is not top-aligned", key);
        let mut decoded = vec![0; dims as usize];
        curve.decode(key, &mut decoded).unwrap();
        prop_assert_eq!(decoded, point);
    }

    // Goal: every top-aligned key is the key of exactly one point (encode is onto). Method:
    // random keys with the unused low bits cleared; decode to a valid point, encode it back.
    #[test]
    fn encode_inverts_decode((dims, bits) in shape(), raw_key in any::<u128>()) {
        let curve = Curve::new(dims, bits).unwrap();
        let key = raw_key & !low_mask(&curve);
        let mut point = vec![0; dims as usize];
        curve.decode(key, &mut point).unwrap();
        prop_assert!(point.iter().all(|&c| c <= curve.coordinate_max()));
        prop_assert_eq!(curve.encode(&point).unwrap(), key);
    }

    // Goal: distinct points get distinct keys. Method: pairs of random points that differ.
    #[test]
    fn distinct_points_get_distinct_keys(
        (dims, bits, first) in shape_and_point(),
        seed in any::<u64>(),
    ) {
        let curve = Curve::new(dims, bits).unwrap();
        let mut second = first.clone();
        let dimension = usize::try_from(seed % u64::from(dims)).unwrap();
        let flip = u32::try_from(seed >> 40).unwrap() | 1;
        second[dimension] = (second[dimension] ^ flip) & curve.coordinate_max();
        prop_assume!(second != first);
        prop_assert_ne!(curve.encode(&first).unwrap(), curve.encode(&second).unwrap());
    }
}

// Goal: the extreme keys exist and belong to valid points. Method: decode key 0 and the
// all-ones key (top-aligned) of every boundary shape and round-trip them.
#[test]
fn extreme_keys_round_trip() {
    for &(dims, bits) in BOUNDARY_SHAPES {
        let curve = Curve::new(dims, bits).unwrap();
        let mut point = vec![0; dims as usize];
        for key in [0, !low_mask(&curve)] {
            curve.decode(key, &mut point).unwrap();
            assert_eq!(curve.encode(&point).unwrap(), key, "{dims}x{bits}");
        }
        curve.decode(0, &mut point).unwrap();
        assert!(
            point.iter().all(|&c| c == 0),
            "key 0 is the origin for {dims}x{bits}"
        );
    }
}
