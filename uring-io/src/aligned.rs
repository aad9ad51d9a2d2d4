//! `AlignedBuf`: an owned, zero-initialised byte buffer whose address and length are multiples
//! of a direct-I/O alignment, as O_DIRECT requires of user memory (open(2), "O_DIRECT").
//!
//! Invariants: `alignment` is a power of two ≥ [`MIN_ALIGNMENT`]; `len_bytes` is a non-zero
//! multiple of `alignment`, at most `capacity_bytes` (the length allocated, which
//! [`AlignedBuf::set_len`] never changes); every byte is initialised (zeroed at allocation),
//! so no stale heap contents can leak into a file ("buffer bleed", TigerBeetle's
//! TIGER_STYLE.md); bytes a shorter length hides keep what was written there.
//!
//! Buffers of [`HUGE_MAPPING_MIN_BYTES`] or more are their own anonymous mapping, 2 MiB-aligned
//! and advised `MADV_HUGEPAGE`: a 1 MiB O_DIRECT write from 4 KiB pages needs 256 segments,
//! more than a virtio disk takes per request (`max_segments` 254 here), so the block layer
//! splits it and cannot merge neighbours; from a huge page it is one segment. On the
//! development VM, 1 MiB writes at QD4 went from about 750 KiB per device request (split, no
//! merges) to fio's figure (fio's fresh buffer is physically contiguous by luck of a new
//! process). Without transparent huge pages the mapping is still correct, just split.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::ptr::NonNull;

use crate::error::{IoError, Result};

/// The smallest alignment an `AlignedBuf` ever has: one 4 KiB page. Direct-I/O alignments
/// reported by `statx(STATX_DIOALIGN)` are commonly 512; we round up to the page so that the
/// same buffer works on every device and with the simulated disk.
pub const MIN_ALIGNMENT: usize = 4096;

/// Buffers at least this long get their own huge-page-advised mapping (see the module doc).
pub const HUGE_MAPPING_MIN_BYTES: usize = 1 << 20;

/// The transparent huge page size of x86-64 and arm64 (4 KiB base pages).
const HUGE_PAGE_BYTES: usize = 2 << 20;

/// An owned, zeroed, aligned byte buffer for direct I/O.
///
/// ```
/// use uring_io::AlignedBuf;
/// let mut buf = AlignedBuf::new(8192, 4096).unwrap();
/// assert_eq!(buf.len(), 8192);
/// assert_eq!(buf.as_ptr() as usize % 4096, 0);
/// buf[..5].copy_from_slice(b"hello");
/// assert_eq!(&buf[..5], b"hello");
/// ```
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    len_bytes: usize,
    /// The length allocated: `len_bytes` may be set anywhere up to it.
    capacity_bytes: usize,
    alignment: usize,
    /// The length of the buffer's own mapping when it has one (`munmap` on drop), else `None`
    /// (heap allocation, `dealloc` on drop).
    mapping_bytes: Option<usize>,
}

// SAFETY: `AlignedBuf` owns its allocation exclusively (like `Vec<u8>`); moving it to another
// thread moves that ownership, and `&AlignedBuf` only hands out `&[u8]`.
unsafe impl Send for AlignedBuf {}
// SAFETY: shared references only permit reads of initialised bytes.
unsafe impl Sync for AlignedBuf {}

impl AlignedBuf {
    /// Allocates `len_bytes` zeroed bytes aligned to `alignment`.
    ///
    /// `alignment` is raised to [`MIN_ALIGNMENT`] if smaller and must be a power of two;
    /// `len_bytes` must be a non-zero multiple of the (raised) alignment.
    ///
    /// # Errors
    /// [`IoError::Unaligned`] when `alignment` is not a power of two or `len_bytes` is not a
    /// non-zero multiple of it; [`IoError::Os`] with `ENOMEM` when the allocation fails.
    pub fn new(len_bytes: usize, alignment: usize) -> Result<Self> {
        let alignment = alignment.max(MIN_ALIGNMENT);
        if !alignment.is_power_of_two() {
            return Err(IoError::Unaligned {
                what: "alignment",
                value: alignment as u64,
                alignment: MIN_ALIGNMENT as u64,
            });
        }
        if len_bytes == 0 || !len_bytes.is_multiple_of(alignment) {
            return Err(IoError::Unaligned {
                what: "length",
                value: len_bytes as u64,
                alignment: alignment as u64,
            });
        }
        if len_bytes >= HUGE_MAPPING_MIN_BYTES
            && alignment <= HUGE_PAGE_BYTES
            && let Some((ptr, mapping_bytes)) = huge_mapping(len_bytes)
        {
            return Ok(AlignedBuf {
                ptr,
                len_bytes,
                capacity_bytes: len_bytes,
                alignment,
                mapping_bytes: Some(mapping_bytes),
            });
        }
        let layout =
            Layout::from_size_align(len_bytes, alignment).map_err(|_| IoError::Unaligned {
                what: "length",
                value: len_bytes as u64,
                alignment: alignment as u64,
            })?;
        // SAFETY: `layout` has a non-zero size (checked above).
        let raw = unsafe { alloc_zeroed(layout) };
        let ptr =
            NonNull::new(raw).ok_or_else(|| IoError::from_errno("alloc", "", libc::ENOMEM))?;
        Ok(AlignedBuf {
            ptr,
            len_bytes,
            capacity_bytes: len_bytes,
            alignment,
            mapping_bytes: None,
        })
    }

