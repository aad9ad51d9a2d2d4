//! `Ring`: the one place that pushes SQEs into an io_uring and enters the kernel. Everything
//! else builds entries (safe) and hands them here; the owner of the ring keeps each buffer and
//! timespec alive until its CQE is reaped (STYLE.md §4).
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
//!   kernel with `GETEVENTS`; `reap` therefore always enters (cheaply) on such rings.

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

    /// Whether only one thread may ever submit to such a ring.
    pub(crate) fn is_single_issuer(self) -> bool {
        self == RingSetup::SingleIssuerDeferTaskrun
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
    /// `cq_entries`. With `disabled`, a single-issuer ring is created `R_DISABLED` and binds to
    /// the thread that later calls [`Ring::enable`] (so it may be built on one thread and used
    /// on another).
    pub(crate) fn new(
        setup: RingSetup,
        sq_entries: u32,
        cq_entries: u32,
        disabled: bool,
    ) -> io::Result<Ring> {
        debug_assert!(cq_entries >= sq_entries);
        let mut builder = IoUring::builder();
        builder.setup_cqsize(cq_entries).setup_clamp();
        match setup {
            RingSetup::SingleIssuerDeferTaskrun => {
                builder.setup_single_issuer().setup_defer_taskrun();
                if disabled {
                    builder.setup_r_disabled();
                }
            }
            RingSetup::CoopTaskrun => {
                builder.setup_coop_taskrun();
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

    /// Enables a ring created disabled, binding a single-issuer ring to the calling thread.
    pub(crate) fn enable(&self) -> io::Result<()> {
        self.uring.submitter().register_enable_rings()
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

    /// Submits everything pushed so far. Retries EINTR/EAGAIN; on EBUSY reaps completions into
    /// the backlog first.
    pub(crate) fn submit(&mut self) -> io::Result<()> {
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
    /// waiting.
    pub(crate) fn reap(&mut self, out: &mut Vec<Completion>) -> io::Result<()> {
        self.submit()?;
        if self.setup == RingSetup::SingleIssuerDeferTaskrun {
            self.run_deferred_task_work()?;
        }
        self.drain_into_backlog();
        out.extend(self.backlog.drain(..));
        Ok(())
    }

    /// Enters with `GETEVENTS` and `min_complete = 0`: runs deferred task work, which posts
    /// completions to the CQ, without blocking.
    fn run_deferred_task_work(&mut self) -> io::Result<()> {
        let flags = io_uring::EnterFlags::GETEVENTS.bits();
        let mut attempts = 0u32;
        loop {
            // SAFETY: no SQEs are submitted (`to_submit = 0`) and no argument pointer is passed
            // (`arg = None`), so the kernel reads no memory of ours; this only runs task work.
            let entered = unsafe {
                self.uring
                    .submitter()
                    .enter::<libc::sigset_t>(0, 0, flags, None)
            };
            match entered {
                Ok(_) => return Ok(()),
                Err(error) => {
                    attempts += 1;
                    self.after_enter_error(&error, attempts)?;
                }
            }
        }
    }

    /// Submits pending SQEs and blocks until at least one completion is available, `timeout`
    /// passes (`None`: no limit), or a signal arrives. Returns without error in all three cases;
    /// the caller reaps and re-checks its own clock.
    pub(crate) fn wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        if !self.backlog.is_empty() {
            return self.submit();
        }
        let entered = match timeout {
            None => self.uring.submit_and_wait(1),
            Some(timeout) => {
                let timespec = Timespec::from(timeout);
                let args = SubmitArgs::new().timespec(&timespec);
                self.uring.submitter().submit_with_args(1, &args)
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
            let Ok(mut ring) = Ring::new(setup, 8, 16, false) else {
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

    #[test]
    fn a_wait_with_timeout_returns_when_nothing_completes() {
        // Goal: a timed wait on an idle ring returns (ETIME is not an error). Method: wait 1 ms
        // with nothing in flight and check no completion appears.
        let Ok(mut ring) = Ring::new(RingSetup::Plain, 4, 8, false) else {
            eprintln!("SKIP: io_uring unavailable");
            return;
        };
        ring.wait(Some(Duration::from_millis(1))).unwrap();
        let mut completions = Vec::new();
        ring.reap(&mut completions).unwrap();
        assert!(completions.is_empty());
    }
}
