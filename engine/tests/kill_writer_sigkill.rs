//! Real crashes: a writer process killed with SIGKILL at random moments (issue 7).
//!
//! Goal: every write a killed process saw acknowledged is there after reopening, with its
//! value, on the real io_uring backend and on the fallback. Method: the test re-executes its
//! own binary as a child (switched by `INFINITEDB_KILL_CHILD`); the child opens the database,
//! runs two writer threads (puts, three-point batches, occasional flushes, small seal
//! thresholds so seals run often) and prints `ack <generation> <writer> <index> <count>
//! <revision>` after each acknowledged write, flushing each line. The parent kills it after a
//! random delay, reopens, and checks every acknowledged point (value and revision), that unacknowledged points
//! hold nothing or their exact value, and that the revision high-water mark covers every
//! acknowledgement. `INFINITEDB_KILLS` sets the kills per backend (default 50).

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
use std::time::{Duration, Instant};

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

fn options(backend: BackendRequest) -> Options {
    suite_options().backend(backend).seal_threshold_records(400)
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

fn open_space(db: &Db) -> SpaceId {
    db.space("kill")
        .or_else(|_| db.create_space("kill", 2, 32))
        .unwrap()
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
    let db = Db::open(dir, options(backend)).unwrap();
    let space = open_space(&db);
    // libtest has already printed "test <name> ... " without a newline: start a new line.
    println!("\nopened {:?}", db.backend().kind);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for writer in 0..WRITERS {
            let db = &db;
            scope.spawn(move || {
                let mut index = 0;
                while started.elapsed() < CHILD_LIFETIME_MAX {
                    let count = if index % 7 == 3 { 3 } else { 1 };
                    let mut batch = Batch::new(space);
                    for offset in 0..count {
                        batch.put(
                            &point_of(generation, writer, index + offset),
                            &value_of(generation, writer, index + offset),
                        );
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

/// Starts a child for `generation`, kills it after `delay`, and returns its complete lines.
fn run_child(dir: &Path, backend: BackendRequest, generation: u32, delay: Duration) -> Vec<String> {
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
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        // A line cut by the kill has no newline: it was never fully acknowledged to us.
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            if line.ends_with('\n') {
                lines.push(line.trim_end().to_string());
            }
            line.clear();
        }
        lines
    });
    std::thread::sleep(delay);
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    reader.join().unwrap()
}

/// Checks every acknowledged point of `acks` and the unacknowledged ones just after them.
fn check_acks(db: &Db, space: SpaceId, acks: &[Ack], context: &str) {
    let mut next_index: BTreeMap<(u32, u32), u32> = BTreeMap::new();
    for ack in acks {
        for index in ack.index..ack.index + ack.count {
            let value = db
                .get(space, &point_of(ack.generation, ack.writer, index))
                .unwrap();
            assert_eq!(
                value,
                Some(value_of(ack.generation, ack.writer, index)),
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
        }
        let next = next_index.entry((ack.generation, ack.writer)).or_default();
        *next = (*next).max(ack.index + ack.count);
    }
    for ((generation, writer), next) in next_index {
        for index in next..next + 8 {
            let value = db.get(space, &point_of(generation, writer, index)).unwrap();
            assert!(
                value.is_none() || value == Some(value_of(generation, writer, index)),
                "{context}: unacknowledged point {index} holds garbage"
            );
        }
    }
    let revision_max = acks.iter().map(|ack| ack.revision).max().unwrap_or(0);
    assert!(
        db.last_revision() >= Revision(revision_max),
        "{context}: revision high-water mark went back"
    );
}

fn run_parent(backend: BackendRequest, kills: u64) {
    let dir = tempfile::tempdir_in("/tmp").unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(env_u64("INFINITEDB_SEED").unwrap_or(7));
    let mut all_acks: Vec<Ack> = Vec::new();
    let (mut opened, started) = (0, Instant::now());
    for generation in 0..u32::try_from(kills).unwrap() {
        let delay = Duration::from_millis(rng.gen_range(5..120));
        let lines = run_child(dir.path(), backend, generation, delay);
        opened += usize::from(lines.iter().any(|line| line.contains("opened ")));
        let acks: Vec<Ack> = lines.iter().filter_map(|line| parse_ack(line)).collect();
        all_acks.extend(&acks);
        let context = format!(
            "{backend:?} kill {generation} after {delay:?} ({} acks)",
            acks.len()
        );
        let db = Db::open(dir.path(), options(backend))
            .unwrap_or_else(|error| panic!("{context}: reopen failed: {error}"));
        let space = open_space(&db);
        let checked = if generation % 10 == 9 || u64::from(generation) + 1 == kills {
            &all_acks[..]
        } else {
            &acks[..]
        };
        check_acks(&db, space, checked, &context);
        db.close().unwrap();
    }
    println!(
        "{backend:?}: {kills} SIGKILLs in {:?}; {opened} children opened, {} acknowledged writes all present",
        started.elapsed(),
        all_acks.len()
    );
    assert!(
        opened * 2 >= usize::try_from(kills).unwrap(),
        "most children never got to open the database"
    );
    assert!(
        !all_acks.is_empty(),
        "no child acknowledged anything: nothing was tested"
    );
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
