//! Unit tests of the block layouts: pinned offsets, round trips, runs for big records, and
//! the page lookup for keys whose versions span runs.

use super::footer::offsets::*;
use super::index::offsets::*;
use super::page::offsets::*;
use super::*;
use crate::error::DecodeClass;
use crate::ids::{BlockId, Key, Revision, SpaceId};
use crate::record::{RecordKind, RecordRef};

fn put(key: Key, revision: u64, value: &[u8]) -> RecordRef<'_> {
    RecordRef {
        key,
        revision: Revision(revision),
        kind: RecordKind::Put,
        value,
    }
}

#[test]
fn offsets_are_pinned() {
    // Goal: the block layouts match docs/format.md. Method: compare every offset.
    let page = [
        PAGE_CHECKSUM_OFFSET,
        PAGE_MAGIC_OFFSET,
        PAGE_VERSION_OFFSET,
        PAGE_RESERVED_A_OFFSET,
        PAGE_RECORD_COUNT_OFFSET,
        PAGE_USED_BYTES_OFFSET,
        PAGE_RUN_BYTES_OFFSET,
        PAGE_RESERVED_B_OFFSET,
        PAGE_HEADER_BYTES,
    ];
    assert_eq!(page, [0, 8, 12, 14, 16, 20, 24, 28, 32]);
    let index = [
        INDEX_CHECKSUM_OFFSET,
        INDEX_MAGIC_OFFSET,
        INDEX_VERSION_OFFSET,
        INDEX_RESERVED_A_OFFSET,
        INDEX_ENTRY_COUNT_OFFSET,
        INDEX_RESERVED_B_OFFSET,
        INDEX_HEADER_BYTES,
    ];
    assert_eq!(index, [0, 8, 12, 14, 16, 20, 24]);
    let entry = [
        ENTRY_FIRST_KEY_OFFSET,
        ENTRY_LAST_KEY_OFFSET,
        ENTRY_OFFSET_OFFSET,
        ENTRY_CHECKSUM_OFFSET,
        ENTRY_RUN_BYTES_OFFSET,
        ENTRY_RECORD_COUNT_OFFSET,
        ENTRY_BYTES,
    ];
    assert_eq!(entry, [0, 16, 32, 40, 48, 52, 56]);
    let footer = [
        FOOTER_CHECKSUM_OFFSET,
        FOOTER_MAGIC_OFFSET,
        FOOTER_VERSION_OFFSET,
        FOOTER_RESERVED_A_OFFSET,
        FOOTER_SPACE_ID_OFFSET,
        FOOTER_DATA_PAGE_COUNT_OFFSET,
        FOOTER_BLOCK_ID_OFFSET,
        FOOTER_RECORD_COUNT_OFFSET,
        FOOTER_MIN_KEY_OFFSET,
        FOOTER_MAX_KEY_OFFSET,
        FOOTER_MIN_REVISION_OFFSET,
        FOOTER_MAX_REVISION_OFFSET,
        FOOTER_INDEX_OFFSET_OFFSET,
        FOOTER_INDEX_BYTES_OFFSET,
        FOOTER_BLOCK_BYTES_OFFSET,
        FOOTER_INDEX_CHECKSUM_OFFSET,
        FOOTER_FILTER_CHECKSUM_OFFSET,
        FOOTER_BYTES,
    ];
    assert_eq!(
        footer,
        [
            0, 8, 12, 14, 16, 20, 24, 32, 40, 56, 72, 80, 88, 96, 104, 112, 120, 128
        ]
    );
}

#[test]
fn small_block_round_trips() {
    // Goal: a block of a few records decodes to the same records and footer.
    // Method: build, read back with BlockReader, compare scan and get.
    let mut builder = BlockBuilder::new(SpaceId(2), BlockId(9));
    let records = [put(5, 3, b"c"), put(5, 1, b"a"), put(8, 2, b"b")];
    for record in records {
        builder.push(record);
    }
    let built = builder.finish();
    assert_eq!(built.bytes.len(), BLOCK_PAGE_BYTES * 2);
    let reader = BlockReader::new(&built.bytes).unwrap();
    assert_eq!(*reader.footer(), built.footer);
    assert_eq!(reader.footer_checksum(), built.footer_checksum);
    let meta = crate::manifest::BlockMeta::from_footer(&built.footer, built.footer_checksum);
    assert_eq!(meta.len_bytes, built.bytes.len() as u64);
    assert_eq!((meta.block_id, meta.record_count), (BlockId(9), 3));
    let scanned: Vec<_> = reader.scan().map(Result::unwrap).collect();
    assert_eq!(scanned, records);
    assert_eq!(reader.get(5, Revision(2)).unwrap(), Some(records[1]));
    assert_eq!(reader.get(5, Revision(0)).unwrap(), None);
    assert_eq!(reader.get(6, Revision(9)).unwrap(), None);
    assert_eq!(built.footer.min_key, 5);
    assert_eq!(built.footer.max_revision, Revision(3));
}

