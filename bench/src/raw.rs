//! Raw device workloads through `uring-io`, in the shapes of fio jobs, so the engine's
//! figures can be set beside what the device gives without the engine:
//! - [`RawMode::SequentialWrite`]: O_DIRECT writes keeping `iodepth` in flight through a
//!   [`uring_io::RawQueue`] (no fsync: fio's `--rw=write --ioengine=io_uring --direct=1`);
//! - [`RawMode::RandomRead`]: uniformly random aligned O_DIRECT reads at `iodepth`
//!   (`--rw=randread`);
//! - [`RawMode::Commit`]: QD1 commit chains WRITE → FSYNC(DATASYNC) through the engine's own
//!   [`uring_io::CommitQueue`] (any backend), overwriting sequentially (fio's
//!   `--ioengine=psync --fdatasync=1`).
//!
//! All run over one pre-written file (`raw.dat`, zero-filled once, reused when its size
//! matches), so writes overwrite written blocks like the engine's recycled segments and fio's
//! `--overwrite=1`. Latency is submission to completion per operation (fio's `lat`).
//! The raw queue needs io_uring; on another backend the write and read modes are refused.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uring_io::{
    AlignedBuf, BackendInfo, BackendKind, BackendRequest, ChainOutcome, CommitChain, FileHandle,
    OpenMode, OsStorage, RAW_QUEUE_DEPTH_MAX, RawCompletion, RawQueue, Storage,
};

use crate::error::{BenchError, Result};
use crate::job::{Limit, Progress};
use crate::report::{Measurement, latency_histogram, record_latency};

/// Name of the raw workloads' file inside the job's directory.
pub const RAW_FILE_NAME: &str = "raw.dat";

/// How long a commit may take before the run gives up on the device.
const COMMIT_WAIT_MAX: Duration = Duration::from_secs(30);

/// A raw workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RawMode {
    /// Sequential O_DIRECT writes at `iodepth`, no fsync.
    SequentialWrite,
    /// Random O_DIRECT reads at `iodepth`.
    RandomRead,
    /// QD1 write + fdatasync chains.
    Commit,
}

impl RawMode {
    /// The `--rw` name ("raw-write", "raw-randread", "raw-commit").
    pub fn name(self) -> &'static str {
        match self {
            RawMode::SequentialWrite => "raw-write",
            RawMode::RandomRead => "raw-randread",
            RawMode::Commit => "raw-commit",
        }
    }
}

/// One raw job.
#[derive(Clone, Debug)]
pub struct RawJob {
    /// Directory holding `raw.dat`.
    pub directory: PathBuf,
    /// Workload.
    pub mode: RawMode,
    /// Bytes per operation (a multiple of the alignment).
    pub block_bytes: usize,
    /// Operations in flight (commit: 1).
    pub iodepth: usize,
    /// Size of `raw.dat`.
    pub file_bytes: u64,
    /// When to stop.
    pub limit: Limit,
    /// Backend to open.
    pub backend: BackendRequest,
}

impl RawJob {
    fn validate(&self, info: &BackendInfo) -> Result<()> {
        self.limit.validate()?;
        let alignment = info.alignment_bytes;
        if self.block_bytes == 0 || !self.block_bytes.is_multiple_of(alignment) {
            return Err(BenchError::invalid(format!(
                "--bs {} must be a positive multiple of the direct-I/O alignment {alignment}",
                self.block_bytes
            )));
        }
        if self.file_bytes < self.block_bytes as u64 {
            return Err(BenchError::invalid(
                "--filesize must hold at least one block",
            ));
        }
        if self.iodepth == 0 || self.iodepth > RAW_QUEUE_DEPTH_MAX {
            return Err(BenchError::invalid(format!(
                "--iodepth must be 1..={RAW_QUEUE_DEPTH_MAX}"
            )));
        }
        if self.mode == RawMode::Commit && self.iodepth != 1 {
            return Err(BenchError::invalid("raw-commit runs at --iodepth 1 only"));
        }
        if self.mode != RawMode::Commit && info.kind != BackendKind::Uring {
            return Err(BenchError::invalid(format!(
                "{} needs the io_uring backend; in use: {} ({})",
                self.mode.name(),
                info.kind.name(),
                info.reason
            )));
        }
        Ok(())
    }
}

