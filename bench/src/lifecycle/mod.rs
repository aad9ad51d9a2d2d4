//! The compaction lifecycle job (`--rw lifecycle`): one long run that preloads `keys` points
//! into a space with a chosen [`Retention`], overwrites them `overwrite_factor` times at
//! random in durable batches, closing and reopening the database every `reopen_every`
//! records, and reports how background compaction keeps the space in shape
//! ([`LifecycleFigures`], rendered by `figures.rs`):
//! - space amplification: bytes of block files (`Db::space_stats`) over the live data's
//!   encoded bytes, `keys × (RECORD_HEADER_BYTES + value_bytes)`, and over the encoded bytes
//!   of every version written (the figure that matters under `Retention::All`);
//! - write amplification: block bytes written by seals and by compactions over the encoded
//!   bytes of the overwrites, from the engine's counters summed over every open (they start
//!   at zero on each open);
//! - the level shape and the blocks a point read may consult: one per level-0 block and one
//!   per non-empty deeper level (`engine/src/read/space_read.rs`), with the blocks the key
//!   filters skipped per get;
//! - get and box-query latency at the start (after the preload and a `Db::compact`), at the
//!   end (once background compaction has caught up), and after a final `Db::compact`;
//! - durable commit latency of the overwrites with compaction on, and of the same load on a
//!   fresh directory with compaction off (`Options::compaction(false)`), in the same run.
//!
//! Passes, each on its own directory: compaction on (preload, `Db::compact`, probe, the
//! overwrites with their reopens, probe, `Db::compact`, probe), then, when
//! [`LifecycleJob::compare_without_compaction`] is set, compaction off (preload,
//! `Db::compact`, the same overwrites, probe). `load.rs` writes, `probe.rs` measures.
//!
//! Invariants: both passes write the same keys in the same order (the same seeds); a probe
//! runs with no writer and, before it, background compaction has caught up (no level over
//! its trigger), so a get's filter-skip delta is that get's own and the figures are of a
//! settled shape. Before every close the job also waits for compaction, so the counters of
//! every open are read after its last compaction (a close would otherwise finish it
//! uncounted).

mod figures;
mod load;
mod probe;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use infinitedb::{Db, Durability, Options, Retention};
use uring_io::{BackendInfo, BackendRequest};

use crate::error::{BenchError, Result};
use crate::job::Progress;
use crate::query::QUERY_RANGE_BUDGET;
use crate::report::{JobReport, JobShape, Measurement};
use crate::workload::engine_figures;

pub use figures::{LevelFigures, LifecycleFigures, PhaseFigures, SkipFigures};

/// The `--rw` word of the job.
pub const LIFECYCLE_RW: &str = "lifecycle";

/// Name of the space the job uses.
const SPACE_NAME: &str = "lifecycle";

/// Engine settings the job opens with. The defaults are the engine's own
/// (`engine/src/options.rs`); the suite's short row shrinks them so a few seconds of writes
/// go through several seals and compactions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LifecycleTuning {
    /// `Options::seal_threshold_records`.
    pub seal_threshold_records: u64,
    /// `Options::seal_threshold_bytes`.
    pub seal_threshold_bytes: u64,
    /// `Options::l0_compaction_trigger`.
    pub l0_compaction_trigger: usize,
    /// `Options::level_base_bytes`.
    pub level_base_bytes: u64,
    /// `Options::block_target_bytes`.
    pub block_target_bytes: u64,
}

impl Default for LifecycleTuning {
    fn default() -> Self {
        LifecycleTuning {
            seal_threshold_records: 1_000_000,
            seal_threshold_bytes: 32 * 1024 * 1024,
            l0_compaction_trigger: 4,
            level_base_bytes: 256 * 1024 * 1024,
            block_target_bytes: 32 * 1024 * 1024,
        }
    }
}

