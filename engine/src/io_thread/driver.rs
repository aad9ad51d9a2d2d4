//! Who drives the I/O state machine ([`IoThread`]): the I/O thread, or a writer.
//!
//! The state sits behind one lock, and whoever holds it drives: receives commands, submits
//! chains, waits on the commit queue, publishes and acknowledges (`IoThread::step`). The I/O
//! thread drives whenever there is work, and lets go of the lock once it is idle. A writer
//! queues its batch quietly, then tries the lock: if it is free (the engine is idle) the writer
//! commits its own group on its own thread ([`Driver::lead_until`]) until its batch is
//! answered, and hands whatever is left (a chain still in flight, batches queued meanwhile) to
//! the I/O thread by ringing its [`Doorbell`]. If the lock is taken, the writer just waits for
//! its answer, as every writer did before.
//!
//! Why: a lone writer whose commit goes through the I/O thread pays two thread hand-offs per
//! put (its command wakes the thread, the thread wakes it back), on top of the write and the
//! flush. A writer committing its own group pays neither (the single-writer row of `cargo run
//! --release -p infinitedb-bench` measures its puts/s beside fio's QD1 commits). Under load the
//! I/O thread holds the lock continuously (a chain is always in flight) and writers never
//! lead, so group commit is unchanged.
//!
//! The commit queue may change drivers while chains are in flight (`uring_io::CommitQueue`). A
//! leader never submits after its batch is answered, so it leaves chains in flight only when
//! a deadline miss hedged its batch onto the staging log (its hot chain is stalled), or when
//! it committed other spaces' batches in the same turn. On io_uring such a chain's completion
//! is task work of the leader's thread, which the kernel runs by interrupting that thread like
//! a signal without a handler: the thread need not come back, but a blocking call it makes
//! meanwhile that is not restarted after signals (`epoll_wait`, for one) may return `EINTR`
//! once, as it may for any signal.
//!
//! Invariants:
//! - No command is stranded: a writer queues, then (after a `SeqCst` fence) tries the lock; a
//!   driver lets go of the lock, then (after a `SeqCst` fence) looks at the queue and drives
//!   again, or rings the doorbell, if something is there. Of the two fenced pairs at least one
//!   sees the other's write, so either the writer leads or the driver sees its command. Every
//!   other command rings the doorbell. So the idle I/O thread sleeps until rung, or until its
//!   one timer (a failed spare segment's retry) is due, with no periodic wake: a missed
//!   wake-up would strand a command until the next one arrives, and the tests would hang.
//! - A leader never waits on the command channel: it stops as soon as its batch is answered,
//!   or when it can make no progress with nothing in flight (its batch waits for a spare
//!   segment), and then leaves the rest to the I/O thread.

use std::sync::atomic::{Ordering, fence};

use parking_lot::Mutex;

use super::IoThread;
use crate::queue::CommandSender;
use crate::stats::StatsCounters;

/// The I/O state and who may drive it (see the module doc).
pub(crate) struct Driver {
    /// `None` once the I/O thread has finished (dropping the state closes the command and
    /// sealer channels).
    state: Mutex<Option<IoThread>>,
    commands: CommandSender,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver").finish_non_exhaustive()
    }
}

impl Driver {
    /// A driver over `state`, whose commands arrive through `commands`.
    pub(crate) fn new(state: IoThread, commands: CommandSender) -> Driver {
        Driver {
            state: Mutex::new(Some(state)),
            commands,
        }
    }

    /// The I/O thread's body: drive while there is work, sleep on the doorbell while idle,
    /// until shut down and drained.
    pub(crate) fn run_io_thread(&self) {
        loop {
            let mut guard = self.state.lock();
            let Some(state) = guard.as_mut() else {
                return;
            };
            let wake_at = loop {
                let progressed = state.step(None);
                if state.is_done() {
                    state.finish();
                    *guard = None;
                    return;
                }
                if !progressed && state.queue.in_flight() == 0 {
                    // Idle, or batches wait for a spare segment (its arrival rings).
                    break state.next_spare_retry();
                }
            };
            drop(guard);
            fence(Ordering::SeqCst);
            if self.commands.is_empty() {
                self.commands
                    .doorbell()
                    .wait(wake_at, || !self.commands.is_empty());
            }
        }
    }

    /// Called by a writer right after queueing its batch: if nobody drives, drives until
    /// `answered` holds, then hands what is left to the I/O thread. Returns at once if another
    /// thread drives (it will answer the batch).
    pub(crate) fn lead_until(&self, answered: &dyn Fn() -> bool) {
        fence(Ordering::SeqCst);
        let Some(mut guard) = self.state.try_lock() else {
            return;
        };
        let Some(state) = guard.as_mut() else {
            return;
        };
        StatsCounters::add(&state.stats.writes_led, 1);
        while !state.is_done() && !answered() {
            let progressed = state.step(Some(answered));
            if !progressed && state.queue.in_flight() == 0 {
                break;
            }
        }
        let work_left = state.has_work() || state.is_done();
        drop(guard);
        fence(Ordering::SeqCst);
        if work_left || !self.commands.is_empty() {
            self.commands.doorbell().ring();
        }
    }
}
