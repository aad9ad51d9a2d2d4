//! Opening a database: the manifest, the blocks, and every live log folded back into blocks
//! before any write is accepted (docs/design.md §3 "Recovery", §6, §7).
//!
//! Steps, each safe to repeat if a crash interrupts the open itself:
//! 1. Replay `MANIFEST` (missing with data files present: `Error::MissingManifest`; damaged
//!    header or a damaged batch followed by a valid one: `Error::Corruption`).
//!    Before that, the directory is classified (`directory.rs`): a directory holding
//!    foreign files or a manifest without its lock file is refused before anything is
//!    written to it. After it, every log the manifest names as live (`AddLog`, not yet
//!    retired) must exist at the length it was created with and hold a header naming it
//!    (`check_live_logs`): a missing, cut or replaced log is `Error::Corruption` naming the
//!    file, never an empty log.
//! 2. Blocks: open the ones the manifest names and verify their footers against it.
//! 3. Logs: every hot segment not retired by the manifest and every staging log is scanned
//!    frame by frame (`scan_log`). In a version-2 log the sector stamps tell a torn frame
//!    (a sector holds older content: the end of the log, unless a valid frame of the same log
//!    follows) from one damaged at rest (`Error::Corruption { file, offset }`, even as the
//!    last frame). In a version-1 log a frame that fails to decode ends the log when nothing
//!    valid of the same log follows it, and is `Error::Corruption` when something does.
//! 4. Block files the manifest does not name (a seal that crashed before its manifest edit)
//!    are removed, each only after checking that every record it holds is also in a live log
//!    or below its space's highest sealed revision; otherwise the manifest lost an
//!    acknowledged `AddBlock` and the open fails closed (`check_unnamed_block`).
//! 5. Per space, the records found (de-duplicated by `(key, revision)`, so a batch present in
//!    both a hot segment and the staging log counts once; records at or below the space's
//!    highest sealed revision are already in blocks and skipped) are sealed into one new
//!    block, and one atomic manifest rewrite adds those blocks, retires every scanned log
//!    and records the revision high-water mark.
//! 6. Only then are the scanned logs reused: retired segments are recycled (renamed to a new
//!    segment id, new header) as each space's active and spare segment, one staging log is
//!    recycled and the others removed; one manifest batch then names every new log
//!    (`AddLog`) before any write is accepted.
//!
//! Because no recovered log is ever appended to, garbage after a torn tail can never end up
//! in the middle of a log (docs/design.md §8); a recycled file's old frames carry the old segment
//! id and are rejected as foreign. The next revision is `max(revisions in logs, blocks, the
//! manifest's high-water mark) + 1`; segment and block ids continue above every id found in
//! a file name or the manifest, so none is reused while a file may carry it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use infinitedb_format::offsets::FRAME_MAGIC_OFFSET;
use infinitedb_format::{
    BlockId, BlockReader, DecodeClass, DecodeError, FRAME_PAYLOAD_BYTES_MAX, Frame,
    LOG_HEADER_BYTES, LogHeader, LogKind, LogLayout, LogMeta, ManifestEdit, RecordRef, Revision,
    SECTOR_BYTES, SegmentId, SpaceId, StampedFrame, decode_frame, decode_stamped_frame,
    find_stamped_frame_after,
};
use uring_io::{AlignedBuf, OpenMode, Storage};

use crate::block_file::BlockFile;
use crate::directory::{self, Contents, LockFileSeen};
use crate::error::{Error, Result};
use crate::keyspace::Curve;
use crate::levels::Levels;
use crate::log_file::{LogFile, hot_header, staging_header};
use crate::manifest::{Manifest, ManifestState, SpaceRecord};
use crate::memtable::Memtable;
use crate::options::BlockReads;
use crate::paths::{DbPaths, parse_block_name, parse_segment_name, parse_staging_name};
use crate::sealer::Ids;
use crate::space::SpaceShared;
use crate::trace;

/// Magic bytes of a frame (`IDBF`, docs/format.md).
const FRAME_MAGIC: [u8; 4] = infinitedb_format::magic::FRAME_MAGIC.to_le_bytes();

/// A space ready for writes.
#[derive(Debug)]
pub(crate) struct RecoveredSpace {
    pub(crate) shared: Arc<SpaceShared>,
    pub(crate) active: LogFile,
    pub(crate) spare: LogFile,
}

/// Everything `Db::open` needs to start the threads.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub(crate) manifest: Manifest,
    pub(crate) spaces: Vec<RecoveredSpace>,
    pub(crate) staging: LogFile,
    pub(crate) revision_last: u64,
    pub(crate) ids: Ids,
    /// Blocks step 5 sealed from the recovered tails, and their bytes: seals of this open.
    pub(crate) tail_seals: (u64, u64),
}

/// Files found in the directories, by kind.
#[derive(Debug, Default)]
pub(crate) struct FoundFiles {
    /// Hot segments: space, segment id, path.
    pub(crate) segments: Vec<(SpaceId, SegmentId, PathBuf)>,
    /// Staging logs: segment id, path.
    pub(crate) staging: Vec<(SegmentId, PathBuf)>,
    /// Block files: block id, path.
    pub(crate) blocks: Vec<(BlockId, PathBuf)>,
}

/// How [`scan_log`] ended: the log's header, if it decoded, and where the scan stopped at a
/// torn frame (offset and why), when the bytes there are not all zero (zeros are the normal
/// end of a log).
#[derive(Debug)]
pub(crate) struct LogScan {
    pub(crate) header: Option<LogHeader>,
    pub(crate) torn: Option<(u64, String)>,
}

/// What a database directory holds, read without writing anything (steps 1 to 3): the
/// catalogue, the files found, the open blocks and the records of every live log.
#[derive(Debug)]
pub(crate) struct Catalogue {
    pub(crate) state: ManifestState,
    /// The manifest file's generation.
    pub(crate) generation: u64,
    found: FoundFiles,
    pub(crate) blocks: BTreeMap<SpaceId, Vec<Arc<BlockFile>>>,
    /// Per space, the records of live logs not yet in blocks.
    pub(crate) tails: BTreeMap<SpaceId, Memtable>,
    /// The highest revision found in the manifest, the blocks and the logs.
    pub(crate) revision_last: u64,
}

