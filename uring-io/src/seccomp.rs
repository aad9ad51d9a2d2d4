//! Refusing io_uring to a process the way a container's seccomp profile does, so that a program
//! (typically a test suite) can be run as it would run there: [`block_io_uring`] installs a
//! classic-BPF seccomp filter under which `io_uring_setup`, `io_uring_enter` and
//! `io_uring_register` fail with `EPERM`.
//!
//! Invariants:
//! - Only those three system calls of the native ABI (x86_64, aarch64; on x86_64 also their
//!   x32 numbers) are refused; every other system call, and every call made under another
//!   architecture's ABI (the `arch` field of `seccomp_data` differs), is allowed.
//! - The filter applies to the calling thread and everything it creates afterwards (threads,
//!   child processes) and survives `execve`; it cannot be removed. `PR_SET_NO_NEW_PRIVS`, which
//!   installing a filter without `CAP_SYS_ADMIN` requires, is set on the same terms: set-user-ID
//!   programs run afterwards do not gain privileges.

use std::io;

/// `AUDIT_ARCH_X86_64` from linux/audit.h (libc does not export it).
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH_NATIVE: Option<u32> = Some(0xC000_003E);
/// `AUDIT_ARCH_AARCH64` from linux/audit.h (libc does not export it).
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH_NATIVE: Option<u32> = Some(0xC000_00B7);
/// Architectures whose audit number this module does not know: nothing is installed.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const AUDIT_ARCH_NATIVE: Option<u32> = None;

/// `io_uring_setup`, `io_uring_enter`, `io_uring_register`: 425–427 on every architecture
/// (they postdate the unified system call table).
const IO_URING_SYSCALLS: [u32; 3] = [425, 426, 427];

/// `__X32_SYSCALL_BIT`: x32 system calls arrive with `AUDIT_ARCH_X86_64` and this bit set.
#[cfg(target_arch = "x86_64")]
const X32_SYSCALL_BIT: Option<u32> = Some(0x4000_0000);
#[cfg(not(target_arch = "x86_64"))]
const X32_SYSCALL_BIT: Option<u32> = None;

/// Offsets in `struct seccomp_data` (linux/seccomp.h): `int nr; __u32 arch; ...`.
const SECCOMP_DATA_NR_OFFSET: u32 = 0;
const SECCOMP_DATA_ARCH_OFFSET: u32 = 4;

/// Makes `io_uring_setup`, `io_uring_enter` and `io_uring_register` fail with `EPERM` for the
/// calling thread and whatever it starts afterwards, including programs it `exec`s (see the
/// module docs). Call it before starting threads: threads that already exist are not filtered.
///
/// # Errors
/// `Unsupported` on an architecture other than x86_64 and aarch64; the OS error when `prctl`
/// refuses `PR_SET_NO_NEW_PRIVS` or the filter (e.g. a kernel without seccomp filtering).
pub fn block_io_uring() -> io::Result<()> {
    let Some(arch) = AUDIT_ARCH_NATIVE else {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "seccomp: no audit architecture number known for this target",
        ));
    };
    let mut program = filter_program(arch, &refused_syscalls());
    let len = u16::try_from(program.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "seccomp: filter too long"))?;
    // SAFETY: PR_SET_NO_NEW_PRIVS takes four integer arguments (1, then zeros) and touches no
    // memory of ours.
    let status = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1_u64, 0_u64, 0_u64, 0_u64) };
    if status != 0 {
        return Err(io::Error::last_os_error());
    }
    let fprog = libc::sock_fprog {
        len,
        filter: program.as_mut_ptr(),
    };
    // SAFETY: `fprog` points to `len` initialised `sock_filter`s in `program`, both alive for
    // the whole call; the kernel copies the program before returning and keeps no pointer.
    let status = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            u64::from(libc::SECCOMP_MODE_FILTER),
            std::ptr::from_ref(&fprog),
        )
    };
    if status != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The system call numbers the filter refuses, as `seccomp_data.nr` carries them.
fn refused_syscalls() -> Vec<u32> {
    let mut numbers = IO_URING_SYSCALLS.to_vec();
    if let Some(bit) = X32_SYSCALL_BIT {
        numbers.extend(IO_URING_SYSCALLS.iter().map(|number| number | bit));
    }
    numbers
}

fn statement(code: u32, k: u32) -> libc::sock_filter {
    jump(code, k, 0, 0)
}

fn jump(code: u32, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        // Every BPF opcode fits 16 bits; libc types the constants as u32.
        code: u16::try_from(code).unwrap_or(u16::MAX),
        jt,
        jf,
        k,
    }
}

