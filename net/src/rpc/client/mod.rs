//! `Client`: many calls in flight over one connection, matched by id.
//!
//! A `Client` is an `Rc` around the connection's shared state, so clones
//! are cheap and every task on the thread can call through the same socket.
//! Behind it run two tasks:
//!
//! - the **writer** ([`Outbox`]): `call` encodes its request into the shared
//!   outgoing buffer and wakes it; requests from every task queued in the
//!   same tick leave in one write;
//! - the **reader**: reads up to 64 KiB at a time, decodes every complete
//!   frame, stores each answer in the slot of its id and collects the
//!   waiting callers' wakers, then wakes them all once no borrow is held.
//!
//! A call that is dropped before its answer arrives (a timeout, a `select`
//! that picked another branch, an aborted task) frees its slot and sends a
//! cancel frame. If the connection fails, every waiting call gets the error
//! at once: none hangs.
//!
//! The client follows `docs/PROTOCOL.md` when the server shuts down: after
//! the shutdown notice (an error frame with id 0 and code 7) new calls fail
//! with [`RpcError::ShuttingDown`] without being sent, calls already sent
//! wait for their answers, and once none waits the client closes its
//! sending side, which lets the server close the connection at once. If the
//! connection then ends in order, any call still unanswered was never
//! processed and fails with `ShuttingDown` too (safe to retry); a
//! connection that ends without the notice fails its calls with
//! [`RpcError::ConnectionClosed`] (they may or may not have run).
//!
//! # Layout
//!
//! - `mod.rs`: [`Client`], [`ClientBuilder`], and `ClientConnection`, which
//!   the clones share and whose drop stops the tasks;
//! - `state.rs`: `ClientState`, what the callers, the reader and the writer
//!   share; each frame from the server settles a call (`deliver`), starts
//!   the shutdown, or fails every call (`fail`);
//! - `call_table.rs`: `CallTable`, the calls in flight by request id;
//! - `call.rs`: `Call`, the future of one answer, which cancels on drop;
//! - `reader.rs`: the reader task (`read_loop`).

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use corio_runtime::{spawn_named, JoinHandle};

use super::outbox::Outbox;
use super::transport::Transport;
use super::RpcError;
use crate::frame::{self, Decoder, DEFAULT_MAX_FRAME_SIZE};
use crate::io::{AsyncRead, AsyncWrite};
use crate::net::{TcpStream, ToSocketAddrs};

mod call;
mod call_table;
mod reader;
mod state;

use call::Call;
use call_table::CallTable;
use reader::read_loop;
use state::{Calls, ClientState};

/// A connection to an RPC server, shared by every task that calls through it.
///
/// # Examples
///
/// ```no_run
/// use corio_net::rpc::Client;
///
/// corio_runtime::block_on(async {
///     let client = Client::connect("127.0.0.1:7878").await.unwrap();
///     let answer = client.call("echo", b"hello").await.unwrap();
///     assert_eq!(answer, b"hello");
/// });
/// ```
#[derive(Clone)]
pub struct Client {
    connection: Rc<ClientConnection>,
}

/// Options for [`Client`]; from [`Client::builder`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    default_timeout: Option<Duration>,
    max_frame_size: usize,
}

/// Owned by the `Client` clones; dropping the last one stops the tasks.
struct ClientConnection {
    state: Rc<ClientState>,
    reader: JoinHandle<()>,
    peer: SocketAddr,
}

impl Client {
    /// Connects with default options (no default timeout, 16 MiB frames).
    /// `addr` is anything [`ToSocketAddrs`] accepts, as for
    /// [`TcpStream::connect`].
    ///
    /// # Errors
    ///
    /// The error of the lookup or of `connect(2)`.
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<Client> {
        Client::builder().connect(addr).await
    }

