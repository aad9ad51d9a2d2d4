//! The staged route: hedged copies of batches on the staging log (docs/design.md §4).
//!
//! Invariants: one staging chain in flight; each chain holds one frame of one space's batches
//! in revision order, or the group of frames of one batch of several spaces (docs/format.md,
//! "Frame groups"); a staging log file is kept while any part copied into it lacks a durable
//! hot-segment copy (`references`, one per part), and handed to the sealer for removal once it
//! is full and no longer referenced. When no staging log is available (full with no spare
//! yet, or disabled after a failure) batches of one space simply wait for their hot segment;
//! batches of several spaces, which only the staging log decides, fail when it is disabled.

use std::collections::BTreeMap;

use infinitedb_format::{FRAME_HEADER_BYTES, Revision, SegmentId, SpaceId};
use uring_io::{ChainEvent, ChainOutcome, CommitChain};

use super::{BatchState, ChainRole, Decision, IoThread, Route, Staged};
use crate::error::Result;
use crate::failure::Failure;
use crate::log_file::LogFile;
use crate::sealer::SealerJob;
use crate::stats::StatsCounters;
use crate::trace;

impl IoThread {
    /// Queues staged copies of `revisions` (those not already staged or durable).
    pub(super) fn stage(&mut self, revisions: &[Revision]) {
        if self.staging.disabled.is_some() {
            return;
        }
        for revision in revisions {
            let Some(state) = self.batches.get_mut(revision) else {
                continue;
            };
            if state.staged == Staged::None && !state.hot_durable() {
                state.staged = Staged::Queued;
                self.staging.queue.push_back(*revision);
            }
        }
    }

    /// The front queued batches that fit one staging chain: those of one space, as one frame;
    /// or, once a batch of several spaces is among them, batches of any spaces, as one frame
    /// group (one frame per space, `encode_group_chain`), so concurrent batches across spaces
    /// share one write and one flush.
    fn take_staging_revisions(&mut self) -> Vec<Revision> {
        while let Some(front) = self.staging.queue.front() {
            match self.batches.get(front) {
                // Skip copies no longer needed: the hot copy is durable and acknowledged.
                Some(state) if !state.hot_durable() || !state.decision.is_durable() => break,
                Some(_) | None => {
                    let revision = *front;
                    self.staging.queue.pop_front();
                    if let Some(state) = self.batches.get_mut(&revision) {
                        state.staged = Staged::None;
                    }
                }
            }
        }
        let Some(log) = &self.staging.log else {
            return Vec::new();
        };
        let mut frames: BTreeMap<SpaceId, usize> = BTreeMap::new();
        // The frame sizes the chain would have with the next batch (scratch, reused).
        let mut sizes: Vec<usize> = Vec::new();
        let mut grouped = false;
        let mut revisions = Vec::new();
        for revision in &self.staging.queue {
            let Some(state) = self.batches.get(revision) else {
                break;
            };
            let group = grouped || state.is_group();
            if !group
                && frames
                    .keys()
                    .any(|space| *space != state.parts[0].batch.space)
            {
                break;
            }
            let part_bytes = |space: &SpaceId| {
                state
                    .part(*space)
                    .map_or(0, |part| part.batch.encoded_bytes)
            };
            sizes.clear();
            sizes.extend(
                frames
                    .iter()
                    .map(|(space, bytes)| bytes + part_bytes(space)),
            );
            let new_frames = state
                .parts
                .iter()
                .filter(|part| !frames.contains_key(&part.batch.space));
            sizes.extend(new_frames.map(|part| FRAME_HEADER_BYTES + part.batch.encoded_bytes));
            let too_large = sizes
                .iter()
                .any(|bytes| *bytes > self.config.frame_bytes_max);
            if too_large || !log.fits_frames(&sizes) || sizes.len() > usize::from(u16::MAX) {
                break;
            }
            for part in &state.parts {
                *frames.entry(part.batch.space).or_insert(FRAME_HEADER_BYTES) +=
                    part.batch.encoded_bytes;
            }
            grouped = group;
            revisions.push(*revision);
        }
        revisions
    }

    /// Encodes the staging chain of `revisions` (see [`IoThread::take_staging_revisions`]).
    fn encode_staging_chain(
        &mut self,
        revisions: &[Revision],
    ) -> Option<(crate::log_file::ChainBuffer, u64)> {
        let log = self.staging.log.as_mut()?;
        let grouped = revisions
            .iter()
            .any(|revision| self.batches.get(revision).is_some_and(BatchState::is_group));
        let encoded = if grouped {
            super::encode_group_chain(&self.batches, revisions, log)
        } else {
            let state = self.batches.get(revisions.first()?)?;
            let space_id = state.parts[0].batch.space;
            super::encode_chain(&self.batches, revisions, log, space_id)
        };
        encoded.ok()
    }

