//! Detection: which OS backend can run under a directory, and why. Probes, in order:
//! 1. the request (`BackendRequest::Auto` honours the `INFINITEDB_BACKEND` environment
//!    variable);
//! 2. direct I/O on the directory's filesystem: tmpfs/ramfs are memory-backed (O_DIRECT is
//!    meaningless there, and refused with EINVAL before Linux 6.6); otherwise a probe file is
//!    opened with `O_DIRECT`, its alignment read with `statx(STATX_DIOALIGN)` (Linux 6.1+;
//!    fallback: the device's logical block size from sysfs), and one aligned block written.
//!    A read-only open ([`Probe::ReadExisting`]) writes nothing: it opens an existing file of
//!    the directory with `O_DIRECT` for reading and reads its alignment the same way;
//! 3. io_uring: a ring is built with `SINGLE_ISSUER|DEFER_TASKRUN`, then `COOP_TASKRUN`, then no
//!    flags, and must complete a NOP round trip; it must offer `FEAT_NODROP` (completions are
//!    never dropped on CQ overflow) and `FEAT_EXT_ARG` (timed waits, for deadlines).
//!
//! The [`BackendInfo::reason`] records every probe's result and the likely cause of a refusal
//! (seccomp, the `kernel.io_uring_disabled` sysctl, tmpfs), since this crate has no logger.
//! Invariant: the alignment reported is a power of two ≥ [`MIN_ALIGNMENT`].

use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use io_uring::opcode;

use super::ring::{Ring, RingSetup};
use crate::aligned::{AlignedBuf, MIN_ALIGNMENT};
use crate::backend::{BACKEND_ENV_VAR, BackendInfo, BackendKind, BackendRequest};
use crate::error::{IoError, Result};

/// The outcome of detection.
#[derive(Debug)]
pub(crate) struct Detection {
    /// What `Storage::info` reports.
    pub info: BackendInfo,
    /// The ring flags to use, when the backend is io_uring.
    pub ring_setup: Option<RingSetup>,
}

/// Direct I/O support of a directory's filesystem.
#[derive(Debug)]
struct DirectProbe {
    supported: bool,
    alignment: usize,
    note: String,
}

/// How direct I/O is probed under a directory.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Probe<'a> {
    /// Create, write and remove a probe file in the directory.
    WriteFile,
    /// Open this existing file for direct reads; nothing is written.
    ReadExisting(&'a Path),
}

/// Probes `root` (which must exist) and picks the backend for `request`.
pub(crate) fn detect(root: &Path, request: BackendRequest, probe: Probe<'_>) -> Result<Detection> {
    let (request, request_note) = resolve_request(request, std::env::var(BACKEND_ENV_VAR).ok())?;
    let direct = probe_direct_io(root, probe)?;
    let wants_ring = matches!(request, BackendRequest::Uring)
        || (matches!(request, BackendRequest::Auto) && direct.supported);
    let ring = if wants_ring {
        probe_ring()
    } else {
        Err("io_uring: not probed".to_string())
    };
    choose(request, &request_note, &direct, ring)
}

/// `Auto` becomes the environment's choice when [`BACKEND_ENV_VAR`] is set.
fn resolve_request(
    request: BackendRequest,
    env_value: Option<String>,
) -> Result<(BackendRequest, String)> {
    if request != BackendRequest::Auto {
        return Ok((request, format!("requested {request:?}")));
    }
    let Some(value) = env_value else {
        return Ok((BackendRequest::Auto, "auto".to_string()));
    };
    let resolved = match value.trim().to_ascii_lowercase().as_str() {
        "" | "auto" => BackendRequest::Auto,
        "uring" | "io_uring" => BackendRequest::Uring,
        "fallback" => BackendRequest::Fallback,
        "buffered" => BackendRequest::Buffered,
        _ => {
            return Err(IoError::BackendUnavailable {
                backend: "auto",
                reason: format!(
                    "{BACKEND_ENV_VAR}={value:?} is not one of uring|fallback|buffered"
                ),
            });
        }
    };
    Ok((resolved, format!("{BACKEND_ENV_VAR}={value}")))
}

