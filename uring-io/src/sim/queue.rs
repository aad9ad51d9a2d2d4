//! The simulated [`CommitQueue`]: WRITE → FSYNC chains on the [`SimDisk`], completed in real
//! time so that the engine's real deadlines fire, with no worker thread: `submit` and `poll`
//! run every step whose time has come.
//!
//! Schedule, fixed at submission (so the same operations give the same faults):
//! - A chain *starts* at submission, or when the previous chain to the same file finishes
//!   (chains to one file run in order; chains to different files overlap freely).
//! - At its start its write enters the disk's volatile cache (or fails: an injected write
//!   errno, or the file was poisoned by an earlier chain, which fails it with `EIO`).
//! - It *finishes* after its write's and its sync's injected latencies: the fdatasync makes
//!   the file's unsynced writes durable, or fails, poisoning the file and losing them.
//! - If its deadline falls before its finish, `DeadlineExceeded` is reported at the deadline
//!   and the final fate (`Durable` or `Failed`) later. Only an injected
//!   [`super::Fault::Cancel`] cancels a chain: it ends `Cancelled` at its deadline, its write
//!   left unsynced.
//!
//! Invariants: each chain yields at most one `DeadlineExceeded` and exactly one final event,
//! which returns its buffer; steps run in time order (ties: earlier chain first), so a chain's
//! fsync runs before the next chain to the same file starts.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::disk::InodeId;
use super::faults::OpKind;
use super::storage::{SimFile, SimShared, check_offset};
use crate::aligned::AlignedBuf;
use crate::error::Result;
use crate::storage::{ChainEvent, ChainId, ChainOutcome, CommitChain, CommitQueue};

/// The most chains in flight at once in one queue (a limit on everything; the engine keeps one
/// per segment plus the staging log).
pub const SIM_CHAINS_IN_FLIGHT_MAX: usize = 4096;

#[derive(Debug)]
struct Chain {
    id: ChainId,
    tag: u64,
    file: Arc<SimFile>,
    offset: u64,
    buf: Option<AlignedBuf>,
    write_errno: Option<i32>,
    sync_errno: Option<i32>,
    start_at: Instant,
    finish_at: Instant,
    deadline_at: Option<Instant>,
    /// Ends `Cancelled` (an injected [`super::Fault::Cancel`]) instead of syncing.
    cancelled: bool,
    started: bool,
    deadline_reported: bool,
}

impl Chain {
    fn deadline_pending(&self) -> Option<Instant> {
        let deadline_at = self.deadline_at?;
        // A cancelled chain ends at its deadline: DeadlineExceeded first, then Cancelled.
        let before_finish =
            deadline_at < self.finish_at || (self.cancelled && deadline_at <= self.finish_at);
        (!self.deadline_reported && before_finish).then_some(deadline_at)
    }

