//! The lifecycle job's figures ([`LifecycleFigures`], in the JSON output as a job's
//! `lifecycle` object) and their table, with the compaction targets beside the figures they
//! bound: under `Retention::Latest` bytes in blocks ≤ 1.5× live, blocks per point read ≤ 8,
//! get p99 at the end ≤ 1.5× freshly compacted, write amplification ≤ 10×, durable commit
//! p99 with compaction ≤ 2× without; under `Retention::All` bytes in blocks ≤ 1.2× every
//! version's encoded bytes. The targets are printed, never enforced.
//!
//! Formulas (also printed): a record encodes to `RECORD_HEADER_BYTES + value_bytes`; live
//! bytes are `keys × record_bytes`, every version's are `(keys + overwrites) ×
//! record_bytes`; space amplification is `Db::space_stats(space).block_bytes()` over either;
//! write amplification is `(Stats::sealed_bytes + Stats::compaction_bytes_written)` over the
//! overwrites' `overwrites × record_bytes`, summed over every open; the blocks a point read
//! may consult are one per level-0 block plus one per non-empty deeper level (a bound: the
//! read stops at the first block holding the key, and key ranges and filters skip others).

use std::fmt::Write as _;

use hdrhistogram::Histogram;
use infinitedb::{Retention, SpaceStats};
use serde::Serialize;

use super::probe::Probe;
use super::{LifecycleJob, Pass, retention_name};
use crate::error::{BenchError, Result};
use crate::report::{LatencyPercentiles, format_bytes};

/// Target, `Retention::Latest`: bytes in blocks over live bytes.
const SPACE_AMPLIFICATION_LATEST_MAX: f64 = 1.5;
/// Target, `Retention::All`: bytes in blocks over every version's bytes.
const SPACE_AMPLIFICATION_ALL_MAX: f64 = 1.2;
/// Target, `Retention::Latest`: blocks a point read consults.
const BLOCKS_PER_READ_MAX: f64 = 8.0;
/// Target, `Retention::Latest`: get p99 at the end over freshly compacted.
const GET_P99_RATIO_MAX: f64 = 1.5;
/// Target, `Retention::Latest`: write amplification.
const WRITE_AMPLIFICATION_MAX: f64 = 10.0;
/// Target, `Retention::Latest`: durable commit p99 with compaction over without.
const COMMIT_P99_RATIO_MAX: f64 = 2.0;

/// One level of a space.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LevelFigures {
    /// The level, 0 first.
    pub level: usize,
    /// Blocks in it.
    pub blocks: usize,
    /// Bytes of their files.
    pub bytes: u64,
    /// Record versions they hold.
    pub records: u64,
}

/// Blocks the key filters skipped per get.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SkipFigures {
    /// Mean.
    pub mean: f64,
    /// 99th percentile.
    pub p99: u64,
    /// Most.
    pub max: u64,
}

/// The space at one moment (start, end, end after `Db::compact`, end without compaction).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PhaseFigures {
    /// Per level, 0 first, up to the deepest in use.
    pub levels: Vec<LevelFigures>,
    /// Bytes of every block file.
    pub block_bytes: u64,
    /// Record versions in blocks.
    pub block_records: u64,
    /// Record versions not sealed yet.
    pub live_tail_records: u64,
    /// `block_bytes` over live bytes.
    pub space_amplification: f64,
    /// `block_bytes` over every version's bytes.
    pub space_amplification_all_versions: f64,
    /// Level-0 blocks plus non-empty deeper levels: the most blocks a point read consults.
    pub blocks_per_read_bound: u64,
    /// Random gets of written points.
    pub get_latency_percentiles_us: LatencyPercentiles,
    /// Blocks their filters skipped per get.
    pub filter_skips_per_get: SkipFigures,
    /// Blocks a get read a page of, measured (`Stats::point_read_blocks`).
    pub blocks_read_per_get: SkipFigures,
    /// Random box queries, each to the iterator's end (`None` without queries).
    pub query_latency_percentiles_us: Option<LatencyPercentiles>,
    /// Records a box query returned on average (`None` without queries).
    pub records_per_query: Option<f64>,
}

