//! corio-sim: deterministic simulation testing on the corio runtime.
//!
//! A [`World`] runs several named nodes on one thread, each a corio
//! `Runtime` of its own with its own tasks and address, connected by a
//! simulated network ([`net`]) whose streams and listeners have the shape
//! of corio's TCP types. One virtual clock serves them all, and jumps
//! straight from one event to the next. One seed decides everything that
//! could vary: the order in which each node runs its ready tasks, every
//! segment's latency, the faults ([`Chaos`]). So a seed replays exactly,
//! and the world proves it: it keeps a [digest](World::digest) of its
//! event log, and the [`Harness`] runs seeds twice and says so loudly when
//! the digests differ.
//!
//! Faults, scripted ([`Fault`], [`World::schedule`]) or drawn from the
//! seed ([`Chaos`]): a node crash (every task and socket gone at once) and
//! restart, a partition and its heal, clogged and slow links, connection
//! resets, segments delayed in flight, a stop request ([`stop_signal`]).
//!
//! # Layout
//!
//! - `world.rs`: [`World`], [`Config`], the loop, node lives (start,
//!   crash, exit), [`SimError`];
//! - `shared.rs`: what every simulated socket reaches (clock, network,
//!   nodes, log) and the current node (the sim's one thread-local);
//! - `node.rs`: node ids and addresses;
//! - `current.rs`: what a node's own code asks: [`current_node`],
//!   [`stop_signal`];
//! - [`net`]: the network (`net/mod.rs`: connections, segments, links),
//!   [`net::TcpStream`], [`net::TcpListener`], addresses;
//! - `fault.rs`: [`Fault`], [`Chaos`];
//! - `digest.rs`: the event log's [`Digest`];
//! - `harness.rs`: [`Harness`]: many seeds, the replay command, the
//!   determinism check, shrinking a failure's faults;
//! - `rng.rs`: [`Rng`].
//!
//! # How it sits on the runtime
//!
//! Three seams of `corio-runtime`, nothing else: `Builder::virtual_clock`
//! (one clock for every node), `Builder::seeded_order` (the run queue picks
//! the next ready task with a seeded generator), and
//! `Runtime::run_until_stalled` with `Runtime::enter` (run a node's ready
//! tasks without blocking or moving the clock). A crash is dropping the
//! node's runtime. `docs/SIMULATION.md` has the whole picture.
//!
//! # Example
//!
//! A server node and a client, a crash, and the client noticing:
//!
//! ```
//! use std::time::Duration;
//! use corio_net::io::{AsyncReadExt, AsyncWriteExt};
//! use corio_sim::net::{TcpListener, TcpStream};
//! use corio_sim::{Fault, World};
//!
//! let mut world = World::new(7);
//! world.node("server", || async {
//!     let listener = TcpListener::bind("0.0.0.0:9000").await.unwrap();
//!     loop {
//!         let (mut stream, _) = listener.accept().await.unwrap();
//!         corio_runtime::spawn(async move {
//!             let mut byte = [0u8; 1];
//!             while stream.read_exact(&mut byte).await.is_ok() {
//!                 if stream.write_all(&byte).await.is_err() {
//!                     break;
//!                 }
//!             }
//!         });
//!     }
//! });
//! world.schedule(Duration::from_millis(100), Fault::Crash("server".into()));
//! let result = world.client("client", async {
//!     let mut stream = TcpStream::connect("server:9000").await.unwrap();
//!     let mut echoed = 0;
//!     loop {
//!         let mut byte = [0u8; 1];
//!         let ok = stream.write_all(b"x").await.is_ok() && stream.read_exact(&mut byte).await.is_ok();
//!         if !ok {
//!             return echoed; // the crash reset the connection
//!         }
//!         echoed += 1;
//!         corio_runtime::time::sleep(Duration::from_millis(10)).await;
//!     }
//! });
//! world.run().unwrap();
//! let echoed = result.take().unwrap();
//! assert!(echoed > 3 && echoed < 10, "{echoed}");
//! println!("seed 7: {echoed} echoes, digest {}", world.digest());
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

mod current;
mod digest;
mod fault;
mod harness;
pub mod net;
mod node;
mod rng;
mod shared;
mod world;

pub use current::{current_node, stop_signal};
pub use digest::Digest;
pub use fault::{Applied, Chaos, Fault};
pub use harness::{Failure, Harness, Report, TestResult};
pub use net::NetConfig;
pub use rng::Rng;
pub use world::{ClientHandle, Config, SimError, World};
