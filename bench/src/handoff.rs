//! The thread hand-off ceiling: how many blocking hand-offs per second this machine's scheduler
//! allows, with no I/O and no engine work, so the engine's many-writer figure can be read
//! against what the CPU allows and not only against the device.
//!
//! Why: a durable `put` parks its thread until its group commit is durable, and the engine's
//! I/O thread then wakes it. With 64 writers on 2 vCPUs every put costs two context switches
//! and a futex wake whatever the engine does, and that cost alone caps the 64-writer row.
//!
//! Shape (the engine's, `engine/src/reply.rs`, without the engine): `numjobs` writer threads
//! each loop until the runtime ends: make a one-shot slot (a `parking_lot` mutex and condition
//! variable), queue it, wake the coordinator if it sleeps, park until answered, count one
//! operation and time it (queue to answer, into an HDR histogram like every other job). One
//! coordinator thread loops: wait until a request is queued, take every queued request as one
//! group, hold the group for `hold` (zero by default: the pure CPU ceiling; a non-zero hold
//! stands for the device's commit, e.g. the measured QD1 commit p50, and the coordinator sleeps
//! through it like a thread waiting on a flush), then answer the group as a tree: store every
//! answer (the last waiter's first, see `answer_group`), wake waiter 0; waiter `i`, once it
//! has its answer, wakes waiters `2i + 1` and `2i + 2`.
//!
//! Invariants, so no thread is stranded and shutdown cannot hang:
//! - a writer queues under the queue's lock and then wakes the coordinator if it was marked
//!   asleep; the coordinator re-checks the queue under the same lock before it sleeps, so a
//!   request is never left queued while the coordinator sleeps;
//! - the coordinator stops only when no writer is left and nothing is queued; a writer that
//!   queued is still counted (it is parked), so every queued request is answered;
//! - writers leave through a drop guard (panics included), and a request dropped unanswered
//!   (the coordinator unwinding) abandons its slot, which wakes its writer with an error; once
//!   the coordinator is gone, queuing fails instead of parking.

use std::sync::Arc;
use std::thread::{Builder, Scope, ScopedJoinHandle};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
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
        let slot = Arc::new(Slot::new());
        queue.push(Arc::clone(&slot))?;
        slot.wait()?;
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
    // Both vectors are reused from group to group: the coordinator allocates nothing in the
    // steady state, like an I/O thread draining a queue.
    let mut group = Vec::new();
    let mut slots = Vec::new();
    while queue.take(&mut group) {
        debug_assert!(!group.is_empty(), "take returns a non-empty group");
        if !hold.is_zero() {
            std::thread::sleep(hold);
        }
        counts.groups += 1;
        counts.records += group.len() as u64;
        answer_group(&mut group, &mut slots);
        debug_assert!(group.is_empty() && slots.is_empty());
    }
    counts
}

/// Answers every request of `group` (left empty), waking the writers as a tree: every answer
/// is stored first, then waiter 0 is woken; waiter `i` wakes `2i + 1` and `2i + 2`.
///
/// Answers are stored from the last waiter to the first, so a successor (always at a higher
/// index) holds its answer before its parent does. A writer that has not parked yet sees its
/// answer without being woken and wakes its successors at once; stored first to last, a
/// successor could be woken before its answer was there, park again, and never be woken (seen
/// here: 2 runs in 30 of 8 writers hung, and the arrival test below failed within 300 rounds).
fn answer_group(group: &mut Vec<Request>, slots: &mut Vec<Arc<Slot>>) {
    slots.clear();
    slots.extend(
        group
            .drain(..)
            .filter_map(|mut request| request.slot.take()),
    );
    for (index, slot) in slots.iter().enumerate().rev() {
        let successors = [
            slots.get(2 * index + 1).cloned(),
            slots.get(2 * index + 2).cloned(),
        ];
        *slot.state.lock() = SlotState::Answered { successors };
    }
    if let Some(first) = slots.first() {
        first.answered.notify_one();
    }
    slots.clear();
}

/// A writer's one-shot slot.
#[derive(Debug)]
struct Slot {
    state: Mutex<SlotState>,
    answered: Condvar,
}

#[derive(Debug)]
enum SlotState {
    Waiting,
    /// Answered; the waiters this one wakes once it has taken its answer.
    Answered {
        successors: [Option<Arc<Slot>>; 2],
    },
    /// The coordinator dropped the request unanswered.
    Abandoned,
    Taken,
}

impl Slot {
    fn new() -> Slot {
        Slot {
            state: Mutex::new(SlotState::Waiting),
            answered: Condvar::new(),
        }
    }

