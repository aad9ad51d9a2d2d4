//! Power loss on a [`SimDisk`]: a [`CrashPlan`] says which volatile state survives, and
//! [`SimDisk::crash`] builds the disk the engine reopens on. Plans come from a seed
//! ([`SimDisk::power_loss`]) or from an exhaustive enumeration ([`SimDisk::crash_plans`],
//! [`SimDisk::crash_states`]) for CrashMonkey-style tests of tiny workloads.
//!
//! What survives (the fault model of `super`'s header, made exact):
//! - Durable bytes and the durable namespace always survive.
//! - Each unsynced write is kept or lost on its own; kept writes are applied in the plan's
//!   order, which may differ from issue order, so where writes overlap an earlier write can win.
//! - At most one write is torn: it keeps an arbitrary set of its 512-byte sectors
//!   ([`crate::SECTOR_BYTES`]); a kept sector is written whole. A kept sector past the end of
//!   file extends the file (zeros in between).
//! - Per directory, a prefix of its unsynced namespace operations survives. Entries whose
//!   parent directory did not survive are dropped, and so are files no name reaches.
//!
//! Invariant: a plan refers to writes by index in [`SimDisk::pending_writes`] and to
//! directories by index in [`SimDisk::unsynced_dirs`]; [`SimDisk::crash`] validates it.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::disk::{
    InodeId, Node, SimDisk, UnsyncedWrite, apply_namespace_effect, parent_dir, write_bytes,
};
use crate::storage::SECTOR_BYTES;

/// The most unsynced writes [`SimDisk::crash_plans`] enumerates (2^n subsets times orders).
pub const ENUMERATED_WRITES_MAX: usize = 16;

/// Which volatile state survives one simulated power loss.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrashPlan {
    /// Indexes into [`SimDisk::pending_writes`] of the unsynced writes that reach the media, in
    /// the order they are applied; every other unsynced write is lost.
    pub applied: Vec<usize>,
    /// The one write torn by the power loss, if any; it must be in `applied`.
    pub tear: Option<Tear>,
    /// For each directory of [`SimDisk::unsynced_dirs`] (same order), how many of its unsynced
    /// namespace operations survive (a prefix, at most its count).
    pub namespace_kept: Vec<usize>,
}

/// A write that reached the media only in part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tear {
    /// Index into [`SimDisk::pending_writes`].
    pub write_index: usize,
    /// One flag per sector of the write ([`crate::PendingWrite::sector_count`]): whether that
    /// sector was written.
    pub sectors_kept: Vec<bool>,
}

/// A [`CrashPlan`] that does not fit the disk it is applied to, or a disk too large to
/// enumerate.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CrashPlanError {
    /// `applied` or `tear` names a write that does not exist, or names one twice.
    #[error(
        "crash plan names write {index}, but the disk has {count} unsynced writes (or it is named twice)"
    )]
    BadWriteIndex {
        /// The index given.
        index: usize,
        /// How many unsynced writes the disk has.
        count: usize,
    },
    /// The torn write is not applied, or its sector mask has the wrong length.
    #[error("torn write {index}: it must be applied and have {sectors} sector flags")]
    BadTear {
        /// The torn write's index.
        index: usize,
        /// How many sectors it covers.
        sectors: usize,
    },
    /// `namespace_kept` does not match [`SimDisk::unsynced_dirs`].
    #[error(
        "namespace_kept must give, for each of {dirs} directories, at most its operation count"
    )]
    BadNamespace {
        /// How many directories have unsynced operations.
        dirs: usize,
    },
    /// Too many unsynced writes to enumerate every subset.
    #[error("{count} unsynced writes: enumeration is limited to {max}")]
    TooManyWrites {
        /// The disk's unsynced writes.
        count: usize,
        /// [`ENUMERATED_WRITES_MAX`].
        max: usize,
    },
}

impl CrashPlan {
    /// Every unsynced write and namespace operation survives, in issue order: the live image.
    pub fn keep_all(disk: &SimDisk) -> CrashPlan {
        CrashPlan {
            applied: (0..disk.pending_writes().len()).collect(),
            tear: None,
            namespace_kept: disk.unsynced_dirs().iter().map(|(_, n)| *n).collect(),
        }
    }

    /// Nothing volatile survives: the durable image.
    pub fn keep_none(disk: &SimDisk) -> CrashPlan {
        CrashPlan {
            applied: Vec::new(),
            tear: None,
            namespace_kept: vec![0; disk.unsynced_dirs().len()],
        }
    }

