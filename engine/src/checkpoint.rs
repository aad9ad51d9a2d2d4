//! Checkpoints: an openable copy of a database in use, made of its blocks and a manifest of
//! its own (docs/design.md §3 "Checkpoints").
//!
//! Owns: writing the copy. Its inputs are the blocks the source's manifest names once every
//! space's live tail has been sealed, so the copy needs no log: it is a directory of hard links
//! to (or, on another filesystem, copies of) immutable block files, an empty `LOCK`, the empty
//! engine directories and a `MANIFEST` naming those blocks. Invariants:
//! - The blocks are taken under the source's manifest lock: a block file is deleted only after
//!   a manifest edit that removes it, and every edit takes that lock, so each block the state
//!   names exists while it is linked or copied.
//! - The copy's manifest is written last, through the same atomic rewrite as a recovery's
//!   (temporary file, fdatasync, rename, directory fsync), after every block and directory
//!   of the copy is durable. A crash before it leaves a directory with blocks and no
//!   `MANIFEST`, which an open refuses (`Error::MissingManifest`), never an empty database.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use infinitedb_format::Revision;
use uring_io::{BackendRequest, OsStorage, Storage};

use crate::error::{Error, Result};
use crate::lock::LOCK_FILE_NAME;
use crate::manifest::{Manifest, ManifestState};
use crate::paths::DbPaths;

/// How a block reached the copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Placed {
    Linked,
    Copied,
}

/// What a checkpoint wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckpointInfo {
    /// The copy's directory, canonical.
    pub path: PathBuf,
    /// Blocks hard-linked into the copy (same filesystem).
    pub blocks_linked: u64,
    /// Blocks copied byte for byte (another filesystem).
    pub blocks_copied: u64,
    /// Bytes of the copy's blocks.
    pub block_bytes: u64,
    /// The copy holds every write at or below this revision (and may hold later ones).
    pub revision: Revision,
}

/// Fails unless `dest` does not exist or is an empty directory.
pub(crate) fn check_destination(dest: &Path) -> Result<()> {
    match std::fs::read_dir(dest) {
        Ok(mut entries) => match entries.next() {
            None => Ok(()),
            Some(_) => Err(Error::InvalidOption {
                name: "checkpoint destination",
                detail: format!(
                    "{} is not empty; give a new or empty directory",
                    dest.display()
                ),
            }),
        },
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::os("read_dir", dest, source)),
    }
}

/// Writes the copy of `state`'s spaces and blocks (files under `source`) into `dest`, which
/// [`check_destination`] accepted; `revision` is the copy's high-water mark. The caller holds
/// the source's manifest lock, which `state` comes from.
pub(crate) fn write_copy(
    source: &DbPaths,
    state: &ManifestState,
    dest: &Path,
    backend: BackendRequest,
    revision: Revision,
) -> Result<CheckpointInfo> {
    let storage: Arc<dyn Storage> = OsStorage::open(dest, backend)?;
    let root =
        std::fs::canonicalize(dest).map_err(|source| Error::os("canonicalize", dest, source))?;
    let paths = DbPaths::new(&root, None);
    for dir in [&paths.segments, &paths.blocks, &paths.staging] {
        storage.create_dir_all(dir)?;
    }
    let lock = std::fs::File::create(root.join(LOCK_FILE_NAME))
        .map_err(|error| Error::os("create", &root.join(LOCK_FILE_NAME), error))?;
    lock.sync_all()
        .map_err(|error| Error::os("fsync", &root.join(LOCK_FILE_NAME), error))?;
    let mut info = CheckpointInfo {
        path: root.clone(),
        blocks_linked: 0,
        blocks_copied: 0,
        block_bytes: 0,
        revision,
    };
    for meta in state.blocks.values() {
        match place_block(&source.block(meta.block_id), &paths.block(meta.block_id))? {
            Placed::Linked => info.blocks_linked += 1,
            Placed::Copied => info.blocks_copied += 1,
        }
        info.block_bytes += meta.len_bytes;
    }
    for dir in [&paths.segments, &paths.blocks, &paths.staging, &paths.root] {
        storage.sync_dir(dir)?;
    }
    let mut copy = ManifestState {
        spaces: state.spaces.clone(),
        blocks: state.blocks.clone(),
        ..ManifestState::default()
    };
    copy.revision_high = state.revision_high.max(revision);
    Manifest::write_new(
        storage,
        paths.manifest(),
        paths.manifest_temporary(),
        copy,
        1,
    )?;
    Ok(info)
}

/// Hard-links the block file `from` as `to`, or copies it (and fsyncs the copy) when the two
/// are on different filesystems.
fn place_block(from: &Path, to: &Path) -> Result<Placed> {
    match std::fs::hard_link(from, to) {
        Ok(()) => Ok(Placed::Linked),
        Err(error) if error.kind() == std::io::ErrorKind::CrossesDevices => {
            std::fs::copy(from, to).map_err(|source| Error::os("copy", to, source))?;
            let file = std::fs::File::open(to).map_err(|source| Error::os("open", to, source))?;
            file.sync_all()
                .map_err(|source| Error::os("fsync", to, source))?;
            Ok(Placed::Copied)
        }
        Err(source) => Err(Error::os("link", to, source)),
    }
}
