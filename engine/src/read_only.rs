//! [`ReadOnlyDb`]: a database opened for reading only, beside no writer (docs/design.md §3,
//! "Isolation" and "Recovery").
//!
//! Owns: a shared lock on the directory (any number of read-only opens, no writing `Db`), the
//! catalogue as the manifest records it, and one [`Snapshot`] of every space at the highest
//! revision found: blocks, and the records of live logs replayed into memory. Invariants: the
//! open writes nothing (no lock file, probe file, seal, manifest rewrite or log recycle), so it
//! works on a directory the process may only read, and a crash during it changes nothing; a
//! writer cannot open the directory while it is held, so what it read stays what is on disk.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use infinitedb_format::{BlockMeta, LogMeta, Revision, SpaceId};
use uring_io::{BackendInfo, OsStorage, Storage};

use crate::directory::manifest_without_lock;
use crate::error::{Error, Result};
use crate::lock::{DirLock, LOCK_FILE_NAME, LockMode};
use crate::manifest::ManifestState;
use crate::options::Options;
use crate::paths::DbPaths;
use crate::read::{PageCache, Pin, Pinned, Readable, Snapshot, space_read};
use crate::recovery::recover_read_only;
use crate::space::{SpaceInfo, SpaceShared, space_infos};
use crate::stats::{SpaceStats, Stats, StatsCounters};

/// A database opened with [`crate::Db::open_read_only`]: every read of [`Readable`], at the
/// revision the directory held when it was opened, and a description of its files. It takes
/// no writes, and nothing written to the directory later is seen (a writer cannot open it
/// meanwhile: the shared lock keeps it out).
///
/// ```
/// use infinitedb::{Db, Options, Readable};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let db = Db::open(dir.path(), Options::default())?;
/// let space = db.create_space("sensors", 2, 16)?;
/// db.put(space, &[3, 4], b"21.5")?;
/// db.close()?;
///
/// let reader = Db::open_read_only(dir.path(), Options::default())?;
/// let space = reader.space("sensors")?;
/// assert_eq!(reader.get(space, &[3, 4])?.as_deref(), Some(&b"21.5"[..]));
/// // A writer waits until every read-only open is dropped.
/// assert!(matches!(Db::open(dir.path(), Options::default()), Err(infinitedb::Error::Locked { .. })));
/// drop(reader);
/// # Ok(())
/// # }
/// ```
pub struct ReadOnlyDb {
    storage: Arc<dyn Storage>,
    paths: DbPaths,
    state: ManifestState,
    generation: u64,
    spaces: HashMap<SpaceId, Arc<SpaceShared>>,
    space_names: HashMap<String, SpaceId>,
    snapshot: Snapshot,
    cache: Arc<PageCache>,
    stats: Arc<StatsCounters>,
    _lock: DirLock,
}

impl std::fmt::Debug for ReadOnlyDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadOnlyDb")
            .field("path", &self.paths.root)
            .field("revision", &self.snapshot.revision())
            .finish_non_exhaustive()
    }
}

/// What a database directory holds, as [`ReadOnlyDb::describe`] reports it: the catalogue
/// of the manifest, each space's blocks, and the logs that may hold records not yet in blocks.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Description {
    /// The database directory, canonical.
    pub path: PathBuf,
    /// The manifest file's generation: one more at every rewrite (each writing open makes
    /// one).
    pub manifest_generation: u64,
    /// The revision high-water mark the manifest records.
    pub revision_high: Revision,
    /// The highest revision found in the manifest, the blocks and the logs: what the reads
    /// of this open see.
    pub revision_last: Revision,
    /// Each space, by id.
    pub spaces: Vec<SpaceDescription>,
    /// The live logs the manifest names (hot segments and staging logs).
    pub logs: Vec<LogMeta>,
    /// Bytes of every file the manifest names (blocks and live logs) plus the manifest.
    pub bytes_on_disk: u64,
}

