//! The I/O state machine, the one owner of the [`CommitQueue`] (docs/design.md §4 "Write path").
//! The I/O thread alone drives it (`driver.rs`).
//!
//! Owns: sequencing (revisions), group commit, the direct route (hot segments), the staged
//! route (staging log), acknowledgement and publication to the live tail, and the switch of a
//! space to a fresh segment at a seal. Module map:
//! - `mod.rs`: state, one turn of the loop (`step`), commands.
//! - `hot.rs`: hot-segment chains, their events, failure roll and the seal switch.
//! - `staging.rs`: the staging log: hedged copies and their chains.
//! - `publish.rs`: acknowledgement in revision order, publication.
//! - `sync_barriers.rs`: the `sync` callers waiting, and the failures they must report.
//! - `spare.rs`: spare hot segments, and retrying them after a failure (disk full).
//! - `driver.rs`: the I/O thread's loop, and how it sleeps while idle.
//!
//! A group is everything that arrived while the previous chain of a space was in flight: the
//! loop drains the command channel, assigns revisions in arrival order, and submits for each
//! space without a chain in flight one frame holding its pending batches (one chain per
//! segment in flight, one frame per chain). Batches are acknowledged in revision order per
//! space, each by whichever copy became durable first. The thread never panics on I/O
//! errors: they become per-writer results.
//!
//! Batch lifecycle (state in [`BatchState`]): sequenced → pending in its space → in a hot chain
//! (→ durable | cancelled: back to pending | failed: back to pending if a staged copy exists or
//! is coming, else the writer gets the error) and, when hedged, queued → in a staging chain →
//! durable. It leaves the table once its hot copy is durable (and, under `Sync`, it has been
//! published) or it failed. A batch of several spaces has one part per space, each pending in
//! its space, and is staged at once: it is decided by its staged copy (a frame group), and its
//! parts enter hot chains only after that (see [`BatchState`]).

pub(crate) mod driver;
mod hot;
mod publish;
mod spare;
mod staging;
mod sync_barriers;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use infinitedb_format::{
    FrameGroup, RecordRef, Revision, SegmentId, SpaceId, encode_stamped_frame,
    encode_stamped_frame_of_group, frame_encoded_bytes,
};
use uring_io::{ChainId, CommitQueue};

use crate::batch::KeyedBatch;
use crate::error::Error;
use crate::failure::Failure;
use crate::log_file::{ChainBuffer, LogFile};
use crate::memtable::Memtable;
use crate::options::Durability;
use crate::queue::{ByteGate, Command, NewSpace, Reply, Spare};
use crate::sealer::SealerJob;
use crate::space::SpaceShared;
use crate::stats::StatsCounters;
use crate::trace;
use sync_barriers::SyncBarriers;

/// How long one poll of the commit queue waits for an event while chains are in flight; new
/// writes wait at most this long to join a group of another space.
const POLL_WAIT: Duration = Duration::from_micros(200);
/// The settings the I/O thread needs.
#[derive(Clone, Debug)]
pub(crate) struct IoConfig {
    /// The database's default durability: under `Sync` every hot chain has the deadline,
    /// under `NoSync` only a chain holding a `Sync` write (see `hot.rs`).
    pub(crate) durability: Durability,
    pub(crate) deadline: Option<Duration>,
    pub(crate) seal_threshold_bytes: u64,
    pub(crate) seal_threshold_records: u64,
    pub(crate) frame_bytes_max: usize,
}

/// Which copy of a batch became durable first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    Direct,
    Staged,
}

/// Where a batch's staging-log copy is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Staged {
    None,
    Queued,
    InFlight,
    Durable,
    Failed,
}

