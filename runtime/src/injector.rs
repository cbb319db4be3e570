//! The injector: how other threads hand work to a runtime.
//!
//! Everything else in a corio runtime belongs to one thread. The
//! [`Injector`] is the small part any thread may touch, shared through an
//! `Arc` by the runtime, every task's scheduler (so a waker can always
//! find where to push), every [`Handle`](crate::Handle) and every armed
//! `Sleep`:
//!
//! - `tasks`: tasks woken on another thread (a lock-free
//!   `crossbeam_queue::SegQueue`);
//! - `spawns`: `Send` futures started by `Handle::spawn`;
//! - `cancelled_timers`: timers whose `Sleep` was dropped away from its
//!   runtime's `block_on` (on another thread, or after `block_on` returned);
//! - a `mio::Waker`, which interrupts the runtime if it is blocked in
//!   `epoll_wait`, and `notified`, which makes many pushes cost one write;
//! - `closed`, set when the runtime shuts down.
//!
//! The runtime drains the queues at the start of every park (and the timer
//! cancellations also when `block_on` starts), so a remote wake is polled
//! on the next turn of the loop. After the runtime is gone, `closed` is
//! set and a push is dropped on the floor: a wake of a task whose runtime
//! is gone is a harmless no-op, as std requires.
//!
//! Next stop: `trace/`, what a runtime records when asked to; then
//! `context.rs`, the current runtime.

use std::fmt;
use std::sync::atomic::{fence, AtomicBool, Ordering};

use crossbeam_queue::SegQueue;

use crate::driver::timers::TimerKey;
use crate::task::Task;

/// A start-this-task request from another thread; runs on the runtime's thread.
pub(crate) type SpawnRequest = Box<dyn FnOnce() + Send>;

/// The part of a runtime that any thread may touch. See the module docs.
pub(crate) struct Injector {
    /// Tasks woken from other threads.
    tasks: SegQueue<Task>,
    /// Futures spawned from other threads through a `Handle`.
    spawns: SegQueue<SpawnRequest>,
    /// Timers to free, from `Sleep`s dropped away from `block_on`.
    cancelled_timers: SegQueue<TimerKey>,
    /// Interrupts a blocked `mio::Poll::poll`.
    waker: mio::Waker,
    /// A `mio::Waker` write is already on its way: coalesces many remote
    /// wakes into one syscall. Reset by the runtime before it drains.
    notified: AtomicBool,
    /// The runtime is gone (or going): queue nothing more.
    closed: AtomicBool,
}

impl Injector {
    pub(crate) fn new(waker: mio::Waker) -> Injector {
        Injector {
            tasks: SegQueue::new(),
            spawns: SegQueue::new(),
            cancelled_timers: SegQueue::new(),
            waker,
            notified: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        }
    }

    /// Queues a task woken off the runtime's thread, and wakes the runtime.
    pub(crate) fn push_task(&self, task: Task) {
        if self.closed.load(Ordering::Acquire) {
            return; // dropping `task` releases the waker's reference
        }
        self.tasks.push(task);
        self.notify();
        self.recheck_closed();
    }

    /// Queues a spawn from another thread, and wakes the runtime.
    pub(crate) fn push_spawn(&self, request: SpawnRequest) {
        if self.closed.load(Ordering::Acquire) {
            return;
        }
        self.spawns.push(request);
        self.notify();
        self.recheck_closed();
    }

    /// Queues a timer to free. Does not wake the runtime: it only returns
    /// memory (and a waker), which can wait for the next park.
    pub(crate) fn push_cancelled_timer(&self, key: TimerKey) {
        if self.closed.load(Ordering::Acquire) {
            return;
        }
        self.cancelled_timers.push(key);
        self.recheck_closed();
    }

    /// If the runtime closed while we were pushing, it may already have
    /// drained; drain again ourselves so nothing is stranded (a stranded task
    /// would keep this injector alive through its own scheduler: a leak).
    /// The fences pair with the ones in `close`: either it sees our push or
    /// we see its flag.
    fn recheck_closed(&self) {
        fence(Ordering::SeqCst);
        if self.closed.load(Ordering::Relaxed) {
            self.drain_closed();
        }
    }

    /// Wakes the runtime's thread if it may be blocked in the kernel.
    pub(crate) fn notify(&self) {
        if !self.notified.swap(true, Ordering::AcqRel) {
            // Failure means the eventfd is gone with the runtime: nothing to wake.
            let _ = self.waker.wake();
        }
    }

    /// Called by the runtime before draining, so a push that lands after the
    /// drain is guaranteed to write the `mio::Waker` again.
    ///
    /// A swap, not a store: a pusher that found the flag already set wrote
    /// no eventfd and counts on this drain to see its push. Reading the
    /// flag with acquire ordering (the pusher's swap released it) is what
    /// makes that push visible to the pops that follow. A plain store
    /// synchronises with nothing: the memory model let the drain miss the
    /// push (or the `block_on` future's `woken` flag set just before it),
    /// and the runtime then blocked in the kernel with work queued. (x86
    /// never shows it.)
    pub(crate) fn clear_notified(&self) {
        self.notified.swap(false, Ordering::AcqRel);
    }

    /// Whether a task or a spawn waits to be drained.
    pub(crate) fn has_work(&self) -> bool {
        !self.tasks.is_empty() || !self.spawns.is_empty()
    }

    pub(crate) fn pop_task(&self) -> Option<Task> {
        self.tasks.pop()
    }

    pub(crate) fn pop_spawn(&self) -> Option<SpawnRequest> {
        self.spawns.pop()
    }

    pub(crate) fn pop_cancelled_timer(&self) -> Option<TimerKey> {
        self.cancelled_timers.pop()
    }

    /// Marks the runtime closed and drops everything queued from outside.
    /// Once is enough: a push that races with this sees the flag afterwards
    /// and drains itself (`recheck_closed`).
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        self.drain_closed();
    }

    fn drain_closed(&self) {
        while self.tasks.pop().is_some() {}
        while self.spawns.pop().is_some() {}
        while self.cancelled_timers.pop().is_some() {}
    }
}

impl fmt::Debug for Injector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Injector")
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