/// One lifecycle job.
#[derive(Clone, Debug)]
pub struct LifecycleJob {
    /// Directory in which the job's temporary databases are created (and removed after).
    pub directory: PathBuf,
    /// Points preloaded, then overwritten.
    pub keys: u64,
    /// Bytes per value.
    pub value_bytes: usize,
    /// Which versions the space keeps.
    pub retention: Retention,
    /// Overwrites in all, as a multiple of `keys`.
    pub overwrite_factor: u64,
    /// Records written between a close and a reopen (0: never reopen).
    pub reopen_every: u64,
    /// Records per `Db::write` (one commit each).
    pub batch_records: u64,
    /// Writer threads.
    pub numjobs: u32,
    /// `Sync` (each write returns once durable) or `NoSync`.
    pub durability: Durability,
    /// Random gets per probe.
    pub reads: u64,
    /// Box queries per probe (0: none).
    pub queries: u64,
    /// Records a query box holds on average.
    pub query_records: u64,
    /// Dimensions of the space.
    pub dims: u32,
    /// Bits per dimension.
    pub bits: u32,
    /// Backend to open.
    pub backend: BackendRequest,
    /// Direct-route deadline (`None`: no staged route).
    pub deadline: Option<Duration>,
    /// Engine settings.
    pub tuning: LifecycleTuning,
    /// Also run the overwrites on a fresh directory with compaction off.
    pub compare_without_compaction: bool,
}

/// What a lifecycle job measured.
#[derive(Debug)]
pub struct LifecycleRun {
    /// The overwrites' commits with compaction on: ops are commits, bytes the values
    /// written, elapsed the time spent writing (waits for compaction and reopens left out).
    pub measurement: Measurement,
    /// Everything else.
    pub figures: LifecycleFigures,
    /// Engine counters over the overwrites with compaction on, summed over every open.
    pub engine: crate::report::EngineFigures,
    /// The backend the database used.
    pub backend: BackendInfo,
}

impl LifecycleRun {
    /// The job's report, shaped `shape`.
    pub fn report(&self, shape: JobShape) -> JobReport {
        JobReport::new(shape, &self.measurement, Some(self.engine.clone()))
            .with_lifecycle(Some(self.figures.clone()))
    }
}

/// Whether background compaction runs in a pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Compaction {
    On,
    Off,
}

impl LifecycleJob {
    /// Overwrites in all.
    pub fn overwrites(&self) -> u64 {
        self.keys.saturating_mul(self.overwrite_factor)
    }

    /// Encoded bytes of one record: the fixed part and the value.
    pub fn record_bytes(&self) -> u64 {
        (infinitedb_format::RECORD_HEADER_BYTES + self.value_bytes) as u64
    }

    fn validate(&self) -> Result<()> {
        if self.keys == 0 {
            return Err(BenchError::invalid("--keys must be positive"));
        }
        if self.value_bytes == 0 {
            return Err(BenchError::invalid("--bs must be positive"));
        }
        if self.overwrite_factor == 0 {
            return Err(BenchError::invalid("--overwrite-factor must be positive"));
        }
        if self.batch_records == 0 {
            return Err(BenchError::invalid("--batch-records must be positive"));
        }
        if self.numjobs == 0 || self.numjobs > 1024 {
            return Err(BenchError::invalid("--numjobs must be 1..=1024"));
        }
        if self.reads == 0 {
            return Err(BenchError::invalid("--reads must be positive"));
        }
        if self.queries > 0 && self.query_records == 0 {
            return Err(BenchError::invalid("--query-records must be positive"));
        }
        Ok(())
    }

    fn options(&self, compaction: Compaction) -> Options {
        let tuning = &self.tuning;
        Options::default()
            .durability(self.durability)
            .deadline(self.deadline)
            .backend(self.backend)
            .query_range_budget(QUERY_RANGE_BUDGET)
            .compaction(compaction == Compaction::On)
            .seal_threshold_records(tuning.seal_threshold_records)
            .seal_threshold_bytes(tuning.seal_threshold_bytes)
            .l0_compaction_trigger(tuning.l0_compaction_trigger)
            .level_base_bytes(tuning.level_base_bytes)
            .block_target_bytes(tuning.block_target_bytes)
    }
}

