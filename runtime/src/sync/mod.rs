//! Task coordination: channels, notifications and permits.
//!
//! A stop on the tour after `handle.rs`: the first code built *on* the
//! runtime rather than inside it. None of it knows about the executor (it
//! uses only `waker.rs` and `slab.rs`); each type makes a task wait by
//! storing the `Waker` from its `Context` and wakes it later from another
//! task, exactly like the reactor and the timers do.
//!
//! - [`oneshot`]: one value, once, from one task to another.
//! - [`mpsc`]: a FIFO stream of values from many senders to one receiver,
//!   bounded (sending waits while full: backpressure) or unbounded.
//! - [`Notify`]: wake one waiting task, or all of them.
//! - [`Semaphore`]: at most N at once, FIFO-fair.
//! - [`watch`]: one value that changes; receivers see the latest, and wait
//!   for the next change (configuration, status).
//! - [`broadcast`]: every receiver gets every message, from a bounded ring;
//!   a receiver that falls behind is told how many it missed.
//!
//! The waiting side of mpsc, `Notify` and `Semaphore` is a `WaitList`
//! (`waiters.rs`): waiter records in the runtime's `Slab`, threaded into a
//! FIFO list by key: no intrusive pointers and no `unsafe`. `watch` and
//! `broadcast` wait on a `Notify` (every send wakes all waiting receivers
//! with `notify_waiters`), so they get the same queue, and its cancel
//! safety, for free.
//!
//! # Single-thread types
//!
//! Every type here is `!Send` (and the shared ones `!Sync`): the state lives
//! in `Rc`, `Cell` and `RefCell`, with no atomics and no locks. That is the
//! point of a single-threaded runtime: all tasks that share a channel run on
//! the same thread, so a send is a few plain loads and stores. To hand work
//! to the runtime from another thread use a [`Handle`](crate::Handle), or
//! any thread-safe queue plus a `Waker` (wakers are `Send + Sync`).
//!
//! Two more rules hold throughout: no waker is ever woken while a `RefCell`
//! borrow is held (wakers are collected, the borrow ends, then they are
//! woken), and a stored waker is replaced only when the new one would wake a
//! different task (`Waker::clone_from`, through `waker::store`).
//!
//! # Cancel safety
//!
//! Dropping a future stops it at its current `.await`. What that costs, for
//! each operation that can wait:
//!
//! | operation                                | if the future is dropped before it completes |
//! |------------------------------------------|----------------------------------------------|
//! | `oneshot::Receiver` (awaited)            | the channel closes: the sender's `send` fails and gives its value back; a value already sent is dropped |
//! | `oneshot::Sender::closed`                | nothing                                       |
//! | `mpsc::Receiver::recv`                   | nothing: a message leaves the buffer only in the poll that returns it |
//! | `mpsc::Sender::send`                     | that message is dropped, unsent; the sender's place in the queue is given up, and a slot already granted to it passes to the next blocked sender |
//! | `Notify::notified`                       | nothing: a `notify_one` that had chosen it passes to the next waiter (or becomes the stored permit) |
//! | `Semaphore::acquire` / `acquire_many`    | nothing: its place in the queue is given up; permits granted but not yet claimed return and serve the next waiter |
//! | `watch::Receiver::changed` / `wait_for`  | nothing: a value is marked seen only by the poll that returns |
//! | `watch::Sender::closed`                  | nothing                                       |
//! | `broadcast::Receiver::recv`              | nothing: a message (or a `Lagged` report) is consumed only by the poll that returns it |
//! | `broadcast::Sender::closed`              | nothing                                       |
//! | `JoinSet::join_next`                     | nothing: a finished task's result stays in the set |
//!
//! Operations that never wait (`try_send`, `try_recv`, `try_acquire`,
//! `notify_one`, unbounded `send`, every `watch` and `broadcast` send)
//! complete inside the call.

pub mod broadcast;
pub mod mpsc;
mod notify;
pub mod oneshot;
mod semaphore;
mod waiters;
pub mod watch;

pub use notify::{Notified, Notify};
pub use semaphore::{
    Acquire, AcquireError, OwnedSemaphorePermit, Semaphore, SemaphorePermit, TryAcquireError,
};
