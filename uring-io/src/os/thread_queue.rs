//! `ThreadCommitQueue`: the [`CommitQueue`] of the fallback and buffered backends. A small pool
//! of worker threads runs each chain as `pwrite` (looping on short writes and EINTR) then
//! `fdatasync`; `poll` waits on the result channel with a timed wait until the earliest
//! unreported deadline, so `DeadlineExceeded` arrives on time even while a worker is stuck in
//! the kernel.
//!
//! Decisions:
//! - A pool of [`THREAD_QUEUE_WORKERS`] threads rather than one: a chain stalled on one file
//!   (the hot segment) must not hold back a chain to another file (the staging log the engine
//!   hedges onto). Chains to the same file may then run concurrently, which is fine: each chain
//!   is reported durable only after its own `fdatasync`, issued after its own `pwrite`.
//! - A `pwrite` is never cancelled mid-way, so this backend never reports `Cancelled`.
//! - Workers are detached: dropping the queue closes the job channel and returns at once even
//!   if a worker is stuck in a stalled `fdatasync`; the worker exits when that call returns.
//!
//! Invariants: every submitted chain gets exactly one final event (a worker always answers, and
//! a worker that cannot answer — the queue is gone — just drops the buffer); at most one
//! `DeadlineExceeded` per chain, and only before its final event.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::file::{OsFile, check_alignment};
use super::uring_queue::resolve_file;
use crate::aligned::AlignedBuf;
use crate::error::{IoError, Result};
use crate::storage::{ChainEvent, ChainId, ChainOutcome, CommitChain, CommitQueue};

/// Worker threads per queue.
pub(crate) const THREAD_QUEUE_WORKERS: usize = 4;

struct Job {
    chain_key: u64,
    file: Arc<OsFile>,
    offset: u64,
    buf: AlignedBuf,
}

struct JobDone {
    chain_key: u64,
    outcome: ChainOutcome,
    buf: AlignedBuf,
}

struct Pending {
    tag: u64,
    deadline_at: Option<Instant>,
    deadline_reported: bool,
}

/// The thread-pool commit queue (see the module docs).
pub(crate) struct ThreadCommitQueue {
    alignment: usize,
    storage_id: u64,
    jobs: Sender<Job>,
    done: Receiver<JobDone>,
    pending: HashMap<u64, Pending>,
    next_chain: u64,
}

impl ThreadCommitQueue {
    /// Starts the workers.
    pub(crate) fn new(alignment: usize, storage_id: u64) -> Result<Self> {
        let (jobs, job_receiver) = crossbeam_channel::unbounded::<Job>();
        let (done_sender, done) = crossbeam_channel::unbounded::<JobDone>();
        for worker_index in 0..THREAD_QUEUE_WORKERS {
            let job_receiver = job_receiver.clone();
            let done_sender = done_sender.clone();
            std::thread::Builder::new()
                .name(format!("infinitedb-commit-{worker_index}"))
                .spawn(move || run_worker(&job_receiver, &done_sender))
                .map_err(|source| IoError::Os {
                    operation: "spawn commit worker thread",
                    path: std::path::PathBuf::new(),
                    source,
                })?;
        }
        Ok(ThreadCommitQueue {
            alignment,
            storage_id,
            jobs,
            done,
            pending: HashMap::new(),
            next_chain: 0,
        })
    }

    fn deliver(&mut self, done: JobDone, events: &mut Vec<ChainEvent>) {
        let Some(pending) = self.pending.remove(&done.chain_key) else {
            debug_assert!(
                false,
                "impossible: result for unknown chain {}",
                done.chain_key
            );
            return;
        };
        events.push(ChainEvent {
            id: ChainId(done.chain_key),
            tag: pending.tag,
            outcome: done.outcome,
            buf: Some(done.buf),
        });
    }

