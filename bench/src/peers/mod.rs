//! The comparison with other embedded engines (`--rw peers`): the same workloads through one
//! small trait, [`PeerEngine`], on infinitedb and, with the cargo feature `peers`, on fjall
//! and redb (`fjall.rs`, `redb.rs`; their versions are the ones in `Cargo.lock`), each on its
//! own defaults in its own temporary directory, one engine after the other in the same run.
//!
//! Workloads, identical for every engine (`workloads.rs`):
//! - load: keys `0..keys` with `value_bytes`-byte values, in shuffled batches of
//!   [`LOAD_BATCH_KEYS`] (one write or write transaction each), then the engine's flush;
//! - get: random point gets by one reader for `runtime`;
//! - range: ranges of [`RANGE_KEYS`] consecutive keys from random starts, by one reader.
//!
//! Every value read is checked against the value derived from its key ([`expected_value`]):
//! a missing or wrong value, or a range that skips, repeats or reorders a key, is
//! [`BenchError::PeerMismatch`], never a figure. The check runs inside the timed loops, the
//! same for every engine.
//!
//! Durability differs between the engines and is stated beside their figures
//! ([`PeerEngine::DURABILITY`]). The read workloads run `repeats` times per engine; each row
//! is the run with the median rate (so its latencies belong to it). The load runs once.
//! Device bytes are `read_bytes` of `/proc/self/io` across each read run: bytes the process
//! caused to be read from storage, whether through O_DIRECT or the OS page cache.
//!
//! The comparison rows set infinitedb's figure beside each peer's (`bound_source` "peer",
//! ratio infinitedb / peer, target 1.0 for the read workloads). The infinitedb get row also
//! stands beside the device's QD1 4 KiB random reads of the same run.

#[cfg(feature = "peers")]
mod fjall;
mod infinitedb;
mod reads;
#[cfg(feature = "peers")]
mod redb;
mod workloads;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use uring_io::BackendRequest;

use crate::environment::Environment;
use crate::error::{BenchError, Result};
use crate::report::{Comparison, JobReport, JobShape, Report};
use crate::suite::{ReadBoundConfig, push_qd1_read_bound};

pub use infinitedb::Infinitedb;
pub use reads::EngineReads;
pub use workloads::{EngineRows, run_engine};

/// The `--rw` word of the comparison.
pub const PEERS_RW: &str = "peers";

/// Keys per load batch (one write transaction each).
pub const LOAD_BATCH_KEYS: usize = 1000;

/// Consecutive keys per range.
pub const RANGE_KEYS: u64 = 1000;

/// Keys loaded unless `--keys` says otherwise.
pub const PEERS_KEYS_DEFAULT: u64 = 1_000_000;

/// Bytes per value unless `--bs` says otherwise.
pub const PEERS_VALUE_BYTES_DEFAULT: usize = 100;

/// The `--rw` word of infinitedb's gets over a large key set beside the device
/// ([`run_large_gets`]).
pub const RANDREAD_LARGE_RW: &str = "randread-large";

/// Keys `--rw randread-large` loads unless `--keys` says otherwise: more than the default
/// page cache holds (`infinitedb::PAGE_CACHE_BYTES_CEILING`).
pub const RANDREAD_LARGE_KEYS_DEFAULT: u64 = 10_000_000;

/// The figure of infinitedb's get row beside the device's QD1 reads.
const GETS_FIGURE: &str = "infinitedb point gets/s, 1 reader";

/// The last key of the range of `count` keys from `lo` (`None` for an empty range).
pub(crate) fn range_last(lo: u64, count: u64) -> Option<u64> {
    count.checked_sub(1).map(|offset| lo + offset)
}

/// One engine of the comparison. Keys are `u64` (infinitedb's space is 1-D × 32, so they stay
/// below 2^32); values are opaque bytes. Reads see every batch loaded before the last
/// [`PeerEngine::flush`].
pub trait PeerEngine: Sized {
    /// The engine's name in reports.
    const NAME: &'static str;
    /// What a returned [`PeerEngine::load`] and [`PeerEngine::flush`] guarantee on this
    /// engine's defaults.
    const DURABILITY: &'static str;

