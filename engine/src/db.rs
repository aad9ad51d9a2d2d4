//! [`Db`]: the handle a service embeds — open and recovery, spaces, writes, the minimal read,
//! and an orderly shutdown that drains every queued write (docs/design.md §3, §4).
//!
//! Threads: writers call into `&Db` from any thread and block on a one-shot reply; the I/O
//! thread alone drives the commit queue (`io_thread`), so no write runs kernel work on its
//! caller's thread (`io_thread::driver`); one sealer thread writes blocks and
//! prepares spare logs (`sealer`). `close` (and `Drop`, which never panics) sends `Shutdown`
//! and joins both: the I/O thread first finishes every queued write, then the sealer its
//! queued seals.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, unbounded};
use infinitedb_format::{
    FRAME_HEADER_BYTES, ManifestEdit, Retention, Revision, SPACE_NAME_BYTES_MAX, SpaceId,
    stamped_frame_bytes,
};
use parking_lot::{Mutex, RwLock};
use uring_io::{BackendInfo, OsStorage, Storage};

use crate::batch::{Batch, IntoValue, KeyedBatch};
use crate::checkpoint::{CheckpointInfo, Destination, check_destination, write_copy};
use crate::compaction::{Compactor, CompactorJob, Shape};
use crate::directory::LockFileSeen;
use crate::error::{Error, Result};
use crate::io_thread::{IoConfig, IoThread, driver};
use crate::keyspace::Curve;
use crate::levels::Levels;
use crate::lock::{DirLock, LockMode};
use crate::log_file::{LogFile, hot_header};
use crate::manifest::Manifest;
use crate::read::{PageCache, Pin, Pinned, Readable, Snapshot, VisibleRevision, space_read};
use crate::read_only::ReadOnlyDb;
use crate::trace;

use crate::options::Durability;
use crate::options::{Options, WriteOptions};
use crate::paths::{DbPaths, resolve_directory};
use crate::pending::Pending;
use crate::queue::{ByteGate, Command, CommandSender, Doorbell, NewSpace, SpareSender};
use crate::recovery::recover;
use crate::sealer::{Ids, Sealer};
use crate::space::{SpaceInfo, SpaceShared, SpaceView, space_infos};
use crate::stats::{SpaceStats, Stats, StatsCounters};
use crate::submission::Submission;

/// The I/O thread's settings from the options (the deadline hedges `Sync` writes, see
/// [`Options::deadline`]).
fn io_config(options: &Options) -> IoConfig {
    IoConfig {
        durability: options.durability,
        deadline: options.deadline,
        seal_threshold_bytes: options.seal_threshold_bytes,
        seal_threshold_records: options.seal_threshold_records,
        frame_bytes_max: options.frame_bytes_max(),
    }
}

// Writers share `&Db` across threads.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Db>();
};

/// The retention the manifest records for `space` (`All` when it records none).
fn retention_of(manifest: &Manifest, space: SpaceId) -> Retention {
    manifest.state().retention(space)
}

/// The counters of a new open: recovery's blocks are its first seals.
fn counters_after(recovered: &crate::recovery::Recovered) -> Arc<StatsCounters> {
    let stats = Arc::new(StatsCounters::default());
    let (tail_seals, tail_sealed_bytes) = recovered.tail_seals;
    StatsCounters::add(&stats.seals, tail_seals);
    StatsCounters::add(&stats.sealed_bytes, tail_sealed_bytes);
    stats
}

/// Bytes a queued write holds in the gate besides its records (its bookkeeping).
const WRITE_OVERHEAD_BYTES: usize = 256;

/// The bytes the write gate admits: `queue_bytes_max`, but no more than the writes whose
/// records make one frame of a segment (the largest write accepted still fits).
///
/// Every write not yet durable in its hot segment holds its bytes in the gate. Under `NoSync`
/// a write is in the live tail before its frame is logged, so a seal's switch may freeze
/// records still queued for the log: they go to the space's next segment, and the seal waits
/// for them to be logged before it writes its block (`sealer.rs`). The segment after that
/// one is the seal's own recycled segment, so records that did not fit would wait for the
/// seal while the seal waits for them. Bounded by the gate, they make at most one frame,
/// which the switch's empty segment always takes in its first chain.
fn gate_bytes_max(options: &Options) -> usize {
    let one_frame = options
        .frame_bytes_max()
        .saturating_sub(FRAME_HEADER_BYTES)
        .saturating_add(WRITE_OVERHEAD_BYTES);
    options.queue_bytes_max.min(one_frame)
}

/// An open database. `Send + Sync`: share `&Db` (or `Arc<Db>`) between writer threads.
///
/// ```
/// use infinitedb::{Db, Options, Readable};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let db = Db::open(dir.path(), Options::default())?;
/// let space = db.create_space("points", 2, 16)?;
/// let revision = db.put(space, &[3, 4], b"hello")?;
/// assert_eq!(db.get(space, &[3, 4])?.as_deref(), Some(&b"hello"[..]));
/// # let _ = revision;
/// db.close()?;
/// # Ok(())
/// # }
/// ```
pub struct Db {
    storage: Arc<dyn Storage>,
    paths: DbPaths,
    options: Options,
    commands: CommandSender,
    spaces: RwLock<HashMap<SpaceId, Arc<SpaceShared>>>,
    space_names: RwLock<HashMap<String, SpaceId>>,
    manifest: Arc<Mutex<Manifest>>,
    ids: Arc<Ids>,
    gate: Arc<ByteGate>,
    stats: Arc<StatsCounters>,
    revision_last: Arc<AtomicU64>,
    visible: Arc<VisibleRevision>,
    cache: Arc<PageCache>,
    create_lock: Mutex<()>,
    compactions: Sender<CompactorJob>,
    /// The I/O thread and the sealer, stopped first.
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Stopped after them: a seal's last block may still start a compaction.
    compactor: Mutex<Option<JoinHandle<()>>>,
    _lock: DirLock,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("path", &self.paths.root)
            .field("backend", self.storage.info())
            .finish_non_exhaustive()
    }
}

