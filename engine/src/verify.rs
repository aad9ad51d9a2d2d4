//! [`verify`]: every checksum of every file of a database directory, checked without
//! modifying anything (docs/format.md).
//!
//! Owns: the walk over the directory and the report of what it found. It reuses recovery's
//! file listing and log scan (`recovery.rs`) and the `infinitedb-format` decoders, so a file
//! verifies exactly when an open would accept it. Checks, in order:
//! - the manifest: header and every edit batch (a torn last batch is the normal end after a
//!   crash, as in replay);
//! - every log the manifest names as live: present, at the length it was created with, with
//!   a header naming it;
//! - every hot segment not retired and every staging log: each frame (stamps, header and
//!   payload checksums). A torn frame at a log's end is a [`Note`] (a write never
//!   acknowledged, what a crash leaves); damage inside acknowledged history is a [`Problem`];
//! - every block file: the footer against the manifest's `footer_checksum` and length, the
//!   index, the key filter, and every data page, each page on its own so one damaged page does
//!   not hide another. A block file the manifest does not name (a seal interrupted before its
//!   manifest edit) is checked too; what is wrong in it is a note, since it is not part of the
//!   database.
//!
//! Invariants: nothing is written (no lock file, no probe file, no repair); verification
//! goes on after a problem wherever the format lets it (the next page, the next file). It
//! takes the directory's shared lock, as [`crate::Db::open_read_only`] does: it runs beside
//! read-only opens and other verifications, and a directory a writing `Db` holds is
//! [`Error::Locked`] (so the files cannot change while they are read).

use std::fmt;
use std::path::{Path, PathBuf};

use infinitedb_format::{
    BlockFilter, BlockFooter, BlockIndex, BlockMeta, LogKind, SegmentId, SpaceId, decode_page,
};
use uring_io::{AlignedBuf, OpenMode, Storage};

use crate::error::{Error, Result};
use crate::manifest::{Manifest, ManifestState};
use crate::options::Options;
use crate::paths::DbPaths;
use crate::read_only::open_shared;
use crate::recovery::{FoundFiles, check_live_header, check_live_log, list_files, scan_log};

/// What a file of the database directory is.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FileRole {
    /// The `MANIFEST`.
    Manifest,
    /// A hot segment (a space's write-ahead log).
    HotSegment,
    /// A staging log (shared by all spaces).
    StagingLog,
    /// A sealed block.
    Block,
}

impl FileRole {
    /// A lower-case name, e.g. `"hot segment"`.
    pub fn name(self) -> &'static str {
        match self {
            FileRole::Manifest => "manifest",
            FileRole::HotSegment => "hot segment",
            FileRole::StagingLog => "staging log",
            FileRole::Block => "block",
        }
    }
}

/// What kind of problem a [`Problem`] is.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProblemKind {
    /// Bytes that fail their checksum or do not decode: damage at rest.
    Damaged,
    /// A file the manifest names is not there.
    Missing,
    /// A file decodes but disagrees with what the manifest recorded for it (length, footer
    /// checksum, header).
    Mismatch,
    /// A file could not be read (an I/O error).
    Unreadable,
}

impl ProblemKind {
    /// A lower-case name, e.g. `"damaged"`.
    pub fn name(self) -> &'static str {
        match self {
            ProblemKind::Damaged => "damaged",
            ProblemKind::Missing => "missing",
            ProblemKind::Mismatch => "mismatch",
            ProblemKind::Unreadable => "unreadable",
        }
    }
}

/// A file that was checked.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckedFile {
    /// The file.
    pub path: PathBuf,
    /// What it is.
    pub role: FileRole,
    /// Its length in bytes.
    pub bytes: u64,
}

/// Something that failed verification: an open would refuse the database, or a read would
/// fail.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Problem {
    /// The file.
    pub file: PathBuf,
    /// The byte offset in the file, where known.
    pub offset: Option<u64>,
    /// What kind of problem.
    pub kind: ProblemKind,
    /// What did not verify.
    pub detail: String,
}

