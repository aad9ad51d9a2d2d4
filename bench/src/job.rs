//! What every job shares: when it stops ([`Limit`]) and its optional progress bar
//! ([`Progress`], drawn on stderr only when stderr is a terminal, whatever the output format,
//! so the report on stdout stays clean and a redirected stderr stays quiet). A run of several
//! jobs (the suite) announces each as it starts under a [`Plan`]: "job k of n: name,
//! elapsed, ETA".

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

/// A progress spinner on stderr with the job's name, operation count and rate; inert when
/// stderr is not a terminal. Cloning shares the bar, so worker threads can count.
#[derive(Clone, Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar for `job` if `enabled` and stderr is a terminal; under a [`Plan`] it is the
    /// plan's next job, announced first.
    pub fn start(job: &str, enabled: bool) -> Progress {
        if !enabled || !std::io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        if let Some(line) = Plan::next_job(job) {
            eprintln!("{line}");
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

/// The jobs of a run still to come, for the "job k of n" lines: while a plan is active (from
/// [`Plan::begin`] until its guard drops; one at a time, process-wide) each [`Progress::start`]
/// that draws is its next job.
#[derive(Debug)]
pub struct Plan {
    /// Expected duration of each job, in order.
    expected: Vec<Duration>,
    /// Jobs started so far.
    started: usize,
    /// When the plan began.
    begin: Instant,
}

/// The active plan, if any.
static PLAN: Mutex<Option<Plan>> = Mutex::new(None);

/// Ends the active plan when dropped.
#[derive(Debug)]
#[must_use = "the plan ends when its guard drops"]
pub struct PlanGuard(());

impl Drop for PlanGuard {
    fn drop(&mut self) {
        if let Ok(mut plan) = PLAN.lock() {
            *plan = None;
        }
    }
}

impl Plan {
    /// Makes `expected` (each job's expected duration, in the order their bars start) the
    /// active plan until the guard drops.
    pub fn begin(expected: Vec<Duration>) -> PlanGuard {
        if let Ok(mut plan) = PLAN.lock() {
            *plan = Some(Plan {
                expected,
                started: 0,
                begin: Instant::now(),
            });
        }
        PlanGuard(())
    }

    /// Counts job `name` as started; its announcement if a plan is active.
    fn next_job(name: &str) -> Option<String> {
        let mut plan = PLAN.lock().ok()?;
        let plan = plan.as_mut()?;
        plan.started += 1;
        Some(plan.line(name, plan.begin.elapsed()))
    }

    /// "job k of n: name, elapsed 12s, ETA 40s" for the `started`-th job at `elapsed`.
    fn line(&self, name: &str, elapsed: Duration) -> String {
        let total = self.expected.len().max(self.started);
        format!(
            "job {} of {total}: {name}, elapsed {}s, ETA {}s",
            self.started,
            elapsed.as_secs(),
            self.eta(elapsed).as_secs()
        )
    }

    /// The time the jobs not yet done should take: their expected durations, scaled by how
    /// long the done ones took against theirs.
    fn eta(&self, elapsed: Duration) -> Duration {
        let done = self.started.saturating_sub(1).min(self.expected.len());
        let (done, remaining) = self.expected.split_at(done);
        let sum = |durations: &[Duration]| durations.iter().sum::<Duration>();
        let (done, remaining) = (sum(done), sum(remaining));
        if done.is_zero() {
            remaining
        } else {
            remaining.mul_f64(elapsed.as_secs_f64() / done.as_secs_f64())
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
    fn a_plan_announces_each_job_with_an_eta() {
        // Goal: the "job k of n" line counts jobs and scales the ETA by the pace so far.
        // Method: a plan of 10 s, 20 s and 30 s jobs; the second starting after 20 s (twice
        // the expected 10 s) has 100 s left, the first has the plan's 60 s.
        let mut plan = Plan {
            expected: vec![
                Duration::from_secs(10),
                Duration::from_secs(20),
                Duration::from_secs(30),
            ],
            started: 1,
            begin: Instant::now(),
        };
        assert_eq!(
            plan.line("raw commits", Duration::ZERO),
            "job 1 of 3: raw commits, elapsed 0s, ETA 60s"
        );
        plan.started = 2;
        assert_eq!(
            plan.line("fio commits", Duration::from_secs(20)),
            "job 2 of 3: fio commits, elapsed 20s, ETA 100s"
        );
        plan.started = 4;
        assert!(
            plan.line("extra", Duration::from_secs(90))
                .starts_with("job 4 of 4")
        );
    }

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
