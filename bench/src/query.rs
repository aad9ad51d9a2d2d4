//! Box queries of the `query` workload (`--rw query`): the shape of its boxes ([`BoxShape`]: a
//! hypercube sized so that a box holds `--query-records` preloaded records on average), random
//! boxes inside the space, and the brute-force check that the engine's answers are exact.
//!
//! Sizing: the key set's points are spread uniformly (`points.rs`), so a box whose side is the
//! fraction `f` of every dimension holds `keys × f^dims` records on average. The side is the
//! smallest whole number of coordinates for which that reaches the target, capped at the
//! domain (`2^bits`): a target above the key set gives the whole space.
//!
//! Invariants: every box lies inside the domain (`lo + side − 1 ≤ 2^bits − 1`) and its side is
//! `1..=2^bits`. Verification runs before the timed loop and is not measured: for each of
//! [`VERIFIED_QUERIES`] sample boxes (the first centred on a preloaded point, so it is never
//! empty; the rest drawn like the timed ones) the sorted points the engine returns must equal
//! the brute-force filter of the whole preloaded key set, deduplicated; a difference is
//! [`BenchError::QueryMismatch`].
//!
//! Over-read: a query reads every record whose Hilbert key lies in the box's key ranges (at
//! most [`QUERY_RANGE_BUDGET`] of them, merged across the smallest gaps: docs/design.md §6) and
//! drops those outside the box. The engine's stats do not count those reads, so the checker
//! measures the ratio on its sample from the key set: records inside the ranges / records inside
//! the box.

use infinitedb::keyspace::{Curve, KeyRange, KeyspaceError, QueryBox};
use infinitedb::{Db, SpaceId};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{BenchError, Result};
use crate::points::Points;
use infinitedb::Readable;

/// Records a box holds on average unless `--query-records` says otherwise.
pub const QUERY_RECORDS_DEFAULT: u64 = 1000;

/// Key ranges a box is cut into: the engine's documented default
/// (`Options::query_range_budget`), set explicitly so the over-read check cuts boxes the same way.
pub const QUERY_RANGE_BUDGET: usize = 64;

/// Boxes checked against the brute-force filter before the timed loop.
pub const VERIFIED_QUERIES: u32 = 4;

/// Seed of the verification sample's boxes (the timed threads use their own seeds).
const VERIFY_SEED: u64 = 0x0b0c_5eed;

/// The widest coordinate the workload supports: coordinates are `u32`.
const BITS_MAX: u32 = 32;

/// The boxes of a query job: hypercubes of `side` coordinates per dimension of a `dims ×
/// bits` space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoxShape {
    dims: u32,
    bits: u32,
    side: u64,
}

impl BoxShape {
    /// Boxes that hold `records` of `keys` uniformly spread points on average.
    ///
    /// # Errors
    /// [`BenchError::InvalidJob`] when `dims` is 0, `bits` is not `1..=32`, or `keys` or
    /// `records` is 0.
    pub fn for_records(dims: u32, bits: u32, keys: u64, records: u64) -> Result<BoxShape> {
        if dims == 0 {
            return Err(BenchError::invalid("--rw query needs --dims >= 1"));
        }
        if !(1..=BITS_MAX).contains(&bits) {
            return Err(BenchError::invalid("--rw query needs --bits 1..=32"));
        }
        if keys == 0 || records == 0 {
            return Err(BenchError::invalid(
                "--rw query needs --keys and --query-records >= 1",
            ));
        }
        let domain = 1u64 << bits;
        // The smallest side whose expected count reaches `records` (binary search: the count
        // grows with the side).
        let (mut low, mut high) = (1u64, domain);
        while low < high {
            let middle = low + (high - low) / 2;
            if expected_records(dims, domain, middle, keys) >= records as f64 {
                high = middle;
            } else {
                low = middle + 1;
            }
        }
        debug_assert!((1..=domain).contains(&low), "the side fits the domain");
        Ok(BoxShape {
            dims,
            bits,
            side: low,
        })
    }

    /// Coordinates per side.
    pub fn side(&self) -> u64 {
        self.side
    }