/// Steps 1 to 3 of the module doc over a directory `directory::classify` found to hold
/// `contents`; reads, never writes.
fn read_catalogue(
    storage: &Arc<dyn Storage>,
    paths: &DbPaths,
    contents: Contents,
    reads: BlockReads,
) -> Result<Catalogue> {
    let found = list_files(storage.as_ref(), paths)?;
    let (state, generation) = match contents {
        Contents::Database => Manifest::replay(storage.as_ref(), &paths.manifest())?,
        Contents::Empty => (ManifestState::default(), 0),
    };
    trace::event!(
        info,
        "files found",
        manifest = contents == Contents::Database,
        segments = found.segments.len(),
        staging_logs = found.staging.len(),
        block_files = found.blocks.len(),
        named_blocks = state.blocks.len(),
        named_logs = state.logs.len(),
    );
    check_live_logs(storage.as_ref(), paths, &state, &found)?;
    let blocks = open_blocks(storage, reads, paths, &state)?;
    let mut revision_last = state.revision_high.0;
    let tails = scan_logs(storage.as_ref(), &state, &found, &mut revision_last)?;
    Ok(Catalogue {
        state,
        generation,
        found,
        blocks,
        tails,
        revision_last,
    })
}

/// Opens (or initialises) the database at `paths`.
pub(crate) fn recover(
    storage: &Arc<dyn Storage>,
    paths: &DbPaths,
    lock: LockFileSeen,
    segment_bytes: u64,
    reads: BlockReads,
) -> Result<Recovered> {
    let contents = directory::classify(storage.as_ref(), paths, lock)?;
    for dir in [&paths.root, &paths.segments, &paths.blocks, &paths.staging] {
        storage.create_dir_all(dir)?;
    }
    let Catalogue {
        mut state,
        generation,
        found,
        mut blocks,
        tails,
        revision_last,
    } = read_catalogue(storage, paths, contents, reads)?;
    let ids = allocate_ids(&state, &found);
    remove_unnamed_blocks(storage.as_ref(), paths, &state, &found, &tails)?;
    let tail_seals = seal_tails(storage, reads, paths, &ids, &tails, &mut state, &mut blocks)?;
    let free = retire_scanned(&mut state, &found);
    state.apply(&ManifestEdit::RevisionHighWater {
        revision: Revision(revision_last),
    });
    let mut manifest = Manifest::write_new(
        storage.clone(),
        paths.manifest(),
        paths.manifest_temporary(),
        state,
        generation + 1,
    )?;
    let staging = reuse_staging(
        storage.as_ref(),
        paths,
        &mut manifest,
        &found,
        &ids,
        revision_last,
        segment_bytes,
    )?;
    let spaces = assign_segments(
        storage.as_ref(),
        paths,
        &mut manifest,
        blocks,
        free,
        &ids,
        revision_last,
        segment_bytes,
    )?;
    let logs = std::iter::once(&staging).chain(
        spaces
            .iter()
            .flat_map(|space| [&space.active, &space.spare]),
    );
    let named: Vec<ManifestEdit> = logs.map(|log| ManifestEdit::AddLog(log.meta())).collect();
    manifest.append(&named)?;
    Ok(Recovered {
        manifest,
        spaces,
        staging,
        revision_last,
        ids,
        tail_seals,
    })
}

/// The spaces of a read-only open: steps 1 to 3, then each space's blocks under its logs'
/// records as its live tail, in memory. Nothing is written: unnamed block files are checked
/// as step 4 checks them (a block whose records exist nowhere else fails the open closed) but
/// stay, and no tail is sealed.
///
/// A directory holding no database is [`Error::NotADatabase`]: there is nothing to read.
pub(crate) fn recover_read_only(
    storage: &Arc<dyn Storage>,
    paths: &DbPaths,
    reads: BlockReads,
) -> Result<(Catalogue, Vec<Arc<SpaceShared>>)> {
    let contents = directory::classify(storage.as_ref(), paths, LockFileSeen::Present)?;
    if contents == Contents::Empty {
        return Err(Error::NotADatabase {
            path: paths.root.clone(),
            reason: "it holds no database yet, so there is nothing to open read-only".to_string(),
            found: Vec::new(),
        });
    }
    let mut catalogue = read_catalogue(storage, paths, contents, reads)?;
    let sealed = sealed_revisions(&catalogue.state);
    for (block, path) in &catalogue.found.blocks {
        if !catalogue.state.blocks.contains_key(block) {
            check_unnamed_block(storage.as_ref(), paths, path, &sealed, &catalogue.tails)?;
        }
    }
    let mut spaces = Vec::new();
    for (space_id, record) in &catalogue.state.spaces {
        let blocks = catalogue.blocks.remove(space_id).unwrap_or_default();
        let tail = catalogue.tails.remove(space_id).unwrap_or_default();
        let shared = space_shared(paths, *space_id, record, blocks, Arc::new(tail))?;
        spaces.push(Arc::new(shared));
    }
    Ok((catalogue, spaces))
}

/// A recovered space: its curve from the manifest's record, `blocks` in their levels, and
/// `tail` as its live tail.
fn space_shared(
    paths: &DbPaths,
    space_id: SpaceId,
    record: &SpaceRecord,
    blocks: Vec<Arc<BlockFile>>,
    tail: Arc<Memtable>,
) -> Result<SpaceShared> {
    let curve =
        Curve::new(u32::from(record.dims), u32::from(record.bits_per_dim)).map_err(|error| {
            Error::corruption(
                paths.manifest(),
                0,
                format!("space {}: {error}", space_id.0),
            )
        })?;
    let levels = levels_of(paths, space_id, blocks)?;
    Ok(SpaceShared::with_live_tail(
        space_id,
        record.name.clone(),
        curve,
        levels,
        tail,
    ))
}

