//! Remote procedure calls over TCP (or any byte stream): a multiplexed [`Client`] and a
//! [`Server`] with routes, limits and graceful shutdown.
//!
//! The bytes on the wire are [frames](crate::frame), documented in
//! `docs/PROTOCOL.md`. One connection carries many calls at once: each
//! request has an id, and answers come back in any order. A call is a task
//! suspended on the network: `client.call(..).await` parks the calling task
//! until the reader task finds its answer, which costs no thread and no
//! stack: 100,000 calls in flight are 100,000 small heap objects.
//!
//! - `client/`: [`Client`], the reader task, the table of calls, the call
//!   future and its cancel-on-drop, what a client does on the shutdown
//!   notice;
//! - `server/`: [`Server`], [`Request`]; each handler is polled first
//!   inside the connection's reader and becomes a task only if it waits;
//!   connection errors, backpressure, the shutdown notice;
//! - `outbox.rs`: the shared outgoing buffer and writer task both sides use,
//!   which batches the frames of one tick into one write;
//! - `transport.rs`: what it runs over: any stream with corio's I/O
//!   traits, and any [`Listener`] of them (TCP's, the simulator's, yours);
//! - `error.rs`: [`RpcError`];
//! - `typed.rs` (feature `serde`): `Client::call_typed` and
//!   `Server::route_typed`, serde values encoded with postcard on top of the
//!   byte API, which stays the core.
//!
//! # Examples
//!
//! ```
//! use corio_net::net::TcpListener;
//! use corio_net::rpc::{Client, Server};
//!
//! corio_runtime::block_on(async {
//!     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
//!     let addr = listener.local_addr().unwrap();
//!     let server = Server::new().route("add", |request| async move {
//!         let sum: u32 = request.payload().iter().map(|&b| u32::from(b)).sum();
//!         Ok(sum.to_be_bytes().to_vec())
//!     });
//!     corio_runtime::spawn(server.serve(listener));
//!
//!     let client = Client::connect(addr).await.unwrap();
//!     let answer = client.call("add", &[1, 2, 3]).await.unwrap();
//!     assert_eq!(answer, 6u32.to_be_bytes());
//! });
//! ```
//!
//! With the `serde` feature, the same call with typed values (a decode
//! failure on either side is an [`RpcError::Decode`] naming the type):
//!
//! ```
//! # #[cfg(feature = "serde")]
//! # {
//! use corio_net::net::TcpListener;
//! use corio_net::rpc::{Client, Server};
//!
//! corio_runtime::block_on(async {
//!     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
//!     let addr = listener.local_addr().unwrap();
//!     let server = Server::new().route_typed("add", |numbers: Vec<u32>, _request| async move {
//!         Ok(numbers.iter().sum::<u32>())
//!     });
//!     corio_runtime::spawn(server.serve(listener));
//!
//!     let client = Client::connect(addr).await.unwrap();
//!     let sum: u32 = client.call_typed("add", &vec![1u32, 2, 3]).await.unwrap();
//!     assert_eq!(sum, 6);
//! });
//! # }
//! ```

mod client;
mod error;
mod outbox;
mod server;
mod transport;
#[cfg(feature = "serde")]
mod typed;

pub use client::{Client, ClientBuilder};
pub use error::RpcError;
pub use server::{Request, Server, DEFAULT_MAX_IN_FLIGHT, DEFAULT_SHUTDOWN_GRACE, TASKS_METHOD};
pub use transport::Listener;
