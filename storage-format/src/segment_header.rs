//! Page 0 of every log file (a hot segment or the staging log): what the file is and which
//! segment generation it holds (`docs/format.md`, "Log header").
//!
//! Owns: the log header layout and the log's version, which says how its frames are laid out
//! ([`LogLayout`]). Invariants: the page is exactly `LOG_HEADER_BYTES`, its checksum covers
//! bytes 8..4096 (padding included, so a flip anywhere is detected), padding is zero, and a
//! staging log's space id is 0.

use crate::checksum::Checksum;
use crate::error::{DecodeError, Expected, FileKind};
use crate::ids::{Revision, SegmentId, SpaceId};
use crate::int;
use crate::layout::{LOG_FORMAT_VERSION, LOG_HEADER_MAGIC, PAGE_BYTES, check_sealed};
use crate::layout::{check_zero, ensure, read_u8, read_u32, read_u64};

/// Size of the log header: one page; frames start after it.
pub const LOG_HEADER_BYTES: usize = PAGE_BYTES;

/// Offset of the checksum (`u64`, xxh3-64 of bytes 8..4096).
pub const LOG_HEADER_CHECKSUM_OFFSET: usize = 0;
/// Offset of the magic (`u32`, "IDBL").
pub const LOG_HEADER_MAGIC_OFFSET: usize = LOG_HEADER_CHECKSUM_OFFSET + 8;
/// Offset of the log version (`u16`: 1 contiguous frames, 2 stamped sectors).
pub const LOG_HEADER_VERSION_OFFSET: usize = LOG_HEADER_MAGIC_OFFSET + 4;
/// Offset of the log kind (`u8`: 1 hot segment, 2 staging log).
pub const LOG_HEADER_KIND_OFFSET: usize = LOG_HEADER_VERSION_OFFSET + 2;
/// Offset of a reserved zero byte.
pub const LOG_HEADER_RESERVED_A_OFFSET: usize = LOG_HEADER_KIND_OFFSET + 1;
/// Offset of the segment id (`u64`).
pub const LOG_HEADER_SEGMENT_ID_OFFSET: usize = LOG_HEADER_RESERVED_A_OFFSET + 1;
/// Offset of the created revision (`u64`).
pub const LOG_HEADER_CREATED_REVISION_OFFSET: usize = LOG_HEADER_SEGMENT_ID_OFFSET + 8;
/// Offset of the space id (`u32`, 0 for a staging log).
pub const LOG_HEADER_SPACE_ID_OFFSET: usize = LOG_HEADER_CREATED_REVISION_OFFSET + 8;
/// Offset of the zero padding that fills the page.
pub const LOG_HEADER_PADDING_OFFSET: usize = LOG_HEADER_SPACE_ID_OFFSET + 4;

const _: () = assert!(LOG_HEADER_PADDING_OFFSET == 36);
const _: () = assert!(LOG_HEADER_BYTES.is_multiple_of(PAGE_BYTES));

/// Which log a file holds.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum LogKind {
    /// A space's append-only hot segment (on disk: 1).
    HotSegment,
    /// The staging log shared by all spaces for hedged writes (on disk: 2).
    StagingLog,
}

impl LogKind {
    pub(crate) fn to_byte(self) -> u8 {
        match self {
            Self::HotSegment => 1,
            Self::StagingLog => 2,
        }
    }

    pub(crate) fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(Self::HotSegment),
            2 => Some(Self::StagingLog),
            _ => None,
        }
    }
}

/// How the frames of a log are laid out, given by its header's version.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum LogLayout {
    /// Version 1: frames packed back to back (`docs/format.md`, "Frame"). Read, not written.
    Contiguous,
    /// Version 2: each frame on a sector boundary, in whole stamped sectors
    /// (`docs/format.md`, "Stamped sectors"). Every log this build creates.
    Stamped,
}

impl LogLayout {
    /// The layout of the logs this build writes.
    pub const CURRENT: LogLayout = LogLayout::Stamped;

    /// The log header version of this layout.
    #[must_use]
    pub fn version(self) -> u16 {
        match self {
            Self::Contiguous => 1,
            Self::Stamped => LOG_FORMAT_VERSION,
        }
    }

    fn from_version(version: u16) -> Option<Self> {
        match version {
            1 => Some(Self::Contiguous),
            LOG_FORMAT_VERSION => Some(Self::Stamped),
            _ => None,
        }
    }
}

