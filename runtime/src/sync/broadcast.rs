//! A bounded many-to-many channel: every receiver gets every message (a
//! clone of it), and a receiver that falls too far behind is told how many
//! it missed instead of holding the senders up.
//!
//! # How it works
//!
//! Messages get consecutive positions 0, 1, 2, ... The channel keeps the
//! last `capacity` of them in a ring (a `VecDeque`), each with a count of
//! the receivers that have yet to read it. A receiver is just the position
//! of the next message it wants:
//!
//! - behind the oldest kept message: it *lagged*; `recv` returns
//!   [`RecvError::Lagged(n)`](RecvError::Lagged) with the number skipped and
//!   moves it to the oldest kept message;
//! - at a kept message: `recv` clones it and counts one reader fewer; the
//!   last reader drops the stored value at once (the slot stays, so lag is
//!   measured the same way for everyone);
//! - at the end: it waits.
//!
//! Sending never waits: into a full ring, the oldest message is evicted.
//! Waiting receivers park on a [`Notify`] (check-then-wait, as in the
//! `Notify` docs), and a send wakes them all with one `notify_waiters`.
//! Semantics follow `tokio::sync::broadcast`, except that the capacity is
//! exactly what you ask for (tokio rounds it up to a power of two).
//!
//! # Examples
//!
//! ```
//! use corio_runtime::sync::broadcast;
//!
//! corio_runtime::block_on(async {
//!     let (tx, mut rx1) = broadcast::channel(16);
//!     let mut rx2 = tx.subscribe();
//!     tx.send("hello").unwrap();
//!     assert_eq!(rx1.recv().await, Ok("hello"));
//!     assert_eq!(rx2.recv().await, Ok("hello"));
//! });
//! ```

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::rc::Rc;

use super::Notify;

/// Creates a channel that keeps the last `capacity` messages for slow
/// receivers.
///
/// # Examples
///
/// ```
/// use corio_runtime::sync::broadcast::{self, error::TryRecvError};
///
/// let (tx, mut rx) = broadcast::channel(2);
/// for n in 1..=3 {
///     tx.send(n).unwrap();
/// }
/// // The ring kept 2 and 3; message 1 was evicted before rx read it.
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Lagged(1)));
/// assert_eq!(rx.try_recv(), Ok(2));
/// assert_eq!(rx.try_recv(), Ok(3));
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
/// ```
///
/// # Panics
///
/// Panics if `capacity` is zero.
pub fn channel<T: Clone>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let tx = Sender::new(capacity);
    let rx = tx.subscribe();
    (tx, rx)
}

/// One kept message.
struct Message<T> {
    /// `None` once every receiver that was subscribed when it was sent has
    /// read it (or was dropped).
    value: Option<T>,
    /// Receivers that have yet to read it.
    unread: usize,
}

/// The state every handle shares.
struct Broadcast<T> {
    /// The last `capacity` messages; `ring[0]` has position `oldest`.
    ring: RefCell<VecDeque<Message<T>>>,
    capacity: usize,
    /// Position of `ring[0]`.
    oldest: Cell<u64>,
    /// Position the next message will get; `oldest + ring.len()`.
    next: Cell<u64>,
    senders: Cell<usize>,
    receivers: Cell<usize>,
    /// Woken (all waiters) by every send and by the last sender's drop.
    sent: Notify,
    /// Woken when the last receiver is dropped.
    receivers_gone: Notify,
}

impl<T> Broadcast<T> {
    fn is_closed(&self) -> bool {
        self.senders.get() == 0
    }

    /// Counts one reader fewer for the message at `ring[index]`; the last
    /// one takes the value out (the caller drops it after the borrow ends).
    fn read_one(ring: &mut VecDeque<Message<T>>, index: usize) -> Option<T> {
        let slot = &mut ring[index];
        slot.unread -= 1;
        if slot.unread == 0 {
            slot.value.take()
        } else {
            None
        }
    }
}