/// Step 5: retires every scanned log in `state` (its records are in blocks now); returns the
/// hot segments' paths, free for reuse.
fn retire_scanned(state: &mut ManifestState, found: &FoundFiles) -> Vec<PathBuf> {
    let mut free = Vec::new();
    for (space_id, segment_id, path) in &found.segments {
        state.apply(&ManifestEdit::RetireSegment {
            space_id: *space_id,
            segment_id: *segment_id,
        });
        free.push(path.clone());
    }
    for (segment_id, _) in &found.staging {
        state.apply(&ManifestEdit::RetireSegment {
            space_id: SpaceId(0),
            segment_id: *segment_id,
        });
    }
    debug_assert!(
        state.logs.is_empty(),
        "every live log was found and scanned"
    );
    free
}

/// Step 5: one block per space from the records found in its logs, added to `state`;
/// returns how many blocks were written and their bytes.
fn seal_tails(
    storage: &Arc<dyn Storage>,
    reads: BlockReads,
    paths: &DbPaths,
    ids: &Ids,
    tails: &BTreeMap<SpaceId, Memtable>,
    state: &mut ManifestState,
    blocks: &mut BTreeMap<SpaceId, Vec<Arc<BlockFile>>>,
) -> Result<(u64, u64)> {
    let (mut sealed, mut sealed_bytes) = (0, 0);
    for (space_id, memtable) in tails {
        let block_id = ids.block();
        let block = BlockFile::write(
            storage,
            reads,
            paths.block(block_id),
            *space_id,
            block_id,
            memtable,
        )?;
        if let Some(block) = block {
            trace::event!(
                info,
                "tail sealed",
                space = state
                    .spaces
                    .get(space_id)
                    .map_or("", |record| record.name.as_str()),
                records = memtable.len(),
                bytes = block.meta.len_bytes,
                block = block_id.0,
            );
            state.apply(&ManifestEdit::AddBlock(block.meta));
            sealed += 1;
            sealed_bytes += block.meta.len_bytes;
            blocks.entry(*space_id).or_default().push(Arc::new(block));
        }
    }
    Ok((sealed, sealed_bytes))
}

pub(crate) fn list_files(storage: &dyn Storage, paths: &DbPaths) -> Result<FoundFiles> {
    let mut found = FoundFiles::default();
    let names = |dir: &Path| -> Result<Vec<String>> {
        Ok(storage
            .list_dir(dir)?
            .into_iter()
            .filter_map(|name| name.into_string().ok())
            .collect())
    };
    for name in names(&paths.segments)? {
        if let Some((space, segment)) = parse_segment_name(&name) {
            found
                .segments
                .push((space, segment, paths.segments.join(&name)));
        }
    }
    for name in names(&paths.staging)? {
        if let Some(segment) = parse_staging_name(&name) {
            found.staging.push((segment, paths.staging.join(&name)));
        }
    }
    for name in names(&paths.blocks)? {
        if let Some(block) = parse_block_name(&name) {
            found.blocks.push((block, paths.blocks.join(&name)));
        }
    }
    found.segments.sort();
    found.staging.sort();
    Ok(found)
}

/// Step 1b: every log the manifest names as live (`AddLog`, not retired) is there, at the
/// length it was created with (its header is checked where it is read, in [`scan_logs`]).
/// Such a log may hold acknowledged records that exist nowhere else, so a missing or resized
/// one is `Error::Corruption`, never an empty log.
fn check_live_logs(
    storage: &dyn Storage,
    paths: &DbPaths,
    state: &ManifestState,
    found: &FoundFiles,
) -> Result<()> {
    state
        .logs
        .values()
        .try_for_each(|meta| check_live_log(storage, paths, state, found, meta))
}

/// One log of [`check_live_logs`]: `meta`'s file is in `found`, `meta.len_bytes` long.
pub(crate) fn check_live_log(
    storage: &dyn Storage,
    paths: &DbPaths,
    state: &ManifestState,
    found: &FoundFiles,
    meta: &LogMeta,
) -> Result<()> {
    {
        let (path, present) = match meta.kind {
            LogKind::HotSegment => (
                paths.segment(meta.space_id, meta.segment_id),
                found.segments.iter().any(|(space, segment, _)| {
                    (*space, *segment) == (meta.space_id, meta.segment_id)
                }),
            ),
            LogKind::StagingLog => (
                paths.staging_log(meta.segment_id),
                found
                    .staging
                    .iter()
                    .any(|(segment, _)| *segment == meta.segment_id),
            ),
        };
        let what = describe_log(state, meta);
        if !present {
            let detail = format!(
                "{what} is named by the manifest but missing; it may hold acknowledged writes \
                 that are in no block"
            );
            return Err(Error::corruption(path, 0, detail));
        }
        let len_bytes = storage.file_len(&storage.open(&path, OpenMode::Read)?)?;
        if len_bytes != meta.len_bytes {
            let detail = format!(
                "{what} is {len_bytes} bytes long; the manifest recorded {} (truncated or \
                 replaced)",
                meta.len_bytes
            );
            return Err(Error::corruption(path, 0, detail));
        }
    }
    Ok(())
}

/// Fails unless a live log's header (`None`: it did not decode) names the log the manifest
/// recorded: a live log is only named once its header is durable, so another header means
/// the file was replaced.
pub(crate) fn check_live_header(
    state: &ManifestState,
    meta: &LogMeta,
    path: &Path,
    header: Option<&LogHeader>,
) -> Result<()> {
    let names_itself = header.is_some_and(|header| {
        header.kind == meta.kind
            && header.segment_id == meta.segment_id
            && header.space_id == meta.space_id
    });
    if names_itself {
        return Ok(());
    }
    let found = header.map_or_else(|| "no valid header".to_string(), |h| format!("{h:?}"));
    let detail = format!(
        "{} does not hold its own log header: {found}",
        describe_log(state, meta)
    );
    Err(Error::corruption(path, 0, detail))
}