/// Everything a lifecycle job reports besides its commit latency (see the module doc for the
/// formulas).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LifecycleFigures {
    /// `all`, `latest`, `versions:N` or `window:N`.
    pub retention: String,
    /// Points preloaded.
    pub keys: u64,
    /// Bytes per value.
    pub value_bytes: u64,
    /// Bytes of a record's fixed part (`RECORD_HEADER_BYTES`).
    pub record_header_bytes: u64,
    /// `record_header_bytes + value_bytes`.
    pub record_bytes: u64,
    /// Overwrites as a multiple of `keys`.
    pub overwrite_factor: u64,
    /// Overwrites written.
    pub overwrites: u64,
    /// Records per durable write.
    pub batch_records: u64,
    /// Writer threads.
    pub numjobs: u32,
    /// Writes between reopens (0: none).
    pub reopen_every: u64,
    /// Closes and reopens.
    pub reopens: u64,
    /// `keys × record_bytes`.
    pub live_bytes: u64,
    /// `(keys + overwrites) × record_bytes`.
    pub all_versions_bytes: u64,
    /// `overwrites × record_bytes`.
    pub overwrite_bytes: u64,
    /// After the preload and a `Db::compact`.
    pub start: PhaseFigures,
    /// After the overwrites, background compaction caught up.
    pub end: PhaseFigures,
    /// After a final `Db::compact`.
    pub compacted: PhaseFigures,
    /// After the same overwrites on a fresh directory with compaction off (if run).
    pub end_without_compaction: Option<PhaseFigures>,
    /// Block bytes written by seals over the overwrites.
    pub sealed_bytes: u64,
    /// Block bytes written by compactions over the overwrites.
    pub compaction_bytes_written: u64,
    /// Block bytes read by compactions over the overwrites.
    pub compaction_bytes_read: u64,
    /// `(sealed_bytes + compaction_bytes_written) / overwrite_bytes`.
    pub write_amplification: f64,
    /// The same with compaction off (if run).
    pub write_amplification_without_compaction: Option<f64>,
    /// Bytes the process sent to the block layer over the overwrites (logs, blocks,
    /// manifest).
    pub device_write_bytes: u64,
    /// `device_write_bytes / overwrite_bytes`.
    pub device_write_amplification: f64,
    /// Compactions over the overwrites.
    pub compactions: u64,
    /// Compactions that failed.
    pub compaction_failures: u64,
    /// Writes that waited for compaction (level 0 at `l0_stop_writes`).
    pub write_stalls: u64,
    /// Time spent waiting for compaction to catch up before closes and at the end.
    pub settle_seconds: f64,
    /// Waits that gave up with compaction still behind.
    pub settle_timeouts: u64,
    /// Time of the final `Db::compact`.
    pub compact_seconds: f64,
    /// Per durable write with compaction on.
    pub commit_latency_percentiles_us: LatencyPercentiles,
    /// Per durable write of the same load with compaction off (if run).
    pub commit_latency_percentiles_us_without_compaction: Option<LatencyPercentiles>,
    /// Commit p99 with compaction over without (if run).
    pub commit_p99_ratio: Option<f64>,
    /// Get p99 at the end over freshly compacted.
    pub get_p99_end_over_compacted: f64,
}

