//! A block's key filter: a Bloom filter over the distinct record keys of the block, between
//! the index and the footer of a version-2 block (`docs/format.md`, "Block filter").
//!
//! Owns: the filter layouts, their sizing ([`FILTER_BITS_PER_KEY`] bits per distinct key),
//! the hash of a key, the probe positions, and building, decoding and querying the bits. The
//! filter header's own version names the layout:
//! - version 2, written by the builder: a blocked Bloom filter. The bits are 512-bit lines,
//!   and every probe of a key falls in the one line its hash chooses, so a lookup reads one
//!   64-byte cache line; decoded, the lines are 64-byte aligned [`Line`]s.
//! - version 1, read only: a standard Bloom filter, the probes spread over all the bits.
//!
//! The hash and the probes are written out here, not taken from a Bloom filter crate: the bits
//! are specified in `docs/format.md` and every later build must find the same bits for the
//! same key, so they must never change under us with a crate upgrade. A key's hash is
//! xxh3-128 (a published, fixed algorithm; [`crate::Checksum`] is its 64-bit sibling) of its 16
//! little-endian bytes, with `h1` its low and `h2` its high 64 bits. In version 1, probe `i` of
//! `hash_count` is bit `(h1 + i * h2) mod bit_count` (double hashing, wrapping `u64`
//! arithmetic). In version 2, the key's line is `(h1 * line_count) >> 64` (a 128-bit product,
//! `line_count = bit_count / 512`), and probe `i` is bit `(h2 >> 9 i) mod 512` of that line
//! (seven 9-bit fields of `h2`, so at most 7 probes). Unit tests pin the bits of a known key
//! set in each layout. Bit `j` of the filter is bit `j mod 8` of its byte `j / 8` in both.
//!
//! Invariants: every key pushed to the builder is reported as maybe held (no false
//! negatives); a key is counted once however many versions it has. Checked on decode, in
//! order: the fixed header is present; `bit_count` is a non-zero multiple of 64 whose bits
//! lie within the input (read first, only to find the end of the checksummed bytes, and
//! trusted once the checksum matches); the checksum against the header and the footer's
//! `filter_checksum`; magic and version (1 or 2); `hash_count` in `1..=FILTER_HASH_COUNT_MAX`
//! (version 1) or `1..=7` (version 2); for version 2, `bit_count` a multiple of 512 (whole
//! lines); `key_count` in `1..=record_count`; the filter ends in the block's last page, before
//! the footer.

use xxhash_rust::xxh3::xxh3_128;

use super::BLOCK_PAGE_BYTES;
use super::footer::{BLOCK_FOOTER_BYTES, BlockFooter};
use crate::checksum::Checksum;
use crate::error::{DecodeError, Expected, FileKind};
use crate::ids::Key;
use crate::int;
use crate::layout::{BLOCK_FILTER_MAGIC, check_checksum, check_magic_versions, ensure};
use crate::layout::{read_u16, read_u64};

/// Field offsets of the filter header; the bits follow.
pub(crate) mod offsets {
    /// Offset of the checksum (`u64`, xxh3-64 of bytes 8..filter_bytes).
    pub const FILTER_CHECKSUM_OFFSET: usize = 0;
    /// Offset of the magic (`u32`, "IDBK").
    pub const FILTER_MAGIC_OFFSET: usize = FILTER_CHECKSUM_OFFSET + 8;
    /// Offset of the filter's own version (`u16`).
    pub const FILTER_VERSION_OFFSET: usize = FILTER_MAGIC_OFFSET + 4;
    /// Offset of the number of probes per key (`u16`).
    pub const FILTER_HASH_COUNT_OFFSET: usize = FILTER_VERSION_OFFSET + 2;
    /// Offset of the number of bits (`u64`, a non-zero multiple of 64; of 512 in version 2).
    pub const FILTER_BIT_COUNT_OFFSET: usize = FILTER_HASH_COUNT_OFFSET + 2;
    /// Offset of the number of distinct keys added (`u64`).
    pub const FILTER_KEY_COUNT_OFFSET: usize = FILTER_BIT_COUNT_OFFSET + 8;
    /// Size of the filter header; the bits follow.
    pub const FILTER_HEADER_BYTES: usize = FILTER_KEY_COUNT_OFFSET + 8;
}
pub(crate) use offsets::*;

const _: () = assert!(FILTER_HEADER_BYTES == 32);

/// Bits of filter per distinct key (both layouts): a false-positive rate near 0.96% in the
/// blocked layout with [`FILTER_HASH_COUNT`] probes (0.82% in the standard layout with 7).
pub const FILTER_BITS_PER_KEY: u64 = 10;

/// Probes per key the builder writes (version 2, blocked). With 512-bit lines of 10 bits per
/// key a line holds a Poisson-distributed number of keys (mean 51.2); the false-positive rate,
/// that load's mean of `(1 - (1 - 1/512)^(k n))^k`, is 0.958% at k = 6 and 0.957% at k = 7,
/// so 6, the fewer probes.
pub const FILTER_HASH_COUNT: u16 = 6;

/// The most probes per key a decoder accepts (a bound on the work of one lookup); a version-2
/// filter has at most 7.
pub const FILTER_HASH_COUNT_MAX: u16 = 16;

/// Probes per key of a standard (version-1) filter as its writer sizes it:
/// `round(FILTER_BITS_PER_KEY * ln 2)`, the count that minimises its false-positive rate (the
/// tests write version-1 filters with it).
const STANDARD_HASH_COUNT: u16 = 7;

