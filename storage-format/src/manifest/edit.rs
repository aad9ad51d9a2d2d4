//! The edits inside a manifest batch payload (`docs/format.md`, "Manifest edit batch").
//!
//! Owns: the edit enum and the per-edit layouts. Each edit starts with a tag byte; all
//! integers are little-endian; reserved bytes are zero. Invariants: names and id lists are
//! bounded by the bytes present before they are allocated.

use crate::checksum::Checksum;
use crate::error::{DecodeError, Expected, FileKind};
use crate::ids::{BlockId, Key, Revision, SegmentId, SpaceId};
use crate::int;
use crate::layout::{check_zero, ensure, read_u8, read_u32, read_u64, read_u128};
use crate::segment_header::LogKind;

/// The longest space name, in bytes of UTF-8.
pub const SPACE_NAME_BYTES_MAX: usize = 255;
/// The most dimensions a space may have.
const DIMS_MAX: u8 = 16;
/// The most bits per dimension.
const BITS_PER_DIM_MAX: u8 = 32;
/// The bits of a Hilbert key.
const KEY_BITS: u32 = 128;

const TAG_CREATE_SPACE: u8 = 1;
const TAG_ADD_BLOCK: u8 = 2;
const TAG_REMOVE_BLOCKS: u8 = 3;
const TAG_RETIRE_SEGMENT: u8 = 4;
const TAG_REVISION_HIGH_WATER: u8 = 5;
const TAG_ADD_LOG: u8 = 6;
const TAG_SET_RETENTION: u8 = 7;
const TAG_SPACE_SEALED: u8 = 8;

/// Size of `CreateSpace` before the name: tag, dims, bits, name length, space id.
const CREATE_SPACE_FIXED_BYTES: usize = 8;
/// Size of `AddBlock`.
const ADD_BLOCK_BYTES: usize = 88;
/// Size of `RemoveBlocks` before the ids: tag, 3 reserved, space id, count, 4 reserved.
const REMOVE_BLOCKS_FIXED_BYTES: usize = 16;
/// Size of `RetireSegment`, `RevisionHighWater`, `SetRetention` and `SpaceSealed`.
const SMALL_EDIT_BYTES: usize = 16;
/// Size of `AddLog`.
const ADD_LOG_BYTES: usize = 24;

/// The number of levels a block may be placed in: `0..LEVEL_COUNT`.
pub const LEVEL_COUNT: u8 = 8;

/// What the manifest records about a sealed block: where it is and what it holds.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct BlockMeta {
    /// The block's id (its file name derives from it).
    pub block_id: BlockId,
    /// The space it belongs to.
    pub space_id: SpaceId,
    /// Its level in the space: 0 for a block sealed from the live tail (level-0 blocks may
    /// overlap each other), `1..LEVEL_COUNT` for a compaction's output (the blocks of one
    /// such level hold disjoint key ranges).
    pub level: u8,
    /// The block file's length in bytes.
    pub len_bytes: u64,
    /// The smallest key.
    pub min_key: Key,
    /// The largest key.
    pub max_key: Key,
    /// The smallest revision.
    pub min_revision: Revision,
    /// The largest revision.
    pub max_revision: Revision,
    /// The number of records.
    pub record_count: u64,
    /// The block footer's checksum: checked when the block is opened.
    pub footer_checksum: Checksum,
}

impl BlockMeta {
    /// The manifest's record of a block, from its footer and footer checksum (as returned by
    /// `BlockBuilder::finish` or `BlockFooter::decode`).
    #[must_use]
    pub fn from_footer(footer: &crate::block::BlockFooter, footer_checksum: Checksum) -> Self {
        Self {
            block_id: footer.block_id,
            space_id: footer.space_id,
            level: 0,
            len_bytes: footer.block_bytes,
            min_key: footer.min_key,
            max_key: footer.max_key,
            min_revision: footer.min_revision,
            max_revision: footer.max_revision,
            record_count: footer.record_count,
            footer_checksum,
        }
    }
}

