//! The manifest: the durable catalogue of spaces, blocks, live logs, retired segments and the
//! revision high-water mark (docs/design.md §5 "Manifest", §6 "Seal", docs/format.md "Manifest").
//!
//! Owns: replaying the file on open, appending edit batches durably, and rewriting the file
//! atomically when it grows (write `MANIFEST.tmp`, fdatasync, rename over `MANIFEST`, fsync
//! the directory). Invariants:
//! - An edit batch is applied to the in-memory state only after it is durable.
//! - Appends are serial (the caller holds the `Manifest` behind a mutex) and each is one edit
//!   batch written with one `write_durable`, so only the last batch can be torn.
//! - Appends rewrite the partial tail page with its durable prefix unchanged (from memory).
//!   Bytes past the durable end were never written: the file is only ever created by a
//!   rewrite (zero padding to the page, then EOF), and after a failed append the next append
//!   first rewrites the file, so no second write ever lands on a region an earlier one may
//!   have reached.
//! - The first batch (at `MANIFEST_HEADER_BYTES`) is written by the rewrite, durably, before
//!   the file gets its name: it can never be torn.
//!
//! Replay, torn tail against damage. A batch that fails to decode is `Error::Corruption` if a
//! valid batch follows it (damage inside acknowledged history). Otherwise it is the last
//! batch, and it is a torn tail (an append never acknowledged: ignored, the open goes on) only
//! if a torn write could have produced it. An append is one write of whole 512-byte sectors
//! from the tail page on, and a crash keeps any subset of them; a lost sector reads as it was
//! before the append: zeros past the old end, or past EOF. So the last batch is torn iff
//! 1. it is not the first batch, and its failure is `Incomplete` or a checksum mismatch
//!    (fields that fail under a matching checksum are never a tear), and
//! 2. its extent reaches past EOF or holds an all-zero sector part (`scan::unwritten_sectors`;
//!    a sector part is the extent's bytes within one 512-byte sector). The extent is the
//!    declared `32 + payload_bytes` when the batch header's checksum holds (then
//!    `payload_bytes` is trusted: a flip in it fails the header checksum), and else the 32
//!    header bytes alone. A header straddling a sector boundary is two parts, each judged
//!    on its own bytes; and
//! 3. no single bit flip at a byte outside the zero parts makes it decode
//!    (`scan::one_bit_repair`). This settles the case where the batch itself holds only
//!    zeros in one sector part, e.g. the high bytes of a trailing `RetireSegment`'s segment
//!    id alone in the last sector: a flip elsewhere would otherwise pass for a tear. A torn
//!    write only zeroes whole parts, so a one-bit repair at a written byte is a flip. The
//!    probe costs `8 × extent` decodes and runs for extents up to
//!    [`FLIP_PROBE_BYTES_MAX`] (appended batches are seals and space creations, far below).
//!
//! Otherwise it is `Error::Corruption { file: MANIFEST, offset }`: open fails closed, and the
//! blocks the batch names stay on disk. Zero padding after the last batch is outside every
//! batch: a flip there never fails the open (nothing acknowledged lives there, and the next
//! rewrite drops it). Right after the last batch, a would-be header of at most one set bit is
//! padding: a real header holds its magic `IDBE` (10 set bits), which one flip cannot clear.
//! Residual risk, outside the single-flip model: damage of several bits in a batch that also
//! holds a zero sector part, or a whole lost or zeroed sector of an acknowledged last batch,
//! reads as a tear; recovery then refuses to delete a block whose records exist nowhere
//! else (recovery.rs), so such damage still fails closed when it would lose a block.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use infinitedb_format::offsets::{EDIT_MAGIC_OFFSET, EDIT_VERSION_OFFSET};
use infinitedb_format::{
    BlockId, BlockMeta, DecodeClass, DecodeError, Expected, LogMeta, MANIFEST_HEADER_BYTES,
    ManifestEdit, ManifestHeader, Retention, Revision, SegmentId, SpaceId, decode_edits,
    encode_edits,
};
use uring_io::{AlignedBuf, FileHandle, OpenMode, SECTOR_BYTES, Storage};

use crate::error::{Error, Result};
use crate::scan::{find_valid_after, one_bit_repair, unwritten_sectors};

