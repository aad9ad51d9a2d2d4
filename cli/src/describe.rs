//! `info` and `verify`: what a database directory holds, and whether every file checks out.
//! Both only read: `info` through a read-only open, `verify` through [`infinitedb::verify`].

use std::path::Path;

use infinitedb::{BlockMeta, Db, Description, LogKind, LogMeta, Options, VerifyReport};
use infinitedb_format::{BLOCK_FORMAT_VERSION, FORMAT_VERSION, LOG_FORMAT_VERSION};
use serde_json::{Value, json};

use crate::Status;

/// A Hilbert key as 32 hex digits.
pub(crate) fn key_hex(key: u128) -> String {
    format!("{key:032x}")
}

fn log_kind(kind: LogKind) -> &'static str {
    match kind {
        LogKind::HotSegment => "hot segment",
        LogKind::StagingLog => "staging log",
    }
}

fn block_json(block: &BlockMeta) -> Value {
    json!({
        "block_id": block.block_id.0,
        "level": block.level,
        "min_key": key_hex(block.min_key),
        "max_key": key_hex(block.max_key),
        "min_revision": block.min_revision.0,
        "max_revision": block.max_revision.0,
        "records": block.record_count,
        "bytes": block.len_bytes,
    })
}

fn log_json(log: &LogMeta) -> Value {
    json!({
        "kind": log_kind(log.kind),
        "space_id": log.space_id.0,
        "segment_id": log.segment_id.0,
        "bytes": log.len_bytes,
    })
}

fn description_json(description: &Description) -> Value {
    let spaces: Vec<Value> = description
        .spaces
        .iter()
        .map(|space| {
            json!({
                "id": space.info.id.0,
                "name": space.info.name,
                "dims": space.info.dims,
                "bits_per_dim": space.info.bits_per_dim,
                "retention": format!("{:?}", space.info.retention),
                "sealed_revision": space.sealed.0,
                "live_tail_records": space.live_tail_records,
                "blocks": space.blocks.iter().map(block_json).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "path": description.path,
        "manifest_generation": description.manifest_generation,
        "revision_high": description.revision_high.0,
        "revision_last": description.revision_last.0,
        "bytes_on_disk": description.bytes_on_disk,
        "format_versions": {
            "structures": FORMAT_VERSION,
            "log": LOG_FORMAT_VERSION,
            "block": BLOCK_FORMAT_VERSION,
        },
        "spaces": spaces,
        "logs": description.logs.iter().map(log_json).collect::<Vec<_>>(),
    })
}

fn print_description(description: &Description) {
    println!("database {}", description.path.display());
    println!(
        "  revisions: last {}, high-water mark {}; manifest generation {}; {} bytes on disk",
        description.revision_last.0,
        description.revision_high.0,
        description.manifest_generation,
        description.bytes_on_disk
    );
    println!(
        "  format versions written: structures {FORMAT_VERSION}, log {LOG_FORMAT_VERSION}, \
         block {BLOCK_FORMAT_VERSION}"
    );
    for space in &description.spaces {
        let info = &space.info;
        println!(
            "space {:?} (id {}): {} dims x {} bits, retention {:?}, sealed to revision {}, {} \
             records in live logs",
            info.name,
            info.id.0,
            info.dims,
            info.bits_per_dim,
            info.retention,
            space.sealed.0,
            space.live_tail_records
        );
        for block in &space.blocks {
            println!(
                "  level {} block {}: keys {}..{}, revisions {}..{}, {} records, {} bytes",
                block.level,
                block.block_id.0,
                key_hex(block.min_key),
                key_hex(block.max_key),
                block.min_revision.0,
                block.max_revision.0,
                block.record_count,
                block.len_bytes
            );
        }
    }
    for log in &description.logs {
        println!(
            "{} {} (space id {}): {} bytes",
            log_kind(log.kind),
            log.segment_id.0,
            log.space_id.0,
            log.len_bytes
        );
    }
}

/// `info DIR`.
pub(crate) fn info(dir: &Path, json: bool) -> Result<Status, infinitedb::Error> {
    let db = Db::open_read_only(dir, Options::default())?;
    let description = db.describe();
    if json {
        println!("{}", description_json(&description));
    } else {
        print_description(&description);
    }
    Ok(Status::Ok)
}

fn report_json(report: &VerifyReport) -> Value {
    let files: Vec<Value> = report
        .files
        .iter()
        .map(|file| json!({"path": file.path, "kind": file.role.name(), "bytes": file.bytes}))
        .collect();
    let problems: Vec<Value> = report
        .problems
        .iter()
        .map(|problem| {
            json!({
                "file": problem.file,
                "offset": problem.offset,
                "kind": problem.kind.name(),
                "detail": problem.detail,
            })
        })
        .collect();
    let notes: Vec<Value> = report
        .notes
        .iter()
        .map(|note| json!({"file": note.file, "offset": note.offset, "detail": note.detail}))
        .collect();
    json!({
        "path": report.path,
        "clean": report.is_clean(),
        "files": files,
        "problems": problems,
        "notes": notes,
    })
}

/// `verify DIR`: [`Status::Failed`] when a problem was found.
pub(crate) fn verify(dir: &Path, json: bool) -> Result<Status, infinitedb::Error> {
    let report = infinitedb::verify(dir)?;
    if json {
        println!("{}", report_json(&report));
    } else {
        println!("{report}");
    }
    if report.is_clean() {
        Ok(Status::Ok)
    } else {
        Ok(Status::Failed)
    }
}
