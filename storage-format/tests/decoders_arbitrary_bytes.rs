//! Every decoder survives arbitrary bytes: no panic, and no allocation beyond a bounded
//! multiple of the input (frame, page, header and footer decoders borrow and allocate nothing
//! by construction; the manifest decoder's output is measured here). Inputs are both raw
//! random bytes and valid encodings with random bytes overwritten and the checksums
//! recomputed, so that field validation behind the checksums is exercised too.
//!
//! The `*_million` tests run 1,000,000 cases per decoder; they are ignored in debug builds
//! and run by `cargo test --release` (the CI command).
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    clippy::cast_possible_truncation,
    reason = "test code: a panic is a test failure"
)]

mod common;

use infinitedb_format::{
    BlockBuilder, BlockFilter, BlockFooter, BlockId, BlockIndex, BlockReader, Checksum,
    FRAME_PAYLOAD_BYTES_MAX, LOG_HEADER_BYTES, LogHeader, LogKind, LogLayout, ManifestEdit,
    ManifestHeader, PageLocation, RecordKind, RecordRef, Revision, SECTOR_BYTES, SegmentId,
    SpaceId, StampedFrame, decode_edits, decode_frame, decode_page, decode_stamped_frame,
    encode_edits, encode_frame, encode_stamped_frame, find_stamped_frame_after,
    frame_encoded_bytes, stamped_frame_bytes,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const MILLION: u32 = 1_000_000;
const QUICK: u32 = 4_000;

fn valid_frame() -> Vec<u8> {
    let records = [
        RecordRef {
            key: 9,
            revision: Revision(3),
            kind: RecordKind::Put,
            value: b"abc",
        },
        RecordRef {
            key: 1,
            revision: Revision(4),
            kind: RecordKind::Delete,
            value: b"",
        },
    ];
    let mut out = vec![0; frame_encoded_bytes(&records)];
    encode_frame(SegmentId(1), SpaceId(1), &records, &mut out);
    out
}

fn valid_batch() -> Vec<u8> {
    let edits = [
        ManifestEdit::CreateSpace {
            space_id: SpaceId(1),
            name: "n".into(),
            dims: 2,
            bits_per_dim: 8,
        },
        ManifestEdit::RemoveBlocks {
            space_id: SpaceId(1),
            block_ids: vec![BlockId(1)],
        },
    ];
    let mut out = Vec::new();
    encode_edits(&edits, &mut out);
    out
}

fn valid_block() -> Vec<u8> {
    let mut builder = BlockBuilder::new(SpaceId(1), BlockId(1));
    builder.push(RecordRef {
        key: 1,
        revision: Revision(2),
        kind: RecordKind::Put,
        value: b"x",
    });
    builder.push(RecordRef {
        key: 1,
        revision: Revision(1),
        kind: RecordKind::Delete,
        value: b"",
    });
    builder.finish().bytes
}

/// Raw bytes up to `len_max`, or `base` with up to 4 bytes overwritten, then cut.
fn mutated(base: Vec<u8>, len_max: usize) -> impl Strategy<Value = (Vec<u8>, bool)> {
    let raw = proptest::collection::vec(any::<u8>(), 0..len_max).prop_map(|bytes| (bytes, false));
    let base_len = base.len();
    let edits = proptest::collection::vec((0..base_len, any::<u8>()), 1..4);
    let damaged = (edits, 0..=base_len + 8, any::<bool>()).prop_map(move |(edits, cut, reseal)| {
        let mut bytes = base.clone();
        for (offset, value) in edits {
            bytes[offset] = value;
        }
        bytes.truncate(cut);
        (bytes, reseal)
    });
    prop_oneof![raw, damaged]
}

fn run(
    cases: u32,
    strategy: impl Strategy<Value = (Vec<u8>, bool)>,
    check: impl Fn(Vec<u8>, bool),
) {
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&strategy, |(bytes, reseal)| {
            check(bytes, reseal);
            Ok(())
        })
        .unwrap();
}

fn frame_case(mut bytes: Vec<u8>, reseal: bool) {
    if reseal {
        common::reseal(&mut bytes, common::FRAME_HEADER, 56);
    }
    if let Ok(frame) = decode_frame(&bytes, SegmentId(1), FRAME_PAYLOAD_BYTES_MAX) {
        assert!(frame.encoded_bytes <= bytes.len());
        assert_eq!(frame.records().count(), frame.header.record_count as usize);
    }
}