impl Db {
    /// Opens the database in directory `path`, creating it if it does not exist (or is
    /// empty), and recovers everything acknowledged before a crash.
    ///
    /// `path` may be relative (to the working directory), contain `..` or pass through
    /// symlinks: it is resolved once, and every file of the database lives under the
    /// directory it names, so any spelling of one directory opens the same database.
    ///
    /// ```
    /// use infinitedb::{Db, Options, Readable};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = Db::open(dir.path(), Options::default())?;
    /// let space = db.create_space("ids", 1, 32)?;
    /// db.put(space, &[1], b"one")?;
    /// db.close()?;
    /// // Reopening recovers every acknowledged write, spaces included.
    /// let db = Db::open(dir.path(), Options::default())?;
    /// assert_eq!(db.get(db.space("ids")?, &[1])?.as_deref(), Some(&b"one"[..]));
    /// # drop(space);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Error::Locked`] if another `Db` has it open; [`Error::NotADatabase`] if the directory
    /// holds foreign files and no manifest, or a manifest without its `LOCK` file (nothing is
    /// written to it); [`Error::MissingManifest`] if data files exist without a manifest;
    /// [`Error::Corruption`] if acknowledged data or metadata is damaged, or a file the
    /// manifest names (a block, a log holding unsealed writes) is missing, cut short or
    /// replaced; [`Error::InvalidOption`]; [`Error::Io`].
    pub fn open(path: impl AsRef<Path>, options: Options) -> Result<Db> {
        options.validate()?;
        let _span = trace::span!("open", path = trace::display(path.as_ref().display()));
        let (storage, lock, seen, paths) = match &options.storage {
            Some(storage) => {
                // A supplied storage has its own namespace: its paths are used as given.
                let root = path.as_ref().to_path_buf();
                let lock = DirLock::lock_registry(storage, &root, LockMode::Exclusive)?;
                let paths = DbPaths::new(&root, options.staging_dir.as_deref());
                (storage.clone(), lock, LockFileSeen::NotAFile, paths)
            }
            None => {
                let os_storage = OsStorage::open(path.as_ref(), options.backend)?;
                let root = os_storage.root().to_path_buf();
                let storage: Arc<dyn Storage> = os_storage;
                let staging = options
                    .staging_dir
                    .as_deref()
                    .map(|dir| resolve_directory(storage.as_ref(), dir))
                    .transpose()?;
                let (lock, seen) = DirLock::lock_file(&root)?;
                (storage, lock, seen, DbPaths::new(&root, staging.as_deref()))
            }
        };
        log_backend(storage.info(), &paths.root);
        let recovered = match recover(
            &storage,
            &paths,
            seen,
            options.segment_bytes,
            options.block_reads,
        ) {
            Ok(recovered) => recovered,
            Err(error) => {
                let refused = matches!(
                    error,
                    Error::NotADatabase { .. } | Error::MissingManifest { .. }
                );
                if refused && seen == LockFileSeen::Created {
                    lock.remove_created_file(&paths.root);
                }
                return Err(error);
            }
        };
        trace::event!(
            info,
            "recovered",
            path = trace::debug(&paths.root),
            revision = recovered.revision_last,
            spaces = recovered.spaces.len(),
            tail_blocks = recovered.tail_seals.0,
            tail_bytes = recovered.tail_seals.1,
        );
        Self::start(storage, paths, options, lock, recovered)
    }

    /// Opens the existing database in directory `path` for reading only, beside other
    /// read-only opens and no writer: it takes a shared lock, writes nothing (the logs'
    /// records are replayed into memory, not sealed into blocks), and reads at the highest
    /// revision on disk. An operator's tools, and a process that inspects a database it must
    /// not change, use it. Of `options`, the storage, staging directory, backend, block reads,
    /// page cache and query budget apply.
    ///
    /// ```
    /// use infinitedb::{Db, Options, Readable};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = Db::open(dir.path(), Options::default())?;
    /// let space = db.create_space("ids", 1, 32)?;
    /// db.put(space, &[7], b"seven")?;
    /// db.close()?;
    /// let reader = Db::open_read_only(dir.path(), Options::default())?;
    /// assert_eq!(reader.get(space, &[7])?.as_deref(), Some(&b"seven"[..]));
    /// // The write is still in its log: the next writing open seals it into a block.
    /// assert_eq!(reader.describe().spaces[0].live_tail_records, 1);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Error::Locked`] while a writing `Db` holds the directory; [`Error::NotADatabase`] if
    /// the directory holds no database (nothing is created); [`Error::MissingManifest`];
    /// [`Error::Corruption`] as for [`Db::open`]; [`Error::InvalidOption`]; [`Error::Io`]
    /// (`NotFound` when `path` does not exist).
    pub fn open_read_only(path: impl AsRef<Path>, options: Options) -> Result<ReadOnlyDb> {
        ReadOnlyDb::open(path.as_ref(), &options)
    }

    fn start(
        storage: Arc<dyn Storage>,
        paths: DbPaths,
        options: Options,
        lock: DirLock,
        recovered: crate::recovery::Recovered,
    ) -> Result<Db> {
        let (command_sender, command_receiver) = unbounded();
        let doorbell = Arc::new(Doorbell::default());
        let commands = CommandSender::new(command_sender, doorbell.clone());
        let (spare_sender, spare_receiver) = unbounded();
        let (sealer_jobs, sealer_receiver) = unbounded();
        let (compactions, compactor_jobs) = unbounded();
        let stats = counters_after(&recovered);
        let gate = Arc::new(ByteGate::new(gate_bytes_max(&options)));
        let revision_last = Arc::new(AtomicU64::new(recovered.revision_last));
        let manifest = Arc::new(Mutex::new(recovered.manifest));
        let ids = Arc::new(recovered.ids);
        let config = io_config(&options);
        let queue = storage.commit_queue()?;
        let mut io_thread = IoThread::new(
            config,
            queue,
            command_receiver,
            spare_receiver,
            sealer_jobs,
            gate.clone(),
            stats.clone(),
            revision_last.clone(),
            Some(recovered.staging),
        );
        let (spaces, space_names) = add_spaces(
            &mut io_thread,
            recovered.spaces,
            Revision(recovered.revision_last),
        );
        let sealer = Sealer {
            storage: storage.clone(),
            paths: paths.clone(),
            manifest: manifest.clone(),
            ids: ids.clone(),
            spares: SpareSender::new(spare_sender, doorbell.clone()),
            jobs: sealer_receiver,
            stats: stats.clone(),
            segment_bytes: options.segment_bytes,
            block_reads: options.block_reads,
            revision_last: revision_last.clone(),
            compactions: compactions.clone(),
            write_buffer: Mutex::default(),
        };
        let visible = io_thread.visible.clone();
        let cache = Arc::new(PageCache::new(options.page_cache_bytes));
        let io_handle = spawn("infinitedb-io", move || driver::run(io_thread, &doorbell))?;
        let compactor = compactor_beside(&sealer, &options, &visible, compactor_jobs);
        let sealer_handle = spawn("infinitedb-sealer", move || sealer.run())?;
        let compactor_handle = start_compactor(compactor, &compactions, spaces.values())?;
        Ok(Db {
            storage,
            paths,
            options,
            commands,
            spaces: RwLock::new(spaces),
            space_names: RwLock::new(space_names),
            manifest,
            ids,
            gate,
            stats,
            revision_last,
            visible,
            cache,
            create_lock: Mutex::new(()),
            compactions,
            threads: Mutex::new(vec![io_handle, sealer_handle]),
            compactor: Mutex::new(Some(compactor_handle)),
            _lock: lock,
        })
    }