    /// Opens the engine on its defaults in the empty directory `directory`. `backend` is
    /// infinitedb's I/O backend; the peers ignore it.
    ///
    /// # Errors
    /// The engine's open error.
    fn open(directory: &Path, backend: BackendRequest) -> Result<Self>;

    /// Writes `batch` as one write (transaction).
    ///
    /// # Errors
    /// The engine's write error.
    fn load(&mut self, batch: &[(u64, Vec<u8>)]) -> Result<()>;

    /// The engine's flush after a load (infinitedb seals the data into blocks).
    ///
    /// # Errors
    /// The engine's error.
    fn flush(&mut self) -> Result<()>;

    /// Gets `key` and hands its value (`None`: absent) to `check`.
    ///
    /// # Errors
    /// The engine's read error, or `check`'s.
    fn get<F: FnOnce(Option<&[u8]>) -> Result<()>>(&self, key: u64, check: F) -> Result<()>;

    /// Reads the keys in `lo..lo + count` in ascending order, handing each record to `visit`.
    ///
    /// # Errors
    /// The engine's read error, or `visit`'s.
    fn range<F: FnMut(u64, &[u8]) -> Result<()>>(
        &self,
        lo: u64,
        count: u64,
        visit: F,
    ) -> Result<()>;

    /// The I/O backend the engine opened (infinitedb's; `None` for the peers).
    fn backend(&self) -> Option<uring_io::BackendInfo> {
        None
    }

    /// The engine's own read counters (infinitedb's [`::infinitedb::Db::stats`]; `None` for
    /// the peers, which have none the comparison reads).
    fn read_stats(&self) -> Option<::infinitedb::Stats> {
        None
    }

    /// Closes the engine.
    ///
    /// # Errors
    /// The engine's close error.
    fn close(self) -> Result<()>;
}

/// The value of `key`: its 8 little-endian bytes repeated over `value_bytes` bytes, so every
/// key has its own value and a reader can check one without a table.
pub fn expected_value(key: u64, value_bytes: usize) -> Vec<u8> {
    let pattern = key.to_le_bytes();
    (0..value_bytes)
        .map(|index| pattern[index % pattern.len()])
        .collect()
}

/// Whether `value` is [`expected_value`]`(key, value_bytes)`, compared without building it.
fn value_matches(key: u64, value: &[u8], value_bytes: usize) -> bool {
    let pattern = key.to_le_bytes();
    value.len() == value_bytes
        && value
            .chunks(pattern.len())
            .all(|chunk| chunk == &pattern[..chunk.len()])
}

/// A [`BenchError::PeerMismatch`].
fn mismatch(engine: &'static str, workload: &'static str, detail: String) -> BenchError {
    BenchError::PeerMismatch {
        engine,
        workload,
        detail,
    }
}

/// Checks the answer of a get of a loaded `key`.
///
/// # Errors
/// [`BenchError::PeerMismatch`] when the value is absent or not the key's.
pub fn check_get(
    engine: &'static str,
    key: u64,
    found: Option<&[u8]>,
    value_bytes: usize,
) -> Result<()> {
    match found {
        Some(value) if value_matches(key, value, value_bytes) => Ok(()),
        Some(value) => Err(mismatch(
            engine,
            "get",
            format!(
                "key {key}: a {}-byte value that is not the key's",
                value.len()
            ),
        )),
        None => Err(mismatch(engine, "get", format!("key {key}: absent"))),
    }
}

/// The check of one range `lo..end` of loaded keys: every key once, in order, with its value.
#[derive(Debug)]
pub struct RangeCheck {
    engine: &'static str,
    next: u64,
    end: u64,
    value_bytes: usize,
}

impl RangeCheck {
    /// The check of the range `lo..lo + count`.
    pub fn new(engine: &'static str, lo: u64, count: u64, value_bytes: usize) -> RangeCheck {
        RangeCheck {
            engine,
            next: lo,
            end: lo.saturating_add(count),
            value_bytes,
        }
    }

