//! Many chains in flight at once, to different files and to the same file, all complete with
//! their own bytes in place.

mod os_support;

use std::path::Path;

use os_support::{assert_durable, backends, patterned, poll_until_final};
use uring_io::{CommitChain, Storage};

#[test]
fn chains_to_several_files_complete_together() {
    // Goal: the in-flight table keeps chains apart. Method: per backend, 4 files × 8 chains of
    // 16 KiB (distinct patterns, distinct offsets), all submitted before any poll; then every
    // chain must be Durable exactly once and each file must hold its 8 patterns.
    for backend in backends() {
        let storage = &backend.storage;
        let alignment = storage.info().alignment_bytes;
        let files: Vec<_> = (0..4)
            .map(|index| {
                let name = format!("file-{index}");
                storage
                    .create_prewritten(Path::new(&name), 8 * 16384)
                    .unwrap()
            })
            .collect();
        let mut queue = storage.commit_queue().unwrap();
        let mut ids = Vec::new();
        for slot in 0..8u64 {
            for (file_index, file) in files.iter().enumerate() {
                let seed = u8::try_from(file_index * 8).unwrap() + u8::try_from(slot).unwrap();
                let chain = CommitChain {
                    file: file.clone(),
                    offset: slot * 16384,
                    buf: patterned(16384, alignment, seed),
                    deadline: None,
                    tag: u64::from(seed),
                };
                ids.push(queue.submit(chain).unwrap());
            }
        }
        assert_eq!(queue.in_flight(), 32);
        let events = poll_until_final(queue.as_mut(), &ids);
        for &id in &ids {
            assert_durable(&events, id);
        }
        for file_index in 0..4u8 {
            let path = backend.dir.path().join(format!("file-{file_index}"));
            let bytes = std::fs::read(path).unwrap();
            for slot in 0..8u8 {
                let start = usize::from(slot) * 16384;
                let expected = patterned(16384, alignment, file_index * 8 + slot);
                assert_eq!(&bytes[start..start + 16384], &expected[..]);
            }
        }
    }
}

#[test]
fn more_chains_than_the_completion_queue_holds() {
    // Goal: no completion is lost when the CQ overflows (the io_uring queue's CQ has 1024 slots
    // and each chain posts 2 CQEs; FEAT_NODROP keeps the excess in the kernel until we reap).
    // Method: submit 600 small chains before the first poll, then poll until every chain is
    // final: each must be Durable exactly once.
    for backend in backends() {
        let storage = &backend.storage;
        let alignment = storage.info().alignment_bytes;
        let chain_count = 600u64;
        let file = storage
            .create_prewritten(Path::new("many"), chain_count * 4096)
            .unwrap();
        let mut queue = storage.commit_queue().unwrap();
        let ids: Vec<_> = (0..chain_count)
            .map(|index| {
                let chain = CommitChain {
                    file: file.clone(),
                    offset: index * 4096,
                    buf: patterned(4096, alignment, u8::try_from(index % 200).unwrap()),
                    deadline: None,
                    tag: index,
                };
                queue.submit(chain).unwrap()
            })
            .collect();
        let events = poll_until_final(queue.as_mut(), &ids);
        assert_eq!(events.len(), ids.len());
        for &id in &ids {
            assert_durable(&events, id);
        }
        let bytes = std::fs::read(backend.dir.path().join("many")).unwrap();
        for index in [0usize, 299, 599] {
            let expected = patterned(4096, alignment, u8::try_from(index % 200).unwrap());
            assert_eq!(
                &bytes[index * 4096..(index + 1) * 4096],
                &expected[..],
                "chain {index}"
            );
        }
    }
}
