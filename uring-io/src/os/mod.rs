//! The operating system's storage: io_uring, fallback and buffered backends (in progress).
