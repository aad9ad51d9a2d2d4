//! `UringCommitQueue`: the io_uring [`CommitQueue`]. One ring per queue, owned by the thread that
//! uses the queue; each chain is `WRITE(O_DIRECT, RWF_DSYNC)` or, with
//! [`SyncStep::LinkedFsync`], `WRITE(O_DIRECT) -link-> FSYNC(DATASYNC)` (see `chain_round` for
//! the choice).
//!
//! Deadlines cost nothing until they pass. `poll` reports `DeadlineExceeded` from the queue's own
//! clock and, in the same step, pushes one `ASYNC_CANCEL` of the chain's sync step (the
//! `RWF_DSYNC` write, or the fsync) if it is still outstanding; a step it stops ends the chain
//! `Cancelled`, one it cannot stop completes normally, late. Arming a `LINK_TIMEOUT` on every
//! chain instead costs one more request and its completion on every commit, and buys no more
//! (the single-writer row of `cargo run --release -p infinitedb-bench` shows what a commit
//! costs): a link timeout cancels its target the same way (io_uring_prep_link_timeout(3)), so
//! it too only stops a request not yet issued to the device (one queued on io-wq); an O_DIRECT
//! write already in the block layer runs to completion either way.
//!
//! Invariants:
//! - The in-flight table, keyed by chain id (`user_data >> 2`), owns each chain's buffer and
//!   file handle until the last CQE of its current round is reaped; only then is a round decided
//!   and the buffer returned or resubmitted.
//! - `DeadlineExceeded` is reported from the queue's own clock (`poll` wakes at the earliest
//!   unreported deadline), at most once per chain and only while the chain is not final.
//! - A cancel is pushed at most once per chain (when its deadline is reported), only for a round
//!   that started before the deadline, and is one of that round's CQEs: the round is not decided
//!   before the cancel's CQE is back, so a cancel never reaches the next round, whose requests
//!   reuse the same `user_data`. A full SQ skips the cancel (best effort: the chain only
//!   completes late).
//! - A QD1 chain costs two `io_uring_enter`s, like `pwrite` + `fdatasync`: `submit` enters once
//!   to start it, and `poll` waits once for all of the round's CQEs (`completions_needed`); its
//!   reaps enter only when the kernel flags pending task work or SQEs are queued.
//! - The ring is bound to the one thread that drives the queue: it is built lazily, by the
//!   first call that needs it, with the setup detection settled on (`SINGLE_ISSUER |
//!   DEFER_TASKRUN` where the kernel has it, else `COOP_TASKRUN`, else plain). Completion
//!   task work then runs only when that thread waits in `poll` (or, with `COOP_TASKRUN`, at
//!   its next kernel entry), never by interrupting it or any other thread like a signal. So
//!   the thread that submits is the thread that polls: a chain left in flight by one thread
//!   and polled by another would, on a single-issuer ring, be refused (`EEXIST`), and on a
//!   plain ring interrupt its submitter (`TWA_SIGNAL`) when it completes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use io_uring::types::{Fd, FsyncFlags};
use io_uring::{opcode, squeue};

use super::chain_round::{RoundPlan, RoundResults, RoundVerdict, SyncStep, decide, wants_cancel};
use super::file::{OsFile, check_alignment};
use super::ring::{Completion, Ring, RingSetup};
use crate::aligned::AlignedBuf;
use crate::error::{IoError, Result};
use crate::storage::{ChainEvent, ChainId, ChainOutcome, CommitChain, CommitQueue};

/// Submission slots of a commit queue's ring (each round takes up to 2, and a chain whose
/// deadline passes 1 more for its cancel).
const QUEUE_SQ_ENTRIES: u32 = 128;
/// Completion slots: room for every CQE of ~340 chains before the kernel's overflow list (with
/// `FEAT_NODROP`) has to hold any.
const QUEUE_CQ_ENTRIES: u32 = 1024;
/// How long dropping a queue waits for in-flight chains before leaking their buffers (the
/// kernel may still be reading them; leaking is safe, freeing is not).
const DROP_DRAIN_WAIT: Duration = Duration::from_secs(10);

