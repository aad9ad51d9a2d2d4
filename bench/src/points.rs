//! The engine workloads' key set: key number `k` maps to a point of a `dims × bits` space
//! through a 128-bit mix of `k` cut into `dims` coordinates of `bits` bits, so writes land all
//! over the Hilbert curve, not in order.
//!
//! Invariants: the same `k` always gives the same point, and every coordinate is
//! `< 2^bits` (bits ≤ 32). Distinct keys may collide on one point (that only makes the key set
//! a little smaller); whoever counts points (the box-query checker) deduplicates.

/// Maps key numbers to points of a `dims × bits` space.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Points {
    dims: u32,
    bits: u32,
}

impl Points {
    /// The mapping into a `dims × bits` space.
    pub(crate) fn new(dims: u32, bits: u32) -> Points {
        Points { dims, bits }
    }

    /// Fills `point` with the coordinates of `key`: `dims` slices of `bits` bits of a 128-bit
    /// mix of `key`. `dims × bits ≤ 128` is the engine's rule, checked by `create_space`.
    pub(crate) fn point(&self, key: u64, point: &mut Vec<u32>) {
        let mixed = (u128::from(mix64(key)) << 64) | u128::from(mix64(key ^ 0x9E37_79B9_7F4A_7C15));
        let mask = if self.bits >= 32 {
            u128::from(u32::MAX)
        } else {
            (1u128 << self.bits) - 1
        };
        point.clear();
        for dim in 0..self.dims {
            let shift = (dim * self.bits) % 128;
            let coordinate = (mixed >> shift) & mask;
            point.push(u32::try_from(coordinate).unwrap_or(u32::MAX));
        }
    }
}

/// splitmix64's finaliser: a bijection on u64 that scatters nearby keys.
fn mix64(key: u64) -> u64 {
    let mut z = key.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_fit_the_space_and_are_stable() {
        // Goal: every coordinate is < 2^bits and a key always maps to the same point.
        // Method: many keys in a 3 × 21 space.
        let points = Points::new(3, 21);
        let (mut first, mut again) = (Vec::new(), Vec::new());
        for key in 0..10_000 {
            points.point(key, &mut first);
            points.point(key, &mut again);
            assert_eq!(first, again);
            assert_eq!(first.len(), 3);
            assert!(first.iter().all(|&coordinate| coordinate < (1 << 21)));
        }
    }
}
