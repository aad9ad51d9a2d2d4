//! The thread hand-off ceiling: how many blocking hand-offs per second this machine's scheduler
//! allows, with no I/O and no engine work, so the engine's many-writer figure can be read
//! against what the CPU allows and not only against the device.
//!
//! Why: a durable `put` parks its thread until its group commit is durable, and the engine's
//! I/O thread then wakes it. With 64 writers on 2 vCPUs every put costs two context switches
//! and a futex wake whatever the engine does, and that cost alone caps the 64-writer row.
//!
//! Shape: the engine's own one-shot replies and group wake-up (`infinitedb::reply`), without
//! the rest of the engine. `numjobs` writer threads each loop until the runtime ends: make a
//! reply pair, queue the reply, wake the coordinator if it
//! sleeps, park on the answer, count one operation and time it (queue to answer, into an HDR
//! histogram like every other job). One coordinator thread loops: wait until a request is
//! queued, take every queued request as one group, hold the group for `hold` (zero by default:
//! the pure CPU ceiling; a non-zero hold stands for the device's commit, e.g. the measured QD1
//! commit p50, and the coordinator sleeps through it like a thread waiting on a flush), then
//! answer the group with the engine's `send_all`, which wakes it as a tree.
//!
//! Invariants, so no thread is stranded and shutdown cannot hang:
//! - a writer queues under the queue's lock and then wakes the coordinator if it was marked
//!   asleep; the coordinator re-checks the queue under the same lock before it sleeps, so a
//!   request is never left queued while the coordinator sleeps;
//! - the coordinator stops only when no writer is left and nothing is queued; a writer that
//!   queued is still counted (it is parked), so every queued request is answered;
//! - writers leave through a drop guard (panics included), and a reply dropped unanswered
//!   (the coordinator unwinding) wakes its writer with no answer, an error here; once the
//!   coordinator is gone, queuing fails instead of parking.

use std::thread::{Builder, Scope, ScopedJoinHandle};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use infinitedb::reply::{Reply, reply_pair, send_all};
use parking_lot::{Condvar, Mutex};

use crate::error::{BenchError, Result};
use crate::job::Progress;
use crate::report::{
    HandoffFigures, JobReport, JobShape, Measurement, latency_histogram, record_latency,
};

/// The `--rw` name of the hand-off ceiling.
pub const HANDOFF_RW: &str = "handoff";

/// Most writer threads a hand-off job runs (the engine jobs' `--numjobs` limit).
pub const HANDOFF_THREADS_MAX: u32 = 1024;

/// Longest hold a hand-off job accepts: far above any device commit worth mimicking.
pub const HANDOFF_HOLD_MAX: Duration = Duration::from_secs(1);

/// One hand-off ceiling job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandoffJob {
    /// Writer threads (each one blocking hand-off at a time).
    pub numjobs: u32,
    /// How long writers start new hand-offs; the job ends when the last one is answered.
    pub runtime: Duration,
    /// How long the coordinator holds each group before answering it (zero: pure CPU).
    pub hold: Duration,
}

impl HandoffJob {
    fn validate(&self) -> Result<()> {
        if self.numjobs == 0 || self.numjobs > HANDOFF_THREADS_MAX {
            return Err(BenchError::invalid(format!(
                "--numjobs must be 1..={HANDOFF_THREADS_MAX}"
            )));
        }
        if self.runtime.is_zero() {
            return Err(BenchError::invalid("--runtime must be positive"));
        }
        if self.hold > HANDOFF_HOLD_MAX {
            return Err(BenchError::invalid(format!(
                "--hold must be at most {} s",
                HANDOFF_HOLD_MAX.as_secs_f64()
            )));
        }
        Ok(())
    }
}

/// What a hand-off job measured.
#[derive(Debug)]
pub struct HandoffRun {
    /// Hand-offs (ops), no bytes, latency from queuing to the answer.
    pub measurement: Measurement,
    /// Groups and their mean size.
    pub figures: HandoffFigures,
}

impl HandoffRun {
    /// The job's report, shaped `shape`.
    pub fn report(&self, shape: JobShape) -> JobReport {
        JobReport::new(shape, &self.measurement, None).with_handoff(Some(self.figures.clone()))
    }
}

/// The report shape of a hand-off job named `name`: no payload, one hand-off in flight per
/// thread, no durability.
pub fn handoff_shape(name: &str, job: &HandoffJob) -> JobShape {
    JobShape {
        name: name.to_string(),
        rw: HANDOFF_RW.to_string(),
        bs_bytes: 0,
        numjobs: job.numjobs,
        iodepth: 1,
        durability: None,
    }
}

