//! `FixedBufs`: the buffers a [`super::RawQueue`] registered with its ring
//! (`IORING_REGISTER_BUFFERS`), so `WRITE_FIXED`/`READ_FIXED` skip pinning the pages on every
//! operation.
//!
//! Invariants: the queue owns the buffers for the ring's whole life (they are dropped after the
//! ring, or leaked with it), so the kernel's registration never outlives their memory; a buffer
//! lent to an operation is marked busy until that operation's CQE is reaped, and is neither
//! lent again nor handed to the caller meanwhile.

use std::io;

use super::ring::Ring;
use crate::aligned::AlignedBuf;

/// Registered buffers and which of them are in flight.
#[derive(Debug, Default)]
pub(crate) struct FixedBufs {
    bufs: Vec<AlignedBuf>,
    busy: Vec<bool>,
}

/// What an SQE needs to use a lent buffer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lent {
    pub ptr: *mut u8,
    pub len_bytes: u32,
    pub index: u16,
}

impl FixedBufs {
    /// Registers `bufs` with `ring` (which must have none registered and nothing in flight).
    pub(crate) fn register(ring: &mut Ring, mut bufs: Vec<AlignedBuf>) -> io::Result<FixedBufs> {
        if bufs.is_empty() || u16::try_from(bufs.len()).is_err() {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let iovecs: Vec<libc::iovec> = bufs
            .iter_mut()
            .map(|buf| libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            })
            .collect();
        // SAFETY: each iovec covers a live buffer that `FixedBufs` then owns; the queue keeps
        // it until the ring is gone (field order, and `Drop` leaks both together).
        unsafe { ring.register_buffers(&iovecs) }?;
        let busy = vec![false; bufs.len()];
        Ok(FixedBufs { bufs, busy })
    }

    /// How many buffers are registered.
    pub(crate) fn len(&self) -> usize {
        self.bufs.len()
    }

    /// Buffer `index`, unless it is in flight.
    pub(crate) fn get_mut(&mut self, index: usize) -> Option<&mut [u8]> {
        match self.busy.get(index) {
            Some(false) => self.bufs.get_mut(index).map(|buf| &mut buf[..]),
            _ => None,
        }
    }

    /// Marks buffer `index` busy and returns what its SQE needs; `None` if it does not exist,
    /// is busy, or is longer than one operation can carry.
    pub(crate) fn lend(&mut self, index: usize) -> Option<Lent> {
        let busy = self.busy.get_mut(index)?;
        let buf = self.bufs.get_mut(index)?;
        if *busy {
            return None;
        }
        let len_bytes = u32::try_from(buf.len()).ok()?;
        let index_u16 = u16::try_from(index).ok()?;
        *busy = true;
        Some(Lent {
            ptr: buf.as_mut_ptr(),
            len_bytes,
            index: index_u16,
        })
    }

    /// Buffer `index`'s operation completed.
    pub(crate) fn release(&mut self, index: usize) {
        if let Some(busy) = self.busy.get_mut(index) {
            debug_assert!(*busy, "impossible: releasing idle fixed buffer {index}");
            *busy = false;
        }
    }
}
