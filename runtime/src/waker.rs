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
//! "Schedule if idle" is `State::transition_to_notified_by_val` (or
//! `_by_ref`) in `task/state.rs`: of any number of concurrent wakes, exactly
//! one wins and hands the task to its scheduler through the header's
//! `vtable.schedule`, so it is never queued twice. Which queue that is (the
//! local run queue on the runtime's own thread, the cross-thread injector
//! otherwise) is the scheduler's business, decided above this layer.
//!
//! The file ends with [`store`], the one way the runtime keeps a waker it
//! was handed.
//!
//! `task/` and this file are one layer: a task is polled with one of these
//! wakers, and a waker hands its task back to the task's scheduler.
//!
//! Next stop: `slab.rs`, `run_queue.rs` and `stats.rs`, the small
//! containers the layers above keep their state in.

use std::cell::Cell;
use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::task::{RawWaker, RawWakerVTable, Waker};

use crate::task::header::Header;
use crate::task::state::TransitionToNotified;

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

/// A waker that borrows the caller's reference instead of owning one.
///
/// # Safety
/// The caller holds a reference to the task for as long as the returned
/// waker (or anything borrowing it) is used. Clones own their own reference.
#[inline]
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
    unsafe { header_ptr(data).as_ref() }.state.ref_inc();
    RawWaker::new(data, &VTABLE)
}

/// `wake`: consumes this waker's reference, handing it to the scheduler if
/// the task was idle, dropping it otherwise.
///
/// # Safety
/// `data` belongs to a live, owned waker of ours that std now consumes.
unsafe fn wake(data: *const ()) {
    // SAFETY: the consumed waker's reference keeps the task alive until we
    // hand it on or drop it.
    let ptr = unsafe { header_ptr(data) };
    // SAFETY: as above.
    let header = unsafe { ptr.as_ref() };
    match header.state.transition_to_notified_by_val() {
        // SAFETY: our reference moves to the scheduler.
        TransitionToNotified::Submit => unsafe { (header.vtable.schedule)(ptr) },
        TransitionToNotified::DoNothing => {
            if let Some(wake_ignored) = header.vtable.wake_ignored {
                // SAFETY: we still hold our reference.
                unsafe { wake_ignored(ptr) };
            }
            // SAFETY: our reference, never used again.
            unsafe { drop_reference(ptr) };
        }
    }
}

/// `wake_by_ref`: if the task was idle, a new reference goes to the scheduler.
///
/// # Safety
/// `data` belongs to a live waker of ours, which stays alive.
unsafe fn wake_by_ref(data: *const ()) {
    // SAFETY: the waker keeps the task alive during the call.
    let ptr = unsafe { header_ptr(data) };
    // SAFETY: as above.
    let header = unsafe { ptr.as_ref() };
    match header.state.transition_to_notified_by_ref() {
        // SAFETY: the transition added the reference that moves to the scheduler.
        TransitionToNotified::Submit => unsafe { (header.vtable.schedule)(ptr) },
        TransitionToNotified::DoNothing => {
            if let Some(wake_ignored) = header.vtable.wake_ignored {
                // SAFETY: the waker holds its reference.
                unsafe { wake_ignored(ptr) };
            }
        }
    }
}

/// `drop`: -1 reference, freeing the task if it was the last.
///
/// # Safety
/// `data` belongs to an owned waker of ours that std is dropping.
unsafe fn drop_waker(data: *const ()) {
    // SAFETY: this waker's reference, never used again.
    unsafe { drop_reference(header_ptr(data)) };
}

/// Drops one reference, freeing the task through its vtable if it was the last.
///
/// # Safety
/// The caller owns the reference and does not use `ptr` afterwards.
unsafe fn drop_reference(ptr: NonNull<Header>) {
    // SAFETY: live until our reference is released, which is the next line.
    let header = unsafe { ptr.as_ref() };
    if header.state.ref_dec() {
        // SAFETY: that was the last reference: nobody else can touch the task.
        unsafe { (header.vtable.dealloc)(ptr) };
    }
}

/// Whom a waker wakes, found without calling any of its functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wakes {
    /// One of ours: the task with this id.
    Task(u64),
    /// Someone else's (the `block_on` future's, a test's): its data pointer,
    /// which names it for whoever made it (`Waker::data`).
    Other(*const ()),
}

/// Whom `waker` wakes: for `Runtime::dump` ("task 3 waits on socket 5")
/// and for naming a wake's source in a trace. Reads the waker's vtable and
/// data pointers, and for one of ours the task's id; calls nothing.
pub(crate) fn wakes(waker: &Waker) -> Wakes {
    if std::ptr::eq(waker.vtable(), &VTABLE) {
        // SAFETY: a waker with our vtable was made from a task header
        // pointer, and the waker owns (or borrows) a reference to it, so the
        // header is live while we borrow the waker.
        let header = unsafe { header_ptr(waker.data()).as_ref() };
        Wakes::Task(header.id)
    } else {
        Wakes::Other(waker.data())
    }
}

/// Keeps the waker of a `Pending` poll: clones `waker` into an empty
/// `slot`, and replaces a stored one only if it would wake a different task
/// (`Waker::clone_from` checks `will_wake` first). Every place in the
/// runtime that stores a waker goes through here or [`store_in_cell`].
pub(crate) fn store(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(stored) => stored.clone_from(waker),
        None => *slot = Some(waker.clone()),
    }
}

/// [`store`] for a `Cell`, which lends its content only by taking it out.
pub(crate) fn store_in_cell(cell: &Cell<Option<Waker>>, waker: &Waker) {
    let mut slot = cell.take();
    store(&mut slot, waker);
    cell.set(slot);
}