/// The fields of a log file's page 0.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct LogHeader {
    /// How the log's frames are laid out (the header's version).
    pub layout: LogLayout,
    /// Hot segment or staging log.
    pub kind: LogKind,
    /// The generation of this file's contents; every frame in it carries the same id.
    pub segment_id: SegmentId,
    /// The space of a hot segment; 0 (unused) for the staging log.
    pub space_id: SpaceId,
    /// The revision high-water mark when the file was (re)initialised.
    pub created_revision: Revision,
}

impl LogHeader {
    /// Encodes the header into `out[..LOG_HEADER_BYTES]`, padding included.
    ///
    /// # Panics
    /// If `out` is shorter than [`LOG_HEADER_BYTES`], or a staging log header names a space:
    /// both caller bugs.
    pub fn encode(&self, out: &mut [u8]) {
        assert!(
            self.kind == LogKind::HotSegment || self.space_id == SpaceId(0),
            "a staging log header has space id 0"
        );
        let page = out.get_mut(..LOG_HEADER_BYTES);
        assert!(
            page.is_some(),
            "log header buffer shorter than {LOG_HEADER_BYTES}"
        );
        let Some(page) = page else { return };
        page.fill(0);
        int::write_u32(page, LOG_HEADER_MAGIC_OFFSET, LOG_HEADER_MAGIC);
        int::write_u16(page, LOG_HEADER_VERSION_OFFSET, self.layout.version());
        int::write_u8(page, LOG_HEADER_KIND_OFFSET, self.kind.to_byte());
        int::write_u64(page, LOG_HEADER_SEGMENT_ID_OFFSET, self.segment_id.0);
        int::write_u64(
            page,
            LOG_HEADER_CREATED_REVISION_OFFSET,
            self.created_revision.0,
        );
        int::write_u32(page, LOG_HEADER_SPACE_ID_OFFSET, self.space_id.0);
        let checksum = Checksum::of(page.get(LOG_HEADER_MAGIC_OFFSET..).unwrap_or_default());
        int::write_u64(page, LOG_HEADER_CHECKSUM_OFFSET, checksum.0);
    }

    /// Decodes the header from `bytes[..LOG_HEADER_BYTES]` (longer input is ignored).
    ///
    /// Order: short input or an all-zero page is `Incomplete`; then the checksum (`Corrupt`);
    /// then magic and version; then fields (`Corrupt`).
    ///
    /// # Errors
    /// A [`DecodeError`] naming the field.
    pub fn decode(bytes: &[u8]) -> Result<LogHeader, DecodeError> {
        let kind_of = FileKind::LogHeader;
        let Some(page) = bytes.get(..LOG_HEADER_BYTES) else {
            return Err(DecodeError::incomplete(
                kind_of,
                "bytes",
                LOG_HEADER_BYTES,
                bytes.len(),
            ));
        };
        let version = check_sealed(
            kind_of,
            "checksum",
            page,
            LOG_HEADER_MAGIC_OFFSET,
            LOG_HEADER_MAGIC,
            1..=LOG_FORMAT_VERSION,
        )?;
        let layout = LogLayout::from_version(version).unwrap_or(LogLayout::CURRENT);
        decode_log_fields(page, layout)
    }
}

