//! Tasks: one heap allocation per spawned future, and the handles to it.
//!
//! This is the first stop of the tour. A task is a future plus the little
//! state the executor needs to drive it:
//!
//! - `raw` lays out the allocation: a header (state word, vtable,
//!   links), then the future, which is replaced by its output when it finishes.
//! - `blocks` recycles task allocations through a small per-thread free
//!   list, since tasks tend to come and go in bursts.
//! - `state` documents every bit of the state word.
//! - `list` keeps unfinished tasks findable for shutdown.
//! - This file wraps raw pointers in safe types: the crate-private `Task` (a
//!   run-queue entry), the public [`JoinHandle`] and [`JoinError`], and
//!   [`yield_now`].
//!
//! Next stop: `waker.rs`, which turns a task pointer into a `std::task::Waker`.

mod blocks;
mod list;
mod raw;
mod state;

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};

pub(crate) use list::TaskList;
pub(crate) use raw::{drop_ref, increment_ref, transition_to_scheduled, Header, WakeAction};

use crate::handle::Shared;
use raw::{header, PollOutcome};
use state::{CLOSED, COMPLETED, HANDLE, REFERENCE, RUNNING, SCHEDULED};

/// A reference to a task that is due to be polled: what sits in a run queue.
///
/// Owns one reference. Only the runtime that owns the task ever calls
/// [`Task::run`]; any thread may hold or drop a `Task`.
pub(crate) struct Task {
    ptr: NonNull<Header>,
}

// SAFETY: a `Task` only lets other threads touch the header's atomic state,
// its `'static` vtable pointer and its `Arc<Shared>` (all thread-safe), and
// drop a reference. Dropping the last reference on another thread frees
// memory only: the future and any un-awaited output are always dropped on the
// owner thread first (`raw::complete`, shutdown). `run`, the one method that
// touches the future, is called only by the owning executor on its thread.
unsafe impl Send for Task {}

/// What running a task did, for the executor's bookkeeping.
// The panic message is boxed on purpose: a thin pointer keeps this enum at
// 16 bytes, returned in registers on the hot path; panics are rare.
#[allow(clippy::box_collection)]
pub(crate) enum RunOutcome {
    /// Polled; still pending and parked (only its wakers can find it now).
    Pending,
    /// Polled; it was woken during the poll, so it goes back on the queue.
    Reschedule(Task),
    /// Polled to completion (or cancelled during its own poll).
    Completed,
    /// The future panicked; the message is for abort-on-panic runtimes.
    Panicked(Box<String>),
    /// Not polled: it had been cancelled or finished while queued.
    Skipped,
}

impl Task {
    /// Rebuilds a `Task` from a pointer that owns one reference.
    ///
    /// # Safety
    /// `ptr` is a live task and the caller transfers one reference it owns.
    pub(crate) unsafe fn from_raw(ptr: NonNull<Header>) -> Task {
        Task { ptr }
    }