    /// The side as a fraction of each dimension's domain.
    pub fn side_fraction(&self) -> f64 {
        self.side as f64 / self.domain() as f64
    }

    /// Records of `keys` uniformly spread points a box holds on average.
    pub fn expected_records(&self, keys: u64) -> f64 {
        expected_records(self.dims, self.domain(), self.side, keys)
    }

    /// A box placed uniformly at random inside the domain.
    ///
    /// # Errors
    /// [`BenchError::Keyspace`] (never for a shape made by [`BoxShape::for_records`]).
    pub fn random_box(&self, random: &mut impl Rng) -> Result<QueryBox> {
        let lo_max = self.domain() - self.side;
        let lo: Vec<u64> = (0..self.dims)
            .map(|_| random.gen_range(0..=lo_max))
            .collect();
        self.box_at(&lo)
    }

    /// The box centred on `point` as far as the domain allows (it always contains `point`).
    ///
    /// # Errors
    /// [`BenchError::Keyspace`] when `point` has the wrong number of coordinates.
    pub fn box_around(&self, point: &[u32]) -> Result<QueryBox> {
        if point.len() != self.dims as usize {
            return Err(KeyspaceError::WrongDimensions {
                expected: self.dims,
                found: point.len(),
            }
            .into());
        }
        let lo_max = self.domain() - self.side;
        let lo: Vec<u64> = point
            .iter()
            .map(|&coordinate| {
                u64::from(coordinate)
                    .saturating_sub(self.side / 2)
                    .min(lo_max)
            })
            .collect();
        self.box_at(&lo)
    }

    fn domain(&self) -> u64 {
        1u64 << self.bits
    }

    /// The box from `lo` spanning `side` coordinates in every dimension.
    fn box_at(&self, lo: &[u64]) -> Result<QueryBox> {
        let mut lo_coordinates = Vec::with_capacity(lo.len());
        let mut hi_coordinates = Vec::with_capacity(lo.len());
        for &low in lo {
            debug_assert!(low + self.side <= self.domain(), "the box fits the domain");
            lo_coordinates.push(coordinate(low)?);
            hi_coordinates.push(coordinate(low + self.side - 1)?);
        }
        Ok(QueryBox::new(lo_coordinates, hi_coordinates)?)
    }
}

/// `keys × (side / domain)^dims`.
fn expected_records(dims: u32, domain: u64, side: u64, keys: u64) -> f64 {
    let fraction = side as f64 / domain as f64;
    keys as f64 * fraction.powi(i32::try_from(dims).unwrap_or(i32::MAX))
}

/// A box bound as a coordinate (at most `2^32 − 1` for a shape of at most 32 bits).
fn coordinate(value: u64) -> Result<u32> {
    u32::try_from(value)
        .map_err(|_| BenchError::invalid(format!("box coordinate {value} does not fit 32 bits")))
}

/// What the brute-force filter finds for one box.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Expected {
    /// The distinct preloaded points inside the box, sorted.
    pub(crate) inside: Vec<Vec<u32>>,
    /// The distinct preloaded points whose keys lie in the box's key ranges.
    pub(crate) in_ranges: u64,
}

/// Filters the points of keys `0..keys` by `query_box` and by `ranges` (sorted, disjoint).
///
/// # Errors
/// [`BenchError::Keyspace`] when a point does not fit `curve` (the job's shape is wrong).
pub(crate) fn brute_force(
    points: &Points,
    keys: u64,
    curve: &Curve,
    query_box: &QueryBox,
    ranges: &[KeyRange],
) -> Result<Expected> {
    debug_assert!(ranges.windows(2).all(|pair| pair[0].last < pair[1].first));
    let mut inside = Vec::new();
    let mut in_ranges = Vec::new();
    let mut point = Vec::new();
    for key in 0..keys {
        points.point(key, &mut point);
        let curve_key = curve.encode(&point)?;
        let index = ranges.partition_point(|range| range.last < curve_key);
        if ranges
            .get(index)
            .is_some_and(|range| range.contains(curve_key))
        {
            in_ranges.push(curve_key);
        }
        if query_box.contains(&point) {
            inside.push(point.clone());
        }
    }
    inside.sort_unstable();
    inside.dedup();
    in_ranges.sort_unstable();
    in_ranges.dedup();
    debug_assert!(inside.len() <= in_ranges.len(), "ranges never under-cover");
    Ok(Expected {
        inside,
        in_ranges: in_ranges.len() as u64,
    })
}

