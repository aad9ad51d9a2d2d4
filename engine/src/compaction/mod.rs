//! The compactor thread: merges a space's blocks into fewer, larger, key-partitioned ones off
//! the commit path, drops the versions the space's retention no longer wants, and deletes the
//! files of blocks no reader holds any more.
//!
//! - `plan.rs`: which blocks to merge, and into which level (leveled compaction);
//! - `retain.rs`: which versions of a key survive;
//! - `run.rs`: the merge and the output blocks.
//!
//! One compaction, in order:
//! 1. plan from the space's current view;
//! 2. write the output blocks, each a new durable file named by nothing yet;
//! 3. append one manifest batch: `RemoveBlocks` (the inputs), `AddBlock` per output (with
//!    its level), `SpaceSealed` (the inputs' highest revision);
//! 4. swap the view: the inputs leave and the outputs join in one swap;
//! 5. keep the inputs until no reader holds them (a `Snapshot`, a `Query` or a read in
//!    progress holds its blocks by `Arc`), then delete their files.
//!
//! A crash before 3 leaves unnamed output files, which the next open removes (their records
//! are in the named inputs); after 3 the inputs are unnamed and the next open removes them.
//! A failure in 2 removes the outputs written so far; a failed append in 3 leaves them
//! (that batch may still be on disk until the manifest is rewritten, which the next append
//! does first) and removes them after the next append succeeds. A failed compaction is
//! counted and retried every [`RETRY_INTERVAL`]; reads and writes go on meanwhile.
//!
//! Only the compactor removes blocks from a view and deletes block files; the sealer only
//! adds level-0 blocks. Both change a view under the space's view lock.

mod plan;
mod retain;
mod run;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use infinitedb_format::{BlockId, ManifestEdit, Retention, SpaceId};
use parking_lot::Mutex;
use uring_io::Storage;

pub(crate) use plan::Shape;
use plan::{Cursors, Plan};
use retain::Retain;
use run::{Outputs, remove_unnamed, write_outputs};

use crate::block_file::BlockFile;
use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::options::BlockReads;
use crate::paths::DbPaths;
use crate::queue::Reply;
use crate::read::{PageCache, VisibleRevision};
use crate::sealer::Ids;
use crate::space::SpaceShared;
use crate::stats::StatsCounters;
use crate::trace;

/// How often failed compactions are retried, and unreferenced inputs looked at again.
pub(crate) const RETRY_INTERVAL: Duration = Duration::from_millis(500);

/// Work for the compactor.
#[derive(Debug)]
pub(crate) enum CompactorJob {
    /// The space's blocks changed (a seal, an open, a retention change): compact while a
    /// level is over its target.
    Check(Arc<SpaceShared>),
    /// `Db::compact`: merge every block of the space into one level now.
    Full {
        space: Arc<SpaceShared>,
        reply: Reply<()>,
    },
    /// Finish and stop (after the I/O thread and the sealer stopped).
    Shutdown,
}

/// What the compactor thread owns and shares.
pub(crate) struct Compactor {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) paths: DbPaths,
    pub(crate) manifest: Arc<Mutex<Manifest>>,
    pub(crate) ids: Arc<Ids>,
    pub(crate) stats: Arc<StatsCounters>,
    pub(crate) jobs: Receiver<CompactorJob>,
    /// Background compaction on (`Db::compact` runs either way).
    pub(crate) enabled: bool,
    pub(crate) shape: Shape,
    pub(crate) block_target_bytes: u64,
    /// How blocks are read (`Options::block_reads`), for the outputs.
    pub(crate) block_reads: BlockReads,
    /// The database's visible revision (what `Db::snapshot` reads at: every write at or
    /// below it is published): `Retention::Window`'s horizon counts back from it.
    pub(crate) visible: Arc<VisibleRevision>,
}

/// The compactor thread's own state.
#[derive(Default)]
struct Backlog {
    cursors: HashMap<SpaceId, Cursors>,
    /// Spaces whose last compaction failed, retried on the timer.
    failed: HashMap<SpaceId, Arc<SpaceShared>>,
    /// Inputs of finished compactions, deleted once no reader holds them.
    obsolete: Vec<Arc<BlockFile>>,
    /// Outputs of a compaction whose manifest append failed (see the module doc).
    orphans: Vec<PathBuf>,
}

