//! The bench-only `RawQueue` against the real kernel: many O_DIRECT writes kept in flight, then
//! reads of the same blocks, each operation handed back exactly once with its buffer and its
//! full byte count, and `wait(n)` never returning fewer than `n` while that many are in flight.
//! The same with registered buffers (`WRITE_FIXED`/`READ_FIXED`). The raw queue exists only on
//! io_uring: on the fallback backend it must be refused with a typed error.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failure is a test failure"
)]

mod os_support;

use std::collections::HashSet;
use std::path::Path;

use os_support::{backends, patterned};
use uring_io::{AlignedBuf, BackendKind, FileHandle, IoError, RawCompletion, RawQueue, Storage};

const BLOCK_BYTES: usize = 64 << 10;
const BLOCK_COUNT: usize = 64;
const DEPTH: usize = 16;

/// The pattern seed of block `block`.
fn seed(block: u64) -> u8 {
    u8::try_from(block % 256).unwrap()
}

/// Keeps `DEPTH` operations in flight until every block is done; returns the completions.
fn run_all(
    queue: &mut RawQueue,
    file: &FileHandle,
    mut bufs: Vec<AlignedBuf>,
    is_write: bool,
) -> Vec<RawCompletion> {
    let mut done = Vec::new();
    let mut next_block = 0u64;
    let block_count = BLOCK_COUNT as u64;
    let mut batch = Vec::new();
    while done.len() < BLOCK_COUNT {
        while queue.in_flight() < DEPTH && next_block < block_count {
            let buf = bufs.pop().unwrap();
            let offset = next_block * BLOCK_BYTES as u64;
            if is_write {
                queue.submit_write(file, offset, buf, next_block).unwrap();
            } else {
                queue.submit_read(file, offset, buf, next_block).unwrap();
            }
            if next_block % 2 == 1 {
                // Half the operations are submitted at once, half batched with the wait.
                queue.submit().unwrap();
            }
            next_block += 1;
        }
        let want = queue.in_flight().min(4);
        queue.wait(want, &mut batch).unwrap();
        assert!(batch.len() >= want, "wait({want}) returned {}", batch.len());
        done.append(&mut batch);
    }
    assert_eq!(queue.in_flight(), 0);
    done
}

#[test]
fn raw_writes_then_reads_come_back_once_each_with_their_bytes() {
    // Goal: the raw queue's batching (queue, then one enter per wait, or an explicit submit)
    // loses, duplicates and mixes up nothing. Method: write 64 patterned 64 KiB blocks at depth
    // 16 (each block's pattern seeded by its index; every other one submitted at once), read
    // them back at depth 16 into zeroed buffers, and check every tag once, every count full,
    // every read equal to its block's pattern.
    for backend in backends() {
        let storage = &backend.storage;
        let alignment = storage.info().alignment_bytes;
        let Ok(mut queue) = storage.raw_queue() else {
            assert_ne!(
                storage.info().kind,
                BackendKind::Uring,
                "uring must give one"
            );
            continue;
        };
        let file_bytes = (BLOCK_COUNT * BLOCK_BYTES) as u64;
        let file = storage
            .create_prewritten(Path::new("raw.dat"), file_bytes)
            .unwrap();
        let writes: Vec<AlignedBuf> = (0..BLOCK_COUNT as u64)
            .rev()
            .map(|block| patterned(BLOCK_BYTES, alignment, seed(block)))
            .collect();
        let written = run_all(&mut queue, &file, writes, true);
        let tags: HashSet<u64> = written.iter().map(|done| done.tag).collect();
        assert_eq!(tags.len(), BLOCK_COUNT, "each write once");
        assert!(written.iter().all(|done| done.result == Ok(BLOCK_BYTES)));
        for done in &written {
            assert_eq!(
                done.buf.as_ref().unwrap()[..],
                patterned(BLOCK_BYTES, alignment, seed(done.tag))[..]
            );
        }
        let reads: Vec<AlignedBuf> = (0..BLOCK_COUNT)
            .map(|_| AlignedBuf::new(BLOCK_BYTES, alignment).unwrap())
            .collect();
        let read = run_all(&mut queue, &file, reads, false);
        let tags: HashSet<u64> = read.iter().map(|done| done.tag).collect();
        assert_eq!(tags.len(), BLOCK_COUNT, "each read once");
        for done in &read {
            assert_eq!(done.result, Ok(BLOCK_BYTES), "block {}", done.tag);
            let expected = patterned(BLOCK_BYTES, alignment, seed(done.tag));
            assert!(
                done.buf.as_ref().unwrap()[..] == expected[..],
                "block {} read back wrong",
                done.tag
            );
        }
    }
}

