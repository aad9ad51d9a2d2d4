//! [`pick`]: which blocks of a space the next compaction merges, and into which level
//! (leveled compaction, in the manner of RocksDB's and fjall's leveled strategies).
//!
//! Scores: level 0 scores its block count over the level-0 trigger; a level `n >= 1` its
//! bytes over its target, `level_base_bytes × 10^(n−1)`. The level with the highest score of
//! at least 1 is compacted (level 0 first on a tie):
//! - level 0: every level-0 block (the oldest ones, as the invariant of `levels.rs` needs),
//!   with every level-1 block their key ranges meet, into level 1;
//! - level `n`: the next block after the level's cursor (round robin over the key space),
//!   with every level-`n + 1` block its key range meets, into level `n + 1`.
//!
//! The last level never scores: nothing is below it. [`full`] plans `Db::compact`: every
//! block of the space into one level.
//!
//! Plans are made from block metadata alone, so they are unit-tested without files.

use infinitedb_format::{BlockId, BlockMeta, Key, LEVEL_COUNT};

/// Level sizes and triggers (`Options`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Shape {
    /// Level-0 blocks that start a compaction into level 1.
    pub(crate) l0_trigger: usize,
    /// Target bytes of level 1; each deeper level's is 10× the one above.
    pub(crate) level_base_bytes: u64,
}

/// Each deeper level's target is this many times the one above.
const LEVEL_RATIO: u64 = 10;

/// One compaction to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    /// The blocks merged.
    pub(crate) inputs: Vec<BlockId>,
    /// The level its output goes to.
    pub(crate) output_level: u8,
    /// No block outside the inputs, in the output level or below, may hold a key of the
    /// inputs' range (deletes and older versions may then go, per `retain.rs`).
    pub(crate) bottom: bool,
}

/// The per-level round-robin cursors of one space: the last key compacted from each level.
#[derive(Clone, Debug, Default)]
pub(crate) struct Cursors {
    last_key: [Option<Key>; LEVEL_COUNT as usize],
}

/// The target bytes of `level` (>= 1).
fn target_bytes(shape: &Shape, level: usize) -> u64 {
    let exponent = u32::try_from(level.saturating_sub(1)).unwrap_or(u32::MAX);
    shape
        .level_base_bytes
        .saturating_mul(LEVEL_RATIO.saturating_pow(exponent))
}

/// The next compaction of a space whose blocks are `levels` (`levels[n]`: level `n`'s
/// blocks, level 0 oldest first, deeper levels sorted by key), or `None` if no level is over
/// its target.
pub(crate) fn pick(
    levels: &[Vec<BlockMeta>],
    shape: &Shape,
    cursors: &mut Cursors,
) -> Option<Plan> {
    let last = levels.len().min(usize::from(LEVEL_COUNT)).checked_sub(1)?;
    let mut best: Option<(f64, usize)> = None;
    for (level, blocks) in levels.iter().enumerate().take(last) {
        let score = if level == 0 {
            blocks.len() as f64 / shape.l0_trigger.max(1) as f64
        } else {
            let bytes: u64 = blocks.iter().map(|block| block.len_bytes).sum();
            bytes as f64 / target_bytes(shape, level).max(1) as f64
        };
        if score >= 1.0 && best.is_none_or(|(best_score, _)| score > best_score) {
            best = Some((score, level));
        }
    }
    let (_, level) = best?;
    let chosen: Vec<&BlockMeta> = if level == 0 {
        levels[0].iter().collect()
    } else {
        let blocks = &levels[level];
        let cursor = cursors.last_key[level];
        let next = blocks
            .iter()
            .find(|block| cursor.is_none_or(|cursor| block.min_key > cursor))
            .or_else(|| blocks.first())?;
        cursors.last_key[level] = Some(next.max_key);
        vec![next]
    };
    Some(plan_into(levels, &chosen, level + 1))
}

/// Every block of the space into one level: the deepest in use, at least 1. `None` without
/// blocks.
pub(crate) fn full(levels: &[Vec<BlockMeta>]) -> Option<Plan> {
    let inputs: Vec<BlockId> = levels
        .iter()
        .flatten()
        .map(|block| block.block_id)
        .collect();
    if inputs.is_empty() {
        return None;
    }
    let deepest = levels
        .iter()
        .rposition(|blocks| !blocks.is_empty())
        .unwrap_or(0);
    Some(Plan {
        inputs,
        output_level: u8::try_from(deepest.max(1)).unwrap_or(LEVEL_COUNT - 1),
        bottom: true,
    })
}

