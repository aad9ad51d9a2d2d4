//! Fuzzes the block footer, index and reader on a whole block: never panics.
#![no_main]

use infinitedb_format::{BlockFooter, BlockIndex, BlockReader, Revision};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((footer, _)) = BlockFooter::decode(data) {
        let _ = BlockIndex::decode(data, &footer);
    }
    if let Ok(reader) = BlockReader::new(data) {
        let _ = reader.get(0, Revision(u64::MAX));
        let _ = reader.scan().count();
    }
});
