//! The handler's first poll, inside the connection's reader.
//!
//! [`route`] erases a handler's type into a [`Route`]. Per request the route
//! creates the handler's future, wraps it in [`Guarded`] (its deadline as a
//! `Sleep` raced against it; a panic caught and turned into a message), puts
//! it in a box the route keeps for reuse, and polls it right there: most
//! handlers answer during that first poll, costing no task and no allocation
//! beyond the request's payload. A handler that returns `Pending` comes back
//! in its box as [`Started::Waiting`], for the connection to finish in a
//! task of its own. This file knows nothing of connections.

use std::any::Any;
use std::cell::RefCell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use corio_runtime::task;
use corio_runtime::time::{sleep_until, Instant, Sleep};
use pin_project_lite::pin_project;

use super::request::Request;
use crate::rpc::RpcError;

/// What a handler produced: its answer, or the message of its panic.
pub(super) type HandlerOutcome = Result<Result<Vec<u8>, RpcError>, String>;

/// A route, type-erased: starts the handler for one request (`Started`).
/// The handler's concrete future type lives inside this closure, so the
/// only erasure per request is the box around that future.
pub(super) type Route = Rc<dyn Fn(Request, &mut Context<'_>) -> Started>;

/// A server's routes by method name.
pub(super) type Routes = foldhash::HashMap<Rc<str>, Route>;

/// A handler that waited at its first poll, still in its box: the future
/// the connection runs as a task of its own.
pub(super) type Waiting = Pin<Box<dyn Future<Output = HandlerOutcome>>>;

/// How a handler's first poll went.
pub(super) enum Started {
    /// It answered at once.
    Answered(HandlerOutcome),
    /// It waits.
    Waiting(Waiting),
}

/// Erases `handler`'s type into a [`Route`].
pub(super) fn route<F, Fut>(handler: F) -> Route
where
    F: Fn(Request) -> Fut + 'static,
    Fut: Future<Output = Result<Vec<u8>, RpcError>> + 'static,
{
    // The box a handler's future runs in, kept for the next request when
    // the handler answered at once: no allocation per such request.
    let spare: RefCell<Option<HandlerBox<Fut>>> = RefCell::new(None);
    Rc::new(move |request, cx| {
        let deadline = request.deadline();
        // Creating the future runs the handler's synchronous part: a
        // panic there is the handler's too.
        let work = match catch_unwind(AssertUnwindSafe(|| handler(request))) {
            Ok(work) => work,
            Err(panic) => return Started::Answered(Err(panic_message(panic))),
        };
        let mut slot = spare.borrow_mut().take().unwrap_or_else(|| Box::pin(Handler { guarded: None }));
        slot.set(Handler { guarded: Some(Guarded::new(work, deadline)) });
        match slot.as_mut().poll(cx) {
            Poll::Ready(outcome) => {
                slot.set(Handler { guarded: None });
                *spare.borrow_mut() = Some(slot);
                Started::Answered(outcome)
            }
            Poll::Pending => Started::Waiting(slot),
        }
    })
}

/// A handler's future in a box that outlives it (its route keeps it, see [`route`]).
type HandlerBox<F> = Pin<Box<Handler<F>>>;

pin_project! {
    /// What a [`HandlerBox`] holds: a handler, or nothing between requests.
    struct Handler<F> {
        #[pin]
        guarded: Option<Guarded<F>>,
    }
}

impl<F: Future<Output = Result<Vec<u8>, RpcError>>> Future for Handler<F> {
    type Output = HandlerOutcome;

    /// Polls the handler (the box holds one until it is done).
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<HandlerOutcome> {
        match self.project().guarded.as_pin_mut() {
            Some(guarded) => guarded.poll(cx),
            None => unreachable!("a handler box is polled only while it holds a handler"),
        }
    }
}

pin_project! {
    /// A handler's future with its deadline, catching a panic: resolves to
    /// the handler's answer, `Err(Timeout)` when the deadline passes first,
    /// or the panic's message.
    struct Guarded<F> {
        #[pin]
        work: F,
        // A `Sleep` registers with the timers only when first polled, so a
        // handler that answers at once never touches them.
        deadline: Option<Sleep>,
    }
}

impl<F> Guarded<F> {
    fn new(work: F, deadline: Option<Instant>) -> Guarded<F> {
        Guarded { work, deadline: deadline.map(sleep_until) }
    }
}

impl<F: Future<Output = Result<Vec<u8>, RpcError>>> Future for Guarded<F> {
    type Output = HandlerOutcome;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<HandlerOutcome> {
        let this = self.project();
        let work = this.work;
        match catch_unwind(AssertUnwindSafe(|| work.poll(cx))) {
            Ok(Poll::Ready(answer)) => return Poll::Ready(Ok(answer)),
            Ok(Poll::Pending) => {}
            Err(panic) => return Poll::Ready(Err(panic_message(panic))),
        }
        match this.deadline.as_mut().map(|sleep| Pin::new(sleep).poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(Ok(Err(RpcError::Timeout))),
            _ => Poll::Pending,
        }
    }
}

/// A panic's message, for the log and the `internal` error frame.
fn panic_message(payload: Box<dyn Any + Send>) -> String {
    task::panic_message(&*payload).unwrap_or("a non-string panic payload").to_owned()
}
