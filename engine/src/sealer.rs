//! The sealer thread: turns frozen memtables into blocks off the commit path, and prepares
//! spare logs (docs/design.md §6 "Seal").
//!
//! A seal, after the I/O thread's switch (step 1: memtable frozen, space moved to its spare):
//! 2. write the block to a new file, durably (`BlockFile::write`; `CreateNew` syncs the dir);
//! 3. append `AddBlock + RetireSegment` to the manifest as one durable batch;
//! 4. publish the new view (the frozen memtable leaves, the block joins, in one swap), and
//!    answer the `flush` callers;
//! 5. only now recycle the old segment: rename it to a new segment id, write its new header,
//!    name it in the manifest (`AddLog`), and hand it to the I/O thread as the space's next
//!    spare.
//!
//! From 4 until the spare is out the space's `spare_owed` is set: writers held back by
//! `Db::write`'s backpressure (a live tail past twice its threshold while a seal is in
//! progress) resume only once the I/O thread has the spare queued ahead of their writes, so
//! it switches the live tail at once.
//!
//! Every log the sealer hands out (a recycled or new hot segment, a new staging log) is named
//! by a durable `AddLog` first, and a log it removes is retired by a durable `RetireSegment`
//! first: the manifest names every file that may hold records not yet in blocks.
//!
//! A crash between any two steps recovers (docs/crash-analysis.md): before 3 the old segment
//! is still live and the block file unnamed (removed on open); after 3 the segment is retired
//! and its records are in the block.
//!
//! Seals of a space complete in order. Recovery skips log records at or below a space's
//! highest sealed revision (they are in blocks), so a block of newer revisions must never
//! become durable while an older frozen memtable is unsealed. If step 2 or 3 fails (a full
//! disk, EIO), the job stays in the sealer's backlog: its frozen memtable stays in the view
//! (reads go on), its segment stays live and unrecycled, and a fresh spare is made so writes
//! go on. The backlog is retried, oldest first, before every later seal, on every spare
//! request, and on its own every [`BACKLOG_RETRY_INTERVAL`] while it is not empty (so a
//! frozen memtable does not stay in memory until the next seal once the fault has passed); a
//! later seal waits behind it (its `flush` callers get the error) and runs once the backlog
//! clears.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use infinitedb_format::{BlockId, ManifestEdit, Revision, SegmentId};
use parking_lot::Mutex;
use uring_io::Storage;

use crate::block_file::{BlockFile, WriteBuffer};
use crate::compaction::CompactorJob;
use crate::error::{Error, Result};
use crate::failure::Failure;
use crate::log_file::{LogFile, hot_header, staging_header};
use crate::manifest::Manifest;
use crate::memtable::Memtable;
use crate::options::BlockReads;
use crate::paths::DbPaths;
use crate::queue::{Reply, Spare, SpareSender};
use crate::space::SpaceShared;
use crate::stats::StatsCounters;
use crate::trace;

/// A frozen memtable and the segment it came from.
#[derive(Debug)]
pub(crate) struct SealJob {
    pub(crate) space: Arc<SpaceShared>,
    pub(crate) memtable: Arc<Memtable>,
    pub(crate) log: LogFile,
    pub(crate) flush_waiters: Vec<Reply<()>>,
    /// Why the last attempt failed, while the job waits in the backlog.
    pub(crate) error: Option<Failure>,
    /// Under `NoSync`: the frozen memtable may hold batches whose frames are still on their
    /// way to a log; the block waits until they are logged.
    pub(crate) wait_logged: bool,
}

/// How long a `NoSync` seal waits for its records to be logged before it gives up (and is
/// retried later from the backlog).
const LOGGED_WAIT_MAX: Duration = Duration::from_secs(10);

