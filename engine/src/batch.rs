//! [`Batch`]: records of one or several spaces written atomically under one revision, the
//! [`IntoValue`] conversions of what a write takes as a value, and the batch's validated,
//! keyed form: one [`KeyedBatch`] per space, which travel to the I/O thread together.
//!
//! Invariants of a `KeyedBatch`: at least one record; every key is the Hilbert key of a point
//! that fits the space; every value is at most `value_bytes_max`; no key appears twice (a later
//! write of the same point in one batch replaces the earlier one, as sequential writes would).
//! The parts of one batch are in ascending space order, one per space.

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

/// Records written atomically with one revision by [`crate::Db::write`]: after a crash all
/// of them are there or none. Most batches write one space, the one given to
/// [`Batch::new`] ([`Batch::put`], [`Batch::delete`]); [`Batch::put_in`] and
/// [`Batch::delete_in`] add records of other spaces to the same atomic write.
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
///
/// A batch of several spaces: an order and its stock movement, both or neither.
///
/// ```
/// use infinitedb::{Batch, Db, Options, Readable};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let db = Db::open(dir.path(), Options::default())?;
/// let orders = db.create_space("orders", 1, 32)?;
/// let stock = db.create_space("stock", 2, 16)?;
/// let mut batch = Batch::new(orders);
/// batch.put([1001], b"2 x widget").put_in(stock, [7, 1], b"-2");
/// let revision = db.write(batch)?;
/// let snapshot = db.snapshot();
/// assert_eq!(snapshot.get(orders, &[1001])?.as_deref(), Some(&b"2 x widget"[..]));
/// assert_eq!(snapshot.get(stock, &[7, 1])?.as_deref(), Some(&b"-2"[..]));
/// # let _ = revision; Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Batch {
    pub(crate) space: SpaceId,
    pub(crate) entries: Vec<Entry>,
}

/// One record of a [`Batch`] as added: its space, point and value (`None`: a delete).
pub(crate) type Entry = (SpaceId, Vec<u32>, Option<Bytes>);

impl Batch {
    /// An empty batch whose [`Batch::put`] and [`Batch::delete`] write `space`.
    #[must_use]
    pub fn new(space: SpaceId) -> Self {
        Batch {
            space,
            entries: Vec::new(),
        }
    }

    /// Adds a put of `value` at `point` of the batch's space.
    pub fn put(&mut self, point: impl AsRef<[u32]>, value: impl IntoValue) -> &mut Self {
        self.put_in(self.space, point, value)
    }

    /// Adds a delete of `point` of the batch's space.
    pub fn delete(&mut self, point: impl AsRef<[u32]>) -> &mut Self {
        self.delete_in(self.space, point)
    }

    /// Adds a put of `value` at `point` of `space`, which may be another space than the
    /// batch's: the batch then writes several spaces atomically.
    pub fn put_in(
        &mut self,
        space: SpaceId,
        point: impl AsRef<[u32]>,
        value: impl IntoValue,
    ) -> &mut Self {
        self.entries
            .push((space, point.as_ref().to_vec(), Some(value.into_value())));
        self
    }

