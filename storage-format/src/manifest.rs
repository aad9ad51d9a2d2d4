//! The manifest: a header page, then an append-only log of checksummed edit batches
//! (`docs/format.md`, "Manifest").
//!
//! Owns: the manifest header and edit layouts. A batch (one [`encode_edits`] call) is one
//! checksummed record, so it is applied all or nothing: the engine writes `AddBlock` and
//! `RetireSegment` of one seal as one batch. Invariants: space names are 1..=255 bytes of
//! UTF-8; a space has 1..=16 dims of 1..=32 bits and at most 128 bits in all; every
//! length is checked against the bytes present before anything is allocated, so decoding
//! allocates at most a small constant times the input length.

use crate::checksum::Checksum;
use crate::error::{DecodeClass, DecodeError, Expected, FileKind};
use crate::int;
use crate::layout::{FORMAT_VERSION, MANIFEST_EDIT_MAGIC, MANIFEST_HEADER_MAGIC, PAGE_BYTES};
use crate::layout::{check_checksum, check_magic_version, check_zero, ensure, read_u32, read_u64};

mod edit;

pub use edit::{BlockMeta, LEVEL_COUNT, LogMeta, ManifestEdit, Retention, SPACE_NAME_BYTES_MAX};

/// Size of the manifest header: one page; edit batches start after it.
pub const MANIFEST_HEADER_BYTES: usize = PAGE_BYTES;

/// The cap on one edit batch's payload (16 MiB).
pub const MANIFEST_EDIT_PAYLOAD_BYTES_MAX: u32 = 16 * 1024 * 1024;

/// Manifest header offset of the checksum (`u64`, xxh3-64 of bytes 8..4096).
pub const MANIFEST_HEADER_CHECKSUM_OFFSET: usize = 0;
/// Manifest header offset of the magic (`u32`, "IDBM").
pub const MANIFEST_HEADER_MAGIC_OFFSET: usize = MANIFEST_HEADER_CHECKSUM_OFFSET + 8;
/// Manifest header offset of the format version (`u16`).
pub const MANIFEST_HEADER_VERSION_OFFSET: usize = MANIFEST_HEADER_MAGIC_OFFSET + 4;
/// Manifest header offset of a reserved zero `u16`.
pub const MANIFEST_HEADER_RESERVED_OFFSET: usize = MANIFEST_HEADER_VERSION_OFFSET + 2;
/// Manifest header offset of the generation (`u64`).
pub const MANIFEST_HEADER_GENERATION_OFFSET: usize = MANIFEST_HEADER_RESERVED_OFFSET + 2;
/// Manifest header offset of the zero padding that fills the page.
pub const MANIFEST_HEADER_PADDING_OFFSET: usize = MANIFEST_HEADER_GENERATION_OFFSET + 8;

/// Edit batch offset of the header checksum (`u64`, xxh3-64 of batch header bytes 8..32).
pub const EDIT_HEADER_CHECKSUM_OFFSET: usize = 0;
/// Edit batch offset of the payload checksum (`u64`).
pub const EDIT_PAYLOAD_CHECKSUM_OFFSET: usize = EDIT_HEADER_CHECKSUM_OFFSET + 8;
/// Edit batch offset of the magic (`u32`, "IDBE").
pub const EDIT_MAGIC_OFFSET: usize = EDIT_PAYLOAD_CHECKSUM_OFFSET + 8;
/// Edit batch offset of the format version (`u16`).
pub const EDIT_VERSION_OFFSET: usize = EDIT_MAGIC_OFFSET + 4;
/// Edit batch offset of a reserved zero `u16`.
pub const EDIT_RESERVED_OFFSET: usize = EDIT_VERSION_OFFSET + 2;
/// Edit batch offset of the edit count (`u32`).
pub const EDIT_COUNT_OFFSET: usize = EDIT_RESERVED_OFFSET + 2;
/// Edit batch offset of the payload length (`u32`).
pub const EDIT_PAYLOAD_BYTES_OFFSET: usize = EDIT_COUNT_OFFSET + 4;
/// Size of an edit batch header; the edits follow.
pub const EDIT_HEADER_BYTES: usize = EDIT_PAYLOAD_BYTES_OFFSET + 4;

const _: () = assert!(MANIFEST_HEADER_PADDING_OFFSET == 24);
const _: () = assert!(EDIT_HEADER_BYTES == 32);

/// The fields of the manifest's page 0.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct ManifestHeader {
    /// Incremented each time the manifest is rewritten (new file, rename).
    pub generation: u64,
}

