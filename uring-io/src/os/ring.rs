//! `Ring`: the one place that pushes SQEs into an io_uring and enters the kernel. Everything
//! else builds entries (safe) and hands them here; the owner of the ring keeps each buffer and
//! timespec alive until its CQE is reaped.
//!
//! Invariants:
//! - A linked group of SQEs is pushed all or nothing (`push_multiple`), and a submission never
//!   ends in the middle of one: a chain is terminated by submission (liburing issue #769), so a
//!   half-pushed WRITE→FSYNC would lose its link.
//! - CQEs reaped while retrying a busy submit are kept in `backlog` and returned by the next
//!   `reap`: no completion is ever dropped. Rings are only built with `IORING_FEAT_NODROP`
//!   (checked by detection), so an overflowing CQ is buffered by the kernel and flushed as we
//!   keep reaping.
//! - With `DEFER_TASKRUN` completions are only posted when the submitting thread enters the
//!   kernel with `GETEVENTS`. Rings that defer task work are built with `TASKRUN_FLAG`, so the
//!   kernel raises `IORING_SQ_TASKRUN` whenever such work is pending: `reap` enters only when
//!   something is queued, task work is pending or the CQ overflowed, and otherwise just reads
//!   the CQ (no system call).
//! - One `io_uring_enter` per wait: [`Ring::wait_for`] submits what is queued, runs task work
//!   and sleeps until `min_complete` CQEs are posted (or the timeout), so a QD1 commit chain
//!   (WRITE→FSYNC) costs one submit and one wait, like `pwrite` + `fdatasync`.

use std::collections::VecDeque;
use std::io;
use std::time::Duration;

use io_uring::types::{SubmitArgs, Timespec};
use io_uring::{IoUring, squeue};

use super::errno_policy::{EnterDisposition, classify_enter};

/// How often a submit is retried on EINTR/EAGAIN/EBUSY before giving up (each EAGAIN sleeps
/// `SUBMIT_RETRY_PAUSE`, so about 1 s in the worst case).
const SUBMIT_RETRIES_MAX: u32 = 10_000;
/// Pause between retries of an `EAGAIN` submit (the kernel was short of memory).
const SUBMIT_RETRY_PAUSE: Duration = Duration::from_micros(100);

/// The ring flags detection settled on, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RingSetup {
    /// `SINGLE_ISSUER | DEFER_TASKRUN` (6.1+): completions are processed only when the owner
    /// thread waits, with no inter-processor interrupts. The ring is bound to one thread.
    SingleIssuerDeferTaskrun,
    /// `COOP_TASKRUN` (5.19+): task work runs at the next kernel entry, not by interrupt.
    CoopTaskrun,
    /// A plain ring.
    Plain,
}

impl RingSetup {
    /// All setups, in the order detection tries them.
    pub(crate) const PREFERENCE: [RingSetup; 3] = [
        RingSetup::SingleIssuerDeferTaskrun,
        RingSetup::CoopTaskrun,
        RingSetup::Plain,
    ];

    /// The flag names, for reasons and reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            RingSetup::SingleIssuerDeferTaskrun => "SINGLE_ISSUER|DEFER_TASKRUN",
            RingSetup::CoopTaskrun => "COOP_TASKRUN",
            RingSetup::Plain => "plain",
        }
    }
}

/// One reaped completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Completion {
    /// The SQE's `user_data`.
    pub user_data: u64,
    /// `cqe.res`: a byte count or a negative errno.
    pub result: i32,
}

/// The submission queue had no room for the whole group; submit (and reap) first.
#[derive(Debug)]
pub(crate) struct SubmissionQueueFull;

/// An io_uring instance with our retry and reaping policy.
pub(crate) struct Ring {
    uring: IoUring,
    setup: RingSetup,
    backlog: VecDeque<Completion>,
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("setup", &self.setup)
            .field("backlog", &self.backlog.len())
            .finish_non_exhaustive()
    }
}

impl Ring {
    /// Builds a ring with `sq_entries` submission slots and a completion queue of
    /// `cq_entries`. A single-issuer ring binds to the thread that builds it.
    pub(crate) fn new(setup: RingSetup, sq_entries: u32, cq_entries: u32) -> io::Result<Ring> {
        debug_assert!(cq_entries >= sq_entries);
        let mut builder = IoUring::builder();
        builder.setup_cqsize(cq_entries).setup_clamp();
        match setup {
            RingSetup::SingleIssuerDeferTaskrun => {
                builder
                    .setup_single_issuer()
                    .setup_defer_taskrun()
                    .setup_taskrun_flag();
            }
            RingSetup::CoopTaskrun => {
                builder.setup_coop_taskrun().setup_taskrun_flag();
            }
            RingSetup::Plain => {}
        }
        let uring = builder.build(sq_entries)?;
        Ok(Ring {
            uring,
            setup,
            backlog: VecDeque::new(),
        })
    }

