//! The task state word: flag bits and a reference count in one atomic, and
//! every transition between states as a named method.
//!
//! Every header holds a single [`State`]. The low bits are flags, the rest
//! counts references. Keeping both in one word lets a waker on another
//! thread decide "schedule or not" and "last reference or not" with one
//! compare-and-swap, which is what makes double scheduling impossible. No
//! other file touches the word: the arithmetic on it lives here, beside the
//! tables that explain it.
//!
//! # States
//!
//! | state                      | bits                    |
//! |----------------------------|-------------------------|
//! | idle (in no queue)         | none of the flags below |
//! | scheduled                  | `SCHEDULED`             |
//! | running                    | `RUNNING`               |
//! | woken while running        | `RUNNING \| SCHEDULED`  |
//! | complete (output stored)   | `COMPLETED`             |
//! | cancelled                  | `COMPLETED \| CLOSED`   |
//!
//! `HANDLE` is orthogonal: set from spawn until the `JoinHandle` is dropped.
//!
//! # Who owns which reference, across each transition
//!
//! A task starts with three references: the runtime's task list, the
//! `JoinHandle`, and the run-queue entry (a `Task`). Every `Waker` owns one
//! more. The table says what each transition does to the count and who
//! owns the references it moves; "same CAS" means the flag change and the
//! count change are one atomic operation, so no other thread can see one
//! without the other.
//!
//! | method (caller)                                   | result        | references                                                               |
//! |---------------------------------------------------|---------------|--------------------------------------------------------------------------|
//! | [`State::new`] (`task::spawn`)                    |               | 3: the list, the `JoinHandle`, the queue entry                            |
//! | [`transition_to_running`] (`Task::run`)           | `true`        | 0: the queue entry's reference keeps the task alive during the poll       |
//! |                                                   | `false`       | 0: cancelled while queued; the executor drops the entry (-1)             |
//! | [`transition_to_idle`] (`Task::run`, `Pending`)   | `Idle`        | -1: the queue entry's, released by the same CAS (the task is in no queue) |
//! |                                                   | `Notified`    | 0: the entry's reference goes back on the queue with the task            |
//! |                                                   | `Cancelled`   | 0: the entry keeps it until the future is dropped                        |
//! | [`transition_to_notified_by_val`] (`Waker::wake`) | `Submit`      | 0: the waker's reference becomes the queue entry                         |
//! |                                                   | `DoNothing`   | 0: the waker still owns it and drops it ([`ref_dec`], -1)                |
//! | [`transition_to_notified_by_ref`] (`wake_by_ref`) | `Submit`      | +1: a new reference for the queue entry, added by the same CAS           |
//! |                                                   | `DoNothing`   | 0                                                                        |
//! | [`transition_to_complete`] (`raw::complete`)      |               | -1 if linked: the list's, released by the same CAS (never the last one)  |
//! | [`transition_to_closed`] (abort, shutdown)        |               | 0                                                                        |
//! | [`drop_join_handle`] (`JoinHandle::drop`)         |               | -1: the handle's; clears `HANDLE` in the same subtraction                |
//! | [`ref_inc`] (`Waker::clone`)                      |               | +1                                                                       |
//! | [`ref_dec`] (`Waker::drop`, dropping a `Task`)    |               | -1; `true` if it was the last: the caller frees the task                 |
//!
//! [`transition_to_running`]: State::transition_to_running
//! [`transition_to_idle`]: State::transition_to_idle
//! [`transition_to_notified_by_val`]: State::transition_to_notified_by_val
//! [`transition_to_notified_by_ref`]: State::transition_to_notified_by_ref
//! [`transition_to_complete`]: State::transition_to_complete
//! [`transition_to_closed`]: State::transition_to_closed
//! [`drop_join_handle`]: State::drop_join_handle
//! [`ref_inc`]: State::ref_inc
//! [`ref_dec`]: State::ref_dec

use std::sync::atomic::{fence, AtomicUsize, Ordering};

/// Set while the task sits in a run queue (local or remote), or, when
/// `RUNNING` is also set, when it was woken during its own poll and must be
/// queued again afterwards. Excludes a second push: whoever sets this bit
/// owns the one queue entry.
const SCHEDULED: usize = 1 << 0;

