//! Reports: what a job measured ([`Measurement`]), its summary ([`JobReport`]: ops/s, MB/s and
//! latency percentiles from an HDR histogram), comparisons of engine figures with the raw or
//! fio figures that bound them ([`Comparison`]), and their text and JSON renderings.
//!
//! # JSON schema (`--output-format json`), stable within [`SCHEMA`]
//!
//! One object:
//! - `schema`: `"infinitedb-bench/2"`; a field is only ever added within a version, never
//!   renamed or removed. Every latency map ends in `latency_percentiles_us` and holds
//!   percentiles (plus `min`, `avg`, `max` for a job), so none can be taken for fio's
//!   `latency_us`, a distribution of latencies over buckets.
//! - `environment`: `kernel`, `directory`, `filesystem`, `mount_source`, `cpus`, `device`
//!   (`name`, `logical_block_bytes`, `write_cache`, `fua`, `rotational`, `scheduler`, or
//!   `null`), `backend` (`kind`, `direct_io`, `alignment_bytes`, `reason`, or `null`). Unknown
//!   values are `null`.
//! - `jobs`: one object per job: `name`, `rw`, `bs_bytes`, `numjobs`, `iodepth`,
//!   `durability` (`"sync"`, `"nosync"` or `null` for raw jobs), `ops`, `bytes`,
//!   `runtime_seconds`, `ops_per_second`, `mb_per_second` (10^6 bytes), `latency_percentiles_us` (`min`,
//!   `avg`, `max`, `p50`, `p90`, `p99`, `p99_9`, `p99_99`; per operation, submission to
//!   completion), and `engine` (`null` for raw jobs, else `fsyncs`, `records_per_fsync`,
//!   `groups_direct`, `groups_staged`, `records_direct`, `records_staged`, `deadline_misses`,
//!   `seals`, `device_write_bytes`, `device_mb_per_second`: the process's
//!   `write_bytes` from `/proc/self/io` over the job, `device_read_bytes`: its `read_bytes`,
//!   `cpu_seconds`: the process's CPU time over the job, `cpu_us_per_record`: per record
//!   written or per operation),
//!   and `query` (`null` except for box-query jobs, else
//!   `box_side_fraction`, `expected_records_per_box`, `records`, `records_per_query`,
//!   `records_per_second`, `verified_queries`, `verified_records`, `range_over_read`; a
//!   box-query job's `ops` are queries and its `latency_percentiles_us` is per query), and `handoff`
//!   (`null` except for thread hand-off ceiling jobs, `rw` `"handoff"`, else `groups`,
//!   `records_per_group`, `hold_us`; such a job's `ops` are hand-offs, its `bytes` 0 and its
//!   `latency_percentiles_us` from queuing to the answer), and `lifecycle` (`null` except for compaction
//!   lifecycle jobs, `rw` `"lifecycle"`, whose `ops` are the durable writes of the overwrites
//!   with compaction on, `latency_percentiles_us` per write and `engine` summed over every open; else
//!   the fields of `lifecycle::LifecycleFigures`: `retention`, `keys`, `value_bytes`,
//!   `record_header_bytes`, `record_bytes`, `overwrite_factor`, `overwrites`,
//!   `batch_records`, `numjobs`, `reopen_every`, `reopens`, `live_bytes`,
//!   `all_versions_bytes`, `overwrite_bytes`; `start`, `end`, `compacted` and
//!   `end_without_compaction` (or `null`), each with `levels[]` (`level`, `blocks`, `bytes`,
//!   `records`), `block_bytes`, `block_records`, `live_tail_records`,
//!   `space_amplification`, `space_amplification_all_versions`, `blocks_per_read_bound`,
//!   `get_latency_percentiles_us` {`p50`, `p99`}, `filter_skips_per_get` and `blocks_read_per_get`
//!   {`mean`, `p99`, `max`},
//!   `query_latency_percentiles_us` and `records_per_query` (or `null`); `sealed_bytes`,
//!   `compaction_bytes_written`, `compaction_bytes_read`, `write_amplification`,
//!   `write_amplification_without_compaction`, `device_write_bytes`,
//!   `device_write_amplification`, `compactions`, `compaction_failures`, `write_stalls`,
//!   `settle_seconds`, `settle_timeouts`, `compact_seconds`, `commit_latency_percentiles_us`,
//!   `commit_latency_percentiles_us_without_compaction`, `commit_p99_ratio`,
//!   `get_p99_end_over_compacted`; the formulas are in `lifecycle/figures.rs`), and `peer`
//!   (`null` except for rows of the engine comparison, `rw` `"peers"`, whose `ops` are load
//!   batches, gets or ranges and `latency_percentiles_us` per operation; else `engine`, `workload`
//!   (`"load"`, `"get"`, `"range"`), `keys`, `records`, `records_per_second`, `runs`,
//!   `device_read_bytes` and `device_read_bytes_per_op` (or `null`), `engine_reads` (`null`
//!   except for infinitedb's get rows, else the fields of `peers::EngineReads`: `gets`,
//!   `blocks_consulted_per_get`, `filter_skips_per_get`, `block_page_reads`,
//!   `block_page_reads_per_get`, `block_page_reads_per_block`, `block_read_bytes_per_get`,
//!   `page_cache_hits`, `page_cache_misses`, `page_cache_hit_ratio`, `page_cache_bytes`,
//!   `page_cache_capacity_bytes`), `durability`; `--rw randread-large` prints infinitedb's
//!   load and get rows of this shape).
//! - `comparisons`: `figure`, `unit`, `ours`, `bound_figure`, `bound`, `bound_source`
//!   (`"raw"`: uring-io's raw workloads; `"fio"`; `"handoff"`: the thread hand-off ceiling, a
//!   CPU bound measured with no I/O, informational and without a target; `"peer"`: another
//!   engine's figure in the same run, `bound_figure` naming it), `ratio`
//!   (ours / bound), `target_ratio` (or `null`), `repeats` (values are medians of this many
//!   runs), `ours_latency_percentiles_us` and `bound_latency_percentiles_us` (`p50`, `p99`
//!   per operation, or `null` where the side does not report them), `verdict` (`"ok"`: the
//!   target is met; `"below"`; `"noisy bound"`: ours passes a ceiling by more than
//!   [`NOISY_BOUND_RATIO`], so the bound's run was disturbed, whatever the target; `null`:
//!   no target and no ceiling passed).
//! - `notes`: strings (workloads left out and why, warnings).

