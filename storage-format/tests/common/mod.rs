//! Shared generators and fixtures for the scenario tests: valid values of every layout, and
//! helpers that re-seal damaged bytes so decoders get past their checksums.
#![allow(dead_code, reason = "each test file uses a different subset")]
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    clippy::cast_possible_truncation,
    reason = "test code: a panic is a test failure"
)]

use infinitedb_format::{
    BlockId, BlockMeta, Checksum, FRAME_HEADER_BYTES, Key, LogKind, LogMeta, ManifestEdit,
    RecordKind, Revision, SegmentId, SpaceId,
};
use proptest::prelude::*;

/// An owned record, for generators.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedRecord {
    pub key: Key,
    pub revision: Revision,
    pub kind: RecordKind,
    pub value: Vec<u8>,
}

impl OwnedRecord {
    pub fn as_ref(&self) -> infinitedb_format::RecordRef<'_> {
        infinitedb_format::RecordRef {
            key: self.key,
            revision: self.revision,
            kind: self.kind,
            value: &self.value,
        }
    }
}

/// One record: any key, put (with a value up to `value_bytes_max`) or delete.
pub fn record(revision: u64, value_bytes_max: usize) -> impl Strategy<Value = OwnedRecord> {
    (
        any::<u128>(),
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 0..=value_bytes_max),
    )
        .prop_map(move |(key, is_put, value)| OwnedRecord {
            key,
            revision: Revision(revision),
            kind: if is_put {
                RecordKind::Put
            } else {
                RecordKind::Delete
            },
            value: if is_put { value } else { Vec::new() },
        })
}

/// A frame's records: 1..=`count_max` records with non-decreasing revisions from `start`.
pub fn frame_records(count_max: usize) -> impl Strategy<Value = Vec<OwnedRecord>> {
    (
        any::<u64>(),
        proptest::collection::vec((0_u64..3, record(0, 200)), 1..=count_max),
    )
        .prop_map(|(start, steps)| {
            let mut revision = start / 2;
            steps
                .into_iter()
                .map(|(step, mut record)| {
                    revision += step;
                    record.revision = Revision(revision);
                    record
                })
                .collect()
        })
}

/// A valid space name: 1..=255 bytes of UTF-8.
pub fn space_name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_é漢]{1,60}".prop_filter("1..=255 bytes", |name| (1..=255).contains(&name.len()))
}

/// Any valid manifest edit.
pub fn manifest_edit() -> impl Strategy<Value = ManifestEdit> {
    let create = (any::<u32>(), space_name(), 1_u8..=16, 1_u8..=32)
        .prop_filter("dims * bits <= 128", |(_, _, dims, bits)| {
            u32::from(*dims) * u32::from(*bits) <= 128
        })
        .prop_map(
            |(space, name, dims, bits_per_dim)| ManifestEdit::CreateSpace {
                space_id: SpaceId(space),
                name,
                dims,
                bits_per_dim,
            },
        );
    let add = (
        any::<(u32, u64, u64, u64, u64)>(),
        any::<(u128, u128, u64, u64)>(),
    )
        .prop_map(
            |((space, block, len_bytes, record_count, checksum), (a, b, c, d))| {
                ManifestEdit::AddBlock(BlockMeta {
                    block_id: BlockId(block),
                    space_id: SpaceId(space),
                    level: 0,
                    len_bytes,
                    min_key: a.min(b),
                    max_key: a.max(b),
                    min_revision: Revision(c.min(d)),
                    max_revision: Revision(c.max(d)),
                    record_count,
                    footer_checksum: Checksum(checksum),
                })
            },
        );
    let remove =
        (any::<u32>(), proptest::collection::vec(any::<u64>(), 1..20)).prop_map(|(space, ids)| {
            ManifestEdit::RemoveBlocks {
                space_id: SpaceId(space),
                block_ids: ids.into_iter().map(BlockId).collect(),
            }
        });
    let retire =
        (any::<u32>(), any::<u64>()).prop_map(|(space, segment)| ManifestEdit::RetireSegment {
            space_id: SpaceId(space),
            segment_id: SegmentId(segment),
        });
    let high_water = any::<u64>().prop_map(|revision| ManifestEdit::RevisionHighWater {
        revision: Revision(revision),
    });
    let add_log = (any::<bool>(), any::<u32>(), any::<u64>(), any::<u64>()).prop_map(
        |(hot, space, segment, len_bytes)| {
            ManifestEdit::AddLog(LogMeta {
                kind: if hot {
                    LogKind::HotSegment
                } else {
                    LogKind::StagingLog
                },
                space_id: SpaceId(if hot { space } else { 0 }),
                segment_id: SegmentId(segment),
                len_bytes,
            })
        },
    );
    prop_oneof![create, add, remove, retire, high_water, add_log]
}

/// Recomputes both checksums of a (possibly damaged) frame or edit batch at the start of
/// `bytes` whose header is `header_bytes` long and whose `payload_bytes` field is at
/// `payload_bytes_offset`, so that decoding reaches field validation.
pub fn reseal(bytes: &mut [u8], header_bytes: usize, payload_bytes_offset: usize) {
    if bytes.len() < header_bytes {
        return;
    }
    let field: [u8; 4] = bytes[payload_bytes_offset..payload_bytes_offset + 4]
        .try_into()
        .unwrap();
    let payload_bytes = usize::try_from(u32::from_le_bytes(field)).unwrap();
    let end = (header_bytes + payload_bytes).min(bytes.len());
    let payload_checksum = Checksum::of(&bytes[header_bytes..end]);
    bytes[8..16].copy_from_slice(&payload_checksum.0.to_le_bytes());
    let header_checksum = Checksum::of(&bytes[8..header_bytes]);
    bytes[0..8].copy_from_slice(&header_checksum.0.to_le_bytes());
}

/// Recomputes the checksum at offset 0 covering `bytes[8..]` (log and manifest headers).
pub fn reseal_page(bytes: &mut [u8]) {
    if bytes.len() < 8 {
        return;
    }
    let checksum = Checksum::of(&bytes[8..]);
    bytes[0..8].copy_from_slice(&checksum.0.to_le_bytes());
}

/// The frame header size, re-exported for reseal callers.
pub const FRAME_HEADER: usize = FRAME_HEADER_BYTES;

/// Recomputes only the header checksum of a frame (bytes 8..64), leaving the payload
/// checksum as it is.
pub fn reseal_header_only(bytes: &mut [u8]) {
    let header_checksum = Checksum::of(&bytes[8..FRAME_HEADER_BYTES]);
    bytes[0..8].copy_from_slice(&header_checksum.0.to_le_bytes());
}
