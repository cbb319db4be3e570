//! `Server`: routes, handlers started inline, per-connection limits, shutdown.
//!
//! [`Server::serve_with_shutdown`] accepts connections until the shutdown
//! future completes. Each connection gets a reader task (`run_connection`,
//! which loops in `ServerConnection::poll_frames`) and a writer task
//! (`Outbox`). The reader decodes frames in the order they arrive and
//! handles each before the next:
//!
//! - a request starts its route's handler **inside the reader's poll**: the
//!   handler's future is put in a box (one the route keeps for reuse) and
//!   polled once, right there. Most handlers (an echo, a lookup in a map)
//!   answer during that first poll; their answer is encoded into the outbox
//!   at once and the request costs neither a task nor an allocation beyond
//!   its payload. A handler that waits (`Pending`) moves, still boxed, into
//!   a task of its own: every remote call that suspends is a suspended
//!   task, remembered by request id (`running`) so a cancel can abort it;
//! - frames that produced nothing to send (a waiting handler, a cancel) are
//!   acknowledged at once (`acknowledge_if_silent`), so a client with
//!   Nagle's algorithm on is not stalled until the handler answers;
//! - the request's deadline is a timer raced against the handler
//!   (`Guarded`); a panic is caught and answered as `internal`;
//! - the rules of `docs/PROTOCOL.md` that end a connection (request id 0,
//!   an id that is still running, a frame the server must never receive,
//!   a malformed or oversize frame) send one error frame, cancel what runs
//!   and close; other connections are untouched;
//! - at `max_in_flight` running handlers, or with 1 MiB of answers the
//!   client has not read yet, the reader stops reading that connection, so
//!   TCP flow control pushes back on the client and memory stays bounded.
//!
//! Shutdown follows `docs/PROTOCOL.md`: a shutdown notice (an error frame
//! with id 0 and code 7) on every connection, then every request that still
//! arrives is refused with code 7 (not processed) while those already
//! running finish; a connection closes once its client has closed its side
//! and nothing runs, or when the grace period ends (running handlers are
//! then cancelled and answered with code 3).
//!
//! # Layout
//!
//! From the top down (each file uses only those below it):
//!
//! - `mod.rs`: [`Server`], its routes and limits, the accept loop
//!   (`start_connection`) and the shutdown sequence (`serve_with_shutdown`);
//! - `reader.rs`: the connection's reader task (`run_connection`,
//!   `poll_frames`), backpressure, the immediate ACK, the closing drain;
//! - `state.rs`: `ServerState`, the open connections of one `serve` call;
//! - `connection.rs`: `ServerConnection`, one connection: each frame in
//!   order (`handle`, `start_request`), the handlers that wait, each a task
//!   by request id (`finish_in_task`, `finish`), answers, its part in
//!   shutdown;
//! - `handler.rs`: a route, which creates a handler and polls it once
//!   (`route`, `Guarded`), handing back its answer or the waiting handler;
//! - `request.rs`: [`Request`], what a handler receives;
//! - `violation.rs`: `Violation`, a connection error and its one frame.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use corio_runtime::spawn_named;
use corio_runtime::time::timeout;

use super::transport::{Listener, Transport};
use super::RpcError;
use crate::frame::DEFAULT_MAX_FRAME_SIZE;
use crate::io::{AsyncRead, AsyncWrite};

mod connection;
mod handler;
mod reader;
mod request;
mod state;
mod violation;

use connection::{Force, ServerConnection};
use handler::Routes;
use reader::run_connection;
pub use request::Request;
use state::ServerState;

/// Default limit of requests running at once per connection.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 1024;

/// Default time in-flight calls get to finish after shutdown begins.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// The built-in method every [`Server`] answers (unless a route replaces
/// it): a task dump of the server's runtime, as UTF-8 text, one line per
/// task with its state and what it waits on (`corio_runtime::Dump`). The
/// request's payload is ignored. See `docs/PROTOCOL.md`, "Built-in methods".
pub const TASKS_METHOD: &str = "corio.tasks";

/// An RPC server: a table of routes and the limits that protect it.
///
/// # Examples
///
/// ```no_run
/// use corio_net::net::TcpListener;
/// use corio_net::rpc::Server;
///
/// corio_runtime::block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:7878").await.unwrap();
///     Server::new()
///         .route("echo", |request| async move { Ok(request.into_payload()) })
///         .serve(listener)
///         .await
///         .unwrap();
/// });
/// ```
pub struct Server {
    routes: Routes,
    max_in_flight: usize,
    max_frame_size: usize,
    shutdown_grace: Duration,
    log: Rc<dyn Fn(&str)>,
}

impl Default for Server {
    fn default() -> Server {
        Server::new()
    }
}

impl Server {
    /// A server with default limits (1024 requests in flight per
    /// connection, 16 MiB frames, 30 s shutdown grace, log to stderr) and
    /// one built-in route, [`TASKS_METHOD`] (`corio.tasks`): it answers
    /// with a task dump of the server's runtime (`corio_runtime::dump`, as
    /// UTF-8 text), so a running server can be asked what every task is
    /// waiting on. Routing the same name replaces it.
    pub fn new() -> Server {
        Server {
            routes: Default::default(),
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            log: Rc::new(|line| eprintln!("corio-rpc: {line}")),
        }
        .route(TASKS_METHOD, |_request| async { Ok(corio_runtime::dump().to_string().into_bytes()) })
    }