use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::environment::Environment;
use crate::error::{BenchError, Result};
use crate::lifecycle::LifecycleFigures;
use crate::peers::PeerFigures;
use crate::plot::{self, LatencyCurve};

/// Version tag of the JSON output.
pub const SCHEMA: &str = "infinitedb-bench/2";

/// Highest latency the histograms track (60 s); longer ones are clamped to it.
pub const LATENCY_NS_MAX: u64 = 60_000_000_000;

/// A latency histogram in nanoseconds, 3 significant digits.
///
/// # Errors
/// [`BenchError::Histogram`] (never with these constant bounds).
pub fn latency_histogram() -> Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, LATENCY_NS_MAX, 3).map_err(|error| BenchError::Histogram {
        detail: error.to_string(),
    })
}

/// Records one latency, clamped to the histogram's range.
pub fn record_latency(histogram: &mut Histogram<u64>, latency: Duration) {
    let nanoseconds = u64::try_from(latency.as_nanos()).unwrap_or(LATENCY_NS_MAX);
    histogram.saturating_record(nanoseconds.clamp(1, LATENCY_NS_MAX));
}

/// What one job (all its threads) measured.
#[derive(Clone, Debug)]
pub struct Measurement {
    /// Operations completed.
    pub ops: u64,
    /// Payload bytes moved (values written or read).
    pub bytes: u64,
    /// Wall time from the first operation's start to the last one's end.
    pub elapsed: Duration,
    /// Per-operation latency in nanoseconds.
    pub latency_ns: Histogram<u64>,
}

impl Measurement {
    /// Operations per second.
    pub fn ops_per_second(&self) -> f64 {
        per_second(self.ops as f64, self.elapsed)
    }

    /// Megabytes (10^6) per second.
    pub fn mb_per_second(&self) -> f64 {
        per_second(self.bytes as f64, self.elapsed) / 1e6
    }
}

fn per_second(amount: f64, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 { amount / seconds } else { 0.0 }
}

/// Latency summary in microseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Fastest operation.
    pub min: f64,
    /// Mean.
    pub avg: f64,
    /// Slowest operation.
    pub max: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p99_9: f64,
    /// 99.99th percentile.
    pub p99_99: f64,
}

impl Latency {
    /// Summarises a nanosecond histogram (all zero when it is empty).
    pub fn from_histogram(histogram: &Histogram<u64>) -> Latency {
        if histogram.is_empty() {
            return Latency::default();
        }
        let us = |nanoseconds: u64| nanoseconds as f64 / 1e3;
        let at = |quantile: f64| us(histogram.value_at_quantile(quantile));
        Latency {
            min: us(histogram.min()),
            avg: histogram.mean() / 1e3,
            max: us(histogram.max()),
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            p99_9: at(0.999),
            p99_99: at(0.9999),
        }
    }
}