    /// The runtime half this task belongs to.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        // SAFETY: we own a reference, so the header is live.
        &unsafe { header(self.ptr) }.shared
    }

    /// Polls the task once. Must be called on the owner thread.
    pub(crate) fn run(self) -> RunOutcome {
        let ptr = self.ptr;
        // SAFETY: `self` owns a reference for the whole call.
        let header = unsafe { header(ptr) };

        // scheduled -> running; a task cancelled while queued is skipped.
        let mut current = header.state.load(Ordering::Acquire);
        loop {
            if current & (COMPLETED | CLOSED) != 0 {
                return RunOutcome::Skipped;
            }
            let next = (current & !SCHEDULED) | RUNNING;
            match header.state.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break,
                Err(actual) => current = actual,
            }
        }

        // The waker borrows `self`'s reference: no refcount traffic unless
        // the future clones it.
        // SAFETY: `self` keeps the task alive while the borrowed waker exists.
        let waker = unsafe { crate::waker::borrowed(ptr) };
        let mut cx = Context::from_waker(&waker);
        // SAFETY: owner thread (the executor calls `run`), stage is `Running`
        // (we just won the transition from scheduled), `self` holds a reference.
        let outcome = unsafe { (header.vtable.poll)(ptr, &mut cx) };

        match outcome {
            PollOutcome::Pending => self.after_pending(),
            PollOutcome::Ready => {
                // SAFETY: owner thread, stage is `Finished`, `self` keeps it alive.
                unsafe { raw::complete(ptr) };
                RunOutcome::Completed
            }
            PollOutcome::Panicked(message) => {
                // SAFETY: as above.
                unsafe { raw::complete(ptr) };
                RunOutcome::Panicked(message)
            }
        }
    }

    /// running -> idle, or -> scheduled if it was woken during the poll, or
    /// -> cancelled if it was aborted during the poll.
    fn after_pending(self) -> RunOutcome {
        // SAFETY: `self` owns a reference.
        let header = unsafe { header(self.ptr) };
        let mut current = header.state.load(Ordering::Acquire);
        loop {
            if current & CLOSED != 0 {
                header.state.fetch_and(!(RUNNING | SCHEDULED), Ordering::AcqRel);
                // SAFETY: owner thread, no longer running, `self` keeps it alive.
                unsafe { raw::cancel_now(self.ptr) };
                return RunOutcome::Completed;
            }
            // Woken while running: this entry goes straight back on the
            // queue, keeping the reference and the `SCHEDULED` bit. Parked:
            // the queue entry's reference is released by the same
            // compare-and-swap that clears `RUNNING` (one atomic, not two).
            let woken = current & SCHEDULED != 0;
            let next = if woken { current & !RUNNING } else { (current & !RUNNING) - REFERENCE };
            match header.state.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) if woken => return RunOutcome::Reschedule(self),
                Ok(previous) => {
                    let ptr = ManuallyDrop::new(self).ptr;
                    // SAFETY: the AcqRel swap released the reference `self`
                    // owned, and `self` is forgotten. (A parked task is still
                    // on the runtime's list, which holds a reference, so this
                    // never frees; the check keeps the count honest anyway.)
                    unsafe { raw::dealloc_if_last(ptr, previous) };
                    return RunOutcome::Pending;
                }
                Err(actual) => current = actual,
            }
        }
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        // SAFETY: we own one reference and never use `ptr` again.
        unsafe { raw::drop_ref(self.ptr) };
    }
}

/// Allocates a task and links it into `list`. The task starts scheduled; the
/// returned `Task` is its run-queue entry.
#[inline(always)]
pub(crate) fn spawn<F>(
    future: F,
    shared: Arc<Shared>,
    id: u64,
    list: Pin<&TaskList>,
) -> (Task, JoinHandle<F::Output>)
where
    F: Future + 'static,
    F::Output: 'static,
{
    // Three references: the live-task list, the JoinHandle, the queue entry.
    let ptr = raw::allocate(future, shared, id, SCHEDULED | HANDLE | (3 * REFERENCE));
    // SAFETY: fresh task, linked nowhere; the list's reference is counted
    // above. The pinned list stays put while the task is linked.
    unsafe { list.push_back(ptr) };
    (Task { ptr }, JoinHandle { ptr, _marker: PhantomData })
}

