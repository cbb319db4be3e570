//! A single-value channel that remembers only the latest value: for
//! configuration, status, "the current leader", anything where readers want
//! the newest state rather than every change.
//!
//! # How it parks and wakes
//!
//! Every handle shares one `Rc<Watched>`: the value in a `RefCell`, a
//! *version* counter bumped by every send, handle counts, and two
//! [`Notify`]s. A receiver remembers the version it last saw; it has a
//! change to see whenever the shared version differs. `changed()` creates a
//! `Notified` future *first*, then compares versions, then awaits: a send
//! that lands in between bumps the `Notify`'s epoch, so the wake-up is not
//! lost (the check-then-wait pattern of the `Notify` docs). A send stores
//! the value, bumps the version and calls `notify_waiters`, which wakes every
//! parked receiver once, however many there are; receivers that are not
//! waiting cost the send nothing. Dropping the last sender wakes them too
//! (they see the channel closed). Dropping the last receiver wakes the
//! sender's `closed()`.
//!
//! Semantics follow `tokio::sync::watch`: a new receiver has seen the
//! current value; `send` fails when no receiver is left; `changed` reports
//! a change made before the last sender went away before it reports the
//! close.
//!
//! # Examples
//!
//! ```
//! use corio_runtime::sync::watch;
//!
//! corio_runtime::block_on(async {
//!     let (tx, mut rx) = watch::channel("v1");
//!     let reader = corio_runtime::spawn(async move {
//!         rx.changed().await.unwrap();
//!         *rx.borrow_and_update()
//!     });
//!     tx.send("v2").unwrap();
//!     assert_eq!(reader.await.unwrap(), "v2");
//! });
//! ```

use std::cell::{self, Cell, RefCell};
use std::error::Error;
use std::fmt;
use std::ops::Deref;
use std::rc::Rc;

use super::Notify;

/// Creates a watch channel holding `init`; both halves start with it seen.
///
/// # Examples
///
/// ```
/// use corio_runtime::sync::watch;
///
/// let (tx, rx) = watch::channel(0);
/// tx.send_modify(|n| *n += 1);
/// assert_eq!(*rx.borrow(), 1);
/// ```
pub fn channel<T>(init: T) -> (Sender<T>, Receiver<T>) {
    let shared = Rc::new(Watched {
        value: RefCell::new(init),
        version: Cell::new(0),
        senders: Cell::new(1),
        receivers: Cell::new(1),
        changed: Notify::new(),
        receivers_gone: Notify::new(),
    });
    (Sender { shared: shared.clone() }, Receiver { shared, seen: 0 })
}

/// The state every handle shares.
struct Watched<T> {
    value: RefCell<T>,
    /// Bumped by every send; a receiver compares it with the version it saw.
    version: Cell<u64>,
    /// Live senders; 0 means closed: no more changes will come.
    senders: Cell<usize>,
    /// Live receivers; 0 means `send` fails and `Sender::closed` completes.
    receivers: Cell<usize>,
    /// Woken (all waiters) by every send and by the last sender's drop.
    changed: Notify,
    /// Woken when the last receiver is dropped.
    receivers_gone: Notify,
}

impl<T> Watched<T> {
    fn is_closed(&self) -> bool {
        self.senders.get() == 0
    }

    /// The new value is in place: publish it.
    fn bump(&self) {
        self.version.set(self.version.get() + 1);
        self.changed.notify_waiters();
    }
}

/// The error of [`Receiver::changed`] and friends: every sender is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvError;

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("watch channel closed: every sender was dropped")
    }
}

impl Error for RecvError {}

/// The error of [`Sender::send`]: no receiver is left. Holds the value.
#[derive(PartialEq, Eq)]
pub struct SendError<T>(pub T);

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("watch channel has no receiver")
    }
}

impl<T> Error for SendError<T> {}

/// A borrow of the current value, from [`Sender::borrow`],
/// [`Receiver::borrow`] or [`Receiver::borrow_and_update`].
///
/// # Caveats
///
/// It holds a `RefCell` borrow: a send while it is alive panics (a bug to
/// fix, where tokio's lock would deadlock). Drop it before any `.await`.
pub struct Ref<'a, T> {
    value: cell::Ref<'a, T>,
    has_changed: bool,
}

