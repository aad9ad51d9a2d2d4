//! The memory this process may use, as the defaults see it: the smaller of the machine's
//! physical memory (`MemTotal` in `/proc/meminfo`) and the limit of the process's cgroup
//! (`memory.max` of cgroup v2, `memory.limit_in_bytes` of v1), so a service in a container
//! sizes its caches from the container, not from the host.
//!
//! Owns: [`page_cache_bytes_default`], the default budget of the page cache. Invariant: the
//! default lies in `PAGE_CACHE_BYTES_FLOOR..=PAGE_CACHE_BYTES_CEILING` whatever the files
//! say (unreadable or unparsable files count as unknown, which yields the floor).

use std::path::Path;

use crate::options::{PAGE_CACHE_BYTES_CEILING, PAGE_CACHE_BYTES_FLOOR, PAGE_CACHE_MEMORY_SHARE};

/// The default page-cache budget: [`PAGE_CACHE_MEMORY_SHARE`] of the usable memory, within
/// the floor and the ceiling (the floor when the memory is unknown).
pub(crate) fn page_cache_bytes_default() -> usize {
    budget_of(usable_memory_bytes(Path::new("/")))
}

/// The budget for `memory` usable bytes.
fn budget_of(memory: Option<u64>) -> usize {
    let share = memory.map_or(0, |bytes| bytes / PAGE_CACHE_MEMORY_SHARE);
    usize::try_from(share)
        .unwrap_or(usize::MAX)
        .clamp(PAGE_CACHE_BYTES_FLOOR, PAGE_CACHE_BYTES_CEILING)
}

/// The smaller of physical memory and the cgroup limit, under the filesystem root `root`
/// (`/` outside tests).
fn usable_memory_bytes(root: &Path) -> Option<u64> {
    let physical = std::fs::read_to_string(root.join("proc/meminfo"))
        .ok()
        .and_then(|text| mem_total_bytes(&text));
    let cgroup = cgroup_limit_bytes(root);
    match (physical, cgroup) {
        (Some(physical), Some(cgroup)) => Some(physical.min(cgroup)),
        (physical, cgroup) => physical.or(cgroup),
    }
}

/// `MemTotal` of a `/proc/meminfo` text, in bytes.
fn mem_total_bytes(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|line| line.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// The memory limit of this process's cgroup, if it has one (`max` or an absurdly large v1
/// value means none).
fn cgroup_limit_bytes(root: &Path) -> Option<u64> {
    let membership = std::fs::read_to_string(root.join("proc/self/cgroup")).ok()?;
    for line in membership.lines() {
        // v2: "0::/path"; v1: "N:memory:/path" (other controllers are skipped).
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        let file = match controllers {
            "" => "memory.max",
            list if list.split(',').any(|name| name == "memory") => "memory.limit_in_bytes",
            _ => continue,
        };
        let dir = root
            .join("sys/fs/cgroup")
            .join(path.trim_start_matches('/'));
        let v1_dir = root
            .join("sys/fs/cgroup/memory")
            .join(path.trim_start_matches('/'));
        for candidate in [dir.join(file), v1_dir.join(file)] {
            if let Ok(text) = std::fs::read_to_string(&candidate) {
                return text
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|&bytes| bytes < 1 << 60);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, file: &str, text: &str) {
        let path = root.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn the_smaller_of_physical_memory_and_the_cgroup_limit_counts() {
        // Goal: a container's limit wins over the host's memory, and "max" means no limit.
        // Method: a fake filesystem root with /proc and /sys/fs/cgroup files.
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        write(
            root,
            "proc/meminfo",
            "MemTotal:       25165824 kB\nMemFree: 1 kB\n",
        );
        assert_eq!(usable_memory_bytes(root), Some(24 << 30));
        write(root, "proc/self/cgroup", "0::/service.slice/app\n");
        write(root, "sys/fs/cgroup/service.slice/app/memory.max", "max\n");
        assert_eq!(usable_memory_bytes(root), Some(24 << 30));
        write(
            root,
            "sys/fs/cgroup/service.slice/app/memory.max",
            "2147483648\n",
        );
        assert_eq!(usable_memory_bytes(root), Some(2 << 30));
        write(root, "proc/self/cgroup", "4:cpu:/\n3:memory:/docker/x\n");
        write(
            root,
            "sys/fs/cgroup/memory/docker/x/memory.limit_in_bytes",
            "1073741824",
        );
        assert_eq!(usable_memory_bytes(root), Some(1 << 30));
    }

    #[test]
    fn the_budget_is_a_share_within_floor_and_ceiling() {
        // Goal: the default stays sane for tiny, unknown and huge machines. Method: budgets
        // of 512 MiB, unknown, 8 GiB and 1 TiB of memory.
        assert_eq!(budget_of(Some(512 << 20)), PAGE_CACHE_BYTES_FLOOR);
        assert_eq!(budget_of(None), PAGE_CACHE_BYTES_FLOOR);
        let eight_gib = 8_u64 << 30;
        let share = usize::try_from(eight_gib / PAGE_CACHE_MEMORY_SHARE).unwrap();
        assert_eq!(budget_of(Some(eight_gib)), share);
        assert_eq!(budget_of(Some(1 << 40)), PAGE_CACHE_BYTES_CEILING);
        assert!(mem_total_bytes("MemFree: 3 kB\n").is_none());
    }
}
