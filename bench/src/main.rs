//! `infinitedb-bench`: fio-style benchmarks of infinitedb. A thin CLI over the
//! `infinitedb_bench` library: parse the arguments, run the suite, one job or `--vs-fio`,
//! print the report.
//!
//! With no arguments it runs the main job: a one-minute suite on a temporary directory.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};
use infinitedb::{Durability, Retention};
use infinitedb_bench::compare::{self, CompareConfig};
use infinitedb_bench::environment::Environment;
use infinitedb_bench::handoff::{self, HandoffJob, handoff_shape};
use infinitedb_bench::job::{Limit, Progress};
use infinitedb_bench::lifecycle::{self, LifecycleJob, LifecycleTuning, parse_retention};
use infinitedb_bench::peers::{
    self, PEERS_KEYS_DEFAULT, PEERS_RW, PEERS_VALUE_BYTES_DEFAULT, PeersJob,
    RANDREAD_LARGE_KEYS_DEFAULT, RANDREAD_LARGE_RW,
};
use infinitedb_bench::query::QUERY_RECORDS_DEFAULT;
use infinitedb_bench::raw::{self, RawJob, RawMode};
use infinitedb_bench::report::{JobReport, JobShape, Report};
use infinitedb_bench::suite::{
    self, ReadBoundConfig, SuiteConfig, durability_name, engine_shape, push_qd1_read_bound,
};
use infinitedb_bench::units::{parse_deadline, parse_duration, parse_size};
use infinitedb_bench::workload::{self, Api, EngineJob, EngineMode};
use uring_io::BackendRequest;

/// Workloads, named like fio's `--rw`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Rw {
    /// Engine: puts of fresh points.
    Write,
    /// Engine: puts over a preloaded key set (`--keys`).
    Overwrite,
    /// Engine: gets of the preloaded key set in order.
    Read,
    /// Engine: gets of random preloaded keys.
    Randread,
    /// Engine: box queries of random boxes over a sealed preloaded key set (`--keys`),
    /// each holding `--query-records` records on average; a sample is checked first.
    Query,
    /// Engine: `--rwmixread`% random gets (or 100 - `--rwmixwrite`), the rest random puts
    /// (also `randrw`, fio's name for it).
    #[value(alias = "randrw")]
    Mixed,
    /// Engine: the compaction lifecycle. Preloads --keys points (100-byte values unless
    /// --bs) in a space of --retention, overwrites them --overwrite-factor times at random in
    /// durable batches of --batch-records, closing and reopening every --reopen-every
    /// writes; reports space and write amplification, the level shape, blocks per point
    /// read, get and box-query latency at the start, at the end and after a final compact,
    /// and durable commit latency beside the same load with compaction off.
    Lifecycle,
    /// Engines side by side: infinitedb (1-D × 32 space, Options::default()) and, built with
    /// `--features peers`, fjall and redb on their defaults. Loads --keys keys (default
    /// 1,000,000) of --bs bytes (default 100) in shuffled batches of 1,000, flushes, then
    /// random point gets and ranges of 1,000 consecutive keys by one reader, --runtime each
    /// (default 5s), median of --repeats runs; every value checked. infinitedb's gets also
    /// stand beside QD1 4 KiB random reads of the device.
    Peers,
    /// Engine: infinitedb's point gets over a key set larger than the default page cache.
    /// Loads --keys keys (default 10,000,000) of --bs bytes (default 100) into a 1-D × 32
    /// space as peers does, flushes, then random point gets by one reader, --runtime each
    /// (default 5s), median of --repeats runs, every value checked; prints device reads per
    /// get and the page-cache hit ratio from the engine's counters, beside uring-io's and
    /// fio's (when installed) QD1 4 KiB O_DIRECT random reads over a file as large as the
    /// database in the same directory.
    RandreadLarge,
    /// Device: sequential O_DIRECT writes at `--iodepth`, no fsync.
    RawWrite,
    /// Device: random O_DIRECT reads at `--iodepth`.
    RawRandread,
    /// Device: QD1 write + fdatasync commit chains.
    RawCommit,
    /// CPU: the thread hand-off ceiling, no I/O: --numjobs threads each parking until one
    /// coordinator answers its group (optionally held for --hold), woken as a tree.
    Handoff,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ApiArg {
    Blocking,
    Async,
}