    /// A plan drawn from `seed`: each write kept with probability 1/2, kept writes shuffled,
    /// with probability 1/2 one kept write torn at random sectors, and per directory a uniform
    /// prefix of its namespace operations.
    pub fn random(disk: &SimDisk, seed: u64) -> CrashPlan {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let writes = disk.pending_writes();
        let mut applied: Vec<usize> = (0..writes.len()).filter(|_| rng.gen_bool(0.5)).collect();
        applied.shuffle(&mut rng);
        let tear = match applied.choose(&mut rng) {
            Some(&write_index) if rng.gen_bool(0.5) => {
                let sectors = writes[write_index].sector_count();
                let sectors_kept = (0..sectors).map(|_| rng.gen_bool(0.5)).collect();
                Some(Tear {
                    write_index,
                    sectors_kept,
                })
            }
            _ => None,
        };
        let namespace_kept = disk
            .unsynced_dirs()
            .iter()
            .map(|(_, count)| rng.gen_range(0..=*count))
            .collect();
        CrashPlan {
            applied,
            tear,
            namespace_kept,
        }
    }
}

impl SimDisk {
    /// The disk after a power loss that follows `plan`: only durable and surviving state, and
    /// nothing volatile left.
    ///
    /// # Errors
    /// [`CrashPlanError`] when the plan does not fit this disk.
    pub fn crash(&self, plan: &CrashPlan) -> Result<SimDisk, CrashPlanError> {
        let writes = self.unsynced_writes();
        validate(plan, &writes, &self.unsynced_dirs())?;
        let namespace = self.crash_namespace(&plan.namespace_kept);
        let mut contents: BTreeMap<InodeId, Arc<Vec<u8>>> = BTreeMap::new();
        for node in namespace.values() {
            if let Node::File(inode) = node
                && let Some(bytes) = self.durable_bytes(*inode)
            {
                contents.insert(*inode, bytes);
            }
        }
        for &index in &plan.applied {
            let write = writes[index];
            let Some(bytes) = contents.get_mut(&write.inode) else {
                continue; // no surviving name reaches the file
            };
            let mask = plan
                .tear
                .as_ref()
                .filter(|tear| tear.write_index == index)
                .map(|tear| tear.sectors_kept.as_slice());
            apply_write(Arc::make_mut(bytes), write, mask);
        }
        Ok(SimDisk::settled(namespace, contents, self))
    }

    /// The disk after a power loss drawn from `seed` ([`CrashPlan::random`]).
    pub fn power_loss(&self, seed: u64) -> SimDisk {
        let plan = CrashPlan::random(self, seed);
        // A plan built from this disk always fits it; the fallback is never taken.
        self.crash(&plan).unwrap_or_else(|_| self.durable_image())
    }

    /// What survives if nothing volatile does.
    pub fn durable_image(&self) -> SimDisk {
        let plan = CrashPlan::keep_none(self);
        let namespace = self.crash_namespace(&plan.namespace_kept);
        let contents = namespace
            .values()
            .filter_map(|node| match node {
                Node::File(inode) => self.durable_bytes(*inode).map(|bytes| (*inode, bytes)),
                Node::Dir => None,
            })
            .collect();
        SimDisk::settled(namespace, contents, self)
    }

    /// What survives if everything volatile does, in issue order (the live image).
    pub fn live_image(&self) -> SimDisk {
        let plan = CrashPlan::keep_all(self);
        self.crash(&plan).unwrap_or_else(|_| self.durable_image())
    }

    /// Every crash plan of this disk, lazily: for each choice of namespace prefixes (most kept
    /// first), each subset of the unsynced writes, no tear or a tear of one kept write keeping
    /// a prefix of 1..n-1 of its sectors (arbitrary sector sets only come from
    /// [`CrashPlan::random`]), and each order of the kept writes. Many plans give the same
    /// disk; [`SimDisk::crash_states`] removes the duplicates.
    ///
    /// # Errors
    /// [`CrashPlanError::TooManyWrites`] past [`ENUMERATED_WRITES_MAX`] unsynced writes.
    pub fn crash_plans(&self) -> Result<impl Iterator<Item = CrashPlan> + use<>, CrashPlanError> {
        let sectors: Vec<usize> = self
            .pending_writes()
            .iter()
            .map(super::disk::PendingWrite::sector_count)
            .collect();
        let count = sectors.len();
        if count > ENUMERATED_WRITES_MAX {
            return Err(CrashPlanError::TooManyWrites {
                count,
                max: ENUMERATED_WRITES_MAX,
            });
        }
        let limits: Vec<usize> = self.unsynced_dirs().iter().map(|(_, n)| *n).collect();
        let plans = namespace_choices(limits).flat_map(move |namespace_kept| {
            let sectors = sectors.clone();
            (0..1u32 << count).flat_map(move |mask| {
                let kept: Vec<usize> = (0..count).filter(|i| mask & (1 << i) != 0).collect();
                let namespace_kept = namespace_kept.clone();
                tear_choices(&kept, &sectors)
                    .into_iter()
                    .flat_map(move |tear| {
                        let namespace_kept = namespace_kept.clone();
                        permutations(kept.clone()).map(move |applied| CrashPlan {
                            applied,
                            tear: tear.clone(),
                            namespace_kept: namespace_kept.clone(),
                        })
                    })
            })
        });
        Ok(plans)
    }