/// Runs `job`: `numjobs` writers and one coordinator until the runtime ends and every
/// queued hand-off is answered.
///
/// # Errors
/// [`BenchError::InvalidJob`]; [`BenchError::ThreadSpawn`] when a thread cannot be started;
/// [`BenchError::WorkerPanicked`] when a thread panicked (a bug).
pub fn run(job: &HandoffJob, progress: &Progress) -> Result<HandoffRun> {
    job.validate()?;
    let queue = Queue::new(job.numjobs);
    let begin = Instant::now();
    let (counts, writers) = std::thread::scope(|scope| run_threads(scope, &queue, job, progress))?;
    let elapsed = begin.elapsed();
    let mut measurement = Measurement {
        ops: 0,
        bytes: 0,
        elapsed,
        latency_ns: latency_histogram()?,
    };
    for writer in writers {
        measurement.ops += writer.ops;
        measurement
            .latency_ns
            .add(&writer.latency_ns)
            .map_err(|error| BenchError::Histogram {
                detail: error.to_string(),
            })?;
    }
    debug_assert_eq!(
        counts.records, measurement.ops,
        "every answered hand-off is counted once by its writer"
    );
    debug_assert!(counts.groups <= counts.records, "a group holds a request");
    Ok(HandoffRun {
        measurement,
        figures: HandoffFigures {
            groups: counts.groups,
            records_per_group: if counts.groups > 0 {
                counts.records as f64 / counts.groups as f64
            } else {
                0.0
            },
            hold_us: job.hold.as_secs_f64() * 1e6,
        },
    })
}

/// Starts the coordinator and the writers in `scope` and joins them all.
fn run_threads<'scope>(
    scope: &'scope Scope<'scope, '_>,
    queue: &'scope Queue,
    job: &'scope HandoffJob,
    progress: &'scope Progress,
) -> Result<(GroupCounts, Vec<WriterResult>)> {
    let coordinator = Builder::new()
        .name("handoff-coordinator".to_string())
        .spawn_scoped(scope, move || run_coordinator(queue, job.hold))
        .map_err(|source| BenchError::ThreadSpawn {
            job: HANDOFF_RW.to_string(),
            source,
        })?;
    let begin = Instant::now();
    let mut handles: Vec<ScopedJoinHandle<'scope, Result<WriterResult>>> = Vec::new();
    let mut spawn_error = None;
    for writer in 0..job.numjobs {
        let progress = progress.clone();
        let spawned = Builder::new()
            .name(format!("handoff-writer-{writer}"))
            .spawn_scoped(scope, move || {
                run_writer(queue, begin, job.runtime, &progress)
            });
        match spawned {
            Ok(handle) => handles.push(handle),
            Err(source) => {
                // The writers that never started leave now, or the coordinator would wait
                // for them forever.
                queue.retire(job.numjobs - writer);
                spawn_error = Some(BenchError::ThreadSpawn {
                    job: HANDOFF_RW.to_string(),
                    source,
                });
                break;
            }
        }
    }
    let panicked = || BenchError::WorkerPanicked {
        job: HANDOFF_RW.to_string(),
    };
    let writers: Vec<Result<WriterResult>> = handles
        .into_iter()
        .map(|handle| handle.join().unwrap_or_else(|_| Err(panicked())))
        .collect();
    let counts = coordinator.join().map_err(|_| panicked())?;
    if let Some(error) = spawn_error {
        return Err(error);
    }
    let writers = writers.into_iter().collect::<Result<Vec<_>>>()?;
    Ok((counts, writers))
}

/// One writer's count and latencies.
struct WriterResult {
    ops: u64,
    latency_ns: Histogram<u64>,
}

/// A writer: one blocking hand-off at a time until `runtime` has passed since `begin`.
fn run_writer(
    queue: &Queue,
    begin: Instant,
    runtime: Duration,
    progress: &Progress,
) -> Result<WriterResult> {
    // First, so the writer leaves the queue's count however this function ends.
    let _retire = RetireOnDrop { queue };
    let mut result = WriterResult {
        ops: 0,
        latency_ns: latency_histogram()?,
    };
    while begin.elapsed() < runtime {
        let started = Instant::now();
        let (reply, answer) = reply_pair::<()>();
        queue.push(reply)?;
        answer.recv().ok_or_else(coordinator_gone)?;
        record_latency(&mut result.latency_ns, started.elapsed());
        result.ops += 1;
        progress.add(1);
    }
    Ok(result)
}

