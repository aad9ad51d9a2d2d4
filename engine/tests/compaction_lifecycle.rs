//! Compaction and retention scenarios on the real OS backend: blocks stay bounded under
//! overwrites and reopens, each policy keeps what it promises, a query and a snapshot held
//! across a compaction read the blocks they started with, and an input's file is deleted
//! only once no reader holds it.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failure is a test failure"
)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use infinitedb::Readable;
use infinitedb::{Batch, Db, Options, Retention, SpaceId};

/// Options with a seal every `records` records and a small level 1.
fn options(records: u64) -> Options {
    common::small_options()
        .seal_threshold_records(records)
        .level_base_bytes(1024 * 1024)
        .block_target_bytes(64 * 1024)
}

/// Writes `rounds` overwrites of every point of a `side × side` grid, 50-byte values, in
/// batches of 100; returns the model of the latest values.
fn overwrite(
    db: &Db,
    space: SpaceId,
    side: u32,
    rounds: u32,
    model: &mut BTreeMap<[u32; 2], Vec<u8>>,
) {
    for round in 0..rounds {
        let mut batch = Batch::new(space);
        for x in 0..side {
            for y in 0..side {
                let value = format!("{round:08}-{x:05}-{y:05}-{}", "v".repeat(30)).into_bytes();
                batch.put([x, y], &value);
                model.insert([x, y], value);
                if batch.len() == 100 {
                    db.write(std::mem::replace(&mut batch, Batch::new(space)))
                        .unwrap();
                }
            }
        }
        if !batch.is_empty() {
            db.write(batch).unwrap();
        }
    }
}

fn block_files(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("blocks")).unwrap().count()
}

fn assert_latest(db: &Db, space: SpaceId, model: &BTreeMap<[u32; 2], Vec<u8>>) {
    for (point, value) in model {
        assert_eq!(
            db.get(space, point).unwrap().as_deref(),
            Some(value.as_slice()),
            "{point:?}"
        );
    }
    let scanned = db.scan(space).unwrap().count();
    assert_eq!(scanned, model.len());
}

#[test]
fn overwrites_and_reopens_keep_blocks_bounded() {
    // Goal: background compaction bounds the block count and the bytes on disk under
    // overwrites with frequent seals and reopens, with nothing lost. Method: a 40×40 grid
    // overwritten 30 times under `Latest`, a seal every 200 records, a reopen every 5
    // rounds; after each reopen every point reads its newest value, and at the end level 0
    // is under the stop bound and the blocks hold at most a few copies of the live data.
    let dir = tempfile::tempdir().unwrap();
    let mut model = BTreeMap::new();
    let mut space = SpaceId(0);
    let mut compactions = 0;
    for reopen in 0..6 {
        let db = Db::open(dir.path(), options(200)).unwrap();
        if reopen == 0 {
            space = db
                .create_space_with("grid", 2, 8, Retention::Latest)
                .unwrap();
        }
        assert_eq!(db.retention(space).unwrap(), Retention::Latest);
        overwrite(&db, space, 40, 5, &mut model);
        assert_latest(&db, space, &model);
        compactions += db.stats().compactions;
        db.close().unwrap();
    }
    assert!(compactions > 0, "background compactions ran");
    let db = Db::open(dir.path(), options(200)).unwrap();
    assert_latest(&db, space, &model);
    let stats = db.space_stats(space).unwrap();
    let level_zero = stats.levels[0].blocks;
    assert!(
        level_zero < 20,
        "level 0 holds {level_zero} blocks: {stats:?}"
    );
    // 30 rounds × 1,600 versions were written; the blocks keep far fewer.
    let records = stats.block_records();
    assert!(
        records <= 1600 * 8,
        "{records} versions in blocks for 1,600 live points: {stats:?}"
    );
    db.compact(space).unwrap();
    let stats = db.space_stats(space).unwrap();
    assert_eq!(
        stats.block_records(),
        1600,
        "one version per point after compact"
    );
    assert_eq!(stats.levels[0].blocks, 0);
    let before = db.stats().point_read_blocks;
    assert_latest(&db, space, &model);
    let after = db.stats().point_read_blocks;
    assert_eq!(
        after[1] - before[1],
        1600,
        "after compact every get of a present point reads exactly one block"
    );
    db.close().unwrap();
    // Only the compacted blocks are left on disk.
    let db = Db::open(dir.path(), options(200)).unwrap();
    let stats = db.space_stats(space).unwrap();
    db.close().unwrap();
    assert_eq!(block_files(dir.path()), stats.blocks());
}

