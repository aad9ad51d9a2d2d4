//! Sync barriers: the `sync` and `wait_durable` callers waiting for the batches before them to
//! be decided, and the failures of already acknowledged `NoSync` writes they must report.
//!
//! Owns: the waiting callers, the kept failures and the ticket counter. The I/O state machine
//! tells it when a caller arrives ([`SyncBarriers::arrive`]), when an acknowledged write
//! fails ([`SyncBarriers::record_failure`]) and, after any decision, the oldest undecided
//! revision ([`SyncBarriers::answer`]).
//!
//! A caller gets a barrier (the last revision sequenced when it arrives, or the revision
//! `wait_durable` names) and a ticket (its arrival order), and is answered once every batch
//! at or below its barrier is decided. A failed `NoSync` write acknowledged already is kept
//! as a [`SyncFailure`] at its revision. A caller fails with it if its barrier covers the
//! revision and it arrived before the first caller that reported it was answered: every
//! `sync` called before that answer learns of it, however many wait at once; one called after
//! it does not report it again.
//!
//! Invariants: kept failures are few. An unreported failure at a lower revision makes one at
//! a higher revision redundant (every barrier covering the higher covers the lower), so only
//! the lowest unreported one is kept; a reported one is dropped once no waiting caller
//! arrived before its report.

use infinitedb_format::Revision;

use crate::error::Error;
use crate::failure::Failure;
use crate::queue::Reply;

/// A caller blocked in `sync`: answered once every batch at or below `barrier` is decided.
#[derive(Debug)]
struct SyncWaiter {
    /// The last revision sequenced when the `sync` arrived.
    barrier: Revision,
    /// The order in which the `sync` calls arrived.
    ticket: u64,
    reply: Reply<()>,
}

/// A failed write under `Durability::NoSync` (already acknowledged), kept for the `sync`
/// calls that must report it.
#[derive(Debug)]
pub(crate) struct SyncFailure {
    /// The failed write's revision (the lowest of its chain).
    revision: Revision,
    /// The name of its space.
    space: String,
    failure: Failure,
    /// Once a `sync` has reported it: the first ticket that does not report it again.
    reported_before: Option<u64>,
}

/// The callers waiting at barriers, and the failures they must report (see the module doc).
#[derive(Debug, Default)]
pub(crate) struct SyncBarriers {
    waiters: Vec<SyncWaiter>,
    failures: Vec<SyncFailure>,
    /// The ticket of the next caller to arrive.
    tickets: u64,
}

impl SyncBarriers {
    /// A caller waits for every batch at or below `barrier`.
    pub(crate) fn arrive(&mut self, barrier: Revision, reply: Reply<()>) {
        let ticket = self.tickets;
        self.tickets += 1;
        self.waiters.push(SyncWaiter {
            barrier,
            ticket,
            reply,
        });
    }

    /// Keeps the failure of an acknowledged write at `revision` of the space `space`, unless
    /// an unreported failure at or below it already covers every barrier it would.
    pub(crate) fn record_failure(&mut self, revision: Revision, space: String, failure: &Failure) {
        let covered = self
            .failures
            .iter()
            .any(|kept| kept.reported_before.is_none() && kept.revision <= revision);
        if covered {
            return;
        }
        self.failures
            .retain(|kept| kept.reported_before.is_some() || kept.revision < revision);
        self.failures.push(SyncFailure {
            revision,
            space,
            failure: failure.clone(),
            reported_before: None,
        });
    }

    /// Answers every caller whose barrier is below `oldest_undecided`: with the failure of
    /// the lowest failed write its barrier covers that it must report, if any.
    pub(crate) fn answer(&mut self, oldest_undecided: Option<Revision>) {
        let oldest = oldest_undecided.unwrap_or(Revision(u64::MAX));
        let mut index = 0;
        let mut answered = false;
        while index < self.waiters.len() {
            if self.waiters[index].barrier >= oldest {
                index += 1;
                continue;
            }
            let waiter = self.waiters.swap_remove(index);
            answered = true;
            let mut lowest: Option<(Revision, Error)> = None;
            let covered = self.failures.iter_mut().filter(|kept| {
                kept.revision <= waiter.barrier
                    && kept
                        .reported_before
                        .is_none_or(|before| waiter.ticket < before)
            });
            for kept in covered {
                // Every caller that arrived so far still reports it; later ones do not.
                kept.reported_before.get_or_insert(self.tickets);
                if lowest
                    .as_ref()
                    .is_none_or(|(revision, _)| kept.revision < *revision)
                {
                    lowest = Some((kept.revision, kept.failure.to_error(&kept.space)));
                }
            }
            waiter.reply.send(match lowest {
                Some((_, error)) => Err(error),
                None => Ok(()),
            });
        }
        if answered {
            let first_waiting = self.waiters.iter().map(|waiter| waiter.ticket).min();
            self.failures.retain(|kept| match kept.reported_before {
                None => true,
                Some(before) => first_waiting.is_some_and(|first| first < before),
            });
        }
    }

