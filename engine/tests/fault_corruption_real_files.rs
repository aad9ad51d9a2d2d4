//! Bit flips in files of a closed database on real files, on both real backends
//! (docs/design.md §3 "Recovery": a bad checksum inside acknowledged history is `Error::Corruption
//! { file, offset }`, never silently dropped; a torn tail alone is truncated).
//!
//! Method common to the cases: write records, close, damage one file on purpose, reopen.
//! Open must fail with `Corruption` naming the damaged file, or succeed and then every read
//! returns the exact value or `Corruption` naming that file; never a panic, never a wrong or
//! silently missing value.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a failure is a test failure"
)]

mod support;

use std::path::{Path, PathBuf};

use infinitedb::Readable;
use infinitedb::{BackendRequest, Db, Error, Options, SpaceId};
use infinitedb_format::{BlockFilter, BlockFooter};
use support::{REAL_BACKENDS, copy_tree, suite_options};

const RECORDS: u32 = 120;
/// Magic bytes opening every frame (docs/format.md).
const FRAME_MAGIC: &[u8] = b"IDBF";

fn value_of(index: u32) -> Vec<u8> {
    format!(
        "corrupt-{index}-{}",
        "c".repeat(usize::try_from(index % 40).unwrap())
    )
    .into_bytes()
}

fn options(backend: BackendRequest) -> Options {
    suite_options().backend(backend)
}

/// A database with `RECORDS` puts, sealed into a block if `seal`, closed.
fn populated(dir: &Path, backend: BackendRequest, seal: bool) -> SpaceId {
    let db = Db::open(dir, options(backend)).unwrap();
    let space = db.create_space("c", 2, 16).unwrap();
    for index in 0..RECORDS {
        db.put(space, [index, 1], value_of(index)).unwrap();
    }
    if seal {
        db.flush(space).unwrap();
    }
    db.close().unwrap();
    space
}

fn files_in(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(prefix)
        })
        .collect();
    found.sort();
    found
}

fn flip(file: &Path, offset: usize) {
    let mut bytes = std::fs::read(file).unwrap();
    bytes[offset] ^= 0x10;
    std::fs::write(file, bytes).unwrap();
}

fn names(error: &Error, file: &Path) -> bool {
    matches!(error, Error::Corruption { file: named, .. } if named.file_name() == file.file_name())
}

/// Reopens after damaging `file`; returns whether the damage was reported (at open or read).
fn reopen_expecting_corruption(
    dir: &Path,
    backend: BackendRequest,
    space: SpaceId,
    file: &Path,
    context: &str,
) -> bool {
    let db = match Db::open(dir, options(backend)) {
        Err(error) => {
            assert!(
                names(&error, file),
                "{context}: open failed with {error:?}, not Corruption naming {file:?}"
            );
            return true;
        }
        Ok(db) => db,
    };
    let mut reported = false;
    for index in 0..RECORDS {
        match db.get(space, &[index, 1]) {
            Ok(found) => assert_eq!(
                found,
                Some(value_of(index).into()),
                "{context}: point {index} silently wrong or missing"
            ),
            Err(error) => {
                assert!(names(&error, file), "{context}: get failed with {error:?}");
                reported = true;
            }
        }
    }
    db.close().unwrap();
    reported
}

/// Offsets of every frame magic in `bytes`.
fn frame_offsets(bytes: &[u8]) -> Vec<usize> {
    bytes
        .windows(FRAME_MAGIC.len())
        .enumerate()
        .filter(|(_, window)| *window == FRAME_MAGIC)
        .map(|(offset, _)| offset)
        .collect()
}

/// The live (largest-data) hot segment of the closed database.
fn segment_with_frames(dir: &Path) -> (PathBuf, Vec<usize>) {
    files_in(&dir.join("segments"), "seg-")
        .into_iter()
        .map(|path| {
            let offsets = frame_offsets(&std::fs::read(&path).unwrap());
            (path, offsets)
        })
        .max_by_key(|(_, offsets)| offsets.len())
        .unwrap()
}

