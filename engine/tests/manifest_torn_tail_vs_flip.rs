//! The manifest's last edit batch: a torn write is ignored, a bit flip fails the open (the
//! rule is in `engine/src/manifest.rs`'s module doc).
//!
//! Method common to the cases: build a database on real files, close it, find the last batch
//! of `MANIFEST` with the format crate's decoder, damage it the way a torn append or a bit
//! flip would, and reopen. A torn append (the file cut inside the batch, or one of its 512-byte
//! sectors left as zeros) opens without error and without that batch's edit; a flipped bit
//! anywhere in the batch fails with `Error::Corruption` naming `MANIFEST`, and no block file
//! is deleted.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a failure is a test failure"
)]

mod support;

use std::ops::Range;
use std::path::{Path, PathBuf};

use infinitedb::Readable;
use infinitedb::{BackendRequest, Db, Error, Options, SpaceId};
use infinitedb_format::{MANIFEST_HEADER_BYTES, ManifestEdit, decode_edits};
use support::{REAL_BACKENDS, copy_tree, suite_options};

const RECORDS: u32 = 60;
/// The torn-write unit (docs/format.md "Media assumptions").
const SECTOR_BYTES: usize = 512;

/// Names of the two padding spaces that put the seal batch's last bytes alone in a sector
/// (`a_flip_anywhere_in_the_last_batch_fails_the_open` checks the layout).
const FLIP_LAYOUT_PADDING: [usize; 2] = [1, 5];

/// Damage done to a manifest image.
type Tear<'a> = Box<dyn Fn(&mut Vec<u8>) + 'a>;

fn options(backend: BackendRequest) -> Options {
    suite_options().backend(backend)
}

fn value_of(index: u32) -> Vec<u8> {
    format!("manifest-{index}").into_bytes()
}

fn manifest(dir: &Path) -> PathBuf {
    dir.join("MANIFEST")
}

/// The extent of the first edit batch in the manifest at `path` that holds an edit matching
/// `wanted`.
fn batch_with(path: &Path, wanted: impl Fn(&ManifestEdit) -> bool) -> Range<usize> {
    let bytes = std::fs::read(path).unwrap();
    let mut offset = MANIFEST_HEADER_BYTES;
    while let Ok((edits, consumed)) = decode_edits(&bytes[offset..]) {
        if edits.iter().any(&wanted) {
            return offset..offset + consumed;
        }
        offset += consumed;
    }
    panic!("no batch holds the edit looked for")
}

/// Makes the batch holding an edit matching `wanted` the manifest's last: every byte after
/// it is zeroed, as if the appends after it (the seal's `AddLog` of the recycled segment,
/// which the sealer appends on its own after the seal) had never happened, a state a crash
/// leaves. Returns the batch's extent.
fn make_last(dir: &Path, wanted: impl Fn(&ManifestEdit) -> bool) -> Range<usize> {
    let batch = batch_with(&manifest(dir), wanted);
    let mut bytes = std::fs::read(manifest(dir)).unwrap();
    bytes[batch.end..].fill(0);
    std::fs::write(manifest(dir), bytes).unwrap();
    batch
}

/// The seal's batch (`AddBlock + RetireSegment`).
fn is_seal(edit: &ManifestEdit) -> bool {
    matches!(edit, ManifestEdit::AddBlock(_))
}

/// The batch creating the space named `name`.
fn creates(name: &str) -> impl Fn(&ManifestEdit) -> bool + '_ {
    move |edit| matches!(edit, ManifestEdit::CreateSpace { name: created, .. } if created == name)
}

