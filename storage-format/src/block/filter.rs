//! A block's key filter: a standard Bloom filter over the distinct record keys of the block,
//! between the index and the footer of a version-2 block (`docs/format.md`, "Block filter").
//!
//! Owns: the filter layout, its sizing ([`FILTER_BITS_PER_KEY`] bits per distinct key), the
//! hash of a key, the probe sequence, and building, decoding and querying the bits.
//!
//! The hash and the probes are written out here, not taken from a Bloom filter crate: the bits
//! are specified in `docs/format.md` and every later build must find the same bits for the
//! same key, so they must never change under us with a crate upgrade. A key's hash is
//! xxh3-128 (a published, fixed algorithm; [`crate::Checksum`] is its 64-bit sibling) of its 16
//! little-endian bytes; with `h1` its low and `h2` its high 64 bits, probe `i` of
//! `hash_count` is bit `(h1 + i * h2) mod bit_count` (double hashing, wrapping `u64`
//! arithmetic). A unit test pins the bits of a known key set.
//!
//! Invariants: every key pushed to the builder is reported as maybe held (no false
//! negatives); a key is counted once however many versions it has. Checked on decode, in
//! order: the fixed header is present; `bit_count` is a non-zero multiple of 64 whose bits
//! lie within the input (read first, only to find the end of the checksummed bytes, and
//! trusted once the checksum matches); the checksum against the header and the footer's
//! `filter_checksum`; magic and version; `hash_count` in `1..=FILTER_HASH_COUNT_MAX`;
//! `key_count` in `1..=record_count`; the filter ends in the block's last page, before the
//! footer.

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
    /// Offset of the number of bits (`u64`, a non-zero multiple of 64).
    pub const FILTER_BIT_COUNT_OFFSET: usize = FILTER_HASH_COUNT_OFFSET + 2;
    /// Offset of the number of distinct keys added (`u64`).
    pub const FILTER_KEY_COUNT_OFFSET: usize = FILTER_BIT_COUNT_OFFSET + 8;
    /// Size of the filter header; the bits follow.
    pub const FILTER_HEADER_BYTES: usize = FILTER_KEY_COUNT_OFFSET + 8;
}
pub(crate) use offsets::*;

const _: () = assert!(FILTER_HEADER_BYTES == 32);

/// Bits of filter per distinct key: a false-positive rate near 0.8% with 7 probes.
pub const FILTER_BITS_PER_KEY: u64 = 10;

/// Probes per key the builder writes: `round(FILTER_BITS_PER_KEY * ln 2)`, the number that
/// minimises the false-positive rate for that many bits per key.
pub const FILTER_HASH_COUNT: u16 = 7;

/// The most probes per key a decoder accepts (a bound on the work of one lookup).
pub const FILTER_HASH_COUNT_MAX: u16 = 16;

/// The version of the filter layout this build writes and reads.
const FILTER_VERSION: u16 = 1;

/// The bits of a filter are counted in words of this many bits.
const FILTER_WORD_BITS: u64 = 64;

/// The smallest filter: a header and one word.
pub(crate) const FILTER_BYTES_MIN: usize = FILTER_HEADER_BYTES + 8;

const _: () = assert!(FILTER_HASH_COUNT >= 1 && FILTER_HASH_COUNT <= FILTER_HASH_COUNT_MAX);
const _: () = assert!(FILTER_HEADER_BYTES.is_multiple_of(8));

/// The filter hash of `key`: xxh3-128 of its 16 little-endian bytes.
pub(crate) fn key_hash(key: Key) -> u128 {
    let mut bytes = [0_u8; 16];
    int::write_u128(&mut bytes, 0, key);
    xxh3_128(&bytes)
}

/// The bit positions probed for a key of hash `hash` (module doc: double hashing).
fn probes(hash: u128, hash_count: u16, bit_count: u64) -> impl Iterator<Item = u64> {
    debug_assert!(bit_count > 0);
    let (h1, h2) = int::u64_halves(hash);
    (0..u64::from(hash_count)).map(move |probe| {
        let position = h1.wrapping_add(probe.wrapping_mul(h2));
        position.checked_rem(bit_count).unwrap_or(0)
    })
}

