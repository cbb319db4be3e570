//! Unix domain sockets: streams and datagrams between processes on one
//! machine, addressed by a filesystem path.
//!
//! They work exactly like their IP twins ([`UnixListener`] ~ `TcpListener`,
//! [`UnixStream`] ~ `TcpStream`, [`UnixDatagram`] ~ `UdpSocket`) and share
//! their code paths: `crate::stream` for reads and writes, `crate::accept`
//! for the accept loop.
//!
//! Binding creates the socket file; it is not removed when the listener is
//! dropped (as with `std`), so remove it yourself.

use std::fmt;
use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use corio_runtime::reactor::IoSource;

use crate::accept::Acceptor;
use crate::io::{AsyncRead, AsyncWrite};
use crate::stream;

/// A Unix socket listening for connections.
///
/// # Examples
///
/// ```
/// use corio_net::io::{AsyncReadExt, AsyncWriteExt};
/// use corio_net::net::{UnixListener, UnixStream};
///
/// let path = std::env::temp_dir().join(format!("corio-doc-{}.sock", std::process::id()));
/// corio_runtime::block_on(async {
///     let listener = UnixListener::bind(&path).unwrap();
///     let mut client = UnixStream::connect(&path).await.unwrap();
///     let (mut server, _) = listener.accept().await.unwrap();
///     client.write_all(b"hi").await.unwrap();
///     let mut buf = [0u8; 2];
///     server.read_exact(&mut buf).await.unwrap();
///     assert_eq!(&buf, b"hi");
/// });
/// std::fs::remove_file(&path).unwrap();
/// ```
pub struct UnixListener {
    io: IoSource<mio::net::UnixListener>,
    acceptor: Acceptor,
}

impl UnixListener {
    /// Creates the socket file at `path` and listens on it.
    ///
    /// # Errors
    ///
    /// The error of `bind(2)` or `listen(2)`; `AddrInUse` if `path` exists.
    ///
    /// # Panics
    ///
    /// Panics when called outside a corio runtime.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let io = IoSource::new(mio::net::UnixListener::bind(path)?)?;
        io.describe(|l| format!("unix listener {}", unix_name(l.local_addr())));
        Ok(UnixListener { io, acceptor: Acceptor::default() })
    }

    /// Waits for a connection; returns it with the peer's address (usually
    /// unnamed).
    ///
    /// # Errors
    ///
    /// As [`TcpListener::accept`](crate::net::TcpListener::accept): only
    /// errors about the listener itself; exhaustion is waited out.
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// The polling form of [`accept`](UnixListener::accept).
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(UnixStream, SocketAddr)>> {
        let accepted = std::task::ready!(self.acceptor.poll_accept(&self.io, cx, |l| l.accept()));
        Poll::Ready(accepted.and_then(|(stream, peer)| Ok((UnixStream::from_mio(stream)?, peer))))
    }

    /// The address the listener is bound to.
    ///
    /// # Errors
    ///
    /// The error of `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }
}

/// The halves of a [`UnixStream`] (the same code as TCP's, from `split.rs`).
pub(crate) mod split {
    use std::os::unix::net::SocketAddr;

    use super::UnixStream;

    crate::__stream_halves!(UnixStream, SocketAddr, "Unix");
}

/// A connected Unix stream socket.
///
/// `UnixStream` and `&UnixStream` implement [`AsyncRead`] and [`AsyncWrite`].
/// To read in one task and write in another, [`into_split`](UnixStream::into_split)
/// it (the halves are in [`crate::net::unix`]), as for TCP.
pub struct UnixStream {
    io: IoSource<mio::net::UnixStream>,
}

impl UnixStream {
    /// Connects to the socket at `path`.
    ///
    /// # Errors
    ///
    /// `NotFound` or `ConnectionRefused` when nothing listens there;
    /// `WouldBlock` when the listener's backlog is full.
    ///
    /// # Panics
    ///
    /// Panics when polled outside a corio runtime.
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let stream = UnixStream::from_mio(mio::net::UnixStream::connect(path)?)?;
        stream::finish_connect(&stream.io, |s| s.take_error(), |s| s.peer_addr().map(drop)).await?;
        Ok(stream)
    }

    /// A pair of connected sockets, with no file (`socketpair(2)`).
    ///
    /// # Errors
    ///
    /// The error of `socketpair(2)`.
    ///
    /// # Panics
    ///
    /// Panics when called outside a corio runtime.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = mio::net::UnixStream::pair()?;
        Ok((UnixStream::from_mio(a)?, UnixStream::from_mio(b)?))
    }

    fn from_mio(stream: mio::net::UnixStream) -> io::Result<UnixStream> {
        let io = IoSource::new(stream)?;
        io.describe(|s| format!("unix {} -> {}", unix_name(s.local_addr()), unix_name(s.peer_addr())));
        Ok(UnixStream { io })
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// The error of `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The peer's address.
    ///
    /// # Errors
    ///
    /// The error of `getpeername(2)`.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Shuts down the read side, the write side, or both. Never blocks.
    ///
    /// # Errors
    ///
    /// The error of `shutdown(2)`.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// Borrows a read half and a write half, to read and write concurrently
    /// within one task (say, with a `join`).
    pub fn split(&mut self) -> (split::ReadHalf<'_>, split::WriteHalf<'_>) {
        split::split(self)
    }

    /// Splits into owned halves that can move into two tasks.
    /// [`OwnedReadHalf::reunite`](split::OwnedReadHalf::reunite) puts them
    /// back together; dropping the write half shuts down the write side.
    pub fn into_split(self) -> (split::OwnedReadHalf, split::OwnedWriteHalf) {
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

impl AsyncRead for UnixStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        stream::poll_read(&self.io, cx, buf)
    }
}