/// "hot segment 7 of space \"a\"" or "staging log 9", for messages.
fn describe_log(state: &ManifestState, meta: &LogMeta) -> String {
    match meta.kind {
        LogKind::HotSegment => {
            let space = state.spaces.get(&meta.space_id).map_or_else(
                || format!("#{}", meta.space_id.0),
                |s| format!("{:?}", s.name),
            );
            format!("hot segment {} of space {space}", meta.segment_id.0)
        }
        LogKind::StagingLog => format!("staging log {}", meta.segment_id.0),
    }
}

/// Ids continue above every id in a file name or the manifest.
fn allocate_ids(state: &ManifestState, found: &FoundFiles) -> Ids {
    let segment_max = found
        .segments
        .iter()
        .map(|(_, segment, _)| segment.0)
        .chain(found.staging.iter().map(|(segment, _)| segment.0))
        .chain(state.retired.iter().map(|(_, segment)| segment.0))
        .chain(state.logs.keys().map(|segment| segment.0))
        .max()
        .unwrap_or(0);
    let block_max = found
        .blocks
        .iter()
        .map(|(block, _)| block.0)
        .chain(state.blocks.keys().map(|block| block.0))
        .max()
        .unwrap_or(0);
    Ids {
        next_segment: AtomicU64::new(segment_max + 1),
        next_block: AtomicU64::new(block_max + 1),
    }
}

/// Step 4: removes the block files the manifest does not name, each only once
/// [`check_unnamed_block`] found its records elsewhere.
fn remove_unnamed_blocks(
    storage: &dyn Storage,
    paths: &DbPaths,
    state: &ManifestState,
    found: &FoundFiles,
    tails: &BTreeMap<SpaceId, Memtable>,
) -> Result<()> {
    let sealed = sealed_revisions(state);
    let mut removed = false;
    for (block, path) in &found.blocks {
        if !state.blocks.contains_key(block) {
            check_unnamed_block(storage, paths, path, &sealed, tails)?;
            storage.remove_file(path)?;
            trace::event!(
                info,
                "unnamed block removed",
                path = trace::debug(path),
                block = block.0,
            );
            removed = true;
        }
    }
    if removed {
        storage.sync_dir(&paths.blocks)?;
    }
    Ok(())
}

/// Fails closed unless the unnamed block at `path` holds nothing that exists only there.
///
/// A seal that crashed before its manifest edit leaves such a block: the same edit retires
/// its segment, so the segment was never recycled and every record of the block is in a live
/// log (`tails`), or at or below its space's highest sealed revision (in named blocks). A
/// block that does not decode whole was never finished (its write is the step before the
/// manifest edit) and holds nothing acknowledged. A complete block holding a record found
/// nowhere else means the manifest lost an acknowledged `AddBlock`: deleting it would lose
/// data, so the open fails with `Error::Corruption` naming the manifest and the file stays.
fn check_unnamed_block(
    storage: &dyn Storage,
    paths: &DbPaths,
    path: &Path,
    sealed: &BTreeMap<SpaceId, Revision>,
    tails: &BTreeMap<SpaceId, Memtable>,
) -> Result<()> {
    let file = storage.open(path, OpenMode::Read)?;
    let len_bytes = usize::try_from(storage.file_len(&file)?).unwrap_or(usize::MAX);
    let mut buf = AlignedBuf::with_capacity_for(len_bytes, storage.info().alignment_bytes)?;
    let read = storage.read_at(&file, 0, &mut buf)?;
    let Ok(reader) = BlockReader::new(&buf[..read.min(len_bytes)]) else {
        return Ok(());
    };
    let space = reader.footer().space_id;
    let sealed = sealed.get(&space).copied().unwrap_or_default();
    let tail = tails.get(&space);
    for record in reader.scan() {
        let Ok(record) = record else {
            return Ok(()); // a page of the block never reached the disk: never finished
        };
        if record.revision <= sealed || tail.is_some_and(|tail| holds(tail, &record)) {
            continue;
        }
        let detail = format!(
            "block file {} is named by no manifest edit, yet holds record (space {}, revision \
             {}) found in no log and no named block: the manifest lost its AddBlock; the \
             block is kept",
            path.display(),
            space.0,
            record.revision.0
        );
        return Err(Error::corruption(paths.manifest(), 0, detail));
    }
    Ok(())
}

/// Whether `memtable` holds exactly `record`'s `(key, revision)`.
fn holds(memtable: &Memtable, record: &RecordRef<'_>) -> bool {
    let mut found = false;
    memtable.visit_from(
        record.key,
        record.revision,
        record.key,
        1,
        |_, revision, _| {
            found = revision == record.revision;
        },
    );
    found
}

/// Per space, the revision at or below which every record is in blocks: the highest
/// revision in a block the manifest names, or its `SpaceSealed` mark if higher (a compaction
/// may drop a space's newest versions, a delete under `Retention::Latest`).
fn sealed_revisions(state: &ManifestState) -> BTreeMap<SpaceId, Revision> {
    let mut sealed: BTreeMap<SpaceId, Revision> = state
        .spaces
        .iter()
        .map(|(space, record)| (*space, record.sealed))
        .collect();
    for meta in state.blocks.values() {
        let entry = sealed.entry(meta.space_id).or_default();
        *entry = (*entry).max(meta.max_revision);
    }
    sealed
}