/// The figures of a job's passes.
///
/// # Errors
/// [`BenchError::InvalidJob`] if the pass with compaction lacks a probe (a bug).
pub(super) fn lifecycle_figures(
    job: &LifecycleJob,
    on: &Pass,
    off: Option<&Pass>,
) -> Result<LifecycleFigures> {
    let record_bytes = job.record_bytes();
    let scale = Scale {
        live_bytes: job.keys * record_bytes,
        all_versions_bytes: (job.keys + job.overwrites()) * record_bytes,
    };
    let overwrite_bytes = job.overwrites() * record_bytes;
    let missing = || BenchError::invalid("the pass with compaction has no start or final probe");
    let start = phase_figures(on.start.as_ref().ok_or_else(missing)?, &scale);
    let compacted = phase_figures(on.compacted.as_ref().ok_or_else(missing)?, &scale);
    let end = phase_figures(&on.end, &scale);
    let totals = &on.overwrites.totals;
    let amplification = |pass: &Pass| {
        let totals = &pass.overwrites.totals;
        ratio(
            (totals.sealed_bytes + totals.compaction_bytes_written) as f64,
            overwrite_bytes as f64,
        )
    };
    let commits = percentiles(&on.overwrites.commits);
    let commits_off = off.map(|pass| percentiles(&pass.overwrites.commits));
    Ok(LifecycleFigures {
        retention: retention_name(job.retention),
        keys: job.keys,
        value_bytes: job.value_bytes as u64,
        record_header_bytes: infinitedb_format::RECORD_HEADER_BYTES as u64,
        record_bytes,
        overwrite_factor: job.overwrite_factor,
        overwrites: job.overwrites(),
        batch_records: job.batch_records,
        numjobs: job.numjobs,
        reopen_every: job.reopen_every,
        reopens: on.overwrites.reopens,
        live_bytes: scale.live_bytes,
        all_versions_bytes: scale.all_versions_bytes,
        overwrite_bytes,
        end_without_compaction: off.map(|pass| phase_figures(&pass.end, &scale)),
        sealed_bytes: totals.sealed_bytes,
        compaction_bytes_written: totals.compaction_bytes_written,
        compaction_bytes_read: totals.compaction_bytes_read,
        write_amplification: amplification(on),
        write_amplification_without_compaction: off.map(amplification),
        device_write_bytes: on.overwrites.device_write_bytes,
        device_write_amplification: ratio(
            on.overwrites.device_write_bytes as f64,
            overwrite_bytes as f64,
        ),
        compactions: totals.compactions,
        compaction_failures: totals.compaction_failures,
        write_stalls: totals.write_stalls,
        settle_seconds: on.overwrites.settle_elapsed.as_secs_f64(),
        settle_timeouts: on.overwrites.settle_timeouts,
        compact_seconds: on.compact_elapsed.as_secs_f64(),
        commit_latency_percentiles_us: commits,
        commit_latency_percentiles_us_without_compaction: commits_off,
        commit_p99_ratio: commits_off.map(|off| ratio(commits.p99, off.p99)),
        get_p99_end_over_compacted: ratio(
            end.get_latency_percentiles_us.p99,
            compacted.get_latency_percentiles_us.p99,
        ),
        start,
        end,
        compacted,
    })
}

/// The denominators of space amplification.
struct Scale {
    live_bytes: u64,
    all_versions_bytes: u64,
}

fn phase_figures(probe: &Probe, scale: &Scale) -> PhaseFigures {
    let block_bytes = probe.shape.block_bytes();
    let queried = !probe.queries.is_empty();
    PhaseFigures {
        levels: level_figures(&probe.shape),
        block_bytes,
        block_records: probe.shape.block_records(),
        live_tail_records: probe.shape.live_tail_records,
        space_amplification: ratio(block_bytes as f64, scale.live_bytes as f64),
        space_amplification_all_versions: ratio(
            block_bytes as f64,
            scale.all_versions_bytes as f64,
        ),
        blocks_per_read_bound: blocks_per_read_bound(&probe.shape),
        get_latency_percentiles_us: percentiles(&probe.gets),
        filter_skips_per_get: skip_figures(&probe.skips),
        blocks_read_per_get: skip_figures(&probe.consulted),
        query_latency_percentiles_us: queried.then(|| percentiles(&probe.queries)),
        records_per_query: queried
            .then(|| ratio(probe.query_records as f64, probe.queries.len() as f64)),
    }
}

fn level_figures(shape: &SpaceStats) -> Vec<LevelFigures> {
    shape
        .levels
        .iter()
        .enumerate()
        .map(|(level, stats)| LevelFigures {
            level,
            blocks: stats.blocks,
            bytes: stats.bytes,
            records: stats.records,
        })
        .collect()
}

