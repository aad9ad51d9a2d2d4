//! Skilling's transform for 2..=4 dimensions as a state machine that reads several levels per
//! table look-up.
//!
//! Skilling's `AxestoTranspose` (see `curve.rs`) at bit `q` reads bit `q` of every (already
//! transformed) word, then inverts or exchanges the words' bits *below* `q`. Composed over the
//! levels above, those inverts and exchanges are a signed permutation of the words: lower bit
//! `j` of word `i` is original bit `j` of word `source[i]`, inverted when bit `i` of `invert`
//! is set. Skilling's last step then inverts a level's digit when the digits above it hold an
//! odd number of set low bits (word `dims - 1`). A state is (signed permutation, that parity):
//! per level it maps the original coordinate bits of the level (a digit, word 0 on top) to the
//! key digit and the next state. Of the `2 * dims! * 2^dims` states (16, 96, 768) all are
//! reachable, but many behave alike: merging states with the same outputs and equivalent
//! successors (Moore's partition refinement) leaves 4, 24 and 192.
//!
//! Composing `LEVELS` single-level steps gives a chunk table indexed by (state, `LEVELS`
//! digits): 4 levels of 2-D (1 Ki entries), 3 levels of 3-D (12 Ki) and 2 levels of 4-D
//! (48 Ki). An entry is a `u16` holding `next_state << chunk_bits | output`, so the next
//! look-up index is the entry with its output bits replaced by the next input: the only chain
//! between look-ups is one `and`, one `or` and the load. Random points touch the whole used
//! part: 4-D's 96 KiB lives in L2, which is why 4-D stays slower. Curves whose `bits_per_dim` is not a
//! multiple of `LEVELS` read their top `bits_per_dim % LEVELS` levels through the single-level
//! table first. Decoding walks the inverse tables (each state's map is a bijection of digits).
//!
//! Invariants: entries fit a `u16` (checked when a table is built), state 0 is Skilling's
//! start, and `Curve` gives the same keys through these tables as through the bit-by-bit
//! transform (unit tests in `curve.rs` compare them on random points of every fast shape).
//! Tables are built once per `dims`, on first use (the only allocation of this module): four
//! tables of `2^16` `u16` entries (128 KiB each; only 0.1 to 96 KiB of each is used and touched
//! on look-ups), so that a `u16` index needs no bounds check. Measured (probe outside the repo,
//! loaded 2-core machine, CPU time): 3-D x 21 encode 137 -> 33 ns, 2-D x 32 169 -> 34 ns,
//! 4-D x 32 216 -> 106 ns; 4-D with 1 level per look-up was slower (116 ns).

use std::collections::HashMap;

use super::curve::KEY_BITS;

/// The largest `dims` served by a table.
pub(super) const TABLE_DIMS_MAX: u32 = 4;

/// The levels per chunk look-up for `dims` 2, 3, 4: chunk tables of 1 Ki, 12 Ki and 48 Ki
/// entries. 3 levels of 4-D would need 192 * 4096 entries and more than 16 bits per entry.
#[must_use]
pub(super) const fn levels_per_chunk(dims: u32) -> usize {
    match dims {
        2 => 4,
        3 => 3,
        _ => 2,
    }
}

/// Entries of every table: all `u16` indexes, so look-ups need no bounds check.
const TABLE_ENTRIES: usize = 1 << 16;

/// A table of `next_state << input_bits | output` entries (see the module doc); the entries
/// past `state_count << input_bits` are unused.
type Table = Box<[u16; TABLE_ENTRIES]>;

/// A signed permutation of the words of one level: see the module doc.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
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

/// A single-level state machine: `next[state][digit]` and `output[state][digit]`.
struct Machine {
    dims: u32,
    next: Vec<Vec<usize>>,
    output: Vec<Vec<u32>>,
}

impl Machine {
    /// Every (signed permutation, parity) state reachable from Skilling's start, state 0.
    fn reachable(dims: u32) -> Machine {
        assert!((2..=TABLE_DIMS_MAX).contains(&dims));
        let digit_mask = (1_u32 << dims) - 1;
        let mut index_of: HashMap<(WordMap, u32), usize> = HashMap::new();
        let mut states = vec![(WordMap::IDENTITY, 0_u32)];
        index_of.insert(states[0], 0);
        let mut machine = Machine {
            dims,
            next: Vec::new(),
            output: Vec::new(),
        };
        let mut state = 0;
        while state < states.len() {
            let (map, parity) = states[state];
            let (mut next_row, mut output_row) = (Vec::new(), Vec::new());
            for original in 0..=digit_mask {
                let transformed = map.apply(dims, original);
                // Skilling's `X[i] ^= X[i-1]` runs upwards over already updated words: each
                // word becomes the xor of the words above it and itself (a prefix xor).
                let gray = transformed ^ (transformed >> 1);
                let gray = gray ^ (gray >> 2);
                output_row.push(gray ^ (digit_mask * parity));
                let successor = (map.then_level(dims, transformed), parity ^ (gray & 1));
                let count = states.len();
                let next = *index_of.entry(successor).or_insert(count);
                if next == count {
                    states.push(successor);
                }
                next_row.push(next);
            }
            machine.next.push(next_row);
            machine.output.push(output_row);
            state += 1;
        }
        machine
    }