fn open_blocks(
    storage: &Arc<dyn Storage>,
    reads: BlockReads,
    paths: &DbPaths,
    state: &ManifestState,
) -> Result<BTreeMap<SpaceId, Vec<Arc<BlockFile>>>> {
    let mut blocks: BTreeMap<SpaceId, Vec<Arc<BlockFile>>> = BTreeMap::new();
    for meta in state.blocks.values() {
        if !state.spaces.contains_key(&meta.space_id) {
            return Err(Error::corruption(
                paths.manifest(),
                0,
                format!(
                    "block {} of unknown space {}",
                    meta.block_id.0, meta.space_id.0
                ),
            ));
        }
        let block = BlockFile::open(storage, reads, paths.block(meta.block_id), *meta)?;
        blocks
            .entry(meta.space_id)
            .or_default()
            .push(Arc::new(block));
    }
    Ok(blocks)
}

/// Scans every live log; returns per space the records not yet in blocks.
fn scan_logs(
    storage: &dyn Storage,
    state: &ManifestState,
    found: &FoundFiles,
    revision_last: &mut u64,
) -> Result<BTreeMap<SpaceId, Memtable>> {
    let sealed = sealed_revisions(state);
    *revision_last = sealed
        .values()
        .fold(*revision_last, |last, revision| last.max(revision.0));
    let mut tails: BTreeMap<SpaceId, Memtable> = BTreeMap::new();
    let live_segments = found
        .segments
        .iter()
        .filter(|(space, segment, _)| !state.retired.contains(&(*space, *segment)));
    let logs = live_segments
        .map(|(_, segment, path)| (*segment, path))
        .chain(found.staging.iter().map(|(segment, path)| (*segment, path)));
    for (segment, path) in logs {
        let scanned = scan_log(storage, path, segment, |space, key, revision, value| {
            if !state.spaces.contains_key(&space) {
                return Err(Error::corruption(
                    path,
                    0,
                    format!("frame of unknown space {}", space.0),
                ));
            }
            *revision_last = (*revision_last).max(revision.0);
            if sealed.get(&space).is_none_or(|sealed| revision > *sealed) {
                tails.entry(space).or_default().insert(key, revision, value);
            }
            Ok(())
        })?;
        if let Some(meta) = state.logs.get(&segment) {
            check_live_header(state, meta, path, scanned.header.as_ref())?;
        }
        log_scanned(path, segment, &scanned);
    }
    Ok(tails)
}

/// The `log scanned` event of one log, and a `torn tail` event when its scan stopped at a
/// torn frame: the records from there on were never acknowledged and are dropped with the
/// log when it is retired.
fn log_scanned(path: &Path, segment: SegmentId, scanned: &LogScan) {
    trace::event!(
        debug,
        "log scanned",
        path = trace::debug(path),
        segment = segment.0,
        header = scanned.header.is_some(),
    );
    if let Some((offset, reason)) = &scanned.torn {
        trace::event!(
            info,
            "torn tail",
            path = trace::debug(path),
            segment = segment.0,
            offset = *offset,
            reason = reason.as_str(),
        );
    }
}

/// Calls `visit(space, key, revision, value)` for every record of every valid frame of the
/// log at `path` whose frames carry `segment`, up to its end. The log header's version says
/// how the frames are laid out, and which rule tells a torn tail from damage
/// (`docs/format.md`, "Recovery table for a log"): [`scan_stamped`] for version 2,
/// [`scan_contiguous`] for version 1. A header that does not decode (a recycle torn while
/// writing it) hides nothing only if no valid frame of `segment` is found in either layout;
/// otherwise it is `Error::Corruption`. Returns the header, if it decoded, and the torn
/// frame the scan stopped at, if any.
pub(crate) fn scan_log(
    storage: &dyn Storage,
    path: &Path,
    segment: SegmentId,
    mut visit: impl FnMut(SpaceId, u128, Revision, Option<bytes::Bytes>) -> Result<()>,
) -> Result<LogScan> {
    let file = storage.open(path, OpenMode::Read)?;
    let len_bytes = usize::try_from(storage.file_len(&file)?).unwrap_or(usize::MAX);
    if len_bytes <= LOG_HEADER_BYTES {
        return Ok(LogScan {
            header: None,
            torn: None,
        });
    }
    let mut buf = AlignedBuf::with_capacity_for(len_bytes, storage.info().alignment_bytes)?;
    let read = storage.read_at(&file, 0, &mut buf)?;
    let bytes = &buf[..read.min(len_bytes)];
    match LogHeader::decode(bytes) {
        Ok(header) => {
            let torn = match header.layout {
                LogLayout::Stamped => scan_stamped(bytes, path, segment, &mut visit)?,
                LogLayout::Contiguous => scan_contiguous(bytes, path, segment, &mut visit)?,
            };
            Ok(LogScan {
                header: Some(header),
                torn,
            })
        }
        Err(error) => {
            let stamped =
                find_stamped_frame_after(bytes, LOG_HEADER_BYTES, segment, FRAME_PAYLOAD_BYTES_MAX);
            let contiguous = find_contiguous_frame_after(bytes, LOG_HEADER_BYTES, segment);
            match stamped.or(contiguous) {
                Some(later) => {
                    let detail = format!(
                        "log header: {error}; a valid frame of segment {} is at offset {later}",
                        segment.0
                    );
                    Err(Error::corruption(path, 0, detail))
                }
                None => Ok(LogScan {
                    header: None,
                    torn: Some((0, format!("log header: {error}"))),
                }),
            }
        }
    }
}

/// One record as a log scan delivers it: space, key, revision, value (`None`: a delete).
type ScannedRecord = (SpaceId, u128, Revision, Option<bytes::Bytes>);

/// Hands the records of a log's frames, in log order, to the scan's visitor, holding back
/// those of a frame group until its last frame (docs/format.md, "Frame groups"): a batch of
/// several spaces is recovered whole or not at all. A group cut short by the end of the log
/// (its one write was torn) is dropped; a group broken by another frame is damage.
struct FrameRecords<'v, V> {
    visit: &'v mut V,
    /// The group being read: where it starts, and its records so far.
    open: Option<OpenGroup>,
}

#[derive(Debug)]
struct OpenGroup {
    offset: usize,
    revision: Revision,
    group: infinitedb_format::FrameGroup,
    records: Vec<ScannedRecord>,
}

