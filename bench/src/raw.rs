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
    OpenMode, OsStorage, RAW_QUEUE_DEPTH_MAX, RawCompletion, Storage,
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

/// Runs `job`; returns what it measured and the backend it ran on.
///
/// # Errors
/// [`BenchError::InvalidJob`] for bad parameters; storage errors; a failed or short operation.
pub fn run(job: &RawJob, progress: &Progress) -> Result<(Measurement, BackendInfo)> {
    let storage = OsStorage::open(&job.directory, job.backend)?;
    let info = storage.info().clone();
    job.validate(&info)?;
    let file = prepare_file(&storage, &job.directory, job.file_bytes)?;
    let offsets = Offsets::new(job);
    let measurement = match job.mode {
        RawMode::Commit => run_commits(&storage, &file, job, offsets, progress)?,
        RawMode::SequentialWrite | RawMode::RandomRead => {
            run_queue(&storage, &file, job, offsets, progress)?
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
    mut offsets: Offsets,
    progress: &Progress,
) -> Result<Measurement> {
    let alignment = storage.info().alignment_bytes;
    let mut queue = storage.raw_queue()?;
    let mut idle: Vec<AlignedBuf> = (0..job.iodepth)
        .map(|_| AlignedBuf::new(job.block_bytes, alignment))
        .collect::<Result<_, _>>()?;
    // Each in-flight operation is tagged with its slot; the slot remembers start and offset.
    let mut slots: Vec<(Instant, u64)> = vec![(Instant::now(), 0); job.iodepth];
    let mut free_slots: Vec<usize> = (0..job.iodepth).collect();
    let mut latency_ns = latency_histogram()?;
    let mut completions: Vec<RawCompletion> = Vec::with_capacity(job.iodepth);
    let (mut ops, mut bytes, mut bytes_submitted) = (0u64, 0u64, 0u64);
    let begin = Instant::now();
    loop {
        while !job.limit.reached(begin.elapsed(), bytes_submitted)
            && let (Some(slot), Some(buf)) = (free_slots.pop(), idle.pop())
        {
            let offset = offsets.next();
            slots[slot] = (Instant::now(), offset);
            let tag = slot as u64;
            match job.mode {
                RawMode::SequentialWrite => queue.submit_write(file, offset, buf, tag)?,
                _ => queue.submit_read(file, offset, buf, tag)?,
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
            idle.push(completion.buf);
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
    mut offsets: Offsets,
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
            deadline: None,
            tag: ops,
        };
        queue.submit(chain)?;
        let event = loop {
            queue.poll(Some(COMMIT_WAIT_MAX), &mut events)?;
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
            },
            backend: BackendRequest::Auto,
        }
    }

    #[test]
    fn each_mode_moves_exactly_the_size_asked() {
        // Goal: every raw mode completes its operations on this machine's disk and stops at
        // --size. Method: 256 KiB of each mode on a tempdir; skip the queue modes without
        // io_uring (printed).
        let dir = tempfile::tempdir().unwrap();
        for mode in [
            RawMode::Commit,
            RawMode::SequentialWrite,
            RawMode::RandomRead,
        ] {
            let depth = if mode == RawMode::Commit { 1 } else { 4 };
            let job = job(dir.path(), mode, 4096, depth);
            match run(&job, &Progress::hidden()) {
                Ok((measurement, _)) => {
                    assert_eq!(measurement.ops, 64, "{mode:?}");
                    assert_eq!(measurement.bytes, 256 * 1024);
                    assert_eq!(measurement.latency_ns.len(), 64);
                }
                Err(BenchError::InvalidJob { detail }) if mode != RawMode::Commit => {
                    eprintln!("skipping {mode:?}: {detail}");
                }
                Err(error) => panic!("{mode:?}: {error}"),
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
