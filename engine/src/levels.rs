//! [`Levels`]: a space's sealed blocks, arranged by level (docs/format.md "AddBlock").
//!
//! Level 0 holds the blocks sealed from the live tail, oldest first; their key ranges may
//! overlap. Each deeper level holds a compaction's output: blocks sorted by key with disjoint
//! key ranges. Invariants, which every read that stops at the first version it finds relies
//! on:
//! - for one key, every version in a level-0 block is newer than every version in an older
//!   level-0 block, and every version in level `n` is newer than every version in level
//!   `n + 1`: seals complete in revision order, a compaction into level 1 takes the oldest
//!   level-0 blocks, and a compaction from level `n` takes every version of its key range
//!   out of level `n`;
//! - within a level `n >= 1`, `max_key` of a block is below `min_key` of the next.
//!
//! A `Levels` is immutable once published in a view; a change builds a new one (a few
//! `Arc` clones).

use std::sync::Arc;

use infinitedb_format::{BlockId, BlockMeta, LEVEL_COUNT};

use crate::block_file::BlockFile;

/// A space's sealed blocks by level.
#[derive(Clone, Debug)]
pub(crate) struct Levels {
    /// `LEVEL_COUNT` levels. `levels[0]`: oldest first. `levels[n]`, `n >= 1`: sorted by
    /// key, disjoint.
    levels: Vec<Vec<Arc<BlockFile>>>,
}

impl Default for Levels {
    /// No block in any level.
    fn default() -> Levels {
        Levels {
            levels: vec![Vec::new(); usize::from(LEVEL_COUNT)],
        }
    }
}

/// Why blocks cannot form levels (a manifest that places overlapping blocks in one level).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Overlap {
    /// The level.
    pub(crate) level: u8,
    /// The two blocks whose key ranges overlap.
    pub(crate) blocks: (BlockId, BlockId),
}

impl Levels {
    /// Levels from blocks in any order; level 0 is ordered by block id (ids are allocated
    /// in seal order).
    pub(crate) fn from_blocks(blocks: Vec<Arc<BlockFile>>) -> Result<Levels, Overlap> {
        let Levels { mut levels } = Levels::default();
        for block in blocks {
            let level = usize::from(block.meta.level).min(levels.len() - 1);
            levels[level].push(block);
        }
        levels[0].sort_by_key(|block| block.meta.block_id);
        for (level, blocks) in levels.iter_mut().enumerate().skip(1) {
            blocks.sort_by_key(|block| block.meta.min_key);
            if let Some(pair) = blocks
                .windows(2)
                .find(|pair| pair[0].meta.max_key >= pair[1].meta.min_key)
            {
                return Err(Overlap {
                    level: u8::try_from(level).unwrap_or(u8::MAX),
                    blocks: (pair[0].meta.block_id, pair[1].meta.block_id),
                });
            }
        }
        Ok(Levels { levels })
    }

    /// These levels with `block` sealed into level 0 (the newest).
    pub(crate) fn with_sealed(&self, block: Arc<BlockFile>) -> Levels {
        debug_assert_eq!(block.meta.level, 0);
        let mut next = self.clone();
        next.levels[0].push(block);
        next
    }

    /// These levels with the blocks `removed` gone and `added` placed at their levels (a
    /// compaction's result); `Err` if that would overlap two blocks of one deeper level.
    pub(crate) fn replaced(
        &self,
        removed: &[BlockId],
        added: &[Arc<BlockFile>],
    ) -> Result<Levels, Overlap> {
        let mut blocks: Vec<Arc<BlockFile>> = self
            .all()
            .filter(|block| !removed.contains(&block.meta.block_id))
            .cloned()
            .collect();
        blocks.extend(added.iter().cloned());
        Levels::from_blocks(blocks)
    }

    /// The blocks of `level` (empty past the last level).
    pub(crate) fn level(&self, level: u8) -> &[Arc<BlockFile>] {
        self.levels
            .get(usize::from(level))
            .map_or(&[], Vec::as_slice)
    }

    /// Every block, newest first: level 0 newest first, then each deeper level in key order.
    pub(crate) fn all(&self) -> impl Iterator<Item = &Arc<BlockFile>> {
        let level_zero = self.level(0).iter().rev();
        level_zero.chain(self.levels.iter().skip(1).flatten())
    }

    /// The runs a point read consults in order, newest first: each level-0 block alone, then
    /// each non-empty deeper level. The first run holding a version of a key at or below the
    /// read revision holds the answer (module invariants).
    pub(crate) fn runs(&self) -> impl Iterator<Item = &[Arc<BlockFile>]> {
        let level_zero = self.level(0).chunks(1).rev();
        let deeper = self.levels.iter().skip(1).map(Vec::as_slice);
        level_zero.chain(deeper.filter(|level| !level.is_empty()))
    }

    /// Each level's block metadata, `LEVEL_COUNT` levels (a compaction plan's input).
    pub(crate) fn metas(&self) -> Vec<Vec<BlockMeta>> {
        (0..LEVEL_COUNT)
            .map(|level| self.level(level).iter().map(|block| block.meta).collect())
            .collect()
    }
}
