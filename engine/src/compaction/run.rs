//! Running one compaction's I/O: merging its input blocks, applying the space's retention,
//! and writing the output blocks.
//!
//! Owns: cutting the merged stream into output blocks of about `block_target_bytes`, only
//! between keys, so every version of a key lands in one block and the outputs of one level
//! stay disjoint. Invariants: every output file is new (`CreateNew`, durable, directory
//! synced) and named by no manifest edit until the caller's one batch names them all; if
//! anything fails before that batch, every output written so far is removed again.

use std::path::PathBuf;
use std::sync::Arc;

use infinitedb_format::{BlockBuilder, RECORD_HEADER_BYTES, SpaceId};
use uring_io::Storage;

use super::retain::Retain;
use crate::block_file::{BlockFile, WriteBuffer};
use crate::error::Result;
use crate::options::BlockReads;
use crate::paths::DbPaths;
use crate::read::{PageCache, Version, all_versions};
use crate::sealer::Ids;

/// Where and how outputs are written.
pub(crate) struct Outputs<'a> {
    pub(crate) storage: &'a Arc<dyn Storage>,
    /// How the output blocks are read once written.
    pub(crate) reads: BlockReads,
    pub(crate) paths: &'a DbPaths,
    pub(crate) ids: &'a Ids,
    pub(crate) space: SpaceId,
    pub(crate) level: u8,
    /// An output block is finished at the first key boundary past this many record bytes.
    pub(crate) block_target_bytes: u64,
}

/// The output blocks being written.
struct Writer<'a> {
    outputs: &'a Outputs<'a>,
    builder: Option<BlockBuilder>,
    builder_bytes: u64,
    written: Vec<Arc<BlockFile>>,
    /// Kept from one output block's write to the next.
    buffer: WriteBuffer,
}

impl Writer<'_> {
    /// Appends one key's kept versions (newest first); finishes the block past the target.
    fn push_key(&mut self, versions: &[Version]) -> Result<()> {
        if versions.is_empty() {
            return Ok(());
        }
        let space = self.outputs.space;
        let ids = self.outputs.ids;
        let builder = self
            .builder
            .get_or_insert_with(|| BlockBuilder::new(space, ids.block()));
        for version in versions {
            let record = version.record();
            self.builder_bytes += (RECORD_HEADER_BYTES + record.value.len()) as u64;
            builder.push(record);
        }
        if self.builder_bytes >= self.outputs.block_target_bytes {
            self.finish_block()?;
        }
        Ok(())
    }

    /// Writes the open block, if any, durably.
    fn finish_block(&mut self) -> Result<()> {
        let Some(builder) = self.builder.take() else {
            return Ok(());
        };
        self.builder_bytes = 0;
        let built = builder.finish();
        let path = self.outputs.paths.block(built.footer.block_id);
        // A block whose write fails removes its own file (`BlockFile::write_built_with`).
        let block = BlockFile::write_built_with(
            self.outputs.storage,
            self.outputs.reads,
            path,
            built,
            self.outputs.level,
            &mut self.buffer,
        )?;
        self.written.push(Arc::new(block));
        Ok(())
    }

    /// Removes every output written so far (they are named by no manifest edit).
    fn discard(self) {
        let paths: Vec<PathBuf> = self
            .written
            .iter()
            .map(|block| block.path.clone())
            .collect();
        drop(self.written);
        remove_unnamed(self.outputs.storage.as_ref(), self.outputs.paths, &paths);
    }
}

/// Removes block files no manifest edit names, best effort: a file left behind is removed by
/// the next open (`recovery.rs` step 4, whose check passes since its records are in the
/// named inputs).
pub(crate) fn remove_unnamed(storage: &dyn Storage, paths: &DbPaths, files: &[PathBuf]) {
    let mut removed = false;
    for file in files {
        removed |= storage.remove_file(file).is_ok();
    }
    if removed {
        let _ = storage.sync_dir(&paths.blocks);
    }
}

/// Merges `inputs` under `retain` into new blocks of `outputs.level`; returns them (possibly
/// none, when retention dropped everything) with the bytes read. On failure no output file
/// is left behind.
pub(crate) fn write_outputs(
    outputs: &Outputs<'_>,
    inputs: &[Arc<BlockFile>],
    retain: Retain,
    cache: &Arc<PageCache>,
) -> Result<Vec<Arc<BlockFile>>> {
    let mut writer = Writer {
        outputs,
        builder: None,
        builder_bytes: 0,
        written: Vec::new(),
        buffer: WriteBuffer::default(),
    };
    match merge_into(&mut writer, inputs, retain, cache) {
        Ok(()) => Ok(writer.written),
        Err(error) => {
            writer.discard();
            Err(error)
        }
    }
}

/// Streams the merged inputs one key at a time through `retain` into `writer`.
fn merge_into(
    writer: &mut Writer<'_>,
    inputs: &[Arc<BlockFile>],
    retain: Retain,
    cache: &Arc<PageCache>,
) -> Result<()> {
    let mut key_versions: Vec<Version> = Vec::new();
    for version in all_versions(inputs, cache) {
        let version = version?;
        if key_versions
            .first()
            .is_some_and(|first| first.key != version.key)
        {
            retain.apply(&mut key_versions);
            writer.push_key(&key_versions)?;
            key_versions.clear();
        }
        key_versions.push(version);
    }
    retain.apply(&mut key_versions);
    writer.push_key(&key_versions)?;
    writer.finish_block()
}
