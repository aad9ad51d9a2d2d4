//! Micro-benchmarks of infinitedb-format: frame encode+checksum (the commit path's CPU cost
//! per group) and decode (recovery's), and block build (sealing's).
//!
//! Run: `cargo bench -p infinitedb-bench --bench format`. Target: frame
//! encode+checksum of 4 KiB groups of 128-byte records at >= 2 GB/s in release, so encoding
//! never limits a 2.7 GB/s disk.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_main};
use infinitedb_format::{
    BlockBuilder, BlockId, FRAME_HEADER_BYTES, FRAME_PAYLOAD_BYTES_MAX, RECORD_HEADER_BYTES,
    RecordKind, RecordRef, Revision, SegmentId, SpaceId, decode_frame, encode_frame,
    frame_encoded_bytes,
};
use std::hint::black_box;

/// Value size of the benchmark records.
const VALUE_BYTES: usize = 128;
/// The frame size the group targets.
const GROUP_BYTES: usize = 4096;
/// Records in the block build benchmark.
const BLOCK_RECORD_COUNT: u64 = 100_000;

/// As many 128-byte records as fit a 4 KiB frame (25: 64 + 25 × 160 = 4064 bytes).
fn group(values: &[[u8; VALUE_BYTES]]) -> Vec<RecordRef<'_>> {
    let count = (GROUP_BYTES - FRAME_HEADER_BYTES) / (RECORD_HEADER_BYTES + VALUE_BYTES);
    (0..count)
        .map(|position| RecordRef {
            key: (position as u128).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835),
            revision: Revision(1_000 + position as u64 / 4),
            kind: RecordKind::Put,
            value: &values[position % values.len()],
        })
        .collect()
}

fn frame_benches(criterion: &mut Criterion) {
    let values: Vec<[u8; VALUE_BYTES]> = (0..8_u8).map(|seed| [seed; VALUE_BYTES]).collect();
    let records = group(&values);
    let encoded_bytes = frame_encoded_bytes(&records);
    let mut out = vec![0_u8; encoded_bytes];
    let mut benches = criterion.benchmark_group("frame");
    benches.throughput(Throughput::Bytes(encoded_bytes as u64));
    benches.bench_function(
        BenchmarkId::new("encode_checksum", encoded_bytes),
        |bencher| {
            bencher.iter(|| {
                encode_frame(
                    SegmentId(1),
                    SpaceId(1),
                    black_box(&records),
                    black_box(&mut out),
                )
            });
        },
    );
    encode_frame(SegmentId(1), SpaceId(1), &records, &mut out);
    benches.bench_function(
        BenchmarkId::new("decode_verify", encoded_bytes),
        |bencher| {
            bencher.iter(|| {
                let frame = decode_frame(black_box(&out), SegmentId(1), FRAME_PAYLOAD_BYTES_MAX);
                frame.map(|frame| frame.records().count()).unwrap_or(0)
            });
        },
    );
    benches.finish();
}

fn block_benches(criterion: &mut Criterion) {
    let value = [7_u8; VALUE_BYTES];
    let record_bytes = (RECORD_HEADER_BYTES + VALUE_BYTES) as u64 * BLOCK_RECORD_COUNT;
    let mut benches = criterion.benchmark_group("block");
    benches.sample_size(20);
    benches.throughput(Throughput::Bytes(record_bytes));
    benches.bench_function(BenchmarkId::new("build", BLOCK_RECORD_COUNT), |bencher| {
        bencher.iter(|| {
            let mut builder = BlockBuilder::new(SpaceId(1), BlockId(1));
            for position in 0..BLOCK_RECORD_COUNT {
                let key = u128::from(position) << 64;
                builder.push(RecordRef {
                    key,
                    revision: Revision(1),
                    kind: RecordKind::Put,
                    value: &value,
                });
            }
            builder.finish().bytes.len()
        });
    });
    benches.finish();
}

/// The criterion group, in a private module: `criterion_group!` generates an undocumented
/// `pub fn`.
mod group {
    use super::{block_benches, frame_benches};
    criterion::criterion_group!(benches, frame_benches, block_benches);
}

criterion_main!(group::benches);
