//! Forward scans over damaged logs: after a structure fails to decode, is there a valid one of
//! the same log further on? That is the line between a torn tail (nothing valid follows: the
//! unacknowledged end of the log) and corruption inside acknowledged history (something valid
//! follows: `Error::Corruption`, docs/design.md §3 "Recovery").
//!
//! The scan looks for the structure's magic and tries the decoder at the offset it implies, so
//! it costs one pass over the remaining bytes. Logs are append-only with one write in flight,
//! and each write carries exactly one structure per log (engine invariant: one frame per
//! chain, one edit batch per manifest append), so a torn write can never leave a valid
//! structure after a damaged one.
//!
//! When nothing valid follows, the last structure may still be damaged rather than torn. Two
//! helpers tell them apart for files whose bytes past the old end were never written (zeros or
//! past EOF) before the append, the manifest's case (see `manifest.rs`):
//! - [`unwritten_sectors`]: the parts of a structure's extent, one per 512-byte sector
//!   ([`uring_io::SECTOR_BYTES`], the unit a torn write keeps or loses whole), that hold only
//!   zeros or lie past EOF. A torn write leaves at least one; a bit flip in a written
//!   structure leaves none, unless the structure itself holds only zeros in one sector.
//! - [`one_bit_repair`]: whether changing one bit outside those parts makes the structure
//!   decode. A torn write only loses whole sectors, and the parts it lost read as zeros, so a
//!   repair at a written byte proves a bit flip (short of a 64-bit checksum collision).

use std::ops::Range;

/// The offset of the first position at or after `from` where `decodes` accepts the bytes
/// starting `magic_offset` before an occurrence of `magic`.
pub(crate) fn find_valid_after(
    bytes: &[u8],
    from: usize,
    magic: [u8; 4],
    magic_offset: usize,
    decodes: impl Fn(&[u8]) -> bool,
) -> Option<usize> {
    let search_start = from.checked_add(magic_offset)?;
    let tail = bytes.get(search_start..)?;
    tail.windows(4)
        .enumerate()
        .filter(|(_, window)| *window == magic)
        .map(|(index, _)| search_start + index - magic_offset)
        .find(|&candidate| bytes.get(candidate..).is_some_and(&decodes))
}

/// The parts of `extent` (offsets into `bytes`, which start at file offset 0), one per
/// `sector_bytes`-aligned sector it touches, that are all zero or reach past the end of
/// `bytes`: the parts a torn write may have left unwritten.
pub(crate) fn unwritten_sectors(
    bytes: &[u8],
    extent: Range<usize>,
    sector_bytes: usize,
) -> Vec<Range<usize>> {
    assert!(sector_bytes > 0, "sector size must be positive");
    debug_assert!(extent.start <= extent.end);
    let mut unwritten = Vec::new();
    let mut start = extent.start;
    while start < extent.end {
        let sector_end = (start / sector_bytes + 1) * sector_bytes;
        let end = sector_end.min(extent.end);
        debug_assert!(start < end);
        let zero_or_missing = bytes
            .get(start..end)
            .is_none_or(|part| part.iter().all(|&byte| byte == 0));
        if zero_or_missing {
            unwritten.push(start..end);
        }
        start = end;
    }
    unwritten
}

/// The offset of the first byte of `extent` outside every range of `unwritten` at which
/// flipping one bit makes `decodes` accept the extent's bytes; `None` if no such bit exists
/// or `extent` reaches past the end of `bytes`. Costs `8 × len` calls of `decodes`: callers
/// bound the extent.
pub(crate) fn one_bit_repair(
    bytes: &[u8],
    extent: Range<usize>,
    unwritten: &[Range<usize>],
    decodes: impl Fn(&[u8]) -> bool,
) -> Option<usize> {
    let mut candidate = bytes.get(extent.clone())?.to_vec();
    debug_assert!(!decodes(&candidate), "only damaged structures are repaired");
    for index in 0..candidate.len() {
        let offset = extent.start + index;
        if unwritten.iter().any(|part| part.contains(&offset)) {
            continue;
        }
        for bit in 0..8 {
            candidate[index] ^= 1 << bit;
            let repaired = decodes(&candidate);
            candidate[index] ^= 1 << bit;
            if repaired {
                return Some(offset);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_only_structures_the_decoder_accepts() {
        // Goal: magic hits that do not decode are skipped. Method: two hits, one accepted.
        let mut bytes = vec![0_u8; 64];
        bytes[10..14].copy_from_slice(b"IDBF");
        bytes[40..44].copy_from_slice(b"IDBF");
        bytes[38] = 1;
        let found = find_valid_after(&bytes, 0, *b"IDBF", 2, |candidate| candidate[0] == 1);
        assert_eq!(found, Some(38));
        assert_eq!(find_valid_after(&bytes, 39, *b"IDBF", 2, |_| true), None);
    }

    #[test]
    fn unwritten_sectors_are_zero_or_missing_parts_of_the_extent() {
        // Goal: each touched sector is judged on the extent's bytes only, and bytes past the
        // end count as unwritten. Method: 16-byte "sectors"; a zero part, a part holding a
        // non-zero byte, a zero part outside the extent, and an extent past the end.
        let mut bytes = vec![0_u8; 48];
        bytes[3] = 1; // sector 0, before the extent: ignored
        bytes[20] = 9; // sector 1: written
        assert_eq!(unwritten_sectors(&bytes, 4..40, 16), vec![4..16, 32..40]);
        assert_eq!(
            unwritten_sectors(&bytes, 18..24, 16),
            Vec::<Range<usize>>::new()
        );
        assert_eq!(unwritten_sectors(&bytes, 40..60, 16), vec![40..48, 48..60]);
        assert_eq!(
            unwritten_sectors(&bytes, 5..5, 16),
            Vec::<Range<usize>>::new()
        );
    }

    #[test]
    fn one_bit_repair_skips_unwritten_parts() {
        // Goal: a repair is found only at a byte outside the unwritten parts. Method: the
        // "decoder" accepts exactly bytes [1, 0, 0, 2]; damage byte 0 or byte 3 and try.
        let accepts = |candidate: &[u8]| candidate == [1, 0, 0, 2];
        let (last_byte, first_three): (Range<usize>, Range<usize>) = (3..4, 0..3);
        let flipped = [1, 0, 0, 3];
        assert_eq!(one_bit_repair(&flipped, 0..4, &[], accepts), Some(3));
        assert_eq!(
            one_bit_repair(&flipped, 0..4, std::slice::from_ref(&last_byte), accepts),
            None
        );
        let torn = [0, 0, 0, 2];
        assert_eq!(
            one_bit_repair(&torn, 0..4, std::slice::from_ref(&first_three), accepts),
            None
        );
        assert_eq!(one_bit_repair(&torn, 0..5, &[], accepts), None);
    }
}
