//! [`ServerConnection`]: one client connection as the server sees it: the
//! requests it reads (in order, each checked as `docs/PROTOCOL.md` says,
//! then started), the handlers still running on it by request id (the
//! in-flight table), its answers, and its part in shutdown.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use corio_runtime::time::Instant;
use corio_runtime::{spawn_named, JoinHandle};

use super::handler::{HandlerOutcome, Routes, Started, Waiting};
use super::request::Request;
use super::violation::Violation;
use crate::frame::{code, Frame, FrameError, Kind};
use crate::rpc::outbox::Outbox;
use crate::rpc::RpcError;

/// One client connection.
pub(super) struct ServerConnection {
    pub(super) id: u64,
    pub(super) peer: SocketAddr,
    pub(super) outbox: Rc<Outbox>,
    /// Handlers that waited at their first poll, each now a task, by request
    /// id: to abort on cancel, to count against `max_in_flight`, and to
    /// recognise a request id that is still running.
    pub(super) running: RefCell<foldhash::HashMap<u64, JoinHandle<()>>>,
    /// The server's log, for handler panics.
    pub(super) log: Rc<dyn Fn(&str)>,
    /// The reader task, when parked on the in-flight limit or waiting for
    /// running handlers to finish.
    pub(super) reader: RefCell<Option<Waker>>,
    /// Set once the shutdown notice is queued: requests read from now on
    /// are refused with code 7, and the in-flight limit no longer stops
    /// reading (refused requests start nothing).
    pub(super) shutting_down: Cell<bool>,
    /// Set when the connection must close now.
    pub(super) forced: Cell<Option<Force>>,
    /// After a read: the outbox's push count then, until the frames read
    /// have been handled (see `acknowledge_if_silent`).
    pub(super) read_at: Cell<Option<u64>>,
    pub(super) max_in_flight: usize,
}

/// Why the server closes a connection without waiting for its client.
#[derive(Debug, Clone, Copy)]
pub(super) enum Force {
    /// The shutdown grace period ended.
    GraceOver,
    /// Reading or writing failed, or the client broke a rule: no answer
    /// is owed (or can be sent) for what still runs.
    Broken,
}

impl ServerConnection {
    /// A connection from `peer`, the server's `id`-th.
    pub(super) fn new(
        id: u64,
        peer: SocketAddr,
        log: Rc<dyn Fn(&str)>,
        max_in_flight: usize,
    ) -> ServerConnection {
        ServerConnection {
            id,
            peer,
            outbox: Rc::new(Outbox::default()),
            running: RefCell::new(Default::default()),
            log,
            reader: RefCell::new(None),
            shutting_down: Cell::new(false),
            forced: Cell::new(None),
            read_at: Cell::new(None),
            max_in_flight,
        }
    }

    /// Handles one frame from the client, in arrival order.
    #[inline]
    pub(super) fn handle(
        self: &Rc<Self>,
        routes: &Routes,
        frame: Frame<'_>,
        cx: &mut Context<'_>,
    ) -> Result<(), Violation> {
        match frame {
            Frame::Request { id, method, deadline, payload } => {
                self.start_request(routes, id, &method, deadline, &payload, cx)
            }
            Frame::Cancel { id } => {
                // Unknown ids are answered or were never sent: nothing to do.
                let handle = self.running.borrow_mut().remove(&id);
                if let Some(handle) = handle {
                    handle.abort();
                }
                Ok(())
            }
            Frame::Ping { id, payload } => {
                let _ = self.outbox.push(|out| Frame::Pong { id, payload }.encode(out));
                Ok(())
            }
            // The server sends no pings, but a late or stray pong is harmless.
            Frame::Pong { .. } => Ok(()),
            Frame::Response { .. } => {
                Err(Violation::protocol(FrameError::WrongDirection(Kind::Response).to_string()))
            }
            Frame::Error { .. } => {
                Err(Violation::protocol(FrameError::WrongDirection(Kind::Error).to_string()))
            }
        }
    }

    /// A request, checked in the order `docs/PROTOCOL.md` gives: the
    /// connection errors first, then the refusals, then the handler.
    #[inline]
    fn start_request(
        self: &Rc<Self>,
        routes: &Routes,
        id: u64,
        method: &str,
        deadline: Option<Duration>,
        payload: &[u8],
        cx: &mut Context<'_>,
    ) -> Result<(), Violation> {
        if id == 0 {
            return Err(Violation::protocol("request id 0 is reserved".into()));
        }
        let running = self.running.borrow();
        let duplicate = !running.is_empty() && running.contains_key(&id);
        drop(running);
        if duplicate {
            return Err(Violation::protocol(format!("request id {id} is already in flight")));
        }
        let refuse = |code: u16, message: &str| {
            self.outbox.push(|out| encode_error(out, id, code, message));
            Ok(())
        };
        if self.shutting_down.get() {
            return refuse(code::SHUTTING_DOWN, "the server is shutting down; the request was not processed");
        }
        let Some((name, route)) = routes.get_key_value(method) else {
            return refuse(code::UNKNOWN_METHOD, &format!("unknown method `{method}`"));
        };
        if deadline == Some(Duration::ZERO) {
            return refuse(
                code::DEADLINE_EXCEEDED,
                "the deadline was already exceeded; the request was not run",
            );
        }
        let deadline = deadline.and_then(|remaining| Instant::now().checked_add(remaining));
        let request =
            Request { method: name.clone(), payload: payload.to_vec(), peer: self.peer, deadline, id };
        match route(request, cx) {
            Started::Answered(outcome) => self.answer(id, name, outcome),
            Started::Waiting(handler) => {
                let task = self.finish_in_task(id, name.clone(), handler);
                self.running.borrow_mut().insert(id, task);
            }
        }
        Ok(())
    }

