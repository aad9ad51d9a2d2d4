//! A sealed block: an immutable run of Hilbert-sorted records in 4 KiB-aligned data pages, a
//! sparse index of those pages, a key filter (version 2) and a footer at the end of the last
//! page (`docs/format.md`, "Block").
//!
//! Owns: the block layouts (data page, index, filter, footer), the builder and the readers.
//! Invariants: records are sorted by `(key asc, revision desc)` with no duplicate
//! `(key, revision)`; data pages are contiguous from offset 0, each a run of one or more 4096-byte
//! pages; the index follows at a page-aligned offset, the filter right after the index; the
//! footer occupies the last `BLOCK_FOOTER_BYTES` of the block. Each page's checksum is in its
//! header and in its index entry, the index and filter checksums are in the footer, and the
//! footer checksum is kept by the manifest: each checksum lives outside the thing it protects
//! as well as inside it.
//! Index entries are positions (offset, length, first and last key), never a map keyed by
//! first key (docs/design.md §8: such a map lost records that shared a first key).

mod builder;
mod filter;
mod footer;
mod index;
mod page;
mod reader;

pub use builder::{BLOCK_VALUE_BYTES_MAX, BlockBuilder, BuiltBlock};
pub use filter::{BlockFilter, FILTER_BITS_PER_KEY, FILTER_HASH_COUNT, FILTER_HASH_COUNT_MAX};
pub use footer::{BLOCK_FOOTER_BYTES, BlockFooter};
pub use index::{BlockIndex, PageLocation};
pub use page::{DataPage, decode_page};
pub use reader::BlockReader;

/// The unit of block alignment: every data page run, the index start and the block length are
/// multiples of it.
pub const BLOCK_PAGE_BYTES: usize = crate::layout::PAGE_BYTES;

#[cfg(test)]
mod tests;