impl Compactor {
    /// Runs jobs until `Shutdown` or until every sender is gone.
    pub(crate) fn run(self) {
        // Compactions read their inputs past the readers' cache: a zero budget keeps nothing.
        let cache = Arc::new(PageCache::new(0));
        let mut backlog = Backlog::default();
        loop {
            let job = if backlog.failed.is_empty() && backlog.obsolete.is_empty() {
                self.jobs.recv().map_err(|_| RecvTimeoutError::Disconnected)
            } else {
                self.jobs.recv_timeout(RETRY_INTERVAL)
            };
            match job {
                Ok(CompactorJob::Check(space)) => {
                    if self.enabled {
                        self.compact_while_over(&space, &mut backlog, &cache);
                    }
                }
                Ok(CompactorJob::Full { space, reply }) => {
                    reply.send(self.compact_full(&space, &mut backlog, &cache));
                }
                Err(RecvTimeoutError::Timeout) => {
                    let failed: Vec<_> = backlog.failed.drain().map(|(_, space)| space).collect();
                    for space in failed {
                        self.compact_while_over(&space, &mut backlog, &cache);
                    }
                }
                Ok(CompactorJob::Shutdown) | Err(RecvTimeoutError::Disconnected) => {
                    delete_unreferenced(self.storage.as_ref(), &self.paths, &mut backlog);
                    return;
                }
            }
            delete_unreferenced(self.storage.as_ref(), &self.paths, &mut backlog);
        }
    }

    /// Compacts `space` while some level is over its target; a failure parks it for a retry.
    fn compact_while_over(
        &self,
        space: &Arc<SpaceShared>,
        backlog: &mut Backlog,
        cache: &Arc<PageCache>,
    ) {
        loop {
            let metas = space.view.load().levels.metas();
            let cursors = backlog.cursors.entry(space.id).or_default();
            let Some(plan) = plan::pick(&metas, &self.shape, cursors) else {
                backlog.failed.remove(&space.id);
                return;
            };
            if self.compact(space, &plan, backlog, cache).is_err() {
                backlog.failed.insert(space.id, space.clone());
                space.compaction_failed.store(true, Ordering::Release);
                space.notify_view_changed();
                return;
            }
            space.compaction_failed.store(false, Ordering::Release);
        }
    }

    /// `Db::compact`: every block of `space` into one level.
    fn compact_full(
        &self,
        space: &Arc<SpaceShared>,
        backlog: &mut Backlog,
        cache: &Arc<PageCache>,
    ) -> Result<()> {
        let metas = space.view.load().levels.metas();
        match plan::full(&metas) {
            Some(plan) => self.compact(space, &plan, backlog, cache),
            None => Ok(()),
        }
    }

    /// Runs one compaction (module doc, steps 2–5), counting it.
    fn compact(
        &self,
        space: &Arc<SpaceShared>,
        plan: &Plan,
        backlog: &mut Backlog,
        cache: &Arc<PageCache>,
    ) -> Result<()> {
        let _span = trace::span!(
            "compaction",
            space = trace::display(&space.name),
            output_level = plan.output_level
        );
        let result = self.compact_steps(space, plan, backlog, cache);
        match &result {
            Ok(()) => StatsCounters::add(&self.stats.compactions, 1),
            Err(error) => {
                trace::event!(
                    warn,
                    "compaction failed",
                    space = trace::display(&space.name),
                    inputs = plan.inputs.len(),
                    error = trace::display(error),
                );
                StatsCounters::add(&self.stats.compaction_failures, 1);
            }
        }
        result
    }

