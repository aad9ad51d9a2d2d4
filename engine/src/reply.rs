//! One-shot replies from the engine's threads to a caller waiting in `put`, `sync` or `flush`,
//! or awaiting a [`crate::Pending`] handle.
//!
//! Why not a channel: a `crossbeam_channel::bounded(1)` receiver spins and calls
//! `sched_yield` before it parks. With 64 writers waiting on their commits that spinning took
//! a quarter of the machine's CPU away from the I/O thread (perf, 2 cores). Here a waiter
//! parks at once on a condition variable, and the I/O thread pays one uncontended lock and one
//! futex wake per reply.
//!
//! An answer is taken either by a thread blocked in [`Answer::recv`] or by polling
//! ([`Answer::poll_answer`]): a poll that finds no answer leaves its task's [`Waker`] in the
//! slot, and the answer wakes it. So a handle is a runtime-agnostic future.
//!
//! Waking a group's writers ([`send_all`]) is a tree over the waiters blocked in `recv` when
//! the group is answered: the I/O thread stores every answer, then wakes only the first
//! blocked waiter; each, once it has its answer, wakes the next two (heap order). With 64
//! writers on 2 cores, one thread waking 32 writers in a row was preempted by each of them in
//! turn (36k involuntary switches in 2 s, perf); the tree spreads the fan-out over the woken
//! threads and the I/O thread pays one wake per group. A waiter not blocked in `recv` (a
//! future, or a writer not there yet) is answered directly, outside the tree: nothing it may
//! never do (be polled again, call `recv`) can strand another waiter.
//!
//! The engine answers its callers through this module; it is public so that a service (or the
//! bench's thread hand-off ceiling, `infinitedb-bench --rw handoff`) can measure or reuse the
//! same mechanism:
//!
//! ```
//! use infinitedb::reply::{reply_pair, send_all};
//! let (replies, answers): (Vec<_>, Vec<_>) = (0..4_u32).map(|_| reply_pair::<u32>()).unzip();
//! let waiters: Vec<_> = answers
//!     .into_iter()
//!     .map(|answer| std::thread::spawn(move || answer.recv()))
//!     .collect();
//! send_all(replies.into_iter().zip(10..).collect()); // one wake for the group
//! let got: Vec<_> = waiters.into_iter().map(|waiter| waiter.join().unwrap()).collect();
//! assert_eq!(got, vec![Some(10), Some(11), Some(12), Some(13)]);
//! ```
//!
//! A lone waiter spins before it parks: a thread entering [`Answer::recv`] while no other
//! thread waits in it watches its slot for up to [`LONE_SPIN`] (and stops as soon as a
//! second waiter arrives), so the answer to a lone writer's commit, which comes from the I/O
//! thread, does not also pay the wake-up of a parked thread (an idle virtual CPU's wake-up
//! costs tens of µs, as much as half the device's flush). The count of waiters is
//! process-wide, as the CPU is. With many writers nobody spins: they park at once.
//!
//! Invariants: a [`Reply`] is answered at most once ([`Reply::send`] consumes it); dropping an
//! unanswered `Reply` answers `None`, so a waiter never waits on a reply that cannot come; in
//! a tree, a waiter's answer is stored before its parent's, so no waiter is woken before its
//! answer is there (a wake-up that finds nothing would be lost: the waiter parks again); only
//! a waiter blocked in `recv` is in a tree, and it stays blocked until answered.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

/// How long a lone waiter watches its slot before it parks (see the module doc): longer than
/// most device flushes on a virtual disk, so a lone writer's commit is usually answered while
/// it spins. The single-writer row of `cargo run --release -p infinitedb-bench` shows the
/// effect beside the device's QD1 commits.
pub const LONE_SPIN: Duration = Duration::from_micros(250);

/// Threads waiting in [`Answer::recv`], spinning or parked.
static WAITERS: AtomicUsize = AtomicUsize::new(0);

/// Counts a thread in [`WAITERS`] while it lives.
struct Waiting;

