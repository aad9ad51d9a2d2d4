//! The environment a report was measured in: kernel, the directory's filesystem and block
//! device with its queue attributes, and the storage backend in use and why.
//!
//! Everything is read from `/proc` and `/sys` (no `unsafe`: this crate forbids it, so the
//! filesystem comes from `/proc/self/mountinfo` — the mount with the longest prefix of the
//! canonical directory — rather than from `statfs`'s magic number). A value that cannot be read
//! is `None` and printed as "unknown": a report never fails for want of its environment.

use std::path::{Path, PathBuf};

use serde::Serialize;
use uring_io::BackendInfo;

/// The block device under a directory and its request-queue attributes
/// (`/sys/block/<dev>/queue/*`, see the kernel's `Documentation/ABI/stable/sysfs-block`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Device {
    /// Kernel name of the whole disk ("vda", "nvme0n1"), or of the partition's parent.
    pub name: Option<String>,
    /// `queue/logical_block_size`: the smallest unit the device addresses.
    pub logical_block_bytes: Option<u64>,
    /// `queue/write_cache`: "write back" (a volatile cache: fdatasync must flush it) or
    /// "write through".
    pub write_cache: Option<String>,
    /// `queue/fua`: whether the device honours Force Unit Access writes.
    pub fua: Option<bool>,
    /// `queue/rotational`.
    pub rotational: Option<bool>,
    /// `queue/scheduler`, the selected one in brackets.
    pub scheduler: Option<String>,
}

/// The storage backend a run used (from [`uring_io::BackendInfo`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Backend {
    /// "uring", "fallback" or "buffered".
    pub kind: String,
    /// Whether file data bypassed the page cache.
    pub direct_io: bool,
    /// Direct-I/O alignment in bytes.
    pub alignment_bytes: usize,
    /// Why this backend was chosen.
    pub reason: String,
}

impl From<&BackendInfo> for Backend {
    fn from(info: &BackendInfo) -> Self {
        Backend {
            kind: info.kind.name().to_string(),
            direct_io: info.direct_io,
            alignment_bytes: info.alignment_bytes,
            reason: info.reason.clone(),
        }
    }
}

/// Where a report was measured.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Environment {
    /// `uname -r` (`/proc/sys/kernel/osrelease`).
    pub kernel: Option<String>,
    /// The benchmark directory.
    pub directory: PathBuf,
    /// Filesystem type of the directory ("ext4", "xfs", "tmpfs").
    pub filesystem: Option<String>,
    /// Mount source of that filesystem ("/dev/vda").
    pub mount_source: Option<String>,
    /// The block device and its queue attributes (`None` for tmpfs and friends).
    pub device: Option<Device>,
    /// Logical CPUs available.
    pub cpus: usize,
    /// The backend in use (`None` until a workload opened storage).
    pub backend: Option<Backend>,
}

impl Environment {
    /// Describes `directory` (which must exist) and the machine; `backend` as used.
    pub fn probe(directory: &Path, backend: Option<&BackendInfo>) -> Environment {
        let directory = directory
            .canonicalize()
            .unwrap_or_else(|_| directory.to_path_buf());
        let mount = std::fs::read_to_string("/proc/self/mountinfo")
            .ok()
            .and_then(|text| mount_of(&text, &directory));
        let device = mount
            .as_ref()
            .and_then(|mount| mount.device_number.as_deref())
            .and_then(device_of);
        Environment {
            kernel: read_trimmed(Path::new("/proc/sys/kernel/osrelease")),
            directory,
            filesystem: mount.as_ref().map(|mount| mount.filesystem.clone()),
            mount_source: mount.map(|mount| mount.source),
            device,
            cpus: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            backend: backend.map(Backend::from),
        }
    }

    /// The environment as indented `key: value` lines, for the text report.
    pub fn lines(&self) -> Vec<String> {
        let unknown = |value: &Option<String>| value.clone().unwrap_or_else(|| "unknown".into());
        let mut lines = vec![
            format!("kernel: {}", unknown(&self.kernel)),
            format!(
                "directory: {} ({} on {}), {} CPUs",
                self.directory.display(),
                unknown(&self.filesystem),
                unknown(&self.mount_source),
                self.cpus
            ),
        ];
        if let Some(device) = &self.device {
            lines.push(device.line());
        }
        if let Some(backend) = &self.backend {
            let direct = if backend.direct_io {
                "O_DIRECT"
            } else {
                "buffered (no O_DIRECT)"
            };
            lines.push(format!(
                "backend: {}, {direct}, alignment {} B: {}",
                backend.kind, backend.alignment_bytes, backend.reason
            ));
        }
        lines
    }
}

