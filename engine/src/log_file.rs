//! [`LogFile`]: an append-only log of frames in a pre-written file — a space's hot segment or
//! a staging log — and the arithmetic of its O_DIRECT appends (docs/design.md §4).
//!
//! Owns: the durable end of the log and a copy of its partial tail page. Invariants:
//! - Page 0 holds the [`LogHeader`] (version 2, [`LogLayout::Stamped`]); frames start at
//!   `LOG_HEADER_BYTES`, each on a 512-byte sector boundary, in whole stamped sectors
//!   ([`stamped_frame_bytes`] of its encoded size), one after the other. A sector belongs to
//!   one frame, so the durable end is always a sector boundary.
//! - `durable_bytes` only grows, and only when a chain ending there was acknowledged durable.
//! - A chain starts at `durable_bytes` rounded down to the alignment and rewrites the partial
//!   tail page with its acknowledged prefix unchanged (taken from memory, never re-read), then
//!   the new frame, then zeros to the next alignment boundary. Example with 4096-byte pages:
//!   durable end 9_728 → the chain starts at 8192, copies 1536 tail bytes, appends a frame of
//!   300 encoded bytes as one stamped sector (to 10_240) and zero-pads to 12_288.
//! - A recycled file holds only zeros and stamped sectors after its header: a file whose old
//!   header is not a version-2 header (an older build's log, or an unreadable header) is
//!   zeroed before its new header is written, so that no sector of it can pass for a damaged
//!   stamp.
//! - A cancelled or failed chain leaves `durable_bytes` alone, so the next chain rewrites from
//!   the old durable end: the log stays a durable prefix. One chain in flight per log.
//! - The buffers of durable chains are kept (a few, [`RECYCLED_BUFFERS_MAX`]) and reused for
//!   later chains that fit them (the smallest that does, its length set to the chain's): an
//!   aligned allocation, its zeroing and the page faults of fresh memory cost about 1 µs per
//!   small commit on the development VM, on the commit path, and a bulk group's tens of
//!   MiB of fresh huge pages cost the I/O thread more than encoding the frame.
//!   A reused buffer gets the same bytes a new one would: tail prefix, frame, zeros.

use std::path::PathBuf;

use infinitedb_format::{
    LOG_HEADER_BYTES, LogHeader, LogKind, LogLayout, LogMeta, Revision, SegmentId, SpaceId,
    stamped_frame_bytes,
};
use uring_io::{AlignedBuf, FileHandle, OpenMode, Storage};

use crate::error::Result;

/// Most chain buffers a log keeps for reuse (one chain is in flight per log, so a few sizes).
const RECYCLED_BUFFERS_MAX: usize = 4;
/// The size of each write that zeroes a recycled file of an older layout.
const ZEROING_WRITE_BYTES: usize = 1024 * 1024;

/// A chain's buffer, ready for the frame to be encoded at `frame_offset_in_buf`.
#[derive(Debug)]
pub(crate) struct ChainBuffer {
    /// File offset the buffer is written at (aligned).
    pub(crate) offset: u64,
    /// Where the new frame starts inside `buf`.
    pub(crate) frame_offset_in_buf: usize,
    /// The bytes: tail prefix, room for the frame, zero padding.
    pub(crate) buf: AlignedBuf,
}

/// One log file being appended to.
#[derive(Debug)]
pub(crate) struct LogFile {
    pub(crate) path: PathBuf,
    pub(crate) file: FileHandle,
    pub(crate) header: LogHeader,
    capacity_bytes: u64,
    durable_bytes: u64,
    tail_page: Vec<u8>,
    alignment_bytes: usize,
    /// Buffers of durable chains, for reuse by later chains of the same length.
    recycled: Vec<AlignedBuf>,
    /// A sync failed on this file: never write to it again.
    pub(crate) poisoned: bool,
}

impl LogFile {
    /// Creates (pre-writes) a new log at `path` and makes its header durable.
    pub(crate) fn create(
        storage: &dyn Storage,
        path: PathBuf,
        header: LogHeader,
        capacity_bytes: u64,
    ) -> Result<LogFile> {
        let file = storage.create_prewritten(&path, capacity_bytes)?;
        Self::initialise(storage, path, file, header, capacity_bytes)
    }

