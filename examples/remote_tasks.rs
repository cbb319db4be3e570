//! 100,000 remote calls in flight at once, over one connection, on one thread.
//!
//! Run with `cargo run --release --example remote_tasks` (optionally give a
//! call count: `-- 20000`).
//!
//! To see the coroutines suspend and resume, record a trace of a small run
//! and open it in <https://ui.perfetto.dev> (or `chrome://tracing`):
//!
//! ```text
//! cargo run --release --example remote_tasks -- 20 --trace target/remote_tasks.json
//! cargo run --release --example trace_plot -- target/remote_tasks.json target/remote_tasks.svg
//! ```
//!
//! Both runtimes write to the one file, one process each: every call task
//! on the client's row of tasks, the handlers on the server's, a bar per
//! poll, and arrows from whatever woke each poll (the reader task that
//! found the answer, the socket that became readable, the handler's timer).
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
use std::future::poll_fn;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use corio::net::TcpListener;
use corio::rpc::{Client, Server};
use corio::Runtime;

fn main() {
    let (calls, trace) = parse_args();
    let server_peak = Arc::new(AtomicUsize::new(0));
    let (addr, stop, server) = start_server(server_peak.clone(), trace.clone());

    runtime(trace.as_ref()).block_on(async move {
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
    // Stop the server gracefully, so that its runtime ends too (and writes
    // its half of a trace).
    stop.raise();
    server.join().expect("server thread");
}

/// `[CALLS] [--trace PATH]`.
fn parse_args() -> (usize, Option<PathBuf>) {
    let (mut calls, mut trace) = (100_000, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--trace" => trace = Some(PathBuf::from(args.next().expect("--trace needs a path"))),
            n => calls = n.parse().expect("usage: remote_tasks [CALLS] [--trace PATH]"),
        }
    }
    (calls, trace)
}

/// A runtime, recording a trace to `trace` if given.
fn runtime(trace: Option<&PathBuf>) -> Runtime {
    let builder = Runtime::builder();
    let builder = match trace {
        Some(path) => builder.trace(path),
        None => builder,
    };
    builder.build().expect("runtime")
}

/// Starts the server on its own thread and runtime; returns its address,
/// what stops it, and its thread.
fn start_server(
    peak: Arc<AtomicUsize>,
    trace: Option<PathBuf>,
) -> (std::net::SocketAddr, Stop, std::thread::JoinHandle<()>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let stop = Stop::default();
    let stopped = stop.clone();
    let server = std::thread::Builder::new().name("server".into()).spawn(move || {
        let sleeping = Rc::new(Cell::new(0usize));
        runtime(trace.as_ref()).block_on(async move {
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
                .serve_with_shutdown(listener, stopped.wait())
                .await
                .expect("server failed");
        })
    });
    let server = server.expect("server thread");
    (rx.recv().expect("server thread started"), stop, server)
}

/// Stops the server from the main thread: a flag, and the waker of the
/// task awaiting it (a `Waker` may be woken from any thread).
#[derive(Clone, Default)]
struct Stop(Arc<Mutex<(bool, Option<Waker>)>>);

impl Stop {
    fn raise(&self) {
        let waker = {
            let mut state = self.0.lock().unwrap();
            state.0 = true;
            state.1.take()
        };
        if let Some(waker) = waker {
            waker.wake(); // after the lock is released
        }
    }

    async fn wait(self) {
        poll_fn(|cx| {
            let mut state = self.0.lock().unwrap();
            if state.0 {
                return Poll::Ready(());
            }
            state.1 = Some(cx.waker().clone());
            Poll::Pending
        })
        .await;
    }
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
