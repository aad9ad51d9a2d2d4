//! The one error type of the crate: why some bytes did not decode.
//!
//! Owns: [`DecodeError`] and its classification [`DecodeClass`], which recovery decides on
//! (`docs/format.md`, "Decoding order and error classes"). Invariant: every error names the
//! structure and field, what was expected and what was found, and the byte offset within the
//! input given to the decoder. Building an error allocates one fixed-size box.

use crate::ids::SegmentId;

/// The structure being decoded when an error was found.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FileKind {
    /// A WAL frame in a hot segment or the staging log.
    Frame,
    /// The stamp of a sector of a frame in a version-2 log.
    SectorStamp,
    /// A record inside a frame payload or a block data page.
    Record,
    /// Page 0 of a hot segment or staging log.
    LogHeader,
    /// A data page (run) of a sealed block.
    BlockPage,
    /// The sparse index of a sealed block.
    BlockIndex,
    /// The footer at the end of a sealed block.
    BlockFooter,
    /// The key filter of a sealed block.
    BlockFilter,
    /// Page 0 of the manifest.
    ManifestHeader,
    /// A checksummed batch of manifest edits.
    ManifestEdit,
}

impl FileKind {
    /// The name used in messages and `docs/format.md`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Frame => "frame",
            Self::SectorStamp => "sector_stamp",
            Self::Record => "record",
            Self::LogHeader => "log_header",
            Self::BlockPage => "block_page",
            Self::BlockIndex => "block_index",
            Self::BlockFooter => "block_footer",
            Self::BlockFilter => "block_filter",
            Self::ManifestHeader => "manifest_header",
            Self::ManifestEdit => "manifest_edit",
        }
    }
}

impl std::fmt::Display for FileKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What recovery should conclude from a decode error.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecodeClass {
    /// Fewer bytes than the header promises, or an all-zero header region: the end of the
    /// written log or a torn tail.
    Incomplete,
    /// All bytes are present but a checksum is wrong, or a field is invalid.
    Corrupt,
    /// A well-formed frame (valid header checksum) of another segment: left over in a
    /// recycled file, so the end of this segment's log.
    Foreign {
        /// The segment id the frame carries.
        found: SegmentId,
    },
    /// The checksum matched but the magic is not this structure's: another kind of structure.
    BadMagic {
        /// The structure that was expected.
        file_kind: FileKind,
        /// The magic that was found.
        found: u32,
        /// The magic of `file_kind`.
        expected: u32,
    },
    /// The checksum and magic matched but the format version is not one this build reads.
    UnsupportedVersion {
        /// The structure being decoded.
        file_kind: FileKind,
        /// The version found.
        found: u16,
        /// The newest version this build reads.
        supported: u16,
    },
}

/// What a field should have held.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Expected {
    /// Exactly this value.
    Equal(u128),
    /// At most this value.
    AtMost(u128),
    /// At least this value.
    AtLeast(u128),
    /// A property described in words.
    Describe(&'static str),
}

impl std::fmt::Display for Expected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Equal(value) => write!(f, "{value}"),
            Self::AtMost(value) => write!(f, "<= {value}"),
            Self::AtLeast(value) => write!(f, ">= {value}"),
            Self::Describe(text) => f.write_str(text),
        }
    }
}

/// Why bytes did not decode: the class, the structure and field, expected against found, and
/// the offset within the decoder's input.
///
/// Pointer-sized: the details live in one fixed-size box, so results stay small on every
/// path that carries them. That box is the only allocation an error makes; no allocation
/// depends on the input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.0)]
pub struct DecodeError(Box<Details>);

/// The fields of a [`DecodeError`].
#[derive(Clone, Debug, PartialEq, Eq)]
struct Details {
    class: DecodeClass,
    file_kind: FileKind,
    field: &'static str,
    expected: Expected,
    found: u128,
    offset: u64,
}

