//! The read side's defaults and counters: a cold point get of a sealed key reads one page of
//! the one block it consults; a warm one reads none; the page cache's hits, misses,
//! evictions and bytes, and the block page reads, are counted in `Db::stats`; values come
//! back sharing the cached page's memory; both `BlockReads` modes return the same answers.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failure is a test failure"
)]

use infinitedb::Readable;
use infinitedb::{BlockReads, Db, Options, PAGE_CACHE_BYTES_CEILING, PAGE_CACHE_BYTES_FLOOR};

const KEYS: u32 = 20_000;

fn value_of(key: u32) -> Vec<u8> {
    let mut value = key.to_le_bytes().repeat(25);
    value.truncate(100);
    value
}

/// A 1-D space of `KEYS` keys × 100-byte values, sealed into one block.
fn loaded(dir: &std::path::Path, options: Options) -> (Db, infinitedb::SpaceId) {
    let db = Db::open(dir, options.compaction(false)).unwrap();
    let space = db.create_space("keys", 1, 32).unwrap();
    for chunk in (0..KEYS).collect::<Vec<_>>().chunks(1000) {
        let mut batch = infinitedb::Batch::new(space);
        for &key in chunk {
            batch.put([key], value_of(key));
        }
        db.write(batch).unwrap();
    }
    db.flush(space).unwrap();
    assert_eq!(db.space_stats(space).unwrap().blocks(), 1);
    (db, space)
}

fn get_all(db: &Db, space: infinitedb::SpaceId) {
    for key in (0..KEYS).step_by(7) {
        let value = db.get(space, &[key]).unwrap();
        assert_eq!(
            value.as_deref(),
            Some(value_of(key).as_slice()),
            "key {key}"
        );
    }
}

#[test]
fn a_cold_get_reads_one_page_and_a_warm_get_none() {
    // Goal: with no page cache every get reads exactly one page run of its one block (the
    // index and filter are not re-read); with the default cache a second pass reads nothing
    // and is all hits. Method: one sealed block; gets of every 7th key, counted by Stats.
    let gets = u64::from(KEYS.div_ceil(7));
    let dir = tempfile::tempdir().unwrap();
    let (db, space) = loaded(dir.path(), Options::default().page_cache_bytes(0));
    let before = db.stats();
    get_all(&db, space);
    let after = db.stats();
    assert_eq!(after.block_page_reads - before.block_page_reads, gets);
    assert_eq!(after.page_cache_misses - before.page_cache_misses, gets);
    assert_eq!(after.page_cache_bytes, 0);
    assert_eq!(
        after.point_read_blocks[1] - before.point_read_blocks[1],
        gets
    );
    db.close().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let (db, space) = loaded(dir.path(), Options::default());
    let capacity = db.stats().page_cache_capacity_bytes;
    let floor = PAGE_CACHE_BYTES_FLOOR as u64;
    assert!((floor..=PAGE_CACHE_BYTES_CEILING as u64).contains(&capacity));
    get_all(&db, space);
    let warm = db.stats();
    assert!(warm.block_page_reads > 0 && warm.block_page_reads <= gets);
    assert_eq!(warm.block_page_reads, warm.page_cache_misses);
    assert!(warm.block_read_bytes >= warm.block_page_reads * 4096);
    assert!(warm.page_cache_bytes > 0);
    get_all(&db, space);
    let again = db.stats();
    assert_eq!(
        again.block_page_reads, warm.block_page_reads,
        "a warm pass reads nothing"
    );
    assert_eq!(again.page_cache_hits - warm.page_cache_hits, gets);
    assert_eq!(again.page_cache_evictions, 0);
    db.close().unwrap();
}

#[test]
fn a_small_cache_evicts_and_still_answers() {
    // Goal: a cache smaller than the data evicts (counted) and stays within its budget,
    // and every answer is still right, in both read modes. Method: a 256 KiB cache over
    // about 2.5 MB of values, two passes, Buffered then Direct.
    for reads in [BlockReads::Buffered, BlockReads::Direct] {
        let dir = tempfile::tempdir().unwrap();
        let options = Options::default()
            .page_cache_bytes(256 << 10)
            .block_reads(reads);
        let (db, space) = loaded(dir.path(), options);
        get_all(&db, space);
        get_all(&db, space);
        let stats = db.stats();
        assert!(stats.page_cache_evictions > 0, "{reads:?}");
        assert!(stats.page_cache_bytes <= 256 << 10, "{reads:?}");
        db.close().unwrap();
        // Reopened (blocks opened again in the same mode), the answers are the same.
        let db = Db::open(dir.path(), Options::default().block_reads(reads)).unwrap();
        get_all(&db, space);
        db.close().unwrap();
    }
}

#[test]
fn values_share_the_cached_page_and_the_memtable_entry() {
    // Goal: a get returns the cached page's (or memtable's) bytes, not a copy. Method: two
    // gets of one sealed key and two of one live key point at the same memory.
    let dir = tempfile::tempdir().unwrap();
    let (db, space) = loaded(dir.path(), Options::default());
    let first = db.get(space, &[42]).unwrap().unwrap();
    let second = db.get(space, &[42]).unwrap().unwrap();
    assert_eq!(first.as_ptr(), second.as_ptr(), "one cached page, shared");
    db.put(space, [KEYS + 1], b"live").unwrap();
    let live = db.get(space, &[KEYS + 1]).unwrap().unwrap();
    let again = db.get(space, &[KEYS + 1]).unwrap().unwrap();
    assert_eq!((live.as_ptr(), &live[..]), (again.as_ptr(), &b"live"[..]));
    let scanned = db.scan(space).unwrap().next().unwrap().unwrap();
    let got = db.get(space, &scanned.point).unwrap().unwrap();
    assert_eq!(
        scanned.value.as_ptr(),
        got.as_ptr(),
        "a scan's entry shares it too"
    );
    db.close().unwrap();
}