    /// Reuses the retired log at `old_path` under `path` with a new header: rename, sync the
    /// directory, zero the body if the old header is not a version-2 header, then make the
    /// header durable. Frames of the old generation stay behind the header and are rejected
    /// as old content (their stamps carry the old segment id).
    pub(crate) fn recycle(
        storage: &dyn Storage,
        old_path: &std::path::Path,
        path: PathBuf,
        header: LogHeader,
    ) -> Result<LogFile> {
        storage.rename(old_path, &path)?;
        if let Some(dir) = path.parent() {
            storage.sync_dir(dir)?;
        }
        let file = storage.open(&path, OpenMode::ReadWrite)?;
        let capacity_bytes = storage.file_len(&file)?;
        if !Self::holds_stamped_log(storage, &file)? {
            Self::zero_body(storage, &file, capacity_bytes)?;
        }
        Self::initialise(storage, path, file, header, capacity_bytes)
    }

    /// Whether the file's page 0 is a valid version-2 log header.
    fn holds_stamped_log(storage: &dyn Storage, file: &FileHandle) -> Result<bool> {
        let alignment_bytes = storage.info().alignment_bytes.max(uring_io::MIN_ALIGNMENT);
        let mut page = AlignedBuf::new(LOG_HEADER_BYTES.max(alignment_bytes), alignment_bytes)?;
        let read = storage.read_at(file, 0, &mut page)?;
        let header = page.get(..read).map(LogHeader::decode);
        Ok(matches!(header, Some(Ok(header)) if header.layout == LogLayout::Stamped))
    }

    /// Overwrites every byte after the header page with zeros, durably.
    fn zero_body(storage: &dyn Storage, file: &FileHandle, capacity_bytes: u64) -> Result<()> {
        let alignment_bytes = storage.info().alignment_bytes.max(uring_io::MIN_ALIGNMENT);
        let mut offset = LOG_HEADER_BYTES as u64;
        let mut zeros: Option<AlignedBuf> = None;
        while offset < capacity_bytes {
            let left = usize::try_from(capacity_bytes - offset).unwrap_or(usize::MAX);
            let len_bytes = left.min(ZEROING_WRITE_BYTES);
            let reusable = zeros.as_ref().is_some_and(|buf| buf.len() == len_bytes);
            if !reusable {
                zeros = Some(AlignedBuf::with_capacity_for(len_bytes, alignment_bytes)?);
            }
            if let Some(buf) = &zeros {
                storage.write_durable(file, offset, buf)?;
                offset += buf.len() as u64;
            }
        }
        Ok(())
    }

    fn initialise(
        storage: &dyn Storage,
        path: PathBuf,
        file: FileHandle,
        header: LogHeader,
        capacity_bytes: u64,
    ) -> Result<LogFile> {
        assert!(
            header.layout == LogLayout::CURRENT,
            "logs are written in the current layout"
        );
        let alignment_bytes = storage.info().alignment_bytes.max(uring_io::MIN_ALIGNMENT);
        let mut page = AlignedBuf::new(LOG_HEADER_BYTES.max(alignment_bytes), alignment_bytes)?;
        header.encode(&mut page);
        storage.write_durable(&file, 0, &page)?;
        let durable_bytes = page.len() as u64;
        debug_assert!(durable_bytes < capacity_bytes);
        Ok(LogFile {
            path,
            file,
            header,
            capacity_bytes,
            durable_bytes,
            tail_page: vec![0; alignment_bytes],
            alignment_bytes,
            recycled: Vec::new(),
            poisoned: false,
        })
    }

    /// The header every frame of this log matches.
    pub(crate) fn segment_id(&self) -> SegmentId {
        self.header.segment_id
    }

    /// What the manifest records of this log while it may hold records not yet in blocks.
    pub(crate) fn meta(&self) -> LogMeta {
        LogMeta {
            kind: self.header.kind,
            space_id: self.header.space_id,
            segment_id: self.header.segment_id,
            len_bytes: self.capacity_bytes,
        }
    }

    /// Whether a frame of `frame_bytes` encoded bytes ([`infinitedb_format::frame_encoded_bytes`])
    /// still fits, as the whole sectors it occupies.
    pub(crate) fn fits(&self, frame_bytes: usize) -> bool {
        self.fits_frames(&[frame_bytes])
    }

