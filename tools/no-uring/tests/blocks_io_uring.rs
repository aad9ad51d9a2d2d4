//! `no-uring` runs its command with io_uring refused: a child run through it cannot build a
//! ring (EPERM), `OsStorage` with `BackendRequest::Auto` picks the fallback and names the EPERM
//! and its likely cause, `BackendRequest::Uring` is refused; the command's arguments and exit
//! status pass through. Method: the test re-executes its own binary through `no-uring`
//! (switched by `NO_URING_PROBE_DIR`); the child prints what it saw, one `key: value` a line.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a failure is a test failure"
)]

use std::process::Command;

use uring_io::{BackendKind, BackendRequest, OsStorage, Storage};

const CHILD_ENV: &str = "NO_URING_PROBE_DIR";
const TEST_NAME: &str = "a_child_run_through_no_uring_gets_eperm_and_the_fallback";

fn child_main(dir: &str) {
    let ring = match io_uring::IoUring::new(4) {
        Ok(_) => "ok".to_string(),
        Err(error) => format!("errno {}", error.raw_os_error().unwrap_or(0)),
    };
    // libtest has already printed "test <name> ... " without a newline: start a new line.
    println!("\nring: {ring}");
    let storage = OsStorage::open(std::path::Path::new(dir), BackendRequest::Auto).unwrap();
    let info = storage.info();
    println!("kind: {}", info.kind.name());
    println!("direct_io: {}", info.direct_io);
    println!("reason: {}", info.reason);
    let forced = match OsStorage::open(std::path::Path::new(dir), BackendRequest::Uring) {
        Ok(storage) => format!("opened {}", storage.info().kind.name()),
        Err(error) => format!("refused {error}"),
    };
    println!("uring: {forced}");
}

fn field<'a>(stdout: &'a str, key: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(": "))
        .unwrap_or_else(|| panic!("child printed no {key:?}:\n{stdout}"))
}

#[test]
fn a_child_run_through_no_uring_gets_eperm_and_the_fallback() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child_main(&dir);
        return;
    }
    // The target directory is on the project disk, where O_DIRECT works (tmpfs would make
    // Auto pick the buffered backend without probing io_uring).
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_no-uring"))
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        field(&stdout, "ring"),
        format!("errno {}", libc::EPERM),
        "io_uring_setup was not refused with EPERM"
    );
    let reason = field(&stdout, "reason");
    assert!(
        field(&stdout, "uring").starts_with("refused") && field(&stdout, "uring").contains("EPERM"),
        "BackendRequest::Uring under no-uring: {}",
        field(&stdout, "uring")
    );
    assert_eq!(
        field(&stdout, "direct_io"),
        "true",
        "no O_DIRECT under {:?}: {reason}",
        dir.path()
    );
    assert_eq!(
        field(&stdout, "kind"),
        BackendKind::Fallback.name(),
        "{reason}"
    );
    assert!(
        reason.contains("io_uring_setup: EPERM") && reason.contains("blocked by a seccomp profile"),
        "{reason}"
    );
}

#[test]
fn arguments_and_exit_status_pass_through() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_no-uring"))
            .args(args)
            .output()
            .unwrap()
    };
    let echoed = run(&["sh", "-c", "echo \"$0 $1\"; exit 7", "a b", "c"]);
    assert_eq!(echoed.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&echoed.stdout), "a b c\n");
    assert_eq!(run(&[]).status.code(), Some(2), "no command");
    assert_eq!(
        run(&["/nonexistent/no-such-command"]).status.code(),
        Some(127),
        "a command that cannot run"
    );
}