/// How a raw job drives its queue, beyond [`RawJob`]. The default is fio's shape: commit
/// chains WRITE → FSYNC with no deadline and one long poll; queue modes on buffers handed to
/// each operation (fio's `fixedbufs=0`), each submitted at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawOptions {
    /// Commit mode: deadline of each chain (`None`: none; a chain past it is cancelled).
    pub commit_deadline: Option<Duration>,
    /// Commit mode: how long one `poll` may wait before the loop goes round again.
    pub commit_poll_wait: Duration,
    /// Queue modes: use buffers registered with the ring (`WRITE_FIXED`/`READ_FIXED`).
    pub fixed_buffers: bool,
    /// Queue modes: submit each operation as soon as it is queued (one `io_uring_enter` each,
    /// fio's default `iodepth_batch_submit=1`; the default here too) instead of all refills at
    /// once with the next wait. Measured on this machine's virtio disk, random 4 KiB reads at
    /// QD32: 0.99x fio submitting each, 0.83x batched (same run, median of 5).
    pub submit_each: bool,
}

impl Default for RawOptions {
    fn default() -> Self {
        RawOptions {
            commit_deadline: None,
            commit_poll_wait: COMMIT_WAIT_MAX,
            fixed_buffers: false,
            submit_each: true,
        }
    }
}

impl RawOptions {
    /// The engine I/O thread's commit shape: a deadline on every chain (the queue cancels
    /// a chain still syncing at it), polls of 200 µs.
    pub fn engine_like(deadline: Duration) -> Self {
        RawOptions {
            commit_deadline: Some(deadline),
            commit_poll_wait: Duration::from_micros(200),
            ..RawOptions::default()
        }
    }
}

/// Runs `job`; returns what it measured and the backend it ran on.
///
/// # Errors
/// [`BenchError::InvalidJob`] for bad parameters; storage errors; a failed or short operation.
pub fn run(job: &RawJob, progress: &Progress) -> Result<(Measurement, BackendInfo)> {
    run_with(job, RawOptions::default(), progress)
}

/// [`run`], driven as `options` says.
///
/// # Errors
/// As [`run`].
pub fn run_with(
    job: &RawJob,
    options: RawOptions,
    progress: &Progress,
) -> Result<(Measurement, BackendInfo)> {
    let storage = OsStorage::open(&job.directory, job.backend)?;
    let info = storage.info().clone();
    job.validate(&info)?;
    let file = prepare_file(&storage, &job.directory, job.file_bytes)?;
    let offsets = Offsets::new(job);
    let measurement = match job.mode {
        RawMode::Commit => run_commits(&storage, &file, job, (offsets, options), progress)?,
        RawMode::SequentialWrite | RawMode::RandomRead => {
            run_queue(&storage, &file, job, (offsets, options), progress)?
        }
    };
    Ok((measurement, info))
}

/// `raw.dat` at `file_bytes`, pre-written; reused when one of that size exists.
fn prepare_file(storage: &Arc<OsStorage>, directory: &Path, file_bytes: u64) -> Result<FileHandle> {
    let name = Path::new(RAW_FILE_NAME);
    let path = directory.join(name);
    let existing = std::fs::metadata(&path).map(|metadata| metadata.len()).ok();
    if existing == Some(file_bytes) {
        return Ok(storage.open(name, OpenMode::ReadWrite)?);
    }
    if existing.is_some() {
        std::fs::remove_file(&path).map_err(BenchError::file("remove", &path))?;
    }
    Ok(storage.create_prewritten(name, file_bytes)?)
}

/// Offsets of the workload: sequential and wrapping at the file's end, or uniformly random
/// (seeded, so runs are repeatable).
struct Offsets {
    random: Option<ChaCha8Rng>,
    block_bytes: u64,
    block_count: u64,
    block_next: u64,
}

impl Offsets {
    fn new(job: &RawJob) -> Offsets {
        let block_bytes = job.block_bytes as u64;
        let random = (job.mode == RawMode::RandomRead).then(|| ChaCha8Rng::seed_from_u64(42));
        Offsets {
            random,
            block_bytes,
            block_count: job.file_bytes / block_bytes,
            block_next: 0,
        }
    }

    fn next(&mut self) -> u64 {
        debug_assert!(self.block_count > 0, "validated: the file holds a block");
        let block = match &mut self.random {
            Some(random) => random.gen_range(0..self.block_count),
            None => {
                let block = self.block_next;
                self.block_next = (block + 1) % self.block_count;
                block
            }
        };
        block * self.block_bytes
    }
}

