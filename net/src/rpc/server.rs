//! `Server`: routes, handlers started inline, per-connection limits, shutdown.
//!
//! [`Server::serve_with_shutdown`] accepts connections until the shutdown
//! future completes. Each connection gets a reader task (`run_connection`,
//! which loops in `ServerConnection::poll_frames`) and a writer task
//! ([`Outbox`]). The reader decodes frames in the order they arrive and
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

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use corio_runtime::time::{sleep_until, timeout, Instant, Sleep};
use corio_runtime::{spawn_named, JoinHandle};
use pin_project_lite::pin_project;

use super::outbox::Outbox;
use super::transport::{Listener, Transport};
use super::RpcError;
use crate::frame::{self, code, Decoder, Frame, FrameError, Kind, ReadBuffer, DEFAULT_MAX_FRAME_SIZE};
use crate::io::{AsyncRead, AsyncWrite};

/// Default limit of requests running at once per connection.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 1024;

/// Default time in-flight calls get to finish after shutdown begins.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Answers that may wait in a connection's outbox before its reader stops
/// reading: a client that sends but never reads cannot grow server memory.
const MAX_UNSENT: usize = 1024 * 1024;

/// Frames handled per reader poll before it yields to other tasks.
const FRAMES_PER_POLL: usize = 256;

/// How long a connection the server closes keeps draining what the peer
/// still sends, so the last frames are not lost to a TCP reset.
const LINGER: Duration = Duration::from_secs(1);

/// What a handler produced: its answer, or the message of its panic.
type Outcome = Result<Result<Vec<u8>, RpcError>, String>;

