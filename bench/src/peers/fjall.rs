//! fjall in the comparison: a `Database` on its defaults with one keyspace; keys are the
//! 8 big-endian bytes of the key (byte order is key order). A load batch is one
//! `WriteBatch::commit` (written to the journal and handed to the OS, not fsynced), the flush
//! `Database::persist(PersistMode::SyncAll)`.

use std::path::Path;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use uring_io::BackendRequest;

use super::PeerEngine;
use crate::error::{BenchError, Result};

/// Name of the comparison's keyspace.
const KEYSPACE_NAME: &str = "peers";

/// fjall on its defaults, one keyspace.
pub struct Fjall {
    db: Database,
    keyspace: Keyspace,
}

/// A fjall error as a bench error.
fn fjall_error(error: fjall::Error) -> BenchError {
    BenchError::Peer {
        engine: Fjall::NAME,
        source: Box::new(error),
    }
}

/// The stored bytes of `key`.
#[allow(
    clippy::big_endian_bytes,
    reason = "fjall orders keys by their bytes: big-endian bytes keep key order"
)]
fn encode_key(key: u64) -> [u8; 8] {
    key.to_be_bytes()
}

/// The key of stored bytes (`u64::MAX` for any length but 8, which a check refuses).
#[allow(
    clippy::big_endian_bytes,
    reason = "fjall orders keys by their bytes: big-endian bytes keep key order"
)]
fn decode_key(bytes: &[u8]) -> u64 {
    <[u8; 8]>::try_from(bytes).map_or(u64::MAX, u64::from_be_bytes)
}

impl PeerEngine for Fjall {
    const NAME: &'static str = "fjall";
    const DURABILITY: &'static str = "defaults: a committed batch is written to the journal and \
        handed to the OS, not fsynced; the flush is Database::persist(SyncAll), which fsyncs \
        the journal (the memtable is not forced into tables)";

    fn open(directory: &Path, _backend: BackendRequest) -> Result<Self> {
        let db = Database::builder(directory.join("fjall"))
            .open()
            .map_err(fjall_error)?;
        let keyspace = db
            .keyspace(KEYSPACE_NAME, KeyspaceCreateOptions::default)
            .map_err(fjall_error)?;
        Ok(Fjall { db, keyspace })
    }

    fn load(&mut self, batch: &[(u64, Vec<u8>)]) -> Result<()> {
        let mut write = self.db.batch();
        for (key, value) in batch {
            write.insert(&self.keyspace, &encode_key(*key)[..], value.as_slice());
        }
        write.commit().map_err(fjall_error)
    }

    fn flush(&mut self) -> Result<()> {
        self.db.persist(PersistMode::SyncAll).map_err(fjall_error)
    }

    fn get<F: FnOnce(Option<&[u8]>) -> Result<()>>(&self, key: u64, check: F) -> Result<()> {
        let found = self.keyspace.get(encode_key(key)).map_err(fjall_error)?;
        check(found.as_deref())
    }

    fn range<F: FnMut(u64, &[u8]) -> Result<()>>(
        &self,
        lo: u64,
        count: u64,
        mut visit: F,
    ) -> Result<()> {
        let Some(last) = super::range_last(lo, count) else {
            return Ok(());
        };
        for guard in self.keyspace.range(encode_key(lo)..=encode_key(last)) {
            let (key, value) = guard.into_inner().map_err(fjall_error)?;
            visit(decode_key(&key), &value)?;
        }
        Ok(())
    }

    fn close(self) -> Result<()> {
        // fjall has no close: dropping the last handles persists the journal and stops the
        // database's workers.
        let Fjall { db, keyspace } = self;
        drop(keyspace);
        drop(db);
        Ok(())
    }
}