/// The standard (version 1, read-only) layout's version.
const FILTER_VERSION_STANDARD: u16 = 1;

/// The version of the filter layout this build writes: 2, the blocked layout.
const FILTER_VERSION: u16 = 2;

/// The bits of a version-1 filter are counted in words of this many bits.
const FILTER_WORD_BITS: u64 = 64;

/// Bits of one line of a version-2 filter: one 64-byte cache line.
const LINE_BITS: u64 = 512;

/// Bytes of one line.
const LINE_BYTES: usize = 64;

/// Bits of `h2` per probe position within a line: `log2(LINE_BITS)`.
const LINE_POSITION_BITS: u32 = 9;

/// The most probes per key of a version-2 filter: the 9-bit fields in 64 bits of `h2`.
const LINE_HASH_COUNT_MAX: u16 = 7;

/// The smallest filter of any version: a header and one word (version 1).
pub(crate) const FILTER_BYTES_MIN: usize = FILTER_HEADER_BYTES + 8;

const _: () = assert!(FILTER_HASH_COUNT >= 1 && FILTER_HASH_COUNT <= LINE_HASH_COUNT_MAX);
const _: () = assert!(STANDARD_HASH_COUNT >= 1 && STANDARD_HASH_COUNT <= FILTER_HASH_COUNT_MAX);
const _: () = assert!(LINE_HASH_COUNT_MAX <= FILTER_HASH_COUNT_MAX);
const _: () = assert!(LINE_HASH_COUNT_MAX as u32 * LINE_POSITION_BITS <= u64::BITS);
const _: () = assert!(1 << LINE_POSITION_BITS == LINE_BITS && LINE_BITS / 8 == LINE_BYTES as u64);
const _: () = assert!(FILTER_VERSION == FILTER_VERSION_STANDARD + 1);
const _: () = assert!(FILTER_HEADER_BYTES.is_multiple_of(8));

/// One line of a version-2 filter in memory: bit `p` of the line is bit `p mod 64` of word
/// `p / 64`, aligned so the line is one cache line.
#[repr(C, align(64))]
#[derive(Clone, Debug, PartialEq, Eq)]
struct Line([u64; 8]);

const _: () = assert!(size_of::<Line>() == LINE_BYTES && align_of::<Line>() == LINE_BYTES);

/// A filter layout, named by the filter header's version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    /// Version 1 (read only): probes over all the bits by double hashing.
    Standard,
    /// Version 2: all probes of a key in one 512-bit line.
    Blocked,
}

impl Layout {
    /// The layout of filter version `version` (1 or 2, checked against the header before).
    fn of_version(version: u16) -> Layout {
        if version == FILTER_VERSION_STANDARD {
            Layout::Standard
        } else {
            Layout::Blocked
        }
    }

    fn version(self) -> u16 {
        match self {
            Layout::Standard => FILTER_VERSION_STANDARD,
            Layout::Blocked => FILTER_VERSION,
        }
    }

    /// Probes per key a builder writes.
    fn hash_count(self) -> u16 {
        match self {
            Layout::Standard => STANDARD_HASH_COUNT,
            Layout::Blocked => FILTER_HASH_COUNT,
        }
    }

    /// The unit `bit_count` is a multiple of.
    fn bit_unit(self) -> u64 {
        match self {
            Layout::Standard => FILTER_WORD_BITS,
            Layout::Blocked => LINE_BITS,
        }
    }

    /// The number of bits of a filter over `key_count` distinct keys.
    fn bit_count_for(self, key_count: u64) -> u64 {
        let bits = key_count.saturating_mul(FILTER_BITS_PER_KEY);
        bits.div_ceil(self.bit_unit()).max(1) * self.bit_unit()
    }

    /// The encoded size of a filter over `key_count` distinct keys.
    fn encoded_bytes(self, key_count: usize) -> usize {
        let bit_count = self.bit_count_for(int::u64_from_usize(key_count));
        let bit_bytes = int::usize_from_u64(bit_count / 8).unwrap_or(usize::MAX);
        FILTER_HEADER_BYTES.saturating_add(bit_bytes)
    }
}

/// The filter hash of `key`: xxh3-128 of its 16 little-endian bytes.
pub(crate) fn key_hash(key: Key) -> u128 {
    let mut bytes = [0_u8; 16];
    int::write_u128(&mut bytes, 0, key);
    xxh3_128(&bytes)
}

/// The bit positions probed for a key of hash `hash` in a version-1 filter (module doc:
/// double hashing).
fn probes(hash: u128, hash_count: u16, bit_count: u64) -> impl Iterator<Item = u64> {
    debug_assert!(bit_count > 0);
    let (h1, h2) = int::u64_halves(hash);
    (0..u64::from(hash_count)).map(move |probe| {
        let position = h1.wrapping_add(probe.wrapping_mul(h2));
        position.checked_rem(bit_count).unwrap_or(0)
    })
}

/// The line of a key whose hash has low half `h1` in a version-2 filter of `line_count`
/// lines: `(h1 * line_count) >> 64`, below `line_count` when that is non-zero.
fn line_of(h1: u64, line_count: u64) -> u64 {
    int::u64_halves(u128::from(h1) * u128::from(line_count)).1
}

