//! A one-shot channel: send exactly one value from one task to another.
//!
//! # How it waits and wakes
//!
//! Sender and receiver share one `Rc` holding the value slot, a state word
//! and two waker cells. A pending [`Receiver`] stores its task's waker in
//! `rx_waker`; [`Sender::send`] (or dropping the sender) takes that waker
//! and wakes it. A pending [`Sender::closed`] stores the producer's waker in
//! `tx_waker`; dropping or [closing](Receiver::close) the receiver wakes it.
//! Each side replaces its stored waker only when the new one would wake a
//! different task, and every wake happens after the cell is emptied, so no
//! borrow is ever held while a task is woken.
//!
//! # Examples
//!
//! ```
//! use corio_runtime::sync::oneshot;
//!
//! corio_runtime::block_on(async {
//!     let (tx, rx) = oneshot::channel();
//!     corio_runtime::spawn(async move {
//!         tx.send("done").unwrap();
//!     });
//!     assert_eq!(rx.await, Ok("done"));
//! });
//! ```

use std::cell::Cell;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// The sender sent its value (it is in `value`, or was already taken).
const SENT: u8 = 1 << 0;
/// The sender was dropped without sending; excludes `SENT`.
const SENDER_GONE: u8 = 1 << 1;
/// The receiver was dropped or closed: sends fail, `closed()` completes.
const RECEIVER_GONE: u8 = 1 << 2;
/// The receiver already returned the value or the error.
const TAKEN: u8 = 1 << 3;

/// Creates a one-shot channel: one value, one sender, one receiver.
///
/// # Examples
///
/// ```
/// use corio_runtime::sync::oneshot;
///
/// corio_runtime::block_on(async {
///     let (tx, rx) = oneshot::channel::<u32>();
///     drop(tx); // the sender gives up
///     assert_eq!(rx.await, Err(oneshot::RecvError));
/// });
/// ```
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let inner = Rc::new(Inner {
        value: Cell::new(None),
        state: Cell::new(0),
        rx_waker: Cell::new(None),
        tx_waker: Cell::new(None),
    });
    (Sender { inner: Some(inner.clone()) }, Receiver { inner })
}

/// The state both halves share.
struct Inner<T> {
    /// The value, between `send` and the receiver taking it.
    value: Cell<Option<T>>,
    /// `SENT`, `SENDER_GONE`, `RECEIVER_GONE`, `TAKEN` bits.
    state: Cell<u8>,
    /// The task awaiting the `Receiver`.
    rx_waker: Cell<Option<Waker>>,
    /// The task awaiting `Sender::closed`.
    tx_waker: Cell<Option<Waker>>,
}

impl<T> Inner<T> {
    fn set(&self, bit: u8) {
        self.state.set(self.state.get() | bit);
    }

    fn has(&self, bit: u8) -> bool {
        self.state.get() & bit != 0
    }
}

/// Wakes the waker stored in `cell`, if any (the cell is emptied first).
fn wake(cell: &Cell<Option<Waker>>) {
    if let Some(waker) = cell.take() {
        waker.wake();
    }
}

/// The sending half of a [`channel`].
///
/// `Sender` is `!Send`: it shares an `Rc` and `Cell`s with its receiver, so
/// it can only live on the runtime's thread, which is what makes it cheap
/// (no atomics). To deliver a value from another thread, use a
/// thread-safe channel and a [`Handle`](crate::Handle) or a `Waker`.
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: T) {}
/// let (tx, _rx) = corio_runtime::sync::oneshot::channel::<u8>();
/// assert_send(tx); // error: `Rc<..>` cannot be sent between threads
/// ```
pub struct Sender<T> {
    /// `None` once the value was sent.
    inner: Option<Rc<Inner<T>>>,
}

impl<T> Sender<T> {
    fn inner(&self) -> &Inner<T> {
        self.inner.as_ref().expect("oneshot::Sender used after send")
    }

    /// Sends the value, waking the receiver.
    ///
    /// # Errors
    ///
    /// Gives the value back if the receiver was dropped or closed.
    pub fn send(mut self, value: T) -> Result<(), T> {
        let inner = self.inner.take().expect("oneshot::Sender used after send");
        if inner.has(RECEIVER_GONE) {
            return Err(value);
        }
        inner.value.set(Some(value));
        inner.set(SENT);
        wake(&inner.rx_waker);
        Ok(())
    }

    /// Whether the receiver is gone (dropped or [closed](Receiver::close)):
    /// a `send` would fail. A producer can check this to stop early.
    pub fn is_closed(&self) -> bool {
        self.inner().has(RECEIVER_GONE)
    }

