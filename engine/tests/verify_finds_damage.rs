//! `infinitedb::verify` reports the damage the fault tests plant (a flipped bit in a block's
//! data page, footer or filter, in a hot segment's frame, in a manifest batch; a missing live
//! log or block), each naming the damaged file and, where the format knows it, the offset; a
//! torn last frame is a note, not a problem; a clean database reports no problem.
//!
//! Method common to the cases: one database on real files: a space with 2,000 points sealed
//! into a block (several data pages), then `RECORDS` single puts left in the hot segment (one
//! frame each, the last spanning four sectors), closed. The case then damages one file and
//! verifies.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a failure is a test failure"
)]

mod common;

use std::path::{Path, PathBuf};

use common::{small_options, stamped_frames};
use infinitedb::{Db, Error, FileRole, ProblemKind, VerifyReport};
use infinitedb_format::{BlockReader, MANIFEST_HEADER_BYTES, SECTOR_BYTES, decode_edits};

const RECORDS: u32 = 8;

/// Writes the common database into `dir`.
fn build(dir: &Path) {
    let db = Db::open(dir, small_options()).unwrap();
    let space = db.create_space("grid", 2, 8).unwrap();
    let mut batch = infinitedb::Batch::new(space);
    for x in 0..40_u32 {
        for y in 0..50_u32 {
            batch.put([x, y], &[7_u8; 64]);
        }
    }
    db.write(batch).unwrap();
    db.flush(space).unwrap();
    for i in 0..RECORDS {
        let bytes = if i + 1 == RECORDS { 1500 } else { 16 };
        db.put(space, [i, 255], vec![u8::try_from(i).unwrap(); bytes])
            .unwrap();
    }
    db.close().unwrap();
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    found.sort();
    found
}

/// The one block file.
fn block(dir: &Path) -> PathBuf {
    let blocks = files(&dir.join("blocks"));
    assert_eq!(blocks.len(), 1, "{blocks:?}");
    blocks[0].clone()
}

/// The hot segment holding the puts' frames, and the frames' `(start, end)` offsets.
fn segment_with_frames(dir: &Path) -> (PathBuf, Vec<(usize, usize)>) {
    for path in files(&dir.join("segments")) {
        let frames = stamped_frames(&std::fs::read(&path).unwrap());
        if !frames.is_empty() {
            assert_eq!(frames.len(), RECORDS as usize);
            return (path, frames);
        }
    }
    panic!("no segment holds frames");
}

fn flip(file: &Path, offset: usize) {
    let mut bytes = std::fs::read(file).unwrap();
    bytes[offset] ^= 0x10;
    std::fs::write(file, bytes).unwrap();
}

/// The report's problems as (file name, offset, kind).
fn problems(report: &VerifyReport) -> Vec<(String, Option<u64>, ProblemKind)> {
    report
        .problems
        .iter()
        .map(|problem| {
            let name = problem.file.file_name().unwrap().to_string_lossy();
            (name.into_owned(), problem.offset, problem.kind)
        })
        .collect()
}

fn name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

fn verified(dir: &Path) -> VerifyReport {
    infinitedb::verify(dir).unwrap()
}

#[test]
fn a_clean_database_reports_no_problem() {
    // Goal: a database written and closed normally verifies, and every kind of file is
    // checked. Method: build, verify; also verify beside a read-only open (shared lock).
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let reader = Db::open_read_only(dir.path(), small_options()).unwrap();
    let report = verified(dir.path());
    drop(reader);
    assert!(report.is_clean(), "{report}");
    for role in [
        FileRole::Manifest,
        FileRole::Block,
        FileRole::HotSegment,
        FileRole::StagingLog,
    ] {
        assert!(
            report.files.iter().any(|file| file.role == role),
            "{role:?} not checked: {:?}",
            report.files
        );
    }
    assert!(
        report
            .notes
            .iter()
            .all(|note| !note.detail.contains("torn")),
        "{report}"
    );
    assert!(report.to_string().contains("0 problems"), "{report}");
}

#[test]
fn a_writer_holding_the_directory_is_locked() {
    // Goal: verify takes the shared lock, so it refuses a directory a writer holds. Method:
    // build, reopen for writing, verify.
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let db = Db::open(dir.path(), small_options()).unwrap();
    let result = infinitedb::verify(dir.path());
    assert!(matches!(result, Err(Error::Locked { .. })), "{result:?}");
    db.close().unwrap();
}

#[test]
fn flipped_bits_in_two_data_pages_are_each_reported() {
    // Goal: a damaged page is reported with the block file and an offset inside the page,
    // and verification goes on to the block's other pages. Method: flip a byte inside the
    // first and the last data page run (found through the block's index), verify.
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let path = block(dir.path());
    let bytes = std::fs::read(&path).unwrap();
    let runs: Vec<_> = BlockReader::new(&bytes).unwrap().index().pages().collect();
    assert!(runs.len() >= 2, "{runs:?}");
    let damaged = [runs[0], runs[runs.len() - 1]];
    for run in &damaged {
        flip(&path, usize::try_from(run.offset).unwrap() + 200);
    }
    let report = verified(dir.path());
    let found = problems(&report);
    assert_eq!(found.len(), 2, "{report}");
    for (run, (file, offset, kind)) in damaged.iter().zip(&found) {
        assert_eq!(
            (file, *kind),
            (&name(&path), ProblemKind::Damaged),
            "{report}"
        );
        let offset = offset.unwrap();
        let inside = run.offset..run.offset + u64::from(run.bytes);
        assert!(
            inside.contains(&offset),
            "{offset} not in {inside:?}: {report}"
        );
    }
}