/// Engine counters over one job.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct EngineFigures {
    /// Durable commit chains (each one fdatasync).
    pub fsyncs: u64,
    /// Records acknowledged per fsync.
    pub records_per_fsync: f64,
    /// Groups acknowledged by the hot segment.
    pub groups_direct: u64,
    /// Groups acknowledged by the staging log.
    pub groups_staged: u64,
    /// Records acknowledged by the hot segment.
    pub records_direct: u64,
    /// Records acknowledged by the staging log.
    pub records_staged: u64,
    /// Hot-segment chains that passed their deadline.
    pub deadline_misses: u64,
    /// Seals completed.
    pub seals: u64,
    /// Bytes the process sent to the block layer during the job (`/proc/self/io`).
    pub device_write_bytes: u64,
    /// `device_write_bytes` per second of the job, in 10^6 bytes.
    pub device_mb_per_second: f64,
    /// Bytes the process caused to be read from storage during the job (`read_bytes` of
    /// `/proc/self/io`: O_DIRECT reads and page-cache misses; 0 where not measured).
    pub device_read_bytes: u64,
    /// Block page runs the engine read from storage after page-cache misses
    /// (`Stats::block_page_reads`; with buffered block reads the OS page cache may answer
    /// some without the device).
    pub block_page_reads: u64,
    /// Page lookups the engine's page cache answered (`Stats::page_cache_hits`).
    pub page_cache_hits: u64,
    /// Page lookups it could not (`Stats::page_cache_misses`).
    pub page_cache_misses: u64,
    /// The process's CPU time over the measured part, user and system, in seconds
    /// (`/proc/self/stat`; 10 ms resolution; 0 where not measured).
    pub cpu_seconds: f64,
    /// `cpu_seconds` per record written (write jobs) or per operation, in µs.
    pub cpu_us_per_record: f64,
}

/// Box-query figures of a `query` job (see `query.rs` for how boxes are sized and checked).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct QueryFigures {
    /// Each box's side as a fraction of every dimension's domain.
    pub box_side_fraction: f64,
    /// Records a box holds on average, from the side and the key set.
    pub expected_records_per_box: f64,
    /// Records the timed queries returned.
    pub records: u64,
    /// `records` per query.
    pub records_per_query: f64,
    /// `records` per second of the job.
    pub records_per_second: f64,
    /// Sample boxes checked against a brute-force filter before the timed loop.
    pub verified_queries: u64,
    /// Records those boxes held (every one matched).
    pub verified_records: u64,
    /// On the sample: records inside the boxes' key ranges per record inside the boxes (the
    /// engine reads the former and filters; 1.0 is no over-read, 0 an empty sample).
    pub range_over_read: f64,
}

/// Figures of a thread hand-off ceiling job (see `handoff.rs`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct HandoffFigures {
    /// Groups the coordinator answered.
    pub groups: u64,
    /// Hand-offs per group, on average.
    pub records_per_group: f64,
    /// How long the coordinator held each group before answering it, in microseconds (0: the
    /// pure CPU ceiling).
    pub hold_us: f64,
}

/// The summary of one job.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct JobReport {
    /// Job name ("durable-1-writer", "raw-commit", ...).
    pub name: String,
    /// The `--rw` mode.
    pub rw: String,
    /// Bytes per operation (value size for engine jobs).
    pub bs_bytes: u64,
    /// Threads.
    pub numjobs: u32,
    /// Operations in flight per thread.
    pub iodepth: u32,
    /// "sync" or "nosync" for engine jobs; `None` for raw jobs.
    pub durability: Option<String>,
    /// Operations completed.
    pub ops: u64,
    /// Payload bytes.
    pub bytes: u64,
    /// Wall time of the job.
    pub runtime_seconds: f64,
    /// Operations per second.
    pub ops_per_second: f64,
    /// Payload MB/s (10^6 bytes).
    pub mb_per_second: f64,
    /// Per-operation latency.
    pub latency_percentiles_us: Latency,
    /// Engine counters (`None` for raw jobs).
    pub engine: Option<EngineFigures>,
    /// Box-query figures (`None` except for `query` jobs).
    pub query: Option<QueryFigures>,
    /// Hand-off figures (`None` except for hand-off ceiling jobs).
    pub handoff: Option<HandoffFigures>,
    /// Compaction lifecycle figures (`None` except for lifecycle jobs).
    pub lifecycle: Option<LifecycleFigures>,
    /// Figures of a row of the engine comparison (`None` except for `--rw peers` rows).
    pub peer: Option<PeerFigures>,
    /// The latency percentile curve of `--plot`, from the job's histogram (`None` when it
    /// measured nothing); not in the JSON.
    #[serde(skip)]
    pub latency_curve: Option<LatencyCurve>,
}

