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
