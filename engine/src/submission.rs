//! [`Submission`]: a write that waits for room as a task instead of blocking a thread, the
//! future [`crate::Db::submit_async`] returns.
//!
//! States, in order: `Waiting` (validated; waits for each of its spaces' backlog, then for
//! its bytes in the queue's gate, leaving its waker with whichever it waits for), `Queued`
//! (sequenced and in the engine's hands: the [`Pending`] handle of its answer), `Done`. The
//! write is sequenced during the poll that finds room, never before the first poll.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use infinitedb_format::Revision;

use crate::batch::KeyedBatch;
use crate::db::{Db, gate_bytes_of};
use crate::error::{Error, Result};
use crate::options::Durability;
use crate::pending::Pending;
use crate::space::SpaceShared;

/// A write on its way in without a thread blocked for room ([`Db::submit_async`]): `.await`
/// it, or [`Submission::wait`] for it. It resolves to the write's revision once it is
/// durable (under `Sync`) and visible, as [`Db::write`] returns.
#[must_use = "a submission writes nothing until it is polled"]
pub struct Submission<'db> {
    db: &'db Db,
    state: State,
}

/// Where a submission is.
enum State {
    /// Validated, waiting for room: the parts, their spaces, the durability, and whether a
    /// backlog wait was counted.
    Waiting {
        parts: Vec<KeyedBatch>,
        spaces: Vec<Arc<SpaceShared>>,
        durability: Durability,
        stalled: bool,
    },
    /// Sequenced: the answer to come.
    Queued(Pending<Revision>),
    /// Answered (a poll after this is a caller bug, answered with `Error::Closed`).
    Done,
}

impl std::fmt::Debug for Submission<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Waiting { .. } => "waiting for room",
            State::Queued(_) => "queued",
            State::Done => "done",
        };
        f.debug_struct("Submission").field("state", &state).finish()
    }
}

impl<'db> Submission<'db> {
    pub(crate) fn new(
        db: &'db Db,
        parts: Vec<KeyedBatch>,
        spaces: Vec<Arc<SpaceShared>>,
        durability: Durability,
    ) -> Self {
        Submission {
            db,
            state: State::Waiting {
                parts,
                spaces,
                durability,
                stalled: false,
            },
        }
    }

    /// Blocks the calling thread until the write is answered (waiting for room first, as
    /// [`Db::write`] would).
    ///
    /// # Errors
    /// As [`Db::write`].
    pub fn wait(self) -> Result<Revision> {
        match self.state {
            State::Waiting {
                parts,
                spaces: _,
                durability,
                stalled: _,
            } => {
                let gate_bytes = gate_bytes_of(&parts);
                self.db.wait_for_room(&parts, gate_bytes)?;
                let answer = self.db.send_write(parts, durability, gate_bytes)?;
                Pending::new(answer).wait()
            }
            State::Queued(pending) => pending.wait(),
            State::Done => Err(Error::Closed),
        }
    }

    /// Waits for room as a task and, once there is, queues the write.
    fn poll_queue(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let State::Waiting {
            parts,
            spaces,
            durability,
            stalled,
        } = &mut self.state
        else {
            return Poll::Ready(Ok(()));
        };
        for space in spaces.iter() {
            if self.db.poll_backlog(space, cx).is_pending() {
                if !*stalled {
                    *stalled = true;
                    self.db.count_stall();
                }
                return Poll::Pending;
            }
        }
        let gate_bytes = gate_bytes_of(parts);
        ready!(self.db.gate().poll_acquire(gate_bytes, cx));
        let parts = std::mem::take(parts);
        let durability = *durability;
        match self.db.send_write(parts, durability, gate_bytes) {
            Ok(answer) => {
                self.state = State::Queued(Pending::new(answer));
                Poll::Ready(Ok(()))
            }
            Err(error) => {
                self.state = State::Done;
                Poll::Ready(Err(error))
            }
        }
    }
}

impl Future for Submission<'_> {
    type Output = Result<Revision>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Revision>> {
        let this = self.get_mut();
        if let Err(error) = ready!(this.poll_queue(cx)) {
            return Poll::Ready(Err(error));
        }
        let State::Queued(pending) = &mut this.state else {
            return Poll::Ready(Err(Error::Closed));
        };
        let answer = ready!(Pin::new(pending).poll(cx));
        this.state = State::Done;
        Poll::Ready(answer)
    }
}
