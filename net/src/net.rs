//! Sockets: TCP, UDP and Unix domain, registered with the corio reactor.
//!
//! Every type here owns a non-blocking mio socket wrapped in the runtime's
//! `IoSource`, which registers it with the reactor of the current runtime
//! (so create them inside `block_on`) and deregisters it on drop. Socket
//! types are `!Send`: they belong to their runtime's thread.
//!
//! * `tcp/`: [`TcpListener`], [`TcpStream`] and its halves.
//! * `udp.rs`: [`UdpSocket`].
//! * `unix.rs`: [`UnixListener`], [`UnixStream`] and its halves ([`unix`]),
//!   [`UnixDatagram`].
//! * `split.rs`: the read and write halves, written once for both stream
//!   types.
//! * `addr.rs`: [`ToSocketAddrs`] (what `bind` and `connect` accept) and
//!   [`lookup_host`]: literal addresses parse at once, names resolve on the
//!   blocking pool so `getaddrinfo` never blocks the runtime.
//!
//! Errors are `std::io::Error` straight from the OS: a reset peer is
//! `ConnectionReset`, nothing listening is `ConnectionRefused`, and a peer
//! that shut down its write side is `Ok(0)` on read.

pub use crate::addr::{lookup_host, ToSocketAddrs};
pub use crate::tcp::{
    Incoming, ListenOptions, OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, TcpListener, TcpStream,
    WriteHalf,
};
pub use crate::udp::UdpSocket;
#[cfg(unix)]
pub use crate::unix::{UnixDatagram, UnixListener, UnixStream};

/// The halves of a split [`UnixStream`], from [`UnixStream::split`] and
/// [`UnixStream::into_split`]. (TCP's are at the top of this module.)
#[cfg(unix)]
pub mod unix {
    pub use crate::unix::split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, WriteHalf};
}