    /// The setup flags this ring was built with.
    pub(crate) fn setup(&self) -> RingSetup {
        self.setup
    }

    /// Whether the kernel buffers completions instead of dropping them on CQ overflow.
    pub(crate) fn has_nodrop(&self) -> bool {
        self.uring.params().is_feature_nodrop()
    }

    /// Whether waits can carry a timeout (`IORING_ENTER_EXT_ARG`, 5.11+).
    pub(crate) fn has_ext_arg(&self) -> bool {
        self.uring.params().is_feature_ext_arg()
    }

    /// Free submission slots.
    pub(crate) fn free_slots(&mut self) -> usize {
        let submission = self.uring.submission();
        submission.capacity() - submission.len()
    }

    /// Registers `iovecs` as the ring's fixed buffers (`IORING_REGISTER_BUFFERS`), for
    /// `WRITE_FIXED`/`READ_FIXED` by index.
    ///
    /// # Safety
    /// Each iovec must describe memory that stays allocated (and is not handed to anyone else)
    /// for as long as this ring exists.
    pub(crate) unsafe fn register_buffers(&mut self, iovecs: &[libc::iovec]) -> io::Result<()> {
        // SAFETY: forwarded from this function's contract.
        unsafe { self.uring.submitter().register_buffers(iovecs) }
    }

    /// Pushes a group of SQEs (a linked chain, or independent requests) all or nothing.
    ///
    /// # Safety
    /// Every pointer in `entries` (buffers, timespecs) must stay valid, and every buffer the
    /// kernel writes into must not be read or written by anyone else, until the CQE carrying
    /// that entry's `user_data` has been reaped. File descriptors must stay open until then.
    pub(crate) unsafe fn push_group(
        &mut self,
        entries: &[squeue::Entry],
    ) -> Result<(), SubmissionQueueFull> {
        let mut submission = self.uring.submission();
        // SAFETY: the caller guarantees that each entry's memory and descriptors outlive its
        // completion (this function's `# Safety` contract); `push_multiple` copies the entries
        // into the ring all or nothing.
        unsafe { submission.push_multiple(entries) }.map_err(|_| SubmissionQueueFull)
    }

    /// SQEs pushed but not yet submitted.
    pub(crate) fn queued(&mut self) -> usize {
        self.uring.submission().len()
    }

    /// Submits everything pushed so far (no system call when nothing is queued). Retries
    /// EINTR/EAGAIN; on EBUSY reaps completions into the backlog first.
    pub(crate) fn submit(&mut self) -> io::Result<()> {
        if self.uring.submission().is_empty() {
            return Ok(());
        }
        self.enter_until_submitted()
    }

    /// Enters at least once, submitting everything queued; the crate's `submit` adds
    /// `GETEVENTS` when the kernel flags pending task work or a CQ overflow, so this also
    /// posts deferred completions and flushes the overflow list.
    fn enter_until_submitted(&mut self) -> io::Result<()> {
        let mut attempts = 0u32;
        loop {
            let error = match self.uring.submit() {
                Ok(_) if self.uring.submission().is_empty() => return Ok(()),
                Ok(_) => io::Error::from_raw_os_error(libc::EBUSY),
                Err(error) => error,
            };
            attempts += 1;
            self.after_enter_error(&error, attempts)?;
        }
    }

    /// Retry policy shared by `submit` and `wait`: Ok to try again, Err to give up.
    fn after_enter_error(&mut self, error: &io::Error, attempts: u32) -> io::Result<()> {
        let errno = error.raw_os_error().unwrap_or(libc::EIO);
        if attempts > SUBMIT_RETRIES_MAX {
            return Err(io::Error::from_raw_os_error(errno));
        }
        match classify_enter(errno) {
            EnterDisposition::Retry => {
                if errno == libc::EAGAIN {
                    std::thread::sleep(SUBMIT_RETRY_PAUSE);
                }
                Ok(())
            }
            EnterDisposition::ReapThenRetry => {
                self.drain_into_backlog();
                Ok(())
            }
            EnterDisposition::TimedOut => Ok(()),
            EnterDisposition::Fatal => Err(io::Error::from_raw_os_error(errno)),
        }
    }

