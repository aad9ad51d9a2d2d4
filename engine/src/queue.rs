//! The queues into the I/O thread: writers' and callers' [`Command`]s on an unbounded channel
//! ([`CommandSender`]) whose memory is bounded by [`ByteGate`] (docs/design.md §4:
//! backpressure, never unbounded memory); the sealer's [`Spare`] logs on a channel of their
//! own ([`SpareSender`]), so a spare never waits behind writes; and the I/O thread's
//! [`Doorbell`], which both ring.
//!
//! Invariants: a write holds its encoded bytes in the gate from before it is queued until the
//! I/O thread is done with it (durable in its hot segment or failed), so queued plus in-flight
//! write bytes never exceed the gate's bound (`queue_bytes_max`, at most one segment frame's
//! writes: `gate_bytes_max` in `db.rs`); a writer blocks while the gate is full, except
//! that an empty gate always admits one write (no write larger than the gate is accepted, see
//! `Options::validate` and `Db::write`). Every command rings the doorbell, which wakes the
//! I/O thread only if it is parked.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering, fence};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use crossbeam_channel::Sender;

use infinitedb_format::{Revision, SpaceId};
use parking_lot::{Condvar, Mutex};

use crate::batch::KeyedBatch;
use crate::error::Result;
use crate::log_file::LogFile;
use crate::options::Durability;
use crate::space::SpaceShared;

/// A one-shot reply to a waiting caller.
pub(crate) type Reply<T> = crate::reply::Reply<Result<T>>;

/// What the I/O thread is asked to do.
#[derive(Debug)]
pub(crate) enum Command {
    /// Sequence and commit a batch (one part per space it writes, in space order); reply with
    /// its revision once `durability` allows.
    Write {
        parts: Vec<KeyedBatch>,
        durability: Durability,
        gate_bytes: usize,
        reply: Reply<Revision>,
    },
    /// Reply once every write at or below `barrier` (every write sequenced before this if
    /// `None`) is durable or failed.
    Sync {
        barrier: Option<Revision>,
        reply: Reply<()>,
    },
    /// Seal the space now and reply when the seal is done.
    Flush { space: SpaceId, reply: Reply<()> },
    /// A new space with its first hot segment and a spare (boxed: a command stays small).
    AddSpace(Box<NewSpace>),
    /// Drain everything queued, then stop.
    Shutdown,
}

/// A space `create_space` made, for the I/O thread to write to.
#[derive(Debug)]
pub(crate) struct NewSpace {
    pub(crate) space: Arc<SpaceShared>,
    /// Its first hot segment.
    pub(crate) active: LogFile,
    pub(crate) spare: LogFile,
}

/// A log the sealer made for the I/O thread, on the sealer's own channel ([`SpareSender`]).
#[derive(Debug)]
pub(crate) enum Spare {
    /// A spare hot segment for `space`, or why none could be made.
    Segment {
        space: SpaceId,
        log: Result<LogFile>,
    },
    /// A spare staging log, or why none could be made.
    Staging { log: Result<LogFile> },
}

/// Where the idle I/O thread sleeps until someone hands it work (see `io_thread::driver`).
///
/// Ringing costs one atomic load while the thread is awake: only a thread that finds it
/// parked (or about to park) takes the lock and wakes it. The thread announces that it parks,
/// then looks at its work once more before it sleeps; a sender queues its work, then looks at
/// the announcement. Both steps are `SeqCst`, so at least one of them sees the other: either
/// the thread finds the work or the sender wakes it.
#[derive(Debug, Default)]
pub(crate) struct Doorbell {
    parked: AtomicBool,
    rung: Mutex<bool>,
    ringing: Condvar,
}

impl Doorbell {
    /// Wakes the I/O thread if it is parked (or makes its next [`Doorbell::wait`] return at
    /// once). Called after the work it announces is queued.
    pub(crate) fn ring(&self) {
        fence(Ordering::SeqCst);
        if !self.parked.load(Ordering::SeqCst) {
            return;
        }
        let mut rung = self.rung.lock();
        *rung = true;
        self.ringing.notify_one();
    }

