//! Real crashes: a writer process killed with SIGKILL at random moments.
//!
//! Goal: every write a killed process saw acknowledged is there after reopening, with its
//! value, on the real io_uring backend and on the fallback, including after kills that
//! interrupt an open (and so a recovery). Method: the test re-executes its own binary as a
//! child (switched by `INFINITEDB_KILL_CHILD`); the child prints `opening`, opens the database,
//! prints `opened <backend>`, runs two writer threads (puts, three-point batches that also
//! write their points into a second space, the mirror, in the same atomic batch, occasional
//! flushes, small seal thresholds so seals run often, a level-0 compaction trigger of 2 so
//! background compactions follow them, and a `Db::compact` every few writes of the second
//! writer, between `compacting` and `compacted` lines) and prints `ack <generation> <writer>
//! <index> <count> <revision>` after each acknowledged write, flushing each line (and
//! `compactions <count>` when the child's compaction count has grown). So kills land during
//! compactions too (outputs written, the manifest batch, inputs deleted; the parent counts
//! the children killed inside a `Db::compact`), and the reopen after each kill recovers from
//! them: a compaction whose manifest batch were not atomic, or whose inputs were deleted
//! before it was durable, would lose acknowledged points here. The parent kills each child at a point relative to what the child has reported, never to the clock
//! alone, so a slow machine changes nothing but the run time: most kills wait for `opened` and
//! a random number of acknowledgements, then a random delay; one in eight lands during the
//! open, at a random delay after `opening` of up to the last open's duration. Then it reopens
//! and checks every acknowledged point (value and revision), that unacknowledged points hold
//! nothing or their exact value, that the mirror holds a point exactly when the batch's own
//! space does (a batch across spaces is all there or not at all), and that the revision
//! high-water mark covers every
//! acknowledgement. A child that reports nothing within a minute fails the test (a hang, not
//! slowness). `INFINITEDB_KILLS` sets the kills per backend (default 50).

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a failure is a test failure"
)]

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use infinitedb::Readable;
use infinitedb::{BackendRequest, Batch, Db, Options, Revision, SpaceId};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use support::seeds::env_u64;
use support::{REAL_BACKENDS, suite_options};

const CHILD_ENV: &str = "INFINITEDB_KILL_CHILD";
const TEST_NAME: &str = "sigkill_at_random_moments_keeps_every_acknowledged_write";
const KILLS_DEFAULT: u64 = 50;
/// A child that was never killed stops by itself after this long.
const CHILD_LIFETIME_MAX: Duration = Duration::from_secs(30);
const WRITERS: u32 = 2;
/// How long the parent waits for a child's next report before calling it a hang.
const HANG_GUARD: Duration = Duration::from_secs(60);
/// One kill in this many lands during the open.
const DURING_OPEN_ONE_IN: u32 = 8;
/// A post-open kill waits for 1..=this many acknowledgements...
const ACKS_BEFORE_KILL_MAX: usize = 32;
/// ...then for a random delay below this.
const DELAY_AFTER_ACKS_MAX: Duration = Duration::from_millis(30);
/// The open duration assumed until one has been measured.
const OPEN_DURATION_FIRST_GUESS: Duration = Duration::from_millis(20);

/// A seal every this many records...
const SEAL_RECORDS: u64 = 24;
/// ...a background compaction every this many level-0 blocks...
const L0_TRIGGER: usize = 2;
/// ...and a `Db::compact` by writer 1 early (its fourth point) and then about every this
/// many points.
const COMPACT_EVERY: u32 = 8;

fn options(backend: BackendRequest) -> Options {
    suite_options()
        .backend(backend)
        .seal_threshold_records(SEAL_RECORDS)
        .l0_compaction_trigger(L0_TRIGGER)
        .block_target_bytes(16 * 1024)
}

/// The value of point `(generation, writer, index)`.
fn value_of(generation: u32, writer: u32, index: u32) -> Vec<u8> {
    let mut value = format!("g{generation}-w{writer}-i{index}-").into_bytes();
    value.extend(std::iter::repeat_n(
        b'k',
        usize::try_from(index % 97).unwrap() * 7,
    ));
    value
}

fn point_of(generation: u32, writer: u32, index: u32) -> Vec<u32> {
    vec![generation, writer * 1_000_000 + index]
}

/// The space the writers write, and the mirror their three-point batches also write.
fn open_spaces(db: &Db) -> (SpaceId, SpaceId) {
    let open = |name: &str| {
        db.space(name)
            .or_else(|_| db.create_space(name, 2, 32))
            .unwrap()
    };
    (open("kill"), open("kill-mirror"))
}

