//! Forward scans over damaged logs: after a structure fails to decode, is there a valid one of
//! the same log further on? That is the line between a torn tail (nothing valid follows: the
//! unacknowledged end of the log) and corruption inside acknowledged history (something valid
//! follows: `Error::Corruption`, DESIGN §3 "Recovery").
//!
//! The scan looks for the structure's magic and tries the decoder at the offset it implies, so
//! it costs one pass over the remaining bytes. Logs are append-only with one write in flight,
//! and each write carries exactly one structure per log (engine invariant: one frame per
//! chain, one edit batch per manifest append), so a torn write can never leave a valid
//! structure after a damaged one.

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
}
