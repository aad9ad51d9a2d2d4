//! A space's shared state: its definition, its curve, and its published read view
//! (docs/design.md §2, §6 "Live tail").
//!
//! Owns: [`SpaceView`] `{blocks, frozen memtables, active memtable}`, swapped atomically with
//! `arc-swap`. Readers load the current `Arc<SpaceView>` without locks and never block a
//! writer. View changes are rare (a seal's switch, a seal's completion) and serialised by
//! `view_lock`; each builds a new `SpaceView` by cloning vectors of `Arc`s (a handful of
//! pointers), never the records themselves.
//!
//! Invariants: `frozen` is ordered oldest first and `levels` keeps its own (`levels.rs`); a
//! frozen memtable leaves the view in the same swap that adds its block, and a compaction's
//! inputs leave it in the same swap that adds its outputs, so a reader never misses a record;
//! blocks are kept in `Vec`s, never a map keyed by a block's minimum key (docs/design.md §8).
//! The sealer (level 0) and the compactor (everything else) both change `levels`, each by
//! building on the current view under `view_lock`.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use infinitedb_format::{BlockId, LEVEL_COUNT, Retention, Revision, SpaceId};
use parking_lot::{Condvar, Mutex};

use crate::block_file::BlockFile;
use crate::keyspace::Curve;
use crate::levels::{Levels, Overlap};
use crate::manifest::ManifestState;
use crate::memtable::Memtable;
use crate::read::SpaceRead;
use crate::stats::{LevelStats, SpaceStats};

/// A space's definition, as [`crate::Db::spaces`] lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpaceInfo {
    /// The space's id.
    pub id: SpaceId,
    /// The space's unique name.
    pub name: String,
    /// Coordinates per point.
    pub dims: u32,
    /// Bits per coordinate: each runs `0..2^bits_per_dim`.
    pub bits_per_dim: u32,
    /// The versions the space keeps.
    pub retention: Retention,
}

/// The definitions of `spaces`, by id, with the retention `state` records for each.
pub(crate) fn space_infos<'a>(
    state: &ManifestState,
    spaces: impl Iterator<Item = &'a Arc<SpaceShared>>,
) -> Vec<SpaceInfo> {
    let mut infos: Vec<SpaceInfo> = spaces
        .map(|shared| SpaceInfo {
            id: shared.id,
            name: shared.name.to_string(),
            dims: shared.curve.dims(),
            bits_per_dim: shared.curve.bits_per_dim(),
            retention: state.retention(shared.id),
        })
        .collect();
    infos.sort_by_key(|space| space.id.0);
    infos
}

/// One published state of a space's data.
#[derive(Debug, Default)]
pub(crate) struct SpaceView {
    pub(crate) levels: Levels,
    pub(crate) frozen: Vec<Arc<Memtable>>,
    pub(crate) active: Arc<Memtable>,
    /// The reads over this view, made once by its first reader (`read::space_read`), so a
    /// point read does not gather the view's memtables and blocks again.
    pub(crate) reads: OnceLock<Arc<SpaceRead>>,
}

impl SpaceView {
    /// The view of `levels` under the live tail `frozen` (oldest first) and `active`.
    pub(crate) fn new(levels: Levels, frozen: Vec<Arc<Memtable>>, active: Arc<Memtable>) -> Self {
        SpaceView {
            levels,
            frozen,
            active,
            reads: OnceLock::new(),
        }
    }
}

/// A space as every thread of the engine sees it.
#[derive(Debug)]
pub(crate) struct SpaceShared {
    pub(crate) id: SpaceId,
    /// The space's name (shared with its reads, which name it in their errors).
    pub(crate) name: Arc<str>,
    pub(crate) curve: Curve,
    pub(crate) view: ArcSwap<SpaceView>,
    view_lock: Mutex<()>,
    /// The highest revision whose batch is wholly in the live tail: latest reads read at it,
    /// so a batch is seen whole or not at all, and a writer sees its acknowledged write.
    published: AtomicU64,
    /// The highest revision up to which every batch of the space is durable in its hot
    /// segment (hot chains complete in revision order per space). Under `NoSync` the sealer
    /// waits for it before writing a block (see `sealer`).
    logged: AtomicU64,
    /// Threads in [`SpaceShared::wait_logged`]; `mark_logged` wakes them only when non-zero,
    /// so the commit path pays one atomic load when nobody waits.
    logged_waiters: AtomicUsize,
    logged_lock: Mutex<()>,
    logged_raised: Condvar,
    /// Set by the compactor while the space's last compaction failed (writers then do not
    /// wait for compaction: it may not come).
    pub(crate) compaction_failed: AtomicBool,
    /// Set by the sealer while the space's oldest unsealed memtable failed to seal.
    pub(crate) seal_failed: AtomicBool,
    /// Set by the sealer from a seal's view swap until it has sent the space its next spare
    /// segment: the seal is still in progress for the live tail's switch.
    pub(crate) spare_owed: AtomicBool,
    /// Writers waiting for seals or compactions to catch up: threads wait on
    /// `backlog_changed`, asynchronous submissions leave their wakers here.
    backlog_lock: Mutex<Vec<Waker>>,
    backlog_changed: Condvar,
}