/// Whether the point at `index` was written by a three-point batch (one across both spaces):
/// the batches starting at an index `3 mod 7` hold three points, every other batch one.
fn in_spanning_batch(index: u32) -> bool {
    (3..=5).contains(&(index % 7))
}

/// Prints `line` to stdout at once (the parent reads it as the child goes).
fn print_line(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").unwrap();
    out.flush().unwrap();
}

/// The child: writes until killed, printing every acknowledgement.
fn child_main(spec: &str) {
    let mut parts = spec.split('|');
    let (dir, backend, generation) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let backend = if backend == "fallback" {
        BackendRequest::Fallback
    } else {
        BackendRequest::Auto
    };
    let generation: u32 = generation.parse().unwrap();
    // libtest has already printed "test <name> ... " without a newline: start a new line.
    println!("\nopening");
    std::io::stdout().flush().unwrap();
    let db = Db::open(dir, options(backend)).unwrap();
    let (space, mirror) = open_spaces(&db);
    println!("opened {:?}", db.backend().kind);
    std::io::stdout().flush().unwrap();
    let started = Instant::now();
    std::thread::scope(|scope| {
        for writer in 0..WRITERS {
            let db = &db;
            scope.spawn(move || {
                let (mut index, mut compactions_printed) = (0, 0);
                while started.elapsed() < CHILD_LIFETIME_MAX {
                    let count = if index % 7 == 3 { 3 } else { 1 };
                    let mut batch = Batch::new(space);
                    for offset in 0..count {
                        let point = point_of(generation, writer, index + offset);
                        let value = value_of(generation, writer, index + offset);
                        if count == 3 {
                            batch.put_in(mirror, &point, value.clone());
                        }
                        batch.put(point, value);
                    }
                    let revision = db.write(batch).unwrap();
                    let mut out = std::io::stdout().lock();
                    writeln!(
                        out,
                        "ack {generation} {writer} {index} {count} {}",
                        revision.0
                    )
                    .unwrap();
                    out.flush().unwrap();
                    drop(out);
                    if writer == 0 && index % 150 == 149 {
                        db.flush(space).unwrap();
                    }
                    if writer == 1 && index % COMPACT_EVERY == 3 {
                        print_line("compacting");
                        db.compact(space).unwrap();
                        print_line("compacted");
                    }
                    let done = db.stats().compactions;
                    if done > compactions_printed {
                        compactions_printed = done;
                        print_line(&format!("compactions {done}"));
                    }
                    index += count;
                }
            });
        }
    });
}

/// One acknowledged write: `count` points from `index`, at `revision`.
#[derive(Clone, Copy, Debug)]
struct Ack {
    generation: u32,
    writer: u32,
    index: u32,
    count: u32,
    revision: u64,
}

fn parse_ack(line: &str) -> Option<Ack> {
    let mut words = line.strip_prefix("ack ")?.split(' ');
    let mut next = || {
        words
            .next()
            .and_then(|word| word.trim().parse::<u64>().ok())
    };
    let field = |value: Option<u64>| value.and_then(|value| u32::try_from(value).ok());
    Some(Ack {
        generation: field(next())?,
        writer: field(next())?,
        index: field(next())?,
        count: field(next())?,
        revision: next()?,
    })
}

/// Where the parent kills a child.
#[derive(Clone, Copy, Debug)]
enum KillPoint {
    /// This long after the child reports `opening`.
    DuringOpen(Duration),
    /// This long after the child has reported `opened` and `acks` acknowledgements.
    AfterAcks { acks: usize, delay: Duration },
}

/// A child's stdout, line by line as the reader thread forwards complete lines.
struct ChildOutput {
    receiver: Receiver<String>,
    lines: Vec<String>,
    acks: usize,
}

impl ChildOutput {
    /// Takes lines until `done` holds for one (`Ok`), or the child has been silent for
    /// [`HANG_GUARD`] or closed its stdout (`Err`).
    fn wait_for(
        &mut self,
        what: &str,
        mut done: impl FnMut(&str, usize) -> bool,
    ) -> Result<(), String> {
        loop {
            let line = match self.receiver.recv_timeout(HANG_GUARD) {
                Ok(line) => line,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "no line for {HANG_GUARD:?} while waiting for {what}"
                    ));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(format!("the child closed stdout before {what}"));
                }
            };
            self.acks += usize::from(line.starts_with("ack "));
            let reached = done(&line, self.acks);
            self.lines.push(line);
            if reached {
                return Ok(());
            }
        }
    }

    /// Takes every remaining line, up to the end of the child's stdout.
    fn drain(&mut self) {
        self.lines.extend(self.receiver.iter());
    }
}