impl Waiting {
    /// Counts this thread in; returns whether it is the only one waiting.
    fn enter() -> (Waiting, bool) {
        let before = WAITERS.fetch_add(1, Ordering::AcqRel);
        (Waiting, before == 0)
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        WAITERS.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The state of a one-shot slot.
#[derive(Debug)]
enum Slot<T> {
    Waiting {
        /// A thread is blocked in [`Answer::recv`] (it leaves only with an answer).
        blocked: bool,
        /// The task of the last poll that found no answer.
        waker: Option<Waker>,
    },
    /// The answer, and the waiters to wake once it is taken (at most two: a binary tree).
    Answered(T, Successors),
    Dropped,
    Taken,
}

impl<T> Slot<T> {
    const EMPTY: Slot<T> = Slot::Waiting {
        blocked: false,
        waker: None,
    };

    /// Stores `answer` (with `successors`) and returns the task to wake, if a poll left one.
    fn answer(&mut self, answer: Slot<T>) -> Option<Waker> {
        match std::mem::replace(self, answer) {
            Slot::Waiting { waker, .. } => waker,
            Slot::Answered(..) | Slot::Dropped | Slot::Taken => None,
        }
    }
}

/// The waiters a woken waiter wakes in turn; an array, so answering a group allocates nothing
/// per waiter.
type Successors = [Option<Arc<dyn Wake>>; 2];

/// Something parked that can be woken (a [`Shared`] of any answer type).
trait Wake: Send + Sync + std::fmt::Debug {
    fn wake(&self);
}

impl<T: Send + std::fmt::Debug> Wake for Shared<T> {
    fn wake(&self) {
        self.answered.notify_one();
    }
}

#[derive(Debug)]
struct Shared<T> {
    slot: Mutex<Slot<T>>,
    answered: Condvar,
    /// Set once the slot holds an answer (or the reply was dropped), for a spinning waiter to
    /// watch without taking the lock.
    ready: AtomicBool,
}

impl<T> Shared<T> {
    /// Stores `answer` in the locked `slot`; returns the task to wake, if a poll left one.
    fn store(&self, slot: &mut Slot<T>, answer: Slot<T>) -> Option<Waker> {
        let waker = slot.answer(answer);
        self.ready.store(true, Ordering::Release);
        waker
    }

    /// Stores `answer` outside any tree and wakes whoever waits: a blocked thread or a task.
    fn answer_directly(&self, answer: Slot<T>) {
        let waker = self.store(&mut self.slot.lock(), answer);
        self.wake_directly(waker);
    }

    /// Answers `value` outside any tree unless a thread is blocked in `recv` (it stays
    /// blocked until answered, so the check holds until its answer); gives `value` back then.
    fn answer_unless_blocked(&self, value: T) -> Option<T> {
        let mut slot = self.slot.lock();
        if matches!(*slot, Slot::Waiting { blocked: true, .. }) {
            return Some(value);
        }
        let waker = self.store(&mut slot, Slot::Answered(value, [None, None]));
        drop(slot);
        self.wake_directly(waker);
        None
    }

    /// Wakes a thread that may be blocked on the slot, and the task a poll left, if any.
    fn wake_directly(&self, waker: Option<Waker>) {
        self.answered.notify_one();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The sending half: held by the thread that will answer.
#[derive(Debug)]
pub struct Reply<T> {
    shared: Option<Arc<Shared<T>>>,
}

/// The receiving half: held by the waiting caller.
#[derive(Debug)]
pub struct Answer<T> {
    shared: Arc<Shared<T>>,
}

/// A connected reply and answer.
pub fn reply_pair<T>() -> (Reply<T>, Answer<T>) {
    let shared = Arc::new(Shared {
        slot: Mutex::new(Slot::EMPTY),
        answered: Condvar::new(),
        ready: AtomicBool::new(false),
    });
    (
        Reply {
            shared: Some(shared.clone()),
        },
        Answer { shared },
    )
}

impl<T> Reply<T> {
    /// Answers the waiter (a no-op if it stopped waiting).
    pub fn send(mut self, value: T) {
        if let Some(shared) = self.shared.take() {
            shared.answer_directly(Slot::Answered(value, [None, None]));
        }
    }
}

/// Answers every reply, waking the waiters blocked in `recv` as a tree (see the module doc):
/// the `i`-th of them wakes the `2i + 1`-th and `2i + 2`-th once it has its answer; this
/// thread wakes the first, and answers every other waiter directly.
pub fn send_all<T: Send + std::fmt::Debug + 'static>(answers: Vec<(Reply<T>, T)>) {
    let mut blocked: Vec<(Arc<Shared<T>>, T)> = Vec::with_capacity(answers.len());
    for (mut reply, value) in answers {
        let Some(shared) = reply.shared.take() else {
            continue;
        };
        if let Some(value) = shared.answer_unless_blocked(value) {
            blocked.push((shared, value));
        }
    }
    let waiters: Vec<Arc<dyn Wake>> = blocked
        .iter()
        .map(|(shared, _)| shared.clone() as Arc<dyn Wake>)
        .collect();
    // Last waiter first: a waiter woken spuriously may take its answer the moment it is
    // stored and wake its successors at once, so theirs must already be there. Stored in
    // index order, a successor woken before its answer would park again and never be woken.
    for (index, (shared, value)) in blocked.into_iter().enumerate().rev() {
        let successors = [2 * index + 1, 2 * index + 2].map(|next| waiters.get(next).cloned());
        // No task waits on a blocked waiter's slot: `recv` consumed its answer half.
        let waker = shared.store(&mut shared.slot.lock(), Slot::Answered(value, successors));
        debug_assert!(waker.is_none(), "a blocked waiter has no task");
    }
    if let Some(first) = waiters.first() {
        first.wake();
    }
}

impl<T> Drop for Reply<T> {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            shared.answer_directly(Slot::Dropped);
        }
    }
}

impl<T> Answer<T> {
    /// Whether [`Answer::recv`] would return at once (answered, or the reply was dropped).
    pub fn is_ready(&self) -> bool {
        !matches!(*self.shared.slot.lock(), Slot::Waiting { .. })
    }

