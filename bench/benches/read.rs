//! Read-path benchmark: on N points (default 1,000,000; env
//! `READ_BENCH_POINTS`) of 2-D and 3-D spaces with 100-byte values, prints get p50/p99 from
//! the memtable and from cold blocks, box query records/s and over-read ratio for small,
//! medium and large boxes, and the speed-up of a box query over a full scan with a filter.
//!
//! Run: `cargo bench -p infinitedb-bench --bench read`. A plain `harness = false` binary:
//! these are whole-database measurements over seconds, not criterion micro-benches.

use std::time::Instant;

use anyhow::Result;
use hdrhistogram::Histogram;
use infinitedb::Readable;
use infinitedb::keyspace::{Curve, QueryBox};
use infinitedb::{Batch, Db, Durability, Options, SpaceId};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const VALUE_BYTES: usize = 100;
const GETS: usize = 20_000;
const RANGE_BUDGET: usize = 64;

struct Shape {
    name: &'static str,
    dims: u32,
    bits: u32,
}

fn points_wanted() -> usize {
    std::env::var("READ_BENCH_POINTS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(1_000_000)
}

fn options() -> Options {
    Options::default()
        .durability(Durability::NoSync)
        .query_range_budget(RANGE_BUDGET)
}

fn random_point(rng: &mut ChaCha8Rng, curve: &Curve) -> Vec<u32> {
    (0..curve.dims())
        .map(|_| rng.gen_range(0..=curve.coordinate_max()))
        .collect()
}

/// Writes `count` random points in batches of 1,000; returns them.
fn load(
    db: &Db,
    space: SpaceId,
    curve: &Curve,
    count: usize,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<Vec<u32>>> {
    let mut points = Vec::with_capacity(count);
    let value = [0x5a_u8; VALUE_BYTES];
    while points.len() < count {
        let mut batch = Batch::new(space);
        for _ in 0..1000.min(count - points.len()) {
            let point = random_point(rng, curve);
            batch.put(&point, &value);
            points.push(point);
        }
        db.write(batch)?;
    }
    db.sync()?;
    Ok(points)
}

fn get_latencies(
    db: &Db,
    space: SpaceId,
    points: &[Vec<u32>],
    rng: &mut ChaCha8Rng,
) -> Result<(u64, u64)> {
    let mut histogram = Histogram::<u64>::new(3)?;
    for _ in 0..GETS {
        let point = &points[rng.gen_range(0..points.len())];
        let start = Instant::now();
        let found = db.get(space, point)?;
        histogram.record(u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX))?;
        assert!(found.is_some(), "a written point reads back");
    }
    Ok((
        histogram.value_at_quantile(0.5),
        histogram.value_at_quantile(0.99),
    ))
}

fn query_box(curve: &Curve, fraction_log2: u32, rng: &mut ChaCha8Rng) -> Result<QueryBox> {
    let side = (u64::from(curve.coordinate_max()) + 1) >> fraction_log2;
    let side = u32::try_from(side.max(1)).unwrap_or(u32::MAX);
    let lo: Vec<u32> = (0..curve.dims())
        .map(|_| rng.gen_range(0..=curve.coordinate_max() - (side - 1)))
        .collect();
    let hi: Vec<u32> = lo.iter().map(|low| low + (side - 1)).collect();
    Ok(QueryBox::new(lo, hi)?)
}

fn bench_queries(db: &Db, space: SpaceId, curve: &Curve, rng: &mut ChaCha8Rng) -> Result<()> {
    let key_step = 1_u128 << (128 - curve.dims() * curve.bits_per_dim()).min(127);
    for (name, fraction_log2) in [("small", 6), ("medium", 3), ("large", 1)] {
        let (mut records, mut seconds, mut covered, mut volume) =
            (0_u64, 0.0_f64, 0.0_f64, 0.0_f64);
        for _ in 0..10 {
            let query = query_box(curve, fraction_log2, rng)?;
            let ranges = curve.key_ranges(&query, RANGE_BUDGET)?;
            covered += ranges
                .iter()
                .map(|range| (range.key_count() / key_step) as f64)
                .sum::<f64>();
            volume += query.point_count().unwrap_or(u128::MAX) as f64;
            let start = Instant::now();
            for entry in db.query(space, &query)? {
                entry?;
                records += 1;
            }
            seconds += start.elapsed().as_secs_f64();
        }
        println!(
            "  query {name:6}: {:>10.0} records/s, {records} records in 10 boxes, over-read {:.2}x (keys covered / points in box)",
            records as f64 / seconds,
            covered / volume
        );
    }
    let query = query_box(curve, 3, rng)?;
    let start = Instant::now();
    let by_query = db.query(space, &query)?.count();
    let query_seconds = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let by_scan = db
        .scan(space)?
        .filter(|entry| {
            entry
                .as_ref()
                .is_ok_and(|entry| query.contains(&entry.point))
        })
        .count();
    let scan_seconds = start.elapsed().as_secs_f64();
    assert_eq!(by_query, by_scan, "query and filtered scan agree");
    println!(
        "  medium box: query {:.1} ms, scan+filter {:.1} ms, speed-up {:.1}x",
        query_seconds * 1e3,
        scan_seconds * 1e3,
        scan_seconds / query_seconds
    );
    Ok(())
}

fn bench_shape(shape: &Shape, count: usize) -> Result<()> {
    let dir =
        tempfile::tempdir_in(std::env::var("READ_BENCH_DIR").unwrap_or_else(|_| "/tmp".into()))?;
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let curve = Curve::new(shape.dims, shape.bits)?;
    let db = Db::open(dir.path(), options())?;
    let space = db.create_space(shape.name, shape.dims, shape.bits)?;
    let start = Instant::now();
    let sealed = load(&db, space, &curve, count, &mut rng)?;
    db.flush(space)?;
    let live = load(&db, space, &curve, 50_000.min(count), &mut rng)?;
    println!(
        "{} ({} dims x {} bits): {} points loaded in {:.1} s, backend {:?}",
        shape.name,
        shape.dims,
        shape.bits,
        count,
        start.elapsed().as_secs_f64(),
        db.backend().kind
    );
    let (p50, p99) = get_latencies(&db, space, &live, &mut rng)?;
    println!(
        "  get from memtable: p50 {:.1} us, p99 {:.1} us",
        p50 as f64 / 1e3,
        p99 as f64 / 1e3
    );
    db.close()?;
    let db = Db::open(dir.path(), options())?;
    let (p50, p99) = get_latencies(&db, space, &sealed, &mut rng)?;
    println!(
        "  get from cold blocks (fresh open, empty page cache): p50 {:.1} us, p99 {:.1} us",
        p50 as f64 / 1e3,
        p99 as f64 / 1e3
    );
    bench_queries(&db, space, &curve, &mut rng)?;
    db.close()?;
    Ok(())
}

fn main() -> Result<()> {
    let count = points_wanted();
    for shape in [
        Shape {
            name: "plane",
            dims: 2,
            bits: 16,
        },
        Shape {
            name: "cube",
            dims: 3,
            bits: 10,
        },
    ] {
        bench_shape(&shape, count)?;
    }
    Ok(())
}