impl<V: FnMut(SpaceId, u128, Revision, Option<bytes::Bytes>) -> Result<()>> FrameRecords<'_, V> {
    /// The frame at `offset` of the log at `path`.
    fn frame(&mut self, frame: &Frame<'_>, offset: usize, path: &Path) -> Result<()> {
        let records = frame.records().map(|record| {
            let value = match record.kind {
                infinitedb_format::RecordKind::Put => {
                    Some(bytes::Bytes::copy_from_slice(record.value))
                }
                _ => None,
            };
            (frame.header.space_id, record.key, record.revision, value)
        });
        let revision = frame.header.first_revision;
        match (frame.header.group, self.open.take()) {
            (None, None) => {
                for (space, key, revision, value) in records {
                    (self.visit)(space, key, revision, value)?;
                }
                Ok(())
            }
            (Some(group), None) if group.index == 0 => {
                self.open = Some(OpenGroup {
                    offset,
                    revision,
                    group,
                    records: records.collect(),
                });
                Ok(())
            }
            (Some(group), Some(mut open))
                if group.frames == open.group.frames && group.index == open.group.index + 1 =>
            {
                open.records.extend(records);
                open.group = group;
                if group.index + 1 < group.frames {
                    self.open = Some(open);
                    return Ok(());
                }
                for (space, key, revision, value) in open.records {
                    (self.visit)(space, key, revision, value)?;
                }
                Ok(())
            }
            (group, open) => {
                let detail = format!(
                    "frame group broken: a frame of group {group:?} at revision {} after {}",
                    revision.0,
                    open.map_or_else(
                        || "no open group".to_string(),
                        |open| format!("frame {:?} of revision {}", open.group, open.revision.0)
                    ),
                );
                Err(Error::corruption(path, offset as u64, detail))
            }
        }
    }

    /// The log ended at `torn` (a torn frame) or normally (`None`): a group still open was
    /// cut short by the torn write of its frames, so the log's torn tail starts there.
    fn finish(self, torn: Option<(u64, String)>) -> Option<(u64, String)> {
        match self.open {
            Some(open) => Some((
                open.offset as u64,
                format!(
                    "frame group of revision {} cut after {} of {} frames",
                    open.revision.0,
                    open.group.index + 1,
                    open.group.frames
                ),
            )),
            None => torn,
        }
    }
}

/// A version-2 log: frames on sector boundaries, each sector stamped. A frame that is torn
/// (one of its sectors holds older content) ends the log, unless a valid frame of `segment`
/// follows (`Error::Corruption`: only the last frame of a log can be torn); a frame damaged at
/// rest (a stamp's check fails, or a checksum fails in a frame all of whose sectors it wrote)
/// is `Error::Corruption` wherever it is. Returns the torn frame it stopped at, if any.
fn scan_stamped(
    bytes: &[u8],
    path: &Path,
    segment: SegmentId,
    visit: &mut impl FnMut(SpaceId, u128, Revision, Option<bytes::Bytes>) -> Result<()>,
) -> Result<Option<(u64, String)>> {
    let mut scratch = Vec::new();
    let mut records = FrameRecords { visit, open: None };
    let mut offset = LOG_HEADER_BYTES;
    while offset < bytes.len() {
        match decode_stamped_frame(
            bytes,
            offset,
            segment,
            FRAME_PAYLOAD_BYTES_MAX,
            &mut scratch,
        ) {
            StampedFrame::Valid {
                frame,
                physical_bytes,
            } => {
                records.frame(&frame, offset, path)?;
                offset += physical_bytes;
            }
            StampedFrame::Damaged(error) => {
                let detail = format!("damaged at rest: {error}");
                return Err(Error::corruption(path, offset as u64, detail));
            }
            StampedFrame::Torn(error) => {
                let open = records.open.as_ref().map(|open| open.group);
                let later = frame_after_torn_write(bytes, offset, segment, open);
                let error_at = error.offset();
                let torn = end_of_log(bytes, path, (offset, error_at), segment, &error, later)?;
                return Ok(records.finish(torn));
            }
        }
    }
    Ok(records.finish(None))
}

/// The offset of the first valid frame of `segment` after the torn frame at `torn` that is not
/// a later frame of the same write. A frame group is one write (docs/format.md, "Frame
/// groups"), and a torn write may keep any of its sectors: a later frame of the group (an
/// index above 0 and above that of `open`, the group read up to the torn frame, if any, with
/// the same frame count) may be valid behind a torn one. Any other valid frame after it means
/// the torn frame is inside acknowledged history.
fn frame_after_torn_write(
    bytes: &[u8],
    torn: usize,
    segment: SegmentId,
    open: Option<infinitedb_format::FrameGroup>,
) -> Option<usize> {
    let mut scratch = Vec::new();
    let mut group = open;
    let mut from = torn + SECTOR_BYTES;
    loop {
        let found = find_stamped_frame_after(bytes, from, segment, FRAME_PAYLOAD_BYTES_MAX)?;
        let StampedFrame::Valid {
            frame,
            physical_bytes,
        } = decode_stamped_frame(bytes, found, segment, FRAME_PAYLOAD_BYTES_MAX, &mut scratch)
        else {
            return Some(found);
        };
        let of_the_write = frame.header.group.is_some_and(|found_group| {
            found_group.index >= 1
                && group.is_none_or(|open| {
                    open.frames == found_group.frames && open.index < found_group.index
                })
        });
        if !of_the_write {
            return Some(found);
        }
        group = frame.header.group;
        from = found + physical_bytes;
    }
}

