//! 100,000 remote calls in flight at once, over one connection, on one thread.
//!
//! Run with `cargo run --release --example remote_tasks` (optionally give a
//! call count: `-- 20000`).
//!
//! The client side spawns one task per call. Each task sends a request and
//! suspends at `client.call(..).await`: it is now a small heap object that
//! sits in no queue, waiting for the reader task to find its answer. No
//! thread, no stack per call. The server handler also suspends (a 10 ms
//! `sleep` standing in for remote work), so the server holds the same calls
//! as suspended tasks of its own.
//!
//! Shortcut, labelled: the server runs on a second thread with its own
//! runtime so the demo is one command; it could just as well be another
//! process (see `rpc_kv.rs`). So the process has two OS threads: one per
//! runtime, none per call.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use corio::net::TcpListener;
use corio::rpc::{Client, Server};

fn main() {
    let calls: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let server_peak = Arc::new(AtomicUsize::new(0));
    let addr = start_server(server_peak.clone());

    corio::block_on(async move {
        let client = Client::connect(addr).await.expect("connect to the server");
        let latencies = Rc::new(RefCell::new(Vec::with_capacity(calls)));
        let suspended = Rc::new(Cell::new(0usize));
        let peak = Rc::new(Cell::new(0usize));

        let start = Instant::now();
        let tasks: Vec<_> = (0..calls as u64)
            .map(|i| {
                let (client, latencies) = (client.clone(), latencies.clone());
                let (suspended, peak) = (suspended.clone(), peak.clone());
                corio::spawn(async move {
                    let sent = Instant::now();
                    suspended.set(suspended.get() + 1);
                    peak.set(peak.get().max(suspended.get()));
                    let answer = client.call("work", &i.to_be_bytes()).await;
                    suspended.set(suspended.get() - 1);
                    assert_eq!(answer.expect("call failed"), i.to_be_bytes(), "answer for call {i}");
                    latencies.borrow_mut().push(sent.elapsed());
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("call task");
        }
        let elapsed = start.elapsed();

        let mut latencies = latencies.take();
        latencies.sort_unstable();
        let percentile = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];
        println!("{calls} remote calls over 1 connection in {elapsed:.2?}");
        println!("  throughput:       {:.0} calls/s", calls as f64 / elapsed.as_secs_f64());
        println!("  latency p50:      {:.2?}", percentile(50));
        println!("  latency p99:      {:.2?}", percentile(99));
        println!("  peak suspended:   {} client tasks waiting on the network at once", peak.get());
        println!(
            "  server peak:      {} handler tasks suspended in their sleep at once",
            server_peak.load(Ordering::Relaxed)
        );
        println!("  OS threads:       {} (client runtime + server runtime)", os_threads());
    });
}

/// Starts the server on its own thread and runtime; returns its address.
fn start_server(peak: Arc<AtomicUsize>) -> std::net::SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let sleeping = Rc::new(Cell::new(0usize));
        corio::block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            tx.send(listener.local_addr().unwrap()).unwrap();
            Server::new()
                // Every call may be in flight at once: the point of the demo.
                .max_in_flight(1_000_000)
                .route("work", move |request| {
                    let (sleeping, peak) = (sleeping.clone(), peak.clone());
                    async move {
                        sleeping.set(sleeping.get() + 1);
                        peak.fetch_max(sleeping.get(), Ordering::Relaxed);
                        corio::time::sleep(Duration::from_millis(10)).await; // stands in for real work
                        sleeping.set(sleeping.get() - 1);
                        Ok(request.into_payload())
                    }
                })
                .serve(listener)
                .await
                .expect("server failed");
        })
    });
    rx.recv().expect("server thread started")
}

/// The `Threads:` line of `/proc/self/status` (Linux); "?" elsewhere.
fn os_threads() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| line.strip_prefix("Threads:").map(|n| n.trim().to_string()))
        })
        .unwrap_or_else(|| "?".into())
}
