//! Manifest batches round-trip: arbitrary valid edit batches, appended one after another,
//! decode in order to the same edits and report the bytes each occupies; headers round-trip.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    clippy::cast_possible_truncation,
    reason = "test code: a panic is a test failure"
)]

mod common;

use common::manifest_edit;
use infinitedb_format::{
    DecodeClass, LOG_HEADER_BYTES, LogHeader, LogKind, LogLayout, MANIFEST_HEADER_BYTES,
    ManifestHeader, Revision, SegmentId, SpaceId, decode_edits, encode_edits,
};
use proptest::prelude::*;

proptest! {
    #[test]
    fn edit_batches_round_trip(batches in proptest::collection::vec(proptest::collection::vec(manifest_edit(), 1..6), 1..5)) {
        // Goal: a log of batches decodes batch by batch. Method: encode all, then decode in a
        // loop until the zero tail, which is Incomplete.
        let mut log = Vec::new();
        for batch in &batches {
            encode_edits(batch, &mut log);
        }
        log.extend_from_slice(&[0; 64]);
        let mut offset = 0;
        for batch in &batches {
            let (edits, consumed) = decode_edits(&log[offset..]).unwrap();
            prop_assert_eq!(&edits, batch);
            offset += consumed;
        }
        prop_assert_eq!(decode_edits(&log[offset..]).unwrap_err().class(), DecodeClass::Incomplete);
    }

    #[test]
    fn headers_round_trip(generation in any::<u64>(), segment in any::<u64>(), space in any::<u32>(), revision in any::<u64>(), hot in any::<bool>()) {
        // Goal: both header pages round-trip for any field values. Method: encode into a
        // dirty buffer (padding must be zeroed by the encoder), decode, compare.
        let mut page = vec![0xEE_u8; MANIFEST_HEADER_BYTES];
        ManifestHeader { generation }.encode(&mut page);
        prop_assert_eq!(ManifestHeader::decode(&page).unwrap(), ManifestHeader { generation });
        let header = LogHeader {
            layout: LogLayout::CURRENT,
            kind: if hot { LogKind::HotSegment } else { LogKind::StagingLog },
            segment_id: SegmentId(segment),
            space_id: SpaceId(if hot { space } else { 0 }),
            created_revision: Revision(revision),
        };
        let mut page = vec![0xEE_u8; LOG_HEADER_BYTES];
        header.encode(&mut page);
        prop_assert_eq!(LogHeader::decode(&page).unwrap(), header);
    }
}
