//! `checkpoint` and `compact`: the commands that open the database for writing (an exclusive
//! lock: they fail with `Error::Locked` while any other open holds it), and close it cleanly.

use std::path::Path;

use infinitedb::{Db, Error, Options};
use serde_json::json;

use crate::Status;

/// `checkpoint DIR DEST`.
pub(crate) fn checkpoint(dir: &Path, dest: &Path, json: bool) -> Result<Status, Error> {
    let db = Db::open(dir, Options::default())?;
    let info = db.checkpoint(dest);
    db.close()?;
    let info = info?;
    if json {
        let out = json!({
            "path": info.path,
            "revision": info.revision.0,
            "blocks_linked": info.blocks_linked,
            "blocks_copied": info.blocks_copied,
            "block_bytes": info.block_bytes,
        });
        println!("{out}");
    } else {
        println!(
            "checkpoint {} holds every write up to revision {}: {} blocks linked, {} copied, {} \
             block bytes",
            info.path.display(),
            info.revision.0,
            info.blocks_linked,
            info.blocks_copied,
            info.block_bytes
        );
    }
    Ok(Status::Ok)
}

/// `compact DIR [SPACE]`: the named space, or every space.
pub(crate) fn compact(dir: &Path, space: Option<&str>, json: bool) -> Result<Status, Error> {
    let db = Db::open(dir, Options::default())?;
    let compacted = compact_spaces(&db, space);
    db.close()?;
    let names = compacted?;
    if json {
        println!("{}", json!({"compacted": names}));
    } else {
        for name in &names {
            println!("compacted space {name:?}");
        }
    }
    Ok(Status::Ok)
}

fn compact_spaces(db: &Db, space: Option<&str>) -> Result<Vec<String>, Error> {
    let spaces = match space {
        Some(name) => vec![(db.space(name)?, name.to_string())],
        None => db
            .spaces()
            .into_iter()
            .map(|info| (info.id, info.name))
            .collect(),
    };
    for (id, _) in &spaces {
        db.compact(*id)?;
    }
    Ok(spaces.into_iter().map(|(_, name)| name).collect())
}