    /// Submits the next staging chain if none is in flight. Returns whether one was.
    pub(super) fn submit_staging_chain(&mut self) -> bool {
        if self.staging.inflight.is_some()
            || self.staging.queue.is_empty()
            || self.staging.disabled.is_some()
        {
            return false;
        }
        let revisions = self.take_staging_revisions();
        if revisions.is_empty() {
            if !self.staging.queue.is_empty() {
                self.rotate_staging();
            }
            return false;
        }
        let Some((chain, end_bytes)) = self.encode_staging_chain(&revisions) else {
            return false;
        };
        let Some(log) = self.staging.log.as_mut() else {
            return false;
        };
        let segment = log.segment_id();
        let submission = CommitChain {
            file: log.file.clone(),
            offset: chain.offset,
            buf: chain.buf,
            deadline: None,
            tag: u64::MAX,
        };
        match self.queue.submit(submission) {
            Ok(id) => {
                self.staging.queue.drain(..revisions.len());
                for revision in &revisions {
                    if let Some(state) = self.batches.get_mut(revision) {
                        state.staged = Staged::InFlight;
                        for part in &mut state.parts {
                            part.staging_segment = Some(segment);
                            *self.staging.references.entry(segment).or_insert(0) += 1;
                        }
                    }
                }
                self.staging.inflight = Some(id);
                self.chains.insert(
                    id,
                    ChainRole::Staging {
                        offset: chain.offset,
                        end_bytes,
                        revisions,
                    },
                );
                true
            }
            Err(error) => {
                self.disable_staging(&format!("staging submit failed: {error}"));
                false
            }
        }
    }

    /// The staging log is full: continue on the spare if there is one, and ask for another.
    fn rotate_staging(&mut self) {
        if let Some(spare) = self.staging.spare.take() {
            if let Some(full) = self.staging.log.replace(spare) {
                self.staging.full.push(full);
            }
            self.reclaim_staging();
        }
        if !self.staging.spare_requested && self.staging.spare.is_none() {
            self.staging.spare_requested = true;
            if self.sealer.send(SealerJob::PrepareStaging).is_err() {
                self.disable_staging("the sealer thread stopped");
            }
        }
    }

    pub(super) fn on_staging_spare(&mut self, log: Result<LogFile>) {
        self.staging.spare_requested = false;
        match log {
            Ok(log) if self.staging.log.is_none() => self.staging.log = Some(log),
            Ok(log) => self.staging.spare = Some(log),
            Err(error) => {
                self.disable_staging(&format!("no staging log could be prepared: {error}"))
            }
        }
    }

