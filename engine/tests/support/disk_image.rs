//! Saving a settled [`SimDisk`] (one returned by a power loss: nothing volatile) to a host
//! directory and loading it back into a fresh `SimDisk` with the same namespace and bytes.
//!
//! Layout under the image directory `<dir>`:
//! - `<dir>/listing.txt`: the authoritative list of the simulated namespace, one entry a line
//!   in `SimDisk::paths` order (sorted, so a directory precedes its entries):
//!   `dir <path>` or `file <length in bytes> <path>`; paths are absolute, UTF-8, without `.`
//!   or `..` components.
//! - `<dir>/tree/`: the namespace mirrored as real directories and files (simulated `/db/x` is
//!   `<dir>/tree/db/x`), each file holding the simulated file's bytes exactly, so the image
//!   can be inspected with ordinary tools.
//!
//! Invariant: `load(save(disk))` has the same [`SimDisk::fingerprint`] as `disk` (the live
//! namespace and every file's bytes), every entry durable (created, written, fdatasynced, and
//! every directory fsynced), so a later crash of the loaded disk cannot lose any of it.
//! Inode numbers are not kept: two names of one inode (which the engine never makes) would
//! load as two files with equal bytes.

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use uring_io::{SimDisk, SimStorage, Storage};

/// The listing file of an image directory.
const LISTING: &str = "listing.txt";
/// The mirrored tree of an image directory.
const TREE: &str = "tree";

/// One entry of the simulated namespace.
enum Entry {
    Dir(PathBuf),
    File { path: PathBuf, len_bytes: u64 },
}

/// Writes every directory and file of `disk` under `dir` (created; must not hold an image).
///
/// # Errors
/// Host I/O errors; `InvalidData` for a simulated path that is not absolute UTF-8.
pub fn save(disk: &SimDisk, dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir.join(TREE))?;
    let mut listing = String::new();
    for path in disk.paths() {
        let text = path_text(&path)?;
        let mirrored = mirror(dir, &path)?;
        match disk.file_bytes(&path) {
            Some(bytes) => {
                if let Some(parent) = mirrored.parent() {
                    fs::create_dir_all(parent)?;
                }
                fs::write(&mirrored, &bytes)?;
                listing.push_str(&format!("file {} {text}\n", bytes.len()));
            }
            None => {
                fs::create_dir_all(&mirrored)?;
                listing.push_str(&format!("dir {text}\n"));
            }
        }
    }
    fs::write(dir.join(LISTING), listing)
}

/// A fresh disk holding the image saved under `dir`, every entry durable.
///
/// # Errors
/// Host I/O errors; `InvalidData` for a malformed listing or a mirrored file whose length
/// differs from the listing's.
pub fn load(dir: &Path) -> io::Result<SimDisk> {
    let entries = read_listing(dir)?;
    // Directories through the storage (the disk's own `make_dir` is crate-private), then
    // files through the raw disk API.
    let storage = SimStorage::new(0);
    let mut dirs = vec![PathBuf::from("/")];
    for entry in &entries {
        if let Entry::Dir(path) = entry {
            storage.create_dir_all(path).map_err(io::Error::other)?;
            dirs.push(path.clone());
        }
    }
    let mut disk = storage.disk();
    for entry in &entries {
        let Entry::File { path, len_bytes } = entry else {
            continue;
        };
        let bytes = fs::read(mirror(dir, path)?)?;
        if u64::try_from(bytes.len()).ok() != Some(*len_bytes) {
            return Err(invalid(&format!(
                "{}: {} bytes, listed as {len_bytes}",
                path.display(),
                bytes.len()
            )));
        }
        disk.create_file(path).map_err(io::Error::other)?;
        if !bytes.is_empty() {
            disk.write_unsynced(path, 0, &bytes)
                .map_err(io::Error::other)?;
        }
        disk.sync_file(path).map_err(io::Error::other)?;
    }
    for path in &dirs {
        disk.sync_directory(path).map_err(io::Error::other)?;
    }
    debug_assert!(disk.pending_writes().is_empty() && disk.unsynced_dirs().is_empty());
    Ok(disk)
}

fn read_listing(dir: &Path) -> io::Result<Vec<Entry>> {
    let text = fs::read_to_string(dir.join(LISTING))?;
    let mut entries = Vec::new();
    for line in text.lines() {
        let entry = if let Some(path) = line.strip_prefix("dir ") {
            Entry::Dir(PathBuf::from(path))
        } else if let Some(rest) = line.strip_prefix("file ") {
            let (len, path) = rest
                .split_once(' ')
                .ok_or_else(|| invalid(&format!("listing line {line:?}")))?;
            let len_bytes = len
                .parse()
                .map_err(|_| invalid(&format!("listing line {line:?}: bad length")))?;
            Entry::File {
                path: PathBuf::from(path),
                len_bytes,
            }
        } else {
            return Err(invalid(&format!("listing line {line:?}")));
        };
        entries.push(entry);
    }
    Ok(entries)
}

/// Where the simulated `path` is mirrored under `dir`.
fn mirror(dir: &Path, path: &Path) -> io::Result<PathBuf> {
    let mut mirrored = dir.join(TREE);
    let mut components = path.components();
    if components.next() != Some(Component::RootDir) {
        return Err(invalid(&format!("{}: not absolute", path.display())));
    }
    for component in components {
        match component {
            Component::Normal(name) => mirrored.push(name),
            _ => return Err(invalid(&format!("{}: not a plain path", path.display()))),
        }
    }
    Ok(mirrored)
}

fn path_text(path: &Path) -> io::Result<&str> {
    path.to_str()
        .filter(|text| !text.contains('\n'))
        .ok_or_else(|| invalid(&format!("{}: not a one-line UTF-8 path", path.display())))
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("disk image: {message}"))
}