    /// Drains queued writes, finishes queued seals, stops the threads and releases the lock.
    /// Dropping a `Db` does the same but cannot report an error.
    ///
    /// ```
    /// use infinitedb::{Db, Options};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = Db::open(dir.path(), Options::default())?;
    /// db.close()?;
    /// // The lock is released: the directory opens again.
    /// let _again = Db::open(dir.path(), Options::default())?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Error::Poisoned`] if an engine thread had stopped abnormally.
    pub fn close(self) -> Result<()> {
        self.shut_down()
    }

    fn shut_down(&self) -> Result<()> {
        let _ = self.commands.send(Command::Shutdown);
        let handles: Vec<JoinHandle<()>> = self.threads.lock().drain(..).collect();
        let compactor = self.compactor.lock().take();
        let result = join_all(handles);
        let _ = self.compactions.send(CompactorJob::Shutdown);
        result.and(join_all(compactor))
    }

    /// Creates a space of `dims` dimensions (1..=16) with `bits_per_dim` bits each (1..=32,
    /// `dims × bits_per_dim ≤ 128`), durably. Its points have `dims` coordinates, each in
    /// `0..=2^bits_per_dim − 1`; the space keeps every version ([`Retention::All`]).
    ///
    /// ```
    /// use infinitedb::{Db, Options, Readable};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = Db::open(dir.path(), Options::default())?;
    /// // Latitude, longitude and time, 32 bits each (see engine/examples/sensor_store.rs).
    /// let readings = db.create_space("readings", 3, 32)?;
    /// db.put(readings, &[u32::MAX, 0, 1_700_000_000], b"21.5")?;
    /// assert!(db.create_space("too-wide", 5, 32).is_err()); // 160 bits > 128
    /// assert_eq!(db.space("readings")?, readings);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidSpace`] for a bad shape or name; [`Error::SpaceExists`]; [`Error::Io`].
    pub fn create_space(&self, name: &str, dims: u32, bits_per_dim: u32) -> Result<SpaceId> {
        self.create_space_with(name, dims, bits_per_dim, Retention::All)
    }

    /// Creates a space as [`Db::create_space`] does, keeping the versions `retention` names
    /// (see [`Db::set_retention`]).
    ///
    /// ```
    /// use infinitedb::{Db, Options, Readable, Retention};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = Db::open(dir.path(), Options::default())?;
    /// // A table of current positions: only each point's newest value is kept on disk.
    /// let space = db.create_space_with("positions", 2, 16, Retention::Latest)?;
    /// db.put(space, &[3, 4], b"old")?;
    /// db.put(space, &[3, 4], b"new")?;
    /// db.compact(space)?;
    /// assert_eq!(db.history(space, &[3, 4])?.len(), 1);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// As [`Db::create_space`], and [`Error::InvalidOption`] for `Retention::Versions(0)`.
    pub fn create_space_with(
        &self,
        name: &str,
        dims: u32,
        bits_per_dim: u32,
        retention: Retention,
    ) -> Result<SpaceId> {
        check_retention(retention)?;
        let curve = Curve::new(dims, bits_per_dim).map_err(|source| Error::InvalidSpace {
            detail: format!("dims {dims} × bits {bits_per_dim}"),
            source: Some(source),
        })?;
        if name.is_empty() || name.len() > SPACE_NAME_BYTES_MAX {
            return Err(Error::InvalidSpace {
                detail: format!("name must be 1..={SPACE_NAME_BYTES_MAX} bytes"),
                source: None,
            });
        }
        let (dims_byte, bits_byte) = (u8::try_from(dims), u8::try_from(bits_per_dim));
        let (Ok(dims_byte), Ok(bits_byte)) = (dims_byte, bits_byte) else {
            return Err(Error::InvalidSpace {
                detail: "dims or bits out of range".to_string(),
                source: None,
            });
        };
        let _guard = self.create_lock.lock();
        if self.space_names.read().contains_key(name) {
            return Err(Error::SpaceExists {
                name: name.to_string(),
            });
        }
        let space_id = SpaceId(self.spaces.read().keys().map(|id| id.0).max().unwrap_or(0) + 1);
        let edit = ManifestEdit::CreateSpace {
            space_id,
            name: name.to_string(),
            dims: dims_byte,
            bits_per_dim: bits_byte,
        };
        // The segments are named in the same batch that creates the space: a crash before it
        // leaves two unnamed, empty segment files, which the next open recycles.
        let active = self.new_segment(space_id)?;
        let spare = self.new_segment(space_id)?;
        // A space without `SetRetention` keeps every version.
        let retained = (retention != Retention::All).then_some(ManifestEdit::SetRetention {
            space_id,
            retention,
        });
        let edits: Vec<ManifestEdit> = std::iter::once(edit)
            .chain(retained)
            .chain([
                ManifestEdit::AddLog(active.meta()),
                ManifestEdit::AddLog(spare.meta()),
            ])
            .collect();
        self.manifest.lock().append(&edits)?;
        let shared = Arc::new(SpaceShared::new(
            space_id,
            name.to_string(),
            curve,
            Levels::default(),
        ));
        self.spaces.write().insert(space_id, shared.clone());
        self.space_names.write().insert(name.to_string(), space_id);
        self.commands.send(Command::AddSpace(Box::new(NewSpace {
            space: shared,
            active,
            spare,
        })))?;
        Ok(space_id)
    }