    /// Checks the next record of the range.
    ///
    /// # Errors
    /// [`BenchError::PeerMismatch`] when `key` is not the next key or `value` not its value.
    pub fn visit(&mut self, key: u64, value: &[u8]) -> Result<()> {
        if key != self.next || key >= self.end {
            return Err(mismatch(
                self.engine,
                "range",
                format!(
                    "expected key {} of ..{}, found key {key}",
                    self.next, self.end
                ),
            ));
        }
        if !value_matches(key, value, self.value_bytes) {
            return Err(mismatch(
                self.engine,
                "range",
                format!(
                    "key {key}: a {}-byte value that is not the key's",
                    value.len()
                ),
            ));
        }
        self.next += 1;
        Ok(())
    }

    /// Checks that the range is complete; returns its records.
    ///
    /// # Errors
    /// [`BenchError::PeerMismatch`] when keys are missing at the end.
    pub fn finish(self, lo: u64) -> Result<u64> {
        if self.next != self.end {
            return Err(mismatch(
                self.engine,
                "range",
                format!("range ended before key {} of ..{}", self.next, self.end),
            ));
        }
        Ok(self.end - lo)
    }
}

/// One comparison run.
#[derive(Clone, Debug)]
pub struct PeersJob {
    /// Directory in which each engine's temporary directory is created (and removed after).
    pub directory: PathBuf,
    /// Keys loaded.
    pub keys: u64,
    /// Bytes per value.
    pub value_bytes: usize,
    /// Duration of each read run.
    pub runtime: Duration,
    /// Runs of each read workload per engine (the median is reported).
    pub repeats: u32,
    /// Random gets run this long after the load and before the measured runs, neither
    /// counted nor timed (fio's ramp_time): the page cache fills and the load's compactions
    /// go on meanwhile. Zero for none.
    pub ramp: Duration,
    /// Whether the get workload runs (the suite's range row runs ranges only).
    pub gets: bool,
    /// Whether the range workload runs (`--rw randread-large` runs gets only).
    pub ranges: bool,
    /// infinitedb's I/O backend (and the raw reads').
    pub backend: BackendRequest,
    /// Size of the raw QD1 random reads' file.
    pub raw_file_bytes: u64,
    /// Draw progress bars (on stderr, only when it is a terminal).
    pub progress: bool,
}

impl PeersJob {
    /// Checks the job's parameters.
    ///
    /// # Errors
    /// [`BenchError::InvalidJob`].
    pub fn validate(&self) -> Result<()> {
        if self.keys < RANGE_KEYS {
            return Err(BenchError::invalid(format!(
                "--rw peers needs --keys >= {RANGE_KEYS} (one range)"
            )));
        }
        if self.keys > 1 << 32 {
            return Err(BenchError::invalid(
                "--rw peers keys are infinitedb coordinates of 32 bits: --keys <= 4294967296",
            ));
        }
        if self.value_bytes == 0 {
            return Err(BenchError::invalid("--bs must be positive"));
        }
        if self.runtime.is_zero() || self.repeats == 0 {
            return Err(BenchError::invalid(
                "--runtime and --repeats must be positive",
            ));
        }
        Ok(())
    }
}

/// Figures of one row of the comparison (one engine, one workload).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PeerFigures {
    /// "infinitedb", "fjall" or "redb".
    pub engine: String,
    /// "load", "get" or "range".
    pub workload: String,
    /// Keys loaded.
    pub keys: u64,
    /// Records written (load) or read and checked (get, range) in the reported run.
    pub records: u64,
    /// `records` per second of the run.
    pub records_per_second: f64,
    /// Runs measured; the reported one has the median rate.
    pub runs: u32,
    /// `read_bytes` of `/proc/self/io` over the run (`None` where the file is missing).
    pub device_read_bytes: Option<u64>,
    /// `device_read_bytes` per operation (a get, a range, a load batch).
    pub device_read_bytes_per_op: Option<f64>,
    /// The engine's own counters over a get run (infinitedb's get rows only, else `None`).
    pub engine_reads: Option<EngineReads>,
    /// The engine's durability semantics on its defaults.
    pub durability: String,
}