/// Set while the executor is inside `Future::poll` for this task. A wake in
/// that window only sets `SCHEDULED`; the executor re-queues after the poll.
const RUNNING: usize = 1 << 1;

/// Set once the future is gone and the output slot holds its result (the
/// value, a panic or a cancellation). Never cleared. Wakes become no-ops.
const COMPLETED: usize = 1 << 2;

/// Set when the task is cancelled (aborted or shut down). If the task is
/// running at that moment, the executor drops the future right after the poll.
const CLOSED: usize = 1 << 3;

/// Set while a `JoinHandle` exists. When the future completes with no
/// handle, the output is dropped at once, on the runtime's thread.
const HANDLE: usize = 1 << 4;

/// One reference. Holders: the runtime's task list (until completion), the
/// `JoinHandle`, every `Waker`, and the run-queue entry.
const REFERENCE: usize = 1 << 6;

/// Mask of the reference-count bits.
const REFERENCE_MASK: usize = !(REFERENCE - 1);

/// Past this many references we abort rather than risk wrapping the count
/// (a leak of that many wakers is a bug, and wrapping would be a use-after-free).
const MAX_REFERENCES: usize = (isize::MAX as usize) / 2;

/// The atomic state word of one task. See the module docs for the tables.
pub(crate) struct State(AtomicUsize);

/// A copy of the state word, to read flags from.
#[derive(Clone, Copy)]
pub(crate) struct Snapshot(usize);

impl Snapshot {
    /// The future is gone and the output (or error) is stored.
    #[inline]
    pub(crate) fn is_complete(self) -> bool {
        self.0 & COMPLETED != 0
    }

    /// Complete, or cancelled and about to be.
    #[inline]
    pub(crate) fn is_complete_or_closed(self) -> bool {
        self.0 & (COMPLETED | CLOSED) != 0
    }

    /// The executor is inside this task's `poll`.
    #[inline]
    pub(crate) fn is_running(self) -> bool {
        self.0 & RUNNING != 0
    }

    /// A `JoinHandle` exists.
    #[inline]
    pub(crate) fn has_join_handle(self) -> bool {
        self.0 & HANDLE != 0
    }

    /// In a run queue, or woken during its poll (for `Runtime::dump`).
    pub(crate) fn is_scheduled(self) -> bool {
        self.0 & SCHEDULED != 0
    }
}

/// What [`State::transition_to_idle`] found after a `Pending` poll.
pub(crate) enum TransitionToIdle {
    /// Now idle, in no queue; the queue entry's reference was released.
    /// `true`: it was the last one, and the caller frees the task.
    Idle { last: bool },
    /// Woken during the poll: still `SCHEDULED`, and the entry (with its
    /// reference) goes back on the run queue.
    Notified,
    /// Aborted during the poll: the caller drops the future now.
    Cancelled,
}

/// What a wake decided.
pub(crate) enum TransitionToNotified {
    /// The task was idle and is now scheduled: the caller hands one
    /// reference to the scheduler, which queues it.
    Submit,
    /// Nothing to queue: already scheduled, finished, or running (then
    /// `SCHEDULED` is now set and the executor re-queues after the poll).
    DoNothing,
}

impl State {
    /// The word of a new task: scheduled (it starts in the run queue), with
    /// a `JoinHandle`, and `references` references.
    pub(crate) fn new(references: usize) -> State {
        State(AtomicUsize::new(SCHEDULED | HANDLE | (references * REFERENCE)))
    }

    /// The current word.
    #[inline]
    pub(crate) fn load(&self) -> Snapshot {
        Snapshot(self.0.load(Ordering::Acquire))
    }