    fn new_segment(&self, space_id: SpaceId) -> Result<LogFile> {
        let segment = self.ids.segment();
        let header = hot_header(
            segment,
            space_id,
            Revision(self.revision_last.load(Ordering::Acquire)),
        );
        LogFile::create(
            self.storage.as_ref(),
            self.paths.segment(space_id, segment),
            header,
            self.options.segment_bytes,
        )
    }

    /// Changes which versions `space` keeps, durably. Compaction applies it from then on, to
    /// the blocks it merges; the live tail and blocks not merged yet keep every version
    /// until then ([`Db::compact`] applies it to everything now). Reads at the latest
    /// revision are the same under every policy. Below it:
    /// - `All`: [`Db::get_at`] and [`Db::history`] are exact at every revision.
    /// - `Window(n)`: exact at every revision from `latest − n` on (as of the last
    ///   compaction); older ones may be gone.
    /// - `Versions(n)` and `Latest`: history holds at least the newest `n` (or 1) versions;
    ///   older ones, and reads at older revisions, may be gone or may still be found in
    ///   blocks a compaction has not reached yet.
    ///
    /// A [`Snapshot`] keeps reading the blocks it started with, so it sees every version
    /// it saw when it was taken, whatever compactions run meanwhile.
    ///
    /// ```
    /// use infinitedb::{Db, Options, Readable, Retention};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = Db::open(dir.path(), Options::default())?;
    /// let space = db.create_space("readings", 1, 32)?; // keeps every version
    /// for value in [b"1", b"2", b"3"] {
    ///     db.put(space, &[0], value)?;
    /// }
    /// db.set_retention(space, Retention::Versions(2))?;
    /// assert_eq!(db.retention(space)?, Retention::Versions(2));
    /// db.compact(space)?; // applies it to every version now
    /// assert_eq!(db.history(space, &[0])?.len(), 2);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownSpace`]; [`Error::InvalidOption`] for `Retention::Versions(0)`;
    /// [`Error::Io`] if the manifest append failed (the policy is unchanged).
    pub fn set_retention(&self, space: SpaceId, retention: Retention) -> Result<()> {
        check_retention(retention)?;
        let shared = self.shared(space)?;
        self.manifest.lock().append(&[ManifestEdit::SetRetention {
            space_id: space,
            retention,
        }])?;
        let _ = self.compactions.send(CompactorJob::Check(shared));
        Ok(())
    }

    /// The versions `space` keeps.
    ///
    /// # Errors
    /// [`Error::UnknownSpace`].
    pub fn retention(&self, space: SpaceId) -> Result<Retention> {
        self.shared(space)?;
        Ok(retention_of(&self.manifest.lock(), space))
    }

    /// Every space, by id: its name, its shape and its retention.
    ///
    /// ```
    /// use infinitedb::{Db, Options, Retention};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = Db::open(dir.path(), Options::default())?;
    /// db.create_space("tracks", 3, 21)?;
    /// let spaces = db.spaces();
    /// assert_eq!(spaces.len(), 1);
    /// assert_eq!((spaces[0].name.as_str(), spaces[0].dims, spaces[0].bits_per_dim), ("tracks", 3, 21));
    /// assert_eq!(spaces[0].retention, Retention::All);
    /// # Ok(())
    /// # }
    /// ```
    pub fn spaces(&self) -> Vec<SpaceInfo> {
        let manifest = self.manifest.lock();
        space_infos(manifest.state(), self.spaces.read().values())
    }

    /// Seals the space's live tail, then merges every block of the space into one level
    /// and applies its retention, and waits until the result is durable and visible. Old
    /// block files are deleted once no snapshot or query holds them. For tests, operators
    /// and bulk loads: background compaction keeps a space in shape on its own.
    ///
    /// ```
    /// use infinitedb::{Db, Options, Readable};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = Db::open(dir.path(), Options::default())?;
    /// let space = db.create_space("ids", 1, 32)?;
    /// for id in 0..3_u32 {
    ///     db.put(space, &[id], b"v")?;
    ///     db.flush(space)?; // one block per flush
    /// }
    /// assert_eq!(db.space_stats(space)?.blocks(), 3);
    /// db.compact(space)?;
    /// assert_eq!(db.space_stats(space)?.blocks(), 1);
    /// assert_eq!(db.scan(space)?.count(), 3);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownSpace`]; [`Error::WriteFailed`] if the seal failed; [`Error::Io`] if
    /// a block or manifest write of the compaction failed (nothing changed; the old blocks
    /// stay); [`Error::Corruption`] if an input block is damaged; [`Error::Closed`].
    pub fn compact(&self, space: SpaceId) -> Result<()> {
        let shared = self.shared(space)?;
        self.flush(space)?;
        let (reply, answer) = crate::reply::reply_pair();
        self.compactions
            .send(CompactorJob::Full {
                space: shared,
                reply,
            })
            .map_err(|_| Error::Closed)?;
        answer.recv().ok_or(Error::Closed)?
    }

    /// The id of the space named `name`.
    ///
    /// # Errors
    /// [`Error::UnknownSpace`].
    pub fn space(&self, name: &str) -> Result<SpaceId> {
        self.space_names
            .read()
            .get(name)
            .copied()
            .ok_or_else(|| Error::UnknownSpace {
                name: name.to_string(),
            })
    }

    fn shared(&self, space: SpaceId) -> Result<Arc<SpaceShared>> {
        self.spaces
            .read()
            .get(&space)
            .cloned()
            .ok_or_else(|| Error::UnknownSpace {
                name: format!("#{}", space.0),
            })
    }

    /// Writes `value` at `point`; returns the write's revision once it is durable (under
    /// `Durability::Sync`) and visible.
    ///
    /// # Errors
    /// [`Error::InvalidPoint`], [`Error::ValueTooLarge`], [`Error::UnknownSpace`] (nothing
    /// written); [`Error::WriteFailed`] if its commit failed, with the device's error as its
    /// cause ([`Error::is_storage_full`] for a full disk, [`Error::raw_os_error`]);
    /// [`Error::Poisoned`] if the engine gave the space up; [`Error::Closed`].
    pub fn put(
        &self,
        space: SpaceId,
        point: impl AsRef<[u32]>,
        value: impl IntoValue,
    ) -> Result<Revision> {
        let mut batch = Batch::new(space);
        batch.put(point, value);
        self.write(batch)
    }

    /// Deletes `point`; as [`Db::put`].
    ///
    /// # Errors
    /// As [`Db::put`].
    pub fn delete(&self, space: SpaceId, point: impl AsRef<[u32]>) -> Result<Revision> {
        let mut batch = Batch::new(space);
        batch.delete(point);
        self.write(batch)
    }