/// Bit position (`0..512`) within its line of probe `probe` of a key whose hash has high half
/// `h2` in a version-2 filter: the `probe`-th 9-bit field of `h2`.
fn line_position(h2: u64, probe: u16) -> u64 {
    let shift = u32::from(probe) * LINE_POSITION_BITS;
    h2.checked_shr(shift).unwrap_or(0) % LINE_BITS
}

/// The bit positions (in the whole filter) probed for a key of hash `hash` in a version-2
/// filter of `bit_count` bits.
fn line_probes(hash: u128, hash_count: u16, bit_count: u64) -> impl Iterator<Item = u64> {
    let (h1, h2) = int::u64_halves(hash);
    let line_start = line_of(h1, bit_count / LINE_BITS) * LINE_BITS;
    (0..hash_count).map(move |probe| line_start + line_position(h2, probe))
}

/// The encoded size of the filter the builder writes over `key_count` distinct keys.
pub(crate) fn filter_encoded_bytes(key_count: usize) -> usize {
    Layout::Blocked.encoded_bytes(key_count)
}

/// Encodes the filter the builder writes (version 2) over the distinct keys whose hashes are
/// `hashes` into `out` (exactly `filter_encoded_bytes(hashes.len())` long); returns its
/// checksum.
pub(crate) fn encode_filter(hashes: &[u128], out: &mut [u8]) -> Checksum {
    encode_layout(Layout::Blocked, hashes, out)
}

/// Encodes a filter of layout `layout` over `hashes` into `out` (exactly
/// `layout.encoded_bytes(hashes.len())` long); returns its checksum.
fn encode_layout(layout: Layout, hashes: &[u128], out: &mut [u8]) -> Checksum {
    assert_eq!(
        out.len(),
        layout.encoded_bytes(hashes.len()),
        "filter buffer size"
    );
    assert!(!hashes.is_empty(), "a filter covers at least one key");
    out.fill(0);
    let key_count = int::u64_from_usize(hashes.len());
    let bit_count = layout.bit_count_for(key_count);
    let hash_count = layout.hash_count();
    int::write_u32(out, FILTER_MAGIC_OFFSET, BLOCK_FILTER_MAGIC);
    int::write_u16(out, FILTER_VERSION_OFFSET, layout.version());
    int::write_u16(out, FILTER_HASH_COUNT_OFFSET, hash_count);
    int::write_u64(out, FILTER_BIT_COUNT_OFFSET, bit_count);
    int::write_u64(out, FILTER_KEY_COUNT_OFFSET, key_count);
    let bits = out.get_mut(FILTER_HEADER_BYTES..).unwrap_or_default();
    for &hash in hashes {
        match layout {
            Layout::Standard => {
                probes(hash, hash_count, bit_count).for_each(|position| set_bit(bits, position))
            }
            Layout::Blocked => line_probes(hash, hash_count, bit_count)
                .for_each(|position| set_bit(bits, position)),
        }
    }
    let checksum = Checksum::of(out.get(FILTER_MAGIC_OFFSET..).unwrap_or_default());
    int::write_u64(out, FILTER_CHECKSUM_OFFSET, checksum.0);
    checksum
}

/// Sets bit `position` (bit `position % 8` of byte `position / 8`).
fn set_bit(bits: &mut [u8], position: u64) {
    let byte = int::usize_from_u64(position / 8).and_then(|index| bits.get_mut(index));
    debug_assert!(byte.is_some(), "probe {position} lies within the filter");
    if let Some(byte) = byte {
        *byte |= 1 << (position % 8);
    }
}

/// The decoded bits of a filter, in its layout's shape.
#[derive(Clone, Debug, PartialEq, Eq)]
enum FilterBits {
    /// Version 1: the bytes as stored.
    Standard(Box<[u8]>),
    /// Version 2: one aligned [`Line`] per 64 bytes stored (words little-endian).
    Blocked(Box<[Line]>),
}

impl FilterBits {
    /// The bits of layout `layout` from their stored bytes (whole lines for version 2,
    /// checked before).
    fn decode(layout: Layout, bytes: &[u8]) -> FilterBits {
        match layout {
            Layout::Standard => FilterBits::Standard(bytes.into()),
            Layout::Blocked => FilterBits::Blocked(
                bytes
                    .chunks_exact(LINE_BYTES)
                    .map(|line| {
                        Line(std::array::from_fn(|word| {
                            int::read_u64(line, 8 * word).unwrap_or(0)
                        }))
                    })
                    .collect(),
            ),
        }
    }
}

/// A decoded, verified block filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockFilter {
    bits: FilterBits,
    bit_count: u64,
    hash_count: u16,
    key_count: u64,
}

