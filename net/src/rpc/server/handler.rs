//! The handler's path: a route starts it inside the connection's reader,
//! polls it once there, and only if it waits moves it into a task of its own.
//!
//! [`route`] erases a handler's type into a [`Route`]. Per request the route
//! creates the handler's future, wraps it in [`Guarded`] (its deadline as a
//! `Sleep` raced against it; a panic caught and turned into a message), puts
//! it in a box the route keeps for reuse, and polls it right there: most
//! handlers answer during that first poll, costing no task and no allocation
//! beyond the request's payload. A handler that returns `Pending` moves, box
//! and all, into a task that calls `ServerConnection::finish` when it is done.

use std::any::Any;
use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use corio_runtime::time::{sleep_until, Instant, Sleep};
use corio_runtime::{spawn_named, task, JoinHandle};
use pin_project_lite::pin_project;

use super::connection::ServerConnection;
use super::Request;
use crate::rpc::RpcError;

/// What a handler produced: its answer, or the message of its panic.
pub(super) type Outcome = Result<Result<Vec<u8>, RpcError>, String>;

/// A route, type-erased: starts the handler for one request (`Started`).
/// The handler's concrete future type lives inside this closure, so the
/// only erasure per request is the box around that future.
pub(super) type Route = Rc<dyn Fn(Request, &Rc<ServerConnection>, &mut Context<'_>) -> Started>;

/// How a handler's first poll went.
pub(super) enum Started {
    /// It answered at once.
    Answered(Outcome),
    /// It waits; its future now runs as this task, which calls
    /// `ServerConnection::finish` when the handler is done.
    Running(JoinHandle<()>),
}

/// Erases `handler`'s type into a [`Route`] for the method `method`.
pub(super) fn route<F, Fut>(method: Rc<str>, handler: F) -> Route
where
    F: Fn(Request) -> Fut + 'static,
    Fut: Future<Output = Result<Vec<u8>, RpcError>> + 'static,
{
    // The box a handler's future runs in, kept for the next request when
    // the handler answered at once: no allocation per such request.
    let spare: RefCell<Option<HandlerBox<Fut>>> = RefCell::new(None);
    Rc::new(move |request, connection, cx| {
        let (id, deadline) = (request.id(), request.deadline());
        // Creating the future runs the handler's synchronous part: a
        // panic there is the handler's too.
        let work = match catch_unwind(AssertUnwindSafe(|| handler(request))) {
            Ok(work) => work,
            Err(panic) => return Started::Answered(Err(panic_message(panic))),
        };
        let mut slot = spare.borrow_mut().take().unwrap_or_else(|| Box::pin(None));
        slot.set(Some(Guarded::new(work, deadline)));
        match poll_handler(&mut slot, cx) {
            Poll::Ready(outcome) => {
                slot.set(None);
                *spare.borrow_mut() = Some(slot);
                Started::Answered(outcome)
            }
            Poll::Pending => {
                let (connection, method) = (connection.clone(), method.clone());
                // The task's first poll polls the handler again, so the
                // wakers it registers from then on are the task's own
                // rather than the reader's.
                // Named by its method in traces and task dumps.
                Started::Running(spawn_named(&method.clone(), async move {
                    let outcome = poll_fn(|cx| poll_handler(&mut slot, cx)).await;
                    slot.set(None); // the handler is gone before its answer goes
                    connection.finish(id, &method, outcome);
                }))
            }
        }
    })
}

/// A handler's future in a box that outlives it (its route keeps it, see [`route`]).
type HandlerBox<F> = Pin<Box<Option<Guarded<F>>>>;

/// Polls the handler in `slot` (which holds one until it is done).
fn poll_handler<F>(slot: &mut HandlerBox<F>, cx: &mut Context<'_>) -> Poll<Outcome>
where
    F: Future<Output = Result<Vec<u8>, RpcError>>,
{
    match slot.as_mut().as_pin_mut() {
        Some(work) => work.poll(cx),
        None => unreachable!("a handler box is polled only while it holds a handler"),
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
    type Output = Outcome;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
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