/// One sequenced batch: its parts (one per space it writes) and what is known of its copies.
///
/// A batch of one space takes either route: its hot copy or its staged copy decides it,
/// whichever is durable first. A batch of several spaces (a group) is decided by its staged
/// copy alone, its parts written as one group of frames in one staging-log write
/// (docs/format.md, "Frame groups"), so recovery finds all of them or none; only then are its
/// parts written to their hot segments (as a batch with a durable staged copy is), and its
/// parts hold back the hot chains of their spaces until then (`hot.rs`), so no later batch of
/// those spaces reaches a hot segment before it is decided.
#[derive(Debug)]
pub(crate) struct BatchState {
    /// One part per space, in space order; a batch of one space has one.
    pub(crate) parts: Vec<Part>,
    /// When its writer is answered: once durable and published (`Sync`), or once published
    /// (`NoSync`; a group is answered once durable whatever its durability).
    pub(crate) durability: Durability,
    pub(crate) gate_bytes: usize,
    pub(crate) reply: Option<Reply<Revision>>,
    pub(crate) staged: Staged,
    pub(crate) decision: Decision,
}

/// What is decided of a batch: whether a copy of it is durable, and by which route, or why it
/// failed. Every batch starts `Undecided`; it leaves that state once.
#[derive(Clone, Debug)]
pub(crate) enum Decision {
    /// No copy is durable yet, and one is coming.
    Undecided,
    /// A copy is durable; the route whose copy was first.
    Durable(Route),
    /// No copy is durable and none is coming (or its space was given up): its writer gets
    /// the failure.
    Failed(Failure),
}

impl Decision {
    /// Whether nothing is decided yet.
    pub(crate) fn is_undecided(&self) -> bool {
        matches!(self, Decision::Undecided)
    }

    /// Whether a copy is durable.
    pub(crate) fn is_durable(&self) -> bool {
        matches!(self, Decision::Durable(_))
    }

    /// Whether the batch failed.
    pub(crate) fn is_failed(&self) -> bool {
        matches!(self, Decision::Failed(_))
    }
}

/// One space's part of a batch.
#[derive(Debug)]
pub(crate) struct Part {
    pub(crate) batch: KeyedBatch,
    pub(crate) hot_durable: bool,
    /// The staging log holding a copy of this part until its hot copy is durable.
    pub(crate) staging_segment: Option<SegmentId>,
    pub(crate) published: bool,
    /// The memtable holding the part's records, once inserted: ahead of the decision while
    /// its hot chain is in flight (`Sync`), or at publication (`publish.rs`).
    pub(crate) inserted_into: Option<Arc<Memtable>>,
}

impl BatchState {
    /// Whether the batch writes several spaces.
    pub(crate) fn is_group(&self) -> bool {
        self.parts.len() > 1
    }

    /// The part of `space`.
    pub(crate) fn part(&self, space: SpaceId) -> Option<&Part> {
        self.parts.iter().find(|part| part.batch.space == space)
    }

    /// The part of `space`, to change.
    pub(crate) fn part_mut(&mut self, space: SpaceId) -> Option<&mut Part> {
        self.parts.iter_mut().find(|part| part.batch.space == space)
    }

    /// Whether every part's hot copy is durable.
    pub(crate) fn hot_durable(&self) -> bool {
        self.parts.iter().all(|part| part.hot_durable)
    }

    /// Whether every part is published.
    pub(crate) fn published(&self) -> bool {
        self.parts.iter().all(|part| part.published)
    }

    /// The records of every part.
    pub(crate) fn records(&self) -> u64 {
        self.parts
            .iter()
            .map(|part| part.batch.records.len() as u64)
            .sum()
    }

    /// Whether the part of `space` may be published once every batch before it in its space
    /// is: it is decided (a durable copy), or it is a `NoSync` batch of one space.
    pub(crate) fn publishable(&self) -> bool {
        self.decision.is_durable() || (self.durability == Durability::NoSync && !self.is_group())
    }
}

