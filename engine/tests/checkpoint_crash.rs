//! Real crashes during checkpoints: a process killed with SIGKILL while it writes copies.
//!
//! Goal: a checkpoint cut at any instant leaves a destination that either fails closed (an
//! open refuses it as incomplete or as not a database, never opening it empty) or holds
//! exactly the data written before the checkpoint began; and the source database keeps every
//! acknowledged write. Method: the test re-executes its own binary as a child (switched by
//! `INFINITEDB_CKPT_CHILD`) in a fresh directory per round; the child writes a known dataset
//! (several spaces, several blocks each) into `source`, prints `written`, then checkpoints
//! into `dest-0`, `dest-1`, ... in a loop, printing `checkpointing <k>` before and
//! `checkpointed <k>` after each. The parent waits for `checkpointing <k>` (k random in
//! 0..=[`TARGET_MAX`]), sleeps a random delay up to a little more than the last checkpoint
//! it saw take, and sends SIGKILL. Then it opens the source and every destination: one with a
//! `MANIFEST` must open with the exact dataset, one without must be refused (both opens) with
//! `Error::MissingManifest` or `Error::NotADatabase`, an empty one is a checkpoint killed
//! before it wrote anything (it is not opened: an open would create a database there). Every
//! `checkpointed <k>` line must name a complete copy. The kill instant depends on timing, so
//! rounds go on past `INFINITEDB_CKPT_ROUNDS` (default 30) until at least one kill landed
//! mid-checkpoint and one copy completed, up to [`ROUNDS_CAP`]; nothing is asserted about
//! durations.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a failure is a test failure"
)]

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use infinitedb::{BackendRequest, Batch, Db, Error, Options, Readable};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use support::seeds::env_u64;
use support::{REAL_BACKENDS, suite_options};

const CHILD_ENV: &str = "INFINITEDB_CKPT_CHILD";
const TEST_NAME: &str = "sigkill_during_checkpoints_leaves_refused_or_complete_copies";
const ROUNDS_DEFAULT: u64 = 30;
/// Rounds stop here even if no kill landed mid-checkpoint (the test then fails).
const ROUNDS_CAP: u64 = 200;
const SPACES: u32 = 3;
const POINTS_PER_SPACE: u32 = 3_000;
const POINTS_PER_BATCH: u32 = 100;
const VALUE_BYTES: usize = 200;
/// The parent kills during checkpoint k, k in 0..=this.
const TARGET_MAX: u32 = 3;
/// A child that was never killed stops by itself after this long.
const CHILD_LIFETIME_MAX: Duration = Duration::from_secs(30);
/// How long the parent waits for a child's next line before calling it a hang.
const HANG_GUARD: Duration = Duration::from_secs(60);
/// The checkpoint duration assumed until one has been seen.
const CHECKPOINT_FIRST_GUESS: Duration = Duration::from_millis(5);

fn options(backend: BackendRequest) -> Options {
    suite_options()
        .backend(backend)
        .seal_threshold_records(400)
        .block_target_bytes(16 * 1024)
}

fn space_name(space: u32) -> String {
    format!("space-{space}")
}

fn point_of(index: u32) -> Vec<u32> {
    vec![index % 97, index / 97]
}

fn value_of(space: u32, index: u32) -> Vec<u8> {
    let mut value = format!("s{space}-i{index}-").into_bytes();
    value.resize(VALUE_BYTES, b'v');
    value
}

/// The dataset the child writes, per space name: point to value.
fn dataset() -> BTreeMap<String, BTreeMap<Vec<u32>, Vec<u8>>> {
    (0..SPACES)
        .map(|space| {
            let points = (0..POINTS_PER_SPACE)
                .map(|index| (point_of(index), value_of(space, index)))
                .collect();
            (space_name(space), points)
        })
        .collect()
}

/// Prints `line` to stdout at once (the parent reads it as the child goes).
fn print_line(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").unwrap();
    out.flush().unwrap();
}

