//! Fuzzes `decode_frame`: any bytes decode to a frame or an error, never a panic; a decoded
//! frame re-encodes to the same bytes.
#![no_main]

use infinitedb_format::{SegmentId, decode_frame, encode_frame, frame_encoded_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let segment = SegmentId(data.get(24).copied().map_or(0, u64::from));
    if let Ok(frame) = decode_frame(data, segment, 1 << 20) {
        let records: Vec<_> = frame.records().collect();
        let mut out = vec![0_u8; frame_encoded_bytes(&records)];
        let used = encode_frame(frame.header.segment_id, frame.header.space_id, &records, &mut out);
        assert_eq!(&out[..used], &data[..frame.encoded_bytes]);
    }
});
