//! The I/O thread's loop: the one thread that drives the I/O state machine ([`IoThread`]).
//!
//! It receives commands, submits chains, waits on the commit queue, publishes and acknowledges
//! (`IoThread::step`) while there is work, and sleeps on the [`Doorbell`] while there is none.
//! It is the only thread that submits to or polls the commit queue, whose ring is bound to it
//! (`uring_io::CommitQueue`): a chain's completion is processed when this thread polls, so no
//! kernel work of a write ever runs on, or interrupts, a writer's thread (docs/design.md §4
//! "Submission").
//!
//! Idle, it spins on the command channel for [`IDLE_SPIN`] before it parks. A lone writer
//! wakes from its answer and queues its next write within that time, and the thread takes it
//! without a wake-up: one thread hand-off per put (the answer) instead of two. The
//! single-writer row of `cargo run --release -p infinitedb-bench` measures its puts/s beside
//! the device's QD1 commits. Under load the thread is never idle and never spins.
//!
//! Invariants:
//! - No command is stranded: every command (and every spare from the sealer) rings the
//!   doorbell after it is queued, and the thread looks at both channels after it announces
//!   that it parks (`Doorbell`), so it either sees the command or is woken. The idle thread
//!   sleeps until rung, or until its one timer (a failed spare segment's retry) is due, with
//!   no periodic wake: a missed wake-up would strand a command until the next one arrives,
//!   and the tests would hang.
//! - The state is dropped on this thread (after `IoThread::finish`), and with it the commit
//!   queue: a ring is closed by the thread it is bound to.

use std::time::{Duration, Instant};

use super::IoThread;
use crate::queue::Doorbell;

/// How long the idle I/O thread watches the command channel before it parks.
const IDLE_SPIN: Duration = Duration::from_micros(50);

/// The I/O thread's body: drive while there is work, spin briefly, then sleep on `doorbell`
/// while idle, until shut down and drained.
pub(crate) fn run(mut state: IoThread, doorbell: &Doorbell) {
    loop {
        let wake_at = loop {
            let progressed = state.step();
            if state.is_done() {
                state.finish();
                return;
            }
            if !progressed && state.queue.in_flight() == 0 {
                // Idle, or batches wait for a spare segment (its arrival rings).
                break state.next_spare_retry();
            }
        };
        if spin_for_command(&state) {
            continue;
        }
        doorbell.wait(wake_at, || state.has_input());
    }
}

/// Watches the channels for up to [`IDLE_SPIN`]; returns whether a command or spare arrived.
fn spin_for_command(state: &IoThread) -> bool {
    let until = Instant::now() + IDLE_SPIN;
    loop {
        for _ in 0..64 {
            if state.has_input() {
                return true;
            }
            std::hint::spin_loop();
        }
        if Instant::now() >= until {
            return false;
        }
    }
}
