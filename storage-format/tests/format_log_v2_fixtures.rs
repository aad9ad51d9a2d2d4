//! Logs of version 2 (stamped sectors) stay readable: a committed fixture under
//! `tests/fixtures/log_v2/` (a log header page and two stamped frames) decodes to known
//! contents, and today's encoders still produce exactly those bytes (a layout change that
//! forgets to bump the log version fails here).
//!
//! Regenerate (only together with a log version bump and a new fixtures folder):
//! `cargo test -p infinitedb-format --test format_log_v2_fixtures -- --ignored write_fixture`.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a panic is a test failure"
)]

use infinitedb_format::{
    FRAME_PAYLOAD_BYTES_MAX, LOG_HEADER_BYTES, LogHeader, LogKind, LogLayout, RecordKind,
    RecordRef, Revision, SegmentId, SpaceId, StampedFrame, decode_stamped_frame,
    encode_stamped_frame, frame_encoded_bytes, stamped_frame_bytes,
};
use std::path::PathBuf;

const FIRST: [RecordRef<'static>; 2] = [
    RecordRef {
        key: 1 << 127,
        revision: Revision(40),
        kind: RecordKind::Delete,
        value: b"",
    },
    RecordRef {
        key: 1 << 127,
        revision: Revision(41),
        kind: RecordKind::Put,
        value: b"alpha",
    },
];
const SECOND_VALUE: [u8; 600] = [0x42; 600];
const SECOND: [RecordRef<'static>; 1] = [RecordRef {
    key: (1 << 127) + 1,
    revision: Revision(42),
    kind: RecordKind::Put,
    value: &SECOND_VALUE,
}];

fn fixture() -> Vec<u8> {
    let header = LogHeader {
        layout: LogLayout::Stamped,
        kind: LogKind::HotSegment,
        segment_id: SegmentId(7),
        space_id: SpaceId(3),
        created_revision: Revision(39),
    };
    let first = stamped_frame_bytes(frame_encoded_bytes(&FIRST));
    let second = stamped_frame_bytes(frame_encoded_bytes(&SECOND));
    let mut log = vec![0; LOG_HEADER_BYTES + first + second];
    header.encode(&mut log);
    let at = LOG_HEADER_BYTES;
    encode_stamped_frame(SegmentId(7), SpaceId(3), &FIRST, at as u64, &mut log[at..]);
    let at = LOG_HEADER_BYTES + first;
    encode_stamped_frame(SegmentId(7), SpaceId(3), &SECOND, at as u64, &mut log[at..]);
    log
}

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/log_v2/hot_segment.bin")
}

#[test]
#[ignore = "writes the fixture: run only with a log version bump"]
fn write_fixture() {
    // Goal: (re)create the committed fixture. Method: encode and write the file.
    std::fs::create_dir_all(path().parent().unwrap()).unwrap();
    std::fs::write(path(), fixture()).unwrap();
}

#[test]
fn encoders_still_write_the_v2_log_bytes() {
    // Goal: today's encoders produce the committed bytes. Method: compare byte for byte.
    assert_eq!(
        std::fs::read(path()).unwrap(),
        fixture(),
        "bump the log version"
    );
}

#[test]
fn v2_log_fixture_decodes_to_known_contents() {
    // Goal: a version-2 log stays readable. Method: decode the header, then the frames at
    // sector-aligned positions, then the end of the log.
    let bytes = std::fs::read(path()).unwrap();
    let header = LogHeader::decode(&bytes).unwrap();
    assert_eq!(header.layout, LogLayout::Stamped);
    assert_eq!(int_u16(&bytes[12..14]), 2);
    let mut scratch = Vec::new();
    let mut offset = LOG_HEADER_BYTES;
    for expected in [&FIRST[..], &SECOND[..]] {
        match decode_stamped_frame(
            &bytes,
            offset,
            SegmentId(7),
            FRAME_PAYLOAD_BYTES_MAX,
            &mut scratch,
        ) {
            StampedFrame::Valid {
                frame,
                physical_bytes,
            } => {
                assert_eq!(frame.records().collect::<Vec<_>>(), expected);
                offset += physical_bytes;
            }
            other => panic!("frame at {offset}: {other:?}"),
        }
    }
    assert_eq!(offset, bytes.len());
    assert_eq!(offset, LOG_HEADER_BYTES + 512 + 1024);
}

fn int_u16(bytes: &[u8]) -> u16 {
    u16::from_le_bytes(bytes.try_into().unwrap())
}
