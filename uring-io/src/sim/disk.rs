//! `SimDisk`: the in-memory disk behind [`super::SimStorage`], with both images a crash test
//! needs — what reads see now (the *live* image) and what is guaranteed to survive a power loss
//! (the *durable* image) — and the volatile difference between them.
//!
//! What it owns:
//! - The namespace: a map from path to node (file or directory; several paths may name one
//!   file, as hard links do), live and durable, and the log of namespace operations (link,
//!   unlink, rename) not yet made durable by a directory sync, kept per directory in issue
//!   order.
//! - Inodes: per file the live bytes, the durable bytes, and the unsynced writes issued since
//!   the file's last data sync, in issue order (the volatile write cache).
//!
//! Invariants:
//! - Applying an inode's unsynced writes, in order, to its durable bytes gives its live bytes,
//!   except after a failed sync, which discards the unsynced writes (they are lost at a crash)
//!   while reads still see them, as Linux keeps the pages after a writeback error.
//! - Every unsynced namespace operation belongs to exactly one directory: the parent of the
//!   entry it adds or removes (a rename across directories is two operations).
//! - Contents are shared copy-on-write (`Arc`), so cloning a disk to crash it is cheap.
//!
//! How a crash turns this into a new disk is `super::crash`'s business.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::storage::SECTOR_BYTES;

/// Identifies a file's contents independently of its names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct InodeId(u64);

/// What a path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Node {
    File(InodeId),
    Dir,
}

/// A write that reached the volatile cache but not yet the media.
#[derive(Clone, Debug)]
pub(crate) struct UnsyncedWrite {
    /// Disk-wide issue order.
    pub(crate) sequence: u64,
    pub(crate) inode: InodeId,
    pub(crate) offset: u64,
    pub(crate) data: Arc<Vec<u8>>,
}

#[derive(Clone, Debug, Default)]
struct Inode {
    live: Arc<Vec<u8>>,
    durable: Arc<Vec<u8>>,
    unsynced: Vec<UnsyncedWrite>,
}

/// The effect of one namespace operation on its directory.
#[derive(Clone, Debug)]
pub(crate) enum NamespaceEffect {
    Link { path: PathBuf, node: Node },
    Unlink { path: PathBuf },
    Rename { source: PathBuf, target: PathBuf },
}

#[derive(Clone, Debug)]
pub(crate) struct NamespaceOp {
    pub(crate) dir: PathBuf,
    pub(crate) effect: NamespaceEffect,
}

/// Describes one unsynced write, for tests that build a [`crate::CrashPlan`] by hand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingWrite {
    /// Position in [`SimDisk::pending_writes`]: the index a crash plan uses.
    pub index: usize,
    /// A current name of the file written (its durable name if it has no live one; empty if
    /// it was unlinked).
    pub path: PathBuf,
    /// Byte offset in the file.
    pub offset: u64,
    /// Length in bytes.
    pub len_bytes: u64,
}

impl PendingWrite {
    /// How many sectors ([`SECTOR_BYTES`]) the write covers, the unit a tear keeps or loses.
    pub fn sector_count(&self) -> usize {
        usize::try_from(self.len_bytes.div_ceil(SECTOR_BYTES as u64)).unwrap_or(usize::MAX)
    }
}

/// An in-memory disk: a namespace of directories and files with a live and a durable image.
///
/// Obtain one from [`crate::SimStorage::disk`] or [`crate::SimStorage::power_loss`]; crash it
/// with [`SimDisk::crash`] / [`SimDisk::power_loss`]; reopen on it with
/// [`crate::SimStorage::with_disk`]. The raw methods ([`SimDisk::write_unsynced`],
/// [`SimDisk::sync_file`]) drive it without a storage, for tests of the disk model itself.
#[derive(Clone, Debug, Default)]
pub struct SimDisk {
    live: BTreeMap<PathBuf, Node>,
    durable: BTreeMap<PathBuf, Node>,
    unsynced_namespace: Vec<NamespaceOp>,
    inodes: BTreeMap<InodeId, Inode>,
    inode_next: u64,
    sequence_next: u64,
}

/// A failed disk operation: the errno a file system would give.
pub(crate) type DiskResult<T> = std::result::Result<T, i32>;

/// The directory holding `path`, or `None` for a root (`/` or the empty path), which always
/// exists.
pub(crate) fn parent_dir(path: &Path) -> Option<&Path> {
    path.parent()
}

impl SimDisk {
    /// An empty disk: only the root exists.
    pub fn new() -> Self {
        SimDisk::default()
    }

