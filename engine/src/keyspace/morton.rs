//! Bit interleaving (Morton order) for 2..=4 dimensions by magic-number spreads.
//!
//! Owns `interleave_small` and `deinterleave_small`: the Morton number of a point, whose bit
//! `j` of coordinate `i` is Morton bit `j * dims + (dims - 1 - i)` (coordinate 0 on top at
//! every level): the bit order of `curve::interleave`. Interleaving ors one table entry per
//! byte of each coordinate (`BYTE_SPREAD`: fewer instructions than shift-and-mask spreads).
//! Deinterleaving cuts the Morton number into a low part of `LOW_BITS[dims]` levels (32, 21,
//! 16: as many as fill a `u64`) and the high rest, and gathers each coordinate's bits of each
//! part by shifts and masks (magic numbers, no `pext`, no table).
//!
//! Invariants: `deinterleave_small(interleave_small(p)) == p` for every point of up to 32 bits
//! per coordinate, and both agree bit for bit with the definition (unit tests below).

/// Per `dims` (index), the coordinate bits whose spread fills one `u64`.
const LOW_BITS: [u32; 5] = [0, 0, 32, 21, 16];

/// `BYTE_SPREAD[dims][i][v]`: the 8 bits of `v` moved to bits `dims * j + (dims - 1 - i)`, the
/// Morton bits of byte value `v` of coordinate `i` (for `dims` 2..=4; 9 KiB used).
static BYTE_SPREAD: [[[u32; 256]; 4]; 5] = byte_spread_table();

const fn byte_spread_table() -> [[[u32; 256]; 4]; 5] {
    let mut table = [[[0_u32; 256]; 4]; 5];
    let mut dims = 2;
    while dims <= 4 {
        let mut coordinate = 0;
        while coordinate < dims {
            let mut value = 0;
            while value < 256 {
                let mut bit = 0;
                while bit < 8 {
                    if (value >> bit) & 1 == 1 {
                        table[dims][coordinate][value] |= 1 << (dims * bit + dims - 1 - coordinate);
                    }
                    bit += 1;
                }
                value += 1;
            }
            coordinate += 1;
        }
        dims += 1;
    }
    table
}

/// Bits `0, 2, .., 62` of `value` gathered into bits `0..32`.
fn compact_2(value: u64) -> u64 {
    let mut x = value & 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0f0f_0f0f_0f0f_0f0f;
    x = (x | (x >> 4)) & 0x00ff_00ff_00ff_00ff;
    x = (x | (x >> 8)) & 0x0000_ffff_0000_ffff;
    (x | (x >> 16)) & 0xffff_ffff
}

/// Bits `0, 3, .., 60` of `value` gathered into bits `0..21`.
fn compact_3(value: u64) -> u64 {
    let mut x = value & 0x1249_2492_4924_9249;
    x = (x | (x >> 2)) & 0x10c3_0c30_c30c_30c3;
    x = (x | (x >> 4)) & 0x100f_00f0_0f00_f00f;
    x = (x | (x >> 8)) & 0x001f_0000_ff00_00ff;
    x = (x | (x >> 16)) & 0x001f_0000_0000_ffff;
    (x | (x >> 32)) & 0x1f_ffff
}

/// Bits `0, 4, .., 60` of `value` gathered into bits `0..16`.
fn compact_4(value: u64) -> u64 {
    let mut x = value & 0x1111_1111_1111_1111;
    x = (x | (x >> 3)) & 0x0303_0303_0303_0303;
    x = (x | (x >> 6)) & 0x000f_000f_000f_000f;
    x = (x | (x >> 12)) & 0x0000_00ff_0000_00ff;
    (x | (x >> 24)) & 0xffff
}

/// `compact_DIMS`; `DIMS` is a constant, so the match folds away.
fn compact<const DIMS: usize>(value: u64) -> u64 {
    match DIMS {
        2 => compact_2(value),
        3 => compact_3(value),
        _ => compact_4(value),
    }
}