/// One space of a [`Description`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SpaceDescription {
    /// Its definition.
    pub info: SpaceInfo,
    /// Every record at or below this revision is in blocks (or dropped by retention).
    pub sealed: Revision,
    /// Its blocks, by level then key (each [`BlockMeta`] carries its level, key and revision
    /// ranges, record count and bytes).
    pub blocks: Vec<BlockMeta>,
    /// Record versions in live logs, not yet in blocks.
    pub live_tail_records: u64,
}

impl ReadOnlyDb {
    /// Opens the database in the existing directory `path` for reading (see
    /// [`crate::Db::open_read_only`]).
    pub(crate) fn open(path: &Path, options: &Options) -> Result<ReadOnlyDb> {
        options.validate()?;
        let (storage, lock, paths) = open_shared(path, options)?;
        crate::db::log_backend(storage.info(), &paths.root);
        let (catalogue, spaces) = recover_read_only(&storage, &paths, options.block_reads)?;
        let cache = Arc::new(PageCache::new(options.page_cache_bytes));
        let stats = Arc::new(StatsCounters::default());
        let revision = Revision(catalogue.revision_last);
        let reads = spaces
            .iter()
            .map(|shared| {
                shared.mark_published(revision);
                let view = shared.view.load_full();
                let read = space_read(shared, &view, &cache, &stats, options.query_range_budget);
                (shared.id, read)
            })
            .collect();
        Ok(ReadOnlyDb {
            storage,
            paths,
            state: catalogue.state,
            generation: catalogue.generation,
            space_names: spaces
                .iter()
                .map(|shared| (shared.name.to_string(), shared.id))
                .collect(),
            spaces: spaces
                .into_iter()
                .map(|shared| (shared.id, shared))
                .collect(),
            snapshot: Snapshot::new(revision, reads),
            cache,
            stats,
            _lock: lock,
        })
    }

    /// Every space, by id.
    pub fn spaces(&self) -> Vec<SpaceInfo> {
        space_infos(&self.state, self.spaces.values())
    }

    /// The id of the space named `name`.
    ///
    /// # Errors
    /// [`Error::UnknownSpace`].
    pub fn space(&self, name: &str) -> Result<SpaceId> {
        self.space_names
            .get(name)
            .copied()
            .ok_or_else(|| Error::UnknownSpace {
                name: name.to_string(),
            })
    }

    /// The revision every read of this open reads at: the highest found on disk.
    pub fn last_revision(&self) -> Revision {
        self.snapshot.revision()
    }

    /// A snapshot at [`ReadOnlyDb::last_revision`], to hand to code that takes one.
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot.clone()
    }

    /// The shape of `space`'s data: blocks, bytes and records per level, and the live tail
    /// (the records of its logs).
    ///
    /// # Errors
    /// [`Error::UnknownSpace`].
    pub fn space_stats(&self, space: SpaceId) -> Result<SpaceStats> {
        self.spaces
            .get(&space)
            .map(|shared| shared.stats())
            .ok_or_else(|| Error::UnknownSpace {
                name: format!("#{}", space.0),
            })
    }

    /// The read side's counters (page cache, block reads) of this open.
    pub fn stats(&self) -> Stats {
        self.stats.snapshot(&self.cache.counts())
    }

    /// The storage backend in use and why it was chosen.
    pub fn backend(&self) -> &BackendInfo {
        self.storage.info()
    }

    /// The directory's catalogue: spaces, blocks per level with their key and revision
    /// ranges, live logs, the revision marks and the bytes on disk.
    ///
    /// ```
    /// use infinitedb::{Db, Options};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = Db::open(dir.path(), Options::default())?;
    /// let space = db.create_space("ids", 1, 32)?;
    /// db.put(space, &[1], b"one")?;
    /// db.flush(space)?;
    /// db.close()?;
    /// let description = Db::open_read_only(dir.path(), Options::default())?.describe();
    /// let ids = &description.spaces[0];
    /// assert_eq!((ids.info.name.as_str(), ids.blocks.len()), ("ids", 1));
    /// assert!(description.bytes_on_disk > 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn describe(&self) -> Description {
        let mut spaces: Vec<SpaceDescription> = self
            .spaces()
            .into_iter()
            .map(|info| {
                let mut blocks: Vec<BlockMeta> = self
                    .state
                    .blocks
                    .values()
                    .filter(|meta| meta.space_id == info.id)
                    .copied()
                    .collect();
                blocks.sort_by_key(|meta| (meta.level, meta.min_key, meta.block_id));
                let live_tail_records = self
                    .spaces
                    .get(&info.id)
                    .map_or(0, |shared| shared.view.load().active.len() as u64);
                let sealed = self
                    .state
                    .spaces
                    .get(&info.id)
                    .map_or(Revision(0), |record| record.sealed);
                SpaceDescription {
                    info,
                    sealed,
                    blocks,
                    live_tail_records,
                }
            })
            .collect();
        spaces.sort_by_key(|space| space.info.id);
        let logs: Vec<LogMeta> = self.state.logs.values().copied().collect();
        let manifest_bytes = self
            .storage
            .open(&self.paths.manifest(), uring_io::OpenMode::Read)
            .and_then(|file| self.storage.file_len(&file))
            .unwrap_or(0);
        let bytes_on_disk = manifest_bytes
            + self
                .state
                .blocks
                .values()
                .map(|meta| meta.len_bytes)
                .sum::<u64>()
            + logs.iter().map(|meta| meta.len_bytes).sum::<u64>();
        Description {
            path: self.paths.root.clone(),
            manifest_generation: self.generation,
            revision_high: self.state.revision_high,
            revision_last: self.snapshot.revision(),
            spaces,
            logs,
            bytes_on_disk,
        }
    }
}