/// What the manifest records about a log file that may hold records not yet in blocks: a hot
/// segment or a staging log, from the moment it can receive frames until it is retired.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct LogMeta {
    /// Hot segment or staging log.
    pub kind: LogKind,
    /// The space of a hot segment; 0 for a staging log.
    pub space_id: SpaceId,
    /// The log's segment id (its file name and its header carry it).
    pub segment_id: SegmentId,
    /// The file's length in bytes (logs are pre-written at full size and never resized).
    pub len_bytes: u64,
}

/// One change to the database's catalogue.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ManifestEdit {
    /// A new space (tag 1).
    CreateSpace {
        /// Its id.
        space_id: SpaceId,
        /// Its unique name, 1..=255 bytes of UTF-8.
        name: String,
        /// Dimensions, 1..=16.
        dims: u8,
        /// Bits per dimension, 1..=32, with `dims * bits_per_dim <= 128`.
        bits_per_dim: u8,
    },
    /// A sealed block became part of its space (tag 2).
    AddBlock(BlockMeta),
    /// Blocks left their space (compaction) (tag 3).
    RemoveBlocks {
        /// The space.
        space_id: SpaceId,
        /// The blocks removed, at least one.
        block_ids: Vec<BlockId>,
    },
    /// A hot segment's records are all in blocks; the file may be recycled (tag 4).
    RetireSegment {
        /// The space.
        space_id: SpaceId,
        /// The segment retired.
        segment_id: SegmentId,
    },
    /// Every revision below this one has been assigned (tag 5).
    RevisionHighWater {
        /// The high-water mark.
        revision: Revision,
    },
    /// A log file may receive frames from now on (tag 6): it must exist, with this length and
    /// a header naming it, until a `RetireSegment` of its segment id.
    AddLog(LogMeta),
    /// The versions a space keeps from now on (tag 7); a space without one keeps every
    /// version ([`Retention::All`]).
    SetRetention {
        /// The space.
        space_id: SpaceId,
        /// Its policy.
        retention: Retention,
    },
    /// Every record of the space at or below `revision` is in its blocks or was dropped by
    /// its retention (tag 8). Recovery skips log records at or below it, even when no
    /// block holds that revision any more (a compaction dropped its last versions).
    SpaceSealed {
        /// The space.
        space_id: SpaceId,
        /// The mark.
        revision: Revision,
    },
}

/// Which versions of each point a space keeps once compaction has merged them. Reads at the
/// latest revision see the same answers under every policy; older versions are dropped only
/// by compaction, never from the live tail, and a snapshot keeps reading the
/// blocks it started with.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum Retention {
    /// Every version, forever.
    #[default]
    All,
    /// Only the newest version of each point; a delete is dropped once no older version of
    /// its point remains below it.
    Latest,
    /// The newest `n` versions of each point (`n >= 1`).
    Versions(u32),
    /// Every version newer than the database's last `n` revisions (as of each compaction),
    /// and the newest version at or below that horizon, so reads at any of the last `n`
    /// revisions stay exact.
    Window(u64),
}

impl Retention {
    /// The policy's (kind byte, parameter) in the `SetRetention` layout.
    fn to_parts(self) -> (u8, u64) {
        match self {
            Retention::All => (0, 0),
            Retention::Latest => (1, 0),
            Retention::Versions(count) => (2, u64::from(count)),
            Retention::Window(revisions) => (3, revisions),
        }
    }

    /// The policy of a (kind byte, parameter) pair, if it is one.
    fn from_parts(kind: u8, parameter: u64) -> Option<Retention> {
        match (kind, parameter) {
            (0, 0) => Some(Retention::All),
            (1, 0) => Some(Retention::Latest),
            (2, count) => u32::try_from(count)
                .ok()
                .filter(|&count| count >= 1)
                .map(Retention::Versions),
            (3, revisions) => Some(Retention::Window(revisions)),
            _ => None,
        }
    }
}

