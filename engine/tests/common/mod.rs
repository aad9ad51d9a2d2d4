//! Helpers shared by the engine's scenario tests: small options that keep pre-written
//! segments cheap, and a tiny model of acknowledged writes.
#![allow(dead_code, reason = "each test binary uses a subset of the helpers")]
#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failure is a test failure"
)]

use std::collections::BTreeMap;
use std::time::Duration;

use infinitedb::Readable;
use infinitedb::{BackendRequest, Db, Options, Revision, SpaceId};

/// Segment size for tests: small, so creating a space writes little.
pub const TEST_SEGMENT_BYTES: u64 = 1024 * 1024;

/// Options for a test database: 1 MiB segments and no staged route unless asked.
pub fn small_options() -> Options {
    Options::default()
        .segment_bytes(TEST_SEGMENT_BYTES)
        .value_bytes_max(64 * 1024)
        .deadline(None)
}

/// The same with a fixed backend.
pub fn small_options_on(backend: BackendRequest) -> Options {
    small_options().backend(backend)
}

/// The value written at point `(i, j)` in these tests.
pub fn value_of(i: u32, j: u32) -> Vec<u8> {
    format!("value-{i}-{j}").into_bytes()
}

/// A model of what was acknowledged: point → (revision, value or delete).
pub type Model = BTreeMap<Vec<u32>, (Revision, Option<Vec<u8>>)>;

/// Checks that `db` returns the model's latest value at every point of the model.
pub fn assert_matches_model(db: &Db, space: SpaceId, model: &Model) {
    for (point, (_, value)) in model {
        assert_eq!(
            &db.get(space, point).unwrap().map(|v| v.to_vec()),
            value,
            "point {point:?}"
        );
    }
}

/// A deadline that every hot-segment chain misses.
pub fn zero_deadline() -> Option<Duration> {
    Some(Duration::ZERO)
}

/// The frames of the version-2 log file `bytes`, in order: `(start, end)` file offsets.
pub fn stamped_frames(bytes: &[u8]) -> Vec<(usize, usize)> {
    use infinitedb_format::{
        FRAME_PAYLOAD_BYTES_MAX, LOG_HEADER_BYTES, LogHeader, LogLayout, StampedFrame,
        decode_stamped_frame,
    };
    let header = LogHeader::decode(bytes).unwrap();
    assert_eq!(header.layout, LogLayout::Stamped);
    let mut frames = Vec::new();
    let mut scratch = Vec::new();
    let mut offset = LOG_HEADER_BYTES;
    while let StampedFrame::Valid { physical_bytes, .. } = decode_stamped_frame(
        bytes,
        offset,
        header.segment_id,
        FRAME_PAYLOAD_BYTES_MAX,
        &mut scratch,
    ) {
        frames.push((offset, offset + physical_bytes));
        offset += physical_bytes;
    }
    frames
}

/// `sectors` stamped sectors of one frame of `segment` written at file offset `offset`: the
/// content a recycled file (another segment) or an earlier attempt at the same position (the
/// same segment, another frame) leaves behind. The frame's record has key `key`, revision
/// `revision` and a value sized to fill the sectors.
pub fn frame_sectors(
    segment: infinitedb_format::SegmentId,
    offset: usize,
    sectors: usize,
    key: u128,
    revision: u64,
) -> Vec<u8> {
    use infinitedb_format::{
        FRAME_HEADER_BYTES, RECORD_HEADER_BYTES, RecordKind, RecordRef, SECTOR_BYTES,
        SECTOR_DATA_BYTES, encode_stamped_frame,
    };
    let value =
        vec![0x5a_u8; sectors * SECTOR_DATA_BYTES - FRAME_HEADER_BYTES - RECORD_HEADER_BYTES];
    let records = [RecordRef {
        key,
        revision: Revision(revision),
        kind: RecordKind::Put,
        value: &value,
    }];
    let mut out = vec![0_u8; sectors * SECTOR_BYTES];
    let used = encode_stamped_frame(segment, SpaceId(1), &records, offset as u64, &mut out);
    assert_eq!(used, out.len());
    out
}

#[path = "../support/copy.rs"]
mod copy;
#[allow(
    unused_imports,
    reason = "each test binary uses a subset of the helpers"
)]
pub use copy::copy_tree;
