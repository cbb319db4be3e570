//! Our `Waker`: a `RawWakerVTable` whose data pointer is the task header.
//!
//! Second stop of the tour. A `std::task::Waker` is a data pointer plus four
//! functions. Ours point at the task's [`Header`] and use the reference count
//! in its state word, so cloning or dropping a waker is one atomic add, and
//! waking never allocates:
//!
//! | slot          | reference count          | effect                                  |
//! |---------------|--------------------------|-----------------------------------------|
//! | `clone`       | +1                       | a new waker for the same task           |
//! | `wake`        | -1 (or moved to queue)   | schedule if idle, then drop this waker  |
//! | `wake_by_ref` | +1 only if it schedules  | schedule if idle, keep this waker       |
//! | `drop`        | -1                       | frees the task if it was the last one   |
//!
//! "Schedule if idle" is the `transition_to_scheduled` compare-and-swap in
//! `task/raw.rs`: of any number of concurrent wakes, exactly one wins and
//! pushes the task, so it is never queued twice. The winner hands the task to
//! [`crate::executor::schedule`], which picks the local run queue when called
//! on the runtime's own thread and the cross-thread queue otherwise.
//!
//! Next stop: `executor.rs`, which pops those tasks and polls them.

use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::task::{RawWaker, RawWakerVTable, Waker};

use crate::task::{self, Header, Task, WakeAction};

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

/// A waker that borrows the caller's reference instead of owning one.
///
/// # Safety
/// The caller holds a reference to the task for as long as the returned
/// waker (or anything borrowing it) is used. Clones own their own reference.
pub(crate) unsafe fn borrowed(ptr: NonNull<Header>) -> ManuallyDrop<Waker> {
    let raw = RawWaker::new(ptr.as_ptr().cast_const().cast(), &VTABLE);
    // SAFETY: VTABLE's functions uphold the RawWaker contract for header
    // pointers (see each function); ManuallyDrop stops `drop_waker` from
    // releasing a reference this waker never owned.
    ManuallyDrop::new(unsafe { Waker::from_raw(raw) })
}

/// # Safety
/// `data` is a header pointer from `borrowed` or `clone`, whose waker holds
/// (or borrows) a live reference.
unsafe fn header_ptr(data: *const ()) -> NonNull<Header> {
    // SAFETY: wakers are only built from non-null header pointers.
    unsafe { NonNull::new_unchecked(data.cast_mut().cast()) }
}

/// `clone`: +1 reference, same data pointer.
///
/// # Safety
/// `data` belongs to a live waker of ours (std guarantees this for vtable calls).
unsafe fn clone(data: *const ()) -> RawWaker {
    // SAFETY: the waker being cloned keeps the task alive during the call.
    unsafe { task::increment_ref(header_ptr(data)) };
    RawWaker::new(data, &VTABLE)
}

/// `wake`: consumes this waker's reference, handing it to the run queue if
/// the task was idle, dropping it otherwise.
///
/// # Safety
/// `data` belongs to a live, owned waker of ours that std now consumes.
unsafe fn wake(data: *const ()) {
    // SAFETY: the consumed waker's reference is ours to transfer or drop.
    unsafe {
        let ptr = header_ptr(data);
        match task::transition_to_scheduled(ptr, false) {
            WakeAction::Schedule => crate::executor::schedule(Task::from_raw(ptr)),
            WakeAction::None => task::drop_ref(ptr),
        }
    }
}

/// `wake_by_ref`: if the task was idle, a new reference goes to the run queue.
///
/// # Safety
/// `data` belongs to a live waker of ours, which stays alive.
unsafe fn wake_by_ref(data: *const ()) {
    // SAFETY: the transition adds the reference that `Task::from_raw` takes.
    unsafe {
        let ptr = header_ptr(data);
        if let WakeAction::Schedule = task::transition_to_scheduled(ptr, true) {
            crate::executor::schedule(Task::from_raw(ptr));
        }
    }
}

/// `drop`: -1 reference, freeing the task if it was the last.
///
/// # Safety
/// `data` belongs to an owned waker of ours that std is dropping.
unsafe fn drop_waker(data: *const ()) {
    // SAFETY: this waker's reference, never used again.
    unsafe { task::drop_ref(header_ptr(data)) };
}