/// Groups the coordinator answered and the records in them.
#[derive(Clone, Copy, Debug, Default)]
struct GroupCounts {
    groups: u64,
    records: u64,
}

/// The coordinator: take every queued request as one group, hold it, answer it, until no
/// writer is left.
fn run_coordinator(queue: &Queue, hold: Duration) -> GroupCounts {
    // However this ends, whatever is still queued is abandoned and later pushes fail.
    let _close = CloseOnDrop { queue };
    let mut counts = GroupCounts::default();
    let mut group = Vec::new();
    while queue.take(&mut group) {
        debug_assert!(!group.is_empty(), "take returns a non-empty group");
        if !hold.is_zero() {
            std::thread::sleep(hold);
        }
        counts.groups += 1;
        counts.records += group.len() as u64;
        send_all(group.drain(..).map(|reply| (reply, ())).collect());
    }
    counts
}

/// A writer's error when its reply was dropped unanswered or the queue closed: the
/// coordinator is gone (it panicked).
fn coordinator_gone() -> BenchError {
    BenchError::WorkerPanicked {
        job: format!("{HANDOFF_RW} (its coordinator)"),
    }
}

/// The queue between writers and the coordinator.
#[derive(Debug)]
struct Queue {
    state: Mutex<QueueState>,
    /// Signalled when a request is queued while the coordinator sleeps, or the last writer
    /// leaves.
    requested: Condvar,
}

#[derive(Debug)]
struct QueueState {
    requests: Vec<Reply<()>>,
    /// Writers that have not left yet (counted from the start, so the coordinator cannot
    /// finish before they begin).
    writers_active: u32,
    coordinator_sleeping: bool,
    coordinator_gone: bool,
}

impl Queue {
    fn new(writers: u32) -> Queue {
        Queue {
            state: Mutex::new(QueueState {
                requests: Vec::with_capacity(writers as usize),
                writers_active: writers,
                coordinator_sleeping: false,
                coordinator_gone: false,
            }),
            requested: Condvar::new(),
        }
    }

    /// Queues `reply` and wakes the coordinator if it sleeps.
    fn push(&self, reply: Reply<()>) -> Result<()> {
        let mut state = self.state.lock();
        if state.coordinator_gone {
            return Err(coordinator_gone());
        }
        debug_assert!(state.writers_active > 0, "a queuing writer is counted");
        state.requests.push(reply);
        // Only the first writer to find the coordinator asleep wakes it; the others see it
        // marked awake, and it takes their requests with the first one's.
        let wake = std::mem::replace(&mut state.coordinator_sleeping, false);
        drop(state);
        if wake {
            self.requested.notify_one();
        }
        Ok(())
    }

    /// `count` writers leave; when the last one does, the coordinator is woken to finish.
    fn retire(&self, count: u32) {
        let mut state = self.state.lock();
        debug_assert!(state.writers_active >= count, "a writer leaves once");
        state.writers_active = state.writers_active.saturating_sub(count);
        let last = state.writers_active == 0;
        drop(state);
        if last {
            self.requested.notify_one();
        }
    }

    /// Blocks until requests are queued and moves them all into `group` (which must be
    /// empty); `false` once no writer is left and nothing is queued.
    fn take(&self, group: &mut Vec<Reply<()>>) -> bool {
        debug_assert!(group.is_empty(), "the previous group was answered");
        let mut state = self.state.lock();
        loop {
            if !state.requests.is_empty() {
                std::mem::swap(&mut state.requests, group);
                return true;
            }
            if state.writers_active == 0 {
                return false;
            }
            // Checked under the lock just above: a writer that queues from here on finds
            // the flag set and wakes us.
            state.coordinator_sleeping = true;
            self.requested.wait(&mut state);
            state.coordinator_sleeping = false;
        }
    }

    /// The coordinator leaves: later pushes fail, and whatever is queued is abandoned.
    fn close(&self) {
        let abandoned = {
            let mut state = self.state.lock();
            state.coordinator_gone = true;
            std::mem::take(&mut state.requests)
        };
        // Dropped outside the queue's lock: each drop wakes its writer.
        drop(abandoned);
    }
}

/// Retires one writer when dropped.
struct RetireOnDrop<'queue> {
    queue: &'queue Queue,
}

impl Drop for RetireOnDrop<'_> {
    fn drop(&mut self) {
        self.queue.retire(1);
    }
}

/// Closes the queue when dropped (the coordinator's exit, normal or not).
struct CloseOnDrop<'queue> {
    queue: &'queue Queue,
}

