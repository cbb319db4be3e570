//! RPC round trips on one loopback connection: corio's `Client`/`Server`
//! beside the same protocol on tokio, and beside raw TCP echo.
//!
//! Each group sends 64-byte payloads with `depth` calls in flight (1, then
//! 128) and reports calls per second. Three functions per group:
//!
//! - `corio`: `corio::rpc::Client` and `Server` (a task per call on the
//!   client, a task per request on the server).
//! - `tokio`: the same wire format (our `frame` codec) and the same design
//!   (a task per call and per request, a shared outgoing buffer drained by a
//!   writer task, a reader task filling the pending calls), written on
//!   tokio's current-thread runtime with a `LocalSet`. About 100 lines:
//!   no timeouts, no cancel frames, no limits.
//! - `raw_tcp`: no RPC at all: the client writes `depth` request frames'
//!   bytes in one `write` and reads the same number of bytes back from a
//!   blocking echo thread. The floor: syscalls and loopback only.
//!
//! Servers run on their own thread (one runtime each), clients on the
//! bench thread. Run:
//!
//! ```text
//! cargo bench --bench rpc -- --noplot
//! ```
//!
//! `docs/BENCHMARKS.md` records the numbers.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio::frame::{self, Decoder, Frame, ReadBuffer};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PAYLOAD: [u8; 64] = [7; 64];

fn bench_rpc(c: &mut Criterion) {
    let corio_addr = corio_server();
    let tokio_addr = tokio_server();
    let echo_addr = raw_echo_server();

    for depth in [1usize, 128] {
        let mut group = c.benchmark_group(format!("rpc_depth_{depth}"));
        group.sample_size(10);
        group.warm_up_time(Duration::from_secs(1));
        group.measurement_time(Duration::from_secs(3));
        group.throughput(Throughput::Elements(depth as u64));

        let runtime = corio::Runtime::new().unwrap();
        let client = runtime.block_on(corio::rpc::Client::connect(corio_addr)).unwrap();
        group.bench_function("corio", |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        corio_round(&client, depth).await;
                    }
                    start.elapsed()
                })
            })
        });

        let tokio_rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let local = tokio::task::LocalSet::new();
        let client = local.block_on(&tokio_rt, TokioClient::connect(tokio_addr));
        group.bench_function("tokio", |b| {
            b.iter_custom(|iters| {
                local.block_on(&tokio_rt, async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        tokio_round(&client, depth).await;
                    }
                    start.elapsed()
                })
            })
        });

        let mut stream = std::net::TcpStream::connect(echo_addr).unwrap();
        stream.set_nodelay(true).unwrap();
        let mut batch = Vec::new();
        for id in 0..depth as u64 {
            frame::encode_request(&mut batch, id + 1, "echo", None, &PAYLOAD).unwrap();
        }
        let mut back = vec![0; batch.len()];
        group.bench_function("raw_tcp", |b| {
            b.iter(|| {
                stream.write_all(&batch).unwrap();
                stream.read_exact(&mut back).unwrap();
            })
        });
        group.finish();
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

fn corio_server() -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        corio::block_on(async move {
            let listener = corio::net::TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            corio::rpc::Server::new()
                .route("echo", |request| async move { Ok(request.into_payload()) })
                .serve(listener)
                .await
                .unwrap();
        })
    });
    rx.recv().unwrap()
}

fn raw_echo_server() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            stream.set_nodelay(true).unwrap();
            std::thread::spawn(move || {
                let mut buf = vec![0; 64 * 1024];
                while let Ok(n @ 1..) = stream.read(&mut buf) {
                    if stream.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

// ---- The same protocol on tokio (current-thread runtime + LocalSet) ----

/// A shared outgoing buffer and the `Notify` that wakes its writer task.
#[derive(Default)]
struct TokioOutbox {
    buffer: RefCell<Vec<u8>>,
    ready: tokio::sync::Notify,
}

impl TokioOutbox {
    fn push(&self, frame: &Frame) {
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
async fn tokio_read_frames(mut reader: tokio::net::tcp::OwnedReadHalf, mut on_frame: impl FnMut(Frame)) {
    let mut buffer = ReadBuffer::with_capacity(64 * 1024);
    loop {
        match reader.read(buffer.unfilled()).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.filled(n),
        }
        while let Ok(Some(frame)) = Decoder::new().decode(&mut buffer) {
            on_frame(frame);
        }
    }
}

fn tokio_server() -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                stream.set_nodelay(true).unwrap();
                let (reader, writer) = stream.into_split();
                let outbox = Rc::new(TokioOutbox::default());
                tokio::task::spawn_local(outbox.clone().run(writer));
                tokio::task::spawn_local(tokio_read_frames(reader, move |frame| {
                    if let Frame::Request { id, payload, .. } = frame {
                        // A task per request, as the corio server does.
                        let outbox = outbox.clone();
                        tokio::task::spawn_local(
                            async move { outbox.push(&Frame::Response { id, payload }) },
                        );
                    }
                }));
            }
        });
    });
    rx.recv().unwrap()
}

struct TokioClient {
    outbox: Rc<TokioOutbox>,
    pending: Rc<RefCell<HashMap<u64, tokio::sync::oneshot::Sender<Vec<u8>>>>>,
    next_id: Cell<u64>,
}

impl TokioClient {
    async fn connect(addr: SocketAddr) -> Rc<TokioClient> {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let (reader, writer) = stream.into_split();
        let outbox = Rc::new(TokioOutbox::default());
        tokio::task::spawn_local(outbox.clone().run(writer));
        let pending: Rc<RefCell<HashMap<u64, tokio::sync::oneshot::Sender<Vec<u8>>>>> = Rc::default();
        let filled = pending.clone();
        tokio::task::spawn_local(tokio_read_frames(reader, move |frame| {
            if let Frame::Response { id, payload } = frame {
                if let Some(waiter) = filled.borrow_mut().remove(&id) {
                    let _ = waiter.send(payload);
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