/// The fields of a log header page whose checksum, magic and version matched.
fn decode_log_fields(page: &[u8], layout: LogLayout) -> Result<LogHeader, DecodeError> {
    let kind_of = FileKind::LogHeader;
    let kind_byte = read_u8(kind_of, "kind", page, LOG_HEADER_KIND_OFFSET)?;
    let Some(kind) = LogKind::from_byte(kind_byte) else {
        let expected = Expected::Describe("1 (hot segment) or 2 (staging log)");
        let found = u128::from(kind_byte);
        let offset = LOG_HEADER_KIND_OFFSET;
        return Err(DecodeError::corrupt(
            kind_of, "kind", expected, found, offset,
        ));
    };
    check_zero(kind_of, "reserved", page, LOG_HEADER_RESERVED_A_OFFSET, 1)?;
    let padding_bytes = LOG_HEADER_BYTES - LOG_HEADER_PADDING_OFFSET;
    check_zero(
        kind_of,
        "padding",
        page,
        LOG_HEADER_PADDING_OFFSET,
        padding_bytes,
    )?;
    let space_id = SpaceId(read_u32(
        kind_of,
        "space_id",
        page,
        LOG_HEADER_SPACE_ID_OFFSET,
    )?);
    let staging_ok = kind == LogKind::HotSegment || space_id == SpaceId(0);
    let offset = LOG_HEADER_SPACE_ID_OFFSET;
    ensure(
        staging_ok,
        kind_of,
        "space_id",
        Expected::Equal(0),
        space_id.0,
        offset,
    )?;
    let offset = LOG_HEADER_SEGMENT_ID_OFFSET;
    let segment_id = SegmentId(read_u64(kind_of, "segment_id", page, offset)?);
    let offset = LOG_HEADER_CREATED_REVISION_OFFSET;
    let created_revision = Revision(read_u64(kind_of, "created_revision", page, offset)?);
    Ok(LogHeader {
        layout,
        kind,
        segment_id,
        space_id,
        created_revision,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::DecodeClass;

    #[test]
    fn offsets_are_pinned() {
        // Goal: the log header matches docs/format.md. Method: compare every offset.
        assert_eq!(LOG_HEADER_CHECKSUM_OFFSET, 0);
        assert_eq!(LOG_HEADER_MAGIC_OFFSET, 8);
        assert_eq!(LOG_HEADER_VERSION_OFFSET, 12);
        assert_eq!(LOG_HEADER_KIND_OFFSET, 14);
        assert_eq!(LOG_HEADER_RESERVED_A_OFFSET, 15);
        assert_eq!(LOG_HEADER_SEGMENT_ID_OFFSET, 16);
        assert_eq!(LOG_HEADER_CREATED_REVISION_OFFSET, 24);
        assert_eq!(LOG_HEADER_SPACE_ID_OFFSET, 32);
        assert_eq!(LOG_HEADER_PADDING_OFFSET, 36);
        assert_eq!(LOG_HEADER_BYTES, 4096);
    }

    #[test]
    fn round_trip_and_classes() {
        // Goal: a header round-trips; zeros are Incomplete; a flipped bit is Corrupt.
        // Method: encode a staging header, decode it, then damage copies.
        let header = LogHeader {
            layout: LogLayout::CURRENT,
            kind: LogKind::StagingLog,
            segment_id: SegmentId(11),
            space_id: SpaceId(0),
            created_revision: Revision(99),
        };
        let mut page = vec![0xAA_u8; LOG_HEADER_BYTES];
        header.encode(&mut page);
        assert_eq!(LogHeader::decode(&page).unwrap(), header);
        let zeros = vec![0_u8; LOG_HEADER_BYTES];
        assert_eq!(
            LogHeader::decode(&zeros).unwrap_err().class(),
            DecodeClass::Incomplete
        );
        page[4000] ^= 0x10;
        assert_eq!(
            LogHeader::decode(&page).unwrap_err().class(),
            DecodeClass::Corrupt
        );
    }

    #[test]
    fn both_versions_decode_and_a_newer_one_is_refused() {
        // Goal: version 1 and 2 headers decode to their layouts; version 3 is
        // UnsupportedVersion naming 2. Method: encode each layout, then reseal a version 3.
        for layout in [LogLayout::Contiguous, LogLayout::Stamped] {
            let header = LogHeader {
                layout,
                kind: LogKind::HotSegment,
                segment_id: SegmentId(3),
                space_id: SpaceId(1),
                created_revision: Revision(5),
            };
            let mut page = vec![0_u8; LOG_HEADER_BYTES];
            header.encode(&mut page);
            assert_eq!(
                int::read_u16(&page, LOG_HEADER_VERSION_OFFSET),
                Some(layout.version())
            );
            assert_eq!(LogHeader::decode(&page).unwrap(), header);
            int::write_u16(&mut page, LOG_HEADER_VERSION_OFFSET, 3);
            let checksum = Checksum::of(&page[LOG_HEADER_MAGIC_OFFSET..]);
            int::write_u64(&mut page, LOG_HEADER_CHECKSUM_OFFSET, checksum.0);
            assert_eq!(
                LogHeader::decode(&page).unwrap_err().class(),
                DecodeClass::UnsupportedVersion {
                    file_kind: FileKind::LogHeader,
                    found: 3,
                    supported: 2
                }
            );
        }
        assert_eq!(LogLayout::Contiguous.version(), 1);
        assert_eq!(LogLayout::Stamped.version(), 2);
    }
}
