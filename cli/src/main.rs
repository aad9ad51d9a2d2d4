//! `infinitedb`: the command line of the infinitedb storage engine.
//!
//! Commands (each takes `--json` for machine output on stdout; otherwise human text):
//! - `info DIR`: spaces (name, dims, bits, retention), blocks per space and level with their
//!   key and revision ranges, live hot segments and staging log, revision marks, bytes on
//!   disk, the format versions this build writes;
//! - `verify DIR`: every checksum of every file ([`infinitedb::verify`]);
//! - `get DIR SPACE COORD...`, `history DIR SPACE COORD...`: one point's value, or every
//!   version of it;
//! - `query DIR SPACE --lo a,b --hi x,y`: the live points in a box;
//! - `dump DIR SPACE [--lo a,b --hi x,y]`: every live point of the space (or of the box);
//! - `checkpoint DIR DEST`: a consistent copy of the database in the new directory `DEST`;
//! - `compact DIR [SPACE]`: compacts one space, or every space.
//!
//! `info`, `verify`, `get`, `history`, `query` and `dump` only read: they open the directory
//! read-only (a shared lock, beside other readers but no writer) and write nothing.
//! `checkpoint` and `compact` open it for writing.
//!
//! Values: with `--json` a value is the lowercase hex of its bytes (`"value_hex"`); in human
//! text it is the bytes with non-printable ones escaped (`\n`, `\x00`). `query` and `dump`
//! with `--json` print one JSON object per line (`{"point":[..],"revision":n,
//! "value_hex":".."}`); a Hilbert key is 32 hex digits.
//!
//! Exit codes: 0 success; 1 `verify` found a problem, or `get` found no value; 2 usage error
//! (bad arguments, an unknown space, coordinates that do not fit the space); 3 the database
//! is locked by a writer (or, for `checkpoint` and `compact`, by any open); 4 any other error
//! (not a database, damage met while reading, I/O). Errors go to stderr with what to do.

mod describe;
mod reads;
mod writes;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use infinitedb::Error;

/// The exit code for success.
const EXIT_OK: u8 = 0;
/// The exit code when `verify` found a problem or `get` found no value.
const EXIT_FAILED: u8 = 1;
/// The exit code of a usage error (clap uses it for bad arguments too).
const EXIT_USAGE: u8 = 2;
/// The exit code when another open holds the database's lock.
const EXIT_LOCKED: u8 = 3;
/// The exit code of every other error.
const EXIT_ERROR: u8 = 4;

const EXIT_CODES: &str = "Exit codes: 0 success; 1 verify found a problem, or get found no \
value; 2 usage error (bad arguments, unknown space, coordinates that do not fit); 3 the \
database is locked by another open; 4 any other error.\n\nValues are printed as escaped text, \
or with --json as lowercase hex (\"value_hex\"); query and dump --json print one JSON object \
per line.";

