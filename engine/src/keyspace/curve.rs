//! The `Curve`: a space's Hilbert curve shape, and the point <-> key bijection.
//!
//! Owns the validation of a curve shape (`dims` 1..=16, `bits_per_dim` 1..=32,
//! `dims * bits_per_dim <= 128`) and of points, and the encode/decode pair (docs/design.md §2,
//! "key").
//!
//! Encoding is John Skilling's transform ("Programming the Hilbert curve", AIP Conf. Proc. 707,
//! 2004): `axes_to_transpose` turns the coordinates in place into the "transposed" Hilbert index,
//! whose bit `j` of word `i` is index bit `j * dims + (dims - 1 - i)`. So the index reads, from
//! its most significant bit: bit `b-1` of words 0..dims, then bit `b-2` of words 0..dims, and so
//! on. The index (`dims * bits_per_dim` bits) is then shifted left so its top used bit is bit
//! 127 ("top-aligned"): keys of spaces with different shapes all sort the same way, and the low
//! `128 - dims * bits_per_dim` bits of every key are zero.
//!
//! Invariants:
//! - `decode(encode(p)) == p` for every valid point, and `encode` is injective (a bijection onto
//!   the top-aligned keys).
//! - Nesting: the top `level * dims` bits of a key depend only on the top `level` bits of each
//!   coordinate. Skilling's step for bit `q` only rewrites bits below `q`, so a dyadic cell (the
//!   points sharing their top `level` coordinate bits) is one contiguous key interval. The box
//!   decomposition in `key_ranges.rs` relies on this.
//! - Neither direction allocates or panics; coordinates are never masked.

use super::error::KeyspaceError;
use super::level_table::{level_table, levels_per_chunk};
use super::morton::{deinterleave_small, interleave_small};

/// Most dimensions a curve may have.
pub const DIMS_MAX: u32 = 16;
/// Most bits per dimension a curve may have (coordinates are `u32`).
pub const BITS_PER_DIM_MAX: u32 = 32;
/// Bits in a key.
pub const KEY_BITS: u32 = 128;

/// `DIMS_MAX` as an array length, for the stack buffers of encode and decode.
pub(super) const DIMS_MAX_USIZE: usize = 16;

const _: () = assert!(DIMS_MAX as usize == DIMS_MAX_USIZE);
const _: () = assert!(DIMS_MAX * BITS_PER_DIM_MAX >= KEY_BITS);

/// `SPREAD_BYTE[n][v]`: the 8 bits of `v` moved to positions `0, n, 2n, .., 7n` (index 0 unused).
/// Interleaving looks up whole bytes instead of moving bits one by one; 17 rows of 4 KiB.
static SPREAD_BYTE: [[u128; 256]; DIMS_MAX_USIZE + 1] = spread_byte_table();

const fn spread_byte_table() -> [[u128; 256]; DIMS_MAX_USIZE + 1] {
    let mut table = [[0_u128; 256]; DIMS_MAX_USIZE + 1];
    let mut stride = 1;
    while stride <= DIMS_MAX_USIZE {
        let mut value = 0;
        while value < 256 {
            let mut bit = 0;
            let mut spread = 0_u128;
            while bit < 8 {
                if (value >> bit) & 1 == 1 {
                    spread |= 1_u128 << (bit * stride);
                }
                bit += 1;
            }
            table[stride][value] = spread;
            value += 1;
        }
        stride += 1;
    }
    table
}

/// A space's Hilbert curve: `dims` 1..=16, `bits_per_dim` 1..=32, `dims * bits_per_dim <= 128`.
///
/// ```
/// use infinitedb::keyspace::Curve;
/// let curve = Curve::new(2, 8)?;
/// let key = curve.encode(&[3, 200])?;
/// let mut point = [0_u32; 2];
/// curve.decode(key, &mut point)?;
/// assert_eq!(point, [3, 200]);
/// # Ok::<(), infinitedb::keyspace::KeyspaceError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Curve {
    dims: u32,
    bits_per_dim: u32,
}

