//! Conventions shared by every layout: the format version, the magic of each structure, and
//! the checks every decoder runs in the same order (`docs/format.md`, "Conventions").
//!
//! Owns: magic values and `FORMAT_VERSION`. Invariant: magics are distinct per structure, so a
//! structure of one kind with a valid checksum is never taken for another kind.

use crate::checksum::Checksum;
use crate::error::{DecodeClass, DecodeError, Expected, FileKind};
use crate::int;

/// The format version every structure of this build writes and the newest it reads, except
/// the log header ([`LOG_FORMAT_VERSION`]), the block footer ([`BLOCK_FORMAT_VERSION`]) and
/// the block filter, which have their own.
pub const FORMAT_VERSION: u16 = 1;

/// The block footer version this build writes: 2, a block with a key filter after its index.
/// Version 1 (no filter) is still read.
pub const BLOCK_FORMAT_VERSION: u16 = 2;

/// The log header version this build writes: 2, stamped sectors. Version 1 (contiguous
/// frames) is still read.
pub const LOG_FORMAT_VERSION: u16 = 2;

/// Magic of a frame: "IDBF" read as a little-endian `u32`.
pub const FRAME_MAGIC: u32 = u32::from_le_bytes(*b"IDBF");
/// Magic of a log header page: "IDBL".
pub const LOG_HEADER_MAGIC: u32 = u32::from_le_bytes(*b"IDBL");
/// Magic of a block data page: "IDBP".
pub const BLOCK_PAGE_MAGIC: u32 = u32::from_le_bytes(*b"IDBP");
/// Magic of a block index: "IDBI".
pub const BLOCK_INDEX_MAGIC: u32 = u32::from_le_bytes(*b"IDBI");
/// Magic of a block footer: "IDBB".
pub const BLOCK_FOOTER_MAGIC: u32 = u32::from_le_bytes(*b"IDBB");
/// Magic of a block key filter: "IDBK".
pub const BLOCK_FILTER_MAGIC: u32 = u32::from_le_bytes(*b"IDBK");
/// Magic of a manifest header page: "IDBM".
pub const MANIFEST_HEADER_MAGIC: u32 = u32::from_le_bytes(*b"IDBM");
/// Magic of a manifest edit batch: "IDBE".
pub const MANIFEST_EDIT_MAGIC: u32 = u32::from_le_bytes(*b"IDBE");

/// The size of the pages every file is aligned to (the O_DIRECT unit).
pub const PAGE_BYTES: usize = 4096;

/// Verifies that `covered` hashes to the checksum stored at `checksum_offset` of `bytes`.
pub(crate) fn check_checksum(
    file_kind: FileKind,
    field: &'static str,
    bytes: &[u8],
    checksum_offset: usize,
    covered: &[u8],
) -> Result<(), DecodeError> {
    let stored = read_u64(file_kind, field, bytes, checksum_offset)?;
    Checksum(stored).verify(covered).map_err(|mismatch| {
        let expected = Expected::Equal(u128::from(mismatch.computed.0));
        DecodeError::corrupt(
            file_kind,
            field,
            expected,
            u128::from(stored),
            checksum_offset,
        )
    })
}

/// Checks the magic and version that every structure stores side by side (magic `u32`,
/// then version `u16`), after its checksum matched.
pub(crate) fn check_magic_version(
    file_kind: FileKind,
    bytes: &[u8],
    magic_offset: usize,
    expected_magic: u32,
) -> Result<(), DecodeError> {
    let versions = FORMAT_VERSION..=FORMAT_VERSION;
    check_magic_versions(file_kind, bytes, magic_offset, expected_magic, versions).map(|_| ())
}

/// [`check_magic_version`] for a structure of which this build reads the `versions` given;
/// returns the version found.
pub(crate) fn check_magic_versions(
    file_kind: FileKind,
    bytes: &[u8],
    magic_offset: usize,
    expected_magic: u32,
    versions: std::ops::RangeInclusive<u16>,
) -> Result<u16, DecodeError> {
    let magic = read_u32(file_kind, "magic", bytes, magic_offset)?;
    if magic != expected_magic {
        let class = DecodeClass::BadMagic {
            file_kind,
            found: magic,
            expected: expected_magic,
        };
        let expected = Expected::Equal(u128::from(expected_magic));
        return Err(DecodeError::new(
            class,
            file_kind,
            "magic",
            expected,
            u128::from(magic),
            magic_offset,
        ));
    }
    let version_offset = magic_offset + 4;
    let version = read_u16(file_kind, "version", bytes, version_offset)?;
    if !versions.contains(&version) {
        let newest = *versions.end();
        let class = DecodeClass::UnsupportedVersion {
            file_kind,
            found: version,
            supported: newest,
        };
        let expected = Expected::Equal(u128::from(newest));
        return Err(DecodeError::new(
            class,
            file_kind,
            "version",
            expected,
            u128::from(version),
            version_offset,
        ));
    }
    Ok(version)
}

