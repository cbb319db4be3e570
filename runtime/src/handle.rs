//! [`Handle`]: how other threads start work on a runtime, and
//! [`RemoteJoinHandle`], how they get the result.
//!
//! Tasks and I/O objects belong to the runtime's thread. A `Handle` holds
//! the runtime's injector (`injector.rs`) and offers the one cross-thread
//! operation that needs it: [`Handle::spawn`] hands a `Send` future over,
//! and the runtime's thread starts it as an ordinary task (one task per
//! call) at its next park; the output comes back through a `Handoff`
//! (`handoff.rs`). Waking a task from another thread needs no
//! handle: every `Waker` can be sent and woken from anywhere.
//!
//! Next stop: `sync/`, coordination between tasks, built only on wakers.

use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::context;
use crate::executor::{spawn_at, Runtime};
use crate::handoff::{Completer, Handoff};
use crate::injector::Injector;
use crate::task::{panic_message, JoinError};

impl Runtime {
    /// A `Send + Sync` handle for other threads.
    pub fn handle(&self) -> Handle {
        Handle { injector: self.injector().clone() }
    }
}

/// A `Send + Sync` handle to a runtime, for other threads.
///
/// Tasks and I/O objects belong to the runtime's thread, so a `Handle` offers
/// the one cross-thread operation that makes sense: [`spawn`](Handle::spawn)
/// a `Send` future, which the runtime then drives like any other task. (The
/// other cross-thread operation, waking a task, needs no handle: every
/// `Waker` can be sent and woken from anywhere.)
///
/// # Examples
///
/// ```
/// let rt = corio_runtime::Runtime::new().unwrap();
/// let handle = rt.handle();
/// let remote = std::thread::spawn(move || handle.spawn(async { 2 + 2 }))
///     .join()
///     .unwrap();
/// assert_eq!(rt.block_on(remote).unwrap(), 4);
/// ```
#[derive(Clone)]
pub struct Handle {
    injector: Arc<Injector>,
}

impl Handle {
    /// The handle of the runtime running on this thread.
    ///
    /// # Panics
    ///
    /// Panics when called outside `block_on`.
    pub fn current() -> Handle {
        context::with_current(|core| Handle { injector: core.injector.clone() })
            .expect("corio::Handle::current() called outside a corio runtime: call it inside `block_on`, or use `Runtime::handle()`")
    }

    /// Starts `future` on the runtime, from any thread.
    ///
    /// The future runs as an ordinary task once the runtime's thread next
    /// gets to it (a blocked runtime is woken). The returned
    /// [`RemoteJoinHandle`] can be awaited anywhere, or waited on by a plain
    /// thread with [`RemoteJoinHandle::join`]. If the runtime is dropped
    /// before the task finishes, the handle reports cancellation.
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> RemoteJoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (handoff, completer) = Handoff::new();
        // Named, in traces and dumps, by where `Handle::spawn` was called.
        let site = std::panic::Location::caller();
        self.injector.push_spawn(Box::new(move || {
            // Detached: the remote handle gets the output through `completer`.
            drop(spawn_at(Remote { future, completer: Some(completer) }, None, site));
        }));
        RemoteJoinHandle { handoff }
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle").finish_non_exhaustive()
    }
}

pin_project_lite::pin_project! {
    /// The one task a `Handle::spawn` starts: the future, and the completer
    /// its output goes to.
    struct Remote<F: Future> {
        #[pin]
        future: F,
        completer: Option<Completer<F::Output>>,
    }
}

impl<F: Future> Future for Remote<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        let result = match catch_unwind(AssertUnwindSafe(|| this.future.poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(output)) => Ok(output),
            Err(payload) => Err(payload),
        };
        let completer = this.completer.take().expect("corio bug: a remote task polled after it finished");
        match result {
            Ok(output) => {
                completer.complete(Ok(output));
                Poll::Ready(())
            }
            Err(payload) => {
                // The payload goes to the remote handle; the runtime still
                // sees a panicking task (its counters, `abort_on_panic`), with
                // the same message.
                let message = panic_message(payload.as_ref()).unwrap_or_default().to_owned();
                completer.complete(Err(JoinError::panic(payload)));
                resume_unwind(Box::new(message))
            }
        }
    }
}

/// The output of a future started with [`Handle::spawn`]; `Send`, unlike
/// [`JoinHandle`](crate::JoinHandle).
pub struct RemoteJoinHandle<T> {
    handoff: Arc<Handoff<T>>,
}

impl<T> RemoteJoinHandle<T> {
    /// Blocks this (non-runtime) thread until the task finishes.
    ///
    /// # Panics
    ///
    /// Panics if the output was already taken by awaiting the handle.
    /// Calling it on the runtime's own thread would deadlock; don't.
    pub fn join(self) -> Result<T, JoinError> {
        self.handoff.join("RemoteJoinHandle")
    }

    /// Whether the task has finished (or was cancelled by shutdown).
    pub fn is_finished(&self) -> bool {
        self.handoff.is_finished()
    }
}

impl<T> Future for RemoteJoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.handoff.poll_result(cx, "RemoteJoinHandle")
    }
}

impl<T> Drop for RemoteJoinHandle<T> {
    fn drop(&mut self) {
        self.handoff.abandon();
    }
}

impl<T> fmt::Debug for RemoteJoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteJoinHandle").field("finished", &self.is_finished()).finish()
    }
}