    /// Allocates the smallest aligned buffer holding at least `min_bytes` bytes
    /// (`min_bytes` rounded up to `alignment`, and at least one alignment unit).
    ///
    /// # Errors
    /// As [`AlignedBuf::new`].
    pub fn with_capacity_for(min_bytes: usize, alignment: usize) -> Result<Self> {
        let alignment = alignment.max(MIN_ALIGNMENT);
        let len_bytes = min_bytes.max(1).div_ceil(alignment) * alignment;
        Self::new(len_bytes, alignment)
    }

    /// The buffer's length in bytes (a multiple of [`AlignedBuf::alignment`]).
    pub fn len(&self) -> usize {
        self.len_bytes
    }

    /// The length allocated: the most [`AlignedBuf::set_len`] accepts.
    pub fn capacity(&self) -> usize {
        self.capacity_bytes
    }

    /// Sets the length to `len_bytes` within the allocation, so one buffer serves writes of
    /// different lengths without a new allocation (whose fresh pages the kernel zero-fills
    /// on first touch). Bytes past the old length keep what was written there before.
    ///
    /// ```
    /// use uring_io::AlignedBuf;
    /// let mut buf = AlignedBuf::new(3 * 4096, 4096).unwrap();
    /// buf.set_len(4096).unwrap();
    /// assert_eq!((buf.len(), buf.capacity()), (4096, 3 * 4096));
    /// assert!(buf.set_len(4 * 4096).is_err());
    /// ```
    ///
    /// # Errors
    /// [`IoError::Unaligned`] when `len_bytes` is not a non-zero multiple of the alignment
    /// or is past the capacity (the length is then unchanged).
    pub fn set_len(&mut self, len_bytes: usize) -> Result<()> {
        if len_bytes == 0 || !len_bytes.is_multiple_of(self.alignment) {
            return Err(IoError::Unaligned {
                what: "length",
                value: len_bytes as u64,
                alignment: self.alignment as u64,
            });
        }
        if len_bytes > self.capacity_bytes {
            return Err(IoError::Unaligned {
                what: "length past the capacity",
                value: len_bytes as u64,
                alignment: self.alignment as u64,
            });
        }
        self.len_bytes = len_bytes;
        Ok(())
    }

    /// Always false: an `AlignedBuf` holds at least one alignment unit.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The alignment of the address and length, in bytes.
    pub fn alignment(&self) -> usize {
        self.alignment
    }

    /// Sets every byte to zero (before reusing a buffer for a new frame, so no old bytes leak).
    pub fn zero(&mut self) {
        self.as_mut_slice().fill(0);
    }

    /// The bytes, read-only.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` points to `capacity_bytes >= len_bytes` initialised bytes owned by
        // `self` (zeroed at allocation); the borrow of `self` keeps them alive and unaliased
        // by `&mut`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len_bytes) }
    }

    /// The bytes, writable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_slice`, and `&mut self` guarantees exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len_bytes) }
    }
}

impl std::ops::Deref for AlignedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl std::ops::DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.as_mut_slice()
    }
}

impl std::fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlignedBuf")
            .field("len_bytes", &self.len_bytes)
            .field("capacity_bytes", &self.capacity_bytes)
            .field("alignment", &self.alignment)
            .finish_non_exhaustive()
    }
}

