//! The benchmark library's error type, [`BenchError`]: every way a run can fail, with the
//! underlying error reachable through `source()`. The CLI wraps it in `anyhow` for printing.

use std::path::PathBuf;

/// Result alias of the benchmark library.
pub type Result<T, E = BenchError> = std::result::Result<T, E>;

/// A failed benchmark step.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// A job's parameters do not make sense together (checked before anything runs).
    #[error("invalid job: {detail}")]
    InvalidJob {
        /// What is wrong and what to do instead.
        detail: String,
    },
    /// A box query's answer differs from the brute-force filter of the preloaded key set.
    #[error(
        "box query {query_box} returned {found} records where a brute-force filter of the \
         preloaded key set finds {expected}: the engine's answer is wrong ({detail})"
    )]
    QueryMismatch {
        /// The box, `lo..=hi`.
        query_box: String,
        /// Records the engine returned.
        found: u64,
        /// Records the filter found.
        expected: u64,
        /// The first differing point.
        detail: String,
    },
    /// A get of a point the lifecycle job wrote found nothing, or a value of another size.
    #[error(
        "lifecycle {phase}: the get of written key {key} found {found:?} value bytes where \
         every write of it put a value: the engine lost or damaged it"
    )]
    PointMissing {
        /// Key number (`points.rs` maps it to the point).
        key: u64,
        /// The probe ("start", "end", "compacted").
        phase: String,
        /// The value's length, or `None` when the point was absent.
        found: Option<usize>,
    },
    /// An engine of the comparison (`--rw peers`) returned a wrong answer.
    #[error("{engine} {workload}: wrong answer, {detail}")]
    PeerMismatch {
        /// The engine.
        engine: &'static str,
        /// "get" or "range".
        workload: &'static str,
        /// The key and what was found.
        detail: String,
    },
    /// A peer engine of the comparison (fjall, redb) failed.
    #[error("{engine}: {source}")]
    Peer {
        /// The engine.
        engine: &'static str,
        /// Its error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A box or point does not fit the benchmark space.
    #[error("keyspace: {0}")]
    Keyspace(#[from] infinitedb::keyspace::KeyspaceError),
    /// The engine failed.
    #[error("engine: {0}")]
    Engine(#[from] infinitedb::Error),
    /// The storage layer failed (raw workloads).
    #[error("storage: {0}")]
    Storage(#[from] uring_io::IoError),
    /// A raw operation completed with an error or a short transfer.
    #[error("raw {operation} at offset {offset}: {detail}")]
    RawOperation {
        /// "read", "write" or "commit".
        operation: &'static str,
        /// Byte offset in the benchmark file.
        offset: u64,
        /// The errno or the short count.
        detail: String,
    },
    /// A file or directory operation failed.
    #[error("{operation} {path:?}: {source}")]
    File {
        /// What was attempted.
        operation: &'static str,
        /// On what.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// fio could not be run or failed.
    #[error("fio: {detail}")]
    Fio {
        /// What went wrong (exit status and stderr, or the spawn error).
        detail: String,
    },
    /// fio's JSON output did not have the expected shape.
    #[error("fio output: {0}")]
    FioOutput(#[from] serde_json::Error),
    /// The `--plot` chart could not be drawn or written.
    #[error("cannot write the plot {}: {source}", path.display())]
    Plot {
        /// The SVG file.
        path: PathBuf,
        /// The drawing or I/O error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A latency histogram refused a value or a merge.
    #[error("histogram: {detail}")]
    Histogram {
        /// The hdrhistogram error.
        detail: String,
    },
    /// A thread of a job could not be started.
    #[error("{job}: cannot start a thread: {source}")]
    ThreadSpawn {
        /// The job.
        job: String,
        /// The OS error (often the process's thread or memory limit).
        #[source]
        source: std::io::Error,
    },
    /// A worker thread panicked (a bug in the workload).
    #[error("a worker thread of {job} panicked")]
    WorkerPanicked {
        /// The job.
        job: String,
    },
}

impl BenchError {
    /// A [`BenchError::File`] mapper for `map_err`.
    pub(crate) fn file(
        operation: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> BenchError {
        let path = path.into();
        move |source| BenchError::File {
            operation,
            path,
            source,
        }
    }

    /// A [`BenchError::InvalidJob`].
    pub(crate) fn invalid(detail: impl Into<String>) -> BenchError {
        BenchError::InvalidJob {
            detail: detail.into(),
        }
    }
}
