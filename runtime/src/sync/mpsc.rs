//! A multi-producer, single-consumer FIFO channel, bounded or unbounded.
//!
//! # How it waits and wakes
//!
//! All handles share one `Rc<Chan>`: a `VecDeque` buffer, the sender count,
//! the receiver's waker and (bounded only) a `WaitList` (`waiters.rs`) of blocked senders.
//!
//! - The **receiver** waits by storing its waker in `rx_waker`. Every send
//!   takes that waker (if present) and wakes it, so a burst of sends into a
//!   waiting receiver costs one wake. The last sender's drop wakes it too.
//! - A **sender** of a full bounded channel waits in the wait list, in
//!   arrival order. Each time the receiver takes a message out, it *grants*
//!   the slot to the first waiting sender: unlinks it, counts a reservation
//!   (`reserved`), and wakes it. The granted sender pushes its value on its
//!   next poll. A new `send` only takes the fast path when nobody is waiting
//!   and a slot is free counting reservations, so senders are served FIFO
//!   and the buffer never holds more than `capacity` messages.
//! - If a granted send future is dropped before it pushes, its reservation
//!   is released and handed to the next waiting sender. If a waiting one is
//!   dropped, it just leaves the queue. Either way no slot leaks.
//!
//! Wakers collected under a `RefCell` borrow are woken after the borrow ends.
//!
//! # Examples
//!
//! ```
//! use corio_runtime::sync::mpsc;
//!
//! corio_runtime::block_on(async {
//!     let (tx, mut rx) = mpsc::channel(8);
//!     for id in 0..3 {
//!         let tx = tx.clone();
//!         corio_runtime::spawn(async move {
//!             tx.send(id).await.unwrap();
//!         });
//!     }
//!     drop(tx); // `recv` gives `None` once every sender is gone
//!     let mut got = Vec::new();
//!     while let Some(id) = rx.recv().await {
//!         got.push(id);
//!     }
//!     got.sort();
//!     assert_eq!(got, [0, 1, 2]);
//! });
//! ```

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::waiters::{Key, WaitList};

/// Creates a bounded channel holding at most `capacity` messages.
///
/// When the buffer is full, [`Sender::send`] waits (backpressure) until the
/// receiver makes room; waiting senders are served first come, first served.
///
/// # Examples
///
/// ```
/// use corio_runtime::sync::mpsc::{self, TrySendError};
///
/// corio_runtime::block_on(async {
///     let (tx, mut rx) = mpsc::channel(1);
///     tx.try_send(1).unwrap();
///     assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
///     assert_eq!(rx.recv().await, Some(1));
/// });
/// ```
///
/// # Panics
///
/// Panics if `capacity` is zero (a rendezvous channel is not supported).
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(capacity > 0, "mpsc::channel capacity must be at least 1");
    let chan = Rc::new(Chan::new(capacity));
    (Sender { chan: chan.clone() }, Receiver { chan })
}

/// Creates a channel with no capacity limit: sending never waits.
///
/// Use it when the producer is naturally limited (say, one message per
/// request); otherwise a slow consumer lets the buffer grow without bound.
///
/// # Examples
///
/// ```
/// use corio_runtime::sync::mpsc;
///
/// corio_runtime::block_on(async {
///     let (tx, mut rx) = mpsc::unbounded_channel();
///     tx.send("a").unwrap();
///     drop(tx);
///     assert_eq!(rx.recv().await, Some("a"));
///     assert_eq!(rx.recv().await, None);
/// });
/// ```
pub fn unbounded_channel<T>() -> (UnboundedSender<T>, UnboundedReceiver<T>) {
    let chan = Rc::new(Chan::new(usize::MAX));
    (UnboundedSender { chan: chan.clone() }, UnboundedReceiver { inner: Receiver { chan } })
}

/// What a blocked sender's wait-list record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Queued, waiting for room.
    Waiting,
    /// Unlinked and given a reserved slot: push on the next poll.
    Granted,
    /// Unlinked because the receiver is gone.
    Closed,
}