/// The number of bits of a filter over `key_count` distinct keys.
fn bit_count_for(key_count: u64) -> u64 {
    let bits = key_count.saturating_mul(FILTER_BITS_PER_KEY);
    bits.div_ceil(FILTER_WORD_BITS).max(1) * FILTER_WORD_BITS
}

/// The encoded size of a filter over `key_count` distinct keys.
pub(crate) fn filter_encoded_bytes(key_count: usize) -> usize {
    let bit_count = bit_count_for(int::u64_from_usize(key_count));
    let bit_bytes = int::usize_from_u64(bit_count / 8).unwrap_or(usize::MAX);
    FILTER_HEADER_BYTES.saturating_add(bit_bytes)
}

/// Encodes the filter over the distinct keys whose hashes are `hashes` into `out` (exactly
/// `filter_encoded_bytes(hashes.len())` long); returns its checksum.
pub(crate) fn encode_filter(hashes: &[u128], out: &mut [u8]) -> Checksum {
    assert_eq!(
        out.len(),
        filter_encoded_bytes(hashes.len()),
        "filter buffer size"
    );
    assert!(!hashes.is_empty(), "a filter covers at least one key");
    out.fill(0);
    let key_count = int::u64_from_usize(hashes.len());
    let bit_count = bit_count_for(key_count);
    int::write_u32(out, FILTER_MAGIC_OFFSET, BLOCK_FILTER_MAGIC);
    int::write_u16(out, FILTER_VERSION_OFFSET, FILTER_VERSION);
    int::write_u16(out, FILTER_HASH_COUNT_OFFSET, FILTER_HASH_COUNT);
    int::write_u64(out, FILTER_BIT_COUNT_OFFSET, bit_count);
    int::write_u64(out, FILTER_KEY_COUNT_OFFSET, key_count);
    let bits = out.get_mut(FILTER_HEADER_BYTES..).unwrap_or_default();
    for &hash in hashes {
        for position in probes(hash, FILTER_HASH_COUNT, bit_count) {
            set_bit(bits, position);
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

/// A decoded, verified block filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockFilter {
    bits: Box<[u8]>,
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
        let versions = FILTER_VERSION..=FILTER_VERSION;
        check_magic_versions(
            kind,
            filter,
            FILTER_MAGIC_OFFSET,
            BLOCK_FILTER_MAGIC,
            versions,
        )?;
        let decoded = BlockFilter {
            bits: filter.get(FILTER_HEADER_BYTES..).unwrap_or_default().into(),
            bit_count: read_u64(kind, "bit_count", filter, FILTER_BIT_COUNT_OFFSET)?,
            hash_count: read_u16(kind, "hash_count", filter, FILTER_HASH_COUNT_OFFSET)?,
            key_count: read_u64(kind, "key_count", filter, FILTER_KEY_COUNT_OFFSET)?,
        };
        decoded.validate(footer, filter.len())?;
        Ok(Some(decoded))
    }

    /// The header fields the checksum cannot vouch for, and the filter's place in the block.
    fn validate(&self, footer: &BlockFooter, filter_bytes: usize) -> Result<(), DecodeError> {
        let kind = FileKind::BlockFilter;
        let hash_count = self.hash_count;
        let in_bounds = (1..=FILTER_HASH_COUNT_MAX).contains(&hash_count);
        let expected = Expected::Describe("1..=16 probes");
        let offset = FILTER_HASH_COUNT_OFFSET;
        ensure(in_bounds, kind, "hash_count", expected, hash_count, offset)?;
        let key_count = self.key_count;
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

    /// False only when no version of `key` is in the block; true for every key the block
    /// holds and for a few others (near 0.8% of absent keys at 10 bits per key).
    #[must_use]
    pub fn may_hold(&self, key: Key) -> bool {
        probes(key_hash(key), self.hash_count, self.bit_count).all(|position| {
            let byte = int::usize_from_u64(position / 8).and_then(|index| self.bits.get(index));
            byte.is_some_and(|byte| byte & (1 << (position % 8)) != 0)
        })
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

    #[test]
    fn offsets_are_pinned() {
        // Goal: the filter header matches docs/format.md. Method: compare every offset.
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
        assert_eq!(filter_encoded_bytes(1), 32 + 8);
        assert_eq!(
            filter_encoded_bytes(7),
            32 + 16,
            "70 bits round up to two words"
        );
        assert_eq!(filter_encoded_bytes(1000), 32 + 1250 + 6);
    }

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        // Goal: every key in the block is maybe-held; absent keys pass rarely. A Bloom filter
        // of m/n = 10 bits per key with k = 7 probes has a false-positive rate of
        // (1 - e^(-k n / m))^k = (1 - e^-0.7)^7 ≈ 0.82%; 100,000 trials measure it within
        // ±0.1% (3 standard deviations), so 2% fails only on a broken hash or probe sequence.
        // Method: a block of 20,000 random even keys; query each, then 100,000 odd keys.
        let keys = even_keys(20_000, 0xF11E);
        let built = block_of(&keys);
        let reader = BlockReader::new(&built.bytes).unwrap();
        let filter = reader.filter().unwrap();
        assert_eq!(filter.key_count(), keys.len() as u64);
        assert_eq!(filter.hash_count(), FILTER_HASH_COUNT);
        assert!(filter.bit_count() >= FILTER_BITS_PER_KEY * keys.len() as u64);
        assert!(
            keys.iter().all(|&key| filter.may_hold(key)),
            "a false negative"
        );
        let mut state = 0xAB5E_u64;
        let trials = 100_000_u32;
        let false_positives = (0..trials)
            .filter(|_| {
                let key = (u128::from(split_mix(&mut state)) << 64) | 1;
                filter.may_hold(key | u128::from(split_mix(&mut state)))
            })
            .count();
        let rate = false_positives as f64 / f64::from(trials);
        println!("false-positive rate: {rate:.5} ({false_positives} of {trials})");
        assert!(rate < 0.02, "false-positive rate {rate}");
        assert!(
            false_positives > 0,
            "a filter that answers no to everything is broken too"
        );
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
        assert_eq!((filter.key_count(), filter.bit_count()), (3, 64));
        assert!([6, 7, 8].into_iter().all(|key| reader.may_hold(key)));
    }

    #[test]
    fn the_bits_of_a_known_key_set_are_pinned() {
        // Goal: the hash and probe sequence never change (module doc): a new xxh3 or a changed
        // probe formula would make every filter written before answer "absent" for keys it
        // holds. Method: the checksum of the filter over keys 0..100 and the hash of key 1,
        // computed once and written down here.
        assert_eq!(key_hash(1), 0x137e_c307_5546_cf03_4a4f_e11e_9c4a_1079);
        let hashes: Vec<u128> = (0..100).map(key_hash).collect();
        let mut out = vec![0; filter_encoded_bytes(hashes.len())];
        let checksum = encode_filter(&hashes, &mut out);
        assert_eq!(checksum, Checksum(0xb82c_640d_744c_082a));
    }

    #[test]
    fn every_flipped_bit_of_the_filter_fails_the_decode() {
        // Goal: damage anywhere in the filter is an error, never a filter that forgets keys.
        // Method: a block of 40 keys; flip each bit of the filter in turn and decode.
        let keys: Vec<Key> = (0..40).map(|key| key << 90).collect();
        let built = block_of(&keys);
        let footer = built.footer;
        let start = usize::try_from(footer.filter_offset()).unwrap();
        let end = start + filter_encoded_bytes(keys.len());
        let region_end = usize::try_from(footer.footer_offset()).unwrap();
        for bit in 0..(end - start) * 8 {
            let mut bytes = built.bytes[start..region_end].to_vec();
            bytes[bit / 8] ^= 1 << (bit % 8);
            let error = BlockFilter::decode(&bytes, &footer).unwrap_err();
            assert_eq!(error.file_kind(), FileKind::BlockFilter, "bit {bit}");
            assert_eq!(error.class(), DecodeClass::Corrupt, "bit {bit}: {error}");
            assert!(BlockReader::new(&built.bytes).is_ok());
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
