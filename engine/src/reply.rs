//! One-shot replies from the engine's threads to a caller blocked in `put`, `sync` or `flush`.
//!
//! Why not a channel: a `crossbeam_channel::bounded(1)` receiver spins and calls
//! `sched_yield` before it parks. With 64 writers waiting on their commits that spinning took
//! a quarter of the machine's CPU away from the I/O thread (perf, 2 cores). Here a waiter
//! parks at once on a condition variable, and the I/O thread pays one uncontended lock and one
//! futex wake per reply.
//!
//! Invariants: a [`Reply`] is answered at most once ([`Reply::send`] consumes it); dropping an
//! unanswered `Reply` answers `None`, so a waiter never blocks on a reply that cannot come.

use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

/// The state of a one-shot slot.
#[derive(Debug)]
enum Slot<T> {
    Waiting,
    Answered(T),
    Dropped,
    Taken,
}

#[derive(Debug)]
struct Shared<T> {
    slot: Mutex<Slot<T>>,
    answered: Condvar,
}

/// The sending half: held by the thread that will answer.
#[derive(Debug)]
pub(crate) struct Reply<T> {
    shared: Option<Arc<Shared<T>>>,
}

/// The receiving half: held by the waiting caller.
#[derive(Debug)]
pub(crate) struct Answer<T> {
    shared: Arc<Shared<T>>,
}

/// A connected reply and answer.
pub(crate) fn reply_pair<T>() -> (Reply<T>, Answer<T>) {
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
    pub(crate) fn send(mut self, value: T) {
        if let Some(shared) = self.shared.take() {
            *shared.slot.lock() = Slot::Answered(value);
            shared.answered.notify_one();
        }
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
    /// Blocks until answered; `None` if the reply was dropped unanswered.
    pub(crate) fn recv(self) -> Option<T> {
        let mut slot = self.shared.slot.lock();
        while matches!(*slot, Slot::Waiting) {
            self.shared.answered.wait(&mut slot);
        }
        match std::mem::replace(&mut *slot, Slot::Taken) {
            Slot::Answered(value) => Some(value),
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
}
