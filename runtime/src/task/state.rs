//! The task state word: flag bits and a reference count in one atomic.
//!
//! Every header holds a single `AtomicUsize`. The low bits are flags, the
//! rest counts references. Keeping both in one word lets a waker on another
//! thread decide "schedule or not" and "last reference or not" with one
//! compare-and-swap, which is what makes double scheduling impossible.
//!
//! | state                      | bits                    |
//! |----------------------------|-------------------------|
//! | idle (parked)              | none of the flags below |
//! | scheduled                  | `SCHEDULED`             |
//! | running                    | `RUNNING`               |
//! | notified while running     | `RUNNING \| SCHEDULED`  |
//! | complete (output stored)   | `COMPLETED`             |
//! | cancelled                  | `COMPLETED \| CLOSED`   |

/// Set while the task sits in a run queue (local or remote), or, when
/// `RUNNING` is also set, when it was woken during its own poll and must be
/// queued again afterwards. Excludes a second push: whoever sets this bit
/// owns the one queue entry.
pub(crate) const SCHEDULED: usize = 1 << 0;

/// Set while the executor is inside `Future::poll` for this task. A wake in
/// that window only sets `SCHEDULED`; the executor re-queues after the poll.
pub(crate) const RUNNING: usize = 1 << 1;

/// Set once the future is gone and the output slot holds its result (the
/// value, a panic or a cancellation). Never cleared. Wakes become no-ops.
pub(crate) const COMPLETED: usize = 1 << 2;

/// Set when the task is cancelled (aborted or shut down). If the task is
/// running at that moment, the executor drops the future right after the poll.
pub(crate) const CLOSED: usize = 1 << 3;

/// Set while a `JoinHandle` exists. When the future completes with no
/// handle, the output is dropped at once, on the runtime's thread.
pub(crate) const HANDLE: usize = 1 << 4;

/// One reference. Holders: the runtime's task list (until completion), the
/// `JoinHandle`, every `Waker`, and the run-queue entry.
pub(crate) const REFERENCE: usize = 1 << 6;

/// Mask of the reference-count bits.
pub(crate) const REFERENCE_MASK: usize = !(REFERENCE - 1);

/// Past this many references we abort rather than risk wrapping the count
/// (a leak of that many wakers is a bug, and wrapping would be a use-after-free).
pub(crate) const MAX_REFERENCES: usize = (isize::MAX as usize) / 2;