/// Sequential writes or random reads through a raw io_uring queue, `iodepth` in flight.
fn run_queue(
    storage: &Arc<OsStorage>,
    file: &FileHandle,
    job: &RawJob,
    (mut offsets, options): (Offsets, RawOptions),
    progress: &Progress,
) -> Result<Measurement> {
    let mut queue = storage.raw_queue()?;
    let mut slot_bufs = slot_buffers(&mut queue, storage, job, options.fixed_buffers)?;
    // Each in-flight operation is tagged with its slot; the slot remembers start and offset,
    // and holds its buffer while idle (registered buffers stay in the queue).
    let mut slots: Vec<(Instant, u64)> = vec![(Instant::now(), 0); job.iodepth];
    let mut free_slots: Vec<usize> = (0..job.iodepth).collect();
    let mut latency_ns = latency_histogram()?;
    let mut completions: Vec<RawCompletion> = Vec::with_capacity(job.iodepth);
    let (mut ops, mut bytes, mut bytes_submitted) = (0u64, 0u64, 0u64);
    let begin = Instant::now();
    loop {
        while !job.limit.reached(begin.elapsed(), bytes_submitted)
            && let Some(slot) = free_slots.pop()
        {
            let offset = offsets.next();
            slots[slot] = (Instant::now(), offset);
            let buf = slot_bufs.get_mut(slot).and_then(Option::take);
            submit_one(&mut queue, file, job.mode, (slot, offset), buf)?;
            if options.submit_each {
                queue.submit()?;
            }
            bytes_submitted += job.block_bytes as u64;
        }
        if queue.in_flight() == 0 {
            break;
        }
        queue.wait(1, &mut completions)?;
        let now = Instant::now();
        progress.add(completions.len() as u64);
        for completion in completions.drain(..) {
            let slot = usize::try_from(completion.tag).unwrap_or(usize::MAX);
            let Some(&(started, offset)) = slots.get(slot) else {
                return Err(BenchError::invalid("raw queue returned an unknown tag"));
            };
            check_transfer(job, offset, &completion.result)?;
            record_latency(&mut latency_ns, now - started);
            free_slots.push(slot);
            slot_bufs[slot] = completion.buf;
            ops += 1;
            bytes += job.block_bytes as u64;
        }
    }
    Ok(Measurement {
        ops,
        bytes,
        elapsed: begin.elapsed(),
        latency_ns,
    })
}

/// One buffer per slot: handed to each operation, or (with `fixed`) registered with the ring,
/// in which case the slots hold none and slot `i` uses registered buffer `i`.
fn slot_buffers(
    queue: &mut RawQueue,
    storage: &Arc<OsStorage>,
    job: &RawJob,
    fixed: bool,
) -> Result<Vec<Option<AlignedBuf>>> {
    let alignment = storage.info().alignment_bytes;
    let bufs: Vec<AlignedBuf> = (0..job.iodepth)
        .map(|_| AlignedBuf::new(job.block_bytes, alignment))
        .collect::<Result<_, _>>()?;
    if fixed {
        queue.register_buffers(bufs)?;
        return Ok((0..job.iodepth).map(|_| None).collect());
    }
    Ok(bufs.into_iter().map(Some).collect())
}

/// Queues one operation for `slot` at `offset`: on `buf`, or on registered buffer `slot`.
fn submit_one(
    queue: &mut RawQueue,
    file: &FileHandle,
    mode: RawMode,
    (slot, offset): (usize, u64),
    buf: Option<AlignedBuf>,
) -> Result<()> {
    let tag = slot as u64;
    let is_write = mode == RawMode::SequentialWrite;
    match (buf, is_write) {
        (Some(buf), true) => queue.submit_write(file, offset, buf, tag)?,
        (Some(buf), false) => queue.submit_read(file, offset, buf, tag)?,
        (None, true) => queue.submit_write_fixed(file, offset, slot, tag)?,
        (None, false) => queue.submit_read_fixed(file, offset, slot, tag)?,
    }
    Ok(())
}

fn check_transfer(
    job: &RawJob,
    offset: u64,
    result: &std::result::Result<usize, i32>,
) -> Result<()> {
    let operation = if job.mode == RawMode::SequentialWrite {
        "write"
    } else {
        "read"
    };
    match result {
        Ok(done) if *done == job.block_bytes => Ok(()),
        Ok(done) => Err(BenchError::RawOperation {
            operation,
            offset,
            detail: format!("short transfer: {done} of {} bytes", job.block_bytes),
        }),
        Err(errno) => Err(BenchError::RawOperation {
            operation,
            offset,
            detail: std::io::Error::from_raw_os_error(*errno).to_string(),
        }),
    }
}