/// The state every handle shares.
struct Chan<T> {
    buffer: RefCell<VecDeque<T>>,
    /// Maximum buffered messages; `usize::MAX` for unbounded.
    capacity: usize,
    /// Slots promised to granted senders that have not pushed yet.
    /// Invariant: `buffer.len() + reserved <= capacity`.
    reserved: Cell<usize>,
    /// Live `Sender`/`UnboundedSender` handles; 0 means no more messages.
    senders: Cell<usize>,
    /// The receiver was dropped or closed: sends fail.
    rx_closed: Cell<bool>,
    /// The waiting receiver's waker.
    rx_waker: Cell<Option<Waker>>,
    /// Senders blocked on a full buffer, FIFO. Invariant: non-empty only
    /// while `buffer.len() + reserved == capacity`.
    send_waiters: RefCell<WaitList<Place>>,
}

impl<T> Chan<T> {
    fn new(capacity: usize) -> Chan<T> {
        Chan {
            // Bounded: allocate up front (up to 1024), so the hot path never
            // grows the buffer. Unbounded: grow on demand.
            buffer: RefCell::new(VecDeque::with_capacity(if capacity == usize::MAX {
                0
            } else {
                capacity.min(1024)
            })),
            capacity,
            reserved: Cell::new(0),
            senders: Cell::new(1),
            rx_closed: Cell::new(false),
            rx_waker: Cell::new(None),
            send_waiters: RefCell::new(WaitList::new()),
        }
    }

    /// Appends a message (room was checked or reserved) and wakes the receiver.
    fn push(&self, value: T) {
        self.buffer.borrow_mut().push_back(value);
        if let Some(waker) = self.rx_waker.take() {
            waker.wake();
        }
    }

    /// Whether a new sender may push right now without jumping the queue.
    fn has_free_slot(&self) -> bool {
        self.buffer.borrow().len() + self.reserved.get() < self.capacity
            && self.send_waiters.borrow().is_empty()
    }

    /// Hands free slots to waiting senders, first come first served.
    fn grant_waiters(&self) {
        if self.capacity == usize::MAX {
            return;
        }
        let mut woken: Option<Waker> = None;
        loop {
            let free = self.capacity - self.buffer.borrow().len() - self.reserved.get();
            let mut waiters = self.send_waiters.borrow_mut();
            let Some(key) = waiters.front().filter(|_| free > 0) else { break };
            *waiters.state_mut(key) = Place::Granted;
            let waker = waiters.unlink(key);
            drop(waiters);
            self.reserved.set(self.reserved.get() + 1);
            // Wake one at a time, outside the borrow; usually there is one.
            if let Some(previous) = std::mem::replace(&mut woken, waker) {
                previous.wake();
            }
        }
        if let Some(waker) = woken {
            waker.wake();
        }
    }

    /// Marks the channel closed for senders and wakes every blocked one.
    fn close_rx(&self) {
        if self.rx_closed.replace(true) {
            return;
        }
        let mut wakers = Vec::new();
        {
            let mut waiters = self.send_waiters.borrow_mut();
            while let Some(key) = waiters.front() {
                *waiters.state_mut(key) = Place::Closed;
                wakers.extend(waiters.unlink(key));
            }
        }
        for waker in wakers {
            waker.wake();
        }
    }

    fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let value = self.buffer.borrow_mut().pop_front();
        match value {
            Some(value) => {
                if !self.send_waiters.borrow().is_empty() {
                    self.grant_waiters();
                }
                Poll::Ready(Some(value))
            }
            // Closed: granted senders see `rx_closed` and give up, so
            // nothing more can arrive.
            None if self.senders.get() == 0 || self.rx_closed.get() => Poll::Ready(None),
            None => {
                crate::waker::store_in_cell(&self.rx_waker, cx.waker());
                crate::context::note_wait("mpsc::Receiver::recv");
                Poll::Pending
            }
        }
    }

    fn try_recv(&self) -> Result<T, TryRecvError> {
        let value = self.buffer.borrow_mut().pop_front();
        match value {
            Some(value) => {
                self.grant_waiters();
                Ok(value)
            }
            None if self.senders.get() == 0 || self.rx_closed.get() => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }

    fn drop_sender(&self) {
        let senders = self.senders.get() - 1;
        self.senders.set(senders);
        if senders == 0 {
            if let Some(waker) = self.rx_waker.take() {
                waker.wake();
            }
        }
    }

    fn drop_receiver(&self) {
        self.close_rx();
        self.rx_waker.take();
        // Drop buffered messages now, outside the borrow: a message's
        // destructor may touch this very channel (drop a `Sender`, say).
        let buffered = std::mem::take(&mut *self.buffer.borrow_mut());
        drop(buffered);
    }
}