/// The shape of a job, for its report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobShape {
    /// Job name.
    pub name: String,
    /// The `--rw` mode.
    pub rw: String,
    /// Bytes per operation.
    pub bs_bytes: u64,
    /// Threads.
    pub numjobs: u32,
    /// Operations in flight per thread.
    pub iodepth: u32,
    /// "sync"/"nosync" for engine jobs.
    pub durability: Option<String>,
}

impl JobReport {
    /// Summarises `measurement` of a job shaped `shape`.
    pub fn new(shape: JobShape, measurement: &Measurement, engine: Option<EngineFigures>) -> Self {
        let latency_curve = LatencyCurve::from_histogram(&shape.name, &measurement.latency_ns);
        JobReport {
            name: shape.name,
            rw: shape.rw,
            bs_bytes: shape.bs_bytes,
            numjobs: shape.numjobs,
            iodepth: shape.iodepth,
            durability: shape.durability,
            ops: measurement.ops,
            bytes: measurement.bytes,
            runtime_seconds: measurement.elapsed.as_secs_f64(),
            ops_per_second: measurement.ops_per_second(),
            mb_per_second: measurement.mb_per_second(),
            latency_percentiles_us: Latency::from_histogram(&measurement.latency_ns),
            latency_curve,
            engine,
            query: None,
            handoff: None,
            lifecycle: None,
            peer: None,
        }
    }

    /// Adds the box-query figures of a `query` job.
    #[must_use]
    pub fn with_query(mut self, query: Option<QueryFigures>) -> Self {
        self.query = query;
        self
    }

    /// Adds the figures of a hand-off ceiling job.
    #[must_use]
    pub fn with_handoff(mut self, handoff: Option<HandoffFigures>) -> Self {
        self.handoff = handoff;
        self
    }

    /// Adds the figures of a compaction lifecycle job.
    #[must_use]
    pub fn with_lifecycle(mut self, lifecycle: Option<LifecycleFigures>) -> Self {
        self.lifecycle = lifecycle;
        self
    }

    /// Adds the figures of a row of the engine comparison.
    #[must_use]
    pub fn with_peer(mut self, peer: Option<PeerFigures>) -> Self {
        self.peer = peer;
        self
    }

    /// p50 and p99 of the job's per-operation latency (`None` when it measured nothing).
    pub fn latency_percentiles(&self) -> Option<LatencyPercentiles> {
        (self.ops > 0).then_some(LatencyPercentiles {
            p50: self.latency_percentiles_us.p50,
            p99: self.latency_percentiles_us.p99,
        })
    }

