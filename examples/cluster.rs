//! A coordinator fans work out to 3 worker nodes over corio RPC, and loses
//! none of it when one worker dies mid-run.
//!
//! Run with `cargo run --example cluster` (optionally give an item count:
//! `-- 1000`). With `--trace FILE` every runtime (the coordinator's and the
//! three workers') records a trace into FILE, one process each on one time
//! axis; open it in <https://ui.perfetto.dev> to see the killed worker's
//! calls fail and move to the others (`cargo run --example cluster -- 60
//! --trace target/cluster.json`).
//!
//! Each work item is "the sum of the squares of a range of integers". The
//! coordinator, one task per item on one thread, sends items round-robin to
//! the workers, keeping a window of them in flight at once. When half the
//! results are in, it kills worker 1: that worker's runtime is dropped on
//! the spot, as in a crash, so its connection closes under the calls still
//! running there. Those calls fail with `ConnectionClosed` (or an I/O error);
//! the coordinator marks the worker down and sends each failed item to the
//! next live worker. At the end it prints items per worker, retries and
//! failures, and checks the total against a closed-form sum computed locally.
//!
//! Shortcuts, labelled: the workers run on threads of this process, each
//! with its own corio runtime and its own port, so the demo is one command;
//! they could be other machines. The handler's short `sleep` stands in for
//! real latency, so that calls overlap and the kill lands mid-flight.
//! `tests/cluster.rs` runs this file's [`run`] with smaller settings.

use std::cell::Cell;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use corio::net::TcpListener;
use corio::rpc::{Client, RpcError, Server};
use corio::sync::Semaphore;

/// Integers per work item: item `i` is the range `i * SPAN .. (i + 1) * SPAN`.
pub const SPAN: u64 = 10_000;

/// How long a call may take before the coordinator gives up on it.
const CALL_DEADLINE: Duration = Duration::from_secs(2);

fn main() -> ExitCode {
    let (mut items, mut trace) = (300, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--trace" => trace = args.next().map(PathBuf::from),
            n => items = n.parse().expect("usage: cluster [ITEMS] [--trace FILE]"),
        }
    }
    let config = Config { items, kill_after: Some(items / 2), trace, ..Config::default() };
    let summary = run(&config);
    println!(
        "cluster: {} items over {} workers, worker {} killed after {} results",
        config.items,
        config.workers,
        config.victim,
        config.kill_after.unwrap_or(0)
    );
    for (worker, served) in summary.per_worker.iter().enumerate() {
        let note = if summary.killed == Some(worker) { "  (killed)" } else { "" };
        println!("  worker {worker}: {served:>4} items{note}");
    }
    println!("  retries:  {:>4} (failed calls sent again to a live worker)", summary.retries);
    println!("  failures: {:>4}", summary.failures);
    let verdict = if summary.total == summary.expected { "matches" } else { "DOES NOT match" };
    println!(
        "  result:   sum of k^2 for k < {} = {} ({verdict} the local closed form)",
        config.items as u64 * SPAN,
        summary.total
    );
    println!("  time:     {:.1?}", summary.elapsed);
    if summary.failures == 0 && summary.total == summary.expected {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Work items to compute.
    pub items: usize,
    /// Worker nodes to start.
    pub workers: usize,
    /// Items in flight at once, across all workers.
    pub window: usize,
    /// Kill `victim` once this many items are done (checked as each item is
    /// sent; `Some(0)`: before the first call).
    pub kill_after: Option<usize>,
    /// The worker to kill.
    pub victim: usize,
    /// Simulated latency of each item on a worker.
    pub work_delay: Duration,
    /// Record a trace of every runtime into this file.
    pub trace: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            items: 300,
            workers: 3,
            window: 30,
            kill_after: None,
            victim: 1,
            work_delay: Duration::from_millis(3),
            trace: None,
        }
    }
}

/// What happened.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Items whose result came from each worker.
    pub per_worker: Vec<usize>,
    /// Calls that failed and were sent again to another worker.
    pub retries: usize,
    /// Items no worker could compute.
    pub failures: usize,
    /// The worker that was killed, if the kill happened.
    pub killed: Option<usize>,
    /// The sum of every result.
    pub total: u128,
    /// The same sum, computed locally.
    pub expected: u128,
    /// Wall time of the run, workers' start-up excluded.
    pub elapsed: Duration,
}