/// True when `dims` and `bits_per_dim` describe a valid space.
fn space_shape_is_valid(dims: u8, bits_per_dim: u8) -> bool {
    (1..=DIMS_MAX).contains(&dims)
        && (1..=BITS_PER_DIM_MAX).contains(&bits_per_dim)
        && u32::from(dims) * u32::from(bits_per_dim) <= KEY_BITS
}

/// Appends one edit's encoding to `out`.
pub(crate) fn encode_edit(edit: &ManifestEdit, out: &mut Vec<u8>) {
    let start = out.len();
    match edit {
        ManifestEdit::CreateSpace {
            space_id,
            name,
            dims,
            bits_per_dim,
        } => {
            assert!(
                space_shape_is_valid(*dims, *bits_per_dim),
                "space shape out of range"
            );
            let name_bytes = u8::try_from(name.len()).ok().filter(|&bytes| bytes > 0);
            assert!(name_bytes.is_some(), "space name is 1..=255 bytes");
            out.resize(start + CREATE_SPACE_FIXED_BYTES, 0);
            let fixed = out.get_mut(start..).unwrap_or_default();
            int::write_bytes(
                fixed,
                0,
                &[
                    TAG_CREATE_SPACE,
                    *dims,
                    *bits_per_dim,
                    name_bytes.unwrap_or(0),
                ],
            );
            int::write_u32(fixed, 4, space_id.0);
            out.extend_from_slice(name.as_bytes());
        }
        ManifestEdit::AddBlock(meta) => encode_add_block(meta, out),
        ManifestEdit::RemoveBlocks {
            space_id,
            block_ids,
        } => encode_remove_blocks(*space_id, block_ids, out),
        ManifestEdit::RetireSegment {
            space_id,
            segment_id,
        } => encode_small_edit([TAG_RETIRE_SEGMENT, 0], space_id.0, segment_id.0, out),
        ManifestEdit::RevisionHighWater { revision } => {
            encode_small_edit([TAG_REVISION_HIGH_WATER, 0], 0, revision.0, out);
        }
        ManifestEdit::AddLog(meta) => encode_add_log(meta, out),
        ManifestEdit::SetRetention {
            space_id,
            retention,
        } => {
            let (kind, parameter) = retention.to_parts();
            assert!(
                Retention::from_parts(kind, parameter).is_some(),
                "Retention::Versions keeps at least one version"
            );
            encode_small_edit([TAG_SET_RETENTION, kind], space_id.0, parameter, out);
        }
        ManifestEdit::SpaceSealed { space_id, revision } => {
            encode_small_edit([TAG_SPACE_SEALED, 0], space_id.0, revision.0, out);
        }
    }
}

/// Appends a `RemoveBlocks` edit.
fn encode_remove_blocks(space_id: SpaceId, block_ids: &[BlockId], out: &mut Vec<u8>) {
    let start = out.len();
    assert!(
        !block_ids.is_empty(),
        "RemoveBlocks names at least one block"
    );
    let count = int::u32_from_usize(block_ids.len()).unwrap_or(u32::MAX);
    out.resize(start + REMOVE_BLOCKS_FIXED_BYTES, 0);
    let fixed = out.get_mut(start..).unwrap_or_default();
    int::write_u8(fixed, 0, TAG_REMOVE_BLOCKS);
    int::write_u32(fixed, 4, space_id.0);
    int::write_u32(fixed, 8, count);
    for block_id in block_ids {
        out.extend_from_slice(&block_id.0.to_le_bytes());
    }
}

/// Appends a 16-byte edit: bytes 0 and 1 (tag and a kind, or zero), 2..4 zero, a `u32` at 4
/// (a space id, or zero) and a `u64` at 8.
fn encode_small_edit(head: [u8; 2], word: u32, value: u64, out: &mut Vec<u8>) {
    let mut fixed = [0_u8; SMALL_EDIT_BYTES];
    int::write_bytes(&mut fixed, 0, &head);
    int::write_u32(&mut fixed, 4, word);
    int::write_u64(&mut fixed, 8, value);
    out.extend_from_slice(&fixed);
}