impl std::fmt::Display for Details {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let class_name = match self.class {
            DecodeClass::Incomplete => "incomplete",
            DecodeClass::Corrupt => "corrupt",
            DecodeClass::Foreign { .. } => "foreign",
            DecodeClass::BadMagic { .. } => "bad magic",
            DecodeClass::UnsupportedVersion { .. } => "unsupported version",
        };
        let Self {
            file_kind,
            field,
            expected,
            found,
            offset,
            ..
        } = self;
        write!(
            f,
            "{class_name}: {file_kind}.{field}: expected {expected}, found {found}"
        )?;
        write!(f, " at offset {offset}")
    }
}

impl DecodeError {
    /// Builds an error; `offset` is relative to the decoder's input.
    pub(crate) fn new(
        class: DecodeClass,
        file_kind: FileKind,
        field: &'static str,
        expected: Expected,
        found: u128,
        offset: usize,
    ) -> Self {
        let offset = crate::int::u64_from_usize(offset);
        Self(Box::new(Details {
            class,
            file_kind,
            field,
            expected,
            found,
            offset,
        }))
    }

    /// A `Corrupt` error.
    pub(crate) fn corrupt(
        file_kind: FileKind,
        field: &'static str,
        expected: Expected,
        found: u128,
        offset: usize,
    ) -> Self {
        Self::new(
            DecodeClass::Corrupt,
            file_kind,
            field,
            expected,
            found,
            offset,
        )
    }

    /// An `Incomplete` error: `needed` bytes were required, `available` were given.
    pub(crate) fn incomplete(
        file_kind: FileKind,
        field: &'static str,
        needed: usize,
        available: usize,
    ) -> Self {
        let needed = crate::int::u128_from_usize(needed);
        let found = crate::int::u128_from_usize(available);
        Self::new(
            DecodeClass::Incomplete,
            file_kind,
            field,
            Expected::AtLeast(needed),
            found,
            0,
        )
    }

    /// What recovery should conclude.
    #[must_use]
    pub fn class(&self) -> DecodeClass {
        self.0.class
    }

    /// The structure being decoded.
    #[must_use]
    pub fn file_kind(&self) -> FileKind {
        self.0.file_kind
    }

    /// The field that failed, as named in `docs/format.md` (`bytes` for lengths of the input).
    #[must_use]
    pub fn field(&self) -> &'static str {
        self.0.field
    }

    /// What the field should have held.
    #[must_use]
    pub fn expected(&self) -> Expected {
        self.0.expected
    }

    /// What the field held (a checksum, length or value, widened to `u128`).
    #[must_use]
    pub fn found(&self) -> u128 {
        self.0.found
    }

    /// The byte offset of the field within the decoder's input.
    #[must_use]
    pub fn offset(&self) -> u64 {
        self.0.offset
    }

    /// Shifts the offset by `base`: used when a nested structure's error is reported
    /// relative to its container's input.
    #[must_use]
    pub(crate) fn at_base(mut self, base: usize) -> Self {
        self.0.offset = self
            .0
            .offset
            .saturating_add(crate::int::u64_from_usize(base));
        self
    }

    /// Replaces the offset: used when an error found in gathered bytes is reported at the
    /// file offset those bytes came from.
    #[must_use]
    pub(crate) fn at_offset(mut self, offset: usize) -> Self {
        self.0.offset = crate::int::u64_from_usize(offset);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_field_expected_found_and_offset() {
        // Goal: the message lets a user act. Method: format a known error and compare.
        let error = DecodeError::corrupt(
            FileKind::Frame,
            "payload_bytes",
            Expected::AtMost(8_388_608),
            9_437_184,
            40_960,
        );
        assert_eq!(
            error.to_string(),
            "corrupt: frame.payload_bytes: expected <= 8388608, found 9437184 at offset 40960"
        );
        assert_eq!(error.class(), DecodeClass::Corrupt);
        assert_eq!(error.at_base(10).offset(), 40_970);
        assert_eq!(size_of::<DecodeError>(), size_of::<usize>());
    }
}