    /// A batch's hot copy is durable: its staged copy is no longer needed.
    pub(super) fn staging_release(&mut self, segment: SegmentId) {
        if let Some(count) = self.staging.references.get_mut(&segment) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.staging.references.remove(&segment);
                self.reclaim_staging();
            }
        }
    }

    /// Hands full staging logs that no batch needs any more to the sealer for removal.
    fn reclaim_staging(&mut self) {
        let references = &self.staging.references;
        let (free, kept): (Vec<LogFile>, Vec<LogFile>) = self
            .staging
            .full
            .drain(..)
            .partition(|log| !references.contains_key(&log.segment_id()));
        self.staging.full = kept;
        for log in free {
            let _ = self.sealer.send(SealerJob::RemoveStaging(log));
        }
    }

    /// Disables the staged route until reopen: queued copies are dropped, and batches that
    /// were waiting only for their staged copy are settled (`settle_after_staging_failure`).
    fn disable_staging(&mut self, detail: &str) {
        self.staging.disabled = Some(detail.to_string());
        let queued: Vec<Revision> = self.staging.queue.drain(..).collect();
        trace::event!(
            warn,
            "staging disabled",
            detail = detail,
            dropped = queued.len(),
        );
        for revision in queued {
            if let Some(state) = self.batches.get_mut(&revision) {
                state.staged = Staged::Failed;
            }
        }
        self.settle_after_staging_failure();
    }

    pub(super) fn on_staging_event(&mut self, event: ChainEvent) {
        if event.outcome == ChainOutcome::DeadlineExceeded {
            return;
        }
        let Some(ChainRole::Staging {
            offset,
            end_bytes,
            revisions,
        }) = self.chains.remove(&event.id)
        else {
            return;
        };
        self.staging.inflight = None;
        match event.outcome {
            ChainOutcome::Durable => {
                StatsCounters::add(&self.stats.fsyncs, 1);
                if let (Some(log), Some(buf)) = (self.staging.log.as_mut(), event.buf) {
                    log.on_durable(offset, buf, end_bytes);
                }
                self.on_staging_durable(&revisions);
            }
            ChainOutcome::Cancelled => {
                for revision in revisions.into_iter().rev() {
                    self.unreference(revision, Staged::Queued);
                    self.staging.queue.push_front(revision);
                }
            }
            _ => {
                if let Some(log) = self.staging.log.as_mut() {
                    trace::event!(
                        warn,
                        "staging chain failed",
                        path = trace::debug(&log.path),
                        outcome = trace::debug(&event.outcome),
                        revisions = revisions.len(),
                    );
                    log.poisoned = true;
                }
                for revision in &revisions {
                    self.unreference(*revision, Staged::Failed);
                }
                self.disable_staging(&format!("staging chain ended {:?}", event.outcome));
            }
        }
    }

    /// Drops a batch's references to its staging log and sets its staged state.
    fn unreference(&mut self, revision: Revision, staged: Staged) {
        let Some(state) = self.batches.get_mut(&revision) else {
            return;
        };
        state.staged = staged;
        let segments: Vec<SegmentId> = state
            .parts
            .iter_mut()
            .filter_map(|part| part.staging_segment.take())
            .collect();
        for segment in segments {
            self.staging_release(segment);
        }
    }

    fn on_staging_durable(&mut self, revisions: &[Revision]) {
        let mut first_records = 0_u64;
        let mut spaces = Vec::new();
        for revision in revisions {
            let Some(state) = self.batches.get_mut(revision) else {
                continue;
            };
            state.staged = Staged::Durable;
            if state.decision.is_undecided() {
                state.decision = Decision::Durable(Route::Staged);
                first_records += state.records();
                self.undecided.remove(revision);
            }
            spaces.extend(state.parts.iter().map(|part| part.batch.space));
        }
        if first_records > 0 {
            StatsCounters::add(&self.stats.groups_staged, 1);
            StatsCounters::add(&self.stats.records_staged, first_records);
        }
        spaces.dedup();
        for space in spaces {
            self.publish_ready(space);
        }
        self.answer_sync_waiters();
    }

    /// After the staged route is disabled, no staged copy is coming any more. A batch whose
    /// hot copy is already durable but which was left undecided (with a zero deadline the
    /// direct route waits for the staged copy, see `on_hot_durable`) is decided by its hot
    /// copy now; otherwise its writer would wait for ever. Batches whose hot copy is still in
    /// flight or pending are decided when it ends (its chain has no deadline: `Failed` counts
    /// as staged there). Publishes whatever became decidable.
    fn settle_after_staging_failure(&mut self) {
        let mut records = 0_u64;
        let mut decided = Vec::new();
        let mut lost = Vec::new();
        for (revision, state) in &mut self.batches {
            if !state.decision.is_undecided() {
                continue;
            }
            if state.is_group() {
                lost.push(*revision);
            } else if state.hot_durable() {
                state.decision = Decision::Durable(Route::Direct);
                records += state.records();
                decided.push(*revision);
            }
        }
        if !decided.is_empty() {
            StatsCounters::add(&self.stats.groups_direct, 1);
            StatsCounters::add(&self.stats.records_direct, records);
        }
        for revision in &decided {
            self.undecided.remove(revision);
        }
        // A batch of several spaces is decided by its staged copy alone (its parts reach their
        // hot segments only after it): with none coming, it fails.
        let detail = self.staging.disabled.clone().unwrap_or_default();
        let failure = Failure::poisoned(format!(
            "the staging log, which decides a batch of several spaces, failed: {detail}"
        ));
        for revision in lost {
            self.fail_batch(revision, &failure);
        }
        // Every space with a pending batch, not only those decided here: a batch of the failed
        // chain may have become answerable (with its error) too. A rare path, so the superset
        // is cheap.
        let mut spaces: Vec<_> = self
            .batches
            .values()
            .flat_map(|state| state.parts.iter().map(|part| part.batch.space))
            .collect();
        spaces.sort_unstable_by_key(|space| space.0);
        spaces.dedup();
        for space in spaces {
            self.publish_ready(space);
        }
        for revision in decided {
            self.retire_if_done(revision);
        }
        self.answer_sync_waiters();
    }
}