impl Curve {
    /// Validates a curve shape.
    ///
    /// # Errors
    /// `InvalidShape` when `dims` is not in 1..=16, `bits_per_dim` not in 1..=32, or
    /// `dims * bits_per_dim > 128`.
    pub fn new(dims: u32, bits_per_dim: u32) -> Result<Curve, KeyspaceError> {
        let invalid = |reason| KeyspaceError::InvalidShape {
            dims,
            bits_per_dim,
            reason,
        };
        if dims == 0 || dims > DIMS_MAX {
            return Err(invalid("dims must be between 1 and 16"));
        }
        if bits_per_dim == 0 || bits_per_dim > BITS_PER_DIM_MAX {
            return Err(invalid("bits_per_dim must be between 1 and 32"));
        }
        if dims * bits_per_dim > KEY_BITS {
            return Err(invalid(
                "dims x bits_per_dim must be at most 128 (keys are u128)",
            ));
        }
        Ok(Curve { dims, bits_per_dim })
    }

    /// The number of coordinates of every point.
    #[must_use]
    pub fn dims(&self) -> u32 {
        self.dims
    }

    /// The bits of each coordinate: every coordinate is below `2^bits_per_dim`.
    #[must_use]
    pub fn bits_per_dim(&self) -> u32 {
        self.bits_per_dim
    }

    /// The bits of a key that are used: `dims * bits_per_dim` (the rest, at the bottom, are 0).
    #[must_use]
    pub fn key_bits_used(&self) -> u32 {
        self.dims * self.bits_per_dim
    }

    /// The largest valid coordinate, `2^bits_per_dim - 1`.
    #[must_use]
    pub fn coordinate_max(&self) -> u32 {
        u32::MAX >> (BITS_PER_DIM_MAX - self.bits_per_dim)
    }

    pub(super) fn dims_usize(&self) -> usize {
        self.dims as usize
    }

    /// Checks that `point` has one coordinate per dimension, each `<= coordinate_max()`.
    ///
    /// # Errors
    /// `WrongDimensions` or `CoordinateOutOfRange` (naming the first bad dimension).
    pub fn check_point(&self, point: &[u32]) -> Result<(), KeyspaceError> {
        if point.len() != self.dims_usize() {
            return Err(KeyspaceError::WrongDimensions {
                expected: self.dims,
                found: point.len(),
            });
        }
        let coordinate_max = self.coordinate_max();
        match point.iter().position(|&value| value > coordinate_max) {
            Some(dimension) => Err(KeyspaceError::CoordinateOutOfRange {
                dimension,
                value: point[dimension],
                bits_per_dim: self.bits_per_dim,
            }),
            None => Ok(()),
        }
    }

    /// The Hilbert index of `point` (Skilling's transform), top-aligned in a `u128`: shifted
    /// left by `128 - dims * bits_per_dim` so its most significant used bit is bit 127.
    ///
    /// # Errors
    /// `WrongDimensions` when `point.len() != dims`; `CoordinateOutOfRange` when a coordinate is
    /// `>= 2^bits_per_dim` (coordinates are never masked).
    pub fn encode(&self, point: &[u32]) -> Result<u128, KeyspaceError> {
        self.check_point(point)?;
        Ok(self.encode_unchecked(point))
    }

    /// `encode` for a point already checked by `check_point`.
    pub(super) fn encode_unchecked(&self, point: &[u32]) -> u128 {
        debug_assert!(self.check_point(point).is_ok());
        let key = match self.dims {
            1 => self.encode_line(point),
            2 => self.encode_small::<2, { levels_per_chunk(2) }>(point),
            3 => self.encode_small::<3, { levels_per_chunk(3) }>(point),
            4 => self.encode_small::<4, { levels_per_chunk(4) }>(point),
            _ => None,
        };
        key.unwrap_or_else(|| {
            let index = self.encode_bit_by_bit(point);
            debug_assert!(self.key_bits_used() == KEY_BITS || index >> self.key_bits_used() == 0);
            index << (KEY_BITS - self.key_bits_used())
        })
    }

    /// The encode of a 1-dimensional point: Skilling's transform of one word is the identity
    /// (its undo step is a Gray code, `x ^ (x >> 1)`, and its final flip is `x >> 1`).
    fn encode_line(&self, point: &[u32]) -> Option<u128> {
        let [coordinate] = point else {
            return None;
        };
        Some(u128::from(*coordinate) << (KEY_BITS - self.bits_per_dim))
    }