    /// Writes a batch atomically under one revision, with the database's durability.
    ///
    /// The batch joins the I/O thread's next group; the call returns once the batch is
    /// durable (under `Sync`) and visible. If the device stalls past the deadline, the batch
    /// is hedged onto the staging log and the call returns when that copy is durable. The
    /// calling thread only waits: the I/O thread alone submits and completes the device's
    /// work, so nothing of the write runs on this thread or interrupts its other calls.
    ///
    /// # Errors
    /// As [`Db::put`], plus [`Error::EmptyBatch`] and [`Error::BatchTooLarge`].
    pub fn write(&self, batch: Batch) -> Result<Revision> {
        self.write_with(batch, &WriteOptions::default())
    }

    /// Writes a batch as [`Db::write`], with `options` (its durability) for this write only.
    ///
    /// ```
    /// use infinitedb::{Batch, Db, Durability, Options, WriteOptions};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = Db::open(dir.path(), Options::default().durability(Durability::NoSync))?;
    /// let space = db.create_space("ledger", 1, 32)?;
    /// let mut batch = Batch::new(space);
    /// batch.put(&[7], b"settled");
    /// // Durable before it returns, in a database whose other writes are not.
    /// db.write_with(batch, &WriteOptions::default().durability(Durability::Sync))?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Db::write`].
    pub fn write_with(&self, batch: Batch, options: &WriteOptions) -> Result<Revision> {
        let answer = self.queue_write(batch, options)?;
        Pending::new(answer).wait()
    }

    /// Sequences a batch and returns at once with its [`Pending`] handle, a future of its
    /// revision (answered as [`Db::write`] returns: once durable under `Sync`, and visible)
    /// that also offers a blocking [`Pending::wait`]. Many writes may be in flight from one
    /// thread; they are acknowledged in revision order per space. Dropping the handle does not
    /// cancel the write. The batch is committed by the I/O thread, never on the caller's
    /// thread.
    ///
    /// Backpressure: while the queued and in-flight writes hold `queue_bytes_max` (at most a
    /// segment's frame), or the space's level 0 is at `l0_stop_writes`, `submit` blocks the
    /// calling thread until there is room; [`Db::submit_async`] waits as a task instead.
    ///
    /// ```
    /// use infinitedb::{Batch, Db, Options, Readable};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = Db::open(dir.path(), Options::default())?;
    /// let space = db.create_space("points", 2, 16)?;
    /// let mut batch = Batch::new(space);
    /// batch.put(&[1, 2], b"a").put(&[3, 4], b"b");
    /// let pending = db.submit(batch)?;
    /// // ... other work while the group commits ...
    /// let revision = pending.wait()?; // in async code: `pending.await?`
    /// assert_eq!(db.get(space, &[3, 4])?.as_deref(), Some(&b"b"[..]));
    /// # let _ = revision; Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Returned at once: [`Error::InvalidPoint`], [`Error::ValueTooLarge`],
    /// [`Error::UnknownSpace`], [`Error::EmptyBatch`], [`Error::BatchTooLarge`] (nothing
    /// written), [`Error::Closed`]. From the handle: as [`Db::write`].
    pub fn submit(&self, batch: Batch) -> Result<Pending<Revision>> {
        self.submit_with(batch, &WriteOptions::default())
    }

    /// Sequences a batch as [`Db::submit`], with `options` (its durability) for this write.
    ///
    /// # Errors
    /// As [`Db::submit`].
    pub fn submit_with(&self, batch: Batch, options: &WriteOptions) -> Result<Pending<Revision>> {
        self.queue_write(batch, options).map(Pending::new)
    }