/// A frame at `offset` of `bytes` that failed with `error` as a torn write ends the log,
/// unless a valid frame of `segment` follows it at `later`: then it is damage inside
/// acknowledged history. Returns the offset and `error` for a torn frame; `None` when the
/// log ends normally there: the first sector is all zeros, or `error` is another segment's
/// content (a recycled file) found within that sector (`error_at`: the file offset `error`
/// names).
fn end_of_log(
    bytes: &[u8],
    path: &Path,
    (offset, error_at): (usize, u64),
    segment: SegmentId,
    error: &DecodeError,
    later: Option<usize>,
) -> Result<Option<(u64, String)>> {
    match later {
        Some(later) => {
            let detail = format!(
                "{error}; a valid frame of segment {} follows at offset {later}",
                segment.0
            );
            Err(Error::corruption(path, offset as u64, detail))
        }
        None => {
            let end = offset.saturating_add(SECTOR_BYTES).min(bytes.len());
            let zeros = bytes
                .get(offset..end)
                .is_none_or(|sector| sector.iter().all(|byte| *byte == 0));
            let foreign =
                matches!(error.class(), DecodeClass::Foreign { .. }) && error_at < end as u64;
            Ok((!zeros && !foreign).then(|| (offset as u64, error.to_string())))
        }
    }
}

/// The offset of the first valid version-1 frame of `segment` at or after `from`.
fn find_contiguous_frame_after(bytes: &[u8], from: usize, segment: SegmentId) -> Option<usize> {
    let decodes =
        |candidate: &[u8]| decode_frame(candidate, segment, FRAME_PAYLOAD_BYTES_MAX).is_ok();
    crate::scan::find_valid_after(bytes, from, FRAME_MAGIC, FRAME_MAGIC_OFFSET, decodes)
}

/// A version-1 log: frames back to back. A frame that fails to decode ends the log when
/// nothing valid of `segment` follows it, and is `Error::Corruption` when something does.
/// Returns the torn frame it stopped at, if any.
fn scan_contiguous(
    bytes: &[u8],
    path: &Path,
    segment: SegmentId,
    visit: &mut impl FnMut(SpaceId, u128, Revision, Option<bytes::Bytes>) -> Result<()>,
) -> Result<Option<(u64, String)>> {
    let mut records = FrameRecords { visit, open: None };
    let mut offset = LOG_HEADER_BYTES;
    while offset < bytes.len() {
        match decode_frame(&bytes[offset..], segment, FRAME_PAYLOAD_BYTES_MAX) {
            Ok(frame) => {
                records.frame(&frame, offset, path)?;
                offset += frame.encoded_bytes;
            }
            Err(error) => {
                let later = find_contiguous_frame_after(bytes, offset + 1, segment);
                let error_at = offset as u64 + error.offset();
                let torn = end_of_log(bytes, path, (offset, error_at), segment, &error, later)?;
                return Ok(records.finish(torn));
            }
        }
    }
    Ok(records.finish(None))
}

/// Recycles the first staging log (or creates one) as the new staging log; removes the rest
/// (all of them were retired by the manifest rewrite).
fn reuse_staging(
    storage: &dyn Storage,
    paths: &DbPaths,
    manifest: &mut Manifest,
    found: &FoundFiles,
    ids: &Ids,
    revision_last: u64,
    segment_bytes: u64,
) -> Result<LogFile> {
    let segment = ids.segment();
    let header = staging_header(segment, Revision(revision_last));
    let path = paths.staging_log(segment);
    let Some(((first_segment, first), rest)) = found.staging.split_first() else {
        return LogFile::create(storage, path, header, segment_bytes);
    };
    for (old_segment, old) in rest {
        storage.remove_file(old)?;
        manifest.forget_retired(SpaceId(0), *old_segment);
    }
    let log = LogFile::recycle(storage, first, path, header)?;
    manifest.forget_retired(SpaceId(0), *first_segment);
    Ok(log)
}

/// The levels of a space's blocks; blocks the manifest places in one deeper level with
/// overlapping key ranges are `Error::Corruption`.
fn levels_of(paths: &DbPaths, space: SpaceId, blocks: Vec<Arc<BlockFile>>) -> Result<Levels> {
    Levels::from_blocks(blocks).map_err(|overlap| {
        Error::corruption(
            paths.manifest(),
            0,
            format!(
                "space {}: blocks {} and {} overlap in level {}",
                space.0, overlap.blocks.0.0, overlap.blocks.1.0, overlap.level
            ),
        )
    })
}

/// Gives every space an active and a spare segment, recycling retired ones first; removes
/// retired segments left over.
#[expect(
    clippy::too_many_arguments,
    reason = "the last step of open, given everything it needs"
)]
fn assign_segments(
    storage: &dyn Storage,
    paths: &DbPaths,
    manifest: &mut Manifest,
    mut blocks: BTreeMap<SpaceId, Vec<Arc<BlockFile>>>,
    free_scanned: Vec<PathBuf>,
    ids: &Ids,
    revision_last: u64,
    segment_bytes: u64,
) -> Result<Vec<RecoveredSpace>> {
    let mut free: Vec<(SpaceId, SegmentId, PathBuf)> = Vec::new();
    let listed = storage.list_dir(&paths.segments)?;
    for name in listed
        .into_iter()
        .filter_map(|name| name.into_string().ok())
    {
        if let Some((space, segment)) = parse_segment_name(&name)
            && manifest.state().retired.contains(&(space, segment))
        {
            free.push((space, segment, paths.segments.join(&name)));
        }
    }
    debug_assert!(
        free_scanned
            .iter()
            .all(|path| free.iter().any(|(_, _, free)| free == path))
    );
    let mut next_log = |space: SpaceId, manifest: &mut Manifest| -> Result<LogFile> {
        let segment = ids.segment();
        let header = hot_header(segment, space, Revision(revision_last));
        let path = paths.segment(space, segment);
        match free.pop() {
            Some((old_space, old_segment, old_path)) => {
                let log = LogFile::recycle(storage, &old_path, path, header)?;
                manifest.forget_retired(old_space, old_segment);
                Ok(log)
            }
            None => LogFile::create(storage, path, header, segment_bytes),
        }
    };
    let space_records: Vec<_> = manifest
        .state()
        .spaces
        .iter()
        .map(|(id, record)| (*id, record.clone()))
        .collect();
    let mut spaces = Vec::new();
    for (space_id, record) in space_records {
        let blocks = blocks.remove(&space_id).unwrap_or_default();
        let shared = space_shared(paths, space_id, &record, blocks, Arc::default())?;
        let active = next_log(space_id, manifest)?;
        let spare = next_log(space_id, manifest)?;
        spaces.push(RecoveredSpace {
            shared: Arc::new(shared),
            active,
            spare,
        });
    }
    for (space, segment, path) in free {
        storage.remove_file(&path)?;
        manifest.forget_retired(space, segment);
    }
    storage.sync_dir(&paths.segments)?;
    Ok(spaces)
}