#[test]
fn each_policy_keeps_what_it_promises() {
    // Goal: after `Db::compact`, history holds exactly what each policy keeps, deletes
    // included or dropped at the bottom. Method: 6 versions of one point (the 4th a
    // delete), then compact under each policy in turn, narrowing.
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options(1000)).unwrap();
    let space = db.create_space("s", 2, 4).unwrap();
    let mut revisions = Vec::new();
    for step in 0..6_u8 {
        let revision = if step == 3 {
            db.delete(space, [1, 1]).unwrap()
        } else {
            db.put(space, [1, 1], &[step]).unwrap()
        };
        revisions.push(revision);
    }
    db.put(space, [2, 2], b"gone").unwrap();
    db.delete(space, [2, 2]).unwrap();
    let history = |db: &Db| -> Vec<u64> {
        db.history(space, &[1, 1])
            .unwrap()
            .iter()
            .map(|(revision, _)| revision.0)
            .collect()
    };
    let newest_first: Vec<u64> = revisions.iter().rev().map(|revision| revision.0).collect();
    db.compact(space).unwrap();
    assert_eq!(history(&db), newest_first, "All keeps every version");
    assert_eq!(db.history(space, &[2, 2]).unwrap().len(), 2);

    db.set_retention(space, Retention::Versions(3)).unwrap();
    db.compact(space).unwrap();
    // The newest 3 are 5, 4 and the delete 3; at the bottom the trailing delete goes.
    assert_eq!(history(&db), newest_first[..2]);
    assert_eq!(
        db.history(space, &[2, 2]).unwrap().len(),
        2,
        "a delete that hides a kept put stays"
    );

    db.set_retention(space, Retention::Latest).unwrap();
    db.compact(space).unwrap();
    assert_eq!(history(&db), newest_first[..1]);
    assert_eq!(
        db.get(space, &[1, 1]).unwrap().map(|v| v.to_vec()),
        Some(vec![5])
    );
    assert!(
        db.history(space, &[2, 2])
            .unwrap()
            .into_iter()
            .map(|(r, v)| (r, v.map(|v| v.to_vec())))
            .collect::<Vec<_>>()
            .is_empty(),
        "a point whose newest version is a delete vanishes at the bottom"
    );
    db.close().unwrap();
    let db = Db::open(dir.path(), options(1000)).unwrap();
    assert_eq!(db.retention(space).unwrap(), Retention::Latest);
    assert_eq!(history(&db), newest_first[..1]);
    assert!(matches!(
        db.set_retention(space, Retention::Versions(0)),
        Err(infinitedb::Error::InvalidOption { .. })
    ));
    db.close().unwrap();
}

#[test]
fn window_keeps_reads_from_the_horizon_on_exact() {
    // Goal: under `Window(n)`, every read at a revision from `latest − n` on returns what it
    // returned before the compaction. Method: 40 overwrites of 4 points, record get_at at
    // every revision, compact under Window(10), compare at the last 11 revisions.
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options(1000)).unwrap();
    let space = db
        .create_space_with("w", 1, 8, Retention::Window(10))
        .unwrap();
    for step in 0..40_u8 {
        db.put(space, [u32::from(step % 4)], &[step]).unwrap();
    }
    let last = db.last_revision().0;
    let read_all = |db: &Db| -> Vec<Vec<Option<Vec<u8>>>> {
        (last - 10..=last)
            .map(|at| {
                (0..4)
                    .map(|x| {
                        db.get_at(space, &[x], infinitedb::Revision(at))
                            .unwrap()
                            .map(|v| v.to_vec())
                    })
                    .collect()
            })
            .collect()
    };
    let before = read_all(&db);
    db.compact(space).unwrap();
    assert_eq!(read_all(&db), before);
    let kept: usize = (0..4).map(|x| db.history(space, &[x]).unwrap().len()).sum();
    assert!(kept < 40, "older versions were dropped: {kept} kept");
    db.close().unwrap();
}

#[test]
fn readers_hold_their_blocks_across_a_compaction() {
    // Goal: a query and a snapshot taken before a compaction that retires their blocks read
    // to the end exactly as before, and the retired files are deleted only once both are
    // dropped. Method: 4 sealed blocks of overwrites under `Latest`; open a query (read one
    // entry) and a snapshot; compact; finish the query and read the snapshot's history; the
    // old files stay on disk until the readers drop.
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options(1_000_000).compaction(false)).unwrap();
    let space = db.create_space_with("r", 2, 8, Retention::Latest).unwrap();
    let mut model = BTreeMap::new();
    for _ in 0..4 {
        overwrite(&db, space, 20, 1, &mut model);
        db.flush(space).unwrap();
    }
    assert_eq!(db.space_stats(space).unwrap().levels[0].blocks, 4);
    let snapshot = db.snapshot();
    let mut query = db.scan(space).unwrap();
    let first = query.next().unwrap().unwrap();
    db.compact(space).unwrap();
    assert_eq!(db.space_stats(space).unwrap().blocks(), 1);
    assert_eq!(
        snapshot.history(space, &first.point).unwrap().len(),
        4,
        "the snapshot still reads every version"
    );
    let rest: Vec<_> = query.map(|entry| entry.unwrap()).collect();
    assert_eq!(rest.len() + 1, model.len());
    for entry in &rest {
        let point = [entry.point[0], entry.point[1]];
        assert_eq!(
            Some(entry.value.as_ref()),
            model.get(&point).map(Vec::as_slice)
        );
    }
    // The compactor deletes the inputs on its next pass once no reader holds them.
    assert!(
        block_files(dir.path()) >= 5,
        "inputs stay while readers hold them"
    );
    drop(snapshot);
    db.compact(space).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while block_files(dir.path()) > 1 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(block_files(dir.path()), 1);
    assert_latest(&db, space, &model);
    db.close().unwrap();
}
