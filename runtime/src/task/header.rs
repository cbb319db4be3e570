//! The untyped front of every task: [`Header`] and its [`Vtable`].
//!
//! Every task allocation starts with a `Header` (`raw.rs` lays out the
//! rest). Everything that does not know the future's type (wakers, run-queue
//! entries, `JoinHandle<T>`, the task list) holds a `NonNull<Header>` and
//! reaches the typed code through the header's `Vtable`, one function per
//! operation. This file also has the reference helpers every one of them
//! uses: borrow the header, add a reference, drop one.

use std::cell::{Cell, UnsafeCell};
use std::ptr::NonNull;
use std::task::Waker;

use super::list::TaskList;
use super::state::State;

/// The untyped front of every task allocation.
///
/// Fields touched from any thread: `state`, `vtable`, `id`. The other
/// fields are only touched on the runtime's own thread (by the executor, the
/// `JoinHandle`, which is `!Send`, and shutdown), which is why they can be
/// plain `Cell`s.
pub(crate) struct Header {
    /// Flags and reference count, and the transitions between states.
    pub(crate) state: State,
    /// The typed operations for this task's future and scheduler (`raw.rs`).
    pub(crate) vtable: &'static Vtable,
    /// A number unique within the runtime, for `Debug`, stats and tracing.
    pub(crate) id: u64,
    /// Waker of whoever awaits the `JoinHandle`. Owner thread only.
    pub(crate) join_waker: UnsafeCell<Option<Waker>>,
    /// Intrusive links in the runtime's list of live tasks (owner thread only),
    /// so shutdown can find tasks that sit in no queue.
    pub(crate) prev: Cell<Option<NonNull<Header>>>,
    pub(crate) next: Cell<Option<NonNull<Header>>>,
    /// The list this task is linked into, `None` once unlinked.
    pub(crate) list: Cell<Option<NonNull<TaskList>>>,
}

/// What the `run` slot did: to the task, and to the caller's reference.
// The panic message is boxed on purpose: a thin pointer keeps this enum at
// 16 bytes, returned in registers on the hot path; panics are rare.
#[allow(clippy::box_collection)]
pub(crate) enum Ran {
    /// Not polled: it was cancelled or finished while queued. The caller's
    /// reference is unchanged.
    Skipped,
    /// Polled, pending, and now idle in no queue. The caller's reference
    /// was released by `State::transition_to_idle`.
    Idle,
    /// Polled and pending, but woken during the poll: still scheduled. The
    /// caller's reference goes back on the run queue with it.
    Notified,
    /// Polled to completion (output stored), or cancelled during its own
    /// poll. The caller's reference is unchanged.
    Completed,
    /// The future panicked (a `JoinError` holding the panic is stored); the
    /// string is its message, for runtimes that abort on panic. The caller's
    /// reference is unchanged.
    Panicked(Box<String>),
}

/// Typed operations, one per slot. Each says what it does to the stage and
/// to the reference count.
///
/// # Safety
///
/// Calling a slot carries the contract of the `RawTask<F, S>` method it
/// points to (each has its own `# Safety` list): the caller holds a
/// reference; except for `schedule` and `wake_ignored`, it is on the
/// runtime's thread and the task is not being polled (`run` excepted: it
/// does the polling); `dealloc` only by the last reference.
pub(crate) struct Vtable {
    /// Runs the task once: scheduled -> running, poll the future with a
    /// waker borrowing the caller's reference, then idle, notified or
    /// complete. References: see [`Ran`].
    pub(crate) run: unsafe fn(NonNull<Header>) -> Ran,
    /// Drops the future in place (if still there) and stores
    /// `Err(JoinError::cancelled())`, or the panic its destructor raised.
    pub(crate) cancel: unsafe fn(NonNull<Header>),
    /// Moves a stored output into `*out` (an `Option<Result<T, JoinError>>`).
    pub(crate) take_output: unsafe fn(NonNull<Header>, *mut ()),
    /// Drops a stored output, if any.
    pub(crate) drop_output: unsafe fn(NonNull<Header>),
    /// Hands the task to its scheduler ([`Schedule::schedule`]), from any
    /// thread. References: the caller's one moves to the scheduler.
    pub(crate) schedule: unsafe fn(NonNull<Header>),
    /// [`Schedule::WAKE_IGNORED`], when the scheduler has one (else `None`,
    /// and an ignored wake costs one predictable branch). References: unchanged.
    pub(crate) wake_ignored: Option<unsafe fn(NonNull<Header>)>,
    /// Frees the allocation. Called exactly once, by the last reference.
    pub(crate) dealloc: unsafe fn(NonNull<Header>),
}

/// Borrows the header behind a task pointer.
///
/// # Safety
/// The caller holds a reference to the task, so the allocation is live.
pub(crate) unsafe fn header<'a>(ptr: NonNull<Header>) -> &'a Header {
    // SAFETY: live for as long as the caller's reference, per the contract.
    unsafe { ptr.as_ref() }
}

/// Adds one reference.
///
/// # Safety
/// The caller holds a reference (so the count is at least one).
pub(crate) unsafe fn increment_ref(ptr: NonNull<Header>) {
    // SAFETY: the caller holds a reference.
    unsafe { header(ptr) }.state.ref_inc();
}

/// Drops one reference, freeing the task if it was the last.
///
/// # Safety
/// The caller owns the reference it drops and does not use `ptr` afterwards.
pub(crate) unsafe fn drop_ref(ptr: NonNull<Header>) {
    // SAFETY: the caller still holds the reference being dropped.
    if unsafe { header(ptr) }.state.ref_dec() {
        // SAFETY: that was the last reference.
        unsafe { dealloc(ptr) };
    }
}

/// Frees the task.
///
/// # Safety
/// The caller released the last reference (a state transition said so) and
/// does not touch `ptr` afterwards.
pub(crate) unsafe fn dealloc(ptr: NonNull<Header>) {
    // SAFETY: that was the last reference, so nobody else can free or
    // touch the allocation; it is still live until `dealloc`.
    unsafe { (header(ptr).vtable.dealloc)(ptr) };
}
