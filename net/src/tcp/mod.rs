//! TCP: a listener that accepts connections, and the connection itself.
//!
//! * [`TcpListener`] (`listener.rs`) is built with socket2 so the options
//!   that matter for servers are set before `listen(2)`: `SO_REUSEADDR`
//!   (always), the backlog, and opt-in `SO_REUSEPORT`, which lets N
//!   runtimes on N threads share one port (the thread-per-core model).
//!   Its accept loop rides out descriptor exhaustion instead of spinning.
//! * [`TcpStream`] (`stream.rs`) is a connected socket: [`AsyncRead`] and
//!   [`AsyncWrite`], a non-blocking `connect` completed through write
//!   readiness, and socket options.
//! * `split.rs`: borrowed ([`ReadHalf`], [`WriteHalf`]) and owned
//!   ([`OwnedReadHalf`], [`OwnedWriteHalf`]) halves, so one task can read
//!   while another writes.
//!
//! [`AsyncRead`]: crate::io::AsyncRead
//! [`AsyncWrite`]: crate::io::AsyncWrite

mod listener;
mod split;
mod stream;

pub use listener::{Incoming, ListenOptions, TcpListener};
pub use split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, WriteHalf};
pub use stream::TcpStream;