#[test]
fn a_flipped_bit_in_the_footer_or_the_filter_is_reported() {
    // Goal: damage in a block's footer and in its key filter is reported naming the block.
    // Method: flip a byte 64 bytes before the end (footer), verify; then on a fresh copy a
    // byte inside the filter (between the index's end and the footer), verify.
    for case in ["footer", "filter"] {
        let dir = tempfile::tempdir().unwrap();
        build(dir.path());
        let path = block(dir.path());
        let bytes = std::fs::read(&path).unwrap();
        let reader = BlockReader::new(&bytes).unwrap();
        let footer = reader.footer();
        let offset = match case {
            "footer" => bytes.len() - 64,
            _ => usize::try_from(footer.filter_offset()).unwrap() + 40,
        };
        flip(&path, offset);
        let report = verified(dir.path());
        let found = problems(&report);
        assert_eq!(found.len(), 1, "{case}: {report}");
        assert_eq!(found[0].0, name(&path), "{case}: {report}");
        assert_eq!(found[0].2, ProblemKind::Damaged, "{case}: {report}");
        assert!(report.problems[0].detail.contains(case), "{case}: {report}");
    }
}

#[test]
fn a_flipped_bit_in_a_frame_is_damage_and_a_torn_last_frame_a_note() {
    // Goal: recovery's rule: a flip at rest in any frame of a hot segment, the last one
    // included, is a problem at the frame's offset; a torn last frame is only a note. Method:
    // three copies: flip a byte in the middle frame, flip one in the last frame, zero the
    // last frame's third sector (a torn write keeps a subset of the sectors).
    for case in ["middle", "last", "torn"] {
        let dir = tempfile::tempdir().unwrap();
        build(dir.path());
        let (path, frames) = segment_with_frames(dir.path());
        let (start, end) = match case {
            "middle" => frames[frames.len() / 2],
            _ => frames[frames.len() - 1],
        };
        if case == "torn" {
            assert!(end - start >= 3 * SECTOR_BYTES);
            let mut bytes = std::fs::read(&path).unwrap();
            let sector = start + 2 * SECTOR_BYTES;
            bytes[sector..sector + SECTOR_BYTES].fill(0);
            std::fs::write(&path, bytes).unwrap();
        } else {
            flip(&path, start + 100);
        }
        let report = verified(dir.path());
        let at = Some(start as u64);
        if case == "torn" {
            assert!(report.is_clean(), "{report}");
            let note = report.notes.iter().find(|note| note.file == path);
            assert_eq!(note.map(|note| note.offset), Some(at), "{report}");
        } else {
            let expected = vec![(name(&path), at, ProblemKind::Damaged)];
            assert_eq!(problems(&report), expected, "{case}: {report}");
        }
    }
}

#[test]
fn a_flipped_bit_in_a_manifest_batch_is_reported() {
    // Goal: damage in a manifest batch followed by a valid batch is reported naming MANIFEST
    // at the batch's offset. Method: find the first batch, flip a byte inside it, verify.
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let manifest = dir.path().join("MANIFEST");
    let bytes = std::fs::read(&manifest).unwrap();
    let (_, first_bytes) = decode_edits(&bytes[MANIFEST_HEADER_BYTES..]).unwrap();
    assert!(decode_edits(&bytes[MANIFEST_HEADER_BYTES + first_bytes..]).is_ok());
    flip(&manifest, MANIFEST_HEADER_BYTES + 40);
    let report = verified(dir.path());
    let expected = vec![(
        "MANIFEST".to_string(),
        Some(MANIFEST_HEADER_BYTES as u64),
        ProblemKind::Damaged,
    )];
    assert_eq!(problems(&report), expected, "{report}");
}

#[test]
fn a_missing_live_log_or_block_is_reported() {
    // Goal: a file the manifest names that is gone is a Missing problem naming it. Method:
    // remove the hot segment holding frames, verify; on a fresh copy remove the block, verify.
    for case in ["segment", "block"] {
        let dir = tempfile::tempdir().unwrap();
        build(dir.path());
        let path = match case {
            "segment" => segment_with_frames(dir.path()).0,
            _ => block(dir.path()),
        };
        std::fs::remove_file(&path).unwrap();
        let report = verified(dir.path());
        let expected = vec![(name(&path), None::<u64>, ProblemKind::Missing)];
        let found: Vec<_> = problems(&report)
            .into_iter()
            .map(|(file, _, kind)| (file, None, kind))
            .collect();
        assert_eq!(found, expected, "{case}: {report}");
    }
}
