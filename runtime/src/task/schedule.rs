//! The seam between tasks and the layer above: [`Schedule`], and the two
//! things that cross it: [`Task`], a run-queue entry, and [`Woken`], what a
//! scheduler is handed when a wake makes a task ready.

use std::fmt;
use std::marker::PhantomData;
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
    _scheduler: PhantomData<S>,
}

impl<S: Schedule> Woken<S> {
    /// The scheduler the task was spawned with.
    pub(crate) fn scheduler(&self) -> &S {
        let head = self.task.as_ptr().cast::<Head<S>>();
        // SAFETY: a `Woken<S>` is only made (in `Head::<S>::schedule`) for
        // a task allocated as a `RawTask<F, S>`, which starts with a
        // `Head<S>` (`#[repr(C)]`); `self.task` keeps the allocation alive
        // for at least as long as this borrow of `self`; the scheduler was
        // written at spawn and is never written again; `S: Sync`.
        unsafe { &(*head.as_ptr()).scheduler }
    }

    /// The run-queue entry, to push on a queue (or drop).
    pub(crate) fn into_task(self) -> Task {
        self.task
    }
}

/// The front of every task allocation that does not depend on its future:
/// the header, then the scheduler. `#[repr(C)]`, so a header pointer is
/// also a pointer to it, whatever the future.
#[repr(C)]
pub(crate) struct Head<S> {
    pub(crate) header: Header,
    pub(crate) scheduler: S,
}

impl<S: Schedule> Head<S> {
    /// The `schedule` slot of every task scheduled by an `S`: hands the
    /// task to `S::schedule`.
    ///
    /// # Safety
    /// `ptr` is a live task allocated with a `Head<S>`; the caller owns a
    /// reference, which moves to the scheduler.
    pub(crate) unsafe fn schedule(ptr: NonNull<Header>) {
        // SAFETY: the caller's reference moves into the `Task`.
        let task = unsafe { Task::from_raw(ptr) };
        S::schedule(Woken { task, _scheduler: PhantomData });
    }

    /// The `wake_ignored` slot, for schedulers that set
    /// [`Schedule::WAKE_IGNORED`].
    ///
    /// # Safety
    /// `ptr` is a live task allocated with a `Head<S>`, and the caller holds
    /// a reference for the duration of the call.
    pub(crate) unsafe fn wake_ignored(ptr: NonNull<Header>) {
        // SAFETY: live for the whole call, per the contract; `S: Sync`.
        let head = unsafe { &*ptr.cast::<Head<S>>().as_ptr() };
        if let Some(hook) = S::WAKE_IGNORED {
            hook(&head.scheduler, head.header.id);
        }
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
