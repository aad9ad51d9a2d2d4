//! Box to key ranges: the Hilbert key intervals that cover every point of a `QueryBox`.
//!
//! Owns `KeyRange` and `Curve::key_ranges` (docs/design.md §6, "Queries"). The contract: every
//! point of the box has its key in some returned range (never under-cover), there are at most
//! `range_budget` ranges (>= 1), sorted ascending, disjoint and not touching.
//!
//! Why not the corner keys: a Hilbert curve leaves and re-enters a box, so the keys of its
//! lowest and highest corners bound nothing (docs/design.md §8: a query that used them missed up to
//! 80% of the matching records). In the example below, the corners (1,1) and (3,2) have keys 2
//! and 11, while the box also holds keys 12 and 13.
//!
//! # Algorithm
//! 1. A dyadic cell at `level` is the set of points sharing the top `level` bits of every
//!    coordinate: a cube of side `2^(bits_per_dim - level)`. Its keys are exactly those sharing
//!    the top `level * dims` key bits of any of its points (the nesting invariant of
//!    `curve.rs`), so its interval is computed by encoding its lowest corner and masking:
//!    no point is enumerated.
//! 2. Start from the root cell (the whole space) and go breadth first, one level at a time.
//!    A cell inside the box emits its exact interval; a cell disjoint from the box is dropped;
//!    a cell that overlaps partly is refined into the children that meet the box (per
//!    dimension, the halves that meet the box's extent: at most `2^dims` children).
//! 3. Budget pressure: a decomposition may visit at most `range_budget * 64` cells, clamped to
//!    `CELLS_VISITED_MIN..=CELLS_VISITED_MAX` (1,024..=65,536). A partial cell whose children
//!    would exceed that emits its whole interval (over-cover), so the work is bounded whatever
//!    the box. Point cells (level = `bits_per_dim`) are never partial, so when the budget is
//!    not hit the cover is exact.
//! 4. Sort the intervals, merge touching ones, then, while over `range_budget`, merge across the
//!    smallest gaps. Closing the smallest `n - range_budget` gaps is the least over-cover of
//!    any cover of those intervals with `range_budget` ranges; refining further never makes
//!    the result worse, it only costs work.
//!
//! # Worked example: 2 dims x 2 bits, box x in 1..=3, y in 1..=2
//! ```text
//!  keys (index, before top alignment)     box points and their keys
//!  y=3   5  6  9 10                        (1,2)=7  (2,2)=8  (3,2)=11
//!  y=2   4  7  8 11                        (1,1)=2  (2,1)=13 (3,1)=12
//!  y=1   3  2 13 12
//!  y=0   0  1 14 15
//!       x=0  1  2  3
//! ```
//! - Level 0: the root (keys 0..=15) overlaps partly.
//! - Level 1: the four 2x2 quadrants, keys 0..=3, 4..=7, 8..=11, 12..=15, all overlap partly.
//! - Level 2: only the children meeting the box are visited: 2, 7, 8, 11, 13 and 12, all
//!   single points inside the box.
//! - Merged: `[2,2] [7,8] [11,13]`, exactly the box. With a budget of 2 the gap 9..=10 (2
//!   keys) is closed rather than 3..=6 (4 keys): `[2,2] [7,13]`, over-reading keys 9 and 10.

use super::curve::{Curve, DIMS_MAX_USIZE, KEY_BITS};
use super::error::KeyspaceError;
use super::query_box::QueryBox;

/// The fewest cells a decomposition may visit, whatever the budget: enough to settle the ends
/// of a one-range cover of a small box.
pub const CELLS_VISITED_MIN: usize = 1 << 10;
/// Cells a decomposition may visit per range of budget: more ranges are worth more work.
pub const CELLS_VISITED_PER_RANGE: usize = 64;
/// The most cells a decomposition visits: the hard bound on the work of `Curve::key_ranges`.
/// Measured at about 0.06 to 0.09 us of CPU per cell in release on the loaded 2-core dev
/// machine (table-driven encode of each settled cell's corner): budget 8 takes about 0.1 ms
/// of CPU on a partial box, budget 512 about 4 to 6 ms.
pub const CELLS_VISITED_MAX: usize = 1 << 16;

const _: () = assert!(CELLS_VISITED_MIN <= CELLS_VISITED_MAX);