/// The report shape of a row of the comparison.
fn peer_shape(engine: &str, workload: &str, value_bytes: usize) -> JobShape {
    JobShape {
        name: format!("{engine} {workload}"),
        rw: PEERS_RW.to_string(),
        bs_bytes: value_bytes as u64,
        numjobs: 1,
        iodepth: 1,
        durability: None,
    }
}

/// Runs the comparison: every compiled engine in turn, then the rows beside each other and
/// the infinitedb gets beside the device's QD1 random reads.
///
/// # Errors
/// [`BenchError::InvalidJob`]; [`BenchError::PeerMismatch`] when an engine returns a wrong
/// answer; engine errors.
pub fn run(job: &PeersJob) -> Result<Report> {
    job.validate()?;
    let mut report = Report::new(Environment::probe(&job.directory, None));
    let ours = run_engine::<Infinitedb>(job)?;
    report.environment.backend = ours.backend.as_ref().map(Into::into);
    let peers = run_peers(job)?;
    report.comparisons = peer_comparisons(&ours, &peers, job.repeats);
    for rows in std::iter::once(&ours).chain(&peers) {
        report.jobs.extend(rows.reports());
        report
            .notes
            .push(format!("{} durability: {}", rows.engine, rows.durability));
    }
    if peers.is_empty() {
        report.notes.push(
            "fjall and redb not built: rebuild with `--features peers` to compare".to_string(),
        );
    }
    if let Some(gets) = &ours.get {
        let bound = read_bound(job, job.raw_file_bytes, false);
        push_qd1_read_bound(&mut report, GETS_FIGURE, gets, &bound)?;
    }
    report.notes.push(load_note(job));
    Ok(report)
}

/// `--rw randread-large`: infinitedb alone loads `job.keys` keys as the comparison does, then
/// runs random point gets (no ranges), reported with the engine's own read counters
/// ([`EngineReads`]) beside the device's QD1 4 KiB O_DIRECT random reads, uring-io's and,
/// when it is installed, fio's, over a file as large as the database in the same directory.
///
/// # Errors
/// As [`run`].
pub fn run_large_gets(job: &PeersJob) -> Result<Report> {
    let job = PeersJob {
        gets: true,
        ranges: false,
        ..job.clone()
    };
    job.validate()?;
    let mut report = Report::new(Environment::probe(&job.directory, None));
    let ours = run_engine::<Infinitedb>(&job)?;
    report.environment.backend = ours.backend.as_ref().map(Into::into);
    report.jobs.extend(ours.reports());
    let gets = ours
        .get
        .as_ref()
        .ok_or_else(|| BenchError::invalid("the run made no get row"))?;
    let file_bytes = ours
        .disk_bytes
        .map_or(job.raw_file_bytes, |bytes| bytes.next_multiple_of(1 << 20));
    push_qd1_read_bound(
        &mut report,
        GETS_FIGURE,
        gets,
        &read_bound(&job, file_bytes, true),
    )?;
    report.notes.push(load_note(&job));
    report.notes.push(format!(
        "the database held {} on disk after the flush; the device's QD1 reads ran over a file \
         of {} in the same directory",
        ours.disk_bytes
            .map_or_else(|| "?".to_string(), crate::report::format_bytes),
        crate::report::format_bytes(file_bytes)
    ));
    Ok(report)
}

/// The device's QD1 reads beside `job`'s gets, over a file of `file_bytes`, with fio too
/// when `fio`.
fn read_bound(job: &PeersJob, file_bytes: u64, fio: bool) -> ReadBoundConfig {
    ReadBoundConfig {
        directory: job.directory.clone(),
        backend: job.backend,
        runtime: job.runtime,
        file_bytes,
        fio,
        progress: job.progress,
    }
}

