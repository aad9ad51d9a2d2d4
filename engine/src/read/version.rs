//! [`Version`]: one record version as the read path carries it, owned, in the order every
//! source yields them: key ascending, revision descending (docs/design.md §5 "Block", §6).
//!
//! Invariant: a source never yields two versions out of [`Version::order`] order; the merge
//! (`merge.rs`) relies on it and checks it with a `debug_assert!`.

use std::cmp::Reverse;

use bytes::Bytes;
use infinitedb_format::{Key, RecordKind, RecordRef, Revision};

/// One version of one key: a put (`Some(value)`) or a delete (`None`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Version {
    /// The Hilbert key.
    pub(crate) key: Key,
    /// The revision that wrote it.
    pub(crate) revision: Revision,
    /// The value, `None` for a delete.
    pub(crate) value: Option<Bytes>,
}

impl Version {
    /// The version as a record of a block or frame (a delete has an empty value).
    pub(crate) fn record(&self) -> RecordRef<'_> {
        let (kind, value) = match &self.value {
            Some(value) => (RecordKind::Put, value.as_ref()),
            None => (RecordKind::Delete, &[][..]),
        };
        RecordRef {
            key: self.key,
            revision: self.revision,
            kind,
            value,
        }
    }

    /// The sort key of the read path: key ascending, then revision descending.
    pub(crate) fn order(&self) -> (Key, Reverse<Revision>) {
        (self.key, Reverse(self.revision))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_key_ascending_then_revision_descending() {
        // Goal: the sort key matches block order. Method: compare three versions.
        let older = Version {
            key: 5,
            revision: Revision(1),
            value: None,
        };
        let newer = Version {
            key: 5,
            revision: Revision(9),
            value: Some(vec![1].into()),
        };
        let later_key = Version {
            key: 6,
            revision: Revision(0),
            value: None,
        };
        assert!(newer.order() < older.order());
        assert!(older.order() < later_key.order());
    }
}