/// Checks the engine's answer `found` (any order) against the brute-force `expected`.
///
/// # Errors
/// [`BenchError::QueryMismatch`] naming the box, both counts and the first differing point.
pub(crate) fn check(
    mut found: Vec<Vec<u32>>,
    expected: &[Vec<u32>],
    query_box: &QueryBox,
) -> Result<()> {
    found.sort_unstable();
    if found == expected {
        return Ok(());
    }
    let first_difference = found
        .iter()
        .zip(expected)
        .position(|(ours, theirs)| ours != theirs)
        .unwrap_or(found.len().min(expected.len()));
    Err(BenchError::QueryMismatch {
        query_box: format!("{:?}..={:?}", query_box.lo(), query_box.hi()),
        found: found.len() as u64,
        expected: expected.len() as u64,
        detail: format!(
            "first difference at sorted position {first_difference}: engine {:?}, brute force {:?}",
            found.get(first_difference),
            expected.get(first_difference)
        ),
    })
}

/// What the verification sample saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Verification {
    /// Boxes checked.
    pub queries: u64,
    /// Records they held (all matched).
    pub records: u64,
    /// Records of the key set inside their key ranges (read by the engine, then filtered).
    pub records_in_ranges: u64,
}

impl Verification {
    /// Records inside the key ranges per record inside the box (1.0: no over-read; 0 when
    /// the sample held no record).
    pub fn range_over_read(&self) -> f64 {
        if self.records == 0 {
            return 0.0;
        }
        self.records_in_ranges as f64 / self.records as f64
    }
}

