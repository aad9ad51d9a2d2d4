//! Snapshots (repeatable reads at one revision), a point's history, reads as of an earlier
//! revision, and a retention that keeps only the latest version.
//!
//! Every write gets a revision, global to the database and strictly increasing. A space keeps
//! every version of every point until its retention drops it (the default,
//! `Retention::All`, drops none), so any earlier state can be read back.
//!
//! Run with `cargo run --release -p infinitedb --example snapshots_and_history`.

use std::path::Path;

use infinitedb::{Db, Options, Readable, Retention};

/// A value as text, for printing (`-` for none).
fn text(value: Option<&[u8]>) -> String {
    value.map_or_else(
        || "-".to_string(),
        |bytes| String::from_utf8_lossy(bytes).into_owned(),
    )
}

fn run(dir: &Path) -> infinitedb::Result<()> {
    let db = Db::open(dir, Options::default())?;
    // Account balances keyed by account number: a 1-D space, the key is the number.
    let accounts = db.create_space("accounts", 1, 32)?;
    let opened = db.put(accounts, [1], b"100")?;
    db.put(accounts, [2], b"40")?;

    // A snapshot pins the revision it is taken at: its reads never see later writes.
    let before = db.snapshot();
    let deposit = db.put(accounts, [1], b"250")?;
    db.delete(accounts, [2])?;

    assert_eq!(before.get(accounts, &[1])?.as_deref(), Some(&b"100"[..]));
    assert_eq!(db.get(accounts, &[1])?.as_deref(), Some(&b"250"[..]));
    assert!(before.contains(accounts, &[2])? && !db.contains(accounts, &[2])?);
    println!(
        "snapshot at {:?}: account 1 = {}, now: {}",
        before.revision(),
        text(before.get(accounts, &[1])?.as_deref()),
        text(db.get(accounts, &[1])?.as_deref()),
    );
    // Repeatable: the same read on the same snapshot gives the same answer, however many
    // writes happen in between.
    db.put(accounts, [1], b"0")?;
    assert_eq!(before.get(accounts, &[1])?.as_deref(), Some(&b"100"[..]));

    // History: every version of a point, newest first; `None` is a delete.
    let versions = db.history(accounts, &[1])?;
    for (revision, value) in &versions {
        println!("account 1 at {revision:?}: {}", text(value.as_deref()));
    }
    assert_eq!(versions.len(), 3);
    assert_eq!(versions[2].0, opened);
    let deleted = db.history(accounts, &[2])?;
    assert_eq!(
        deleted[0].1, None,
        "the newest version of account 2 is its delete"
    );

    // get_at: the value as of a revision (the newest version at or below it).
    assert_eq!(
        db.get_at(accounts, &[1], opened)?.as_deref(),
        Some(&b"100"[..])
    );
    assert_eq!(
        db.get_at(accounts, &[1], deposit)?.as_deref(),
        Some(&b"250"[..])
    );

    // A space with `Retention::Latest` keeps only each point's newest version once
    // compaction has merged its blocks.
    let positions = db.create_space_with("positions", 2, 16, Retention::Latest)?;
    for step in 0..5_u32 {
        db.put(positions, [7, 7], &step.to_le_bytes())?;
        db.flush(positions)?; // each version in a block of its own
    }
    db.compact(positions)?;
    let kept = db.history(positions, &[7, 7])?;
    println!("positions (7, 7): {} version kept of 5 written", kept.len());
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].1.as_deref(), Some(&4_u32.to_le_bytes()[..]));
    db.close()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The database lives in a temporary directory, removed when `dir` drops.
    let dir = tempfile::tempdir()?;
    run(dir.path())?;
    Ok(())
}