    /// The machine with equivalent states merged (Moore's partition refinement), its states
    /// numbered in breadth-first order from the start so the start stays state 0.
    fn minimized(&self) -> Machine {
        let mut class = classes_of(
            self.output
                .iter()
                .map(|row| row.iter().map(|&output| output as usize).collect()),
        );
        loop {
            let signatures = (0..self.next.len()).map(|state| {
                let successors = self.next[state].iter().map(|&next| class[next]);
                std::iter::once(class[state]).chain(successors).collect()
            });
            let refined = classes_of(signatures);
            let done = refined.iter().max() == class.iter().max();
            class = refined;
            if done {
                break;
            }
        }
        self.quotient(&class)
    }

    /// The machine over the classes `class[state]`, renumbered breadth first from the start.
    fn quotient(&self, class: &[usize]) -> Machine {
        let class_count = class.iter().max().map_or(0, |&max| max + 1);
        let mut number_of = vec![usize::MAX; class_count];
        let mut representatives = vec![0_usize];
        number_of[class[0]] = 0;
        let mut machine = Machine {
            dims: self.dims,
            next: Vec::new(),
            output: Vec::new(),
        };
        let mut index = 0;
        while index < representatives.len() {
            let state = representatives[index];
            let mut next_row = Vec::new();
            for &next in &self.next[state] {
                if number_of[class[next]] == usize::MAX {
                    number_of[class[next]] = representatives.len();
                    representatives.push(next);
                }
                next_row.push(number_of[class[next]]);
            }
            machine.next.push(next_row);
            machine.output.push(self.output[state].clone());
            index += 1;
        }
        assert_eq!(
            representatives.len(),
            class_count,
            "every class is reachable"
        );
        machine
    }
}

/// Numbers distinct rows in order of first appearance: `result[i]` is row `i`'s class.
fn classes_of(rows: impl Iterator<Item = Vec<usize>>) -> Vec<usize> {
    let mut number_of: HashMap<Vec<usize>, usize> = HashMap::new();
    rows.map(|row| {
        let count = number_of.len();
        *number_of.entry(row).or_insert(count)
    })
    .collect()
}

/// The encode and decode tables of one `dims`: see the module doc for the entry layout.
pub(super) struct LevelTable {
    /// `[state << dims | original digit]` -> `next_state << dims | key digit`.
    encode_level: Table,
    /// `[state << dims | key digit]` -> `next_state << dims | original digit`.
    decode_level: Table,
    /// `[state << chunk_bits | original chunk]` -> `next_state << chunk_bits | key chunk`.
    encode_chunk: Table,
    /// `[state << chunk_bits | key chunk]` -> `next_state << chunk_bits | original chunk`.
    decode_chunk: Table,
    /// The states of the minimized machine.
    state_count: usize,
}

impl LevelTable {
    /// Builds the tables of `dims` with `levels` levels per chunk.
    fn build(dims: u32, levels: usize) -> LevelTable {
        let machine = Machine::reachable(dims).minimized();
        let state_count = machine.next.len();
        let (encode_level, decode_level) = level_tables(&machine);
        let encode_chunk = chunk_table(&encode_level, dims, levels, state_count);
        let decode_chunk = chunk_table(&decode_level, dims, levels, state_count);
        LevelTable {
            encode_level,
            decode_level,
            encode_chunk,
            decode_chunk,
            state_count,
        }
    }

    /// The states of the minimized machine (4, 24, 192 for 2, 3, 4 dims).
    #[cfg(test)]
    pub(super) fn state_count(&self) -> usize {
        self.state_count
    }