/// The text `--retention` takes for `retention` (`all`, `latest`, `versions:N`, `window:N`).
pub fn retention_name(retention: Retention) -> String {
    match retention {
        Retention::All => "all".to_string(),
        Retention::Latest => "latest".to_string(),
        Retention::Versions(count) => format!("versions:{count}"),
        Retention::Window(revisions) => format!("window:{revisions}"),
    }
}

/// Parses `--retention`: `all`, `latest`, `versions:N` (N ≥ 1) or `window:N` (N
/// revisions), case-insensitive.
///
/// # Errors
/// A message naming the bad input.
pub fn parse_retention(text: &str) -> Result<Retention, String> {
    let lower = text.trim().to_ascii_lowercase();
    let usage = || format!("{text:?} is not a retention (all, latest, versions:N, window:N)");
    let (kind, parameter) = match lower.split_once(':') {
        Some((kind, parameter)) => (kind, Some(parameter)),
        None => (lower.as_str(), None),
    };
    let number = |parameter: Option<&str>| -> Result<u64, String> {
        parameter
            .and_then(|digits| digits.parse::<u64>().ok())
            .ok_or_else(usage)
    };
    match (kind, parameter) {
        ("all", None) => Ok(Retention::All),
        ("latest", None) => Ok(Retention::Latest),
        ("versions", parameter) => match u32::try_from(number(parameter)?) {
            Ok(count) if count >= 1 => Ok(Retention::Versions(count)),
            _ => Err(format!("{text:?}: versions:N needs 1 <= N <= {}", u32::MAX)),
        },
        ("window", parameter) => Ok(Retention::Window(number(parameter)?)),
        _ => Err(usage()),
    }
}

/// One pass of the job.
struct Pass {
    start: Option<probe::Probe>,
    end: probe::Probe,
    compacted: Option<probe::Probe>,
    overwrites: load::Overwrites,
    compact_elapsed: Duration,
    backend: BackendInfo,
}

/// Runs `job` in a temporary directory under `job.directory`.
///
/// # Errors
/// [`BenchError::InvalidJob`]; [`BenchError::PointMissing`] if a get misses a written point;
/// engine errors; a worker panic.
pub fn run(job: &LifecycleJob, progress: &Progress) -> Result<LifecycleRun> {
    job.validate()?;
    let temporary = crate::job::scratch_directory(&job.directory, "infinitedb-bench-lifecycle-")?;
    let on = run_pass(job, &temporary.path().join("on"), Compaction::On, progress)?;
    let off = if job.compare_without_compaction {
        Some(run_pass(
            job,
            &temporary.path().join("off"),
            Compaction::Off,
            progress,
        )?)
    } else {
        None
    };
    let overwrites = &on.overwrites;
    let measurement = Measurement {
        ops: overwrites.commits.len(),
        bytes: job.overwrites() * job.value_bytes as u64,
        elapsed: overwrites.write_elapsed,
        latency_ns: overwrites.commits.clone(),
    };
    let engine = engine_figures(
        &infinitedb::Stats::default(),
        &overwrites.totals,
        overwrites.device_write_bytes,
        overwrites.write_elapsed,
    );
    let figures = figures::lifecycle_figures(job, &on, off.as_ref())?;
    Ok(LifecycleRun {
        measurement,
        figures,
        engine,
        backend: on.backend,
    })
}