/// The note saying how `job` loaded and read.
fn load_note(job: &PeersJob) -> String {
    let ramp = if job.ramp.is_zero() {
        String::new()
    } else {
        format!(" after {:.1} s of unmeasured gets", job.ramp.as_secs_f64())
    };
    format!(
        "{} keys x {} B loaded in shuffled batches of {LOAD_BATCH_KEYS}, then each engine's \
         flush; read rows are the median of {} runs of {:.1} s{ramp}, every value checked; \
         the load row is one run",
        job.keys,
        job.value_bytes,
        job.repeats,
        job.runtime.as_secs_f64()
    )
}

/// The peers' rows (none without the `peers` feature).
#[cfg(feature = "peers")]
fn run_peers(job: &PeersJob) -> Result<Vec<EngineRows>> {
    Ok(vec![
        run_engine::<fjall::Fjall>(job)?,
        run_engine::<redb::Redb>(job)?,
    ])
}

/// The peers' rows (none without the `peers` feature).
#[cfg(not(feature = "peers"))]
fn run_peers(_job: &PeersJob) -> Result<Vec<EngineRows>> {
    Ok(Vec::new())
}

/// A workload's comparison row: its figure, unit, row, target, and whether it is a median
/// of the job's repeats (the load runs once).
struct PeerRow {
    figure: &'static str,
    unit: &'static str,
    row_of: fn(&EngineRows) -> Option<&JobReport>,
    target: Option<f64>,
    repeated: bool,
}

/// The comparison's rows, in the order printed.
const PEER_ROWS: [PeerRow; 3] = [
    PeerRow {
        figure: "point gets/s, 1 reader",
        unit: "ops/s",
        row_of: |rows| rows.get.as_ref(),
        target: Some(1.0),
        repeated: true,
    },
    PeerRow {
        figure: "ranges of 1000 keys, 1 reader",
        unit: "records/s",
        row_of: |rows| rows.range.as_ref(),
        target: Some(1.0),
        repeated: true,
    },
    PeerRow {
        figure: "load, batches of 1000 + flush",
        unit: "records/s",
        row_of: |rows| Some(&rows.load),
        target: None,
        repeated: false,
    },
];

/// infinitedb's rows beside each peer's, ratio infinitedb / peer.
fn peer_comparisons(ours: &EngineRows, peers: &[EngineRows], repeats: u32) -> Vec<Comparison> {
    let mut rows = Vec::new();
    for workload in &PEER_ROWS {
        let Some(our_row) = (workload.row_of)(ours) else {
            continue;
        };
        for peer in peers {
            let Some(peer_row) = (workload.row_of)(peer) else {
                continue;
            };
            let mut row = Comparison::new(
                workload.figure,
                workload.unit,
                rate(our_row, workload.unit),
                peer.engine,
                rate(peer_row, workload.unit),
            )
            .source(crate::report::PEER_SOURCE)
            .latencies(
                our_row.latency_percentiles(),
                peer_row.latency_percentiles(),
            );
            row.target_ratio = workload.target;
            row.repeats = if workload.repeated { repeats } else { 1 };
            rows.push(row);
        }
    }
    rows
}

