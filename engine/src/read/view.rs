//! Adapters from the write path's structures to the read path's: a sealed [`BlockFile`] is a
//! [`PagedBlock`], a [`Memtable`] is a [`VersionRange`], and one published [`SpaceView`]
//! becomes a [`SpaceRead`] (docs/design.md §6 "Live tail": readers load one immutable view),
//! made once per view and kept in it.
//!
//! Invariant: the `SpaceRead` holds `Arc`s of the view's memtables and blocks, never the view's
//! lock or a borrow, so a reader never delays a seal's view swap.

use std::path::Path;
use std::sync::Arc;

use infinitedb_format::{BlockIndex, Key, Revision};
use uring_io::{FileHandle, Storage};

use super::block_pages::PagedBlock;
use super::memtable_source::VersionRange;
use super::merge::End;
use super::page_cache::{PageCache, PageTable};
use super::space_read::SpaceRead;
use super::version::Version;
use crate::block_file::BlockFile;
use crate::memtable::Memtable;
use crate::space::{SpaceShared, SpaceView};
use crate::stats::StatsCounters;

impl PagedBlock for BlockFile {
    fn pages(&self) -> &Arc<PageTable> {
        BlockFile::pages(self)
    }
    fn path(&self) -> &Path {
        &self.path
    }
    fn file(&self) -> &FileHandle {
        BlockFile::file(self)
    }
    fn storage(&self) -> &dyn Storage {
        BlockFile::storage(self)
    }
    fn index(&self) -> &BlockIndex {
        BlockFile::index(self)
    }
    fn key_bounds(&self) -> (Key, Key) {
        (self.meta.min_key, self.meta.max_key)
    }
    fn revision_min(&self) -> Revision {
        self.meta.min_revision
    }
    fn may_hold(&self, key: Key) -> bool {
        BlockFile::may_hold(self, key)
    }
    fn distinct_keys(&self) -> u64 {
        BlockFile::distinct_keys(self)
    }
}

impl VersionRange for Memtable {
    fn versions_from(
        &self,
        end: End,
        from: (Key, std::cmp::Reverse<Revision>),
        bound: Key,
        limit: usize,
        out: &mut Vec<Version>,
    ) {
        let (from_key, std::cmp::Reverse(from_revision)) = from;
        let visit = |key, revision, value: Option<&bytes::Bytes>| {
            out.push(Version {
                key,
                revision,
                value: value.cloned(),
            });
        };
        match end {
            End::Front => self.visit_from(from_key, from_revision, bound, limit, visit),
            End::Back => self.visit_back_from(from_key, from_revision, bound, limit, visit),
        }
    }

    fn version_count(&self) -> u64 {
        self.len() as u64
    }

    fn newest(&self, key: Key, at: Revision) -> Option<Version> {
        Memtable::newest(self, key, at).map(|(revision, value)| Version {
            key,
            revision,
            value,
        })
    }
}

/// The reads of `space` over `view`, made on the view's first read and kept in it.
pub(crate) fn space_read(
    space: &SpaceShared,
    view: &SpaceView,
    cache: &Arc<PageCache>,
    stats: &Arc<StatsCounters>,
    range_budget: usize,
) -> Arc<SpaceRead> {
    view.reads
        .get_or_init(|| Arc::new(gather(space, view, cache, stats, range_budget)))
        .clone()
}

/// The memtables and block runs of `view`, as the read path's sources.
fn gather(
    space: &SpaceShared,
    view: &SpaceView,
    cache: &Arc<PageCache>,
    stats: &Arc<StatsCounters>,
    range_budget: usize,
) -> SpaceRead {
    let mut memtables: Vec<Arc<dyn VersionRange>> = Vec::with_capacity(view.frozen.len() + 1);
    memtables.push(view.active.clone());
    memtables.extend(
        view.frozen
            .iter()
            .map(|memtable| memtable.clone() as Arc<dyn VersionRange>),
    );
    let runs = view
        .levels
        .runs()
        .map(|run| {
            run.iter()
                .map(|block| block.clone() as Arc<dyn PagedBlock>)
                .collect()
        })
        .collect();
    SpaceRead {
        space: space.id,
        name: space.name.clone(),
        curve: space.curve,
        memtables,
        runs,
        cache: cache.clone(),
        stats: stats.clone(),
        range_budget,
    }
}