/// Something worth knowing that is not a problem: a torn frame at a log's end (a write never
/// acknowledged), a retired segment not scanned, a block file the manifest does not name.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Note {
    /// The file.
    pub file: PathBuf,
    /// The byte offset in the file, where known.
    pub offset: Option<u64>,
    /// What was found.
    pub detail: String,
}

/// What [`verify`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyReport {
    /// The database directory, canonical.
    pub path: PathBuf,
    /// Every file checked, in the order checked.
    pub files: Vec<CheckedFile>,
    /// Every problem found; empty when the database verifies.
    pub problems: Vec<Problem>,
    /// Findings that are not problems.
    pub notes: Vec<Note>,
}

impl VerifyReport {
    /// True when no problem was found.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    fn file(&mut self, path: &Path, role: FileRole, bytes: u64) {
        self.files.push(CheckedFile {
            path: path.to_path_buf(),
            role,
            bytes,
        });
    }

    fn problem(&mut self, file: &Path, offset: Option<u64>, kind: ProblemKind, detail: String) {
        self.problems.push(Problem {
            file: file.to_path_buf(),
            offset,
            kind,
            detail,
        });
    }

    fn note(&mut self, file: &Path, offset: Option<u64>, detail: String) {
        self.notes.push(Note {
            file: file.to_path_buf(),
            offset,
            detail,
        });
    }

    /// Records `error`, met while checking `file`, as a problem: a corruption keeps its own
    /// file and offset and is `kind`; any other error makes the file unreadable.
    fn error(&mut self, file: &Path, kind: ProblemKind, error: &Error) {
        match error {
            Error::Corruption {
                file,
                offset,
                detail,
            } => self.problem(file, Some(*offset), kind, detail.clone()),
            other => self.problem(file, None, ProblemKind::Unreadable, error_chain(other)),
        }
    }
}

impl fmt::Display for VerifyReport {
    /// One line per problem, then per note, then a summary line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = |offset: Option<u64>| offset.map_or_else(String::new, |o| format!(" at {o}"));
        for problem in &self.problems {
            let (file, kind) = (problem.file.display(), problem.kind.name());
            let offset = at(problem.offset);
            writeln!(f, "problem: {file}{offset}: {kind}: {}", problem.detail)?;
        }
        for note in &self.notes {
            let (file, offset) = (note.file.display(), at(note.offset));
            writeln!(f, "note: {file}{offset}: {}", note.detail)?;
        }
        let bytes: u64 = self.files.iter().map(|file| file.bytes).sum();
        write!(
            f,
            "{}: {} files ({bytes} bytes) checked, {} problems, {} notes",
            self.path.display(),
            self.files.len(),
            self.problems.len(),
            self.notes.len()
        )
    }
}

/// An error's message followed by each of its causes.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        text.push_str(": ");
        text.push_str(&next.to_string());
        cause = next.source();
    }
    text
}

/// Verifies the database in `path` with default [`Options`]; see [`verify_with`].
///
/// ```
/// use infinitedb::{Db, Options};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let db = Db::open(dir.path(), Options::default())?;
/// let space = db.create_space("points", 2, 16)?;
/// db.put(space, &[1, 2], b"value")?;
/// db.flush(space)?;
/// db.close()?;
///
/// let report = infinitedb::verify(dir.path())?;
/// assert!(report.is_clean(), "{report}");
/// assert!(!report.files.is_empty());
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// As [`verify_with`].
pub fn verify(path: impl AsRef<Path>) -> Result<VerifyReport> {
    verify_with(path, &Options::default())
}