impl Pin for ReadOnlyDb {
    fn pin(&self, space: SpaceId) -> Result<Pinned<'_>> {
        self.snapshot.pin(space)
    }
}

impl Readable for ReadOnlyDb {}

/// The storage, shared lock and paths of the existing directory `path` (on `options.storage`
/// if set, else the OS storage); nothing is created or written. Fails with
/// [`Error::Locked`] while a writing `Db` holds the directory.
pub(crate) fn open_shared(
    path: &Path,
    options: &Options,
) -> Result<(Arc<dyn Storage>, DirLock, DbPaths)> {
    match &options.storage {
        Some(storage) => {
            let root = path.to_path_buf();
            let lock = DirLock::lock_registry(storage, &root, LockMode::Shared)?;
            let paths = DbPaths::new(&root, options.staging_dir.as_deref());
            Ok((storage.clone(), lock, paths))
        }
        None => open_os(path, options),
    }
}

/// The storage, shared lock and paths of an existing directory on the OS storage; nothing is
/// created or written.
fn open_os(path: &Path, options: &Options) -> Result<(Arc<dyn Storage>, DirLock, DbPaths)> {
    let root =
        std::fs::canonicalize(path).map_err(|source| Error::os("canonicalize", path, source))?;
    let staging = options
        .staging_dir
        .as_deref()
        .map(|dir| {
            std::fs::canonicalize(dir).map_err(|source| Error::os("canonicalize", dir, source))
        })
        .transpose()?;
    let paths = DbPaths::new(&root, staging.as_deref());
    let Some(lock) = DirLock::lock_file_shared(&root)? else {
        return Err(without_lock_file(&root));
    };
    let storage: Arc<dyn Storage> =
        OsStorage::open_existing(&root, options.backend, Path::new(LOCK_FILE_NAME))?;
    Ok((storage, lock, paths))
}

/// The error for a directory without a `LOCK` file: a manifest without its lock file (as a
/// writing open refuses it), or no database at all.
fn without_lock_file(root: &Path) -> Error {
    let listed = std::fs::read_dir(root)
        .map(|entries| {
            let mut names: Vec<String> = entries
                .filter_map(std::result::Result::ok)
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        })
        .unwrap_or_default();
    if listed.iter().any(|name| name == "MANIFEST") {
        return manifest_without_lock(root, listed);
    }
    Error::NotADatabase {
        path: root.to_path_buf(),
        reason: "it holds no database (no MANIFEST, no LOCK file), so there is nothing to open \
                 read-only"
            .to_string(),
        found: listed,
    }
}