/// The first checks of every structure whose checksum sits at offset 0 and covers the rest of
/// `region`: an all-zero region is `Incomplete` (never written, or zero padding); a checksum
/// mismatch is `Corrupt`; then the magic (`BadMagic`) and version (`UnsupportedVersion`, for
/// a version outside `versions`). Returns the version found.
pub(crate) fn check_sealed(
    file_kind: FileKind,
    checksum_field: &'static str,
    region: &[u8],
    magic_offset: usize,
    magic: u32,
    versions: std::ops::RangeInclusive<u16>,
) -> Result<u16, DecodeError> {
    if int::is_all_zero(region) {
        let expected = Expected::Describe("a written structure, not zeros");
        let class = DecodeClass::Incomplete;
        return Err(DecodeError::new(class, file_kind, "header", expected, 0, 0));
    }
    let covered = region.get(8..).unwrap_or_default();
    check_checksum(file_kind, checksum_field, region, 0, covered)?;
    check_magic_versions(file_kind, region, magic_offset, magic, versions)
}

/// Fails with `Corrupt` unless `bytes[offset..offset + len]` is all zero (reserved fields).
pub(crate) fn check_zero(
    file_kind: FileKind,
    field: &'static str,
    bytes: &[u8],
    offset: usize,
    len: usize,
) -> Result<(), DecodeError> {
    let region = offset
        .checked_add(len)
        .and_then(|end| bytes.get(offset..end));
    match region {
        Some(region) if int::is_all_zero(region) => Ok(()),
        Some(_) => {
            let expected = Expected::Describe("zero");
            Err(DecodeError::corrupt(file_kind, field, expected, 1, offset))
        }
        None => Err(short(file_kind, field, offset, len, bytes.len())),
    }
}

/// The error for a field that lies past the end of the input (callers check lengths first,
/// so this is reached only if a layout constant is wrong; reported, never panicked on).
fn short(
    file_kind: FileKind,
    field: &'static str,
    offset: usize,
    len: usize,
    have: usize,
) -> DecodeError {
    DecodeError::incomplete(file_kind, field, offset.saturating_add(len), have)
}

/// Reads a `u8` field or reports the input as too short.
pub(crate) fn read_u8(
    file_kind: FileKind,
    field: &'static str,
    bytes: &[u8],
    offset: usize,
) -> Result<u8, DecodeError> {
    int::read_u8(bytes, offset).ok_or_else(|| short(file_kind, field, offset, 1, bytes.len()))
}

/// Reads a `u16` field or reports the input as too short.
pub(crate) fn read_u16(
    file_kind: FileKind,
    field: &'static str,
    bytes: &[u8],
    offset: usize,
) -> Result<u16, DecodeError> {
    int::read_u16(bytes, offset).ok_or_else(|| short(file_kind, field, offset, 2, bytes.len()))
}

/// Reads a `u32` field or reports the input as too short.
pub(crate) fn read_u32(
    file_kind: FileKind,
    field: &'static str,
    bytes: &[u8],
    offset: usize,
) -> Result<u32, DecodeError> {
    int::read_u32(bytes, offset).ok_or_else(|| short(file_kind, field, offset, 4, bytes.len()))
}

/// Reads a `u64` field or reports the input as too short.
pub(crate) fn read_u64(
    file_kind: FileKind,
    field: &'static str,
    bytes: &[u8],
    offset: usize,
) -> Result<u64, DecodeError> {
    int::read_u64(bytes, offset).ok_or_else(|| short(file_kind, field, offset, 8, bytes.len()))
}

/// Reads a `u128` field or reports the input as too short.
pub(crate) fn read_u128(
    file_kind: FileKind,
    field: &'static str,
    bytes: &[u8],
    offset: usize,
) -> Result<u128, DecodeError> {
    int::read_u128(bytes, offset).ok_or_else(|| short(file_kind, field, offset, 16, bytes.len()))
}

/// A `Corrupt` error unless `condition` holds: for field checks after the checksum matched.
pub(crate) fn ensure(
    condition: bool,
    file_kind: FileKind,
    field: &'static str,
    expected: Expected,
    found: impl Into<u128>,
    offset: usize,
) -> Result<(), DecodeError> {
    if condition {
        Ok(())
    } else {
        let found = found.into();
        Err(DecodeError::corrupt(
            file_kind, field, expected, found, offset,
        ))
    }
}

const _: () = assert!(PAGE_BYTES.is_power_of_two());

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magics_are_distinct() {
        // Goal: no two structures share a magic. Method: compare every pair.
        let magics = [
            FRAME_MAGIC,
            LOG_HEADER_MAGIC,
            BLOCK_PAGE_MAGIC,
            BLOCK_INDEX_MAGIC,
            BLOCK_FOOTER_MAGIC,
            BLOCK_FILTER_MAGIC,
            MANIFEST_HEADER_MAGIC,
            MANIFEST_EDIT_MAGIC,
        ];
        for (i, a) in magics.iter().enumerate() {
            for b in &magics[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(FRAME_MAGIC.to_le_bytes(), *b"IDBF");
    }
}