impl<T> Ref<'_, T> {
    /// Whether this value was new to the receiver that borrowed it (always
    /// `false` for a borrow through the sender).
    pub fn has_changed(&self) -> bool {
        self.has_changed
    }
}

impl<T> Deref for Ref<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: fmt::Debug> fmt::Debug for Ref<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

/// The sending half: replaces or modifies the value, waking receivers.
/// Clone it for more senders; the channel closes when the last one drops.
///
/// `!Send`, like every type of [`sync`](crate::sync): it shares an `Rc`.
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: T) {}
/// let (tx, _rx) = corio_runtime::sync::watch::channel(0u8);
/// assert_send(tx); // error: `Rc<..>` cannot be sent between threads
/// ```
pub struct Sender<T> {
    shared: Rc<Watched<T>>,
}

impl<T> Sender<T> {
    /// A sender with no receiver yet (create them with [`subscribe`](Self::subscribe)).
    pub fn new(init: T) -> Sender<T> {
        let (tx, rx) = channel(init);
        drop(rx);
        tx
    }

    /// Replaces the value and wakes every waiting receiver.
    ///
    /// # Errors
    ///
    /// If no receiver is left, the value is not stored and comes back in the
    /// error (use [`send_replace`](Self::send_replace) to store it anyway).
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        if self.shared.receivers.get() == 0 {
            return Err(SendError(value));
        }
        self.send_replace(value);
        Ok(())
    }

    /// Replaces the value whether or not anyone listens; returns the old one.
    ///
    /// # Panics
    ///
    /// Panics if a [`Ref`] to the value is alive.
    pub fn send_replace(&self, value: T) -> T {
        let old = std::mem::replace(&mut *self.borrow_mut(), value);
        self.shared.bump();
        old
    }

    /// Modifies the value in place and wakes every waiting receiver, even if
    /// `modify` changed nothing.
    ///
    /// # Panics
    ///
    /// Panics if a [`Ref`] to the value is alive, or if `modify` panics
    /// (then receivers are not told of whatever it changed).
    pub fn send_modify(&self, modify: impl FnOnce(&mut T)) {
        self.send_if_modified(|value| {
            modify(value);
            true
        });
    }

    /// Modifies the value in place; wakes receivers only if `modify`
    /// returns `true`. Returns what `modify` returned.
    ///
    /// # Panics
    ///
    /// As [`send_modify`](Self::send_modify).
    pub fn send_if_modified(&self, modify: impl FnOnce(&mut T) -> bool) -> bool {
        let modified = modify(&mut self.borrow_mut());
        if modified {
            self.shared.bump();
        }
        modified
    }

    fn borrow_mut(&self) -> cell::RefMut<'_, T> {
        self.shared
            .value
            .try_borrow_mut()
            .expect("watch::Sender: a `Ref` to the value is still alive; drop it before sending")
    }

    /// The current value. [`Ref::has_changed`] is always `false` here.
    pub fn borrow(&self) -> Ref<'_, T> {
        Ref { value: self.shared.value.borrow(), has_changed: false }
    }

    /// A new receiver that has seen the current value.
    pub fn subscribe(&self) -> Receiver<T> {
        self.shared.receivers.set(self.shared.receivers.get() + 1);
        Receiver { shared: self.shared.clone(), seen: self.shared.version.get() }
    }

    /// Live receivers.
    pub fn receiver_count(&self) -> usize {
        self.shared.receivers.get()
    }

    /// Live senders, this one included.
    pub fn sender_count(&self) -> usize {
        self.shared.senders.get()
    }

    /// Whether every receiver is gone (`send` would fail).
    pub fn is_closed(&self) -> bool {
        self.shared.receivers.get() == 0
    }

    /// Waits until every receiver is gone: the way a producer learns that
    /// nobody cares any more. Cancel-safe.
    pub async fn closed(&self) {
        loop {
            let gone = self.shared.receivers_gone.notified();
            if self.is_closed() {
                return;
            }
            gone.await;
        }
    }

    /// Whether both senders belong to the same channel.
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        Rc::ptr_eq(&self.shared, &other.shared)
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        self.shared.senders.set(self.shared.senders.get() + 1);
        Sender { shared: self.shared.clone() }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let senders = self.shared.senders.get() - 1;
        self.shared.senders.set(senders);
        if senders == 0 {
            self.shared.changed.notify_waiters();
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("watch::Sender")
            .field("value", &self.shared.value.try_borrow().ok())
            .field("receivers", &self.shared.receivers.get())
            .finish()
    }
}

