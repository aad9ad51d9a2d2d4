//! [`Batch`]: records of one space written atomically under one revision, the [`IntoValue`]
//! conversions of what a write takes as a value, and the batch's validated, keyed form
//! [`KeyedBatch`] that travels to the I/O thread.
//!
//! Invariants of a `KeyedBatch`: at least one record; every key is the Hilbert key of a point
//! that fits the space; every value is at most `value_bytes_max`; no key appears twice (a later
//! write of the same point in one batch replaces the earlier one, as sequential writes would).

use std::collections::HashMap;

use bytes::Bytes;
use infinitedb_format::{Key, RECORD_HEADER_BYTES, RecordKind, RecordRef, Revision, SpaceId};

use crate::error::{Error, Result};
use crate::keyspace::Curve;

/// A value a write takes ([`Batch::put`], [`crate::Db::put`]), as the [`Bytes`] the
/// memtable and reads share: an owned buffer ([`Bytes`], `Vec<u8>`, `String`, `Box<[u8]>`)
/// is moved, not copied, so its bytes are copied once, into the write's log frame; borrowed
/// bytes (`&[u8]`, `&[u8; N]`, `&str`, `&Vec<u8>`) are copied once more, into a buffer of
/// their own.
///
/// ```
/// use infinitedb::{Batch, Bytes, SpaceId};
/// let mut batch = Batch::new(SpaceId(1));
/// let frame: Bytes = Bytes::from(vec![0_u8; 4096]); // e.g. read off a socket
/// batch.put([1, 2], frame.clone()); // shares `frame`'s buffer
/// batch.put(vec![3, 4], b"borrowed"); // copied
/// assert_eq!(batch.len(), 2);
/// ```
pub trait IntoValue {
    /// The value as shared bytes.
    fn into_value(self) -> Bytes;
}

impl IntoValue for Bytes {
    fn into_value(self) -> Bytes {
        self
    }
}

impl IntoValue for &Bytes {
    fn into_value(self) -> Bytes {
        self.clone()
    }
}

impl IntoValue for Vec<u8> {
    fn into_value(self) -> Bytes {
        Bytes::from(self)
    }
}

impl IntoValue for Box<[u8]> {
    fn into_value(self) -> Bytes {
        Bytes::from(self)
    }
}

impl IntoValue for String {
    fn into_value(self) -> Bytes {
        Bytes::from(self)
    }
}

impl IntoValue for &[u8] {
    fn into_value(self) -> Bytes {
        Bytes::copy_from_slice(self)
    }
}

impl<const N: usize> IntoValue for &[u8; N] {
    fn into_value(self) -> Bytes {
        Bytes::copy_from_slice(self)
    }
}

impl IntoValue for &Vec<u8> {
    fn into_value(self) -> Bytes {
        Bytes::copy_from_slice(self)
    }
}

impl IntoValue for &str {
    fn into_value(self) -> Bytes {
        Bytes::copy_from_slice(self.as_bytes())
    }
}

/// Records of one space, written atomically with one revision by [`crate::Db::write`].
/// Points and values are checked when the batch is written, not when they are added.
/// A point is anything that views as `[u32]` (an array, a slice, a `Vec`); a value anything
/// [`IntoValue`] (owned buffers are not copied).
///
/// ```no_run
/// # fn demo(db: &infinitedb::Db, space: infinitedb::SpaceId) -> infinitedb::Result<()> {
/// let mut batch = infinitedb::Batch::new(space);
/// batch.put(&[1, 2], b"a").delete(&[3, 4]);
/// let revision = db.write(batch)?;
/// # let _ = revision; Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Batch {
    pub(crate) space: SpaceId,
    pub(crate) entries: Vec<(Vec<u32>, Option<Bytes>)>,
}

impl Batch {
    /// An empty batch for `space`.
    #[must_use]
    pub fn new(space: SpaceId) -> Self {
        Batch {
            space,
            entries: Vec::new(),
        }
    }

    /// Adds a put of `value` at `point`.
    pub fn put(&mut self, point: impl AsRef<[u32]>, value: impl IntoValue) -> &mut Self {
        self.entries
            .push((point.as_ref().to_vec(), Some(value.into_value())));
        self
    }

    /// Adds a delete of `point`.
    pub fn delete(&mut self, point: impl AsRef<[u32]>) -> &mut Self {
        self.entries.push((point.as_ref().to_vec(), None));
        self
    }

    /// The number of records added.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no record was added.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The space written.
    #[must_use]
    pub fn space(&self) -> SpaceId {
        self.space
    }
}

/// One validated record: its key and `Some(value)` for a put, `None` for a delete. The value
/// is shared with the memtable entry made from it (no copy on the commit path).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KeyedRecord {
    pub(crate) key: Key,
    pub(crate) value: Option<Bytes>,
}

