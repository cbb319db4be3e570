//! `Server`: routes, one task per request, per-connection limits, shutdown.
//!
//! [`Server::serve_with_shutdown`] accepts connections until the shutdown
//! future completes. Each connection gets a reader task (this file's
//! `read_requests`) and a writer task ([`Outbox`]). The reader decodes
//! frames and, for each request, spawns the route's handler as its own task,
//! remembering its `JoinHandle` by request id:
//!
//! - the handler's answer is encoded into the outbox when it returns;
//! - a cancel frame, or the request's deadline passing, drops the handler
//!   (`JoinHandle::abort`, or the `timeout` around it);
//! - a handler panic is caught and answered with an `internal` error;
//! - at `max_in_flight` handlers, or with 1 MiB of answers the client has
//!   not read yet, the reader stops reading that connection, so TCP flow
//!   control pushes back on the client and memory stays bounded;
//! - a malformed or oversize frame is answered with an error frame (to the
//!   frame's id if it can be read, else id 0), logged, and the connection
//!   closed; other connections are untouched.

use std::cell::{Cell, RefCell};
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use corio_runtime::time::{timeout, timeout_at, Instant};
use corio_runtime::{spawn, JoinHandle};
use pin_project_lite::pin_project;

use super::outbox::Outbox;
use super::RpcError;
use crate::frame::{self, code, Decoder, FrameError, FrameRef, ReadBuffer, DEFAULT_MAX_FRAME_SIZE};
use crate::io::AsyncReadExt;
use crate::net::{TcpListener, TcpStream};

/// Default limit of requests running at once per connection.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 1024;

/// Default time in-flight calls get to finish after shutdown begins.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Answers that may wait in a connection's outbox before its reader stops
/// reading: a client that sends but never reads cannot grow server memory.
const MAX_UNSENT: usize = 1024 * 1024;

/// Frames handled per reader poll before it yields to other tasks.
const FRAMES_PER_POLL: usize = 256;

/// How long a connection closed for bad input keeps draining what the peer
/// still sends, so our error frame is not lost to a TCP reset.
const LINGER: Duration = Duration::from_secs(1);

