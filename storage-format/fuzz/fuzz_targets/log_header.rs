//! Fuzzes `LogHeader::decode`: never panics; a decoded header re-encodes to the same page.
#![no_main]

use infinitedb_format::{LOG_HEADER_BYTES, LogHeader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = LogHeader::decode(data) {
        let mut page = vec![0_u8; LOG_HEADER_BYTES];
        header.encode(&mut page);
        assert_eq!(&page[..], &data[..LOG_HEADER_BYTES]);
    }
});
