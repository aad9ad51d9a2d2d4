//! The fio JSON parser reads a stored fio 3.33 output (`tests/data/
//! fio_psync_fdatasync_qd1.json`: `--rw=write --bs=4k --ioengine=psync --fdatasync=1
//! --direct=1 --lat_percentiles=1`, 1 s on this machine's ext4) with its real values.

use std::path::Path;

use infinitedb_bench::fio;

#[test]
fn the_stored_sample_parses_with_its_values() {
    // Goal: iops, bandwidth, counts and both latency sections come out as fio wrote them.
    // Method: parse the stored file and compare with values read from it by hand.
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fio_psync_fdatasync_qd1.json");
    let output = fio::parse_file(&path).unwrap();
    assert_eq!(output.version, "fio-3.33");
    let job = output.job().unwrap();
    assert_eq!(job.name, "commit");
    assert_eq!(job.error, 0);
    assert_eq!(job.write.total_ios, 1251);
    assert_eq!(job.write.io_bytes, 5_124_096);
    assert_eq!(job.write.bw_bytes, 5_118_977);
    assert!((job.write.iops - 1249.75025).abs() < 1e-9);
    assert_eq!(job.write.runtime_ms, 1001);
    assert_eq!(job.read.total_ios, 0);
    let write_latency = job.write.latency().unwrap();
    assert_eq!(write_latency.percentile_ns(99.9), Some(11_337_728));
    assert!(write_latency.min <= write_latency.max);
    let sync = job.sync.as_ref().unwrap();
    // fio 3.33 leaves sync.total_ios at 0; its latency section counts the fdatasyncs.
    assert_eq!(sync.total_ios, 0);
    let sync_latency = sync.lat_ns.as_ref().unwrap();
    assert_eq!(sync_latency.samples, 1250);
    assert_eq!(sync_latency.percentile_ns(50.0), Some(115_200));
}

#[test]
fn a_truncated_sample_is_an_error_not_a_panic() {
    // Goal: damaged output is a typed error. Method: parse the sample cut in half.
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fio_psync_fdatasync_qd1.json");
    let text = std::fs::read_to_string(path).unwrap();
    assert!(fio::parse(&text[..text.len() / 2]).is_err());
}

#[test]
fn a_commit_latency_adds_the_write_and_its_fdatasync() {
    // Goal: the comparison's fio latency of a commit is its write's percentile plus its
    // fdatasync's, and reads take the read direction. Method: the stored sample's values
    // (write p50 114,176 ns, p99 4,014,080 ns; fdatasync p50 115,200 ns, p99 4,751,360 ns).
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fio_psync_fdatasync_qd1.json");
    let output = fio::parse_file(&path).unwrap();
    let job = output.job().unwrap();
    let commit = job.latency_percentiles(false).unwrap();
    assert!((commit.p50 - (114_176.0 + 115_200.0) / 1e3).abs() < 1e-9);
    assert!((commit.p99 - (4_014_080.0 + 4_751_360.0) / 1e3).abs() < 1e-9);
    // The write-only sample did no reads, so fio reported no read percentiles.
    assert!(job.latency_percentiles(true).is_none());
}
