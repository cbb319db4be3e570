//! A result handed over from one thread to whoever holds its handle: the
//! shared part of [`RemoteJoinHandle`](crate::RemoteJoinHandle) (a future
//! started with `Handle::spawn`) and
//! [`BlockingJoinHandle`](crate::BlockingJoinHandle) (a closure run by
//! `spawn_blocking`).
//!
//! A [`Handoff`] is a `Mutex` around the [`Progress`] of the work and, for
//! the rare handle that blocks a plain thread (`RemoteJoinHandle::join`), a
//! `Condvar`. The working side holds a [`Completer`], which fills it exactly
//! once: with the result, or, if it is dropped unfilled (the runtime shut
//! down, the pool dropped the job), with a cancellation. The handle side
//! polls it as a future, storing its task's waker, and marks it `Taken` when
//! it has the result or is dropped, so that a result nobody will read is
//! dropped at once by whoever brings it. Wakers are woken and results
//! dropped only after the lock is released.
//!
//! Next stop: `handle.rs`, its first user (`blocking.rs` is the other).

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use crate::task::JoinError;

/// Where a result from another thread waits for its handle.
pub(crate) struct Handoff<T> {
    progress: Mutex<Progress<T>>,
    /// Signalled when the result arrives, if a thread is blocked in `join`.
    done: Condvar,
}

/// How far the work is.
enum Progress<T> {
    /// Not finished. The waker of the task awaiting the handle, and whether
    /// a thread is blocked in `join` (only then is the `Condvar` signalled:
    /// signalling costs a syscall).
    Running { waker: Option<Waker>, joining: bool },
    /// Finished; the handle has not taken the result yet.
    Done(Result<T, JoinError>),
    /// The handle took the result, or was dropped.
    Taken,
}

impl<T> Handoff<T> {
    /// A new handoff and the completer that fills it.
    pub(crate) fn new() -> (Arc<Handoff<T>>, Completer<T>) {
        let handoff = Arc::new(Handoff {
            progress: Mutex::new(Progress::Running { waker: None, joining: false }),
            done: Condvar::new(),
        });
        (handoff.clone(), Completer { handoff })
    }

    fn lock(&self) -> MutexGuard<'_, Progress<T>> {
        // A panic while the lock was held left a consistent `Progress`
        // (every write is one assignment), so a poisoned lock is still good.
        self.progress.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The handle's poll: `Ready` with the result once it is there;
    /// otherwise stores the waker. `handle` names the handle in the panic.
    ///
    /// # Panics
    ///
    /// If the result was already taken (polled after completion).
    pub(crate) fn poll_result(
        &self,
        cx: &mut Context<'_>,
        handle: &'static str,
    ) -> Poll<Result<T, JoinError>> {
        let mut progress = self.lock();
        match &mut *progress {
            Progress::Running { waker, .. } => {
                crate::waker::store(waker, cx.waker());
                crate::context::note_wait(handle);
                Poll::Pending
            }
            Progress::Done(_) => match std::mem::replace(&mut *progress, Progress::Taken) {
                Progress::Done(result) => Poll::Ready(result),
                _ => unreachable!("just matched Done"),
            },
            Progress::Taken => panic!("{handle} polled after it returned its output"),
        }
    }

    /// Blocks this thread until the result is there, and takes it.
    ///
    /// # Panics
    ///
    /// If the result was already taken. `handle` names the handle in the panic.
    pub(crate) fn join(&self, handle: &str) -> Result<T, JoinError> {
        let mut progress = self.lock();
        loop {
            match std::mem::replace(&mut *progress, Progress::Taken) {
                Progress::Done(result) => return result,
                Progress::Taken => panic!("{handle} output already taken"),
                Progress::Running { waker, .. } => {
                    *progress = Progress::Running { waker, joining: true };
                    progress = self.done.wait(progress).unwrap_or_else(|poisoned| poisoned.into_inner());
                }
            }
        }
    }

    /// Whether the work has finished (or was cancelled).
    pub(crate) fn is_finished(&self) -> bool {
        !matches!(*self.lock(), Progress::Running { .. })
    }

    /// The handle is gone: a result already here is dropped now (outside
    /// the lock), one still to come is dropped by whoever brings it.
    pub(crate) fn abandon(&self) {
        let previous = std::mem::replace(&mut *self.lock(), Progress::Taken);
        drop(previous);
    }
}

/// The working side of a [`Handoff`]: fills it exactly once, with the
/// result, or, if dropped unfilled, with a cancellation.
pub(crate) struct Completer<T> {
    handoff: Arc<Handoff<T>>,
}

impl<T> Completer<T> {
    /// Hands over the result.
    pub(crate) fn complete(self, result: Result<T, JoinError>) {
        self.fill(result);
    }

    fn fill(&self, result: Result<T, JoinError>) {
        let mut progress = self.handoff.lock();
        match &mut *progress {
            Progress::Running { waker, joining } => {
                let (waker, joining) = (waker.take(), *joining);
                *progress = Progress::Done(result);
                drop(progress);
                if joining {
                    self.handoff.done.notify_all();
                }
                // Woken after the lock is released (never wake under a lock).
                if let Some(waker) = waker {
                    waker.wake();
                }
            }
            // The handle is gone: drop the result here, outside the lock.
            Progress::Taken => {
                drop(progress);
                drop(result);
            }
            Progress::Done(_) => {}
        }
    }
}

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        // After `complete` this finds `Done` or `Taken` and does nothing.
        self.fill(Err(JoinError::cancelled()));
    }
}