/// The child: writes the dataset, then checkpoints until killed.
fn child_main(spec: &str) {
    let (dir, backend) = spec.split_once('|').unwrap();
    let backend = if backend == "fallback" {
        BackendRequest::Fallback
    } else {
        BackendRequest::Auto
    };
    let dir = Path::new(dir);
    // libtest has already printed "test <name> ... " without a newline: start a new line.
    print_line("");
    let db = Db::open(dir.join("source"), options(backend)).unwrap();
    let mut blocks = 0;
    for space in 0..SPACES {
        let id = db.create_space(&space_name(space), 2, 32).unwrap();
        for start in (0..POINTS_PER_SPACE).step_by(POINTS_PER_BATCH as usize) {
            let mut batch = Batch::new(id);
            for index in start..(start + POINTS_PER_BATCH).min(POINTS_PER_SPACE) {
                batch.put(point_of(index), value_of(space, index));
            }
            db.write(batch).unwrap();
        }
        db.flush(id).unwrap();
        blocks += db.space_stats(id).unwrap().blocks();
    }
    print_line(&format!("written {blocks}"));
    let started = Instant::now();
    for k in 0.. {
        if started.elapsed() > CHILD_LIFETIME_MAX {
            break;
        }
        print_line(&format!("checkpointing {k}"));
        db.checkpoint(dir.join(format!("dest-{k}"))).unwrap();
        print_line(&format!("checkpointed {k}"));
    }
}

/// A child's stdout, line by line with the instant the parent read it.
struct ChildOutput {
    receiver: Receiver<(Instant, String)>,
    lines: Vec<(Instant, String)>,
}

impl ChildOutput {
    /// Takes lines until one equals `wanted`; panics on a hang or an early end.
    fn wait_for(&mut self, wanted: &str) {
        loop {
            match self.receiver.recv_timeout(HANG_GUARD) {
                Ok(line) => {
                    let reached = line.1 == wanted;
                    self.lines.push(line);
                    if reached {
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no line for {HANG_GUARD:?} while waiting for {wanted:?}")
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!(
                        "the child closed stdout before {wanted:?}: {:?}",
                        self.lines
                    )
                }
            }
        }
    }

    /// The longest checkpoint after the first (which also seals the data) the lines show.
    fn checkpoint_duration(&self) -> Option<Duration> {
        let at = |prefix: &str, k: u32| {
            self.lines
                .iter()
                .find(|(_, line)| *line == format!("{prefix} {k}"))
                .map(|(instant, _)| *instant)
        };
        (1..=TARGET_MAX)
            .filter_map(|k| Some(at("checkpointed", k)? - at("checkpointing", k)?))
            .max()
    }
}

/// Starts a child in `dir`, kills it `delay` after it reports `checkpointing <target>`, and
/// returns its complete lines.
fn run_child(dir: &Path, backend: BackendRequest, target: u32, delay: Duration) -> ChildOutput {
    let name = if backend == BackendRequest::Fallback {
        "fallback"
    } else {
        "auto"
    };
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, format!("{}|{name}", dir.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = channel();
    let reader = std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        // A line cut by the kill has no newline: the child never finished saying it.
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            let complete = line.ends_with('\n');
            if complete
                && sender
                    .send((Instant::now(), line.trim_end().to_string()))
                    .is_err()
            {
                break;
            }
            line.clear();
        }
    });
    let mut output = ChildOutput {
        receiver,
        lines: Vec::new(),
    };
    output.wait_for(&format!("checkpointing {target}"));
    std::thread::sleep(delay);
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    output.lines.extend(output.receiver.iter());
    reader.join().unwrap();
    output
}

/// Asserts that `db` holds exactly `expected`.
fn assert_holds<R: Readable>(
    db: &R,
    spaces: &[(String, infinitedb::SpaceId)],
    expected: &BTreeMap<String, BTreeMap<Vec<u32>, Vec<u8>>>,
    context: &str,
) {
    assert_eq!(spaces.len(), expected.len(), "{context}: spaces");
    for (name, id) in spaces {
        let held: BTreeMap<Vec<u32>, Vec<u8>> = db
            .scan(*id)
            .unwrap()
            .map(|entry| {
                let entry = entry.unwrap();
                (entry.point.to_vec(), entry.value.to_vec())
            })
            .collect();
        assert!(
            expected.get(name) == Some(&held),
            "{context}: space {name} holds {} points, not the dataset",
            held.len()
        );
    }
}

fn spaces_of(db: &Db) -> Vec<(String, infinitedb::SpaceId)> {
    db.spaces()
        .into_iter()
        .map(|info| {
            let id = db.space(&info.name).unwrap();
            (info.name, id)
        })
        .collect()
}

/// What the parent found in one destination.
#[derive(Debug, Default)]
struct Found {
    empty: u32,
    complete: u32,
    missing_manifest: u32,
    not_a_database: u32,
    marker_beside_manifest: u32,
}

