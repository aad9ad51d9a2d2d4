//! Blocks agree with a reference model: for arbitrary sorted records (many versions per key,
//! some values larger than a page), a scan returns exactly the records, `get` returns the
//! model's newest version at or below the read revision, and `pages_for_range` returns every
//! run holding a key in the range.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    clippy::cast_possible_truncation,
    reason = "test code: a panic is a test failure"
)]

mod common;

use infinitedb_format::{
    BlockBuilder, BlockId, BlockReader, Key, RecordKind, RecordRef, Revision, SpaceId, decode_page,
};
use proptest::prelude::*;
use std::collections::BTreeMap;

/// The model: `(key, revision) -> Some(value)` for a put, `None` for a delete.
type Model = BTreeMap<(Key, u64), Option<Vec<u8>>>;

fn model() -> impl Strategy<Value = Model> {
    let value = prop_oneof![
        8 => proptest::collection::vec(any::<u8>(), 0..300).prop_map(Some),
        1 => proptest::collection::vec(any::<u8>(), 4000..9000).prop_map(Some),
        2 => Just(None),
    ];
    proptest::collection::btree_map((0_u128..40, 0_u64..60), value, 1..300)
}

/// The model's records in block order: key ascending, revision descending.
fn sorted(model: &Model) -> Vec<RecordRef<'_>> {
    let mut records: Vec<_> = model
        .iter()
        .map(|(&(key, revision), value)| RecordRef {
            key: key << 100,
            revision: Revision(revision),
            kind: if value.is_some() {
                RecordKind::Put
            } else {
                RecordKind::Delete
            },
            value: value.as_deref().unwrap_or_default(),
        })
        .collect();
    records.sort_by(|a, b| a.key.cmp(&b.key).then(b.revision.cmp(&a.revision)));
    records
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn blocks_agree_with_the_model(model in model(), queries in proptest::collection::vec((0_u128..42, 0_u64..62), 50)) {
        // Goal: the block answers like a BTreeMap over (key, revision). Method: build from
        // the model, compare the scan, point reads at many revisions, and range lookups.
        let records = sorted(&model);
        let mut builder = BlockBuilder::new(SpaceId(3), BlockId(17));
        for record in &records {
            builder.push(*record);
        }
        let built = builder.finish();
        prop_assert_eq!(built.bytes.len() % 4096, 0);
        let reader = BlockReader::new(&built.bytes).unwrap();
        prop_assert_eq!(reader.footer().record_count as usize, records.len());
        let scanned: Vec<_> = reader.scan().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(&scanned, &records);
        for (key, at) in queries {
            let expected = records.iter().find(|r| r.key == key << 100 && r.revision.0 <= at).copied();
            prop_assert_eq!(reader.get(key << 100, Revision(at)).unwrap(), expected);
            let (lo, hi) = (key.saturating_sub(3) << 100, key << 100);
            let mut in_pages = Vec::new();
            for location in reader.index().pages_for_range(lo, hi) {
                let start = location.offset as usize;
                let page = decode_page(&built.bytes[start..], &location).unwrap();
                in_pages.extend(page.records().filter(|r| (lo..=hi).contains(&r.key)));
            }
            let wanted: Vec<_> = records.iter().filter(|r| (lo..=hi).contains(&r.key)).copied().collect();
            prop_assert_eq!(in_pages, wanted);
        }
    }
}