    /// Parks until answered, then wakes this waiter's successors in the tree.
    fn wait(&self) -> Result<()> {
        let mut state = self.state.lock();
        while matches!(*state, SlotState::Waiting) {
            self.answered.wait(&mut state);
        }
        let taken = std::mem::replace(&mut *state, SlotState::Taken);
        drop(state);
        match taken {
            SlotState::Answered { successors } => {
                for successor in successors.iter().flatten() {
                    successor.answered.notify_one();
                }
                Ok(())
            }
            SlotState::Waiting | SlotState::Abandoned | SlotState::Taken => {
                Err(BenchError::WorkerPanicked {
                    job: format!("{HANDOFF_RW} (its coordinator)"),
                })
            }
        }
    }
}

/// The coordinator's handle on one queued slot. Dropping it unanswered abandons the slot,
/// so its writer never waits for an answer that cannot come.
#[derive(Debug)]
struct Request {
    slot: Option<Arc<Slot>>,
}

impl Drop for Request {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            *slot.state.lock() = SlotState::Abandoned;
            slot.answered.notify_one();
        }
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
    requests: Vec<Request>,
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

    /// Queues `slot` and wakes the coordinator if it sleeps.
    fn push(&self, slot: Arc<Slot>) -> Result<()> {
        let mut state = self.state.lock();
        if state.coordinator_gone {
            return Err(BenchError::WorkerPanicked {
                job: format!("{HANDOFF_RW} (its coordinator)"),
            });
        }
        debug_assert!(state.writers_active > 0, "a queuing writer is counted");
        state.requests.push(Request { slot: Some(slot) });
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
    fn take(&self, group: &mut Vec<Request>) -> bool {
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
    fn a_group_wakes_every_waiter_through_the_tree() {
        // Goal: answering a group wakes every parked waiter, each through its parent, for
        // group sizes that fill the tree's last level partly and fully. Method: park N
        // threads on slots, answer them as one group, join them all.
        for count in [1_usize, 2, 3, 7, 64] {
            let slots: Vec<Arc<Slot>> = (0..count).map(|_| Arc::new(Slot::new())).collect();
            std::thread::scope(|scope| {
                let waiters: Vec<_> = slots
                    .iter()
                    .map(|slot| scope.spawn(move || slot.wait()))
                    .collect();
                std::thread::sleep(Duration::from_millis(20));
                let mut group: Vec<Request> = slots
                    .iter()
                    .map(|slot| Request {
                        slot: Some(Arc::clone(slot)),
                    })
                    .collect();
                answer_group(&mut group, &mut Vec::new());
                assert!(group.is_empty());
                for waiter in waiters {
                    assert!(waiter.join().unwrap().is_ok(), "group of {count}");
                }
            });
        }
    }

    #[test]
    fn writers_still_arriving_when_their_group_is_answered_are_all_woken() {
        // Goal: a waiter that is not parked yet when its group is answered (it sees its
        // answer at once and wakes its successors at once) strands no successor: a successor
        // must hold its answer before anyone can wake it. Method: 300 rounds of 7 waiters
        // started just before their group is answered, so some are answered mid-arrival;
        // a waiter still parked after 10 s fails the test instead of hanging it.
        for round in 0..300 {
            let slots: Vec<Arc<Slot>> = (0..7).map(|_| Arc::new(Slot::new())).collect();
            let waiters: Vec<_> = slots
                .iter()
                .map(|slot| {
                    let slot = Arc::clone(slot);
                    std::thread::spawn(move || slot.wait())
                })
                .collect();
            let mut group: Vec<Request> = slots
                .iter()
                .map(|slot| Request {
                    slot: Some(Arc::clone(slot)),
                })
                .collect();
            answer_group(&mut group, &mut Vec::new());
            let deadline = Instant::now() + Duration::from_secs(10);
            while !waiters.iter().all(std::thread::JoinHandle::is_finished) {
                assert!(
                    Instant::now() < deadline,
                    "round {round}: a waiter was stranded"
                );
                std::thread::sleep(Duration::from_micros(100));
            }
            for waiter in waiters {
                assert!(waiter.join().unwrap().is_ok());
            }
        }
    }

    #[test]
    fn a_dropped_request_and_a_gone_coordinator_release_writers() {
        // Goal: no writer can park forever: a request dropped unanswered wakes its writer
        // with an error, and once the coordinator is gone a push fails instead of queuing.
        // Method: park a writer, drop its request; then close the queue and push.
        let slot = Arc::new(Slot::new());
        let request = Request {
            slot: Some(Arc::clone(&slot)),
        };
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| slot.wait());
            std::thread::sleep(Duration::from_millis(10));
            drop(request);
            assert!(waiter.join().unwrap().is_err());
        });
        let queue = Queue::new(1);
        queue.close();
        assert!(queue.push(Arc::new(Slot::new())).is_err());
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