    /// The Hilbert index, top-aligned, of the point whose Morton number (not top-aligned;
    /// coordinate 0 on top at each level, as `morton::interleave_small` makes it) is `morton`.
    ///
    /// `DIMS` and `LEVELS` are constants so that every shift in the walk is by a constant: a
    /// `u128` shift by a variable costs a branch-free sequence of five instructions, by a
    /// constant two. Shapes of at most 64 bits walk a `u64`.
    #[inline]
    pub(super) fn encode<const DIMS: usize, const LEVELS: usize>(
        &self,
        bits_per_dim: u32,
        morton: u128,
    ) -> u128 {
        let bits_used = DIMS * bits_per_dim as usize;
        debug_assert!((1..=KEY_BITS as usize).contains(&bits_used));
        debug_assert!(bits_used == KEY_BITS as usize || morton >> bits_used == 0);
        let (level, chunk) = (&*self.encode_level, &*self.encode_chunk);
        if bits_used <= 64 {
            let input = low_u64(morton) << (64 - bits_used);
            let (index, _) = walk::<u64, DIMS, LEVELS>(level, chunk, bits_per_dim, input);
            return u128::from(index) << (KEY_BITS as usize - bits_used);
        }
        let input = morton << (KEY_BITS as usize - bits_used);
        let (index, _) = walk::<u128, DIMS, LEVELS>(level, chunk, bits_per_dim, input);
        index << (KEY_BITS as usize - bits_used)
    }

    /// The inverse of `encode`: the Morton number (not top-aligned) of the point whose
    /// top-aligned key is `key`. Only the top `DIMS * bits_per_dim` bits of `key` are read.
    #[inline]
    pub(super) fn decode<const DIMS: usize, const LEVELS: usize>(
        &self,
        bits_per_dim: u32,
        key: u128,
    ) -> u128 {
        let bits_used = DIMS * bits_per_dim as usize;
        debug_assert!((1..=KEY_BITS as usize).contains(&bits_used));
        let (level, chunk) = (&*self.decode_level, &*self.decode_chunk);
        let (morton, state) = if bits_used <= 64 {
            let input = low_u64(key >> 64);
            let (morton, state) = walk::<u64, DIMS, LEVELS>(level, chunk, bits_per_dim, input);
            (u128::from(morton), state)
        } else {
            walk::<u128, DIMS, LEVELS>(level, chunk, bits_per_dim, key)
        };
        debug_assert!(usize::from(state) < self.state_count);
        morton
    }
}

/// The unsigned word a walk reads its input from (top-aligned) and builds its output in.
trait Word: Copy {
    /// Zero.
    const ZERO: Self;
    /// The top `count` bits (at most 16) of `self`.
    fn top(self, count: usize) -> u16;
    /// `self` shifted left by `count`.
    fn shifted(self, count: usize) -> Self;
    /// `self` shifted left by `count`, with `low` (below `2^count`) in the freed bits.
    fn shifted_in(self, count: usize, low: u16) -> Self;
}

impl Word for u64 {
    const ZERO: u64 = 0;
    #[expect(clippy::cast_possible_truncation, reason = "count <= 16 bits remain")]
    fn top(self, count: usize) -> u16 {
        debug_assert!(count <= 16);
        (self >> (64 - count)) as u16
    }
    fn shifted(self, count: usize) -> u64 {
        self << count
    }
    fn shifted_in(self, count: usize, low: u16) -> u64 {
        (self << count) | u64::from(low)
    }
}

impl Word for u128 {
    const ZERO: u128 = 0;
    #[expect(clippy::cast_possible_truncation, reason = "count <= 16 bits remain")]
    fn top(self, count: usize) -> u16 {
        debug_assert!(count <= 16);
        (self >> (128 - count)) as u16
    }
    fn shifted(self, count: usize) -> u128 {
        self << count
    }
    fn shifted_in(self, count: usize, low: u16) -> u128 {
        (self << count) | u128::from(low)
    }
}

/// Runs a machine over the top `DIMS * bits_per_dim` bits of `input`: the top
/// `bits_per_dim % LEVELS` levels one at a time through `level`, the rest `LEVELS` at a time
/// through `chunk`. Returns the outputs (not top-aligned) and the final state.
///
/// Indexes are `u16` and the tables `2^16` entries, so the look-ups need no bounds check.
fn walk<W: Word, const DIMS: usize, const LEVELS: usize>(
    level: &[u16; TABLE_ENTRIES],
    chunk: &[u16; TABLE_ENTRIES],
    bits_per_dim: u32,
    input: W,
) -> (W, u16) {
    let chunk_bits = DIMS * LEVELS;
    let (digit_mask, chunk_mask) = ((1_u16 << DIMS) - 1, (1_u16 << chunk_bits) - 1);
    let (mut input, mut output, mut base) = (input, W::ZERO, 0_u16);
    for _ in 0..bits_per_dim as usize % LEVELS {
        let entry = level[usize::from(base | input.top(DIMS))];
        input = input.shifted(DIMS);
        output = output.shifted_in(DIMS, entry & digit_mask);
        base = entry & !digit_mask;
    }
    // Single-level states are `<< DIMS`, chunk states `<< chunk_bits`; both below 2^16.
    base = (base >> DIMS) << chunk_bits;
    for _ in 0..bits_per_dim as usize / LEVELS {
        let entry = chunk[usize::from(base | input.top(chunk_bits))];
        input = input.shifted(chunk_bits);
        output = output.shifted_in(chunk_bits, entry & chunk_mask);
        base = entry & !chunk_mask;
    }
    (output, base >> chunk_bits)
}

