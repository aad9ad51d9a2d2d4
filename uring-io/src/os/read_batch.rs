//! Batched reads (`Storage::read_many`) through a small io_uring per thread: all reads of a
//! batch go to the kernel in one submission (in waves of [`READ_RING_ENTRIES`]).
//!
//! Decision: a thread-local ring rather than a ring per call (an `io_uring_setup` + mmap per
//! query costs more than the reads it batches) or one shared ring behind a mutex (readers would
//! serialise, and a shared ring cannot be `SINGLE_ISSUER`). Each reader thread lazily builds its
//! own ring with the detected setup; being used only by its thread, it keeps
//! `SINGLE_ISSUER|DEFER_TASKRUN` valid. Cost: one small ring (a few pages) per reader thread.
//!
//! Invariants: a batch returns only after every read it submitted has completed, so the
//! caller's buffers are never handed back while the kernel may write into them. If the ring
//! breaks mid-batch (an impossible enter error), the buffers still in flight are swapped for
//! fresh ones and leaked, and the batch fails.

use std::cell::RefCell;
use std::time::Duration;

use io_uring::opcode;
use io_uring::types::Fd;

use super::errno_policy::{Disposition, Operation, classify};
use super::file::OsFile;
use super::ring::{Completion, Ring, RingSetup};
use crate::aligned::AlignedBuf;
use crate::error::{IoError, Result};

/// Submission slots of a thread's read ring (and the wave size of a batch).
pub(crate) const READ_RING_ENTRIES: u32 = 64;

thread_local! {
    static READ_RING: RefCell<Option<Ring>> = const { RefCell::new(None) };
}

/// Reads every `(offset, buffer)` of `file` (alignment already checked). Returns the bytes read
/// per entry (fewer only at end of file). Falls back to `pread` when this thread cannot build a
/// ring.
pub(crate) fn read_batch(
    setup: RingSetup,
    file: &OsFile,
    reads: &mut [(u64, AlignedBuf)],
    alignment: usize,
) -> Result<Vec<usize>> {
    let mut read_bytes = vec![0usize; reads.len()];
    let ran = READ_RING.with(|cell| {
        let Ok(mut slot) = cell.try_borrow_mut() else {
            return Ok(false);
        };
        if slot.as_ref().is_none_or(|ring| ring.setup() != setup) {
            *slot = Ring::new(setup, READ_RING_ENTRIES, READ_RING_ENTRIES * 2).ok();
        }
        let Some(ring) = slot.as_mut() else {
            return Ok(false);
        };
        let wave_bytes = READ_RING_ENTRIES as usize;
        for (wave_index, wave) in reads.chunks_mut(wave_bytes).enumerate() {
            let first = wave_index * wave_bytes;
            let counts = &mut read_bytes[first..first + wave.len()];
            if let Err(error) = read_wave(ring, file, wave, counts) {
                *slot = None;
                return Err(error);
            }
        }
        Ok(true)
    })?;
    for (index, (offset, buf)) in reads.iter_mut().enumerate() {
        if !ran {
            read_bytes[index] = file.read_full_at(*offset, buf, alignment)?;
            continue;
        }
        // Finish a short read (EINTR/EAGAIN came back as usize::MAX) with blocking preads,
        // unless it stopped at the end of the file (off an aligned boundary, or at 0 bytes).
        let done = read_bytes[index];
        if done == usize::MAX {
            read_bytes[index] = file.read_full_at(*offset, buf, alignment)?;
        } else if done > 0 && done < buf.len() && done.is_multiple_of(alignment) {
            let rest = file.read_full_at(*offset + done as u64, &mut buf[done..], alignment)?;
            read_bytes[index] = done + rest;
        }
    }
    Ok(read_bytes)
}

/// Reads one wave (at most the ring's size) in one submission. `counts[i]` gets the bytes read,
/// or `usize::MAX` for a retryable errno.
fn read_wave(
    ring: &mut Ring,
    file: &OsFile,
    wave: &mut [(u64, AlignedBuf)],
    counts: &mut [usize],
) -> Result<()> {
    debug_assert!(wave.len() <= READ_RING_ENTRIES as usize);
    let mut entries = Vec::with_capacity(wave.len());
    for (index, (offset, buf)) in wave.iter_mut().enumerate() {
        let len = u32::try_from(buf.len())
            .map_err(|_| IoError::from_errno("io_uring read length", file.path(), libc::EINVAL))?;
        let entry = opcode::Read::new(Fd(file.fd()), buf.as_mut_ptr(), len)
            .offset(*offset)
            .build()
            .user_data(index as u64);
        entries.push(entry);
    }
    // SAFETY: each entry points into a buffer of `wave`, which this function borrows mutably
    // until it returns; it returns only after every entry's CQE is reaped, or after swapping
    // the still-in-flight buffers out of `wave` and leaking them (`abandon`). `file` (and so
    // its descriptor) is borrowed for the same span.
    let pushed = unsafe { ring.push_group(&entries) };
    pushed.map_err(|_| IoError::from_errno("io_uring read batch", file.path(), libc::EBUSY))?;
    let mut outstanding = wave.len();
    let mut completions: Vec<Completion> = Vec::with_capacity(wave.len());
    while outstanding > 0 {
        // One enter waits for the whole rest of the wave, not one CQE at a time.
        let waited = ring
            .wait_for(outstanding, Some(Duration::from_secs(1)))
            .and_then(|()| ring.reap(&mut completions));
        if let Err(source) = waited {
            abandon(wave, counts);
            return Err(file.os_error("io_uring_enter (read batch)", source));
        }
        for completion in completions.drain(..) {
            let index = usize::try_from(completion.user_data).unwrap_or(usize::MAX);
            let Some(count) = counts.get_mut(index) else {
                continue;
            };
            outstanding -= 1;
            *count = match classify(Operation::Read, completion.result) {
                Disposition::Complete(bytes) => bytes,
                Disposition::Retry => usize::MAX,
                _ => {
                    // Drain the rest before reporting, so no buffer is returned in flight.
                    *count = 0;
                    drain_wave(ring, &mut outstanding, wave, counts);
                    return Err(file.os_error(
                        "io_uring read",
                        std::io::Error::from_raw_os_error(-completion.result),
                    ));
                }
            };
        }
    }
    Ok(())
}

/// Waits for the rest of a wave whose result is already an error.
fn drain_wave(
    ring: &mut Ring,
    outstanding: &mut usize,
    wave: &mut [(u64, AlignedBuf)],
    counts: &mut [usize],
) {
    let mut completions = Vec::new();
    while *outstanding > 0 {
        let waited = ring
            .wait_for(*outstanding, Some(Duration::from_secs(1)))
            .and_then(|()| ring.reap(&mut completions));
        if waited.is_err() {
            abandon(wave, counts);
            return;
        }
        *outstanding -= completions.len().min(*outstanding);
        completions.clear();
    }
}

/// Leaks every buffer of `wave` the kernel might still write into, putting fresh zeroed
/// buffers of the same size in their place. Used only when the ring broke mid-batch.
fn abandon(wave: &mut [(u64, AlignedBuf)], counts: &mut [usize]) {
    for ((_, buf), count) in wave.iter_mut().zip(counts.iter_mut()) {
        *count = 0;
        match AlignedBuf::new(buf.len(), buf.alignment()) {
            Ok(fresh) => std::mem::forget(std::mem::replace(buf, fresh)),
            // Cannot allocate a replacement: returning the buffer would hand the caller memory
            // the kernel may still write. Abort rather than risk that corruption.
            Err(_) => std::process::abort(),
        }
    }
}