/// The filter: a call under another architecture is allowed; a call whose number is in
/// `refused` returns `EPERM`; anything else is allowed. Layout: load arch, compare (else jump
/// to ALLOW), load nr, one compare per refused number (match: jump to ERRNO), ALLOW, ERRNO.
fn filter_program(arch: u32, refused: &[u32]) -> Vec<libc::sock_filter> {
    let load = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let compare = libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K;
    let ret = libc::BPF_RET | libc::BPF_K;
    // Each jump offset must fit a u8: saturating keeps an oversized list refusing nothing
    // extra rather than jumping anywhere else (callers pass at most six numbers).
    let offset = |distance: usize| u8::try_from(distance).unwrap_or(u8::MAX);
    let mut program = vec![
        statement(load, SECCOMP_DATA_ARCH_OFFSET),
        // Not the native architecture: skip the nr load and the compares, landing on ALLOW.
        jump(compare, arch, 0, offset(1 + refused.len())),
        statement(load, SECCOMP_DATA_NR_OFFSET),
    ];
    for (position, number) in refused.iter().enumerate() {
        // On a match skip the remaining compares and ALLOW, landing on ERRNO.
        program.push(jump(compare, *number, offset(refused.len() - position), 0));
    }
    program.push(statement(ret, libc::SECCOMP_RET_ALLOW));
    program.push(statement(
        ret,
        libc::SECCOMP_RET_ERRNO | (libc::EPERM.unsigned_abs() & libc::SECCOMP_RET_DATA),
    ));
    program
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `program` on a `seccomp_data` with `nr` and `arch`, as the kernel's classic-BPF
    /// interpreter does for the instructions the filter uses.
    fn run(program: &[libc::sock_filter], nr: u32, arch: u32) -> u32 {
        let mut accumulator = 0;
        let mut pc = 0;
        loop {
            let instruction = program[pc];
            let code = u32::from(instruction.code);
            if code == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS {
                accumulator = match instruction.k {
                    SECCOMP_DATA_NR_OFFSET => nr,
                    SECCOMP_DATA_ARCH_OFFSET => arch,
                    other => panic!("load of offset {other}"),
                };
                pc += 1;
            } else if code == libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K {
                let skip = if accumulator == instruction.k {
                    instruction.jt
                } else {
                    instruction.jf
                };
                pc += 1 + usize::from(skip);
            } else if code == libc::BPF_RET | libc::BPF_K {
                return instruction.k;
            } else {
                panic!("unexpected opcode {code:#x}");
            }
        }
    }

    #[test]
    fn io_uring_numbers_match_libc() {
        // Goal: the refused numbers are the io_uring system calls of this target.
        let expected = [
            libc::SYS_io_uring_setup,
            libc::SYS_io_uring_enter,
            libc::SYS_io_uring_register,
        ]
        .map(|number| u32::try_from(number).unwrap_or(u32::MAX));
        assert_eq!(IO_URING_SYSCALLS, expected);
    }

    #[test]
    fn filter_refuses_exactly_io_uring_of_the_native_arch() {
        // Goal: the program returns ERRNO(EPERM) for the three io_uring calls of the native
        // ABI and ALLOW for everything else. Method: interpret it on sample inputs.
        let arch = 0xC000_003E;
        let refused = refused_syscalls();
        let program = filter_program(arch, &refused);
        let errno = libc::SECCOMP_RET_ERRNO | libc::EPERM.unsigned_abs();
        for number in &refused {
            assert_eq!(run(&program, *number, arch), errno, "nr {number}");
            assert_eq!(
                run(&program, *number, 0x4000_0003),
                libc::SECCOMP_RET_ALLOW,
                "nr {number} under another arch"
            );
        }
        for number in [0, 1, 424, 428, 1000, u32::MAX] {
            assert_eq!(
                run(&program, number, arch),
                libc::SECCOMP_RET_ALLOW,
                "nr {number}"
            );
        }
    }

    #[test]
    fn blocked_thread_gets_eperm_and_detection_falls_back() {
        // Goal: after `block_io_uring` the calling thread cannot build a ring (EPERM), and
        // detection there does not pick io_uring; on a direct-I/O filesystem it picks the
        // fallback and says why. Method: install the filter on a thread of its own (the filter
        // is per thread, so the other tests keep io_uring) and probe there.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let (ring, info) = std::thread::spawn(move || {
            block_io_uring().unwrap();
            let ring = io_uring::IoUring::new(4).map(|_| ());
            let storage = crate::OsStorage::open(&path, crate::BackendRequest::Auto).unwrap();
            let info = crate::Storage::info(storage.as_ref()).clone();
            (ring.map_err(|error| error.raw_os_error()), info)
        })
        .join()
        .unwrap();
        assert_eq!(ring, Err(Some(libc::EPERM)), "io_uring_setup not refused");
        assert_ne!(info.kind, crate::BackendKind::Uring, "{}", info.reason);
        if info.direct_io {
            assert_eq!(info.kind, crate::BackendKind::Fallback, "{}", info.reason);
            assert!(
                info.reason.contains("io_uring_setup: EPERM")
                    && info.reason.contains("blocked by a seccomp profile"),
                "{}",
                info.reason
            );
        } else {
            eprintln!("note: no O_DIRECT under {:?}: {}", dir.path(), info.reason);
        }
    }
}