/// Level-0 blocks plus the deeper levels holding a block: a point read consults at most one
/// block per run (`engine/src/read/space_read.rs`).
pub(super) fn blocks_per_read_bound(shape: &SpaceStats) -> u64 {
    let mut levels = shape.levels.iter();
    let level_zero = levels.next().map_or(0, |level| level.blocks);
    let deeper = levels.filter(|level| level.blocks > 0).count();
    (level_zero + deeper) as u64
}

/// Mean, p99 and max of a count table (`skips[n]`: gets that skipped, or read, `n` blocks).
pub(super) fn skip_figures(skips: &[u64]) -> SkipFigures {
    let gets: u64 = skips.iter().sum();
    if gets == 0 {
        return SkipFigures::default();
    }
    let weighted: u64 = skips
        .iter()
        .enumerate()
        .map(|(blocks, &count)| blocks as u64 * count)
        .sum();
    let rank = (gets * 99).div_ceil(100);
    let mut seen = 0;
    let mut p99 = 0;
    for (blocks, &count) in skips.iter().enumerate() {
        seen += count;
        if seen >= rank {
            p99 = blocks as u64;
            break;
        }
    }
    let max = skips.iter().rposition(|&count| count > 0).unwrap_or(0) as u64;
    SkipFigures {
        mean: weighted as f64 / gets as f64,
        p99,
        max,
    }
}

fn percentiles(histogram: &Histogram<u64>) -> LatencyPercentiles {
    if histogram.is_empty() {
        return LatencyPercentiles::default();
    }
    let us = |quantile: f64| histogram.value_at_quantile(quantile) as f64 / 1e3;
    LatencyPercentiles {
        p50: us(0.50),
        p99: us(0.99),
    }
}

fn ratio(numerator: f64, denominator: f64) -> f64 {
    if denominator > 0.0 {
        numerator / denominator
    } else {
        0.0
    }
}

/// "<=1.50x ok", "<=1.50x ABOVE", or "-" when the retention has no such target.
fn target(value: f64, bound: Option<f64>) -> String {
    bound.map_or_else(
        || "-".to_string(),
        |bound| {
            let verdict = if value <= bound { "ok" } else { "ABOVE" };
            format!("<={bound:.2}x {verdict}")
        },
    )
}

impl LifecycleFigures {
    /// The target for a figure under this job's retention, if it has one.
    fn bound(&self, latest: f64) -> Option<f64> {
        (self.retention == retention_name(Retention::Latest)).then_some(latest)
    }

    /// The phases in table order, with their column names.
    fn columns(&self) -> Vec<(&'static str, &PhaseFigures)> {
        let mut columns = vec![
            ("start", &self.start),
            ("end", &self.end),
            ("end+compact", &self.compacted),
        ];
        if let Some(off) = &self.end_without_compaction {
            columns.push(("end, no compaction", off));
        }
        columns
    }

    /// The table (indented to sit under a job's header).
    pub fn text(&self) -> String {
        let mut out = String::new();
        self.write_header(&mut out);
        self.write_phases(&mut out);
        self.write_levels(&mut out);
        self.write_totals(&mut out);
        out
    }

    fn write_header(&self, out: &mut String) {
        let reopens = if self.reopen_every == 0 {
            "never reopened".to_string()
        } else {
            format!(
                "closed and reopened every {} writes ({} times)",
                self.reopen_every, self.reopens
            )
        };
        let _ = writeln!(
            out,
            "    lifecycle: {} points, {} values, retention {}; {} overwrites ({}x) in durable \
             batches of {} by {} writer(s), {reopens}",
            self.keys,
            format_bytes(self.value_bytes),
            self.retention,
            self.overwrites,
            self.overwrite_factor,
            self.batch_records,
            self.numjobs
        );
        let _ = writeln!(
            out,
            "    live = keys x (record header {}B + value {}B) = {} x {}B = {}; every version = \
             (keys + overwrites) x {}B = {}",
            self.record_header_bytes,
            self.value_bytes,
            self.keys,
            self.record_bytes,
            format_bytes(self.live_bytes),
            self.record_bytes,
            format_bytes(self.all_versions_bytes)
        );
    }

