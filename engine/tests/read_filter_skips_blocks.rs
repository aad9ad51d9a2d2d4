//! A point read of a key no sealed block holds skips those blocks by their key filters, and
//! `Db::stats().filter_skips` counts it (`docs/format.md`, "Block filter"), before and after a
//! reopen (the filters are read back and verified when the blocks are opened).

mod common;

use common::small_options;
use infinitedb::Db;
use infinitedb::Readable;

#[test]
fn gets_of_absent_points_are_answered_by_the_filters() {
    // Goal: over several blocks whose key ranges all cover the grid, gets of absent points
    // are skipped by the filters (a false positive rate near 1% lets a few through) and read
    // almost no page, and every present point still reads back. The bottom run's block is
    // asked its cached page before its filter, so the three blocks above it are the ones
    // the filters must skip. Method: 4 seals of 256 points each, spread over a 256 × 256
    // grid; 1,000 gets of points with odd coordinates (never written).
    // Compaction off: it would merge the four blocks into one.
    let options = || small_options().compaction(false);
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    let space = db.create_space("filtered", 2, 8).unwrap();
    let written = |seal: u32| (0..256_u32).map(move |i| [(i % 16) * 16 + 2 * seal, (i / 16) * 16]);
    for seal in 0..4 {
        for point in written(seal) {
            db.put(space, point, format!("{point:?}").as_bytes())
                .unwrap();
        }
        db.flush(space).unwrap();
    }
    assert_eq!(db.stats().seals, 4);
    let absent: Vec<[u32; 2]> = (0..1000_u32)
        .map(|i| [2 * (i % 128) + 1, 2 * (i / 8) + 1])
        .collect();
    let check = |db: &Db| {
        let before = db.stats();
        for point in &absent {
            assert_eq!(db.get(space, point).unwrap(), None, "{point:?}");
        }
        let after = db.stats();
        let skips = after.filter_skips - before.filter_skips;
        assert!(
            skips > 2600,
            "{skips} of the 3,000 block reads above the bottom run skipped by the filters"
        );
        let reads = after.page_cache_misses - before.page_cache_misses;
        assert!(reads < 100, "{reads} page reads for 1,000 absent points");
        for point in (0..4).flat_map(written) {
            let value = db.get(space, &point).unwrap();
            assert_eq!(
                value,
                Some(format!("{point:?}").into_bytes().into()),
                "{point:?}"
            );
        }
    };
    check(&db);
    db.close().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    check(&db);
    db.close().unwrap();
}