/// Rewrite the manifest once appends have grown it past this size.
pub(crate) const MANIFEST_REWRITE_BYTES: u64 = 4 * 1024 * 1024;
/// Probe a damaged last batch for a one-bit repair only up to this extent: the probe costs
/// `8 × extent` decodes of the extent (at most 32,768 decodes of 4 KiB, once, on open);
/// appended batches (seals, space creations) are a few hundred bytes.
pub(crate) const FLIP_PROBE_BYTES_MAX: usize = 4096;
/// Bytes of an edit batch header (docs/format.md "Manifest edit batch"): after the version
/// (u16) come reserved (u16), edit_count (u32) and payload_bytes (u32), the last field.
/// `storage-format` does not export it; `edit_header_bytes_is_pinned` checks it.
const EDIT_HEADER_BYTES: usize = EDIT_VERSION_OFFSET + 2 + 2 + 4 + 4;
/// Magic bytes of an edit batch (`IDBE`, docs/format.md).
const EDIT_MAGIC: [u8; 4] = infinitedb_format::magic::MANIFEST_EDIT_MAGIC.to_le_bytes();

/// A space as the manifest records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SpaceRecord {
    pub(crate) name: String,
    pub(crate) dims: u8,
    pub(crate) bits_per_dim: u8,
    pub(crate) retention: Retention,
    /// Every record at or below it is in blocks or dropped by retention (`SpaceSealed`).
    pub(crate) sealed: Revision,
}

/// The catalogue the edits describe.
#[derive(Clone, Debug, Default)]
pub(crate) struct ManifestState {
    pub(crate) spaces: BTreeMap<SpaceId, SpaceRecord>,
    pub(crate) blocks: BTreeMap<BlockId, BlockMeta>,
    /// Logs that may hold records not yet in blocks (`AddLog` and not yet retired): each must
    /// exist on open, whole and naming itself.
    pub(crate) logs: BTreeMap<SegmentId, LogMeta>,
    /// Retired logs whose files are not yet recycled or removed; a staging log's space is 0.
    pub(crate) retired: BTreeSet<(SpaceId, SegmentId)>,
    pub(crate) revision_high: Revision,
}

impl ManifestState {
    /// The retention recorded for `space` (`All` when it records none).
    pub(crate) fn retention(&self, space: SpaceId) -> Retention {
        self.spaces
            .get(&space)
            .map_or(Retention::All, |record| record.retention)
    }

    /// Applies one edit.
    pub(crate) fn apply(&mut self, edit: &ManifestEdit) {
        match edit {
            ManifestEdit::CreateSpace {
                space_id,
                name,
                dims,
                bits_per_dim,
            } => {
                let record = SpaceRecord {
                    name: name.clone(),
                    dims: *dims,
                    bits_per_dim: *bits_per_dim,
                    retention: Retention::All,
                    sealed: Revision(0),
                };
                self.spaces.insert(*space_id, record);
            }
            ManifestEdit::AddBlock(meta) => {
                self.blocks.insert(meta.block_id, *meta);
                self.revision_high = self.revision_high.max(meta.max_revision);
            }
            ManifestEdit::RemoveBlocks { block_ids, .. } => {
                for block_id in block_ids {
                    self.blocks.remove(block_id);
                }
            }
            ManifestEdit::RetireSegment {
                space_id,
                segment_id,
            } => {
                self.logs.remove(segment_id);
                self.retired.insert((*space_id, *segment_id));
            }
            ManifestEdit::RevisionHighWater { revision } => {
                self.revision_high = self.revision_high.max(*revision);
            }
            ManifestEdit::AddLog(meta) => {
                self.logs.insert(meta.segment_id, *meta);
            }
            ManifestEdit::SetRetention {
                space_id,
                retention,
            } => {
                if let Some(space) = self.spaces.get_mut(space_id) {
                    space.retention = *retention;
                }
            }
            ManifestEdit::SpaceSealed { space_id, revision } => {
                if let Some(space) = self.spaces.get_mut(space_id) {
                    space.sealed = space.sealed.max(*revision);
                }
            }
            _ => {}
        }
    }