/// The sending half of a bounded [`channel`]. Clone it for more producers.
///
/// `Sender` is `!Send`: the channel state is an `Rc` with `Cell`s and a
/// `RefCell`, cheap because every handle lives on the runtime's one thread.
/// To feed a task from another thread, use a thread-safe channel plus a
/// [`Handle`](crate::Handle) or a `Waker` (wakers are `Send + Sync`).
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: T) {}
/// let (tx, _rx) = corio_runtime::sync::mpsc::channel::<u8>(1);
/// assert_send(tx); // error: `Rc<..>` cannot be sent between threads
/// ```
pub struct Sender<T> {
    chan: Rc<Chan<T>>,
}

impl<T> Sender<T> {
    /// Sends a message, waiting while the buffer is full.
    ///
    /// # Errors
    ///
    /// Gives the message back in a [`SendError`] if the receiver is gone.
    ///
    /// # Caveats
    ///
    /// Dropping the returned future before it completes drops the message
    /// (it was not sent) and gives up its place in the queue of blocked
    /// senders; a slot that had already been granted to it is passed to the
    /// next blocked sender.
    pub fn send(&self, value: T) -> SendFuture<'_, T> {
        SendFuture { chan: &self.chan, value: Some(value), key: None }
    }

    /// Sends a message if there is room right now.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] when the buffer is full (or other senders are
    /// already waiting for room), [`TrySendError::Closed`] when the receiver
    /// is gone; both give the message back.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        if self.chan.rx_closed.get() {
            return Err(TrySendError::Closed(value));
        }
        if !self.chan.has_free_slot() {
            return Err(TrySendError::Full(value));
        }
        self.chan.push(value);
        Ok(())
    }

    /// Whether the receiver is gone (dropped or closed): sends will fail.
    pub fn is_closed(&self) -> bool {
        self.chan.rx_closed.get()
    }

    /// Free slots right now (not counting slots granted to waiting senders).
    pub fn capacity(&self) -> usize {
        self.chan.capacity - self.chan.buffer.borrow().len() - self.chan.reserved.get()
    }

    /// The capacity the channel was created with.
    pub fn max_capacity(&self) -> usize {
        self.chan.capacity
    }

    /// Whether both senders feed the same channel.
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        Rc::ptr_eq(&self.chan, &other.chan)
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        self.chan.senders.set(self.chan.senders.get() + 1);
        Sender { chan: self.chan.clone() }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.chan.drop_sender();
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::Sender").field("capacity", &self.chan.capacity).finish_non_exhaustive()
    }
}

/// Future returned by [`Sender::send`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct SendFuture<'a, T> {
    chan: &'a Chan<T>,
    /// The message, until it is pushed or given back.
    value: Option<T>,
    /// Our wait-list record, while we are queued or granted.
    key: Option<Key>,
}

// The message is moved, never pinned: the future is `Unpin` whatever `T` is.
impl<T> Unpin for SendFuture<'_, T> {}

impl<T> Future for SendFuture<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let chan = this.chan;
        let mut granted = false;
        if let Some(key) = this.key {
            let mut waiters = chan.send_waiters.borrow_mut();
            match *waiters.state(key) {
                Place::Waiting => {
                    waiters.register(key, cx.waker());
                    crate::context::note_wait("mpsc::Sender::send (channel full)");
                    return Poll::Pending;
                }
                Place::Granted => {
                    chan.reserved.set(chan.reserved.get() - 1);
                    granted = true;
                }
                Place::Closed => {}
            }
            waiters.remove(key);
            this.key = None;
        }
        let value = this.value.take().expect("mpsc::SendFuture polled after it completed");
        if chan.rx_closed.get() {
            return Poll::Ready(Err(SendError(value)));
        }
        if granted || chan.has_free_slot() {
            chan.push(value);
            return Poll::Ready(Ok(()));
        }
        this.value = Some(value);
        this.key = Some(chan.send_waiters.borrow_mut().push_back(Place::Waiting, cx.waker().clone()));
        crate::context::note_wait("mpsc::Sender::send (channel full)");
        Poll::Pending
    }
}

