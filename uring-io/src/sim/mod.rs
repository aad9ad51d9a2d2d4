//! The simulated disk: a deterministic, seeded [`crate::Storage`] for fault injection and crash
//! tests (docs/design.md §3 "Recovery" and "Faults"). The engine's
//! crash suite runs on it and reopens on what survives a simulated power loss.
//!
//! # Fault model
//!
//! The disk keeps two images: the *live* image, which every read sees (a page-cache-coherent
//! device after the write completed), and the *durable* image, which survives a power loss.
//!
//! Data:
//! - A write enters a volatile write cache. `fdatasync` (of [`crate::Storage::write_durable`],
//!   of a chain's sync step, of `create_prewritten`, of `set_len`) makes every earlier write of
//!   that file durable, including a file-extending write's new length.
//! - At a power loss ([`SimDisk::crash`] with a [`CrashPlan`]; [`SimDisk::power_loss`] for a
//!   seeded random plan) each unsynced write is independently kept or lost; kept writes are
//!   applied in any order, so where they overlap an earlier write may win over a later one
//!   (more adversarial than a write-back cache that coalesces, deliberately); at most one write
//!   is torn, keeping an arbitrary subset of its 512-byte sectors ([`crate::SECTOR_BYTES`]). A sector
//!   is never torn inside: it is the device's atomic unit.
//! - A failed fsync poisons the open file (later writes and syncs on the handle and its clones
//!   give [`crate::IoError::Poisoned`]; chains already queued behind it fail with `EIO`) and
//!   its unsynced writes are lost at a crash (Linux marks the pages clean after a writeback
//!   error) though reads still return them until the crash.
//!
//! Namespace (ext4-like per directory, but stricter across directories):
//! - Creating, unlinking, renaming and hard-linking entries is volatile until `sync_dir` of
//!   the directory the entry is in. A crash keeps, per directory, a prefix of its unsynced
//!   operations (they survive in order), independently of other directories. A rename within
//!   a directory is atomic; across directories it is an unlink and a link, each durable with
//!   its own directory, so a crash may lose or duplicate the file (ext4's journal would not;
//!   POSIX promises nothing).
//! - A hard link is a second name of the same file: it shares the file's data (durable or
//!   not, whichever name reaches it) and is itself a creation in its own directory, so a
//!   crash may keep the original name and lose the link. A link is never across filesystems
//!   here; an injected `EXDEV` (on [`OpKind::Link`]) plays that case.
//! - Entries whose parent directory did not survive are dropped, and so are files no name
//!   reaches (with their data). `create_dir_all`, `OpenMode::CreateNew` and
//!   `create_prewritten` sync the parent directory as the OS backend does; `copy_file`
//!   fdatasyncs the copy but leaves its name volatile, as the OS backend does.
//!
//! Faults ([`SimFaults`]): `EIO`/`ENOSPC`/any errno, latency and cancellation per operation
//! kind and path (contains, prefix, predicate), at the n-th match or with a seeded
//! probability, and a countdown after which every operation fails. Latency is real time.
//!
//! Not modelled: metadata other than names and lengths (permissions, times); renaming
//! directories (`EISDIR`); link counts (a file lives while a name reaches it); `errseq`
//! reporting one writeback error to each open file description (here only the handle whose
//! sync failed learns of it; other handles to the file sync on); cancellation other than
//! injected ([`Fault::Cancel`]); short writes; bit rot of durable data (tests damage files on
//! purpose instead); space accounting (`ENOSPC` only by injection).
//!
//! Crash points: [`SimStorage::record_crash_points`] keeps a copy of the disk after every
//! change, so a test can crash at every step of a workload with every plan
//! ([`SimDisk::crash_states`], bounded by [`ENUMERATED_WRITES_MAX`] unsynced writes).
//!
//! Determinism: with the same seed and the same sequence of operations, random faults and
//! [`SimDisk::power_loss`] give the same results. Wall-clock latency only decides *when*
//! events are reported, never their outcome.

mod crash;
mod disk;
mod faults;
mod queue;
mod storage;

pub use crash::{CrashPlan, CrashPlanError, ENUMERATED_WRITES_MAX, Tear};
pub use disk::{PendingWrite, SimDisk};
pub use faults::{Fault, OpKind, OpMatch, PathMatch, RuleId, SimFaults, Trigger};
pub use queue::SIM_CHAINS_IN_FLIGHT_MAX;
pub use storage::{SIM_ALIGNMENT_BYTES, SimStorage};
