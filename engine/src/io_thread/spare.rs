//! Spare hot segments: the I/O thread switches a space to its spare at a seal, and the
//! sealer hands back the next one (the recycled old segment, or a new pre-written file).
//!
//! When no spare can be made (ENOSPC while pre-writing a new segment, EIO) the space is not
//! given up: it keeps writing into its active segment while that has room, a new spare is
//! asked for again after [`SPARE_RETRY_WAIT`] (at once when someone calls `flush`), and only
//! writes that need a new segment meanwhile fail, with `Error::WriteFailed`. Pending `flush`
//! calls get the error of the attempt they waited for. Once a spare arrives, the space
//! switches and seals as usual: writes resume without a reopen (issue 7, "after space is
//! freed writes resume").

use std::time::{Duration, Instant};

use infinitedb_format::{FRAME_HEADER_BYTES, SpaceId};

use super::{IoThread, Staged};
use crate::error::Result;
use crate::failure::Failure;
use crate::log_file::LogFile;
use crate::sealer::SealerJob;
use crate::trace;

/// How long after a failed spare the next attempt is made (unless a `flush` asks sooner).
const SPARE_RETRY_WAIT: Duration = Duration::from_millis(500);

/// A failed attempt to make a spare.
#[derive(Debug)]
pub(crate) struct SpareFailure {
    failure: Failure,
    retry_at: Instant,
    requested: bool,
}

impl SpareFailure {
    /// Makes the next attempt due now.
    pub(crate) fn retry_now(&mut self) {
        self.retry_at = Instant::now();
    }
}

impl IoThread {
    /// The sealer's answer to a seal or a spare request.
    pub(super) fn on_spare(&mut self, space_id: SpaceId, log: Result<LogFile>) {
        let Some(space) = self.spaces.get_mut(&space_id) else {
            return;
        };
        match log {
            Ok(log) => {
                space.spare_failure = None;
                if space.spare.is_some() {
                    // A seal held back by a failure completed late, after a fresh spare
                    // was made for it: one spare is enough.
                    let _ = self.sealer.send(SealerJob::RemoveSpare(log));
                } else {
                    space.spare = Some(log);
                }
            }
            Err(error) => {
                let failure = Failure::from_error(error);
                trace::event!(
                    warn,
                    "spare failed",
                    space = trace::display(&space.shared.name),
                    errno = failure.errno(),
                    error = trace::debug(&failure),
                );
                for waiter in space.flush_waiters.drain(..) {
                    waiter.send(Err(failure.to_error(&space.shared.name)));
                }
                space.spare_failure = Some(SpareFailure {
                    failure,
                    retry_at: Instant::now() + SPARE_RETRY_WAIT,
                    requested: false,
                });
                self.fail_unplaceable(space_id);
            }
        }
    }

    /// For every space whose last spare failed: asks the sealer again once the retry is due,
    /// and fails the writes that cannot be placed meanwhile. Costs one scan of the spaces
    /// when no spare failed.
    pub(super) fn handle_missing_spares(&mut self) {
        let without_spare: Vec<SpaceId> = self
            .spaces
            .iter()
            .filter(|(_, space)| space.spare_failure.is_some())
            .map(|(id, _)| *id)
            .collect();
        if without_spare.is_empty() {
            return;
        }
        self.retry_spares(&without_spare);
        for space_id in without_spare {
            self.fail_unplaceable(space_id);
        }
    }

    /// When the earliest spare retry not yet asked for is due (the idle I/O thread sleeps
    /// until then at most).
    pub(super) fn next_spare_retry(&self) -> Option<Instant> {
        self.spaces
            .values()
            .filter(|space| space.broken.is_none())
            .filter_map(|space| space.spare_failure.as_ref())
            .filter(|failure| !failure.requested)
            .map(|failure| failure.retry_at)
            .min()
    }

    /// Asks the sealer for a new spare for each of `spaces` whose retry is due.
    fn retry_spares(&mut self, spaces: &[SpaceId]) {
        let now = Instant::now();
        let due: Vec<SpaceId> = spaces
            .iter()
            .filter_map(|id| {
                let space = self.spaces.get_mut(id)?;
                let failure = space.spare_failure.as_mut()?;
                let due = !failure.requested && failure.retry_at <= now && space.broken.is_none();
                failure.requested |= due;
                due.then_some(*id)
            })
            .collect();
        for space_id in due {
            let Some(space) = self.spaces.get(&space_id) else {
                continue;
            };
            let job = SealerJob::PrepareSegment(space.shared.clone());
            if self.sealer.send(job).is_err() {
                self.break_space(space_id, "the sealer thread stopped");
            }
        }
    }

    /// Without a spare after a failure, fails the pending writes at the front that do not fit
    /// what is left of the active segment (they would wait for a segment that may never
    /// come). Writes with a staged copy stay: that copy is theirs.
    pub(super) fn fail_unplaceable(&mut self, space_id: SpaceId) {
        let Some(space) = self.spaces.get(&space_id) else {
            return;
        };
        let Some(failure) = &space.spare_failure else {
            return;
        };
        if space.spare.is_some() || space.inflight.is_some() {
            return;
        }
        let mut failing = Vec::new();
        for &revision in &space.pending {
            let Some(state) = self.batches.get(&revision) else {
                continue;
            };
            let part_bytes = state
                .part(space_id)
                .map_or(0, |part| part.batch.encoded_bytes);
            let fits = space.log.fits(FRAME_HEADER_BYTES + part_bytes) && !space.log.poisoned;
            if fits || state.staged != Staged::None {
                break;
            }
            failing.push(revision);
        }
        if failing.is_empty() {
            return;
        }
        let failure = failure.failure.clone();
        if let Some(space) = self.spaces.get_mut(&space_id) {
            space.pending.drain(..failing.len());
        }
        for revision in failing {
            self.fail_batch(revision, &failure);
        }
        self.publish_ready(space_id);
        self.answer_sync_waiters();
    }
}