    fn write_phases(&self, out: &mut String) {
        let columns = self.columns();
        let names: Vec<String> = columns.iter().map(|(name, _)| name.to_string()).collect();
        row(out, "", &names, "target (end)");
        row(
            out,
            "bytes in blocks",
            &self.cells(|phase| format_bytes(phase.block_bytes)),
            "",
        );
        let all = (self.retention == retention_name(Retention::All))
            .then_some(SPACE_AMPLIFICATION_ALL_MAX);
        let space_rows = [
            (
                "space amp, blocks / live",
                self.end.space_amplification,
                self.bound(SPACE_AMPLIFICATION_LATEST_MAX),
            ),
            (
                "space amp, blocks / every version",
                self.end.space_amplification_all_versions,
                all,
            ),
        ];
        for (index, (label, end, bound)) in space_rows.into_iter().enumerate() {
            let amplification = |phase: &PhaseFigures| match index {
                0 => format!("{:.2}x", phase.space_amplification),
                _ => format!("{:.2}x", phase.space_amplification_all_versions),
            };
            row(out, label, &self.cells(amplification), &target(end, bound));
        }
        row(
            out,
            "blocks per read, bound (L0 + deeper)",
            &self.cells(|phase| phase.blocks_per_read_bound.to_string()),
            &target(
                self.end.blocks_per_read_bound as f64,
                self.bound(BLOCKS_PER_READ_MAX),
            )
            .replace(".00x", ""),
        );
        self.write_latencies(out);
    }

    /// One cell per column.
    fn cells(&self, cell: impl Fn(&PhaseFigures) -> String) -> Vec<String> {
        self.columns()
            .into_iter()
            .map(|(_, phase)| cell(phase))
            .collect()
    }

    fn write_latencies(&self, out: &mut String) {
        row(
            out,
            "blocks read per get, mean/p99/max",
            &self.cells(|phase| {
                let blocks = &phase.blocks_read_per_get;
                format!("{:.2}/{}/{}", blocks.mean, blocks.p99, blocks.max)
            }),
            "",
        );
        row(
            out,
            "filter skips per get, mean/p99/max",
            &self.cells(|phase| {
                let skips = &phase.filter_skips_per_get;
                format!("{:.2}/{}/{}", skips.mean, skips.p99, skips.max)
            }),
            "",
        );
        row(
            out,
            "get p50/p99 us",
            &self.cells(|phase| latency_cell(Some(phase.get_latency_percentiles_us))),
            "",
        );
        if self.start.query_latency_percentiles_us.is_some() {
            let records = self.start.records_per_query.unwrap_or(0.0);
            row(
                out,
                &format!("box query p50/p99 us (~{records:.0} rec)"),
                &self.cells(|phase| latency_cell(phase.query_latency_percentiles_us)),
                "",
            );
        }
    }

    fn write_levels(&self, out: &mut String) {
        for (name, phase) in self.columns() {
            let levels: Vec<String> = phase
                .levels
                .iter()
                .map(|level| {
                    format!(
                        "L{} {} blocks {}",
                        level.level,
                        level.blocks,
                        format_bytes(level.bytes)
                    )
                })
                .collect();
            let _ = writeln!(
                out,
                "    levels, {name}: {} (+{} records in the live tail)",
                levels.join(", "),
                phase.live_tail_records
            );
        }
    }

    fn write_totals(&self, out: &mut String) {
        let off = self
            .write_amplification_without_compaction
            .map_or(String::new(), |off| format!("; compaction off: {off:.2}x"));
        let _ = writeln!(
            out,
            "    write amp = (sealed {} + compaction written {}) / overwrites' record bytes {} = \
             {:.2}x [{}]{off}",
            format_bytes(self.sealed_bytes),
            format_bytes(self.compaction_bytes_written),
            format_bytes(self.overwrite_bytes),
            self.write_amplification,
            target(
                self.write_amplification,
                self.bound(WRITE_AMPLIFICATION_MAX)
            )
        );
        let _ = writeln!(
            out,
            "    device write amp = process write_bytes {} / overwrites' record bytes = {:.2}x \
             (hot segments, staging log, blocks, manifest)",
            format_bytes(self.device_write_bytes),
            self.device_write_amplification
        );
        self.write_commit_line(out);
        let _ = writeln!(
            out,
            "    get p99 end / end+compact = {:.2}x [{}]",
            self.get_p99_end_over_compacted,
            target(
                self.get_p99_end_over_compacted,
                self.bound(GET_P99_RATIO_MAX)
            )
        );
        let _ = writeln!(
            out,
            "    compactions={} (failed {}, read {}), write stalls={}, waiting for compaction \
             before closes and at the end {:.1}s ({} gave up), final Db::compact {:.1}s",
            self.compactions,
            self.compaction_failures,
            format_bytes(self.compaction_bytes_read),
            self.write_stalls,
            self.settle_seconds,
            self.settle_timeouts,
            self.compact_seconds
        );
    }