/// The direct route of one space.
#[derive(Debug)]
pub(crate) struct SpaceLog {
    pub(crate) shared: Arc<SpaceShared>,
    pub(crate) log: LogFile,
    pub(crate) spare: Option<LogFile>,
    pub(crate) inflight: Option<ChainId>,
    pub(crate) pending: VecDeque<Revision>,
    pub(crate) unpublished: VecDeque<Revision>,
    pub(crate) stalled: bool,
    pub(crate) switch_wanted: bool,
    pub(crate) flush_waiters: Vec<Reply<()>>,
    /// A `NoSync` write was published into the active memtable, perhaps before its frame
    /// was logged: its seal waits until the memtable is logged (`sealer.rs`).
    pub(crate) published_unlogged: bool,
    pub(crate) broken: Option<String>,
    /// Why the last spare could not be made (disk full, EIO), and when to try again.
    pub(crate) spare_failure: Option<spare::SpareFailure>,
}

/// What a chain in flight is for.
#[derive(Debug)]
pub(crate) enum ChainRole {
    Hot {
        space: SpaceId,
        offset: u64,
        end_bytes: u64,
        revisions: Vec<Revision>,
    },
    Staging {
        offset: u64,
        end_bytes: u64,
        revisions: Vec<Revision>,
    },
}

/// The staged route.
#[derive(Debug, Default)]
pub(crate) struct StagingState {
    pub(crate) log: Option<LogFile>,
    pub(crate) spare: Option<LogFile>,
    pub(crate) spare_requested: bool,
    pub(crate) queue: VecDeque<Revision>,
    pub(crate) inflight: Option<ChainId>,
    pub(crate) references: HashMap<SegmentId, usize>,
    pub(crate) full: Vec<LogFile>,
    pub(crate) disabled: Option<String>,
}

/// Everything the I/O thread owns.
pub(crate) struct IoThread {
    pub(crate) config: IoConfig,
    pub(crate) queue: Box<dyn CommitQueue>,
    pub(crate) commands: Receiver<Command>,
    /// Spare logs from the sealer, on a channel of their own.
    pub(crate) spares: Receiver<Spare>,
    pub(crate) sealer: Sender<SealerJob>,
    pub(crate) gate: Arc<ByteGate>,
    pub(crate) stats: Arc<StatsCounters>,
    pub(crate) revision_last: Arc<AtomicU64>,
    /// The visible high-water mark (what a snapshot pins), advanced as batches are decided.
    pub(crate) visible: Arc<crate::read::VisibleRevision>,
    pub(crate) batches: HashMap<Revision, BatchState>,
    pub(crate) spaces: HashMap<SpaceId, SpaceLog>,
    pub(crate) staging: StagingState,
    pub(crate) chains: HashMap<ChainId, ChainRole>,
    pub(crate) undecided: BTreeSet<Revision>,
    /// The `sync` callers waiting, and the failures they must report.
    pub(crate) barriers: SyncBarriers,
    /// Acknowledgements of published batches not yet sent (see `publish::send_acknowledgements`).
    pub(crate) acknowledgements: Vec<(Reply<Revision>, crate::error::Result<Revision>)>,
    pub(crate) shutdown: bool,
    /// Scratch for the events of one poll (empty between turns).
    events: Vec<uring_io::ChainEvent>,
    /// Hot chains (space, revisions) that became durable this turn, published once the next
    /// group is submitted (empty between turns; see [`IoThread::step`]).
    durable_chains: Vec<(SpaceId, Vec<Revision>)>,
    /// Parts (revision, space) submitted in hot chains whose records are not yet in the
    /// memtable (`Sync`; see `publish::IoThread::insert_submitted`).
    pub(super) submitted_uninserted: Vec<(Revision, SpaceId)>,
}

/// Encodes the parts of space `space_id` of the batches `revisions` (in revision order) as one
/// stamped frame of `log`, in a chain buffer; returns it with the log's end once it is
/// durable.
pub(super) fn encode_chain(
    batches: &HashMap<Revision, BatchState>,
    revisions: &[Revision],
    log: &mut LogFile,
    space_id: SpaceId,
) -> crate::error::Result<(ChainBuffer, u64)> {
    let records: Vec<RecordRef<'_>> = revisions
        .iter()
        .filter_map(|revision| {
            let part = batches.get(revision)?.part(space_id);
            debug_assert!(part.is_some(), "a frame holds parts of its space");
            part.map(|part| (*revision, part))
        })
        .flat_map(|(revision, part)| {
            part.batch
                .records
                .iter()
                .map(move |record| record.as_record_ref(revision))
        })
        .collect();
    let frame_bytes = frame_encoded_bytes(&records);
    let mut chain = log.begin_chain(&[frame_bytes])?;
    let file_offset = chain.offset + chain.frame_offset_in_buf as u64;
    let frame = &mut chain.buf[chain.frame_offset_in_buf..];
    let written = encode_stamped_frame(log.segment_id(), space_id, &records, file_offset, frame);
    Ok((chain, log.durable_bytes() + written as u64))
}

