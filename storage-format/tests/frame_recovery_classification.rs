//! Recovery decisions are a table: for every combination of a frame header's
//! state and its payload's state, decoding lands in exactly one row of the recovery table,
//! and in the row the table names. The engine maps rows to actions (docs/format.md,
//! "Decoding order and error classes").
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    clippy::cast_possible_truncation,
    reason = "test code: a panic is a test failure"
)]

mod common;

use infinitedb_format::{
    DecodeClass, DecodeError, FRAME_HEADER_BYTES, FRAME_PAYLOAD_BYTES_MAX, Frame, RecordKind,
    RecordRef, Revision, SegmentId, SpaceId, decode_frame, encode_frame, frame_encoded_bytes,
};

const OURS: SegmentId = SegmentId(5);

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum HeaderState {
    Zeroed,
    Torn,
    Damaged,
    Foreign,
    Valid,
    OtherMagic,
    NewerVersion,
    LengthOverMax,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum PayloadState {
    Complete,
    Torn,
    Damaged,
}

/// The recovery table's rows.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Row {
    /// Apply the frame and continue after it.
    Apply,
    /// End of this segment's log: truncate here.
    EndIncomplete,
    /// A leftover frame of a recycled file: end of log, truncate here.
    EndForeign,
    /// Damage: a torn tail if nothing of this segment follows, otherwise corruption.
    Corrupt,
    /// Not a frame of this format: refuse to open.
    RefuseMagic,
    /// Written by a newer build: refuse to open.
    RefuseVersion,
}

/// A row's predicate on a decode result.
type Predicate = fn(&Result<Frame<'_>, DecodeError>) -> bool;

const ROWS: [(Row, Predicate); 6] = [
    (Row::Apply, |result| result.is_ok()),
    (Row::EndIncomplete, |result| {
        class(result) == Some(DecodeClass::Incomplete)
    }),
    (Row::EndForeign, |result| {
        matches!(class(result), Some(DecodeClass::Foreign { .. }))
    }),
    (Row::Corrupt, |result| {
        class(result) == Some(DecodeClass::Corrupt)
    }),
    (Row::RefuseMagic, |result| {
        matches!(class(result), Some(DecodeClass::BadMagic { .. }))
    }),
    (Row::RefuseVersion, |result| {
        matches!(class(result), Some(DecodeClass::UnsupportedVersion { .. }))
    }),
];

fn class(result: &Result<Frame<'_>, DecodeError>) -> Option<DecodeClass> {
    result.as_ref().err().map(DecodeError::class)
}

/// The table: which row each combination must land in.
fn expected_row(header: HeaderState, payload: PayloadState) -> Row {
    match (header, payload) {
        (HeaderState::Zeroed | HeaderState::Torn, _) => Row::EndIncomplete,
        (HeaderState::Damaged | HeaderState::LengthOverMax, _) => Row::Corrupt,
        (HeaderState::Foreign, _) => Row::EndForeign,
        (HeaderState::OtherMagic, _) => Row::RefuseMagic,
        (HeaderState::NewerVersion, _) => Row::RefuseVersion,
        (HeaderState::Valid, PayloadState::Complete) => Row::Apply,
        (HeaderState::Valid, PayloadState::Torn) => Row::EndIncomplete,
        (HeaderState::Valid, PayloadState::Damaged) => Row::Corrupt,
    }
}

fn frame(segment: SegmentId) -> Vec<u8> {
    let records = [
        RecordRef {
            key: 1,
            revision: Revision(7),
            kind: RecordKind::Put,
            value: &[9; 100],
        },
        RecordRef {
            key: 2,
            revision: Revision(8),
            kind: RecordKind::Put,
            value: b"b",
        },
    ];
    let mut out = vec![0; frame_encoded_bytes(&records)];
    encode_frame(segment, SpaceId(1), &records, &mut out);
    out
}

/// Builds the input for one combination: the bytes the decoder is given.
fn input(header: HeaderState, payload: PayloadState) -> Vec<u8> {
    let mut bytes = frame(if header == HeaderState::Foreign {
        SegmentId(4)
    } else {
        OURS
    });
    match header {
        HeaderState::Zeroed => bytes.fill(0),
        HeaderState::Damaged => bytes[30] ^= 0x04,
        HeaderState::OtherMagic | HeaderState::NewerVersion | HeaderState::LengthOverMax => {
            let (offset, value) = match header {
                HeaderState::OtherMagic => (16, 0x00),
                HeaderState::NewerVersion => (20, 0x02),
                _ => (59, 0x40),
            };
            bytes[offset] = value;
            common::reseal_header_only(&mut bytes);
        }
        _ => {}
    }
    match payload {
        PayloadState::Complete => {}
        PayloadState::Torn => bytes.truncate(FRAME_HEADER_BYTES + 40),
        PayloadState::Damaged => bytes[FRAME_HEADER_BYTES + 50] ^= 0x80,
    }
    if header == HeaderState::Torn {
        bytes.truncate(FRAME_HEADER_BYTES - 1);
    }
    bytes
}

#[test]
fn every_combination_matches_exactly_one_row() {
    // Goal: see module doc. Method: enumerate header × payload states, decode, and count
    // the rows whose predicate holds.
    let headers = [
        HeaderState::Zeroed,
        HeaderState::Torn,
        HeaderState::Damaged,
        HeaderState::Foreign,
        HeaderState::Valid,
        HeaderState::OtherMagic,
        HeaderState::NewerVersion,
        HeaderState::LengthOverMax,
    ];
    let payloads = [
        PayloadState::Complete,
        PayloadState::Torn,
        PayloadState::Damaged,
    ];
    for header in headers {
        for payload in payloads {
            let bytes = input(header, payload);
            let result = decode_frame(&bytes, OURS, FRAME_PAYLOAD_BYTES_MAX);
            let matching: Vec<Row> = ROWS
                .iter()
                .filter(|(_, predicate)| predicate(&result))
                .map(|(row, _)| *row)
                .collect();
            assert_eq!(
                matching,
                [expected_row(header, payload)],
                "{header:?} × {payload:?}: {result:?}"
            );
        }
    }
}