/// An inclusive range of keys, `first..=last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyRange {
    /// The first key in the range.
    pub first: u128,
    /// The last key in the range (inclusive).
    pub last: u128,
}

impl KeyRange {
    /// Whether `key` lies in `first..=last`.
    #[must_use]
    pub fn contains(&self, key: u128) -> bool {
        self.first <= key && key <= self.last
    }

    /// The number of `u128` values in the range, saturating at `u128::MAX` for the whole space.
    /// A curve's keys are `2^(128 - dims * bits_per_dim)` apart: divide by that for points.
    #[must_use]
    pub fn key_count(&self) -> u128 {
        debug_assert!(self.first <= self.last);
        (self.last - self.first).saturating_add(1)
    }
}

impl Curve {
    /// Key ranges covering every point of `query`: never under-cover, at most `range_budget`
    /// ranges, sorted ascending and disjoint (and never adjacent: touching ranges are merged).
    ///
    /// The box is decomposed into dyadic cells whose key intervals are exact; when that takes
    /// more than `range_budget` ranges, the ranges are merged across the smallest gaps, so the
    /// ranges then also cover some keys outside the box (over-cover; filter the results). The
    /// work is bounded by `CELLS_VISITED_MAX` cells; see the module doc for the algorithm.
    ///
    /// ```
    /// use infinitedb::keyspace::{Curve, QueryBox};
    /// let curve = Curve::new(2, 4)?;
    /// let query = QueryBox::new(vec![1, 2], vec![6, 9])?;
    /// let ranges = curve.key_ranges(&query, 4)?;
    /// assert!(!ranges.is_empty() && ranges.len() <= 4);
    /// let key = curve.encode(&[6, 2])?;
    /// assert!(ranges.iter().any(|range| range.contains(key)));
    /// # Ok::<(), infinitedb::keyspace::KeyspaceError>(())
    /// ```
    ///
    /// # Errors
    /// `ZeroRangeBudget` when `range_budget == 0`; `WrongDimensions` when the box's dims differ
    /// from the curve's; `CoordinateOutOfRange` when a bound is `>= 2^bits_per_dim`.
    pub fn key_ranges(
        &self,
        query: &QueryBox,
        range_budget: usize,
    ) -> Result<Vec<KeyRange>, KeyspaceError> {
        if range_budget == 0 {
            return Err(KeyspaceError::ZeroRangeBudget);
        }
        self.check_box(query)?;
        let cells_visited_max = range_budget
            .saturating_mul(CELLS_VISITED_PER_RANGE)
            .clamp(CELLS_VISITED_MIN, CELLS_VISITED_MAX);
        let decomposition = Decomposition::new(*self, query);
        let ranges = decomposition.run(cells_visited_max);
        let ranges = merge_smallest_gaps(ranges, range_budget);
        debug_assert!(!ranges.is_empty() && ranges.len() <= range_budget);
        debug_assert!(ranges.windows(2).all(|pair| pair[0].last < pair[1].first));
        Ok(ranges)
    }
}

/// A dyadic cell: the points whose top `level` bits of each coordinate equal those of `lo`.
/// Its side is `2^(bits_per_dim - level)` and its keys are one interval (see `curve.rs`).
#[derive(Clone, Copy, Debug)]
struct Cell {
    level: u32,
    lo: [u32; DIMS_MAX_USIZE],
}

/// How a cell lies relative to the box.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Overlap {
    Disjoint,
    Inside,
    Partial,
}

/// Which halves of a partially overlapping cell, along one dimension, meet the box.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Halves {
    Lower,
    Upper,
    Both,
}

/// The state of one box decomposition: cells settled so far and the partial cells of the
/// current level (the frontier), refined breadth first.
struct Decomposition<'query> {
    curve: Curve,
    query: &'query QueryBox,
    covered: Vec<KeyRange>,
    frontier: Vec<Cell>,
    cells_visited: usize,
}

impl<'query> Decomposition<'query> {
    fn new(curve: Curve, query: &'query QueryBox) -> Self {
        debug_assert!(curve.check_box(query).is_ok());
        Decomposition {
            curve,
            query,
            covered: Vec::new(),
            frontier: Vec::new(),
            cells_visited: 0,
        }
    }

