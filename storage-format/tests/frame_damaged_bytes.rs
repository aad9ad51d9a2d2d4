//! Damaged frames are classified, never panic: a valid frame truncated at every offset is
//! `Incomplete`, and with any single bit flipped is `Corrupt` (no frame byte is uncovered by
//! a checksum).
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    clippy::cast_possible_truncation,
    reason = "test code: a panic is a test failure"
)]

mod common;

use infinitedb_format::{
    DecodeClass, FRAME_PAYLOAD_BYTES_MAX, RecordKind, RecordRef, Revision, SegmentId, SpaceId,
    decode_frame, encode_frame, frame_encoded_bytes,
};

fn valid_frame() -> Vec<u8> {
    let records = [
        RecordRef {
            key: 1 << 120,
            revision: Revision(10),
            kind: RecordKind::Put,
            value: b"first value",
        },
        RecordRef {
            key: 3,
            revision: Revision(10),
            kind: RecordKind::Delete,
            value: b"",
        },
        RecordRef {
            key: u128::MAX,
            revision: Revision(12),
            kind: RecordKind::Put,
            value: &[7; 90],
        },
    ];
    let mut bytes = vec![0_u8; frame_encoded_bytes(&records)];
    encode_frame(SegmentId(5), SpaceId(6), &records, &mut bytes);
    bytes
}

#[test]
fn truncated_at_every_offset_is_incomplete() {
    // Goal: a torn tail is Incomplete wherever it is cut. Method: decode every prefix.
    let bytes = valid_frame();
    for length in 0..bytes.len() {
        let error =
            decode_frame(&bytes[..length], SegmentId(5), FRAME_PAYLOAD_BYTES_MAX).unwrap_err();
        assert_eq!(
            error.class(),
            DecodeClass::Incomplete,
            "cut at {length}: {error}"
        );
    }
    assert!(decode_frame(&bytes, SegmentId(5), FRAME_PAYLOAD_BYTES_MAX).is_ok());
}

#[test]
fn every_single_bit_flip_is_corrupt() {
    // Goal: damage anywhere in a frame is detected as Corrupt. Method: flip each bit in turn,
    // with the frame followed by more bytes so no length can run past the input.
    let bytes = valid_frame();
    let mut log = bytes.clone();
    log.extend_from_slice(&[0xA5; 4096]);
    for bit in 0..bytes.len() * 8 {
        let mut damaged = log.clone();
        damaged[bit / 8] ^= 1 << (bit % 8);
        let error = decode_frame(&damaged, SegmentId(5), FRAME_PAYLOAD_BYTES_MAX).unwrap_err();
        assert_eq!(error.class(), DecodeClass::Corrupt, "bit {bit}: {error}");
    }
}

#[test]
fn resealed_field_damage_is_corrupt_with_the_field_named() {
    // Goal: fields are validated after the checksums, so a writer bug that checksummed bad
    // fields is still caught. Method: change one byte of each header field and of the first
    // record, recompute both checksums, decode.
    let bytes = valid_frame();
    for offset in 16..bytes.len().min(64 + 32) {
        let mut damaged = bytes.clone();
        damaged[offset] = damaged[offset].wrapping_add(0x41);
        common::reseal(&mut damaged, common::FRAME_HEADER, 56);
        match decode_frame(&damaged, SegmentId(5), FRAME_PAYLOAD_BYTES_MAX) {
            Ok(frame) => {
                // Only a key or value byte, the space id, or the group's frame count can change
                // and stay valid: a frame with no index in a group of any size is its first
                // frame, and a group whose other frames are missing is recovery's to drop.
                assert!(
                    matches!(offset, 22..=23 | 48..=51 | 64..=79),
                    "offset {offset} accepted: {frame:?}"
                );
            }
            Err(error) => assert!(!error.field().is_empty(), "offset {offset}"),
        }
    }
}
