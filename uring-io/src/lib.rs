//! All disk I/O of infinitedb: io_uring submission with O_DIRECT, linked fsyncs and deadline
//! timeouts, with fallback, buffered and simulated backends behind one interface, [`Storage`].
//!
//! Unsafe sites (keep this list current):
//! - `aligned.rs`: allocation, slice views and deallocation of [`AlignedBuf`]; invariant: the
//!   pointer, length and alignment come from one successful `alloc_zeroed`.

mod aligned;
mod backend;
mod error;
mod os;
mod sim;
mod storage;

pub use aligned::{AlignedBuf, MIN_ALIGNMENT};
pub use backend::{BACKEND_ENV_VAR, BackendInfo, BackendKind, BackendRequest};
pub use error::{IoError, Result};
pub use storage::{
    ChainEvent, ChainId, ChainOutcome, CommitChain, CommitQueue, FileHandle, OpenMode, Storage,
};