    /// fio-like text: a header line, throughput, latency and engine counters.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let durability = self
            .durability
            .as_deref()
            .map_or(String::new(), |durability| {
                format!(", durability={durability}")
            });
        let _ = writeln!(
            out,
            "{}: (rw={}, bs={}, numjobs={}, iodepth={}{durability})",
            self.name,
            self.rw,
            format_bytes(self.bs_bytes),
            self.numjobs,
            self.iodepth
        );
        let _ = writeln!(
            out,
            "  {}: IOPS={}, BW={:.1}MB/s ({} ops, {} in {:.2}s)",
            self.rw,
            format_count(self.ops_per_second),
            self.mb_per_second,
            self.ops,
            format_bytes(self.bytes),
            self.runtime_seconds
        );
        let latency = &self.latency_percentiles_us;
        let _ = writeln!(
            out,
            "    lat (usec): min={:.1}, avg={:.1}, max={:.1}",
            latency.min, latency.avg, latency.max
        );
        let _ = writeln!(
            out,
            "    lat percentiles (usec): p50={:.1}, p90={:.1}, p99={:.1}, p99.9={:.1}, p99.99={:.1}",
            latency.p50, latency.p90, latency.p99, latency.p99_9, latency.p99_99
        );
        self.write_figures(&mut out);
        out
    }

    /// The lines of the job's own figures (engine counters, box queries, hand-offs), each
    /// only when the job has them.
    fn write_figures(&self, out: &mut String) {
        self.write_engine(out);
        self.write_peer(out);
        if let Some(query) = &self.query {
            let _ = writeln!(
                out,
                "    query: records/s={}, records/query={:.1}, box side={:.4}% of each dimension \
                 (~{:.0} records expected), verified {} queries / {} records against a \
                 brute-force filter, range over-read={:.2}x",
                format_count(query.records_per_second),
                query.records_per_query,
                query.box_side_fraction * 100.0,
                query.expected_records_per_box,
                query.verified_queries,
                query.verified_records,
                query.range_over_read
            );
        }
        if let Some(handoff) = &self.handoff {
            let _ = writeln!(
                out,
                "    handoff: groups={}, records/group={:.1}, hold={:.1}us (no I/O: what parking \
                 and waking a thread per operation allows on this machine)",
                handoff.groups, handoff.records_per_group, handoff.hold_us
            );
        }
        if let Some(lifecycle) = &self.lifecycle {
            out.push_str(&lifecycle.text());
        }
    }

    /// The engine counters' lines (engine jobs only).
    fn write_engine(&self, out: &mut String) {
        let Some(engine) = &self.engine else {
            return;
        };
        let _ = writeln!(
            out,
            "    engine: fsyncs={}, records/fsync={:.1}, groups direct/staged={}/{}, \
             deadline misses={}, seals={}, device writes={} \
             ({:.1}MB/s), CPU {:.2}s ({:.2}µs/record)",
            engine.fsyncs,
            engine.records_per_fsync,
            engine.groups_direct,
            engine.groups_staged,
            engine.deadline_misses,
            engine.seals,
            format_bytes(engine.device_write_bytes),
            engine.device_mb_per_second,
            engine.cpu_seconds,
            engine.cpu_us_per_record
        );
        if engine.device_read_bytes > 0 || self.rw.contains("read") {
            let _ = writeln!(
                out,
                "    device reads: {} ({}/op, {:.2} 4KiB pages/op; /proc/self/io read_bytes, whole \
                 process: background compaction counts too)",
                format_bytes(engine.device_read_bytes),
                format_bytes(per_op(engine.device_read_bytes, self.ops)),
                engine.device_read_bytes as f64 / 4096.0 / self.ops.max(1) as f64
            );
            let lookups = (engine.page_cache_hits + engine.page_cache_misses).max(1);
            let _ = writeln!(
                out,
                "    engine reads: block page reads={} ({:.2}/op), page cache hits={:.1}%",
                engine.block_page_reads,
                engine.block_page_reads as f64 / self.ops.max(1) as f64,
                100.0 * engine.page_cache_hits as f64 / lookups as f64
            );
        }
    }

    /// The line of a row of the engine comparison (peers rows only).
    fn write_peer(&self, out: &mut String) {
        let Some(peer) = &self.peer else {
            return;
        };
        let device = peer.device_read_bytes.map_or_else(
            || "-".to_string(),
            |bytes| {
                format!(
                    "{} ({}/op, {:.2} 4KiB pages/op)",
                    format_bytes(bytes),
                    format_bytes(per_op(bytes, self.ops)),
                    bytes as f64 / 4096.0 / self.ops.max(1) as f64
                )
            },
        );
        let checked = if peer.workload == "load" {
            ""
        } else {
            ", every value checked"
        };
        let _ = writeln!(
            out,
            "    {} {}: records/s={}, records={}{checked}, keys={}, median of {} run(s), device \
             reads={device}",
            peer.engine,
            peer.workload,
            format_count(peer.records_per_second),
            peer.records,
            peer.keys,
            peer.runs
        );
        if let Some(reads) = &peer.engine_reads {
            out.push_str(&reads.text());
        }
    }
}

/// Two latency percentiles of one side of a comparison, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct LatencyPercentiles {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// An engine figure beside the raw or fio figure that bounds it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    /// What is measured ("durable puts/s, 1 writer, 128 B").
    pub figure: String,
    /// Unit of `ours` and `bound` ("ops/s", "MB/s").
    pub unit: String,
    /// Our figure (median of `repeats`).
    pub ours: f64,
    /// What bounds it ("commits/s, 4 KiB write+fdatasync QD1").
    pub bound_figure: String,
    /// The bound's figure (median of `repeats`).
    pub bound: f64,
    /// "raw" (uring-io raw workloads), "fio", or "handoff" (the thread hand-off ceiling).
    pub bound_source: String,
    /// `ours / bound` (0 when the bound is 0); for `--vs-fio`'s raw rows, whose sides run in
    /// pairs, the median of the per-pair ratios.
    pub ratio: f64,
    /// The ratio the issue asks for, if any.
    pub target_ratio: Option<f64>,
    /// Runs each value is the median of.
    pub repeats: u32,
    /// Our per-operation latency (median of `repeats`), if measured.
    pub ours_latency_percentiles_us: Option<LatencyPercentiles>,
    /// The bound's per-operation latency (median of `repeats`), if its side reports it.
    pub bound_latency_percentiles_us: Option<LatencyPercentiles>,
}