/// Reads every file of the database in `path` and checks every checksum (see the module
/// doc, and docs/format.md for the layouts), writing nothing. Damage is reported in the
/// [`VerifyReport`], not as an error, and verification goes on past it.
///
/// `options` gives the storage (`Options::storage`, `Options::backend`) and the staging
/// directory (`Options::staging_dir`).
///
/// # Errors
/// [`Error::Locked`] while a writing `Db` holds the directory; [`Error::NotADatabase`]
/// when it holds no database; [`Error::InvalidOption`]; an I/O error listing the directory.
pub fn verify_with(path: impl AsRef<Path>, options: &Options) -> Result<VerifyReport> {
    options.validate()?;
    let (storage, _lock, paths) = open_shared(path.as_ref(), options)?;
    let storage = storage.as_ref();
    let found = list_files(storage, &paths)?;
    let mut report = VerifyReport {
        path: paths.root.clone(),
        ..VerifyReport::default()
    };
    let state = check_manifest(storage, &paths, &mut report);
    check_logs(storage, &paths, state.as_ref(), &found, &mut report);
    check_blocks(storage, &paths, state.as_ref(), &found, &mut report);
    Ok(report)
}

/// The length of the file at `path`.
fn file_len(storage: &dyn Storage, path: &Path) -> Result<u64> {
    Ok(storage.file_len(&storage.open(path, OpenMode::Read)?)?)
}

/// The whole file at `path`.
fn read_whole(storage: &dyn Storage, path: &Path) -> Result<Vec<u8>> {
    let file = storage.open(path, OpenMode::Read)?;
    let len_bytes = usize::try_from(storage.file_len(&file)?).unwrap_or(usize::MAX);
    let mut buf = AlignedBuf::with_capacity_for(len_bytes, storage.info().alignment_bytes)?;
    let read = storage.read_at(&file, 0, &mut buf)?;
    Ok(buf[..read.min(len_bytes)].to_vec())
}

/// The manifest's header and batches; its catalogue, if it replays.
fn check_manifest(
    storage: &dyn Storage,
    paths: &DbPaths,
    report: &mut VerifyReport,
) -> Option<ManifestState> {
    let path = paths.manifest();
    if !storage.exists(&path).unwrap_or(true) {
        let detail = "the manifest is missing: no block or log can be placed".to_string();
        report.problem(&path, None, ProblemKind::Missing, detail);
        return None;
    }
    match file_len(storage, &path) {
        Ok(bytes) => report.file(&path, FileRole::Manifest, bytes),
        Err(error) => {
            report.error(&path, ProblemKind::Unreadable, &error);
            return None;
        }
    }
    match Manifest::replay(storage, &path) {
        Ok((state, _)) => Some(state),
        Err(error) => {
            report.error(&path, ProblemKind::Damaged, &error);
            None
        }
    }
}

/// Every live log the manifest names is there, whole and its own; every log found is scanned
/// frame by frame (a retired hot segment is listed, not scanned: its records are in blocks).
fn check_logs(
    storage: &dyn Storage,
    paths: &DbPaths,
    state: Option<&ManifestState>,
    found: &FoundFiles,
    report: &mut VerifyReport,
) {
    if let Some(state) = state {
        for meta in state.logs.values() {
            if let Err(error) = check_live_log(storage, paths, state, found, meta) {
                let file = match meta.kind {
                    LogKind::HotSegment => paths.segment(meta.space_id, meta.segment_id),
                    LogKind::StagingLog => paths.staging_log(meta.segment_id),
                };
                let present = storage.exists(&file).unwrap_or(true);
                let kind = if present {
                    ProblemKind::Mismatch
                } else {
                    ProblemKind::Missing
                };
                report.error(&file, kind, &error);
            }
        }
    }
    let hot = found
        .segments
        .iter()
        .map(|(space, segment, path)| (FileRole::HotSegment, *space, *segment, path));
    let staging = found
        .staging
        .iter()
        .map(|(segment, path)| (FileRole::StagingLog, SpaceId(0), *segment, path));
    for (role, space, segment, path) in hot.chain(staging) {
        match file_len(storage, path) {
            Ok(bytes) => report.file(path, role, bytes),
            Err(error) => {
                report.error(path, ProblemKind::Unreadable, &error);
                continue;
            }
        }
        let retired = role == FileRole::HotSegment
            && state.is_some_and(|state| state.retired.contains(&(space, segment)));
        if retired {
            let detail = "retired segment (its records are in blocks; free for reuse): its \
                          frames are not scanned"
                .to_string();
            report.note(path, None, detail);
            continue;
        }
        check_log(storage, path, segment, state, report);
    }
}