impl BlockFilter {
    /// Decodes the filter of the block whose footer is `footer` from the start of
    /// `filter_bytes` (the block's bytes from `footer.filter_offset()` on, at least through
    /// the end of the filter). `Ok(None)` for a footer without a filter (a version-1 block):
    /// such a block may hold every key in its range.
    ///
    /// # Errors
    /// A [`DecodeError`] naming the field; offsets are relative to `filter_bytes`.
    pub fn decode(
        filter_bytes: &[u8],
        footer: &BlockFooter,
    ) -> Result<Option<BlockFilter>, DecodeError> {
        let Some(footer_checksum) = footer.filter_checksum else {
            return Ok(None);
        };
        let kind = FileKind::BlockFilter;
        let Some(header) = filter_bytes.get(..FILTER_HEADER_BYTES) else {
            let (needed, found) = (FILTER_HEADER_BYTES, filter_bytes.len());
            return Err(DecodeError::incomplete(kind, "bytes", needed, found));
        };
        let filter = filter_bytes
            .get(..filter_length(header, filter_bytes.len())?)
            .unwrap_or_default();
        let covered = filter.get(FILTER_MAGIC_OFFSET..).unwrap_or_default();
        check_checksum(kind, "checksum", filter, FILTER_CHECKSUM_OFFSET, covered)?;
        let stored = read_u64(kind, "checksum", filter, FILTER_CHECKSUM_OFFSET)?;
        let expected = Expected::Equal(u128::from(footer_checksum.0));
        let matches = stored == footer_checksum.0;
        ensure(matches, kind, "checksum", expected, stored, 0)?;
        let versions = FILTER_VERSION_STANDARD..=FILTER_VERSION;
        let version = check_magic_versions(
            kind,
            filter,
            FILTER_MAGIC_OFFSET,
            BLOCK_FILTER_MAGIC,
            versions,
        )?;
        let layout = Layout::of_version(version);
        let bit_count = read_u64(kind, "bit_count", filter, FILTER_BIT_COUNT_OFFSET)?;
        let hash_count = read_u16(kind, "hash_count", filter, FILTER_HASH_COUNT_OFFSET)?;
        let key_count = read_u64(kind, "key_count", filter, FILTER_KEY_COUNT_OFFSET)?;
        validate(
            layout,
            bit_count,
            hash_count,
            key_count,
            footer,
            filter.len(),
        )?;
        let bits = filter.get(FILTER_HEADER_BYTES..).unwrap_or_default();
        Ok(Some(BlockFilter {
            bits: FilterBits::decode(layout, bits),
            bit_count,
            hash_count,
            key_count,
        }))
    }

    /// False only when no version of `key` is in the block; true for every key the block
    /// holds and for a few others (near 0.96% of absent keys at 10 bits per key in version 2,
    /// 0.82% in version 1).
    #[must_use]
    pub fn may_hold(&self, key: Key) -> bool {
        let hash = key_hash(key);
        match &self.bits {
            FilterBits::Standard(bits) => {
                probes(hash, self.hash_count, self.bit_count).all(|position| {
                    let byte = int::usize_from_u64(position / 8).and_then(|index| bits.get(index));
                    byte.is_some_and(|byte| byte & (1 << (position % 8)) != 0)
                })
            }
            FilterBits::Blocked(lines) => line_may_hold(lines, self.hash_count, hash),
        }
    }

    /// The number of distinct keys the filter was built over.
    #[must_use]
    pub fn key_count(&self) -> u64 {
        self.key_count
    }

    /// The number of bits.
    #[must_use]
    pub fn bit_count(&self) -> u64 {
        self.bit_count
    }

    /// The number of probes per key.
    #[must_use]
    pub fn hash_count(&self) -> u16 {
        self.hash_count
    }

    /// The filter's own layout version: 2 (blocked), or 1 (standard, read only).
    #[must_use]
    pub fn version(&self) -> u16 {
        match self.bits {
            FilterBits::Standard(_) => Layout::Standard.version(),
            FilterBits::Blocked(_) => Layout::Blocked.version(),
        }
    }
}

/// Whether a key of hash `hash` may be in a version-2 filter of `lines`: all `hash_count`
/// probed bits of its one line are set (tested without an early exit).
fn line_may_hold(lines: &[Line], hash_count: u16, hash: u128) -> bool {
    let (h1, h2) = int::u64_halves(hash);
    let index = line_of(h1, int::u64_from_usize(lines.len()));
    let Some(Line(words)) = int::usize_from_u64(index).and_then(|index| lines.get(index)) else {
        // `line_of` is below the line count: never taken. Maybe held is the safe answer.
        return true;
    };
    let mut all_set = 1;
    for probe in 0..hash_count {
        let position = line_position(h2, probe);
        let word = int::usize_from_u64(position / 64).and_then(|word| words.get(word));
        all_set &= word.map_or(1, |word| word >> (position % 64));
    }
    all_set & 1 == 1
}

/// The header fields the checksum cannot vouch for, and the filter's place in the block
/// (`filter_bytes` long), in the order of the module doc.
fn validate(
    layout: Layout,
    bit_count: u64,
    hash_count: u16,
    key_count: u64,
    footer: &BlockFooter,
    filter_bytes: usize,
) -> Result<(), DecodeError> {
    let kind = FileKind::BlockFilter;
    let (most, expected) = match layout {
        Layout::Standard => (FILTER_HASH_COUNT_MAX, "1..=16 probes"),
        Layout::Blocked => (LINE_HASH_COUNT_MAX, "1..=7 probes (version 2)"),
    };
    let in_bounds = (1..=most).contains(&hash_count);
    let expected = Expected::Describe(expected);
    let offset = FILTER_HASH_COUNT_OFFSET;
    ensure(in_bounds, kind, "hash_count", expected, hash_count, offset)?;
    let whole = bit_count.is_multiple_of(layout.bit_unit());
    let expected = Expected::Describe("a multiple of 512 (version 2: whole lines)");
    let offset = FILTER_BIT_COUNT_OFFSET;
    ensure(whole, kind, "bit_count", expected, bit_count, offset)?;
    let in_bounds = key_count >= 1 && key_count <= footer.record_count;
    let expected = Expected::Describe("1..=record_count distinct keys");
    let offset = FILTER_KEY_COUNT_OFFSET;
    ensure(in_bounds, kind, "key_count", expected, key_count, offset)?;
    let page = u128::from(int::u64_from_usize(BLOCK_PAGE_BYTES));
    let footer_bytes = int::u128_from_usize(BLOCK_FOOTER_BYTES);
    let filter_end = u128::from(footer.filter_offset()) + int::u128_from_usize(filter_bytes);
    let expected_block = (filter_end + footer_bytes).div_ceil(page) * page;
    let block_bytes = u128::from(footer.block_bytes);
    let expected = Expected::Equal(expected_block);
    let fits = block_bytes == expected_block;
    ensure(
        fits,
        kind,
        "bit_count",
        expected,
        block_bytes,
        FILTER_BIT_COUNT_OFFSET,
    )
}