fn block_files(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir.join("blocks"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    found.sort();
    found
}

/// Space `sealed` with `RECORDS` puts sealed into a block, then (if given) one more space
/// created with `late_name`; closed. Spaces `pad_a`/`pad_b` with names of `pad_bytes` bytes
/// shift the later batches against the sector grid.
fn build(dir: &Path, backend: BackendRequest, pad_bytes: [usize; 2], late: Option<&str>) {
    let db = Db::open(dir, options(backend)).unwrap();
    db.create_space(&"a".repeat(pad_bytes[0]), 1, 8).unwrap();
    db.create_space(&"b".repeat(pad_bytes[1]), 1, 8).unwrap();
    let space = db.create_space("sealed", 2, 16).unwrap();
    for index in 0..RECORDS {
        db.put(space, [index, 7], value_of(index)).unwrap();
    }
    db.flush(space).unwrap();
    if let Some(name) = late {
        db.create_space(name, 2, 16).unwrap();
    }
    db.close().unwrap();
}

fn assert_records(db: &Db, space: SpaceId, context: &str) {
    for index in 0..RECORDS {
        assert_eq!(
            db.get(space, &[index, 7]).unwrap(),
            Some(value_of(index).into()),
            "{context}: point {index}"
        );
    }
}

/// Reopens expecting `Corruption` naming `MANIFEST` at `offset`: the damaged batch's start
/// when the manifest's rule catches it, 0 when recovery refuses to delete an unnamed block.
fn assert_corruption_naming_manifest(
    dir: &Path,
    backend: BackendRequest,
    offset: usize,
    context: &str,
) {
    match Db::open(dir, options(backend)) {
        Err(Error::Corruption {
            file,
            offset: found,
            detail,
        }) => {
            assert_eq!(
                file.file_name(),
                manifest(dir).file_name(),
                "{context}: Corruption names {file:?}"
            );
            assert_eq!(found, offset as u64, "{context}: {detail}");
        }
        Err(other) => panic!("{context}: open failed with {other:?}, not Corruption"),
        Ok(db) => {
            db.close().unwrap();
            panic!("{context}: a damaged last batch was taken for a torn tail");
        }
    }
}

#[test]
fn a_torn_last_batch_opens_without_its_edit() {
    // Goal: a genuinely torn append is a torn tail: no error, the batch's edit is absent,
    // everything before it is intact. Method: the last batch creates space "late" (a 255-byte
    // name, so it spans two sectors); tear it four ways: cut the file in its header, cut it
    // in its payload, zero its first sector part, zero its last sector part; reopen each.
    let late = "l".repeat(255);
    for backend in REAL_BACKENDS {
        let template = tempfile::tempdir_in("/tmp").unwrap();
        build(template.path(), backend, [1, 200], Some(&late));
        let batch = make_last(template.path(), creates(&late));
        let first_part_end = (batch.start / SECTOR_BYTES + 1) * SECTOR_BYTES;
        assert!(
            first_part_end < batch.end,
            "the batch {batch:?} should span two sectors"
        );
        let tears: [(&str, Tear<'_>); 4] = [
            ("cut in header", Box::new(|b| b.truncate(batch.start + 10))),
            (
                "cut in payload",
                Box::new(|b| b.truncate(batch.start + 100)),
            ),
            (
                "first sector lost",
                Box::new(|b| b[batch.start..first_part_end].fill(0)),
            ),
            (
                "last sector lost",
                Box::new(|b| b[first_part_end..batch.end].fill(0)),
            ),
        ];
        for (name, tear) in &tears {
            let dir = tempfile::tempdir_in("/tmp").unwrap();
            copy_tree(template.path(), dir.path());
            let mut bytes = std::fs::read(manifest(dir.path())).unwrap();
            tear(&mut bytes);
            std::fs::write(manifest(dir.path()), bytes).unwrap();
            let context = format!("{backend:?} {name}");
            let db = Db::open(dir.path(), options(backend))
                .unwrap_or_else(|error| panic!("{context}: torn tail refused: {error}"));
            assert!(
                matches!(db.space(&late), Err(Error::UnknownSpace { .. })),
                "{context}: the torn CreateSpace was applied"
            );
            assert_records(&db, db.space("sealed").unwrap(), &context);
            db.close().unwrap();
        }
    }
}

#[test]
fn a_flip_anywhere_in_the_last_batch_fails_the_open() {
    // Goal: a bit flip in the last batch (a seal's AddBlock + RetireSegment, whose segment
    // was recycled, so the block holds the only copy) is Corruption naming MANIFEST, never a
    // torn tail, and the block file survives the failed open. The layout puts the batch's
    // last bytes (zero high bytes of the segment id) alone in a sector, where a zero sector
    // part alone cannot tell a flip from a tear. Method: for each byte of the batch, flip one
    // bit (bit index = byte index mod 8) in a fresh copy and reopen; then undo the damage
    // and reopen: every record is back.
    let backend = BackendRequest::Auto;
    let template = tempfile::tempdir_in("/tmp").unwrap();
    build(template.path(), backend, FLIP_LAYOUT_PADDING, None);
    let batch = make_last(template.path(), is_seal);
    let bytes = std::fs::read(manifest(template.path())).unwrap();
    let last_part = batch.end / SECTOR_BYTES * SECTOR_BYTES..batch.end;
    assert!(
        !last_part.is_empty() && bytes[last_part.clone()].iter().all(|&byte| byte == 0),
        "layout: the batch {batch:?} should end with a zero part alone in its sector"
    );
    let blocks = block_files(template.path());
    assert_eq!(blocks.len(), 1);
    for offset in batch.clone() {
        let dir = tempfile::tempdir_in("/tmp").unwrap();
        copy_tree(template.path(), dir.path());
        let mut damaged = bytes.clone();
        damaged[offset] ^= 1 << (offset % 8);
        std::fs::write(manifest(dir.path()), &damaged).unwrap();
        let context = format!("flip at {offset} in batch {batch:?}");
        assert_corruption_naming_manifest(dir.path(), backend, batch.start, &context);
        assert_eq!(block_files(dir.path()).len(), 1, "{context}: block deleted");
        if offset == batch.start + 40 {
            std::fs::write(manifest(dir.path()), &bytes).unwrap();
            let db = Db::open(dir.path(), options(backend)).unwrap();
            assert_records(&db, db.space("sealed").unwrap(), "repaired");
            db.close().unwrap();
        }
    }
}

#[test]
fn a_flip_in_the_padding_after_the_last_batch_is_ignored() {
    // Goal: zero padding after the last batch belongs to no batch: a flip there does not
    // fail the open and loses nothing. Method: flip one bit right after the last batch, and
    // one 100 bytes further on; reopen each: every record is there.
    for backend in REAL_BACKENDS {
        let template = tempfile::tempdir_in("/tmp").unwrap();
        build(template.path(), backend, [1, 1], None);
        let batch = make_last(template.path(), is_seal);
        for offset in [batch.end, batch.end + 3, batch.end + 100] {
            let dir = tempfile::tempdir_in("/tmp").unwrap();
            copy_tree(template.path(), dir.path());
            let mut bytes = std::fs::read(manifest(dir.path())).unwrap();
            assert_eq!(bytes[offset], 0, "padding is zero");
            bytes[offset] ^= 0x08;
            std::fs::write(manifest(dir.path()), bytes).unwrap();
            let context = format!("{backend:?} padding flip at {offset}");
            let db = Db::open(dir.path(), options(backend))
                .unwrap_or_else(|error| panic!("{context}: open failed: {error}"));
            assert_records(&db, db.space("sealed").unwrap(), &context);
            db.close().unwrap();
        }
    }
}

#[test]
fn a_lost_seal_edit_whose_segment_is_gone_keeps_the_block_and_fails_the_open() {
    // Goal: recovery never deletes a block holding the only copy of its records: if the
    // seal's batch is gone (here cut off, as damage beyond the single-flip model would) after
    // its segment was recycled, the unnamed block is kept and the open fails with Corruption
    // naming the segment the manifest still names as live (recovery.rs checks live logs
    // before it looks at unnamed blocks). Method: seal, close, cut the manifest inside the seal batch; reopen
    // twice (the refusal repeats); restore the manifest: every record is back.
    for backend in REAL_BACKENDS {
        let dir = tempfile::tempdir_in("/tmp").unwrap();
        build(dir.path(), backend, [1, 1], None);
        let batch = make_last(dir.path(), is_seal);
        let original = std::fs::read(manifest(dir.path())).unwrap();
        let mut cut = original.clone();
        cut.truncate(batch.start + 50);
        std::fs::write(manifest(dir.path()), cut).unwrap();
        for attempt in 0..2 {
            let context = format!("{backend:?} attempt {attempt}");
            // The manifest still names the sealed segment as live, and it was recycled.
            match Db::open(dir.path(), options(backend)) {
                Err(Error::Corruption { file, .. }) => {
                    assert_eq!(
                        file.parent().and_then(Path::file_name),
                        Some("segments".as_ref()),
                        "{context}: Corruption names {file:?}"
                    );
                }
                other => panic!("{context}: expected Corruption, got {other:?}"),
            }
            assert_eq!(block_files(dir.path()).len(), 1, "{context}: block deleted");
        }
        std::fs::write(manifest(dir.path()), original).unwrap();
        let db = Db::open(dir.path(), options(backend)).unwrap();
        assert_records(&db, db.space("sealed").unwrap(), "restored");
        db.close().unwrap();
    }
}