/// The low 64 bits of `value`.
#[expect(
    clippy::cast_possible_truncation,
    reason = "takes the low 64 bits on purpose"
)]
fn low_u64(value: u128) -> u64 {
    value as u64
}

/// The single-level encode and decode tables of a machine.
fn level_tables(machine: &Machine) -> (Table, Table) {
    let dims = machine.dims;
    assert!(machine.next.len() << dims <= TABLE_ENTRIES);
    let (mut encode, mut decode) = (
        Box::new([0_u16; TABLE_ENTRIES]),
        Box::new([0; TABLE_ENTRIES]),
    );
    for (state, (next_row, output_row)) in machine.next.iter().zip(&machine.output).enumerate() {
        for (original, (&next, &output)) in next_row.iter().zip(output_row).enumerate() {
            let next_bits = next << dims;
            encode[(state << dims) | original] = entry_u16(next_bits | output as usize);
            decode[(state << dims) | output as usize] = entry_u16(next_bits | original);
        }
    }
    (encode, decode)
}

/// The chunk table of `levels` levels composed from a single-level table (either direction).
fn chunk_table(level: &Table, dims: u32, levels: usize, state_count: usize) -> Table {
    let chunk_bits = dims as usize * levels;
    let digit_mask = (1_usize << dims) - 1;
    assert!(state_count << chunk_bits <= TABLE_ENTRIES);
    let mut table = Box::new([0_u16; TABLE_ENTRIES]);
    for (index, slot) in table.iter_mut().enumerate().take(state_count << chunk_bits) {
        let (mut state, chunk) = (index >> chunk_bits, index & ((1 << chunk_bits) - 1));
        let mut output = 0;
        for step in (0..levels).rev() {
            let digit = (chunk >> (step * dims as usize)) & digit_mask;
            let entry = usize::from(level[(state << dims) | digit]);
            output = (output << dims) | (entry & digit_mask);
            state = entry >> dims;
        }
        *slot = entry_u16((state << chunk_bits) | output);
    }
    table
}

/// A table entry; the tables are sized so every entry fits (asserted: a bug otherwise).
fn entry_u16(entry: usize) -> u16 {
    let fits = u16::try_from(entry);
    assert!(fits.is_ok(), "table entry {entry} does not fit 16 bits");
    fits.unwrap_or(u16::MAX)
}

/// The tables for `dims` in 2..=4, built once on first use; `None` for other dims.
pub(super) fn level_table(dims: u32) -> Option<&'static LevelTable> {
    static TABLES: [std::sync::OnceLock<LevelTable>; 3] = [
        std::sync::OnceLock::new(),
        std::sync::OnceLock::new(),
        std::sync::OnceLock::new(),
    ];
    let slot = TABLES.get(usize::try_from(dims.checked_sub(2)?).ok()?)?;
    Some(slot.get_or_init(|| LevelTable::build(dims, levels_per_chunk(dims))))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: state merging finds the known minimal machines, and the tables fit their budget.
    // Method: build each table and check its state count and sizes.
    #[test]
    fn minimized_state_counts() {
        for (dims, states) in [(2, 4), (3, 24), (4, 192)] {
            let table = level_table(dims).unwrap();
            assert_eq!(table.state_count(), states, "{dims} dims");
            let chunk_bits = dims as usize * levels_per_chunk(dims);
            let used = states << chunk_bits;
            assert!(used <= TABLE_ENTRIES);
            assert!(table.encode_chunk[used..].iter().all(|&entry| entry == 0));
            assert!(
                table.decode_chunk[..used]
                    .iter()
                    .all(|&entry| usize::from(entry) < used)
            );
        }
        assert!(level_table(1).is_none() && level_table(5).is_none());
    }

    // Goal: a chunk look-up equals its levels one at a time, in both directions.
    // Method: for every state and chunk of 3-D, walk the single-level table by hand.
    #[test]
    fn chunk_equals_levels() {
        let table = level_table(3).unwrap();
        for state in 0..table.state_count() {
            for chunk in 0..512_usize {
                let mut walked = state;
                let mut output = 0;
                for digit in [chunk >> 6, (chunk >> 3) & 7, chunk & 7] {
                    let entry = usize::from(table.encode_level[(walked << 3) | digit]);
                    output = (output << 3) | (entry & 7);
                    walked = entry >> 3;
                }
                let entry = usize::from(table.encode_chunk[(state << 9) | chunk]);
                assert_eq!(entry, (walked << 9) | output);
                let back = usize::from(table.decode_chunk[(state << 9) | output]);
                assert_eq!(back, (walked << 9) | chunk);
            }
        }
    }
}