    /// Sequences a batch as [`Db::submit_with`] does, without blocking a thread for room: the
    /// returned [`Submission`] is a future that waits for room (the space's backlog, the
    /// queue's byte bound) as a task, is then sequenced, and resolves as a [`Pending`] handle
    /// would. A submission does nothing until it is first polled: it is sequenced at the poll
    /// that finds room, so revisions follow the order in which submissions find room.
    /// Dropped before that, it writes nothing; after it, dropping cancels nothing.
    ///
    /// ```
    /// use infinitedb::{Batch, Db, Options, Readable, WriteOptions};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = Db::open(dir.path(), Options::default())?;
    /// let space = db.create_space("points", 2, 16)?;
    /// let mut batch = Batch::new(space);
    /// batch.put([1, 2], b"a");
    /// let submission = db.submit_async(batch, &WriteOptions::default())?;
    /// // In async code: `let revision = submission.await?;`. Here, a blocking wait:
    /// let revision = submission.wait()?;
    /// assert_eq!(db.get_at(space, &[1, 2], revision)?.as_deref(), Some(&b"a"[..]));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Returned at once: as [`Db::submit`], for what can be checked before the write is
    /// queued. From the future: as [`Db::write`].
    pub fn submit_async(&self, batch: Batch, options: &WriteOptions) -> Result<Submission<'_>> {
        let parts = self.validate(batch)?;
        let spaces = parts
            .iter()
            .map(|part| self.shared(part.space))
            .collect::<Result<Vec<_>>>()?;
        let durability = options.durability.unwrap_or(self.options.durability);
        Ok(Submission::new(self, parts, spaces, durability))
    }

    /// A batch's parts, validated, and within the size a write may have.
    fn validate(&self, batch: Batch) -> Result<Vec<KeyedBatch>> {
        let parts = KeyedBatch::parts_of(
            batch,
            |space| {
                self.shared(space)
                    .map(|shared| (shared.name.clone(), shared.curve))
            },
            self.options.value_bytes_max,
        )?;
        self.check_batch_bytes(&parts)?;
        Ok(parts)
    }

    /// Validates a batch, waits for room (backlog, queue bytes) and queues it; the answer
    /// half of its reply.
    fn queue_write(
        &self,
        batch: Batch,
        options: &WriteOptions,
    ) -> Result<crate::reply::Answer<Result<Revision>>> {
        let parts = self.validate(batch)?;
        let gate_bytes = gate_bytes_of(&parts);
        self.wait_for_room(&parts, gate_bytes)?;
        let durability = options.durability.unwrap_or(self.options.durability);
        self.send_write(parts, durability, gate_bytes)
    }

    /// Blocks until a write of `parts` may be queued (its spaces not behind), then takes its
    /// `gate_bytes` (waiting while the queue is full).
    pub(crate) fn wait_for_room(&self, parts: &[KeyedBatch], gate_bytes: usize) -> Result<()> {
        for part in parts {
            self.wait_for_backlog(&*self.shared(part.space)?);
        }
        self.gate.acquire(gate_bytes);
        Ok(())
    }

    /// Queues a write whose `gate_bytes` are taken; gives them back if it cannot be queued.
    pub(crate) fn send_write(
        &self,
        parts: Vec<KeyedBatch>,
        durability: Durability,
        gate_bytes: usize,
    ) -> Result<crate::reply::Answer<Result<Revision>>> {
        let (reply, answer) = crate::reply::reply_pair();
        let command = Command::Write {
            parts,
            durability,
            gate_bytes,
            reply,
        };
        if let Err(error) = self.commands.send(command) {
            self.gate.release(gate_bytes);
            return Err(error);
        }
        Ok(answer)
    }

    /// [`Db::wait_for_backlog`] for a task: ready once `shared` is not behind.
    pub(crate) fn poll_backlog(&self, shared: &SpaceShared, cx: &mut Context<'_>) -> Poll<()> {
        shared.poll_while(cx, |view| space_is_behind(&self.options, shared, view))
    }

    /// The gate, for a submission taking its bytes as a task.
    pub(crate) fn gate(&self) -> &ByteGate {
        &self.gate
    }

    /// Counts a write that waited for its space's backlog.
    pub(crate) fn count_stall(&self) {
        StatsCounters::add(&self.stats.write_stalls, 1);
    }

    /// Returns once every write at or below `revision` is durable (or failed): how a caller
    /// learns that a `NoSync` write reached the disk. As [`Db::sync`] with `revision` as its
    /// barrier, including how failures are reported.
    ///
    /// ```
    /// use infinitedb::{Db, Durability, Options};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = Db::open(dir.path(), Options::default().durability(Durability::NoSync))?;
    /// let space = db.create_space("points", 2, 16)?;
    /// let first = db.put(space, &[1, 1], b"a")?; // returns before it is on disk
    /// db.put(space, &[2, 2], b"b")?;
    /// db.wait_durable(first)?; // the first write (and every one before it) is on disk
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidOption`] if `revision` was not assigned yet; otherwise as [`Db::sync`].
    pub fn wait_durable(&self, revision: Revision) -> Result<()> {
        self.when_durable(revision)?.wait()
    }

    /// As [`Db::wait_durable`], as a [`Pending`] handle (a future) instead of a blocking call.
    ///
    /// # Errors
    /// As [`Db::wait_durable`]; from the handle, as [`Db::sync`].
    pub fn when_durable(&self, revision: Revision) -> Result<Pending<()>> {
        let last = self.last_revision();
        if revision > last {
            return Err(Error::InvalidOption {
                name: "revision",
                detail: format!(
                    "revision {} is not assigned yet (the last is {})",
                    revision.0, last.0
                ),
            });
        }
        let (reply, answer) = crate::reply::reply_pair();
        self.commands.send(Command::Sync {
            barrier: Some(revision),
            reply,
        })?;
        Ok(Pending::new(answer))
    }

    /// Returns once every write acknowledged before the call is durable or failed (a barrier
    /// for `Durability::NoSync`; under `Sync` every acknowledged write is durable already,
    /// and a failed one was reported to its writer, so `sync` only waits for writes in
    /// flight and returns `Ok`).
    ///
    /// Under `NoSync` a write is acknowledged before it reaches the device, so `sync` is
    /// where a device failure is reported. Its barrier is the last revision assigned when
    /// the call arrives. It fails if a write at or below its barrier failed (its write or
    /// fsync failed: it is rewritten to a fresh segment, but its first copy's outcome is
    /// unknown; or no segment could hold it, a full disk: it is lost) and that failure was
    /// not reported yet to a `sync` that returned before this one was called. So every `sync`
    /// in progress when a failure is reported gets it, each with the same typed cause, however
    /// many run at once; a `sync` called after one of them returned does not report it again
    /// (the way `fsync` reports a writeback error once), and returns `Ok` if nothing failed
    /// since. When several threads each need to learn of failures, each should keep a `sync`
    /// in flight or share the result.
    ///
    /// ```no_run
    /// use infinitedb::{Db, Durability, Options};
    /// let db = Db::open("/tmp/example-sync", Options::default().durability(Durability::NoSync))?;
    /// let space = db.create_space("points", 2, 16)?;
    /// db.put(space, &[3, 4], b"hello")?;
    /// if let Err(error) = db.sync() {
    ///     // A write before the barrier failed on the device: errno and file are in the cause.
    ///     eprintln!("sync failed: {error} (errno {:?})", error.raw_os_error());
    /// }
    /// # Ok::<(), infinitedb::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::WriteFailed`] (with the device's error as its cause) if a write the barrier
    /// covers failed, as above; [`Error::Poisoned`] if the engine gave its space up;
    /// [`Error::Closed`].
    pub fn sync(&self) -> Result<()> {
        let (reply, answer) = crate::reply::reply_pair();
        self.commands.send(Command::Sync {
            barrier: None,
            reply,
        })?;
        Pending::new(answer).wait()
    }

    /// Seals the space's live tail into a block now and waits until the seal is durable.
    /// Seals also happen on their own, when the live tail reaches
    /// [`Options::seal_threshold_bytes`] or [`Options::seal_threshold_records`]; `flush` is
    /// for a caller that wants the blocks now (after a bulk load, before a measurement).
    ///
    /// ```
    /// use infinitedb::{Db, Options, Readable};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = Db::open(dir.path(), Options::default())?;
    /// let space = db.create_space("ids", 1, 32)?;
    /// db.put(space, &[1], b"one")?;
    /// db.flush(space)?;
    /// let stats = db.space_stats(space)?;
    /// assert_eq!((stats.blocks(), stats.live_tail_records), (1, 0));
    /// assert_eq!(db.get(space, &[1])?.as_deref(), Some(&b"one"[..])); // now from the block
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownSpace`]; [`Error::WriteFailed`] with the device's error as its cause if
    /// the seal's block or manifest write failed, or no new segment could be made (the live
    /// tail stays readable in memory and in its log, and the seal is retried later);
    /// [`Error::Closed`].
    pub fn flush(&self, space: SpaceId) -> Result<()> {
        self.shared(space)?;
        let (reply, answer) = crate::reply::reply_pair();
        self.commands.send(Command::Flush { space, reply })?;
        answer.recv().ok_or(Error::Closed)?
    }

    /// The reads of `space` over its current view, at its published mark (whole batches only).
    fn space_read(&self, space: SpaceId) -> Result<(Arc<crate::read::SpaceRead>, Revision)> {
        let shared = self.shared(space)?;
        // The mark first, then the view: every record at or below the mark is in that view.
        let at = shared.published();
        let view = shared.view.load();
        Ok((
            space_read(
                &shared,
                &view,
                &self.cache,
                &self.stats,
                self.options.query_range_budget,
            ),
            at,
        ))
    }

    /// A repeatable view of every space at the visible high-water mark: every write at or
    /// below its revision is in it, none above, whatever is written or sealed later. Under
    /// `Durability::Sync` a write acknowledged before the call is included unless a write of
    /// another space sequenced before it is still in flight.
    ///
    /// ```
    /// use infinitedb::{Db, Options, Readable};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = Db::open(dir.path(), Options::default())?;
    /// let space = db.create_space("ids", 1, 32)?;
    /// db.put(space, &[1], b"one")?;
    /// let snapshot = db.snapshot();
    /// db.put(space, &[1], b"uno")?;
    /// assert_eq!(snapshot.get(space, &[1])?.as_deref(), Some(&b"one"[..]));
    /// assert!(snapshot.revision() < db.last_revision());
    /// # Ok(())
    /// # }
    /// ```
    pub fn snapshot(&self) -> Snapshot {
        // The mark first, then the views: every record at or below the mark is in them.
        let revision = self.visible.load();
        let spaces = self.spaces.read().values().cloned().collect::<Vec<_>>();
        let reads = spaces
            .iter()
            .map(|shared| {
                (
                    shared.id,
                    space_read(
                        shared,
                        &shared.view.load_full(),
                        &self.cache,
                        &self.stats,
                        self.options.query_range_budget,
                    ),
                )
            })
            .collect();
        Snapshot::new(revision, reads)
    }

    /// Makes an openable copy of the database in `dest` (a new or empty directory) while it
    /// is in use: seals every space's live tail, then hard-links every block into `dest`
    /// (copies it, when `dest` is on another filesystem) and writes `dest`'s own manifest. The
    /// copy holds every write acknowledged before the call (at or below the returned
    /// [`CheckpointInfo::revision`]); a write that races with the call may be in it, per
    /// space. Blocks are immutable, so a linked copy costs no data bytes; the copy and the
    /// database then change independently. Seals and compactions wait while the blocks are
    /// linked or copied. A crash or power loss during the call leaves `dest` complete, empty,
    /// or without a `MANIFEST`, which [`Db::open`] refuses ([`Error::MissingManifest`], or
    /// [`Error::NotADatabase`] for a crash while the OS backend was probed there): remove it
    /// and checkpoint again. On a supplied storage ([`Options::storage`]) `dest` is a path of
    /// that storage's namespace and the copy is written through it.
    ///
    /// ```
    /// use infinitedb::{Db, Options, Readable};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let backups = tempfile::tempdir()?;
    /// let db = Db::open(dir.path().join("live"), Options::default())?;
    /// let space = db.create_space("ids", 1, 32)?;
    /// db.put(space, &[1], b"one")?;
    /// let info = db.checkpoint(backups.path().join("monday"))?;
    /// db.put(space, &[1], b"uno")?; // the copy does not see it
    /// let copy = Db::open_read_only(&info.path, Options::default())?;
    /// assert_eq!(copy.get(space, &[1])?.as_deref(), Some(&b"one"[..]));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidOption`] if `dest` is not empty; [`Error::WriteFailed`] if a seal
    /// failed; [`Error::Io`] for a failed link, copy or write of the copy (the database itself
    /// is unchanged); [`Error::Closed`].
    pub fn checkpoint(&self, dest: impl AsRef<Path>) -> Result<CheckpointInfo> {
        let dest = dest.as_ref();
        let destination = match &self.options.storage {
            Some(storage) => Destination::Supplied {
                dir: dest.to_path_buf(),
                storage: Arc::clone(storage),
            },
            None => Destination::Os {
                dir: std::path::absolute(dest)
                    .map_err(|source| Error::os("absolute", dest, source))?,
                backend: self.options.backend,
            },
        };
        check_destination(self.storage.as_ref(), destination.dir())?;
        let revision = self.visible.load();
        let spaces: Vec<SpaceId> = self.spaces.read().keys().copied().collect();
        for space in spaces {
            self.flush(space)?;
        }
        let manifest = self.manifest.lock();
        write_copy(&self.paths, manifest.state(), destination, revision)
    }

    /// The engine's counters.
    pub fn stats(&self) -> Stats {
        self.stats.snapshot(&self.cache.counts())
    }

    /// The shape of `space`'s data: blocks, bytes and records per level, and the live tail.
    ///
    /// ```
    /// use infinitedb::{Db, Options};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = Db::open(dir.path(), Options::default())?;
    /// let space = db.create_space("points", 2, 16)?;
    /// db.put(space, &[3, 4], b"hello")?;
    /// db.compact(space)?;
    /// let stats = db.space_stats(space)?;
    /// assert_eq!((stats.blocks(), stats.block_records()), (1, 1));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownSpace`].
    pub fn space_stats(&self, space: SpaceId) -> Result<SpaceStats> {
        Ok(self.shared(space)?.stats())
    }

    /// The storage backend in use and why it was chosen.
    pub fn backend(&self) -> &BackendInfo {
        self.storage.info()
    }

    /// The last revision assigned.
    pub fn last_revision(&self) -> Revision {
        Revision(self.revision_last.load(Ordering::Acquire))
    }
}

