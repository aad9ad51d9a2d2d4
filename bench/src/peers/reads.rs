//! What infinitedb's own counters say about a run of point gets ([`EngineReads`]): the
//! growth of [`Stats`] from before the run to after it, per get.
//!
//! Invariants: every figure is a difference of two snapshots of the same open database, so
//! the load's and the seal's reads are not in it; a ratio over zero gets or zero lookups is 0.

use std::fmt::Write as _;

use infinitedb::{POINT_READ_BLOCKS_BUCKETS, Stats};
use serde::Serialize;

use crate::report::format_bytes;

/// infinitedb's read counters over one get run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct EngineReads {
    /// Point reads the engine counted (`Stats::point_read_blocks`, summed).
    pub gets: u64,
    /// Blocks each get consulted (read a page of), on average; a get in the last bucket
    /// counts as that bucket's lower bound.
    pub blocks_consulted_per_get: f64,
    /// Blocks per get ruled out by their key filter without a page read.
    pub filter_skips_per_get: f64,
    /// Block page runs read from storage on page-cache misses (`Stats::block_page_reads`).
    pub block_page_reads: u64,
    /// `block_page_reads` per get: the device reads a get costs, as the engine counts them.
    pub block_page_reads_per_get: f64,
    /// `block_page_reads` per block consulted (the target is at most 1).
    pub block_page_reads_per_block: f64,
    /// Bytes of those page runs per get.
    pub block_read_bytes_per_get: f64,
    /// Page lookups the page cache answered.
    pub page_cache_hits: u64,
    /// Page lookups it could not.
    pub page_cache_misses: u64,
    /// `page_cache_hits` over all lookups.
    pub page_cache_hit_ratio: f64,
    /// Bytes the page cache held at the end of the run.
    pub page_cache_bytes: u64,
    /// The page cache's budget.
    pub page_cache_capacity_bytes: u64,
    /// Compactions that completed during the run (they run in the background, so a run
    /// right after a large load shares the device and the CPU with them).
    pub compactions: u64,
    /// Bytes of blocks those compactions read, per get: part of the process's device reads,
    /// none of the gets'.
    pub compaction_read_bytes_per_get: f64,
}

/// `numerator / denominator`, 0 when the denominator is 0.
fn ratio(numerator: f64, denominator: u64) -> f64 {
    if denominator == 0 {
        0.0
    } else {
        numerator / denominator as f64
    }
}

impl EngineReads {
    /// The counters' growth from `before` to `after`.
    pub fn between(before: &Stats, after: &Stats) -> EngineReads {
        let delta = |after: u64, before: u64| after.saturating_sub(before);
        let mut gets = 0;
        let mut blocks = 0;
        for bucket in 0..POINT_READ_BLOCKS_BUCKETS {
            let count = delta(
                after.point_read_blocks[bucket],
                before.point_read_blocks[bucket],
            );
            gets += count;
            blocks += count * bucket as u64;
        }
        let page_reads = delta(after.block_page_reads, before.block_page_reads);
        let read_bytes = delta(after.block_read_bytes, before.block_read_bytes);
        let hits = delta(after.page_cache_hits, before.page_cache_hits);
        let misses = delta(after.page_cache_misses, before.page_cache_misses);
        EngineReads {
            gets,
            blocks_consulted_per_get: ratio(blocks as f64, gets),
            filter_skips_per_get: ratio(
                delta(after.filter_skips, before.filter_skips) as f64,
                gets,
            ),
            block_page_reads: page_reads,
            block_page_reads_per_get: ratio(page_reads as f64, gets),
            block_page_reads_per_block: ratio(page_reads as f64, blocks),
            block_read_bytes_per_get: ratio(read_bytes as f64, gets),
            page_cache_hits: hits,
            page_cache_misses: misses,
            page_cache_hit_ratio: ratio(hits as f64, hits + misses),
            page_cache_bytes: after.page_cache_bytes,
            page_cache_capacity_bytes: after.page_cache_capacity_bytes,
            compactions: delta(after.compactions, before.compactions),
            compaction_read_bytes_per_get: ratio(
                delta(after.compaction_bytes_read, before.compaction_bytes_read) as f64,
                gets,
            ),
        }
    }

    /// The report line of these counters.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "    engine reads: blocks consulted/get={:.2}, filter skips/get={:.2}, block page \
             reads/get={:.3} ({:.3}/block consulted, {:.1}KiB/get), page cache hits={:.1}% ({} held \
             of {}), {} gets counted; beside them {} compactions read {:.1}KiB/get",
            self.blocks_consulted_per_get,
            self.filter_skips_per_get,
            self.block_page_reads_per_get,
            self.block_page_reads_per_block,
            self.block_read_bytes_per_get / 1024.0,
            100.0 * self.page_cache_hit_ratio,
            format_bytes(self.page_cache_bytes),
            format_bytes(self.page_cache_capacity_bytes),
            self.gets,
            self.compactions,
            self.compaction_read_bytes_per_get / 1024.0
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_per_get_differences() {
        // Goal: the figures are the growth between the snapshots, per get and per block
        // consulted, and nothing is divided by zero. Method: hand-made snapshots: 10 gets
        // before, then 80 gets of 1 block and 20 of 2 (120 blocks), 60 page reads of 4 KiB,
        // 300 hits and 100 misses; then an empty run.
        let mut before = Stats::default();
        before.point_read_blocks[1] = 10;
        before.block_page_reads = 7;
        before.page_cache_hits = 50;
        let mut after = before.clone();
        after.point_read_blocks[1] += 80;
        after.point_read_blocks[2] += 20;
        after.filter_skips = 50;
        after.block_page_reads += 60;
        after.block_read_bytes = 60 * 4096;
        after.page_cache_hits += 300;
        after.page_cache_misses = 100;
        after.page_cache_bytes = 1 << 20;
        after.page_cache_capacity_bytes = 1 << 30;
        after.compactions = 2;
        after.compaction_bytes_read = 100 * 8192;
        let reads = EngineReads::between(&before, &after);
        assert_eq!(reads.gets, 100);
        assert!((reads.blocks_consulted_per_get - 1.2).abs() < 1e-9);
        assert!((reads.filter_skips_per_get - 0.5).abs() < 1e-9);
        assert_eq!(reads.block_page_reads, 60);
        assert!((reads.block_page_reads_per_get - 0.6).abs() < 1e-9);
        assert!((reads.block_page_reads_per_block - 0.5).abs() < 1e-9);
        assert!((reads.block_read_bytes_per_get - 0.6 * 4096.0).abs() < 1e-9);
        assert!((reads.page_cache_hit_ratio - 0.75).abs() < 1e-9);
        assert_eq!(reads.page_cache_capacity_bytes, 1 << 30);
        assert_eq!(reads.compactions, 2);
        assert!((reads.compaction_read_bytes_per_get - 8192.0).abs() < 1e-9);
        let text = reads.text();
        assert!(
            text.contains("block page reads/get=0.600 (0.500/block consulted"),
            "{text}"
        );
        assert!(text.contains("page cache hits=75.0%"), "{text}");
        let empty = EngineReads::between(&after, &after);
        assert_eq!((empty.gets, empty.block_page_reads_per_get), (0, 0.0));
        assert_eq!(empty.page_cache_hit_ratio, 0.0);
    }
}