/// A fresh anonymous mapping of `len_bytes` rounded up to whole huge pages, starting on a huge
/// page boundary and advised `MADV_HUGEPAGE`; `None` if the kernel refuses the mapping (the
/// caller then uses the heap). Its bytes are zero (anonymous memory), and nothing touched them
/// before the advice, so the first faults can take huge pages.
fn huge_mapping(len_bytes: usize) -> Option<(NonNull<u8>, usize)> {
    let mapping_bytes = len_bytes.checked_next_multiple_of(HUGE_PAGE_BYTES)?;
    let reserve_bytes = mapping_bytes.checked_add(HUGE_PAGE_BYTES)?;
    // SAFETY: an anonymous private mapping at an address of the kernel's choosing aliases no
    // existing memory; the result is checked against MAP_FAILED before use.
    let raw = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            reserve_bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if raw == libc::MAP_FAILED {
        return None;
    }
    let base = raw as usize;
    let start = base.next_multiple_of(HUGE_PAGE_BYTES);
    let head_bytes = start - base;
    let tail_bytes = reserve_bytes - head_bytes - mapping_bytes;
    // SAFETY: both ranges lie inside the reservation just mapped, outside `[start, start +
    // mapping_bytes)`, and are page-aligned (the base is page-aligned and huge pages are whole
    // pages); nothing refers to them. The advice only concerns our own fresh range.
    unsafe {
        if head_bytes > 0 {
            libc::munmap(raw, head_bytes);
        }
        if tail_bytes > 0 {
            libc::munmap((start + mapping_bytes) as *mut libc::c_void, tail_bytes);
        }
        libc::madvise(
            start as *mut libc::c_void,
            mapping_bytes,
            libc::MADV_HUGEPAGE,
        );
    }
    NonNull::new(start as *mut u8).map(|ptr| (ptr, mapping_bytes))
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        match self.mapping_bytes {
            // SAFETY: `ptr` starts the buffer's own mapping of `mapping_bytes` bytes, made in
            // `huge_mapping` and unmapped only here, once.
            Some(mapping_bytes) => unsafe {
                libc::munmap(self.ptr.as_ptr().cast(), mapping_bytes);
            },
            // SAFETY: `ptr` was returned by `alloc_zeroed` with exactly this size (the
            // capacity, which `set_len` never changes) and alignment (validated in `new`), and
            // is freed only here, once.
            None => unsafe {
                dealloc(
                    self.ptr.as_ptr(),
                    Layout::from_size_align_unchecked(self.capacity_bytes, self.alignment),
                );
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_buffers_are_their_own_huge_page_aligned_zeroed_mapping() {
        // Goal: a buffer of HUGE_MAPPING_MIN_BYTES or more starts on a 2 MiB boundary, is zero,
        // keeps its requested length, and is writable end to end; a small one stays on the
        // heap. Method: allocate, check address and bytes, write the last byte, drop.
        let mut big = AlignedBuf::new(HUGE_MAPPING_MIN_BYTES + 4096, 4096).unwrap();
        assert_eq!(big.as_ptr() as usize % HUGE_PAGE_BYTES, 0);
        assert_eq!(big.len(), HUGE_MAPPING_MIN_BYTES + 4096);
        assert_eq!(
            big.mapping_bytes,
            Some(HUGE_PAGE_BYTES),
            "rounded up to a whole huge page"
        );
        assert!(big.iter().all(|&byte| byte == 0));
        let last = big.len() - 1;
        big[last] = 7;
        big.zero();
        assert_eq!(big[last], 0);
        let small = AlignedBuf::new(8192, 4096).unwrap();
        assert_eq!(small.mapping_bytes, None);
    }

    #[test]
    fn rejects_unaligned_lengths_and_bad_alignments() {
        assert!(matches!(
            AlignedBuf::new(0, 4096),
            Err(IoError::Unaligned { what: "length", .. })
        ));
        assert!(matches!(
            AlignedBuf::new(4097, 4096),
            Err(IoError::Unaligned { .. })
        ));
        assert!(matches!(
            AlignedBuf::new(3 * 8192, 8192 + 4096),
            Err(IoError::Unaligned { .. })
        ));
    }

    #[test]
    fn is_zeroed_aligned_and_rounds_capacity_up() {
        let buf = AlignedBuf::with_capacity_for(5000, 512).unwrap();
        assert_eq!(buf.len(), 8192);
        assert_eq!(buf.alignment(), MIN_ALIGNMENT);
        assert_eq!(buf.as_ptr() as usize % MIN_ALIGNMENT, 0);
        assert!(buf.iter().all(|&b| b == 0));
    }
}