    /// The inverse of `encode_line`.
    #[inline]
    fn decode_line(&self, key: u128, point: &mut [u32]) -> Option<()> {
        let [coordinate] = point else {
            return None;
        };
        *coordinate = u32::try_from(key >> (KEY_BITS - self.bits_per_dim)).ok()?;
        Some(())
    }

    /// The table-driven encode of a 2..=4-dimensional point (`None` if `point` or the table
    /// does not fit `DIMS`, which `check_point` and `Curve::new` rule out).
    fn encode_small<const DIMS: usize, const LEVELS: usize>(&self, point: &[u32]) -> Option<u128> {
        let point = <&[u32; DIMS]>::try_from(point).ok()?;
        let table = level_table(self.dims)?;
        let morton = interleave_small::<DIMS>(point, self.bits_per_dim);
        Some(table.encode::<DIMS, LEVELS>(self.bits_per_dim, morton))
    }

    /// The Hilbert index (not top-aligned) by Skilling's transform as written: the reference
    /// for the table-driven and 1-dimensional paths, and the path for 5..=16 dims.
    fn encode_bit_by_bit(&self, point: &[u32]) -> u128 {
        let mut words = [0_u32; DIMS_MAX_USIZE];
        let words = &mut words[..self.dims_usize()];
        words.copy_from_slice(point);
        axes_to_transpose(words, self.bits_per_dim);
        interleave(words, self.bits_per_dim)
    }

    /// Writes into `point` the point whose key is `key`; the inverse of `encode`.
    ///
    /// The low `128 - dims * bits_per_dim` bits of `key` are ignored (`encode` leaves them 0).
    ///
    /// # Errors
    /// `WrongDimensions` when `point.len() != dims`.
    #[inline]
    pub fn decode(&self, key: u128, point: &mut [u32]) -> Result<(), KeyspaceError> {
        if point.len() != self.dims_usize() {
            return Err(KeyspaceError::WrongDimensions {
                expected: self.dims,
                found: point.len(),
            });
        }
        let decoded = match self.dims {
            1 => self.decode_line(key, point),
            2 => self.decode_small::<2, { levels_per_chunk(2) }>(key, point),
            3 => self.decode_small::<3, { levels_per_chunk(3) }>(key, point),
            4 => self.decode_small::<4, { levels_per_chunk(4) }>(key, point),
            _ => None,
        };
        if decoded.is_none() {
            let index = key >> (KEY_BITS - self.key_bits_used());
            decode_bit_by_bit(index, self.bits_per_dim, point);
        }
        debug_assert!(self.check_point(point).is_ok());
        Ok(())
    }

    /// The table-driven decode into a 2..=4-dimensional point (`None` if `point` or the table
    /// does not fit `DIMS`, which the caller and `Curve::new` rule out).
    fn decode_small<const DIMS: usize, const LEVELS: usize>(
        &self,
        key: u128,
        point: &mut [u32],
    ) -> Option<()> {
        let point = <&mut [u32; DIMS]>::try_from(point).ok()?;
        let table = level_table(self.dims)?;
        // The tables read exactly `bits_per_dim` digits from the top: low unused bits are ignored.
        let morton = table.decode::<DIMS, LEVELS>(self.bits_per_dim, key);
        deinterleave_small::<DIMS>(morton, self.bits_per_dim, point);
        Some(())
    }
}

/// The inverse of `Curve::encode_bit_by_bit`.
fn decode_bit_by_bit(index: u128, bits_per_dim: u32, point: &mut [u32]) {
    deinterleave(index, bits_per_dim, point);
    transpose_to_axes(point, bits_per_dim);
}

