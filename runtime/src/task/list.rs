//! The runtime's list of live tasks: intrusive, doubly linked, owner-thread only.
//!
//! An idle task sits in no queue (only its wakers can find it), so the
//! runtime keeps every unfinished task on this list for one reason: at
//! shutdown it must drop every future exactly once. Links live in the task
//! header, so linking and unlinking never allocate and are O(1).
//!
//! The list holds one reference to each linked task; `unlink` reports
//! whether the caller must release it.

use std::cell::Cell;
use std::marker::PhantomPinned;
use std::pin::Pin;
use std::ptr::NonNull;

use super::header::{header, Header};
use std::task::Waker;

use super::state::Snapshot;

/// Head and tail of the live-task list, in spawn order.
///
/// Linked tasks point back at their list, so a list must not move while
/// anything is linked: it is `!Unpin` and only linked into through
/// `Pin<&TaskList>`, and its destructor unlinks whatever is left.
pub(crate) struct TaskList {
    head: Cell<Option<NonNull<Header>>>,
    tail: Cell<Option<NonNull<Header>>>,
    len: Cell<usize>,
    _pinned: PhantomPinned,
}

impl TaskList {
    pub(crate) const fn new() -> Self {
        TaskList { head: Cell::new(None), tail: Cell::new(None), len: Cell::new(0), _pinned: PhantomPinned }
    }

    /// Number of linked (unfinished) tasks.
    pub(crate) fn len(&self) -> usize {
        self.len.get()
    }

    /// The oldest linked task, if any.
    pub(crate) fn front(&self) -> Option<NonNull<Header>> {
        self.head.get()
    }

    /// What every linked task is doing, oldest first: a read-only look for
    /// `Runtime::dump`. Owner thread only (the list is `!Sync`). `whom`
    /// names the task's join waiter (the caller passes `waker::wakes`; taking
    /// it as an argument keeps this file below `waker.rs`, which sits above
    /// the task header).
    pub(crate) fn inspect<W>(&self, whom: impl Fn(&Waker) -> W) -> Vec<Inspected<W>> {
        let mut tasks = Vec::with_capacity(self.len.get());
        let mut next = self.head.get();
        while let Some(ptr) = next {
            // SAFETY: linked tasks are live (the list holds a reference).
            let task = unsafe { header(ptr) };
            // SAFETY: `join_waker` is touched only on this thread, and only
            // mutably inside `JoinHandle::poll` and `raw::complete`, neither
            // of which is running (this is a plain call on the owner
            // thread). The shared borrow lasts for `whom`, which reads the
            // waker's pointers and calls none of its functions.
            let join_waiter = unsafe { (*task.join_waker.get()).as_ref().map(&whom) };
            tasks.push(Inspected { id: task.id, state: task.state.load(), join_waiter });
            next = task.next.get();
        }
        tasks
    }

    /// Links a new task at the back.
    ///
    /// # Safety
    /// `ptr` is live, linked nowhere, and the list's reference to it is
    /// already counted. (The list cannot move while `ptr` stays linked: it is
    /// pinned, and its destructor unlinks everything. Being `!Sync`, it is
    /// only reachable from its own thread.)
    pub(crate) unsafe fn push_back(self: Pin<&Self>, ptr: NonNull<Header>) {
        let this = self.get_ref();
        // SAFETY: live per the contract.
        let task = unsafe { header(ptr) };
        task.prev.set(self.tail.get());
        task.next.set(None);
        task.list.set(Some(NonNull::from(this)));
        match this.tail.get() {
            // SAFETY: linked tasks are live (the list holds a reference).
            Some(tail) => unsafe { header(tail) }.next.set(Some(ptr)),
            None => this.head.set(Some(ptr)),
        }
        this.tail.set(Some(ptr));
        this.len.set(this.len.get() + 1);
    }
}

/// One task as [`TaskList::inspect`] saw it.
pub(crate) struct Inspected<W> {
    pub(crate) id: u64,
    pub(crate) state: Snapshot,
    /// Whom the waker stored by whoever awaits its `JoinHandle` wakes.
    pub(crate) join_waiter: Option<W>,
}

/// Unlinks `ptr` from the list it is on. Returns `false` if it was not
/// linked (already completed), `true` if it was: the caller then owns the
/// list's reference and must drop it.
///
/// # Safety
/// Owner thread; `ptr` is live.
pub(crate) unsafe fn unlink(ptr: NonNull<Header>) -> bool {
    // SAFETY: live per the contract.
    let task = unsafe { header(ptr) };
    let Some(list) = task.list.take() else {
        return false;
    };
    // SAFETY: a linked task's list is alive (push_back's contract).
    let list = unsafe { list.as_ref() };
    let (prev, next) = (task.prev.take(), task.next.take());
    match prev {
        // SAFETY: neighbours on the list are live (the list holds references).
        Some(prev) => unsafe { header(prev) }.next.set(next),
        None => list.head.set(next),
    }
    match next {
        // SAFETY: as above.
        Some(next) => unsafe { header(next) }.prev.set(prev),
        None => list.tail.set(prev),
    }
    list.len.set(list.len.get() - 1);
    true
}

impl Drop for TaskList {
    fn drop(&mut self) {
        // Shutdown empties the list first. Should a task still be linked,
        // cut it loose (leaking it) rather than leave it pointing at freed memory.
        while let Some(ptr) = self.head.get() {
            // SAFETY: linked tasks are live; we are on the owner thread.
            unsafe { unlink(ptr) };
        }
    }
}
