//! RPC round trips on one loopback connection: corio's `Client`/`Server`
//! beside the same protocol on tokio, and beside raw TCP echo.
//!
//! Each group sends 64-byte payloads with `depth` calls in flight (1, then
//! 128) and reports calls per second. Four functions per group:
//!
//! - `corio`: `corio::rpc::Client` and `Server` (a task per call on the
//!   client; on the server each handler is first polled inside the
//!   connection's reader and becomes a task only if it waits, which the
//!   echo handler never does).
//! - `tokio`: the same wire format (our `frame` codec) and the same design
//!   (a task per call and per request, a shared outgoing buffer drained by a
//!   writer task, a reader task filling the pending calls), written on
//!   tokio's current-thread runtime with a `LocalSet`. About 100 lines:
//!   no timeouts, no cancel frames, no limits.
//! - `corio_spin`: corio again, both runtimes built with
//!   `Builder::spin_before_park(250 µs)`: they poll for events before
//!   sleeping, trading a busy CPU for the cost of a thread wake-up. Not
//!   like for like with tokio (which has no such mode): it shows what the
//!   wake-ups cost on the machine at hand.
//! - `raw_tcp`: no RPC at all: the client writes `depth` request frames'
//!   bytes in one `write` and reads the same number of bytes back from a
//!   blocking echo thread (one per connection). The floor: syscalls and
//!   loopback only.
//!
//! Servers run on their own thread pinned to CPU 0 (one runtime each), the
//! clients on the bench thread pinned to CPU 1. After criterion's groups an
//! interleaved pass runs the four in turn, round after round (so a burst
//! of load from elsewhere hits all alike), and prints median calls/s with
//! min/max, the ratios, and the CPU time per call of the server's thread
//! and of the client (the bench thread), which other processes disturb
//! less than wall time and which show which side is the bottleneck. Run:
//!
//! ```text
//! cargo bench --bench rpc
//! ```
//!
//! `docs/BENCHMARKS.md` records the numbers.

#[path = "common/mod.rs"]
mod common;

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{median_min_max, own_cpu, pin_to, thread_cpu, CLIENT_CPU, SERVER_CPU};
use corio::frame::{self, Decoder, Frame, ReadBuffer};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PAYLOAD: [u8; 64] = [7; 64];

/// A server running on its own pinned thread.
struct ServerThread {
    addr: SocketAddr,
    /// Kernel id of the server's thread, for its CPU time. (The raw echo
    /// serves each connection on a thread of its own: see `RAW_ECHO_TID`.)
    tid: i32,
}

/// Kernel id of the raw echo's newest connection thread, which serves the
/// connection a peer just made (its first round trip waits for it).
static RAW_ECHO_TID: AtomicI32 = AtomicI32::new(0);

/// Runs `serve` on its own thread pinned to the server CPU.
fn start(serve: impl FnOnce(mpsc::Sender<SocketAddr>) + Send + 'static) -> ServerThread {
    let (addr, tid) = common::start_pinned_server(serve);
    ServerThread { addr, tid }
}

/// One peer's client, connected: runs `calls` calls, `depth` at a time.
enum Peer {
    Corio(corio::Runtime, corio::rpc::Client),
    Tokio(tokio::runtime::Runtime, tokio::task::LocalSet, Rc<TokioClient>),
    Raw(std::net::TcpStream, Vec<u8>, Vec<u8>),
}

