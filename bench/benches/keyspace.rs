//! Micro-benchmarks of the Hilbert keyspace: encode and decode ns/op for 2-D x 32,
//! 3-D x 21 and 4-D x 32 bits, and `key_ranges` time for a table of box shapes x range
//! budgets. Before the timings it prints the over-read table: keys covered by the ranges
//! divided by the points in the box (1.0 is exact; the rest is read and filtered out).
//!
//! Run: `cargo bench -p infinitedb-bench --bench keyspace`.
#![allow(
    missing_docs,
    reason = "criterion_group! generates an undocumented function"
)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use infinitedb::keyspace::{Curve, QueryBox};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Points cycled through per encode/decode bench: enough to defeat branch history, small
/// enough to stay in L1.
const POINT_COUNT: usize = 1024;
const SEED: u64 = 0x6b65_7973_7061_6365;

const ENCODE_SHAPES: &[(u32, u32)] = &[(2, 32), (3, 21), (4, 32)];
const RANGE_BUDGETS: &[usize] = &[8, 64, 512];

fn random_points(curve: Curve) -> Vec<Vec<u32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let dims = curve.dims() as usize;
    (0..POINT_COUNT)
        .map(|_| {
            (0..dims)
                .map(|_| rng.gen_range(0..=curve.coordinate_max()))
                .collect()
        })
        .collect()
}

fn bench_encode_decode(criterion: &mut Criterion) {
    for &(dims, bits) in ENCODE_SHAPES {
        let Ok(curve) = Curve::new(dims, bits) else {
            continue;
        };
        let points = random_points(curve);
        let keys: Vec<u128> = points.iter().filter_map(|p| curve.encode(p).ok()).collect();
        let mut index = 0;
        criterion.bench_function(&format!("encode {dims}d x {bits}b"), |bencher| {
            bencher.iter(|| {
                index = (index + 1) % POINT_COUNT;
                curve.encode(black_box(&points[index]))
            });
        });
        let mut point = vec![0_u32; dims as usize];
        criterion.bench_function(&format!("decode {dims}d x {bits}b"), |bencher| {
            bencher.iter(|| {
                index = (index + 1) % POINT_COUNT;
                let _ = curve.decode(black_box(keys[index]), &mut point);
                black_box(point[0])
            });
        });
    }
}

/// Named boxes of the over-read table, on a 3-D x 21-bit curve and a 2-D x 32-bit curve. The
/// boxes start at odd offsets so they do not line up with dyadic cells.
fn box_shapes() -> Vec<(&'static str, Curve, QueryBox)> {
    let cube = |dims, bits, lo: &[u32], extent: &[u32], name| {
        let curve = Curve::new(dims, bits).ok()?;
        let hi = lo.iter().zip(extent).map(|(l, e)| l + e - 1).collect();
        Some((name, curve, QueryBox::new(lo.to_vec(), hi).ok()?))
    };
    let max21 = (1 << 21) - 1;
    [
        cube(
            3,
            21,
            &[700_001, 300_007, 900_011],
            &[4096, 4, 4],
            "3d thin 4096x4x4",
        ),
        cube(
            3,
            21,
            &[700_001, 300_007, 900_011],
            &[1024, 1024, 1],
            "3d square 1024x1024x1",
        ),
        cube(
            3,
            21,
            &[700_001, 300_007, 900_011],
            &[256, 256, 256],
            "3d cube 256^3",
        ),
        cube(3, 21, &[0, 0, 0], &[max21 + 1; 3], "3d whole space"),
        cube(
            2,
            32,
            &[1_000_003, 7_000_001],
            &[1, 1_000_000],
            "2d thin 1x1e6",
        ),
        cube(
            2,
            32,
            &[1_000_003, 7_000_001],
            &[10_000, 10_000],
            "2d square 1e4x1e4",
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Prints keys covered / points in the box, and the range count, per shape and budget.
fn print_over_read_table() {
    println!("\nover-read = keys covered / points in box (ranges returned)");
    println!(
        "{:<24} {:>18} {:>18} {:>18}",
        "box", "budget 8", "budget 64", "budget 512"
    );
    for (name, curve, query) in box_shapes() {
        let key_step = 2_f64.powi(128 - i32::try_from(curve.key_bits_used()).unwrap_or(128));
        let points = query
            .point_count()
            .map_or(f64::INFINITY, |count| count as f64);
        let mut row = format!("{name:<24}");
        for &range_budget in RANGE_BUDGETS {
            let Ok(ranges) = curve.key_ranges(&query, range_budget) else {
                continue;
            };
            let keys: f64 = ranges.iter().map(|r| (r.last - r.first) as f64 + 1.0).sum();
            let cell = format!("{:.3} ({})", keys / key_step / points, ranges.len());
            row.push_str(&format!(" {cell:>18}"));
        }
        println!("{row}");
    }
    println!();
}

fn bench_key_ranges(criterion: &mut Criterion) {
    print_over_read_table();
    for (name, curve, query) in box_shapes() {
        for &range_budget in RANGE_BUDGETS {
            criterion.bench_function(&format!("key_ranges {name} budget {range_budget}"), |b| {
                b.iter(|| curve.key_ranges(black_box(&query), range_budget));
            });
        }
    }
}

criterion_group! {
    name = keyspace;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench_encode_decode, bench_key_ranges
}
criterion_main!(keyspace);
