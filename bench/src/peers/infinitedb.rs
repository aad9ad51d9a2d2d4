//! infinitedb in the comparison: one 1-D × 32 space whose coordinate is the key, opened on
//! `Options::default()` (the backend aside). A load batch is one `Db::write`, the flush
//! `Db::flush` (the live tail sealed into blocks), a range the 1-D box query over
//! `[lo, lo + count - 1]` (in a 1-D space Hilbert order is coordinate order).

use std::path::Path;

use infinitedb::{Batch, Db, Options, SpaceId};
use uring_io::{BackendInfo, BackendRequest};

use super::PeerEngine;
use crate::error::{BenchError, Result};
use infinitedb::Readable;

/// Name of the comparison's space.
const SPACE_NAME: &str = "peers";

/// Bits of the space's one coordinate.
const BITS: u32 = 32;

/// infinitedb on its defaults, one 1-D space.
#[derive(Debug)]
pub struct Infinitedb {
    db: Db,
    space: SpaceId,
}

/// The coordinate of `key` (keys are below 2^32, checked by `PeersJob::validate`).
fn coordinate(key: u64) -> Result<u32> {
    u32::try_from(key)
        .map_err(|_| BenchError::invalid(format!("key {key} does not fit a 32-bit coordinate")))
}

impl PeerEngine for Infinitedb {
    const NAME: &'static str = "infinitedb";
    const DURABILITY: &'static str = "Options::default(): Durability::Sync, each Db::write \
        (one batch) returns once durable; the flush seals the space's tail into blocks";

    fn open(directory: &Path, backend: BackendRequest) -> Result<Self> {
        let db = Db::open(directory.join("db"), Options::default().backend(backend))?;
        let space = db.create_space(SPACE_NAME, 1, BITS)?;
        Ok(Infinitedb { db, space })
    }

    fn load(&mut self, batch: &[(u64, Vec<u8>)]) -> Result<()> {
        let mut write = Batch::new(self.space);
        for (key, value) in batch {
            write.put([coordinate(*key)?], value);
        }
        self.db.write(write)?;
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        Ok(self.db.flush(self.space)?)
    }

    fn get<F: FnOnce(Option<&[u8]>) -> Result<()>>(&self, key: u64, check: F) -> Result<()> {
        let found = self.db.get(self.space, &[coordinate(key)?])?;
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
        let bounds = [coordinate(lo)?]..=[coordinate(last)?];
        for entry in self.db.range(self.space, bounds)? {
            let entry = entry?;
            let key = entry.point.first().copied().map_or(u64::MAX, u64::from);
            visit(key, &entry.value)?;
        }
        Ok(())
    }

    fn backend(&self) -> Option<BackendInfo> {
        Some(self.db.backend().clone())
    }

    fn read_stats(&self) -> Option<infinitedb::Stats> {
        Some(self.db.stats())
    }

    fn close(self) -> Result<()> {
        Ok(self.db.close()?)
    }
}
