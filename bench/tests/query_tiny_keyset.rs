//! `--rw query` end to end on a tiny key set: the binary preloads and seals the keys, checks a
//! sample of boxes against a brute-force filter, runs timed box queries and reports them in
//! both output formats with the documented fields.

use std::process::Command;

use serde_json::Value;

#[allow(
    clippy::unwrap_used,
    reason = "a test helper: fail loudly if the binary cannot run"
)]
fn run_query(directory: &str, format: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_infinitedb-bench"))
        .args([
            "--rw",
            "query",
            "--keys",
            "3000",
            "--query-records",
            "100",
            "--numjobs",
            "2",
            "--runtime",
            "1s",
            "--directory",
            directory,
            "--output-format",
            format,
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "--rw query failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn a_query_job_verifies_its_answers_and_reports_the_query_fields() {
    // Goal: a query job on 3,000 sealed keys verifies a non-empty sample and reports queries/s,
    // records/s and per-query latency. Method: run it for 1 s with JSON output, check every
    // field of `query`, then once more as text and find the query line.
    let dir = tempfile::tempdir().unwrap();
    let directory = dir.path().to_str().unwrap();
    let report: Value = serde_json::from_str(&run_query(directory, "json")).unwrap();
    let job = &report["jobs"][0];
    assert_eq!(job["rw"], "query");
    assert_eq!(job["numjobs"], 2);
    let queries = job["ops"].as_u64().unwrap();
    assert!(queries > 0);
    assert!(job["ops_per_second"].as_f64().unwrap() > 0.0);
    let latency = &job["latency_percentiles_us"];
    assert!(latency["p50"].as_f64().unwrap() > 0.0);
    assert!(latency["p99"].as_f64().unwrap() >= latency["p50"].as_f64().unwrap());
    let query = &job["query"];
    assert_eq!(query["verified_queries"], 4);
    assert!(query["verified_records"].as_u64().unwrap() > 0);
    assert!(query["range_over_read"].as_f64().unwrap() >= 1.0);
    let records = query["records"].as_u64().unwrap();
    assert!(records > 0);
    assert_eq!(
        job["bytes"].as_u64(),
        Some(records * 128),
        "128-byte values"
    );
    let per_query = query["records_per_query"].as_f64().unwrap();
    assert!((per_query - records as f64 / queries as f64).abs() < 1e-6);
    // 100 expected per box; a mean over many boxes far from it means mis-sized boxes.
    assert!(
        (30.0..=300.0).contains(&per_query),
        "records/query {per_query}"
    );
    assert!((query["expected_records_per_box"].as_f64().unwrap() - 100.0).abs() < 1.0);
    let side = query["box_side_fraction"].as_f64().unwrap();
    assert!(
        (side - (100.0_f64 / 3000.0).sqrt()).abs() < 1e-3,
        "side {side}"
    );
    assert!(query["records_per_second"].as_f64().unwrap() > 0.0);
    assert!(job["engine"].is_object());

    let text = run_query(directory, "normal");
    assert!(text.contains("query-sync: (rw=query"), "{text}");
    assert!(text.contains("    query: records/s="), "{text}");
    assert!(text.contains("brute-force filter"), "{text}");
    assert!(!text.contains("not available"), "{text}");
}
