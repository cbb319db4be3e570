//! corio-net: sockets and async byte streams for the corio runtime.
//!
//! The runtime (`corio-runtime`) knows how to wait for a file descriptor to
//! become ready; this crate turns that into the types a program uses:
//! listeners and streams you `.await` on, and the traits that let code be
//! written once for any byte stream.
//!
//! # Layout
//!
//! * [`io`]: the [`AsyncRead`](io::AsyncRead) / [`AsyncWrite`](io::AsyncWrite)
//!   traits, their `async` extension methods, [`BufReader`](io::BufReader),
//!   [`copy`](io::copy) (`io/`), and the `futures-io` bridge (`io/compat.rs`).
//! * [`net`]: the socket types, re-exported from
//!   `tcp/` (listener, stream, split halves), `udp.rs` and `unix.rs`;
//!   `split.rs` holds the halves' code shared by TCP and Unix streams.
//!   Each type has one path, as in tokio: the sockets in [`net`], their
//!   halves in [`net::tcp`] and [`net::unix`].
//! * `stream.rs`: the one read step and write step every stream uses.
//! * `accept.rs`: the accept step, with its back-off on descriptor exhaustion.
//! * `addr.rs`: [`ToSocketAddrs`](net::ToSocketAddrs), what `bind` and
//!   `connect` accept; name lookup on the blocking pool.
//! * [`frame`] (`frame/`): length-prefixed frames with a hard maximum
//!   size: one [`Frame`](frame::Frame) type that borrows from the read
//!   buffer or owns its bytes, the encoder, the incremental decoder.
//! * [`rpc`]: the RPC layer on top of frames: `Client` (`rpc/client/`),
//!   `Server` (`rpc/server/`), the batched writer both use (`outbox.rs`),
//!   errors.
//! * `hyper` (feature `hyper`): hyper 1.x's IO, executor and timer over
//!   corio (`hyper.rs`).
//!
//! # Example: an echo server and a client, on one thread
//!
//! ```
//! use corio_net::io::{AsyncReadExt, AsyncWriteExt};
//! use corio_net::net::{TcpListener, TcpStream};
//!
//! corio_runtime::block_on(async {
//!     // 1. Bind: port 0 lets the OS pick a free port.
//!     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
//!     let addr = listener.local_addr().unwrap();
//!
//!     // 2. Serve: one task per connection, echoing until end of stream.
//!     corio_runtime::spawn(async move {
//!         loop {
//!             let (stream, _) = listener.accept().await.unwrap();
//!             corio_runtime::spawn(async move {
//!                 let (mut reader, mut writer) = stream.into_split();
//!                 corio_net::io::copy(&mut reader, &mut writer).await.unwrap();
//!             });
//!         }
//!     });
//!
//!     // 3. Connect and talk. Each `.await` suspends this task until the
//!     //    socket is ready; the server task runs meanwhile.
//!     let mut stream = TcpStream::connect(addr).await.unwrap();
//!     stream.write_all(b"hello").await.unwrap();
//!     let mut reply = [0u8; 5];
//!     stream.read_exact(&mut reply).await.unwrap();
//!     assert_eq!(&reply, b"hello");
//! });
//! ```
//!
//! # Features
//!
//! * `futures-io` (on by default): implements the `futures_io` traits for
//!   the stream types and `BufReader`, so futures-rustls, async-tungstenite,
//!   asynchronous-codec, `futures-lite` and `futures-util` take corio's
//!   streams as they are (docs/ECOSYSTEM.md). With it, import *one* family
//!   of extension traits per module: see [`io`](io#which-extension-traits).
//! * `hyper` (off by default): `hyper::{HyperIo, HyperExecutor, HyperTimer}`,
//!   the glue hyper 1.x needs to serve and fetch HTTP/1 and HTTP/2 on corio.
//! * `serde` (off by default): typed RPC, `Client::call_typed` and
//!   `Server::route_typed`, for any serde type, encoded with postcard's
//!   compact, stable binary format. The byte API stays the core; typed
//!   peers and byte peers talk to each other.
//!
//! # Caveats
//!
//! Socket types must be created inside a corio runtime (`block_on`), and
//! stay on its thread. Per socket, one task may wait to read and one to
//! write at a time.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

pub mod frame;
#[cfg(feature = "hyper")]
pub mod hyper;
pub mod io;
pub mod net;
pub mod rpc;

mod accept;
mod addr;
mod split;
mod stream;
mod tcp;
mod udp;
#[cfg(unix)]
mod unix;