/// Records per write of `--rw lifecycle` unless `--batch` says otherwise.
const LIFECYCLE_BATCH_RECORDS: u64 = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum DurabilityArg {
    Sync,
    Nosync,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum BackendArg {
    Auto,
    Uring,
    Fallback,
    Buffered,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum OutputFormat {
    Normal,
    Json,
}

/// A deadline, or none.
#[derive(Clone, Copy, Debug)]
struct Deadline(Option<Duration>);

/// fio-style benchmarks of infinitedb. Without --rw or --vs-fio: the main job, a one-minute
/// suite (raw device figures, the thread hand-off ceiling, durable commits at 1 and 64
/// writers, bulk ingest, point reads, box queries, ranges, a short compaction row) on a temporary
/// directory, ending with each engine figure beside the raw figure bounding it.
#[derive(Debug, Parser)]
#[command(name = "infinitedb-bench", version)]
struct Args {
    /// Run one workload instead of the suite.
    #[arg(long, value_enum)]
    rw: Option<Rw>,
    /// Percentage of gets in --rw mixed (randrw); default 50.
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=100), requires = "rw")]
    rwmixread: Option<u8>,
    /// Percentage of puts in --rw mixed (randrw): fio's other way to say 100 - --rwmixread.
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=100), requires = "rw", conflicts_with = "rwmixread")]
    rwmixwrite: Option<u8>,
    /// Engine workloads: run this long before measuring (fio's ramp_time): the operations of
    /// the ramp are neither counted nor timed, and --runtime and --size start after it
    /// (randread-large: random gets after the load, before the measured runs).
    #[arg(long = "ramp_time", alias = "ramp-time", value_parser = parse_duration, requires = "rw")]
    ramp_time: Option<Duration>,
    /// Run for --runtime even when --size is reached first (fio's time_based).
    #[arg(long = "time_based", alias = "time-based", requires = "rw")]
    time_based: bool,
    /// Bytes per operation: value size for engine workloads (default 128), block size for raw
    /// ones (default 1m for raw-write, 4k otherwise).
    #[arg(long, value_parser = parse_size, requires = "rw")]
    bs: Option<u64>,
    /// Threads (engine workloads and handoff; raw workloads run one thread).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024), requires = "rw")]
    numjobs: u32,
    /// Operations in flight (raw-write and raw-randread; the engine's put blocks, so use --numjobs).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256), requires = "rw")]
    iodepth: u32,
    /// How long each run lasts (10s for --rw, 5s per run for --vs-fio, 6s per suite job).
    #[arg(long, value_parser = parse_duration)]
    runtime: Option<Duration>,
    /// Payload bytes to move; with --runtime, whichever comes first.
    #[arg(long, value_parser = parse_size, requires = "rw")]
    size: Option<u64>,
    /// Size of the raw workloads' file (and fio's with --vs-fio).
    #[arg(long, value_parser = parse_size, default_value = "1g")]
    filesize: u64,
    /// Handoff only: how long the coordinator holds each group before answering it, standing
    /// for a device commit (e.g. the raw-commit p50); 0 is the pure CPU ceiling.
    #[arg(long, value_parser = parse_duration, requires = "rw")]
    hold: Option<Duration>,
    /// Keys preloaded for overwrite, read, randread, mixed, query and lifecycle (default
    /// 100000), and loaded by peers (default 1000000) and randread-large (default 10000000).
    #[arg(long, requires = "rw")]
    keys: Option<u64>,
    /// Query: records a box holds on average (sets the box's side: the fraction
    /// (N / --keys)^(1/--dims) of every dimension).
    #[arg(long, default_value_t = QUERY_RECORDS_DEFAULT, value_parser = clap::value_parser!(u64).range(1..), requires = "rw")]
    query_records: u64,
    /// Lifecycle: which versions the space keeps: all, latest, versions:N or window:N.
    #[arg(long, value_parser = parse_retention, default_value = "latest", requires = "rw")]
    retention: Retention,
    /// Lifecycle: overwrites as a multiple of --keys.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..), requires = "rw")]
    overwrite_factor: u64,
    /// Lifecycle: close and reopen the database every this many writes (default 2 × --keys;
    /// 0 never).
    #[arg(long, requires = "rw")]
    reopen_every: Option<u64>,
    /// Records per write batch (engine write workloads: default 1; lifecycle: default 100).
    #[arg(long, alias = "batch-records", value_parser = clap::value_parser!(u32).range(1..=100_000), requires = "rw")]
    batch: Option<u32>,
    /// Spaces each write batch spreads its records over (--rw write): with more than one,
    /// every batch is an atomic batch across spaces (record i in space i mod N). Default 1
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64), requires = "rw")]
    spaces: u32,
    /// Engine write workloads: how writes are submitted: blocking (--numjobs threads, each
    /// blocked in its write) or async (--numjobs concurrent submitters as futures on one
    /// executor thread, each awaiting its Db::submit handle).
    #[arg(long, value_enum, default_value = "blocking", requires = "rw")]
    api: ApiArg,
    /// Lifecycle: random gets per latency measurement.
    #[arg(long, default_value_t = 50_000, value_parser = clap::value_parser!(u64).range(1..), requires = "rw")]
    reads: u64,
    /// Lifecycle: box queries (of --query-records records) per latency measurement; 0 none.
    #[arg(long, default_value_t = 200, requires = "rw")]
    queries: u64,
    /// When a put returns: once on disk (sync) or once sequenced (nosync).
    #[arg(long, value_enum, default_value = "sync", requires = "rw")]
    durability: DurabilityArg,
    /// Dimensions of the benchmark space.
    #[arg(long, default_value_t = 2, requires = "rw")]
    dims: u32,
    /// Bits per dimension of the benchmark space.
    #[arg(long, default_value_t = 32, requires = "rw")]
    bits: u32,
    /// Directory to benchmark (a temporary directory is made inside; default: the system's
    /// temporary directory).
    #[arg(long)]
    directory: Option<PathBuf>,
    /// I/O backend: auto probes io_uring, then the thread fallback, then buffered.
    #[arg(long, value_enum, default_value = "auto")]
    backend: BackendArg,
    /// Direct-route deadline before a group is hedged to the staging log ("none" disables).
    #[arg(long, value_parser = parse_deadline_arg, default_value = "2ms", requires = "rw")]
    deadline: Deadline,
    /// normal (fio-like text) or json (schema in the report module's docs and the README).
    #[arg(long, value_enum, default_value = "normal")]
    output_format: OutputFormat,
    /// Compare with fio on the same directory: alternating runs, medians of --repeats.
    #[arg(long, conflicts_with = "rw")]
    vs_fio: bool,
    /// Repeats per row with --vs-fio, --rw peers and --rw randread-large (default 3).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
    repeats: Option<u32>,
    /// Also write each job's latency percentile curve (p50 to p99.99, fio's jobs beside
    /// ours where the run has them) as one SVG chart to this file.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Suite only: do not run fio for the bounds even if it is installed.
    #[arg(long, conflicts_with_all = ["rw", "vs_fio"])]
    no_fio: bool,
}

