//! `raw_io`: uring-io's raw disk workloads with the command line `scripts/bench-vs-fio.sh`
//! used first. A thin shim over [`infinitedb_bench::raw`]; the same workloads are
//! `infinitedb-bench --rw raw-write|raw-randread|raw-commit`, and `infinitedb-bench --vs-fio`
//! runs them beside fio.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};
use infinitedb_bench::job::{Limit, Progress};
use infinitedb_bench::raw::{self, RawJob, RawMode, RawOptions};
use infinitedb_bench::report::Latency;
use uring_io::BackendRequest;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    SeqWrite,
    RandRead,
    Commit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Backend {
    Auto,
    Uring,
    Fallback,
}

/// Raw disk benchmarks mirroring fio jobs.
#[derive(Debug, Parser)]
struct Args {
    /// Directory to work in (the same one fio uses).
    #[arg(long)]
    dir: PathBuf,
    /// Workload.
    #[arg(long, value_enum)]
    mode: Mode,
    /// Operations kept in flight (commit mode: always 1).
    #[arg(long, default_value_t = 1)]
    queue_depth: usize,
    /// Bytes per operation.
    #[arg(long, default_value_t = 4096)]
    block_bytes: usize,
    /// Size of the pre-written file the workload runs over.
    #[arg(long, default_value_t = 1 << 30)]
    file_bytes: u64,
    /// How long to run, in seconds.
    #[arg(long, default_value_t = 5.0)]
    runtime_seconds: f64,
    /// Backend (the seq-write and rand-read modes need io_uring).
    #[arg(long, value_enum, default_value = "auto")]
    backend: Backend,
    /// Commit mode: a deadline (µs) on every chain (cancelled if still syncing at it); poll
    /// in 200 µs slices, as the engine's I/O thread does.
    #[arg(long)]
    engine_deadline_us: Option<u64>,
    /// Seq-write and rand-read modes: use buffers registered with the ring
    /// (`WRITE_FIXED`/`READ_FIXED`).
    #[arg(long)]
    fixed_buffers: bool,
    /// Seq-write and rand-read modes: submit refills batched with the next wait, instead of
    /// each operation as soon as it is queued (fio's `iodepth_batch_submit=1`, the default).
    #[arg(long)]
    submit_batched: bool,
    /// Print one JSON object instead of a text line.
    #[arg(long)]
    json: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mode = match args.mode {
        Mode::SeqWrite => RawMode::SequentialWrite,
        Mode::RandRead => RawMode::RandomRead,
        Mode::Commit => RawMode::Commit,
    };
    let runtime = Duration::try_from_secs_f64(args.runtime_seconds).context("--runtime-seconds")?;
    let job = RawJob {
        directory: args.dir.clone(),
        mode,
        block_bytes: args.block_bytes,
        iodepth: args.queue_depth,
        file_bytes: args.file_bytes,
        limit: Limit::runtime(runtime),
        backend: match args.backend {
            Backend::Auto => BackendRequest::Auto,
            Backend::Uring => BackendRequest::Uring,
            Backend::Fallback => BackendRequest::Fallback,
        },
    };
    let mut options = args
        .engine_deadline_us
        .map_or_else(RawOptions::default, |deadline_us| {
            RawOptions::engine_like(Duration::from_micros(deadline_us))
        });
    options.fixed_buffers = args.fixed_buffers;
    options.submit_each = !args.submit_batched;
    let (measurement, info) = raw::run_with(&job, options, &Progress::hidden())?;
    eprintln!("raw_io backend: {} ({})", info.kind.name(), info.reason);
    let latency = Latency::from_histogram(&measurement.latency_ns);
    let seconds = measurement.elapsed.as_secs_f64();
    if args.json {
        let row = serde_json::json!({
            "mode": format!("{:?}", args.mode),
            "queue_depth": args.queue_depth,
            "block_bytes": args.block_bytes,
            "ops": measurement.ops,
            "seconds": seconds,
            "mb_per_s": measurement.mb_per_second(),
            "iops": measurement.ops_per_second(),
            "latency_p50_us": latency.p50,
            "latency_p99_us": latency.p99,
        });
        println!("{row}");
    } else {
        println!(
            "{:?} qd{} bs{}: {:.1} MB/s, {:.0} IOPS, p50 {:.1} us, p99 {:.1} us ({} ops in {seconds:.2} s)",
            args.mode,
            args.queue_depth,
            args.block_bytes,
            measurement.mb_per_second(),
            measurement.ops_per_second(),
            latency.p50,
            latency.p99,
            measurement.ops,
        );
    }
    Ok(())
}
