//! What a directory holds before a database is opened in it: an existing database, room for
//! a new one, or something else that must not be opened as an empty database.
//!
//! A database directory holds `LOCK`, `MANIFEST` (and briefly `MANIFEST.tmp`) and the
//! `segments/`, `blocks/` and `staging/` directories (paths.rs). The decision, made before
//! anything is created there:
//!
//! | `MANIFEST` | `LOCK` before this open | other entries | verdict |
//! |---|---|---|---|
//! | present | present (or a supplied storage, which has none) | anything | [`Contents::Database`] |
//! | present | absent | anything | [`Error::NotADatabase`]: a copy made without its lock file, or files moved |
//! | absent | any | segments, blocks or staging logs, or a checkpoint's `CHECKPOINT-INCOMPLETE` marker | [`Error::MissingManifest`] |
//! | absent | any | only the engine's (empty) directories and `MANIFEST.tmp` | [`Contents::Empty`] |
//! | absent | any | any other entry | [`Error::NotADatabase`], naming what was found |
//!
//! A `LOCK` with nothing else but empty engine directories is what a first open leaves when it
//! stops before its `MANIFEST` is durable: no write can have been acknowledged before that
//! (a space's creation is itself a manifest edit), so it is opened as a new database. Names in
//! the engine's directories that are not the engine's (paths.rs parses them) count as foreign
//! entries only while there is no manifest; beside a manifest they are left alone.

use std::ffi::OsString;
use std::path::Path;

use uring_io::Storage;

use crate::checkpoint::INCOMPLETE_MARKER;
use crate::error::{Error, Result};
use crate::lock::LOCK_FILE_NAME;
use crate::paths::{DbPaths, parse_block_name, parse_segment_name, parse_staging_name};

/// What the open saw of the lock file before it took the lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LockFileSeen {
    /// `LOCK` existed already.
    Present,
    /// This open created `LOCK`.
    Created,
    /// A supplied storage: the lock lives in a process-wide registry, not in a file.
    NotAFile,
}

/// A directory that may be opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Contents {
    /// It holds a manifest.
    Database,
    /// It holds nothing of a database: a new one is created.
    Empty,
}

/// The refusal of a directory holding a `MANIFEST` but no `LOCK` file; `found` lists its
/// entries.
pub(crate) fn manifest_without_lock(root: &Path, found: Vec<String>) -> Error {
    Error::NotADatabase {
        path: root.to_path_buf(),
        reason: "it holds a MANIFEST but had no LOCK file, so it is not a directory this engine \
                 made (a copy made without its LOCK file? create an empty LOCK file there to \
                 open it)"
            .to_string(),
        found,
    }
}

/// The engine's directories under the root, by name.
const ENGINE_DIRECTORIES: [&str; 3] = ["segments", "blocks", "staging"];

/// Classifies the directory at `paths` (see the module doc).
pub(crate) fn classify(
    storage: &dyn Storage,
    paths: &DbPaths,
    lock: LockFileSeen,
) -> Result<Contents> {
    let manifest = storage.exists(&paths.manifest())?;
    let root_entries = list(storage, &paths.root)?;
    if manifest {
        if lock == LockFileSeen::Created {
            return Err(manifest_without_lock(&paths.root, names(&root_entries)));
        }
        return Ok(Contents::Database);
    }
    let staging_name = paths
        .staging
        .parent()
        .filter(|parent| *parent == paths.root)
        .and_then(Path::file_name);
    let mut foreign = Vec::new();
    let mut data_files = false;
    for name in &root_entries {
        let Some(text) = name.to_str() else {
            foreign.push(name.to_string_lossy().into_owned());
            continue;
        };
        let engine_dir =
            ENGINE_DIRECTORIES.contains(&text) || staging_name.is_some_and(|own| own == name);
        if text == LOCK_FILE_NAME || text == "MANIFEST.tmp" || engine_dir {
            continue;
        }
        if text == INCOMPLETE_MARKER {
            data_files = true;
            continue;
        }
        foreign.push(text.to_string());
    }
    for dir in [&paths.segments, &paths.blocks, &paths.staging] {
        for name in list(storage, dir)? {
            let ours = name.to_str().is_some_and(|text| {
                parse_segment_name(text).is_some()
                    || parse_block_name(text).is_some()
                    || parse_staging_name(text).is_some()
            });
            if ours {
                data_files = true;
            } else if let Ok(relative) = dir.strip_prefix(&paths.root) {
                // A staging directory outside the root may be shared: only its logs count.
                foreign.push(relative.join(&name).display().to_string());
            }
        }
    }
    if data_files {
        return Err(Error::MissingManifest {
            path: paths.root.clone(),
        });
    }
    if !foreign.is_empty() {
        foreign.sort();
        return Err(Error::NotADatabase {
            path: paths.root.clone(),
            reason: "it has no MANIFEST and holds files that are not a database's; open an \
                     empty or new directory to create a database"
                .to_string(),
            found: foreign,
        });
    }
    Ok(Contents::Empty)
}

/// The entries of `dir`, or none if it does not exist.
fn list(storage: &dyn Storage, dir: &Path) -> Result<Vec<OsString>> {
    if !storage.exists(dir)? {
        return Ok(Vec::new());
    }
    Ok(storage.list_dir(dir)?)
}

fn names(entries: &[OsString]) -> Vec<String> {
    let mut names: Vec<String> = entries
        .iter()
        .map(|name| name.to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
