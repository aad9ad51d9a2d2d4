//! The read path (docs/design.md §2 "Reads resolve per key", §3 "Isolation", §6 "Queries").
//!
//! A read takes one published view of a space (`{blocks, frozen memtables, active memtable}`)
//! and a read revision, and merges one lazy source per memtable and per block:
//!
//! - `version.rs`: `Version`, the owned record the sources yield, `(key asc, revision desc)`.
//! - `page_cache.rs`: `PageCache`, verified decoded pages under a byte budget (CLOCK), held
//!   in each open block's `PageTable`.
//! - `block_pages.rs`: `PagedBlock` and `fetch_pages`: a block's pages, one `read_many` per
//!   batch of misses, checksums verified (a mismatch is `Error::Corruption { file, offset }`).
//! - `block_source.rs`, `memtable_source.rs`: the lazy per-source streams within key ranges,
//!   readable from both ends.
//! - `merge.rs`: the double-ended k-way merge with MVCC resolution (latest at R, or full
//!   history).
//! - `space_read.rs`: `SpaceRead`, point reads, history, box queries, key ranges and scans of
//!   one space.
//! - `query.rs`, `entry.rs`: the public lazy, double-ended iterator and its items.
//! - `snapshot.rs`: `Snapshot`, all of the above pinned at one revision.
//! - `view.rs`: adapters from the write path's `BlockFile`, `Memtable` and `SpaceView` (a
//!   view's `SpaceRead` is made once and kept in the view).
//! - `all_versions` (here): every version of a set of blocks, for a compaction.
//! - `visible.rs`: `VisibleRevision`, the highest revision below which everything is published
//!   (what a snapshot pins).
//!
//! Readers never take a lock the I/O thread takes: views are loaded through `arc-swap`,
//! memtables are lock-free skiplists read in chunks, and the page cache is touched only by
//! readers.

mod block_pages;
mod block_source;
mod entry;
mod memtable_source;
mod merge;
mod page_cache;
mod query;
mod readable;
mod snapshot;
mod space_read;
mod version;
mod view;
mod visible;

pub use entry::{Entry, Point};
pub(crate) use page_cache::{PageCache, PageCacheCounts, PageTable};
pub use query::Query;
pub use readable::Readable;
pub(crate) use readable::sealed::{Pin, Pinned};
pub use snapshot::Snapshot;
pub(crate) use space_read::SpaceRead;
pub(crate) use version::Version;
pub(crate) use view::space_read;
pub(crate) use visible::VisibleRevision;

use std::sync::Arc;

use infinitedb_format::{Key, Revision};

use crate::block_file::BlockFile;
use crate::error::Result;
use crate::keyspace::KeyRange;

/// Every version held by `blocks`, merged in `(key asc, revision desc)` order, each
/// `(key, revision)` once, pages read through `cache` (a compaction's input; give it a
/// zero-budget cache so a merge does not evict the readers' pages).
pub(crate) fn all_versions(
    blocks: &[Arc<BlockFile>],
    cache: &Arc<PageCache>,
) -> impl Iterator<Item = Result<Version>> + use<> {
    let everything: Arc<[KeyRange]> = vec![KeyRange {
        first: 0,
        last: Key::MAX,
    }]
    .into();
    let sources: Vec<Box<dyn merge::VersionSource>> = blocks
        .iter()
        .map(|block| {
            Box::new(block_source::BlockSource::new(
                block.clone(),
                cache.clone(),
                everything.clone(),
            )) as Box<dyn merge::VersionSource>
        })
        .collect();
    merge::Merge::new(sources, Revision(u64::MAX), merge::Resolve::History)
}
