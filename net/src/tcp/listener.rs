//! `TcpListener`: bind, listen, accept.
//!
//! Binding goes through socket2 rather than `std` because the options a
//! server needs must be set between `socket(2)` and `listen(2)`:
//! `SO_REUSEADDR` (restart without waiting out TIME_WAIT), the backlog
//! length, and `SO_REUSEPORT` (one listener per runtime thread on a shared
//! port). The socket is then handed to mio and registered with the reactor.
//!
//! `accept` waits for read readiness (a queued connection), and rides out
//! descriptor exhaustion instead of spinning or failing: see `accept.rs`.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use corio_runtime::reactor::IoSource;
use socket2::{Domain, Protocol, Socket, Type};

use super::TcpStream;
use crate::accept::Acceptor;
use crate::addr::{self, ToSocketAddrs};

/// Options for [`TcpListener::bind_with`].
///
/// # Examples
///
/// ```
/// use corio_net::net::{ListenOptions, TcpListener};
///
/// corio_runtime::block_on(async {
///     let options = ListenOptions::new().backlog(128).reuse_port(true);
///     let listener = TcpListener::bind_with("127.0.0.1:0", options).await.unwrap();
///     assert_ne!(listener.local_addr().unwrap().port(), 0);
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenOptions {
    /// Length of the queue of connections the kernel completes before we
    /// accept them (capped by the kernel at `net.core.somaxconn`). Default:
    /// the system's limit, see [`ListenOptions::new`].
    pub backlog: i32,
    /// Sets `SO_REUSEPORT`: several listeners (one runtime per thread, say)
    /// bind the same address and the kernel spreads connections over them.
    /// Default off.
    pub reuse_port: bool,
}

impl ListenOptions {
    /// The defaults: the system's largest backlog, no `SO_REUSEPORT`.
    ///
    /// On Linux the backlog is `/proc/sys/net/core/somaxconn` (read once per
    /// process; 4096 on kernels since 5.4), as Go does: a burst of connects
    /// larger than the queue overflows it, and every dropped SYN costs its
    /// client a retransmission a whole second later. Elsewhere, or if the
    /// file cannot be read, 1024.
    pub fn new() -> ListenOptions {
        ListenOptions { backlog: default_backlog(), reuse_port: false }
    }

    /// Sets [`backlog`](ListenOptions::backlog).
    pub fn backlog(mut self, backlog: i32) -> ListenOptions {
        self.backlog = backlog;
        self
    }

    /// Sets [`reuse_port`](ListenOptions::reuse_port).
    pub fn reuse_port(mut self, reuse_port: bool) -> ListenOptions {
        self.reuse_port = reuse_port;
        self
    }
}

/// The backlog when no size is asked for: the system's limit. A listen
/// queue costs the kernel nothing until connections wait in it, so there
/// is no reason to ask for less than the kernel allows.
fn default_backlog() -> i32 {
    static BACKLOG: std::sync::OnceLock<i32> = std::sync::OnceLock::new();
    *BACKLOG.get_or_init(|| system_backlog_limit().unwrap_or(FALLBACK_BACKLOG))
}

/// The default backlog where the system's limit is unknown.
const FALLBACK_BACKLOG: i32 = 1024;

#[cfg(target_os = "linux")]
fn system_backlog_limit() -> Option<i32> {
    let text = std::fs::read_to_string("/proc/sys/net/core/somaxconn").ok()?;
    parse_somaxconn(&text)
}

#[cfg(not(target_os = "linux"))]
fn system_backlog_limit() -> Option<i32> {
    None
}

/// Parses the somaxconn file. Kernels before 4.1 kept the backlog in 16
/// bits and truncated larger values, so cap at 65535, which every kernel
/// keeps (Go caps the same way on those kernels).
#[cfg_attr(not(any(target_os = "linux", test)), allow(dead_code))]
fn parse_somaxconn(text: &str) -> Option<i32> {
    let n: i32 = text.trim().parse().ok()?;
    (n > 0).then_some(n.min(u16::MAX as i32))
}

impl Default for ListenOptions {
    fn default() -> ListenOptions {
        ListenOptions::new()
    }
}

/// A TCP socket listening for connections.
///
/// # Examples
///
/// ```
/// use corio_net::io::{AsyncReadExt, AsyncWriteExt};
/// use corio_net::net::{TcpListener, TcpStream};
///
/// corio_runtime::block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
///     let addr = listener.local_addr().unwrap();
///     corio_runtime::spawn(async move {
///         let (mut conn, _peer) = listener.accept().await.unwrap();
///         conn.write_all(b"hello").await.unwrap();
///     });
///     let mut stream = TcpStream::connect(addr).await.unwrap();
///     let mut greeting = Vec::new();
///     stream.read_to_end(&mut greeting).await.unwrap();
///     assert_eq!(greeting, b"hello");
/// });
/// ```
///
/// # Caveats
///
/// One task should accept at a time: the listener stores a single waiting
/// waker, and a second concurrent acceptor would replace the first one's.
pub struct TcpListener {
    io: IoSource<mio::net::TcpListener>,
    /// The accept step, with its back-off state.
    acceptor: Acceptor,
}