    /// Adds a delete of `point` of `space`, as [`Batch::put_in`].
    pub fn delete_in(&mut self, space: SpaceId, point: impl AsRef<[u32]>) -> &mut Self {
        self.entries.push((space, point.as_ref().to_vec(), None));
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

    /// The space [`Batch::put`] and [`Batch::delete`] write.
    #[must_use]
    pub fn space(&self) -> SpaceId {
        self.space
    }

    /// Every space the batch writes, in ascending order.
    #[must_use]
    pub fn spaces(&self) -> Vec<SpaceId> {
        let mut spaces: Vec<SpaceId> = self.entries.iter().map(|entry| entry.0).collect();
        spaces.sort_unstable();
        spaces.dedup();
        spaces
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
    /// Validates the records of one space against its curve and the value limit (`name` is
    /// the space's name, for the errors).
    fn from_entries(
        space: SpaceId,
        entries: impl ExactSizeIterator<Item = (Vec<u32>, Option<Bytes>)>,
        name: &str,
        curve: &Curve,
        value_bytes_max: usize,
    ) -> Result<Self> {
        let mut records: Vec<KeyedRecord> = Vec::with_capacity(entries.len());
        // Small batches (a put is one record) find a repeated key by a scan: no map to build.
        let mut index_of_key: Option<HashMap<Key, usize>> =
            (entries.len() > SCAN_DEDUP_RECORDS_MAX).then(HashMap::new);
        for (point, value) in entries {
            let key = curve.encode(&point).map_err(|source| Error::InvalidPoint {
                space: name.to_string(),
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
            space,
            records,
            encoded_bytes,
        })
    }

    /// Validates `batch`: one part per space it writes, in ascending space order. `space_of`
    /// gives a space's name and curve, or its error (an unknown space).
    pub(crate) fn parts_of<S: AsRef<str>>(
        batch: Batch,
        space_of: impl Fn(SpaceId) -> Result<(S, Curve)>,
        value_bytes_max: usize,
    ) -> Result<Vec<Self>> {
        if batch.entries.is_empty() {
            return Err(Error::EmptyBatch);
        }
        let single = batch.entries.iter().all(|entry| entry.0 == batch.space);
        if single {
            let (name, curve) = space_of(batch.space)?;
            let entries = batch
                .entries
                .into_iter()
                .map(|(_, point, value)| (point, value));
            let part =
                Self::from_entries(batch.space, entries, name.as_ref(), &curve, value_bytes_max)?;
            return Ok(vec![part]);
        }
        let mut entries = batch.entries;
        // Stable: within a space, later writes of a point still replace earlier ones.
        entries.sort_by_key(|entry| entry.0);
        let mut parts = Vec::new();
        let mut rest = entries.into_iter().peekable();
        while let Some(space) = rest.peek().map(|entry| entry.0) {
            let mut of_space = Vec::new();
            while let Some(entry) = rest.next_if(|entry| entry.0 == space) {
                of_space.push((entry.1, entry.2));
            }
            let (name, curve) = space_of(space)?;
            parts.push(Self::from_entries(
                space,
                of_space.into_iter(),
                name.as_ref(),
                &curve,
                value_bytes_max,
            )?);
        }
        Ok(parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one part of a batch of one space, every space named "test" with `curve`.
    fn one_part(batch: Batch, curve: &Curve, value_bytes_max: usize) -> Result<KeyedBatch> {
        let mut parts = KeyedBatch::parts_of(batch, |_| Ok(("test", *curve)), value_bytes_max)?;
        assert_eq!(parts.len(), 1);
        Ok(parts.remove(0))
    }

    #[test]
    fn a_batch_of_several_spaces_has_one_part_per_space_in_space_order() {
        // Goal: records are grouped by space, spaces ascending, a point's last write winning
        // within its space only; an unknown space fails the whole batch. Method: interleave
        // three spaces, with one point written twice in one space and once in another.
        let curve = Curve::new(2, 8).unwrap();
        let mut batch = Batch::new(SpaceId(3));
        batch
            .put([1, 1], b"a")
            .put_in(SpaceId(1), [1, 1], b"b")
            .put_in(SpaceId(2), [2, 2], b"c")
            .put([1, 1], b"d")
            .delete_in(SpaceId(1), [5, 5]);
        assert_eq!(batch.spaces(), vec![SpaceId(1), SpaceId(2), SpaceId(3)]);
        let parts = KeyedBatch::parts_of(batch.clone(), |_| Ok(("test", curve)), 16).unwrap();
        let spaces: Vec<SpaceId> = parts.iter().map(|part| part.space).collect();
        assert_eq!(spaces, vec![SpaceId(1), SpaceId(2), SpaceId(3)]);
        assert_eq!(parts[0].records.len(), 2);
        assert_eq!(parts[0].records[0].value.as_deref(), Some(&b"b"[..]));
        assert_eq!(parts[0].records[1].value, None);
        assert_eq!(parts[2].records.len(), 1);
        assert_eq!(parts[2].records[0].value.as_deref(), Some(&b"d"[..]));
        let unknown = KeyedBatch::parts_of(
            batch,
            |space| {
                if space == SpaceId(2) {
                    Err(Error::UnknownSpace { name: "#2".into() })
                } else {
                    Ok(("test", curve))
                }
            },
            16,
        );
        assert!(matches!(unknown, Err(Error::UnknownSpace { .. })));
    }

    #[test]
    fn later_write_of_a_point_replaces_the_earlier_one() {
        // Goal: one key per batch, last write wins; bad input is typed. Method: build batches.
        let curve = Curve::new(2, 8).unwrap();
        let mut batch = Batch::new(SpaceId(1));
        batch.put([1, 2], b"a").put([3, 4], b"b").delete([1, 2]);
        let keyed = one_part(batch, &curve, 16).unwrap();
        assert_eq!(keyed.records.len(), 2);
        assert_eq!(keyed.records[0].value, None);
        assert_eq!(keyed.encoded_bytes, 2 * RECORD_HEADER_BYTES + 1);

        let mut big = Batch::new(SpaceId(1));
        big.put([1, 1], &[0; 17]);
        assert!(matches!(
            one_part(big, &curve, 16),
            Err(Error::ValueTooLarge { bytes: 17, max: 16 })
        ));
        let mut outside = Batch::new(SpaceId(1));
        outside.put([256, 1], b"");
        assert!(matches!(
            one_part(outside, &curve, 16),
            Err(Error::InvalidPoint { .. })
        ));
        assert!(matches!(
            KeyedBatch::parts_of(Batch::new(SpaceId(1)), |_| Ok(("test", curve)), 16),
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
            let keyed = one_part(batch, &curve, 16).unwrap();
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
