//! Sockets: TCP, UDP and Unix domain, registered with the corio reactor.
//!
//! Every type here owns a non-blocking mio socket wrapped in the runtime's
//! `IoSource`, which registers it with the reactor of the current runtime
//! (so create them inside `block_on`) and deregisters it on drop. Socket
//! types are `!Send`: they belong to their runtime's thread.
//!
//! The paths follow tokio's: the sockets, what you build them with and
//! [`lookup_host`] are here; the types the sockets hand back (the halves of
//! a split stream, [`tcp::Incoming`]) are in [`tcp`] and [`unix`]. Each
//! type has this one path.
//!
//! * `tcp/`: [`TcpListener`], [`ListenOptions`], [`TcpStream`]; its halves
//!   and `Incoming` ([`tcp`]).
//! * `udp.rs`: [`UdpSocket`].
//! * `unix.rs`: [`UnixListener`], [`UnixStream`] and its halves ([`unix`]),
//!   [`UnixDatagram`].
//! * `split.rs`: the read and write halves, written once for both stream
//!   types.
//! * `addr.rs`: [`ToSocketAddrs`] (what `bind`, `connect` and `send_to`
//!   accept) and [`lookup_host`]: literal addresses parse at once, names
//!   resolve on the blocking pool so `getaddrinfo` never blocks the runtime.
//!
//! Errors are `std::io::Error` straight from the OS: a reset peer is
//! `ConnectionReset`, nothing listening is `ConnectionRefused`, and a peer
//! that shut down its write side is `Ok(0)` on read.
//!
//! ```compile_fail
//! // The halves have one path, in `tcp` (as in tokio): not beside the sockets.
//! use corio_net::net::OwnedReadHalf;
//! ```
//!
//! ```compile_fail
//! // The sockets have one path, in `net`: not at the crate root.
//! use corio_net::TcpListener;
//! ```

pub use crate::addr::{lookup_host, ToSocketAddrs};
pub use crate::tcp::{ListenOptions, TcpListener, TcpStream};
pub use crate::udp::UdpSocket;
#[cfg(unix)]
pub use crate::unix::{UnixDatagram, UnixListener, UnixStream};

/// What TCP sockets hand back: the halves of a split [`TcpStream`], from
/// [`TcpStream::split`] and [`TcpStream::into_split`], and
/// [`TcpListener::incoming`]'s stream (tokio's `tokio::net::tcp`).
pub mod tcp {
    pub use crate::tcp::{Incoming, OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, WriteHalf};
}

/// The halves of a split [`UnixStream`], from [`UnixStream::split`] and
/// [`UnixStream::into_split`] (tokio's `tokio::net::unix`).
#[cfg(unix)]
pub mod unix {
    pub use crate::unix::split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, WriteHalf};
}
