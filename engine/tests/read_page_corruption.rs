//! A damaged block page is `Error::Corruption` naming the block file and the offset, on every
//! read path that touches it (get, query, scan, history), and never a silently shorter
//! answer (docs/design.md §3: page checksums are verified on read).

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failure is a test failure"
)]

mod common;

use infinitedb::Readable;
use infinitedb::keyspace::QueryBox;
use infinitedb::{Db, Error};

#[test]
fn a_flipped_bit_in_a_page_is_reported_with_file_and_offset() {
    // Goal: corruption inside a sealed block surfaces as a typed error. Method: write 2,000
    // points, seal them into one block, close, flip one byte inside the first data page,
    // reopen (open verifies only the footer and index) and read through every path.
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Db::open(dir.path(), common::small_options()).unwrap();
        let space = db.create_space("grid", 2, 8).unwrap();
        let mut batch = infinitedb::Batch::new(space);
        for x in 0..40_u32 {
            for y in 0..50_u32 {
                batch.put([x, y], &[7_u8; 64]);
            }
        }
        db.write(batch).unwrap();
        db.flush(space).unwrap();
        db.close().unwrap();
    }
    let blocks: Vec<_> = std::fs::read_dir(dir.path().join("blocks"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(blocks.len(), 1, "{blocks:?}");
    let mut bytes = std::fs::read(&blocks[0]).unwrap();
    bytes[200] ^= 0x10;
    std::fs::write(&blocks[0], &bytes).unwrap();
    let db = Db::open(dir.path(), common::small_options()).unwrap();
    let space = db.space("grid").unwrap();
    let check = |error: Error| match error {
        Error::Corruption { file, offset, .. } => {
            assert_eq!(file, blocks[0]);
            assert!(
                offset < 4096 * 4,
                "offset {offset} lies in the first page run"
            );
        }
        other => panic!("expected Error::Corruption, got {other:?}"),
    };
    let scanned: Vec<_> = db.scan(space).unwrap().collect();
    assert_eq!(scanned.len(), 1, "the error ends the scan");
    check(scanned.into_iter().next().unwrap().unwrap_err());
    let query_box = QueryBox::new(vec![0, 0], vec![255, 255]).unwrap();
    check(
        db.query(space, &query_box)
            .unwrap()
            .find_map(Result::err)
            .unwrap(),
    );
    let mut first_point_error = None;
    for x in 0..40_u32 {
        if let Err(error) = db.get(space, &[x, 0]) {
            first_point_error = Some(error);
            break;
        }
    }
    check(first_point_error.expect("some point lies in the damaged page"));
}
