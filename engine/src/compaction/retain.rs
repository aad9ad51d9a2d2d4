//! [`Retain`]: which versions of one key a compaction keeps, from the space's
//! [`Retention`] and whether the compaction's output is the bottom of the space for its key
//! range.
//!
//! Rules, per key, versions newest first:
//! - `All`: every version.
//! - `Latest`: the newest version.
//! - `Versions(n)`: the newest `n`.
//! - `Window(n)`: every version above the horizon (the database's visible revision, what a
//!   snapshot reads at, when the compaction starts, minus `n`), and the newest at or below it, so a read at any revision from the
//!   horizon on sees what it saw before.
//! - At the bottom (no older version of the key can exist outside the compaction's inputs),
//!   deletes at the old end of what is kept are dropped too: a read finds nothing below them
//!   either way. Above the bottom a delete must stay, to hide older versions below.
//!
//! Reads at the latest revision (and, under `Window`, at any revision from the horizon on)
//! see the same answer before and after. Below that nothing is promised: a compaction above
//! the bottom drops versions of its inputs while older versions of the same key may remain in
//! deeper levels until a later compaction reaches them, so `history` may show some of those,
//! and a read at an old revision may find one of them. Snapshots are not
//! consulted: a snapshot holds the blocks it started with (`read/snapshot.rs`), so it never
//! reads a compaction's output.

use infinitedb_format::{Retention, Revision};

use crate::read::Version;

/// The keep rule of one compaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Retain {
    policy: Retention,
    /// For `Window`: reads at or above it stay exact.
    horizon: Revision,
    /// No older version of a key exists outside the compaction's inputs.
    bottom: bool,
}

impl Retain {
    /// The rule for a compaction of a space under `policy`, started when the database's
    /// visible revision was `now`, whose output is the bottom of its key range if `bottom`.
    pub(crate) fn new(policy: Retention, now: Revision, bottom: bool) -> Retain {
        let horizon = match policy {
            Retention::Window(revisions) => Revision(now.0.saturating_sub(revisions)),
            _ => now,
        };
        Retain {
            policy,
            horizon,
            bottom,
        }
    }

    /// Cuts `versions` (one key's, newest first, no duplicate revisions) to what is kept.
    pub(crate) fn apply(&self, versions: &mut Vec<Version>) {
        debug_assert!(
            versions
                .windows(2)
                .all(|pair| pair[0].key == pair[1].key && pair[0].revision > pair[1].revision)
        );
        let keep = match self.policy {
            Retention::All => versions.len(),
            Retention::Latest => 1,
            Retention::Versions(count) => usize::try_from(count).unwrap_or(usize::MAX),
            Retention::Window(_) => {
                // Everything above the horizon, and the newest at or below it.
                let above = versions
                    .iter()
                    .take_while(|version| version.revision > self.horizon)
                    .count();
                above + 1
            }
        };
        versions.truncate(keep);
        if self.bottom && self.policy != Retention::All {
            while versions
                .last()
                .is_some_and(|version| version.value.is_none())
            {
                versions.pop();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Versions of key 7 at `revisions` (newest first); `None` entries are deletes.
    fn versions(revisions: &[(u64, bool)]) -> Vec<Version> {
        revisions
            .iter()
            .map(|&(revision, put)| Version {
                key: 7,
                revision: Revision(revision),
                value: put.then(|| revision.to_le_bytes().to_vec().into()),
            })
            .collect()
    }

    fn kept(retain: Retain, input: &[(u64, bool)]) -> Vec<u64> {
        let mut versions = versions(input);
        retain.apply(&mut versions);
        versions.iter().map(|version| version.revision.0).collect()
    }

    #[test]
    fn each_policy_keeps_what_it_promises() {
        // Goal: the rules of the module doc, one case each, in and out of the bottom.
        // Method: one key's history of puts and deletes through each policy.
        let history = [(90, true), (70, false), (50, true), (30, true), (10, false)];
        let now = Revision(100);
        assert_eq!(
            kept(Retain::new(Retention::All, now, true), &history),
            [90, 70, 50, 30, 10]
        );
        assert_eq!(
            kept(Retain::new(Retention::Latest, now, true), &history),
            [90]
        );
        assert_eq!(
            kept(Retain::new(Retention::Versions(3), now, false), &history),
            [90, 70, 50]
        );
        // Window 40: horizon 60; above it 90 and 70, and the newest at or below it, 50.
        assert_eq!(
            kept(Retain::new(Retention::Window(40), now, false), &history),
            [90, 70, 50]
        );
        // Window 0: horizon 100, the newest at or below it: 90.
        assert_eq!(
            kept(Retain::new(Retention::Window(0), now, true), &history),
            [90]
        );
        // A window wider than history keeps all, and at the bottom drops the oldest delete.
        assert_eq!(
            kept(Retain::new(Retention::Window(1000), now, true), &history),
            [90, 70, 50, 30]
        );
    }

    #[test]
    fn deletes_go_only_at_the_bottom() {
        // Goal: a delete that hides older versions elsewhere stays; at the bottom it goes.
        // Method: a latest delete over an older put, in and out of the bottom.
        let history = [(80, false), (60, true)];
        let now = Revision(100);
        assert_eq!(
            kept(Retain::new(Retention::Latest, now, false), &history),
            [80]
        );
        assert_eq!(
            kept(Retain::new(Retention::Latest, now, true), &history),
            Vec::<u64>::new()
        );
        // Two versions kept, the older a delete: at the bottom only the delete goes.
        let history = [(80, true), (60, false), (40, true)];
        assert_eq!(
            kept(Retain::new(Retention::Versions(2), now, true), &history),
            [80]
        );
        assert_eq!(
            kept(Retain::new(Retention::All, now, true), &history),
            [80, 60, 40],
            "All keeps deletes too"
        );
    }
}