    /// Starts configuring a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder { default_timeout: None, max_frame_size: DEFAULT_MAX_FRAME_SIZE }
    }

    /// Calls `method` with `payload` and waits for the answer, for at most
    /// the default timeout if one was set.
    ///
    /// # Errors
    ///
    /// Any [`RpcError`]: the server's error, a timeout, or the connection's
    /// failure.
    pub async fn call(&self, method: &str, payload: &[u8]) -> Result<Vec<u8>, RpcError> {
        match self.connection.state.default_timeout {
            Some(limit) => self.call_with_deadline(method, payload, limit).await,
            None => self.start(method, payload, None)?.await,
        }
    }

    /// Calls `method`, giving up after `deadline`. The deadline travels in
    /// the request, so the server abandons the work when it passes too.
    ///
    /// # Errors
    ///
    /// [`RpcError::Timeout`] when the deadline passes; otherwise as [`call`](Client::call).
    pub async fn call_with_deadline(
        &self,
        method: &str,
        payload: &[u8],
        deadline: Duration,
    ) -> Result<Vec<u8>, RpcError> {
        let call = self.start(method, payload, Some(deadline))?;
        corio_runtime::time::timeout(deadline, call).await.unwrap_or(Err(RpcError::Timeout))
    }

    /// Number of calls waiting for an answer.
    pub fn in_flight(&self) -> usize {
        self.connection.state.calls.borrow().slots.len
    }

    /// The server's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.connection.peer
    }

    /// Queues the request and returns the future of its answer.
    #[inline]
    fn start<'a>(
        &self,
        method: &'a str,
        payload: &[u8],
        deadline: Option<Duration>,
    ) -> Result<Call<'a>, RpcError> {
        let state = &self.connection.state;
        let mut calls = state.calls.borrow_mut();
        if let Some(reason) = &calls.closed {
            return Err(reason.duplicate());
        }
        if calls.shutting_down {
            return Err(RpcError::ShuttingDown);
        }
        let id = calls.slots.insert();
        if let Err(error) = state.outbox.push(|out| frame::encode_request(out, id, method, deadline, payload))
        {
            calls.slots.remove(id);
            return Err(error.into());
        }
        Ok(Call { state: state.clone(), id, method, finished: false })
    }
}

impl ClientBuilder {
    /// Applies `limit` to every [`call`](Client::call) (default: none).
    pub fn default_timeout(mut self, limit: Duration) -> ClientBuilder {
        self.default_timeout = Some(limit);
        self
    }

    /// Largest frame the client accepts from the server (default 16 MiB).
    pub fn max_frame_size(mut self, limit: usize) -> ClientBuilder {
        self.max_frame_size = limit;
        self
    }

    /// Connects and starts the reader and writer tasks.
    ///
    /// # Errors
    ///
    /// The error of the lookup or of `connect(2)`.
    ///
    /// # Panics
    ///
    /// Outside a corio runtime.
    pub async fn connect(self, addr: impl ToSocketAddrs) -> io::Result<Client> {
        let stream = TcpStream::connect(addr).await?;
        let peer = stream.peer_addr()?;
        Ok(self.with_stream(stream, peer))
    }

    /// Starts a client over a stream that is already connected: any
    /// [`AsyncRead`] + [`AsyncWrite`] stream (a Unix stream, a TLS stream,
    /// the simulator's `corio::sim::net::TcpStream`). `peer` is what
    /// [`Client::peer_addr`] reports.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use corio_net::net::TcpStream;
    /// use corio_net::rpc::Client;
    ///
    /// corio_runtime::block_on(async {
    ///     let stream = TcpStream::connect("127.0.0.1:7878").await.unwrap();
    ///     let peer = stream.peer_addr().unwrap();
    ///     let client = Client::builder().with_stream(stream, peer);
    ///     let answer = client.call("echo", b"hi").await.unwrap();
    ///     assert_eq!(answer, b"hi");
    /// });
    /// ```
    ///
    /// # Panics
    ///
    /// Outside a corio runtime (it spawns the reader and writer tasks).
    pub fn with_stream<S>(self, stream: S, peer: SocketAddr) -> Client
    where
        S: AsyncRead + AsyncWrite + Unpin + 'static,
    {
        let stream = Rc::new(Transport::new(stream));
        let state = Rc::new(ClientState {
            outbox: Rc::new(Outbox::default()),
            calls: RefCell::new(Calls { slots: CallTable::default(), closed: None, shutting_down: false }),
            default_timeout: self.default_timeout,
        });
        let writer = state.outbox.clone().run(stream.clone());
        let writer_state = state.clone();
        // The writer ends on `close`: when the connection fails or the last
        // `Client` clone drops.
        spawn_named("rpc client writer", async move {
            if let Err(error) = writer.await {
                writer_state.fail(RpcError::Io(error));
            }
        });
        let decoder = Decoder::with_max_frame_size(self.max_frame_size);
        let reader = spawn_named("rpc client reader", read_loop(state.clone(), stream, decoder));
        Client { connection: Rc::new(ClientConnection { state, reader, peer }) }
    }
}

impl Drop for ClientConnection {
    fn drop(&mut self) {
        // No clone of the client is left, so no call is waiting: send what
        // is queued (cancels), close our write side, stop reading.
        self.state.calls.borrow_mut().closed.get_or_insert(RpcError::ConnectionClosed);
        self.state.outbox.close();
        self.reader.abort();
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("peer", &self.connection.peer)
            .field("in_flight", &self.in_flight())
            .finish_non_exhaustive()
    }
}