/// QD1 commit chains sequentially overwriting the pre-written file.
fn run_commits(
    storage: &Arc<OsStorage>,
    file: &FileHandle,
    job: &RawJob,
    (mut offsets, options): (Offsets, RawOptions),
    progress: &Progress,
) -> Result<Measurement> {
    let mut queue = storage.commit_queue()?;
    let mut buf = AlignedBuf::new(job.block_bytes, storage.info().alignment_bytes)?;
    let mut latency_ns = latency_histogram()?;
    let mut events = Vec::new();
    let (mut ops, mut bytes) = (0u64, 0u64);
    let begin = Instant::now();
    while !job.limit.reached(begin.elapsed(), bytes) {
        buf[..8].copy_from_slice(&ops.to_le_bytes());
        let offset = offsets.next();
        let started = Instant::now();
        let chain = CommitChain {
            file: file.clone(),
            offset,
            buf,
            deadline: options.commit_deadline,
            tag: ops,
        };
        queue.submit(chain)?;
        let event = loop {
            queue.poll(Some(options.commit_poll_wait), &mut events)?;
            // A deadline that passes is reported before the chain's final event: skip it.
            events.retain(|event| event.outcome != ChainOutcome::DeadlineExceeded);
            if let Some(event) = events.pop() {
                break event;
            }
            if started.elapsed() >= COMMIT_WAIT_MAX {
                return Err(raw_commit_error(
                    offset,
                    "no completion within 30 s".to_string(),
                ));
            }
        };
        record_latency(&mut latency_ns, started.elapsed());
        if event.outcome != ChainOutcome::Durable {
            return Err(raw_commit_error(
                offset,
                format!("ended {:?}", event.outcome),
            ));
        }
        buf = event
            .buf
            .ok_or_else(|| raw_commit_error(offset, "final event without its buffer".into()))?;
        ops += 1;
        bytes += job.block_bytes as u64;
        progress.add(1);
    }
    Ok(Measurement {
        ops,
        bytes,
        elapsed: begin.elapsed(),
        latency_ns,
    })
}

fn raw_commit_error(offset: u64, detail: String) -> BenchError {
    BenchError::RawOperation {
        operation: "commit",
        offset,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(directory: &Path, mode: RawMode, block_bytes: usize, iodepth: usize) -> RawJob {
        RawJob {
            directory: directory.to_path_buf(),
            mode,
            block_bytes,
            iodepth,
            file_bytes: 1 << 20,
            limit: Limit {
                runtime: None,
                bytes: Some(256 * 1024),
                time_based: false,
            },
            backend: BackendRequest::Auto,
        }
    }

    #[test]
    fn each_mode_moves_exactly_the_size_asked() {
        // Goal: every raw mode, in each of its shapes (plain, engine-like commits, registered
        // buffers, batched submission), completes its operations on this machine's disk and
        // stops at --size. Method: 256 KiB of each on a tempdir; skip the queue modes without
        // io_uring (printed).
        let dir = tempfile::tempdir().unwrap();
        let fixed = RawOptions {
            fixed_buffers: true,
            ..RawOptions::default()
        };
        let engine_like = RawOptions::engine_like(Duration::from_millis(50));
        let batched = RawOptions {
            submit_each: false,
            ..RawOptions::default()
        };
        for (mode, options) in [
            (RawMode::Commit, RawOptions::default()),
            (RawMode::Commit, engine_like),
            (RawMode::SequentialWrite, RawOptions::default()),
            (RawMode::SequentialWrite, fixed),
            (RawMode::RandomRead, RawOptions::default()),
            (RawMode::RandomRead, fixed),
            (RawMode::RandomRead, batched),
        ] {
            let depth = if mode == RawMode::Commit { 1 } else { 4 };
            let job = job(dir.path(), mode, 4096, depth);
            match run_with(&job, options, &Progress::hidden()) {
                Ok((measurement, _)) => {
                    assert_eq!(measurement.ops, 64, "{mode:?} {options:?}");
                    assert_eq!(measurement.bytes, 256 * 1024);
                    assert_eq!(measurement.latency_ns.len(), 64);
                }
                Err(BenchError::InvalidJob { detail }) if mode != RawMode::Commit => {
                    eprintln!("skipping {mode:?}: {detail}");
                }
                Err(error) => panic!("{mode:?} {options:?}: {error}"),
            }
        }
    }

    #[test]
    fn bad_parameters_are_refused_before_running() {
        // Goal: unaligned sizes and a deep commit queue are typed errors. Method: run them.
        let dir = tempfile::tempdir().unwrap();
        let unaligned = job(dir.path(), RawMode::Commit, 1000, 1);
        assert!(matches!(
            run(&unaligned, &Progress::hidden()),
            Err(BenchError::InvalidJob { .. })
        ));
        let deep = job(dir.path(), RawMode::Commit, 4096, 8);
        assert!(matches!(
            run(&deep, &Progress::hidden()),
            Err(BenchError::InvalidJob { .. })
        ));
    }
}