    /// Distinct post-crash disks over [`SimDisk::crash_plans`], at most `limit` of them
    /// (told apart by [`SimDisk::fingerprint`]).
    ///
    /// # Errors
    /// As [`SimDisk::crash_plans`].
    pub fn crash_states(
        &self,
        limit: usize,
    ) -> Result<impl Iterator<Item = SimDisk> + '_, CrashPlanError> {
        let mut seen: HashSet<u64> = HashSet::new();
        let states = self
            .crash_plans()?
            .filter_map(|plan| self.crash(&plan).ok())
            .filter(move |disk| seen.insert(disk.fingerprint()))
            .take(limit);
        Ok(states)
    }

    /// The namespace after a crash keeping `kept[i]` operations of the i-th unsynced directory.
    fn crash_namespace(&self, kept: &[usize]) -> BTreeMap<PathBuf, Node> {
        let mut namespace = self.durable_namespace().clone();
        let dirs = self.unsynced_dirs();
        for ((dir, _), &keep) in dirs.iter().zip(kept) {
            let ops = self.unsynced_namespace().iter().filter(|op| &op.dir == dir);
            for op in ops.take(keep) {
                apply_namespace_effect(&mut namespace, &op.effect);
            }
        }
        prune_orphans(namespace)
    }
}

/// Drops entries whose parent directory is missing. Paths sort parents first, so one pass
/// sees every parent's fate before its children.
fn prune_orphans(namespace: BTreeMap<PathBuf, Node>) -> BTreeMap<PathBuf, Node> {
    let mut kept: BTreeMap<PathBuf, Node> = BTreeMap::new();
    for (path, node) in namespace {
        let parent_ok = match parent_dir(&path) {
            None => true,
            Some(dir) => parent_dir(dir).is_none() || kept.get(dir) == Some(&Node::Dir),
        };
        if parent_ok {
            kept.insert(path, node);
        }
    }
    kept
}

fn validate(
    plan: &CrashPlan,
    writes: &[&UnsyncedWrite],
    dirs: &[(PathBuf, usize)],
) -> Result<(), CrashPlanError> {
    let count = writes.len();
    let mut seen = vec![false; count];
    for &index in &plan.applied {
        if index >= count || seen[index] {
            return Err(CrashPlanError::BadWriteIndex { index, count });
        }
        seen[index] = true;
    }
    if let Some(tear) = &plan.tear {
        let index = tear.write_index;
        let Some(write) = writes.get(index) else {
            return Err(CrashPlanError::BadWriteIndex { index, count });
        };
        let sectors = write.data.len().div_ceil(SECTOR_BYTES);
        if !seen[index] || tear.sectors_kept.len() != sectors {
            return Err(CrashPlanError::BadTear { index, sectors });
        }
    }
    let namespace_fits = plan.namespace_kept.len() == dirs.len()
        && plan
            .namespace_kept
            .iter()
            .zip(dirs)
            .all(|(kept, (_, count))| kept <= count);
    if !namespace_fits {
        return Err(CrashPlanError::BadNamespace { dirs: dirs.len() });
    }
    Ok(())
}

/// Applies a write whole, or only the sectors `mask` keeps.
fn apply_write(bytes: &mut Vec<u8>, write: &UnsyncedWrite, mask: Option<&[bool]>) {
    let Some(mask) = mask else {
        // Offsets were validated when the write was issued; a failure here cannot happen.
        let _ = write_bytes(bytes, write.offset, &write.data);
        return;
    };
    debug_assert_eq!(mask.len(), write.data.len().div_ceil(SECTOR_BYTES));
    for (sector_index, chunk) in write.data.chunks(SECTOR_BYTES).enumerate() {
        if mask.get(sector_index).copied().unwrap_or(false) {
            let offset = write.offset + (sector_index * SECTOR_BYTES) as u64;
            let _ = write_bytes(bytes, offset, chunk);
        }
    }
}

