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

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use corio_runtime::{spawn_named, JoinHandle};

use super::outbox::Outbox;
use super::transport::Transport;
use super::RpcError;
use crate::frame::{self, code, Decoder, Frame, FrameError, Kind, ReadBuffer, DEFAULT_MAX_FRAME_SIZE};
use crate::io::{AsyncRead, AsyncWrite};
use crate::net::{TcpStream, ToSocketAddrs};

/// Size of the reader's buffer, hence of its largest single read.
const READ_BUFFER: usize = 64 * 1024;

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

/// What the caller tasks, the reader and the writer share.
struct ClientState {
    outbox: Rc<Outbox>,
    calls: RefCell<Calls>,
    default_timeout: Option<Duration>,
}

struct Calls {
    /// One slot per call in flight, found by request id.
    slots: CallTable,
    /// Set once the connection has failed: why. New calls fail with it.
    closed: Option<RpcError>,
    /// Set when the server's shutdown notice arrives: new calls fail with
    /// [`RpcError::ShuttingDown`] without being sent, calls already sent
    /// are still answered, and once none waits our sending side closes.
    shutting_down: bool,
}

enum CallSlot {
    /// No answer yet; the caller's waker once it has polled.
    Waiting(Option<Waker>),
    /// The answer (or the connection's failure), not yet taken by the caller.
    Done(Result<Vec<u8>, RpcError>),
}

/// The calls of one connection in a slab, found by request id without
/// hashing. An id holds a slot's index plus one in its low 32 bits (so it
/// is never 0) and the slot's use count in its high 32 bits, so a slot
/// used again gets a new id: the late answer to a cancelled call cannot
/// land on the call that reuses its slot. An id comes back only after 2^32
/// more calls through the same slot.
#[derive(Default)]
struct CallTable {
    entries: Vec<CallEntry>,
    /// Indices of vacant entries.
    free: Vec<u32>,
    /// Entries in use.
    len: usize,
}

#[derive(Default)]
struct CallEntry {
    /// How many calls this entry has held (the id's high half).
    uses: u32,
    slot: Option<CallSlot>,
}

impl CallTable {
    /// A new waiting slot; returns its request id.
    fn insert(&mut self) -> u64 {
        let index = self.free.pop().unwrap_or_else(|| {
            self.entries.push(CallEntry::default());
            u32::try_from(self.entries.len() - 1).expect("fewer than 2^32 calls in flight")
        });
        let entry = &mut self.entries[index as usize];
        entry.uses = entry.uses.wrapping_add(1);
        entry.slot = Some(CallSlot::Waiting(None));
        self.len += 1;
        (u64::from(entry.uses) << 32) | (u64::from(index) + 1)
    }

    /// The entry an id names, if the id is current.
    fn entry(&mut self, id: u64) -> Option<&mut CallEntry> {
        let index = (id & 0xffff_ffff).checked_sub(1)? as usize;
        let entry = self.entries.get_mut(index)?;
        (u64::from(entry.uses) == id >> 32).then_some(entry)
    }

    fn get_mut(&mut self, id: u64) -> Option<&mut CallSlot> {
        self.entry(id)?.slot.as_mut()
    }

    fn remove(&mut self, id: u64) -> Option<CallSlot> {
        let slot = self.entry(id)?.slot.take()?;
        self.free.push((id & 0xffff_ffff) as u32 - 1);
        self.len -= 1;
        Some(slot)
    }

    fn iter(&self) -> impl Iterator<Item = &CallSlot> {
        self.entries.iter().filter_map(|entry| entry.slot.as_ref())
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = &mut CallSlot> {
        self.entries.iter_mut().filter_map(|entry| entry.slot.as_mut())
    }
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

/// The reader task: decode answers, fill slots, wake callers.
async fn read_loop<S>(state: Rc<ClientState>, stream: Rc<Transport<S>>, decoder: Decoder)
where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let mut buffer = ReadBuffer::with_capacity(READ_BUFFER);
    let mut wakers = Vec::new();
    let reason = loop {
        let n = match stream.read(buffer.unfilled()).await {
            Ok(0) if !buffer.is_empty() => break FrameError::UnexpectedEof { buffered: buffer.len() }.into(),
            Ok(0) if state.calls.borrow().shutting_down => {
                // After the server's shutdown notice, an orderly end of
                // stream means the server answered every request it read:
                // a call still unanswered was never read, never processed.
                break RpcError::ShuttingDown;
            }
            Ok(0) => break RpcError::ConnectionClosed,
            Ok(n) => n,
            Err(error) => break RpcError::Io(error),
        };
        buffer.advance(n);
        let decoded = loop {
            match decoder.peek(&buffer) {
                Ok(Some((frame, size))) => {
                    if let Err(error) = state.deliver(frame, &mut wakers) {
                        break Err(error);
                    }
                    buffer.consume(size);
                }
                Ok(None) => break Ok(()),
                Err(error) => break Err(error.into()),
            }
        };
        for waker in wakers.drain(..) {
            waker.wake();
        }
        if let Err(error) = decoded {
            break error;
        }
    };
    state.fail(reason);
}

impl ClientState {
    /// Handles one frame from the server; wakers to wake go to `wakers`.
    ///
    /// # Errors
    ///
    /// A connection error (`docs/PROTOCOL.md`): the server reported one
    /// (codes 5 and 6, or any error with id 0 but the shutdown notice), or
    /// it sent a frame only a client may send. The caller fails every call
    /// still waiting with it.
    fn deliver(&self, frame: Frame<'_>, wakers: &mut Vec<Waker>) -> Result<(), RpcError> {
        let (id, answer) = match frame {
            Frame::Response { id, payload } => (id, Ok(payload.into_owned())),
            Frame::Error { id: 0, code: code::SHUTTING_DOWN, .. } => {
                self.begin_shutdown();
                return Ok(());
            }
            Frame::Error { id: 0, code, message } => {
                // About the connection itself: every call fails with it.
                return Err(RpcError::from_frame(code, message.into_owned(), ""));
            }
            Frame::Error { id, code, message } => {
                let error = RpcError::from_frame(code, message.into_owned(), "");
                if code == code::FRAME_TOO_LARGE || code == code::PROTOCOL {
                    // The named call fails with the server's reason; the
                    // connection ends, and every other call with it.
                    self.settle(id, Err(error), wakers);
                    return Err(RpcError::ConnectionClosed);
                }
                (id, Err(error))
            }
            Frame::Ping { id, payload } => {
                let _ = self.outbox.push(|out| Frame::Pong { id, payload }.encode(out));
                return Ok(());
            }
            // We send no pings, but a late or stray pong is harmless.
            Frame::Pong { .. } => return Ok(()),
            Frame::Request { .. } => return Err(FrameError::WrongDirection(Kind::Request).into()),
            Frame::Cancel { .. } => return Err(FrameError::WrongDirection(Kind::Cancel).into()),
        };
        self.settle(id, answer, wakers);
        Ok(())
    }