    fn drain_into_backlog(&mut self) {
        let backlog = &mut self.backlog;
        for entry in self.uring.completion() {
            backlog.push_back(Completion {
                user_data: entry.user_data(),
                result: entry.result(),
            });
        }
    }

    /// Submits pending SQEs and appends every completion available now to `out`, without
    /// waiting. Enters the kernel only when SQEs are queued, task work is pending
    /// (`IORING_SQ_TASKRUN`) or the CQ overflowed; otherwise only reads the CQ.
    pub(crate) fn reap(&mut self, out: &mut Vec<Completion>) -> io::Result<()> {
        if self.needs_enter() {
            self.enter_until_submitted()?;
        }
        self.collect(out);
        Ok(())
    }

    /// Appends the completions already posted to the CQ (and the backlog) to `out`, without
    /// entering the kernel: on a ring that defers task work, completions still pending as task
    /// work are not seen (see [`Ring::reap`]).
    pub(crate) fn collect(&mut self, out: &mut Vec<Completion>) {
        self.drain_into_backlog();
        out.extend(self.backlog.drain(..));
    }

    /// Whether a non-blocking reap must enter the kernel to see every completion.
    fn needs_enter(&mut self) -> bool {
        let submission = self.uring.submission();
        let flagged = submission.taskrun() || submission.cq_overflow();
        let queued = !submission.is_empty();
        // A ring without TASKRUN_FLAG (a plain one) posts completions without our help.
        queued || flagged
    }

