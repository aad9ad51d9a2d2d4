//! The checksum newtype: xxh3-64 over exactly the bytes a writer wrote.
//!
//! Owns: the checksum algorithm of every layout (`docs/format.md`, "Conventions"). Invariant:
//! a `Checksum` is only ever compared, never interpreted; `verify` returns a typed mismatch.

use xxhash_rust::xxh3::xxh3_64;

/// An xxh3-64 checksum of a byte range.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Checksum(pub u64);

/// The bytes hashed to something other than the stored checksum.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("checksum mismatch: stored {stored}, computed {computed}")]
pub struct ChecksumMismatch {
    /// The checksum recorded alongside the bytes.
    pub stored: Checksum,
    /// The checksum of the bytes as they are now.
    pub computed: Checksum,
}

impl Checksum {
    /// The xxh3-64 checksum of `bytes`.
    #[must_use]
    pub fn of(bytes: &[u8]) -> Self {
        Self(xxh3_64(bytes))
    }

    /// Checks that `bytes` hash to `self`.
    ///
    /// # Errors
    /// [`ChecksumMismatch`] with both values when they differ.
    pub fn verify(self, bytes: &[u8]) -> Result<(), ChecksumMismatch> {
        let computed = Self::of(bytes);
        if computed == self {
            Ok(())
        } else {
            Err(ChecksumMismatch {
                stored: self,
                computed,
            })
        }
    }
}

impl std::fmt::Display for Checksum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#018x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_detects_a_flipped_bit() {
        // Goal: verify accepts the hashed bytes and rejects a one-bit change. Method: flip bit 0.
        let mut bytes = *b"infinitedb";
        let checksum = Checksum::of(&bytes);
        assert_eq!(checksum.verify(&bytes), Ok(()));
        bytes[0] ^= 1;
        let mismatch = checksum.verify(&bytes).unwrap_err();
        assert_eq!(mismatch.stored, checksum);
        assert_ne!(mismatch.computed, checksum);
    }
}
