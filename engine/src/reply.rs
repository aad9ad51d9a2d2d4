//! One-shot replies from the engine's threads to a caller blocked in `put`, `sync` or `flush`.
//!
//! Why not a channel: a `crossbeam_channel::bounded(1)` receiver spins and calls
//! `sched_yield` before it parks. With 64 writers waiting on their commits that spinning took
//! a quarter of the machine's CPU away from the I/O thread (perf, 2 cores). Here a waiter
//! parks at once on a condition variable, and the I/O thread pays one uncontended lock and one
//! futex wake per reply.
//!
//! Waking a group's writers ([`send_all`]) is a tree: the I/O thread stores every answer,
//! then wakes only the first waiter; each waiter, once it has its answer, wakes the next two
//! (heap order). With 64 writers on 2 cores, one thread waking 32 writers in a row was
//! preempted by each of them in turn (36k involuntary switches in 2 s, perf); now the fan-out
//! is spread over the woken threads and the I/O thread pays one wake per group.
//!
//! Invariants: a [`Reply`] is answered at most once ([`Reply::send`] consumes it); dropping an
//! unanswered `Reply` answers `None`, so a waiter never blocks on a reply that cannot come; in
//! a tree, a waiter's answer is stored before its parent's, so no waiter is woken before its
//! answer is there (a wake-up that finds nothing would be lost: the waiter parks again).

use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

/// The state of a one-shot slot.
#[derive(Debug)]
enum Slot<T> {
    Waiting,
    /// The answer, and the waiters to wake once it is taken (at most two: a binary tree).
    Answered(T, Successors),
    Dropped,
    Taken,
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
        slot: Mutex::new(Slot::Waiting),
        answered: Condvar::new(),
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
            *shared.slot.lock() = Slot::Answered(value, [None, None]);
            shared.answered.notify_one();
        }
    }
}

/// Answers every reply, waking the waiters as a tree (see the module doc): waiter `i` wakes
/// waiters `2i + 1` and `2i + 2` once it has its answer; this thread wakes waiter 0.
pub fn send_all<T: Send + std::fmt::Debug + 'static>(answers: Vec<(Reply<T>, T)>) {
    let shareds: Vec<(Arc<Shared<T>>, T)> = answers
        .into_iter()
        .filter_map(|(mut reply, value)| reply.shared.take().map(|shared| (shared, value)))
        .collect();
    let waiters: Vec<Arc<dyn Wake>> = shareds
        .iter()
        .map(|(shared, _)| shared.clone() as Arc<dyn Wake>)
        .collect();
    // Last waiter first: a waiter that is not parked yet may take its answer the moment it is
    // stored and wake its successors at once, so theirs must already be there. Stored in
    // index order, a successor woken before its answer would park again and never be woken.
    for (index, (shared, value)) in shareds.into_iter().enumerate().rev() {
        let successors = [2 * index + 1, 2 * index + 2].map(|next| waiters.get(next).cloned());
        *shared.slot.lock() = Slot::Answered(value, successors);
    }
    if let Some(first) = waiters.first() {
        first.wake();
    }
}

impl<T> Drop for Reply<T> {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            *shared.slot.lock() = Slot::Dropped;
            shared.answered.notify_one();
        }
    }
}

impl<T> Answer<T> {
    /// Whether [`Answer::recv`] would return at once (answered, or the reply was dropped).
    pub fn is_ready(&self) -> bool {
        !matches!(*self.shared.slot.lock(), Slot::Waiting)
    }

    /// Blocks until answered; `None` if the reply was dropped unanswered.
    pub fn recv(self) -> Option<T> {
        let mut slot = self.shared.slot.lock();
        while matches!(*slot, Slot::Waiting) {
            self.shared.answered.wait(&mut slot);
        }
        let taken = std::mem::replace(&mut *slot, Slot::Taken);
        drop(slot);
        match taken {
            Slot::Answered(value, successors) => {
                successors
                    .iter()
                    .flatten()
                    .for_each(|successor| successor.wake());
                Some(value)
            }
            Slot::Waiting | Slot::Dropped | Slot::Taken => None,
        }
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
}