/// Skilling's `AxestoTranspose`: coordinates in, transposed Hilbert index out (in place).
///
/// The branches of the original are written as masks: the direction bits are data dependent
/// and mispredict about half the time.
fn axes_to_transpose(words: &mut [u32], bits_per_dim: u32) {
    debug_assert!(!words.is_empty() && (1..=BITS_PER_DIM_MAX).contains(&bits_per_dim));
    if words.is_empty() {
        return;
    }
    // Inverse undo, from the top bit down: bit q of every word is final once step q is done.
    for level in (1..bits_per_dim).rev() {
        let q = 1_u32 << level;
        let p = q - 1;
        // Word 0 only ever inverts its own low bits.
        words[0] ^= p & bit_mask(words[0] & q);
        for index in 1..words.len() {
            let (word_0, word_i) = (words[0], words[index]);
            let invert = bit_mask(word_i & q);
            let exchange = (word_0 ^ word_i) & p & !invert;
            words[0] = word_0 ^ (p & invert) ^ exchange;
            words[index] = word_i ^ exchange;
        }
    }
    // Gray encode.
    for index in 1..words.len() {
        words[index] ^= words[index - 1];
    }
    let mut flip = 0_u32;
    let last = words[words.len() - 1];
    for level in (1..bits_per_dim).rev() {
        let q = 1_u32 << level;
        flip ^= (q - 1) & bit_mask(last & q);
    }
    for word in words.iter_mut() {
        *word ^= flip;
    }
}

/// Skilling's `TransposetoAxes`: transposed Hilbert index in, coordinates out (in place).
fn transpose_to_axes(words: &mut [u32], bits_per_dim: u32) {
    debug_assert!(!words.is_empty() && (1..=BITS_PER_DIM_MAX).contains(&bits_per_dim));
    if words.is_empty() {
        return;
    }
    // Gray decode by H ^ (H / 2).
    let flip = words[words.len() - 1] >> 1;
    for index in (1..words.len()).rev() {
        words[index] ^= words[index - 1];
    }
    words[0] ^= flip;
    // Undo excess work, from bit 1 up.
    for level in 1..bits_per_dim {
        let q = 1_u32 << level;
        let p = q - 1;
        for index in (1..words.len()).rev() {
            let (word_0, word_i) = (words[0], words[index]);
            let invert = bit_mask(word_i & q);
            let exchange = (word_0 ^ word_i) & p & !invert;
            words[0] = word_0 ^ (p & invert) ^ exchange;
            words[index] = word_i ^ exchange;
        }
        words[0] ^= p & bit_mask(words[0] & q);
    }
}

/// All ones when `bit` is non-zero, else zero.
fn bit_mask(bit: u32) -> u32 {
    0_u32.wrapping_sub(u32::from(bit != 0))
}

/// Interleaves transposed words into the Hilbert index (not yet top-aligned): bit `j` of word
/// `i` becomes index bit `j * dims + (dims - 1 - i)`.
fn interleave(words: &[u32], bits_per_dim: u32) -> u128 {
    let dims = words.len();
    let stride = &SPREAD_BYTE[dims];
    let byte_count = bits_per_dim.div_ceil(8);
    let mut index = 0_u128;
    for (word_index, &word) in words.iter().enumerate() {
        let mut spread = 0_u128;
        for byte_index in 0..byte_count {
            let byte = (word >> (8 * byte_index)) & 0xff;
            // The shift is below bits_per_dim * dims <= 128: byte_index * 8 < bits_per_dim.
            spread |= stride[byte as usize] << (8 * byte_index as usize * dims);
        }
        index |= spread << (dims - 1 - word_index);
    }
    index
}

/// `BYTE_LANES[b]`: bit `7 - j` of `b` moved to bit `8 * j`, the bottom of byte lane `j`.
/// Deinterleaving reads the bits of 8 words of one level with one look-up.
static BYTE_LANES: [u64; 256] = byte_lanes_table();

const fn byte_lanes_table() -> [u64; 256] {
    let mut table = [0_u64; 256];
    let mut value = 0;
    while value < 256 {
        let mut lane = 0;
        while lane < 8 {
            if (value >> (7 - lane)) & 1 == 1 {
                table[value] |= 1 << (8 * lane);
            }
            lane += 1;
        }
        value += 1;
    }
    table
}