impl AsyncRead for &UnixStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        stream::poll_read(&self.io, cx, buf)
    }
}

macro_rules! unix_write {
    ($ty:ty) => {
        impl AsyncWrite for $ty {
            fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
                stream::poll_write(&self.io, cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                stream::poll_write_vectored(&self.io, cx, bufs)
            }

            fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }

            fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(self.shutdown(Shutdown::Write))
            }
        }
    };
}

unix_write!(UnixStream);
unix_write!(&UnixStream);

/// A Unix datagram socket.
///
/// # Examples
///
/// ```
/// use corio_net::net::UnixDatagram;
///
/// corio_runtime::block_on(async {
///     let (a, b) = UnixDatagram::pair().unwrap();
///     a.send(b"ping").await.unwrap();
///     let mut buf = [0u8; 8];
///     let n = b.recv(&mut buf).await.unwrap();
///     assert_eq!(&buf[..n], b"ping");
/// });
/// ```
pub struct UnixDatagram {
    io: IoSource<mio::net::UnixDatagram>,
}

impl UnixDatagram {
    /// Creates the socket file at `path` and binds to it.
    ///
    /// # Errors
    ///
    /// The error of `bind(2)`; `AddrInUse` if `path` exists.
    ///
    /// # Panics
    ///
    /// Panics when called outside a corio runtime.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        UnixDatagram::from_mio(mio::net::UnixDatagram::bind(path)?)
    }

    /// A socket bound to no path (it can send, and receive once connected).
    ///
    /// # Errors
    ///
    /// The error of `socket(2)`.
    ///
    /// # Panics
    ///
    /// Panics when called outside a corio runtime.
    pub fn unbound() -> io::Result<UnixDatagram> {
        UnixDatagram::from_mio(mio::net::UnixDatagram::unbound()?)
    }

    /// A pair of connected sockets, with no file.
    ///
    /// # Errors
    ///
    /// The error of `socketpair(2)`.
    ///
    /// # Panics
    ///
    /// Panics when called outside a corio runtime.
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = mio::net::UnixDatagram::pair()?;
        Ok((UnixDatagram::from_mio(a)?, UnixDatagram::from_mio(b)?))
    }

    fn from_mio(socket: mio::net::UnixDatagram) -> io::Result<UnixDatagram> {
        let io = IoSource::new(socket)?;
        io.describe(|s| format!("unix datagram {}", unix_name(s.local_addr())));
        Ok(UnixDatagram { io })
    }

    /// Sets the default peer for `send` / `recv`.
    ///
    /// # Errors
    ///
    /// The error of `connect(2)`.
    pub fn connect(&self, path: impl AsRef<Path>) -> io::Result<()> {
        self.io.get_ref().connect(path)
    }

    /// Sends one datagram to the socket at `path`.
    ///
    /// # Errors
    ///
    /// The error of `sendto(2)`.
    pub async fn send_to(&self, buf: &[u8], path: impl AsRef<Path>) -> io::Result<usize> {
        let path = path.as_ref();
        poll_fn(|cx| self.io.poll_write_with(cx, |socket| socket.send_to(buf, path))).await
    }

    /// Receives one datagram; returns its length and sender.
    ///
    /// # Errors
    ///
    /// The error of `recvfrom(2)`.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        poll_fn(|cx| self.io.poll_read_with(cx, |socket| socket.recv_from(buf))).await
    }

    /// Sends one datagram to the connected peer.
    ///
    /// # Errors
    ///
    /// The error of `send(2)`.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| self.io.poll_write_with(cx, |socket| socket.send(buf))).await
    }

    /// Receives one datagram from the connected peer.
    ///
    /// # Errors
    ///
    /// The error of `recv(2)`.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.io.poll_read_with(cx, |socket| socket.recv(buf))).await
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// The error of `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The connected peer's address.
    ///
    /// # Errors
    ///
    /// The error of `getpeername(2)`.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }
}

macro_rules! debug_and_fd {
    ($($ty:ident),*) => {$(
        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($ty)).field("io", &self.io).finish()
            }
        }

        impl AsFd for $ty {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.io.get_ref().as_fd()
            }
        }

        impl AsRawFd for $ty {
            fn as_raw_fd(&self) -> RawFd {
                self.io.get_ref().as_raw_fd()
            }
        }
    )*};
}

debug_and_fd!(UnixListener, UnixStream, UnixDatagram);

/// A Unix socket address for task dumps and traces: its path, or "unnamed".
fn unix_name(addr: io::Result<SocketAddr>) -> String {
    match addr.as_ref().ok().and_then(|addr| addr.as_pathname()) {
        Some(path) => path.display().to_string(),
        None => "unnamed".to_owned(),
    }
}
