//! fio's job options, as fio defines them, on tiny engine workloads: `--rw randrw` (the mixed
//! mode) with `--rwmixwrite`/`--rwmixread`, `--ramp_time` (operations of the first seconds are
//! not measured) and `--time_based` (run for `--runtime` even when `--size` is reached). Each
//! test runs the bench binary and reads its JSON.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Runs the binary with `args` and `--output-format json` in `directory`; returns the first
/// job's object and the process's wall time.
#[allow(
    clippy::unwrap_used,
    reason = "a test helper: fail loudly on a bad report"
)]
fn run_job(directory: &tempfile::TempDir, args: &[&str]) -> (Value, Duration) {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_infinitedb-bench"))
        .args(args)
        .args(["--output-format", "json", "--directory"])
        .arg(directory.path())
        .output()
        .unwrap();
    let wall = started.elapsed();
    assert!(
        output.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    (report["jobs"][0].clone(), wall)
}

/// Records the engine acknowledged during the measured part (puts; gets add none).
#[allow(
    clippy::unwrap_used,
    reason = "a test helper: a missing field fails the test"
)]
fn records_written(job: &Value) -> u64 {
    job["engine"]["records_direct"].as_u64().unwrap()
        + job["engine"]["records_staged"].as_u64().unwrap()
}

#[test]
fn randrw_takes_its_mix_from_rwmixwrite_or_rwmixread() {
    // Goal: `randrw` runs the mixed mode and the mix follows `--rwmixwrite` and `--rwmixread`.
    // Method: 100 operations over 1,000 preloaded keys with 100% writes (every operation is
    // an acknowledged record) and with 100% reads (none is), then 50% reads by `--rwmixwrite
    // 50` (some of each, from the bench's fixed seed).
    let dir = tempfile::tempdir().unwrap();
    let tiny = [
        "--keys",
        "1000",
        "--size",
        "12800",
        "--durability",
        "nosync",
    ];
    let (all_writes, _) = run_job(
        &dir,
        &[&["--rw", "randrw", "--rwmixwrite", "100"], &tiny[..]].concat(),
    );
    assert_eq!(all_writes["rw"], "mixed");
    assert_eq!(all_writes["ops"], 100);
    assert_eq!(records_written(&all_writes), 100);
    let (all_reads, _) = run_job(
        &dir,
        &[&["--rw", "randrw", "--rwmixread", "100"], &tiny[..]].concat(),
    );
    assert_eq!(all_reads["ops"], 100);
    assert_eq!(records_written(&all_reads), 0);
    let (half, _) = run_job(
        &dir,
        &[&["--rw", "randrw", "--rwmixwrite", "50"], &tiny[..]].concat(),
    );
    let written = records_written(&half);
    let ops = half["ops"].as_u64().unwrap();
    assert!(written > 0 && written < ops, "{written} writes of {ops}");
}

#[test]
fn ramp_time_is_run_but_not_measured() {
    // Goal: the operations of `--ramp_time` are neither counted nor timed, and `--size` counts
    // from its end. Method: 200 durable 128-byte puts (`--size 25600`) after a 1 s ramp: the
    // job reports exactly 200 operations and 25,600 bytes, and its runtime leaves the ramp
    // out (runtime + ramp fits in the process's wall time, which holds both).
    let dir = tempfile::tempdir().unwrap();
    let (job, wall) = run_job(
        &dir,
        &["--rw", "write", "--size", "25600", "--ramp_time", "1"],
    );
    assert_eq!(job["ops"], 200);
    assert_eq!(job["bytes"], 25_600);
    let runtime = job["runtime_seconds"].as_f64().unwrap();
    assert!(runtime > 0.0);
    assert!(
        runtime + 1.0 <= wall.as_secs_f64(),
        "runtime {runtime} s includes the ramp (wall {wall:?})"
    );
    assert!(job["latency_percentiles_us"]["p50"].as_f64().unwrap() > 0.0);
}

#[test]
fn time_based_runs_past_the_size_until_the_runtime() {
    // Goal: with `--time_based` a job runs for `--runtime` although `--size` is reached first;
    // without it the size stops it. Method: `NoSync` 128-byte puts, `--size 1280` (10 puts)
    // and `--runtime 300ms`, with and without `--time_based`.
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--rw",
        "write",
        "--size",
        "1280",
        "--runtime",
        "300ms",
        "--durability",
        "nosync",
    ];
    let (sized, _) = run_job(&dir, &args);
    assert_eq!(sized["ops"], 10);
    let (timed, _) = run_job(&dir, &[&args[..], &["--time_based"]].concat());
    assert!(timed["ops"].as_u64().unwrap() > 10, "{timed}");
    assert!(timed["runtime_seconds"].as_f64().unwrap() >= 0.3);
}

#[test]
fn fio_options_outside_their_workloads_are_refused() {
    // Goal: the options are refused where they mean nothing, with a message naming them.
    // Method: `--ramp_time` on a device job, `--time_based` without `--runtime`, `--rwmixwrite`
    // beside `--rwmixread` and on a non-mixed job.
    let dir = tempfile::tempdir().unwrap();
    for (args, expected) in [
        (
            &["--rw", "raw-commit", "--ramp_time", "1"][..],
            "--ramp_time",
        ),
        (
            &["--rw", "write", "--size", "1k", "--time_based"][..],
            "--time_based",
        ),
        (
            &["--rw", "randrw", "--rwmixread", "10", "--rwmixwrite", "90"][..],
            "--rwmixwrite",
        ),
        (&["--rw", "write", "--rwmixwrite", "10"][..], "--rwmixwrite"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_infinitedb-bench"))
            .args(args)
            .arg("--directory")
            .arg(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}
