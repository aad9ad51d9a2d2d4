//! fio, run with parameters matching one of our workloads and read back through its
//! `--output-format=json`.
//!
//! The parser reads only the fields it needs (fio 3.x names them the same since 3.0):
//! `jobs[].read|write.{io_bytes, bw_bytes, iops, runtime, total_ios, lat_ns|clat_ns}` and,
//! with `--fdatasync`, `jobs[].sync.lat_ns` (fio reports the write and the fdatasync
//! separately; a commit's cost is both). Percentile keys are fio's `"99.900000"` strings.
//! Unknown fields are ignored, so newer fio versions parse too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde::Deserialize;

use crate::error::{BenchError, Result};
use crate::report::LatencyPercentiles;

/// The I/O pattern of a fio job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FioPattern {
    /// `--rw=write`: sequential writes.
    SequentialWrite,
    /// `--rw=randread`: uniformly random reads.
    RandomRead,
}

/// How fio issues I/O.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FioEngine {
    /// `--ioengine=io_uring`.
    IoUring,
    /// `--ioengine=psync` (pwrite/pread, one at a time).
    Psync,
}

/// One fio job over one file, time based, overwriting a file laid out first
/// (`--overwrite=1`), like our pre-written files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FioJob {
    /// The file fio works on.
    pub file: PathBuf,
    /// Size of that file.
    pub file_bytes: u64,
    /// Pattern.
    pub pattern: FioPattern,
    /// Bytes per I/O.
    pub block_bytes: u64,
    /// I/Os in flight.
    pub iodepth: u32,
    /// Engine.
    pub engine: FioEngine,
    /// `--direct=1`.
    pub direct: bool,
    /// `--fdatasync=1`: an fdatasync after every write (a commit).
    pub fdatasync_each_write: bool,
    /// `--runtime`, with `--time_based`.
    pub runtime: Duration,
}

impl FioJob {
    /// The command-line arguments for this job (JSON to stdout).
    pub fn args(&self) -> Vec<String> {
        let rw = match self.pattern {
            FioPattern::SequentialWrite => "write",
            FioPattern::RandomRead => "randread",
        };
        let engine = match self.engine {
            FioEngine::IoUring => "io_uring",
            FioEngine::Psync => "psync",
        };
        let runtime_ms = self.runtime.as_millis().max(1);
        let mut args = vec![
            "--name=job".to_string(),
            format!("--filename={}", self.file.display()),
            format!("--size={}", self.file_bytes),
            "--overwrite=1".to_string(),
            "--time_based".to_string(),
            format!("--runtime={runtime_ms}ms"),
            "--lat_percentiles=1".to_string(),
            format!("--rw={rw}"),
            format!("--bs={}", self.block_bytes),
            format!("--iodepth={}", self.iodepth),
            format!("--ioengine={engine}"),
            format!("--direct={}", u8::from(self.direct)),
            "--output-format=json".to_string(),
        ];
        if self.fdatasync_each_write {
            args.push("--fdatasync=1".to_string());
        }
        args
    }
}

/// Whether an `fio` executable is on `PATH`.
pub fn available() -> bool {
    Command::new("fio")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success())
}