/// Appends an `AddLog` edit.
fn encode_add_log(meta: &LogMeta, out: &mut Vec<u8>) {
    assert!(
        meta.kind == LogKind::HotSegment || meta.space_id == SpaceId(0),
        "a staging log has space id 0"
    );
    let mut fixed = [0_u8; ADD_LOG_BYTES];
    int::write_u8(&mut fixed, 0, TAG_ADD_LOG);
    int::write_u8(&mut fixed, 1, meta.kind.to_byte());
    int::write_u32(&mut fixed, 4, meta.space_id.0);
    int::write_u64(&mut fixed, 8, meta.segment_id.0);
    int::write_u64(&mut fixed, 16, meta.len_bytes);
    out.extend_from_slice(&fixed);
}

/// Appends an `AddBlock` edit.
fn encode_add_block(meta: &BlockMeta, out: &mut Vec<u8>) {
    assert!(meta.min_key <= meta.max_key, "block key range is ordered");
    assert!(
        meta.min_revision <= meta.max_revision,
        "block revision range is ordered"
    );
    assert!(meta.level < LEVEL_COUNT, "block level is below LEVEL_COUNT");
    let mut fixed = [0_u8; ADD_BLOCK_BYTES];
    int::write_u8(&mut fixed, 0, TAG_ADD_BLOCK);
    int::write_u8(&mut fixed, 1, meta.level);
    int::write_u32(&mut fixed, 4, meta.space_id.0);
    int::write_u64(&mut fixed, 8, meta.block_id.0);
    int::write_u64(&mut fixed, 16, meta.len_bytes);
    int::write_u64(&mut fixed, 24, meta.record_count);
    int::write_u128(&mut fixed, 32, meta.min_key);
    int::write_u128(&mut fixed, 48, meta.max_key);
    int::write_u64(&mut fixed, 64, meta.min_revision.0);
    int::write_u64(&mut fixed, 72, meta.max_revision.0);
    int::write_u64(&mut fixed, 80, meta.footer_checksum.0);
    out.extend_from_slice(&fixed);
}

/// Decodes `edit_count` edits filling `payload` exactly. Offsets are relative to `payload`.
pub(crate) fn decode_payload(
    payload: &[u8],
    edit_count: u32,
) -> Result<Vec<ManifestEdit>, DecodeError> {
    let mut edits = Vec::new();
    let mut offset = 0;
    for _ in 0..edit_count {
        let (edit, end) = decode_edit(payload, offset)?;
        edits.push(edit);
        offset = end;
    }
    let expected = Expected::Equal(int::u128_from_usize(payload.len()));
    let found = int::u128_from_usize(offset);
    ensure(
        offset == payload.len(),
        FileKind::ManifestEdit,
        "payload_bytes",
        expected,
        found,
        offset,
    )?;
    Ok(edits)
}

/// Fails unless `payload` holds `needed` bytes from `offset`.
fn need(
    payload: &[u8],
    offset: usize,
    needed: usize,
    field: &'static str,
) -> Result<(), DecodeError> {
    let have = payload.len().saturating_sub(offset);
    let expected = Expected::AtLeast(int::u128_from_usize(needed));
    ensure(
        have >= needed,
        FileKind::ManifestEdit,
        field,
        expected,
        int::u128_from_usize(have),
        offset,
    )
}

