//! The direct route: one chain in flight per hot segment, its events, the failure roll, and
//! the seal switch to a spare segment.

use infinitedb_format::{FRAME_HEADER_BYTES, Revision, SpaceId};
use uring_io::{ChainEvent, ChainOutcome, CommitChain, IoError};

use super::{ChainRole, Decision, IoThread, Route, Staged};
use crate::failure::Failure;
use crate::options::Durability;
use crate::sealer::{SealJob, SealerJob};
use crate::stats::StatsCounters;
use crate::trace;

impl IoThread {
    /// Submits one chain for every space that has pending batches and no chain in flight.
    /// Returns whether any chain was submitted.
    pub(super) fn submit_hot_chains(&mut self) -> bool {
        let ready: Vec<SpaceId> = self
            .spaces
            .iter()
            .filter(|(_, space)| {
                space.inflight.is_none()
                    && !space.pending.is_empty()
                    && space.broken.is_none()
                    && !space.log.poisoned
            })
            .map(|(id, _)| *id)
            .collect();
        let mut submitted = false;
        for space_id in ready {
            submitted |= self.submit_hot_chain(space_id);
        }
        submitted
    }

    /// The front pending batches of a space that fit one frame and the segment, up to the
    /// first part of an undecided batch of several spaces: that part, and every batch after
    /// it, waits for the batch's staged copy (see [`super::BatchState`]).
    fn take_frame_revisions(&mut self, space_id: SpaceId) -> Vec<Revision> {
        let Some(space) = self.spaces.get_mut(&space_id) else {
            return Vec::new();
        };
        let mut frame_bytes = FRAME_HEADER_BYTES;
        let mut revisions = Vec::new();
        for &revision in &space.pending {
            // The revisions taken must be a prefix of `pending` (the caller drains that many).
            let Some(state) = self.batches.get(&revision) else {
                break;
            };
            if state.is_group() && state.decision.is_undecided() {
                return revisions;
            }
            debug_assert!(
                !state.is_group() || matches!(state.decision, Decision::Durable(Route::Staged)),
                "a group is decided by its staged copy"
            );
            let Some(part) = state.part(space_id) else {
                break;
            };
            let next = frame_bytes + part.batch.encoded_bytes;
            if next > self.config.frame_bytes_max || !space.log.fits(next) {
                break;
            }
            frame_bytes = next;
            revisions.push(revision);
        }
        if revisions.is_empty() {
            // The first batch does not fit what is left of the segment: switch to the spare.
            space.switch_wanted = true;
        }
        revisions
    }

    fn submit_hot_chain(&mut self, space_id: SpaceId) -> bool {
        let revisions = self.take_frame_revisions(space_id);
        if revisions.is_empty() {
            return false;
        }
        let Some(space) = self.spaces.get_mut(&space_id) else {
            return false;
        };
        let (chain, end_bytes) =
            match super::encode_chain(&self.batches, &revisions, &mut space.log, space_id) {
                Ok(encoded) => encoded,
                Err(error) => {
                    self.on_hot_failed(space_id, revisions, Failure::from_error(error));
                    return true;
                }
            };
        // A chain whose batches all have a staged copy needs no deadline: hedging it again
        // would only cancel it again (with a zero deadline, for ever). Under a `NoSync`
        // default only a `Sync` write makes a chain worth hedging: the others are answered
        // before their group reaches the disk, so hedging would write each late group twice.
        let hedge_all = self.config.durability == Durability::Sync;
        let worth_hedging = revisions.iter().any(|revision| {
            self.batches.get(revision).is_some_and(|state| {
                state.staged == Staged::None && (hedge_all || state.durability == Durability::Sync)
            })
        });
        let deadline = if worth_hedging {
            self.config.deadline
        } else {
            None
        };
        let submission = CommitChain {
            file: space.log.file.clone(),
            offset: chain.offset,
            buf: chain.buf,
            deadline,
            tag: u64::from(space_id.0),
        };
        match self.queue.submit(submission) {
            Ok(id) => {
                space.pending.drain(..revisions.len());
                space.inflight = Some(id);
                // Published batches are skipped there: their records are in already.
                self.submitted_uninserted
                    .extend(revisions.iter().map(|revision| (*revision, space_id)));
                self.chains.insert(
                    id,
                    ChainRole::Hot {
                        space: space_id,
                        offset: chain.offset,
                        end_bytes,
                        revisions,
                    },
                );
            }
            Err(error) => {
                space.pending.drain(..revisions.len());
                self.on_hot_failed(space_id, revisions, Failure::io(error));
            }
        }
        true
    }