const STEP_WRITE: u64 = 0;
const STEP_FSYNC: u64 = 1;
/// The `ASYNC_CANCEL` of the round's sync step (its target is `STEP_WRITE` or `STEP_FSYNC`).
const STEP_CANCEL: u64 = 2;
const STEP_BITS: u32 = 2;
const STEP_MASK: u64 = (1 << STEP_BITS) - 1;

/// One chain in flight.
struct InFlightChain {
    tag: u64,
    file: Arc<OsFile>,
    offset: u64,
    buf: AlignedBuf,
    deadline_at: Option<Instant>,
    deadline_reported: bool,
    plan: RoundPlan,
    results: RoundResults,
    retries: u32,
}

/// The io_uring commit queue (see the module docs).
pub(crate) struct UringCommitQueue {
    sync: SyncStep,
    setup: RingSetup,
    alignment: usize,
    storage_id: u64,
    ring: Option<Ring>,
    chains: HashMap<u64, InFlightChain>,
    next_chain: u64,
    completions: Vec<Completion>,
}

impl UringCommitQueue {
    /// A queue whose ring (with `setup`) is built on first use, by the thread that drives it.
    pub(crate) fn new(sync: SyncStep, setup: RingSetup, alignment: usize, storage_id: u64) -> Self {
        UringCommitQueue {
            sync,
            setup,
            alignment,
            storage_id,
            ring: None,
            chains: HashMap::new(),
            next_chain: 0,
            completions: Vec::new(),
        }
    }

    /// The ring, built on first use.
    fn ring(&mut self) -> Result<&mut Ring> {
        if self.ring.is_none() {
            let ring = Ring::new(self.setup, QUEUE_SQ_ENTRIES, QUEUE_CQ_ENTRIES)
                .map_err(|source| os_error("io_uring_setup", source))?;
            self.ring = Some(ring);
        }
        self.ring
            .as_mut()
            .ok_or_else(|| IoError::from_errno("io_uring ring", "", libc::EBADF))
    }

    /// Pushes the current round of chain `chain_key`, submitting first if the SQ is too full.
    fn push_round(&mut self, chain_key: u64) -> Result<()> {
        let entries = {
            let chain = self
                .chains
                .get(&chain_key)
                .ok_or_else(|| IoError::from_errno("commit queue table", "", libc::ENOENT))?;
            round_entries(chain_key, chain)?
        };
        let ring = self.ring()?;
        loop {
            // SAFETY: every pointer in `entries` refers to the chain's `buf`, and the fd to its
            // `Arc<OsFile>`, both owned by the in-flight table entry `chain_key`. That entry is
            // removed (and the buffer returned) only in `finish_round` once all of this round's
            // CQEs have been reaped (a cancel's included), and `Drop` leaks entries whose CQEs
            // never arrived. Nobody touches the buffer meanwhile: the table is private and the
            // chain's owner gave the buffer up at `submit`.
            let pushed = unsafe { ring.push_group(entries.as_slice()) };
            if pushed.is_ok() {
                return Ok(());
            }
            ring.submit()
                .map_err(|source| os_error("io_uring_enter", source))?;
            if ring.free_slots() < entries.as_slice().len() {
                ring.wait(Some(Duration::from_millis(1)))
                    .map_err(|source| os_error("io_uring_enter", source))?;
            }
        }
    }

    /// Reaps available CQEs, decides finished rounds, resubmits where needed.
    fn reap(&mut self, events: &mut Vec<ChainEvent>) -> Result<()> {
        let mut completions = std::mem::take(&mut self.completions);
        completions.clear();
        let reaped = self.ring()?.reap(&mut completions);
        reaped.map_err(|source| os_error("io_uring_enter", source))?;
        for completion in completions.drain(..) {
            self.record(completion, events)?;
        }
        self.completions = completions;
        // Rounds resubmitted above start now, not at the next poll.
        self.submit_queued()
    }

    /// Submits whatever SQEs are queued (resubmitted rounds, cancels); no system call if none.
    fn submit_queued(&mut self) -> Result<()> {
        if let Some(ring) = self.ring.as_mut()
            && ring.queued() > 0
        {
            ring.submit()
                .map_err(|source| os_error("io_uring_enter", source))?;
        }
        Ok(())
    }