#[test]
fn bit_flips_in_a_sealed_block_are_reported_as_corruption() {
    // Goal: damage in a block's data page, index, filter or footer is reported, naming the
    // block.
    // Method: seal RECORDS puts into one block; for offsets in the first page, the middle
    // and the last bytes, flip one bit in a fresh copy of the database and reopen.
    for backend in REAL_BACKENDS {
        for spot in ["first page", "middle", "footer"] {
            let dir = tempfile::tempdir_in("/tmp").unwrap();
            let space = populated(dir.path(), backend, true);
            let block = files_in(&dir.path().join("blocks"), "blk-").pop().unwrap();
            let len = usize::try_from(std::fs::metadata(&block).unwrap().len()).unwrap();
            let offset = match spot {
                "first page" => 100,
                "middle" => len / 2,
                _ => len - 20,
            };
            flip(&block, offset);
            let context = format!("{backend:?} block {spot} (offset {offset} of {len})");
            let reported =
                reopen_expecting_corruption(dir.path(), backend, space, &block, &context);
            println!("{context}: reported = {reported}");
            assert!(
                reported || spot == "middle",
                "{context}: damage never reported"
            );
        }
    }
}

#[test]
fn a_bit_flip_in_a_block_filter_fails_the_open() {
    // Goal: a damaged key filter, which could hide a key from point reads, fails the open
    // with Corruption naming the block file at an offset inside the filter; it is never
    // trusted. Method: seal RECORDS puts into one block; find its filter through its footer
    // (`docs/format.md`, "Block filter"); flip one bit in the filter's bit_count, then (in a
    // fresh database) one in its bits; reopen.
    for backend in REAL_BACKENDS {
        for spot in ["bit_count", "bits"] {
            let dir = tempfile::tempdir_in("/tmp").unwrap();
            populated(dir.path(), backend, true);
            let block = files_in(&dir.path().join("blocks"), "blk-").pop().unwrap();
            let bytes = std::fs::read(&block).unwrap();
            let (footer, _) = BlockFooter::decode(&bytes).unwrap();
            let start = usize::try_from(footer.filter_offset()).unwrap();
            let filter = BlockFilter::decode(&bytes[start..], &footer)
                .unwrap()
                .unwrap();
            let filter_end = start + 32 + usize::try_from(filter.bit_count() / 8).unwrap();
            let offset = match spot {
                "bit_count" => start + 20,
                _ => (start + filter_end) / 2,
            };
            flip(&block, offset);
            let context = format!("{backend:?} filter {spot} (offset {offset})");
            let error = Db::open(dir.path(), options(backend)).err();
            let Some(Error::Corruption {
                file,
                offset: found,
                detail,
            }) = error
            else {
                panic!("{context}: open gave {error:?}, not Corruption");
            };
            assert_eq!(file.file_name(), block.file_name(), "{context}");
            let inside = (start as u64..filter_end as u64).contains(&found);
            assert!(inside, "{context}: reported at {found}: {detail}");
            assert!(detail.contains("block_filter"), "{context}: {detail}");
        }
    }
}