impl ManifestHeader {
    /// Encodes the header into `out[..MANIFEST_HEADER_BYTES]`, padding included.
    ///
    /// # Panics
    /// If `out` is shorter than [`MANIFEST_HEADER_BYTES`] (a caller bug).
    pub fn encode(&self, out: &mut [u8]) {
        let page = out.get_mut(..MANIFEST_HEADER_BYTES);
        assert!(
            page.is_some(),
            "manifest header buffer shorter than {MANIFEST_HEADER_BYTES}"
        );
        let Some(page) = page else { return };
        page.fill(0);
        int::write_u32(page, MANIFEST_HEADER_MAGIC_OFFSET, MANIFEST_HEADER_MAGIC);
        int::write_u16(page, MANIFEST_HEADER_VERSION_OFFSET, FORMAT_VERSION);
        int::write_u64(page, MANIFEST_HEADER_GENERATION_OFFSET, self.generation);
        let checksum = Checksum::of(page.get(MANIFEST_HEADER_MAGIC_OFFSET..).unwrap_or_default());
        int::write_u64(page, MANIFEST_HEADER_CHECKSUM_OFFSET, checksum.0);
    }

    /// Decodes the header from `bytes[..MANIFEST_HEADER_BYTES]`.
    ///
    /// Order: short input or an all-zero page is `Incomplete`; the checksum is `Corrupt`;
    /// then magic and version; then reserved bytes and padding (`Corrupt`).
    ///
    /// # Errors
    /// A [`DecodeError`] naming the field.
    pub fn decode(bytes: &[u8]) -> Result<ManifestHeader, DecodeError> {
        let kind = FileKind::ManifestHeader;
        let Some(page) = bytes.get(..MANIFEST_HEADER_BYTES) else {
            return Err(DecodeError::incomplete(
                kind,
                "bytes",
                MANIFEST_HEADER_BYTES,
                bytes.len(),
            ));
        };
        if int::is_all_zero(page) {
            let expected = Expected::Describe("a manifest header, not zeros");
            return Err(DecodeError::new(
                DecodeClass::Incomplete,
                kind,
                "header",
                expected,
                0,
                0,
            ));
        }
        let covered = page.get(MANIFEST_HEADER_MAGIC_OFFSET..).unwrap_or_default();
        check_checksum(
            kind,
            "checksum",
            page,
            MANIFEST_HEADER_CHECKSUM_OFFSET,
            covered,
        )?;
        check_magic_version(
            kind,
            page,
            MANIFEST_HEADER_MAGIC_OFFSET,
            MANIFEST_HEADER_MAGIC,
        )?;
        check_zero(kind, "reserved", page, MANIFEST_HEADER_RESERVED_OFFSET, 2)?;
        let padding_bytes = MANIFEST_HEADER_BYTES - MANIFEST_HEADER_PADDING_OFFSET;
        check_zero(
            kind,
            "padding",
            page,
            MANIFEST_HEADER_PADDING_OFFSET,
            padding_bytes,
        )?;
        let generation = read_u64(kind, "generation", page, MANIFEST_HEADER_GENERATION_OFFSET)?;
        Ok(ManifestHeader { generation })
    }
}

/// Appends `edits` to `out` as one checksummed batch, applied all or nothing on recovery.
///
/// # Panics
/// If `edits` is empty or invalid (a name over [`SPACE_NAME_BYTES_MAX`] or empty, bad
/// dimensions, `RemoveBlocks` without ids) or the batch is over
/// [`MANIFEST_EDIT_PAYLOAD_BYTES_MAX`]: caller bugs that would write a batch recovery rejects.
pub fn encode_edits(edits: &[ManifestEdit], out: &mut Vec<u8>) {
    assert!(!edits.is_empty(), "an edit batch holds at least one edit");
    let start = out.len();
    out.resize(start + EDIT_HEADER_BYTES, 0);
    for edit_item in edits {
        edit::encode_edit(edit_item, out);
    }
    let payload_bytes = int::u32_from_usize(out.len() - start - EDIT_HEADER_BYTES)
        .filter(|&bytes| bytes <= MANIFEST_EDIT_PAYLOAD_BYTES_MAX);
    assert!(
        payload_bytes.is_some(),
        "edit batch over MANIFEST_EDIT_PAYLOAD_BYTES_MAX"
    );
    let edit_count = int::u32_from_usize(edits.len()).unwrap_or(u32::MAX);
    let payload_checksum = Checksum::of(out.get(start + EDIT_HEADER_BYTES..).unwrap_or_default());
    let mut header = [0_u8; EDIT_HEADER_BYTES];
    int::write_u64(
        &mut header,
        EDIT_PAYLOAD_CHECKSUM_OFFSET,
        payload_checksum.0,
    );
    int::write_u32(&mut header, EDIT_MAGIC_OFFSET, MANIFEST_EDIT_MAGIC);
    int::write_u16(&mut header, EDIT_VERSION_OFFSET, FORMAT_VERSION);
    int::write_u32(&mut header, EDIT_COUNT_OFFSET, edit_count);
    int::write_u32(
        &mut header,
        EDIT_PAYLOAD_BYTES_OFFSET,
        payload_bytes.unwrap_or(0),
    );
    let header_checksum = Checksum::of(
        header
            .get(EDIT_PAYLOAD_CHECKSUM_OFFSET..)
            .unwrap_or_default(),
    );
    int::write_u64(&mut header, EDIT_HEADER_CHECKSUM_OFFSET, header_checksum.0);
    int::write_bytes(out, start, &header);
}

