//! Disk full on a real small filesystem (docs/design.md §3 "Faults": ENOSPC surfaces as an error a
//! caller can tell apart, `Error::is_storage_full`, nothing acknowledged is lost, reads go on).
//!
//! The filesystem is a 64 MiB ext4 on a loop device, or, where losetup or mount is refused,
//! a 16 MiB tmpfs (said in the output); without either the test prints `SKIP:` and passes.
//! Pre-written segments mean the engine meets ENOSPC when it creates a file (a new segment,
//! a block at a seal), not when it appends to a segment: the test writes and flushes until a
//! write or a flush fails, whichever the engine hits, and reports which.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a failure is a test failure"
)]

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use infinitedb::Readable;
use infinitedb::{BackendRequest, Db, Error, Options, SpaceId};
use support::{REAL_BACKENDS, suite_options};

/// Puts tried at most while filling (each 2 KiB: about 40 MiB).
const PUTS_MAX: u32 = 20_000;

/// A mounted small filesystem, unmounted (and its loop device detached) on drop.
struct SmallFilesystem {
    mount: tempfile::TempDir,
    loop_device: Option<String>,
    kind: &'static str,
    _image_dir: tempfile::TempDir,
}

fn run(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

impl SmallFilesystem {
    fn mount() -> Option<SmallFilesystem> {
        let image_dir = tempfile::tempdir_in("/tmp").ok()?;
        let mount = tempfile::tempdir_in("/tmp").ok()?;
        let target = mount.path().to_str()?.to_string();
        let image = image_dir.path().join("fs.img");
        let image_name = image.to_str()?.to_string();
        if run("truncate", &["-s", "64M", &image_name]).is_some()
            && let Some(device) = run("losetup", &["-f", "--show", &image_name])
        {
            if run("mkfs.ext4", &["-q", "-m", "0", &device]).is_some()
                && run("mount", &[&device, &target]).is_some()
            {
                return Some(SmallFilesystem {
                    mount,
                    loop_device: Some(device),
                    kind: "ext4 on a loop device (64 MiB)",
                    _image_dir: image_dir,
                });
            }
            run("losetup", &["-d", &device]);
        }
        if run(
            "mount",
            &["-t", "tmpfs", "-o", "size=16m", "tmpfs", &target],
        )
        .is_some()
        {
            return Some(SmallFilesystem {
                mount,
                loop_device: None,
                kind: "tmpfs (16 MiB; loop device refused)",
                _image_dir: image_dir,
            });
        }
        None
    }

    fn path(&self) -> &Path {
        self.mount.path()
    }
}

impl Drop for SmallFilesystem {
    fn drop(&mut self) {
        let target = self.mount.path().to_string_lossy().to_string();
        run("umount", &[&target]);
        if let Some(device) = &self.loop_device {
            run("losetup", &["-d", device]);
        }
    }
}

/// Fills the filesystem with a filler file until it refuses a 64 KiB write.
fn fill(path: &Path) -> PathBuf {
    let filler = path.join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    let chunk = vec![0x5a; 64 * 1024];
    while file.write_all(&chunk).is_ok() {}
    let _ = file.sync_all();
    filler
}

fn value_of(index: u32) -> Vec<u8> {
    let mut value = format!("full-{index}-").into_bytes();
    value.resize(2048, b'f');
    value
}

fn options(backend: BackendRequest) -> Options {
    suite_options().backend(backend).seal_threshold_records(300)
}

/// Writes (flushing every 100 puts) until something fails; returns the acknowledged count
/// and the error.
fn write_until_error(db: &Db, space: SpaceId, from: u32, puts: u32) -> (u32, Option<Error>) {
    for index in from..from + puts {
        if let Err(error) = db.put(space, [index, 7], value_of(index)) {
            return (index - from, Some(error));
        }
        if index % 100 == 99
            && let Err(error) = db.flush(space)
        {
            return (index + 1 - from, Some(error));
        }
    }
    (puts, None)
}

fn check(db: &Db, space: SpaceId, acknowledged: u32, context: &str) {
    for index in 0..acknowledged {
        assert_eq!(
            db.get(space, &[index, 7]).unwrap(),
            Some(value_of(index).into()),
            "{context}: point {index}"
        );
    }
}

fn run_body(filesystem: &SmallFilesystem, backend: BackendRequest) {
    let dir = filesystem.path().join(format!("db-{backend:?}"));
    let db = Db::open(&dir, options(backend)).unwrap();
    println!("{backend:?}: backend in use {:?}", db.backend().kind);
    let space = db.create_space("full", 2, 16).unwrap();
    let acknowledged = 100;
    for index in 0..acknowledged {
        db.put(space, [index, 7], value_of(index)).unwrap();
    }
    let filler = fill(filesystem.path());
    let (more, error) = write_until_error(&db, space, acknowledged, PUTS_MAX);
    let acknowledged = acknowledged + more;
    let error = error.unwrap_or_else(|| {
        panic!("{backend:?}: {PUTS_MAX} puts on a full filesystem all succeeded")
    });
    let cause = error
        .io_error()
        .map(ToString::to_string)
        .unwrap_or_default();
    println!(
        "{backend:?}: full after {acknowledged} acknowledged puts: {error}: {cause} (errno {:?})",
        error.raw_os_error()
    );
    assert!(
        matches!(error, Error::Io { .. } | Error::WriteFailed { .. }),
        "{backend:?}: untyped error {error:?}"
    );
    assert!(
        error.is_storage_full() && error.raw_os_error() == Some(libc::ENOSPC),
        "{backend:?}: a full filesystem is not told apart: {error:?}"
    );
    check(&db, space, acknowledged, "reads while full");

    std::fs::remove_file(&filler).unwrap();
    // Writes resume without a reopen: a put, then a flush (a seal needs a new block and a
    // new spare segment, the very files the full disk refused), then more puts and a seal.
    let (more, error) = write_until_error(&db, space, acknowledged, 500);
    assert!(
        error.is_none(),
        "{backend:?}: after freeing space writes still fail after {more} puts: {error:?}"
    );
    db.flush(space).unwrap();
    let resumed = acknowledged + more;
    println!("{backend:?}: writes resumed without reopening: {more} puts and flushes");
    check(&db, space, resumed, "after resuming");
    db.close().unwrap();
    let db = Db::open(&dir, options(backend)).unwrap();
    check(&db, space, resumed, "final reopen");
    db.close().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_full_filesystem_fails_writes_with_a_typed_error_and_loses_nothing() {
    // Goal: ENOSPC is a typed error (storage full, errno ENOSPC), reads go on, writes resume once
    // space is freed, and everything acknowledged survives a reopen. Method: mount a small
    // filesystem (see the module doc), open a database, write 100 puts, fill the filesystem with a
    // filler file, write and flush until something fails, read everything, delete the filler, write
    // again (reopening if the engine refuses until then), reopen and read everything; once
    // per real backend.
    let Some(filesystem) = SmallFilesystem::mount() else {
        eprintln!(
            "SKIP: disk_full_small_filesystem: neither a loop device nor a tmpfs could be mounted (needs root)"
        );
        return;
    };
    println!("filesystem: {}", filesystem.kind);
    for backend in REAL_BACKENDS {
        run_body(&filesystem, backend);
    }
}