    /// Routes `method` to `handler`.
    ///
    /// The handler's future is first polled by the connection's reader, as
    /// soon as the request is read; if it answers then, no task is spawned
    /// for it. If it waits, it continues as a task of its own, so a handler
    /// may await anything (timers, other calls, channels) and many may wait
    /// at once.
    pub fn route<F, Fut>(mut self, method: &str, handler: F) -> Server
    where
        F: Fn(Request) -> Fut + 'static,
        Fut: Future<Output = Result<Vec<u8>, RpcError>> + 'static,
    {
        self.routes.insert(Rc::from(method), handler::route(handler));
        self
    }

    /// Requests running at once per connection before the server stops
    /// reading it (default 1024, minimum 1). Handlers that answer during
    /// their first poll never count.
    pub fn max_in_flight(mut self, limit: usize) -> Server {
        self.max_in_flight = limit.max(1);
        self
    }

    /// Largest frame accepted (default 16 MiB); a larger one closes the
    /// connection after an error frame naming its size and the limit.
    pub fn max_frame_size(mut self, limit: usize) -> Server {
        self.max_frame_size = limit;
        self
    }

    /// How long in-flight calls may run after shutdown begins (default 30 s).
    pub fn shutdown_grace(mut self, grace: Duration) -> Server {
        self.shutdown_grace = grace;
        self
    }

    /// Where the server reports dropped connections, bad input and handler
    /// panics (default: a line on stderr).
    pub fn on_log(mut self, log: impl Fn(&str) + 'static) -> Server {
        self.log = Rc::new(log);
        self
    }

    /// Serves connections from `listener` forever: a `TcpListener`, or any
    /// other [`Listener`] (the simulator's, your own).
    ///
    /// # Errors
    ///
    /// An error of the listener itself (transient accept errors are retried).
    pub async fn serve<L: Listener>(self, listener: L) -> io::Result<()> {
        self.serve_with_shutdown(listener, std::future::pending()).await
    }

    /// Serves until `shutdown` completes, then shuts down gracefully, as
    /// `docs/PROTOCOL.md` specifies:
    ///
    /// 1. accepts the connections already waiting in the listener's backlog,
    ///    then closes the listener;
    /// 2. sends every connection the shutdown notice (an error frame with
    ///    id 0 and code 7) and from then on refuses each request it reads
    ///    with code 7, `shutting down` (the request was not processed);
    /// 3. lets the handlers already running finish and answers them;
    /// 4. closes each connection once its client has closed its sending side
    ///    and nothing runs on it;
    /// 5. when the grace period ends, cancels the handlers still running,
    ///    answers each with code 3, `cancelled`, and closes every connection.
    ///
    /// Returns once every connection is closed.
    ///
    /// # Errors
    ///
    /// As [`serve`](Server::serve).
    pub async fn serve_with_shutdown<L: Listener>(
        self,
        listener: L,
        shutdown: impl Future<Output = ()>,
    ) -> io::Result<()> {
        let grace = self.shutdown_grace;
        let state = Rc::new(ServerState {
            config: self,
            connections: RefCell::new(BTreeMap::new()),
            next_connection: Cell::new(0),
            shutting_down: Cell::new(false),
            idle: RefCell::new(None),
        });
        let mut shutdown = pin!(shutdown);
        loop {
            let accepted = poll_fn(|cx| match shutdown.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(None),
                Poll::Pending => listener.poll_accept(cx).map(Some),
            })
            .await;
            match accepted {
                None => break,
                Some(Ok((stream, peer))) => start_connection(&state, stream, peer),
                Some(Err(error)) => {
                    state.log(&format!("accept failed, server stops: {error}"));
                    return Err(error);
                }
            }
        }
        state.shutting_down.set(true);
        for connection in state.connection_list() {
            connection.begin_shutdown();
        }
        // Clients whose connections the kernel already completed get the
        // notice too, rather than a reset when the listener closes.
        while let Some(Ok((stream, peer))) =
            poll_fn(|cx| Poll::Ready(ready_or_none(listener.poll_accept(cx)))).await
        {
            start_connection(&state, stream, peer);
        }
        drop(listener);
        if timeout(grace, state.all_closed()).await.is_err() {
            state.log(&format!("shutdown grace of {grace:?} passed: cancelling the calls still running"));
            for connection in state.connection_list() {
                connection.force_close(Force::GraceOver);
            }
            state.all_closed().await;
        }
        Ok(())
    }
}

/// Starts serving an accepted connection: its state, registered so that
/// shutdown can reach it, and its reader task.
fn start_connection<S>(state: &Rc<ServerState>, stream: S, peer: SocketAddr)
where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let id = state.next_connection.get();
    state.next_connection.set(id + 1);
    let connection =
        Rc::new(ServerConnection::new(id, peer, state.config.log.clone(), state.config.max_in_flight));
    if state.shutting_down.get() {
        connection.begin_shutdown();
    }
    state.connections.borrow_mut().insert(id, connection.clone());
    spawn_named(
        "rpc server connection",
        run_connection(state.clone(), connection, Rc::new(Transport::new(stream))),
    );
}

fn ready_or_none<T>(poll: Poll<T>) -> Option<T> {
    match poll {
        Poll::Ready(value) => Some(value),
        Poll::Pending => None,
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut routes: Vec<&str> = self.routes.keys().map(|name| &**name).collect();
        routes.sort_unstable();
        f.debug_struct("Server")
            .field("routes", &routes)
            .field("max_in_flight", &self.max_in_flight)
            .field("max_frame_size", &self.max_frame_size)
            .field("shutdown_grace", &self.shutdown_grace)
            .finish_non_exhaustive()
    }
}
