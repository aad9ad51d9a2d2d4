//! Skilling's transform for 2..=4 dimensions as a per-level state machine, one table look-up
//! per level instead of `dims` data-dependent steps.
//!
//! Skilling's `AxestoTranspose` (see `curve.rs`) at bit `q` reads bit `q` of every (already
//! transformed) word, then inverts or exchanges the words' bits *below* `q`. Composed over the
//! levels above, those inverts and exchanges are a signed permutation of the words: lower bit
//! `j` of word `i` is original bit `j` of word `source[i]`, inverted when bit `i` of `invert`
//! is set. That signed permutation is the state. Per level, the table maps (state, the
//! original coordinate bits of that level) to (the digit after Skilling's Gray step, the next
//! state). Skilling's last step then inverts a level's digit when the digits above it hold an
//! odd number of set low bits (word `dims - 1`); the callers carry that parity bit.
//!
//! Invariants: for `dims` in 2..=4 there are at most `dims! * 2^dims` = 384 states, and
//! `Curve` gives the same keys through this table as through the bit-by-bit transform (a unit
//! test in `curve.rs` compares them on random points of every fast shape).

use super::curve::KEY_BITS;

/// Most states of a 4-dimensional table (4! orders x 2^4 inversions).
const STATE_COUNT_MAX: usize = 384;
/// Most digits of a level (2^4).
const DIGIT_COUNT_MAX: usize = 16;
/// The largest `dims` served by a table.
pub(super) const TABLE_DIMS_MAX: u32 = 4;
/// Entries pack `next_state << DIGIT_BITS | digit`.
const DIGIT_BITS: u32 = 4;

/// A signed permutation of the words of one level: see the module doc.
#[derive(Clone, Copy, PartialEq, Eq)]
struct WordMap {
    source: [u8; 4],
    invert: u8,
}

impl WordMap {
    const IDENTITY: WordMap = WordMap {
        source: [0, 1, 2, 3],
        invert: 0,
    };

    /// The transformed digit of a level: bit `dims-1-i` is word `i`'s bit (word 0 on top).
    fn apply(self, dims: u32, original: u32) -> u32 {
        let mut transformed = 0;
        for word in 0..dims {
            let source = u32::from(self.source[word as usize]);
            let bit =
                ((original >> (dims - 1 - source)) & 1) ^ u32::from((self.invert >> word) & 1);
            transformed |= bit << (dims - 1 - word);
        }
        transformed
    }

    /// The map for the levels below, after this level's inverts and exchanges.
    fn then_level(self, dims: u32, transformed: u32) -> WordMap {
        let mut next = self;
        for word in 0..dims as usize {
            if (transformed >> (dims as usize - 1 - word)) & 1 == 1 {
                next.invert ^= 1;
            } else {
                next.source.swap(0, word);
                let (bit_0, bit_word) = (next.invert & 1, (next.invert >> word) & 1);
                next.invert &= !(1 | (1 << word));
                next.invert |= bit_word | (bit_0 << word);
            }
        }
        next
    }
}

/// The encode and decode tables of one `dims`.
pub(super) struct LevelTable {
    /// `[state][original digit]` -> `next_state << 4 | gray digit`.
    encode: [[u16; DIGIT_COUNT_MAX]; STATE_COUNT_MAX],
    /// `[state][gray digit]` -> `next_state << 4 | original digit`.
    decode: [[u16; DIGIT_COUNT_MAX]; STATE_COUNT_MAX],
}

impl LevelTable {
    /// Builds the table by walking every state reachable from the identity.
    fn build(dims: u32) -> LevelTable {
        assert!((2..=TABLE_DIMS_MAX).contains(&dims));
        let mut table = LevelTable {
            encode: [[0; DIGIT_COUNT_MAX]; STATE_COUNT_MAX],
            decode: [[0; DIGIT_COUNT_MAX]; STATE_COUNT_MAX],
        };
        let mut states = [WordMap::IDENTITY; STATE_COUNT_MAX];
        let mut state_count = 1;
        let mut state = 0;
        while state < state_count {
            for original in 0..1_u32 << dims {
                let transformed = states[state].apply(dims, original);
                let next_map = states[state].then_level(dims, transformed);
                let next = match states[..state_count].iter().position(|&m| m == next_map) {
                    Some(next) => next,
                    None => {
                        assert!(state_count < STATE_COUNT_MAX, "a signed permutation is new");
                        states[state_count] = next_map;
                        state_count += 1;
                        state_count - 1
                    }
                };
                // Skilling's `X[i] ^= X[i-1]` runs upwards over already updated words: each
                // word becomes the xor of the words above it and itself (a prefix xor).
                let gray = transformed ^ (transformed >> 1);
                let gray = gray ^ (gray >> 2);
                let next_bits = u16::try_from(next << DIGIT_BITS).unwrap_or(u16::MAX);
                table.encode[state][original as usize] = next_bits | digit_u16(gray);
                table.decode[state][gray as usize] = next_bits | digit_u16(original);
            }
            state += 1;
        }
        table
    }

