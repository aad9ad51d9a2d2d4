//! A commit chain on the real disk: `Durable`, and the bytes read back through a separate,
//! buffered `std::fs::File` and through the storage's own `read_at`/`read_many`.

mod os_support;

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use os_support::{assert_durable, backends, patterned, poll_until_final};
use uring_io::{AlignedBuf, CommitChain, OpenMode, Storage};

#[test]
fn chain_is_durable_and_reads_back_through_another_handle() {
    // Goal: a chain reports Durable and its bytes are in the file. Method: per backend,
    // pre-write a 1 MiB file, commit 64 KiB at offset 128 KiB, then read the region back with
    // a buffered std::fs::File (a different open file description, page cache included).
    for backend in backends() {
        let storage = &backend.storage;
        let alignment = storage.info().alignment_bytes;
        let file = storage
            .create_prewritten(Path::new("segment"), 1 << 20)
            .unwrap();
        let mut queue = storage.commit_queue().unwrap();
        let buf = patterned(64 << 10, alignment, 7);
        let expected = buf.to_vec();
        let id = queue
            .submit(CommitChain {
                file,
                offset: 128 << 10,
                buf,
                deadline: None,
                tag: 42,
            })
            .unwrap();
        assert_eq!(queue.in_flight(), 1);
        let events = poll_until_final(queue.as_mut(), &[id]);
        assert_durable(&events, id);
        assert!(events.iter().all(|event| event.tag == 42));
        assert_eq!(queue.in_flight(), 0);

        let mut reader = std::fs::File::open(backend.dir.path().join("segment")).unwrap();
        reader.seek(SeekFrom::Start(128 << 10)).unwrap();
        let mut actual = vec![0u8; 64 << 10];
        reader.read_exact(&mut actual).unwrap();
        assert_eq!(actual, expected, "backend {}", storage.info().kind.name());
        let mut before = vec![0xffu8; 4096];
        reader.seek(SeekFrom::Start(124 << 10)).unwrap();
        reader.read_exact(&mut before).unwrap();
        assert!(
            before.iter().all(|&byte| byte == 0),
            "pre-written zeros around the chain"
        );
    }
}

#[test]
fn read_at_and_read_many_return_what_write_durable_wrote() {
    // Goal: the blocking paths agree with each other and with the file. Method: write_durable
    // 16 distinct 4 KiB pages, read them back with read_at, with one read_many batch (larger
    // than nothing, in shuffled order), and past the end of the file (0 bytes).
    for backend in backends() {
        let storage = &backend.storage;
        let alignment = storage.info().alignment_bytes;
        let file = storage
            .create_prewritten(Path::new("pages"), 16 * 4096)
            .unwrap();
        for page in 0..16u8 {
            let buf = patterned(4096, alignment, page);
            storage
                .write_durable(&file, u64::from(page) * 4096, &buf)
                .unwrap();
        }
        let reopened = storage.open(Path::new("pages"), OpenMode::Read).unwrap();
        let mut single = AlignedBuf::new(4096, alignment).unwrap();
        assert_eq!(
            storage.read_at(&reopened, 5 * 4096, &mut single).unwrap(),
            4096
        );
        assert_eq!(&single[..], &patterned(4096, alignment, 5)[..]);

        let order = [9u8, 0, 15, 3, 3, 12];
        let mut reads: Vec<(u64, AlignedBuf)> = order
            .iter()
            .map(|&page| {
                (
                    u64::from(page) * 4096,
                    AlignedBuf::new(4096, alignment).unwrap(),
                )
            })
            .collect();
        reads.push((16 * 4096, AlignedBuf::new(4096, alignment).unwrap()));
        let counts = storage.read_many(&reopened, &mut reads).unwrap();
        assert_eq!(counts, vec![4096, 4096, 4096, 4096, 4096, 4096, 0]);
        for (&page, (_, buf)) in order.iter().zip(&reads) {
            assert_eq!(
                &buf[..],
                &patterned(4096, alignment, page)[..],
                "page {page}"
            );
        }
        assert_eq!(storage.file_len(&reopened).unwrap(), 16 * 4096);
    }
}

#[test]
fn read_many_batches_larger_than_one_ring_wave() {
    // Goal: batches longer than the per-thread ring (64 entries) are read in waves, each entry
    // landing in its own buffer. Method: 200 reads of 50 distinct pages.
    for backend in backends() {
        let storage = &backend.storage;
        let alignment = storage.info().alignment_bytes;
        let file = storage
            .create_prewritten(Path::new("wide"), 50 * 4096)
            .unwrap();
        let mut all = AlignedBuf::new(50 * 4096, alignment).unwrap();
        for (index, byte) in all.iter_mut().enumerate() {
            *byte = u8::try_from(index / 4096).unwrap();
        }
        storage.write_durable(&file, 0, &all).unwrap();
        let mut reads: Vec<(u64, AlignedBuf)> = (0..200u64)
            .map(|index| {
                (
                    (index * 7 % 50) * 4096,
                    AlignedBuf::new(4096, alignment).unwrap(),
                )
            })
            .collect();
        let counts = storage.read_many(&file, &mut reads).unwrap();
        assert!(counts.iter().all(|&count| count == 4096));
        for (offset, buf) in &reads {
            let page = u8::try_from(offset / 4096).unwrap();
            assert!(buf.iter().all(|&byte| byte == page), "page {page}");
        }
    }
}