    /// Runs a handler that waited at its first poll as a task of its own:
    /// every call that suspends is a suspended task. The task answers
    /// through [`finish`](ServerConnection::finish).
    fn finish_in_task(self: &Rc<Self>, id: u64, method: Rc<str>, mut handler: Waiting) -> JoinHandle<()> {
        let connection = self.clone();
        // The task's first poll polls the handler again, so the wakers it
        // registers from then on are the task's own rather than the reader's.
        // Named by its method in traces and task dumps.
        spawn_named(&method.clone(), async move {
            let outcome = handler.as_mut().await;
            drop(handler); // the handler is gone before its answer goes
            connection.finish(id, &method, outcome);
        })
    }

    /// Encodes a handler's outcome into the outbox.
    #[inline]
    fn answer(&self, id: u64, method: &str, outcome: HandlerOutcome) {
        let answer = outcome.unwrap_or_else(|panic| {
            (self.log)(&format!(
                "handler for `{method}` (request {id} from {}) panicked: {panic}",
                self.peer
            ));
            Err(RpcError::Internal(format!("handler panicked: {panic}")))
        });
        self.outbox.push(|out| match answer {
            Ok(payload) => {
                if let Err(error) = (Frame::Response { id, payload: payload.as_slice().into() }).encode(out) {
                    // Over 4 GiB: the request still gets its one answer.
                    encode_error(out, id, code::INTERNAL, &format!("the answer cannot be sent: {error}"));
                }
            }
            Err(error) => encode_error(out, id, error.code(), &error.message()),
        });
    }

    /// Called by a handler's task when the handler is done: answers and
    /// frees its place (unless it was cancelled meanwhile).
    fn finish(&self, id: u64, method: &str, outcome: HandlerOutcome) {
        let handle = self.running.borrow_mut().remove(&id);
        if handle.is_none() {
            return; // cancelled meanwhile: nobody waits for this answer
        }
        self.answer(id, method, outcome);
        let left = self.running.borrow().len();
        if left + 1 >= self.max_in_flight || left == 0 {
            self.wake_reader();
        }
        drop(handle);
    }

    /// Queues the shutdown notice; requests read from now on get code 7.
    pub(super) fn begin_shutdown(&self) {
        if self.shutting_down.replace(true) {
            return;
        }
        self.outbox.push(|out| encode_error(out, 0, code::SHUTTING_DOWN, "the server is shutting down"));
        // The in-flight limit no longer stops the reader.
        self.wake_reader();
    }

    /// Cancels every running handler. When the grace period ended, each
    /// caller is told so (code 3: the call may have been partly done); when
    /// the connection is broken, nothing can be sent.
    pub(super) fn cancel_all(&self, why: Force) {
        let mut handles: Vec<(u64, JoinHandle<()>)> = self.running.borrow_mut().drain().collect();
        // In id order, not the hasher's: a simulated run replays exactly.
        handles.sort_unstable_by_key(|&(id, _)| id);
        for (id, handle) in handles {
            handle.abort();
            if let Force::GraceOver = why {
                self.outbox.push(|out| {
                    encode_error(
                        out,
                        id,
                        code::CANCELLED,
                        "the server's shutdown grace period ended; the call was cancelled",
                    )
                });
            }
        }
    }

    /// Resolves once no handler runs (or the connection is forced closed).
    pub(super) async fn until_idle(&self) {
        poll_fn(|cx| {
            if self.running.borrow().is_empty() {
                return Poll::Ready(());
            }
            if let Some(force) = self.forced.get() {
                self.cancel_all(force);
                return Poll::Ready(());
            }
            self.set_reader(cx.waker());
            Poll::Pending
        })
        .await;
    }

    pub(super) fn force_close(&self, why: Force) {
        if self.forced.get().is_none() {
            self.forced.set(Some(why));
        }
        self.wake_reader();
    }

    pub(super) fn set_reader(&self, waker: &Waker) {
        // `clone_from` replaces the stored waker only if it would wake another task.
        self.reader.borrow_mut().get_or_insert_with(|| waker.clone()).clone_from(waker);
    }

    pub(super) fn wake_reader(&self) {
        let waker = self.reader.borrow_mut().take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// Appends an error frame (its encoding cannot fail: no method, a short
/// message; a message too long for a frame is an application bug, and the
/// frame is then dropped rather than sent malformed).
pub(super) fn encode_error(out: &mut Vec<u8>, id: u64, code: u16, message: &str) {
    let _ = Frame::Error { id, code, message: message.into() }.encode(out);
}