fn choose(
    request: BackendRequest,
    request_note: &str,
    direct: &DirectProbe,
    ring: std::result::Result<(RingSetup, String), String>,
) -> Result<Detection> {
    let ring_note = match &ring {
        Ok((_, note)) | Err(note) => note.clone(),
    };
    let (kind, setup) = match (request, direct.supported, ring) {
        (BackendRequest::Uring | BackendRequest::Auto, true, Ok((setup, _))) => {
            (BackendKind::Uring, Some(setup))
        }
        (BackendRequest::Uring, _, _) => {
            return Err(IoError::BackendUnavailable {
                backend: "uring",
                reason: format!("{}; {ring_note}", direct.note),
            });
        }
        (BackendRequest::Auto | BackendRequest::Fallback, true, _) => (BackendKind::Fallback, None),
        (BackendRequest::Fallback, false, _) => (BackendKind::Fallback, None),
        _ => (BackendKind::Buffered, None),
    };
    let direct_io = direct.supported && kind != BackendKind::Buffered;
    let alignment_bytes = if direct_io {
        direct.alignment
    } else {
        MIN_ALIGNMENT
    };
    assert!(alignment_bytes.is_power_of_two() && alignment_bytes >= MIN_ALIGNMENT);
    let reason = format!(
        "{request_note}; {}; {ring_note}; using {}{}",
        direct.note,
        kind.name(),
        if direct_io {
            " with O_DIRECT"
        } else {
            " (buffered + fdatasync)"
        }
    );
    Ok(Detection {
        info: BackendInfo {
            kind,
            direct_io,
            alignment_bytes,
            reason,
        },
        ring_setup: setup,
    })
}

/// How a direct-I/O probe opens its file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    /// Create the file and write one aligned block to it.
    WriteNew,
    /// Open the existing file for reading only.
    Read,
}

/// Probes O_DIRECT under `root` the way `probe` says.
fn probe_direct_io(root: &Path, probe: Probe<'_>) -> Result<DirectProbe> {
    if let Some(name) = memory_filesystem_name(root)? {
        return Ok(DirectProbe {
            supported: false,
            alignment: MIN_ALIGNMENT,
            note: format!("{name}: memory-backed filesystem, O_DIRECT meaningless"),
        });
    }
    match probe {
        Probe::ReadExisting(path) => probe_direct_file(path, Access::Read),
        Probe::WriteFile => {
            static PROBE_COUNTER: AtomicU64 = AtomicU64::new(0);
            let probe_index = PROBE_COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = root.join(format!(
                ".infinitedb-direct-probe-{}-{probe_index}",
                std::process::id()
            ));
            let probe = probe_direct_file(&path, Access::WriteNew);
            // Best effort: the probe file is ours and empty of meaning either way.
            let _ = std::fs::remove_file(&path);
            probe
        }
    }
}

fn probe_direct_file(path: &Path, access: Access) -> Result<DirectProbe> {
    let write = access == Access::WriteNew;
    let opened = OpenOptions::new()
        .read(true)
        .write(write)
        .create_new(write)
        .custom_flags(libc::O_DIRECT)
        .open(path);
    let file = match opened {
        Ok(file) => file,
        Err(error) if error.raw_os_error() == Some(libc::EINVAL) => {
            return Ok(refused(
                "open(O_DIRECT): EINVAL, the filesystem refuses direct I/O",
            ));
        }
        Err(source) => {
            return Err(IoError::Os {
                operation: "open direct-I/O probe",
                path: path.into(),
                source,
            });
        }
    };
    let (alignment, alignment_note) = direct_alignment(&file)?;
    let Some(alignment) = alignment else {
        return Ok(refused(&alignment_note));
    };
    let checked = match access {
        Access::Read => "reads",
        Access::WriteNew => {
            let block = AlignedBuf::new(alignment, alignment)?;
            if let Err(error) = file.write_at(&block, 0) {
                return Ok(refused(&format!("O_DIRECT probe write: {error}")));
            }
            "writes"
        }
    };
    Ok(DirectProbe {
        supported: true,
        alignment,
        note: format!("O_DIRECT {checked} ok ({alignment_note}; alignment {alignment})"),
    })
}