/// A route, type-erased: starts the handler's task for one request. The
/// handler's future is spawned as it is (the task is its only allocation);
/// the erasure is in this `dyn Fn`, not in a boxed future.
type Route = Rc<dyn Fn(Request, Answer) -> JoinHandle<()>>;

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
    /// handler at that instant.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The request id on its connection.
    pub fn id(&self) -> u64 {
        self.id
    }
}

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
    /// A server with no routes and default limits (1024 requests in flight
    /// per connection, 16 MiB frames, 30 s shutdown grace, log to stderr).
    pub fn new() -> Server {
        Server {
            routes: Default::default(),
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            log: Rc::new(|line| eprintln!("corio-rpc: {line}")),
        }
    }

    /// Routes `method` to `handler`, which runs as its own task per request.
    pub fn route<F, Fut>(mut self, method: &str, handler: F) -> Server
    where
        F: Fn(Request) -> Fut + 'static,
        Fut: Future<Output = Result<Vec<u8>, RpcError>> + 'static,
    {
        let route: Route = Rc::new(move |request, answer| spawn(answer.run(handler(request))));
        self.routes.insert(Rc::from(method), route);
        self
    }

    /// Requests run at once per connection before the server stops reading
    /// it (default 1024, minimum 1).
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

    /// Serves connections from `listener` forever.
    ///
    /// # Errors
    ///
    /// An error of the listener itself (transient accept errors are retried).
    pub async fn serve(self, listener: TcpListener) -> io::Result<()> {
        self.serve_with_shutdown(listener, std::future::pending()).await
    }

    /// Serves until `shutdown` completes, then shuts down gracefully: stops
    /// accepting, answers requests that still arrive with a `shutting down`
    /// error, lets in-flight calls finish for up to the grace period (then
    /// cancels them), flushes every answer and closes each connection.
    ///
    /// # Errors
    ///
    /// As [`serve`](Server::serve).
    pub async fn serve_with_shutdown(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> io::Result<()> {
        let grace = self.shutdown_grace;
        let state = Rc::new(ServerState {
            config: self,
            connections: RefCell::new(HashMap::new()),
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
        drop(listener);
        state.shutting_down.set(true);
        for connection in state.connection_list() {
            connection.wake_reader();
        }
        if timeout(grace, state.all_closed()).await.is_err() {
            state.log(&format!("shutdown grace of {grace:?} passed: cancelling the calls still running"));
            for connection in state.connection_list() {
                connection.force_close();
            }
            state.all_closed().await;
        }
        Ok(())
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
    connections: RefCell<HashMap<u64, Rc<Connection>>>,
    next_connection: Cell<u64>,
    shutting_down: Cell<bool>,
    /// The `serve` task, waiting for the last connection to close.
    idle: RefCell<Option<Waker>>,
}

impl ServerState {
    fn log(&self, line: &str) {
        (self.config.log)(line);
    }

    fn connection_list(&self) -> Vec<Rc<Connection>> {
        self.connections.borrow().values().cloned().collect()
    }

    fn start_connection(self: &Rc<Self>, stream: TcpStream, peer: SocketAddr) {
        let id = self.next_connection.get();
        self.next_connection.set(id + 1);
        let _ = stream.set_nodelay(true);
        let connection = Rc::new(Connection {
            id,
            peer,
            outbox: Rc::new(Outbox::default()),
            in_flight: RefCell::new(Default::default()),
            log: self.config.log.clone(),
            reader: RefCell::new(None),
            forced: Cell::new(false),
            read_at: Cell::new(None),
            max_in_flight: self.config.max_in_flight,
        });
        self.connections.borrow_mut().insert(id, connection.clone());
        spawn(run_connection(self.clone(), connection, Rc::new(stream)));
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
struct Connection {
    id: u64,
    peer: SocketAddr,
    outbox: Rc<Outbox>,
    /// Handler tasks by request id: to abort on cancel, and to count.
    in_flight: RefCell<foldhash::HashMap<u64, JoinHandle<()>>>,
    /// The server's log, for handler panics.
    log: Rc<dyn Fn(&str)>,
    /// The reader task, when parked on the in-flight limit or waiting for
    /// in-flight calls to finish.
    reader: RefCell<Option<Waker>>,
    /// Set when the connection must close now (write failure, grace over).
    forced: Cell<bool>,
    /// After a read: the outbox's push count then, until the frames read
    /// have been dispatched (see `acknowledge_if_silent`).
    read_at: Cell<Option<u64>>,
    max_in_flight: usize,
}

/// Why a connection's reader stopped.
enum End {
    /// The client closed its side.
    Eof,
    /// Shutdown, and no call in flight any more.
    Drained,
    /// Closed by the server (grace period over, or a write failed).
    Forced,
    /// Reading failed.
    Io(io::Error),
    /// The client sent bytes that are not a valid frame.
    Bad(FrameError),
}

async fn run_connection(server: Rc<ServerState>, connection: Rc<Connection>, stream: Rc<TcpStream>) {
    let writer_connection = connection.clone();
    let writer = connection.outbox.clone().run(stream.clone());
    let writer = spawn(async move {
        if let Err(error) = writer.await {
            writer_connection.force_close();
            return Err(error);
        }
        Ok(())
    });

    let mut buffer = ReadBuffer::with_capacity(64 * 1024);
    let decoder = Decoder::with_max_frame_size(server.config.max_frame_size);
    let end = poll_fn(|cx| connection.poll_requests(&server, &stream, &mut buffer, &decoder, cx)).await;
    let peer = connection.peer;
    match &end {
        End::Eof => {
            // The client sent its last request: answer what is running.
            connection.until_idle().await;
        }
        End::Drained => {}
        End::Forced => connection.abort_all(Some("connection closed by the server")),
        End::Io(error) => {
            server.log(&format!("connection from {peer}: read failed: {error}"));
            connection.abort_all(None);
        }
        End::Bad(error) => {
            server.log(&format!("connection from {peer} closed: {error}"));
            connection.abort_all(None);
            let (id, code) = match error {
                FrameError::TooLarge { .. } => (frame::peek_id(&buffer).unwrap_or(0), code::FRAME_TOO_LARGE),
                FrameError::UnexpectedEof { .. } => (0, code::PROTOCOL),
                _ => (frame::peek_id(&buffer).unwrap_or(0), code::PROTOCOL),
            };
            let message = error.to_string();
            let _ = connection.outbox.push(|out| FrameRef::Error { id, code, message: &message }.encode(out));
        }
    }
    connection.outbox.close();
    if let Ok(Err(error)) = writer.await {
        server.log(&format!("connection from {peer}: write failed: {error}"));
    }
    if let End::Bad(_) = end {
        // Drain (and drop) what the client still sends for a moment, so
        // closing with unread bytes does not reset the connection before
        // the client has read our error frame.
        let mut scratch = [0u8; 4096];
        let _ = timeout(LINGER, async { while let Ok(1..) = (&*stream).read(&mut scratch).await {} }).await;
    }
    server.closed(connection.id);
}

impl Connection {
    /// The reader: decode frames and dispatch them until the connection ends.
    fn poll_requests(
        self: &Rc<Self>,
        server: &ServerState,
        stream: &TcpStream,
        buffer: &mut ReadBuffer,
        decoder: &Decoder,
        cx: &mut Context<'_>,
    ) -> Poll<End> {
        self.set_reader(cx.waker());
        for _ in 0..FRAMES_PER_POLL {
            if self.forced.get() {
                return Poll::Ready(End::Forced);
            }
            let in_flight = self.in_flight.borrow().len();
            if server.shutting_down.get() && in_flight == 0 {
                return Poll::Ready(End::Drained);
            }
            if in_flight >= self.max_in_flight {
                // Backpressure: read nothing until a handler finishes.
                return Poll::Pending;
            }
            if !self.outbox.poll_room(cx, MAX_UNSENT) {
                // The client is not reading its answers: stop reading its requests.
                return Poll::Pending;
            }
            match decoder.peek(buffer) {
                Ok(Some((frame, size))) => {
                    self.dispatch(server, frame);
                    buffer.consume(size);
                    continue;
                }
                Ok(None) => self.acknowledge_if_silent(stream),
                Err(error) => return Poll::Ready(End::Bad(error)),
            }
            match stream.poll_read_ref(cx, buffer.unfilled()) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(match decoder.decode_eof(buffer) {
                        Ok(()) => End::Eof,
                        Err(error) => End::Bad(error),
                    })
                }
                Poll::Ready(Ok(n)) => {
                    buffer.filled(n);
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
    fn acknowledge_if_silent(&self, stream: &TcpStream) {
        if let Some(pushes) = self.read_at.take() {
            if pushes == self.outbox.pushes() {
                acknowledge_now(stream);
            }
        }
    }

    fn dispatch(self: &Rc<Self>, server: &ServerState, frame: FrameRef<'_>) {
        match frame {
            FrameRef::Request { id, method, deadline, payload } => {
                self.start_request(server, id, method, deadline, payload);
            }
            FrameRef::Cancel { id } => {
                let handle = self.in_flight.borrow_mut().remove(&id);
                if let Some(handle) = handle {
                    handle.abort();
                }
            }
            FrameRef::Ping { id, payload } => {
                let _ = self.outbox.push(|out| FrameRef::Pong { id, payload }.encode(out));
            }
            // Nothing a server must act on.
            FrameRef::Response { .. } | FrameRef::Error { .. } | FrameRef::Pong { .. } => {}
        }
    }

    fn start_request(
        self: &Rc<Self>,
        server: &ServerState,
        id: u64,
        method: &str,
        deadline: Option<Duration>,
        payload: &[u8],
    ) {
        let refuse = |code: u16, message: String| {
            let _ = self.outbox.push(|out| FrameRef::Error { id, code, message: &message }.encode(out));
        };
        if id == 0 {
            return refuse(code::PROTOCOL, "request id 0 is reserved for connection errors".into());
        }
        if server.shutting_down.get() {
            return refuse(code::SHUTTING_DOWN, "the server is shutting down".into());
        }
        let Some((name, route)) = server.config.routes.get_key_value(method) else {
            return refuse(code::UNKNOWN_METHOD, format!("unknown method `{method}`"));
        };
        // One hash lookup finds the slot and checks for a duplicate id. The
        // borrow is held while the route spawns the task: spawning only
        // queues it, so nothing reaches `in_flight` meanwhile.
        let mut in_flight = self.in_flight.borrow_mut();
        let Entry::Vacant(slot) = in_flight.entry(id) else {
            drop(in_flight);
            return refuse(code::PROTOCOL, format!("request id {id} is already in flight"));
        };
        let deadline = deadline.and_then(|remaining| Instant::now().checked_add(remaining));
        let request =
            Request { method: name.clone(), payload: payload.to_vec(), peer: self.peer, deadline, id };
        slot.insert(route(request, Answer { connection: self.clone(), method: name.clone(), id, deadline }));
    }

    /// Sends a handler's answer and frees its place.
    fn finish(&self, id: u64, answer: Result<Vec<u8>, RpcError>) {
        let handle = self.in_flight.borrow_mut().remove(&id);
        if handle.is_none() {
            return; // cancelled meanwhile: nobody waits for this answer
        }
        let _ = self.outbox.push(|out| match answer {
            Ok(payload) => FrameRef::Response { id, payload: &payload }.encode(out),
            Err(error) => FrameRef::Error { id, code: error.code(), message: &error.message() }.encode(out),
        });
        let left = self.in_flight.borrow().len();
        if left + 1 >= self.max_in_flight || left == 0 {
            self.wake_reader();
        }
        drop(handle);
    }

    /// Cancels every running handler; with `notice`, each caller gets a
    /// `shutting down` error saying so.
    fn abort_all(&self, notice: Option<&str>) {
        let handles: Vec<(u64, JoinHandle<()>)> = self.in_flight.borrow_mut().drain().collect();
        for (id, handle) in handles {
            if let Some(message) = notice {
                let _ = self
                    .outbox
                    .push(|out| FrameRef::Error { id, code: code::SHUTTING_DOWN, message }.encode(out));
            }
            handle.abort();
        }
    }

    /// Resolves once no handler runs (or the connection is forced closed).
    async fn until_idle(&self) {
        poll_fn(|cx| {
            if self.in_flight.borrow().is_empty() {
                return Poll::Ready(());
            }
            if self.forced.get() {
                self.abort_all(Some("connection closed by the server"));
                return Poll::Ready(());
            }
            self.set_reader(cx.waker());
            Poll::Pending
        })
        .await;
    }

    fn force_close(&self) {
        self.forced.set(true);
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

/// Sends the ACK for everything received so far now (`TCP_QUICKACK`;
/// Linux only, elsewhere a no-op). Best effort: an error changes nothing.
fn acknowledge_now(stream: &TcpStream) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let _ = socket2::SockRef::from(stream).set_tcp_quickack(true);
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = stream;
}

/// Where a handler's task sends its answer: the body of every request task.
struct Answer {
    connection: Rc<Connection>,
    /// The route's name, for the log line of a panic.
    method: Rc<str>,
    id: u64,
    deadline: Option<Instant>,
}

impl Answer {
    /// Runs the handler's future (within the deadline, catching a panic)
    /// and queues its answer.
    async fn run<F>(self, work: F)
    where
        F: Future<Output = Result<Vec<u8>, RpcError>>,
    {
        let Answer { connection, method, id, deadline } = self;
        let work = CatchUnwind { inner: work };
        let outcome = match deadline {
            Some(deadline) => timeout_at(deadline, work).await.unwrap_or(Ok(Err(RpcError::Timeout))),
            None => work.await,
        };
        let answer = outcome.unwrap_or_else(|panic| {
            (connection.log)(&format!(
                "handler for `{method}` (request {id} from {}) panicked: {panic}",
                connection.peer
            ));
            Err(RpcError::Internal(format!("handler panicked: {panic}")))
        });
        connection.finish(id, answer);
    }
}

pin_project! {
    /// Runs a handler future, turning a panic into `Err(message)`.
    struct CatchUnwind<F> {
        #[pin]
        inner: F,
    }
}

impl<F: Future<Output = Result<Vec<u8>, RpcError>>> Future for CatchUnwind<F> {
    type Output = Result<Result<Vec<u8>, RpcError>, String>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let future = self.project().inner;
        match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(answer)) => Poll::Ready(Ok(answer)),
            Err(payload) => {
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a non-string panic payload".into());
                Poll::Ready(Err(message))
            }
        }
    }
}