/// The inverse of `interleave`: gathers every `dims`-th bit of `index` into `words`.
///
/// Reads the index one level (one `dims`-bit digit, word 0 on top) at a time from the top, in
/// blocks of up to 8 levels: each level shifts two `u64`s of 8 byte lanes (words 0..8 and
/// 8..16) left by one and ors in the digit's bits through `BYTE_LANES`; after a block each
/// lane holds that block's bits of one word.
fn deinterleave(index: u128, bits_per_dim: u32, words: &mut [u32]) {
    let dims = words.len();
    debug_assert!((1..=DIMS_MAX_USIZE).contains(&dims));
    let bits_used = dims * bits_per_dim as usize;
    debug_assert!((1..=KEY_BITS as usize).contains(&bits_used));
    if let [word] = words {
        // One dimension: the index is the coordinate.
        *word = u32::try_from(index).unwrap_or(u32::MAX);
        return;
    }
    let mut rest = index << (KEY_BITS as usize - bits_used);
    words.fill(0);
    let mut level = 0;
    while level < bits_per_dim {
        let block = (bits_per_dim - level).min(8);
        let mut lanes = [0_u64; 2];
        for _ in 0..block {
            // The digit, padded so word 0 is bit 15: at most 16 bits remain after the shift.
            let digit = u16::try_from(rest >> (KEY_BITS as usize - dims)).unwrap_or(0);
            rest <<= dims;
            let padded = usize::from(digit << (DIMS_MAX_USIZE - dims));
            lanes[0] = (lanes[0] << 1) | BYTE_LANES[padded >> 8];
            lanes[1] = (lanes[1] << 1) | BYTE_LANES[padded & 0xff];
        }
        for (word_index, word) in words.iter_mut().enumerate() {
            let lane = lanes[word_index / 8] >> (8 * (word_index % 8));
            *word = (*word << block) | u32::from(lane.to_le_bytes()[0]);
        }
        level += block;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: the 2-D order-1 curve visits the four quadrants in a U, as Skilling's paper draws
    // it. Method: decode keys 0..4 of a 2 x 1-bit curve and compare with the known order.
    #[test]
    fn order_one_curve_is_a_u() {
        let curve = Curve::new(2, 1).unwrap();
        let mut order = Vec::new();
        for index in 0_u128..4 {
            let mut point = [0; 2];
            curve.decode(index << 126, &mut point).unwrap();
            order.push(point);
        }
        assert_eq!(order, vec![[0, 0], [0, 1], [1, 1], [1, 0]]);
    }

    // Goal: table interleaving equals the definition. Method: compare with a bit-by-bit loop.
    #[test]
    fn interleave_matches_bit_by_bit_definition() {
        let words = [0xdead_beef_u32, 0x1234_5678, 0x0bad_f00d, 0xffff_ffff];
        let mut expected = 0_u128;
        for level in (0..32).rev() {
            for word in words {
                expected = (expected << 1) | u128::from((word >> level) & 1);
            }
        }
        assert_eq!(interleave(&words, 32), expected);
        let mut back = [0_u32; 4];
        deinterleave(expected, 32, &mut back);
        assert_eq!(back, words);
    }

    // Goal: deinterleave inverts interleave for every dims and width, including partial
    // 8-level blocks and 9..=16 dims (two byte-lane words). Method: xorshift words, round trip.
    #[test]
    fn deinterleave_inverts_interleave_every_shape() {
        let mut state = 0x0123_4567_89ab_cdef_u64;
        for dims in 1..=16_usize {
            for bits in 1..=(128 / u32::try_from(dims).unwrap()).min(32) {
                let mut words = [0_u32; 16];
                for word in words.iter_mut().take(dims) {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    *word = u32::try_from(state >> 32).unwrap() & (u32::MAX >> (32 - bits));
                }
                let index = interleave(&words[..dims], bits);
                let mut back = [0_u32; 16];
                deinterleave(index, bits, &mut back[..dims]);
                assert_eq!(back, words, "{dims}x{bits}");
            }
        }
    }

    // Goal: the table-driven path gives the same keys as Skilling's transform as written.
    // Method: random points (a fixed xorshift stream) of every table shape, both directions.
    #[test]
    fn level_tables_match_bit_by_bit_transform() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for dims in 1..=4 {
            for bits in 1..=32 {
                let curve = Curve::new(dims, bits).unwrap();
                for _ in 0..200 {
                    let mut point = [0_u32; 4];
                    for coordinate in point.iter_mut().take(dims as usize) {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        *coordinate = u32::try_from(state >> 32).unwrap() & curve.coordinate_max();
                    }
                    let point = &point[..dims as usize];
                    let index = curve.encode_bit_by_bit(point);
                    assert_eq!(curve.encode(point).unwrap() >> (128 - dims * bits), index);
                    let mut decoded = [0_u32; 4];
                    curve
                        .decode(index << (128 - dims * bits), &mut decoded[..dims as usize])
                        .unwrap();
                    assert_eq!(&decoded[..dims as usize], point, "{dims}x{bits}");
                    let mut reference = [0_u32; 4];
                    decode_bit_by_bit(index, bits, &mut reference[..dims as usize]);
                    assert_eq!(reference, decoded);
                }
            }
        }
    }

    /// Skilling's `AxestoTranspose` exactly as the paper writes it (branches, no masks), then
    /// the index read bit by bit: an independent reference for every path.
    fn skilling_reference(point: &[u32], bits_per_dim: u32) -> u128 {
        let mut x = point.to_vec();
        let n = x.len();
        let m = 1_u32 << (bits_per_dim - 1);
        let mut q = m;
        while q > 1 {
            let p = q - 1;
            for i in 0..n {
                if x[i] & q != 0 {
                    x[0] ^= p;
                } else {
                    let t = (x[0] ^ x[i]) & p;
                    x[0] ^= t;
                    x[i] ^= t;
                }
            }
            q >>= 1;
        }
        for i in 1..n {
            x[i] ^= x[i - 1];
        }
        let mut t = 0;
        let mut q = m;
        while q > 1 {
            if x[n - 1] & q != 0 {
                t ^= q - 1;
            }
            q >>= 1;
        }
        for word in &mut x {
            *word ^= t;
        }
        let mut index = 0_u128;
        for level in (0..bits_per_dim).rev() {
            for word in &x {
                index = (index << 1) | u128::from((word >> level) & 1);
            }
        }
        index
    }

    // Goal: every shape's keys equal Skilling's transform as published, so no persisted key
    // changes with the speed work. Method: random points (xorshift, plus the all-max corner)
    // of every valid shape, encoded and decoded, against `skilling_reference`.
    #[test]
    fn every_shape_matches_published_transform() {
        let mut state = 0x5851_f42d_4c95_7f2d_u64;
        for dims in 1..=DIMS_MAX {
            for bits in 1..=BITS_PER_DIM_MAX.min(KEY_BITS / dims) {
                let curve = Curve::new(dims, bits).unwrap();
                for round in 0..40 {
                    let mut point = [0_u32; DIMS_MAX_USIZE];
                    for coordinate in point.iter_mut().take(dims as usize) {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        *coordinate = u32::try_from(state >> 32).unwrap() & curve.coordinate_max();
                        if round == 0 {
                            *coordinate = curve.coordinate_max();
                        }
                    }
                    let point = &point[..dims as usize];
                    let key = curve.encode(point).unwrap();
                    let expected = skilling_reference(point, bits) << (128 - dims * bits);
                    assert_eq!(key, expected, "{dims}x{bits} {point:?}");
                    let mut decoded = [0_u32; DIMS_MAX_USIZE];
                    curve.decode(key, &mut decoded[..dims as usize]).unwrap();
                    assert_eq!(&decoded[..dims as usize], point, "{dims}x{bits}");
                }
            }
        }
    }

    // Goal: the shape limits are enforced. Method: probe each boundary on both sides.
    #[test]
    fn shape_limits() {
        assert!(Curve::new(1, 1).is_ok());
        assert!(Curve::new(16, 8).is_ok());
        assert!(Curve::new(4, 32).is_ok());
        for (dims, bits) in [(0, 8), (17, 1), (2, 0), (1, 33), (5, 26), (16, 9)] {
            let error = Curve::new(dims, bits).unwrap_err();
            assert!(
                matches!(error, KeyspaceError::InvalidShape { .. }),
                "{dims}x{bits}"
            );
        }
    }
}