/// Decodes the edit at `offset`; returns it and the offset after it.
fn decode_edit(payload: &[u8], offset: usize) -> Result<(ManifestEdit, usize), DecodeError> {
    let kind = FileKind::ManifestEdit;
    let tag = read_u8(kind, "tag", payload, offset)?;
    match tag {
        TAG_CREATE_SPACE => decode_create_space(payload, offset),
        TAG_ADD_BLOCK => decode_add_block(payload, offset),
        TAG_REMOVE_BLOCKS => decode_remove_blocks(payload, offset),
        TAG_RETIRE_SEGMENT => {
            need(payload, offset, SMALL_EDIT_BYTES, "retire_segment")?;
            check_zero(kind, "reserved", payload, offset + 1, 3)?;
            let space_id = SpaceId(read_u32(kind, "space_id", payload, offset + 4)?);
            let segment_id = SegmentId(read_u64(kind, "segment_id", payload, offset + 8)?);
            Ok((
                ManifestEdit::RetireSegment {
                    space_id,
                    segment_id,
                },
                offset + SMALL_EDIT_BYTES,
            ))
        }
        TAG_REVISION_HIGH_WATER => {
            need(payload, offset, SMALL_EDIT_BYTES, "revision_high_water")?;
            check_zero(kind, "reserved", payload, offset + 1, 7)?;
            let revision = Revision(read_u64(kind, "revision", payload, offset + 8)?);
            Ok((
                ManifestEdit::RevisionHighWater { revision },
                offset + SMALL_EDIT_BYTES,
            ))
        }
        TAG_ADD_LOG => decode_add_log(payload, offset),
        TAG_SET_RETENTION => decode_set_retention(payload, offset),
        TAG_SPACE_SEALED => {
            need(payload, offset, SMALL_EDIT_BYTES, "space_sealed")?;
            check_zero(kind, "reserved", payload, offset + 1, 3)?;
            let space_id = SpaceId(read_u32(kind, "space_id", payload, offset + 4)?);
            let revision = Revision(read_u64(kind, "revision", payload, offset + 8)?);
            Ok((
                ManifestEdit::SpaceSealed { space_id, revision },
                offset + SMALL_EDIT_BYTES,
            ))
        }
        _ => Err(DecodeError::corrupt(
            kind,
            "tag",
            Expected::Describe("1..=8"),
            u128::from(tag),
            offset,
        )),
    }
}

/// Decodes a `SetRetention` edit at `offset`.
fn decode_set_retention(
    payload: &[u8],
    offset: usize,
) -> Result<(ManifestEdit, usize), DecodeError> {
    let kind = FileKind::ManifestEdit;
    need(payload, offset, SMALL_EDIT_BYTES, "set_retention")?;
    let policy = read_u8(kind, "retention_kind", payload, offset + 1)?;
    check_zero(kind, "reserved", payload, offset + 2, 2)?;
    let space_id = SpaceId(read_u32(kind, "space_id", payload, offset + 4)?);
    let parameter = read_u64(kind, "retention_parameter", payload, offset + 8)?;
    let Some(retention) = Retention::from_parts(policy, parameter) else {
        return Err(DecodeError::corrupt(
            kind,
            "retention_kind",
            Expected::Describe(
                "0 all, 1 latest (parameter 0), 2 versions (1..=u32::MAX), 3 window",
            ),
            u128::from(policy),
            offset + 1,
        ));
    };
    Ok((
        ManifestEdit::SetRetention {
            space_id,
            retention,
        },
        offset + SMALL_EDIT_BYTES,
    ))
}