    /// The edits that recreate this state in one batch (a rewrite's content).
    fn snapshot_edits(&self) -> Vec<ManifestEdit> {
        let spaces = self.spaces.iter().flat_map(|(space_id, record)| {
            let create = ManifestEdit::CreateSpace {
                space_id: *space_id,
                name: record.name.clone(),
                dims: record.dims,
                bits_per_dim: record.bits_per_dim,
            };
            // The defaults (keep all, nothing sealed) need no edit.
            let retention =
                (record.retention != Retention::All).then_some(ManifestEdit::SetRetention {
                    space_id: *space_id,
                    retention: record.retention,
                });
            let sealed = (record.sealed > Revision(0)).then_some(ManifestEdit::SpaceSealed {
                space_id: *space_id,
                revision: record.sealed,
            });
            std::iter::once(create).chain(retention).chain(sealed)
        });
        let blocks = self
            .blocks
            .values()
            .map(|meta| ManifestEdit::AddBlock(*meta));
        let logs = self.logs.values().map(|meta| ManifestEdit::AddLog(*meta));
        let retired =
            self.retired
                .iter()
                .map(|(space_id, segment_id)| ManifestEdit::RetireSegment {
                    space_id: *space_id,
                    segment_id: *segment_id,
                });
        let high = std::iter::once(ManifestEdit::RevisionHighWater {
            revision: self.revision_high,
        });
        spaces
            .chain(blocks)
            .chain(logs)
            .chain(retired)
            .chain(high)
            .collect()
    }
}

/// The open manifest file.
#[derive(Debug)]
pub(crate) struct Manifest {
    storage: Arc<dyn Storage>,
    path: PathBuf,
    temporary_path: PathBuf,
    file: FileHandle,
    end_bytes: u64,
    tail_page: Vec<u8>,
    generation: u64,
    state: ManifestState,
    /// Set when an append (or a rewrite) failed: the file may then hold bytes of a batch
    /// that was never acknowledged past the durable end, or `file` may no longer be the file
    /// named `MANIFEST`. The next append first rewrites the manifest from `state` (a fresh
    /// file, renamed over), so no write ever lands on a region an earlier one may have reached.
    rewrite_needed: bool,
}

impl Manifest {
    /// Reads the manifest at `path` (its torn tail ignored) and returns the catalogue with the
    /// generation of the file.
    pub(crate) fn replay(storage: &dyn Storage, path: &PathBuf) -> Result<(ManifestState, u64)> {
        let file = storage.open(path, OpenMode::Read)?;
        let len_bytes = storage.file_len(&file)?;
        let length = usize::try_from(len_bytes)
            .unwrap_or(usize::MAX)
            .max(MANIFEST_HEADER_BYTES);
        let mut buf = AlignedBuf::with_capacity_for(length, storage.info().alignment_bytes)?;
        let read = storage.read_at(&file, 0, &mut buf)?;
        let bytes = &buf[..read.min(buf.len())];
        let header = ManifestHeader::decode(bytes).map_err(|error| {
            Error::corruption(path, error.offset(), format!("manifest header: {error}"))
        })?;
        let mut state = ManifestState::default();
        let mut offset = MANIFEST_HEADER_BYTES;
        while offset < bytes.len() {
            match decode_edits(&bytes[offset..]) {
                Ok((edits, consumed)) => {
                    debug_assert!(consumed > 0);
                    edits.iter().for_each(|edit| state.apply(edit));
                    offset += consumed;
                }
                Err(error) => {
                    replay_check_tail(path, bytes, offset, &error)?;
                    break;
                }
            }
        }
        Ok((state, header.generation))
    }

    /// Writes a new manifest holding `state` (generation `generation`) atomically over
    /// `path`, and opens it for appends.
    pub(crate) fn write_new(
        storage: Arc<dyn Storage>,
        path: PathBuf,
        temporary_path: PathBuf,
        state: ManifestState,
        generation: u64,
    ) -> Result<Manifest> {
        if storage.exists(&temporary_path)? {
            storage.remove_file(&temporary_path)?;
        }
        let mut bytes = vec![0_u8; MANIFEST_HEADER_BYTES];
        ManifestHeader { generation }.encode(&mut bytes);
        let edits = state.snapshot_edits();
        if !edits.is_empty() {
            encode_edits(&edits, &mut bytes);
        }
        let alignment = storage.info().alignment_bytes;
        let mut buf = AlignedBuf::with_capacity_for(bytes.len(), alignment)?;
        buf[..bytes.len()].copy_from_slice(&bytes);
        let temporary = storage.open(&temporary_path, OpenMode::CreateNew)?;
        storage.write_durable(&temporary, 0, &buf)?;
        drop(temporary);
        storage.rename(&temporary_path, &path)?;
        if let Some(dir) = path.parent() {
            storage.sync_dir(dir)?;
        }
        let file = storage.open(&path, OpenMode::ReadWrite)?;
        let end_bytes = bytes.len() as u64;
        let mut manifest = Manifest {
            storage,
            path,
            temporary_path,
            file,
            end_bytes,
            tail_page: vec![0; alignment],
            generation,
            state,
            rewrite_needed: false,
        };
        manifest.set_tail_page(&buf, 0);
        Ok(manifest)
    }