/// One log's frames, and its header against the manifest's record of it.
fn check_log(
    storage: &dyn Storage,
    path: &Path,
    segment: SegmentId,
    state: Option<&ManifestState>,
    report: &mut VerifyReport,
) {
    match scan_log(storage, path, segment, |_, _, _, _| Ok(())) {
        Ok(scan) => {
            if let Some((offset, why)) = scan.torn {
                let detail = format!(
                    "torn write at the end of the log (never acknowledged; the next open \
                     drops it): {why}"
                );
                report.note(path, Some(offset), detail);
            }
            let meta = state.and_then(|state| Some((state, state.logs.get(&segment)?)));
            if let Some((state, meta)) = meta
                && let Err(error) = check_live_header(state, meta, path, scan.header.as_ref())
            {
                report.error(path, ProblemKind::Mismatch, &error);
            }
        }
        Err(error) => report.error(path, ProblemKind::Damaged, &error),
    }
}

/// Every block the manifest names is there; every block file found is checked.
fn check_blocks(
    storage: &dyn Storage,
    paths: &DbPaths,
    state: Option<&ManifestState>,
    found: &FoundFiles,
    report: &mut VerifyReport,
) {
    for meta in state.iter().flat_map(|state| state.blocks.values()) {
        if !found
            .blocks
            .iter()
            .any(|(block, _)| *block == meta.block_id)
        {
            let detail = format!(
                "block {} (space {}, level {}) is named by the manifest but missing",
                meta.block_id.0, meta.space_id.0, meta.level
            );
            report.problem(
                &paths.block(meta.block_id),
                None,
                ProblemKind::Missing,
                detail,
            );
        }
    }
    for (block, path) in &found.blocks {
        let bytes = match read_whole(storage, path) {
            Ok(bytes) => bytes,
            Err(error) => {
                report.error(path, ProblemKind::Unreadable, &error);
                continue;
            }
        };
        report.file(path, FileRole::Block, bytes.len() as u64);
        let meta = state.and_then(|state| state.blocks.get(block));
        let findings = check_block(&bytes, meta);
        if meta.is_some() || state.is_none() {
            for (offset, kind, detail) in findings {
                report.problem(path, offset, kind, detail);
            }
        } else {
            let detail = "named by no manifest edit (a seal or compaction interrupted before \
                          its manifest edit): not part of the database"
                .to_string();
            report.note(path, None, detail);
            for (offset, kind, detail) in findings {
                report.note(path, offset, format!("{}: {detail}", kind.name()));
            }
        }
    }
}