    fn compact_steps(
        &self,
        space: &Arc<SpaceShared>,
        plan: &Plan,
        backlog: &mut Backlog,
        cache: &Arc<PageCache>,
    ) -> Result<()> {
        let view = space.view.load_full();
        let inputs: Vec<Arc<BlockFile>> = view
            .levels
            .all()
            .filter(|block| plan.inputs.contains(&block.meta.block_id))
            .cloned()
            .collect();
        debug_assert_eq!(
            inputs.len(),
            plan.inputs.len(),
            "a plan of the current view"
        );
        let retention = self.retention(space.id);
        let now = self.visible.load();
        let retain = Retain::new(retention, now, plan.bottom);
        let outputs = Outputs {
            storage: &self.storage,
            reads: self.block_reads,
            paths: &self.paths,
            ids: &self.ids,
            space: space.id,
            level: plan.output_level,
            block_target_bytes: self.block_target_bytes,
        };
        let written = write_outputs(&outputs, &inputs, retain, cache)?;
        let output_paths: Vec<PathBuf> = written.iter().map(|block| block.path.clone()).collect();
        if let Err(overlap) = view.levels.replaced(&plan.inputs, &written) {
            drop(written);
            remove_unnamed(self.storage.as_ref(), &self.paths, &output_paths);
            return Err(Error::Poisoned {
                detail: format!(
                    "compaction of space {} would overlap blocks {} and {} in level {}",
                    space.name, overlap.blocks.0.0, overlap.blocks.1.0, overlap.level
                ),
            });
        }
        let edits = result_edits(space.id, plan, &inputs, &written);
        if let Err(error) = self.manifest.lock().append(&edits) {
            drop(written);
            backlog.orphans.extend(output_paths);
            return Err(error);
        }
        // The append succeeded, so the manifest was rewritten after any earlier failed
        // append: no batch naming an orphan can come back.
        let orphans = std::mem::take(&mut backlog.orphans);
        remove_unnamed(self.storage.as_ref(), &self.paths, &orphans);
        self.count_bytes(space, plan, &inputs, &written);
        let replaced = space.replace_blocks(&plan.inputs, &written);
        debug_assert!(
            replaced.is_ok(),
            "checked against the view before the append"
        );
        backlog.obsolete.extend(inputs);
        Ok(())
    }

    /// Counts the bytes a finished compaction of `space` read and wrote, and emits its
    /// `compaction` event.
    fn count_bytes(
        &self,
        space: &SpaceShared,
        plan: &Plan,
        inputs: &[Arc<BlockFile>],
        written: &[Arc<BlockFile>],
    ) {
        let read: u64 = inputs.iter().map(|block| block.meta.len_bytes).sum();
        let wrote: u64 = written.iter().map(|block| block.meta.len_bytes).sum();
        StatsCounters::add(&self.stats.compaction_bytes_read, read);
        StatsCounters::add(&self.stats.compaction_bytes_written, wrote);
        trace::event!(
            info,
            "compaction",
            space = trace::display(&space.name),
            level = plan.output_level,
            inputs = inputs.len(),
            outputs = written.len(),
            bytes_read = read,
            bytes_written = wrote,
        );
    }

    /// The space's retention, as the manifest records it.
    fn retention(&self, space: SpaceId) -> Retention {
        self.manifest.lock().state().retention(space)
    }
}

/// The one manifest batch of a compaction's result.
fn result_edits(
    space: SpaceId,
    plan: &Plan,
    inputs: &[Arc<BlockFile>],
    written: &[Arc<BlockFile>],
) -> Vec<ManifestEdit> {
    let sealed = inputs
        .iter()
        .map(|block| block.meta.max_revision)
        .max()
        .unwrap_or_default();
    let removed: Vec<BlockId> = plan.inputs.clone();
    std::iter::once(ManifestEdit::RemoveBlocks {
        space_id: space,
        block_ids: removed,
    })
    .chain(
        written
            .iter()
            .map(|block| ManifestEdit::AddBlock(block.meta)),
    )
    .chain(std::iter::once(ManifestEdit::SpaceSealed {
        space_id: space,
        revision: sealed,
    }))
    .collect()
}

/// Deletes the files of obsolete inputs that no reader holds any more (their manifest edit
/// is durable: they are in `obsolete` only after it).
fn delete_unreferenced(storage: &dyn Storage, paths: &DbPaths, backlog: &mut Backlog) {
    let mut unreferenced = Vec::new();
    backlog.obsolete.retain(|block| {
        if Arc::strong_count(block) == 1 {
            unreferenced.push(block.path.clone());
            false
        } else {
            true
        }
    });
    remove_unnamed(storage, paths, &unreferenced);
}
