//! [`VisibleRevision`]: the visible high-water mark, the revision a new snapshot may pin
//! (docs/design.md §3 "Isolation").
//!
//! Revisions are global and dense, but each space publishes its batches when they are durable,
//! so revision 7 of space A may be published before revision 6 of space B. A snapshot pinned
//! at 7 at that moment would later see revision 6 appear: not repeatable. The mark is
//! therefore the highest revision `R` such that every revision `<= R` is decided (published,
//! or failed and never to be published): it advances only over a contiguous decided prefix.
//!
//! Owns: the set of sequenced but undecided revisions and the mark. Only the I/O thread
//! mutates it (`sequenced`, `decided`), readers only `load` it; the mutex is never contended
//! by readers. Invariants: the mark never decreases; it is below every undecided revision;
//! a revision is marked decided only after its records are in the memtable (so a reader that
//! loads the mark and then a view sees every record at or below the mark).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

use infinitedb_format::Revision;
use parking_lot::Mutex;

/// The visible high-water mark and the undecided revisions below the last assigned one.
#[derive(Debug)]
pub(crate) struct VisibleRevision {
    undecided: Mutex<BTreeSet<u64>>,
    visible: AtomicU64,
}

impl VisibleRevision {
    /// A mark at `recovered`: every revision recovered at open is published.
    pub(crate) fn new(recovered: Revision) -> VisibleRevision {
        VisibleRevision {
            undecided: Mutex::new(BTreeSet::new()),
            visible: AtomicU64::new(recovered.0),
        }
    }

    /// The mark: every revision at or below it is published or failed.
    pub(crate) fn load(&self) -> Revision {
        Revision(self.visible.load(Ordering::Acquire))
    }

    /// `revision` was assigned and is not yet published.
    pub(crate) fn sequenced(&self, revision: Revision) {
        let mut undecided = self.undecided.lock();
        assert!(
            revision.0 > self.visible.load(Ordering::Acquire),
            "a revision at or below the mark was sequenced again"
        );
        undecided.insert(revision.0);
    }

    /// `revision` is published (its records are in the memtable) or failed; `assigned_last` is
    /// the highest revision assigned so far. Call before acknowledging the writer, so that a
    /// snapshot taken after the acknowledgement includes the write.
    pub(crate) fn decided(&self, revision: Revision, assigned_last: Revision) {
        let mut undecided = self.undecided.lock();
        undecided.remove(&revision.0);
        debug_assert!(revision <= assigned_last);
        let mark = match undecided.first() {
            Some(&oldest) => oldest - 1,
            None => assigned_last.0,
        };
        self.visible.fetch_max(mark, Ordering::AcqRel);
        drop(undecided);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advances_only_over_a_decided_prefix() {
        // Goal: revision 7 (space A) decided before 6 (space B) does not expose 7. Method:
        // sequence 6 and 7, decide 7, then 6.
        let mark = VisibleRevision::new(Revision(5));
        assert_eq!(mark.load(), Revision(5));
        mark.sequenced(Revision(6));
        mark.sequenced(Revision(7));
        mark.decided(Revision(7), Revision(7));
        assert_eq!(mark.load(), Revision(5), "6 is still undecided");
        mark.decided(Revision(6), Revision(7));
        assert_eq!(mark.load(), Revision(7));
        mark.sequenced(Revision(8));
        mark.sequenced(Revision(9));
        mark.decided(Revision(9), Revision(9));
        mark.decided(Revision(8), Revision(9));
        assert_eq!(
            mark.load(),
            Revision(9),
            "nothing undecided: up to the last assigned"
        );
    }
}