    /// The fewest CQEs that must still arrive before some chain's round can be decided (at
    /// least 1): a poll waits for that many in one `io_uring_enter` (for a QD1 chain: its
    /// write, plus its fsync under `LinkedFsync`, plus its cancel once pushed) instead of
    /// waking once per CQE.
    fn completions_needed(&self) -> usize {
        self.chains
            .values()
            .map(|chain| chain.results.missing(&chain.plan))
            .min()
            .unwrap_or(1)
            .max(1)
    }

    /// Records one CQE; when its round is complete, decides it.
    fn record(&mut self, completion: Completion, events: &mut Vec<ChainEvent>) -> Result<()> {
        let chain_key = completion.user_data >> STEP_BITS;
        let Some(chain) = self.chains.get_mut(&chain_key) else {
            debug_assert!(false, "impossible: CQE for unknown chain {chain_key}");
            return Ok(());
        };
        let slot = match completion.user_data & STEP_MASK {
            STEP_WRITE => &mut chain.results.write,
            STEP_FSYNC => &mut chain.results.fsync,
            STEP_CANCEL => &mut chain.results.cancel,
            step => {
                debug_assert!(false, "impossible: CQE of unknown step {step}");
                return Ok(());
            }
        };
        debug_assert!(
            slot.is_none(),
            "impossible: duplicate CQE {}",
            completion.user_data
        );
        *slot = Some(completion.result);
        if chain.results.is_complete(&chain.plan) {
            self.finish_round(chain_key, events)?;
        }
        Ok(())
    }

    /// Acts on a complete round: resubmit, or report the final outcome and release the buffer.
    fn finish_round(&mut self, chain_key: u64, events: &mut Vec<ChainEvent>) -> Result<()> {
        let Some(chain) = self.chains.get_mut(&chain_key) else {
            return Ok(());
        };
        let verdict = decide(
            &chain.plan,
            &chain.results,
            chain.buf.len(),
            self.alignment,
            chain.retries,
        );
        let outcome = match verdict {
            RoundVerdict::Resubmit {
                resume_at_bytes,
                is_retry,
            } => {
                chain.retries += u32::from(is_retry);
                let left = chain
                    .deadline_at
                    .map(|at| at.saturating_duration_since(Instant::now()));
                chain.plan =
                    RoundPlan::starting_at(chain.plan.sync, resume_at_bytes, chain.buf.len(), left);
                chain.results = RoundResults::default();
                match self.push_round(chain_key) {
                    Ok(()) => return Ok(()),
                    Err(error) => ChainOutcome::Failed {
                        step: "write",
                        errno: error.errno().unwrap_or(libc::EIO),
                    },
                }
            }
            // fsyncgate: a sync that succeeds after another sync of this file failed does not
            // prove our pages reached the disk (the failed one may have dropped them).
            RoundVerdict::Durable if chain.file.is_poisoned() => ChainOutcome::Failed {
                step: "fsync",
                errno: libc::EIO,
            },
            RoundVerdict::Durable => ChainOutcome::Durable,
            RoundVerdict::Cancelled => ChainOutcome::Cancelled,
            RoundVerdict::Failed {
                step,
                errno,
                poison,
            } => {
                if poison {
                    chain.file.poison();
                }
                ChainOutcome::Failed { step, errno }
            }
        };
        if let Some(chain) = self.chains.remove(&chain_key) {
            events.push(ChainEvent {
                id: ChainId(chain_key),
                tag: chain.tag,
                outcome,
                buf: Some(chain.buf),
            });
        }
        Ok(())
    }