/// What is wrong with the block `bytes`, which the manifest records as `meta`: (offset,
/// kind, detail) per finding. Footer, index, filter and each data page are decoded on their
/// own, so one damaged structure does not hide another (the pages need the index).
fn check_block(bytes: &[u8], meta: Option<&BlockMeta>) -> Vec<(Option<u64>, ProblemKind, String)> {
    let mut findings = Vec::new();
    let length = bytes.len() as u64;
    if let Some(meta) = meta
        && meta.len_bytes != length
    {
        let detail = format!(
            "{length} bytes long; the manifest recorded {}",
            meta.len_bytes
        );
        findings.push((None, ProblemKind::Mismatch, detail));
    }
    let (footer, checksum) = match BlockFooter::decode(bytes) {
        Ok(decoded) => decoded,
        Err(error) => {
            let detail = format!("footer: {error}");
            findings.push((Some(error.offset()), ProblemKind::Damaged, detail));
            return findings;
        }
    };
    let footer_offset = footer.footer_offset();
    if let Some(meta) = meta
        && meta.footer_checksum != checksum
    {
        let detail = format!(
            "footer checksum {:#x}; the manifest recorded {:#x} (another block's footer)",
            checksum.0, meta.footer_checksum.0
        );
        findings.push((Some(footer_offset), ProblemKind::Mismatch, detail));
    }
    if footer.block_bytes != length {
        let detail = format!(
            "{length} bytes long; its footer says {}",
            footer.block_bytes
        );
        findings.push((None, ProblemKind::Mismatch, detail));
    }
    let slice = |from: u64, to: u64| {
        let from = usize::try_from(from).unwrap_or(usize::MAX);
        let to = usize::try_from(to).unwrap_or(usize::MAX).min(bytes.len());
        bytes.get(from..to).unwrap_or_default()
    };
    if let Err(error) = BlockFilter::decode(slice(footer.filter_offset(), footer_offset), &footer) {
        let offset = footer.filter_offset().saturating_add(error.offset());
        findings.push((
            Some(offset),
            ProblemKind::Damaged,
            format!("filter: {error}"),
        ));
    }
    let index = match BlockIndex::decode(slice(footer.index_offset, length), &footer) {
        Ok(index) => index,
        Err(error) => {
            let offset = footer.index_offset.saturating_add(error.offset());
            findings.push((
                Some(offset),
                ProblemKind::Damaged,
                format!("index: {error}"),
            ));
            return findings;
        }
    };
    for location in index.pages() {
        if let Err(error) = decode_page(slice(location.offset, length), &location) {
            let offset = location.offset.saturating_add(error.offset());
            let detail = format!("data page at offset {}: {error}", location.offset);
            findings.push((Some(offset), ProblemKind::Damaged, detail));
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use infinitedb_format::{
        BLOCK_PAGE_BYTES, BlockBuilder, BlockId, BuiltBlock, RecordKind, RecordRef, Revision,
    };

    use super::*;

    /// A block of 300 records with 100-byte values: several data pages.
    fn built() -> BuiltBlock {
        let mut builder = BlockBuilder::new(SpaceId(1), BlockId(9));
        let value = [3_u8; 100];
        for key in 0..300_u128 {
            builder.push(RecordRef {
                key: key << 64,
                revision: Revision(1),
                kind: RecordKind::Put,
                value: &value,
            });
        }
        builder.finish()
    }

    #[test]
    fn a_whole_block_has_no_finding_and_every_damaged_page_one() {
        // Goal: check_block finds nothing in a block as built, and one damaged finding per
        // damaged page, each at an offset inside its page. Method: build a block, check it
        // against its own meta; flip a byte in the first and second page, check again.
        let block = built();
        let meta = BlockMeta::from_footer(&block.footer, block.footer_checksum);
        assert_eq!(check_block(&block.bytes, Some(&meta)), Vec::new());
        let mut bytes = block.bytes.clone();
        bytes[100] ^= 1;
        bytes[BLOCK_PAGE_BYTES + 100] ^= 1;
        let findings = check_block(&bytes, Some(&meta));
        assert_eq!(findings.len(), 2, "{findings:?}");
        for (page, (offset, kind, _)) in findings.iter().enumerate() {
            assert_eq!(*kind, ProblemKind::Damaged);
            let start = (page * BLOCK_PAGE_BYTES) as u64;
            assert!((start..start + BLOCK_PAGE_BYTES as u64).contains(&offset.unwrap()));
        }
    }

    #[test]
    fn a_block_that_is_not_the_manifests_is_a_mismatch() {
        // Goal: a valid block whose footer checksum or length differs from the manifest's
        // record is a mismatch, not a silent pass. Method: check a block against a meta with
        // another footer checksum and length.
        let block = built();
        let mut meta = BlockMeta::from_footer(&block.footer, block.footer_checksum);
        meta.footer_checksum.0 ^= 1;
        meta.len_bytes += 4096;
        let kinds: Vec<ProblemKind> = check_block(&block.bytes, Some(&meta))
            .into_iter()
            .map(|(_, kind, _)| kind)
            .collect();
        assert_eq!(kinds, vec![ProblemKind::Mismatch, ProblemKind::Mismatch]);
    }
}
