//! The thread-safe half of a runtime, and the [`Handle`] that exposes it.
//!
//! Everything else in a corio runtime belongs to one thread. This file holds
//! the small part other threads may touch, [`Shared`]:
//!
//! - `injector`: tasks woken on another thread (a lock-free
//!   `crossbeam_queue::SegQueue`), moved to the local run queue each tick;
//! - `spawns`: `Send` futures started by [`Handle::spawn`];
//! - a `mio::Waker`, which interrupts the runtime if it is blocked in `epoll`;
//! - flags: a pending notification, a woken `block_on` future, and `closed`.
//!
//! Every task header holds an `Arc<Shared>`, so a waker can always find where
//! to push, even after the runtime is gone: then `closed` is set and the wake
//! is dropped on the floor (a harmless no-op, as std requires).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use crossbeam_queue::SegQueue;

use crate::task::{JoinError, Task};

/// A start-this-task request from another thread; runs on the runtime's thread.
type SpawnRequest = Box<dyn FnOnce() + Send>;

/// The part of a runtime that any thread may touch.
pub(crate) struct Shared {
    /// Tasks woken from other threads.
    injector: SegQueue<Task>,
    /// Futures spawned from other threads through a `Handle`.
    spawns: SegQueue<SpawnRequest>,
    /// Interrupts a blocked `mio::Poll::poll`.
    waker: mio::Waker,
    /// A `mio::Waker` write is already on its way: coalesces many remote
    /// wakes into one syscall. Reset by the runtime before it drains.
    notified: AtomicBool,
    /// The `block_on` future was woken and must be polled.
    pub(crate) main_woken: AtomicBool,
    /// The runtime is gone (or going): queue nothing more.
    closed: AtomicBool,
}

impl Shared {
    pub(crate) fn new(waker: mio::Waker) -> Shared {
        Shared {
            injector: SegQueue::new(),
            spawns: SegQueue::new(),
            waker,
            notified: AtomicBool::new(false),
            main_woken: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        }
    }

    /// Queues a task woken off the runtime's thread.
    pub(crate) fn push_remote(&self, task: Task) {
        if self.closed.load(Ordering::Acquire) {
            return; // dropping `task` releases the waker's reference
        }
        self.injector.push(task);
        self.notify();
        self.recheck_closed();
    }

    fn push_spawn(&self, request: SpawnRequest) {
        if self.closed.load(Ordering::Acquire) {
            return;
        }
        self.spawns.push(request);
        self.notify();
        self.recheck_closed();
    }

    /// If the runtime closed while we were pushing, it may already have
    /// drained; drain again ourselves so nothing is stranded (a stranded task
    /// would keep this `Shared` alive through its own header: a leak).
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
    pub(crate) fn clear_notified(&self) {
        self.notified.store(false, Ordering::SeqCst);
    }

    pub(crate) fn pop_remote(&self) -> Option<Task> {
        self.injector.pop()
    }

    pub(crate) fn pop_spawn(&self) -> Option<SpawnRequest> {
        self.spawns.pop()
    }

    /// Marks the runtime closed and drops everything queued from outside.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        self.drain_closed();
    }

    fn drain_closed(&self) {
        while self.injector.pop().is_some() {}
        while self.spawns.pop().is_some() {}
    }

    /// Wakes the future passed to `block_on`.
    fn wake_main(&self) {
        self.main_woken.store(true, Ordering::Release);
        if !crate::executor::is_current(self) {
            self.notify();
        }
    }
}

/// The `block_on` future's waker: an `Arc<Shared>`, so std's `Wake` trait
/// builds the vtable and clone/drop are one atomic operation each.
impl Wake for Shared {
    fn wake(self: Arc<Self>) {
        self.wake_main();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wake_main();
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared").field("closed", &self.closed.load(Ordering::Relaxed)).finish_non_exhaustive()
    }
}

/// A `Send + Sync` handle to a runtime, for other threads.
///
/// Tasks and I/O objects belong to the runtime's thread, so a `Handle` offers
/// the one cross-thread operation that makes sense: [`spawn`](Handle::spawn)
/// a `Send` future, which the runtime then drives like any other task. (The
/// other cross-thread operation, waking a task, needs no handle: every
/// `Waker` can be sent and woken from anywhere.)
///
/// # Examples
///
/// ```
/// let rt = corio_runtime::Runtime::new().unwrap();
/// let handle = rt.handle();
/// let remote = std::thread::spawn(move || handle.spawn(async { 2 + 2 }))
///     .join()
///     .unwrap();
/// assert_eq!(rt.block_on(remote).unwrap(), 4);
/// ```
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