    /// Answers every waiting caller with `Error::Closed` (the I/O thread stops).
    pub(crate) fn close(&mut self) {
        for waiter in self.waiters.drain(..) {
            waiter.reply.send(Err(Error::Closed));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::{Answer, reply_pair};

    type SyncAnswer = Answer<crate::error::Result<()>>;

    fn arrive(barriers: &mut SyncBarriers, barrier: u64) -> SyncAnswer {
        let (reply, answer) = reply_pair();
        barriers.arrive(Revision(barrier), reply);
        answer
    }

    /// An answered caller's result: `Some(true)` if it reported a failure, `None` if it is
    /// still waiting.
    fn reported(answer: SyncAnswer) -> Option<bool> {
        if !answer.is_ready() {
            return None;
        }
        answer.recv().map(|result| result.is_err())
    }

    #[test]
    fn a_caller_is_answered_only_once_its_barrier_is_below_the_oldest_undecided() {
        // Goal: a barrier at or above the oldest undecided revision keeps its caller waiting.
        // Method: callers at barriers 5 and 9; answer with oldest undecided 6, then 10.
        let mut barriers = SyncBarriers::default();
        let early = arrive(&mut barriers, 5);
        let late = arrive(&mut barriers, 9);
        barriers.answer(Some(Revision(6)));
        assert_eq!(reported(early), Some(false));
        assert!(!late.is_ready(), "barrier 9 answered while 6 is undecided");
        barriers.answer(Some(Revision(9)));
        assert!(!late.is_ready(), "barrier 9 answered while 9 is undecided");
        barriers.answer(None);
        assert_eq!(reported(late), Some(false));
    }

    #[test]
    fn a_failure_reaches_every_caller_before_its_first_report_and_no_later_one() {
        // Goal: every caller that arrived before the first report of a failure reports it,
        // and a caller arriving after that report does not. Method: a failure at 3; callers A
        // (barrier 4) and B (barrier 8) arrive; A is answered (first report), then C arrives
        // (barrier 8); B and C are answered together.
        let mut barriers = SyncBarriers::default();
        barriers.record_failure(Revision(3), "space".to_string(), &Failure::poisoned("eio"));
        let a = arrive(&mut barriers, 4);
        let b = arrive(&mut barriers, 8);
        barriers.answer(Some(Revision(5)));
        assert_eq!(reported(a), Some(true));
        let c = arrive(&mut barriers, 8);
        barriers.answer(None);
        assert_eq!(reported(b), Some(true), "B arrived before the first report");
        assert_eq!(reported(c), Some(false), "C arrived after it");
        assert!(
            barriers.failures.is_empty(),
            "a fully reported failure is dropped"
        );
    }

    #[test]
    fn a_failure_above_an_unreported_one_is_not_kept_and_a_barrier_below_it_ignores_it() {
        // Goal: only the lowest unreported failure is kept, and a caller whose barrier is below
        // a failure does not report it. Method: failures at 6 then 9 (9 is redundant); a caller
        // at barrier 5 succeeds, one at barrier 7 fails.
        let mut barriers = SyncBarriers::default();
        barriers.record_failure(Revision(6), "space".to_string(), &Failure::poisoned("eio"));
        barriers.record_failure(Revision(9), "space".to_string(), &Failure::poisoned("eio"));
        assert_eq!(barriers.failures.len(), 1);
        let below = arrive(&mut barriers, 5);
        let above = arrive(&mut barriers, 7);
        barriers.answer(None);
        assert_eq!(reported(below), Some(false));
        assert_eq!(reported(above), Some(true));
    }

    #[test]
    fn closing_answers_every_waiting_caller() {
        // Goal: no caller waits for ever once the I/O thread stops. Method: two callers whose
        // barriers are never decided; close; both are answered with `Closed`.
        let mut barriers = SyncBarriers::default();
        let answers = [arrive(&mut barriers, 3), arrive(&mut barriers, 4)];
        barriers.close();
        for answer in answers {
            assert!(matches!(answer.recv(), Some(Err(Error::Closed))));
        }
    }
}