/// Decodes the edit batch at the start of `bytes`; returns its edits and the bytes it occupies
/// (the next batch starts there).
///
/// Order, as for frames: short input or an all-zero batch header is `Incomplete`; the header
/// checksum is `Corrupt`; then magic and version; then `payload_bytes` against
/// [`MANIFEST_EDIT_PAYLOAD_BYTES_MAX`] and `edit_count` (`Corrupt`); fewer bytes than the
/// payload is `Incomplete`; the payload checksum and every edit are `Corrupt`.
///
/// # Errors
/// A [`DecodeError`] naming the field.
pub fn decode_edits(bytes: &[u8]) -> Result<(Vec<ManifestEdit>, usize), DecodeError> {
    let (edit_count, payload_bytes) = decode_batch_header(bytes)?;
    let consumed = EDIT_HEADER_BYTES + payload_bytes;
    let Some(payload) = bytes.get(EDIT_HEADER_BYTES..consumed) else {
        return Err(DecodeError::incomplete(
            FileKind::ManifestEdit,
            "payload_bytes",
            consumed,
            bytes.len(),
        ));
    };
    check_checksum(
        FileKind::ManifestEdit,
        "payload_checksum",
        bytes,
        EDIT_PAYLOAD_CHECKSUM_OFFSET,
        payload,
    )?;
    let edits = edit::decode_payload(payload, edit_count)
        .map_err(|error| error.at_base(EDIT_HEADER_BYTES))?;
    Ok((edits, consumed))
}

/// The batch header: `(edit_count, payload_bytes)`, validated.
fn decode_batch_header(bytes: &[u8]) -> Result<(u32, usize), DecodeError> {
    let kind = FileKind::ManifestEdit;
    let Some(header) = bytes.get(..EDIT_HEADER_BYTES) else {
        return Err(DecodeError::incomplete(
            kind,
            "bytes",
            EDIT_HEADER_BYTES,
            bytes.len(),
        ));
    };
    if int::is_all_zero(header) {
        let expected = Expected::Describe("an edit batch header, not zeros");
        return Err(DecodeError::new(
            DecodeClass::Incomplete,
            kind,
            "header",
            expected,
            0,
            0,
        ));
    }
    let covered = header
        .get(EDIT_PAYLOAD_CHECKSUM_OFFSET..)
        .unwrap_or_default();
    check_checksum(
        kind,
        "header_checksum",
        header,
        EDIT_HEADER_CHECKSUM_OFFSET,
        covered,
    )?;
    check_magic_version(kind, header, EDIT_MAGIC_OFFSET, MANIFEST_EDIT_MAGIC)?;
    check_zero(kind, "reserved", header, EDIT_RESERVED_OFFSET, 2)?;
    let payload_bytes = read_u32(kind, "payload_bytes", header, EDIT_PAYLOAD_BYTES_OFFSET)?;
    let expected = Expected::AtMost(u128::from(MANIFEST_EDIT_PAYLOAD_BYTES_MAX));
    let found = u128::from(payload_bytes);
    ensure(
        payload_bytes <= MANIFEST_EDIT_PAYLOAD_BYTES_MAX,
        kind,
        "payload_bytes",
        expected,
        found,
        EDIT_PAYLOAD_BYTES_OFFSET,
    )?;
    let edit_count = read_u32(kind, "edit_count", header, EDIT_COUNT_OFFSET)?;
    let fits = edit_count >= 1 && u64::from(edit_count) * 8 <= u64::from(payload_bytes);
    let expected = Expected::Describe(">= 1 and 8 * edit_count <= payload_bytes");
    ensure(
        fits,
        kind,
        "edit_count",
        expected,
        u128::from(edit_count),
        EDIT_COUNT_OFFSET,
    )?;
    Ok((edit_count, int::usize_from_u32(payload_bytes)))
}