impl Db {
    /// Refuses a batch too large for one frame (one space) or, for a batch of several spaces,
    /// for one staging-log write of its frames ([`Error::BatchTooLarge`]).
    fn check_batch_bytes(&self, parts: &[KeyedBatch]) -> Result<()> {
        let max = self.options.frame_bytes_max().min(
            self.options
                .queue_bytes_max
                .saturating_sub(WRITE_OVERHEAD_BYTES),
        );
        let frame_bytes = |part: &KeyedBatch| FRAME_HEADER_BYTES + part.encoded_bytes;
        let too_large = match parts {
            [part] => frame_bytes(part) > max,
            _ => {
                let stamped: usize = parts
                    .iter()
                    .map(|part| stamped_frame_bytes(frame_bytes(part)))
                    .sum();
                stamped > stamped_frame_bytes(max)
            }
        };
        if too_large {
            return Err(Error::BatchTooLarge {
                bytes: parts.iter().map(frame_bytes).sum(),
                max,
            });
        }
        Ok(())
    }

    /// Backpressure, before a write is queued: waits while the space is behind
    /// ([`space_is_behind`]), re-checking at every view change.
    fn wait_for_backlog(&self, shared: &SpaceShared) {
        let behind = |view: &SpaceView| space_is_behind(&self.options, shared, view);
        if behind(&shared.view.load()) {
            StatsCounters::add(&self.stats.write_stalls, 1);
            shared.wait_while(STALL_POLL, behind);
        }
    }
}