    /// Waits until the receiver is dropped or closed: the way a producer
    /// learns that nobody wants its answer any more (and cancels its work).
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_runtime::sync::oneshot;
    ///
    /// corio_runtime::block_on(async {
    ///     let (mut tx, rx) = oneshot::channel::<u64>();
    ///     let worker = corio_runtime::spawn(async move {
    ///         tx.closed().await; // stands in for "race the work against this"
    ///         "cancelled"
    ///     });
    ///     drop(rx);
    ///     assert_eq!(worker.await.unwrap(), "cancelled");
    /// });
    /// ```
    pub fn closed(&mut self) -> Closed<'_, T> {
        Closed { sender: self }
    }

    /// Polls for the receiver being gone; the task is woken when it goes.
    pub fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let inner = self.inner();
        if inner.has(RECEIVER_GONE) {
            return Poll::Ready(());
        }
        crate::waker::store_in_cell(&inner.tx_waker, cx.waker());
        crate::context::note_wait("oneshot::Sender::closed");
        Poll::Pending
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            inner.set(SENDER_GONE);
            inner.tx_waker.take();
            wake(&inner.rx_waker);
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Sender").field("closed", &self.is_closed()).finish()
    }
}

/// Future returned by [`Sender::closed`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Closed<'a, T> {
    sender: &'a mut Sender<T>,
}

impl<T> Future for Closed<'_, T> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.sender.poll_closed(cx)
    }
}

impl<T> fmt::Debug for Closed<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Closed").finish_non_exhaustive()
    }
}

/// The receiving half of a [`channel`]; a future of the value.
///
/// Awaiting it gives `Ok(value)`, or `Err(RecvError)` if the sender was
/// dropped without sending. Dropping it (or calling [`close`](Self::close))
/// makes the sender's `send` fail and completes [`Sender::closed`].
///
/// `Receiver` is `!Send` for the same reason as [`Sender`]: `Rc` and `Cell`
/// instead of atomics, because both halves live on one runtime thread.
pub struct Receiver<T> {
    inner: Rc<Inner<T>>,
}

impl<T> Receiver<T> {
    /// Takes the value if it has arrived, without waiting.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] while the sender may still send;
    /// [`TryRecvError::Closed`] if it was dropped without sending, or the
    /// value was already taken.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let inner = &*self.inner;
        if inner.has(SENT) {
            if let Some(value) = inner.value.take() {
                inner.set(TAKEN);
                return Ok(value);
            }
            return Err(TryRecvError::Closed);
        }
        if inner.has(SENDER_GONE) || inner.has(RECEIVER_GONE) {
            return Err(TryRecvError::Closed);
        }
        Err(TryRecvError::Empty)
    }

    /// Stops the sender from sending: its `send` fails from now on and
    /// [`Sender::closed`] completes. A value sent before this call can still
    /// be received.
    pub fn close(&mut self) {
        self.inner.set(RECEIVER_GONE);
        wake(&self.inner.tx_waker);
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &*self.inner;
        assert!(!inner.has(TAKEN), "oneshot::Receiver polled after it completed");
        if inner.has(SENT) {
            inner.set(TAKEN);
            let value = inner.value.take().expect("a sent oneshot value is present until taken");
            return Poll::Ready(Ok(value));
        }
        if inner.has(SENDER_GONE) || inner.has(RECEIVER_GONE) {
            inner.set(TAKEN);
            return Poll::Ready(Err(RecvError));
        }
        crate::waker::store_in_cell(&inner.rx_waker, cx.waker());
        crate::context::note_wait("oneshot::Receiver");
        Poll::Pending
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let inner = &*self.inner;
        inner.set(RECEIVER_GONE);
        inner.rx_waker.take();
        // Drop an unreceived value now, not whenever the last `Rc` goes.
        drop(inner.value.take());
        wake(&inner.tx_waker);
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Receiver").finish_non_exhaustive()
    }
}

/// The error of awaiting a [`Receiver`] whose sender was dropped unsent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvError;

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("oneshot sender dropped without sending")
    }
}

impl Error for RecvError {}

/// The error of [`Receiver::try_recv`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// No value yet; the sender may still send.
    Empty,
    /// No value will come: the sender was dropped unsent, the receiver was
    /// closed, or the value was already taken.
    Closed,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("oneshot channel empty"),
            TryRecvError::Closed => f.write_str("oneshot channel closed"),
        }
    }
}

impl Error for TryRecvError {}