/// The filter's length from its header's `bit_count`, checked to be a non-zero multiple of
/// 64 whose bits lie within the `available` bytes (it only bounds the checksummed bytes; the
/// checksum vouches for it next).
fn filter_length(header: &[u8], available: usize) -> Result<usize, DecodeError> {
    let kind = FileKind::BlockFilter;
    let bit_count = read_u64(kind, "bit_count", header, FILTER_BIT_COUNT_OFFSET)?;
    let length = int::usize_from_u64(bit_count / 8)
        .and_then(|bytes| bytes.checked_add(FILTER_HEADER_BYTES))
        .filter(|&length| length <= available);
    let whole = bit_count > 0 && bit_count.is_multiple_of(FILTER_WORD_BITS);
    match length {
        Some(length) if whole => Ok(length),
        _ => {
            let expected = Expected::Describe("a non-zero multiple of 64 within the block");
            let offset = FILTER_BIT_COUNT_OFFSET;
            Err(DecodeError::corrupt(
                kind,
                "bit_count",
                expected,
                u128::from(bit_count),
                offset,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::{BlockBuilder, BlockReader, BuiltBlock};
    use crate::error::DecodeClass;
    use crate::ids::{BlockId, Revision, SpaceId};
    use crate::record::{RecordKind, RecordRef};

    /// SplitMix64: a fixed pseudo-random sequence without a dependency.
    fn split_mix(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A block of one empty put per key of `keys` (sorted, distinct).
    fn block_of(keys: &[Key]) -> BuiltBlock {
        let mut builder = BlockBuilder::new(SpaceId(1), BlockId(1));
        for &key in keys {
            builder.push(RecordRef {
                key,
                revision: Revision(1),
                kind: RecordKind::Put,
                value: b"",
            });
        }
        builder.finish()
    }

    /// `count` distinct random keys in order; even keys only, so odd keys are surely absent.
    fn even_keys(count: usize, seed: u64) -> Vec<Key> {
        let mut state = seed;
        let mut keys: Vec<Key> = (0..count)
            .map(|_| {
                let high = u128::from(split_mix(&mut state)) << 64;
                (high | u128::from(split_mix(&mut state))) & !1
            })
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    /// The filter of `layout` over `keys` as stored.
    fn encoded(layout: Layout, keys: &[Key]) -> Vec<u8> {
        let hashes: Vec<u128> = keys.iter().map(|&key| key_hash(key)).collect();
        let mut out = vec![0; layout.encoded_bytes(hashes.len())];
        encode_layout(layout, &hashes, &mut out);
        out
    }

    /// `built` with its filter replaced by `filter` (any length): the block is cut or padded
    /// to the page after the new filter and the footer, whose `filter_checksum` is the new
    /// filter's stored checksum.
    fn with_filter(built: &BuiltBlock, filter: &[u8]) -> (Vec<u8>, BlockFooter) {
        let mut footer = built.footer;
        let start = usize::try_from(footer.filter_offset()).unwrap();
        let block_bytes = (start + filter.len() + BLOCK_FOOTER_BYTES).div_ceil(4096) * 4096;
        let mut bytes = built.bytes[..start].to_vec();
        bytes.extend_from_slice(filter);
        bytes.resize(block_bytes, 0);
        footer.block_bytes = block_bytes as u64;
        footer.filter_checksum = Some(Checksum(int::read_u64(filter, 0).unwrap()));
        footer.encode(&mut bytes[block_bytes - BLOCK_FOOTER_BYTES..]);
        (bytes, footer)
    }

    /// The filter of `built` (version 2) with `edit` applied and its checksum made to match.
    fn resealed(built: &BuiltBlock, edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let start = usize::try_from(built.footer.filter_offset()).unwrap();
        let length =
            FILTER_HEADER_BYTES + usize::try_from(reader_filter(built).bit_count() / 8).unwrap();
        let mut filter = built.bytes[start..start + length].to_vec();
        edit(&mut filter);
        let checksum = Checksum::of(&filter[FILTER_MAGIC_OFFSET..]);
        int::write_u64(&mut filter, FILTER_CHECKSUM_OFFSET, checksum.0);
        filter
    }

    /// The decoded filter of `built`.
    fn reader_filter(built: &BuiltBlock) -> BlockFilter {
        BlockReader::new(&built.bytes)
            .unwrap()
            .filter()
            .unwrap()
            .clone()
    }

    /// False positives of `filter` over 100,000 random odd (absent) keys: (count, rate).
    fn false_positives(filter: &BlockFilter) -> (usize, f64) {
        let mut state = 0xAB5E_u64;
        let trials = 100_000_u32;
        let count = (0..trials)
            .filter(|_| {
                let key = (u128::from(split_mix(&mut state)) << 64) | 1;
                filter.may_hold(key | u128::from(split_mix(&mut state)))
            })
            .count();
        (count, count as f64 / f64::from(trials))
    }

    /// How many of keys 100..10,100 the filter of `layout` over keys 0..100 may hold.
    fn known_answers(layout: Layout) -> usize {
        let keys: Vec<Key> = (0..100).collect();
        let (bytes, footer) = with_filter(&block_of(&keys), &encoded(layout, &keys));
        let reader = BlockReader::new(&bytes).unwrap();
        assert_eq!(footer, *reader.footer());
        let filter = reader.filter().unwrap();
        assert_eq!(filter.version(), layout.version());
        assert!(keys.iter().all(|&key| filter.may_hold(key)));
        (100..10_100).filter(|&key| filter.may_hold(key)).count()
    }

    #[test]
    fn offsets_are_pinned() {
        // Goal: the filter header and sizes match docs/format.md. Method: compare every
        // offset and the sizes of both layouts.
        let header = [
            FILTER_CHECKSUM_OFFSET,
            FILTER_MAGIC_OFFSET,
            FILTER_VERSION_OFFSET,
            FILTER_HASH_COUNT_OFFSET,
            FILTER_BIT_COUNT_OFFSET,
            FILTER_KEY_COUNT_OFFSET,
            FILTER_HEADER_BYTES,
        ];
        assert_eq!(header, [0, 8, 12, 14, 16, 24, 32]);
        assert_eq!(filter_encoded_bytes(1), 32 + 64);
        assert_eq!(filter_encoded_bytes(51), 32 + 64, "510 bits fit one line");
        assert_eq!(
            filter_encoded_bytes(52),
            32 + 128,
            "520 bits round up to two"
        );
        assert_eq!(filter_encoded_bytes(1000), 32 + 20 * 64);
        let standard = |keys| Layout::Standard.encoded_bytes(keys);
        assert_eq!(standard(1), 32 + 8);
        assert_eq!(standard(7), 32 + 16, "70 bits round up to two words");
        assert_eq!(standard(1000), 32 + 1250 + 6);
        assert_eq!(FILTER_BYTES_MIN, standard(1));
    }

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        // Goal: every key in the block is maybe-held; absent keys pass rarely. A blocked
        // filter of 10 bits per key in 512-bit lines holds a Poisson number of keys per line
        // (mean 51.2); with k = 6 probes the false-positive rate is that load's mean of
        // (1 - (1 - 1/512)^(6 n))^6 ≈ 0.96%; 100,000 trials measure it within ±0.1% (3
        // standard deviations), so 1.5% fails only on a broken line choice or probe positions.
        // Method: a block of 20,000 random even keys; query each, then 100,000 odd keys.
        let keys = even_keys(20_000, 0xF11E);
        let filter = reader_filter(&block_of(&keys));
        assert_eq!(filter.version(), 2);
        assert_eq!(filter.key_count(), keys.len() as u64);
        assert_eq!(filter.hash_count(), FILTER_HASH_COUNT);
        assert_eq!(
            filter.bit_count(),
            391 * 512,
            "200,000 bits round up to lines"
        );
        assert!(
            keys.iter().all(|&key| filter.may_hold(key)),
            "a false negative"
        );
        let (count, rate) = false_positives(&filter);
        println!("version 2 false-positive rate: {rate:.5} ({count} of 100000)");
        assert!(rate < 0.015, "false-positive rate {rate}");
        assert!(
            rate > 0.005,
            "a rate {rate} far below the analysis is broken too"
        );
    }

    #[test]
    fn a_version_1_filter_still_decodes_and_answers_by_its_own_probes() {
        // Goal: blocks written with a version-1 (standard) filter keep working: no false
        // negatives and the old rate, (1 - e^(-7/10))^7 ≈ 0.82% at 10 bits per key and 7
        // probes. Method: the block of 20,000 random even keys with its filter rewritten in
        // version 1; query each key and 100,000 odd keys; read one record.
        let keys = even_keys(20_000, 0xF11E);
        let built = block_of(&keys);
        let (bytes, _) = with_filter(&built, &encoded(Layout::Standard, &keys));
        let reader = BlockReader::new(&bytes).unwrap();
        let filter = reader.filter().unwrap();
        assert_eq!(filter.version(), 1);
        assert_eq!((filter.hash_count(), filter.bit_count()), (7, 200_000));
        assert!(
            keys.iter().all(|&key| filter.may_hold(key)),
            "a false negative"
        );
        let (count, rate) = false_positives(filter);
        println!("version 1 false-positive rate: {rate:.5} ({count} of 100000)");
        assert!(rate < 0.015, "false-positive rate {rate}");
        assert!(
            rate > 0.004,
            "a rate {rate} far below the analysis is broken too"
        );
        let found = reader.get(keys[777], Revision(1)).unwrap().unwrap();
        assert_eq!(found.key, keys[777]);
    }

    #[test]
    fn a_key_with_many_versions_is_counted_once() {
        // Goal: the filter is sized by distinct keys, not records. Method: 500 versions of key
        // 7 between keys 6 and 8.
        let mut builder = BlockBuilder::new(SpaceId(1), BlockId(1));
        let put = |key, revision| RecordRef {
            key,
            revision: Revision(revision),
            kind: RecordKind::Put,
            value: b"v",
        };
        builder.push(put(6, 1));
        for revision in (1..=500).rev() {
            builder.push(put(7, revision));
        }
        builder.push(put(8, 1));
        let built = builder.finish();
        let reader = BlockReader::new(&built.bytes).unwrap();
        let filter = reader.filter().unwrap();
        assert_eq!((filter.key_count(), filter.bit_count()), (3, 512));
        assert!([6, 7, 8].into_iter().all(|key| reader.may_hold(key)));
    }

    #[test]
    fn the_bits_of_a_known_key_set_are_pinned() {
        // Goal: the hash, the line choice and the probe positions never change (module doc):
        // a new xxh3 or a changed formula would make every filter written before answer
        // "absent" for keys it holds. Method: the checksum of the filter over keys 0..100 in
        // each layout, the hash of key 1, and how many of keys 100..10,100 each filter may
        // hold (the query side), computed once and written down here.
        assert_eq!(key_hash(1), 0x137e_c307_5546_cf03_4a4f_e11e_9c4a_1079);
        let keys: Vec<Key> = (0..100).collect();
        let checksum = |layout| Checksum(int::read_u64(&encoded(layout, &keys), 0).unwrap());
        assert_eq!(checksum(Layout::Standard), Checksum(0xb82c_640d_744c_082a));
        assert_eq!(checksum(Layout::Blocked), Checksum(0x0359_7436_4990_0bf5));
        let hashes: Vec<u128> = keys.iter().map(|&key| key_hash(key)).collect();
        let mut out = vec![0; filter_encoded_bytes(hashes.len())];
        assert_eq!(encode_filter(&hashes, &mut out), checksum(Layout::Blocked));
        assert_eq!(known_answers(Layout::Standard), 83);
        assert_eq!(known_answers(Layout::Blocked), 103);
    }

    #[test]
    fn the_decoded_lines_hold_the_stored_bits() {
        // Goal: version 2's in-memory lines are the stored little-endian bits, one aligned
        // cache line each, and a key's probes all fall in its line. Method: a filter over 300
        // random keys; compare every bit of every line with the stored bytes; check each
        // key's probed bits (from `line_probes`) lie in the line `line_of` names.
        let keys = even_keys(300, 7);
        let built = block_of(&keys);
        let filter = reader_filter(&built);
        let FilterBits::Blocked(lines) = &filter.bits else {
            panic!("the builder writes version 2");
        };
        assert_eq!(lines.len(), 6);
        assert_eq!(
            lines.as_ptr().addr() % 64,
            0,
            "lines are cache-line aligned"
        );
        let start = usize::try_from(built.footer.filter_offset()).unwrap() + FILTER_HEADER_BYTES;
        let stored = &built.bytes[start..start + 6 * 64];
        for bit in 0..6 * 512 {
            let in_memory = lines[bit / 512].0[bit % 512 / 64] >> (bit % 64) & 1;
            let on_disk = stored[bit / 8] >> (bit % 8) & 1;
            assert_eq!(u64::from(on_disk), in_memory, "bit {bit}");
        }
        for &key in &keys {
            let (h1, _) = int::u64_halves(key_hash(key));
            let line = line_of(h1, 6);
            assert!(line < 6);
            for position in line_probes(key_hash(key), FILTER_HASH_COUNT, 6 * 512) {
                assert_eq!(position / 512, line, "key {key:#x}");
            }
        }
    }

    #[test]
    fn every_flipped_bit_of_the_filter_fails_the_decode() {
        // Goal: damage anywhere in a filter of either version is an error, never a filter that
        // forgets keys. Method: a block of 40 keys with its filter in each layout; flip each
        // bit of the filter in turn and decode.
        let keys: Vec<Key> = (0..40).map(|key| key << 90).collect();
        let built = block_of(&keys);
        for layout in [Layout::Standard, Layout::Blocked] {
            let filter = encoded(layout, &keys);
            let (bytes, footer) = with_filter(&built, &filter);
            let start = usize::try_from(footer.filter_offset()).unwrap();
            let region_end = usize::try_from(footer.footer_offset()).unwrap();
            for bit in 0..filter.len() * 8 {
                let mut region = bytes[start..region_end].to_vec();
                region[bit / 8] ^= 1 << (bit % 8);
                let context = format!("{layout:?} bit {bit}");
                let error = BlockFilter::decode(&region, &footer).unwrap_err();
                assert_eq!(error.file_kind(), FileKind::BlockFilter, "{context}");
                assert_eq!(error.class(), DecodeClass::Corrupt, "{context}: {error}");
            }
            assert!(BlockReader::new(&bytes).is_ok());
        }
    }

    #[test]
    fn version_2_header_fields_out_of_bounds_fail_the_decode() {
        // Goal: a version-2 header whose checksum matches but whose fields are out of bounds
        // is an error naming the field, in the decode order of the module doc; bounds are per
        // version (8 probes are too many for version 2, not for version 1). Method: a block of
        // 60 keys (1,024 bits); set one header field, reseal the checksum, rewrite the block.
        let keys = even_keys(60, 3);
        let built = block_of(&keys);
        let decode = |edit: &dyn Fn(&mut Vec<u8>)| {
            let (bytes, _) = with_filter(&built, &resealed(&built, edit));
            BlockReader::new(&bytes).map(|reader| reader.filter().cloned())
        };
        let field_error = |edit: &dyn Fn(&mut Vec<u8>)| {
            let error = decode(edit).unwrap_err();
            assert_eq!(error.class(), DecodeClass::Corrupt, "{error}");
            error.field()
        };
        let hash_count = |count| {
            move |filter: &mut Vec<u8>| {
                int::write_u16(filter, FILTER_HASH_COUNT_OFFSET, count);
            }
        };
        assert_eq!(field_error(&hash_count(0)), "hash_count");
        assert_eq!(field_error(&hash_count(8)), "hash_count");
        let seven = decode(&hash_count(7)).unwrap().unwrap();
        assert_eq!((seven.version(), seven.hash_count()), (2, 7));
        let as_version_1 = |filter: &mut Vec<u8>| {
            hash_count(8)(filter);
            int::write_u16(filter, FILTER_VERSION_OFFSET, 1);
        };
        assert_eq!(decode(&as_version_1).unwrap().unwrap().version(), 1);
        let not_whole_lines = |filter: &mut Vec<u8>| {
            int::write_u64(filter, FILTER_BIT_COUNT_OFFSET, 1024 - 64);
            filter.truncate(filter.len() - 8);
        };
        assert_eq!(field_error(&not_whole_lines), "bit_count");
        let both = |filter: &mut Vec<u8>| {
            not_whole_lines(filter);
            hash_count(0)(filter);
        };
        assert_eq!(
            field_error(&both),
            "hash_count",
            "hash_count is checked first"
        );
        let key_count = |count| {
            move |filter: &mut Vec<u8>| {
                int::write_u64(filter, FILTER_KEY_COUNT_OFFSET, count);
            }
        };
        assert_eq!(field_error(&key_count(0)), "key_count");
        assert_eq!(
            field_error(&key_count(61)),
            "key_count",
            "record_count is 60"
        );
        assert!(decode(&key_count(60)).unwrap().is_some());
        for version in [0, 3] {
            let error = decode(&|filter: &mut Vec<u8>| {
                int::write_u16(filter, FILTER_VERSION_OFFSET, version);
            })
            .unwrap_err();
            let unsupported = matches!(error.class(), DecodeClass::UnsupportedVersion { .. });
            assert!(unsupported, "version {version}: {error}");
        }
    }

    #[test]
    fn a_version_1_block_has_no_filter_and_may_hold_every_key() {
        // Goal: blocks written before filters existed still read, and a read never skips them.
        // Method: rewrite a built block as version 1 (filter zeroed, footer without a filter
        // checksum; the block length is the same, as index and filter share the last page).
        let keys: Vec<Key> = (1..=30).map(|key| key * 1000).collect();
        let mut built = block_of(&keys);
        let mut footer = built.footer;
        footer.filter_checksum = None;
        let start = usize::try_from(footer.filter_offset()).unwrap();
        let footer_start = usize::try_from(footer.footer_offset()).unwrap();
        built.bytes[start..footer_start].fill(0);
        footer.encode(&mut built.bytes[footer_start..]);
        assert_eq!(
            built.bytes[footer_start + super::super::footer::FOOTER_VERSION_OFFSET],
            1
        );
        let reader = BlockReader::new(&built.bytes).unwrap();
        assert_eq!(reader.filter(), None);
        assert!((0..5000).all(|key| reader.may_hold(key)));
        let found = reader.get(2000, Revision(1)).unwrap().unwrap();
        assert_eq!(found.key, 2000);
        assert_eq!(BlockFilter::decode(&[], &footer), Ok(None));
    }

    #[test]
    fn a_version_2_footer_without_room_for_a_filter_is_corrupt() {
        // Goal: a v2 footer must leave room for a filter before the footer; v1 need not.
        // Method: 70 runs make the index end 3944 bytes into its page, so index and footer
        // fit in one page (v1) but a 40-byte filter does not (v2).
        let runs = 70_u32;
        let index_offset = 4096 * u64::from(runs);
        let v1 = BlockFooter {
            space_id: SpaceId(1),
            block_id: BlockId(1),
            record_count: 70,
            data_page_count: runs,
            min_key: 0,
            max_key: 9,
            min_revision: Revision(1),
            max_revision: Revision(1),
            index_offset,
            index_bytes: 24 + 56 * u64::from(runs),
            block_bytes: index_offset + 4096,
            index_checksum: Checksum(5),
            filter_checksum: None,
        };
        let mut page = vec![0; BLOCK_FOOTER_BYTES];
        v1.encode(&mut page);
        assert_eq!(BlockFooter::decode(&page).unwrap().0, v1);
        let v2 = BlockFooter {
            filter_checksum: Some(Checksum(6)),
            ..v1
        };
        v2.encode(&mut page);
        let error = BlockFooter::decode(&page).unwrap_err();
        assert_eq!(
            (error.field(), error.class()),
            ("block_bytes", DecodeClass::Corrupt)
        );
        let roomy = BlockFooter {
            block_bytes: index_offset + 8192,
            ..v2
        };
        roomy.encode(&mut page);
        assert_eq!(BlockFooter::decode(&page).unwrap().0, roomy);
        let error = BlockFilter::decode(&[0; 8], &roomy).unwrap_err();
        assert_eq!(error.class(), DecodeClass::Incomplete);
    }
}
