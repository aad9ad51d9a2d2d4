//! What every job shares: when it stops ([`Limit`]) and its optional progress bar
//! ([`Progress`], drawn only when stdout is a terminal, so piped and JSON runs stay quiet).

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::error::{BenchError, Result};

/// When a job stops: after `runtime`, after `bytes` of payload, or at whichever comes first
/// (fio's `--runtime` and `--size`); with `time_based` (fio's `--time_based`) only after
/// `runtime`, however many bytes that moves. At least one bound is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    /// Wall-time bound.
    pub runtime: Option<Duration>,
    /// Payload bound, over all threads of the job.
    pub bytes: Option<u64>,
    /// Run for `runtime` even when `bytes` is reached first.
    pub time_based: bool,
}

impl Limit {
    /// A time-based limit.
    pub fn runtime(runtime: Duration) -> Limit {
        Limit {
            runtime: Some(runtime),
            bytes: None,
            time_based: false,
        }
    }

    /// Checks that at least one bound is set and positive.
    ///
    /// # Errors
    /// [`BenchError::InvalidJob`].
    pub fn validate(&self) -> Result<()> {
        match (self.runtime, self.bytes) {
            (None, None) => Err(BenchError::invalid("give --runtime or --size")),
            (Some(runtime), _) if runtime.is_zero() => {
                Err(BenchError::invalid("--runtime must be positive"))
            }
            (_, Some(0)) => Err(BenchError::invalid("--size must be positive")),
            (None, _) if self.time_based => {
                Err(BenchError::invalid("--time_based needs --runtime"))
            }
            _ => Ok(()),
        }
    }

    /// The share of one of `threads` threads (bytes divided, rounded up).
    pub fn per_thread(&self, threads: u32) -> Limit {
        debug_assert!(threads > 0, "a job has at least one thread");
        Limit {
            bytes: self
                .bytes
                .map(|bytes| bytes.div_ceil(u64::from(threads.max(1)))),
            ..*self
        }
    }

    /// Whether a thread that moved `bytes` in `elapsed` is done.
    pub fn reached(&self, elapsed: Duration, bytes: u64) -> bool {
        self.runtime.is_some_and(|runtime| elapsed >= runtime)
            || (!self.time_based && self.bytes.is_some_and(|limit| bytes >= limit))
    }
}

/// A progress spinner with the job's name, operation count and rate; inert when stdout is not
/// a terminal. Cloning shares the bar, so worker threads can count.
#[derive(Clone, Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar for `job` if `enabled` and stdout is a terminal.
    pub fn start(job: &str, enabled: bool) -> Progress {
        if !enabled || !std::io::stdout().is_terminal() {
            return Progress { bar: None };
        }
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} {msg} [{elapsed_precise}] {pos} ops ({per_sec})",
        ) {
            bar.set_style(style);
        }
        bar.set_message(job.to_string());
        bar.enable_steady_tick(Duration::from_millis(100));
        Progress { bar: Some(bar) }
    }

    /// A progress that never draws.
    pub fn hidden() -> Progress {
        Progress { bar: None }
    }

    /// Counts `ops` more operations.
    pub fn add(&self, ops: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(ops);
        }
    }

    /// Removes the bar from the terminal.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Creates a scratch directory named `<prefix>…` inside `parent`, removed when dropped. Every
/// job works in one, so runs never see each other's files.
///
/// # Errors
/// [`BenchError::File`] when the directory cannot be created.
pub fn scratch_directory(parent: &Path, prefix: &str) -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(parent)
        .map_err(BenchError::file("create a temporary directory in", parent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_stop_at_the_first_bound() {
        // Goal: either bound ends a job, bytes split per thread, and a time-based limit ends
        // at its runtime only. Method: fixed values.
        let limit = Limit {
            runtime: Some(Duration::from_secs(2)),
            bytes: Some(1000),
            time_based: false,
        };
        assert!(!limit.reached(Duration::from_secs(1), 999));
        assert!(limit.reached(Duration::from_secs(2), 0));
        assert!(limit.reached(Duration::ZERO, 1000));
        assert_eq!(limit.per_thread(3).bytes, Some(334));
        let time_based = Limit {
            time_based: true,
            ..limit
        };
        assert!(
            !time_based.reached(Duration::from_secs(1), 1000),
            "bytes do not stop it"
        );
        assert!(time_based.reached(Duration::from_secs(2), 0));
        assert!(time_based.per_thread(3).time_based);
        let none = Limit {
            runtime: None,
            bytes: None,
            time_based: false,
        };
        assert!(none.validate().is_err());
        assert!(Limit::runtime(Duration::ZERO).validate().is_err());
        let size_only = Limit {
            runtime: None,
            bytes: Some(1000),
            time_based: true,
        };
        assert!(size_only.validate().is_err(), "time_based needs a runtime");
    }
}