    pub(super) fn on_hot_event(&mut self, event: ChainEvent) {
        if event.outcome == ChainOutcome::DeadlineExceeded {
            StatsCounters::add(&self.stats.deadline_misses, 1);
            let Some(ChainRole::Hot {
                space, revisions, ..
            }) = self.chains.get(&event.id)
            else {
                return;
            };
            let space_id = *space;
            let mut hedged = revisions.clone();
            if let Some(space) = self.spaces.get_mut(&space_id) {
                space.stalled = true;
                hedged.extend(space.pending.iter().copied());
                trace::event!(
                    info,
                    "hedge",
                    space = trace::display(&space.shared.name),
                    revisions = hedged.len(),
                );
            }
            self.stage(&hedged);
            return;
        }
        let Some(ChainRole::Hot {
            space,
            offset,
            end_bytes,
            revisions,
        }) = self.chains.remove(&event.id)
        else {
            return;
        };
        // The segment the chain wrote: a switch waits for the space's chain in flight.
        let path = match self.spaces.get_mut(&space) {
            Some(log) => {
                log.inflight = None;
                log.stalled = false;
                log.log.path.clone()
            }
            None => std::path::PathBuf::new(),
        };
        match event.outcome {
            ChainOutcome::Durable => {
                self.on_hot_durable(space, offset, end_bytes, revisions, event.buf)
            }
            ChainOutcome::Cancelled => {
                // The region past the durable end is unknown; the next chain rewrites it.
                for revision in &revisions {
                    self.withdraw_undecided(*revision);
                }
                if let Some(log) = self.spaces.get_mut(&space) {
                    for revision in revisions.into_iter().rev() {
                        log.pending.push_front(revision);
                    }
                }
            }
            ChainOutcome::Failed { step, errno } => {
                let failure = Failure::io(IoError::from_errno(step, path, errno));
                self.on_hot_failed(space, revisions, failure);
            }
            ChainOutcome::DeadlineExceeded => {}
            other => {
                let failure = Failure::io(IoError::Os {
                    operation: "commit chain",
                    path,
                    source: std::io::Error::other(format!("unknown chain outcome {other:?}")),
                });
                self.on_hot_failed(space, revisions, failure);
            }
        }
    }

    fn on_hot_durable(
        &mut self,
        space_id: SpaceId,
        offset: u64,
        end_bytes: u64,
        revisions: Vec<Revision>,
        buf: Option<uring_io::AlignedBuf>,
    ) {
        StatsCounters::add(&self.stats.fsyncs, 1);
        if let (Some(space), Some(buf)) = (self.spaces.get_mut(&space_id), buf) {
            space.log.on_durable(offset, buf, end_bytes);
        }
        if let (Some(space), Some(&last)) = (self.spaces.get(&space_id), revisions.last()) {
            space.shared.mark_logged(last);
        }
        let mut first_records = 0_u64;
        let zero_deadline = self.config.deadline == Some(std::time::Duration::ZERO);
        for revision in &revisions {
            let Some(state) = self.batches.get_mut(revision) else {
                continue;
            };
            // With a zero deadline the direct route never acknowledges a batch whose staged
            // copy is coming: every group goes the staged route.
            let staged_wins =
                zero_deadline && matches!(state.staged, Staged::Queued | Staged::InFlight);
            let decides = state.decision.is_undecided() && !staged_wins;
            if decides {
                debug_assert!(!state.is_group(), "a group is decided by its staged copy");
                state.decision = Decision::Durable(Route::Direct);
            }
            let Some(part) = state.part_mut(space_id) else {
                continue;
            };
            part.hot_durable = true;
            let staging_segment = part.staging_segment.take();
            if decides {
                first_records += part.batch.records.len() as u64;
                self.undecided.remove(revision);
            }
            if let Some(segment) = staging_segment {
                self.staging_release(segment);
            }
        }
        if first_records > 0 {
            StatsCounters::add(&self.stats.groups_direct, 1);
            StatsCounters::add(&self.stats.records_direct, first_records);
        }
        // Published at the end of the turn's events, once the next group is on its way
        // (`IoThread::step`).
        self.durable_chains.push((space_id, revisions));
    }

    /// Publishes the spaces whose hot chains became durable this turn, retires what is done
    /// and answers the `sync` callers whose barriers passed.
    pub(super) fn publish_durable_chains(&mut self) {
        let mut durable = std::mem::take(&mut self.durable_chains);
        for (space_id, revisions) in durable.drain(..) {
            self.publish_ready(space_id);
            for revision in &revisions {
                self.retire_if_done(*revision);
            }
        }
        // The buffer is kept: no allocation per commit.
        self.durable_chains = durable;
        self.answer_sync_waiters();
    }