    pub(crate) fn is_dir(&self, path: &Path) -> bool {
        parent_dir(path).is_none() || matches!(self.live.get(path), Some(Node::Dir))
    }

    pub(crate) fn node(&self, path: &Path) -> Option<Node> {
        if parent_dir(path).is_none() {
            return Some(Node::Dir);
        }
        self.live.get(path).copied()
    }

    fn require_parent(&self, path: &Path) -> DiskResult<PathBuf> {
        let Some(dir) = parent_dir(path) else {
            return Err(libc::EEXIST);
        };
        match self.node(dir) {
            Some(Node::Dir) => Ok(dir.to_path_buf()),
            Some(Node::File(_)) => Err(libc::ENOTDIR),
            None => Err(libc::ENOENT),
        }
    }

    fn record(&mut self, dir: PathBuf, effect: NamespaceEffect) {
        self.unsynced_namespace.push(NamespaceOp { dir, effect });
    }

    /// Makes a directory entry for `dir` (its parent must exist); not durable until the parent
    /// is synced.
    pub(crate) fn make_dir(&mut self, dir: &Path) -> DiskResult<()> {
        let parent = self.require_parent(dir)?;
        if self.node(dir).is_some() {
            return Err(libc::EEXIST);
        }
        self.live.insert(dir.to_path_buf(), Node::Dir);
        let effect = NamespaceEffect::Link {
            path: dir.to_path_buf(),
            node: Node::Dir,
        };
        self.record(parent, effect);
        Ok(())
    }

    /// Creates an empty file at `path` (which must not exist); not durable until its directory
    /// is synced.
    pub fn create_file(&mut self, path: &Path) -> std::result::Result<(), crate::IoError> {
        self.create_file_inode(path)
            .map(|_| ())
            .map_err(|errno| crate::IoError::from_errno("create", path, errno))
    }

    pub(crate) fn create_file_inode(&mut self, path: &Path) -> DiskResult<InodeId> {
        let parent = self.require_parent(path)?;
        if self.node(path).is_some() {
            return Err(libc::EEXIST);
        }
        let inode = InodeId(self.inode_next);
        self.inode_next += 1;
        self.inodes.insert(inode, Inode::default());
        self.live.insert(path.to_path_buf(), Node::File(inode));
        let effect = NamespaceEffect::Link {
            path: path.to_path_buf(),
            node: Node::File(inode),
        };
        self.record(parent, effect);
        Ok(inode)
    }

    /// The inode of the file at `path`.
    pub(crate) fn file_inode(&self, path: &Path) -> DiskResult<InodeId> {
        match self.node(path) {
            Some(Node::File(inode)) => Ok(inode),
            Some(Node::Dir) => Err(libc::EISDIR),
            None => Err(libc::ENOENT),
        }
    }

    /// Names in `dir`, sorted.
    pub(crate) fn list_dir(&self, dir: &Path) -> DiskResult<Vec<std::ffi::OsString>> {
        match self.node(dir) {
            Some(Node::Dir) => {}
            Some(Node::File(_)) => return Err(libc::ENOTDIR),
            None => return Err(libc::ENOENT),
        }
        let names = self
            .live
            .keys()
            .filter(|path| parent_dir(path) == Some(dir))
            .filter_map(|path| path.file_name().map(std::ffi::OsStr::to_os_string))
            .collect();
        Ok(names)
    }

    /// Unlinks the file at `path`; not durable until its directory is synced. Open handles
    /// keep the inode.
    pub(crate) fn remove_file(&mut self, path: &Path) -> DiskResult<()> {
        self.file_inode(path)?;
        let parent = self.require_parent(path)?;
        self.live.remove(path);
        let effect = NamespaceEffect::Unlink {
            path: path.to_path_buf(),
        };
        self.record(parent, effect);
        Ok(())
    }

    /// Makes `new_path` another name of the file at `old_path` (the same inode); not durable
    /// until `new_path`'s directory is synced. Directories cannot be linked (`EPERM`, as
    /// link(2) says).
    pub(crate) fn link(&mut self, old_path: &Path, new_path: &Path) -> DiskResult<()> {
        let inode = match self.node(old_path) {
            Some(Node::File(inode)) => inode,
            Some(Node::Dir) => return Err(libc::EPERM),
            None => return Err(libc::ENOENT),
        };
        let parent = self.require_parent(new_path)?;
        if self.node(new_path).is_some() {
            return Err(libc::EEXIST);
        }
        let node = Node::File(inode);
        self.live.insert(new_path.to_path_buf(), node);
        let effect = NamespaceEffect::Link {
            path: new_path.to_path_buf(),
            node,
        };
        self.record(parent, effect);
        Ok(())
    }

