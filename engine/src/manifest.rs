//! The manifest: the durable catalogue of spaces, blocks, retired segments and the revision
//! high-water mark (DESIGN §5 "Manifest", §6 "Seal").
//!
//! Owns: replaying the file on open, appending edit batches durably, and rewriting the file
//! atomically when it grows (write `MANIFEST.tmp`, fdatasync, rename over `MANIFEST`, fsync
//! the directory). Invariants:
//! - An edit batch is applied to the in-memory state only after it is durable.
//! - Appends are serial (the caller holds the `Manifest` behind a mutex) and each is one edit
//!   batch written with one `write_durable`, so only the last batch can be torn.
//! - Appends rewrite the partial tail page with its durable prefix unchanged (from memory).
//! - Replay: an incomplete or corrupt batch with no valid batch after it is a torn tail (the
//!   append was never acknowledged); one followed by a valid batch is `Error::Corruption`.
//!   A missing or unreadable header is `Error::Corruption` (fail closed, never open empty).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use infinitedb_format::offsets::EDIT_MAGIC_OFFSET;
use infinitedb_format::{
    BlockId, BlockMeta, DecodeClass, MANIFEST_HEADER_BYTES, ManifestEdit, ManifestHeader, Revision,
    SegmentId, SpaceId, decode_edits, encode_edits,
};
use uring_io::{AlignedBuf, FileHandle, OpenMode, Storage};

use crate::error::{Error, Result};
use crate::scan::find_valid_after;

/// Rewrite the manifest once appends have grown it past this size.
pub(crate) const MANIFEST_REWRITE_BYTES: u64 = 4 * 1024 * 1024;
/// Magic bytes of an edit batch (`IDBE`, docs/format.md).
const EDIT_MAGIC: [u8; 4] = infinitedb_format::magic::MANIFEST_EDIT_MAGIC.to_le_bytes();

/// A space as the manifest records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SpaceRecord {
    pub(crate) name: String,
    pub(crate) dims: u8,
    pub(crate) bits_per_dim: u8,
}

/// The catalogue the edits describe.
#[derive(Clone, Debug, Default)]
pub(crate) struct ManifestState {
    pub(crate) spaces: BTreeMap<SpaceId, SpaceRecord>,
    pub(crate) blocks: BTreeMap<BlockId, BlockMeta>,
    pub(crate) retired: BTreeSet<(SpaceId, SegmentId)>,
    pub(crate) revision_high: Revision,
}

impl ManifestState {
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
                self.retired.insert((*space_id, *segment_id));
            }
            ManifestEdit::RevisionHighWater { revision } => {
                self.revision_high = self.revision_high.max(*revision);
            }
            _ => {}
        }
    }

    /// The edits that recreate this state in one batch (a rewrite's content).
    fn snapshot_edits(&self) -> Vec<ManifestEdit> {
        let spaces = self
            .spaces
            .iter()
            .map(|(space_id, record)| ManifestEdit::CreateSpace {
                space_id: *space_id,
                name: record.name.clone(),
                dims: record.dims,
                bits_per_dim: record.bits_per_dim,
            });
        let blocks = self
            .blocks
            .values()
            .map(|meta| ManifestEdit::AddBlock(*meta));
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
        spaces.chain(blocks).chain(retired).chain(high).collect()
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
                    edits.iter().for_each(|edit| state.apply(edit));
                    offset += consumed;
                }
                Err(error)
                    if matches!(
                        error.class(),
                        DecodeClass::Incomplete | DecodeClass::Corrupt
                    ) =>
                {
                    let later = find_valid_after(
                        bytes,
                        offset + 1,
                        EDIT_MAGIC,
                        EDIT_MAGIC_OFFSET,
                        |candidate| decode_edits(candidate).is_ok(),
                    );
                    if let Some(later) = later {
                        return Err(Error::corruption(
                            path,
                            offset as u64,
                            format!("{error}; a valid edit batch follows at {later}"),
                        ));
                    }
                    break;
                }
                Err(error) => {
                    return Err(Error::corruption(path, offset as u64, error.to_string()));
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
        };
        manifest.set_tail_page(&buf, 0);
        Ok(manifest)
    }

    /// The catalogue.
    pub(crate) fn state(&self) -> &ManifestState {
        &self.state
    }

    /// Appends `edits` as one batch, durably, then applies them; rewrites the file when it has
    /// grown past [`MANIFEST_REWRITE_BYTES`].
    pub(crate) fn append(&mut self, edits: &[ManifestEdit]) -> Result<()> {
        debug_assert!(!edits.is_empty());
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
        if self.end_bytes > MANIFEST_REWRITE_BYTES {
            self.rewrite()?;
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
