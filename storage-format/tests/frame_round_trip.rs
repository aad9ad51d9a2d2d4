//! Frames round-trip: any valid group of records encodes, decodes to the same header and
//! records, reports its extent, and is followed by whatever the log holds next.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    clippy::cast_possible_truncation,
    reason = "test code: a panic is a test failure"
)]

mod common;

use common::{OwnedRecord, frame_records};
use infinitedb_format::{
    DecodeClass, FRAME_PAYLOAD_BYTES_MAX, RecordRef, SegmentId, SpaceId, decode_frame,
    encode_frame, frame_encoded_bytes,
};
use proptest::prelude::*;

proptest! {
    #[test]
    fn frames_round_trip(records in frame_records(40), segment in any::<u64>(), space in any::<u32>()) {
        // Goal: decode(encode(x)) == x for arbitrary valid frames. Method: encode two frames
        // back to back into a zeroed buffer, decode both, then hit the zero tail.
        let refs: Vec<RecordRef<'_>> = records.iter().map(OwnedRecord::as_ref).collect();
        let bytes = frame_encoded_bytes(&refs);
        let mut log = vec![0_u8; 2 * bytes + 4096];
        let first = encode_frame(SegmentId(segment), SpaceId(space), &refs, &mut log);
        let second = encode_frame(SegmentId(segment), SpaceId(space), &refs, &mut log[first..]);
        prop_assert_eq!(first, bytes);
        prop_assert_eq!(second, bytes);
        for start in [0, first] {
            let frame = decode_frame(&log[start..], SegmentId(segment), FRAME_PAYLOAD_BYTES_MAX).unwrap();
            prop_assert_eq!(frame.encoded_bytes, bytes);
            prop_assert_eq!(frame.header.space_id, SpaceId(space));
            prop_assert_eq!(frame.header.record_count as usize, refs.len());
            prop_assert_eq!(frame.header.first_revision, refs[0].revision);
            prop_assert_eq!(frame.header.last_revision, refs[refs.len() - 1].revision);
            prop_assert_eq!(frame.records().collect::<Vec<_>>(), refs.clone());
        }
        let tail = decode_frame(&log[2 * bytes..], SegmentId(segment), FRAME_PAYLOAD_BYTES_MAX).unwrap_err();
        prop_assert_eq!(tail.class(), DecodeClass::Incomplete);
        let other = SegmentId(segment.wrapping_add(1));
        let foreign = decode_frame(&log, other, FRAME_PAYLOAD_BYTES_MAX).unwrap_err();
        prop_assert_eq!(foreign.class(), DecodeClass::Foreign { found: SegmentId(segment) });
    }
}
