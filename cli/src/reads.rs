//! `get`, `history`, `query` and `dump`: reads through a read-only open
//! ([`infinitedb::Db::open_read_only`]), which writes nothing and reads at the highest
//! revision on disk.

use std::io::Write;
use std::path::Path;

use infinitedb::{Db, Entry, Error, Options, QueryBox, ReadOnlyDb, Readable, SpaceId};
use serde_json::json;

use crate::Status;

/// `bytes` as lowercase hex (the `--json` encoding of values).
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

/// `bytes` as text, non-printable bytes escaped (the human encoding of values).
fn text(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

/// The read-only open of `dir` and the id of its space `space`.
fn open(dir: &Path, space: &str) -> Result<(ReadOnlyDb, SpaceId), Error> {
    let db = Db::open_read_only(dir, Options::default())?;
    let id = db.space(space)?;
    Ok((db, id))
}

/// `get DIR SPACE COORD...`: [`Status::Failed`] when the point holds no value.
pub(crate) fn get(dir: &Path, space: &str, coords: &[u32], json: bool) -> Result<Status, Error> {
    let (db, id) = open(dir, space)?;
    let value = db.get(id, coords)?;
    match (&value, json) {
        (Some(value), true) => println!("{}", json!({"point": coords, "value_hex": hex(value)})),
        (Some(value), false) => println!("{}", text(value)),
        (None, true) => println!("{}", json!({"point": coords, "value_hex": null})),
        (None, false) => eprintln!("no value at {coords:?} in space {space:?}"),
    }
    Ok(if value.is_some() {
        Status::Ok
    } else {
        Status::Failed
    })
}

/// `history DIR SPACE COORD...`: every version, newest first; a delete has no value.
pub(crate) fn history(
    dir: &Path,
    space: &str,
    coords: &[u32],
    json: bool,
) -> Result<Status, Error> {
    let (db, id) = open(dir, space)?;
    let versions = db.history(id, coords)?;
    if json {
        let versions: Vec<_> = versions
            .iter()
            .map(|(revision, value)| {
                json!({"revision": revision.0, "value_hex": value.as_deref().map(hex)})
            })
            .collect();
        println!("{}", json!({"point": coords, "versions": versions}));
    } else {
        for (revision, value) in &versions {
            match value {
                Some(value) => println!("revision {}: {}", revision.0, text(value)),
                None => println!("revision {}: deleted", revision.0),
            }
        }
    }
    Ok(Status::Ok)
}

/// `query` and `dump`: the live points of `space` in the box `bounds` (every point when
/// `None`), one line each.
pub(crate) fn dump(
    dir: &Path,
    space: &str,
    bounds: Option<(Vec<u32>, Vec<u32>)>,
    json: bool,
) -> Result<Status, Error> {
    let (db, id) = open(dir, space)?;
    let entries = match bounds {
        Some((lo, hi)) => {
            let query_box = QueryBox::new(lo, hi).map_err(|source| Error::InvalidBox {
                space: space.to_string(),
                source,
            })?;
            db.query(id, &query_box)?
        }
        None => db.scan(id)?,
    };
    let mut out = std::io::stdout().lock();
    for entry in entries {
        let line = entry_line(&entry?, json);
        if writeln!(out, "{line}").is_err() {
            break; // stdout closed (a pipe into `head`): nothing more to say
        }
    }
    Ok(Status::Ok)
}

fn entry_line(entry: &Entry, json: bool) -> String {
    let point: &[u32] = &entry.point;
    if json {
        json!({"point": point, "revision": entry.revision.0, "value_hex": hex(&entry.value)})
            .to_string()
    } else {
        format!(
            "{point:?} revision {}: {}",
            entry.revision.0,
            text(&entry.value)
        )
    }
}