/// A route, type-erased: starts the handler for one request (`Started`).
/// The handler's concrete future type lives inside this closure, so the
/// only erasure per request is the box around that future.
type Route = Rc<dyn Fn(Request, &Rc<ServerConnection>, &mut Context<'_>) -> Started>;

/// How a handler's first poll went.
enum Started {
    /// It answered at once.
    Answered(Outcome),
    /// It waits; its future now runs as this task, which calls
    /// `ServerConnection::finish` when the handler is done.
    Running(JoinHandle<()>),
}

/// One call, as a handler sees it.
#[derive(Debug)]
pub struct Request {
    method: Rc<str>,
    payload: Vec<u8>,
    peer: SocketAddr,
    deadline: Option<Instant>,
    id: u64,
}

impl Request {
    /// The method name (the route).
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The argument bytes.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The argument bytes, owned.
    pub fn into_payload(self) -> Vec<u8> {
        self.payload
    }

    /// The caller's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// When the caller stops waiting, if it said; the server drops the
    /// handler at that instant and answers `deadline exceeded`.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The request id on its connection.
    pub fn id(&self) -> u64 {
        self.id
    }
}

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
    routes: foldhash::HashMap<Rc<str>, Route>,
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
        let name: Rc<str> = Rc::from(method);
        let method = name.clone();
        // The box a handler's future runs in, kept for the next request when
        // the handler answered at once: no allocation per such request.
        let spare: RefCell<Option<HandlerBox<Fut>>> = RefCell::new(None);
        let route: Route = Rc::new(move |request, connection, cx| {
            let (id, deadline) = (request.id, request.deadline);
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
        });
        self.routes.insert(name, route);
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
                Some(Ok((stream, peer))) => state.start_connection(stream, peer),
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
            state.start_connection(stream, peer);
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

/// What every connection of one `serve` call shares.
struct ServerState {
    config: Server,
    /// Open connections, so shutdown can reach them.
    /// A `BTreeMap`, so shutdown visits them in a fixed order (a simulated
    /// run must not depend on a hasher's seed).
    connections: RefCell<BTreeMap<u64, Rc<ServerConnection>>>,
    next_connection: Cell<u64>,
    /// Set once shutdown has begun: connections accepted after that start
    /// with the shutdown notice.
    shutting_down: Cell<bool>,
    /// The `serve` task, waiting for the last connection to close.
    idle: RefCell<Option<Waker>>,
}

impl ServerState {
    fn log(&self, line: &str) {
        (self.config.log)(line);
    }

    fn connection_list(&self) -> Vec<Rc<ServerConnection>> {
        self.connections.borrow().values().cloned().collect()
    }

    fn start_connection<S>(self: &Rc<Self>, stream: S, peer: SocketAddr)
    where
        S: AsyncRead + AsyncWrite + Unpin + 'static,
    {
        let id = self.next_connection.get();
        self.next_connection.set(id + 1);
        let connection = Rc::new(ServerConnection {
            id,
            peer,
            outbox: Rc::new(Outbox::default()),
            running: RefCell::new(Default::default()),
            log: self.config.log.clone(),
            reader: RefCell::new(None),
            shutting_down: Cell::new(false),
            forced: Cell::new(None),
            read_at: Cell::new(None),
            max_in_flight: self.config.max_in_flight,
        });
        if self.shutting_down.get() {
            connection.begin_shutdown();
        }
        self.connections.borrow_mut().insert(id, connection.clone());
        spawn_named(
            "rpc server connection",
            run_connection(self.clone(), connection, Rc::new(Transport::new(stream))),
        );
    }

    /// Resolves once no connection is open.
    async fn all_closed(&self) {
        poll_fn(|cx| {
            if self.connections.borrow().is_empty() {
                return Poll::Ready(());
            }
            *self.idle.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
        .await;
    }

    fn closed(&self, connection: u64) {
        let mut connections = self.connections.borrow_mut();
        connections.remove(&connection);
        let idle = if connections.is_empty() { self.idle.borrow_mut().take() } else { None };
        drop(connections);
        if let Some(waker) = idle {
            waker.wake();
        }
    }
}

/// One client connection.
struct ServerConnection {
    id: u64,
    peer: SocketAddr,
    outbox: Rc<Outbox>,
    /// Handlers that waited at their first poll, each now a task, by request
    /// id: to abort on cancel, to count against `max_in_flight`, and to
    /// recognise a request id that is still running.
    running: RefCell<foldhash::HashMap<u64, JoinHandle<()>>>,
    /// The server's log, for handler panics.
    log: Rc<dyn Fn(&str)>,
    /// The reader task, when parked on the in-flight limit or waiting for
    /// running handlers to finish.
    reader: RefCell<Option<Waker>>,
    /// Set once the shutdown notice is queued: requests read from now on
    /// are refused with code 7, and the in-flight limit no longer stops
    /// reading (refused requests start nothing).
    shutting_down: Cell<bool>,
    /// Set when the connection must close now.
    forced: Cell<Option<Force>>,
    /// After a read: the outbox's push count then, until the frames read
    /// have been handled (see `acknowledge_if_silent`).
    read_at: Cell<Option<u64>>,
    max_in_flight: usize,
}

/// Why the server closes a connection without waiting for its client.
#[derive(Debug, Clone, Copy)]
enum Force {
    /// The shutdown grace period ended.
    GraceOver,
    /// Reading or writing failed, or the client broke a rule: no answer
    /// is owed (or can be sent) for what still runs.
    Broken,
}

/// Why a connection's reader stopped.
enum End {
    /// The client closed its side.
    Eof,
    /// The server closes the connection.
    Forced(Force),
    /// Reading failed.
    Io(io::Error),
    /// The client broke a rule that ends the connection (`docs/PROTOCOL.md`,
    /// "Connection errors"): the error frame to send, then close.
    Violation(Violation),
}

/// A connection error: the error frame the server sends before closing.
struct Violation {
    id: u64,
    code: u16,
    message: String,
}

impl Violation {
    fn protocol(message: String) -> Violation {
        Violation { id: 0, code: code::PROTOCOL, message }
    }

    /// For bytes the decoder rejected. The error goes to the offending
    /// frame's id when its header could be read (so a caller learns that
    /// *its* request was too large), else to id 0.
    fn from_frame_error(error: &FrameError, buffer: &ReadBuffer) -> Violation {
        let (id, code) = match error {
            FrameError::TooLarge { .. } => (frame::peek_id(buffer).unwrap_or(0), code::FRAME_TOO_LARGE),
            FrameError::UnexpectedEof { .. } => (0, code::PROTOCOL),
            _ => (frame::peek_id(buffer).unwrap_or(0), code::PROTOCOL),
        };
        Violation { id, code, message: error.to_string() }
    }
}

async fn run_connection<S>(
    server: Rc<ServerState>,
    connection: Rc<ServerConnection>,
    stream: Rc<Transport<S>>,
) where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let writer_connection = connection.clone();
    let writer = connection.outbox.clone().run(stream.clone());
    let writer = spawn_named("rpc server writer", async move {
        if let Err(error) = writer.await {
            writer_connection.force_close(Force::Broken);
            return Err(error);
        }
        Ok(())
    });

    let mut buffer = ReadBuffer::with_capacity(64 * 1024);
    let decoder = Decoder::with_max_frame_size(server.config.max_frame_size);
    let end = poll_fn(|cx| connection.poll_frames(&server, &stream, &mut buffer, &decoder, cx)).await;
    let peer = connection.peer;
    let mut linger = true;
    match end {
        End::Eof => {
            // The client sent its last frame: answer what is running.
            connection.until_idle().await;
            linger = false;
        }
        End::Forced(force) => connection.cancel_all(force),
        End::Io(error) => {
            server.log(&format!("connection from {peer}: read failed: {error}"));
            connection.cancel_all(Force::Broken);
            linger = false;
        }
        End::Violation(violation) => {
            server.log(&format!("connection from {peer} closed: {}", violation.message));
            connection.cancel_all(Force::Broken);
            let Violation { id, code, message } = violation;
            connection.outbox.push(|out| encode_error(out, id, code, &message));
        }
    }
    connection.outbox.close();
    if let Ok(Err(error)) = writer.await {
        server.log(&format!("connection from {peer}: write failed: {error}"));
    }
    if linger {
        // Drain (and drop) what the client still sends for a moment, so
        // closing with unread bytes does not reset the connection before
        // the client has read our last frames.
        let mut scratch = [0u8; 4096];
        let _ = timeout(LINGER, async { while let Ok(1..) = stream.read(&mut scratch).await {} }).await;
    }
    server.closed(connection.id);
}

impl ServerConnection {
    /// The reader: decode frames and handle them until the connection ends.
    fn poll_frames<S>(
        self: &Rc<Self>,
        server: &ServerState,
        stream: &Transport<S>,
        buffer: &mut ReadBuffer,
        decoder: &Decoder,
        cx: &mut Context<'_>,
    ) -> Poll<End>
    where
        S: AsyncRead + AsyncWrite + Unpin + 'static,
    {
        self.set_reader(cx.waker());
        for _ in 0..FRAMES_PER_POLL {
            if let Some(force) = self.forced.get() {
                return Poll::Ready(End::Forced(force));
            }
            if !self.shutting_down.get() && self.running.borrow().len() >= self.max_in_flight {
                // Backpressure: read nothing until a handler finishes.
                return Poll::Pending;
            }
            if !self.outbox.poll_room(cx, MAX_UNSENT) {
                // The client is not reading its answers: stop reading its requests.
                return Poll::Pending;
            }
            match decoder.peek(buffer) {
                Ok(Some((frame, size))) => {
                    if let Err(violation) = self.handle(server, frame, cx) {
                        return Poll::Ready(End::Violation(violation));
                    }
                    buffer.consume(size);
                    continue;
                }
                Ok(None) => self.acknowledge_if_silent(stream),
                Err(error) => {
                    return Poll::Ready(End::Violation(Violation::from_frame_error(&error, buffer)))
                }
            }
            match stream.poll_read(cx, buffer.unfilled()) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(match decoder.decode_eof(buffer) {
                        Ok(()) => End::Eof,
                        Err(error) => End::Violation(Violation::from_frame_error(&error, buffer)),
                    })
                }
                Poll::Ready(Ok(n)) => {
                    buffer.advance(n);
                    if self.read_at.get().is_none() {
                        self.read_at.set(Some(self.outbox.pushes()));
                    }
                }
                Poll::Ready(Err(error)) => return Poll::Ready(End::Io(error)),
            }
        }
        // Fair share used: let other tasks run, continue on the next tick.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Acknowledges what was just read at once if it produced nothing to
    /// send (a request whose handler waits, a cancel).
    ///
    /// Once a connection has answered anything, Linux delays the ACK of
    /// what it receives, hoping to send it with the answer. A client that
    /// leaves Nagle's algorithm on holds its next small frame (a cancel, a
    /// ping, the next request) until that ACK arrives: until the handler
    /// answers, or the delayed-ACK timer fires tens of milliseconds later.
    /// `TCP_QUICKACK` sends the ACK now. When the frames did produce an
    /// answer, the answer carries the ACK and no syscall is spent.
    fn acknowledge_if_silent<S>(&self, stream: &Transport<S>)
    where
        S: AsyncRead + AsyncWrite + Unpin + 'static,
    {
        if let Some(pushes) = self.read_at.take() {
            if pushes == self.outbox.pushes() {
                stream.acknowledge_now();
            }
        }
    }

    /// Handles one frame from the client, in arrival order.
    fn handle(
        self: &Rc<Self>,
        server: &ServerState,
        frame: Frame<'_>,
        cx: &mut Context<'_>,
    ) -> Result<(), Violation> {
        match frame {
            Frame::Request { id, method, deadline, payload } => {
                self.start_request(server, id, &method, deadline, &payload, cx)
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
    fn start_request(
        self: &Rc<Self>,
        server: &ServerState,
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
        let Some((name, route)) = server.config.routes.get_key_value(method) else {
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
        match route(request, self, cx) {
            Started::Answered(outcome) => self.answer(id, name, outcome),
            Started::Running(handle) => {
                self.running.borrow_mut().insert(id, handle);
            }
        }
        Ok(())
    }

    /// Encodes a handler's outcome into the outbox.
    fn answer(&self, id: u64, method: &str, outcome: Outcome) {
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
    fn finish(&self, id: u64, method: &str, outcome: Outcome) {
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
    fn begin_shutdown(&self) {
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
    fn cancel_all(&self, why: Force) {
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
    async fn until_idle(&self) {
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

    fn force_close(&self, why: Force) {
        if self.forced.get().is_none() {
            self.forced.set(Some(why));
        }
        self.wake_reader();
    }

    fn set_reader(&self, waker: &Waker) {
        let mut reader = self.reader.borrow_mut();
        if !reader.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *reader = Some(waker.clone());
        }
    }

    fn wake_reader(&self) {
        let waker = self.reader.borrow_mut().take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// Appends an error frame (its encoding cannot fail: no method, a short
/// message; a message too long for a frame is an application bug, and the
/// frame is then dropped rather than sent malformed).
fn encode_error(out: &mut Vec<u8>, id: u64, code: u16, message: &str) {
    let _ = Frame::Error { id, code, message: message.into() }.encode(out);
}

/// A handler's future in a box that outlives it (`Server::route`).
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

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".into())
}