    /// The catalogue.
    pub(crate) fn state(&self) -> &ManifestState {
        &self.state
    }

    /// Appends `edits` as one batch, durably, then applies them; rewrites the file when it has
    /// grown past [`MANIFEST_REWRITE_BYTES`]. After a failed append the next one rewrites the
    /// manifest first (see `rewrite_needed`), so appends go on once the device recovers (a
    /// full disk freed): nothing is poisoned until reopen.
    pub(crate) fn append(&mut self, edits: &[ManifestEdit]) -> Result<()> {
        if self.rewrite_needed {
            self.rewrite()?;
        }
        let result = self.append_batch(edits);
        if result.is_err() {
            self.rewrite_needed = true;
        }
        result
    }

    fn append_batch(&mut self, edits: &[ManifestEdit]) -> Result<()> {
        debug_assert!(!edits.is_empty());
        debug_assert!(!self.rewrite_needed);
        let alignment = self.tail_page.len() as u64;
        let offset = self.end_bytes / alignment * alignment;
        let prefix_bytes = usize::try_from(self.end_bytes - offset).unwrap_or(0);
        let mut bytes = self.tail_page[..prefix_bytes].to_vec();
        encode_edits(edits, &mut bytes);
        let mut buf = AlignedBuf::with_capacity_for(bytes.len(), self.tail_page.len())?;
        buf[..bytes.len()].copy_from_slice(&bytes);
        self.storage.write_durable(&self.file, offset, &buf)?;
        self.end_bytes = offset + bytes.len() as u64;
        self.set_tail_page(&buf, offset);
        edits.iter().for_each(|edit| self.state.apply(edit));
        if self.end_bytes > MANIFEST_REWRITE_BYTES && self.rewrite().is_err() {
            // The batch is durable and applied; a failed compaction only leaves
            // `rewrite_needed` set, and the next append tries it again first.
            debug_assert!(self.rewrite_needed);
        }
        Ok(())
    }

    /// Forgets a retired segment whose file was recycled or removed (it need not survive the
    /// next rewrite).
    pub(crate) fn forget_retired(&mut self, space: SpaceId, segment: SegmentId) {
        self.state.retired.remove(&(space, segment));
    }

    /// Rewrites the manifest atomically with the current state.
    pub(crate) fn rewrite(&mut self) -> Result<()> {
        self.rewrite_needed = true;
        let next = Manifest::write_new(
            self.storage.clone(),
            self.path.clone(),
            self.temporary_path.clone(),
            self.state.clone(),
            self.generation + 1,
        )?;
        *self = next;
        Ok(())
    }

    /// Keeps the partial page at the end of the durable bytes.
    fn set_tail_page(&mut self, buf: &AlignedBuf, offset: u64) {
        let alignment = self.tail_page.len() as u64;
        let tail_start = self.end_bytes / alignment * alignment;
        let from = usize::try_from(tail_start - offset).unwrap_or(0);
        let used = usize::try_from(self.end_bytes - tail_start).unwrap_or(0);
        self.tail_page.fill(0);
        if let Some(source) = buf.get(from..from + used) {
            self.tail_page[..used].copy_from_slice(source);
        }
    }
}

/// Decides the fate of the batch at `offset` that failed to decode with `error`: `Ok` when it
/// is a torn tail (replay ends there), `Error::Corruption` naming `path` otherwise (the rule
/// is in the module doc).
fn replay_check_tail(path: &Path, bytes: &[u8], offset: usize, error: &DecodeError) -> Result<()> {
    let damage =
        |detail: String| Error::corruption(path, offset as u64, format!("{error}; {detail}"));
    if !matches!(
        error.class(),
        DecodeClass::Incomplete | DecodeClass::Corrupt
    ) {
        return Err(damage("not an edit batch of this format".to_string()));
    }
    let later = find_valid_after(
        bytes,
        offset + 1,
        EDIT_MAGIC,
        EDIT_MAGIC_OFFSET,
        |candidate| decode_edits(candidate).is_ok(),
    );
    if let Some(later) = later {
        return Err(damage(format!("a valid edit batch follows at {later}")));
    }
    match tail_damage(bytes, offset, error) {
        None => Ok(()),
        Some(detail) => Err(damage(detail)),
    }
}

