//! Acknowledgement and publication: a space's batches are published to its active memtable and
//! acknowledged strictly in revision order (docs/design.md §3 "acknowledgements are in revision
//! order per space"): a `Sync` batch once one copy of it is durable, a `NoSync` batch once
//! every batch before it is published (at once, unless a `Sync` batch of its space is still on
//! its way); a failed batch gets its error in the same order. Also batch retirement, and
//! telling the sync barriers (`sync_barriers.rs`) what is decided.
//!
//! Inserting ahead of the decision: an unpublished batch's records go into the memtable
//! while its hot chain is in flight ([`IoThread::insert_submitted`], run after the submit and
//! before the wait), so the skiplist inserts (cache misses: ~1-3 µs per record) overlap the
//! device's write and flush instead of sitting between the completion and the writer's
//! wake-up. Publication then only raises the space's published mark. This is safe because
//! every read is clamped to the published mark (latest reads) or the visible mark (snapshots),
//! both below an undecided revision; and a batch that leaves its chain undecided (cancelled by
//! the queue at its deadline, or the chain failed) has its records removed at once
//! ([`IoThread::withdraw_undecided`]), before anything above it can be published. So a
//! space's memtable holds undecided records only while their hot chain is in flight, and a
//! seal, which switches a space only with no chain in flight, never freezes one.

use std::sync::atomic::Ordering;

use infinitedb_format::{Revision, SpaceId};

use super::{BatchState, Decision, IoThread, Part, SpaceLog};
use crate::failure::Failure;
use crate::memtable::Memtable;
use crate::options::Durability;

/// Inserts a part's records into `memtable` at `revision`.
fn insert_records(memtable: &Memtable, part: &Part, revision: Revision) {
    for record in &part.batch.records {
        memtable.insert_unique(record.key, revision, record.value.clone());
    }
}

/// Publishes the part of `space` of a batch at `revision`: its records go into the space's
/// active memtable unless they were inserted ahead of the decision, then the published mark
/// rises over it.
pub(super) fn publish_records(space: &mut SpaceLog, state: &mut BatchState, revision: Revision) {
    let no_sync = state.durability == Durability::NoSync && !state.is_group();
    let Some(part) = state.part_mut(space.shared.id) else {
        debug_assert!(false, "a space publishes only its own parts");
        return;
    };
    if part.inserted_into.is_none() {
        let memtable = space.shared.active();
        insert_records(&memtable, part, revision);
        part.inserted_into = Some(memtable);
    }
    space.shared.mark_published(revision);
    part.published = true;
    space.published_unlogged |= no_sync && !part.hot_durable;
}

impl IoThread {
    /// Publishes and acknowledges the space's batches from the front while each is decided.
    /// A batch of several spaces is acknowledged, and becomes visible to snapshots, once its
    /// last part is published.
    pub(super) fn publish_ready(&mut self, space_id: SpaceId) {
        let Some(space) = self.spaces.get_mut(&space_id) else {
            return;
        };
        while let Some(&revision) = space.unpublished.front() {
            let last = Revision(self.revision_last.load(Ordering::Acquire));
            let Some(state) = self.batches.get_mut(&revision) else {
                space.unpublished.pop_front();
                self.visible.decided(revision, last);
                continue;
            };
            if let Decision::Failed(failure) = &state.decision {
                self.visible.decided(revision, last);
                if let Some(reply) = state.reply.take() {
                    self.acknowledgements
                        .push((reply, Err(failure.to_error(&space.shared.name))));
                }
            } else if state.publishable() {
                publish_records(space, state, revision);
                if state.published() {
                    // Decided before the acknowledgement: a snapshot taken after it includes it.
                    self.visible.decided(revision, last);
                    if let Some(reply) = state.reply.take() {
                        self.acknowledgements.push((reply, Ok(revision)));
                    }
                }
            } else {
                break;
            }
            space.unpublished.pop_front();
            let done = state.decision.is_failed() || (state.hot_durable() && state.published());
            if done && let Some(state) = self.batches.remove(&revision) {
                self.gate.release(state.gate_bytes);
            }
        }
    }