/// A row's figure in `unit`: operations or records per second.
fn rate(row: &JobReport, unit: &str) -> f64 {
    if unit == "ops/s" {
        row.ops_per_second
    } else {
        row.peer
            .as_ref()
            .map_or(0.0, |figures| figures.records_per_second)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A job of `keys` keys with short read runs, in `directory`.
    fn small_job(directory: &Path, keys: u64) -> PeersJob {
        PeersJob {
            directory: directory.to_path_buf(),
            keys,
            value_bytes: 100,
            runtime: Duration::from_millis(200),
            repeats: 1,
            ramp: Duration::ZERO,
            gets: true,
            ranges: true,
            backend: BackendRequest::Auto,
            raw_file_bytes: 16 * 1024 * 1024,
            progress: false,
        }
    }

    /// Loads 5,000 keys into `E`, then reads every one back by get and by ranges, checked, and
    /// runs the timed workloads; asserts their counts.
    fn every_key_reads_back<E: PeerEngine>() {
        let dir = tempfile::tempdir().unwrap();
        let job = small_job(dir.path(), 5000);
        let scratch = tempfile::tempdir_in(dir.path()).unwrap();
        let mut engine = E::open(scratch.path(), job.backend).unwrap();
        workloads::load(&mut engine, &job, &crate::job::Progress::hidden()).unwrap();
        for key in 0..job.keys {
            engine
                .get(key, |found| check_get(E::NAME, key, found, job.value_bytes))
                .unwrap();
        }
        for lo in (0..job.keys / RANGE_KEYS).map(|index| index * RANGE_KEYS) {
            let mut check = RangeCheck::new(E::NAME, lo, RANGE_KEYS, job.value_bytes);
            engine
                .range(lo, RANGE_KEYS, |key, value| check.visit(key, value))
                .unwrap();
            assert_eq!(check.finish(lo).unwrap(), RANGE_KEYS);
        }
        let mut absent = None;
        engine
            .get(job.keys, |found| {
                absent = Some(found.map(<[u8]>::to_vec));
                Ok(())
            })
            .unwrap();
        assert_eq!(
            absent,
            Some(None),
            "{}: a key never loaded is absent",
            E::NAME
        );
        engine.close().unwrap();
        let rows = run_engine::<E>(&job).unwrap();
        let (gets, ranges) = (rows.get.unwrap(), rows.range.unwrap());
        assert!(gets.ops > 0 && ranges.ops > 0, "{}", E::NAME);
        let range_figures = ranges.peer.unwrap();
        assert_eq!(range_figures.records, ranges.ops * RANGE_KEYS);
        assert_eq!(rows.load.peer.unwrap().records, job.keys);
    }

    /// The key whose value [`Damaged`] damages.
    const DAMAGED_KEY: u64 = 500;

    /// infinitedb with one value damaged: `key`'s first byte flipped on every read.
    struct Damaged {
        inner: Infinitedb,
        key: u64,
    }

    impl Damaged {
        fn damage(&self, key: u64, value: &[u8]) -> Vec<u8> {
            let mut value = value.to_vec();
            if key == self.key
                && let Some(first) = value.first_mut()
            {
                *first ^= 0xFF;
            }
            value
        }
    }

    impl PeerEngine for Damaged {
        const NAME: &'static str = "damaged";
        const DURABILITY: &'static str = "as infinitedb";

        fn open(directory: &Path, backend: BackendRequest) -> Result<Self> {
            Ok(Damaged {
                inner: Infinitedb::open(directory, backend)?,
                key: DAMAGED_KEY,
            })
        }

        fn load(&mut self, batch: &[(u64, Vec<u8>)]) -> Result<()> {
            self.inner.load(batch)
        }

        fn flush(&mut self) -> Result<()> {
            self.inner.flush()
        }

        fn get<F: FnOnce(Option<&[u8]>) -> Result<()>>(&self, key: u64, check: F) -> Result<()> {
            self.inner.get(key, |found| {
                check(found.map(|value| self.damage(key, value)).as_deref())
            })
        }

        fn range<F: FnMut(u64, &[u8]) -> Result<()>>(
            &self,
            lo: u64,
            count: u64,
            mut visit: F,
        ) -> Result<()> {
            self.inner
                .range(lo, count, |key, value| visit(key, &self.damage(key, value)))
        }

        fn close(self) -> Result<()> {
            self.inner.close()
        }
    }

    #[test]
    fn infinitedb_reads_back_every_loaded_key() {
        // Goal: infinitedb's engine of the comparison returns every loaded value by get and
        // by range, and its timed workloads count what they read. Method: 5,000 keys.
        every_key_reads_back::<Infinitedb>();
    }

    #[cfg(feature = "peers")]
    #[test]
    fn fjall_reads_back_every_loaded_key() {
        // Goal: as above, for fjall. Method: 5,000 keys.
        every_key_reads_back::<fjall::Fjall>();
    }

    #[cfg(feature = "peers")]
    #[test]
    fn redb_reads_back_every_loaded_key() {
        // Goal: as above, for redb. Method: 5,000 keys.
        every_key_reads_back::<redb::Redb>();
    }

    #[test]
    fn a_gets_only_run_carries_the_engines_read_counters() {
        // Goal: a run without ranges (`--rw randread-large`'s) has no range row, and its get
        // row carries infinitedb's read counters over exactly its measured gets (the ramp's
        // left out), with at least one block consulted per get (every key is loaded) and the
        // database's bytes on disk. Method: 2,000 keys, a 100 ms ramp, one get run of 200 ms.
        let dir = tempfile::tempdir().unwrap();
        let job = PeersJob {
            ranges: false,
            ramp: Duration::from_millis(100),
            ..small_job(dir.path(), 2000)
        };
        let rows = run_engine::<Infinitedb>(&job).unwrap();
        assert!(rows.range.is_none());
        let gets = rows.get.unwrap();
        let reads = gets.peer.unwrap().engine_reads.unwrap();
        assert_eq!(reads.gets, gets.ops);
        assert!(reads.blocks_consulted_per_get >= 1.0, "{reads:?}");
        assert!(rows.disk_bytes.unwrap() > 2000 * 100);
        assert!(rows.load.peer.unwrap().engine_reads.is_none());
    }

    #[test]
    fn a_wrong_value_fails_the_run() {
        // Goal: a damaged value is an error, not a figure, in both read workloads. Method: an
        // engine that flips a byte of key 500's value; a get of it fails `check_get`, a range
        // over it fails `RangeCheck`, and a timed run over 1,000 keys fails (every range is
        // the whole key set, so a range run meets the damage even if no get did).
        let dir = tempfile::tempdir().unwrap();
        let job = small_job(dir.path(), 1000);
        let scratch = tempfile::tempdir_in(dir.path()).unwrap();
        let mut engine = Damaged::open(scratch.path(), job.backend).unwrap();
        workloads::load(&mut engine, &job, &crate::job::Progress::hidden()).unwrap();
        let get = engine.get(DAMAGED_KEY, |found| {
            check_get("damaged", DAMAGED_KEY, found, 100)
        });
        assert!(
            matches!(get, Err(BenchError::PeerMismatch { .. })),
            "{get:?}"
        );
        engine
            .get(DAMAGED_KEY - 1, |found| {
                check_get("damaged", DAMAGED_KEY - 1, found, 100)
            })
            .unwrap();
        let mut check = RangeCheck::new("damaged", 0, RANGE_KEYS, 100);
        let range = engine.range(0, RANGE_KEYS, |key, value| check.visit(key, value));
        assert!(
            matches!(range, Err(BenchError::PeerMismatch { .. })),
            "{range:?}"
        );
        engine.close().unwrap();
        let run = run_engine::<Damaged>(&job);
        assert!(
            matches!(run, Err(BenchError::PeerMismatch { .. })),
            "{:?}",
            run.map(|rows| rows.engine)
        );
    }

    #[test]
    fn checks_refuse_missing_and_misordered_keys() {
        // Goal: a range check fails on a skipped key, a repeated key and a short range; a get
        // check on an absent key. Method: hand-fed records.
        let value = |key| expected_value(key, 10);
        let mut skipped = RangeCheck::new("t", 5, 3, 10);
        skipped.visit(5, &value(5)).unwrap();
        assert!(skipped.visit(7, &value(7)).is_err());
        let mut repeated = RangeCheck::new("t", 5, 3, 10);
        repeated.visit(5, &value(5)).unwrap();
        assert!(repeated.visit(5, &value(5)).is_err());
        let mut short = RangeCheck::new("t", 5, 3, 10);
        short.visit(5, &value(5)).unwrap();
        assert!(short.finish(5).is_err());
        assert!(check_get("t", 9, None, 10).is_err());
        assert!(check_get("t", 9, Some(&value(8)), 10).is_err());
        assert!(check_get("t", 9, Some(&value(9)[..9]), 10).is_err());
        check_get("t", 9, Some(&value(9)), 10).unwrap();
    }
}
