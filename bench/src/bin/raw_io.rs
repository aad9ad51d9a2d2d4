//! `raw_io`: uring-io's raw disk speed in the shapes of fio jobs, so `scripts/bench-vs-fio.sh`
//! can print ours next to fio's from the same run on the same directory.
//!
//! Modes (each time-based, like fio's `--time_based --runtime`):
//! - `seq-write`: sequential O_DIRECT writes (default 1 MiB) keeping `--queue-depth` in flight
//!   through [`uring_io::RawQueue`] (plain writes, no fsync: the shape of fio's
//!   `--rw=write --ioengine=io_uring --direct=1`), over a pre-written file, wrapping at its end;
//! - `rand-read`: random aligned O_DIRECT reads (default 4 KiB) at `--queue-depth`;
//! - `commit`: QD1 commit chains (WRITE → FSYNC(DATASYNC)) through the engine's real path,
//!   [`uring_io::CommitQueue`], sequentially overwriting a pre-written file (the shape of
//!   fio's `--ioengine=psync --fdatasync=1` on a file it already wrote).
//!
//! Latency is submission → completion per operation (fio's `lat`), in an HDR histogram.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use uring_io::{
    AlignedBuf, BackendRequest, ChainOutcome, CommitChain, FileHandle, OpenMode, OsStorage,
    RawCompletion, Storage,
};

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
    /// Backend for commit mode (seq-write and rand-read always use io_uring).
    #[arg(long, value_enum, default_value = "auto")]
    backend: Backend,
    /// Print one JSON object instead of a text line.
    #[arg(long)]
    json: bool,
}

/// What one run measured.
struct Measurement {
    ops: u64,
    bytes: u64,
    elapsed: Duration,
    latency_ns: Histogram<u64>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.queue_depth == 0 || args.block_bytes == 0 {
        bail!("--queue-depth and --block-bytes must be positive");
    }
    let request = match (args.mode, args.backend) {
        (Mode::SeqWrite | Mode::RandRead, _) | (Mode::Commit, Backend::Uring) => {
            BackendRequest::Uring
        }
        (Mode::Commit, Backend::Fallback) => BackendRequest::Fallback,
        (Mode::Commit, Backend::Auto) => BackendRequest::Auto,
    };
    let storage = OsStorage::open(&args.dir, request).context("opening the storage")?;
    eprintln!(
        "raw_io backend: {} ({})",
        storage.info().kind.name(),
        storage.info().reason
    );
    let file = prepare_file(&storage, &args)?;
    let measurement = match args.mode {
        Mode::SeqWrite | Mode::RandRead => run_raw(&storage, &file, &args)?,
        Mode::Commit => run_commits(&storage, &file, &args)?,
    };
    report(&args, &measurement)
}

/// A pre-written file of `--file-bytes` (reused when one of that size exists).
fn prepare_file(storage: &Arc<OsStorage>, args: &Args) -> Result<FileHandle> {
    let name = Path::new("raw_io.dat");
    let path = args.dir.join(name);
    if std::fs::metadata(&path).map(|metadata| metadata.len()).ok() == Some(args.file_bytes) {
        return Ok(storage.open(name, OpenMode::ReadWrite)?);
    }
    if path.exists() {
        std::fs::remove_file(&path).context("removing a stale raw_io.dat")?;
    }
    Ok(storage.create_prewritten(name, args.file_bytes)?)
}

/// Offsets (in blocks) of the workload: sequential wrapping, or uniformly random.
struct Offsets {
    mode: Mode,
    block_count: u64,
    next_block: u64,
    random: rand_chacha::ChaCha8Rng,
}

impl Offsets {
    fn next(&mut self, block_bytes: usize) -> u64 {
        let block = if self.mode == Mode::RandRead {
            self.random.gen_range(0..self.block_count)
        } else {
            let block = self.next_block;
            self.next_block = (self.next_block + 1) % self.block_count;
            block
        };
        block * block_bytes as u64
    }
}

