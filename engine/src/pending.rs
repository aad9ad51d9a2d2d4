//! [`Pending`]: the handle of a write or a durability wait in flight, answered by the engine's
//! threads through a one-shot reply (`reply.rs`).
//!
//! A handle is both a runtime-agnostic [`Future`] (a poll that finds no answer leaves its
//! task's [`std::task::Waker`] for the answer to wake; the engine depends on no runtime) and a
//! blocking [`Pending::wait`]. Dropping it cancels nothing: the write goes on and is durable
//! or fails as if its writer were waiting.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::{Error, Result};
use crate::reply::Answer;

/// A write ([`crate::Db::submit`]) or a durability wait ([`crate::Db::when_durable`]) in
/// flight: `.await` it, or [`Pending::wait`] for it.
///
/// ```
/// use infinitedb::{Batch, Db, Options};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let db = Db::open(dir.path(), Options::default())?;
/// let space = db.create_space("points", 2, 16)?;
/// // Many writes in flight from one thread: each is sequenced at once and joins a group commit.
/// let handles: Vec<_> = (0..100_u32)
///     .map(|x| {
///         let mut batch = Batch::new(space);
///         batch.put(&[x, x], b"reading");
///         db.submit(batch)
///     })
///     .collect::<Result<_, _>>()?;
/// for handle in handles {
///     let revision = handle.wait()?; // or `handle.await` in async code
///     assert!(revision.0 > 0);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "a pending write goes on when dropped; its result is only in the handle"]
pub struct Pending<T> {
    answer: Answer<Result<T>>,
}

impl<T> Pending<T> {
    pub(crate) fn new(answer: Answer<Result<T>>) -> Pending<T> {
        Pending { answer }
    }

    /// Blocks the calling thread until the answer is there.
    ///
    /// # Errors
    /// The write's or the wait's error (as [`crate::Db::write`] or [`crate::Db::sync`]);
    /// [`Error::Closed`] if the database closed before answering.
    pub fn wait(self) -> Result<T> {
        self.answer.recv().ok_or(Error::Closed)?
    }

    /// Whether the answer is there ([`Pending::wait`] would return at once).
    #[must_use]
    pub fn is_ready(&self) -> bool {
        self.answer.is_ready()
    }
}

impl<T> Future for Pending<T> {
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        self.answer
            .poll_answer(cx)
            .map(|answer| answer.unwrap_or(Err(Error::Closed)))
    }
}