    /// Emits `DeadlineExceeded` for chains whose deadline passed, and queues a cancel of each
    /// one's sync step while it is in flight (at a later call if it is not issued yet: a linked
    /// fsync waits for its write); the caller submits the cancels. Returns the earliest
    /// deadline still unreported.
    fn report_deadlines(&mut self, now: Instant, events: &mut Vec<ChainEvent>) -> Option<Instant> {
        let mut earliest: Option<Instant> = None;
        for (chain_key, chain) in &mut self.chains {
            if let Some(deadline_at) = chain.deadline_at.filter(|_| !chain.deadline_reported) {
                if deadline_at > now {
                    earliest = Some(earliest.map_or(deadline_at, |at| at.min(deadline_at)));
                    continue;
                }
                chain.deadline_reported = true;
                events.push(ChainEvent {
                    id: ChainId(*chain_key),
                    tag: chain.tag,
                    outcome: ChainOutcome::DeadlineExceeded,
                    buf: None,
                });
            }
            // Past its deadline (reported now or earlier): cancel the sync step once it is in
            // flight. Under `LinkedFsync` the fsync is issued only once its write completes,
            // which may be after the deadline.
            if chain.deadline_reported
                && let Some(ring) = self.ring.as_mut()
                && wants_cancel(&chain.plan, &chain.results)
            {
                queue_cancel(ring, *chain_key, chain);
            }
        }
        earliest
    }
}

/// Pushes an `ASYNC_CANCEL` of chain `chain_key`'s sync step (the `RWF_DSYNC` write, or the
/// fsync) and records it in the round's plan; with no room in the SQ, pushes nothing (best
/// effort: the chain completes late instead).
fn queue_cancel(ring: &mut Ring, chain_key: u64, chain: &mut InFlightChain) {
    let target_step = match chain.plan.sync {
        SyncStep::DsyncWrite => STEP_WRITE,
        SyncStep::LinkedFsync => STEP_FSYNC,
    };
    let user_data = chain_key << STEP_BITS;
    let cancel = opcode::AsyncCancel::new(user_data | target_step)
        .build()
        .user_data(user_data | STEP_CANCEL);
    // SAFETY: an `ASYNC_CANCEL` names no memory and no file descriptor: its target is a
    // `user_data` value, which the kernel only compares. The target's own buffer and fd stay
    // owned by the in-flight entry `chain_key`, which now also waits for this CQE.
    let pushed = unsafe { ring.push_group(&[cancel]) };
    chain.plan.cancel_requested = pushed.is_ok();
}

/// The SQEs of one round: WRITE, maybe FSYNC, without a heap allocation.
struct RoundEntries {
    entries: [squeue::Entry; 2],
    len: usize,
}

impl RoundEntries {
    /// A round starting with `first`; unused slots hold NOPs that are never pushed.
    fn starting_with(first: squeue::Entry) -> Self {
        let nop = || opcode::Nop::new().build();
        RoundEntries {
            entries: [first, nop()],
            len: 1,
        }
    }

    /// Appends `entry`, linking the current last entry to it (`IOSQE_IO_LINK`).
    fn link(&mut self, entry: squeue::Entry) {
        debug_assert!(self.len < self.entries.len(), "a round has at most 2 SQEs");
        let last = self.len - 1;
        self.entries[last] = self.entries[last].clone().flags(squeue::Flags::IO_LINK);
        self.entries[self.len] = entry;
        self.len += 1;
    }

    fn as_slice(&self) -> &[squeue::Entry] {
        &self.entries[..self.len]
    }
}

/// The SQEs of a chain's current round: the write, with `RWF_DSYNC` or linked to an fsync.
fn round_entries(chain_key: u64, chain: &InFlightChain) -> Result<RoundEntries> {
    debug_assert!(chain_key < (1 << (64 - STEP_BITS)));
    let plan = chain.plan;
    let write_len = u32::try_from(plan.write_bytes).map_err(|_| {
        IoError::from_errno("io_uring write length", chain.file.path(), libc::EINVAL)
    })?;
    let buf = &chain.buf.as_slice()[plan.resume_at_bytes..plan.end_bytes()];
    let fd = Fd(chain.file.fd());
    let user_data = chain_key << STEP_BITS;
    let rw_flags = match plan.sync {
        SyncStep::DsyncWrite => libc::RWF_DSYNC,
        SyncStep::LinkedFsync => 0,
    };
    let write = opcode::Write::new(fd, buf.as_ptr(), write_len)
        .offset(chain.offset + plan.resume_at_bytes as u64)
        .rw_flags(rw_flags)
        .build()
        .user_data(user_data | STEP_WRITE);
    let mut round = RoundEntries::starting_with(write);
    if plan.sync == SyncStep::LinkedFsync {
        let fsync = opcode::Fsync::new(fd)
            .flags(FsyncFlags::DATASYNC)
            .build()
            .user_data(user_data | STEP_FSYNC);
        round.link(fsync);
    }
    Ok(round)
}