/// Cancels every task still linked into `list`, oldest first, dropping each
/// future exactly once. Tasks spawned by those destructors are linked at the
/// back and cancelled in turn.
pub(crate) fn cancel_all(list: &TaskList) {
    while let Some(ptr) = list.front() {
        // SAFETY: linked tasks are live (the list holds a reference). We take
        // our own reference so the task outlives `cancel_now`, which drops the
        // list's; we are on the owner thread, and nothing is being polled
        // during shutdown.
        unsafe {
            raw::increment_ref(ptr);
            raw::cancel_now(ptr);
            raw::drop_ref(ptr);
        }
    }
}

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
    ptr: NonNull<Header>,
    /// The output type, and `Rc` to make the handle `!Send` and `!Sync`.
    _marker: PhantomData<(T, Rc<()>)>,
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
        let state = self.header().state.load(Ordering::Acquire);
        if state & (COMPLETED | CLOSED) != 0 {
            return;
        }
        if state & RUNNING != 0 {
            // The task is aborting itself: the executor finishes the job
            // after the poll (`Task::after_pending`).
            self.header().state.fetch_or(CLOSED, Ordering::AcqRel);
            return;
        }
        // SAFETY: `JoinHandle` is `!Send`, so we are on the owner thread; the
        // task is not running; our reference keeps it alive.
        unsafe { raw::cancel_now(self.ptr) };
    }

    /// Whether the task has finished: returned, panicked or been cancelled.
    pub fn is_finished(&self) -> bool {
        self.header().state.load(Ordering::Acquire) & COMPLETED != 0
    }

    /// The task's id, unique within its runtime.
    pub fn id(&self) -> u64 {
        self.header().id
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let header = self.header();
        if header.state.load(Ordering::Acquire) & COMPLETED != 0 {
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
        match slot {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        // `COMPLETED` is only ever set on the owner thread, which is this one
        // (the handle is `!Send`), so it cannot change between here and the
        // release below.
        if self.header().state.load(Ordering::Acquire) & COMPLETED != 0 {
            // SAFETY: owner thread, complete (not polled), alive: our reference.
            unsafe { (self.header().vtable.drop_output)(self.ptr) };
        }
        // Clear `HANDLE` and release our reference in one atomic: `HANDLE`
        // is set (only this destructor clears it), so subtracting it clears it.
        let previous = self.header().state.fetch_sub(HANDLE + REFERENCE, Ordering::AcqRel);
        // SAFETY: that subtraction released the handle's reference (AcqRel);
        // `self.ptr` is not used again.
        unsafe { raw::dealloc_if_last(self.ptr, previous) };
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").field("id", &self.id()).field("finished", &self.is_finished()).finish()
    }
}

/// Why a task produced no output: it panicked, or it was cancelled.
pub struct JoinError {
    repr: Repr,
}

enum Repr {
    Cancelled,
    Panic(Box<dyn Any + Send + 'static>),
}

impl JoinError {
    pub(crate) fn cancelled() -> JoinError {
        JoinError { repr: Repr::Cancelled }
    }

    pub(crate) fn panic(payload: Box<dyn Any + Send + 'static>) -> JoinError {
        JoinError { repr: Repr::Panic(payload) }
    }

    /// The task was cancelled by [`JoinHandle::abort`] or runtime shutdown.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// The task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic(_))
    }

    /// The panic message, when the task panicked with a string (as `panic!`
    /// with a message does).
    pub fn panic_message(&self) -> Option<&str> {
        match &self.repr {
            Repr::Panic(payload) => payload
                .downcast_ref::<&'static str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str)),
            Repr::Cancelled => None,
        }
    }

    /// The panic payload, to re-raise it with `std::panic::resume_unwind`.
    ///
    /// # Errors
    ///
    /// Returns the error itself if the task was cancelled rather than panicked.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.repr {
            Repr::Panic(payload) => Ok(payload),
            Repr::Cancelled => Err(self),
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.repr, self.panic_message()) {
            (Repr::Cancelled, _) => f.write_str("task was cancelled"),
            (Repr::Panic(_), Some(message)) => write!(f, "task panicked: {message}"),
            (Repr::Panic(_), None) => f.write_str("task panicked (with a non-string payload)"),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => f.write_str("JoinError::Cancelled"),
            Repr::Panic(_) => write!(f, "JoinError::Panic({:?})", self.panic_message().unwrap_or("..")),
        }
    }
}

impl std::error::Error for JoinError {}

/// Lets other tasks run before this one continues.
///
/// The task wakes itself and returns `Pending` once, which puts it at the
/// back of the run queue. This is the only self-wake the runtime encourages:
/// it is fair because the queue is FIFO and the executor polls the reactor
/// every tick budget, so a yield loop cannot starve I/O or timers.
///
/// # Examples
///
/// ```
/// corio_runtime::block_on(async {
///     for _ in 0..3 {
///         corio_runtime::task::yield_now().await;
///     }
/// });
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// Future returned by [`yield_now`].
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