impl Peer {
    fn connect(name: &str, addr: SocketAddr, depth: usize) -> Peer {
        match name {
            "corio" | "corio_spin" => {
                let runtime = corio_runtime(name == "corio_spin");
                let client = runtime.block_on(corio::rpc::Client::connect(addr)).unwrap();
                Peer::Corio(runtime, client)
            }
            "tokio" => {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                let local = tokio::task::LocalSet::new();
                let client = local.block_on(&runtime, TokioClient::connect(addr));
                Peer::Tokio(runtime, local, client)
            }
            _ => {
                let stream = std::net::TcpStream::connect(addr).unwrap();
                stream.set_nodelay(true).unwrap();
                let mut batch = Vec::new();
                for id in 0..depth as u64 {
                    frame::encode_request(&mut batch, id + 1, "echo", None, &PAYLOAD).unwrap();
                }
                let back = vec![0; batch.len()];
                let mut peer = Peer::Raw(stream, batch, back);
                // One round trip: the echo thread of this connection is
                // running (and has published its id) once it is answered.
                peer.run(1, depth);
                peer
            }
        }
    }

    /// Runs `rounds` rounds of `depth` concurrent calls; returns the time.
    fn run(&mut self, rounds: u64, depth: usize) -> Duration {
        match self {
            Peer::Corio(runtime, client) => runtime.block_on(async {
                let start = Instant::now();
                for _ in 0..rounds {
                    corio_round(client, depth).await;
                }
                start.elapsed()
            }),
            Peer::Tokio(runtime, local, client) => local.block_on(runtime, async {
                let start = Instant::now();
                for _ in 0..rounds {
                    tokio_round(client, depth).await;
                }
                start.elapsed()
            }),
            Peer::Raw(stream, batch, back) => {
                let start = Instant::now();
                for _ in 0..rounds {
                    stream.write_all(batch).unwrap();
                    stream.read_exact(back).unwrap();
                }
                start.elapsed()
            }
        }
    }
}

const PEERS: [&str; 4] = ["corio", "tokio", "raw_tcp", "corio_spin"];

/// How long `corio_spin`'s runtimes (client and server) poll for events
/// before sleeping: longer than the gap between two batches at depth 128
/// (about 100 µs here), so neither side sleeps while calls are flowing.
const SPIN: Duration = Duration::from_micros(250);

/// A corio runtime, with or without `Builder::spin_before_park`.
fn corio_runtime(spin: bool) -> corio::Runtime {
    let spin = if spin { SPIN } else { Duration::ZERO };
    corio::Runtime::builder().spin_before_park(spin).build().unwrap()
}

fn bench_rpc(c: &mut Criterion) {
    pin_to(CLIENT_CPU);
    let servers =
        [start(corio_server), start(tokio_server), start(raw_echo_server), start(corio_spin_server)];

    for depth in [1usize, 128] {
        let mut group = c.benchmark_group(format!("rpc_depth_{depth}"));
        group.sample_size(10);
        group.warm_up_time(Duration::from_secs(1));
        group.measurement_time(Duration::from_secs(3));
        group.throughput(Throughput::Elements(depth as u64));
        for (name, server) in PEERS.iter().zip(&servers) {
            let mut peer = Peer::connect(name, server.addr, depth);
            group.bench_function(*name, |b| b.iter_custom(|rounds| peer.run(rounds, depth)));
        }
        group.finish();
    }

    for depth in [1usize, 128] {
        interleaved(&servers, depth);
    }
}

