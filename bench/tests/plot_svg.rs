//! `--plot FILE.svg` writes each job's latency percentile curve as one SVG chart: run the
//! binary on a tiny job and read the file back.

use std::process::Command;

use infinitedb_bench::plot::CURVE_STROKE_WIDTH;
use serde_json::Value;

#[test]
fn a_tiny_run_plots_one_curve_per_job() {
    // Goal: the plot is an SVG with one curve per job, each named in the legend, and an x
    // axis of the plotted percentiles. Method: `--rw randread` on 2,000 keys for 300 ms,
    // whose report has two jobs (the gets and the device's QD1 reads beside them); count the
    // curves' polylines (the axes are drawn thinner) and find each job's name.
    let dir = tempfile::tempdir().unwrap();
    let plot = dir.path().join("latency.svg");
    let output = Command::new(env!("CARGO_BIN_EXE_infinitedb-bench"))
        .args(["--rw", "randread", "--keys", "2000", "--runtime", "300ms"])
        .args([
            "--filesize",
            "16m",
            "--output-format",
            "json",
            "--directory",
        ])
        .arg(dir.path())
        .arg("--plot")
        .arg(&plot)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let names: Vec<&str> = report["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|job| job["ops"].as_u64().unwrap() > 0)
        .map(|job| job["name"].as_str().unwrap())
        .collect();
    assert!(!names.is_empty());
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
    assert!(svg.trim_end().ends_with("</svg>"));
    let curve = format!("stroke-width=\"{CURVE_STROKE_WIDTH}\"");
    let curves = svg
        .lines()
        .filter(|line| line.starts_with("<polyline") && line.contains(&curve))
        .count();
    assert_eq!(curves, names.len(), "one curve per job: {names:?}");
    for name in &names {
        assert!(svg.contains(&format!("\n{name}\n")), "legend lacks {name}");
    }
    for label in ["p50", "p99", "p99.99"] {
        assert!(
            svg.contains(&format!("\n{label}\n")),
            "x axis lacks {label}"
        );
    }
}

#[test]
fn an_unwritable_plot_path_fails_with_a_message() {
    // Goal: a plot that cannot be written fails the run with the path named, no panic.
    // Method: `--plot` into a directory that does not exist.
    let dir = tempfile::tempdir().unwrap();
    let plot = dir.path().join("missing").join("latency.svg");
    let output = Command::new(env!("CARGO_BIN_EXE_infinitedb-bench"))
        .args(["--rw", "write", "--size", "1280", "--directory"])
        .arg(dir.path())
        .arg("--plot")
        .arg(&plot)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("latency.svg"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
