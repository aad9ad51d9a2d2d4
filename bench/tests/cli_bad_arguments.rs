//! The CLI refuses bad arguments before running anything: a clear message on stderr and a
//! non-zero exit status, never a panic.

use std::process::{Command, Output};

#[allow(
    clippy::unwrap_used,
    reason = "a test helper: fail loudly if the binary cannot start"
)]
fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_infinitedb-bench"))
        .args(args)
        .output()
        .unwrap()
}

fn assert_refused(args: &[&str], expected: &str) {
    let output = bench(args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{args:?} succeeded");
    assert!(
        stderr.contains(expected),
        "{args:?}: stderr lacks {expected:?}:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{args:?} panicked:\n{stderr}");
}

#[test]
fn bad_values_are_refused_with_a_message() {
    // Goal: every kind of bad value names the argument. Method: run the binary with each.
    let dir = tempfile::tempdir().unwrap();
    let directory = dir.path().to_str().unwrap();
    assert_refused(&["--rw", "sideways"], "invalid value 'sideways' for '--rw");
    assert_refused(&["--rw", "mixed", "--rwmixread", "150"], "--rwmixread");
    assert_refused(&["--rw", "write", "--bs", "4x"], "unknown size suffix");
    assert_refused(&["--rw", "write", "--runtime", "fast"], "is not a duration");
    assert_refused(&["--rw", "write", "--numjobs", "0"], "--numjobs");
    assert_refused(&["--rw", "write", "--backend", "floppy"], "--backend");
    assert_refused(
        &["--rw", "write", "--output-format", "xml"],
        "--output-format",
    );
    assert_refused(&["--no-such-flag"], "unexpected argument");
    assert_refused(
        &["--rw", "write", "--directory", "/no/such/dir"],
        "not an existing directory",
    );
    assert_refused(
        &[
            "--rw",
            "raw-commit",
            "--numjobs",
            "4",
            "--directory",
            directory,
        ],
        "raw workloads run one thread",
    );
    assert_refused(
        &["--rw", "write", "--iodepth", "4", "--directory", directory],
        "use --numjobs",
    );
    assert_refused(
        &[
            "--rw",
            "randread-large",
            "--numjobs",
            "2",
            "--directory",
            directory,
        ],
        "randread-large runs one reader",
    );
    assert_refused(
        &["--rw", "handoff", "--size", "1m", "--directory", directory],
        "handoff moves no payload",
    );
    assert_refused(
        &["--rw", "handoff", "--hold", "2s", "--directory", directory],
        "--hold must be at most",
    );
    assert_refused(
        &["--rw", "write", "--hold", "1ms", "--directory", directory],
        "--hold applies to --rw handoff only",
    );
}

#[test]
fn inconsistent_combinations_are_refused() {
    // Goal: job options without a job, and conflicting modes, are refused. Method: run them.
    assert_refused(&["--bs", "4k"], "--rw");
    assert_refused(&["--vs-fio", "--rw", "write"], "cannot be used with");
    assert_refused(&["--repeats", "3"], "--vs-fio");
}

#[test]
fn bad_box_query_shapes_are_refused() {
    // Goal: a box-query job that cannot be shaped is refused with a message naming the
    // option, before any preload. Method: run --rw query with each bad value.
    let dir = tempfile::tempdir().unwrap();
    let directory = dir.path().to_str().unwrap();
    assert_refused(
        &[
            "--rw",
            "query",
            "--query-records",
            "0",
            "--directory",
            directory,
        ],
        "--query-records",
    );
    assert_refused(
        &[
            "--rw",
            "query",
            "--keys",
            "0",
            "--runtime",
            "1s",
            "--directory",
            directory,
        ],
        "--keys",
    );
    assert_refused(
        &[
            "--rw",
            "query",
            "--dims",
            "1",
            "--bits",
            "64",
            "--runtime",
            "1s",
            "--directory",
            directory,
        ],
        "--bits 1..=32",
    );
    assert_refused(&["--query-records", "10"], "--rw");
}
