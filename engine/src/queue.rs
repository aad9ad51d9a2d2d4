//! The writer → I/O-thread queue: [`Command`]s on an unbounded channel whose memory is bounded
//! by [`ByteGate`] (DESIGN §4: backpressure, never unbounded memory).
//!
//! Invariants: a write holds its encoded bytes in the gate from before it is queued until the
//! I/O thread is done with it (durable in its hot segment or failed), so queued plus in-flight
//! write bytes never exceed `queue_bytes_max`; a writer blocks while the gate is full, except
//! that an empty gate always admits one write (no write larger than the gate is accepted, see
//! `Options::validate` and `Db::write`).

use std::sync::Arc;

use infinitedb_format::{Revision, SpaceId};
use parking_lot::{Condvar, Mutex};

use crate::batch::KeyedBatch;
use crate::error::Result;
use crate::log_file::LogFile;
use crate::space::SpaceShared;

/// A one-shot reply to a waiting caller.
pub(crate) type Reply<T> = crate::reply::Reply<Result<T>>;

/// What the I/O thread is asked to do.
#[derive(Debug)]
pub(crate) enum Command {
    /// Sequence and commit a batch; reply with its revision.
    Write {
        batch: KeyedBatch,
        gate_bytes: usize,
        reply: Reply<Revision>,
    },
    /// Reply once every write sequenced before this is durable (or failed).
    Sync { reply: Reply<()> },
    /// Seal the space now and reply when the seal is done.
    Flush { space: SpaceId, reply: Reply<()> },
    /// A new space with its first hot segment and a spare.
    AddSpace {
        space: Arc<SpaceShared>,
        active: LogFile,
        spare: LogFile,
    },
    /// A spare hot segment for `space` (from the sealer), or why none could be made.
    Spare {
        space: SpaceId,
        log: Result<LogFile>,
    },
    /// A spare staging log (from the sealer), or why none could be made.
    StagingSpare { log: Result<LogFile> },
    /// Drain everything queued, then stop.
    Shutdown,
}

/// A counting gate over queued bytes.
#[derive(Debug)]
pub(crate) struct ByteGate {
    used_bytes: Mutex<usize>,
    released: Condvar,
    bytes_max: usize,
}

impl ByteGate {
    /// A gate admitting up to `bytes_max` bytes.
    pub(crate) fn new(bytes_max: usize) -> Self {
        ByteGate {
            used_bytes: Mutex::new(0),
            released: Condvar::new(),
            bytes_max,
        }
    }

    /// Blocks until `bytes` fit, then takes them.
    pub(crate) fn acquire(&self, bytes: usize) {
        let mut used = self.used_bytes.lock();
        while *used > 0 && *used + bytes > self.bytes_max {
            self.released.wait(&mut used);
        }
        *used += bytes;
    }

    /// Gives `bytes` back and wakes waiting writers.
    pub(crate) fn release(&self, bytes: usize) {
        let mut used = self.used_bytes.lock();
        debug_assert!(*used >= bytes, "gate releases what it took");
        *used = used.saturating_sub(bytes);
        self.released.notify_all();
    }

    /// Bytes currently taken.
    #[cfg(test)]
    pub(crate) fn used_bytes(&self) -> usize {
        *self.used_bytes.lock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_gate_blocks_until_bytes_are_released() {
        // Goal: backpressure. Method: fill the gate, start a writer, release, join it.
        let gate = Arc::new(ByteGate::new(100));
        gate.acquire(80);
        let waiter = {
            let gate = gate.clone();
            std::thread::spawn(move || gate.acquire(50))
        };
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(
            !waiter.is_finished(),
            "the writer must wait while the gate is full"
        );
        gate.release(80);
        waiter.join().unwrap();
        assert_eq!(gate.used_bytes(), 50);
    }
}