    fn report_deadlines(&mut self, now: Instant, events: &mut Vec<ChainEvent>) -> Option<Instant> {
        let mut earliest: Option<Instant> = None;
        for (chain_key, pending) in &mut self.pending {
            let Some(deadline_at) = pending.deadline_at.filter(|_| !pending.deadline_reported)
            else {
                continue;
            };
            if deadline_at <= now {
                pending.deadline_reported = true;
                events.push(ChainEvent {
                    id: ChainId(*chain_key),
                    tag: pending.tag,
                    outcome: ChainOutcome::DeadlineExceeded,
                    buf: None,
                });
            } else {
                earliest = Some(earliest.map_or(deadline_at, |at| at.min(deadline_at)));
            }
        }
        earliest
    }
}

/// A worker: runs jobs until the queue is dropped.
fn run_worker(jobs: &Receiver<Job>, done: &Sender<JobDone>) {
    while let Ok(job) = jobs.recv() {
        let outcome = run_chain(&job.file, job.offset, &job.buf);
        let result = JobDone {
            chain_key: job.chain_key,
            outcome,
            buf: job.buf,
        };
        if done.send(result).is_err() {
            return;
        }
    }
}

/// One chain: write everything, then sync. A failed sync poisons the file (in `sync_data`); a
/// sync that succeeds on an already poisoned file still fails (fsyncgate, see `file`).
pub(crate) fn run_chain(file: &OsFile, offset: u64, buf: &[u8]) -> ChainOutcome {
    if let Err(error) = file.write_all_at(offset, buf) {
        return failed_outcome("write", &error);
    }
    if let Err(error) = file.sync_data() {
        return failed_outcome("fsync", &error);
    }
    ChainOutcome::Durable
}

fn failed_outcome(step: &'static str, error: &IoError) -> ChainOutcome {
    let errno = match error {
        IoError::Poisoned { .. } => libc::EIO,
        other => other.errno().unwrap_or(libc::EIO),
    };
    let step = if matches!(error, IoError::Poisoned { .. }) {
        "fsync"
    } else {
        step
    };
    ChainOutcome::Failed { step, errno }
}

impl CommitQueue for ThreadCommitQueue {
    fn submit(&mut self, chain: CommitChain) -> Result<ChainId> {
        let file = resolve_file(&chain, self.storage_id)?;
        check_alignment(chain.offset, &chain.buf, self.alignment)?;
        file.check_not_poisoned()?;
        let chain_key = self.next_chain;
        let job = Job {
            chain_key,
            file,
            offset: chain.offset,
            buf: chain.buf,
        };
        self.jobs.send(job).map_err(|_| {
            IoError::from_errno("commit worker channel", chain.file.path(), libc::EPIPE)
        })?;
        self.next_chain += 1;
        let pending = Pending {
            tag: chain.tag,
            deadline_at: chain.deadline.map(|deadline| Instant::now() + deadline),
            deadline_reported: false,
        };
        self.pending.insert(chain_key, pending);
        Ok(ChainId(chain_key))
    }

    fn poll(&mut self, wait: Option<Duration>, events: &mut Vec<ChainEvent>) -> Result<()> {
        let wait_until = wait.map(|wait| Instant::now() + wait);
        let events_before = events.len();
        loop {
            while let Ok(done) = self.done.try_recv() {
                self.deliver(done, events);
            }
            let now = Instant::now();
            let earliest_deadline = self.report_deadlines(now, events);
            let Some(wait_until) = wait_until else {
                return Ok(());
            };
            if events.len() > events_before || self.pending.is_empty() || now >= wait_until {
                return Ok(());
            }
            let wake_at = earliest_deadline.map_or(wait_until, |at| at.min(wait_until));
            match self
                .done
                .recv_timeout(wake_at.saturating_duration_since(now))
            {
                Ok(done) => self.deliver(done, events),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(IoError::from_errno(
                        "commit worker channel",
                        "",
                        libc::EPIPE,
                    ));
                }
            }
        }
    }

    fn in_flight(&self) -> usize {
        self.pending.len()
    }
}