impl TcpListener {
    /// Binds a listener to `addr` (IPv4 or IPv6; port 0 picks a free port)
    /// with the default [`ListenOptions`].
    ///
    /// `addr` is anything [`ToSocketAddrs`] accepts: a literal binds at once,
    /// a name (`"localhost:8080"`) is looked up on the blocking pool first,
    /// and each address it names is tried in turn until one binds.
    ///
    /// # Errors
    ///
    /// The error of the lookup, or of `socket(2)`, `bind(2)` or `listen(2)`
    /// for the last address tried, for example `AddrInUse`.
    ///
    /// # Panics
    ///
    /// Panics when called outside a corio runtime.
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        TcpListener::bind_with(addr, ListenOptions::default()).await
    }

    /// Binds a listener to `addr` with `options`.
    ///
    /// # Errors
    ///
    /// As [`bind`](TcpListener::bind); `Unsupported` for `reuse_port` on a
    /// platform without `SO_REUSEPORT`.
    ///
    /// # Panics
    ///
    /// Panics when called outside a corio runtime.
    pub async fn bind_with(addr: impl ToSocketAddrs, options: ListenOptions) -> io::Result<TcpListener> {
        let addrs = addr::resolve(&addr).await?;
        addr::try_each(addrs, |addr| std::future::ready(TcpListener::bind_addr(addr, options))).await
    }

    fn bind_addr(addr: SocketAddr, options: ListenOptions) -> io::Result<TcpListener> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_nonblocking(true)?;
        // Rebinding a port with connections in TIME_WAIT is what servers want.
        socket.set_reuse_address(true)?;
        if options.reuse_port {
            set_reuse_port(&socket)?;
        }
        socket.bind(&addr.into())?;
        socket.listen(options.backlog)?;
        TcpListener::from_std(socket.into())
    }

    /// Wraps a listening `std` socket (switching it to non-blocking mode).
    ///
    /// # Errors
    ///
    /// If the socket cannot be made non-blocking or registered.
    ///
    /// # Panics
    ///
    /// Panics when called outside a corio runtime.
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        let io = IoSource::new(mio::net::TcpListener::from_std(listener))?;
        io.describe(|l| {
            l.local_addr().map_or_else(|_| "tcp listener".to_owned(), |a| format!("tcp listener {a}"))
        });
        Ok(TcpListener { io, acceptor: Acceptor::default() })
    }

    /// Waits for a connection; returns it with the peer's address.
    ///
    /// # Errors
    ///
    /// Errors that concern the listener itself (say, `EBADF`). These do not
    /// surface, because a loop should not stop on them: `Interrupted`,
    /// `ConnectionAborted` (the peer gave up before we accepted: skipped),
    /// and descriptor or memory exhaustion (waited out with a growing delay,
    /// up to 100 ms, so the loop neither spins nor stops).
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// The polling form of [`accept`](TcpListener::accept).
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let accepted = std::task::ready!(self.acceptor.poll_accept(&self.io, cx, |l| l.accept()));
        Poll::Ready(accepted.and_then(|(stream, peer)| Ok((TcpStream::from_mio(stream, Some(peer))?, peer))))
    }

    /// The connections as a stream; see [`Incoming`].
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The address the listener is bound to (with the real port if bound to 0).
    ///
    /// # Errors
    ///
    /// The error of `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }
}

#[cfg(not(any(target_os = "solaris", target_os = "illumos", target_os = "cygwin")))]
fn set_reuse_port(socket: &Socket) -> io::Result<()> {
    socket.set_reuse_port(true)
}

#[cfg(any(target_os = "solaris", target_os = "illumos", target_os = "cygwin"))]
fn set_reuse_port(_socket: &Socket) -> io::Result<()> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "SO_REUSEPORT is not available on this platform"))
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener").field("io", &self.io).finish()
    }
}

impl AsFd for TcpListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.get_ref().as_fd()
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.io.get_ref().as_raw_fd()
    }
}

/// The connections of a [`TcpListener`], one by one, from
/// [`incoming`](TcpListener::incoming).
///
/// It never ends: `next` always returns `Some`. It is a
/// [`futures_core::Stream`], so the combinators of `futures-lite`'s and
/// `futures-util`'s `StreamExt` apply (`take`, `for_each_concurrent`, ...);
/// its own `next` needs no import.
///
/// # Examples
///
/// ```no_run
/// use corio_net::net::TcpListener;
///
/// corio_runtime::block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:7000").await.unwrap();
///     let mut incoming = listener.incoming();
///     while let Some(stream) = incoming.next().await {
///         let stream = stream.unwrap();
///         corio_runtime::spawn(async move { drop(stream) });
///     }
/// });
/// ```
#[derive(Debug)]
#[must_use = "streams do nothing unless polled"]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Incoming<'_> {
    /// Polls for the next connection (the shape of `Stream::poll_next`).
    pub fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<io::Result<TcpStream>>> {
        self.listener.poll_accept(cx).map(|result| Some(result.map(|(stream, _)| stream)))
    }

    /// Waits for the next connection.
    pub async fn next(&mut self) -> Option<io::Result<TcpStream>> {
        poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }
}

impl futures_core::Stream for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Incoming::poll_next(self, cx)
    }

    /// Endless: at least `usize::MAX` more, as `futures::stream::repeat` says.
    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::MAX, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn somaxconn_parses_the_proc_file_and_caps_at_16_bits() {
        assert_eq!(parse_somaxconn("4096\n"), Some(4096));
        assert_eq!(parse_somaxconn("128"), Some(128));
        assert_eq!(parse_somaxconn("1000000\n"), Some(65535));
        assert_eq!(parse_somaxconn("0\n"), None);
        assert_eq!(parse_somaxconn("-1\n"), None);
        assert_eq!(parse_somaxconn("lots\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_default_backlog_is_the_systems_limit() {
        let file = std::fs::read_to_string("/proc/sys/net/core/somaxconn").unwrap();
        assert_eq!(ListenOptions::new().backlog, parse_somaxconn(&file).unwrap());
    }
}
