//! Which backend carries the I/O, and why: the answer `Storage::info` gives and the engine
//! reports. The choice itself is made by the OS storage's detection (see `os`), or is the
//! simulated disk.

/// The backend actually in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BackendKind {
    /// io_uring with O_DIRECT, `RWF_DSYNC` writes (or linked fsyncs) and cancellation at the
    /// deadline.
    Uring,
    /// `pwrite`/`pread`/`fdatasync` with O_DIRECT on a worker thread; deadlines by timed wait.
    /// Used where `io_uring_setup` is refused (seccomp `EPERM`, `ENOSYS`, `io_uring_disabled`).
    Fallback,
    /// Buffered writes + `fdatasync` where the filesystem refuses O_DIRECT (tmpfs).
    Buffered,
    /// The deterministic simulated disk used for fault injection and crash tests.
    Simulated,
}

impl BackendKind {
    /// A short lower-case name ("uring", "fallback", "buffered", "simulated").
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Uring => "uring",
            BackendKind::Fallback => "fallback",
            BackendKind::Buffered => "buffered",
            BackendKind::Simulated => "simulated",
        }
    }
}

/// What the caller asks for. `Auto` (the default) probes io_uring, then O_DIRECT, and falls
/// back step by step; the environment variable [`BACKEND_ENV_VAR`] overrides `Auto`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BackendRequest {
    /// Probe and pick the best available backend (io_uring → fallback → buffered).
    #[default]
    Auto,
    /// io_uring only; an error if it is unavailable.
    Uring,
    /// The thread-based fallback (O_DIRECT if the filesystem allows it, else buffered).
    Fallback,
    /// Buffered I/O + fdatasync, no O_DIRECT.
    Buffered,
}

/// Environment variable that overrides [`BackendRequest::Auto`]: `uring`, `fallback` or
/// `buffered`. Lets a whole test suite run on the fallback backend without code changes.
pub const BACKEND_ENV_VAR: &str = "INFINITEDB_BACKEND";

/// Environment variable choosing how the io_uring backend makes a commit chain durable:
/// `dsync` (the default: one `WRITE` with `RWF_DSYNC`) or `fsync` (`WRITE -link->
/// FSYNC(DATASYNC)`). Both keep the same contract; `fsync` is there to compare them and for a
/// filesystem whose `RWF_DSYNC` handling one distrusts. Other backends ignore it.
pub const COMMIT_SYNC_ENV_VAR: &str = "INFINITEDB_COMMIT_SYNC";

/// The backend in use and how it was chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendInfo {
    /// The backend carrying the I/O.
    pub kind: BackendKind,
    /// Whether file data bypasses the page cache (O_DIRECT).
    pub direct_io: bool,
    /// Alignment in bytes required of buffer addresses, file offsets and lengths (≥ 4096).
    pub alignment_bytes: usize,
    /// Human-readable reason for the choice, e.g. "plain io_uring_setup: EPERM (blocked by a
    /// seccomp profile, or `kernel.io_uring_disabled` is set; ...); using fallback with O_DIRECT".
    pub reason: String,
}
