//! Fuzzes `decode_page` with a location taken from the first bytes: never panics.
#![no_main]

use infinitedb_format::{Checksum, PageLocation, decode_page};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((head, rest)) = data.split_at_checked(4) else { return };
    let stored = rest.get(..8).and_then(|bytes| bytes.try_into().ok()).unwrap_or([0; 8]);
    let location = PageLocation {
        offset: 0,
        bytes: 4096 * u32::from(head[0] % 4),
        first_key: u128::from(head[1]),
        last_key: u128::from(head[2]),
        record_count: u32::from(head[3]),
        checksum: Checksum(u64::from_le_bytes(stored)),
    };
    if let Ok(page) = decode_page(rest, &location) {
        let _ = page.records().count();
    }
});