    /// Stores the answer of call `id`, if a call still waits for it (an
    /// answer for a cancelled call is dropped).
    fn settle(&self, id: u64, answer: Result<Vec<u8>, RpcError>, wakers: &mut Vec<Waker>) {
        let mut calls = self.calls.borrow_mut();
        if let Some(slot) = calls.slots.get_mut(id) {
            if let CallSlot::Waiting(waker) = std::mem::replace(slot, CallSlot::Done(answer)) {
                wakers.extend(waker);
            }
        }
    }

    /// The server's shutdown notice: no new calls; close our side once no
    /// call waits for an answer (the server then closes the connection).
    fn begin_shutdown(&self) {
        let mut calls = self.calls.borrow_mut();
        calls.shutting_down = true;
        self.close_if_drained(&calls);
    }

    /// After the shutdown notice, closes our sending side once no call
    /// waits: nothing is left to send (no request, no cancel).
    fn close_if_drained(&self, calls: &Calls) {
        if calls.shutting_down && !calls.slots.iter().any(|slot| matches!(slot, CallSlot::Waiting(_))) {
            self.outbox.close();
        }
    }

    /// Fails every waiting call with `reason` and refuses new ones.
    fn fail(&self, reason: RpcError) {
        let mut calls = self.calls.borrow_mut();
        let mut wakers = Vec::new();
        for slot in calls.slots.iter_mut() {
            if let CallSlot::Waiting(waker) = slot {
                wakers.extend(waker.take());
                *slot = CallSlot::Done(Err(reason.duplicate()));
            }
        }
        calls.closed.get_or_insert(reason);
        drop(calls);
        self.outbox.close();
        for waker in wakers {
            waker.wake();
        }
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

/// The answer of one call: resolves when the reader fills its slot.
/// Dropping it early frees the id and tells the server to cancel.
struct Call<'a> {
    state: Rc<ClientState>,
    id: u64,
    /// For [`RpcError::UnknownMethod`].
    method: &'a str,
    finished: bool,
}

impl Future for Call<'_> {
    type Output = Result<Vec<u8>, RpcError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut calls = self.state.calls.borrow_mut();
        if let Some(CallSlot::Waiting(waker)) = calls.slots.get_mut(self.id) {
            if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *waker = Some(cx.waker().clone());
            }
            return Poll::Pending;
        }
        let answer = match calls.slots.remove(self.id) {
            Some(CallSlot::Done(answer)) => answer,
            // Not waiting and not done: the slot is gone, so is the connection.
            _ => Err(RpcError::ConnectionClosed),
        };
        self.state.close_if_drained(&calls);
        drop(calls);
        self.finished = true;
        Poll::Ready(match answer {
            Err(RpcError::UnknownMethod(_)) => Err(RpcError::UnknownMethod(self.method.to_owned())),
            other => other,
        })
    }
}

impl Drop for Call<'_> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let mut calls = self.state.calls.borrow_mut();
        let slot = calls.slots.remove(self.id);
        let open = calls.closed.is_none();
        if let (Some(CallSlot::Waiting(_)), true) = (slot, open) {
            let id = self.id;
            let _ = self.state.outbox.push(|out| Frame::Cancel { id }.encode(out));
        }
        // The cancel, if any, is queued first: closing flushes it.
        self.state.close_if_drained(&calls);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_ids_are_never_zero_and_a_reused_slot_gets_a_new_id() {
        let mut table = CallTable::default();
        let (a, b) = (table.insert(), table.insert());
        assert!(a != 0 && b != 0 && a != b);
        assert!(table.get_mut(a).is_some());
        assert!(table.remove(a).is_some());
        assert!(table.remove(a).is_none(), "removed once");
        assert!(table.get_mut(a).is_none());
        let c = table.insert(); // reuses a's slot...
        assert_ne!(c, a, "...under a new id");
        assert_eq!(c & 0xffff_ffff, a & 0xffff_ffff);
        assert!(table.get_mut(a).is_none(), "a stale id finds nothing");
        assert!(table.get_mut(0).is_none() && table.get_mut(u64::MAX).is_none());
        assert_eq!(table.len, 2);
    }
}