    /// Refines level by level until no partial cell is left or the visit budget is spent, then
    /// returns the covered intervals sorted, with touching ones merged.
    fn run(mut self, cells_visited_max: usize) -> Vec<KeyRange> {
        self.visit(Cell {
            level: 0,
            lo: [0; DIMS_MAX_USIZE],
        });
        while !self.frontier.is_empty() {
            let frontier = std::mem::take(&mut self.frontier);
            for cell in &frontier {
                // A point cell is inside or disjoint, so the frontier never holds one.
                debug_assert!(cell.level < self.curve.bits_per_dim());
                let child_count = self.child_count(cell);
                if self.cells_visited.saturating_add(child_count) <= cells_visited_max {
                    self.refine(cell);
                } else {
                    // Over-cover: the whole interval of a cell the budget cannot refine.
                    let range = self.cell_range(cell);
                    self.covered.push(range);
                }
            }
        }
        debug_assert!(self.cells_visited <= cells_visited_max.max(1));
        self.covered.sort_unstable();
        merge_touching(self.covered)
    }

    fn visit(&mut self, cell: Cell) {
        self.cells_visited += 1;
        match self.overlap(&cell) {
            Overlap::Disjoint => {}
            Overlap::Inside => {
                let range = self.cell_range(&cell);
                self.covered.push(range);
            }
            Overlap::Partial => self.frontier.push(cell),
        }
    }

    /// Visits the children of a partial cell that meet the box (the others are disjoint).
    fn refine(&mut self, cell: &Cell) {
        let dims = self.curve.dims_usize();
        let half = self.half_side(cell);
        let mut halves = [Halves::Lower; DIMS_MAX_USIZE];
        for (dimension, slot) in halves.iter_mut().enumerate().take(dims) {
            *slot = self.halves(cell, dimension, half);
        }
        let both_count = halves[..dims]
            .iter()
            .filter(|&&h| h == Halves::Both)
            .count();
        for choice in 0_u32..(1_u32 << both_count) {
            let mut child = Cell {
                level: cell.level + 1,
                lo: cell.lo,
            };
            let mut both_index = 0;
            for (dimension, &dimension_halves) in halves[..dims].iter().enumerate() {
                let upper = match dimension_halves {
                    Halves::Lower => false,
                    Halves::Upper => true,
                    Halves::Both => {
                        both_index += 1;
                        (choice >> (both_index - 1)) & 1 == 1
                    }
                };
                if upper {
                    child.lo[dimension] += half;
                }
            }
            self.visit(child);
        }
    }

    /// The number of children of a partial cell that meet the box: `2^(dimensions where both
    /// halves do)`.
    fn child_count(&self, cell: &Cell) -> usize {
        let half = self.half_side(cell);
        let both_count = (0..self.curve.dims_usize())
            .filter(|&dimension| self.halves(cell, dimension, half) == Halves::Both)
            .count();
        1_usize << both_count
    }

    /// The side of a child of `cell`, which is not a single point.
    fn half_side(&self, cell: &Cell) -> u32 {
        debug_assert!(cell.level < self.curve.bits_per_dim());
        1_u32 << (self.curve.bits_per_dim() - cell.level - 1)
    }

    fn halves(&self, cell: &Cell, dimension: usize, half: u32) -> Halves {
        let (lo, hi) = (self.query.lo()[dimension], self.query.hi()[dimension]);
        let lower_lo = u64::from(cell.lo[dimension]);
        let upper_lo = lower_lo + u64::from(half);
        let lower_meets = lower_lo <= u64::from(hi) && upper_lo > u64::from(lo);
        let upper_meets = upper_lo <= u64::from(hi) && upper_lo + u64::from(half) > u64::from(lo);
        debug_assert!(
            lower_meets || upper_meets,
            "a partial cell meets the box in every dim"
        );
        match (lower_meets, upper_meets) {
            (true, true) => Halves::Both,
            (false, true) => Halves::Upper,
            _ => Halves::Lower,
        }
    }

    fn overlap(&self, cell: &Cell) -> Overlap {
        let side_bits = self.curve.bits_per_dim() - cell.level;
        let extent = if side_bits == 0 {
            0
        } else {
            u32::MAX >> (32 - side_bits)
        };
        let mut inside = true;
        for dimension in 0..self.curve.dims_usize() {
            let (cell_lo, cell_hi) = (cell.lo[dimension], cell.lo[dimension] + extent);
            let (lo, hi) = (self.query.lo()[dimension], self.query.hi()[dimension]);
            if cell_hi < lo || cell_lo > hi {
                return Overlap::Disjoint;
            }
            inside &= lo <= cell_lo && cell_hi <= hi;
        }
        if inside {
            Overlap::Inside
        } else {
            Overlap::Partial
        }
    }