impl SpaceShared {
    /// A space with `blocks` and an empty live tail.
    pub(crate) fn new(id: SpaceId, name: String, curve: Curve, levels: Levels) -> Self {
        Self::with_live_tail(id, name, curve, levels, Arc::default())
    }

    /// A space with `blocks` under the live tail `active`.
    pub(crate) fn with_live_tail(
        id: SpaceId,
        name: String,
        curve: Curve,
        levels: Levels,
        active: Arc<Memtable>,
    ) -> Self {
        let view = SpaceView::new(levels, Vec::new(), active);
        SpaceShared {
            id,
            name: name.into(),
            curve,
            view: ArcSwap::from_pointee(view),
            view_lock: Mutex::new(()),
            published: AtomicU64::new(0),
            logged: AtomicU64::new(0),
            logged_waiters: AtomicUsize::new(0),
            logged_lock: Mutex::new(()),
            logged_raised: Condvar::new(),
            compaction_failed: AtomicBool::new(false),
            seal_failed: AtomicBool::new(false),
            spare_owed: AtomicBool::new(false),
            backlog_lock: Mutex::new(Vec::new()),
            backlog_changed: Condvar::new(),
        }
    }

    /// Seal step 1: the active memtable becomes frozen, a new one becomes active. Returns the
    /// frozen memtable.
    pub(crate) fn freeze_active(&self) -> Arc<Memtable> {
        let _guard = self.view_lock.lock();
        let current = self.view.load_full();
        let mut frozen = current.frozen.clone();
        frozen.push(current.active.clone());
        let next = SpaceView::new(
            current.levels.clone(),
            frozen,
            Arc::new(Memtable::default()),
        );
        self.view.store(Arc::new(next));
        current.active.clone()
    }

    /// Seal step 4: `sealed` leaves the frozen list and `block` (if any) joins the blocks, in
    /// one swap.
    pub(crate) fn replace_frozen(&self, sealed: &Arc<Memtable>, block: Option<Arc<BlockFile>>) {
        let _guard = self.view_lock.lock();
        let current = self.view.load_full();
        let frozen: Vec<_> = current
            .frozen
            .iter()
            .filter(|memtable| !Arc::ptr_eq(memtable, sealed))
            .cloned()
            .collect();
        debug_assert_eq!(frozen.len() + 1, current.frozen.len());
        let levels = match block {
            Some(block) => current.levels.with_sealed(block),
            None => current.levels.clone(),
        };
        let next = SpaceView::new(levels, frozen, current.active.clone());
        self.view.store(Arc::new(next));
        self.notify_view_changed();
    }

    /// A compaction's step: the blocks `removed` leave and `added` join, in one swap.
    pub(crate) fn replace_blocks(
        &self,
        removed: &[BlockId],
        added: &[Arc<BlockFile>],
    ) -> Result<(), Overlap> {
        let _guard = self.view_lock.lock();
        let current = self.view.load_full();
        let next = SpaceView::new(
            current.levels.replaced(removed, added)?,
            current.frozen.clone(),
            current.active.clone(),
        );
        self.view.store(Arc::new(next));
        self.notify_view_changed();
        Ok(())
    }

    /// Wakes writers waiting in [`SpaceShared::wait_while`] and submissions pending in
    /// [`SpaceShared::poll_while`]: the view, or a flag the backlog test reads, changed.
    pub(crate) fn notify_view_changed(&self) {
        let wakers = std::mem::take(&mut *self.backlog_lock.lock());
        self.backlog_changed.notify_all();
        for waker in wakers {
            waker.wake();
        }
    }

