//! `--output-format json` prints one object with the documented schema (see the `report`
//! module's docs and the README): run tiny engine, raw and hand-off jobs and check every field.

use std::process::Command;

use serde_json::Value;

#[allow(
    clippy::unwrap_used,
    reason = "a test helper: fail loudly on a bad report"
)]
fn run_json(args: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_infinitedb-bench"))
        .args(args)
        .args(["--output-format", "json"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[allow(
    clippy::unwrap_used,
    reason = "a test helper: a missing field fails the test"
)]
fn assert_environment(report: &Value) {
    assert_eq!(report["schema"], "infinitedb-bench/2");
    let environment = &report["environment"];
    for field in [
        "kernel",
        "directory",
        "filesystem",
        "mount_source",
        "cpus",
        "device",
    ] {
        assert!(environment.get(field).is_some(), "environment.{field}");
    }
    assert!(environment["kernel"].is_string());
    assert!(environment["cpus"].as_u64().unwrap() >= 1);
    let backend = &environment["backend"];
    assert!(["uring", "fallback", "buffered"].contains(&backend["kind"].as_str().unwrap()));
    assert!(backend["direct_io"].is_boolean());
    assert!(backend["alignment_bytes"].as_u64().unwrap() >= 512);
    assert!(backend["reason"].is_string());
}

#[allow(
    clippy::unwrap_used,
    reason = "a test helper: a missing field fails the test"
)]
fn assert_job(job: &Value, rw: &str, ops: u64) {
    assert_eq!(job["rw"], rw);
    for field in [
        "name",
        "bs_bytes",
        "numjobs",
        "iodepth",
        "durability",
        "bytes",
    ] {
        assert!(job.get(field).is_some(), "job.{field}");
    }
    assert_eq!(job["ops"].as_u64(), Some(ops));
    assert!(job["runtime_seconds"].as_f64().unwrap() > 0.0);
    assert!(job["ops_per_second"].as_f64().unwrap() > 0.0);
    assert!(job["mb_per_second"].as_f64().unwrap() > 0.0);
    let latency = &job["latency_percentiles_us"];
    let mut previous = 0.0;
    for field in ["min", "p50", "p90", "p99", "p99_9", "p99_99", "max"] {
        let value = latency[field].as_f64().unwrap();
        assert!(
            value >= previous,
            "latency_percentiles_us.{field} {value} < {previous}"
        );
        previous = value;
    }
    assert!(latency["avg"].as_f64().unwrap() > 0.0);
    // fio's `latency_us` is a bucket distribution; ours are percentiles under another name.
    assert!(
        job.get("latency_us").is_none(),
        "schema 2 has no job.latency_us"
    );
}

#[test]
fn an_engine_job_prints_the_documented_fields() {
    // Goal: an engine job's JSON has the environment, the job and its engine counters.
    // Method: 200 durable 128-byte puts (--size 25600) on a tempdir.
    let dir = tempfile::tempdir().unwrap();
    let directory = dir.path().to_str().unwrap();
    let report = run_json(&["--rw", "write", "--size", "25600", "--directory", directory]);
    assert_environment(&report);
    let jobs = report["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 1);
    assert_job(&jobs[0], "write", 200);
    assert_eq!(jobs[0]["durability"], "sync");
    assert_eq!(jobs[0]["bs_bytes"], 128);
    let engine = &jobs[0]["engine"];
    assert!(engine["fsyncs"].as_u64().unwrap() >= 1);
    // Hedged groups are fsynced on both routes, so this can be below 1 on a slow disk.
    assert!(engine["records_per_fsync"].as_f64().unwrap() > 0.0);
    for field in [
        "groups_direct",
        "groups_staged",
        "records_direct",
        "records_staged",
        "deadline_misses",
        "seals",
        "device_write_bytes",
        "device_mb_per_second",
        "device_read_bytes",
        "block_page_reads",
        "page_cache_hits",
        "page_cache_misses",
    ] {
        assert!(engine[field].is_number(), "engine.{field}");
    }
    let routed =
        engine["records_direct"].as_u64().unwrap() + engine["records_staged"].as_u64().unwrap();
    assert_eq!(routed, 200);
    assert!(
        jobs[0]["query"].is_null(),
        "only query jobs have query figures"
    );
    assert!(
        jobs[0]["handoff"].is_null(),
        "only hand-off jobs have hand-off figures"
    );
    assert!(report["comparisons"].is_array());
    assert!(report["notes"].is_array());
}

#[test]
fn a_raw_job_prints_the_documented_fields() {
    // Goal: a raw job's JSON has no engine counters and no durability. Method: 32 QD1 commits
    // of 4 KiB (--size 128k) over a 1 MiB file.
    let dir = tempfile::tempdir().unwrap();
    let directory = dir.path().to_str().unwrap();
    let report = run_json(&[
        "--rw",
        "raw-commit",
        "--size",
        "128k",
        "--filesize",
        "1m",
        "--directory",
        directory,
    ]);
    assert_environment(&report);
    let job = &report["jobs"][0];
    assert_job(job, "raw-commit", 32);
    assert!(job["durability"].is_null());
    assert!(job["engine"].is_null());
    assert_eq!(job["bytes"], 128 * 1024);
}

#[test]
fn a_hand_off_job_prints_the_documented_fields() {
    // Goal: a hand-off ceiling job's JSON has its group figures, no payload, no engine
    // counters and no durability. Method: 4 threads for 200 ms with a 100 µs hold.
    let dir = tempfile::tempdir().unwrap();
    let directory = dir.path().to_str().unwrap();
    let report = run_json(&[
        "--rw",
        "handoff",
        "--numjobs",
        "4",
        "--runtime",
        "200ms",
        "--hold",
        "100us",
        "--directory",
        directory,
    ]);
    assert_eq!(report["schema"], "infinitedb-bench/2");
    let job = &report["jobs"][0];
    assert_eq!(job["rw"], "handoff");
    assert_eq!(job["numjobs"], 4);
    assert_eq!(job["bytes"], 0);
    assert!(job["durability"].is_null());
    assert!(job["engine"].is_null());
    assert!(job["query"].is_null());
    let ops = job["ops"].as_u64().unwrap();
    assert!(ops > 0);
    assert!(job["latency_percentiles_us"]["p50"].as_f64().unwrap() >= 100.0);
    let handoff = &job["handoff"];
    let groups = handoff["groups"].as_u64().unwrap();
    assert!(groups > 0 && groups <= ops);
    let records_per_group = handoff["records_per_group"].as_f64().unwrap();
    assert!((1.0..=4.0).contains(&records_per_group));
    assert_eq!(handoff["hold_us"].as_f64(), Some(100.0));
}

#[test]
fn a_peers_run_prints_the_documented_fields() {
    // Goal: `--rw peers` prints a load, a get and a range row per engine with their peer
    // figures (every range row's records are 1,000 per range), each engine's durability in the
    // notes, and, with the `peers` feature, one comparison row per workload and peer. Method:
    // 2,000 keys, one run of 200 ms per read workload, a 16 MiB raw file.
    let dir = tempfile::tempdir().unwrap();
    let directory = dir.path().to_str().unwrap();
    let report = run_json(&[
        "--rw",
        "peers",
        "--keys",
        "2000",
        "--runtime",
        "200ms",
        "--repeats",
        "1",
        "--filesize",
        "16m",
        "--directory",
        directory,
    ]);
    assert_environment(&report);
    let rows: Vec<&Value> = report["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|job| job["rw"] == "peers")
        .collect();
    let engines = if cfg!(feature = "peers") { 3 } else { 1 };
    assert_eq!(rows.len(), 3 * engines);
    for job in &rows {
        let peer = &job["peer"];
        for field in ["engine", "workload", "durability"] {
            assert!(peer[field].is_string(), "peer.{field}");
        }
        assert_eq!(peer["keys"], 2000);
        assert_eq!(peer["runs"], 1);
        assert!(peer["records_per_second"].as_f64().unwrap() > 0.0);
        let ops = job["ops"].as_u64().unwrap();
        match peer["workload"].as_str().unwrap() {
            "load" => assert_eq!((ops, peer["records"].as_u64()), (2, Some(2000))),
            "get" => assert_eq!(peer["records"].as_u64(), Some(ops)),
            "range" => assert_eq!(peer["records"].as_u64(), Some(ops * 1000)),
            other => panic!("unknown workload {other}"),
        }
        assert!(job.get("engine").is_some() && job["engine"].is_null());
    }
    let notes = report["notes"].as_array().unwrap();
    assert!(
        notes
            .iter()
            .any(|note| note.as_str().unwrap().starts_with("infinitedb durability:"))
    );
    let peer_rows = report["comparisons"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["bound_source"] == "peer")
        .count();
    assert_eq!(peer_rows, 3 * (engines - 1));
}
