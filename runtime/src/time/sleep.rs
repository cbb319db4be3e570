//! `Sleep`: a future that completes at a deadline.
//!
//! A `Sleep` costs nothing until first polled. The first `Pending` poll
//! inserts an entry into the runtime's timer heap (`timers.rs`) holding the
//! task's waker; later polls only refresh the waker if the task changed.
//! When the reactor turn finds the deadline passed, it wakes that waker, and
//! the next poll sees `now >= deadline` and completes. Dropping a pending
//! `Sleep` cancels its entry in O(1).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::timers::TimerKey;
use super::Instant;
use crate::executor::{with_current, Local};

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
/// polled on.
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Sleep {
    deadline: Instant,
    /// The runtime id and timer key, once registered.
    entry: Option<(u64, TimerKey)>,
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
        if let Some((runtime, key)) = self.entry {
            let moved = with_current(|local| {
                (local.id == runtime).then(|| local.timers.borrow_mut().reset(key, deadline.into_std()))
            });
            match moved.flatten() {
                Some(key) => self.entry = Some((runtime, key)),
                None => self.entry = None,
            }
        }
    }

    fn poll_in(&mut self, local: &Local, cx: &mut Context<'_>) -> Poll<()> {
        if local.clock.now() >= self.deadline.into_std() {
            self.cancel_in(local);
            return Poll::Ready(());
        }
        let mut timers = local.timers.borrow_mut();
        match self.entry {
            Some((runtime, key)) if runtime == local.id => timers.update_waker(key, cx.waker()),
            // First poll, or moved to another runtime: register here.
            _ => {
                let key = timers.insert(self.deadline.into_std(), cx.waker().clone());
                self.entry = Some((local.id, key));
            }
        }
        Poll::Pending
    }

    fn cancel_in(&mut self, local: &Local) {
        if let Some((runtime, key)) = self.entry.take() {
            if runtime == local.id {
                local.timers.borrow_mut().cancel(key);
            }
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        with_current(|local| this.poll_in(local, cx))
            .expect("corio::time::Sleep polled outside a corio runtime: timers need `block_on`")
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if self.entry.is_some() {
            // Outside its runtime (or after it is gone) there is nothing to
            // cancel: the entry dies with that runtime's timer heap.
            let _ = with_current(|local| self.cancel_in(local));
        }
    }
}
