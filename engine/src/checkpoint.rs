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
//! - The first entry of the copy is the marker [`INCOMPLETE_MARKER`], durable (its directory
//!   fsynced) before any other entry is created. The copy's manifest is written last, through
//!   the same atomic rewrite as a recovery's (temporary file, fdatasync, rename, directory
//!   fsync), after every block and directory of the copy is durable; the marker is removed
//!   after it. So a crash or power loss at any instant leaves either a durable `MANIFEST`
//!   whose every block is durable, or no `MANIFEST` and a durable marker, which an open
//!   refuses (`Error::MissingManifest`), never an empty database (without the marker, a copy
//!   cut before its first block would hold only `LOCK` and empty directories, which an open
//!   takes for a new database). A marker left beside a manifest (a crash between the
//!   manifest's rename and the marker's removal) is ignored: the manifest decides.
//! - Every step goes through a [`Storage`]: on the OS filesystem one opened at the
//!   destination (which may be another filesystem than the source's), else the storage the
//!   database was given, whose namespace holds the copy too. So the simulated disk's power
//!   losses reach every step (`engine/tests/checkpoint_power_loss_sim.rs`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use infinitedb_format::Revision;
use uring_io::{BackendRequest, IoError, OpenMode, OsStorage, Storage};

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
    /// The copy's directory: canonical on the OS filesystem, as given on a supplied storage.
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

/// Where a checkpoint writes its copy: a directory and the storage it is reached through.
#[derive(Debug)]
pub(crate) enum Destination {
    /// A directory of the OS filesystem, absolute. The copy opens an OS storage of its own
    /// there: that directory may be on another filesystem than the source, with another
    /// backend or direct-I/O alignment.
    Os {
        dir: PathBuf,
        backend: BackendRequest,
    },
    /// A directory in the namespace of the storage the database was given
    /// ([`crate::Options::storage`]), which holds the copy too.
    Supplied {
        dir: PathBuf,
        storage: Arc<dyn Storage>,
    },
}

impl Destination {
    /// The copy's directory.
    pub(crate) fn dir(&self) -> &Path {
        match self {
            Destination::Os { dir, .. } | Destination::Supplied { dir, .. } => dir,
        }
    }
}

/// Fails unless `dest` does not exist or is an empty directory of `storage` (the source's:
/// on the OS filesystem, `dest` is absolute, so any OS storage reaches it).
pub(crate) fn check_destination(storage: &dyn Storage, dest: &Path) -> Result<()> {
    let entries = match storage.list_dir(dest) {
        Ok(entries) => entries,
        Err(IoError::Os { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(());
        }
        Err(error) => return Err(error.into()),
    };
    if entries.is_empty() {
        return Ok(());
    }
    Err(Error::InvalidOption {
        name: "checkpoint destination",
        detail: format!(
            "{} is not empty; give a new or empty directory",
            dest.display()
        ),
    })
}

/// The file a checkpoint creates first in its copy and removes once the copy's manifest is
/// durable: a directory holding it and no `MANIFEST` is a checkpoint cut short.
pub(crate) const INCOMPLETE_MARKER: &str = "CHECKPOINT-INCOMPLETE";

/// Writes the copy of `state`'s spaces and blocks (files under `source`) into `dest`, which
/// [`check_destination`] accepted; `revision` is the copy's high-water mark. The caller holds
/// the source's manifest lock, which `state` comes from. Every step goes through the copy's
/// storage, so on the simulated disk a power loss can cut any of them.
pub(crate) fn write_copy(
    source: &DbPaths,
    state: &ManifestState,
    dest: Destination,
    revision: Revision,
) -> Result<CheckpointInfo> {
    let (storage, paths) = start_copy(dest)?;
    let mut info = CheckpointInfo {
        path: paths.root.clone(),
        blocks_linked: 0,
        blocks_copied: 0,
        block_bytes: 0,
        revision,
    };
    for meta in state.blocks.values() {
        let from = source.block(meta.block_id);
        match place_block(storage.as_ref(), &from, &paths.block(meta.block_id))? {
            Placed::Linked => info.blocks_linked += 1,
            Placed::Copied => info.blocks_copied += 1,
        }
        info.block_bytes += meta.len_bytes;
    }
    // Every name of the copy is durable before the manifest that needs them exists.
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
        Arc::clone(&storage),
        paths.manifest(),
        paths.manifest_temporary(),
        copy,
        1,
    )?;
    storage.remove_file(&paths.root.join(INCOMPLETE_MARKER))?;
    storage.sync_dir(&paths.root)?;
    Ok(info)
}

