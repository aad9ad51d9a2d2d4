//! A saved crash case: everything the check phase of a power-loss test reads, written to a
//! directory when the check fails, so that the check can be rerun on exactly the same input
//! (the workload before the cut depends on thread scheduling; the check after it does not).
//!
//! A case directory (`<CARGO_TARGET_TMPDIR>/crash-replay/seed-<seed>/` for the seeded test)
//! holds:
//! - `case.txt`: `infinitedb crash case v1`, then `seed <seed>`, then `spaces <id> <id>...`
//!   (the space ids in creation order);
//! - `config.txt`: the seed's configuration as `Debug` text; the replay re-derives the
//!   configuration from the seed and refuses to run if its `Debug` text differs (the harness
//!   changed since the save, so the replay would not be exact);
//! - `history.txt` and `required.txt`: every acknowledged batch, and those acknowledged
//!   before the cut, in the format of `super::history_text`;
//! - `failure.txt`: the panic message of the failed check (the replay compares with it);
//! - `image/`: the post-power-loss disk in the layout of `super::disk_image`.
//!
//! A save writes `seed-<seed>.partial/` and renames it over any older case, so a case
//! directory is always complete.

use std::cell::RefCell;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use infinitedb::SpaceId;
use uring_io::SimDisk;

use super::model::History;
use super::{disk_image, history_text};

/// The first line of `case.txt`.
const CASE_HEADER: &str = "infinitedb crash case v1";

/// Everything the check phase of a power-loss case reads, plus how it failed.
#[derive(Clone, Debug)]
pub struct SavedCase {
    /// The seed the case came from.
    pub seed: u64,
    /// The seed's configuration as `Debug` text (for humans and a staleness check).
    pub config_debug: String,
    /// The disk after the power loss.
    pub disk: SimDisk,
    /// Every batch acknowledged, before or after the cut.
    pub history: History,
    /// The batches acknowledged before the cut (they must survive).
    pub required: History,
    /// The spaces, in creation order.
    pub spaces: Vec<SpaceId>,
    /// The failed check's panic message.
    pub failure: String,
}

/// What the current thread's seed did with a case directory, for the seed guard's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CaseNote {
    /// The failed check's case was saved here.
    Saved(PathBuf),
    /// The check ran on the case saved here.
    Replayed(PathBuf),
    /// Saving the failed check's case failed.
    SaveFailed(String),
}

thread_local! {
    static NOTE: RefCell<Option<CaseNote>> = const { RefCell::new(None) };
}

/// Records what this thread's current seed did with a case directory.
pub fn set_note(note: CaseNote) {
    NOTE.with(|cell| *cell.borrow_mut() = Some(note));
}

/// Takes (and clears) this thread's note.
pub fn take_note() -> Option<CaseNote> {
    NOTE.with(|cell| cell.borrow_mut().take())
}

/// Where the seeded power-loss test keeps its saved cases.
pub fn replay_root() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("crash-replay")
}

/// The case directory of `seed` under `root`.
pub fn case_dir(root: &Path, seed: u64) -> PathBuf {
    root.join(format!("seed-{seed}"))
}

/// Saves `case` as `dir`, replacing any older case there.
///
/// # Errors
/// Host I/O errors.
pub fn save_case(dir: &Path, case: &SavedCase) -> io::Result<()> {
    let mut partial = dir.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    if partial.exists() {
        fs::remove_dir_all(&partial)?;
    }
    fs::create_dir_all(&partial)?;
    let spaces: Vec<String> = case
        .spaces
        .iter()
        .map(|space| space.0.to_string())
        .collect();
    let case_text = format!(
        "{CASE_HEADER}\nseed {}\nspaces {}\n",
        case.seed,
        spaces.join(" ")
    );
    fs::write(partial.join("case.txt"), case_text)?;
    fs::write(partial.join("config.txt"), &case.config_debug)?;
    fs::write(
        partial.join("history.txt"),
        history_text::encode(&case.history),
    )?;
    fs::write(
        partial.join("required.txt"),
        history_text::encode(&case.required),
    )?;
    fs::write(partial.join("failure.txt"), &case.failure)?;
    disk_image::save(&case.disk, &partial.join("image"))?;
    if dir.exists() {
        fs::remove_dir_all(dir)?;
    }
    fs::rename(&partial, dir)
}

/// Loads the case saved as `dir`.
///
/// # Errors
/// Host I/O errors; `InvalidData` for a malformed file.
pub fn load_case(dir: &Path) -> io::Result<SavedCase> {
    let case_text = fs::read_to_string(dir.join("case.txt"))?;
    let lines: Vec<&str> = case_text.lines().collect();
    let [CASE_HEADER, seed_line, spaces_line] = lines.as_slice() else {
        return Err(invalid(
            "case.txt: expected a header, a seed and a spaces line",
        ));
    };
    let seed = seed_line
        .strip_prefix("seed ")
        .and_then(|seed| seed.parse().ok())
        .ok_or_else(|| invalid("case.txt: bad seed line"))?;
    let spaces = spaces_line
        .strip_prefix("spaces")
        .ok_or_else(|| invalid("case.txt: bad spaces line"))?
        .split_whitespace()
        .map(|id| id.parse().map(SpaceId))
        .collect::<Result<Vec<SpaceId>, _>>()
        .map_err(|_| invalid("case.txt: bad space id"))?;
    let read_history = |name: &str| history_text::decode(&fs::read_to_string(dir.join(name))?);
    Ok(SavedCase {
        seed,
        config_debug: fs::read_to_string(dir.join("config.txt"))?,
        disk: disk_image::load(&dir.join("image"))?,
        history: read_history("history.txt")?,
        required: read_history("required.txt")?,
        spaces,
        failure: fs::read_to_string(dir.join("failure.txt"))?,
    })
}

/// The text of a panic payload (`panic!` gives a `String` or a `&str`).
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else {
        "(a panic without a message)".to_owned()
    }
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("crash case: {message}"))
}