impl KeyedRecord {
    /// Borrowed as a format record at `revision`.
    pub(crate) fn as_record_ref(&self, revision: Revision) -> RecordRef<'_> {
        match &self.value {
            Some(value) => RecordRef {
                key: self.key,
                revision,
                kind: RecordKind::Put,
                value,
            },
            None => RecordRef {
                key: self.key,
                revision,
                kind: RecordKind::Delete,
                value: &[],
            },
        }
    }

    /// Encoded size in a frame or block.
    pub(crate) fn encoded_bytes(&self) -> usize {
        RECORD_HEADER_BYTES + self.value.as_ref().map_or(0, |value| value.len())
    }
}

/// Batches of at most this many records find repeated keys by a linear scan.
const SCAN_DEDUP_RECORDS_MAX: usize = 16;

/// A batch whose points became keys and whose values were checked.
#[derive(Clone, Debug)]
pub(crate) struct KeyedBatch {
    pub(crate) space: SpaceId,
    pub(crate) records: Vec<KeyedRecord>,
    pub(crate) encoded_bytes: usize,
}

impl KeyedBatch {
    /// Validates `batch` against its space's curve and the value limit (`space` is the
    /// space's name, for the errors).
    pub(crate) fn from_batch(
        batch: Batch,
        space: &str,
        curve: &Curve,
        value_bytes_max: usize,
    ) -> Result<Self> {
        if batch.entries.is_empty() {
            return Err(Error::EmptyBatch);
        }
        let mut records: Vec<KeyedRecord> = Vec::with_capacity(batch.entries.len());
        // Small batches (a put is one record) find a repeated key by a scan: no map to build.
        let mut index_of_key: Option<HashMap<Key, usize>> =
            (batch.entries.len() > SCAN_DEDUP_RECORDS_MAX).then(HashMap::new);
        for (point, value) in batch.entries {
            let key = curve.encode(&point).map_err(|source| Error::InvalidPoint {
                space: space.to_string(),
                source,
            })?;
            if let Some(value) = &value
                && value.len() > value_bytes_max
            {
                return Err(Error::ValueTooLarge {
                    bytes: value.len(),
                    max: value_bytes_max,
                });
            }
            let record = KeyedRecord { key, value };
            let existing = match &index_of_key {
                Some(map) => map.get(&key).copied(),
                None => records.iter().position(|held| held.key == key),
            };
            match existing {
                Some(index) => records[index] = record,
                None => {
                    if let Some(map) = &mut index_of_key {
                        map.insert(key, records.len());
                    }
                    records.push(record);
                }
            }
        }
        let encoded_bytes = records.iter().map(KeyedRecord::encoded_bytes).sum();
        debug_assert!(!records.is_empty());
        Ok(KeyedBatch {
            space: batch.space,
            records,
            encoded_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_write_of_a_point_replaces_the_earlier_one() {
        // Goal: one key per batch, last write wins; bad input is typed. Method: build batches.
        let curve = Curve::new(2, 8).unwrap();
        let mut batch = Batch::new(SpaceId(1));
        batch.put([1, 2], b"a").put([3, 4], b"b").delete([1, 2]);
        let keyed = KeyedBatch::from_batch(batch, "test", &curve, 16).unwrap();
        assert_eq!(keyed.records.len(), 2);
        assert_eq!(keyed.records[0].value, None);
        assert_eq!(keyed.encoded_bytes, 2 * RECORD_HEADER_BYTES + 1);

        let mut big = Batch::new(SpaceId(1));
        big.put([1, 1], &[0; 17]);
        assert!(matches!(
            KeyedBatch::from_batch(big, "test", &curve, 16),
            Err(Error::ValueTooLarge { bytes: 17, max: 16 })
        ));
        let mut outside = Batch::new(SpaceId(1));
        outside.put([256, 1], b"");
        assert!(matches!(
            KeyedBatch::from_batch(outside, "test", &curve, 16),
            Err(Error::InvalidPoint { .. })
        ));
        assert!(matches!(
            KeyedBatch::from_batch(Batch::new(SpaceId(1)), "test", &curve, 16),
            Err(Error::EmptyBatch)
        ));
    }

    #[test]
    fn small_and_large_batches_dedup_alike() {
        // Goal: the scan (small batches) and the map (large ones) keep the same records in the
        // same order. Method: the same pattern of repeats at sizes on both sides of the cutoff;
        // each point i is written at positions i and i + n/2 (second value wins, first slot).
        let curve = Curve::new(2, 8).unwrap();
        for distinct in [3, u32::try_from(SCAN_DEDUP_RECORDS_MAX / 2).unwrap(), 40] {
            let mut batch = Batch::new(SpaceId(1));
            for round in 0..2_u8 {
                for index in 0..distinct {
                    batch.put([index, 7], &[round]);
                }
            }
            let keyed = KeyedBatch::from_batch(batch, "test", &curve, 16).unwrap();
            assert_eq!(keyed.records.len(), distinct as usize, "{distinct}");
            for (index, record) in keyed.records.iter().enumerate() {
                let point = [u32::try_from(index).unwrap(), 7];
                assert_eq!(
                    record.key,
                    curve.encode(&point).unwrap(),
                    "{distinct}: order"
                );
                assert_eq!(
                    record.value.as_deref(),
                    Some(&[1_u8][..]),
                    "{distinct}: last wins"
                );
            }
        }
    }
}