impl<T> Drop for SendFuture<'_, T> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let turn = self.chan.send_waiters.borrow_mut().remove(key);
        if turn == Place::Granted {
            // We held the turn: release the reservation and pass it on.
            self.chan.reserved.set(self.chan.reserved.get() - 1);
            self.chan.grant_waiters();
        }
    }
}

impl<T> fmt::Debug for SendFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::SendFuture").field("waiting", &self.key.is_some()).finish_non_exhaustive()
    }
}

/// The receiving half of a bounded [`channel`].
///
/// `!Send` for the same reason as [`Sender`].
pub struct Receiver<T> {
    chan: Rc<Chan<T>>,
}

impl<T> Receiver<T> {
    /// Receives the next message, waiting if the buffer is empty.
    ///
    /// Gives `None` once every sender is gone (or the receiver was
    /// [closed](Self::close)) and the buffer is drained.
    ///
    /// # Caveats
    ///
    /// Cancel-safe: dropping the future loses nothing; a message is only
    /// taken out of the buffer in the poll that returns it.
    pub fn recv(&mut self) -> RecvFuture<'_, T> {
        RecvFuture { chan: &self.chan }
    }

    /// Polls for the next message (the building block of [`recv`](Self::recv)).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.chan.poll_recv(cx)
    }

    /// Takes a message if one is buffered, without waiting.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if none is buffered but senders remain,
    /// [`TryRecvError::Disconnected`] if none is buffered and none will come.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.chan.try_recv()
    }

    /// Closes the channel for senders (their sends fail from now on, blocked
    /// ones wake with an error) while keeping the buffered messages, which
    /// `recv` still returns before `None`.
    pub fn close(&mut self) {
        self.chan.close_rx();
    }

    /// Number of buffered messages.
    pub fn len(&self) -> usize {
        self.chan.buffer.borrow().len()
    }

    /// Whether no message is buffered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.chan.drop_receiver();
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::Receiver").field("len", &self.len()).finish_non_exhaustive()
    }
}

/// Future returned by [`Receiver::recv`] and [`UnboundedReceiver::recv`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct RecvFuture<'a, T> {
    chan: &'a Chan<T>,
}

impl<T> Future for RecvFuture<'_, T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.chan.poll_recv(cx)
    }
}

impl<T> fmt::Debug for RecvFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::RecvFuture").finish_non_exhaustive()
    }
}

/// The sending half of an [`unbounded_channel`]. Sending never waits.
///
/// `!Send` for the same reason as [`Sender`].
pub struct UnboundedSender<T> {
    chan: Rc<Chan<T>>,
}

impl<T> UnboundedSender<T> {
    /// Sends a message at once.
    ///
    /// # Errors
    ///
    /// Gives the message back if the receiver is gone.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        if self.chan.rx_closed.get() {
            return Err(SendError(value));
        }
        self.chan.push(value);
        Ok(())
    }

    /// Whether the receiver is gone (dropped or closed): sends will fail.
    pub fn is_closed(&self) -> bool {
        self.chan.rx_closed.get()
    }

    /// Whether both senders feed the same channel.
    pub fn same_channel(&self, other: &UnboundedSender<T>) -> bool {
        Rc::ptr_eq(&self.chan, &other.chan)
    }
}

impl<T> Clone for UnboundedSender<T> {
    fn clone(&self) -> UnboundedSender<T> {
        self.chan.senders.set(self.chan.senders.get() + 1);
        UnboundedSender { chan: self.chan.clone() }
    }
}

impl<T> Drop for UnboundedSender<T> {
    fn drop(&mut self) {
        self.chan.drop_sender();
    }
}

impl<T> fmt::Debug for UnboundedSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::UnboundedSender").finish_non_exhaustive()
    }
}

/// The receiving half of an [`unbounded_channel`]; same methods as [`Receiver`].
#[derive(Debug)]
pub struct UnboundedReceiver<T> {
    inner: Receiver<T>,
}

