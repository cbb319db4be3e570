//! Tasks: one heap allocation per spawned future, the handles to it, and
//! the one seam to the layer above: `Schedule`.
//!
//! This is the first stop of the tour. A task is a future plus the little
//! state the executor needs to drive it. Everything here uses only `std`
//! (and `waker.rs`, the next stop); nothing here knows the executor:
//!
//! - `Schedule` is how a woken task gets back on a run queue. Whoever
//!   spawns a task passes a scheduler, stored in the task; a wake that finds
//!   the task idle hands it to that scheduler, on whatever thread the wake
//!   happens. The executor implements it; the unit tests below use a fake.
//! - `state` owns the state word: its bits, the named transitions
//!   between states, and the table of who owns which reference across each.
//! - `raw` lays out the allocation: a header (state word, vtable, links),
//!   the scheduler, then the future, which is replaced by its output when it
//!   finishes.
//! - `list` keeps unfinished tasks findable for shutdown.
//! - `join_handle` holds [`JoinHandle`] and [`JoinError`].
//! - This file wraps raw pointers in safe types: the crate-private `Task` (a
//!   run-queue entry) and its `run`, `Woken` (what a scheduler is handed),
//!   and [`yield_now`].
//! - Two optimisations a first reading can skip: `blocks` recycles task
//!   allocations through a small per-thread free list, since tasks tend to
//!   come and go in bursts, and `raw::allocate` writes the task into its
//!   block field by field, so a large future is copied once.
//!
//! Next stop: `waker.rs`, which turns a task pointer into a `std::task::Waker`.

mod blocks;
mod error;
pub(crate) mod header;
mod join_handle;
mod list;
mod raw;
mod schedule;
pub(crate) mod state;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

pub use error::{panic_message, JoinError};
pub use join_handle::JoinHandle;
pub(crate) use list::TaskList;
pub(crate) use schedule::{Schedule, Task, Woken};

use header::{header, Ran};

/// What running a task did, for the executor's bookkeeping.
// The panic message is boxed on purpose: a thin pointer keeps this enum at
// 16 bytes, returned in registers on the hot path; panics are rare.
#[allow(clippy::box_collection)]
pub(crate) enum RunOutcome {
    /// Polled; still pending and idle (only its wakers can find it now).
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
    /// Polls the task once (the typed work is the vtable's `run` slot, in
    /// `raw.rs`). Must be called on the owner thread.
    pub(crate) fn run(self) -> RunOutcome {
        let ptr = self.as_ptr();
        // SAFETY: owner thread (only the executor calls `run`), not already
        // being polled (a task is run from the queue entry, and there is one
        // entry), and `self` holds a reference.
        match unsafe { (header(ptr).vtable.run)(ptr) } {
            Ran::Idle => {
                // The transition to idle released `self`'s reference.
                std::mem::forget(self);
                RunOutcome::Pending
            }
            Ran::Notified => RunOutcome::Reschedule(self),
            Ran::Completed => RunOutcome::Completed,
            Ran::Panicked(message) => RunOutcome::Panicked(message),
            Ran::Skipped => RunOutcome::Skipped,
        }
    }
}

/// Allocates a task for `future`, to be woken through `scheduler`, and
/// links it into `list`. The task starts scheduled; the returned `Task` is
/// its run-queue entry.
#[inline(always)]
pub(crate) fn spawn<F, S>(
    future: F,
    scheduler: S,
    id: u64,
    list: Pin<&TaskList>,
) -> (Task, JoinHandle<F::Output>)
where
    F: Future + 'static,
    F::Output: 'static,
    S: Schedule,
{
    // Three references: the live-task list, the JoinHandle, the queue entry.
    let ptr = raw::allocate(future, scheduler, id, 3);
    // SAFETY: fresh task, linked nowhere; the list's reference is counted
    // above. The pinned list stays put while the task is linked.
    unsafe { list.push_back(ptr) };
    // SAFETY: `ptr` owns the queue entry's reference (one of the three).
    let task = unsafe { Task::from_raw(ptr) };
    (task, JoinHandle { ptr, _marker: PhantomData })
}

/// Cancels every task still linked into `list`, oldest first, dropping each
/// future exactly once. Tasks spawned by those destructors are linked at the
/// back and cancelled in turn.
pub(crate) fn cancel_all(list: &TaskList) {
    while let Some(ptr) = list.front() {
        // SAFETY: linked tasks are live (the list holds a reference). We take
        // our own reference so the task outlives `cancel_now`, which drops the
        // list's; we are on the owner thread, and nothing is being polled
        // during shutdown, so closing it and cancelling it now is allowed.
        unsafe {
            header::increment_ref(ptr);
            header(ptr).state.transition_to_closed();
            raw::cancel_now(ptr);
            header::drop_ref(ptr);
        }
    }
}

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
