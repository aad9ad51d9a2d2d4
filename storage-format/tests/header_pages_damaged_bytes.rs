//! Damaged header pages (log header, manifest header) are classified, never panic: every
//! truncation is `Incomplete`, every single bit flip is `Corrupt` (the checksum covers the
//! whole page, padding included), a zero page is `Incomplete`.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    clippy::cast_possible_truncation,
    reason = "test code: a panic is a test failure"
)]

use infinitedb_format::{
    DecodeClass, DecodeError, LOG_HEADER_BYTES, LogHeader, LogKind, LogLayout,
    MANIFEST_HEADER_BYTES, ManifestHeader, Revision, SegmentId, SpaceId,
};

fn check_page(page: &[u8], decode: impl Fn(&[u8]) -> Result<(), DecodeError>) {
    assert!(decode(page).is_ok());
    assert_eq!(
        decode(&vec![0; page.len()]).unwrap_err().class(),
        DecodeClass::Incomplete
    );
    for length in (0..page.len()).step_by(7).chain([page.len() - 1]) {
        assert_eq!(
            decode(&page[..length]).unwrap_err().class(),
            DecodeClass::Incomplete
        );
    }
    for bit in 0..page.len() * 8 {
        let mut damaged = page.to_vec();
        damaged[bit / 8] ^= 1 << (bit % 8);
        assert_eq!(
            decode(&damaged).unwrap_err().class(),
            DecodeClass::Corrupt,
            "bit {bit}"
        );
    }
}

#[test]
fn log_header_damage_is_classified() {
    // Goal: see module doc. Method: truncate (every 7th length and the last) and flip each bit.
    let header = LogHeader {
        layout: LogLayout::CURRENT,
        kind: LogKind::HotSegment,
        segment_id: SegmentId(44),
        space_id: SpaceId(2),
        created_revision: Revision(1000),
    };
    let mut page = vec![0_u8; LOG_HEADER_BYTES];
    header.encode(&mut page);
    check_page(&page, |bytes| LogHeader::decode(bytes).map(|_| ()));
}

#[test]
fn manifest_header_damage_is_classified() {
    // Goal: see module doc. Method: as for the log header.
    let mut page = vec![0_u8; MANIFEST_HEADER_BYTES];
    ManifestHeader { generation: 3 }.encode(&mut page);
    check_page(&page, |bytes| ManifestHeader::decode(bytes).map(|_| ()));
}

#[test]
fn a_page_of_another_kind_is_bad_magic() {
    // Goal: a valid structure of another kind is told apart from damage. Method: decode a
    // manifest header page as a log header and vice versa.
    let mut manifest = vec![0_u8; MANIFEST_HEADER_BYTES];
    ManifestHeader { generation: 1 }.encode(&mut manifest);
    let error = LogHeader::decode(&manifest).unwrap_err();
    assert!(
        matches!(error.class(), DecodeClass::BadMagic { .. }),
        "{error}"
    );
    let mut log = vec![0_u8; LOG_HEADER_BYTES];
    let header = LogHeader {
        layout: LogLayout::CURRENT,
        kind: LogKind::StagingLog,
        segment_id: SegmentId(1),
        space_id: SpaceId(0),
        created_revision: Revision(0),
    };
    header.encode(&mut log);
    assert!(matches!(
        ManifestHeader::decode(&log).unwrap_err().class(),
        DecodeClass::BadMagic { .. }
    ));
}