    /// [`SpaceShared::wait_while`] for a task: ready once `behind(view)` no longer holds;
    /// otherwise leaves the task's waker for the next [`SpaceShared::notify_view_changed`].
    pub(crate) fn poll_while(
        &self,
        cx: &mut Context<'_>,
        behind: impl Fn(&SpaceView) -> bool,
    ) -> Poll<()> {
        if !behind(&self.view.load()) {
            return Poll::Ready(());
        }
        let mut wakers = self.backlog_lock.lock();
        if !wakers.iter().any(|waker| waker.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        // Checked again under the lock a notification takes: none is missed in between.
        if behind(&self.view.load()) {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }

    /// Waits while `behind(view)` holds, re-checking at each view change and at least every
    /// `poll` (so a condition that also depends on state outside the view is re-read).
    pub(crate) fn wait_while(&self, poll: Duration, behind: impl Fn(&SpaceView) -> bool) {
        let mut guard = self.backlog_lock.lock();
        while behind(&self.view.load()) {
            let _ = self.backlog_changed.wait_for(&mut guard, poll);
        }
    }

    /// The shape of the space's data now.
    pub(crate) fn stats(&self) -> SpaceStats {
        let view = self.view.load_full();
        let mut levels: Vec<LevelStats> = (0..LEVEL_COUNT)
            .map(|level| {
                let blocks = view.levels.level(level);
                LevelStats {
                    blocks: blocks.len(),
                    bytes: blocks.iter().map(|block| block.meta.len_bytes).sum(),
                    records: blocks.iter().map(|block| block.meta.record_count).sum(),
                }
            })
            .collect();
        while levels.len() > 1 && levels.last().is_some_and(|level| level.blocks == 0) {
            levels.pop();
        }
        let tail: usize = view.frozen.iter().map(|memtable| memtable.len()).sum();
        SpaceStats {
            levels,
            live_tail_records: (tail + view.active.len()) as u64,
        }
    }

    /// The highest revision wholly published in this space (see `published`).
    pub(crate) fn published(&self) -> Revision {
        Revision(self.published.load(Ordering::Acquire))
    }

    /// Raises the published mark to `revision` (after its records are in the memtable).
    pub(crate) fn mark_published(&self, revision: Revision) {
        self.published.fetch_max(revision.0, Ordering::AcqRel);
    }

    /// Raises the logged mark to `revision` (a hot chain up to it is durable).
    pub(crate) fn mark_logged(&self, revision: Revision) {
        // SeqCst with the waiter's increment: either the waiter sees the new mark, or this
        // sees the waiter (and wakes it under the lock it waits with).
        self.logged.fetch_max(revision.0, Ordering::SeqCst);
        if self.logged_waiters.load(Ordering::SeqCst) > 0 {
            let _guard = self.logged_lock.lock();
            self.logged_raised.notify_all();
        }
    }

    /// Waits until the logged mark reaches `revision` or `timeout` passes; returns whether it
    /// did.
    pub(crate) fn wait_logged(&self, revision: Revision, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut guard = self.logged_lock.lock();
        self.logged_waiters.fetch_add(1, Ordering::SeqCst);
        let reached = loop {
            if self.logged.load(Ordering::SeqCst) >= revision.0 {
                break true;
            }
            if self
                .logged_raised
                .wait_until(&mut guard, deadline)
                .timed_out()
            {
                break self.logged.load(Ordering::SeqCst) >= revision.0;
            }
        };
        self.logged_waiters.fetch_sub(1, Ordering::SeqCst);
        reached
    }

    /// The active memtable (the I/O thread publishes into it).
    pub(crate) fn active(&self) -> Arc<Memtable> {
        self.view.load().active.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_logged_wakes_on_the_mark_and_times_out_below_it() {
        // Goal: a sealer waiting for the logged mark wakes when the I/O thread raises it to
        // (or past) the revision, and gives up after its timeout otherwise. Method: one thread
        // waits for revision 5 while this one marks 3, then 5; then a wait for 10 times out.
        let space = Arc::new(SpaceShared::new(
            SpaceId(1),
            "s".to_string(),
            Curve::new(2, 8).unwrap(),
            Levels::default(),
        ));
        let waiter = {
            let space = space.clone();
            std::thread::spawn(move || space.wait_logged(Revision(5), Duration::from_secs(30)))
        };
        space.mark_logged(Revision(3));
        std::thread::sleep(Duration::from_millis(10));
        space.mark_logged(Revision(5));
        assert!(waiter.join().unwrap(), "the waiter saw revision 5 logged");
        assert!(
            space.wait_logged(Revision(4), Duration::ZERO),
            "already logged"
        );
        assert!(!space.wait_logged(Revision(10), Duration::from_millis(20)));
    }
}
