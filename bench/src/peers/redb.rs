//! redb in the comparison: a `Database` on its defaults with one table of `u64` keys. A load
//! batch is one write transaction committed with the default durability (`Immediate`: durable
//! when `commit` returns); the flush has nothing left to persist and opens the read
//! transaction the reads share (a consistent snapshot of every batch committed before it).

use std::path::Path;

use redb::{Database, ReadOnlyTable, ReadableDatabase, TableDefinition};
use uring_io::BackendRequest;

use super::PeerEngine;
use crate::error::{BenchError, Result};

/// The comparison's table.
const TABLE: TableDefinition<u64, &[u8]> = TableDefinition::new("peers");

/// redb on its defaults, one table.
pub struct Redb {
    db: Database,
    /// The table as of the last flush (`None` before it, and after a load).
    reader: Option<ReadOnlyTable<u64, &'static [u8]>>,
}

/// A redb error as a bench error.
fn redb_error(error: impl Into<redb::Error>) -> BenchError {
    BenchError::Peer {
        engine: Redb::NAME,
        source: Box::new(error.into()),
    }
}

impl Redb {
    /// The table to read.
    fn reader(&self) -> Result<&ReadOnlyTable<u64, &'static [u8]>> {
        self.reader
            .as_ref()
            .ok_or_else(|| BenchError::invalid("redb: read before the flush after a load"))
    }
}

impl PeerEngine for Redb {
    const NAME: &'static str = "redb";
    const DURABILITY: &'static str = "defaults: each batch is one write transaction, durable \
        when its commit returns (Durability::Immediate); reads share one read transaction \
        opened by the flush";

    fn open(directory: &Path, _backend: BackendRequest) -> Result<Self> {
        let db = Database::create(directory.join("redb.db")).map_err(redb_error)?;
        Ok(Redb { db, reader: None })
    }

    fn load(&mut self, batch: &[(u64, Vec<u8>)]) -> Result<()> {
        self.reader = None;
        let transaction = self.db.begin_write().map_err(redb_error)?;
        {
            let mut table = transaction.open_table(TABLE).map_err(redb_error)?;
            for (key, value) in batch {
                table.insert(key, value.as_slice()).map_err(redb_error)?;
            }
        }
        transaction.commit().map_err(redb_error)
    }

    fn flush(&mut self) -> Result<()> {
        let transaction = self.db.begin_read().map_err(redb_error)?;
        self.reader = Some(transaction.open_table(TABLE).map_err(redb_error)?);
        Ok(())
    }

    fn get<F: FnOnce(Option<&[u8]>) -> Result<()>>(&self, key: u64, check: F) -> Result<()> {
        let found = self.reader()?.get(key).map_err(redb_error)?;
        check(found.as_ref().map(|guard| guard.value()))
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
        for record in self.reader()?.range(lo..=last).map_err(redb_error)? {
            let (key, value) = record.map_err(redb_error)?;
            visit(key.value(), value.value())?;
        }
        Ok(())
    }

    fn close(mut self) -> Result<()> {
        self.reader = None;
        self.db.close().map_err(redb_error)
    }
}