    /// Renames a file, replacing `target` if it is a file. Within a directory this is one
    /// atomic operation; across directories it is an unlink in one and a link in the other,
    /// each durable with its own directory. Renaming directories is not modelled (`EISDIR`).
    pub(crate) fn rename(&mut self, source: &Path, target: &Path) -> DiskResult<()> {
        let inode = self.file_inode(source)?;
        let source_dir = self.require_parent(source)?;
        let target_dir = self.require_parent(target)?;
        if matches!(self.node(target), Some(Node::Dir)) {
            return Err(libc::EISDIR);
        }
        if source == target {
            return Ok(());
        }
        self.live.remove(source);
        self.live.insert(target.to_path_buf(), Node::File(inode));
        if source_dir == target_dir {
            let effect = NamespaceEffect::Rename {
                source: source.to_path_buf(),
                target: target.to_path_buf(),
            };
            self.record(source_dir, effect);
        } else {
            let unlink = NamespaceEffect::Unlink {
                path: source.to_path_buf(),
            };
            self.record(source_dir, unlink);
            let link = NamespaceEffect::Link {
                path: target.to_path_buf(),
                node: Node::File(inode),
            };
            self.record(target_dir, link);
        }
        Ok(())
    }

    /// Makes every unsynced namespace operation of `dir` durable, in order.
    pub(crate) fn sync_dir(&mut self, dir: &Path) -> DiskResult<()> {
        match self.node(dir) {
            Some(Node::Dir) => {}
            Some(Node::File(_)) => return Err(libc::ENOTDIR),
            None => return Err(libc::ENOENT),
        }
        let (synced, kept): (Vec<NamespaceOp>, Vec<NamespaceOp>) =
            std::mem::take(&mut self.unsynced_namespace)
                .into_iter()
                .partition(|op| op.dir == dir);
        self.unsynced_namespace = kept;
        for op in &synced {
            apply_namespace_effect(&mut self.durable, &op.effect);
        }
        Ok(())
    }

    fn inode_mut(&mut self, inode: InodeId) -> DiskResult<&mut Inode> {
        self.inodes.get_mut(&inode).ok_or(libc::ESTALE)
    }

    fn inode(&self, inode: InodeId) -> DiskResult<&Inode> {
        self.inodes.get(&inode).ok_or(libc::ESTALE)
    }

    /// Puts a write in the volatile cache: reads see it at once, a crash may lose or tear it.
    pub(crate) fn write(&mut self, inode: InodeId, offset: u64, data: &[u8]) -> DiskResult<()> {
        let sequence = self.sequence_next;
        let file = self.inode_mut(inode)?;
        write_bytes(Arc::make_mut(&mut file.live), offset, data)?;
        file.unsynced.push(UnsyncedWrite {
            sequence,
            inode,
            offset,
            data: Arc::new(data.to_vec()),
        });
        self.sequence_next += 1;
        Ok(())
    }

    /// A successful fdatasync: the file's unsynced writes reach the media, in issue order.
    pub(crate) fn sync_data(&mut self, inode: InodeId) -> DiskResult<()> {
        let file = self.inode_mut(inode)?;
        let unsynced = std::mem::take(&mut file.unsynced);
        if unsynced.is_empty() {
            return Ok(());
        }
        let durable = Arc::make_mut(&mut file.durable);
        for write in &unsynced {
            write_bytes(durable, write.offset, &write.data)?;
        }
        Ok(())
    }

    /// A failed fdatasync: the file's unsynced writes will not survive a crash (their pages
    /// were marked clean by the failed writeback), though reads still see them.
    pub(crate) fn lose_unsynced(&mut self, inode: InodeId) -> DiskResult<()> {
        self.inode_mut(inode)?.unsynced.clear();
        Ok(())
    }

    /// Reads live bytes at `offset` into `buf`; returns how many (fewer only at end of file).
    pub(crate) fn read(&self, inode: InodeId, offset: u64, buf: &mut [u8]) -> DiskResult<usize> {
        let live = &self.inode(inode)?.live;
        let start = usize::try_from(offset).map_err(|_| libc::EINVAL)?;
        if start >= live.len() {
            return Ok(0);
        }
        let count = buf.len().min(live.len() - start);
        buf[..count].copy_from_slice(&live[start..start + count]);
        Ok(count)
    }

    /// The live bytes of a file (what a read sees now).
    pub(crate) fn live_bytes(&self, inode: InodeId) -> DiskResult<Arc<Vec<u8>>> {
        Ok(Arc::clone(&self.inode(inode)?.live))
    }

