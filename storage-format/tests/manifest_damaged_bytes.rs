//! Damaged manifest edit batches are classified, never panic: truncation at every offset is
//! `Incomplete`, any single bit flip is `Corrupt`, so a torn last batch is dropped whole and
//! never half-applied.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    clippy::cast_possible_truncation,
    reason = "test code: a panic is a test failure"
)]

use infinitedb_format::{
    BlockId, BlockMeta, Checksum, DecodeClass, ManifestEdit, Revision, SegmentId, SpaceId,
    decode_edits, encode_edits,
};

fn batch() -> Vec<u8> {
    let edits = [
        ManifestEdit::CreateSpace {
            space_id: SpaceId(1),
            name: "points".into(),
            dims: 3,
            bits_per_dim: 21,
        },
        ManifestEdit::AddBlock(BlockMeta {
            block_id: BlockId(9),
            space_id: SpaceId(1),
            level: 0,
            len_bytes: 8192,
            min_key: 5,
            max_key: 900,
            min_revision: Revision(1),
            max_revision: Revision(50),
            record_count: 77,
            footer_checksum: Checksum(0xDEAD_BEEF),
        }),
        ManifestEdit::RetireSegment {
            space_id: SpaceId(1),
            segment_id: SegmentId(4),
        },
        ManifestEdit::RemoveBlocks {
            space_id: SpaceId(1),
            block_ids: vec![BlockId(2), BlockId(3)],
        },
        ManifestEdit::RevisionHighWater {
            revision: Revision(51),
        },
    ];
    let mut out = Vec::new();
    encode_edits(&edits, &mut out);
    out
}

#[test]
fn truncated_at_every_offset_is_incomplete() {
    // Goal: a torn batch is Incomplete wherever it is cut. Method: decode every prefix.
    let bytes = batch();
    for length in 0..bytes.len() {
        assert_eq!(
            decode_edits(&bytes[..length]).unwrap_err().class(),
            DecodeClass::Incomplete,
            "cut at {length}"
        );
    }
    assert_eq!(decode_edits(&bytes).unwrap().1, bytes.len());
}

#[test]
fn every_single_bit_flip_is_corrupt() {
    // Goal: damage anywhere in a batch is Corrupt. Method: flip each bit, with trailing bytes.
    let bytes = batch();
    let mut log = bytes.clone();
    log.extend_from_slice(&[0x5A; 256]);
    for bit in 0..bytes.len() * 8 {
        let mut damaged = log.clone();
        damaged[bit / 8] ^= 1 << (bit % 8);
        assert_eq!(
            decode_edits(&damaged).unwrap_err().class(),
            DecodeClass::Corrupt,
            "bit {bit}"
        );
    }
}