impl Comparison {
    /// A comparison with its ratio computed.
    pub fn new(figure: &str, unit: &str, ours: f64, bound_figure: &str, bound: f64) -> Self {
        Comparison {
            figure: figure.to_string(),
            unit: unit.to_string(),
            ours,
            bound_figure: bound_figure.to_string(),
            bound,
            bound_source: "raw".to_string(),
            ratio: if bound > 0.0 { ours / bound } else { 0.0 },
            target_ratio: None,
            repeats: 1,
            ours_latency_percentiles_us: None,
            bound_latency_percentiles_us: None,
        }
    }

    /// Sets both sides' latency percentiles.
    #[must_use]
    pub fn latencies(
        mut self,
        ours: Option<LatencyPercentiles>,
        bound: Option<LatencyPercentiles>,
    ) -> Self {
        self.ours_latency_percentiles_us = ours;
        self.bound_latency_percentiles_us = bound;
        self
    }

    /// Sets the target ratio.
    #[must_use]
    pub fn target(mut self, target_ratio: f64) -> Self {
        self.target_ratio = Some(target_ratio);
        self
    }

    /// Sets where the bound comes from.
    #[must_use]
    pub fn source(mut self, bound_source: &str) -> Self {
        self.bound_source = bound_source.to_string();
        self
    }

    /// Whether `bound` is a ceiling of `ours`, a figure ours cannot pass on this machine: a
    /// target at or under 1× says so (ours at best matches the device, or fio on it), and the
    /// hand-off bound is the CPU's ceiling. A target over 1× (many writers' group commits
    /// beside QD1 commits) or a row without one (records/s beside reads/s, another engine)
    /// sets different quantities side by side.
    pub fn bound_is_ceiling(&self) -> bool {
        match self.bound_source.as_str() {
            crate::handoff::HANDOFF_RW => true,
            PEER_SOURCE => false,
            _ => self.target_ratio.is_some_and(|target| target <= 1.0),
        }
    }

    /// The row's verdict: `None` for a row with neither a target nor a ceiling passed by more
    /// than [`NOISY_BOUND_RATIO`].
    pub fn verdict(&self) -> Option<Verdict> {
        if self.bound_is_ceiling() && self.ratio > NOISY_BOUND_RATIO {
            return Some(Verdict::NoisyBound);
        }
        let target = self.target_ratio?;
        Some(if self.ratio >= target {
            Verdict::Ok
        } else {
            Verdict::Below
        })
    }
}

/// The ratio to a ceiling above which a figure says more about the ceiling's measurement
/// than about ours: an engine cannot pass the device (or the CPU) it runs on by half again,
/// so a ratio over this means the bound's run was disturbed (another tenant's burst, a cloud
/// disk's credits) and the row is flagged [`Verdict::NoisyBound`] instead of met.
pub const NOISY_BOUND_RATIO: f64 = 1.5;

/// The `bound_source` of a row whose bound is another engine's figure (`--rw peers`): a
/// target to meet or pass, never a ceiling.
pub const PEER_SOURCE: &str = "peer";

/// How a comparison row stands against its target and its bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The ratio meets the target.
    Ok,
    /// The ratio is under the target.
    Below,
    /// The ratio passes a ceiling by more than [`NOISY_BOUND_RATIO`]: the bound's figure is
    /// not to be trusted, whatever the target.
    NoisyBound,
}

impl Verdict {
    /// The word printed in the table and the JSON (`"ok"`, `"below"`, `"noisy bound"`).
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Below => "below",
            Verdict::NoisyBound => "noisy bound",
        }
    }
}

/// A comparison row as the JSON has it: its fields and its verdict.
#[derive(Serialize)]
struct ComparisonJson<'row> {
    #[serde(flatten)]
    row: &'row Comparison,
    verdict: Option<&'static str>,
}

/// Serialises `rows` each with its [`Comparison::verdict`].
fn serialize_comparisons<S: serde::Serializer>(
    rows: &[Comparison],
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    serializer.collect_seq(rows.iter().map(|row| ComparisonJson {
        row,
        verdict: row.verdict().map(Verdict::name),
    }))
}

