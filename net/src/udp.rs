//! `UdpSocket`: datagrams over IP.
//!
//! Each `send_to` / `recv_from` moves one whole datagram. The waiting works
//! like a stream's: try the syscall, and on `WouldBlock` wait until the
//! reactor reports the socket ready. `bind`, `connect` and `send_to` accept
//! host names too, so they are `async`: a name is looked up on the blocking
//! pool first (a literal address parses at once; see [`ToSocketAddrs`]).

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::task::{Context, Poll};

use corio_runtime::reactor::IoSource;

use crate::addr::{self, ToSocketAddrs};

/// A UDP socket.
///
/// # Examples
///
/// ```
/// use corio_net::net::UdpSocket;
///
/// corio_runtime::block_on(async {
///     let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
///     let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
///     a.send_to(b"ping", b.local_addr().unwrap()).await.unwrap();
///     let mut buf = [0u8; 16];
///     let (n, from) = b.recv_from(&mut buf).await.unwrap();
///     assert_eq!((&buf[..n], from), (&b"ping"[..], a.local_addr().unwrap()));
/// });
/// ```
///
/// # Caveats
///
/// One task should receive and one send at a time: the socket stores one
/// waiting waker per direction. A datagram longer than the buffer given to
/// `recv` is cut short (the rest is dropped), as with `recv(2)`.
pub struct UdpSocket {
    io: IoSource<mio::net::UdpSocket>,
}

impl UdpSocket {
    /// Binds a socket to `addr` (port 0 picks a free port); each address a
    /// name resolves to is tried in turn.
    ///
    /// # Errors
    ///
    /// The error of the lookup, or of `socket(2)` or `bind(2)` for the last
    /// address tried.
    ///
    /// # Panics
    ///
    /// Panics when called outside a corio runtime.
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        let addrs = addr::resolve(&addr).await?;
        addr::try_each(addrs, |addr| {
            std::future::ready(mio::net::UdpSocket::bind(addr).and_then(UdpSocket::from_mio))
        })
        .await
    }

    /// Wraps a `std` socket (switching it to non-blocking mode).
    ///
    /// # Errors
    ///
    /// If the socket cannot be made non-blocking or registered.
    ///
    /// # Panics
    ///
    /// Panics when called outside a corio runtime.
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        socket.set_nonblocking(true)?;
        UdpSocket::from_mio(mio::net::UdpSocket::from_std(socket))
    }

    fn from_mio(socket: mio::net::UdpSocket) -> io::Result<UdpSocket> {
        let io = IoSource::new(socket)?;
        io.describe(|s| s.local_addr().map_or_else(|_| "udp".to_owned(), |a| format!("udp {a}")));
        Ok(UdpSocket { io })
    }

    /// Sets the default peer for [`send`](UdpSocket::send) and the only
    /// source [`recv`](UdpSocket::recv) accepts datagrams from; the first
    /// address of a name that `connect(2)` accepts wins.
    ///
    /// # Errors
    ///
    /// The error of the lookup, or of `connect(2)` for the last address tried.
    pub async fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        let addrs = addr::resolve(&addr).await?;
        addr::try_each(addrs, |addr| std::future::ready(self.io.get_ref().connect(addr))).await
    }

    /// Sends one datagram to `target`; returns the bytes sent. A name is
    /// looked up first and its first address used (as tokio does).
    ///
    /// # Errors
    ///
    /// The error of the lookup, or of `sendto(2)`.
    pub async fn send_to(&self, buf: &[u8], target: impl ToSocketAddrs) -> io::Result<usize> {
        let target = addr::first(&target).await?;
        poll_fn(|cx| self.poll_send_to(cx, buf, target)).await
    }

    /// Receives one datagram; returns its length and sender.
    ///
    /// # Errors
    ///
    /// The error of `recvfrom(2)`.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        poll_fn(|cx| self.poll_recv_from(cx, buf)).await
    }

    /// Sends one datagram to the connected peer.
    ///
    /// # Errors
    ///
    /// The error of `send(2)`; `NotConnected` without [`connect`](UdpSocket::connect).
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_send(cx, buf)).await
    }

    /// Receives one datagram from the connected peer.
    ///
    /// # Errors
    ///
    /// The error of `recv(2)`; `ConnectionRefused` if an earlier datagram
    /// to the peer bounced (ICMP port unreachable).
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_recv(cx, buf)).await
    }

    /// The polling form of [`send_to`](UdpSocket::send_to).
    pub fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        target: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        self.io.poll_write_with(cx, |socket| socket.send_to(buf, target))
    }

    /// The polling form of [`recv_from`](UdpSocket::recv_from).
    pub fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.io.poll_read_with(cx, |socket| socket.recv_from(buf))
    }

    /// The polling form of [`send`](UdpSocket::send).
    pub fn poll_send(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.io.poll_write_with(cx, |socket| socket.send(buf))
    }

    /// The polling form of [`recv`](UdpSocket::recv).
    pub fn poll_recv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.io.poll_read_with(cx, |socket| socket.recv(buf))
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
    /// `NotConnected` without [`connect`](UdpSocket::connect).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Lets the socket send to broadcast addresses.
    ///
    /// # Errors
    ///
    /// The error of `setsockopt(2)`.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.io.get_ref().set_broadcast(on)
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    ///
    /// # Errors
    ///
    /// The error of `getsockopt(2)`.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.get_ref().take_error()
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket").field("io", &self.io).finish()
    }
}

impl AsFd for UdpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.get_ref().as_fd()
    }
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.io.get_ref().as_raw_fd()
    }
}