/// One pass on a fresh database at `path` (see the module doc).
fn run_pass(
    job: &LifecycleJob,
    path: &Path,
    compaction: Compaction,
    progress: &Progress,
) -> Result<Pass> {
    let options = job.options(compaction);
    let db = Db::open(path, options.clone())?;
    let space = db.create_space_with(SPACE_NAME, job.dims, job.bits, job.retention)?;
    load::preload(&db, space, job)?;
    db.compact(space)?;
    let start = match compaction {
        Compaction::On => Some(probe::probe(&db, space, job, "start")?),
        Compaction::Off => None,
    };
    let (db, overwrites) = load::overwrite(db, path, (&options, compaction), space, job, progress)?;
    let end = probe::probe(&db, space, job, "end")?;
    let (compacted, compact_elapsed) = match compaction {
        Compaction::On => {
            let begin = Instant::now();
            db.compact(space)?;
            let elapsed = begin.elapsed();
            (Some(probe::probe(&db, space, job, "compacted")?), elapsed)
        }
        Compaction::Off => (None, Duration::ZERO),
    };
    let backend = db.backend().clone();
    db.close()?;
    Ok(Pass {
        start,
        end,
        compacted,
        overwrites,
        compact_elapsed,
        backend,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retentions_parse_and_bad_ones_are_refused() {
        // Goal: every policy's spelling parses to it, names round-trip, and malformed or
        // out-of-range words are refused. Method: a table of inputs.
        assert_eq!(parse_retention("all"), Ok(Retention::All));
        assert_eq!(parse_retention("Latest"), Ok(Retention::Latest));
        assert_eq!(parse_retention("versions:3"), Ok(Retention::Versions(3)));
        assert_eq!(parse_retention("window:1000"), Ok(Retention::Window(1000)));
        assert_eq!(parse_retention("window:0"), Ok(Retention::Window(0)));
        for bad in [
            "",
            "latest:2",
            "all:1",
            "versions",
            "versions:",
            "versions:0",
            "versions:4294967296",
            "window:x",
            "window:-1",
            "newest",
        ] {
            assert!(parse_retention(bad).is_err(), "{bad:?} parsed");
        }
        for retention in [
            Retention::All,
            Retention::Latest,
            Retention::Versions(7),
            Retention::Window(42),
        ] {
            assert_eq!(parse_retention(&retention_name(retention)), Ok(retention));
        }
    }

    #[test]
    fn a_small_lifecycle_reports_consistent_figures() {
        // Goal: a short lifecycle under `Latest` with small seal thresholds runs both passes
        // and reports figures that agree with what it wrote: every overwrite committed once,
        // compactions ran, `Db::compact` leaves one version per point in one level, and the
        // pass without compaction keeps more blocks than the one with it. Method: 3,000
        // points × 4 overwrites, a seal every 1,000 records, a reopen every 5,000 writes.
        let dir = tempfile::tempdir().unwrap();
        let job = LifecycleJob {
            directory: dir.path().to_path_buf(),
            keys: 3000,
            value_bytes: 100,
            retention: Retention::Latest,
            overwrite_factor: 4,
            reopen_every: 5000,
            batch_records: 50,
            numjobs: 2,
            durability: Durability::Sync,
            reads: 500,
            queries: 5,
            query_records: 20,
            dims: 2,
            bits: 32,
            backend: BackendRequest::Auto,
            deadline: Some(Duration::from_millis(2)),
            tuning: LifecycleTuning {
                seal_threshold_records: 1000,
                level_base_bytes: 1024 * 1024,
                block_target_bytes: 64 * 1024,
                ..LifecycleTuning::default()
            },
            compare_without_compaction: true,
        };
        let run = run(&job, &Progress::hidden()).unwrap();
        let figures = &run.figures;
        assert_eq!(run.measurement.ops, 12_000 / 50);
        assert_eq!(figures.overwrites, 12_000);
        assert_eq!(figures.reopens, 2);
        assert_eq!(figures.live_bytes, 3000 * 132);
        assert!(figures.compactions > 0, "{figures:?}");
        assert!(figures.write_amplification >= 1.0, "{figures:?}");
        let compacted = &figures.compacted;
        assert_eq!(compacted.block_records, 3000, "{compacted:?}");
        assert_eq!(compacted.blocks_per_read_bound, 1, "{compacted:?}");
        assert!(compacted.space_amplification >= 1.0, "{compacted:?}");
        let off = figures.end_without_compaction.as_ref().unwrap();
        assert!(
            off.blocks_per_read_bound > figures.end.blocks_per_read_bound,
            "{off:?} against {:?}",
            figures.end
        );
        assert!(
            figures
                .commit_latency_percentiles_us_without_compaction
                .is_some()
        );
        assert!(figures.start.query_latency_percentiles_us.is_some());
    }
}