/// Starts the workers, runs the coordinator, stops the workers.
pub fn run(config: &Config) -> Summary {
    let workers: Vec<Worker> =
        (0..config.workers).map(|i| Worker::start(i, config.work_delay, config.trace.clone())).collect();
    let addrs: Vec<SocketAddr> = workers.iter().map(|w| w.addr).collect();
    let kill = |victim: usize| workers[victim].kill.raise();
    let summary = runtime(config.trace.as_ref()).block_on(coordinate(config, &addrs, kill));
    for worker in workers {
        worker.stop.raise();
        worker.thread.join().expect("worker thread panicked");
    }
    summary
}

/// One worker node as the coordinator's thread sees it.
struct Worker {
    addr: SocketAddr,
    /// Graceful: finish what is running, then exit.
    stop: Signal,
    /// Abrupt: drop the worker's runtime with everything in it.
    kill: Signal,
    thread: std::thread::JoinHandle<()>,
}

impl Worker {
    fn start(index: usize, work_delay: Duration, trace: Option<PathBuf>) -> Worker {
        let (stop, kill) = (Signal::default(), Signal::default());
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop_here, kill_here) = (stop.clone(), kill.clone());
        let thread = std::thread::Builder::new().name(format!("worker {index}"));
        let thread = thread.spawn(move || {
            runtime(trace.as_ref()).block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
                tx.send(listener.local_addr().unwrap()).unwrap();
                let server = worker_server(move |_| work_delay);
                let serving = server.serve_with_shutdown(listener, stop_here.wait());
                // Killed: return now. `block_on` drops the runtime, and with
                // it every task and socket, like a crashed process would.
                let _ = corio::race(serving, kill_here.wait()).await;
            })
        });
        let thread = thread.expect("worker thread");
        let addr = rx.recv().expect("worker started");
        Worker { addr, stop, kill, thread }
    }
}

/// A worker's RPC server: one route, `sum_squares`, whose handler waits
/// `delay(start)` (standing in for real latency) and answers the sum.
/// `examples/sim_cluster.rs` runs this same server in a simulated world.
pub fn worker_server(delay: impl Fn(u64) -> Duration + 'static) -> Server {
    let delay = Rc::new(delay);
    Server::new().route("sum_squares", move |request| {
        let delay = delay.clone();
        async move {
            let (start, end) = decode_range(request.payload())?;
            corio::time::sleep(delay(start)).await;
            Ok(sum_of_squares(start, end).to_be_bytes().to_vec())
        }
    })
}

/// A runtime, recording a trace into `trace` if given. A killed worker's
/// runtime is dropped like the others, so its part of the trace is written
/// too.
fn runtime(trace: Option<&PathBuf>) -> corio::Runtime {
    let builder = corio::Runtime::builder();
    let builder = match trace {
        Some(path) => builder.trace(path),
        None => builder,
    };
    builder.build().expect("runtime")
}

/// The coordinator: one task per item, at most `window` in flight.
async fn coordinate(config: &Config, addrs: &[SocketAddr], kill: impl Fn(usize)) -> Summary {
    let mut nodes = Vec::new();
    for &addr in addrs {
        let client = Client::connect(addr).await.expect("connect to a worker");
        nodes.push(Node { client, up: Cell::new(true), served: Cell::new(0) });
    }
    let state = Rc::new(Coordinator {
        nodes,
        retries: Cell::new(0),
        failures: Cell::new(0),
        done: Cell::new(0),
        cursor: Cell::new(0),
    });
    let window = Rc::new(Semaphore::new(config.window.max(1)));
    let mut killed = None;
    if config.kill_after == Some(0) {
        kill(config.victim);
        killed = Some(config.victim);
    }

    let start = Instant::now();
    let mut tasks = Vec::with_capacity(config.items);
    for item in 0..config.items {
        let permit = window.clone().acquire_owned().await.expect("window never closes");
        if killed.is_none() && config.kill_after.is_some_and(|after| state.done.get() >= after) {
            kill(config.victim);
            killed = Some(config.victim);
        }
        let state = state.clone();
        tasks.push(corio::spawn(async move {
            let answer = state.compute(item).await;
            state.done.set(state.done.get() + 1);
            drop(permit);
            answer
        }));
    }
    let mut total = 0u128;
    for task in tasks {
        total += task.await.expect("item task").unwrap_or(0);
    }
    let n = config.items as u64 * SPAN;
    Summary {
        per_worker: state.nodes.iter().map(|node| node.served.get()).collect(),
        retries: state.retries.get(),
        failures: state.failures.get(),
        killed,
        total,
        expected: sum_of_squares_closed_form(n),
        elapsed: start.elapsed(),
    }
}

/// The coordinator's shared state; every task of its thread holds an `Rc`.
struct Coordinator {
    nodes: Vec<Node>,
    retries: Cell<usize>,
    failures: Cell<usize>,
    /// Items finished (answered or failed for good).
    done: Cell<usize>,
    /// Where the rotation of [`Coordinator::pick`] stands.
    cursor: Cell<usize>,
}