#[cfg(test)]
mod tests {
    use infinitedb_format::{FrameGroup, RecordKind, encode_stamped_frame_of_group};

    use super::*;

    const SEGMENT: SegmentId = SegmentId(3);

    /// Writes at `at` of `log` a frame of `space` holding one 600-byte put at `revision`, as
    /// the frame `group` says of a group if it is `Some`; returns the bytes it takes.
    fn put_frame(
        log: &mut [u8],
        at: usize,
        (space, revision): (SpaceId, Revision),
        group: Option<FrameGroup>,
    ) -> usize {
        let value = vec![b'v'; 600];
        let records = [RecordRef {
            key: u128::from(space.0),
            revision,
            kind: RecordKind::Put,
            value: &value,
        }];
        encode_stamped_frame_of_group(SEGMENT, space, group, &records, at as u64, &mut log[at..])
    }

    /// A log body (zeros for the header page) holding, in order, a frame of one space at
    /// revision 1, then the three frames of a group at revision 2 (spaces 1, 2, 3); returns
    /// it with each frame's offset.
    fn log_with_group() -> (Vec<u8>, Vec<usize>) {
        let mut log = vec![0_u8; LOG_HEADER_BYTES + 16 * SECTOR_BYTES];
        let mut offsets = Vec::new();
        let mut at = LOG_HEADER_BYTES;
        let frames = [
            (SpaceId(1), Revision(1), None),
            (SpaceId(1), Revision(2), Some(0)),
            (SpaceId(2), Revision(2), Some(1)),
            (SpaceId(3), Revision(2), Some(2)),
        ];
        for (space, revision, index) in frames {
            let group = index.map(|index| FrameGroup { frames: 3, index });
            offsets.push(at);
            at += put_frame(&mut log, at, (space, revision), group);
        }
        (log, offsets)
    }

    /// What a scan hands over: (space, revision) pairs, and the torn tail.
    type Scanned = (Vec<(SpaceId, Revision)>, Option<(u64, String)>);

    /// The (space, revision) pairs a scan of `log` hands over, and its torn tail.
    fn scan(log: &[u8]) -> Result<Scanned> {
        let mut seen = Vec::new();
        let torn = scan_stamped(
            log,
            Path::new("stage.log"),
            SEGMENT,
            &mut |space, _, revision, _| {
                seen.push((space, revision));
                Ok(())
            },
        )?;
        Ok((seen, torn))
    }

    #[test]
    fn a_whole_group_is_handed_over_once_its_last_frame_is_read() {
        // Goal: every frame of a complete group reaches the visitor. Method: scan the log.
        let (log, _) = log_with_group();
        let (seen, torn) = scan(&log).unwrap();
        let group = [SpaceId(1), SpaceId(2), SpaceId(3)].map(|space| (space, Revision(2)));
        assert_eq!(seen[0], (SpaceId(1), Revision(1)));
        assert_eq!(seen[1..], group);
        assert_eq!(torn, None);
    }

    #[test]
    fn a_group_torn_anywhere_is_dropped_whole_as_the_torn_tail() {
        // Goal: a tear of the group's one write, at any of its frames, keeps nothing of the
        // group and is a torn tail, not damage, even when later frames of the group survived.
        // Method: zero each group frame's first sector in turn (and all but one frame).
        let (log, offsets) = log_with_group();
        for lost in [
            vec![1],
            vec![2],
            vec![3],
            vec![1, 3],
            vec![2, 3],
            vec![1, 2],
        ] {
            let mut torn_log = log.clone();
            for frame in &lost {
                let at = offsets[*frame];
                torn_log[at..at + SECTOR_BYTES].fill(0);
            }
            let (seen, torn) = scan(&torn_log).unwrap_or_else(|error| panic!("{lost:?}: {error}"));
            assert_eq!(seen, vec![(SpaceId(1), Revision(1))], "{lost:?}");
            // With its first frame lost the log ends normally there (zeros); otherwise the
            // group read so far is the torn tail.
            let expected = (!lost.contains(&1)).then_some(offsets[1] as u64);
            assert_eq!(torn.map(|(at, _)| at), expected, "{lost:?}");
        }
    }

    #[test]
    fn a_frame_after_a_torn_group_or_inside_a_group_is_damage() {
        // Goal: only the group's own frames may follow its tear; a group interrupted by another
        // frame is damage. Method: write a frame of another revision after the torn group, and
        // a log whose group frames come in the wrong order.
        let (mut log, offsets) = log_with_group();
        let end = offsets[3] + 2 * SECTOR_BYTES;
        put_frame(&mut log, end, (SpaceId(1), Revision(3)), None);
        let mut torn_log = log.clone();
        torn_log[offsets[2]..offsets[2] + SECTOR_BYTES].fill(0);
        assert!(matches!(scan(&torn_log), Err(Error::Corruption { .. })));

        // The group's frames out of order: index 2 written where index 1 belongs.
        let (mut log, offsets) = log_with_group();
        for (slot, index, space) in [(2, 2, SpaceId(3)), (3, 1, SpaceId(2))] {
            let group = Some(FrameGroup { frames: 3, index });
            put_frame(&mut log, offsets[slot], (space, Revision(2)), group);
        }
        assert!(matches!(scan(&log), Err(Error::Corruption { .. })));
    }
}