/// A whole run: environment, jobs, comparisons, notes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// [`SCHEMA`].
    pub schema: &'static str,
    /// Where it ran.
    pub environment: Environment,
    /// Each job's summary.
    pub jobs: Vec<JobReport>,
    /// Engine figures against their bounds (each serialised with its verdict).
    #[serde(serialize_with = "serialize_comparisons")]
    pub comparisons: Vec<Comparison>,
    /// Left-out workloads and warnings.
    pub notes: Vec<String>,
    /// fio's jobs' latency percentile curves, for `--plot` beside the jobs' own; not in the
    /// JSON.
    #[serde(skip)]
    pub fio_curves: Vec<LatencyCurve>,
}

impl Report {
    /// An empty report for `environment`.
    pub fn new(environment: Environment) -> Self {
        Report {
            schema: SCHEMA,
            environment,
            jobs: Vec::new(),
            comparisons: Vec::new(),
            notes: Vec::new(),
            fio_curves: Vec::new(),
        }
    }

    /// Writes the `--plot` chart to `path`: each job's latency percentile curve, then
    /// fio's.
    ///
    /// # Errors
    /// [`BenchError::Plot`].
    pub fn write_plot(&self, path: &std::path::Path) -> Result<()> {
        let curves: Vec<LatencyCurve> = self
            .jobs
            .iter()
            .filter_map(|job| job.latency_curve.clone())
            .chain(self.fio_curves.iter().cloned())
            .collect();
        let title = format!(
            "latency percentiles per operation, {}",
            self.environment
                .kernel
                .as_deref()
                .unwrap_or("unknown kernel")
        );
        plot::write_svg(path, &title, &curves)
    }

    /// The JSON rendering (see the module docs for the schema).
    ///
    /// # Errors
    /// [`BenchError::FioOutput`] if serialisation fails (it does not for these types).
    pub fn json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// The text rendering: environment, jobs, then the comparison table and notes.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for line in self.environment.lines() {
            let _ = writeln!(out, "{line}");
        }
        for job in &self.jobs {
            let _ = write!(out, "\n{}", job.text());
        }
        if !self.comparisons.is_empty() {
            let _ = write!(out, "\n{}", comparison_table(&self.comparisons));
        }
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        out
    }
}

/// The comparison table: figure, ours, bound, ratio, target, then each side's p50/p99
/// latency in microseconds ("-" where a side does not report it).
pub fn comparison_table(comparisons: &[Comparison]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<44} {:>12} {:<44} {:>12} {:>8} {:>8}{:<12} {:>17} {:>17}",
        "figure",
        "ours",
        "bound",
        "bound value",
        "ratio",
        "target",
        " verdict",
        "ours p50/p99 us",
        "bound p50/p99 us"
    );
    for row in comparisons {
        let target = row
            .target_ratio
            .map_or_else(|| "-".to_string(), |target| format!(">={target:.2}x"));
        let met = match row.verdict() {
            Some(Verdict::Ok) => " ok",
            Some(Verdict::Below) => " BELOW",
            Some(Verdict::NoisyBound) => " noisy bound",
            None => "",
        };
        let _ = writeln!(
            out,
            "{:<44} {:>12} {:<44} {:>12} {:>7.2}x {:>8}{met:<12} {:>17} {:>17}",
            format!("{} ({})", row.figure, row.unit),
            format_value(row.ours),
            format!("{} [{}]", row.bound_figure, row.bound_source),
            format_value(row.bound),
            row.ratio,
            target,
            format_latency(row.ours_latency_percentiles_us),
            format_latency(row.bound_latency_percentiles_us)
        );
    }
    out
}

/// `bytes` per one of `ops` operations, rounded down (0 for no operation).
fn per_op(bytes: u64, ops: u64) -> u64 {
    bytes.checked_div(ops).unwrap_or(0)
}

/// "12.3/456" (p50/p99 in microseconds), or "-".
fn format_latency(latency: Option<LatencyPercentiles>) -> String {
    latency.map_or_else(
        || "-".to_string(),
        |latency| {
            format!(
                "{}/{}",
                format_value(latency.p50),
                format_value(latency.p99)
            )
        },
    )
}

fn format_value(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

/// `1234567.0` → "1.23M", like fio's IOPS.
fn format_count(value: f64) -> String {
    if value >= 1e6 {
        format!("{:.2}M", value / 1e6)
    } else if value >= 1e4 {
        format!("{:.1}k", value / 1e3)
    } else {
        format!("{value:.0}")
    }
}

/// Bytes in binary units ("4KiB", "1MiB", "128B").
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value.fract() == 0.0 {
        format!("{value:.0}{}", UNITS[unit])
    } else {
        format!("{value:.1}{}", UNITS[unit])
    }
}