fn refused(note: &str) -> DirectProbe {
    DirectProbe {
        supported: false,
        alignment: MIN_ALIGNMENT,
        note: note.to_string(),
    }
}

/// `Some("tmpfs")`/`Some("ramfs")` when `root` is on a memory filesystem.
fn memory_filesystem_name(root: &Path) -> Result<Option<&'static str>> {
    let dir = std::fs::File::open(root).map_err(|source| IoError::Os {
        operation: "open",
        path: root.into(),
        source,
    })?;
    let mut stats = std::mem::MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: `dir` is an open descriptor for the call's duration and `stats` points to
    // writable memory of the size `fstatfs` fills.
    let status = unsafe { libc::fstatfs(dir.as_raw_fd(), stats.as_mut_ptr()) };
    if status != 0 {
        let source = std::io::Error::last_os_error();
        return Err(IoError::Os {
            operation: "fstatfs",
            path: root.into(),
            source,
        });
    }
    // SAFETY: `fstatfs` returned 0, so it initialised `stats`.
    let stats = unsafe { stats.assume_init() };
    // RAMFS_MAGIC from linux/magic.h (libc does not export it).
    const RAMFS_MAGIC: libc::c_long = 0x8584_58f6;
    Ok(match stats.f_type {
        libc::TMPFS_MAGIC => Some("tmpfs"),
        RAMFS_MAGIC => Some("ramfs"),
        _ => None,
    })
}

/// The direct-I/O alignment of an O_DIRECT file: `statx(STATX_DIOALIGN)` rounded up to a power
/// of two ≥ 4096 (e.g. ext4 on a 512-byte-sector disk reports offset 512, memory 4 → 4096);
/// `None` when the filesystem says the file cannot do direct I/O (offset alignment 0).
fn direct_alignment(file: &std::fs::File) -> Result<(Option<usize>, String)> {
    let mut stats = std::mem::MaybeUninit::<libc::statx>::zeroed();
    // SAFETY: the path is a NUL-terminated empty string with AT_EMPTY_PATH, so the kernel
    // stats the open descriptor `file`; `stats` is writable memory of `struct statx`'s size.
    let status = unsafe {
        libc::statx(
            file.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            libc::STATX_DIOALIGN,
            stats.as_mut_ptr(),
        )
    };
    if status != 0 {
        return Ok((
            Some(MIN_ALIGNMENT),
            "statx failed; assuming 4096".to_string(),
        ));
    }
    // SAFETY: `statx` returned 0; the buffer was zeroed, so fields it did not fill are 0.
    let stats = unsafe { stats.assume_init() };
    if stats.stx_mask & libc::STATX_DIOALIGN == 0 {
        let logical = logical_block_bytes(stats.stx_dev_major, stats.stx_dev_minor);
        let alignment = logical.max(MIN_ALIGNMENT).next_power_of_two();
        return Ok((
            Some(alignment),
            format!("no STATX_DIOALIGN; logical block {logical}"),
        ));
    }
    let offset_align = stats.stx_dio_offset_align as usize;
    let memory_align = stats.stx_dio_mem_align as usize;
    if offset_align == 0 {
        return Ok((
            None,
            "statx DIOALIGN: direct I/O unsupported for this file".to_string(),
        ));
    }
    let alignment = offset_align
        .max(memory_align)
        .max(MIN_ALIGNMENT)
        .next_power_of_two();
    Ok((
        Some(alignment),
        format!("statx DIOALIGN offset {offset_align} memory {memory_align}"),
    ))
}

/// The logical block size of a block device from sysfs, or 4096 when unknown.
fn logical_block_bytes(major: u32, minor: u32) -> usize {
    let path = format!("/sys/dev/block/{major}:{minor}/queue/logical_block_size");
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.trim().parse::<usize>().ok())
        .filter(|bytes| *bytes > 0)
        .unwrap_or(MIN_ALIGNMENT)
}