/// Under `NoSync`, waits until every record of the job's frozen memtable is durable in a
/// log, so the block never holds a record that exists nowhere else: a crash between the
/// block write and the manifest edit then leaves an unnamed block whose records recovery
/// finds in the logs (it refuses to drop a block holding records found nowhere else).
///
/// The records not yet logged at the switch are in the space's new segment's first chain:
/// the write gate bounds them to one frame (`gate_bytes_max` in `db.rs`), so they never wait
/// for the next spare, which this seal makes. The wait's bound is for chains that do not
/// complete: a device that stops answering, or a failed chain, whose batches then wait for
/// the next segment (the timed-out seal makes a fresh spare, `Sealer::hold`).
fn wait_until_logged(job: &SealJob) -> Result<()> {
    if !job.wait_logged {
        return Ok(());
    }
    let needed = job.memtable.revision_max();
    if job.space.wait_logged(needed, LOGGED_WAIT_MAX) {
        return Ok(());
    }
    Err(Error::WriteFailed {
        space: job.space.name.to_string(),
        source: Arc::new(uring_io::IoError::Os {
            operation: "wait for the live tail to be logged before a seal",
            path: job.log.path.clone(),
            source: std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("revision {} not logged after {LOGGED_WAIT_MAX:?}", needed.0),
            ),
        }),
    })
}

/// How long the sealer waits for a job before it retries a non-empty backlog on its own.
pub(crate) const BACKLOG_RETRY_INTERVAL: Duration = Duration::from_millis(500);

/// Work for the sealer thread.
#[derive(Debug)]
pub(crate) enum SealerJob {
    /// Seal a frozen memtable and recycle its segment.
    Seal(SealJob),
    /// Create a spare hot segment for a space (after an earlier attempt failed).
    PrepareSegment(Arc<SpaceShared>),
    /// Create a spare staging log.
    PrepareStaging,
    /// Remove a staging log no batch needs any more.
    RemoveStaging(LogFile),
    /// Remove a spare hot segment that arrived when the space already had one (it holds no
    /// frame of its new id).
    RemoveSpare(LogFile),
}

/// Allocators of identities that must never be reused while a file may carry them.
#[derive(Debug)]
pub(crate) struct Ids {
    pub(crate) next_segment: AtomicU64,
    pub(crate) next_block: AtomicU64,
}

impl Ids {
    /// A fresh segment id.
    pub(crate) fn segment(&self) -> SegmentId {
        SegmentId(self.next_segment.fetch_add(1, Ordering::Relaxed))
    }

    /// A fresh block id.
    pub(crate) fn block(&self) -> BlockId {
        BlockId(self.next_block.fetch_add(1, Ordering::Relaxed))
    }
}

/// What the sealer thread owns and shares.
pub(crate) struct Sealer {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) paths: DbPaths,
    pub(crate) manifest: Arc<Mutex<Manifest>>,
    pub(crate) ids: Arc<Ids>,
    /// Spare logs for the I/O thread.
    pub(crate) spares: SpareSender,
    pub(crate) jobs: Receiver<SealerJob>,
    pub(crate) stats: Arc<StatsCounters>,
    pub(crate) segment_bytes: u64,
    /// How blocks are read (`Options::block_reads`).
    pub(crate) block_reads: BlockReads,
    pub(crate) revision_last: Arc<AtomicU64>,
    /// Told of every new block, so it can merge level 0 down.
    pub(crate) compactions: Sender<CompactorJob>,
    /// Kept from one seal's block write to the next (only the sealer thread locks it).
    pub(crate) write_buffer: Mutex<WriteBuffer>,
}

impl Sealer {
    /// Runs jobs until the I/O thread drops its end of the channel; retries a non-empty
    /// backlog whenever no job arrived for [`BACKLOG_RETRY_INTERVAL`].
    pub(crate) fn run(self) {
        let mut backlog: VecDeque<SealJob> = VecDeque::new();
        loop {
            let job = if backlog.is_empty() {
                self.jobs.recv().map_err(|_| RecvTimeoutError::Disconnected)
            } else {
                self.jobs.recv_timeout(BACKLOG_RETRY_INTERVAL)
            };
            let job = match job {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout) => {
                    self.seal_backlog(&mut backlog);
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            };
            match job {
                SealerJob::Seal(job) => {
                    backlog.push_back(job);
                    self.seal_backlog(&mut backlog);
                    // Jobs only leave from the front: if any is left, the new one is, and
                    // the front one failed.
                    let cause = backlog.front().and_then(|front| front.error.clone());
                    if let Some(waiting) = backlog.back_mut() {
                        self.hold(waiting, cause);
                    }
                }
                SealerJob::PrepareSegment(space) => {
                    self.seal_backlog(&mut backlog);
                    let log = self.create_segment(&space);
                    self.send_spare(Spare::Segment {
                        space: space.id,
                        log,
                    });
                }
                SealerJob::PrepareStaging => {
                    let log = self.create_staging();
                    self.send_spare(Spare::Staging { log });
                }
                SealerJob::RemoveStaging(log) | SealerJob::RemoveSpare(log) => {
                    // A failure leaves the file named by the manifest: it is scanned (and
                    // holds nothing unsealed) on the next open.
                    let _ = self.remove_log(log);
                }
            }
        }
    }

