//! The `infinitedb` binary against databases the tests make with the engine API: each
//! command's output (human and `--json`, parsed with serde_json) and its exit code, on a
//! clean database, a damaged one, and one a writer holds.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failure is a test failure"
)]

use std::path::Path;
use std::process::{Command, Output};

use infinitedb::{Db, Options, Readable};
use serde_json::Value;

/// A database with space "grid" (2 dims, 8 bits): points (x, y) for x, y < 10 sealed into a
/// block, valued "v-x-y"; then point (1, 1) overwritten with "new" and (2, 2) deleted, left
/// in the hot segment.
fn build(dir: &Path) {
    let db = Db::open(dir, small_options()).unwrap();
    let space = db.create_space("grid", 2, 8).unwrap();
    let mut batch = infinitedb::Batch::new(space);
    for x in 0..10_u32 {
        for y in 0..10_u32 {
            batch.put([x, y], format!("v-{x}-{y}").as_bytes());
        }
    }
    db.write(batch).unwrap();
    db.flush(space).unwrap();
    db.put(space, [1, 1], b"new").unwrap();
    db.delete(space, [2, 2]).unwrap();
    db.close().unwrap();
}

fn small_options() -> Options {
    Options::default()
        .segment_bytes(1024 * 1024)
        .value_bytes_max(64 * 1024)
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_infinitedb"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn json(output: &Output) -> Value {
    serde_json::from_str(&stdout(output)).unwrap()
}

fn code(output: &Output) -> i32 {
    output.status.code().unwrap()
}

fn database() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let path = dir.path().to_str().unwrap().to_string();
    (dir, path)
}

#[test]
fn info_lists_spaces_blocks_and_logs() {
    // Goal: info describes the database, in text and in JSON. Method: build, run `info` and
    // `info --json`, check the space's shape, its sealed block and the live logs.
    let (_dir, path) = database();
    let text = run(&["info", &path]);
    assert_eq!(code(&text), 0, "{text:?}");
    assert!(
        stdout(&text).contains("space \"grid\""),
        "{}",
        stdout(&text)
    );
    let out = run(&["info", "--json", &path]);
    assert_eq!(code(&out), 0, "{out:?}");
    let info = json(&out);
    let space = &info["spaces"][0];
    assert_eq!(space["name"], "grid");
    assert_eq!(
        (space["dims"].as_u64(), space["bits_per_dim"].as_u64()),
        (Some(2), Some(8))
    );
    let block = &space["blocks"][0];
    assert_eq!(block["records"], 100, "{info}");
    assert_eq!(block["level"], 0, "{info}");
    let logs = info["logs"].as_array().unwrap();
    assert!(
        logs.iter().any(|log| log["kind"] == "staging log"),
        "{info}"
    );
    assert!(
        logs.iter().any(|log| log["kind"] == "hot segment"),
        "{info}"
    );
    assert_eq!(info["revision_last"], 3, "{info}");
    assert!(info["bytes_on_disk"].as_u64().unwrap() > 0);
}