    /// Whether frames of `frames` encoded bytes each, one after the other, still fit.
    pub(crate) fn fits_frames(&self, frames: &[usize]) -> bool {
        let stamped: usize = frames.iter().copied().map(stamped_frame_bytes).sum();
        let end = self.durable_bytes + stamped as u64;
        end.div_ceil(self.alignment_bytes as u64) * self.alignment_bytes as u64
            <= self.capacity_bytes
    }

    /// The durable end of the log.
    pub(crate) fn durable_bytes(&self) -> u64 {
        self.durable_bytes
    }

    /// A buffer for the next chain: the tail page's acknowledged prefix and room for the
    /// stamped sectors of frames of `frames` encoded bytes each (one, or the frames of a
    /// group), zero-padded to the alignment. The caller encodes those frames
    /// (`encode_stamped_frame`) one after the other from `frame_offset_in_buf`, which is file
    /// offset `offset + frame_offset_in_buf`.
    pub(crate) fn begin_chain(&mut self, frames: &[usize]) -> Result<ChainBuffer> {
        let alignment = self.alignment_bytes as u64;
        let offset = self.durable_bytes / alignment * alignment;
        let prefix_bytes = usize::try_from(self.durable_bytes - offset).unwrap_or(0);
        debug_assert!(prefix_bytes < self.alignment_bytes);
        debug_assert!(prefix_bytes.is_multiple_of(infinitedb_format::SECTOR_BYTES));
        let used_bytes = prefix_bytes
            + frames
                .iter()
                .copied()
                .map(stamped_frame_bytes)
                .sum::<usize>();
        let len_bytes = used_bytes.div_ceil(self.alignment_bytes) * self.alignment_bytes;
        // The smallest kept buffer that holds the chain: a frame's size varies with its
        // group, and a new buffer's pages are zero-filled by the kernel on first touch.
        let reusable = self
            .recycled
            .iter()
            .enumerate()
            .filter(|(_, buf)| {
                buf.capacity() >= len_bytes && len_bytes.is_multiple_of(buf.alignment())
            })
            .min_by_key(|(_, buf)| buf.capacity())
            .map(|(index, _)| index);
        let mut buf = match reusable {
            Some(index) => {
                let mut buf = self.recycled.swap_remove(index);
                buf.set_len(len_bytes)?;
                // The frame's sectors are all overwritten by the caller; the padding must be zero.
                buf[used_bytes..].fill(0);
                buf
            }
            None => AlignedBuf::with_capacity_for(used_bytes, self.alignment_bytes)?,
        };
        buf[..prefix_bytes].copy_from_slice(&self.tail_page[..prefix_bytes]);
        Ok(ChainBuffer {
            offset,
            frame_offset_in_buf: prefix_bytes,
            buf,
        })
    }

    /// Records that the chain written at `offset` with `buf` is durable up to `end_bytes`, and
    /// keeps `buf` for reuse.
    pub(crate) fn on_durable(&mut self, offset: u64, buf: AlignedBuf, end_bytes: u64) {
        let alignment = self.alignment_bytes as u64;
        assert!(
            end_bytes >= self.durable_bytes,
            "a log's durable end never moves back"
        );
        assert!(
            offset == self.durable_bytes / alignment * alignment,
            "chains start at the tail page"
        );
        let tail_start = end_bytes / alignment * alignment;
        let from = usize::try_from(tail_start - offset).unwrap_or(0);
        let used = usize::try_from(end_bytes - tail_start).unwrap_or(0);
        self.tail_page.fill(0);
        if let Some(source) = buf.get(from..from + used) {
            self.tail_page[..used].copy_from_slice(source);
        }
        self.durable_bytes = end_bytes;
        if self.recycled.len() == RECYCLED_BUFFERS_MAX {
            self.recycled.remove(0);
        }
        self.recycled.push(buf);
    }
}

/// The header of a new hot segment.
pub(crate) fn hot_header(
    segment_id: SegmentId,
    space_id: SpaceId,
    created_revision: Revision,
) -> LogHeader {
    LogHeader {
        layout: LogLayout::CURRENT,
        kind: LogKind::HotSegment,
        segment_id,
        space_id,
        created_revision,
    }
}

/// The header of a new staging log.
pub(crate) fn staging_header(segment_id: SegmentId, created_revision: Revision) -> LogHeader {
    LogHeader {
        layout: LogLayout::CURRENT,
        kind: LogKind::StagingLog,
        segment_id,
        space_id: SpaceId(0),
        created_revision,
    }
}
