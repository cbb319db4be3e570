//! [`JoinHandle`]: the owned permission to await a task's output.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::ptr::NonNull;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::error::JoinError;
use super::header::{self, header, Header};
use super::raw;

/// An owned permission to await a spawned task's output.
///
/// Awaiting it gives `Ok(output)`, or a [`JoinError`] if the task panicked or
/// was cancelled. Dropping it *detaches* the task: it keeps running and its
/// output is dropped when it finishes. Use [`abort`](JoinHandle::abort) to
/// cancel instead.
///
/// A `JoinHandle` is `!Send`: it belongs to the runtime's thread, like the
/// task. (To start work from another thread, see [`Handle`](crate::Handle).)
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: T) {}
/// corio_runtime::block_on(async {
///     let handle = corio_runtime::spawn(async { 1 });
///     assert_send(handle); // error: `Rc<()>` cannot be sent between threads
/// });
/// ```
///
/// # Examples
///
/// ```
/// let answer = corio_runtime::block_on(async {
///     let handle = corio_runtime::spawn(async { 6 * 7 });
///     handle.await.unwrap()
/// });
/// assert_eq!(answer, 42);
/// ```
pub struct JoinHandle<T> {
    pub(super) ptr: NonNull<Header>,
    /// The output type, and `Rc` to make the handle `!Send` and `!Sync`.
    pub(super) _marker: PhantomData<(T, Rc<()>)>,
}

impl<T> JoinHandle<T> {
    fn header(&self) -> &Header {
        // SAFETY: the handle owns a reference.
        unsafe { header(self.ptr) }
    }

    /// Cancels the task. If it is not running, its future is dropped right
    /// now, inside this call; if the task is aborting itself from its own
    /// poll, the future is dropped as soon as that poll returns. Awaiting the
    /// handle afterwards gives a cancelled [`JoinError`], unless the task had
    /// already finished, in which case its output is kept.
    ///
    /// # Examples
    ///
    /// ```
    /// corio_runtime::block_on(async {
    ///     let handle = corio_runtime::spawn(std::future::pending::<()>());
    ///     handle.abort();
    ///     assert!(handle.await.unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn abort(&self) {
        let state = &self.header().state;
        if state.load().is_complete_or_closed() {
            return;
        }
        // Only the owner thread (this one: the handle is `!Send`) starts or
        // ends a poll, so whether one is running cannot change under us.
        if state.transition_to_closed().is_running() {
            // The task is aborting itself: the executor finishes the job
            // after the poll (`State::transition_to_idle` says `Cancelled`).
            return;
        }
        // SAFETY: owner thread (see above); the task is not running and is
        // now closed; our reference keeps it alive.
        unsafe { raw::cancel_now(self.ptr) };
    }

    /// Whether the task has finished: returned, panicked or been cancelled.
    pub fn is_finished(&self) -> bool {
        self.header().state.load().is_complete()
    }

    /// The task's id, unique within its runtime.
    pub fn id(&self) -> u64 {
        self.header().id
    }
}

// The handle holds a pointer, never a `T`: moving it moves no output.
impl<T> Unpin for JoinHandle<T> {}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let header = self.header();
        if header.state.load().is_complete() {
            let mut output: Option<Result<T, JoinError>> = None;
            // SAFETY: owner thread (`!Send` handle), the task is complete so
            // not being polled, and `output` has the type this task produces.
            unsafe {
                (header.vtable.take_output)(
                    self.ptr,
                    (&mut output as *mut Option<Result<T, JoinError>>).cast(),
                )
            };
            return Poll::Ready(output.expect("JoinHandle polled after it returned its output"));
        }
        // SAFETY: owner-thread-only field (the handle is `!Send`, and the
        // executor touches it on the same thread); no other borrow is alive.
        let slot = unsafe { &mut *header.join_waker.get() };
        crate::waker::store(slot, cx.waker());
        Poll::Pending
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        // `COMPLETED` is only ever set on the owner thread, which is this one
        // (the handle is `!Send`), so it cannot change between here and the
        // release below.
        if self.header().state.load().is_complete() {
            // SAFETY: owner thread, complete (not polled), alive: our reference.
            unsafe { (self.header().vtable.drop_output)(self.ptr) };
        }
        if self.header().state.drop_join_handle() {
            // SAFETY: that released the last reference; `self.ptr` is not
            // used again.
            unsafe { header::dealloc(self.ptr) };
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").field("id", &self.id()).field("finished", &self.is_finished()).finish()
    }
}
