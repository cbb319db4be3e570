//! A fixed RPC workload for instruction-count profiling: `rounds` rounds of
//! `depth` concurrent echo calls (64-byte payloads) on one loopback
//! connection, client on this thread, server on a second one, each with its
//! own corio runtime, as `benches/rpc.rs` runs them.
//!
//! Under `valgrind --tool=callgrind` (which counts both threads) the
//! difference between two round counts, divided by the calls between them,
//! is the cost of one call with start-up cancelled out:
//!
//! ```text
//! cargo build --release --example rpc_profile
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.300 target/release/examples/rpc_profile 300
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.100 target/release/examples/rpc_profile 100
//! # instructions per call = (Ir(300) - Ir(100)) / (200 * 128)
//! ```
//!
//! Arguments: `rounds` (default 100), `depth` (default 128).

use std::net::SocketAddr;

use corio::net::TcpListener;
use corio::rpc::{Client, Server};

const PAYLOAD: [u8; 64] = [7; 64];

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>().expect("a number"));
    let rounds = args.next().unwrap_or(100);
    let depth = args.next().unwrap_or(128);
    let (tx, rx) = std::sync::mpsc::channel::<SocketAddr>();
    std::thread::spawn(move || {
        corio::block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            Server::new()
                .route("echo", |request| async move { Ok(request.into_payload()) })
                .serve(listener)
                .await
                .unwrap();
        })
    });
    let addr = rx.recv().unwrap();
    corio::block_on(async move {
        let client = Client::connect(addr).await.unwrap();
        for _ in 0..rounds {
            let calls: Vec<_> = (0..depth)
                .map(|_| {
                    let client = client.clone();
                    corio::spawn(async move { client.call("echo", &PAYLOAD).await.unwrap().len() })
                })
                .collect();
            for call in calls {
                assert_eq!(call.await.unwrap(), PAYLOAD.len());
            }
        }
    });
    println!("{} calls", rounds * depth);
}
