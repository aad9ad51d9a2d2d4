//! Damaged blocks are detected, never panic: with any single bit flipped, opening or reading
//! the block fails with `Corrupt` or `Incomplete`, except in the one region no checksum covers
//! (the zero padding between the index and the footer), where reads return the original
//! records. Truncations of the block are errors.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    clippy::cast_possible_truncation,
    reason = "test code: a panic is a test failure"
)]

use infinitedb_format::{
    BLOCK_FOOTER_BYTES, BlockBuilder, BlockId, BlockReader, DecodeClass, DecodeError, RecordKind,
    RecordRef, Revision, SpaceId,
};

fn block() -> Vec<u8> {
    let mut builder = BlockBuilder::new(SpaceId(1), BlockId(2));
    let big = [3_u8; 5000];
    for key in 0..40_u128 {
        for revision in (1..4).rev() {
            let value: &[u8] = if key == 20 && revision == 2 {
                &big
            } else {
                b"value"
            };
            let kind = if revision == 3 && key % 7 == 0 {
                RecordKind::Delete
            } else {
                RecordKind::Put
            };
            let value = if kind == RecordKind::Delete {
                &[][..]
            } else {
                value
            };
            builder.push(RecordRef {
                key: key << 64,
                revision: Revision(revision),
                kind,
                value,
            });
        }
    }
    builder.finish().bytes
}

fn read_all(bytes: &[u8]) -> Result<Vec<RecordRef<'_>>, DecodeError> {
    let reader = BlockReader::new(bytes)?;
    reader.get(20 << 64, Revision(2))?;
    reader.scan().collect()
}

#[test]
fn every_single_bit_flip_is_detected_or_harmless() {
    // Goal: see module doc. Method: flip every fifth bit (5 is coprime to 8, so every bit
    // position of a byte is hit) of a multi-run block and read it all.
    let bytes = block();
    let original = read_all(&bytes).unwrap();
    assert_eq!(original.len(), 120);
    let reader = BlockReader::new(&bytes).unwrap();
    let padding = (reader.footer().index_offset + reader.footer().index_bytes) as usize
        ..bytes.len() - BLOCK_FOOTER_BYTES;
    for bit in (0..bytes.len() * 8).step_by(5) {
        let mut damaged = bytes.clone();
        damaged[bit / 8] ^= 1 << (bit % 8);
        match read_all(&damaged) {
            Ok(records) => {
                assert!(padding.contains(&(bit / 8)), "bit {bit} undetected");
                assert_eq!(records, original);
            }
            Err(error) => assert!(
                matches!(
                    error.class(),
                    DecodeClass::Corrupt | DecodeClass::Incomplete
                ),
                "bit {bit}: {error}"
            ),
        }
    }
}

#[test]
fn truncated_blocks_are_errors() {
    // Goal: a short block never reads as valid. Method: every 61st prefix and the last byte.
    let bytes = block();
    for length in (0..bytes.len()).step_by(61).chain([bytes.len() - 1]) {
        let error = read_all(&bytes[..length]).unwrap_err();
        assert!(
            matches!(
                error.class(),
                DecodeClass::Corrupt | DecodeClass::Incomplete
            ),
            "{error}"
        );
    }
}