fn parse_deadline_arg(text: &str) -> Result<Deadline, String> {
    parse_deadline(text).map(Deadline)
}

fn main() -> Result<()> {
    let args = Args::parse();
    let directory = args.directory.clone().unwrap_or_else(std::env::temp_dir);
    if !directory.is_dir() {
        bail!(
            "--directory {} is not an existing directory",
            directory.display()
        );
    }
    // Progress goes to stderr whenever it is a terminal, whatever the output format.
    let progress = true;
    if args.repeats.is_some()
        && !args.vs_fio
        && !matches!(args.rw, Some(Rw::Peers | Rw::RandreadLarge))
    {
        bail!("--repeats applies to --vs-fio, --rw peers and --rw randread-large only");
    }
    let report = match args.rw {
        Some(rw @ (Rw::Peers | Rw::RandreadLarge)) => run_peers(&args, rw, directory, progress)?,
        Some(rw) => run_job(&args, rw, directory, progress)?,
        None if args.vs_fio => compare::run(&CompareConfig {
            directory,
            runtime: args.runtime.unwrap_or(Duration::from_secs(5)),
            repeats: args.repeats.unwrap_or(3),
            backend: backend_request(args.backend),
            file_bytes: args.filesize,
            progress,
        })?,
        None => suite::run(&SuiteConfig {
            directory,
            backend: backend_request(args.backend),
            job_runtime: args.runtime.unwrap_or(SuiteConfig::default().job_runtime),
            with_fio: !args.no_fio,
            progress,
        })?,
    };
    if let Some(path) = &args.plot {
        report.write_plot(path)?;
    }
    match args.output_format {
        OutputFormat::Normal => print!("{}", report.text()),
        OutputFormat::Json => println!("{}", report.json()?),
    }
    Ok(())
}

