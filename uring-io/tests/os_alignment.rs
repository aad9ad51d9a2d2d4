//! Misaligned requests are typed errors raised before anything is submitted, and handles from
//! another storage are refused.

mod os_support;

use std::path::Path;

use os_support::{backends, patterned};
use uring_io::{AlignedBuf, CommitChain, IoError, OsStorage, Storage};

#[test]
fn unaligned_offsets_and_lengths_fail_before_submission() {
    // Goal: `Unaligned { what }` from every data path, with nothing submitted or written.
    // Method: per backend, try offset 100 on submit, read_at, read_many and write_durable, and a
    // length of 4096 + 512 on create_prewritten; check the queue stayed empty and the file
    // still holds its pre-written zeros. (An AlignedBuf's address and length are always
    // aligned by construction, so a misaligned buffer cannot be built.)
    for backend in backends() {
        let storage = &backend.storage;
        let alignment = storage.info().alignment_bytes;
        let file = storage.create_prewritten(Path::new("f"), 64 << 10).unwrap();
        let mut queue = storage.commit_queue().unwrap();
        let chain = CommitChain {
            file: file.clone(),
            offset: 100,
            buf: patterned(4096, alignment, 1),
            deadline: None,
            tag: 0,
        };
        let submit_error = queue.submit(chain).unwrap_err();
        assert!(matches!(
            submit_error,
            IoError::Unaligned {
                what: "offset",
                value: 100,
                ..
            }
        ));
        assert_eq!(queue.in_flight(), 0);

        let mut buf = AlignedBuf::new(4096, alignment).unwrap();
        let read_error = storage.read_at(&file, 100, &mut buf).unwrap_err();
        assert!(matches!(
            read_error,
            IoError::Unaligned { what: "offset", .. }
        ));
        let mut reads = vec![(0, AlignedBuf::new(4096, alignment).unwrap()), (4196, buf)];
        let batch_error = storage.read_many(&file, &mut reads).unwrap_err();
        assert!(matches!(
            batch_error,
            IoError::Unaligned {
                what: "offset",
                value: 4196,
                ..
            }
        ));
        let write_error = storage
            .write_durable(&file, 100, &patterned(4096, alignment, 2))
            .unwrap_err();
        assert!(matches!(
            write_error,
            IoError::Unaligned { what: "offset", .. }
        ));
        let length_error = storage
            .create_prewritten(Path::new("g"), 4096 + 512)
            .unwrap_err();
        assert!(matches!(
            length_error,
            IoError::Unaligned { what: "length", .. }
        ));
        assert!(!storage.exists(Path::new("g")).unwrap());

        let on_disk = std::fs::read(backend.dir.path().join("f")).unwrap();
        assert!(on_disk.iter().all(|&byte| byte == 0), "nothing was written");
    }
}

#[test]
fn handles_of_another_storage_are_refused() {
    // Goal: a FileHandle only works with the storage that opened it. Method: open two storages
    // on the same kind of backend and cross their handles.
    for backend in backends() {
        let storage = &backend.storage;
        let alignment = storage.info().alignment_bytes;
        let file = storage.create_prewritten(Path::new("mine"), 8192).unwrap();
        let other_dir = tempfile::tempdir().unwrap();
        let other = OsStorage::open(other_dir.path(), uring_io::BackendRequest::Fallback).unwrap();
        let mut buf = AlignedBuf::new(4096, alignment).unwrap();
        assert!(matches!(
            other.read_at(&file, 0, &mut buf),
            Err(IoError::ForeignHandle { .. })
        ));
        let mut queue = other.commit_queue().unwrap();
        let chain = CommitChain {
            file,
            offset: 0,
            buf,
            deadline: None,
            tag: 0,
        };
        assert!(matches!(
            queue.submit(chain),
            Err(IoError::ForeignHandle { .. })
        ));
    }
}