impl Drop for CloseOnDrop<'_> {
    fn drop(&mut self) {
        self.queue.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_run_counts_every_hand_off_once() {
        // Goal: a pure-CPU run with several writers ends, and every hand-off is counted, timed
        // and in exactly one group. Method: 8 writers for 200 ms, no hold.
        let job = HandoffJob {
            numjobs: 8,
            runtime: Duration::from_millis(200),
            hold: Duration::ZERO,
        };
        let run = run(&job, &Progress::hidden()).unwrap();
        let measurement = &run.measurement;
        assert!(measurement.ops > 0);
        assert_eq!(measurement.latency_ns.len(), measurement.ops);
        assert_eq!(measurement.bytes, 0);
        assert!(measurement.elapsed >= job.runtime);
        let figures = &run.figures;
        assert!(figures.groups > 0 && figures.groups <= measurement.ops);
        assert!(
            (1.0..=8.0).contains(&figures.records_per_group),
            "{figures:?}"
        );
        let expected = measurement.ops as f64 / figures.groups as f64;
        assert!((figures.records_per_group - expected).abs() < 1e-9);
        assert_eq!(figures.hold_us, 0.0);
    }

    #[test]
    fn groups_form_while_the_coordinator_holds() {
        // Goal: with a hold, writers queue while the coordinator holds a group, so groups
        // hold more than one request; one group never exceeds the writer count. Method: 8
        // writers, 2 ms hold, 200 ms (about 100 groups: the first may be a lone writer, the
        // rest gather whoever queued during the hold).
        let job = HandoffJob {
            numjobs: 8,
            runtime: Duration::from_millis(200),
            hold: Duration::from_millis(2),
        };
        let run = run(&job, &Progress::hidden()).unwrap();
        let figures = &run.figures;
        assert!(figures.records_per_group > 1.0, "{figures:?}");
        assert!(figures.records_per_group <= 8.0, "{figures:?}");
        assert_eq!(run.measurement.latency_ns.len(), run.measurement.ops);
        assert!(
            run.measurement.latency_ns.min() >= 2_000_000,
            "every hand-off waits out at least one hold"
        );
        assert_eq!(figures.hold_us, 2000.0);
    }

    #[test]
    fn a_single_writer_hands_off_alone() {
        // Goal: with one writer every group is that writer's one request. Method: 1 writer
        // for 100 ms.
        let job = HandoffJob {
            numjobs: 1,
            runtime: Duration::from_millis(100),
            hold: Duration::ZERO,
        };
        let run = run(&job, &Progress::hidden()).unwrap();
        assert!(run.measurement.ops > 0);
        assert_eq!(run.figures.groups, run.measurement.ops);
        assert_eq!(run.figures.records_per_group, 1.0);
    }

    #[test]
    fn a_dropped_request_and_a_gone_coordinator_release_writers() {
        // Goal: no writer can park forever: a queued request abandoned when the coordinator
        // leaves wakes its writer with no answer, and once the coordinator is gone a push
        // fails instead of queuing. Method: park a writer on a queued reply, close the queue;
        // then push again. (The tree wake-up itself is tested in the engine's `reply`.)
        let queue = Queue::new(2);
        let (reply, answer) = reply_pair::<()>();
        queue.push(reply).unwrap();
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| answer.recv());
            std::thread::sleep(Duration::from_millis(10));
            queue.close();
            assert_eq!(waiter.join().unwrap(), None);
        });
        assert!(queue.push(reply_pair::<()>().0).is_err());
        queue.retire(1);
        queue.retire(1);
        assert!(
            !queue.take(&mut Vec::new()),
            "no writer left, nothing queued"
        );
    }

    #[test]
    fn bad_jobs_are_refused() {
        // Goal: thread count, runtime and hold are bounded. Method: one bad value each.
        let good = HandoffJob {
            numjobs: 4,
            runtime: Duration::from_millis(10),
            hold: Duration::ZERO,
        };
        assert!(good.validate().is_ok());
        for bad in [
            HandoffJob { numjobs: 0, ..good },
            HandoffJob {
                numjobs: HANDOFF_THREADS_MAX + 1,
                ..good
            },
            HandoffJob {
                runtime: Duration::ZERO,
                ..good
            },
            HandoffJob {
                hold: HANDOFF_HOLD_MAX + Duration::from_nanos(1),
                ..good
            },
        ] {
            assert!(run(&bad, &Progress::hidden()).is_err(), "{bad:?}");
        }
    }
}