/// Why the last batch, at `offset`, cannot be a torn tail; `None` if it can (module doc, rules
/// 1 to 3).
fn tail_damage(bytes: &[u8], offset: usize, error: &DecodeError) -> Option<String> {
    debug_assert!(offset >= MANIFEST_HEADER_BYTES);
    if offset == MANIFEST_HEADER_BYTES {
        return Some("the first batch is written before the file is named: never torn".into());
    }
    let checksum_or_length =
        error.class() == DecodeClass::Incomplete || error.field().ends_with("checksum");
    if !checksum_or_length {
        return Some("a field is invalid under a matching checksum: not a torn write".into());
    }
    let declared = bytes.get(offset..).and_then(declared_batch_bytes);
    let extent_bytes = declared.unwrap_or(EDIT_HEADER_BYTES);
    let extent = offset..offset.saturating_add(extent_bytes);
    // Past EOF: the append's end never reached the file.
    let extent_data = bytes.get(extent.clone())?;
    let set_bits: u32 = extent_data.iter().map(|byte| byte.count_ones()).sum();
    if declared.is_none() && set_bits <= 1 {
        return None; // zero padding, perhaps with one flipped bit: no batch starts here
    }
    let unwritten = unwritten_sectors(bytes, extent.clone(), SECTOR_BYTES);
    if unwritten.is_empty() {
        return Some(format!(
            "every sector of bytes {extent:?} was written: a bit flip, not a torn write"
        ));
    }
    if extent_bytes > FLIP_PROBE_BYTES_MAX {
        return None;
    }
    let decodes = |candidate: &[u8]| match declared {
        Some(_) => decode_edits(candidate).is_ok(),
        None => declared_batch_bytes(candidate).is_some(),
    };
    one_bit_repair(bytes, extent, &unwritten, decodes)
        .map(|bit| format!("one bit at offset {bit} differs: a bit flip, not a torn write"))
}