    /// Blocks until answered; `None` if the reply was dropped unanswered. A lone waiter spins
    /// for up to [`LONE_SPIN`] first (see the module doc).
    pub fn recv(self) -> Option<T> {
        let (_waiting, alone) = Waiting::enter();
        if alone {
            self.spin_while_alone();
        }
        let mut slot = self.shared.slot.lock();
        while let Slot::Waiting { blocked, .. } = &mut *slot {
            *blocked = true;
            self.shared.answered.wait(&mut slot);
        }
        take(&mut slot)
    }

    /// Watches the slot until it is answered, [`LONE_SPIN`] passes or another waiter arrives.
    fn spin_while_alone(&self) {
        let until = Instant::now() + LONE_SPIN;
        loop {
            for _ in 0..32 {
                if self.shared.ready.load(Ordering::Acquire) {
                    return;
                }
                std::hint::spin_loop();
            }
            if WAITERS.load(Ordering::Acquire) > 1 || Instant::now() >= until {
                return;
            }
        }
    }

    /// The answer if there is one (`Some(None)` if the reply was dropped unanswered), else
    /// leaves `cx`'s waker to be woken by the answer. After it returned ready once, it
    /// returns `Ready(None)`.
    pub fn poll_answer(&self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut slot = self.shared.slot.lock();
        if let Slot::Waiting { waker, .. } = &mut *slot {
            match waker {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                _ => *waker = Some(cx.waker().clone()),
            }
            return Poll::Pending;
        }
        Poll::Ready(take(&mut slot))
    }
}

/// Takes an answered slot's value (waking its successors in the tree), or `None` if the reply
/// was dropped or the answer already taken.
fn take<T>(slot: &mut parking_lot::MutexGuard<'_, Slot<T>>) -> Option<T> {
    match std::mem::replace(&mut **slot, Slot::Taken) {
        Slot::Answered(value, successors) => {
            parking_lot::MutexGuard::unlocked(slot, || {
                successors
                    .iter()
                    .flatten()
                    .for_each(|successor| successor.wake());
            });
            Some(value)
        }
        Slot::Waiting { .. } | Slot::Dropped | Slot::Taken => None,
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_crosses_threads_and_a_dropped_reply_wakes_the_waiter() {
        // Goal: the waiter gets the value sent, and is released (with None) when the reply is
        // dropped unanswered. Method: answer/drop from another thread after the waiter blocks.
        let (reply, answer) = reply_pair::<u32>();
        let sender = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(10));
            reply.send(7);
        });
        assert_eq!(answer.recv(), Some(7));
        sender.join().unwrap();

