//! Reads records from a whole in-memory block: for tests, tools and small blocks. The engine
//! reads pages through its cache with [`BlockIndex`] and [`decode_page`] directly.
//!
//! Owns: nothing on disk. Invariants: every page is decoded (and checksummed) before any of
//! its records is returned; the key filter (version 2) is verified when the reader is made,
//! and a point read consults it before any page.

use super::filter::BlockFilter;
use super::footer::BlockFooter;
use super::index::{BlockIndex, PageLocation};
use super::page::decode_page;
use crate::checksum::Checksum;
use crate::error::{DecodeError, Expected, FileKind};
use crate::ids::{Key, Revision};
use crate::int;
use crate::record::RecordRef;

/// A validated view of a whole block held in memory.
#[derive(Clone, Debug)]
pub struct BlockReader<'a> {
    bytes: &'a [u8],
    footer: BlockFooter,
    footer_checksum: Checksum,
    index: BlockIndex,
    filter: Option<BlockFilter>,
}

impl<'a> BlockReader<'a> {
    /// Decodes the footer, index and key filter of the block `bytes` (exactly
    /// `footer.block_bytes` long).
    ///
    /// # Errors
    /// Footer, index or filter errors; `Incomplete` when `bytes` is shorter than the footer
    /// says, `Corrupt` when longer.
    pub fn new(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let (footer, footer_checksum) = BlockFooter::decode(bytes)?;
        let block_bytes = int::usize_from_u64(footer.block_bytes).unwrap_or(usize::MAX);
        if bytes.len() < block_bytes {
            return Err(DecodeError::incomplete(
                FileKind::BlockFooter,
                "block_bytes",
                block_bytes,
                bytes.len(),
            ));
        }
        let expected = Expected::Equal(u128::from(footer.block_bytes));
        let found = int::u128_from_usize(bytes.len());
        crate::layout::ensure(
            bytes.len() == block_bytes,
            FileKind::BlockFooter,
            "block_bytes",
            expected,
            found,
            0,
        )?;
        let index_offset = int::usize_from_u64(footer.index_offset).unwrap_or(usize::MAX);
        let index_bytes = bytes.get(index_offset..).unwrap_or_default();
        let index = BlockIndex::decode(index_bytes, &footer)
            .map_err(|error| error.at_base(index_offset))?;
        let filter_offset = int::usize_from_u64(footer.filter_offset()).unwrap_or(usize::MAX);
        let footer_offset = int::usize_from_u64(footer.footer_offset()).unwrap_or(0);
        let filter_bytes = bytes.get(filter_offset..footer_offset).unwrap_or_default();
        let filter = BlockFilter::decode(filter_bytes, &footer)
            .map_err(|error| error.at_base(filter_offset))?;
        Ok(Self {
            bytes,
            footer,
            footer_checksum,
            index,
            filter,
        })
    }

    /// The footer.
    #[must_use]
    pub fn footer(&self) -> &BlockFooter {
        &self.footer
    }

    /// The footer's checksum (compare with the manifest's).
    #[must_use]
    pub fn footer_checksum(&self) -> Checksum {
        self.footer_checksum
    }

    /// The index.
    #[must_use]
    pub fn index(&self) -> &BlockIndex {
        &self.index
    }

    /// The key filter, `None` for a version-1 block.
    #[must_use]
    pub fn filter(&self) -> Option<&BlockFilter> {
        self.filter.as_ref()
    }

    /// False only when the filter shows that no version of `key` is in the block; always true
    /// for a version-1 block (no filter).
    #[must_use]
    pub fn may_hold(&self, key: Key) -> bool {
        self.filter
            .as_ref()
            .is_none_or(|filter| filter.may_hold(key))
    }

    /// Decodes the run at `location`.
    fn page(&self, location: &PageLocation) -> Result<super::DataPage<'a>, DecodeError> {
        let start = int::usize_from_u64(location.offset).unwrap_or(usize::MAX);
        let bytes = self.bytes.get(start..).unwrap_or_default();
        decode_page(bytes, location).map_err(|error| error.at_base(start))
    }

    /// The newest version of `key` with revision `<= at`, deletes included (the caller
    /// decides what a delete means), or `None`.
    ///
    /// # Errors
    /// A page that fails to decode.
    pub fn get(&self, key: Key, at: Revision) -> Result<Option<RecordRef<'a>>, DecodeError> {
        if !self.may_hold(key) {
            return Ok(None);
        }
        for location in self.index.pages_for_key(key) {
            let page = self.page(&location)?;
            let found = page
                .records()
                .skip_while(|record| record.key < key)
                .take_while(|record| record.key == key)
                .find(|record| record.revision <= at);
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    /// Every record in `(key asc, revision desc)` order; stops after the first error.
    pub fn scan(&self) -> impl Iterator<Item = Result<RecordRef<'a>, DecodeError>> + '_ {
        let mut failed = false;
        self.index.pages().flat_map(move |location| {
            let decoded = if failed {
                None
            } else {
                Some(self.page(&location))
            };
            failed = failed || matches!(decoded, Some(Err(_)));
            let (records, error) = match decoded {
                Some(Ok(page)) => (Some(page.records()), None),
                Some(Err(error)) => (None, Some(Err(error))),
                None => (None, None),
            };
            records.into_iter().flatten().map(Ok).chain(error)
        })
    }
}