impl<T: Clone> Broadcast<T> {
    /// The receive step: the message at position `*next`, or why not.
    fn take(&self, next: &mut u64) -> Result<T, TryRecvError> {
        let oldest = self.oldest.get();
        if *next < oldest {
            let missed = oldest - *next;
            *next = oldest;
            return Err(TryRecvError::Lagged(missed));
        }
        if *next == self.next.get() {
            return Err(if self.is_closed() { TryRecvError::Closed } else { TryRecvError::Empty });
        }
        let index = (*next - oldest) as usize;
        *next += 1;
        let mut ring = self.ring.borrow_mut();
        match Broadcast::read_one(&mut ring, index) {
            // The last reader takes the value itself: no clone needed.
            Some(value) => Ok(value),
            None => Ok(ring[index].value.clone().expect("a message with readers left keeps its value")),
        }
    }
}

/// Errors of [`Sender::send`], [`Receiver::recv`] and [`Receiver::try_recv`].
pub mod error {
    use std::error::Error;
    use std::fmt;

    /// The error of [`Receiver::recv`](super::Receiver::recv).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum RecvError {
        /// Every sender is gone and this receiver has read every message.
        Closed,
        /// This receiver fell behind: that many messages were evicted
        /// before it read them. The next `recv` returns the oldest kept one.
        Lagged(u64),
    }

    impl fmt::Display for RecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                RecvError::Closed => f.write_str("broadcast channel closed"),
                RecvError::Lagged(n) => write!(f, "broadcast receiver lagged behind by {n} messages"),
            }
        }
    }

    impl Error for RecvError {}

    /// The error of [`Receiver::try_recv`](super::Receiver::try_recv).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum TryRecvError {
        /// No message is waiting right now.
        Empty,
        /// Every sender is gone and this receiver has read every message.
        Closed,
        /// As [`RecvError::Lagged`].
        Lagged(u64),
    }

    impl fmt::Display for TryRecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                TryRecvError::Empty => f.write_str("broadcast channel empty"),
                TryRecvError::Closed => f.write_str("broadcast channel closed"),
                TryRecvError::Lagged(n) => write!(f, "broadcast receiver lagged behind by {n} messages"),
            }
        }
    }

    impl Error for TryRecvError {}

    /// The error of [`Sender::send`](super::Sender::send): no receiver is
    /// left. Holds the message.
    #[derive(PartialEq, Eq)]
    pub struct SendError<T>(pub T);

    impl<T> fmt::Debug for SendError<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("SendError(..)")
        }
    }

    impl<T> fmt::Display for SendError<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("broadcast channel has no receiver")
        }
    }

    impl<T> Error for SendError<T> {}
}

pub use error::{RecvError, SendError, TryRecvError};

/// The sending half. Clone it for more senders; receivers see the channel
/// closed once every sender is gone and they have read what is left.
///
/// `!Send`, like every type of [`sync`](crate::sync).
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: T) {}
/// let (tx, _rx) = corio_runtime::sync::broadcast::channel::<u8>(1);
/// assert_send(tx); // error: `Rc<..>` cannot be sent between threads
/// ```
pub struct Sender<T> {
    shared: Rc<Broadcast<T>>,
}

impl<T> Sender<T> {
    /// A sender with no receiver yet (create them with [`subscribe`](Self::subscribe)).
    ///
    /// # Panics
    ///
    /// Panics if `capacity` is zero.
    pub fn new(capacity: usize) -> Sender<T> {
        assert!(capacity > 0, "broadcast::channel capacity must be at least 1");
        Sender {
            shared: Rc::new(Broadcast {
                ring: RefCell::new(VecDeque::with_capacity(capacity.min(1024))),
                capacity,
                oldest: Cell::new(0),
                next: Cell::new(0),
                senders: Cell::new(1),
                receivers: Cell::new(0),
                sent: Notify::new(),
                receivers_gone: Notify::new(),
            }),
        }
    }

    /// Sends `value` to every current receiver; returns how many that is.
    /// Never waits: a full ring evicts its oldest message.
    ///
    /// # Errors
    ///
    /// With no receiver, the value is not kept and comes back in the error.
    pub fn send(&self, value: T) -> Result<usize, SendError<T>> {
        let shared = &*self.shared;
        let receivers = shared.receivers.get();
        if receivers == 0 {
            return Err(SendError(value));
        }
        let evicted = {
            let mut ring = shared.ring.borrow_mut();
            let evicted = if ring.len() == shared.capacity {
                shared.oldest.set(shared.oldest.get() + 1);
                ring.pop_front()
            } else {
                None
            };
            ring.push_back(Message { value: Some(value), unread: receivers });
            evicted
        };
        shared.next.set(shared.next.get() + 1);
        // The evicted message may own anything; drop it outside the borrow.
        drop(evicted);
        shared.sent.notify_waiters();
        Ok(receivers)
    }