/// Creates the copy's directory with its durable [`INCOMPLETE_MARKER`] first, then the
/// engine's empty directories and an empty `LOCK`, each durable; returns the copy's storage
/// and paths.
fn start_copy(dest: Destination) -> Result<(Arc<dyn Storage>, DbPaths)> {
    let (storage, root): (Arc<dyn Storage>, PathBuf) = match dest {
        Destination::Os { dir, backend } => {
            let storage = OsStorage::open(&dir, backend)?;
            let root = storage.root().to_path_buf();
            (storage, root)
        }
        Destination::Supplied { dir, storage } => {
            storage.create_dir_all(&dir)?;
            (storage, dir)
        }
    };
    // `CreateNew` syncs the directory: the marker is durable before anything else is made.
    storage.open(&root.join(INCOMPLETE_MARKER), OpenMode::CreateNew)?;
    let paths = DbPaths::new(&root, None);
    for dir in [&paths.segments, &paths.blocks, &paths.staging] {
        storage.create_dir_all(dir)?;
    }
    storage.open(&root.join(LOCK_FILE_NAME), OpenMode::CreateNew)?;
    Ok((storage, paths))
}

/// Hard-links the block file `from` as `to`, or copies it (fsynced) when the two are on
/// different filesystems. Either name is durable only once `to`'s directory is synced.
fn place_block(storage: &dyn Storage, from: &Path, to: &Path) -> Result<Placed> {
    match storage.hard_link(from, to) {
        Ok(()) => Ok(Placed::Linked),
        Err(IoError::CrossesDevices { .. }) => {
            storage.copy_file(from, to)?;
            Ok(Placed::Copied)
        }
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Db, Options};

    #[test]
    fn a_copy_cut_before_its_first_block_is_refused_not_opened_empty() {
        // Goal: the state a crash leaves after the copy's first steps (its engine directories
        // and `LOCK` durable, no block and no manifest yet) fails closed; without the marker
        // that state is what a first open leaves, which opens as a new empty database.
        // Method: run the copy's first steps on a new directory, then open it both ways.
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("copy");
        let destination = Destination::Os {
            dir: dest.clone(),
            backend: BackendRequest::Auto,
        };
        let (storage, paths) = start_copy(destination).unwrap();
        drop(storage);
        assert!(paths.root.join(LOCK_FILE_NAME).exists());
        assert!(paths.root.join(INCOMPLETE_MARKER).exists());
        let refused = Db::open_read_only(&dest, Options::default());
        assert!(
            matches!(refused, Err(Error::MissingManifest { .. })),
            "{refused:?}"
        );
        let refused = Db::open(&dest, Options::default());
        assert!(
            matches!(refused, Err(Error::MissingManifest { .. })),
            "{refused:?}"
        );
    }

    #[test]
    fn a_finished_copy_has_no_marker() {
        // Goal: a checkpoint that returned leaves no marker behind and opens.
        // Method: checkpoint a database with one point; look for the marker; open the copy.
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path().join("source"), Options::default()).unwrap();
        let space = db.create_space("ids", 1, 32).unwrap();
        db.put(space, [1], b"one").unwrap();
        let info = db.checkpoint(dir.path().join("copy")).unwrap();
        assert!(!info.path.join(INCOMPLETE_MARKER).exists());
        let copy = Db::open(&info.path, Options::default()).unwrap();
        assert_eq!(copy.space("ids").unwrap(), space);
    }
}