#[test]
fn a_record_larger_than_a_page_gets_a_run() {
    // Goal: a 1 MiB value is stored in a multi-page run and read back whole.
    // Method: small record, big record, small record; the last fits in the big run's tail.
    let big = vec![0x5A_u8; 1 << 20];
    let mut builder = BlockBuilder::new(SpaceId(1), BlockId(1));
    builder.push(put(1, 1, b"x"));
    builder.push(put(2, 1, &big));
    builder.push(put(3, 1, b"y"));
    let built = builder.finish();
    let reader = BlockReader::new(&built.bytes).unwrap();
    let runs: Vec<_> = reader
        .index()
        .pages()
        .map(|location| location.bytes)
        .collect();
    assert_eq!(runs.len(), 2);
    assert_eq!(
        runs[1],
        u32::try_from((1 << 20) + 64_usize).unwrap().div_ceil(4096) * 4096
    );
    assert_eq!(reader.get(2, Revision(1)).unwrap().unwrap().value, &big[..]);
    assert_eq!(reader.scan().count(), 3);
}

#[test]
fn many_versions_of_one_key_span_pages_and_are_all_found() {
    // Goal: pages_for_key returns every run holding a version of a key (docs/design.md §8: an
    // index keyed by first key alone lost records). Method: 1,000 versions of key 7 between
    // neighbours 6 and 8, values sized so they span many runs; look each version up.
    let value = [1_u8; 100];
    let mut builder = BlockBuilder::new(SpaceId(1), BlockId(1));
    builder.push(put(6, 5, &value));
    for revision in (1..=1000).rev() {
        builder.push(put(7, revision, &value));
    }
    builder.push(put(8, 5, &value));
    let built = builder.finish();
    let reader = BlockReader::new(&built.bytes).unwrap();
    let runs: Vec<_> = reader.index().pages_for_key(7).collect();
    assert!(runs.len() > 20, "versions span {} runs", runs.len());
    assert_eq!(runs.len(), reader.index().len());
    let in_runs: u32 = runs.iter().map(|location| location.record_count).sum();
    assert_eq!(in_runs, 1002);
    for revision in 1..=1000 {
        let found = reader.get(7, Revision(revision)).unwrap().unwrap();
        assert_eq!(found.revision, Revision(revision));
    }
    assert_eq!(reader.index().pages_for_key(6).count(), 1);
    assert_eq!(reader.index().pages_for_key(9).count(), 0);
    assert_eq!(reader.index().pages_for_range(8, 7).count(), 0);
}

#[test]
fn a_damaged_page_is_corrupt_and_stops_the_scan() {
    // Goal: a flipped bit inside a data page is Corrupt on get and on scan.
    // Method: flip a value byte in the first run.
    let mut builder = BlockBuilder::new(SpaceId(1), BlockId(1));
    builder.push(put(1, 1, b"hello"));
    let mut built = builder.finish();
    built.bytes[PAGE_HEADER_BYTES + 33] ^= 1;
    let reader = BlockReader::new(&built.bytes).unwrap();
    let error = reader.get(1, Revision(1)).unwrap_err();
    assert_eq!(error.class(), DecodeClass::Corrupt);
    let scanned: Vec<_> = reader.scan().collect();
    assert_eq!(scanned.len(), 1);
    assert!(scanned[0].is_err());
}

#[test]
#[should_panic(expected = "sorted")]
fn builder_rejects_a_duplicate_version() {
    // Goal: an exact duplicate (key, revision) is refused. Method: push it twice.
    let mut builder = BlockBuilder::new(SpaceId(1), BlockId(1));
    builder.push(put(1, 1, b""));
    builder.push(put(1, 1, b""));
}

#[test]
fn range_positions_match_a_scan_of_every_entry() {
    // Goal: the key-column searches (binary search on last keys, gallop on first keys) find
    // exactly the runs whose key span meets `lo..=hi`. Method: a block whose runs hold keys
    // 0, 10, 20, ... with some keys repeated across runs; compare against a scan of every
    // entry for ranges of every width, including gaps, both ends and empty ranges.
    let value = [3_u8; 300];
    let mut builder = BlockBuilder::new(SpaceId(1), BlockId(1));
    for key in 0..200_u128 {
        let versions = if key % 17 == 0 { 40 } else { 1 };
        for revision in (1..=versions).rev() {
            builder.push(put(key * 10, revision, &value));
        }
    }
    let built = builder.finish();
    let reader = BlockReader::new(&built.bytes).unwrap();
    let index = reader.index();
    assert!(index.len() > 50, "{} runs", index.len());
    let naive = |lo: Key, hi: Key| -> Vec<usize> {
        (0..index.len())
            .filter(|&position| {
                let location = index.location(position).unwrap();
                lo <= hi && location.last_key >= lo && location.first_key <= hi
            })
            .collect()
    };
    for lo in (0..2_010_u128).step_by(7) {
        for width in [0_u128, 1, 9, 10, 55, 300, 5_000] {
            let hi = lo + width;
            let found: Vec<usize> = index.positions_for_range(lo, hi).collect();
            assert_eq!(found, naive(lo, hi), "lo {lo} hi {hi}");
        }
        assert_eq!(index.positions_for_range(lo + 1, lo).len(), 0);
        let point: Vec<usize> = index.positions_for_range(lo, lo).collect();
        assert_eq!(point, naive(lo, lo), "key {lo}");
    }
}