    fn write_commit_line(&self, out: &mut String) {
        let on = latency_cell(Some(self.commit_latency_percentiles_us));
        match (
            self.commit_latency_percentiles_us_without_compaction,
            self.commit_p99_ratio,
        ) {
            (Some(off), Some(ratio)) => {
                let _ = writeln!(
                    out,
                    "    durable commit p50/p99 us: compaction on {on}, off {}; p99 on/off = \
                     {ratio:.2}x [{}]",
                    latency_cell(Some(off)),
                    target(ratio, self.bound(COMMIT_P99_RATIO_MAX))
                );
            }
            _ => {
                let _ = writeln!(out, "    durable commit p50/p99 us: {on}");
            }
        }
    }
}

/// "12.3/456" (p50/p99 in microseconds), or "-".
fn latency_cell(latency: Option<LatencyPercentiles>) -> String {
    latency.map_or_else(
        || "-".to_string(),
        |latency| format!("{:.1}/{:.1}", latency.p50, latency.p99),
    )
}

fn row(out: &mut String, label: &str, cells: &[String], target: &str) {
    let _ = write!(out, "    {label:<40}");
    for cell in cells {
        let _ = write!(out, " {cell:>18}");
    }
    let _ = writeln!(out, "   {target}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_figures_and_the_read_bound_count_what_they_claim() {
        // Goal: the skip summary's mean, p99 and max, and the blocks-per-read bound, are
        // computed from their inputs as documented. Method: fixed tables and shapes.
        let mut skips = vec![0u64; 6];
        skips[0] = 90;
        skips[1] = 9;
        skips[5] = 1;
        let figures = skip_figures(&skips);
        assert!((figures.mean - 0.14).abs() < 1e-9, "{figures:?}");
        assert_eq!((figures.p99, figures.max), (1, 5));
        assert_eq!(skip_figures(&[]), SkipFigures::default());
        let mut shape = SpaceStats::default();
        for blocks in [3, 0, 4, 2] {
            let mut level = infinitedb::LevelStats::default();
            level.blocks = blocks;
            shape.levels.push(level);
        }
        assert_eq!(blocks_per_read_bound(&shape), 3 + 2);
        assert_eq!(blocks_per_read_bound(&SpaceStats::default()), 0);
    }

    #[test]
    fn the_table_marks_targets_for_the_retention_that_has_them() {
        // Goal: under Latest the live-bytes target is checked against the end figure and
        // flagged when missed; under All only the every-version target is. Method: render
        // fixed figures.
        let mut figures = LifecycleFigures {
            retention: "latest".to_string(),
            ..LifecycleFigures::default()
        };
        figures.end.space_amplification = 1.7;
        figures.end.space_amplification_all_versions = 0.2;
        let text = figures.text();
        let line = |text: &str, label: &str| {
            text.lines()
                .find(|line| line.trim_start().starts_with(label))
                .map(str::to_string)
                .unwrap_or_default()
        };
        assert!(line(&text, "space amp, blocks / live").ends_with("<=1.50x ABOVE"));
        assert!(line(&text, "space amp, blocks / every").ends_with(" -"));
        figures.retention = "all".to_string();
        let text = figures.text();
        assert!(line(&text, "space amp, blocks / live").ends_with(" -"));
        assert!(line(&text, "space amp, blocks / every").ends_with("<=1.20x ok"));
    }
}