    /// This chain's next step and its time. The deadline may fall before the start (a chain
    /// queued behind a stalled one); the finish always comes after the start.
    fn next_step(&self) -> (Instant, Step) {
        let later_step = if self.started {
            (self.finish_at, Step::Finish)
        } else {
            (self.start_at, Step::Start)
        };
        match self.deadline_pending() {
            Some(deadline_at) => later_step.min((deadline_at, Step::Deadline)),
            None => later_step,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Start,
    Deadline,
    Finish,
}

/// Commit chains on the simulated disk (see the module doc for the schedule).
#[derive(Debug)]
pub(crate) struct SimCommitQueue {
    shared: Arc<SimShared>,
    chains: Vec<Chain>,
    ready: VecDeque<ChainEvent>,
    file_free_at: HashMap<InodeId, Instant>,
    id_next: u64,
    in_flight: usize,
}

impl SimCommitQueue {
    pub(crate) fn new(shared: Arc<SimShared>) -> SimCommitQueue {
        SimCommitQueue {
            shared,
            chains: Vec::new(),
            ready: VecDeque::new(),
            file_free_at: HashMap::new(),
            id_next: 0,
            in_flight: 0,
        }
    }

    /// The earliest step of any chain: (time, chain index, step).
    fn earliest_step(&self) -> Option<(Instant, usize, Step)> {
        self.chains
            .iter()
            .enumerate()
            .map(|(index, chain)| {
                let (at, step) = chain.next_step();
                (at, chain.id, index, step)
            })
            .min_by_key(|(at, id, _, step)| (*at, *id, *step))
            .map(|(at, _, index, step)| (at, index, step))
    }

    /// Runs every step due at `now`, in time order.
    fn run_due(&mut self, now: Instant) {
        while let Some((at, index, step)) = self.earliest_step() {
            if at > now {
                break;
            }
            match step {
                Step::Start => self.start(index),
                Step::Deadline => self.report_deadline(index),
                Step::Finish => self.finish(index),
            }
        }
    }

    fn start(&mut self, index: usize) {
        let chain = &mut self.chains[index];
        debug_assert!(!chain.started);
        chain.started = true;
        if chain.write_errno.is_some() {
            return;
        }
        if chain.file.is_poisoned() {
            chain.write_errno = Some(libc::EIO);
            return;
        }
        let Some(buf) = chain.buf.as_ref() else {
            chain.write_errno = Some(libc::EFAULT);
            return;
        };
        let (inode, offset) = (chain.file.inode, chain.offset);
        let written = self
            .shared
            .change_disk(|disk| disk.write(inode, offset, buf.as_slice()));
        if let Err(errno) = written {
            chain.write_errno = Some(errno);
        }
    }

    fn report_deadline(&mut self, index: usize) {
        let chain = &mut self.chains[index];
        debug_assert!(chain.deadline_pending().is_some());
        chain.deadline_reported = true;
        self.ready.push_back(ChainEvent {
            id: chain.id,
            tag: chain.tag,
            outcome: ChainOutcome::DeadlineExceeded,
            buf: None,
        });
    }

    fn finish(&mut self, index: usize) {
        let mut chain = self.chains.swap_remove(index);
        debug_assert!(chain.started);
        let inode = chain.file.inode;
        if self.file_free_at.get(&inode) == Some(&chain.finish_at) {
            self.file_free_at.remove(&inode);
        }
        let outcome = if let Some(errno) = chain.write_errno {
            ChainOutcome::Failed {
                step: "write",
                errno,
            }
        } else if chain.cancelled {
            ChainOutcome::Cancelled
        } else {
            let sync_errno = chain.sync_errno;
            let synced = self.shared.change_disk(|disk| match sync_errno {
                Some(errno) => {
                    // A failed writeback: the unsynced writes will not reach the media.
                    let _ = disk.lose_unsynced(inode);
                    Ok(Err(errno))
                }
                None => Ok(disk.sync_data(inode)),
            });
            match synced.and_then(|result| result) {
                Ok(()) => ChainOutcome::Durable,
                Err(errno) => {
                    chain.file.poison();
                    ChainOutcome::Failed {
                        step: "fsync",
                        errno,
                    }
                }
            }
        };
        self.ready.push_back(ChainEvent {
            id: chain.id,
            tag: chain.tag,
            outcome,
            buf: chain.buf.take(),
        });
    }

    /// Moves ready events to `events`; final ones stop counting as in flight.
    fn drain_ready(&mut self, events: &mut Vec<ChainEvent>) {
        for event in self.ready.drain(..) {
            if event.outcome.is_final() {
                debug_assert!(self.in_flight > 0);
                self.in_flight -= 1;
            }
            events.push(event);
        }
    }
}

impl CommitQueue for SimCommitQueue {
    fn submit(&mut self, chain: CommitChain) -> Result<ChainId> {
        check_offset(chain.offset)?;
        let file = self.shared.resolve_for_write(&chain.file)?;
        if self.in_flight >= SIM_CHAINS_IN_FLIGHT_MAX {
            return Err(crate::IoError::from_errno(
                "submit",
                chain.file.path(),
                libc::EBUSY,
            ));
        }
        let path = chain.file.path();
        let write = self.shared.faults.decide(OpKind::Write, path);
        let sync = match write.errno {
            Some(_) => Default::default(),
            None => self.shared.faults.decide(OpKind::Fsync, path),
        };
        let now = Instant::now();
        let start_at = self
            .file_free_at
            .get(&file.inode)
            .map_or(now, |&free_at| free_at.max(now));
        let cancelled = write.errno.is_none() && (write.cancel || sync.cancel);
        let deadline_at = chain.deadline.map(|deadline| now + deadline);
        let mut finish_at = start_at + write.latency + sync.latency;
        if let Some(deadline_at) = deadline_at.filter(|_| cancelled) {
            // The io_uring queue cancels the chain at its deadline (not before it starts).
            finish_at = deadline_at.max(start_at);
        }
        self.file_free_at.insert(file.inode, finish_at);
        let id = ChainId(self.id_next);
        self.id_next += 1;
        self.in_flight += 1;
        self.chains.push(Chain {
            id,
            tag: chain.tag,
            file,
            offset: chain.offset,
            buf: Some(chain.buf),
            write_errno: write.errno,
            sync_errno: sync.errno,
            start_at,
            finish_at,
            deadline_at,
            cancelled,
            started: false,
            deadline_reported: false,
        });
        self.run_due(now);
        Ok(id)
    }

    fn poll(&mut self, wait: Option<Duration>, events: &mut Vec<ChainEvent>) -> Result<()> {
        let wait_end = wait.map(|wait| Instant::now() + wait);
        let events_before = events.len();
        loop {
            let now = Instant::now();
            self.run_due(now);
            self.drain_ready(events);
            if events.len() > events_before {
                return Ok(());
            }
            let Some(wait_end) = wait_end else {
                return Ok(());
            };
            if now >= wait_end {
                return Ok(());
            }
            let wake_at = self
                .earliest_step()
                .map_or(wait_end, |(at, _, _)| at.min(wait_end));
            std::thread::sleep(wake_at.saturating_duration_since(now));
        }
    }

    fn in_flight(&self) -> usize {
        self.in_flight
    }
}