    /// Seals the backlog oldest first until one fails (it stays at the front).
    fn seal_backlog(&self, backlog: &mut VecDeque<SealJob>) {
        while let Some(mut job) = backlog.pop_front() {
            let _span = trace::span!("seal", space = trace::display(&job.space.name));
            let sealed = wait_until_logged(&job)
                .and_then(|()| self.seal_write_block(&job.space, &job.memtable, &job.log));
            match sealed {
                Ok(block) => {
                    let space = job.space.clone();
                    space.seal_failed.store(false, Ordering::Release);
                    // Writers held back by backpressure stay held until the spare is out
                    // (`SpaceShared::spare_owed`): the I/O thread queues it ahead of their
                    // writes, and switches the live tail at its threshold.
                    space.spare_owed.store(true, Ordering::Release);
                    self.seal_publish(&space, &job.memtable, block);
                    for waiter in job.flush_waiters.drain(..) {
                        waiter.send(Ok(()));
                    }
                    let spare = self.seal_recycle_segment(&space, job.log);
                    self.send_spare(Spare::Segment {
                        space: space.id,
                        log: spare,
                    });
                    space.spare_owed.store(false, Ordering::Release);
                    space.notify_view_changed();
                }
                Err(error) => {
                    trace::event!(
                        warn,
                        "seal failed",
                        space = trace::display(&job.space.name),
                        records = job.memtable.len(),
                        error = trace::display(&error),
                    );
                    StatsCounters::add(&self.stats.seal_failures, 1);
                    job.error = Some(Failure::from_error(error));
                    job.space.seal_failed.store(true, Ordering::Release);
                    job.space.notify_view_changed();
                    backlog.push_front(job);
                    return;
                }
            }
        }
    }

    /// Hands a spare to the I/O thread. A thread gone (shut down) drops it: a log it never
    /// received is still named by the manifest, and is scanned on the next open.
    fn send_spare(&self, spare: Spare) {
        let _ = self.spares.send(spare);
    }

    /// A seal that could not run now (it failed, or waits behind one that did, whose
    /// failure is `cause`): its `flush` callers get the error, and the I/O thread gets a
    /// fresh spare so writes go on. The seal is retried later.
    fn hold(&self, job: &mut SealJob, cause: Option<Failure>) {
        let failure = job.error.clone().or(cause).unwrap_or_else(|| {
            Failure::poisoned("an earlier seal of the space failed; retried later")
        });
        for waiter in job.flush_waiters.drain(..) {
            waiter.send(Err(failure.to_error(&job.space.name)));
        }
        let log = self.create_segment(&job.space);
        self.send_spare(Spare::Segment {
            space: job.space.id,
            log,
        });
    }

    /// Steps 2–3: block file, manifest edit. Returns the block (`None` for an empty
    /// memtable).
    fn seal_write_block(
        &self,
        space: &SpaceShared,
        memtable: &Arc<Memtable>,
        log: &LogFile,
    ) -> Result<Option<Arc<BlockFile>>> {
        let block_id = self.ids.block();
        let path = self.paths.block(block_id);
        let block = BlockFile::write_with(
            &self.storage,
            self.block_reads,
            path,
            space.id,
            block_id,
            memtable,
            &mut self.write_buffer.lock(),
        )?;
        let mut edits = Vec::with_capacity(2);
        if let Some(block) = &block {
            edits.push(ManifestEdit::AddBlock(block.meta));
        }
        edits.push(ManifestEdit::RetireSegment {
            space_id: space.id,
            segment_id: log.segment_id(),
        });
        self.manifest.lock().append(&edits)?;
        Ok(block.map(Arc::new))
    }

