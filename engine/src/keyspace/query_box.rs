//! `QueryBox`: an axis-aligned box of points with inclusive bounds, the input of box queries.
//!
//! Invariants: at least one dimension, `lo.len() == hi.len()`, and `lo[d] <= hi[d]` in every
//! dimension, checked by `QueryBox::new`. Whether the box fits a given space (its dims and bits
//! per dimension) is checked against the `Curve` when the box is used (`Curve::check_box`).

use super::curve::Curve;
use super::error::KeyspaceError;

/// An axis-aligned box with inclusive bounds: the points `p` with `lo[d] <= p[d] <= hi[d]`.
///
/// ```
/// use infinitedb::keyspace::QueryBox;
/// let query = QueryBox::new(vec![1, 10], vec![5, 10])?;
/// assert!(query.contains(&[3, 10]));
/// assert!(!query.contains(&[3, 11]));
/// # Ok::<(), infinitedb::keyspace::KeyspaceError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct QueryBox {
    lo: Vec<u32>,
    hi: Vec<u32>,
}

impl QueryBox {
    /// A box from its lowest and highest corner, both inclusive.
    ///
    /// # Errors
    /// `WrongDimensions` when `lo` is empty (expected at least 1) or `hi.len() != lo.len()`;
    /// `InvertedBox` naming the first dimension where `lo > hi`.
    pub fn new(lo: Vec<u32>, hi: Vec<u32>) -> Result<QueryBox, KeyspaceError> {
        if lo.is_empty() {
            return Err(KeyspaceError::WrongDimensions {
                expected: 1,
                found: 0,
            });
        }
        if hi.len() != lo.len() {
            let expected = u32::try_from(lo.len()).unwrap_or(u32::MAX);
            return Err(KeyspaceError::WrongDimensions {
                expected,
                found: hi.len(),
            });
        }
        let inverted = lo.iter().zip(&hi).position(|(low, high)| low > high);
        if let Some(dimension) = inverted {
            return Err(KeyspaceError::InvertedBox {
                dimension,
                lo: lo[dimension],
                hi: hi[dimension],
            });
        }
        Ok(QueryBox { lo, hi })
    }

    /// The lowest corner (inclusive).
    #[must_use]
    pub fn lo(&self) -> &[u32] {
        &self.lo
    }

    /// The highest corner (inclusive).
    #[must_use]
    pub fn hi(&self) -> &[u32] {
        &self.hi
    }

    /// The number of dimensions (coordinates per corner).
    #[must_use]
    pub fn dims(&self) -> usize {
        self.lo.len()
    }

    /// Whether `point` lies in the box; a point with the wrong number of coordinates does not.
    #[must_use]
    pub fn contains(&self, point: &[u32]) -> bool {
        point.len() == self.lo.len()
            && point
                .iter()
                .zip(self.lo.iter().zip(&self.hi))
                .all(|(p, (lo, hi))| lo <= p && p <= hi)
    }

    /// The number of points in the box, or `None` when it does not fit a `u128`.
    #[must_use]
    pub fn point_count(&self) -> Option<u128> {
        self.lo
            .iter()
            .zip(&self.hi)
            .try_fold(1_u128, |count, (&lo, &hi)| {
                count.checked_mul(u128::from(hi - lo) + 1)
            })
    }
}

impl Curve {
    /// Checks that `query` fits this curve: one bound per dimension, each `<= coordinate_max()`.
    ///
    /// # Errors
    /// `WrongDimensions`, or `CoordinateOutOfRange` naming the first too-large upper bound.
    pub fn check_box(&self, query: &QueryBox) -> Result<(), KeyspaceError> {
        // lo <= hi per dimension, so the upper corner fitting implies the lower one does.
        self.check_point(query.hi())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: each malformed box gets its own error. Method: one case per rule.
    #[test]
    fn malformed_boxes_are_refused() {
        assert_eq!(
            QueryBox::new(vec![], vec![]),
            Err(KeyspaceError::WrongDimensions {
                expected: 1,
                found: 0
            })
        );
        assert_eq!(
            QueryBox::new(vec![1, 2], vec![3]),
            Err(KeyspaceError::WrongDimensions {
                expected: 2,
                found: 1
            })
        );
        assert_eq!(
            QueryBox::new(vec![1, 5], vec![3, 4]),
            Err(KeyspaceError::InvertedBox {
                dimension: 1,
                lo: 5,
                hi: 4
            })
        );
    }

    // Goal: bounds are inclusive and counted right. Method: probe the edges of a small box.
    #[test]
    fn bounds_are_inclusive() {
        let query = QueryBox::new(vec![2, 0], vec![4, 0]).unwrap();
        assert!(query.contains(&[2, 0]) && query.contains(&[4, 0]));
        assert!(!query.contains(&[1, 0]) && !query.contains(&[5, 0]) && !query.contains(&[3]));
        assert_eq!(query.point_count(), Some(3));
        let whole = QueryBox::new(vec![0; 5], vec![u32::MAX; 5]).unwrap();
        assert_eq!(whole.point_count(), None);
    }
}
