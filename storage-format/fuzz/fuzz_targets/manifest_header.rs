//! Fuzzes `ManifestHeader::decode`: never panics; a decoded header re-encodes identically.
#![no_main]

use infinitedb_format::{MANIFEST_HEADER_BYTES, ManifestHeader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = ManifestHeader::decode(data) {
        let mut page = vec![0_u8; MANIFEST_HEADER_BYTES];
        header.encode(&mut page);
        assert_eq!(&page[..], &data[..MANIFEST_HEADER_BYTES]);
    }
});