/// seq-write / rand-read through a raw io_uring queue, `--queue-depth` in flight.
fn run_raw(storage: &Arc<OsStorage>, file: &FileHandle, args: &Args) -> Result<Measurement> {
    let alignment = storage.info().alignment_bytes;
    let mut queue = storage.raw_queue()?;
    let mut offsets = Offsets {
        mode: args.mode,
        block_count: args.file_bytes / args.block_bytes as u64,
        next_block: 0,
        random: rand_chacha::ChaCha8Rng::seed_from_u64(42),
    };
    let mut idle: Vec<AlignedBuf> = (0..args.queue_depth)
        .map(|_| AlignedBuf::new(args.block_bytes, alignment))
        .collect::<Result<_, _>>()?;
    let mut started_at = vec![Instant::now(); args.queue_depth];
    let mut free_slots: Vec<usize> = (0..args.queue_depth).collect();
    let mut latency_ns = Histogram::<u64>::new(3)?;
    let mut completions: Vec<RawCompletion> = Vec::with_capacity(args.queue_depth);
    let runtime = Duration::from_secs_f64(args.runtime_seconds);
    let (mut ops, mut bytes) = (0u64, 0u64);
    let begin = Instant::now();
    loop {
        let running = begin.elapsed() < runtime;
        while running && let (Some(slot), Some(buf)) = (free_slots.pop(), idle.pop()) {
            let offset = offsets.next(args.block_bytes);
            started_at[slot] = Instant::now();
            let tag = slot as u64;
            match args.mode {
                Mode::SeqWrite => queue.submit_write(file, offset, buf, tag)?,
                _ => queue.submit_read(file, offset, buf, tag)?,
            }
        }
        if queue.in_flight() == 0 {
            break;
        }
        queue.wait(1, &mut completions)?;
        let now = Instant::now();
        for completion in completions.drain(..) {
            let done = completion
                .result
                .map_err(std::io::Error::from_raw_os_error)?;
            if done != args.block_bytes {
                bail!("short transfer: {done} of {} bytes", args.block_bytes);
            }
            let slot = usize::try_from(completion.tag)?;
            latency_ns.record(duration_ns(now - started_at[slot]))?;
            free_slots.push(slot);
            idle.push(completion.buf);
            ops += 1;
            bytes += done as u64;
        }
    }
    Ok(Measurement {
        ops,
        bytes,
        elapsed: begin.elapsed(),
        latency_ns,
    })
}

/// QD1 commit chains overwriting the pre-written file sequentially.
fn run_commits(storage: &Arc<OsStorage>, file: &FileHandle, args: &Args) -> Result<Measurement> {
    let alignment = storage.info().alignment_bytes;
    let mut queue = storage.commit_queue()?;
    let mut buf = AlignedBuf::new(args.block_bytes, alignment)?;
    let mut offsets = Offsets {
        mode: Mode::Commit,
        block_count: args.file_bytes / args.block_bytes as u64,
        next_block: 0,
        random: rand_chacha::ChaCha8Rng::seed_from_u64(0),
    };
    let mut latency_ns = Histogram::<u64>::new(3)?;
    let mut events = Vec::new();
    let runtime = Duration::from_secs_f64(args.runtime_seconds);
    let (mut ops, mut bytes) = (0u64, 0u64);
    let begin = Instant::now();
    while begin.elapsed() < runtime {
        buf[..8].copy_from_slice(&ops.to_le_bytes());
        let offset = offsets.next(args.block_bytes);
        let started = Instant::now();
        let chain = CommitChain {
            file: file.clone(),
            offset,
            buf,
            deadline: None,
            tag: ops,
        };
        queue.submit(chain)?;
        let event = loop {
            queue.poll(Some(Duration::from_secs(10)), &mut events)?;
            if let Some(event) = events.pop() {
                break event;
            }
        };
        latency_ns.record(duration_ns(started.elapsed()))?;
        if event.outcome != ChainOutcome::Durable {
            bail!("commit {ops} ended {:?}", event.outcome);
        }
        buf = event.buf.context("the final event returns the buffer")?;
        ops += 1;
        bytes += args.block_bytes as u64;
    }
    Ok(Measurement {
        ops,
        bytes,
        elapsed: begin.elapsed(),
        latency_ns,
    })
}

fn duration_ns(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos())
        .unwrap_or(u64::MAX)
        .max(1)
}

fn report(args: &Args, measurement: &Measurement) -> Result<()> {
    let seconds = measurement.elapsed.as_secs_f64();
    let mb_per_s = measurement.bytes as f64 / seconds / 1e6;
    let iops = measurement.ops as f64 / seconds;
    let p50_us = measurement.latency_ns.value_at_quantile(0.50) as f64 / 1e3;
    let p99_us = measurement.latency_ns.value_at_quantile(0.99) as f64 / 1e3;
    if args.json {
        let row = serde_json::json!({
            "mode": format!("{:?}", args.mode),
            "queue_depth": args.queue_depth,
            "block_bytes": args.block_bytes,
            "ops": measurement.ops,
            "seconds": seconds,
            "mb_per_s": mb_per_s,
            "iops": iops,
            "latency_us_p50": p50_us,
            "latency_us_p99": p99_us,
        });
        println!("{row}");
    } else {
        println!(
            "{:?} qd{} bs{}: {:.1} MB/s, {:.0} IOPS, p50 {:.1} us, p99 {:.1} us ({} ops in {:.2} s)",
            args.mode,
            args.queue_depth,
            args.block_bytes,
            mb_per_s,
            iops,
            p50_us,
            p99_us,
            measurement.ops,
            seconds
        );
    }
    Ok(())
}
