//! `TcpStream`: one end of a simulated connection.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use corio_net::io::{AsyncRead, AsyncWrite};

use super::addr::{resolve, ToSocketAddrs};
use super::split::{into_split, split, OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
use super::{ConnId, Wakes};
use crate::shared::{self, Shared};

/// A simulated TCP connection, shaped like `corio::net::TcpStream`.
///
/// Created by [`TcpStream::connect`] or [`TcpListener::accept`](super::TcpListener::accept)
/// inside a simulated node; reads and writes go through the world's
/// network (latency, faults), never the OS. `&TcpStream` reads and writes
/// too, and [`split`](TcpStream::split) / [`into_split`](TcpStream::into_split)
/// give halves, as for TCP.
///
/// Dropping it closes the connection (the peer reads end of stream).
///
/// # Examples
///
/// ```
/// use corio_net::io::{AsyncReadExt, AsyncWriteExt};
/// use corio_sim::net::{TcpListener, TcpStream};
/// use corio_sim::World;
///
/// let mut world = World::new(1);
/// world.node("server", || async {
///     let listener = TcpListener::bind("0.0.0.0:7000").await.unwrap();
///     loop {
///         let (mut stream, _) = listener.accept().await.unwrap();
///         corio_runtime::spawn(async move {
///             let mut buf = [0u8; 5];
///             stream.read_exact(&mut buf).await.unwrap();
///             stream.write_all(&buf).await.unwrap();
///         });
///     }
/// });
/// let echoed = world.client("client", async {
///     let mut stream = TcpStream::connect("server:7000").await.unwrap();
///     stream.write_all(b"hello").await.unwrap();
///     let mut buf = [0u8; 5];
///     stream.read_exact(&mut buf).await.unwrap();
///     buf
/// });
/// world.run().unwrap();
/// assert_eq!(&echoed.take().unwrap(), b"hello");
/// ```
pub struct TcpStream {
    shared: Rc<Shared>,
    conn: ConnId,
    side: usize,
}

impl TcpStream {
    pub(crate) fn new(shared: Rc<Shared>, conn: ConnId, side: usize) -> TcpStream {
        TcpStream { shared, conn, side }
    }

    /// Connects to `addr` (an address or `"node-name:port"`) from the
    /// current node.
    ///
    /// # Errors
    ///
    /// `ConnectionRefused` when nothing listens there (or the node is
    /// down), `TimedOut` when no answer comes within the configured
    /// connect timeout (a partition), `NotFound` for an unknown node name,
    /// `InvalidInput` for an address that does not parse.
    ///
    /// # Panics
    ///
    /// Outside a simulated node.
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let (shared, node) = shared::current();
        let (conn, timeout) = {
            let mut nodes = shared.nodes.borrow_mut();
            let (remote, target) = resolve(&addr, &nodes, node)?;
            let mut net = shared.net.borrow_mut();
            let local_ip = nodes[node].ip;
            let port = net.ephemeral_port(&mut nodes[node], SocketAddr::new(local_ip.into(), 0));
            let local = SocketAddr::new(local_ip.into(), port);
            let conn = net.connect(shared.now(), local, node, remote, target, &mut shared.log.borrow_mut());
            (conn, net.config.connect_timeout)
        };
        // From here on, dropping the stream (a cancelled connect) closes it.
        let stream = TcpStream::new(shared, conn, 0);
        let connected = poll_fn(|cx| match stream.shared.net.borrow_mut().poll_connected(conn, cx.waker()) {
            Ok(true) => Poll::Ready(Ok(())),
            Ok(false) => Poll::Pending,
            Err(error) => Poll::Ready(Err(error)),
        });
        match corio_runtime::time::timeout(timeout, connected).await {
            Ok(Ok(())) => Ok(stream),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "simulated connect timed out")),
        }
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// Never; `io::Result` for the shape of `corio::net::TcpStream`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.shared.net.borrow().local_addr(self.conn, self.side))
    }

    /// The remote address.
    ///
    /// # Errors
    ///
    /// Never; `io::Result` for the shape of `corio::net::TcpStream`.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.shared.net.borrow().peer_addr(self.conn, self.side))
    }

    /// Accepted and ignored (there is no Nagle in the simulation).
    ///
    /// # Errors
    ///
    /// Never.
    pub fn set_nodelay(&self, _nodelay: bool) -> io::Result<()> {
        Ok(())
    }

    /// Shuts down the read side, the write side (the peer reads end of
    /// stream once everything sent before has arrived), or both.
    ///
    /// # Errors
    ///
    /// Never; `io::Result` for the shape of `corio::net::TcpStream`.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let (read, write) = match how {
            Shutdown::Read => (true, false),
            Shutdown::Write => (false, true),
            Shutdown::Both => (true, true),
        };
        let shared = &self.shared;
        shared.net.borrow_mut().shutdown(
            shared.now(),
            self.conn,
            self.side,
            read,
            write,
            &mut shared.log.borrow_mut(),
        );
        Ok(())
    }

    /// Splits into a read half and a write half that borrow the stream.
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        split(self)
    }

    /// Splits into owned halves, for two tasks; dropping the write half
    /// shuts down the write side.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        into_split(self)
    }

    /// `poll_read` through a shared reference.
    ///
    /// # Errors
    ///
    /// `ConnectionReset` after a reset (a crash of the peer, a fault).
    pub fn poll_read_ref(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let mut wakes = Wakes::new();
        let result = self.shared.net.borrow_mut().read(self.conn, self.side, buf, cx.waker(), &mut wakes);
        self.shared.defer_wakes(wakes);
        match result {
            Some(result) => Poll::Ready(result),
            None => Poll::Pending,
        }
    }

    /// `poll_write` through a shared reference.
    ///
    /// # Errors
    ///
    /// `ConnectionReset` after a reset, `BrokenPipe` after `shutdown(Write)`.
    pub fn poll_write_ref(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_write_vectored_ref(cx, &[io::IoSlice::new(buf)])
    }

    /// `poll_write_vectored` through a shared reference.
    ///
    /// # Errors
    ///
    /// As [`poll_write_ref`](TcpStream::poll_write_ref).
    pub fn poll_write_vectored_ref(
        &self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let slices: Vec<&[u8]> = bufs.iter().map(|buf| &**buf).collect();
        let shared = &self.shared;
        let result = shared.net.borrow_mut().write(
            shared.now(),
            self.conn,
            self.side,
            &slices,
            cx.waker(),
            &mut shared.log.borrow_mut(),
        );
        match result {
            Some(result) => Poll::Ready(result),
            None => Poll::Pending,
        }
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        let shared = &self.shared;
        shared.net.borrow_mut().release(shared.now(), self.conn, self.side, &mut shared.log.borrow_mut());
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("sim::TcpStream").field("conn", &self.conn).field("side", &self.side).finish()
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.poll_read_ref(cx, buf)
    }
}

impl AsyncRead for &TcpStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.poll_read_ref(cx, buf)
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_write_ref(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored_ref(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.shutdown(Shutdown::Write))
    }
}

impl AsyncWrite for &TcpStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_write_ref(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored_ref(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.shutdown(Shutdown::Write))
    }
}
