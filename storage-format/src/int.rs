//! Fixed-width little-endian reads and writes, and the only integer conversions of the crate.
//!
//! Owns: every `from_le_bytes`/`to_le_bytes` and every width change between `usize` and the
//! on-disk widths (`u32`, `u64`). Invariant: reads never index out of bounds (they return
//! `None`), writes into fixed-size arrays are checked at compile time or asserted, and no
//! conversion truncates silently (`docs/format.md`, "Conventions").

/// Reads `N` bytes at `offset`, or `None` when the slice is too short.
pub(crate) fn read_array<const N: usize>(bytes: &[u8], offset: usize) -> Option<[u8; N]> {
    let end = offset.checked_add(N)?;
    let slice = bytes.get(offset..end)?;
    <[u8; N]>::try_from(slice).ok()
}

/// Reads a little-endian `u8` at `offset`.
pub(crate) fn read_u8(bytes: &[u8], offset: usize) -> Option<u8> {
    bytes.get(offset).copied()
}

/// Reads a little-endian `u16` at `offset`.
pub(crate) fn read_u16(bytes: &[u8], offset: usize) -> Option<u16> {
    read_array(bytes, offset).map(u16::from_le_bytes)
}

/// Reads a little-endian `u32` at `offset`.
pub(crate) fn read_u32(bytes: &[u8], offset: usize) -> Option<u32> {
    read_array(bytes, offset).map(u32::from_le_bytes)
}

/// Reads a little-endian `u64` at `offset`.
pub(crate) fn read_u64(bytes: &[u8], offset: usize) -> Option<u64> {
    read_array(bytes, offset).map(u64::from_le_bytes)
}

/// Reads a little-endian `u128` at `offset`.
pub(crate) fn read_u128(bytes: &[u8], offset: usize) -> Option<u128> {
    read_array(bytes, offset).map(u128::from_le_bytes)
}

/// Copies `value` into `out` at `offset`.
///
/// Encoders size `out` before writing, so a short `out` is a bug in this crate: asserted.
pub(crate) fn write_bytes(out: &mut [u8], offset: usize, value: &[u8]) {
    let end = offset.checked_add(value.len());
    let target = end.and_then(|end| out.get_mut(offset..end));
    assert!(
        target.is_some(),
        "encoder wrote past its buffer at offset {offset}"
    );
    if let Some(target) = target {
        target.copy_from_slice(value);
    }
}

/// Writes a little-endian `u8` at `offset`.
pub(crate) fn write_u8(out: &mut [u8], offset: usize, value: u8) {
    write_bytes(out, offset, &[value]);
}

/// Writes a little-endian `u16` at `offset`.
pub(crate) fn write_u16(out: &mut [u8], offset: usize, value: u16) {
    write_bytes(out, offset, &value.to_le_bytes());
}

/// Writes a little-endian `u32` at `offset`.
pub(crate) fn write_u32(out: &mut [u8], offset: usize, value: u32) {
    write_bytes(out, offset, &value.to_le_bytes());
}

/// Writes a little-endian `u64` at `offset`.
pub(crate) fn write_u64(out: &mut [u8], offset: usize, value: u64) {
    write_bytes(out, offset, &value.to_le_bytes());
}

/// Writes a little-endian `u128` at `offset`.
pub(crate) fn write_u128(out: &mut [u8], offset: usize, value: u128) {
    write_bytes(out, offset, &value.to_le_bytes());
}

/// `usize` → `u64`; lossless on every target Rust supports with 64-bit or smaller pointers.
pub(crate) fn u64_from_usize(value: usize) -> u64 {
    // A usize wider than 64 bits does not exist on any supported target; saturate rather
    // than panic should one appear.
    u64::try_from(value).unwrap_or(u64::MAX)
}

/// `u32` → `usize`; lossless on the 32- and 64-bit targets this crate supports.
pub(crate) fn usize_from_u32(value: u32) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

/// `u64` → `usize`, `None` when it does not fit (a 32-bit target reading a huge length).
pub(crate) fn usize_from_u64(value: u64) -> Option<usize> {
    usize::try_from(value).ok()
}

/// `usize` → `u32`, `None` when it does not fit.
pub(crate) fn u32_from_usize(value: usize) -> Option<u32> {
    u32::try_from(value).ok()
}

/// The low and high 64 bits of `value`.
pub(crate) fn u64_halves(value: u128) -> (u64, u64) {
    let low = u64::try_from(value & u128::from(u64::MAX)).unwrap_or(0);
    let high = u64::try_from(value >> 64).unwrap_or(0);
    (low, high)
}

/// True when every byte of `bytes` is zero (an unwritten or zero-padded region).
pub(crate) fn is_all_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|&byte| byte == 0)
}

/// `u128` from a `usize` for error reports.
pub(crate) fn u128_from_usize(value: usize) -> u128 {
    u128::from(u64_from_usize(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_little_endian_and_bounded() {
        // Goal: reads decode little-endian and return None past the end. Method: known bytes.
        let bytes = [1_u8, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(read_u16(&bytes, 0), Some(0x0201));
        assert_eq!(read_u32(&bytes, 4), Some(0x0807_0605));
        assert_eq!(read_u64(&bytes, 0), Some(0x0807_0605_0403_0201));
        assert_eq!(read_u64(&bytes, 1), None);
        assert_eq!(read_u32(&bytes, usize::MAX), None);
        assert_eq!(read_u8(&bytes, 8), None);
        assert_eq!(u64_halves((7 << 64) | 9), (9, 7));
        assert_eq!(u64_halves(u128::MAX), (u64::MAX, u64::MAX));
    }

    #[test]
    fn writes_round_trip() {
        // Goal: every write is read back unchanged. Method: write then read each width.
        let mut out = [0_u8; 32];
        write_u128(&mut out, 0, u128::MAX - 7);
        write_u64(&mut out, 16, 42);
        write_u32(&mut out, 24, 7);
        write_u16(&mut out, 28, 9);
        write_u8(&mut out, 30, 3);
        assert_eq!(read_u128(&out, 0), Some(u128::MAX - 7));
        assert_eq!(read_u64(&out, 16), Some(42));
        assert_eq!(read_u32(&out, 24), Some(7));
        assert_eq!(read_u16(&out, 28), Some(9));
        assert_eq!(read_u8(&out, 30), Some(3));
        assert!(!is_all_zero(&out));
        assert!(is_all_zero(&out[31..]));
    }

    #[test]
    #[should_panic(expected = "past its buffer")]
    fn write_past_end_is_a_bug() {
        // Goal: an encoder that undersized its buffer stops loudly. Method: write past the end.
        let mut out = [0_u8; 4];
        write_u64(&mut out, 0, 1);
    }
}