/// What one child did before its kill.
struct ChildRun {
    lines: Vec<String>,
    /// From `opening` to `opened`, as the parent saw them; `None` for a kill during open.
    open_duration: Option<Duration>,
}

/// Kills `child`, collects the rest of its output and panics with `failure` and the output.
fn fail_child(child: &mut Child, output: &mut ChildOutput, failure: &str) -> ! {
    let _ = child.kill();
    let status = child.wait();
    output.drain();
    let tail = output.lines.len().saturating_sub(20);
    panic!(
        "{failure} (child {status:?}); its last lines:\n{}",
        output.lines[tail..].join("\n")
    );
}

/// Starts a child for `generation`, kills it at `point` and returns its complete lines.
fn run_child(dir: &Path, backend: BackendRequest, generation: u32, point: KillPoint) -> ChildRun {
    let name = if backend == BackendRequest::Fallback {
        "fallback"
    } else {
        "auto"
    };
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, format!("{}|{name}|{generation}", dir.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = channel();
    let reader = std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        // A line cut by the kill has no newline: it was never fully acknowledged to us.
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            if line.ends_with('\n') && sender.send(line.trim_end().to_string()).is_err() {
                break;
            }
            line.clear();
        }
    });
    let mut output = ChildOutput {
        receiver,
        lines: Vec::new(),
        acks: 0,
    };
    if let Err(failure) = output.wait_for("`opening`", |line, _| line == "opening") {
        fail_child(&mut child, &mut output, &failure);
    }
    let opening_at = Instant::now();
    let mut open_duration = None;
    match point {
        KillPoint::DuringOpen(delay) => std::thread::sleep(delay),
        KillPoint::AfterAcks { acks, delay } => {
            if let Err(failure) = output.wait_for("`opened`", |line, _| line.starts_with("opened "))
            {
                fail_child(&mut child, &mut output, &failure);
            }
            open_duration = Some(opening_at.elapsed());
            let waited =
                output.wait_for(&format!("{acks} acknowledgements"), |_, seen| seen >= acks);
            if let Err(failure) = waited {
                fail_child(&mut child, &mut output, &failure);
            }
            std::thread::sleep(delay);
        }
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    output.drain();
    reader.join().unwrap();
    ChildRun {
        lines: output.lines,
        open_duration,
    }
}

/// Checks every acknowledged point of `acks` and the unacknowledged ones just after them.
/// Checks that the mirror holds the point at `index` of `(generation, writer)` exactly when
/// `space` does, with the same value, if a batch across both spaces wrote it, and holds
/// nothing otherwise.
fn check_mirror(
    db: &Db,
    (space, mirror): (SpaceId, SpaceId),
    (generation, writer, index): (u32, u32, u32),
    context: &str,
) {
    let point = point_of(generation, writer, index);
    let own = db.get(space, &point).unwrap();
    let mirrored = db.get(mirror, &point).unwrap();
    if in_spanning_batch(index) {
        assert_eq!(
            own, mirrored,
            "{context}: point {index} of a batch across spaces recovered in one space only"
        );
    } else {
        assert_eq!(mirrored, None, "{context}: point {index} in the mirror");
    }
}

fn check_acks(db: &Db, spaces: (SpaceId, SpaceId), acks: &[Ack], context: &str) {
    let space = spaces.0;
    let mut next_index: BTreeMap<(u32, u32), u32> = BTreeMap::new();
    for ack in acks {
        for index in ack.index..ack.index + ack.count {
            let value = db
                .get(space, &point_of(ack.generation, ack.writer, index))
                .unwrap();
            assert_eq!(
                value,
                Some(value_of(ack.generation, ack.writer, index).into()),
                "{context}: acknowledged {ack:?} point {index} lost"
            );
            let versions = db
                .history(space, &point_of(ack.generation, ack.writer, index))
                .unwrap();
            assert_eq!(
                versions.first().map(|(revision, _)| *revision),
                Some(Revision(ack.revision)),
                "{context}: acknowledged {ack:?} point {index} has another revision"
            );
            check_mirror(db, spaces, (ack.generation, ack.writer, index), context);
        }
        let next = next_index.entry((ack.generation, ack.writer)).or_default();
        *next = (*next).max(ack.index + ack.count);
    }
    for ((generation, writer), next) in next_index {
        for index in next..next + 8 {
            let value = db.get(space, &point_of(generation, writer, index)).unwrap();
            assert!(
                value.is_none() || value == Some((value_of(generation, writer, index)).into()),
                "{context}: unacknowledged point {index} holds garbage"
            );
            check_mirror(db, spaces, (generation, writer, index), context);
        }
    }
    let revision_max = acks.iter().map(|ack| ack.revision).max().unwrap_or(0);
    assert!(
        db.last_revision() >= Revision(revision_max),
        "{context}: revision high-water mark went back"
    );
}