/// Checks the destination `dest`, which the child finished (`checkpointed`) or not.
fn check_dest(
    dest: &Path,
    backend: BackendRequest,
    finished: bool,
    expected: &BTreeMap<String, BTreeMap<Vec<u32>, Vec<u8>>>,
    found: &mut Found,
) {
    let context = format!("{backend:?} {}", dest.display());
    let entries = std::fs::read_dir(dest).unwrap().count();
    if entries == 0 {
        assert!(!finished, "{context}: a finished checkpoint is empty");
        found.empty += 1;
        return;
    }
    if dest.join("MANIFEST").exists() {
        found.marker_beside_manifest += u32::from(dest.join("CHECKPOINT-INCOMPLETE").exists());
        let db = Db::open(dest, options(backend))
            .unwrap_or_else(|error| panic!("{context}: a copy with a MANIFEST fails: {error}"));
        assert_holds(&db, &spaces_of(&db), expected, &context);
        db.close().unwrap();
        found.complete += 1;
        return;
    }
    assert!(
        !finished,
        "{context}: a finished checkpoint has no MANIFEST"
    );
    let read_only = Db::open_read_only(dest, options(backend));
    let writable = Db::open(dest, options(backend));
    for refused in [read_only.err(), writable.err()] {
        match refused {
            Some(Error::MissingManifest { .. }) => found.missing_manifest += 1,
            Some(Error::NotADatabase { .. }) => found.not_a_database += 1,
            other => panic!("{context}: an incomplete copy was not refused: {other:?}"),
        }
    }
}

/// Runs rounds on `backend` until `rounds` are done and both outcomes were seen.
fn run_parent(backend: BackendRequest, rounds: u64) {
    let expected = dataset();
    let mut rng = ChaCha8Rng::seed_from_u64(env_u64("INFINITEDB_SEED").unwrap_or(18));
    let mut checkpoint_duration = CHECKPOINT_FIRST_GUESS;
    let mut found = Found::default();
    let mut round = 0;
    while round < rounds || (found.complete == 0 || found.missing_manifest == 0) {
        assert!(
            round < ROUNDS_CAP,
            "{backend:?}: {round} rounds and still {found:?}: the kills never landed both \
             mid-checkpoint and after a complete copy"
        );
        let dir = tempfile::tempdir().unwrap();
        let target = rng.gen_range(0..=TARGET_MAX);
        let micros = u64::try_from(checkpoint_duration.as_micros()).unwrap() * 5 / 4;
        let delay = Duration::from_micros(rng.gen_range(0..=micros));
        let output = run_child(dir.path(), backend, target, delay);
        let blocks: Option<u64> = output
            .lines
            .iter()
            .find_map(|(_, line)| line.strip_prefix("written ")?.parse().ok());
        assert!(
            blocks.is_some_and(|blocks| blocks >= 3 * u64::from(SPACES)),
            "{backend:?}: the dataset is {blocks:?} blocks, not several per space"
        );
        if let Some(measured) = output.checkpoint_duration() {
            checkpoint_duration = measured;
        }
        let context =
            format!("{backend:?} round {round} (kill {delay:?} into checkpoint {target})");
        let source = Db::open(dir.path().join("source"), options(backend))
            .unwrap_or_else(|error| panic!("{context}: the source fails to open: {error}"));
        assert_holds(
            &source,
            &spaces_of(&source),
            &expected,
            &format!("{context}: source"),
        );
        source.close().unwrap();
        for k in 0.. {
            let dest = dir.path().join(format!("dest-{k}"));
            if !dest.exists() {
                break;
            }
            let finished = output
                .lines
                .iter()
                .any(|(_, line)| *line == format!("checkpointed {k}"));
            check_dest(&dest, backend, finished, &expected, &mut found);
        }
        round += 1;
    }
    println!(
        "{backend:?}: {round} SIGKILLs during checkpoints (a checkpoint takes about \
         {checkpoint_duration:?}); destinations found: {found:?} (refusals count both opens)"
    );
}

#[test]
fn sigkill_during_checkpoints_leaves_refused_or_complete_copies() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        child_main(&spec);
        return;
    }
    let rounds = env_u64("INFINITEDB_CKPT_ROUNDS").unwrap_or(ROUNDS_DEFAULT);
    for backend in REAL_BACKENDS {
        run_parent(backend, rounds);
    }
}