fn backend_request(backend: BackendArg) -> BackendRequest {
    match backend {
        BackendArg::Auto => BackendRequest::Auto,
        BackendArg::Uring => BackendRequest::Uring,
        BackendArg::Fallback => BackendRequest::Fallback,
        BackendArg::Buffered => BackendRequest::Buffered,
    }
}

/// The engine comparison (`rw` peers) or infinitedb's large gets (`rw` randread-large): a
/// fixed load (--keys), then read runs of --runtime.
fn run_peers(args: &Args, rw: Rw, directory: PathBuf, progress: bool) -> Result<Report> {
    let (name, keys) = if rw == Rw::Peers {
        (PEERS_RW, PEERS_KEYS_DEFAULT)
    } else {
        (RANDREAD_LARGE_RW, RANDREAD_LARGE_KEYS_DEFAULT)
    };
    if args.size.is_some() || args.numjobs != 1 || args.iodepth != 1 {
        bail!("{name} runs one reader for --runtime: --size, --numjobs and --iodepth do not apply");
    }
    if args.time_based || (rw == Rw::Peers && args.ramp_time.is_some()) {
        bail!(
            "{name} runs fixed loads and --runtime reads: --time_based (and, for peers, \
             --ramp_time) do not apply"
        );
    }
    let job = PeersJob {
        directory,
        keys: args.keys.unwrap_or(keys),
        value_bytes: match args.bs {
            Some(bytes) => usize::try_from(bytes).context("--bs")?,
            None => PEERS_VALUE_BYTES_DEFAULT,
        },
        runtime: args.runtime.unwrap_or(Duration::from_secs(5)),
        repeats: args.repeats.unwrap_or(3),
        ramp: args.ramp_time.unwrap_or(Duration::ZERO),
        gets: true,
        ranges: true,
        backend: backend_request(args.backend),
        raw_file_bytes: args.filesize,
        progress,
    };
    if rw == Rw::Peers {
        Ok(peers::run(&job)?)
    } else {
        Ok(peers::run_large_gets(&job)?)
    }
}

/// `--keys`, or the engine workloads' default.
fn engine_keys(args: &Args) -> u64 {
    args.keys.unwrap_or(100_000)
}

fn run_job(args: &Args, rw: Rw, directory: PathBuf, progress: bool) -> Result<Report> {
    let limit = Limit {
        runtime: args
            .runtime
            .or(args.size.is_none().then_some(Duration::from_secs(10))),
        bytes: args.size,
        time_based: args.time_based,
    };
    if args.hold.is_some() && rw != Rw::Handoff {
        bail!("--hold applies to --rw handoff only");
    }
    let engine = !matches!(
        rw,
        Rw::Handoff | Rw::Lifecycle | Rw::RawWrite | Rw::RawRandread | Rw::RawCommit
    );
    if args.ramp_time.is_some() && !engine {
        bail!("--ramp_time applies to the engine workloads (write ... query) only");
    }
    if args.time_based && matches!(rw, Rw::Handoff | Rw::Lifecycle) {
        bail!("--time_based applies to the engine and device workloads only");
    }
    if (args.rwmixread.is_some() || args.rwmixwrite.is_some()) && rw != Rw::Mixed {
        bail!("--rwmixread and --rwmixwrite apply to --rw mixed (randrw) only");
    }
    let mut report = Report::new(Environment::probe(&directory, None));
    let raw_mode = match rw {
        Rw::RawWrite => Some(RawMode::SequentialWrite),
        Rw::RawRandread => Some(RawMode::RandomRead),
        Rw::RawCommit => Some(RawMode::Commit),
        _ => None,
    };
    let job_report = match (rw, raw_mode) {
        (Rw::Handoff, _) => run_handoff_job(args, progress)?,
        (Rw::Lifecycle, _) => run_lifecycle_job(args, directory.clone(), progress, &mut report)?,
        (_, Some(mode)) => {
            run_raw_job(args, mode, directory.clone(), limit, progress, &mut report)?
        }
        (_, None) => run_engine_job(args, rw, directory.clone(), limit, progress, &mut report)?,
    };
    report.jobs.push(job_report.clone());
    if rw == Rw::Randread {
        // A cold get's bound: the device's random 4 KiB reads one at a time, in the same run.
        let bound = ReadBoundConfig {
            directory,
            backend: backend_request(args.backend),
            runtime: args.runtime.unwrap_or(Duration::from_secs(10)),
            file_bytes: args.filesize,
            fio: false,
            progress,
        };
        let figure = format!("point gets/s, {} reader(s)", args.numjobs);
        push_qd1_read_bound(&mut report, &figure, &job_report, &bound)?;
    }
    Ok(report)
}