    /// Submits pending SQEs and blocks until at least one completion is available, `timeout`
    /// passes (`None`: no limit), or a signal arrives (see [`Ring::wait_for`]).
    pub(crate) fn wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.wait_for(1, timeout)
    }

    /// Submits pending SQEs and blocks, in one `io_uring_enter`, until at least
    /// `min_complete` completions are in the CQ, `timeout` passes (`None`: no limit), or a
    /// signal arrives. Returns without error in all three cases; the caller reaps and
    /// re-checks its own clock. Deferred task work runs inside the wait, so the CQEs it posts
    /// are visible to the next `reap` without another system call.
    pub(crate) fn wait_for(
        &mut self,
        min_complete: usize,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        debug_assert!(min_complete > 0, "a wait must wait for something");
        if !self.backlog.is_empty() {
            return self.submit();
        }
        let entered = match timeout {
            None => self.uring.submit_and_wait(min_complete),
            Some(timeout) => {
                let timespec = Timespec::from(timeout);
                let args = SubmitArgs::new().timespec(&timespec);
                self.uring.submitter().submit_with_args(min_complete, &args)
            }
        };
        match entered {
            Ok(_) => Ok(()),
            Err(error) => self.after_enter_error(&error, 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use io_uring::opcode;

    #[test]
    fn nops_round_trip_on_every_setup() {
        // Goal: each setup detection may choose works for push/submit/wait/reap. Method: build
        // the ring, push a group of NOPs, wait, and check every user_data comes back once.
        for setup in RingSetup::PREFERENCE {
            let Ok(mut ring) = Ring::new(setup, 8, 16) else {
                eprintln!("SKIP: io_uring setup {} refused here", setup.name());
                continue;
            };
            let entries: Vec<_> = (0..3u64)
                .map(|index| opcode::Nop::new().build().user_data(index))
                .collect();
            // SAFETY: NOPs reference no memory and no descriptor.
            unsafe { ring.push_group(&entries) }.unwrap();
            let mut completions = Vec::new();
            while completions.len() < 3 {
                ring.wait(Some(Duration::from_secs(5))).unwrap();
                ring.reap(&mut completions).unwrap();
            }
            let mut seen: Vec<u64> = completions.iter().map(|c| c.user_data).collect();
            seen.sort_unstable();
            assert_eq!(seen, vec![0, 1, 2], "setup {}", setup.name());
            assert!(completions.iter().all(|c| c.result == 0));
        }
    }

    /// Pushes three 1-byte reads (user_data 0..3) of `pipe` into `bufs`, then starts a thread
    /// writing one byte every 2 ms, so the CQEs arrive one by one as task work. (Timeout SQEs
    /// would not do: a completed IORING_OP_TIMEOUT wakes every waiter whatever its
    /// `min_complete`.) The caller keeps `pipe` and `bufs` until it has reaped all three.
    fn push_pipe_reads(
        ring: &mut Ring,
        pipe: &std::io::PipeReader,
        bufs: &mut [[u8; 1]; 3],
        writer: std::io::PipeWriter,
    ) -> std::thread::JoinHandle<()> {
        use std::io::Write;
        use std::os::fd::AsRawFd;
        let fd = io_uring::types::Fd(pipe.as_raw_fd());
        let entries: Vec<_> = bufs
            .iter_mut()
            .zip(0u64..)
            .map(|(buf, index)| {
                opcode::Read::new(fd, buf.as_mut_ptr(), 1)
                    .build()
                    .user_data(index)
            })
            .collect();
        // SAFETY: `pipe` and `bufs` are borrowed from the caller, which reaps all three CQEs
        // before dropping them.
        unsafe { ring.push_group(&entries) }.unwrap();
        ring.submit().unwrap();
        let mut writer = writer;
        std::thread::spawn(move || {
            for byte in [1u8, 2, 3] {
                std::thread::sleep(Duration::from_millis(2));
                writer.write_all(&[byte]).unwrap();
            }
        })
    }

    #[test]
    fn wait_for_collects_every_completion_it_asked_for() {
        // Goal: one `wait_for(n)` returns only once n CQEs are posted, so the CQ can then be
        // read without entering the kernel (this is what keeps a commit at one wait). Method:
        // three pipe reads fed one byte every 2 ms; wait_for(3) with a 5 s cap, then `collect`
        // (no system call) must see all three, on every setup.
        for setup in RingSetup::PREFERENCE {
            let Ok(mut ring) = Ring::new(setup, 8, 16) else {
                eprintln!("SKIP: io_uring setup {} refused here", setup.name());
                continue;
            };
            let (reader, writer) = std::io::pipe().unwrap();
            let mut bufs = [[0u8; 1]; 3];
            let feeder = push_pipe_reads(&mut ring, &reader, &mut bufs, writer);
            ring.wait_for(3, Some(Duration::from_secs(5))).unwrap();
            let mut completions = Vec::new();
            ring.collect(&mut completions);
            assert_eq!(completions.len(), 3, "setup {}", setup.name());
            assert!(completions.iter().all(|c| c.result == 1));
            feeder.join().unwrap();
        }
    }

    #[test]
    fn a_non_blocking_reap_sees_completions_left_as_task_work() {
        // Goal: `reap` skips the kernel only when nothing is pending: completions a deferred-
        // task-work ring holds back (flagged by IORING_SQ_TASKRUN) are still found. Method:
        // three pipe reads fed one byte every 2 ms; sleep well past them without entering the
        // ring, then non-blocking reaps must return all three, on every setup.
        for setup in RingSetup::PREFERENCE {
            let Ok(mut ring) = Ring::new(setup, 8, 16) else {
                eprintln!("SKIP: io_uring setup {} refused here", setup.name());
                continue;
            };
            let (reader, writer) = std::io::pipe().unwrap();
            let mut bufs = [[0u8; 1]; 3];
            let feeder = push_pipe_reads(&mut ring, &reader, &mut bufs, writer);
            assert_eq!(ring.queued(), 0);
            feeder.join().unwrap();
            let mut completions = Vec::new();
            for _ in 0..500 {
                std::thread::sleep(Duration::from_millis(10));
                ring.reap(&mut completions).unwrap();
                if completions.len() == 3 {
                    break;
                }
            }
            assert_eq!(completions.len(), 3, "setup {}", setup.name());
            let mut seen: Vec<u8> = bufs.iter().map(|buf| buf[0]).collect();
            seen.sort_unstable();
            assert_eq!(seen, vec![1, 2, 3]);
        }
    }

    #[test]
    fn a_wait_with_timeout_returns_when_nothing_completes() {
        // Goal: a timed wait on an idle ring returns (ETIME is not an error). Method: wait 1 ms
        // with nothing in flight and check no completion appears.
        let Ok(mut ring) = Ring::new(RingSetup::Plain, 4, 8) else {
            eprintln!("SKIP: io_uring unavailable");
            return;
        };
        ring.wait(Some(Duration::from_millis(1))).unwrap();
        let mut completions = Vec::new();
        ring.reap(&mut completions).unwrap();
        assert!(completions.is_empty());
    }
}
