//! What the RPC layer runs over: any stream with corio's I/O traits, and
//! any [`Listener`] of such streams.
//!
//! A connection's reader task and writer task share one stream. A TCP
//! stream can be read and written through `&TcpStream`, but the RPC layer
//! asks only for [`AsyncRead`] + [`AsyncWrite`], which take `Pin<&mut
//! Self>`; so the stream sits in a [`Transport`], a `RefCell` both tasks
//! borrow for the length of one `poll_read` or `poll_write` (never across
//! an `.await`, and on one thread, so the borrows never meet).
//!
//! Two things only TCP has are kept for it, chosen by type at compile
//! time (`TypeId` comparisons fold away after monomorphisation): Nagle's
//! algorithm off on every connection, and `TCP_QUICKACK` after a read that
//! produced nothing to send (`ServerConnection::acknowledge_if_silent` in
//! `server/reader.rs`). Every other stream (Unix, TLS, the simulator's) gets
//! neither and needs neither.

use std::any::Any;
use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::io::{AsyncRead, AsyncWrite};
use crate::net::{TcpListener, TcpStream};

/// A source of connections the RPC [`Server`](super::Server) can serve:
/// [`TcpListener`], the simulator's listener (`corio::sim::net`), or your
/// own (a TLS acceptor, an in-memory pipe).
///
/// # Examples
///
/// A listener of your own only has to say how to accept:
///
/// ```
/// use std::io;
/// use std::net::SocketAddr;
/// use std::task::{Context, Poll};
/// use corio_net::net::{TcpListener, TcpStream};
/// use corio_net::rpc::Listener;
///
/// /// Accepts only from loopback addresses.
/// struct LoopbackOnly(TcpListener);
///
/// impl Listener for LoopbackOnly {
///     type Stream = TcpStream;
///
///     fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
///         loop {
///             match self.0.poll_accept(cx) {
///                 Poll::Ready(Ok((_, peer))) if !peer.ip().is_loopback() => continue,
///                 other => return other,
///             }
///         }
///     }
/// }
/// ```
pub trait Listener {
    /// The connections it accepts.
    type Stream: AsyncRead + AsyncWrite + Unpin + 'static;

    /// Accepts a connection if one is waiting, else stores the waker.
    /// Returns the stream and the peer's address (what
    /// [`Request::peer_addr`](super::Request::peer_addr) reports).
    ///
    /// # Errors
    ///
    /// An error that stops the server (`serve` returns it): a listener
    /// should ride out per-connection errors itself, as `TcpListener`
    /// does.
    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(Self::Stream, SocketAddr)>>;
}

impl Listener for TcpListener {
    type Stream = TcpStream;

    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        TcpListener::poll_accept(self, cx)
    }
}

/// One connection's stream, shared by its reader and writer tasks.
pub(crate) struct Transport<S> {
    stream: RefCell<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin + 'static> Transport<S> {
    /// Takes the stream; on TCP, turns Nagle's algorithm off (every frame
    /// is a whole message, and the writer already batches).
    pub(crate) fn new(stream: S) -> Transport<S> {
        if let Some(tcp) = (&stream as &dyn Any).downcast_ref::<TcpStream>() {
            let _ = tcp.set_nodelay(true);
        }
        Transport { stream: RefCell::new(stream) }
    }

    pub(crate) fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.stream.borrow_mut()).poll_read(cx, buf)
    }

    pub(crate) async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_read(cx, buf)).await
    }

    /// Writes all of `buf`.
    pub(crate) async fn write_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let n = poll_fn(|cx| Pin::new(&mut *self.stream.borrow_mut()).poll_write(cx, buf)).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            buf = &buf[n..];
        }
        Ok(())
    }

    /// Ends the sending side (TCP: `shutdown(Write)`, a FIN).
    pub(crate) async fn shutdown(&self) -> io::Result<()> {
        poll_fn(|cx| Pin::new(&mut *self.stream.borrow_mut()).poll_shutdown(cx)).await
    }

    /// Sends the ACK for everything received so far now (`TCP_QUICKACK`;
    /// Linux TCP only, elsewhere nothing). Best effort.
    ///
    /// Building with `RUSTFLAGS="--cfg corio_rpc_no_quickack"` turns it off,
    /// which brings back issue 11's defect 1 (a cancel from a client with
    /// Nagle's algorithm on waits for the answer it should prevent): the
    /// tests `rpc_protocol` and `rpc_model` then fail, as they should.
    pub(crate) fn acknowledge_now(&self) {
        #[cfg(all(any(target_os = "linux", target_os = "android"), not(corio_rpc_no_quickack)))]
        if let Some(tcp) = (&*self.stream.borrow() as &dyn Any).downcast_ref::<TcpStream>() {
            let _ = socket2::SockRef::from(tcp).set_tcp_quickack(true);
        }
    }
}