    /// The live length of a file.
    pub(crate) fn len_bytes(&self, inode: InodeId) -> DiskResult<u64> {
        Ok(self.inode(inode)?.live.len() as u64)
    }

    /// Truncates or extends a file (with zeros) and syncs it: data and length are durable.
    pub(crate) fn set_len(&mut self, inode: InodeId, len_bytes: u64) -> DiskResult<()> {
        let len = usize::try_from(len_bytes).map_err(|_| libc::EFBIG)?;
        self.sync_data(inode)?;
        let file = self.inode_mut(inode)?;
        Arc::make_mut(&mut file.live).resize(len, 0);
        Arc::make_mut(&mut file.durable).resize(len, 0);
        debug_assert!(file.unsynced.is_empty());
        Ok(())
    }

    /// Writes `data` at `offset` of the file at `path` into the volatile cache, without syncing
    /// (the raw device API for tests of the disk model).
    ///
    /// # Errors
    /// [`crate::IoError::Os`] with `ENOENT`/`EISDIR` when `path` is not a file.
    pub fn write_unsynced(
        &mut self,
        path: &Path,
        offset: u64,
        data: &[u8],
    ) -> std::result::Result<(), crate::IoError> {
        self.file_inode(path)
            .and_then(|inode| self.write(inode, offset, data))
            .map_err(|errno| crate::IoError::from_errno("write", path, errno))
    }

    /// fdatasyncs the file at `path`: its unsynced writes become durable.
    ///
    /// # Errors
    /// [`crate::IoError::Os`] with `ENOENT`/`EISDIR` when `path` is not a file.
    pub fn sync_file(&mut self, path: &Path) -> std::result::Result<(), crate::IoError> {
        self.file_inode(path)
            .and_then(|inode| self.sync_data(inode))
            .map_err(|errno| crate::IoError::from_errno("fdatasync", path, errno))
    }

    /// fsyncs the directory `dir`: its creations, removals and renames become durable.
    ///
    /// # Errors
    /// [`crate::IoError::Os`] with `ENOENT`/`ENOTDIR` when `dir` is not a directory.
    pub fn sync_directory(&mut self, dir: &Path) -> std::result::Result<(), crate::IoError> {
        self.sync_dir(dir)
            .map_err(|errno| crate::IoError::from_errno("fsync", dir, errno))
    }

    /// The live content of the file at `path` (what a read sees now), or `None` if no file is
    /// there.
    pub fn file_bytes(&self, path: &Path) -> Option<Vec<u8>> {
        let inode = self.file_inode(path).ok()?;
        self.inode(inode).ok().map(|file| file.live.to_vec())
    }

    /// Every file and directory path of the live namespace, sorted.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.live.keys().cloned().collect()
    }

    /// The unsynced writes, disk-wide in issue order; a [`crate::CrashPlan`] refers to them by
    /// [`PendingWrite::index`].
    pub fn pending_writes(&self) -> Vec<PendingWrite> {
        let mut writes: Vec<&UnsyncedWrite> = self.unsynced_writes();
        writes.sort_by_key(|write| write.sequence);
        writes
            .into_iter()
            .enumerate()
            .map(|(index, write)| PendingWrite {
                index,
                path: self.name_of(write.inode),
                offset: write.offset,
                len_bytes: write.data.len() as u64,
            })
            .collect()
    }

    pub(crate) fn unsynced_writes(&self) -> Vec<&UnsyncedWrite> {
        let mut writes: Vec<&UnsyncedWrite> = self
            .inodes
            .values()
            .flat_map(|file| &file.unsynced)
            .collect();
        writes.sort_by_key(|write| write.sequence);
        writes
    }

    fn name_of(&self, inode: InodeId) -> PathBuf {
        let named = |map: &BTreeMap<PathBuf, Node>| {
            map.iter()
                .find(|(_, node)| **node == Node::File(inode))
                .map(|(path, _)| path.clone())
        };
        named(&self.live)
            .or_else(|| named(&self.durable))
            .unwrap_or_default()
    }

    /// Directories with unsynced namespace operations, sorted, each with its operation count;
    /// a [`crate::CrashPlan`]'s `namespace_kept` follows this order.
    pub fn unsynced_dirs(&self) -> Vec<(PathBuf, usize)> {
        let mut counts: BTreeMap<PathBuf, usize> = BTreeMap::new();
        for op in &self.unsynced_namespace {
            *counts.entry(op.dir.clone()).or_default() += 1;
        }
        counts.into_iter().collect()
    }

    pub(crate) fn unsynced_namespace(&self) -> &[NamespaceOp] {
        &self.unsynced_namespace
    }

    pub(crate) fn durable_namespace(&self) -> &BTreeMap<PathBuf, Node> {
        &self.durable
    }

    pub(crate) fn durable_bytes(&self, inode: InodeId) -> Option<Arc<Vec<u8>>> {
        self.inodes
            .get(&inode)
            .map(|file| Arc::clone(&file.durable))
    }

    /// A disk with `namespace` as both its live and durable namespace and `contents` as both
    /// images of each file: the state just after a crash, with nothing volatile.
    pub(crate) fn settled(
        namespace: BTreeMap<PathBuf, Node>,
        contents: BTreeMap<InodeId, Arc<Vec<u8>>>,
        template: &SimDisk,
    ) -> SimDisk {
        let inodes = contents
            .into_iter()
            .map(|(id, bytes)| {
                let inode = Inode {
                    live: Arc::clone(&bytes),
                    durable: bytes,
                    unsynced: Vec::new(),
                };
                (id, inode)
            })
            .collect();
        SimDisk {
            live: namespace.clone(),
            durable: namespace,
            unsynced_namespace: Vec::new(),
            inodes,
            inode_next: template.inode_next,
            sequence_next: template.sequence_next,
        }
    }

    /// A hash of the live namespace and every reachable file's live bytes, to tell crash
    /// states apart.
    pub fn fingerprint(&self) -> u64 {
        let mut hasher = std::hash::DefaultHasher::new();
        for (path, node) in &self.live {
            path.hash(&mut hasher);
            match node {
                Node::Dir => 0u8.hash(&mut hasher),
                Node::File(inode) => {
                    1u8.hash(&mut hasher);
                    if let Some(file) = self.inodes.get(inode) {
                        file.live.hash(&mut hasher);
                    }
                }
            }
        }
        hasher.finish()
    }
}