/// Every vector `v` with `v[i] <= limits[i]`, starting from `limits` and counting down.
fn namespace_choices(limits: Vec<usize>) -> impl Iterator<Item = Vec<usize>> {
    let mut next = Some(limits.clone());
    std::iter::from_fn(move || {
        let current = next.take()?;
        let mut advanced = current.clone();
        for (digit, limit) in advanced.iter_mut().zip(&limits) {
            if *digit > 0 {
                *digit -= 1;
                next = Some(advanced);
                return Some(current);
            }
            *digit = *limit;
        }
        Some(current)
    })
}

/// No tear, then for each kept write with n > 1 sectors, its prefixes of 1..n-1 sectors.
fn tear_choices(kept: &[usize], sectors: &[usize]) -> Vec<Option<Tear>> {
    let mut choices = vec![None];
    for &write_index in kept {
        let count = sectors[write_index];
        for prefix in 1..count {
            let sectors_kept = (0..count).map(|sector| sector < prefix).collect();
            choices.push(Some(Tear {
                write_index,
                sectors_kept,
            }));
        }
    }
    choices
}

/// Every order of `items` (sorted first), in lexicographic order.
fn permutations(mut items: Vec<usize>) -> impl Iterator<Item = Vec<usize>> {
    items.sort_unstable();
    let mut next = Some(items);
    std::iter::from_fn(move || {
        let current = next.take()?;
        let mut advanced = current.clone();
        if next_permutation(&mut advanced) {
            next = Some(advanced);
        }
        Some(current)
    })
}

/// Rearranges `items` into the next lexicographic order; false after the last one.
fn next_permutation(items: &mut [usize]) -> bool {
    let Some(pivot) = (1..items.len()).rev().find(|&i| items[i - 1] < items[i]) else {
        return false;
    };
    let pivot = pivot - 1;
    let Some(successor) = (pivot + 1..items.len())
        .rev()
        .find(|&i| items[i] > items[pivot])
    else {
        return false;
    };
    items.swap(pivot, successor);
    items[pivot + 1..].reverse();
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn permutations_and_namespace_choices_are_complete() {
        assert_eq!(permutations(vec![2, 0, 1]).count(), 6);
        assert_eq!(permutations(Vec::new()).count(), 1);
        let choices: Vec<Vec<usize>> = namespace_choices(vec![1, 2]).collect();
        assert_eq!(choices.len(), 6);
        assert_eq!(choices[0], vec![1, 2]);
        assert!(choices.contains(&vec![0, 0]));
    }

    #[test]
    fn torn_write_keeps_exactly_its_kept_sectors() {
        let mut disk = SimDisk::new();
        let path = Path::new("/f");
        disk.create_file(path).unwrap();
        disk.sync_directory(Path::new("/")).unwrap();
        disk.write_unsynced(path, 0, &[7; 2048]).unwrap();
        let plan = CrashPlan {
            applied: vec![0],
            tear: Some(Tear {
                write_index: 0,
                sectors_kept: vec![false, true, false, false],
            }),
            namespace_kept: Vec::new(),
        };
        let crashed = disk.crash(&plan).unwrap();
        let bytes = crashed.file_bytes(path).unwrap();
        assert_eq!(bytes.len(), 1024);
        assert!(bytes[..512].iter().all(|&b| b == 0));
        assert!(bytes[512..].iter().all(|&b| b == 7));
        assert!(crashed.pending_writes().is_empty());
        assert!(crashed.file_bytes(path).is_some());
    }

    #[test]
    fn entries_of_a_directory_that_did_not_survive_are_dropped() {
        let mut disk = SimDisk::new();
        disk.make_dir(Path::new("/d")).unwrap();
        disk.create_file(Path::new("/d/f")).unwrap();
        disk.sync_directory(Path::new("/d")).unwrap();
        let lost_dir = disk.crash(&CrashPlan::keep_none(&disk)).unwrap();
        assert!(lost_dir.paths().is_empty(), "{:?}", lost_dir.paths());
        let kept_dir = disk.crash(&CrashPlan::keep_all(&disk)).unwrap();
        assert_eq!(kept_dir.paths().len(), 2);
    }

    #[test]
    fn plans_that_do_not_fit_are_rejected() {
        let mut disk = SimDisk::new();
        disk.create_file(Path::new("/f")).unwrap();
        disk.write_unsynced(Path::new("/f"), 0, &[1; 512]).unwrap();
        let mut plan = CrashPlan::keep_all(&disk);
        plan.applied.push(0);
        assert!(matches!(
            disk.crash(&plan),
            Err(CrashPlanError::BadWriteIndex { index: 0, count: 1 })
        ));
        let mut plan = CrashPlan::keep_none(&disk);
        plan.namespace_kept = vec![5];
        assert!(matches!(
            disk.crash(&plan),
            Err(CrashPlanError::BadNamespace { dirs: 1 })
        ));
    }
}
