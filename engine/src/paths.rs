//! The database directory's layout: which file lives where and how names encode identities.
//!
//! ```text
//! <db>/LOCK                          the directory lock (lock.rs)
//! <db>/MANIFEST                      spaces, blocks, retired segments (manifest.rs)
//! <db>/MANIFEST.tmp                  a rewrite in progress; removed on open
//! <db>/segments/seg-<space>-<id>.log a hot segment: space and segment id are in the name
//! <db>/blocks/blk-<id>.blk           a sealed block
//! <staging>/stage-<id>.log           a staging log (default <db>/staging)
//! ```
//! Invariants:
//! - Every path is absolute on the OS storage: the directory `Db::open` is given is resolved
//!   once (`uring_io::OsStorage::root`: relative to the working directory, `..` and symlinks
//!   resolved; the staging directory likewise by [`resolve_directory`]), and every file is
//!   named under that root, so every spelling of a directory opens the same database.
//!   (`OsStorage` resolves a relative path against its root; the engine never hands it
//!   one.) A supplied storage (the simulated disk) has its own namespace, and its paths are
//!   used as given.
//! - Names are the source of truth for a log's identity (its header is written after a
//!   rename and may lag behind it after a crash); a name that does not parse is not ours and
//!   is left alone.

use std::path::{Path, PathBuf};

use infinitedb_format::{BlockId, SegmentId, SpaceId};

use uring_io::Storage;

use crate::error::{Error, Result};

/// Creates `dir` (and missing parents, durably) if needed and returns its canonical absolute
/// path; a relative `dir` is taken relative to the working directory.
pub(crate) fn resolve_directory(storage: &dyn Storage, dir: &Path) -> Result<PathBuf> {
    let absolute = std::path::absolute(dir).map_err(|source| Error::os("absolute", dir, source))?;
    storage.create_dir_all(&absolute)?;
    std::fs::canonicalize(&absolute).map_err(|source| Error::os("canonicalize", &absolute, source))
}

/// Every path of one database.
#[derive(Clone, Debug)]
pub(crate) struct DbPaths {
    pub(crate) root: PathBuf,
    pub(crate) segments: PathBuf,
    pub(crate) blocks: PathBuf,
    pub(crate) staging: PathBuf,
}

impl DbPaths {
    /// The layout under `root`, with the staging log in `staging` (or `<root>/staging`).
    pub(crate) fn new(root: &Path, staging: Option<&Path>) -> DbPaths {
        DbPaths {
            root: root.to_path_buf(),
            segments: root.join("segments"),
            blocks: root.join("blocks"),
            staging: staging.map_or_else(|| root.join("staging"), Path::to_path_buf),
        }
    }

    /// The manifest.
    pub(crate) fn manifest(&self) -> PathBuf {
        self.root.join("MANIFEST")
    }

    /// A manifest rewrite in progress.
    pub(crate) fn manifest_temporary(&self) -> PathBuf {
        self.root.join("MANIFEST.tmp")
    }

    /// A hot segment.
    pub(crate) fn segment(&self, space: SpaceId, segment: SegmentId) -> PathBuf {
        self.segments
            .join(format!("seg-{}-{}.log", space.0, segment.0))
    }

    /// A block file.
    pub(crate) fn block(&self, block: BlockId) -> PathBuf {
        self.blocks.join(format!("blk-{}.blk", block.0))
    }

    /// A staging log.
    pub(crate) fn staging_log(&self, segment: SegmentId) -> PathBuf {
        self.staging.join(format!("stage-{}.log", segment.0))
    }
}

/// Parses `seg-<space>-<id>.log`.
pub(crate) fn parse_segment_name(name: &str) -> Option<(SpaceId, SegmentId)> {
    let middle = name.strip_prefix("seg-")?.strip_suffix(".log")?;
    let (space, segment) = middle.split_once('-')?;
    Some((
        SpaceId(space.parse().ok()?),
        SegmentId(segment.parse().ok()?),
    ))
}

/// Parses `blk-<id>.blk`.
pub(crate) fn parse_block_name(name: &str) -> Option<BlockId> {
    let middle = name.strip_prefix("blk-")?.strip_suffix(".blk")?;
    Some(BlockId(middle.parse().ok()?))
}

/// Parses `stage-<id>.log`.
pub(crate) fn parse_staging_name(name: &str) -> Option<SegmentId> {
    let middle = name.strip_prefix("stage-")?.strip_suffix(".log")?;
    Some(SegmentId(middle.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_strangers_are_ignored() {
        // Goal: every name we write parses back to its ids. Method: build then parse.
        let paths = DbPaths::new(Path::new("/db"), None);
        let segment = paths.segment(SpaceId(3), SegmentId(17));
        let name = segment.file_name().unwrap().to_str().unwrap();
        assert_eq!(parse_segment_name(name), Some((SpaceId(3), SegmentId(17))));
        assert_eq!(parse_block_name("blk-9.blk"), Some(BlockId(9)));
        assert_eq!(parse_staging_name("stage-4.log"), Some(SegmentId(4)));
        assert_eq!(parse_segment_name("seg-x-1.log"), None);
        assert_eq!(parse_block_name("blk-9.blk.tmp"), None);
        assert_eq!(paths.staging, PathBuf::from("/db/staging"));
    }
}
