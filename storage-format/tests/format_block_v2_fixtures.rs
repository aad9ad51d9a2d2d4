//! Blocks of version 2 (a key filter after the index) stay readable: committed fixtures decode
//! to known contents with a filter that holds their keys, one per filter version:
//! `tests/fixtures/block_v2/` (filter version 1, a standard Bloom filter; read only) and
//! `tests/fixtures/block_v2_filter_v2/` (filter version 2, blocked). Today's builder still
//! produces exactly the newest fixture's bytes (a change to the block layout, the filter hash,
//! its line choice or its probe positions that forgets to bump a version fails here).
//!
//! Regenerate (only together with a block or filter version bump and a new fixtures folder):
//! `cargo test -p infinitedb-format --test format_block_v2_fixtures -- --ignored write_fixture`.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a panic is a test failure"
)]

use infinitedb_format::{
    BLOCK_FORMAT_VERSION, BlockBuilder, BlockId, BlockReader, Key, RecordKind, RecordRef, Revision,
    SpaceId,
};
use std::path::PathBuf;

const RECORDS: [RecordRef<'static>; 3] = [
    RecordRef {
        key: 1 << 127,
        revision: Revision(41),
        kind: RecordKind::Put,
        value: b"alpha",
    },
    RecordRef {
        key: 1 << 127,
        revision: Revision(40),
        kind: RecordKind::Delete,
        value: b"",
    },
    RecordRef {
        key: (1 << 127) + 1,
        revision: Revision(42),
        kind: RecordKind::Put,
        value: b"b",
    },
];

fn fixture() -> Vec<u8> {
    let mut builder = BlockBuilder::new(SpaceId(3), BlockId(12));
    for record in RECORDS {
        builder.push(record);
    }
    builder.finish().bytes
}

/// The fixture of filter version `filter_version`.
fn path(filter_version: u16) -> PathBuf {
    let folder = match filter_version {
        1 => "block_v2",
        _ => "block_v2_filter_v2",
    };
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(folder)
        .join("block.bin")
}

#[test]
#[ignore = "writes the fixture: run only with a block or filter version bump"]
fn write_fixture() {
    // Goal: (re)create the newest committed fixture. Method: build and write the block.
    let path = path(2);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, fixture()).unwrap();
}

#[test]
fn the_builder_still_writes_the_newest_bytes() {
    // Goal: today's builder produces the newest committed bytes (filter version 2). Method:
    // compare byte for byte.
    assert_eq!(
        std::fs::read(path(2)).unwrap(),
        fixture(),
        "block.bin changed: bump the block or filter version"
    );
}

#[test]
fn the_v2_fixtures_decode_to_known_contents() {
    // Goal: version-2 blocks stay readable, their filter of either version included. Method:
    // decode each fixture, scan it, and ask its filter about its two keys and about absent
    // ones.
    for (filter_version, bit_count) in [(1, 64), (2, 512)] {
        let bytes = std::fs::read(path(filter_version)).unwrap();
        assert_eq!(
            u16::from_le_bytes([bytes[bytes.len() - 116], bytes[bytes.len() - 115]]),
            BLOCK_FORMAT_VERSION
        );
        let block = BlockReader::new(&bytes).unwrap();
        assert_eq!(
            block.scan().collect::<Result<Vec<_>, _>>().unwrap(),
            RECORDS
        );
        let filter = block.filter().unwrap();
        assert_eq!(filter.version(), filter_version);
        assert_eq!((filter.key_count(), filter.bit_count()), (2, bit_count));
        assert!(filter.may_hold(RECORDS[0].key) && filter.may_hold(RECORDS[2].key));
        let absent = (0..1000_u128)
            .map(|step| (1 << 126) + step)
            .filter(|&key: &Key| !filter.may_hold(key))
            .count();
        assert!(
            absent > 900,
            "filter {filter_version}: {absent} of 1000 absent keys ruled out"
        );
    }
}