/// Tries each ring setup; `Ok((setup, note))` for the first that completes a NOP round trip
/// with the features we need.
///
/// The probes run on a thread of their own: closing a ring queues exit work, as a signal, to
/// every thread that submitted to it, so a probe on the caller's thread would later cut one
/// of the caller's blocking calls short with `EINTR`.
fn probe_ring() -> std::result::Result<(RingSetup, String), String> {
    std::thread::scope(|scope| {
        match std::thread::Builder::new()
            .name("uring-io-probe".to_string())
            .spawn_scoped(scope, probe_ring_here)
        {
            Ok(probe) => probe
                .join()
                .unwrap_or_else(|_| Err("io_uring probe thread panicked".to_string())),
            Err(error) => Err(format!("io_uring probe thread: {error}")),
        }
    })
}

/// [`probe_ring`] on the calling thread.
fn probe_ring_here() -> std::result::Result<(RingSetup, String), String> {
    let mut failures = Vec::new();
    for setup in RingSetup::PREFERENCE {
        match probe_ring_setup(setup) {
            Ok(()) => {
                let mut note = format!("io_uring {} ok", setup.name());
                if !failures.is_empty() {
                    note = format!("{note} (after {})", failures.join(", "));
                }
                return Ok((setup, note));
            }
            Err(failure) => failures.push(failure),
        }
    }
    Err(format!("io_uring unavailable: {}", failures.join("; ")))
}

fn probe_ring_setup(setup: RingSetup) -> std::result::Result<(), String> {
    let fail = |step: &str, error: &std::io::Error| {
        let errno = error.raw_os_error().unwrap_or(0);
        format!(
            "{} {step}: {} ({})",
            setup.name(),
            errno_name(errno),
            likely_cause(errno)
        )
    };
    let mut ring = Ring::new(setup, 4, 8).map_err(|error| fail("io_uring_setup", &error))?;
    if !ring.has_nodrop() || !ring.has_ext_arg() {
        return Err(format!(
            "{}: kernel lacks FEAT_NODROP/FEAT_EXT_ARG (< 5.11)",
            setup.name()
        ));
    }
    let nop = [opcode::Nop::new().build().user_data(7)];
    // SAFETY: a NOP references no memory and no descriptor.
    unsafe { ring.push_group(&nop) }.map_err(|_| format!("{}: SQ full on probe", setup.name()))?;
    let mut completions = Vec::new();
    for _ in 0..3 {
        ring.wait(Some(Duration::from_secs(1)))
            .map_err(|error| fail("io_uring_enter", &error))?;
        ring.reap(&mut completions)
            .map_err(|error| fail("io_uring_enter", &error))?;
        if completions
            .iter()
            .any(|completion| completion.user_data == 7)
        {
            return Ok(());
        }
    }
    Err(format!("{}: NOP never completed", setup.name()))
}

fn errno_name(errno: i32) -> String {
    match errno {
        libc::EPERM => "EPERM".to_string(),
        libc::ENOSYS => "ENOSYS".to_string(),
        libc::EINVAL => "EINVAL".to_string(),
        libc::ENOMEM => "ENOMEM".to_string(),
        libc::EMFILE => "EMFILE".to_string(),
        libc::EACCES => "EACCES".to_string(),
        other => format!("errno {other}"),
    }
}

fn likely_cause(errno: i32) -> String {
    let sysctl = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled").ok();
    cause_of(errno, sysctl.as_deref())
}