    /// scheduled -> running, before a poll. `false` if the task was
    /// cancelled or finished while it sat in the queue: do not poll it.
    #[inline]
    pub(crate) fn transition_to_running(&self) -> bool {
        let mut current = self.0.load(Ordering::Acquire);
        loop {
            if current & (COMPLETED | CLOSED) != 0 {
                return false;
            }
            let next = (current & !SCHEDULED) | RUNNING;
            match self.0.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
    }

    /// running -> idle after a `Pending` poll; or back to scheduled if it
    /// was woken meanwhile; or cancelled if it was aborted meanwhile.
    #[inline]
    pub(crate) fn transition_to_idle(&self) -> TransitionToIdle {
        let mut current = self.0.load(Ordering::Acquire);
        loop {
            if current & CLOSED != 0 {
                self.0.fetch_and(!(RUNNING | SCHEDULED), Ordering::AcqRel);
                return TransitionToIdle::Cancelled;
            }
            let notified = current & SCHEDULED != 0;
            // Not woken: the same CAS releases the queue entry's reference.
            let next = if notified { current & !RUNNING } else { (current & !RUNNING) - REFERENCE };
            match self.0.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) if notified => return TransitionToIdle::Notified,
                Ok(_) => {
                    let last = current & REFERENCE_MASK == REFERENCE;
                    if last {
                        fence(Ordering::Acquire);
                    }
                    return TransitionToIdle::Idle { last };
                }
                Err(actual) => current = actual,
            }
        }
    }

    /// idle -> scheduled, for a wake that consumes its waker. On `Submit`
    /// the waker's reference becomes the queue entry's; on `DoNothing` the
    /// caller still owns it (and drops it).
    #[inline]
    pub(crate) fn transition_to_notified_by_val(&self) -> TransitionToNotified {
        self.transition_to_notified(0)
    }

    /// idle -> scheduled, for a wake that keeps its waker. On `Submit` the
    /// same CAS added a new reference, for the queue entry.
    #[inline]
    pub(crate) fn transition_to_notified_by_ref(&self) -> TransitionToNotified {
        self.transition_to_notified(REFERENCE)
    }

    /// Sets `SCHEDULED` unless already set or finished; `add` is added to
    /// the word only when the task was idle (it is going to a queue).
    #[inline]
    fn transition_to_notified(&self, add: usize) -> TransitionToNotified {
        let mut current = self.0.load(Ordering::Acquire);
        loop {
            if current & (COMPLETED | CLOSED) != 0 {
                return TransitionToNotified::DoNothing;
            }
            if current & SCHEDULED != 0 {
                // Already due for a poll. Still write the word (same value):
                // this release is what makes the wake happen-before that
                // poll, whose `transition_to_running` reads it (std's
                // `Waker::wake` contract). A plain load here let the poll
                // miss what the waker wrote just before waking; Miri found
                // the lost wake-up (tests/runtime_wakers.rs).
                match self.0.compare_exchange_weak(current, current, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => return TransitionToNotified::DoNothing,
                    Err(actual) => {
                        current = actual;
                        continue;
                    }
                }
            }
            let idle = current & RUNNING == 0;
            let next = if idle { (current | SCHEDULED) + add } else { current | SCHEDULED };
            if idle && add != 0 && current & REFERENCE_MASK > MAX_REFERENCES {
                std::process::abort();
            }
            match self.0.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) if idle => return TransitionToNotified::Submit,
                Ok(_) => return TransitionToNotified::DoNothing,
                Err(actual) => current = actual,
            }
        }
    }

    /// Sets `COMPLETED` (clearing `RUNNING` and `SCHEDULED`: the task will
    /// never be polled again). With `release_list_reference`, the same CAS
    /// releases the task list's reference, which is never the last: the
    /// caller holds one. Returns the word as it was before.
    #[inline]
    pub(crate) fn transition_to_complete(&self, release_list_reference: bool) -> Snapshot {
        let release = if release_list_reference { REFERENCE } else { 0 };
        let mut current = self.0.load(Ordering::Acquire);
        loop {
            let next = ((current | COMPLETED) & !(RUNNING | SCHEDULED)) - release;
            match self.0.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Snapshot(current),
                Err(actual) => current = actual,
            }
        }
    }

    /// Sets `CLOSED`: cancelled, never to be polled again. Returns the word
    /// as it was before (the caller checks whether a poll is in progress).
    pub(crate) fn transition_to_closed(&self) -> Snapshot {
        Snapshot(self.0.fetch_or(CLOSED, Ordering::AcqRel))
    }

    /// Drops the `JoinHandle`'s reference and clears `HANDLE`, in one
    /// atomic: `HANDLE` is set (only this clears it), so subtracting it
    /// clears it. `true` if that was the last reference.
    pub(crate) fn drop_join_handle(&self) -> bool {
        let previous = self.0.fetch_sub(HANDLE + REFERENCE, Ordering::AcqRel);
        debug_assert!(previous & HANDLE != 0, "JoinHandle dropped twice");
        previous & REFERENCE_MASK == REFERENCE
    }

    /// Adds one reference (a waker clone). Aborts past [`MAX_REFERENCES`].
    #[inline]
    pub(crate) fn ref_inc(&self) {
        // Relaxed is enough: a new reference can only be made from an existing
        // one, which already keeps the allocation alive (the Arc argument).
        let previous = self.0.fetch_add(REFERENCE, Ordering::Relaxed);
        if previous & REFERENCE_MASK > MAX_REFERENCES {
            std::process::abort();
        }
    }

    /// Drops one reference. `true` if it was the last: the caller frees the
    /// task, and every other holder's writes are visible to it.
    #[inline]
    pub(crate) fn ref_dec(&self) -> bool {
        let previous = self.0.fetch_sub(REFERENCE, Ordering::Release);
        if previous & REFERENCE_MASK != REFERENCE {
            return false;
        }
        // Pair with the Release of every other drop so all their writes are
        // visible before the caller frees.
        fence(Ordering::Acquire);
        true
    }

    /// References held, for tests.
    #[cfg(test)]
    pub(crate) fn references(&self) -> usize {
        self.0.load(Ordering::Acquire) >> REFERENCE.trailing_zeros()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wake_during_the_poll_keeps_the_queue_reference() {
        let state = State::new(3);
        assert!(state.transition_to_running());
        assert!(matches!(state.transition_to_notified_by_ref(), TransitionToNotified::DoNothing));
        assert_eq!(state.references(), 3, "a wake while running adds nothing");
        assert!(matches!(state.transition_to_idle(), TransitionToIdle::Notified));
        assert_eq!(state.references(), 3, "the entry goes back on the queue with its reference");
        assert!(state.transition_to_running());
        assert!(matches!(state.transition_to_idle(), TransitionToIdle::Idle { last: false }));
        assert_eq!(state.references(), 2, "going idle released the entry's reference");
    }

    #[test]
    fn only_one_wake_submits() {
        let state = State::new(2);
        assert!(state.transition_to_running());
        assert!(matches!(state.transition_to_idle(), TransitionToIdle::Idle { last: false }));
        assert!(matches!(state.transition_to_notified_by_ref(), TransitionToNotified::Submit));
        assert_eq!(state.references(), 2, "+1 for the new queue entry");
        assert!(matches!(state.transition_to_notified_by_ref(), TransitionToNotified::DoNothing));
        assert!(matches!(state.transition_to_notified_by_val(), TransitionToNotified::DoNothing));
        assert_eq!(state.references(), 2);
    }

    #[test]
    fn complete_clears_running_and_releases_the_list_reference() {
        let state = State::new(3);
        assert!(state.transition_to_running());
        let before = state.transition_to_complete(true);
        assert!(before.is_running() && before.has_join_handle() && !before.is_complete());
        let now = state.load();
        assert!(now.is_complete() && !now.is_running());
        assert_eq!(state.references(), 2);
        assert!(matches!(state.transition_to_notified_by_ref(), TransitionToNotified::DoNothing));
        assert!(!state.transition_to_running(), "a complete task is never polled again");
        assert!(!state.drop_join_handle());
        assert!(!state.load().has_join_handle());
        assert!(state.ref_dec(), "the last reference");
    }

    #[test]
    fn closed_during_the_poll_is_cancelled_after_it() {
        let state = State::new(3);
        assert!(state.transition_to_running());
        assert!(state.transition_to_closed().is_running());
        assert!(matches!(state.transition_to_idle(), TransitionToIdle::Cancelled));
        assert!(state.load().is_complete_or_closed());
    }
}