/// Encodes the parts of the batches `revisions` (some of several spaces) as one group of
/// frames of `log` (docs/format.md, "Frame groups"): one frame per space, in ascending space
/// order, holding that space's parts in revision order, one after the other in one chain
/// buffer; returns it with the log's end once it is durable.
pub(super) fn encode_group_chain(
    batches: &HashMap<Revision, BatchState>,
    revisions: &[Revision],
    log: &mut LogFile,
) -> crate::error::Result<(ChainBuffer, u64)> {
    let mut ordered: Vec<Revision> = revisions.to_vec();
    ordered.sort_unstable();
    let mut parts: BTreeMap<SpaceId, Vec<RecordRef<'_>>> = BTreeMap::new();
    for revision in &ordered {
        let Some(state) = batches.get(revision) else {
            continue;
        };
        for part in &state.parts {
            let records = part.batch.records.iter();
            parts
                .entry(part.batch.space)
                .or_default()
                .extend(records.map(|record| record.as_record_ref(*revision)));
        }
    }
    let frames: Vec<usize> = parts
        .values()
        .map(|records| frame_encoded_bytes(records))
        .collect();
    let mut chain = log.begin_chain(&frames)?;
    let frames_count = u16::try_from(parts.len()).unwrap_or(u16::MAX);
    let mut at = chain.frame_offset_in_buf;
    for (index, (space, records)) in parts.iter().enumerate() {
        let group = FrameGroup {
            frames: frames_count,
            index: u16::try_from(index).unwrap_or(u16::MAX),
        };
        let file_offset = chain.offset + at as u64;
        let out = &mut chain.buf[at..];
        at += encode_stamped_frame_of_group(
            log.segment_id(),
            *space,
            Some(group),
            records,
            file_offset,
            out,
        );
    }
    let written = at - chain.frame_offset_in_buf;
    Ok((chain, log.durable_bytes() + written as u64))
}