    /// A new receiver that gets every message sent from now on.
    pub fn subscribe(&self) -> Receiver<T> {
        self.shared.receivers.set(self.shared.receivers.get() + 1);
        Receiver { shared: self.shared.clone(), next: self.shared.next.get() }
    }

    /// Messages kept that some receiver has yet to read.
    pub fn len(&self) -> usize {
        self.shared.ring.borrow().iter().filter(|slot| slot.unread > 0).count()
    }

    /// Whether every kept message has been read by every receiver.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Live receivers.
    pub fn receiver_count(&self) -> usize {
        self.shared.receivers.get()
    }

    /// Waits until every receiver is gone. Cancel-safe.
    pub async fn closed(&self) {
        loop {
            let gone = self.shared.receivers_gone.notified();
            if self.shared.receivers.get() == 0 {
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
            self.shared.sent.notify_waiters();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("broadcast::Sender")
            .field("capacity", &self.shared.capacity)
            .field("receivers", &self.shared.receivers.get())
            .finish()
    }
}

/// The receiving half: gets every message sent after it subscribed.
pub struct Receiver<T> {
    shared: Rc<Broadcast<T>>,
    /// Position of the next message this receiver wants.
    next: u64,
}

impl<T: Clone> Receiver<T> {
    /// Waits for the next message and returns a clone of it.
    ///
    /// Cancel-safe: a message is consumed only by the poll that returns it.
    ///
    /// # Errors
    ///
    /// [`RecvError::Lagged`] if messages were evicted before this receiver
    /// read them (the next call returns the oldest kept one);
    /// [`RecvError::Closed`] once every sender is gone and everything is read.
    pub async fn recv(&mut self) -> Result<T, RecvError> {
        loop {
            // Register interest first, so a send after the check wakes us.
            let sent = self.shared.sent.notified();
            match self.shared.take(&mut self.next) {
                Ok(value) => return Ok(value),
                Err(TryRecvError::Lagged(n)) => return Err(RecvError::Lagged(n)),
                Err(TryRecvError::Closed) => return Err(RecvError::Closed),
                Err(TryRecvError::Empty) => sent.await,
            }
        }
    }

    /// Takes the next message if one is waiting.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if none is, otherwise as [`recv`](Self::recv).
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.shared.take(&mut self.next)
    }

    /// A new receiver of the same channel that starts at the newest end
    /// (it does not see what this one has yet to read).
    pub fn resubscribe(&self) -> Receiver<T> {
        self.shared.receivers.set(self.shared.receivers.get() + 1);
        Receiver { shared: self.shared.clone(), next: self.shared.next.get() }
    }
}

impl<T> Receiver<T> {
    /// Messages sent that this receiver has yet to read (evicted ones included).
    pub fn len(&self) -> usize {
        (self.shared.next.get() - self.next) as usize
    }

    /// Whether no message is waiting for this receiver.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether every sender is gone (messages may still be waiting).
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    /// Whether both receivers belong to the same channel.
    pub fn same_channel(&self, other: &Receiver<T>) -> bool {
        Rc::ptr_eq(&self.shared, &other.shared)
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let shared = &*self.shared;
        // Count this receiver out of every kept message it has not read, so
        // those nobody else wants are dropped now, not at eviction.
        let unread: Vec<T> = {
            let mut ring = shared.ring.borrow_mut();
            let oldest = shared.oldest.get();
            let from = self.next.max(oldest);
            (from..shared.next.get())
                .filter_map(|position| Broadcast::read_one(&mut ring, (position - oldest) as usize))
                .collect()
        };
        drop(unread); // outside the borrow: a message's destructor may use the channel
        let receivers = shared.receivers.get() - 1;
        shared.receivers.set(receivers);
        if receivers == 0 {
            shared.receivers_gone.notify_waiters();
        }
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("broadcast::Receiver").field("next", &self.next).finish_non_exhaustive()
    }
}