        let (reply, answer) = reply_pair::<u32>();
        let dropper = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(10));
            drop(reply);
        });
        assert_eq!(answer.recv(), None);
        dropper.join().unwrap();
    }

    #[test]
    fn waiters_still_arriving_when_their_group_is_answered_are_all_woken() {
        // Goal: a waiter that is not parked yet when its group is answered (it finds its
        // answer at once and wakes its successors at once) strands no successor. Method: 300
        // rounds of 7 waiters started just before their group is answered, so some are
        // answered mid-arrival; a waiter still parked after 10 s fails the test instead of
        // hanging it. With the answers stored first waiter first, this failed within 300
        // rounds (the successor woke, found nothing, and parked for ever).
        for round in 0..300_u32 {
            let (replies, waiters): (Vec<_>, Vec<_>) = (0..64_u32)
                .map(|index| {
                    let (reply, answer) = reply_pair::<u32>();
                    (reply, std::thread::spawn(move || (index, answer.recv())))
                })
                .unzip();
            // Let a varying share of them park first; the rest arrive while it answers.
            std::thread::sleep(std::time::Duration::from_micros(u64::from(round % 10) * 20));
            send_all(
                replies
                    .into_iter()
                    .enumerate()
                    .map(|(index, reply)| (reply, u32::try_from(index).unwrap()))
                    .collect(),
            );
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while !waiters.iter().all(std::thread::JoinHandle::is_finished) {
                assert!(
                    std::time::Instant::now() < deadline,
                    "round {round}: a waiter was stranded"
                );
                std::thread::sleep(std::time::Duration::from_micros(100));
            }
            for waiter in waiters {
                let (index, answer) = waiter.join().unwrap();
                assert_eq!(answer, Some(index), "round {round}");
            }
        }
    }

    #[test]
    fn a_group_answered_at_once_wakes_every_waiter_through_the_tree() {
        // Goal: `send_all` wakes every parked waiter (each woken by its parent in the tree),
        // whatever the group size. Method: park N threads, answer all, join them all.
        for count in [1_u32, 2, 3, 7, 64] {
            let (replies, waiters): (Vec<_>, Vec<_>) = (0..count)
                .map(|index| {
                    let (reply, answer) = reply_pair::<u32>();
                    (reply, std::thread::spawn(move || (index, answer.recv())))
                })
                .unzip();
            std::thread::sleep(std::time::Duration::from_millis(20));
            send_all(
                replies
                    .into_iter()
                    .enumerate()
                    .map(|(index, reply)| (reply, u32::try_from(index).unwrap() * 10))
                    .collect(),
            );
            for waiter in waiters {
                let (index, answer) = waiter.join().unwrap();
                assert_eq!(answer, Some(index * 10), "group of {count}");
            }
        }
    }

    /// A waker that counts its wakes.
    struct Counting(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Counting {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn polled_and_idle_answers_in_a_group_strand_no_blocked_waiter() {
        // Goal: a group mixing blocked waiters, polled futures and answers nobody waits on
        // (never polled, dropped) wakes every blocked waiter and every polled task. Method:
        // 200 rounds of 8 blocked threads, 4 polled answers and 4 idle ones (2 dropped before
        // the answer) in one `send_all`; a waiter still blocked after 10 s fails the test. An
        // idle answer placed in the tree would strand its successors.
        for round in 0..200_u32 {
            let counting = Arc::new(Counting(std::sync::atomic::AtomicUsize::new(0)));
            let waker = std::task::Waker::from(counting.clone());
            let mut cx = Context::from_waker(&waker);
            let mut replies = Vec::new();
            let mut blocked = Vec::new();
            let mut polled = Vec::new();
            let mut idle = Vec::new();
            for index in 0..16_u32 {
                let (reply, answer) = reply_pair::<u32>();
                replies.push((reply, index));
                match index % 4 {
                    0 | 1 => blocked.push(std::thread::spawn(move || answer.recv())),
                    2 => {
                        assert!(answer.poll_answer(&mut cx).is_pending());
                        polled.push(answer);
                    }
                    _ => idle.push(answer),
                }
            }
            idle.truncate(2);
            // Let the blocked threads park.
            std::thread::sleep(std::time::Duration::from_millis(2));
            send_all(replies);
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while !blocked.iter().all(std::thread::JoinHandle::is_finished) {
                assert!(
                    std::time::Instant::now() < deadline,
                    "round {round}: a blocked waiter was stranded"
                );
                std::thread::sleep(std::time::Duration::from_micros(100));
            }
            for waiter in blocked {
                assert!(waiter.join().unwrap().is_some(), "round {round}");
            }
            assert_eq!(
                counting.0.load(std::sync::atomic::Ordering::SeqCst),
                polled.len(),
                "round {round}: each polled task is woken once"
            );
            for answer in &polled {
                assert!(matches!(answer.poll_answer(&mut cx), Poll::Ready(Some(_))));
                assert!(matches!(answer.poll_answer(&mut cx), Poll::Ready(None)));
            }
            for answer in idle {
                assert!(
                    answer.recv().is_some(),
                    "round {round}: an idle answer is kept"
                );
            }
        }
    }
}