#[test]
fn get_and_history_read_a_point() {
    // Goal: get prints the newest value (exit 0), exits 1 for an absent or deleted point;
    // history lists every version newest first. Method: build, run them on (1, 1), (2, 2) and
    // (200, 200).
    let (_dir, path) = database();
    let found = run(&["get", &path, "grid", "1", "1"]);
    assert_eq!((code(&found), stdout(&found).trim()), (0, "new"));
    let found = run(&["--json", "get", &path, "grid", "3", "4"]);
    assert_eq!(json(&found)["value_hex"], "762d332d34"); // "v-3-4"
    for point in [["2", "2"], ["200", "200"]] {
        let absent = run(&["get", &path, "grid", point[0], point[1]]);
        assert_eq!(code(&absent), 1, "{point:?}: {absent:?}");
    }
    let history = json(&run(&["history", "--json", &path, "grid", "2", "2"]));
    let versions = history["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2, "{history}");
    assert_eq!(versions[0]["value_hex"], Value::Null, "{history}");
    assert_eq!(versions[1]["value_hex"], "762d322d32", "{history}");
}

#[test]
fn query_and_dump_print_one_json_object_per_point() {
    // Goal: query returns the live points of a box, dump every live point, each as a JSON
    // line that matches the engine's own reads. Method: build, run query on [0,0]..[2,2]
    // and dump, parse each line, compare with a read-only open.
    let (dir, path) = database();
    let out = run(&[
        "query", "--json", &path, "grid", "--lo", "0,0", "--hi", "2,2",
    ]);
    assert_eq!(code(&out), 0, "{out:?}");
    let lines: Vec<Value> = stdout(&out)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(
        lines.len(),
        8,
        "nine points less the deleted one: {lines:?}"
    );
    let dumped = run(&["dump", "--json", &path, "grid"]);
    let dumped: Vec<Value> = stdout(&dumped)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let reader = Db::open_read_only(dir.path(), Options::default()).unwrap();
    let space = reader.space("grid").unwrap();
    let expected: Vec<_> = reader.scan(space).unwrap().map(Result::unwrap).collect();
    assert_eq!(dumped.len(), expected.len());
    for (line, entry) in dumped.iter().zip(&expected) {
        let point: Vec<u32> = serde_json::from_value(line["point"].clone()).unwrap();
        assert_eq!(point, entry.point[..].to_vec());
        assert_eq!(line["revision"], entry.revision.0);
    }
}

#[test]
fn verify_passes_a_clean_database_and_names_a_damaged_file() {
    // Goal: verify exits 0 on a clean database and non-zero on a damaged one, naming the
    // damaged file in text and in JSON. Method: build, verify; flip a byte in the block's
    // first data page, verify again with and without --json.
    let (dir, path) = database();
    let clean = run(&["verify", &path]);
    assert_eq!(code(&clean), 0, "{clean:?}");
    let block = std::fs::read_dir(dir.path().join("blocks"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&block).unwrap();
    bytes[300] ^= 0x04;
    std::fs::write(&block, bytes).unwrap();
    let name = block.file_name().unwrap().to_str().unwrap();
    let damaged = run(&["verify", &path]);
    assert_eq!(code(&damaged), 1, "{damaged:?}");
    assert!(stdout(&damaged).contains(name), "{}", stdout(&damaged));
    let report = json(&run(&["verify", "--json", &path]));
    assert_eq!(report["clean"], false);
    let problem = &report["problems"][0];
    assert!(
        problem["file"].as_str().unwrap().ends_with(name),
        "{report}"
    );
    assert_eq!(problem["kind"], "damaged", "{report}");
}

#[test]
fn a_directory_a_writer_holds_is_locked() {
    // Goal: with a writer holding the directory every command exits 3 (locked) and says so
    // on stderr. Method: build, reopen for writing, run info, verify, get and compact.
    let (dir, path) = database();
    let db = Db::open(dir.path(), small_options()).unwrap();
    for args in [
        vec!["info", &path],
        vec!["verify", &path],
        vec!["get", &path, "grid", "1", "1"],
        vec!["compact", &path],
    ] {
        let out = run(&args);
        assert_eq!(code(&out), 3, "{args:?}: {out:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.contains("locked"), "{args:?}: {stderr}");
    }
    db.close().unwrap();
}

#[test]
fn usage_errors_exit_2() {
    // Goal: bad arguments, an unknown space and a point that does not fit exit 2. Method:
    // build, run get without coordinates, on space "nope", with 3 coordinates, with 999.
    let (_dir, path) = database();
    for args in [
        vec!["get", &path, "grid"],
        vec!["get", &path, "nope", "1", "1"],
        vec!["get", &path, "grid", "1", "1", "1"],
        vec!["get", &path, "grid", "999", "1"],
        vec!["query", &path, "grid", "--lo", "0,0"],
    ] {
        let out = run(&args);
        assert_eq!(code(&out), 2, "{args:?}: {out:?}");
    }
}

#[test]
fn checkpoint_and_compact_write_and_keep_every_point() {
    // Goal: checkpoint makes a copy that verifies and holds the data; compact keeps every
    // point. Method: build, checkpoint into a new directory, verify and get from the copy;
    // compact the original, get from it.
    let (dir, path) = database();
    let dest = dir.path().with_extension("copy");
    let dest_path = dest.to_str().unwrap();
    let out = run(&["checkpoint", "--json", &path, dest_path]);
    assert_eq!(code(&out), 0, "{out:?}");
    assert_eq!(json(&out)["revision"], 3, "{out:?}");
    assert_eq!(code(&run(&["verify", dest_path])), 0);
    let copied = run(&["get", dest_path, "grid", "1", "1"]);
    assert_eq!(stdout(&copied).trim(), "new");
    let out = run(&["compact", "--json", &path]);
    assert_eq!(code(&out), 0, "{out:?}");
    assert_eq!(json(&out)["compacted"][0], "grid");
    let after = run(&["get", &path, "grid", "9", "9"]);
    assert_eq!(stdout(&after).trim(), "v-9-9");
    std::fs::remove_dir_all(&dest).unwrap();
}
