//! `no-uring COMMAND [ARGS...]`: runs COMMAND with `io_uring_setup`, `io_uring_enter` and
//! `io_uring_register` failing with `EPERM`, as a container's seccomp profile makes them fail.
//! The filter ([`uring_io::seccomp::block_io_uring`]) is installed on this process, which then
//! `exec`s COMMAND in its place: COMMAND and everything it starts inherit it, so e.g.
//! `no-uring cargo test -p infinitedb --release` runs the test binaries with io_uring refused.
//!
//! Exit status: COMMAND's own (it replaces this process); 2 without a command; 1 when the
//! filter cannot be installed; 127 when COMMAND cannot be executed.

use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let Some(program) = args.next() else {
        eprintln!("usage: no-uring COMMAND [ARGS...]");
        return ExitCode::from(2);
    };
    if let Err(error) = uring_io::seccomp::block_io_uring() {
        eprintln!("no-uring: cannot install the seccomp filter: {error}");
        return ExitCode::from(1);
    }
    // `exec` returns only on failure.
    let error = Command::new(&program).args(args).exec();
    eprintln!(
        "no-uring: cannot execute {}: {error}",
        program.to_string_lossy()
    );
    ExitCode::from(127)
}