    /// The Hilbert index, top-aligned, of the point whose coordinates interleaved bit by bit
    /// (word 0 on top, as `curve::interleave` does) and top-aligned are `morton`.
    ///
    /// `DIMS` is a constant so that every shift is by a constant: a `u128` shift by a variable
    /// costs a branch-free sequence of five instructions, by a constant two.
    pub(super) fn encode<const DIMS: u32>(&self, bits_per_dim: u32, morton: u128) -> u128 {
        debug_assert!((2..=TABLE_DIMS_MAX).contains(&DIMS));
        let digit_mask = (1_u32 << DIMS) - 1;
        let (mut state, mut parity, mut index, mut morton) = (0_usize, 0_u32, 0_u128, morton);
        for _ in 0..bits_per_dim {
            let original = top_digit::<DIMS>(morton);
            morton <<= DIMS;
            let entry = self.encode[state][original as usize];
            state = usize::from(entry >> DIGIT_BITS);
            let gray = u32::from(entry) & digit_mask;
            index = (index << DIMS) | u128::from(gray ^ (digit_mask & parity.wrapping_neg()));
            parity ^= gray & 1;
        }
        index << (KEY_BITS - DIMS * bits_per_dim)
    }

    /// The inverse of `encode`: the coordinates of top-aligned key `key`, as 32-bit lanes of a
    /// `u128` (coordinate `i` in bits `32 * i ..`).
    pub(super) fn decode<const DIMS: u32>(&self, bits_per_dim: u32, key: u128) -> u128 {
        debug_assert!((2..=TABLE_DIMS_MAX).contains(&DIMS));
        let digit_mask = (1_u32 << DIMS) - 1;
        let lanes_of_digit = &LANES_OF_DIGIT[DIMS as usize];
        let (mut state, mut parity, mut lanes, mut key) = (0_usize, 0_u32, 0_u128, key);
        for _ in 0..bits_per_dim {
            let digit = top_digit::<DIMS>(key);
            key <<= DIMS;
            let gray = digit ^ (digit_mask & parity.wrapping_neg());
            parity ^= gray & 1;
            let entry = self.decode[state][gray as usize];
            state = usize::from(entry >> DIGIT_BITS);
            lanes = (lanes << 1) | lanes_of_digit[usize::from(entry & 0xf)];
        }
        lanes
    }
}

/// The top `DIMS` bits of `value`.
#[expect(
    clippy::cast_possible_truncation,
    reason = "at most 4 bits remain after the shift"
)]
fn top_digit<const DIMS: u32>(value: u128) -> u32 {
    (value >> (KEY_BITS - DIMS)) as u32
}

/// `LANES_OF_DIGIT[dims][digit]`: bit `dims-1-i` of `digit` moved to bit `32 * i`.
static LANES_OF_DIGIT: [[u128; DIGIT_COUNT_MAX]; TABLE_DIMS_MAX as usize + 1] = lanes_table();

const fn lanes_table() -> [[u128; DIGIT_COUNT_MAX]; TABLE_DIMS_MAX as usize + 1] {
    let mut table = [[0; DIGIT_COUNT_MAX]; TABLE_DIMS_MAX as usize + 1];
    let mut dims = 1;
    while dims <= TABLE_DIMS_MAX as usize {
        let mut digit = 0;
        while digit < 1 << dims {
            let mut word = 0;
            while word < dims {
                if (digit >> (dims - 1 - word)) & 1 == 1 {
                    table[dims][digit] |= 1 << (32 * word);
                }
                word += 1;
            }
            digit += 1;
        }
        dims += 1;
    }
    table
}

fn digit_u16(digit: u32) -> u16 {
    debug_assert!(digit < 16);
    u16::try_from(digit & 0xf).unwrap_or(0)
}

/// The table for `dims` in 2..=4, built once on first use; `None` for other dims.
pub(super) fn level_table(dims: u32) -> Option<&'static LevelTable> {
    static TABLES: [std::sync::OnceLock<LevelTable>; 3] = [
        std::sync::OnceLock::new(),
        std::sync::OnceLock::new(),
        std::sync::OnceLock::new(),
    ];
    let slot = TABLES.get(usize::try_from(dims.checked_sub(2)?).ok()?)?;
    Some(slot.get_or_init(|| LevelTable::build(dims)))
}
