//! Fuzzes `decode_edits`: never panics; decoded edits re-encode to the same bytes.
#![no_main]

use infinitedb_format::{decode_edits, encode_edits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((edits, consumed)) = decode_edits(data) {
        let mut out = Vec::new();
        encode_edits(&edits, &mut out);
        assert_eq!(&out[..], &data[..consumed]);
    }
});