fn kill_point(rng: &mut ChaCha8Rng, generation: u32, open_duration: Duration) -> KillPoint {
    // The first child always opens: a kill during open then has a database to recover.
    if generation > 0 && rng.gen_ratio(1, DURING_OPEN_ONE_IN) {
        let micros = u64::try_from(open_duration.as_micros()).unwrap_or(u64::MAX);
        KillPoint::DuringOpen(Duration::from_micros(rng.gen_range(0..=micros)))
    } else {
        let delay_micros = u64::try_from(DELAY_AFTER_ACKS_MAX.as_micros()).unwrap();
        KillPoint::AfterAcks {
            acks: rng.gen_range(1..=ACKS_BEFORE_KILL_MAX),
            delay: Duration::from_micros(rng.gen_range(0..delay_micros)),
        }
    }
}

/// From a child's lines: the compactions it finished, and whether it was killed inside a
/// `Db::compact` (a `compacting` line with no `compacted` after it).
fn compactions_of(lines: &[String]) -> (u64, bool) {
    let finished = lines
        .iter()
        .filter_map(|line| line.strip_prefix("compactions ")?.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    let last = lines
        .iter()
        .rev()
        .find(|line| *line == "compacting" || *line == "compacted");
    (finished, last.is_some_and(|line| line == "compacting"))
}

fn run_parent(backend: BackendRequest, kills: u64) {
    let dir = tempfile::tempdir_in("/tmp").unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(env_u64("INFINITEDB_SEED").unwrap_or(7));
    let mut all_acks: Vec<Ack> = Vec::new();
    let mut open_duration = OPEN_DURATION_FIRST_GUESS;
    let (mut after_acks, mut during_open, mut before_opened) = (0, 0, 0);
    let (mut compactions, mut killed_in_compact) = (0u64, 0u32);
    let started = Instant::now();
    for generation in 0..u32::try_from(kills).unwrap() {
        let point = kill_point(&mut rng, generation, open_duration);
        let run = run_child(dir.path(), backend, generation, point);
        let opened = run.lines.iter().any(|line| line.starts_with("opened "));
        let acks: Vec<Ack> = run
            .lines
            .iter()
            .filter_map(|line| parse_ack(line))
            .collect();
        match point {
            KillPoint::AfterAcks { acks: wanted, .. } => {
                after_acks += 1;
                assert!(
                    acks.len() >= wanted,
                    "{backend:?} kill {generation}: waited for {wanted} acks, parsed {}",
                    acks.len()
                );
            }
            KillPoint::DuringOpen(_) => {
                during_open += 1;
                before_opened += usize::from(!opened);
            }
        }
        if let Some(measured) = run.open_duration {
            open_duration = measured;
        }
        let (child_compactions, killed_inside) = compactions_of(&run.lines);
        compactions += child_compactions;
        killed_in_compact += u32::from(killed_inside);
        all_acks.extend(&acks);
        let context = format!(
            "{backend:?} kill {generation} at {point:?} ({} acks)",
            acks.len()
        );
        let db = Db::open(dir.path(), options(backend))
            .unwrap_or_else(|error| panic!("{context}: reopen failed: {error}"));
        let spaces = open_spaces(&db);
        let checked = if generation % 10 == 9 || u64::from(generation) + 1 == kills {
            &all_acks[..]
        } else {
            &acks[..]
        };
        check_acks(&db, spaces, checked, &context);
        db.close().unwrap();
    }
    println!(
        "{backend:?}: {kills} SIGKILLs in {:?}: {after_acks} after acknowledgements, \
         {during_open} during open ({before_opened} before `opened`); {} acknowledged writes all present; \
         the children reported {compactions} compactions done, {killed_in_compact} were \
         killed inside a `Db::compact`",
        started.elapsed(),
        all_acks.len()
    );
    assert!(
        after_acks > 0 && !all_acks.is_empty(),
        "no child was killed after acknowledging writes: nothing was tested"
    );
    if kills >= 10 {
        assert!(
            compactions + u64::from(killed_in_compact) > 0,
            "no child finished a compaction or was killed inside one: the kills never met one"
        );
    }
}

#[test]
fn sigkill_at_random_moments_keeps_every_acknowledged_write() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        child_main(&spec);
        return;
    }
    let kills = env_u64("INFINITEDB_KILLS").unwrap_or(KILLS_DEFAULT);
    for backend in REAL_BACKENDS {
        run_parent(backend, kills);
    }
}