/// The receiving half: reads the latest value, waits for the next change.
/// Clone it for more receivers (a clone has seen what the original saw).
pub struct Receiver<T> {
    shared: Rc<Watched<T>>,
    /// The version this receiver last marked seen.
    seen: u64,
}

impl<T> Receiver<T> {
    /// The current value, without marking it seen.
    pub fn borrow(&self) -> Ref<'_, T> {
        let has_changed = self.shared.version.get() != self.seen;
        Ref { value: self.shared.value.borrow(), has_changed }
    }

    /// The current value, marking it seen (so `changed` waits for the next).
    pub fn borrow_and_update(&mut self) -> Ref<'_, T> {
        let version = self.shared.version.get();
        let has_changed = version != self.seen;
        self.seen = version;
        Ref { value: self.shared.value.borrow(), has_changed }
    }

    /// Whether a value this receiver has not seen is waiting.
    ///
    /// # Errors
    ///
    /// [`RecvError`] once every sender is gone, even if a last value is
    /// unseen (as tokio: `changed` and `borrow` still deliver it).
    pub fn has_changed(&self) -> Result<bool, RecvError> {
        if self.shared.is_closed() {
            return Err(RecvError);
        }
        Ok(self.shared.version.get() != self.seen)
    }

    /// Makes the current value count as unseen.
    pub fn mark_changed(&mut self) {
        self.seen = self.shared.version.get().wrapping_sub(1);
    }

    /// Makes the current value count as seen.
    pub fn mark_unchanged(&mut self) {
        self.seen = self.shared.version.get();
    }

    /// Waits until there is a value this receiver has not seen, and marks it
    /// seen. Returns at once if one is already waiting.
    ///
    /// Cancel-safe: dropping the future before it completes marks nothing.
    ///
    /// # Errors
    ///
    /// [`RecvError`] when every sender is gone and no unseen value is left.
    pub async fn changed(&mut self) -> Result<(), RecvError> {
        loop {
            // Register interest before checking, so a send in between still
            // wakes us (the epoch of `notify_waiters`).
            let notified = self.shared.changed.notified();
            let version = self.shared.version.get();
            if version != self.seen {
                self.seen = version;
                return Ok(());
            }
            if self.shared.is_closed() {
                return Err(RecvError);
            }
            notified.await;
        }
    }

    /// Waits until the value satisfies `condition` (checked against the
    /// current value first), marks it seen and returns it.
    ///
    /// Cancel-safe.
    ///
    /// # Errors
    ///
    /// [`RecvError`] when every sender is gone and the last value does not
    /// satisfy `condition`.
    pub async fn wait_for(&mut self, mut condition: impl FnMut(&T) -> bool) -> Result<Ref<'_, T>, RecvError> {
        loop {
            let notified = self.shared.changed.notified();
            let version = self.shared.version.get();
            let has_changed = version != self.seen;
            self.seen = version;
            if condition(&self.shared.value.borrow()) {
                return Ok(Ref { value: self.shared.value.borrow(), has_changed });
            }
            if self.shared.is_closed() {
                return Err(RecvError);
            }
            notified.await;
        }
    }

    /// Whether every sender is gone.
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    /// Whether both receivers belong to the same channel.
    pub fn same_channel(&self, other: &Receiver<T>) -> bool {
        Rc::ptr_eq(&self.shared, &other.shared)
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Receiver<T> {
        self.shared.receivers.set(self.shared.receivers.get() + 1);
        Receiver { shared: self.shared.clone(), seen: self.seen }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let receivers = self.shared.receivers.get() - 1;
        self.shared.receivers.set(receivers);
        if receivers == 0 {
            self.shared.receivers_gone.notify_waiters();
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("watch::Receiver")
            .field("value", &self.shared.value.try_borrow().ok())
            .field("seen", &(self.seen == self.shared.version.get()))
            .finish()
    }
}
