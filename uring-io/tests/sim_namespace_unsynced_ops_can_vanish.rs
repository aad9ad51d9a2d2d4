//! Scenario: a manifest rewrite (rename over the old name) and a removal, before and after the
//! directory sync.
//!
//! Goal: an unsynced rename or removal can be undone by a crash, in order (a prefix of the
//! directory's operations survives); entries made durable by a directory sync survive every
//! crash; a file whose creation was not synced can vanish with its data. Method: enumerate
//! every distinct post-crash disk with `SimDisk::crash_states` and compare the set of
//! namespaces with the expected one.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions: a failure there is a test failure"
)]

mod sim_support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use sim_support::page;
use uring_io::{OpenMode, SimDisk, SimStorage, Storage};

fn namespaces(disk: &SimDisk) -> BTreeSet<Vec<PathBuf>> {
    disk.crash_states(1_000)
        .unwrap()
        .map(|state| state.paths())
        .collect()
}

fn paths(names: &[&str]) -> Vec<PathBuf> {
    names.iter().map(PathBuf::from).collect()
}

#[test]
fn unsynced_rename_and_remove_survive_as_a_prefix_and_synced_ones_always() {
    let sim = SimStorage::new(11);
    sim.create_dir_all(Path::new("/db")).unwrap();
    let old = sim.open(Path::new("/db/old"), OpenMode::CreateNew).unwrap();
    sim.write_durable(&old, 0, &page(1)).unwrap();
    let tmp = sim
        .open(Path::new("/db/manifest.tmp"), OpenMode::CreateNew)
        .unwrap();
    sim.write_durable(&tmp, 0, &page(2)).unwrap();
    sim.rename(Path::new("/db/manifest.tmp"), Path::new("/db/MANIFEST"))
        .unwrap();
    sim.remove_file(Path::new("/db/old")).unwrap();

    let expected: BTreeSet<Vec<PathBuf>> = [
        paths(&["/db", "/db/manifest.tmp", "/db/old"]),
        paths(&["/db", "/db/MANIFEST", "/db/old"]),
        paths(&["/db", "/db/MANIFEST"]),
    ]
    .into_iter()
    .collect();
    assert_eq!(namespaces(&sim.disk()), expected);

    sim.sync_dir(Path::new("/db")).unwrap();
    let synced: BTreeSet<Vec<PathBuf>> = [paths(&["/db", "/db/MANIFEST"])].into_iter().collect();
    assert_eq!(namespaces(&sim.disk()), synced);
    let crashed = sim.crash();
    assert!(
        crashed
            .file_bytes(Path::new("/db/MANIFEST"))
            .unwrap()
            .iter()
            .all(|&b| b == 2)
    );
}

#[test]
fn unsynced_creation_can_vanish_with_its_data_and_create_dir_all_is_durable() {
    let mut disk = SimDisk::new();
    disk.create_file(Path::new("/a")).unwrap();
    disk.sync_file(Path::new("/a")).unwrap();
    disk.write_unsynced(Path::new("/a"), 0, &[5; 512]).unwrap();
    disk.sync_file(Path::new("/a")).unwrap();
    // The data is durable, the name is not.
    let states: Vec<SimDisk> = disk.crash_states(100).unwrap().collect();
    assert_eq!(states.len(), 2);
    assert!(
        states
            .iter()
            .any(|s| s.file_bytes(Path::new("/a")).is_none())
    );
    assert!(
        states
            .iter()
            .any(|s| s.file_bytes(Path::new("/a")) == Some(vec![5; 512]))
    );

    let sim = SimStorage::with_disk(disk.durable_image(), 1);
    sim.create_dir_all(Path::new("/d/e")).unwrap();
    assert!(
        sim.crash().paths().contains(&PathBuf::from("/d/e")),
        "create_dir_all syncs"
    );
}

#[test]
fn unsynced_links_and_copies_can_vanish_and_synced_ones_keep_their_data() {
    // Goal: a hard link is a volatile creation in its own directory (a crash may keep the
    // original and lose the link) sharing the original's data; a copy's data is durable when
    // `copy_file` returns but its name only with its directory; an injected `EXDEV` is
    // `CrossesDevices`. Method: link and copy into another directory, enumerate the crash
    // states before and after that directory's sync.
    let sim = SimStorage::new(12);
    sim.create_dir_all(Path::new("/src")).unwrap();
    sim.create_dir_all(Path::new("/dst")).unwrap();
    let file = sim.open(Path::new("/src/f"), OpenMode::CreateNew).unwrap();
    sim.write_durable(&file, 0, &page(4)).unwrap();
    sim.hard_link(Path::new("/src/f"), Path::new("/dst/l"))
        .unwrap();
    let copied = sim
        .copy_file(Path::new("/src/f"), Path::new("/dst/c"))
        .unwrap();
    assert_eq!(copied, 4096);
    let expected: BTreeSet<Vec<PathBuf>> = [
        paths(&["/dst", "/src", "/src/f"]),
        paths(&["/dst", "/dst/l", "/src", "/src/f"]),
        paths(&["/dst", "/dst/c", "/dst/l", "/src", "/src/f"]),
    ]
    .into_iter()
    .collect();
    assert_eq!(namespaces(&sim.disk()), expected);

    sim.sync_dir(Path::new("/dst")).unwrap();
    let synced: BTreeSet<Vec<PathBuf>> = [paths(&["/dst", "/dst/c", "/dst/l", "/src", "/src/f"])]
        .into_iter()
        .collect();
    assert_eq!(namespaces(&sim.disk()), synced);
    let crashed = sim.crash();
    for name in ["/src/f", "/dst/l", "/dst/c"] {
        assert_eq!(
            crashed.file_bytes(Path::new(name)),
            Some(vec![4; 4096]),
            "{name}"
        );
    }

    sim.faults().on(
        uring_io::OpMatch::kind(uring_io::OpKind::Link),
        uring_io::Fault::Errno(libc::EXDEV),
    );
    let error = sim
        .hard_link(Path::new("/src/f"), Path::new("/dst/x"))
        .unwrap_err();
    assert!(
        matches!(error, uring_io::IoError::CrossesDevices { .. }),
        "{error:?}"
    );
    assert!(!sim.exists(Path::new("/dst/x")).unwrap());
}