/// Decodes an `AddLog` edit at `offset`.
fn decode_add_log(payload: &[u8], offset: usize) -> Result<(ManifestEdit, usize), DecodeError> {
    let kind = FileKind::ManifestEdit;
    need(payload, offset, ADD_LOG_BYTES, "add_log")?;
    let kind_byte = read_u8(kind, "log_kind", payload, offset + 1)?;
    let Some(log_kind) = LogKind::from_byte(kind_byte) else {
        return Err(DecodeError::corrupt(
            kind,
            "log_kind",
            Expected::Describe("1 (hot segment) or 2 (staging log)"),
            u128::from(kind_byte),
            offset + 1,
        ));
    };
    check_zero(kind, "reserved", payload, offset + 2, 2)?;
    let space_id = SpaceId(read_u32(kind, "space_id", payload, offset + 4)?);
    if log_kind == LogKind::StagingLog {
        ensure(
            space_id == SpaceId(0),
            kind,
            "space_id",
            Expected::Equal(0),
            u128::from(space_id.0),
            offset + 4,
        )?;
    }
    let meta = LogMeta {
        kind: log_kind,
        space_id,
        segment_id: SegmentId(read_u64(kind, "segment_id", payload, offset + 8)?),
        len_bytes: read_u64(kind, "len_bytes", payload, offset + 16)?,
    };
    Ok((ManifestEdit::AddLog(meta), offset + ADD_LOG_BYTES))
}

/// Decodes a `CreateSpace` edit at `offset`.
fn decode_create_space(
    payload: &[u8],
    offset: usize,
) -> Result<(ManifestEdit, usize), DecodeError> {
    let kind = FileKind::ManifestEdit;
    need(payload, offset, CREATE_SPACE_FIXED_BYTES, "create_space")?;
    let dims = read_u8(kind, "dims", payload, offset + 1)?;
    let bits_per_dim = read_u8(kind, "bits_per_dim", payload, offset + 2)?;
    let expected = Expected::Describe("1..=16 dims of 1..=32 bits, <= 128 bits");
    ensure(
        space_shape_is_valid(dims, bits_per_dim),
        kind,
        "dims",
        expected,
        u128::from(dims),
        offset + 1,
    )?;
    let name_bytes = usize::from(read_u8(kind, "name_bytes", payload, offset + 3)?);
    let found = int::u128_from_usize(name_bytes);
    ensure(
        name_bytes >= 1,
        kind,
        "name_bytes",
        Expected::AtLeast(1),
        found,
        offset + 3,
    )?;
    let space_id = SpaceId(read_u32(kind, "space_id", payload, offset + 4)?);
    let name_offset = offset + CREATE_SPACE_FIXED_BYTES;
    need(payload, name_offset, name_bytes, "name_bytes")?;
    let end = name_offset + name_bytes;
    let raw = payload.get(name_offset..end).unwrap_or_default();
    let Ok(name) = std::str::from_utf8(raw) else {
        return Err(DecodeError::corrupt(
            kind,
            "name",
            Expected::Describe("UTF-8"),
            found,
            name_offset,
        ));
    };
    let edit = ManifestEdit::CreateSpace {
        space_id,
        name: name.to_owned(),
        dims,
        bits_per_dim,
    };
    Ok((edit, end))
}

/// Decodes an `AddBlock` edit at `offset`.
fn decode_add_block(payload: &[u8], offset: usize) -> Result<(ManifestEdit, usize), DecodeError> {
    let kind = FileKind::ManifestEdit;
    need(payload, offset, ADD_BLOCK_BYTES, "add_block")?;
    let level = read_u8(kind, "level", payload, offset + 1)?;
    ensure(
        level < LEVEL_COUNT,
        kind,
        "level",
        Expected::AtMost(u128::from(LEVEL_COUNT - 1)),
        u128::from(level),
        offset + 1,
    )?;
    check_zero(kind, "reserved", payload, offset + 2, 2)?;
    let meta = BlockMeta {
        level,
        space_id: SpaceId(read_u32(kind, "space_id", payload, offset + 4)?),
        block_id: BlockId(read_u64(kind, "block_id", payload, offset + 8)?),
        len_bytes: read_u64(kind, "len_bytes", payload, offset + 16)?,
        record_count: read_u64(kind, "record_count", payload, offset + 24)?,
        min_key: read_u128(kind, "min_key", payload, offset + 32)?,
        max_key: read_u128(kind, "max_key", payload, offset + 48)?,
        min_revision: Revision(read_u64(kind, "min_revision", payload, offset + 64)?),
        max_revision: Revision(read_u64(kind, "max_revision", payload, offset + 72)?),
        footer_checksum: Checksum(read_u64(kind, "footer_checksum", payload, offset + 80)?),
    };
    ensure(
        meta.min_key <= meta.max_key,
        kind,
        "max_key",
        Expected::AtLeast(meta.min_key),
        meta.max_key,
        offset + 48,
    )?;
    let expected = Expected::AtLeast(u128::from(meta.min_revision.0));
    let found = u128::from(meta.max_revision.0);
    ensure(
        meta.min_revision <= meta.max_revision,
        kind,
        "max_revision",
        expected,
        found,
        offset + 72,
    )?;
    Ok((ManifestEdit::AddBlock(meta), offset + ADD_BLOCK_BYTES))
}

