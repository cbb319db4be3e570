//! `TcpStream`: a connected TCP socket.
//!
//! Reading and writing go through `crate::stream`, which applies the
//! reactor's edge-triggered rule. `connect` is non-blocking: `connect(2)`
//! returns at once with the handshake in flight, the socket turns writable
//! when it ends, and `SO_ERROR` says whether it worked.
//!
//! [`into_split`](TcpStream::into_split) puts the stream behind an `Rc` to
//! hand one half to a reading task and the other to a writing task; a
//! stream that is not split holds its registration inline (one fewer
//! allocation and pointer hop per connection). The reactor keeps one waker
//! for a reader and one for a writer per socket, which is exactly what two
//! halves need.

use std::fmt;
use std::io::{self, IoSlice};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use corio_runtime::reactor::IoSource;
use socket2::{SockRef, TcpKeepalive};

use super::split::{self, OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
use crate::addr::{self, ToSocketAddrs};
use crate::io::{AsyncRead, AsyncWrite};
use crate::stream;

/// A TCP connection.
///
/// `TcpStream`, `&TcpStream` and its halves implement
/// [`AsyncRead`] and [`AsyncWrite`].
///
/// # Examples
///
/// ```no_run
/// use corio_net::io::{AsyncReadExt, AsyncWriteExt};
/// use corio_net::net::TcpStream;
///
/// corio_runtime::block_on(async {
///     let mut stream = TcpStream::connect("127.0.0.1:7000").await?;
///     stream.write_all(b"ping").await?;
///     let mut reply = [0u8; 4];
///     stream.read_exact(&mut reply).await?;
///     Ok::<_, std::io::Error>(())
/// }).unwrap();
/// ```
///
/// A `TcpStream` is tied to its runtime's thread: it is not `Send`.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<corio_net::net::TcpStream>();
/// ```
///
/// # Caveats
///
/// At most one task should read and one task write at a time (the halves
/// enforce this): the socket stores one waiting waker per direction.
pub struct TcpStream {
    io: IoSource<mio::net::TcpStream>,
}

impl TcpStream {
    /// Opens a connection to `addr`.
    ///
    /// `addr` is anything [`ToSocketAddrs`] accepts: a literal connects at
    /// once, a name (`"localhost:7000"`) is looked up on the blocking pool
    /// first, and each address it names is tried in turn until one accepts.
    ///
    /// # Errors
    ///
    /// The error of the lookup, or the OS error of the last connection
    /// attempt: `ConnectionRefused` when nothing listens there, `TimedOut`
    /// after the kernel's SYN retries, ...
    ///
    /// # Panics
    ///
    /// Panics when polled outside a corio runtime.
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let addrs = addr::resolve(&addr).await?;
        addr::try_each(addrs, TcpStream::connect_addr).await
    }

    async fn connect_addr(addr: SocketAddr) -> io::Result<TcpStream> {
        let stream = TcpStream::from_mio(mio::net::TcpStream::connect(addr)?, Some(addr))?;
        stream::finish_connect(&stream.io, |s| s.take_error(), |s| s.peer_addr().map(drop)).await?;
        Ok(stream)
    }

    /// Opens a connection to `addr`, giving up after `timeout` (which
    /// covers the lookup of a name and every address tried).
    ///
    /// # Errors
    ///
    /// `TimedOut` if the connection is not established in time, or an
    /// error of [`connect`](TcpStream::connect).
    ///
    /// # Caveats
    ///
    /// The timeout runs on the runtime's clock: on a runtime with virtual
    /// time it fires as soon as every task waits.
    pub async fn connect_timeout(addr: impl ToSocketAddrs, timeout: Duration) -> io::Result<TcpStream> {
        match corio_runtime::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(result) => result,
            Err(_elapsed) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connecting timed out after {timeout:?}"),
            )),
        }
    }

    /// Wraps a connected `std` stream (switching it to non-blocking mode).
    ///
    /// # Errors
    ///
    /// If the socket cannot be made non-blocking or registered.
    ///
    /// # Panics
    ///
    /// Panics when called outside a corio runtime.
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        TcpStream::from_mio(mio::net::TcpStream::from_std(stream), None)
    }

    /// Registers `stream`; `peer` names the other end for task dumps and
    /// traces while a connect is still under way (`getpeername` fails then).
    pub(super) fn from_mio(stream: mio::net::TcpStream, peer: Option<SocketAddr>) -> io::Result<TcpStream> {
        let io = IoSource::new(stream)?;
        io.describe(|s| {
            let local = s.local_addr().map_or_else(|_| "?".to_owned(), |a| a.to_string());
            let peer = s.peer_addr().ok().or(peer).map_or_else(|| "?".to_owned(), |a| a.to_string());
            format!("tcp {local} -> {peer}")
        });
        Ok(TcpStream { io })
    }

    /// The local address of the connection.
    ///
    /// # Errors
    ///
    /// The error of `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The remote address of the connection.
    ///
    /// # Errors
    ///
    /// The error of `getpeername(2)`, e.g. `NotConnected`.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Sets `TCP_NODELAY`: send small writes at once instead of waiting to
    /// batch them (Nagle's algorithm). Request/response protocols want it.
    ///
    /// # Errors
    ///
    /// The error of `setsockopt(2)`.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.get_ref().set_nodelay(nodelay)
    }

    /// Whether `TCP_NODELAY` is set.
    ///
    /// # Errors
    ///
    /// The error of `getsockopt(2)`.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.get_ref().nodelay()
    }

    /// Turns TCP keep-alive probes on after `idle` without traffic
    /// (`Some`), or off (`None`). They detect a peer that vanished.
    ///
    /// # Errors
    ///
    /// The error of `setsockopt(2)`.
    pub fn set_keepalive(&self, idle: Option<Duration>) -> io::Result<()> {
        let socket = SockRef::from(self.io.get_ref());
        match idle {
            Some(idle) => socket.set_tcp_keepalive(&TcpKeepalive::new().with_time(idle)),
            None => socket.set_keepalive(false),
        }
    }

    /// Whether keep-alive probes are on.
    ///
    /// # Errors
    ///
    /// The error of `getsockopt(2)`.
    pub fn keepalive(&self) -> io::Result<bool> {
        SockRef::from(self.io.get_ref()).keepalive()
    }

    /// Shuts down the read side, the write side (the peer then reads
    /// `Ok(0)`), or both. Never blocks.
    ///
    /// # Errors
    ///
    /// The error of `shutdown(2)`, e.g. `NotConnected`.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    ///
    /// # Errors
    ///
    /// The error of `getsockopt(2)`.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.get_ref().take_error()
    }

    /// Borrows a read half and a write half, to read and write concurrently
    /// within one task (say, with a `join`).
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        split::split(self)
    }

    /// Splits into owned halves that can move into two tasks.
    /// [`OwnedReadHalf::reunite`] puts them back together.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        split::into_split(self)
    }

    /// Polls for one read into `buf` through a shared reference.
    pub fn poll_read_ref(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        stream::poll_read(&self.io, cx, buf)
    }

    /// Polls for one write of `buf` through a shared reference.
    pub fn poll_write_ref(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        stream::poll_write(&self.io, cx, buf)
    }

    /// Polls for one vectored write through a shared reference.
    pub fn poll_write_vectored_ref(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        stream::poll_write_vectored(&self.io, cx, bufs)
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream").field("io", &self.io).finish()
    }
}

impl AsFd for TcpStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.get_ref().as_fd()
    }
}

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.io.get_ref().as_raw_fd()
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.poll_read_ref(cx, buf)
    }
}

impl AsyncRead for &TcpStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        (**self).poll_read_ref(cx, buf)
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_write_ref(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
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
        (**self).poll_write_ref(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        (**self).poll_write_vectored_ref(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready((**self).shutdown(Shutdown::Write))
    }
}