    /// Sleeps until rung or `until` (if any) passes, unless `has_work` says there is work
    /// already.
    pub(crate) fn wait(&self, until: Option<Instant>, has_work: impl Fn() -> bool) {
        self.parked.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        let mut rung = self.rung.lock();
        if !*rung && !has_work() {
            match until {
                Some(until) => {
                    self.ringing.wait_until(&mut rung, until);
                }
                None => self.ringing.wait(&mut rung),
            }
        }
        *rung = false;
        self.parked.store(false, Ordering::SeqCst);
    }
}

/// A sending side of one of the I/O thread's channels, with its doorbell: every send rings.
#[derive(Debug)]
pub(crate) struct RingingSender<T> {
    sender: Sender<T>,
    doorbell: Arc<Doorbell>,
}

impl<T> Clone for RingingSender<T> {
    fn clone(&self) -> Self {
        RingingSender {
            sender: self.sender.clone(),
            doorbell: self.doorbell.clone(),
        }
    }
}

impl<T> RingingSender<T> {
    /// A sender over `sender`, ringing `doorbell`.
    pub(crate) fn new(sender: Sender<T>, doorbell: Arc<Doorbell>) -> Self {
        RingingSender { sender, doorbell }
    }

    /// Queues `item` and rings the doorbell. `Error::Closed` once the I/O thread is gone.
    pub(crate) fn send(&self, item: T) -> Result<()> {
        self.sender
            .send(item)
            .map_err(|_| crate::error::Error::Closed)?;
        self.doorbell.ring();
        Ok(())
    }
}

/// The writers' and callers' channel to the I/O thread.
pub(crate) type CommandSender = RingingSender<Command>;

/// The sealer's channel to the I/O thread.
pub(crate) type SpareSender = RingingSender<Spare>;

/// A counting gate over queued bytes.
#[derive(Debug)]
pub(crate) struct ByteGate {
    state: Mutex<GateState>,
    released: Condvar,
    bytes_max: usize,
}

/// What the gate's lock guards.
#[derive(Debug, Default)]
struct GateState {
    used_bytes: usize,
    /// Tasks waiting for room ([`ByteGate::poll_acquire`]), woken at every release.
    wakers: Vec<Waker>,
}

impl GateState {
    /// Whether `bytes` fit now: they do under the bound, and always into an empty gate.
    fn fits(&self, bytes: usize, bytes_max: usize) -> bool {
        self.used_bytes == 0 || self.used_bytes + bytes <= bytes_max
    }
}

impl ByteGate {
    /// A gate admitting up to `bytes_max` bytes.
    pub(crate) fn new(bytes_max: usize) -> Self {
        ByteGate {
            state: Mutex::new(GateState::default()),
            released: Condvar::new(),
            bytes_max,
        }
    }

    /// Blocks until `bytes` fit, then takes them.
    pub(crate) fn acquire(&self, bytes: usize) {
        let mut state = self.state.lock();
        while !state.fits(bytes, self.bytes_max) {
            self.released.wait(&mut state);
        }
        state.used_bytes += bytes;
    }

    /// Takes `bytes` if they fit now; otherwise leaves the task's waker for the next release.
    pub(crate) fn poll_acquire(&self, bytes: usize, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.state.lock();
        if state.fits(bytes, self.bytes_max) {
            state.used_bytes += bytes;
            return Poll::Ready(());
        }
        if !state.wakers.iter().any(|waker| waker.will_wake(cx.waker())) {
            state.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Gives `bytes` back and wakes waiting writers and tasks.
    pub(crate) fn release(&self, bytes: usize) {
        let mut state = self.state.lock();
        debug_assert!(state.used_bytes >= bytes, "gate releases what it took");
        state.used_bytes = state.used_bytes.saturating_sub(bytes);
        let wakers = std::mem::take(&mut state.wakers);
        drop(state);
        self.released.notify_all();
        for waker in wakers {
            waker.wake();
        }
    }

    /// Bytes currently taken.
    #[cfg(test)]
    pub(crate) fn used_bytes(&self) -> usize {
        self.state.lock().used_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_gate_blocks_until_bytes_are_released() {
        // Goal: backpressure. Method: fill the gate, start a writer, release, join it.
        let gate = Arc::new(ByteGate::new(100));
        gate.acquire(80);
        let waiter = {
            let gate = gate.clone();
            std::thread::spawn(move || gate.acquire(50))
        };
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(
            !waiter.is_finished(),
            "the writer must wait while the gate is full"
        );
        gate.release(80);
        waiter.join().unwrap();
        assert_eq!(gate.used_bytes(), 50);
    }
}