/// The thread hand-off ceiling: no I/O, so no payload and no bytes limit.
fn run_handoff_job(args: &Args, progress: bool) -> Result<JobReport> {
    if args.size.is_some() || args.bs.is_some() {
        bail!("handoff moves no payload: --size and --bs do not apply, use --runtime");
    }
    if args.iodepth != 1 {
        bail!("handoff threads run at --iodepth 1 (each parks until answered): use --numjobs");
    }
    let job = HandoffJob {
        numjobs: args.numjobs,
        runtime: args.runtime.unwrap_or(Duration::from_secs(10)),
        hold: args.hold.unwrap_or(Duration::ZERO),
    };
    let bar = Progress::start(handoff::HANDOFF_RW, progress);
    let result = handoff::run(&job, &bar);
    bar.finish();
    Ok(result?.report(handoff_shape(handoff::HANDOFF_RW, &job)))
}

fn run_raw_job(
    args: &Args,
    mode: RawMode,
    directory: PathBuf,
    limit: Limit,
    progress: bool,
    report: &mut Report,
) -> Result<JobReport> {
    if args.numjobs != 1 {
        bail!("raw workloads run one thread: use --iodepth for concurrency");
    }
    let default_bs = if mode == RawMode::SequentialWrite {
        1 << 20
    } else {
        4096
    };
    let block_bytes = usize::try_from(args.bs.unwrap_or(default_bs)).context("--bs")?;
    let temporary = infinitedb_bench::job::scratch_directory(&directory, "infinitedb-bench-raw-")?;
    let job = RawJob {
        directory: temporary.path().to_path_buf(),
        mode,
        block_bytes,
        iodepth: usize::try_from(args.iodepth).context("--iodepth")?,
        file_bytes: args.filesize,
        limit,
        backend: backend_request(args.backend),
    };
    let bar = Progress::start(mode.name(), progress);
    let result = raw::run(&job, &bar);
    bar.finish();
    let (measurement, info) = result?;
    report.environment.backend = Some((&info).into());
    let shape = JobShape {
        name: mode.name().to_string(),
        rw: mode.name().to_string(),
        bs_bytes: block_bytes as u64,
        numjobs: 1,
        iodepth: args.iodepth,
        durability: None,
    };
    Ok(JobReport::new(shape, &measurement, None))
}