struct Node {
    client: Client,
    /// Cleared at the first sign the worker is gone; no more calls go there.
    up: Cell<bool>,
    served: Cell<usize>,
}

impl Coordinator {
    /// Computes `item` on its round-robin worker; each time a call fails,
    /// sends it again to another live worker. `None` if no worker could.
    async fn compute(&self, item: usize) -> Option<u128> {
        let start = item as u64 * SPAN;
        let payload = [start.to_be_bytes(), (start + SPAN).to_be_bytes()].concat();
        let mut preferred = Some(item);
        for _ in 0..2 * self.nodes.len() {
            let index = self.pick(preferred)?;
            let node = &self.nodes[index];
            match node.client.call_with_deadline("sum_squares", &payload, CALL_DEADLINE).await {
                Ok(answer) => match <[u8; 16]>::try_from(answer.as_slice()) {
                    Ok(bytes) => {
                        node.served.set(node.served.get() + 1);
                        return Some(u128::from_be_bytes(bytes));
                    }
                    Err(_) => eprintln!("worker {index}: answer of {} bytes for item {item}", answer.len()),
                },
                Err(error) if is_node_down(&error) => {
                    if node.up.replace(false) {
                        eprintln!("worker {index} is down ({error}): its items go to the others");
                    }
                }
                Err(error) => eprintln!("worker {index}: item {item} failed ({error})"),
            }
            self.retries.set(self.retries.get() + 1);
            preferred = None; // another worker, from the rotation
        }
        self.failures.set(self.failures.get() + 1);
        None
    }

    /// The `preferred` worker (modulo their number) if it is up, else the
    /// next live one in a rotation shared by all items, so the work of a
    /// dead worker spreads evenly over the others. `None` (and counted as a
    /// failure) when every worker is down.
    fn pick(&self, preferred: Option<usize>) -> Option<usize> {
        let n = self.nodes.len();
        if let Some(index) = preferred.map(|p| p % n).filter(|&i| self.nodes[i].up.get()) {
            return Some(index);
        }
        let found =
            (0..n).map(|_| self.cursor.replace(self.cursor.get() + 1) % n).find(|&i| self.nodes[i].up.get());
        if found.is_none() {
            self.failures.set(self.failures.get() + 1);
        }
        found
    }
}

/// Errors after which the worker takes no more calls.
fn is_node_down(error: &RpcError) -> bool {
    matches!(error, RpcError::ConnectionClosed | RpcError::Io(_) | RpcError::Protocol(_))
        || error.code() == corio::frame::code::SHUTTING_DOWN
}

pub fn decode_range(payload: &[u8]) -> Result<(u64, u64), RpcError> {
    let bad = || RpcError::Decode { type_name: "(u64, u64)".into(), reason: "expected 16 bytes".into() };
    let bytes: [u8; 16] = payload.try_into().map_err(|_| bad())?;
    let (start, end) = bytes.split_at(8);
    Ok((u64::from_be_bytes(start.try_into().unwrap()), u64::from_be_bytes(end.try_into().unwrap())))
}

/// The work: sum of `k^2` for `k` in `start..end`, the slow way.
pub fn sum_of_squares(start: u64, end: u64) -> u128 {
    (start..end).map(|k| u128::from(k) * u128::from(k)).sum()
}

/// Sum of `k^2` for `k < n`: `(n - 1) n (2n - 1) / 6`.
pub fn sum_of_squares_closed_form(n: u64) -> u128 {
    let n = u128::from(n);
    if n == 0 {
        return 0;
    }
    (n - 1) * n * (2 * n - 1) / 6
}

/// A flag any thread may raise and one task awaits. Wakers are `Send +
/// Sync`, so a `Mutex` and a stored `Waker` is all a cross-thread signal needs.
#[derive(Clone, Default)]
struct Signal(Arc<Mutex<(bool, Option<Waker>)>>);

impl Signal {
    fn raise(&self) {
        let waker = {
            let mut state = self.0.lock().unwrap();
            state.0 = true;
            state.1.take()
        };
        // Woken after the lock is released.
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    async fn wait(self) {
        poll_fn(|cx| {
            let mut state = self.0.lock().unwrap();
            if state.0 {
                return Poll::Ready(());
            }
            // `clone_from` replaces the stored waker only if it would wake
            // another task (it checks `will_wake` first).
            match &mut state.1 {
                Some(waker) => waker.clone_from(cx.waker()),
                empty => *empty = Some(cx.waker().clone()),
            }
            Poll::Pending
        })
        .await;
    }
}
