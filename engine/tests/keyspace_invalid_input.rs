//! Invalid shapes, points, boxes and budgets get the right `KeyspaceError` variant, with the
//! offending values, and never a panic or a silently masked coordinate.

use infinitedb::keyspace::{Curve, KeyspaceError, QueryBox};

// Goal: each shape limit has its error. Method: just past every limit.
#[test]
fn invalid_shapes() {
    for (dims, bits) in [(0, 1), (17, 1), (1, 0), (1, 33), (3, 43), (16, 9), (9, 15)] {
        match Curve::new(dims, bits) {
            Err(KeyspaceError::InvalidShape {
                dims: d,
                bits_per_dim: b,
                reason,
            }) => {
                assert_eq!((d, b), (dims, bits));
                assert!(!reason.is_empty());
            }
            other => panic!("{dims}x{bits}: expected InvalidShape, got {other:?}"),
        }
    }
}

// Goal: points with a wrong length or an out-of-range coordinate are refused, never masked.
// Method: encode and decode with each mistake on a 3 x 10-bit curve.
#[test]
fn invalid_points() {
    let curve = Curve::new(3, 10).unwrap();
    for point in [&[1_u32, 2][..], &[1, 2, 3, 4], &[]] {
        assert_eq!(
            curve.encode(point),
            Err(KeyspaceError::WrongDimensions {
                expected: 3,
                found: point.len()
            })
        );
    }
    assert_eq!(
        curve.encode(&[1, 1024, 5000]),
        Err(KeyspaceError::CoordinateOutOfRange {
            dimension: 1,
            value: 1024,
            bits_per_dim: 10
        })
    );
    assert!(curve.encode(&[1023, 1023, 1023]).is_ok());
    let mut short = [0_u32; 2];
    assert_eq!(
        curve.decode(0, &mut short),
        Err(KeyspaceError::WrongDimensions {
            expected: 3,
            found: 2
        })
    );
    let full = Curve::new(1, 32).unwrap();
    assert!(full.encode(&[u32::MAX]).is_ok(), "32 bits accept u32::MAX");
}

// Goal: bad boxes and budgets are refused by key_ranges. Method: one call per mistake.
#[test]
fn invalid_boxes_and_budgets() {
    let curve = Curve::new(2, 4).unwrap();
    let good = QueryBox::new(vec![0, 0], vec![3, 3]).unwrap();
    assert_eq!(
        curve.key_ranges(&good, 0),
        Err(KeyspaceError::ZeroRangeBudget)
    );
    let three = QueryBox::new(vec![0, 0, 0], vec![1, 1, 1]).unwrap();
    assert_eq!(
        curve.key_ranges(&three, 4),
        Err(KeyspaceError::WrongDimensions {
            expected: 2,
            found: 3
        })
    );
    let too_big = QueryBox::new(vec![0, 0], vec![15, 16]).unwrap();
    assert_eq!(
        curve.key_ranges(&too_big, 4),
        Err(KeyspaceError::CoordinateOutOfRange {
            dimension: 1,
            value: 16,
            bits_per_dim: 4
        })
    );
    assert_eq!(
        QueryBox::new(vec![4, 2], vec![3, 9]),
        Err(KeyspaceError::InvertedBox {
            dimension: 0,
            lo: 4,
            hi: 3
        })
    );
}

// Goal: messages help the user act. Method: each message names the values and the fix.
#[test]
fn messages_name_the_values() {
    let out_of_range = Curve::new(2, 4)
        .unwrap()
        .encode(&[3, 99])
        .unwrap_err()
        .to_string();
    assert!(
        out_of_range.contains("99") && out_of_range.contains("4 bits"),
        "{out_of_range}"
    );
    let inverted = QueryBox::new(vec![4], vec![3]).unwrap_err().to_string();
    assert!(
        inverted.contains("lo 4 > hi 3") && inverted.contains("swap"),
        "{inverted}"
    );
    let shape = Curve::new(5, 26).unwrap_err().to_string();
    assert!(shape.contains("128"), "{shape}");
}