fn edits_case(mut bytes: Vec<u8>, reseal: bool) {
    if reseal {
        common::reseal(&mut bytes, 32, 28);
    }
    if let Ok((edits, consumed)) = decode_edits(&bytes) {
        assert!(consumed <= bytes.len());
        let heap: usize = edits.capacity() * size_of::<ManifestEdit>()
            + edits
                .iter()
                .map(|edit| match edit {
                    ManifestEdit::CreateSpace { name, .. } => name.capacity(),
                    ManifestEdit::RemoveBlocks { block_ids, .. } => block_ids.capacity() * 8,
                    _ => 0,
                })
                .sum::<usize>();
        assert!(
            heap <= 16 * consumed,
            "{heap} heap bytes from {consumed} input bytes"
        );
    }
}

fn header_case(mut bytes: Vec<u8>, reseal: bool) {
    if reseal && bytes.len() >= LOG_HEADER_BYTES {
        common::reseal_page(&mut bytes[..LOG_HEADER_BYTES]);
    }
    if let Ok(header) = LogHeader::decode(&bytes) {
        assert!(header.kind == LogKind::HotSegment || header.space_id == SpaceId(0));
    }
    let _ = ManifestHeader::decode(&bytes);
}

fn block_case(mut bytes: Vec<u8>, reseal: bool) {
    if reseal && bytes.len() >= 128 {
        let start = bytes.len() - 128;
        common::reseal_page(&mut bytes[start..]);
    }
    if let Ok((footer, _)) = BlockFooter::decode(&bytes) {
        let _ = BlockIndex::decode(&bytes, &footer);
        let _ = BlockFilter::decode(&bytes, &footer);
        let filter_offset = usize::try_from(footer.filter_offset()).unwrap_or(usize::MAX);
        let filter_bytes = bytes.get(filter_offset..).unwrap_or_default();
        if let Ok(Some(filter)) = BlockFilter::decode(filter_bytes, &footer) {
            assert!(filter.bit_count() <= 8 * bytes.len() as u64);
            let _ = filter.may_hold(1);
        }
    }
    if let Ok(reader) = BlockReader::new(&bytes) {
        let _ = reader.may_hold(1);
        let _ = reader.get(1, Revision(5));
        let _ = reader.scan().count();
    }
    let location = PageLocation {
        offset: 0,
        bytes: 4096,
        first_key: 1,
        last_key: 1,
        record_count: 2,
        checksum: Checksum(u64::from_le_bytes(
            bytes.get(..8).unwrap_or(&[0; 8]).try_into().unwrap(),
        )),
    };
    if let Ok(page) = decode_page(&bytes, &location) {
        assert_eq!(page.records().count(), 2);
    }
}

/// The footer and filter bytes of `valid_block()`.
fn valid_filter() -> (BlockFooter, Vec<u8>) {
    let bytes = valid_block();
    let (footer, _) = BlockFooter::decode(&bytes).unwrap();
    let start = usize::try_from(footer.filter_offset()).unwrap();
    let end = usize::try_from(footer.footer_offset()).unwrap();
    (footer, bytes[start..end].to_vec())
}

/// The filter decoder on damaged filter bytes; when `reseal`, both the filter's checksum and
/// the footer's copy of it are recomputed, so that the header checks behind them run.
fn filter_case(footer: BlockFooter, mut bytes: Vec<u8>, reseal: bool) {
    let mut footer = footer;
    if reseal && bytes.len() >= 32 {
        let bit_count = u64::from_le_bytes(bytes[16..24].try_into().unwrap());
        let end = usize::try_from(bit_count / 8)
            .ok()
            .and_then(|bits| bits.checked_add(32))
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        let checksum = Checksum::of(&bytes[8..end]);
        bytes[0..8].copy_from_slice(&checksum.0.to_le_bytes());
        footer.filter_checksum = Some(checksum);
    }
    if let Ok(Some(filter)) = BlockFilter::decode(&bytes, &footer) {
        assert!(filter.bit_count() <= 8 * bytes.len() as u64);
        assert!(filter.key_count() >= 1 && filter.key_count() <= footer.record_count);
        let _ = filter.may_hold(1);
    }
}

#[test]
fn filters_quick() {
    // Goal/method: see module doc; the block filter decoder behind its checksums.
    let (footer, bytes) = valid_filter();
    let len = bytes.len();
    run(QUICK, mutated(bytes, len + 16), move |bytes, reseal| {
        filter_case(footer, bytes, reseal);
    });
}