/// The median of `values` (the lower middle for an even count; 0 for none). Repeats are
/// summarised by the median, not the mean, so one disturbed run (another tenant's burst, a
/// journal commit) does not move the figure.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        count => sorted[(count - 1) / 2],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_summary_orders_its_percentiles() {
        // Goal: the summary's fields are consistent. Method: record 1..=10000 µs.
        let mut histogram = latency_histogram().unwrap();
        for us in 1..=10_000u64 {
            record_latency(&mut histogram, Duration::from_micros(us));
        }
        let latency = Latency::from_histogram(&histogram);
        assert!(latency.min >= 0.99 && latency.min <= 1.01);
        assert!((latency.p50 - 5000.0).abs() < 10.0);
        assert!(latency.p90 <= latency.p99 && latency.p99 <= latency.p99_9);
        assert!(latency.p99_9 <= latency.p99_99 && latency.p99_99 <= latency.max);
    }

    #[test]
    fn median_and_units() {
        // Goal: helpers compute what they claim. Method: fixed inputs.
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.0);
        assert_eq!(median(&[]), 0.0);
        assert_eq!(format_bytes(4096), "4KiB");
        assert_eq!(format_bytes(128), "128B");
        assert_eq!(format_count(12_345.0), "12.3k");
    }

    #[test]
    fn comparisons_flag_missed_targets() {
        // Goal: a ratio under target is flagged. Method: one row met, one missed.
        let met = Comparison::new("a", "ops/s", 90.0, "b", 100.0).target(0.85);
        let missed = Comparison::new("c", "ops/s", 10.0, "d", 100.0).target(0.85);
        let with_latency = Comparison::new("e", "ops/s", 5.0, "f", 10.0).latencies(
            Some(LatencyPercentiles {
                p50: 12.5,
                p99: 250.0,
            }),
            None,
        );
        let table = comparison_table(&[met, missed, with_latency]);
        assert!(table.contains(" ok"));
        assert!(table.contains("BELOW"));
        assert!(table.contains("12.50/250"), "{table}");
        assert!(
            table
                .lines()
                .last()
                .is_some_and(|line| line.ends_with(" -"))
        );
    }

    #[test]
    fn a_figure_far_above_its_ceiling_flags_a_noisy_bound() {
        // Goal: a ratio over NOISY_BOUND_RATIO to a ceiling is "noisy bound", not "ok", while
        // one at the limit is still met and a peer's figure (not a ceiling) is never flagged.
        // Method: rows at 1.6x and 1.5x of a fio bound with a 0.9x target, a 1.6x peer row, a
        // 1.6x hand-off row without target and a 30x row of a 25x target (many writers beside
        // QD1 commits: not a ceiling); check verdicts, the table and the JSON.
        let noisy = Comparison::new("a", "ops/s", 160.0, "b", 100.0)
            .target(0.9)
            .source("fio");
        let at_limit = Comparison::new("c", "ops/s", 150.0, "d", 100.0)
            .target(0.9)
            .source("fio");
        // A peer row has the 1x target the peers comparison gives it.
        let peer = Comparison::new("e", "ops/s", 160.0, "f", 100.0)
            .target(1.0)
            .source(PEER_SOURCE);
        let handoff = Comparison::new("g", "ops/s", 160.0, "h", 100.0).source("handoff");
        assert!(noisy.ratio > NOISY_BOUND_RATIO);
        assert_eq!(noisy.verdict(), Some(Verdict::NoisyBound));
        assert_eq!(at_limit.verdict(), Some(Verdict::Ok));
        assert_eq!(
            peer.verdict(),
            Some(Verdict::Ok),
            "a peer is a target, not a ceiling"
        );
        assert_eq!(handoff.verdict(), Some(Verdict::NoisyBound));
        let group_commits = Comparison::new("i", "ops/s", 30.0, "j", 1.0).target(25.0);
        assert_eq!(group_commits.verdict(), Some(Verdict::Ok));
        let table = comparison_table(&[noisy.clone(), at_limit.clone()]);
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[1].contains("noisy bound") && !lines[1].contains(" ok"),
            "{table}"
        );
        assert!(
            lines[2].contains(" ok") && !lines[2].contains("noisy"),
            "{table}"
        );
        let mut report = Report::new(Environment::probe(std::path::Path::new("/"), None));
        report.comparisons = vec![noisy, peer];
        let json: serde_json::Value = serde_json::from_str(&report.json().unwrap()).unwrap();
        assert_eq!(json["comparisons"][0]["verdict"], "noisy bound");
        assert_eq!(json["comparisons"][0]["ratio"], 1.6);
        assert_eq!(json["comparisons"][1]["verdict"], "ok");
    }
}
