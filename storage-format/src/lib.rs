//! Byte layouts of every file infinitedb writes: WAL frames (hot segments and the staging log),
//! segment headers, sealed blocks and manifest edits.
//!
//! This crate holds layouts only: it never opens a file or starts a thread. Every layout is
//! fixed-width little-endian with a magic and a version, checksummed with xxh3, and specified in
//! `docs/format.md` at the repository root.
