//! The seam between tasks and the layer above: [`Schedule`], and the two
//! things that cross it: [`Task`], a run-queue entry, and [`Woken`], what a
//! scheduler is handed when a wake makes a task ready.

use std::fmt;
use std::ptr::NonNull;

use super::header::{self, header, Header};

/// The scheduling seam: how a woken task gets back on a run queue.
///
/// `task::spawn` stores the scheduler inside the task, beside the future.
/// When a wake moves the task from idle to scheduled
/// (`State::transition_to_notified_*`), the waker hands the task to
/// [`schedule`](Schedule::schedule), exactly once per such transition, on
/// whichever thread the wake happened. This is the only way `task/` and
/// `waker.rs` reach the layer above them.
///
/// Everything a later layer wants to observe or decide about scheduling
/// happens on the far side of this trait, without touching `task/`: which
/// queue a task goes to (the executor: local run queue or cross-thread
/// injector), in which order ready tasks run (a deterministic simulator
/// can pick from its queue with a seeded generator), and who woke whom (a
/// tracer records the wake here, reading the waker's identity from the
/// thread's context).
pub(crate) trait Schedule: Send + Sync + Sized + 'static {
    /// Puts a woken task on a run queue. Called from any thread.
    ///
    /// There is no `&self`: the scheduler lives inside the task's own
    /// allocation, so it is reached through [`Woken::scheduler`], whose
    /// borrow ends when the task is handed on with [`Woken::into_task`].
    /// Once handed on (or dropped), the task may be freed at any moment,
    /// scheduler and all, and the borrow checker makes sure nothing still
    /// points into it.
    fn schedule(task: Woken<Self>);

    /// Called for every wake that queued nothing (the task was already
    /// scheduled, running, or finished) with the task's id, while the waker
    /// still holds its reference. `None` (the default) costs an ignored
    /// wake one predictable branch; a tracer sets it to see every wake.
    const WAKE_IGNORED: Option<fn(&Self, u64)> = None;
}

/// A task a wake has just scheduled, handed to [`Schedule::schedule`].
///
/// Owns the queue entry's reference, and knows the scheduler's type.
pub(crate) struct Woken<S> {
    task: Task,
    /// Points into the task's allocation, which `task` keeps alive.
    scheduler: NonNull<S>,
}

impl<S: Schedule> Woken<S> {
    /// The scheduler the task was spawned with.
    pub(crate) fn scheduler(&self) -> &S {
        // SAFETY: `scheduler` points into the allocation that `self.task`
        // keeps alive for at least as long as this borrow of `self`; it was
        // initialised at spawn and is never written again; `S: Sync`.
        unsafe { self.scheduler.as_ref() }
    }

    /// The run-queue entry, to push on a queue (or drop).
    pub(crate) fn into_task(self) -> Task {
        self.task
    }
}

impl<S> Woken<S> {
    /// Builds the value handed to `S::schedule`.
    ///
    /// # Safety
    /// `scheduler` points to the scheduler inside `task`'s allocation.
    pub(crate) unsafe fn new(task: Task, scheduler: NonNull<S>) -> Woken<S> {
        Woken { task, scheduler }
    }
}

/// A reference to a task that is due to be polled: what sits in a run queue.
///
/// Owns one reference. Only the runtime that owns the task ever calls
/// [`Task::run`]; any thread may hold or drop a `Task`.
pub(crate) struct Task {
    ptr: NonNull<Header>,
}

// SAFETY: a `Task` only lets other threads touch the header's atomic state
// and its `'static` vtable pointer (both thread-safe), and drop a
// reference. Dropping the last reference on another thread frees memory
// only (and drops the scheduler, which is `Send + Sync`): the future and
// any un-awaited output are always dropped on the owner thread first
// (`raw::complete`, shutdown). `run`, the one method that touches the
// future, is called only by the owning executor on its thread.
unsafe impl Send for Task {}

impl Task {
    /// Rebuilds a `Task` from a pointer that owns one reference.
    ///
    /// # Safety
    /// `ptr` is a live task and the caller transfers one reference it owns.
    pub(crate) unsafe fn from_raw(ptr: NonNull<Header>) -> Task {
        Task { ptr }
    }

    /// The task pointer, without giving up the reference.
    pub(crate) fn as_ptr(&self) -> NonNull<Header> {
        self.ptr
    }

    /// The task's id, unique within its runtime.
    pub(crate) fn id(&self) -> u64 {
        // SAFETY: we own a reference, so the header is live.
        unsafe { header(self.ptr) }.id
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        // SAFETY: we own one reference and never use `ptr` again.
        unsafe { header::drop_ref(self.ptr) };
    }
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task").field("id", &self.id()).finish()
    }
}