impl Device {
    fn line(&self) -> String {
        let text = |value: &Option<String>| value.clone().unwrap_or_else(|| "unknown".into());
        let flag = |value: Option<bool>| match value {
            Some(true) => "yes",
            Some(false) => "no",
            None => "unknown",
        };
        format!(
            "device: {} logical_block_size={} write_cache={} fua={} rotational={} scheduler={}",
            text(&self.name),
            self.logical_block_bytes
                .map_or_else(|| "unknown".to_string(), |bytes| bytes.to_string()),
            text(&self.write_cache),
            flag(self.fua),
            flag(self.rotational),
            text(&self.scheduler),
        )
    }
}

/// One line of `/proc/self/mountinfo` that matters here.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Mount {
    mount_point: PathBuf,
    filesystem: String,
    source: String,
    /// "major:minor" (field 3), for `/sys/dev/block/<major:minor>`.
    device_number: Option<String>,
}

/// The mount whose mount point is the longest prefix of `directory` (the last one wins on
/// ties: later mounts stack on earlier ones). Format: proc(5), `/proc/[pid]/mountinfo`.
fn mount_of(mountinfo: &str, directory: &Path) -> Option<Mount> {
    let mut best: Option<Mount> = None;
    for line in mountinfo.lines() {
        let Some(mount) = parse_mount_line(line) else {
            continue;
        };
        if !directory.starts_with(&mount.mount_point) {
            continue;
        }
        let longer = best.as_ref().is_none_or(|best| {
            mount.mount_point.components().count() >= best.mount_point.components().count()
        });
        if longer {
            best = Some(mount);
        }
    }
    best
}

fn parse_mount_line(line: &str) -> Option<Mount> {
    let (before, after) = line.split_once(" - ")?;
    let fields: Vec<&str> = before.split(' ').collect();
    let mut after_fields = after.split(' ');
    let filesystem = after_fields.next()?.to_string();
    let source = after_fields.next()?.to_string();
    let device_number = fields.get(2).map(|value| (*value).to_string());
    let mount_point = PathBuf::from(unescape_octal(fields.get(4)?));
    Some(Mount {
        mount_point,
        filesystem,
        source,
        device_number,
    })
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_octal(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut rest = field;
    while let Some(index) = rest.find('\\') {
        out.push_str(&rest[..index]);
        let code = rest.get(index + 1..index + 4);
        match code.and_then(|code| u8::from_str_radix(code, 8).ok()) {
            Some(byte) => {
                out.push(char::from(byte));
                rest = &rest[index + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[index + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The device `major:minor` and its queue attributes; a partition's queue is its parent's.
fn device_of(device_number: &str) -> Option<Device> {
    let sys = PathBuf::from("/sys/dev/block").join(device_number);
    let resolved = sys.canonicalize().ok()?;
    let disk = if resolved.join("partition").exists() {
        resolved.parent()?.to_path_buf()
    } else {
        resolved
    };
    let queue = disk.join("queue");
    if !queue.exists() {
        return None;
    }
    let flag = |name: &str| read_trimmed(&queue.join(name)).map(|value| value == "1");
    Some(Device {
        name: disk
            .file_name()
            .map(|name| name.to_string_lossy().into_owned()),
        logical_block_bytes: read_trimmed(&queue.join("logical_block_size"))
            .and_then(|value| value.parse().ok()),
        write_cache: read_trimmed(&queue.join("write_cache")),
        fua: flag("fua"),
        rotational: flag("rotational"),
        scheduler: read_trimmed(&queue.join("scheduler")),
    })
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|text| text.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24683656k
50 27 0:40 / /mnt/with\\040space rw - xfs /dev/sdb1 rw
";

    #[test]
    fn the_longest_mount_prefix_wins() {
        // Goal: a directory maps to the innermost mount. Method: sample mountinfo lines.
        let root = mount_of(MOUNTINFO, Path::new("/work/main")).map(|mount| mount.filesystem);
        assert_eq!(root.as_deref(), Some("ext4"));
        let shm = mount_of(MOUNTINFO, Path::new("/dev/shm/x"));
        assert_eq!(
            shm.as_ref().map(|mount| mount.filesystem.as_str()),
            Some("tmpfs")
        );
        assert_eq!(
            shm.and_then(|mount| mount.device_number).as_deref(),
            Some("0:23")
        );
    }

    #[test]
    fn escaped_mount_points_are_decoded() {
        // Goal: `\040` in a mount point is a space. Method: a mount point with a space.
        let mount = mount_of(MOUNTINFO, Path::new("/mnt/with space/db"));
        assert_eq!(
            mount.map(|mount| mount.source).as_deref(),
            Some("/dev/sdb1")
        );
        assert_eq!(unescape_octal("a\\040b\\"), "a b\\");
    }

    #[test]
    fn probing_this_machine_names_a_filesystem() {
        // Goal: the probe reads this machine's kernel and filesystem. Method: probe a tempdir.
        let dir = tempfile::tempdir().unwrap();
        let environment = Environment::probe(dir.path(), None);
        assert!(environment.kernel.is_some());
        assert!(environment.filesystem.is_some());
        assert!(environment.lines().len() >= 2);
    }
}