fn os_error(operation: &'static str, source: std::io::Error) -> IoError {
    IoError::Os {
        operation,
        path: std::path::PathBuf::new(),
        source,
    }
}

impl CommitQueue for UringCommitQueue {
    fn submit(&mut self, chain: CommitChain) -> Result<ChainId> {
        let file = resolve_file(&chain, self.storage_id)?;
        check_alignment(chain.offset, &chain.buf, self.alignment)?;
        file.check_not_poisoned()?;
        let chain_key = self.next_chain;
        let submitted_at = Instant::now();
        let in_flight = InFlightChain {
            tag: chain.tag,
            file,
            offset: chain.offset,
            plan: RoundPlan::starting_at(self.sync, 0, chain.buf.len(), chain.deadline),
            buf: chain.buf,
            deadline_at: chain.deadline.map(|deadline| submitted_at + deadline),
            deadline_reported: false,
            results: RoundResults::default(),
            retries: 0,
        };
        self.ring()?;
        self.next_chain += 1;
        self.chains.insert(chain_key, in_flight);
        if let Err(error) = self.push_round(chain_key) {
            // Nothing of this chain reached the SQ (push_group is all or nothing).
            self.chains.remove(&chain_key);
            return Err(error);
        }
        if let Some(ring) = self.ring.as_mut() {
            // A failed submit leaves the SQEs queued; the next poll submits them again.
            let _ = ring.submit();
        }
        Ok(ChainId(chain_key))
    }

    fn poll(&mut self, wait: Option<Duration>, events: &mut Vec<ChainEvent>) -> Result<()> {
        let started = Instant::now();
        let wait_until = wait.map(|wait| started + wait);
        let events_before = events.len();
        // A passed deadline is reported before the completions are reaped: a chain that
        // finished just late reports `DeadlineExceeded`, then its final outcome, whenever its
        // CQEs were posted (a plain ring posts them on its own). The cancels queued here are
        // submitted by the reap.
        self.report_deadlines(started, events);
        // Enters the kernel only when submissions are pending.
        self.reap(events)?;
        loop {
            let now = Instant::now();
            let earliest_deadline = self.report_deadlines(now, events);
            // The cancels just queued start now, even if this poll returns at once.
            self.submit_queued()?;
            let Some(wait_until) = wait_until else {
                return Ok(());
            };
            if events.len() > events_before || self.chains.is_empty() || now >= wait_until {
                return Ok(());
            }
            let wake_at = earliest_deadline.map_or(wait_until, |at| at.min(wait_until));
            let timeout = wake_at
                .saturating_duration_since(now)
                .max(Duration::from_micros(1));
            let needed = self.completions_needed();
            self.ring()?
                .wait_for(needed, Some(timeout))
                .map_err(|source| os_error("io_uring_enter", source))?;
            self.reap(events)?;
        }
    }

    fn in_flight(&self) -> usize {
        self.chains.len()
    }
}

/// The chain's file as an OS file of this storage.
pub(crate) fn resolve_file(chain: &CommitChain, storage_id: u64) -> Result<Arc<OsFile>> {
    super::storage_file(&chain.file, storage_id)
}

impl Drop for UringCommitQueue {
    fn drop(&mut self) {
        let give_up_at = Instant::now() + DROP_DRAIN_WAIT;
        let mut events = Vec::new();
        while !self.chains.is_empty() && Instant::now() < give_up_at {
            if self
                .poll(Some(Duration::from_millis(100)), &mut events)
                .is_err()
            {
                break;
            }
            events.clear();
        }
        // Whatever is still in flight may still be read by the kernel: leak it rather than
        // free memory a DMA may be reading.
        for (_, chain) in self.chains.drain() {
            std::mem::forget(chain);
        }
    }
}