#[test]
fn bit_flips_in_the_manifest_fail_the_open() {
    // Goal: metadata damage fails closed: open fails with Corruption naming MANIFEST or the
    // database opens with every record intact; it never opens empty or missing a block.
    // Method: seal into a block (the manifest then names a block and retires a segment);
    // flip one bit at every 8th byte of the manifest, one copy per offset, and reopen.
    for backend in REAL_BACKENDS {
        let template = tempfile::tempdir_in("/tmp").unwrap();
        let space = populated(template.path(), backend, true);
        let manifest_bytes = std::fs::read(template.path().join("MANIFEST")).unwrap();
        let (mut reported, mut offsets, mut lost) = (0, 0, Vec::new());
        for offset in (0..manifest_bytes.len()).step_by(8) {
            let dir = tempfile::tempdir_in("/tmp").unwrap();
            copy_tree(template.path(), dir.path());
            let manifest = dir.path().join("MANIFEST");
            flip(&manifest, offset);
            let context = format!(
                "{backend:?} manifest offset {offset} of {}",
                manifest_bytes.len()
            );
            let outcome = std::panic::catch_unwind(|| {
                reopen_expecting_corruption(dir.path(), backend, space, &manifest, &context)
            });
            match outcome {
                Ok(was_reported) => reported += usize::from(was_reported),
                Err(_) => {
                    let blocks = files_in(&dir.path().join("blocks"), "blk-").len();
                    lost.push(format!("{offset} (block files left: {blocks})"));
                }
            }
            offsets += 1;
        }
        println!(
            "{backend:?}: manifest flips at {offsets} offsets, {reported} reported as Corruption, {} lost data: {lost:?}",
            lost.len()
        );
        assert!(
            lost.is_empty(),
            "{backend:?}: a manifest bit flip opened a database missing acknowledged data at offsets {lost:?}"
        );
        assert!(
            reported * 2 >= offsets - lost.len(),
            "most manifest flips went unnoticed"
        );
    }
}

#[test]
fn a_bit_flip_in_the_middle_of_a_segment_fails_the_open() {
    // Goal: a bad frame followed by valid frames is corruption inside acknowledged history:
    // open fails naming the segment. Method: RECORDS puts, close without a seal (the
    // frames stay in the hot segment); flip a bit in the payload of the middle frame.
    for backend in REAL_BACKENDS {
        let dir = tempfile::tempdir_in("/tmp").unwrap();
        let space = populated(dir.path(), backend, false);
        let (segment, offsets) = segment_with_frames(dir.path());
        assert!(
            offsets.len() >= 10,
            "{backend:?}: expected many frames, found {}",
            offsets.len()
        );
        let middle = offsets[offsets.len() / 2];
        flip(&segment, middle + 60);
        let context = format!("{backend:?} segment frame at {middle}");
        let error = Db::open(dir.path(), options(backend)).err();
        assert!(
            matches!(&error, Some(error) if names(error, &segment)),
            "{context}: open gave {error:?}"
        );
        // The damaged files are left as they were: a second open reports the same.
        assert!(reopen_expecting_corruption(
            dir.path(),
            backend,
            space,
            &segment,
            &context
        ));
    }
}

#[test]
fn a_torn_last_frame_is_truncated_without_error() {
    // Goal: an incomplete last frame (a write torn by a crash) is dropped silently and every
    // earlier record is there. Method: RECORDS puts, close without a seal; zero the last
    // frame's sectors (a torn write loses whole 512-byte sectors; the frame starts 16 bytes
    // before its magic); reopen: every record but the last is intact and the last point
    // holds nothing.
    for backend in REAL_BACKENDS {
        let dir = tempfile::tempdir_in("/tmp").unwrap();
        let space = populated(dir.path(), backend, false);
        let (segment, offsets) = segment_with_frames(dir.path());
        let last = *offsets.last().unwrap();
        let mut bytes = std::fs::read(&segment).unwrap();
        let start = last - 16;
        assert_eq!(
            start % 512,
            0,
            "{backend:?}: frames start on a sector boundary"
        );
        let end = (start + 4096).min(bytes.len());
        bytes[start..end].fill(0);
        std::fs::write(&segment, bytes).unwrap();
        let db = Db::open(dir.path(), options(backend))
            .unwrap_or_else(|error| panic!("{backend:?}: torn tail refused: {error}"));
        for index in 0..RECORDS - 1 {
            assert_eq!(
                db.get(space, &[index, 1]).unwrap(),
                Some(value_of(index).into()),
                "{backend:?}: point {index}"
            );
        }
        assert_eq!(
            db.get(space, &[RECORDS - 1, 1]).unwrap(),
            None,
            "{backend:?}: the torn record came back"
        );
        db.close().unwrap();
    }
}
