//! Byte layouts of every file infinitedb writes: WAL frames (hot segments and the staging log)
//! and the stamped sectors that carry them in a version-2 log, segment headers, sealed blocks
//! and manifest edits.
//!
//! This crate holds layouts only: it never opens a file or starts a thread. Every layout is
//! fixed-width little-endian with a magic and a version, checksummed with xxh3, and specified in
//! `docs/format.md` at the repository root.
//!
//! Guarantees: every decoder returns a typed [`DecodeError`] on any input, never panics, and
//! never allocates more than a bounded multiple of its input (frame, page, header and footer
//! decoders borrow and allocate nothing). Each error's [`DecodeError::class`] tells recovery
//! whether it met the end of a log (`Incomplete`, `Foreign`) or damage (`Corrupt`).
//!
//! ```
//! use infinitedb_format::{
//!     FRAME_PAYLOAD_BYTES_MAX, RecordKind, RecordRef, Revision, SegmentId, SpaceId, decode_frame,
//!     encode_frame, frame_encoded_bytes,
//! };
//! let records = [RecordRef { key: 1 << 127, revision: Revision(1), kind: RecordKind::Put, value: b"v" }];
//! let mut out = vec![0_u8; frame_encoded_bytes(&records)];
//! let used = encode_frame(SegmentId(7), SpaceId(1), &records, &mut out);
//! let frame = decode_frame(&out[..used], SegmentId(7), FRAME_PAYLOAD_BYTES_MAX).unwrap();
//! assert_eq!(frame.records().next(), Some(records[0]));
//! ```
#![forbid(unsafe_code)]

mod block;
mod checksum;
mod error;
mod frame;
mod ids;
mod int;
mod layout;
mod manifest;
mod record;
mod segment_header;
mod stamp;

pub use block::{
    BLOCK_FOOTER_BYTES, BLOCK_PAGE_BYTES, BLOCK_VALUE_BYTES_MAX, BlockBuilder, BlockFilter,
    BlockFooter, BlockIndex, BlockReader, BuiltBlock, DataPage, FILTER_BITS_PER_KEY,
    FILTER_HASH_COUNT, FILTER_HASH_COUNT_MAX, PageLocation, decode_page,
};
pub use checksum::{Checksum, ChecksumMismatch};
pub use error::{DecodeClass, DecodeError, Expected, FileKind};
pub use frame::{
    FRAME_HEADER_BYTES, FRAME_PAYLOAD_BYTES_MAX, Frame, FrameGroup, FrameHeader, decode_frame,
    encode_frame, encode_frame_of_group, frame_encoded_bytes,
};
pub use ids::{BlockId, Key, Revision, SegmentId, SpaceId};
pub use layout::{BLOCK_FORMAT_VERSION, FORMAT_VERSION, LOG_FORMAT_VERSION, PAGE_BYTES};
pub use manifest::{
    BlockMeta, LEVEL_COUNT, LogMeta, MANIFEST_EDIT_PAYLOAD_BYTES_MAX, MANIFEST_HEADER_BYTES,
    ManifestEdit, ManifestHeader, Retention, SPACE_NAME_BYTES_MAX, decode_edits, encode_edits,
};
pub use record::{RECORD_HEADER_BYTES, RecordKind, RecordRef};
pub use segment_header::{LOG_HEADER_BYTES, LogHeader, LogKind, LogLayout};
pub use stamp::{
    SECTOR_BYTES, SECTOR_DATA_BYTES, SECTOR_STAMP_BYTES, SECTOR_STAMP_OFFSET, SectorStamp,
    StampedFrame, decode_stamped_frame, encode_stamped_frame, encode_stamped_frame_of_group,
    find_stamped_frame_after, stamped_frame_bytes, stamped_frame_bytes_max,
};

/// The magic of every structure: 4 ASCII bytes read as a little-endian `u32`
/// (`FRAME_MAGIC.to_le_bytes() == *b"IDBF"`).
pub mod magic {
    pub use crate::layout::{
        BLOCK_FILTER_MAGIC, BLOCK_FOOTER_MAGIC, BLOCK_INDEX_MAGIC, BLOCK_PAGE_MAGIC, FRAME_MAGIC,
        LOG_HEADER_MAGIC, MANIFEST_EDIT_MAGIC, MANIFEST_HEADER_MAGIC,
    };
}

/// Field offsets of every layout, for tools and tests that inspect raw bytes.
pub mod offsets {
    pub use crate::frame::{
        FRAME_FIRST_REVISION_OFFSET, FRAME_GROUP_FRAMES_OFFSET, FRAME_GROUP_INDEX_OFFSET,
        FRAME_HEADER_CHECKSUM_OFFSET, FRAME_LAST_REVISION_OFFSET, FRAME_MAGIC_OFFSET,
        FRAME_PAYLOAD_BYTES_OFFSET, FRAME_PAYLOAD_CHECKSUM_OFFSET, FRAME_RECORD_COUNT_OFFSET,
        FRAME_SEGMENT_ID_OFFSET, FRAME_SPACE_ID_OFFSET, FRAME_VERSION_OFFSET,
    };
    pub use crate::manifest::{
        EDIT_HEADER_CHECKSUM_OFFSET, EDIT_MAGIC_OFFSET, EDIT_PAYLOAD_CHECKSUM_OFFSET,
        EDIT_VERSION_OFFSET,
    };
    pub use crate::record::{
        RECORD_KEY_OFFSET, RECORD_KIND_OFFSET, RECORD_RESERVED_OFFSET, RECORD_REVISION_OFFSET,
        RECORD_VALUE_BYTES_OFFSET,
    };
    pub use crate::stamp::{
        STAMP_CHECK_OFFSET, STAMP_FRAME_CHECKSUM_OFFSET, STAMP_SECTOR_INDEX_OFFSET,
        STAMP_SEGMENT_ID_OFFSET,
    };
}