/// The bytes the batch starting `rest` declares (`32 + payload_bytes`) if its header checks
/// out (checksum, magic, version and limits), else `None`. The decoder, given the header
/// alone, reports a trusted header as an `Incomplete` payload that needs that many bytes.
fn declared_batch_bytes(rest: &[u8]) -> Option<usize> {
    let header = rest.get(..EDIT_HEADER_BYTES)?;
    let error = decode_edits(header).err()?;
    let trusted = error.class() == DecodeClass::Incomplete && error.field() == "payload_bytes";
    match error.expected() {
        Expected::AtLeast(batch_bytes) if trusted => usize::try_from(batch_bytes).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use infinitedb_format::Checksum;

    /// A seal's batch: `AddBlock` then `RetireSegment` (its segment id's 7 high bytes are zero).
    fn seal_edits() -> Vec<ManifestEdit> {
        let meta = BlockMeta {
            block_id: BlockId(9),
            space_id: SpaceId(1),
            level: 0,
            len_bytes: 8192,
            min_key: 3,
            max_key: 700,
            min_revision: Revision(2),
            max_revision: Revision(41),
            record_count: 40,
            footer_checksum: Checksum(0x5eed_f00d_dead_beef),
        };
        vec![
            ManifestEdit::AddBlock(meta),
            ManifestEdit::RetireSegment {
                space_id: SpaceId(1),
                segment_id: SegmentId(3),
            },
        ]
    }

    /// A manifest image: a (zero) header page, a first batch of `filler_bytes`, the seal
    /// batch, zeros to the next page. Returns the bytes and the seal batch's extent.
    fn image(filler_bytes: usize) -> (Vec<u8>, std::ops::Range<usize>) {
        // 32 header + (8 + name) + 16 per RetireSegment, with a name of 16..=31 bytes.
        let edits_bytes = filler_bytes - EDIT_HEADER_BYTES - 8;
        let name_bytes = 16 + edits_bytes % 16;
        let retire_count = (edits_bytes - name_bytes) / 16;
        let mut filler = vec![ManifestEdit::CreateSpace {
            space_id: SpaceId(1),
            name: "n".repeat(name_bytes),
            dims: 2,
            bits_per_dim: 16,
        }];
        filler.extend((0..retire_count).map(|index| ManifestEdit::RetireSegment {
            space_id: SpaceId(1),
            segment_id: SegmentId(100 + index as u64),
        }));
        let mut bytes = vec![0_u8; MANIFEST_HEADER_BYTES];
        encode_edits(&filler, &mut bytes);
        let start = bytes.len();
        encode_edits(&seal_edits(), &mut bytes);
        let end = bytes.len();
        assert_eq!(start - MANIFEST_HEADER_BYTES, filler_bytes);
        bytes.resize(end.next_multiple_of(4096), 0);
        (bytes, start..end)
    }

    fn verdict(bytes: &[u8], offset: usize) -> Option<String> {
        let error = decode_edits(&bytes[offset..]).err().unwrap();
        tail_damage(bytes, offset, &error)
    }

    #[test]
    fn edit_header_bytes_is_pinned() {
        // Goal: the local header size and the decoder's error shape that
        // `declared_batch_bytes` relies on match storage-format. Method: a seal batch's
        // header alone declares the batch's length; one byte less, or a flipped header
        // byte, declares nothing.
        let mut bytes = Vec::new();
        encode_edits(&seal_edits(), &mut bytes);
        assert_eq!(EDIT_HEADER_BYTES, 32);
        assert_eq!(declared_batch_bytes(&bytes), Some(bytes.len()));
        assert_eq!(declared_batch_bytes(&bytes[..EDIT_HEADER_BYTES - 1]), None);
        for index in 0..EDIT_HEADER_BYTES {
            let mut flipped = bytes.clone();
            flipped[index] ^= 0x04;
            assert_eq!(declared_batch_bytes(&flipped), None, "byte {index}");
        }
    }

    #[test]
    fn every_flip_in_the_last_batch_is_damage_and_zeroed_sectors_are_torn() {
        // Goal: the rule of the module doc on every layout of the last batch against the
        // 512-byte sector grid, including a last sector part holding only the zero high
        // bytes of the segment id (only the one-bit probe tells a flip from a tear there).
        // Method: for every start position modulo 512, flip each bit of the last batch
        // (damage) and zero each of its sector parts that holds a non-zero byte (torn).
        let mut zero_part_layouts = 0;
        for filler_bytes in 56..56 + 512 {
            let (bytes, batch) = image(filler_bytes);
            assert!(decode_edits(&bytes[batch.start..]).is_ok());
            let parts = unwritten_sectors(&bytes, batch.clone(), SECTOR_BYTES);
            zero_part_layouts += usize::from(!parts.is_empty());
            for offset in batch.clone() {
                for bit in 0..8 {
                    let mut damaged = bytes.clone();
                    damaged[offset] ^= 1 << bit;
                    assert!(
                        verdict(&damaged, batch.start).is_some(),
                        "filler {filler_bytes}: flip at {offset} bit {bit} taken for a tear"
                    );
                }
            }
            let mut start = batch.start;
            while start < batch.end {
                let end = ((start / SECTOR_BYTES + 1) * SECTOR_BYTES).min(batch.end);
                let mut torn = bytes.clone();
                torn[start..end].fill(0);
                if torn != bytes {
                    let found = verdict(&torn, batch.start);
                    assert_eq!(found, None, "filler {filler_bytes}: lost {start}..{end}");
                }
                start = end;
            }
            let mut short = bytes.clone();
            short.truncate(batch.end - 1);
            assert_eq!(verdict(&short, batch.start), None, "cut at EOF");
        }
        assert!(
            zero_part_layouts > 0,
            "no layout exercised a zero sector part"
        );
    }

    #[test]
    fn padding_flips_are_ignored_and_first_batch_damage_is_not() {
        // Goal: a flip in the zero padding after the last batch never fails the open; any
        // damage to the first batch does. Method: a single bit set right after the last
        // batch and further on; a flip and a zeroed sector in the first batch.
        let (bytes, batch) = image(72);
        let mut padded = bytes.clone();
        padded[batch.end + 5] ^= 0x20;
        assert_eq!(verdict(&padded, batch.end), None);
        let mut two_bits = bytes.clone();
        two_bits[batch.end + 5] ^= 0x21;
        assert!(verdict(&two_bits, batch.end).is_some());
        let mut first = bytes.clone();
        first[MANIFEST_HEADER_BYTES + 40] ^= 0x01;
        assert!(verdict(&first, MANIFEST_HEADER_BYTES).is_some());
        let mut zeroed = bytes;
        zeroed[MANIFEST_HEADER_BYTES..MANIFEST_HEADER_BYTES + 512].fill(0);
        assert!(verdict(&zeroed, MANIFEST_HEADER_BYTES).is_some());
    }
}
