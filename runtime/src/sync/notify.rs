//! `Notify`: wake one waiting task, or all of them, without sending data.
//!
//! # How it waits and wakes
//!
//! A [`Notified`] future that has to wait takes a record in the `Notify`'s
//! `WaitList` (`waiters.rs`) holding its task's waker. [`Notify::notify_one`] unlinks the
//! first record, marks it notified and wakes its waker; with nobody waiting it
//! stores a single *permit* instead, which the next `notified()` consumes at
//! once. [`Notify::notify_waiters`] unlinks every record, collects all wakers,
//! releases the borrow, then wakes them; it also bumps a counter (the
//! *epoch*) so that `Notified` futures created before the call but not yet
//! polled complete too. A `Notified` dropped after `notify_one` chose it
//! passes the notification on, so none is lost.
//!
//! # Checking a condition without losing a wake-up
//!
//! Create the `Notified` future *before* checking the condition, then await
//! it. A `notify_waiters` that lands between the check and the `.await`
//! still completes it (the epoch was recorded at creation), and a
//! `notify_one` in that window leaves a permit:
//!
//! ```
//! use std::cell::Cell;
//! use std::rc::Rc;
//! use corio_runtime::sync::Notify;
//!
//! corio_runtime::block_on(async {
//!     let notify = Rc::new(Notify::new());
//!     let ready = Rc::new(Cell::new(false));
//!     let (n, r) = (notify.clone(), ready.clone());
//!     corio_runtime::spawn(async move {
//!         r.set(true);
//!         n.notify_waiters();
//!     });
//!     loop {
//!         let notified = notify.notified(); // 1. register interest
//!         if ready.get() {                  // 2. check
//!             break;
//!         }
//!         notified.await;                   // 3. wait; nothing slips between 2 and 3
//!     }
//! });
//! ```

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::waiters::{Key, WaitList};

/// What a waiter's record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wakeup {
    /// Queued.
    Waiting,
    /// Chosen by `notify_one`: must pass it on if dropped unpolled.
    One,
    /// Woken by `notify_waiters`.
    All,
}

/// Wakes one waiting task or all of them; carries no data.
///
/// Think of it as a condition variable for tasks, with one stored permit
/// so that a `notify_one` before anyone waits is not lost.
///
/// `Notify` is `!Send` and `!Sync`: its wait list is a `RefCell` and its
/// permit a `Cell`, cheap because it is only used on the runtime's thread.
/// Share it between tasks with `Rc<Notify>`. To signal a task from another
/// thread, wake a `Waker` (they are `Send + Sync`) or use a
/// [`Handle`](crate::Handle).
///
/// ```compile_fail
/// fn assert_sync<T: Sync>(_: &T) {}
/// assert_sync(&corio_runtime::sync::Notify::new()); // error: `RefCell` is not `Sync`
/// ```
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use corio_runtime::sync::Notify;
///
/// corio_runtime::block_on(async {
///     let notify = Rc::new(Notify::new());
///     let waiter = {
///         let notify = notify.clone();
///         corio_runtime::spawn(async move {
///             notify.notified().await;
///             "woken"
///         })
///     };
///     notify.notify_one();
///     assert_eq!(waiter.await.unwrap(), "woken");
/// });
/// ```
pub struct Notify {
    /// A `notify_one` that found nobody waiting; at most one is kept.
    permit: Cell<bool>,
    /// Number of `notify_waiters` calls so far.
    epoch: Cell<u64>,
    waiters: RefCell<WaitList<Wakeup>>,
}

impl Notify {
    /// A `Notify` with no permit and no waiters.
    pub const fn new() -> Notify {
        Notify { permit: Cell::new(false), epoch: Cell::new(0), waiters: RefCell::new(WaitList::new()) }
    }

    /// A future that completes when this `Notify` is notified.
    ///
    /// It consumes the stored permit if there is one. It also completes if
    /// [`notify_waiters`](Self::notify_waiters) is called after it was
    /// created, even if it was not polled yet (see the module docs for the
    /// check-then-wait pattern this enables).
    pub fn notified(&self) -> Notified<'_> {
        Notified { notify: self, epoch: self.epoch.get(), key: None, done: false }
    }

    /// Wakes the first waiting task, or stores a permit if none waits (one
    /// permit at most: several calls with nobody waiting count as one).
    pub fn notify_one(&self) {
        let waker = {
            let mut waiters = self.waiters.borrow_mut();
            match waiters.front() {
                Some(key) => {
                    *waiters.state_mut(key) = Wakeup::One;
                    waiters.unlink(key)
                }
                None => {
                    self.permit.set(true);
                    None
                }
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Wakes every task waiting right now (and every `Notified` created but
    /// not yet polled). Stores no permit: later waiters keep waiting.
    pub fn notify_waiters(&self) {
        self.epoch.set(self.epoch.get() + 1);
        let mut wakers = Vec::new();
        {
            let mut waiters = self.waiters.borrow_mut();
            wakers.reserve(waiters.len());
            while let Some(key) = waiters.front() {
                *waiters.state_mut(key) = Wakeup::All;
                wakers.extend(waiters.unlink(key));
            }
        }
        for waker in wakers {
            waker.wake();
        }
    }
}

impl Default for Notify {
    fn default() -> Notify {
        Notify::new()
    }
}

impl fmt::Debug for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notify")
            .field("permit", &self.permit.get())
            .field("waiters", &self.waiters.borrow().len())
            .finish()
    }
}

/// Future returned by [`Notify::notified`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Notified<'a> {
    notify: &'a Notify,
    /// `notify.epoch` when this future was created.
    epoch: u64,
    /// Our wait-list record, while queued or chosen.
    key: Option<Key>,
    done: bool,
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let notify = this.notify;
        if this.done {
            return Poll::Ready(());
        }
        if let Some(key) = this.key {
            let mut waiters = notify.waiters.borrow_mut();
            if *waiters.state(key) == Wakeup::Waiting {
                waiters.register(key, cx.waker());
                crate::context::note_wait("Notify::notified");
                return Poll::Pending;
            }
            waiters.remove(key);
            this.key = None;
            this.done = true;
            return Poll::Ready(());
        }
        if notify.epoch.get() != this.epoch || notify.permit.replace(false) {
            this.done = true;
            return Poll::Ready(());
        }
        this.key = Some(notify.waiters.borrow_mut().push_back(Wakeup::Waiting, cx.waker().clone()));
        crate::context::note_wait("Notify::notified");
        Poll::Pending
    }
}

impl Drop for Notified<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let state = self.notify.waiters.borrow_mut().remove(key);
        if state == Wakeup::One {
            // Chosen but never completed: give the notification to the next.
            self.notify.notify_one();
        }
    }
}

impl fmt::Debug for Notified<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notified").field("waiting", &self.key.is_some()).field("done", &self.done).finish()
    }
}
