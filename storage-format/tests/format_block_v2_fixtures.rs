//! Blocks of version 2 (a key filter after the index) stay readable: a committed fixture
//! under `tests/fixtures/block_v2/` decodes to known contents with a filter that holds its
//! keys, and today's builder still produces exactly those bytes (a change to the block layout,
//! the filter hash or its probe sequence that forgets to bump a version fails here).
//!
//! Regenerate (only together with a block version bump and a new fixtures folder):
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

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/block_v2/block.bin")
}

#[test]
#[ignore = "writes the fixture: run only with a block version bump"]
fn write_fixture() {
    // Goal: (re)create the committed fixture. Method: build and write the block.
    std::fs::write(path(), fixture()).unwrap();
}

#[test]
fn the_builder_still_writes_the_v2_bytes() {
    // Goal: today's builder produces the committed bytes. Method: compare byte for byte.
    assert_eq!(
        std::fs::read(path()).unwrap(),
        fixture(),
        "block.bin changed: bump the block version"
    );
}

#[test]
fn the_v2_fixture_decodes_to_known_contents() {
    // Goal: version-2 blocks stay readable, their filter included. Method: decode the
    // fixture, scan it, and ask its filter about its two keys and about absent ones.
    let bytes = std::fs::read(path()).unwrap();
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
    assert_eq!((filter.key_count(), filter.bit_count()), (2, 64));
    assert!(filter.may_hold(RECORDS[0].key) && filter.may_hold(RECORDS[2].key));
    let absent = (0..1000_u128)
        .map(|step| (1 << 126) + step)
        .filter(|&key: &Key| !filter.may_hold(key))
        .count();
    assert!(absent > 900, "{absent} of 1000 absent keys ruled out");
}