/// The likely cause of `errno` from a ring setup, given the text of
/// `/proc/sys/kernel/io_uring_disabled` when readable.
fn cause_of(errno: i32, io_uring_disabled: Option<&str>) -> String {
    match errno {
        libc::EPERM | libc::EACCES => {
            let reading = io_uring_disabled.map_or_else(
                || "unreadable here".to_string(),
                |text| format!("{} here", text.trim()),
            );
            format!(
                "blocked by a seccomp profile, or `kernel.io_uring_disabled` is set; \
                 set it to 0 to allow io_uring; it reads {reading}"
            )
        }
        libc::ENOSYS => "kernel without io_uring, or seccomp answering ENOSYS".to_string(),
        libc::EINVAL => "these setup flags are unknown to this kernel".to_string(),
        libc::ENOMEM => "RLIMIT_MEMLOCK too low for the ring (kernels < 5.12)".to_string(),
        _ => "unexpected".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_only_auto() {
        // Goal: INFINITEDB_BACKEND steers Auto and nothing else; typos are errors. Method: feed
        // values directly (the process environment is shared by parallel tests).
        let fallback = resolve_request(BackendRequest::Auto, Some("Fallback".into())).unwrap();
        assert_eq!(fallback.0, BackendRequest::Fallback);
        let explicit = resolve_request(BackendRequest::Uring, Some("buffered".into())).unwrap();
        assert_eq!(explicit.0, BackendRequest::Uring);
        assert_eq!(
            resolve_request(BackendRequest::Auto, None).unwrap().0,
            BackendRequest::Auto
        );
        assert!(resolve_request(BackendRequest::Auto, Some("urnig".into())).is_err());
    }

    #[test]
    fn ext4_tempdir_supports_direct_io_with_page_alignment() {
        // Goal: the probe finds O_DIRECT on the project disk and reports an alignment ≥ 4096.
        // Method: probe a tempdir; skip loudly if /tmp is not a direct-I/O filesystem.
        let dir = tempfile::tempdir().unwrap();
        let probe = probe_direct_io(dir.path(), Probe::WriteFile).unwrap();
        if !probe.supported {
            eprintln!("SKIP: no O_DIRECT under {:?}: {}", dir.path(), probe.note);
            return;
        }
        assert!(probe.alignment >= MIN_ALIGNMENT && probe.alignment.is_power_of_two());
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "probe file left behind"
        );
    }

    #[test]
    fn refused_setup_hint_is_advice() {
        // Goal: an EPERM from io_uring_setup names both causes and says what to set, whatever
        // the sysctl reads. Method: format the hint for each reading.
        for (reading, shown) in [
            (Some("0\n"), "0 here"),
            (Some("2"), "2 here"),
            (None, "unreadable"),
        ] {
            let hint = cause_of(libc::EPERM, reading);
            assert!(
                hint.starts_with(
                    "blocked by a seccomp profile, or `kernel.io_uring_disabled` is set; \
                     set it to 0 to allow io_uring"
                ) && hint.contains(shown),
                "{hint}"
            );
            assert!(!hint.contains("io_uring_disabled="), "{hint}");
        }
    }

    #[test]
    fn choice_table() {
        // Goal: pin the decision table. Method: call `choose` with synthetic probe results.
        let direct = DirectProbe {
            supported: true,
            alignment: 4096,
            note: "d".into(),
        };
        let no_direct = DirectProbe {
            supported: false,
            alignment: 4096,
            note: "tmpfs".into(),
        };
        let ring = || Ok((RingSetup::Plain, "ring ok".to_string()));
        let no_ring = || Err("io_uring_setup: EPERM".to_string());
        let pick = |request, direct: &DirectProbe, ring| choose(request, "r", direct, ring);
        assert_eq!(
            pick(BackendRequest::Auto, &direct, ring())
                .unwrap()
                .info
                .kind,
            BackendKind::Uring
        );
        let fallback = pick(BackendRequest::Auto, &direct, no_ring()).unwrap().info;
        assert_eq!(fallback.kind, BackendKind::Fallback);
        assert!(fallback.direct_io && fallback.reason.contains("EPERM"));
        let buffered = pick(BackendRequest::Auto, &no_direct, no_ring())
            .unwrap()
            .info;
        assert_eq!(
            (buffered.kind, buffered.direct_io),
            (BackendKind::Buffered, false)
        );
        assert!(pick(BackendRequest::Uring, &no_direct, ring()).is_err());
        assert!(pick(BackendRequest::Uring, &direct, no_ring()).is_err());
        let forced = pick(BackendRequest::Fallback, &no_direct, no_ring())
            .unwrap()
            .info;
        assert_eq!(
            (forced.kind, forced.direct_io),
            (BackendKind::Fallback, false)
        );
        let buffered = pick(BackendRequest::Buffered, &direct, ring())
            .unwrap()
            .info;
        assert_eq!(
            (buffered.kind, buffered.direct_io),
            (BackendKind::Buffered, false)
        );
    }
}