    /// Step 4: the view swap (the frozen memtable out, its block in), counted, and the
    /// compactor told of the new block.
    fn seal_publish(
        &self,
        space: &Arc<SpaceShared>,
        memtable: &Arc<Memtable>,
        block: Option<Arc<BlockFile>>,
    ) {
        let sealed_bytes = block.as_ref().map_or(0, |block| block.meta.len_bytes);
        trace::event!(
            info,
            "seal",
            space = trace::display(&space.name),
            records = memtable.len(),
            bytes = sealed_bytes,
            block = block.as_ref().map_or(0, |block| block.meta.block_id.0),
        );
        space.replace_frozen(memtable, block);
        StatsCounters::add(&self.stats.seals, 1);
        StatsCounters::add(&self.stats.sealed_bytes, sealed_bytes);
        let _ = self.compactions.send(CompactorJob::Check(space.clone()));
    }

    /// Step 5: the retired segment becomes the space's next spare (a poisoned one is removed
    /// and replaced by a new file: the device gave an error there).
    fn seal_recycle_segment(&self, space: &SpaceShared, log: LogFile) -> Result<LogFile> {
        let old_segment = log.segment_id();
        if log.poisoned {
            self.storage.remove_file(&log.path)?;
            self.storage.sync_dir(&self.paths.segments)?;
            self.manifest.lock().forget_retired(space.id, old_segment);
            return self.create_segment(space);
        }
        let segment = self.ids.segment();
        let header = hot_header(segment, space.id, self.revision());
        let path = self.paths.segment(space.id, segment);
        let old_path = log.path.clone();
        drop(log);
        let recycled = LogFile::recycle(self.storage.as_ref(), &old_path, path, header)?;
        self.manifest.lock().forget_retired(space.id, old_segment);
        self.register(recycled)
    }

    /// A new pre-written hot segment for `space`, named by the manifest.
    pub(crate) fn create_segment(&self, space: &SpaceShared) -> Result<LogFile> {
        let segment = self.ids.segment();
        let header = hot_header(segment, space.id, self.revision());
        let log = LogFile::create(
            self.storage.as_ref(),
            self.paths.segment(space.id, segment),
            header,
            self.segment_bytes,
        )?;
        self.register(log)
    }

    fn create_staging(&self) -> Result<LogFile> {
        let segment = self.ids.segment();
        let path: PathBuf = self.paths.staging_log(segment);
        let log = LogFile::create(
            self.storage.as_ref(),
            path,
            staging_header(segment, self.revision()),
            self.segment_bytes,
        )?;
        self.register(log)
    }

    /// Names `log` in the manifest (`AddLog`, durable) before it is handed to the I/O thread,
    /// so that no frame is ever acknowledged in a log the manifest does not name: a missing
    /// or damaged log then fails the open instead of passing for an empty one.
    fn register(&self, log: LogFile) -> Result<LogFile> {
        self.manifest
            .lock()
            .append(&[ManifestEdit::AddLog(log.meta())])?;
        Ok(log)
    }

    /// Retires a log no record needs (a spare that was never used, a staging log whose
    /// batches all have durable hot copies) durably, then removes its file.
    fn remove_log(&self, log: LogFile) -> Result<()> {
        let meta = log.meta();
        let mut manifest = self.manifest.lock();
        manifest.append(&[ManifestEdit::RetireSegment {
            space_id: meta.space_id,
            segment_id: meta.segment_id,
        }])?;
        self.storage.remove_file(&log.path)?;
        if let Some(dir) = log.path.parent() {
            self.storage.sync_dir(dir)?;
        }
        manifest.forget_retired(meta.space_id, meta.segment_id);
        Ok(())
    }

    fn revision(&self) -> Revision {
        Revision(self.revision_last.load(Ordering::Acquire))
    }
}