/// Applies one namespace operation to a namespace map (durable or crash image).
pub(crate) fn apply_namespace_effect(map: &mut BTreeMap<PathBuf, Node>, effect: &NamespaceEffect) {
    match effect {
        NamespaceEffect::Link { path, node } => {
            map.insert(path.clone(), *node);
        }
        NamespaceEffect::Unlink { path } => {
            map.remove(path);
        }
        NamespaceEffect::Rename { source, target } => {
            // The source was linked by an earlier operation of the same directory or is
            // durable: operations of a directory survive as a prefix.
            if let Some(node) = map.remove(source) {
                map.insert(target.clone(), node);
            }
        }
    }
}

/// Copies `data` into `bytes` at `offset`, extending with zeros as needed.
pub(crate) fn write_bytes(bytes: &mut Vec<u8>, offset: u64, data: &[u8]) -> DiskResult<()> {
    let start = usize::try_from(offset).map_err(|_| libc::EFBIG)?;
    let end = start.checked_add(data.len()).ok_or(libc::EFBIG)?;
    if bytes.len() < end {
        bytes.resize(end, 0);
    }
    bytes[start..end].copy_from_slice(data);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_data_makes_durable_equal_live_and_failed_sync_keeps_live_only() {
        let mut disk = SimDisk::new();
        let path = Path::new("/f");
        let inode = disk.create_file_inode(path).unwrap();
        disk.write(inode, 0, &[1; 1024]).unwrap();
        disk.sync_data(inode).unwrap();
        assert_eq!(disk.durable_bytes(inode).unwrap().as_slice(), &[1; 1024]);
        disk.write(inode, 512, &[2; 1024]).unwrap();
        assert_eq!(disk.pending_writes().len(), 1);
        disk.lose_unsynced(inode).unwrap();
        assert!(disk.pending_writes().is_empty());
        let live = disk.file_bytes(path).unwrap();
        assert_eq!(live.len(), 1536);
        assert_eq!(&live[512..], &[2; 1024]);
        assert_eq!(disk.durable_bytes(inode).unwrap().len(), 1024);
    }

    #[test]
    fn namespace_operations_stay_volatile_until_their_directory_syncs() {
        let mut disk = SimDisk::new();
        disk.make_dir(Path::new("/d")).unwrap();
        disk.create_file_inode(Path::new("/d/a")).unwrap();
        assert_eq!(disk.unsynced_dirs().len(), 2);
        disk.sync_dir(Path::new("/d")).unwrap();
        assert_eq!(disk.unsynced_dirs(), vec![(PathBuf::from("/"), 1)]);
        assert!(disk.durable_namespace().contains_key(Path::new("/d/a")));
        assert_eq!(
            disk.rename(Path::new("/d"), Path::new("/e")),
            Err(libc::EISDIR)
        );
        assert_eq!(disk.create_file_inode(Path::new("/x/y")), Err(libc::ENOENT));
    }
}