#[test]
#[cfg_attr(debug_assertions, ignore = "1M cases: run with --release")]
fn filters_million() {
    // Goal/method: see module doc; 1,000,000 cases (block filter decoder).
    let (footer, bytes) = valid_filter();
    let len = bytes.len();
    run(MILLION, mutated(bytes, len + 16), move |bytes, reseal| {
        filter_case(footer, bytes, reseal);
    });
}

#[test]
fn frames_quick() {
    // Goal/method: see module doc; a debug-build sample.
    run(QUICK, mutated(valid_frame(), 300), frame_case);
}

/// A valid two-sector stamped frame at file offset 0.
fn valid_stamped_frame() -> Vec<u8> {
    let value = [7_u8; 600];
    let records = [RecordRef {
        key: 9,
        revision: Revision(3),
        kind: RecordKind::Put,
        value: &value,
    }];
    let mut out = vec![0; stamped_frame_bytes(frame_encoded_bytes(&records))];
    encode_stamped_frame(SegmentId(1), SpaceId(1), &records, 0, &mut out);
    out
}

fn stamped_case(bytes: Vec<u8>, _reseal: bool) {
    let mut scratch = Vec::new();
    for position in [0, SECTOR_BYTES, 1] {
        let result = decode_stamped_frame(
            &bytes,
            position,
            SegmentId(1),
            FRAME_PAYLOAD_BYTES_MAX,
            &mut scratch,
        );
        if let StampedFrame::Valid {
            frame,
            physical_bytes,
        } = result
        {
            assert!(position + physical_bytes <= bytes.len());
            assert_eq!(frame.records().count(), frame.header.record_count as usize);
        }
    }
    let _ = find_stamped_frame_after(&bytes, 0, SegmentId(1), FRAME_PAYLOAD_BYTES_MAX);
}

#[test]
fn stamped_frames_quick() {
    // Goal/method: see module doc; the version-2 log reader at sector positions and off them.
    run(QUICK, mutated(valid_stamped_frame(), 1200), stamped_case);
}

#[test]
fn edits_quick() {
    // Goal/method: see module doc; a debug-build sample.
    run(QUICK, mutated(valid_batch(), 300), edits_case);
}

#[test]
fn header_pages_quick() {
    // Goal/method: see module doc; a debug-build sample.
    let mut page = vec![0; LOG_HEADER_BYTES];
    let header = LogHeader {
        layout: LogLayout::CURRENT,
        kind: LogKind::HotSegment,
        segment_id: SegmentId(1),
        space_id: SpaceId(1),
        created_revision: Revision(1),
    };
    header.encode(&mut page);
    run(QUICK / 4, mutated(page, 300), header_case);
}

#[test]
fn blocks_quick() {
    // Goal/method: see module doc; a debug-build sample.
    run(QUICK / 4, mutated(valid_block(), 600), block_case);
}

#[test]
#[cfg_attr(debug_assertions, ignore = "1M cases: run with --release")]
fn frames_million() {
    // Goal/method: see module doc; 1,000,000 cases.
    run(MILLION, mutated(valid_frame(), 300), frame_case);
}

#[test]
#[cfg_attr(debug_assertions, ignore = "1M cases: run with --release")]
fn edits_million() {
    // Goal/method: see module doc; 1,000,000 cases.
    run(MILLION, mutated(valid_batch(), 300), edits_case);
}

#[test]
#[cfg_attr(debug_assertions, ignore = "1M cases: run with --release")]
fn header_pages_million() {
    // Goal/method: see module doc; 1,000,000 cases (log and manifest header decoders).
    let mut page = vec![0; LOG_HEADER_BYTES];
    let header = LogHeader {
        layout: LogLayout::CURRENT,
        kind: LogKind::StagingLog,
        segment_id: SegmentId(1),
        space_id: SpaceId(0),
        created_revision: Revision(1),
    };
    header.encode(&mut page);
    run(MILLION, mutated(page, 300), header_case);
}

#[test]
#[cfg_attr(debug_assertions, ignore = "1M cases: run with --release")]
fn blocks_million() {
    // Goal/method: see module doc; 1,000,000 cases (footer, index, page and reader).
    run(MILLION, mutated(valid_block(), 600), block_case);
}