/// Runs `job` and parses its output.
///
/// # Errors
/// [`BenchError::Fio`] if fio cannot be started or fails; [`BenchError::FioOutput`] if its
/// output does not parse.
pub fn run(job: &FioJob) -> Result<FioOutput> {
    let output = Command::new("fio")
        .args(job.args())
        .output()
        .map_err(|error| BenchError::Fio {
            detail: format!("cannot run fio (install it: apt-get install -y fio): {error}"),
        })?;
    if !output.status.success() {
        return Err(BenchError::Fio {
            detail: format!(
                "{}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        });
    }
    parse(&String::from_utf8_lossy(&output.stdout))
}

/// Parses fio's JSON output. fio may print notices before the JSON object; they are skipped.
///
/// # Errors
/// [`BenchError::FioOutput`] if there is no JSON object or it lacks `jobs`.
pub fn parse(text: &str) -> Result<FioOutput> {
    let start = text.find('{').unwrap_or(0);
    Ok(serde_json::from_str(&text[start..])?)
}

/// Parses a stored fio JSON file.
///
/// # Errors
/// [`BenchError::File`], or as [`parse`].
pub fn parse_file(path: &Path) -> Result<FioOutput> {
    let text = std::fs::read_to_string(path).map_err(BenchError::file("read", path))?;
    parse(&text)
}

/// fio's whole output.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct FioOutput {
    /// The fio version ("fio-3.33").
    #[serde(rename = "fio version", default)]
    pub version: String,
    /// One entry per job.
    pub jobs: Vec<FioJobResult>,
}

impl FioOutput {
    /// The first job (our jobs have one).
    ///
    /// # Errors
    /// [`BenchError::Fio`] when the output has no job.
    pub fn job(&self) -> Result<&FioJobResult> {
        self.jobs.first().ok_or_else(|| BenchError::Fio {
            detail: "the output has no jobs".to_string(),
        })
    }
}

/// One job's results.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct FioJobResult {
    /// The job's name.
    #[serde(rename = "jobname", default)]
    pub name: String,
    /// fio's error code (0 = none).
    #[serde(default)]
    pub error: i64,
    /// Reads.
    pub read: FioDirection,
    /// Writes.
    pub write: FioDirection,
    /// fsync/fdatasync calls (present with `--fsync`/`--fdatasync`).
    #[serde(default)]
    pub sync: Option<FioSync>,
}

impl FioJobResult {
    /// p50 and p99 per operation in microseconds: of the reads when `reads`, else of the
    /// writes, plus, when fio timed fdatasyncs (`--fdatasync=1`), the same percentile of
    /// those. fio times a commit's write and its fdatasync separately and the percentile of
    /// a sum is not the sum of percentiles, so a commit's figure is an approximation (the
    /// closest fio's output allows; for the tail it leans high). `None` when fio reported no
    /// percentiles.
    pub fn latency_percentiles(&self, reads: bool) -> Option<LatencyPercentiles> {
        Some(LatencyPercentiles {
            p50: self.latency_at(reads, 50.0)?,
            p99: self.latency_at(reads, 99.0)?,
        })
    }

    /// The percentile `percent` per operation in microseconds, as
    /// [`FioJobResult::latency_percentiles`] takes it (a commit's write plus its fdatasync);
    /// `None` when fio did not report it.
    pub fn latency_at(&self, reads: bool, percent: f64) -> Option<f64> {
        let direction = if reads { &self.read } else { &self.write };
        let latency = direction.latency()?;
        let sync = self
            .sync
            .as_ref()
            .and_then(|sync| sync.lat_ns.as_ref())
            .filter(|sync| !reads && sync.samples > 0);
        let sync_ns = sync.map_or(Some(0), |sync| sync.percentile_ns(percent))?;
        Some((latency.percentile_ns(percent)? + sync_ns) as f64 / 1e3)
    }
}

/// One direction (read or write) of a job.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct FioDirection {
    /// Bytes transferred.
    #[serde(default)]
    pub io_bytes: u64,
    /// Bandwidth in bytes per second.
    #[serde(default)]
    pub bw_bytes: u64,
    /// I/Os per second.
    #[serde(default)]
    pub iops: f64,
    /// Runtime in milliseconds.
    #[serde(rename = "runtime", default)]
    pub runtime_ms: u64,
    /// I/Os completed.
    #[serde(default)]
    pub total_ios: u64,
    /// Total latency (submission to completion), present with `--lat_percentiles=1`.
    #[serde(default)]
    pub lat_ns: Option<FioLatency>,
    /// Completion latency.
    #[serde(default)]
    pub clat_ns: Option<FioLatency>,
}

impl FioDirection {
    /// Total latency if fio reported its percentiles, else completion latency.
    pub fn latency(&self) -> Option<&FioLatency> {
        let with_percentiles = |latency: &&FioLatency| !latency.percentile.is_empty();
        self.lat_ns
            .as_ref()
            .filter(with_percentiles)
            .or(self.clat_ns.as_ref())
    }

    /// Megabytes (10^6) per second.
    pub fn mb_per_second(&self) -> f64 {
        self.bw_bytes as f64 / 1e6
    }
}

/// The sync calls of a job.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct FioSync {
    /// Calls made.
    #[serde(default)]
    pub total_ios: u64,
    /// Their latency.
    #[serde(default)]
    pub lat_ns: Option<FioLatency>,
}

/// A latency distribution in nanoseconds.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct FioLatency {
    /// Fastest.
    #[serde(default)]
    pub min: u64,
    /// Slowest.
    #[serde(default)]
    pub max: u64,
    /// Mean.
    #[serde(default)]
    pub mean: f64,
    /// Samples measured (fio's `N`). For the sync section this is the number of fdatasyncs:
    /// fio 3.33 leaves `sync.total_ios` at 0.
    #[serde(rename = "N", default)]
    pub samples: u64,
    /// Percentiles keyed like `"99.900000"`.
    #[serde(default)]
    pub percentile: BTreeMap<String, u64>,
}

impl FioLatency {
    /// The percentile `percent` (e.g. 99.9) in nanoseconds, if fio reported it.
    pub fn percentile_ns(&self, percent: f64) -> Option<u64> {
        self.percentile.get(&format!("{percent:.6}")).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_match_the_job() {
        // Goal: the command line says what the job says. Method: build a commit job.
        let job = FioJob {
            file: PathBuf::from("/tmp/x/fio.dat"),
            file_bytes: 1 << 20,
            pattern: FioPattern::SequentialWrite,
            block_bytes: 4096,
            iodepth: 1,
            engine: FioEngine::Psync,
            direct: true,
            fdatasync_each_write: true,
            runtime: Duration::from_secs(2),
        };
        let args = job.args();
        for expected in [
            "--rw=write",
            "--bs=4096",
            "--ioengine=psync",
            "--direct=1",
            "--fdatasync=1",
            "--runtime=2000ms",
            "--overwrite=1",
        ] {
            assert!(
                args.iter().any(|arg| arg == expected),
                "{expected} in {args:?}"
            );
        }
    }

    #[test]
    fn notices_before_the_json_are_skipped() {
        // Goal: fio's leading notices do not break parsing. Method: a minimal document.
        let text = "note: both iodepth >= 1 and synchronous I/O engine are selected\n\
            {\"jobs\": [{\"read\": {}, \"write\": {\"iops\": 5.5}}]}";
        let output = parse(text).unwrap();
        assert_eq!(output.job().unwrap().write.iops, 5.5);
        assert!(parse("no json here").is_err());
    }
}