/// The peers in turn, `rounds` times, each round `calls` calls: the
/// numbers `docs/BENCHMARKS.md` quotes.
fn interleaved(servers: &[ServerThread], depth: usize) {
    // Depth 1 is one loopback round trip per call (~100 µs between pinned
    // cores on the VM we measured on), so it gets fewer calls per turn.
    let (rounds, calls) = match (common::quick(), depth) {
        (true, _) => (1, 256),
        (false, 1) => (11, 4_000),
        (false, _) => (11, 64_000),
    };
    let batches = (calls / depth).max(1) as u64;
    let mut peers: Vec<Peer> =
        PEERS.iter().zip(servers).map(|(name, server)| Peer::connect(name, server.addr, depth)).collect();
    let mut rates = vec![Vec::new(); peers.len()];
    let mut cpu = vec![Vec::new(); peers.len()];
    let mut client_cpu = vec![Vec::new(); peers.len()];
    let tids: Vec<i32> = PEERS
        .iter()
        .zip(servers)
        .map(
            |(name, server)| {
                if *name == "raw_tcp" {
                    RAW_ECHO_TID.load(Ordering::Acquire)
                } else {
                    server.tid
                }
            },
        )
        .collect();
    for round in 0..rounds {
        for turn in 0..peers.len() {
            let i = (round + turn) % peers.len();
            let tid = tids[i];
            let (before, client_before) = (thread_cpu(tid), own_cpu());
            let wall = peers[i].run(batches, depth);
            let used = thread_cpu(tid).saturating_sub(before);
            let client_used = own_cpu().saturating_sub(client_before);
            let done = (batches as usize * depth) as f64;
            rates[i].push(done / wall.as_secs_f64());
            cpu[i].push(used.as_secs_f64() * 1e9 / done);
            client_cpu[i].push(client_used.as_secs_f64() * 1e9 / done);
        }
    }
    let stats: Vec<_> = rates.iter_mut().map(|r| median_min_max(r)).collect();
    println!(
        "\ninterleaved, {depth} in flight, {rounds} rounds x {} calls per peer (median [min, max]):",
        batches as usize * depth
    );
    println!(
        "  peer            calls/s (median [min, max])    server CPU/call   client CPU/call   corio / peer"
    );
    for (i, name) in PEERS.iter().enumerate() {
        let (median, min, max) = stats[i];
        let (cpu_median, _, _) = median_min_max(&mut cpu[i]);
        let (client_median, _, _) = median_min_max(&mut client_cpu[i]);
        let cpu = format!("{cpu_median:.0} ns");
        println!(
            "  {name:<8} {median:>12.0} [{min:>9.0}, {max:>9.0}] {cpu:>17} {client_median:>14.0} ns   {:>6.2}x",
            stats[0].0 / median
        );
    }
}

async fn corio_round(client: &corio::rpc::Client, depth: usize) {
    if depth == 1 {
        assert_eq!(client.call("echo", &PAYLOAD).await.unwrap().len(), 64);
        return;
    }
    let calls: Vec<_> = (0..depth)
        .map(|_| {
            let client = client.clone();
            corio::spawn(async move { client.call("echo", &PAYLOAD).await.unwrap().len() })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap(), 64);
    }
}

async fn tokio_round(client: &Rc<TokioClient>, depth: usize) {
    if depth == 1 {
        assert_eq!(client.call("echo", &PAYLOAD).await.len(), 64);
        return;
    }
    let calls: Vec<_> = (0..depth)
        .map(|_| {
            let client = client.clone();
            tokio::task::spawn_local(async move { client.call("echo", &PAYLOAD).await.len() })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap(), 64);
    }
}

fn corio_server(ready: mpsc::Sender<SocketAddr>) {
    serve_corio(ready, false)
}

fn corio_spin_server(ready: mpsc::Sender<SocketAddr>) {
    serve_corio(ready, true)
}

fn serve_corio(ready: mpsc::Sender<SocketAddr>, spin: bool) {
    corio_runtime(spin).block_on(async move {
        let listener = corio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        ready.send(listener.local_addr().unwrap()).unwrap();
        corio::rpc::Server::new()
            .route("echo", |request| async move { Ok(request.into_payload()) })
            .serve(listener)
            .await
            .unwrap();
    })
}