#[test]
fn the_raw_queue_is_refused_without_io_uring() {
    // Goal: asking the fallback backend for a raw queue is a typed error, not a panic or a
    // silent thread pool. Method: open each backend and check `raw_queue` by kind.
    for backend in backends() {
        let kind = backend.storage.info().kind;
        match backend.storage.raw_queue() {
            Ok(_) => assert_eq!(kind, BackendKind::Uring),
            Err(error) => {
                assert_ne!(kind, BackendKind::Uring, "{error}");
                assert!(
                    matches!(error, IoError::BackendUnavailable { .. }),
                    "{error:?}"
                );
            }
        }
    }
}

/// Runs every block through registered buffer slots (`DEPTH` of them); `fill` prepares a slot
/// before its operation, `check` inspects it after. Returns the tags seen.
fn run_all_fixed(
    queue: &mut RawQueue,
    file: &FileHandle,
    is_write: bool,
    mut check: impl FnMut(u64, &mut [u8]),
) -> HashSet<u64> {
    let mut slot_block: Vec<Option<u64>> = vec![None; DEPTH];
    let mut seen = HashSet::new();
    let mut next_block = 0u64;
    let mut batch = Vec::new();
    while seen.len() < BLOCK_COUNT {
        for (slot, block) in slot_block.iter_mut().enumerate() {
            if block.is_some() || next_block >= BLOCK_COUNT as u64 {
                continue;
            }
            let offset = next_block * BLOCK_BYTES as u64;
            let buf = queue.registered_buf_mut(slot).unwrap();
            if is_write {
                buf.copy_from_slice(&patterned(BLOCK_BYTES, 4096, seed(next_block))[..]);
                queue
                    .submit_write_fixed(file, offset, slot, next_block)
                    .unwrap();
            } else {
                buf.fill(0);
                queue
                    .submit_read_fixed(file, offset, slot, next_block)
                    .unwrap();
            }
            assert!(
                queue.registered_buf_mut(slot).is_none(),
                "lent while in flight"
            );
            assert!(
                queue.submit_read_fixed(file, 0, slot, 0).is_err(),
                "lent twice"
            );
            *block = Some(next_block);
            next_block += 1;
        }
        queue.wait(1, &mut batch).unwrap();
        for done in batch.drain(..) {
            assert!(done.buf.is_none(), "a registered buffer stays in the queue");
            assert_eq!(done.result, Ok(BLOCK_BYTES), "block {}", done.tag);
            let slot = slot_block
                .iter()
                .position(|b| *b == Some(done.tag))
                .unwrap();
            slot_block[slot] = None;
            check(done.tag, queue.registered_buf_mut(slot).unwrap());
            assert!(seen.insert(done.tag), "block {} twice", done.tag);
        }
    }
    seen
}

#[test]
fn registered_buffers_write_and_read_back_by_index() {
    // Goal: WRITE_FIXED/READ_FIXED move the right bytes, a registered buffer is never lent
    // twice nor handed out while in flight, and the queue keeps it after the CQE. Method:
    // register 16 buffers, write 64 patterned blocks through them, read the blocks back into
    // zeroed registered buffers and compare each with its pattern.
    for backend in backends() {
        let storage = &backend.storage;
        let alignment = storage.info().alignment_bytes;
        let Ok(mut queue) = storage.raw_queue() else {
            continue;
        };
        let file_bytes = (BLOCK_COUNT * BLOCK_BYTES) as u64;
        let file = storage
            .create_prewritten(Path::new("fixed.dat"), file_bytes)
            .unwrap();
        let bufs: Vec<AlignedBuf> = (0..DEPTH)
            .map(|_| AlignedBuf::new(BLOCK_BYTES, alignment.max(4096)).unwrap())
            .collect();
        queue.register_buffers(bufs).unwrap();
        let again = vec![AlignedBuf::new(BLOCK_BYTES, alignment).unwrap()];
        assert!(queue.register_buffers(again).is_err(), "registered twice");
        assert!(queue.registered_buf_mut(DEPTH).is_none());
        let written = run_all_fixed(&mut queue, &file, true, |_, _| {});
        assert_eq!(written.len(), BLOCK_COUNT);
        let read = run_all_fixed(&mut queue, &file, false, |tag, buf| {
            let expected = patterned(BLOCK_BYTES, 4096, seed(tag));
            assert!(buf[..] == expected[..], "block {tag} read back wrong");
        });
        assert_eq!(read.len(), BLOCK_COUNT);
    }
}