/// Inspect, verify, read, checkpoint and compact an infinitedb database directory.
#[derive(Debug, Parser)]
#[command(name = "infinitedb", version, after_help = EXIT_CODES)]
struct Cli {
    /// Machine output: JSON on stdout.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

/// A command.
#[derive(Debug, Subcommand)]
enum Command {
    /// Spaces, blocks, logs, revisions and bytes on disk (read-only).
    Info {
        /// The database directory.
        dir: PathBuf,
    },
    /// Checks every checksum of every file; exits 0 only if every check passes (read-only).
    Verify {
        /// The database directory.
        dir: PathBuf,
    },
    /// The value at a point; exits 1 when there is none (read-only).
    Get {
        /// The database directory.
        dir: PathBuf,
        /// The space's name.
        space: String,
        /// The point's coordinates, one per dimension.
        #[arg(required = true)]
        coords: Vec<u32>,
    },
    /// Every version of a point, newest first (read-only).
    History {
        /// The database directory.
        dir: PathBuf,
        /// The space's name.
        space: String,
        /// The point's coordinates, one per dimension.
        #[arg(required = true)]
        coords: Vec<u32>,
    },
    /// The live points in a box, bounds inclusive (read-only).
    Query {
        /// The database directory.
        dir: PathBuf,
        /// The space's name.
        space: String,
        /// The box's low corner, comma-separated (`1,2,3`).
        #[arg(long, value_delimiter = ',', required = true)]
        lo: Vec<u32>,
        /// The box's high corner, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        hi: Vec<u32>,
    },
    /// Every live point of a space (or of a box), in Hilbert order (read-only).
    Dump {
        /// The database directory.
        dir: PathBuf,
        /// The space's name.
        space: String,
        /// The box's low corner, comma-separated (with --hi).
        #[arg(long, value_delimiter = ',', requires = "hi")]
        lo: Option<Vec<u32>>,
        /// The box's high corner, comma-separated (with --lo).
        #[arg(long, value_delimiter = ',', requires = "lo")]
        hi: Option<Vec<u32>>,
    },
    /// Writes a consistent copy of the database into DEST (new or empty).
    Checkpoint {
        /// The database directory.
        dir: PathBuf,
        /// The copy's directory.
        dest: PathBuf,
    },
    /// Compacts a space, or every space.
    Compact {
        /// The database directory.
        dir: PathBuf,
        /// The space's name; every space when absent.
        space: Option<String>,
    },
}

/// How a command that ran ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Status {
    /// It did what was asked.
    Ok,
    /// It ran, but `verify` found a problem or `get` found no value.
    Failed,
}

fn run(cli: Cli) -> Result<Status, Error> {
    let json = cli.json;
    match cli.command {
        Command::Info { dir } => describe::info(&dir, json),
        Command::Verify { dir } => describe::verify(&dir, json),
        Command::Get { dir, space, coords } => reads::get(&dir, &space, &coords, json),
        Command::History { dir, space, coords } => reads::history(&dir, &space, &coords, json),
        Command::Query { dir, space, lo, hi } => reads::dump(&dir, &space, Some((lo, hi)), json),
        Command::Dump { dir, space, lo, hi } => reads::dump(&dir, &space, lo.zip(hi), json),
        Command::Checkpoint { dir, dest } => writes::checkpoint(&dir, &dest, json),
        Command::Compact { dir, space } => writes::compact(&dir, space.as_deref(), json),
    }
}

/// The exit code of `error`, and what the user can do about it.
fn classify(error: &Error) -> (u8, &'static str) {
    match error {
        Error::Locked { .. } => (
            EXIT_LOCKED,
            "another process has the database open; close it (or wait for it) and retry",
        ),
        Error::UnknownSpace { .. } => (
            EXIT_USAGE,
            "run `infinitedb info DIR` to list the spaces and their dimensions",
        ),
        Error::InvalidPoint { .. } | Error::InvalidBox { .. } => (
            EXIT_USAGE,
            "give one coordinate per dimension, each below 2^bits (see `infinitedb info DIR`)",
        ),
        Error::NotADatabase { .. } | Error::MissingManifest { .. } => (
            EXIT_ERROR,
            "check the path: it must be a database directory",
        ),
        Error::Corruption { .. } => (
            EXIT_ERROR,
            "run `infinitedb verify DIR` for a full report; restore the named file from a backup",
        ),
        _ => (EXIT_ERROR, "see the cause above"),
    }
}

/// `error` and each of its causes, one per line.
fn report_error(error: &Error) {
    eprintln!("error: {error}");
    let mut cause = std::error::Error::source(error);
    while let Some(next) = cause {
        eprintln!("  caused by: {next}");
        cause = next.source();
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(Status::Ok) => ExitCode::from(EXIT_OK),
        Ok(Status::Failed) => ExitCode::from(EXIT_FAILED),
        Err(error) => {
            report_error(&error);
            let (code, hint) = classify(&error);
            eprintln!("hint: {hint}");
            ExitCode::from(code)
        }
    }
}