impl<T> UnboundedReceiver<T> {
    /// Receives the next message; see [`Receiver::recv`].
    pub fn recv(&mut self) -> RecvFuture<'_, T> {
        self.inner.recv()
    }

    /// Polls for the next message; see [`Receiver::poll_recv`].
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.inner.poll_recv(cx)
    }

    /// Takes a buffered message without waiting; see [`Receiver::try_recv`].
    ///
    /// # Errors
    ///
    /// As [`Receiver::try_recv`].
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.inner.try_recv()
    }

    /// Closes the channel for senders; see [`Receiver::close`].
    pub fn close(&mut self) {
        self.inner.close();
    }

    /// Number of buffered messages.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether no message is buffered.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }
}

/// The error of a send whose receiver is gone; holds the unsent message.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SendError<T>(pub T);

impl<T> SendError<T> {
    /// The message that was not sent.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("channel closed: the receiver is gone")
    }
}

impl<T> Error for SendError<T> {}

/// The error of [`Sender::try_send`]; both variants hold the unsent message.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// The buffer is full (or other senders are already waiting for room).
    Full(T),
    /// The receiver is gone.
    Closed(T),
}

impl<T> TrySendError<T> {
    /// The message that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::Full(value) | TrySendError::Closed(value) => value,
        }
    }
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("channel full"),
            TrySendError::Closed(_) => f.write_str("channel closed: the receiver is gone"),
        }
    }
}

impl<T> Error for TrySendError<T> {}

/// The error of `try_recv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing buffered; senders remain.
    Empty,
    /// Nothing buffered and nothing will come: every sender is gone, or the
    /// receiver was closed.
    Disconnected,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("channel empty"),
            TryRecvError::Disconnected => f.write_str("channel disconnected"),
        }
    }
}

impl Error for TryRecvError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
        Pin::new(future).poll(&mut Context::from_waker(Waker::noop()))
    }

    /// `buffer.len() + reserved <= capacity`, and waiters only when full.
    fn check_invariants<T>(chan: &Chan<T>) {
        let used = chan.buffer.borrow().len() + chan.reserved.get();
        assert!(used <= chan.capacity);
        if !chan.send_waiters.borrow().is_empty() {
            assert_eq!(used, chan.capacity);
        }
    }

    #[test]
    fn grants_reserve_slots_and_release_them_on_drop() {
        let (tx, mut rx) = channel::<u32>(2);
        tx.try_send(0).unwrap();
        tx.try_send(1).unwrap();
        let mut a = tx.send(2);
        let mut b = tx.send(3);
        assert!(poll(&mut a).is_pending());
        assert!(poll(&mut b).is_pending());
        assert_eq!(tx.chan.send_waiters.borrow().len(), 2);
        check_invariants(&tx.chan);

        assert_eq!(rx.try_recv(), Ok(0)); // grants `a`
        assert_eq!(tx.chan.reserved.get(), 1);
        assert_eq!(tx.chan.send_waiters.borrow().len(), 1);
        check_invariants(&tx.chan);
        assert!(matches!(tx.try_send(9), Err(TrySendError::Full(9))), "no barging past `b`");

        drop(a); // granted, never pushed: the slot goes to `b`
        assert_eq!(tx.chan.reserved.get(), 1);
        assert!(tx.chan.send_waiters.borrow().is_empty());
        check_invariants(&tx.chan);

        assert!(poll(&mut b).is_ready());
        assert_eq!(tx.chan.reserved.get(), 0);
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(rx.try_recv(), Ok(3));
        check_invariants(&tx.chan);
    }

    #[test]
    fn closing_fails_granted_and_waiting_senders() {
        let (tx, mut rx) = channel::<u32>(1);
        tx.try_send(0).unwrap();
        let mut granted = tx.send(1);
        let mut waiting = tx.send(2);
        assert!(poll(&mut granted).is_pending());
        assert!(poll(&mut waiting).is_pending());
        assert_eq!(rx.try_recv(), Ok(0));
        rx.close();
        assert!(matches!(poll(&mut granted), Poll::Ready(Err(SendError(1)))));
        assert!(matches!(poll(&mut waiting), Poll::Ready(Err(SendError(2)))));
        assert_eq!(tx.chan.reserved.get(), 0);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    }
}