fn raw_echo_server(ready: mpsc::Sender<SocketAddr>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    ready.send(listener.local_addr().unwrap()).unwrap();
    for stream in listener.incoming() {
        let mut stream = stream.unwrap();
        stream.set_nodelay(true).unwrap();
        std::thread::spawn(move || {
            pin_to(SERVER_CPU);
            RAW_ECHO_TID.store(common::thread_id(), Ordering::Release);
            let mut buf = vec![0; 64 * 1024];
            while let Ok(n @ 1..) = stream.read(&mut buf) {
                if stream.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
    }
}

// ---- The same protocol on tokio (current-thread runtime + LocalSet) ----

/// A shared outgoing buffer and the `Notify` that wakes its writer task.
#[derive(Default)]
struct TokioOutbox {
    buffer: RefCell<Vec<u8>>,
    ready: tokio::sync::Notify,
}

impl TokioOutbox {
    fn push(&self, frame: Frame<'_>) {
        frame.encode(&mut self.buffer.borrow_mut()).unwrap();
        self.ready.notify_one();
    }

    async fn run(self: Rc<Self>, mut writer: tokio::net::tcp::OwnedWriteHalf) {
        let mut batch = Vec::new();
        loop {
            self.ready.notified().await;
            std::mem::swap(&mut *self.buffer.borrow_mut(), &mut batch);
            if writer.write_all(&batch).await.is_err() {
                return;
            }
            batch.clear();
        }
    }
}

/// Reads frames from `reader` and hands each to `on_frame`.
/// Decodes with `Decoder::peek` (no copy of what it does not keep), as
/// corio's client and server do.
async fn tokio_read_frames(mut reader: tokio::net::tcp::OwnedReadHalf, mut on_frame: impl FnMut(Frame<'_>)) {
    let mut buffer = ReadBuffer::with_capacity(64 * 1024);
    let decoder = Decoder::new();
    loop {
        match reader.read(buffer.unfilled()).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.advance(n),
        }
        while let Ok(Some((frame, size))) = decoder.peek(&buffer) {
            on_frame(frame);
            buffer.consume(size);
        }
    }
}

fn tokio_server(ready: mpsc::Sender<SocketAddr>) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        ready.send(listener.local_addr().unwrap()).unwrap();
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            stream.set_nodelay(true).unwrap();
            let (reader, writer) = stream.into_split();
            let outbox = Rc::new(TokioOutbox::default());
            tokio::task::spawn_local(outbox.clone().run(writer));
            tokio::task::spawn_local(tokio_read_frames(reader, move |frame| {
                if let Frame::Request { id, payload, .. } = frame {
                    // A task per request, owning its payload: the plain tokio design
                    // (corio's server spawns one only for a handler that waits).
                    let outbox = outbox.clone();
                    let payload = payload.to_vec();
                    tokio::task::spawn_local(async move {
                        outbox.push(Frame::Response { id, payload: payload.into() })
                    });
                }
            }));
        }
    });
}

/// Calls waiting for their answer, by id; the same hasher as corio's client.
type PendingCalls = foldhash::HashMap<u64, tokio::sync::oneshot::Sender<Vec<u8>>>;

struct TokioClient {
    outbox: Rc<TokioOutbox>,
    pending: Rc<RefCell<PendingCalls>>,
    next_id: Cell<u64>,
}

impl TokioClient {
    async fn connect(addr: SocketAddr) -> Rc<TokioClient> {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let (reader, writer) = stream.into_split();
        let outbox = Rc::new(TokioOutbox::default());
        tokio::task::spawn_local(outbox.clone().run(writer));
        let pending: Rc<RefCell<PendingCalls>> = Rc::default();
        let filled = pending.clone();
        tokio::task::spawn_local(tokio_read_frames(reader, move |frame| {
            if let Frame::Response { id, payload } = frame {
                if let Some(waiter) = filled.borrow_mut().remove(&id) {
                    let _ = waiter.send(payload.into_owned());
                }
            }
        }));
        Rc::new(TokioClient { outbox, pending, next_id: Cell::new(1) })
    }

    async fn call(&self, method: &str, payload: &[u8]) -> Vec<u8> {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.pending.borrow_mut().insert(id, tx);
        frame::encode_request(&mut self.outbox.buffer.borrow_mut(), id, method, None, payload).unwrap();
        self.outbox.ready.notify_one();
        rx.await.unwrap()
    }
}

criterion_group!(benches, bench_rpc);
criterion_main!(benches);
