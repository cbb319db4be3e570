//! `Sleep`: a future that completes at a deadline.
//!
//! A `Sleep` costs nothing until first polled. A poll compares the deadline
//! with the runtime's last clock reading (`Clock::last_reading`: taken at
//! every park and every `Instant::now`), never older than the tick. The first `Pending` poll
//! inserts an entry into the current runtime's timer heap (`timers.rs`)
//! holding the task's waker, and keeps the timer's key together with the
//! runtime's [`Injector`]; later polls only refresh the waker if the task
//! changed. When the reactor turn finds the deadline passed, it wakes that
//! waker, and the next poll sees `now >= deadline` and completes.
//!
//! Dropping a pending `Sleep` frees its timer: in O(1) right away when its
//! runtime is current (the common case: dropped by a task), otherwise
//! through its runtime's injector, which the runtime drains at its next
//! park or `block_on` (a `Sleep` is `Send`, so it may be dropped on any
//! thread, or after `block_on` returned). Holding the injector is what lets
//! a `Sleep` reach its own runtime without the thread-local.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use super::Instant;
use crate::context::{self, Core};
use crate::driver::timers::TimerKey;
use crate::injector::Injector;

/// Waits until `duration` has passed.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let rt = corio_runtime::Runtime::builder().virtual_time(true).build().unwrap();
/// rt.block_on(async {
///     let start = corio_runtime::time::Instant::now();
///     corio_runtime::time::sleep(Duration::from_secs(3600)).await; // instant: virtual time
///     assert!(start.elapsed() >= Duration::from_secs(3600));
/// });
/// ```
///
/// # Panics
///
/// The returned future panics if polled outside a corio runtime.
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(Instant::now() + duration)
}

/// Waits until `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep { deadline, entry: None }
}

/// Future returned by [`sleep`] and [`sleep_until`].
///
/// `Sleep` is `Unpin` and `Send`; it registers with the runtime it is first
/// polled on, and frees its timer there when dropped, wherever that happens.
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Sleep {
    deadline: Instant,
    /// Once registered: the timer's runtime (by its injector) and key.
    entry: Option<(Arc<Injector>, TimerKey)>,
}

impl Sleep {
    /// The deadline.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Moves the deadline, keeping the timer entry (no allocation).
    pub fn reset(&mut self, deadline: Instant) {
        self.deadline = deadline;
        let Some((runtime, key)) = self.entry.take() else { return };
        let moved = context::with_current(|core| {
            core.owns(&runtime).then(|| core.timers.borrow_mut().reset(key, deadline.into_std()))
        });
        match moved.flatten() {
            Some(key) => self.entry = Some((runtime, key)),
            // Away from its runtime: free the timer; the next poll arms a new one.
            None => runtime.push_cancelled_timer(key),
        }
    }

    fn poll_in(&mut self, core: &Core, cx: &mut Context<'_>) -> Poll<()> {
        // The last clock reading, not a new one: a deadline at or before it
        // has passed for sure; a later one that has passed meanwhile fires
        // at the next park, which reads the clock. `sleep` itself read the
        // clock for the deadline, so `sleep(Duration::ZERO)` is ready at
        // once, and an ordinary sleep's first poll costs no clock read.
        if core.clock.last_reading() >= self.deadline.into_std() {
            self.cancel_in(core);
            return Poll::Ready(());
        }
        match &self.entry {
            Some((runtime, key)) if core.owns(runtime) => {
                core.timers.borrow_mut().update_waker(*key, cx.waker())
            }
            // First poll, or moved to another runtime: register here.
            _ => {
                self.cancel_in(core);
                let key = core.timers.borrow_mut().insert(self.deadline.into_std(), cx.waker().clone());
                self.entry = Some((core.injector.clone(), key));
            }
        }
        Poll::Pending
    }

    /// Frees the timer, directly if `core` is its runtime, else through the
    /// injector of its own.
    fn cancel_in(&mut self, core: &Core) {
        if let Some((runtime, key)) = self.entry.take() {
            if core.owns(&runtime) {
                core.timers.borrow_mut().cancel(key);
            } else {
                runtime.push_cancelled_timer(key);
            }
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        context::with_current(|core| this.poll_in(core, cx))
            .expect("corio::time::Sleep polled outside a corio runtime: timers need `block_on`")
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        let Some((runtime, key)) = self.entry.take() else { return };
        let freed = context::with_current(|core| {
            if core.owns(&runtime) {
                core.timers.borrow_mut().cancel(key);
                true
            } else {
                false
            }
        });
        if freed != Some(true) {
            runtime.push_cancelled_timer(key);
        }
    }
}