/// The Morton number (not top-aligned) of `point`, whose coordinates have at most
/// `bits_per_dim` bits; `DIMS` is 2, 3 or 4.
#[inline]
pub(super) fn interleave_small<const DIMS: usize>(point: &[u32; DIMS], bits_per_dim: u32) -> u128 {
    debug_assert!((2..=4).contains(&DIMS));
    debug_assert!((1..=32).contains(&bits_per_dim));
    let tables = &BYTE_SPREAD[DIMS];
    // The Morton bits of one byte of every coordinate: 8 levels, 8 * DIMS bits.
    let group = |byte: usize| {
        let bytes = point
            .iter()
            .map(|coordinate| coordinate.to_le_bytes()[byte]);
        bytes.zip(tables).fold(0_u32, |group, (value, table)| {
            group | table[usize::from(value)]
        })
    };
    let group_bits = 8 * DIMS;
    let mut morton = u128::from(group(0));
    if bits_per_dim > 8 {
        morton |= u128::from(group(1)) << group_bits;
    }
    if bits_per_dim > 16 {
        morton |= u128::from(group(2)) << (2 * group_bits);
    }
    if bits_per_dim > 24 {
        morton |= u128::from(group(3)) << (3 * group_bits);
    }
    morton
}

/// The inverse of `interleave_small`: writes the coordinates of Morton number `morton`
/// (`DIMS * bits_per_dim` bits, not top-aligned) into `point`.
#[inline]
pub(super) fn deinterleave_small<const DIMS: usize>(
    morton: u128,
    bits_per_dim: u32,
    point: &mut [u32; DIMS],
) {
    debug_assert!((2..=4).contains(&DIMS));
    debug_assert!(bits_per_dim <= 32);
    let low_bits = LOW_BITS[DIMS];
    let low = low_u64(morton);
    for (index, coordinate) in point.iter_mut().enumerate() {
        *coordinate = low_u32(compact::<DIMS>(low >> (DIMS - 1 - index)));
    }
    if bits_per_dim <= low_bits {
        return;
    }
    let high = low_u64(morton >> (low_bits as usize * DIMS));
    for (index, coordinate) in point.iter_mut().enumerate() {
        *coordinate |= low_u32(compact::<DIMS>(high >> (DIMS - 1 - index)) << low_bits);
    }
}

/// The low 64 bits of `value`.
#[expect(
    clippy::cast_possible_truncation,
    reason = "takes the low 64 bits on purpose"
)]
fn low_u64(value: u128) -> u64 {
    value as u64
}

/// The low 32 bits of `value`: a compacted coordinate, which has at most 32 bits.
#[expect(
    clippy::cast_possible_truncation,
    reason = "a compacted coordinate has at most 32 bits"
)]
fn low_u32(value: u64) -> u32 {
    debug_assert!(value <= u64::from(u32::MAX));
    value as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Morton number by its definition, one bit at a time.
    fn interleave_by_definition(point: &[u32], bits_per_dim: u32) -> u128 {
        let dims = point.len();
        let mut morton = 0_u128;
        for level in (0..bits_per_dim).rev() {
            for &coordinate in point {
                morton = (morton << 1) | u128::from((coordinate >> level) & 1);
            }
        }
        debug_assert!(dims <= 4);
        morton
    }

    fn check<const DIMS: usize>(point: [u32; DIMS], bits_per_dim: u32) {
        let morton = interleave_small::<DIMS>(&point, bits_per_dim);
        assert_eq!(morton, interleave_by_definition(&point, bits_per_dim));
        let mut back = [0_u32; DIMS];
        deinterleave_small::<DIMS>(morton, bits_per_dim, &mut back);
        assert_eq!(back, point, "{DIMS}x{bits_per_dim}");
    }

    // Goal: the magic-number spreads equal the definition and invert exactly, at every width.
    // Method: random points (xorshift) masked to each bits_per_dim, for 2, 3 and 4 dims.
    #[test]
    fn spreads_match_definition() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |bits: u32| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            u32::try_from(state >> 32).unwrap() & (u32::MAX >> (32 - bits))
        };
        for bits in 1..=32 {
            for _ in 0..100 {
                check([next(bits), next(bits)], bits);
                check([next(bits), next(bits), next(bits)], bits);
                check([next(bits), next(bits), next(bits), next(bits)], bits);
            }
            let max = u32::MAX >> (32 - bits);
            check([max; 2], bits);
            check([max; 3], bits);
            check([max; 4], bits);
        }
    }
}