    /// Wakes the writers of published batches (as a tree, `reply::send_all`). Deferred from
    /// `publish_ready` so that the next group's chain is submitted first: the device flushes
    /// it while the writers wake.
    pub(super) fn send_acknowledgements(&mut self) {
        crate::reply::send_all(std::mem::take(&mut self.acknowledgements));
    }

    /// Inserts the records of the unpublished batches just submitted in hot chains (see the
    /// module doc). Called after the submit, before the wait for the device, and after the
    /// acknowledgements of the previous group are sent, so the inserts delay neither.
    pub(super) fn insert_submitted(&mut self) {
        if self.submitted_uninserted.is_empty() {
            return;
        }
        let mut submitted = std::mem::take(&mut self.submitted_uninserted);
        for (revision, space_id) in submitted.drain(..) {
            let Some(state) = self.batches.get_mut(&revision) else {
                continue;
            };
            if state.decision.is_failed() {
                continue;
            }
            let (Some(part), Some(space)) = (state.part_mut(space_id), self.spaces.get(&space_id))
            else {
                continue;
            };
            if part.inserted_into.is_some() {
                continue;
            }
            let memtable = space.shared.active();
            insert_records(&memtable, part, revision);
            part.inserted_into = Some(memtable);
        }
        // The buffer is kept: no allocation per commit.
        self.submitted_uninserted = submitted;
    }

    /// A batch left its hot chain undecided (the chain was cancelled or failed): removes the
    /// records inserted ahead of the decision, so a seal never freezes them and a failed batch
    /// never shows. A part already published (through its staged copy) keeps them.
    pub(super) fn withdraw_undecided(&mut self, revision: Revision) {
        self.submitted_uninserted
            .retain(|(submitted, _)| *submitted != revision);
        let Some(state) = self.batches.get_mut(&revision) else {
            return;
        };
        for part in state.parts.iter_mut().filter(|part| !part.published) {
            if let Some(memtable) = part.inserted_into.take() {
                for record in &part.batch.records {
                    memtable.remove_undecided(record.key, revision);
                }
            }
        }
    }

    /// Marks a batch failed: it has no durable copy and none coming. A write acknowledged
    /// already (`NoSync`, published) leaves the table, its failure kept for the `sync` calls
    /// covering it; any other gets its error when its turn to be published comes. The parts
    /// of a failed batch of several spaces leave their spaces' pending queues, where they
    /// held back later batches.
    pub(super) fn fail_batch(&mut self, revision: Revision, failure: &Failure) {
        self.withdraw_undecided(revision);
        let Some(state) = self.batches.get_mut(&revision) else {
            return;
        };
        self.undecided.remove(&revision);
        if state.published() && state.durability == Durability::NoSync && !state.is_group() {
            let space = state.parts[0].batch.space;
            if let Some(state) = self.batches.remove(&revision) {
                self.gate.release(state.gate_bytes);
            }
            self.record_sync_failure(revision, space, failure);
            return;
        }
        state.decision = Decision::Failed(failure.clone());
        if state.is_group() {
            for part in &state.parts {
                if let Some(space) = self.spaces.get_mut(&part.batch.space) {
                    space.pending.retain(|pending| *pending != revision);
                }
            }
        }
    }

    /// Keeps a failed acknowledged write at `revision` of `space` for the `sync` calls that
    /// must report it (`sync_barriers.rs`).
    pub(super) fn record_sync_failure(
        &mut self,
        revision: Revision,
        space: SpaceId,
        failure: &Failure,
    ) {
        let name = self.spaces.get(&space).map_or_else(
            || format!("#{}", space.0),
            |log| log.shared.name.to_string(),
        );
        self.barriers.record_failure(revision, name, failure);
    }

    /// Removes a batch whose hot copy is durable and that needs nothing more.
    pub(super) fn retire_if_done(&mut self, revision: Revision) {
        let Some(state) = self.batches.get(&revision) else {
            return;
        };
        if state.hot_durable()
            && state.published()
            && let Some(state) = self.batches.remove(&revision)
        {
            self.gate.release(state.gate_bytes);
        }
    }

    /// Answers every `sync` whose writes are all decided (`sync_barriers.rs`).
    pub(super) fn answer_sync_waiters(&mut self) {
        self.barriers.answer(self.undecided.first().copied());
    }
}