impl Handle {
    pub(crate) fn new(shared: Arc<Shared>) -> Handle {
        Handle { shared }
    }

    /// The handle of the runtime running on this thread.
    ///
    /// # Panics
    ///
    /// Panics when called outside `block_on`.
    pub fn current() -> Handle {
        crate::executor::with_current(|local| Handle::new(local.shared.clone()))
            .expect("corio::Handle::current() called outside a corio runtime: call it inside `block_on`, or use `Runtime::handle()`")
    }

    /// Starts `future` on the runtime, from any thread.
    ///
    /// The future runs as an ordinary task once the runtime's thread next
    /// gets to it (a blocked runtime is woken). The returned
    /// [`RemoteJoinHandle`] can be awaited anywhere, or waited on by a plain
    /// thread with [`RemoteJoinHandle::join`]. If the runtime is dropped
    /// before the task finishes, the handle reports cancellation.
    pub fn spawn<F>(&self, future: F) -> RemoteJoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let slot =
            Arc::new(RemoteSlot { state: Mutex::new(RemoteState::Waiting(None)), done: Condvar::new() });
        let completer = Completer { slot: slot.clone() };
        self.shared.push_spawn(Box::new(move || {
            let inner = crate::executor::spawn(future);
            crate::executor::spawn(async move { completer.complete(inner.await) });
        }));
        RemoteJoinHandle { slot }
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle").finish_non_exhaustive()
    }
}

struct RemoteSlot<T> {
    state: Mutex<RemoteState<T>>,
    done: Condvar,
}

enum RemoteState<T> {
    Waiting(Option<Waker>),
    Done(Result<T, JoinError>),
    Taken,
}

/// Fills the slot exactly once: with the result, or, if dropped unfilled
/// (the runtime shut down first), with a cancellation.
struct Completer<T> {
    slot: Arc<RemoteSlot<T>>,
}

impl<T> Completer<T> {
    fn complete(self, result: Result<T, JoinError>) {
        self.fill(result);
    }

    fn fill(&self, result: Result<T, JoinError>) {
        let mut state = self.slot.state.lock().unwrap_or_else(|e| e.into_inner());
        if let RemoteState::Waiting(waker) = &mut *state {
            let waker = waker.take();
            *state = RemoteState::Done(result);
            drop(state);
            self.slot.done.notify_all();
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        self.fill(Err(JoinError::cancelled()));
    }
}

/// The output of a future started with [`Handle::spawn`]; `Send`, unlike
/// [`JoinHandle`](crate::JoinHandle).
pub struct RemoteJoinHandle<T> {
    slot: Arc<RemoteSlot<T>>,
}

impl<T> RemoteJoinHandle<T> {
    /// Blocks this (non-runtime) thread until the task finishes.
    ///
    /// # Panics
    ///
    /// Panics if the output was already taken by awaiting the handle.
    /// Calling it on the runtime's own thread would deadlock; don't.
    pub fn join(self) -> Result<T, JoinError> {
        let mut state = self.slot.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            match std::mem::replace(&mut *state, RemoteState::Taken) {
                RemoteState::Done(result) => return result,
                RemoteState::Taken => panic!("RemoteJoinHandle output already taken"),
                waiting => {
                    *state = waiting;
                    state = self.slot.done.wait(state).unwrap_or_else(|e| e.into_inner());
                }
            }
        }
    }

    /// Whether the task has finished (or was cancelled by shutdown).
    pub fn is_finished(&self) -> bool {
        !matches!(*self.slot.state.lock().unwrap_or_else(|e| e.into_inner()), RemoteState::Waiting(_))
    }
}

impl<T> Future for RemoteJoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.slot.state.lock().unwrap_or_else(|e| e.into_inner());
        match &mut *state {
            RemoteState::Waiting(waker) => {
                match waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            RemoteState::Done(_) => match std::mem::replace(&mut *state, RemoteState::Taken) {
                RemoteState::Done(result) => Poll::Ready(result),
                _ => unreachable!(),
            },
            RemoteState::Taken => panic!("RemoteJoinHandle polled after it returned its output"),
        }
    }
}

impl<T> fmt::Debug for RemoteJoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteJoinHandle").field("finished", &self.is_finished()).finish()
    }
}