/// The bytes a write of `parts` holds in the gate: its records and its bookkeeping.
pub(crate) fn gate_bytes_of(parts: &[KeyedBatch]) -> usize {
    parts.iter().map(|part| part.encoded_bytes).sum::<usize>() + WRITE_OVERHEAD_BYTES
}

/// How far past its seal thresholds a space's live tail may grow while a seal of the space is
/// in progress (the I/O thread switches to a new memtable only once that seal returns the
/// segment as the next spare).
const LIVE_TAIL_STOP_FACTOR: u64 = 2;

/// Whether writers of the space wait: its level 0 has [`Options::l0_stop_writes`] blocks or
/// more while compaction is on and not failing, or a seal is in progress and the live tail
/// has passed [`LIVE_TAIL_STOP_FACTOR`] times a seal threshold while seals are not failing.
/// Failing seals or compactions (a full disk) never stall writers: writes go on, and the
/// work is retried.
fn space_is_behind(options: &Options, shared: &SpaceShared, view: &SpaceView) -> bool {
    let compaction_behind = options.compaction
        && view.levels.level(0).len() >= options.l0_stop_writes
        && !shared.compaction_failed.load(Ordering::Acquire);
    let sealing = !view.frozen.is_empty() || shared.spare_owed.load(Ordering::Acquire);
    let tail_behind = sealing
        && !shared.seal_failed.load(Ordering::Acquire)
        && (view.active.encoded_bytes()
            >= options
                .seal_threshold_bytes
                .saturating_mul(LIVE_TAIL_STOP_FACTOR)
            || view.active.len() as u64
                >= options
                    .seal_threshold_records
                    .saturating_mul(LIVE_TAIL_STOP_FACTOR));
    compaction_behind || tail_behind
}

/// Starts the compactor thread and asks it to look at every space: each open seals the logs
/// into a level-0 block, which must be merged down too.
fn start_compactor<'a>(
    compactor: Compactor,
    jobs: &Sender<CompactorJob>,
    spaces: impl Iterator<Item = &'a Arc<SpaceShared>>,
) -> Result<JoinHandle<()>> {
    for space in spaces {
        let _ = jobs.send(CompactorJob::Check(Arc::clone(space)));
    }
    spawn("infinitedb-compactor", move || compactor.run())
}

/// Hands the recovered spaces to the I/O thread, each published and logged up to the
/// recovered revision; returns them by id and by name.
fn add_spaces(
    io_thread: &mut IoThread,
    recovered: Vec<crate::recovery::RecoveredSpace>,
    revision: Revision,
) -> (HashMap<SpaceId, Arc<SpaceShared>>, HashMap<String, SpaceId>) {
    let mut spaces = HashMap::new();
    let mut space_names = HashMap::new();
    for space in recovered {
        spaces.insert(space.shared.id, space.shared.clone());
        space_names.insert(space.shared.name.to_string(), space.shared.id);
        space.shared.mark_published(revision);
        space.shared.mark_logged(revision);
        io_thread.add_space(space.shared, space.active, Some(space.spare));
    }
    (spaces, space_names)
}

/// The compactor, sharing the sealer's storage, manifest, id allocators and counters, and
/// the visible mark of the reads.
fn compactor_beside(
    sealer: &Sealer,
    options: &Options,
    visible: &Arc<VisibleRevision>,
    jobs: Receiver<CompactorJob>,
) -> Compactor {
    Compactor {
        storage: sealer.storage.clone(),
        paths: sealer.paths.clone(),
        manifest: sealer.manifest.clone(),
        ids: sealer.ids.clone(),
        stats: sealer.stats.clone(),
        jobs,
        enabled: options.compaction,
        shape: Shape {
            l0_trigger: options.l0_compaction_trigger,
            level_base_bytes: options.level_base_bytes,
        },
        block_target_bytes: options.block_target_bytes,
        block_reads: options.block_reads,
        visible: visible.clone(),
    }
}

/// How often a writer waiting for compaction re-checks (it is also woken by every change).
const STALL_POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// `Retention::Versions(0)` would keep nothing.
/// The `backend` event of the open of `root`: which backend carries the I/O and why.
pub(crate) fn log_backend(info: &BackendInfo, root: &Path) {
    trace::event!(
        info,
        "backend",
        path = trace::debug(root),
        backend = info.kind.name(),
        direct_io = info.direct_io,
        alignment_bytes = info.alignment_bytes,
        reason = info.reason.as_str(),
    );
}

fn check_retention(retention: Retention) -> Result<()> {
    if retention == Retention::Versions(0) {
        return Err(Error::InvalidOption {
            name: "retention",
            detail: "Retention::Versions keeps at least one version".to_string(),
        });
    }
    Ok(())
}

/// Joins `handles`; `Error::Poisoned` if one of the threads panicked.
fn join_all(handles: impl IntoIterator<Item = JoinHandle<()>>) -> Result<()> {
    let mut result = Ok(());
    for handle in handles {
        if handle.join().is_err() {
            result = Err(Error::Poisoned {
                detail: "an engine thread panicked".to_string(),
            });
        }
    }
    result
}

/// Starts a named engine thread.
fn spawn(name: &str, body: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(body)
        .map_err(|source| Error::os("spawn", Path::new(""), source))
}

impl Pin for Db {
    fn pin(&self, space: SpaceId) -> Result<Pinned<'_>> {
        let (read, at) = self.space_read(space)?;
        Ok(Pinned::shared(read, at))
    }
}

impl Readable for Db {}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = self.shut_down();
    }
}