    /// A hot chain failed (or could not be submitted): the segment is poisoned and the space
    /// rolls to its spare. Batches with a staged copy (queued, in flight or durable) and
    /// `NoSync` batches already acknowledged go on to the new segment; the others fail.
    ///
    /// The failure is also kept for the `sync` calls covering the acknowledged `NoSync`
    /// batches (their first copy's outcome is unknown).
    pub(super) fn on_hot_failed(
        &mut self,
        space_id: SpaceId,
        revisions: Vec<Revision>,
        failure: Failure,
    ) {
        StatsCounters::add(&self.stats.chain_failures, 1);
        let acknowledged = |state: &super::BatchState| {
            state.durability == Durability::NoSync && state.published() && !state.is_group()
        };
        let first_acknowledged = revisions
            .iter()
            .filter(|revision| self.batches.get(revision).is_some_and(acknowledged))
            .min();
        if let Some(&first) = first_acknowledged {
            self.record_sync_failure(first, space_id, &failure);
        }
        let mut requeue = Vec::new();
        for revision in revisions {
            self.withdraw_undecided(revision);
            let keep = self.batches.get(&revision).is_some_and(|state| {
                acknowledged(state)
                    || matches!(
                        state.staged,
                        Staged::Queued | Staged::InFlight | Staged::Durable
                    )
            });
            if keep {
                requeue.push(revision);
            } else {
                self.fail_batch(revision, &failure);
            }
        }
        if let Some(space) = self.spaces.get_mut(&space_id) {
            trace::event!(
                warn,
                "segment poisoned",
                space = trace::display(&space.shared.name),
                path = trace::debug(&space.log.path),
                errno = failure.errno(),
                error = trace::debug(&failure),
                requeued = requeue.len(),
            );
            space.log.poisoned = true;
            space.switch_wanted = true;
            for revision in requeue.into_iter().rev() {
                space.pending.push_front(revision);
            }
        }
        self.publish_ready(space_id);
        self.answer_sync_waiters();
    }

    /// Switches every space that wants it (seal threshold, flush, full or poisoned segment)
    /// and can: no chain in flight, a spare ready.
    pub(super) fn switch_where_wanted(&mut self) {
        let (bytes_max, records_max) = (
            self.config.seal_threshold_bytes,
            self.config.seal_threshold_records,
        );
        let ready: Vec<SpaceId> = self
            .spaces
            .iter_mut()
            .filter_map(|(id, space)| {
                let active = space.shared.active();
                let over = !active.is_empty()
                    && (active.encoded_bytes() >= bytes_max || active.len() as u64 >= records_max);
                space.switch_wanted |= over || space.log.poisoned;
                let can = space.switch_wanted
                    && space.inflight.is_none()
                    && space.spare.is_some()
                    && space.broken.is_none();
                can.then_some(*id)
            })
            .collect();
        for space_id in ready {
            self.switch_segment(space_id);
        }
    }

    /// Seal step 1 (docs/design.md §6): freeze the memtable, move the space to its spare segment,
    /// and hand the frozen memtable and the old segment to the sealer.
    fn switch_segment(&mut self, space_id: SpaceId) {
        let Some(space) = self.spaces.get_mut(&space_id) else {
            return;
        };
        let Some(spare) = space.spare.take() else {
            return;
        };
        debug_assert!(
            space.inflight.is_none(),
            "a switch waits for the segment's chain"
        );
        let old = std::mem::replace(&mut space.log, spare);
        if old.poisoned {
            StatsCounters::add(&self.stats.segments_rolled, 1);
            trace::event!(
                info,
                "segment rolled",
                space = trace::display(&space.shared.name),
                from = trace::debug(&old.path),
                to = trace::debug(&space.log.path),
            );
        }
        let memtable = space.shared.freeze_active();
        let job = SealJob {
            space: space.shared.clone(),
            memtable,
            log: old,
            flush_waiters: std::mem::take(&mut space.flush_waiters),
            error: None,
            wait_logged: std::mem::take(&mut space.published_unlogged),
        };
        space.switch_wanted = false;
        if let Err(error) = self.sealer.send(SealerJob::Seal(job)) {
            let detail = "the sealer thread stopped".to_string();
            if let SealerJob::Seal(job) = error.0 {
                for waiter in job.flush_waiters {
                    waiter.send(Err(crate::error::Error::Poisoned {
                        detail: detail.clone(),
                    }));
                }
            }
            self.break_space(space_id, &detail);
        }
    }
}
