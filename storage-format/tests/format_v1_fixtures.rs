//! Files written by format version 1 stay readable: committed fixtures under
//! `tests/fixtures/v1/` decode to known contents, and today's encoders still produce exactly
//! those bytes (a layout change that forgets to bump the version fails here). The block is
//! the exception: this build writes block version 2 (`tests/format_block_v2_fixtures.rs`), so
//! the version-1 `block.bin` is only read, and the manifest fixture's `AddBlock` describes it.
//!
//! Regenerate (only together with a version bump and a new fixtures folder):
//! `cargo test -p infinitedb-format --test format_v1_fixtures -- --ignored write_fixtures`.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    clippy::cast_possible_truncation,
    reason = "test code: a panic is a test failure"
)]

use infinitedb_format::{
    BlockId, BlockMeta, BlockReader, Checksum, FRAME_PAYLOAD_BYTES_MAX, LOG_HEADER_BYTES,
    LogHeader, LogKind, LogLayout, MANIFEST_HEADER_BYTES, ManifestEdit, ManifestHeader, RecordKind,
    RecordRef, Revision, SegmentId, SpaceId, decode_edits, decode_frame, encode_edits,
    encode_frame, frame_encoded_bytes,
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

fn fixtures() -> Vec<(&'static str, Vec<u8>)> {
    let frame_records = [RECORDS[1], RECORDS[0], RECORDS[2]];
    let mut frame = vec![0; frame_encoded_bytes(&frame_records)];
    encode_frame(SegmentId(7), SpaceId(3), &frame_records, &mut frame);
    let mut log_header = vec![0; LOG_HEADER_BYTES];
    let header = LogHeader {
        layout: LogLayout::Contiguous,
        kind: LogKind::HotSegment,
        segment_id: SegmentId(7),
        space_id: SpaceId(3),
        created_revision: Revision(39),
    };
    header.encode(&mut log_header);
    let block_bytes = std::fs::read(path("block.bin")).unwrap();
    let block = BlockReader::new(&block_bytes).unwrap();
    let mut manifest = vec![0; MANIFEST_HEADER_BYTES];
    ManifestHeader { generation: 2 }.encode(&mut manifest);
    let edits = [
        ManifestEdit::CreateSpace {
            space_id: SpaceId(3),
            name: "grid".into(),
            dims: 2,
            bits_per_dim: 16,
        },
        ManifestEdit::AddBlock(BlockMeta::from_footer(
            block.footer(),
            block.footer_checksum(),
        )),
        ManifestEdit::RetireSegment {
            space_id: SpaceId(3),
            segment_id: SegmentId(7),
        },
        ManifestEdit::RemoveBlocks {
            space_id: SpaceId(3),
            block_ids: vec![BlockId(1)],
        },
        ManifestEdit::RevisionHighWater {
            revision: Revision(43),
        },
    ];
    encode_edits(&edits, &mut manifest);
    vec![
        ("frame.bin", frame),
        ("log_header.bin", log_header),
        ("manifest.bin", manifest),
    ]
}

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/v1")
        .join(name)
}

#[test]
#[ignore = "writes the fixtures: run only with a format version bump"]
fn write_fixtures() {
    // Goal: (re)create the committed fixtures. Method: encode and write each file.
    for (name, bytes) in fixtures() {
        std::fs::write(path(name), bytes).unwrap();
    }
}

#[test]
fn encoders_still_write_the_v1_bytes() {
    // Goal: today's encoders produce the committed v1 bytes. Method: compare byte for byte.
    for (name, bytes) in fixtures() {
        assert_eq!(
            std::fs::read(path(name)).unwrap(),
            bytes,
            "{name} changed: bump the version"
        );
    }
}

#[test]
fn v1_fixtures_decode_to_known_contents() {
    // Goal: version-1 files stay readable. Method: decode each fixture, check its contents.
    let frame_bytes = std::fs::read(path("frame.bin")).unwrap();
    let frame = decode_frame(&frame_bytes, SegmentId(7), FRAME_PAYLOAD_BYTES_MAX).unwrap();
    assert_eq!(
        frame.records().collect::<Vec<_>>(),
        [RECORDS[1], RECORDS[0], RECORDS[2]]
    );
    let header = LogHeader::decode(&std::fs::read(path("log_header.bin")).unwrap()).unwrap();
    assert_eq!(
        (header.layout, header.segment_id, header.created_revision),
        (LogLayout::Contiguous, SegmentId(7), Revision(39))
    );
    let block_bytes = std::fs::read(path("block.bin")).unwrap();
    let block = BlockReader::new(&block_bytes).unwrap();
    assert_eq!(
        block.scan().collect::<Result<Vec<_>, _>>().unwrap(),
        RECORDS
    );
    assert_eq!(block.filter(), None, "a version-1 block has no key filter");
    for key in [0, RECORDS[0].key, RECORDS[2].key + 1, u128::MAX] {
        assert!(block.may_hold(key), "a version-1 block may hold key {key}");
    }
    assert_eq!(
        block.get(RECORDS[2].key, Revision(42)).unwrap(),
        Some(RECORDS[2])
    );
    let manifest = std::fs::read(path("manifest.bin")).unwrap();
    assert_eq!(ManifestHeader::decode(&manifest).unwrap().generation, 2);
    let (edits, consumed) = decode_edits(&manifest[MANIFEST_HEADER_BYTES..]).unwrap();
    assert_eq!(consumed, manifest.len() - MANIFEST_HEADER_BYTES);
    let ManifestEdit::AddBlock(meta) = &edits[1] else {
        panic!("edit 1 is {:?}", edits[1])
    };
    assert_eq!(meta.footer_checksum, block.footer_checksum());
    assert_ne!(meta.footer_checksum, Checksum(0));
}