/// Decodes a `RemoveBlocks` edit at `offset`; the id count is bounded by the bytes present
/// before the vector is allocated.
fn decode_remove_blocks(
    payload: &[u8],
    offset: usize,
) -> Result<(ManifestEdit, usize), DecodeError> {
    let kind = FileKind::ManifestEdit;
    need(payload, offset, REMOVE_BLOCKS_FIXED_BYTES, "remove_blocks")?;
    check_zero(kind, "reserved", payload, offset + 1, 3)?;
    check_zero(kind, "reserved", payload, offset + 12, 4)?;
    let space_id = SpaceId(read_u32(kind, "space_id", payload, offset + 4)?);
    let count = int::usize_from_u32(read_u32(kind, "block_count", payload, offset + 8)?);
    let found = int::u128_from_usize(count);
    ensure(
        count >= 1,
        kind,
        "block_count",
        Expected::AtLeast(1),
        found,
        offset + 8,
    )?;
    let ids_offset = offset + REMOVE_BLOCKS_FIXED_BYTES;
    let available = payload.len().saturating_sub(ids_offset) / 8;
    let expected = Expected::AtMost(int::u128_from_usize(available));
    ensure(
        count <= available,
        kind,
        "block_count",
        expected,
        found,
        offset + 8,
    )?;
    let mut block_ids = Vec::with_capacity(count);
    for position in 0..count {
        block_ids.push(BlockId(read_u64(
            kind,
            "block_id",
            payload,
            ids_offset + position * 8,
        )?));
    }
    Ok((
        ManifestEdit::RemoveBlocks {
            space_id,
            block_ids,
        },
        ids_offset + count * 8,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_log_layout_is_pinned() {
        // Goal: the AddLog bytes are those docs/format.md gives. Method: encode one edit with
        // distinct field values and read each field at its documented offset; decode it back.
        let meta = LogMeta {
            kind: LogKind::HotSegment,
            space_id: SpaceId(0x0102_0304),
            segment_id: SegmentId(0x1112_1314_1516_1718),
            len_bytes: 0x2122_2324_2526_2728,
        };
        let mut out = Vec::new();
        encode_edit(&ManifestEdit::AddLog(meta), &mut out);
        assert_eq!(out.len(), 24);
        assert_eq!(out[0], TAG_ADD_LOG);
        assert_eq!(out[1], 1, "log_kind: hot segment");
        assert_eq!(&out[2..4], &[0, 0], "reserved");
        assert_eq!(out[4..8], 0x0102_0304_u32.to_le_bytes());
        assert_eq!(out[8..16], 0x1112_1314_1516_1718_u64.to_le_bytes());
        assert_eq!(out[16..24], 0x2122_2324_2526_2728_u64.to_le_bytes());
        let (decoded, end) = decode_edit(&out, 0).unwrap();
        assert_eq!((decoded, end), (ManifestEdit::AddLog(meta), 24));
    }

    #[test]
    fn retention_and_sealed_mark_layouts_are_pinned() {
        // Goal: SetRetention and SpaceSealed bytes are those docs/format.md gives, every
        // policy round-trips, and a kind or parameter that is no policy is Corrupt. Method:
        // encode each, read the fields at their documented offsets, decode, then patch.
        let policies = [
            (Retention::All, 0, 0),
            (Retention::Latest, 1, 0),
            (Retention::Versions(3), 2, 3),
            (Retention::Window(1 << 40), 3, 1 << 40),
        ];
        for (retention, kind_byte, parameter) in policies {
            let edit = ManifestEdit::SetRetention {
                space_id: SpaceId(0x0102_0304),
                retention,
            };
            let mut out = Vec::new();
            encode_edit(&edit, &mut out);
            assert_eq!(out.len(), 16);
            assert_eq!((out[0], out[1]), (TAG_SET_RETENTION, kind_byte));
            assert_eq!(out[4..8], 0x0102_0304_u32.to_le_bytes());
            assert_eq!(out[8..16], u64::to_le_bytes(parameter));
            assert_eq!(decode_edit(&out, 0).unwrap(), (edit, 16));
        }
        let mut out = Vec::new();
        let latest = ManifestEdit::SetRetention {
            space_id: SpaceId(1),
            retention: Retention::Versions(1),
        };
        encode_edit(&latest, &mut out);
        for (position, byte) in [(1, 9_u8), (8, 0), (12, 1), (2, 1)] {
            let mut bad = out.clone();
            bad[position] = byte;
            assert!(decode_edit(&bad, 0).is_err(), "byte {position} = {byte}");
        }
        let sealed = ManifestEdit::SpaceSealed {
            space_id: SpaceId(7),
            revision: Revision(0x1112_1314_1516_1718),
        };
        let mut out = Vec::new();
        encode_edit(&sealed, &mut out);
        assert_eq!(out[0], TAG_SPACE_SEALED);
        assert_eq!(out[8..16], 0x1112_1314_1516_1718_u64.to_le_bytes());
        assert_eq!(decode_edit(&out, 0).unwrap(), (sealed, 16));
    }

    #[test]
    fn add_block_carries_its_level() {
        // Goal: AddBlock's byte 1 is the level, a level of LEVEL_COUNT or more is Corrupt, and
        // a level-0 edit has the bytes of the format's first AddBlock (byte 1 was reserved).
        let meta = BlockMeta {
            block_id: BlockId(5),
            space_id: SpaceId(2),
            level: 3,
            len_bytes: 8192,
            min_key: 1,
            max_key: 9,
            min_revision: Revision(4),
            max_revision: Revision(6),
            record_count: 2,
            footer_checksum: Checksum(77),
        };
        let mut out = Vec::new();
        encode_edit(&ManifestEdit::AddBlock(meta), &mut out);
        assert_eq!(out[1], 3);
        assert_eq!(
            decode_edit(&out, 0).unwrap().0,
            ManifestEdit::AddBlock(meta)
        );
        out[1] = LEVEL_COUNT;
        assert!(decode_edit(&out, 0).is_err());
        out[1] = 0;
        let (ManifestEdit::AddBlock(level_zero), _) = decode_edit(&out, 0).unwrap() else {
            panic!("an AddBlock");
        };
        assert_eq!(level_zero.level, 0);
    }

    #[test]
    fn add_log_rejects_an_unknown_kind_and_a_staging_log_of_a_space() {
        // Goal: fields that cannot be a log are Corrupt, not a guess. Method: patch the kind
        // byte to 3, and a staging log's space id to 1; both fail to decode.
        let meta = LogMeta {
            kind: LogKind::StagingLog,
            space_id: SpaceId(0),
            segment_id: SegmentId(9),
            len_bytes: 4096,
        };
        let mut out = Vec::new();
        encode_edit(&ManifestEdit::AddLog(meta), &mut out);
        let mut bad_kind = out.clone();
        bad_kind[1] = 3;
        assert!(decode_edit(&bad_kind, 0).is_err());
        let mut bad_space = out;
        bad_space[4] = 1;
        assert!(decode_edit(&bad_space, 0).is_err());
    }
}