/// Runs [`VERIFIED_QUERIES`] sample boxes of `shape` against `db` and the brute-force filter
/// of keys `0..keys`.
///
/// # Errors
/// [`BenchError::QueryMismatch`] on a wrong answer; engine and keyspace errors.
pub(crate) fn verify(
    db: &Db,
    space: SpaceId,
    points: &Points,
    keys: u64,
    shape: &BoxShape,
) -> Result<Verification> {
    debug_assert!(keys > 0, "a query job preloads keys");
    let curve = Curve::new(shape.dims, shape.bits)?;
    let mut random = ChaCha8Rng::seed_from_u64(VERIFY_SEED);
    let mut verification = Verification::default();
    let mut point = Vec::new();
    for index in 0..VERIFIED_QUERIES {
        let query_box = if index == 0 {
            points.point(random.gen_range(0..keys), &mut point);
            shape.box_around(&point)?
        } else {
            shape.random_box(&mut random)?
        };
        let ranges = curve.key_ranges(&query_box, QUERY_RANGE_BUDGET)?;
        let expected = brute_force(points, keys, &curve, &query_box, &ranges)?;
        let found = db
            .query(space, &query_box)?
            .map(|entry| entry.map(|entry| entry.point.to_vec()))
            .collect::<infinitedb::Result<Vec<_>>>()?;
        check(found, &expected.inside, &query_box)?;
        verification.queries += 1;
        verification.records += expected.inside.len() as u64;
        verification.records_in_ranges += expected.in_ranges;
    }
    Ok(verification)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_are_sized_for_the_target_and_stay_inside_the_domain() {
        // Goal: the side gives about the target count and every box fits the domain, at the
        // edges too. Method: shapes for several spaces and targets, many random boxes each.
        let mut random = ChaCha8Rng::seed_from_u64(7);
        for (dims, bits, keys, records) in [
            (2, 32, 100_000, 1000),
            (3, 21, 1_000_000, 50),
            (2, 4, 10, 3),
        ] {
            let shape = BoxShape::for_records(dims, bits, keys, records).unwrap();
            let expected = shape.expected_records(keys);
            assert!(
                expected >= records as f64,
                "{dims}x{bits}: {expected} < {records}"
            );
            if shape.side() > 1 {
                let smaller = BoxShape {
                    side: shape.side() - 1,
                    ..shape
                };
                assert!(
                    smaller.expected_records(keys) < records as f64,
                    "side is the smallest"
                );
            }
            let domain = 1u64 << bits;
            for _ in 0..1000 {
                let query_box = shape.random_box(&mut random).unwrap();
                assert_eq!(query_box.dims(), dims as usize);
                for (&lo, &hi) in query_box.lo().iter().zip(query_box.hi()) {
                    assert_eq!(u64::from(hi) - u64::from(lo) + 1, shape.side());
                    assert!(u64::from(hi) < domain);
                }
            }
        }
        let whole = BoxShape::for_records(2, 8, 10, 1_000_000).unwrap();
        assert_eq!(whole.side(), 256);
        assert_eq!(whole.side_fraction(), 1.0);
        assert!(BoxShape::for_records(2, 33, 10, 10).is_err());
        assert!(BoxShape::for_records(2, 32, 0, 10).is_err());
        assert!(BoxShape::for_records(0, 32, 10, 10).is_err());
    }

    #[test]
    fn a_box_around_a_point_contains_it_even_at_the_edges() {
        // Goal: the sample's first box always holds its preloaded point. Method: points at
        // both ends of the domain and in the middle.
        let shape = BoxShape::for_records(2, 32, 100_000, 1000).unwrap();
        for point in [
            [0, 0],
            [u32::MAX, u32::MAX],
            [7, u32::MAX - 3],
            [1 << 31, 12_345],
        ] {
            let query_box = shape.box_around(&point).unwrap();
            assert!(
                query_box.contains(&point),
                "{point:?} outside {query_box:?}"
            );
        }
        assert!(shape.box_around(&[1, 2, 3]).is_err());
    }

    #[test]
    fn brute_force_deduplicates_and_the_checker_catches_a_wrong_answer() {
        // Goal: the reference filter counts distinct points inside the box and inside the
        // ranges; the checker accepts the same set in any order and refuses a missing or extra
        // point. Method: a 2 × 4 space (256 points) with 1,000 keys, so keys collide.
        let points = Points::new(2, 4);
        let curve = Curve::new(2, 4).unwrap();
        let query_box = QueryBox::new(vec![2, 3], vec![9, 12]).unwrap();
        let ranges = curve.key_ranges(&query_box, 4).unwrap();
        let expected = brute_force(&points, 1000, &curve, &query_box, &ranges).unwrap();
        let mut by_hand = Vec::new();
        let mut point = Vec::new();
        for key in 0..1000 {
            points.point(key, &mut point);
            if (2..=9).contains(&point[0])
                && (3..=12).contains(&point[1])
                && !by_hand.contains(&point)
            {
                by_hand.push(point.clone());
            }
        }
        assert!(!by_hand.is_empty() && by_hand.len() <= 8 * 10);
        assert_eq!(expected.inside.len(), by_hand.len());
        assert!(expected.in_ranges >= by_hand.len() as u64);
        let mut shuffled = expected.inside.clone();
        shuffled.reverse();
        check(shuffled.clone(), &expected.inside, &query_box).unwrap();
        let extra = [shuffled.clone(), vec![vec![0, 0]]].concat();
        assert!(matches!(
            check(extra, &expected.inside, &query_box),
            Err(BenchError::QueryMismatch { .. })
        ));
        shuffled.pop();
        let error = check(shuffled, &expected.inside, &query_box).unwrap_err();
        assert!(error.to_string().contains("brute-force"), "{error}");
    }

    #[test]
    fn over_read_is_a_ratio_of_the_sample() {
        // Goal: the ratio divides the two counts and is 0 for an empty sample. Method: values.
        let verification = Verification {
            queries: 4,
            records: 200,
            records_in_ranges: 300,
        };
        assert_eq!(verification.range_over_read(), 1.5);
        assert_eq!(Verification::default().range_over_read(), 0.0);
    }
}
