//! [`Failure`]: why a write, a segment or a seal failed, as the engine's threads keep it. One
//! failure reaches many callers (every writer of a group, every `sync` whose barrier covers
//! it, every `flush` waiting for the seal), so it is cheap to clone: the device's error is
//! shared, and each caller gets its own [`Error`] built from it ([`Failure::to_error`]) with
//! the same typed cause.

use std::sync::Arc;

use uring_io::IoError;

use crate::error::Error;

/// A failure kept for the callers it reaches.
#[derive(Clone, Debug)]
pub(crate) enum Failure {
    /// The device failed: a write, its sync, or a file the write needed (a new segment, a
    /// block). Reaches callers as [`Error::WriteFailed`].
    Io(Arc<IoError>),
    /// The engine gave the space up until reopen (a thread stopped, the commit queue failed),
    /// or a failure had no device error behind it. Reaches callers as [`Error::Poisoned`].
    Poisoned(Arc<str>),
}

impl Failure {
    /// A failure of the device.
    pub(crate) fn io(error: IoError) -> Failure {
        Failure::Io(Arc::new(error))
    }

    /// A failure with no device error behind it.
    pub(crate) fn poisoned(detail: impl Into<Arc<str>>) -> Failure {
        Failure::Poisoned(detail.into())
    }

    /// The failure behind an engine error: a device error keeps its type; any other error
    /// (none of the engine's write paths produce one) keeps its message.
    pub(crate) fn from_error(error: Error) -> Failure {
        match error {
            Error::Io { source } => Failure::io(source),
            Error::WriteFailed { source, .. } => Failure::Io(source),
            Error::Poisoned { detail } => Failure::poisoned(detail),
            other => Failure::poisoned(other.to_string()),
        }
    }

    /// The errno behind a device failure, if the OS (or the simulated disk) gave one.
    pub(crate) fn errno(&self) -> Option<i32> {
        match self {
            Failure::Io(source) => source.errno(),
            Failure::Poisoned(_) => None,
        }
    }

    /// The error a caller writing to (or syncing, flushing) the space named `space` gets.
    pub(crate) fn to_error(&self, space: &str) -> Error {
        match self {
            Failure::Io(source) => Error::WriteFailed {
                space: space.to_string(),
                source: source.clone(),
            },
            Failure::Poisoned(detail) => Error::Poisoned {
                detail: detail.to_string(),
            },
        }
    }
}