/// The compaction lifecycle: a fixed amount of work (--keys, --overwrite-factor), so no
/// --runtime or --size.
fn run_lifecycle_job(
    args: &Args,
    directory: PathBuf,
    progress: bool,
    report: &mut Report,
) -> Result<JobReport> {
    if args.runtime.is_some() || args.size.is_some() {
        bail!("lifecycle runs a fixed amount of work: size it with --keys and --overwrite-factor");
    }
    if args.iodepth != 1 {
        bail!("lifecycle writes at --iodepth 1 (a write blocks until acknowledged): use --numjobs");
    }
    let durability = match args.durability {
        DurabilityArg::Sync => Durability::Sync,
        DurabilityArg::Nosync => Durability::NoSync,
    };
    let job = LifecycleJob {
        directory,
        keys: engine_keys(args),
        value_bytes: usize::try_from(args.bs.unwrap_or(100)).context("--bs")?,
        retention: args.retention,
        overwrite_factor: args.overwrite_factor,
        reopen_every: args
            .reopen_every
            .unwrap_or(engine_keys(args).saturating_mul(2)),
        batch_records: args.batch.map_or(LIFECYCLE_BATCH_RECORDS, u64::from),
        numjobs: args.numjobs,
        durability,
        reads: args.reads,
        queries: args.queries,
        query_records: args.query_records,
        dims: args.dims,
        bits: args.bits,
        backend: backend_request(args.backend),
        deadline: args.deadline.0,
        tuning: LifecycleTuning::default(),
        compare_without_compaction: true,
    };
    let bar = Progress::start(lifecycle::LIFECYCLE_RW, progress);
    let result = lifecycle::run(&job, &bar);
    bar.finish();
    let run = result?;
    report.environment.backend = Some((&run.backend).into());
    let name = format!(
        "{}-{}-{}",
        lifecycle::LIFECYCLE_RW,
        lifecycle::retention_name(job.retention),
        durability_name(durability)
    );
    let shape = JobShape {
        name,
        rw: lifecycle::LIFECYCLE_RW.to_string(),
        bs_bytes: job.value_bytes as u64,
        numjobs: job.numjobs,
        iodepth: 1,
        durability: Some(durability_name(durability).to_string()),
    };
    Ok(run.report(shape))
}

fn run_engine_job(
    args: &Args,
    rw: Rw,
    directory: PathBuf,
    limit: Limit,
    progress: bool,
    report: &mut Report,
) -> Result<JobReport> {
    if args.iodepth != 1 {
        bail!(
            "engine workloads run at --iodepth 1 (a put blocks until acknowledged): use --numjobs"
        );
    }
    let mode = match rw {
        Rw::Write => EngineMode::Write,
        Rw::Overwrite => EngineMode::Overwrite,
        Rw::Read => EngineMode::Read,
        Rw::Randread => EngineMode::RandRead,
        Rw::Mixed => EngineMode::Mixed {
            read_percent: read_percent(args),
        },
        Rw::Query => EngineMode::Query,
        Rw::RawWrite | Rw::RawRandread | Rw::RawCommit => {
            bail!("{rw:?} is a device workload, not an engine one")
        }
        Rw::Handoff => bail!("handoff is a CPU workload, not an engine one"),
        Rw::Lifecycle => bail!("lifecycle runs through run_lifecycle_job"),
        Rw::Peers | Rw::RandreadLarge => bail!("{rw:?} runs through run_peers"),
    };
    let durability = match args.durability {
        DurabilityArg::Sync => Durability::Sync,
        DurabilityArg::Nosync => Durability::NoSync,
    };
    let job = EngineJob {
        directory,
        mode,
        value_bytes: usize::try_from(args.bs.unwrap_or(128)).context("--bs")?,
        numjobs: args.numjobs,
        limit,
        durability,
        dims: args.dims,
        bits: args.bits,
        backend: backend_request(args.backend),
        deadline: args.deadline.0,
        keys: engine_keys(args),
        query_records: args.query_records,
        ramp: args.ramp_time.unwrap_or(Duration::ZERO),
        api: match args.api {
            ApiArg::Blocking => Api::Blocking,
            ApiArg::Async => Api::Async,
        },
        batch: args.batch.unwrap_or(1),
        spaces: args.spaces,
    };
    let bar = Progress::start(mode.name(), progress);
    let result = workload::run(&job, &bar);
    bar.finish();
    let run = result?;
    report.environment.backend = Some((&run.backend).into());
    let name = match (job.api, job.batch) {
        (Api::Blocking, 1) => format!("{}-{}", mode.name(), durability_name(durability)),
        (api, batch) => format!(
            "{}-{}-{}-batch{batch}",
            mode.name(),
            durability_name(durability),
            api.name()
        ),
    };
    let name = match job.spaces {
        1 => name,
        spaces => format!("{name}-spaces{spaces}"),
    };
    Ok(run.report(engine_shape(&name, &job)))
}

/// The share of gets of `--rw mixed`: `--rwmixread`, else 100 - `--rwmixwrite`, else 50.
fn read_percent(args: &Args) -> u8 {
    match (args.rwmixread, args.rwmixwrite) {
        (Some(read), _) => read,
        (None, Some(write)) => 100u8.saturating_sub(write),
        (None, None) => 50,
    }
}