/// `chosen` with every block of `output_level` its key range meets.
fn plan_into(levels: &[Vec<BlockMeta>], chosen: &[&BlockMeta], output_level: usize) -> Plan {
    let low = chosen.iter().map(|block| block.min_key).min().unwrap_or(0);
    let high = chosen
        .iter()
        .map(|block| block.max_key)
        .max()
        .unwrap_or(Key::MAX);
    let meets = |block: &&BlockMeta| block.min_key <= high && block.max_key >= low;
    let below: Vec<&BlockMeta> = levels
        .get(output_level)
        .map(|blocks| blocks.iter().filter(meets).collect())
        .unwrap_or_default();
    // The output's key range: the chosen blocks' and the overlapped ones'.
    let out_low = below.iter().map(|block| block.min_key).fold(low, Key::min);
    let out_high = below.iter().map(|block| block.max_key).fold(high, Key::max);
    let deeper_meets = levels
        .iter()
        .skip(output_level + 1)
        .flatten()
        .any(|block| block.min_key <= out_high && block.max_key >= out_low);
    Plan {
        inputs: chosen
            .iter()
            .chain(below.iter())
            .map(|block| block.block_id)
            .collect(),
        output_level: u8::try_from(output_level).unwrap_or(LEVEL_COUNT - 1),
        bottom: !deeper_meets,
    }
}

#[cfg(test)]
mod tests {
    use infinitedb_format::{Checksum, Revision, SpaceId};

    use super::*;

    fn block(id: u64, level: u8, keys: (Key, Key), len_bytes: u64) -> BlockMeta {
        BlockMeta {
            block_id: BlockId(id),
            space_id: SpaceId(1),
            level,
            len_bytes,
            min_key: keys.0,
            max_key: keys.1,
            min_revision: Revision(1),
            max_revision: Revision(2),
            record_count: 1,
            footer_checksum: Checksum(0),
        }
    }

    const SHAPE: Shape = Shape {
        l0_trigger: 4,
        level_base_bytes: 1000,
    };

    fn ids(plan: &Plan) -> Vec<u64> {
        plan.inputs.iter().map(|id| id.0).collect()
    }

    #[test]
    fn level_zero_goes_down_whole_with_the_level_one_blocks_it_meets() {
        // Goal: below the trigger nothing runs; at it every level-0 block and the level-1
        // blocks in their key range form the plan, bottom only with nothing deeper.
        // Method: three, then four level-0 blocks over keys 10..=60 above level-1 blocks.
        let mut levels = vec![Vec::new(); usize::from(LEVEL_COUNT)];
        levels[0] = (1..=3).map(|id| block(id, 0, (10, 60), 100)).collect();
        levels[1] = vec![
            block(10, 1, (0, 5), 100),
            block(11, 1, (6, 30), 100),
            block(12, 1, (70, 90), 100),
        ];
        let mut cursors = Cursors::default();
        assert_eq!(pick(&levels, &SHAPE, &mut cursors), None);
        levels[0].push(block(4, 0, (20, 40), 100));
        let plan = pick(&levels, &SHAPE, &mut cursors).unwrap();
        assert_eq!(
            (ids(&plan), plan.output_level, plan.bottom),
            (vec![1, 2, 3, 4, 11], 1, true)
        );
        levels[2] = vec![block(20, 2, (25, 26), 100)];
        let plan = pick(&levels, &SHAPE, &mut cursors).unwrap();
        assert!(!plan.bottom, "a level-2 block meets the output's key range");
    }

    #[test]
    fn a_level_over_its_target_sends_one_block_down_round_robin() {
        // Goal: level 1 over its 1000 bytes sends its blocks down one at a time, in key order,
        // wrapping around, each with the level-2 blocks it meets. Method: three 600-byte
        // level-1 blocks; pick three times and once more.
        let mut levels = vec![Vec::new(); usize::from(LEVEL_COUNT)];
        levels[1] = vec![
            block(1, 1, (0, 9), 600),
            block(2, 1, (10, 19), 600),
            block(3, 1, (20, 29), 600),
        ];
        levels[2] = vec![block(7, 2, (5, 12), 100), block(8, 2, (25, 40), 100)];
        let mut cursors = Cursors::default();
        let picked: Vec<(Vec<u64>, u8)> = (0..4)
            .map(|_| {
                let plan = pick(&levels, &SHAPE, &mut cursors).unwrap();
                (ids(&plan), plan.output_level)
            })
            .collect();
        assert_eq!(
            picked,
            [
                (vec![1, 7], 2),
                (vec![2, 7], 2),
                (vec![3, 8], 2),
                (vec![1, 7], 2)
            ]
        );
    }

    #[test]
    fn full_takes_everything_into_the_deepest_level() {
        // Goal: Db::compact's plan holds every block, lands in the deepest level in use (at
        // least 1) and is the bottom. Method: blocks in levels 0 and 3; then level 0 alone.
        let mut levels = vec![Vec::new(); usize::from(LEVEL_COUNT)];
        assert_eq!(full(&levels), None);
        levels[0] = vec![block(1, 0, (0, 9), 10)];
        assert_eq!(full(&levels).unwrap().output_level, 1);
        levels[3] = vec![block(2, 3, (0, 9), 10)];
        let plan = full(&levels).unwrap();
        assert_eq!(
            (ids(&plan), plan.output_level, plan.bottom),
            (vec![1, 2], 3, true)
        );
    }
}