impl IoThread {
    /// A thread state with `spaces` (each with its active segment and spare) and `staging`.
    #[expect(
        clippy::too_many_arguments,
        reason = "wiring of the engine's shared parts, done once"
    )]
    pub(crate) fn new(
        config: IoConfig,
        queue: Box<dyn CommitQueue>,
        commands: Receiver<Command>,
        spares: Receiver<Spare>,
        sealer: Sender<SealerJob>,
        gate: Arc<ByteGate>,
        stats: Arc<StatsCounters>,
        revision_last: Arc<AtomicU64>,
        staging_log: Option<LogFile>,
    ) -> IoThread {
        let staging = StagingState {
            log: staging_log,
            ..StagingState::default()
        };
        let visible = Arc::new(crate::read::VisibleRevision::new(Revision(
            revision_last.load(Ordering::Acquire),
        )));
        IoThread {
            config,
            queue,
            commands,
            spares,
            sealer,
            gate,
            stats,
            revision_last,
            visible,
            batches: HashMap::new(),
            spaces: HashMap::new(),
            staging,
            chains: HashMap::new(),
            undecided: BTreeSet::new(),
            barriers: SyncBarriers::default(),
            acknowledgements: Vec::new(),
            shutdown: false,
            events: Vec::new(),
            durable_chains: Vec::new(),
            submitted_uninserted: Vec::new(),
        }
    }

    /// The last revision assigned.
    pub(crate) fn last_revision(&self) -> Revision {
        Revision(self.revision_last.load(Ordering::Acquire))
    }

    /// Registers a space's direct route.
    pub(crate) fn add_space(
        &mut self,
        shared: Arc<SpaceShared>,
        active: LogFile,
        spare: Option<LogFile>,
    ) {
        let space = SpaceLog {
            shared: shared.clone(),
            log: active,
            spare,
            inflight: None,
            pending: VecDeque::new(),
            unpublished: VecDeque::new(),
            stalled: false,
            switch_wanted: false,
            flush_waiters: Vec::new(),
            published_unlogged: false,
            broken: None,
            spare_failure: None,
        };
        self.spaces.insert(shared.id, space);
    }

    /// One turn of the state machine: commands in, chains out, then (while something is in
    /// flight) one wait of up to `POLL_WAIT` for chain events, and the acknowledgements they
    /// produced. Returns whether anything happened.
    ///
    /// The records of the batches submitted are inserted into their memtables after the
    /// submit and before the wait, while the device works (`publish.rs`). When a hot chain
    /// completes, the next group of its space goes to the device before the completed one is
    /// published, and before its writers are woken.
    pub(crate) fn step(&mut self) -> bool {
        let mut progressed = self.receive_commands();
        progressed |= self.submit_chains();
        self.insert_submitted();
        if self.queue.in_flight() > 0 {
            // The buffer is kept across turns: no allocation per commit.
            let mut events = std::mem::take(&mut self.events);
            if let Err(error) = self.queue.poll(Some(POLL_WAIT), &mut events) {
                self.on_queue_error(&error.to_string());
            }
            progressed |= !events.is_empty();
            for event in events.drain(..) {
                self.on_event(event);
            }
            self.events = events;
        }
        if !self.durable_chains.is_empty() || !self.acknowledgements.is_empty() {
            // The next group goes to the device first: the publication's bookkeeping and the
            // writers' wake-ups then overlap its write and flush.
            self.receive_commands();
            self.submit_chains();
            if !self.durable_chains.is_empty() {
                self.publish_durable_chains();
            }
            self.send_acknowledgements();
            self.insert_submitted();
        }
        progressed
    }

    /// Whether shut down with nothing left to do: the thread may finish.
    pub(crate) fn is_done(&self) -> bool {
        self.shutdown && self.batches.is_empty() && self.queue.in_flight() == 0
    }

    /// Switches segments where wanted, then submits every chain that can go. Returns
    /// whether any was submitted.
    fn submit_chains(&mut self) -> bool {
        self.switch_where_wanted();
        self.handle_missing_spares();
        let hot = self.submit_hot_chains();
        let staging = self.submit_staging_chain();
        hot || staging
    }

    /// Whether a command or a spare is waiting to be received.
    pub(crate) fn has_input(&self) -> bool {
        !self.commands.is_empty() || !self.spares.is_empty()
    }

    /// Drains the sealer's spares, then the command channel (a spare may let a switch, and
    /// with it the writes behind it, go on). Returns whether anything arrived.
    fn receive_commands(&mut self) -> bool {
        let mut received = false;
        while let Ok(spare) = self.spares.try_recv() {
            match spare {
                Spare::Segment { space, log } => self.on_spare(space, log),
                Spare::Staging { log } => self.on_staging_spare(log),
            }
            received = true;
        }
        loop {
            match self.commands.try_recv() {
                Ok(command) => {
                    self.on_command(command);
                    received = true;
                }
                Err(TryRecvError::Empty) => return received,
                Err(TryRecvError::Disconnected) => {
                    self.shutdown = true;
                    return received;
                }
            }
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Write {
                parts,
                durability,
                gate_bytes,
                reply,
            } => self.on_write(parts, durability, gate_bytes, reply),
            Command::Sync { barrier, reply } => {
                let last = self.last_revision();
                let barrier = barrier.map_or(last, |barrier| barrier.min(last));
                self.barriers.arrive(barrier, reply);
                self.answer_sync_waiters();
            }
            Command::Flush { space, reply } => self.on_flush(space, reply),
            Command::AddSpace(new) => {
                let NewSpace {
                    space,
                    active,
                    spare,
                } = *new;
                self.add_space(space, active, Some(spare));
            }
            Command::Shutdown => self.shutdown = true,
        }
    }

    /// Sequences a write: its revision is the next one, in arrival order. A `NoSync` write of
    /// one space is published and answered at once unless a `Sync` write of its space is
    /// still unpublished: then it is published after it, in revision order (`publish.rs`). A
    /// write of several spaces goes to the staging log ([`IoThread::sequence_group`]).
    fn on_write(
        &mut self,
        parts: Vec<KeyedBatch>,
        durability: Durability,
        gate_bytes: usize,
        reply: Reply<Revision>,
    ) {
        if let Some(error) = self.refusal(&parts) {
            self.gate.release(gate_bytes);
            reply.send(Err(error));
            return;
        }
        let revision = Revision(self.last_revision().0 + 1);
        self.revision_last.store(revision.0, Ordering::Release);
        StatsCounters::add(&self.stats.batches, 1);
        let mut state = BatchState {
            parts: parts
                .into_iter()
                .map(|batch| Part {
                    batch,
                    hot_durable: false,
                    staging_segment: None,
                    published: false,
                    inserted_into: None,
                })
                .collect(),
            durability,
            gate_bytes,
            reply: Some(reply),
            staged: Staged::None,
            decision: Decision::Undecided,
        };
        if state.is_group() {
            self.sequence_group(revision, state);
            return;
        }
        let space_id = state.parts[0].batch.space;
        let Some(space) = self.spaces.get_mut(&space_id) else {
            return;
        };
        space.pending.push_back(revision);
        let stalled = space.stalled;
        if durability == Durability::NoSync && space.unpublished.is_empty() {
            publish::publish_records(space, &mut state, revision);
            self.visible.decided(revision, revision);
            if let Some(reply) = state.reply.take() {
                reply.send(Ok(revision));
            }
        } else {
            space.unpublished.push_back(revision);
            self.visible.sequenced(revision);
        }
        self.batches.insert(revision, state);
        self.undecided.insert(revision);
        // Every batch of a stalled space, and with a zero deadline every batch, goes staged
        // too, `NoSync` ones included: a `Sync` batch acknowledged from the staging log must
        // not overtake a batch of its space sequenced before it (recovery keeps a prefix).
        if stalled || self.config.deadline == Some(Duration::ZERO) {
            self.stage(&[revision]);
        }
    }

    /// Why a write of `parts` is refused before it is sequenced: a space unknown or given up,
    /// or, for several spaces, no staging log to write them to.
    fn refusal(&self, parts: &[KeyedBatch]) -> Option<Error> {
        for part in parts {
            let Some(space) = self.spaces.get(&part.space) else {
                return Some(Error::UnknownSpace {
                    name: format!("#{}", part.space.0),
                });
            };
            if let Some(detail) = &space.broken {
                return Some(Error::Poisoned {
                    detail: detail.clone(),
                });
            }
        }
        let staging_lost = self.staging.disabled.as_ref().filter(|_| parts.len() > 1);
        staging_lost.map(|detail| Error::Poisoned {
            detail: format!(
                "a batch of several spaces is written through the staging log, which is \
                 disabled until reopen: {detail}"
            ),
        })
    }

    /// Sequences a batch of several spaces at `revision`. Its parts go to the staging log as
    /// one group of frames; each waits in its space's queues (holding back that space's hot
    /// chains) until that copy is durable. Every batch of those spaces sequenced before it
    /// that has no durable copy yet is staged first, so that a staging log holding the group
    /// also holds (or follows durable copies of) everything before it in each of its spaces:
    /// recovery keeps a prefix per space.
    fn sequence_group(&mut self, revision: Revision, state: BatchState) {
        let spaces: Vec<SpaceId> = state.parts.iter().map(|part| part.batch.space).collect();
        let mut earlier = Vec::new();
        for space_id in &spaces {
            let in_flight = self.chains.values().filter_map(|role| match role {
                ChainRole::Hot {
                    space, revisions, ..
                } if space == space_id => Some(revisions),
                _ => None,
            });
            earlier.extend(in_flight.flatten().copied());
            if let Some(space) = self.spaces.get(space_id) {
                earlier.extend(space.pending.iter().copied());
            }
        }
        earlier.sort_unstable();
        earlier.dedup();
        self.stage(&earlier);
        for space_id in &spaces {
            if let Some(space) = self.spaces.get_mut(space_id) {
                space.pending.push_back(revision);
                space.unpublished.push_back(revision);
            }
        }
        self.visible.sequenced(revision);
        self.batches.insert(revision, state);
        self.undecided.insert(revision);
        self.stage(&[revision]);
    }

    fn on_flush(&mut self, space_id: SpaceId, reply: Reply<()>) {
        let Some(space) = self.spaces.get_mut(&space_id) else {
            reply.send(Err(Error::UnknownSpace {
                name: format!("#{}", space_id.0),
            }));
            return;
        };
        let idle =
            space.pending.is_empty() && space.inflight.is_none() && space.unpublished.is_empty();
        // A frozen memtable is a seal still on its way: the flush then switches too (an empty
        // memtable seals to no block), and the sealer, which seals in order, answers it only
        // after that earlier seal.
        let sealing = !space.shared.view.load().frozen.is_empty();
        if idle && !sealing && space.shared.active().is_empty() && !space.log.poisoned {
            reply.send(Ok(()));
            return;
        }
        space.flush_waiters.push(reply);
        space.switch_wanted = true;
        if let Some(failure) = &mut space.spare_failure {
            failure.retry_now();
        }
    }

    /// Gives up on a space until reopen: every batch not yet durable fails.
    fn break_space(&mut self, space_id: SpaceId, detail: &str) {
        let Some(space) = self.spaces.get_mut(&space_id) else {
            return;
        };
        space.broken = Some(detail.to_string());
        trace::event!(
            error,
            "space broken",
            space = trace::display(&space.shared.name),
            detail = detail,
        );
        let waiting: Vec<Revision> = space.pending.drain(..).collect();
        for waiter in space.flush_waiters.drain(..) {
            waiter.send(Err(Error::Poisoned {
                detail: detail.to_string(),
            }));
        }
        let failure = Failure::poisoned(detail);
        for revision in waiting {
            self.fail_batch(revision, &failure);
        }
        self.publish_ready(space_id);
    }

    /// The commit queue itself failed: every chain in flight is lost to us.
    fn on_queue_error(&mut self, detail: &str) {
        let spaces: Vec<SpaceId> = self.spaces.keys().copied().collect();
        for space in spaces {
            self.break_space(space, &format!("commit queue failed: {detail}"));
        }
        self.staging.disabled = Some(detail.to_string());
        self.shutdown = true;
    }

    /// After the last turn: anything still waiting gets an error, and the gate is released.
    /// The caller then drops the state, which closes the command channel (later sends fail
    /// with `Error::Closed`) and the sealer's.
    pub(crate) fn finish(&mut self) {
        self.send_acknowledgements();
        let revisions: Vec<Revision> = self.batches.keys().copied().collect();
        for revision in revisions {
            self.withdraw_undecided(revision);
            if let Some(mut state) = self.batches.remove(&revision) {
                self.gate.release(state.gate_bytes);
                if let Some(reply) = state.reply.take() {
                    reply.send(Err(Error::Closed));
                }
            }
        }
        self.barriers.close();
        for space in self.spaces.values_mut() {
            for waiter in space.flush_waiters.drain(..) {
                waiter.send(Err(Error::Closed));
            }
        }
    }

    fn on_event(&mut self, event: uring_io::ChainEvent) {
        match self.chains.get(&event.id) {
            Some(ChainRole::Hot { .. }) => self.on_hot_event(event),
            Some(ChainRole::Staging { .. }) => self.on_staging_event(event),
            None => debug_assert!(false, "event for an unknown chain {:?}", event.id),
        }
    }
}
