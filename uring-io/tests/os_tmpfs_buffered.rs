//! On tmpfs (memory-backed, no real direct I/O) `Auto` picks the buffered backend and says
//! why, and commit chains, reads and durable writes work there.

mod os_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use os_support::{assert_durable, patterned, poll_until_final};
use uring_io::{
    AlignedBuf, BACKEND_ENV_VAR, BackendKind, BackendRequest, CommitChain, OsStorage, Storage,
};

/// A tmpfs directory: a fresh mount when permitted, else a directory in /dev/shm when that is
/// tmpfs. The guard unmounts on drop.
struct TmpfsDir {
    path: PathBuf,
    mounted: bool,
    _holder: tempfile::TempDir,
}

impl Drop for TmpfsDir {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg(&self.path).status();
        }
    }
}

fn is_tmpfs(path: &Path) -> bool {
    Command::new("stat")
        .args(["-f", "-c", "%T"])
        .arg(path)
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim() == "tmpfs")
        .unwrap_or(false)
}

fn tmpfs_dir() -> Option<TmpfsDir> {
    let holder = tempfile::tempdir().ok()?;
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64m", "tmpfs"])
        .arg(holder.path())
        .output()
        .map(|output| output.status.success())
        .unwrap_or(false);
    if mounted && is_tmpfs(holder.path()) {
        let path = holder.path().to_path_buf();
        return Some(TmpfsDir {
            path,
            mounted: true,
            _holder: holder,
        });
    }
    eprintln!("note: mount -t tmpfs refused here; trying /dev/shm");
    if !is_tmpfs(Path::new("/dev/shm")) {
        return None;
    }
    let shm = tempfile::tempdir_in("/dev/shm").ok()?;
    let path = shm.path().to_path_buf();
    Some(TmpfsDir {
        path,
        mounted: false,
        _holder: shm,
    })
}

#[test]
fn auto_picks_buffered_on_tmpfs_and_commits_work() {
    // Goal: detection recognises tmpfs, and the buffered backend is a working backend. Method:
    // open Auto on a tmpfs directory, check kind/direct_io/reason, then commit a chain and
    // read it back.
    let Some(tmpfs) = tmpfs_dir() else {
        eprintln!("SKIP: no tmpfs available (mount refused and /dev/shm is not tmpfs)");
        return;
    };
    let storage = OsStorage::open(&tmpfs.path.join("db"), BackendRequest::Auto).unwrap();
    let info = storage.info().clone();
    eprintln!("tmpfs backend: {} ({})", info.kind.name(), info.reason);
    assert!(!info.direct_io);
    if std::env::var(BACKEND_ENV_VAR).is_ok_and(|value| !value.is_empty()) {
        // The suite is being run with the backend forced (e.g. fallback): Auto follows it,
        // and on tmpfs that backend runs without O_DIRECT (checked above).
        eprintln!("note: {BACKEND_ENV_VAR} is set; Auto follows it instead of probing");
    } else {
        assert_eq!(info.kind, BackendKind::Buffered);
    }
    assert!(
        info.reason.contains("tmpfs"),
        "reason names the cause: {}",
        info.reason
    );
    assert!(matches!(
        OsStorage::open(&tmpfs.path.join("db2"), BackendRequest::Uring),
        Err(uring_io::IoError::BackendUnavailable { .. })
    ));

    let file = storage
        .create_prewritten(Path::new("segment"), 64 << 10)
        .unwrap();
    let mut queue = storage.commit_queue().unwrap();
    let buf = patterned(8192, info.alignment_bytes, 11);
    let expected = buf.to_vec();
    let id = queue
        .submit(CommitChain {
            file: file.clone(),
            offset: 4096,
            buf,
            deadline: None,
            tag: 1,
        })
        .unwrap();
    let events = poll_until_final(queue.as_mut(), &[id]);
    assert_durable(&events, id);
    let mut back = AlignedBuf::new(8192, info.alignment_bytes).unwrap();
    assert_eq!(storage.read_at(&file, 4096, &mut back).unwrap(), 8192);
    assert_eq!(&back[..], &expected[..]);
}
