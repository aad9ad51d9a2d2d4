//! The read API beyond single gets, on a `Db` and on a `Snapshot` through one trait:
//! `multi_get` agrees with one `get` per point across memtables and several sealed blocks
//! (and reads each block's pages in one batch), `contains` follows deletes,
//! `estimate_live_points` is exact where its docs say it is and an upper bound elsewhere, and
//! `Db::spaces` lists every space.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failure is a test failure"
)]

use infinitedb::{Db, Options, Readable, Retention, SpaceId};

fn value_of(x: u32, round: u32) -> Vec<u8> {
    format!("{x}@{round}").into_bytes()
}

/// 3,000 points written over three sealed rounds (each overwriting a third) plus a live tail,
/// with every 10th point deleted in the tail.
fn layered(db: &Db, space: SpaceId) {
    for round in 0..3_u32 {
        for x in (round * 1000)..3000 {
            db.put(space, [x], value_of(x, round)).unwrap();
        }
        db.flush(space).unwrap();
    }
    for x in (0..3000).step_by(10) {
        db.delete(space, [x]).unwrap();
    }
    db.put(space, [5000], b"tail").unwrap();
}

fn check_against_gets(reader: &impl Readable, space: SpaceId) {
    let points: Vec<[u32; 1]> = (0..3100).step_by(3).map(|x| [x]).chain([[5000]]).collect();
    let many = reader.multi_get(space, &points).unwrap();
    assert_eq!(many.len(), points.len());
    for (point, value) in points.iter().zip(&many) {
        assert_eq!(value, &reader.get(space, point).unwrap(), "{point:?}");
        assert_eq!(
            reader.contains(space, point).unwrap(),
            value.is_some(),
            "{point:?}"
        );
    }
    assert_eq!(many[1].as_deref(), Some(value_of(3, 0).as_slice()));
    assert_eq!(many[0], None, "deleted in the tail");
    assert_eq!(many.last().unwrap().as_deref(), Some(&b"tail"[..]));
}

#[test]
fn multi_get_agrees_with_gets_on_a_db_and_a_snapshot() {
    // Goal: the batched path gives each point the answer a single get gives, at one
    // revision, through sealed runs, the live tail and deletes; the snapshot keeps its own.
    // Method: three seals of overlapping rounds and a tail; compare multi_get and contains
    // with get on the Db, then on a snapshot after more writes.
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default().compaction(false)).unwrap();
    let space = db.create_space("line", 1, 16).unwrap();
    layered(&db, space);
    assert_eq!(db.space_stats(space).unwrap().blocks(), 3);
    check_against_gets(&db, space);
    let snapshot = db.snapshot();
    db.put(space, [3], b"after the snapshot").unwrap();
    check_against_gets(&snapshot, space);
    let newer = db.multi_get(space, &[[3]]).unwrap();
    assert_eq!(newer[0].as_deref(), Some(&b"after the snapshot"[..]));
    // A bad point fails the whole call; an unknown space is an error.
    assert!(db.multi_get(space, &[[1], [1 << 16]]).is_err());
    assert!(db.multi_get(SpaceId(999), &[[1]]).is_err());
    db.close().unwrap();
}

#[test]
fn multi_get_reads_a_blocks_pages_in_one_batch() {
    // Goal: many keys of one cold block cost one read per distinct page, not one per key.
    // Method: no page cache; 300 keys that share pages, counted by Stats::block_page_reads
    // against the same keys read one get at a time.
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default().page_cache_bytes(0)).unwrap();
    let space = db.create_space("line", 1, 16).unwrap();
    for x in 0..3000 {
        db.put(space, [x], value_of(x, 0)).unwrap();
    }
    db.flush(space).unwrap();
    let points: Vec<[u32; 1]> = (0..300).map(|x| [x]).collect();
    let before = db.stats().block_page_reads;
    let many = db.multi_get(space, &points).unwrap();
    let batched = db.stats().block_page_reads - before;
    assert!(many.iter().all(Option::is_some));
    for point in &points {
        db.get(space, point).unwrap();
    }
    let single = db.stats().block_page_reads - before - batched;
    assert_eq!(single, 300);
    assert!(
        batched * 10 <= single,
        "batched {batched} pages for 300 keys"
    );
    db.close().unwrap();
}

#[test]
fn live_point_estimates_and_the_space_list() {
    // Goal: the estimate is exact after a compaction under Latest and an upper bound over
    // layered versions; `spaces` lists names, shapes and retention by id. Method: a
    // layered space (3,100 live points) before and after compact, and two spaces listed.
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default().compaction(false)).unwrap();
    let space = db
        .create_space_with("line", 1, 16, Retention::Latest)
        .unwrap();
    let grid = db.create_space("grid", 2, 8).unwrap();
    layered(&db, space);
    let live = db.scan(space).unwrap().count() as u64;
    assert_eq!(live, 3000 - 300 + 1);
    assert!(db.estimate_live_points(space).unwrap() >= live);
    db.compact(space).unwrap();
    // The deletes' tombstones go at the bottom level under Latest.
    assert_eq!(db.estimate_live_points(space).unwrap(), live);
    assert_eq!(db.snapshot().estimate_live_points(space).unwrap(), live);
    assert_eq!(db.estimate_live_points(grid).unwrap(), 0);
    let spaces = db.spaces();
    let listed: Vec<(SpaceId, &str, u32, u32, Retention)> = spaces
        .iter()
        .map(|info| {
            (
                info.id,
                info.name.as_str(),
                info.dims,
                info.bits_per_dim,
                info.retention,
            )
        })
        .collect();
    assert_eq!(
        listed,
        vec![
            (space, "line", 1, 16, Retention::Latest),
            (grid, "grid", 2, 8, Retention::All)
        ]
    );
    db.close().unwrap();
}
