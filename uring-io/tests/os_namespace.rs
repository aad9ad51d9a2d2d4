//! The namespace operations and file lifecycle of the OS storage: directories, listing,
//! existence, rename, removal, pre-written files, lengths and `CreateNew` semantics.

mod os_support;

use std::ffi::OsString;
use std::path::Path;

use os_support::{backends, patterned};
use uring_io::{IoError, OpenMode, Storage};

#[test]
fn directories_files_and_renames() {
    // Goal: every namespace operation does what its doc says, on each backend. Method: build a
    // small tree, list it, rename and remove files, and check the real filesystem agrees.
    for backend in backends() {
        let storage = &backend.storage;
        storage.create_dir_all(Path::new("a/b/c")).unwrap();
        storage.create_dir_all(Path::new("a/b/c")).unwrap();
        assert!(backend.dir.path().join("a/b/c").is_dir());
        let file = storage
            .create_prewritten(Path::new("a/b/seg"), 3 * 4096)
            .unwrap();
        assert_eq!(file.path(), Path::new("a/b/seg"));
        assert_eq!(storage.file_len(&file).unwrap(), 3 * 4096);
        let bytes = std::fs::read(backend.dir.path().join("a/b/seg")).unwrap();
        assert!(bytes.len() == 3 * 4096 && bytes.iter().all(|&byte| byte == 0));

        let mut names = storage.list_dir(Path::new("a/b")).unwrap();
        names.sort();
        assert_eq!(names, vec![OsString::from("c"), OsString::from("seg")]);
        storage
            .rename(Path::new("a/b/seg"), Path::new("a/seg2"))
            .unwrap();
        storage.sync_dir(Path::new("a")).unwrap();
        storage.sync_dir(Path::new("a/b")).unwrap();
        assert!(!storage.exists(Path::new("a/b/seg")).unwrap());
        assert!(storage.exists(Path::new("a/seg2")).unwrap());
        storage.remove_file(Path::new("a/seg2")).unwrap();
        assert!(!storage.exists(Path::new("a/seg2")).unwrap());
        let missing = storage.remove_file(Path::new("a/seg2")).unwrap_err();
        assert_eq!(missing.errno(), Some(libc::ENOENT));
    }
}

#[test]
fn create_new_refuses_existing_files_and_set_len_resizes() {
    // Goal: CreateNew never clobbers; set_len changes the length; absolute paths work too.
    // Method: create twice, then grow and shrink through set_len and check the length.
    for backend in backends() {
        let storage = &backend.storage;
        let alignment = storage.info().alignment_bytes;
        let absolute = backend.dir.path().join("abs");
        let file = storage.open(&absolute, OpenMode::CreateNew).unwrap();
        let again = storage.open(&absolute, OpenMode::CreateNew).unwrap_err();
        assert_eq!(again.errno(), Some(libc::EEXIST));
        let prewritten_again = storage.create_prewritten(&absolute, 4096).unwrap_err();
        assert_eq!(prewritten_again.errno(), Some(libc::EEXIST));
        assert!(matches!(
            storage.open(Path::new("nope"), OpenMode::Read),
            Err(IoError::Os { .. })
        ));

        storage.set_len(&file, 5 * 4096).unwrap();
        assert_eq!(storage.file_len(&file).unwrap(), 5 * 4096);
        storage
            .write_durable(&file, 4096, &patterned(4096, alignment, 1))
            .unwrap();
        storage.set_len(&file, 4096).unwrap();
        assert_eq!(std::fs::metadata(&absolute).unwrap().len(), 4096);
        let read_only = storage.open(&absolute, OpenMode::Read).unwrap();
        let write_error = storage.write_durable(&read_only, 0, &patterned(4096, alignment, 2));
        assert_eq!(write_error.unwrap_err().errno(), Some(libc::EBADF));
    }
}

#[test]
fn hard_links_share_contents_and_copies_are_whole() {
    // Goal: `hard_link` makes a second name of the same file and never replaces one;
    // `copy_file` makes an independent whole copy and never replaces one; a link across
    // filesystems is `CrossesDevices`, so the caller can copy instead. Method: link and copy
    // a written file, compare bytes and inodes; link into /dev/shm (tmpfs) when it is another
    // filesystem than the test directory.
    use std::os::unix::fs::MetadataExt;
    for backend in backends() {
        let storage = &backend.storage;
        let alignment = storage.info().alignment_bytes;
        let file = storage
            .open(Path::new("original"), OpenMode::CreateNew)
            .unwrap();
        storage
            .write_durable(&file, 0, &patterned(2 * 4096, alignment, 3))
            .unwrap();
        storage
            .hard_link(Path::new("original"), Path::new("linked"))
            .unwrap();
        let again = storage.hard_link(Path::new("original"), Path::new("linked"));
        assert_eq!(again.unwrap_err().errno(), Some(libc::EEXIST));
        let copied = storage
            .copy_file(Path::new("original"), Path::new("copied"))
            .unwrap();
        assert_eq!(copied, 2 * 4096);
        let again = storage.copy_file(Path::new("original"), Path::new("copied"));
        assert_eq!(again.unwrap_err().errno(), Some(libc::EEXIST));
        storage.sync_dir(Path::new("")).unwrap();
        let root = backend.dir.path();
        let original = std::fs::read(root.join("original")).unwrap();
        assert_eq!(std::fs::read(root.join("linked")).unwrap(), original);
        assert_eq!(std::fs::read(root.join("copied")).unwrap(), original);
        let inode = |name: &str| std::fs::metadata(root.join(name)).unwrap().ino();
        assert_eq!(inode("linked"), inode("original"));
        assert_ne!(inode("copied"), inode("original"));
        let missing = storage.copy_file(Path::new("nope"), Path::new("nope-copy"));
        assert_eq!(missing.unwrap_err().errno(), Some(libc::ENOENT));
        assert!(!storage.exists(Path::new("nope-copy")).unwrap());

        let other = tempfile::tempdir_in("/dev/shm");
        let crossing = other.as_ref().ok().filter(|other| {
            let device = |path: &Path| std::fs::metadata(path).unwrap().dev();
            device(other.path()) != device(root)
        });
        let Some(other) = crossing else {
            eprintln!("SKIP: no second filesystem at /dev/shm for the EXDEV case");
            continue;
        };
        let target = other.path().join("linked");
        let error = storage
            .hard_link(Path::new("original"), &target)
            .unwrap_err();
        assert!(
            matches!(&error, IoError::CrossesDevices { new_path, .. } if *new_path == target),
            "{error:?}"
        );
        storage.copy_file(Path::new("original"), &target).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), original);
    }
}