    /// The cell's key interval: the keys sharing the top `level * dims` bits of its corner's.
    fn cell_range(&self, cell: &Cell) -> KeyRange {
        let key = self
            .curve
            .encode_unchecked(&cell.lo[..self.curve.dims_usize()]);
        let prefix_bits = cell.level * self.curve.dims();
        debug_assert!(prefix_bits <= KEY_BITS);
        let suffix_mask = u128::MAX.checked_shr(prefix_bits).unwrap_or(0);
        KeyRange {
            first: key & !suffix_mask,
            last: key | suffix_mask,
        }
    }
}

/// Merges sorted, disjoint ranges where one ends right before the next begins.
fn merge_touching(sorted: Vec<KeyRange>) -> Vec<KeyRange> {
    let mut merged: Vec<KeyRange> = Vec::with_capacity(sorted.len());
    for range in sorted {
        match merged.last_mut() {
            Some(previous) if previous.last.checked_add(1) == Some(range.first) => {
                previous.last = range.last;
            }
            Some(previous) => {
                assert!(previous.last < range.first, "dyadic cells never overlap");
                merged.push(range);
            }
            None => merged.push(range),
        }
    }
    merged
}

/// Merges sorted, disjoint ranges across their smallest gaps until at most `range_budget`
/// remain. Closing the smallest gaps covers the fewest extra keys of any `range_budget` ranges
/// that cover the input.
fn merge_smallest_gaps(ranges: Vec<KeyRange>, range_budget: usize) -> Vec<KeyRange> {
    debug_assert!(range_budget >= 1);
    if ranges.len() <= range_budget {
        return ranges;
    }
    let close_count = ranges.len() - range_budget;
    // (gap size, index of the range before it); the index breaks ties, so the choice is stable.
    let mut gaps: Vec<(u128, usize)> = ranges
        .windows(2)
        .enumerate()
        .map(|(index, pair)| (pair[1].first - pair[0].last, index))
        .collect();
    gaps.select_nth_unstable(close_count - 1);
    let mut closed = vec![false; ranges.len() - 1];
    for &(_, index) in &gaps[..close_count] {
        closed[index] = true;
    }
    let mut merged: Vec<KeyRange> = Vec::with_capacity(range_budget);
    for (index, range) in ranges.into_iter().enumerate() {
        match merged.last_mut() {
            Some(previous) if closed[index - 1] => previous.last = range.last,
            _ => merged.push(range),
        }
    }
    debug_assert_eq!(merged.len(), range_budget);
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(first: u128, last: u128) -> KeyRange {
        KeyRange { first, last }
    }

    // Goal: gap merging closes exactly the smallest gaps. Method: gaps of 10, 2, 5 with a
    // budget of 2 close the gap of 2 only.
    #[test]
    fn merges_the_smallest_gap_first() {
        let ranges = vec![range(0, 9), range(20, 29), range(32, 39), range(45, 50)];
        let merged = merge_smallest_gaps(ranges.clone(), 2);
        assert_eq!(merged, vec![range(0, 9), range(20, 50)]);
        assert_eq!(merge_smallest_gaps(ranges.clone(), 1), vec![range(0, 50)]);
        assert_eq!(merge_smallest_gaps(ranges.clone(), 4), ranges);
    }

    // Goal: touching ranges become one. Method: merge [0,4], [5,9], [11,12].
    #[test]
    fn merges_touching_ranges() {
        let merged = merge_touching(vec![range(0, 4), range(5, 9), range(11, 12)]);
        assert_eq!(merged, vec![range(0, 9), range(11, 12)]);
        assert_eq!(range(0, u128::MAX).key_count(), u128::MAX);
    }

    // Goal: the whole space is one range of every key. Method: the box of all points.
    #[test]
    fn whole_space_is_one_range() {
        let curve = Curve::new(3, 21).unwrap();
        let max = curve.coordinate_max();
        let query = QueryBox::new(vec![0; 3], vec![max; 3]).unwrap();
        assert_eq!(
            curve.key_ranges(&query, 8).unwrap(),
            vec![range(0, u128::MAX)]
        );
    }
}
