//! Acknowledgement and publication: under `Sync`, a space's batches are published to its
//! active memtable and acknowledged strictly in revision order, each once one copy of it is
//! durable (DESIGN §3 "acknowledgements are in revision order per space"); a failed batch
//! gets its error in the same order. Also the `sync` barrier and batch retirement.

use std::sync::atomic::Ordering;

use infinitedb_format::{Revision, SpaceId};

use super::IoThread;
use crate::batch::KeyedBatch;
use crate::error::Error;
use crate::options::Durability;
use crate::space::SpaceShared;

/// Inserts a batch's records into the space's active memtable at `revision`.
pub(super) fn publish_records(space: &SpaceShared, batch: &KeyedBatch, revision: Revision) {
    let memtable = space.active();
    for record in &batch.records {
        memtable.insert_unique(record.key, revision, record.value.clone());
    }
    space.mark_published(revision);
}

impl IoThread {
    /// Publishes and acknowledges the space's batches from the front while each is decided.
    pub(super) fn publish_ready(&mut self, space_id: SpaceId) {
        if self.config.durability == Durability::NoSync {
            return;
        }
        let Some(space) = self.spaces.get_mut(&space_id) else {
            return;
        };
        while let Some(&revision) = space.unpublished.front() {
            let Some(state) = self.batches.get_mut(&revision) else {
                space.unpublished.pop_front();
                self.visible.decided(
                    Revision(revision),
                    Revision(self.revision_last.load(Ordering::Acquire)),
                );
                continue;
            };
            if let Some(detail) = &state.failed {
                self.visible.decided(
                    Revision(revision),
                    Revision(self.revision_last.load(Ordering::Acquire)),
                );
                if let Some(reply) = state.reply.take() {
                    self.acknowledgements.push((
                        reply,
                        Err(Error::WriteFailed {
                            detail: detail.clone(),
                        }),
                    ));
                }
            } else if state.route.is_some() {
                publish_records(&space.shared, &state.batch, Revision(revision));
                state.published = true;
                // Decided before the acknowledgement: a snapshot taken after it includes it.
                self.visible.decided(
                    Revision(revision),
                    Revision(self.revision_last.load(Ordering::Acquire)),
                );
                if let Some(reply) = state.reply.take() {
                    self.acknowledgements.push((reply, Ok(Revision(revision))));
                }
            } else {
                break;
            }
            space.unpublished.pop_front();
            let done = state.failed.is_some() || state.hot_durable;
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

    /// Marks a batch failed: it has no durable copy and none coming.
    pub(super) fn fail_batch(&mut self, revision: u64, detail: &str) {
        let Some(state) = self.batches.get_mut(&revision) else {
            return;
        };
        self.undecided.remove(&revision);
        if self.config.durability == Durability::NoSync {
            self.sync_error = Some(detail.to_string());
            if let Some(state) = self.batches.remove(&revision) {
                self.gate.release(state.gate_bytes);
            }
            return;
        }
        state.failed = Some(detail.to_string());
    }

    /// Removes a batch whose hot copy is durable and that needs nothing more.
    pub(super) fn retire_if_done(&mut self, revision: u64) {
        let Some(state) = self.batches.get(&revision) else {
            return;
        };
        let acknowledged = state.published || self.config.durability == Durability::NoSync;
        if state.hot_durable
            && acknowledged
            && let Some(state) = self.batches.remove(&revision)
        {
            self.gate.release(state.gate_bytes);
        }
    }

    /// Answers every `sync` whose writes are all durable (or failed).
    pub(super) fn answer_sync_waiters(&mut self) {
        let oldest_undecided = self.undecided.first().copied().unwrap_or(u64::MAX);
        let mut index = 0;
        while index < self.sync_waiters.len() {
            if self.sync_waiters[index].0 < oldest_undecided {
                let (_, reply) = self.sync_waiters.swap_remove(index);
                let result = match self.sync_error.take() {
                    Some(detail) => Err(Error::WriteFailed { detail }),
                    None => Ok(()),
                };
                reply.send(result);
            } else {
                index += 1;
            }
        }
    }
}
