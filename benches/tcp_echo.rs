//! TCP echo: corio vs tokio (current_thread) vs a hand-written mio loop.
//!
//! Three echo servers, each on its own thread pinned to CPU 0, serve the same
//! load generator, a mio event loop on the bench thread pinned to CPU 1:
//! N connections (50, then 1,000), 64-byte messages, one round trip in
//! flight per connection. A sample is the time for a batch of round trips;
//! criterion reports round trips per second ("elem/s").
//!
//! * `corio`: `TcpListener::accept` loop, one task per connection,
//!   `read` up to 4 KiB then `write_all`.
//! * `tokio`: the same program on tokio's current-thread runtime.
//! * `mio`: one thread, one `mio::Poll`, connections in a `Vec`, read until
//!   `WouldBlock` and write back: no futures, no wakers, no tasks. It is the
//!   floor: what a runtime costs is the distance from it.
//!
//! After criterion, an *interleaved* pass runs the servers in turns, round
//! by round, and prints for each the median round trips/s, the server
//! thread's CPU time per round trip, and the load generator's own CPU time
//! per round trip and utilisation (its CPU time over wall time). The load
//! generator is one thread too: when it is busy about all of the time and
//! busier than the server, it, not the server, sets the pace, and the row
//! says "client-bound".
//!
//! ```text
//! cargo bench --bench tcp_echo
//! cargo bench --bench tcp_echo -- --test      # each benchmark once, as a smoke test
//! ```
//!
//! Results and their reading: `docs/BENCHMARKS.md`.

use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[path = "common/mod.rs"]
mod common;

use common::{own_cpu, pin_to, thread_cpu, CLIENT_CPU};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mio::net::{TcpListener as MioListener, TcpStream as MioStream};
use mio::{Events, Interest, Poll, Token};

const MESSAGE: usize = 64;
fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A server function: binds, sends its address, serves forever.
type Serve = fn(mpsc::Sender<SocketAddr>);

/// A running server: its address and its thread's CPU clock.
struct ServerThread {
    name: &'static str,
    addr: SocketAddr,
    /// The server thread's id, to read its CPU time.
    tid: i32,
}

/// Starts a server on its own pinned thread. The thread serves until the
/// process exits.
fn start_server(name: &'static str, serve: Serve) -> ServerThread {
    let (addr, tid) = common::start_pinned_server(serve);
    ServerThread { name, addr, tid }
}

/// A thread counts as saturated at this share of one CPU: the rest is
/// interrupts, scheduling, and the reading's own granularity.
const SATURATED: f64 = 0.9;

/// Names the side that sets the pace, from each side's median CPU
/// utilisation (CPU time over wall time, 1.0 = one whole CPU).
fn verdict(server_util: f64, client_util: f64) -> &'static str {
    if client_util >= SATURATED && client_util > server_util {
        "client-bound"
    } else if server_util >= SATURATED && server_util > client_util {
        "server-bound"
    } else {
        "neither saturated"
    }
}

fn corio_server(ready: mpsc::Sender<SocketAddr>) {
    use corio::io::{AsyncReadExt, AsyncWriteExt};
    corio::block_on(async move {
        let listener = corio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        ready.send(listener.local_addr().unwrap()).unwrap();
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            stream.set_nodelay(true).unwrap();
            corio::spawn(async move {
                let mut buf = [0u8; 4096];
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if stream.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
}

fn tokio_server(ready: mpsc::Sender<SocketAddr>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio::runtime::Builder::new_current_thread().enable_io().build().unwrap();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(localhost()).await.unwrap();
        ready.send(listener.local_addr().unwrap()).unwrap();
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            stream.set_nodelay(true).unwrap();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if stream.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
}

/// The overhead floor: a plain edge-triggered mio loop.
fn mio_server(ready: mpsc::Sender<SocketAddr>) {
    const LISTENER: Token = Token(usize::MAX);
    struct Conn {
        stream: MioStream,
        /// Bytes read but not yet written back (when the socket was full).
        pending: Vec<u8>,
    }
    let mut poll = Poll::new().unwrap();
    let mut events = Events::with_capacity(1024);
    let mut listener = MioListener::bind(localhost()).unwrap();
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE).unwrap();
    ready.send(listener.local_addr().unwrap()).unwrap();
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        poll.poll(&mut events, None).unwrap();
        for event in events.iter() {
            if event.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            stream.set_nodelay(true).unwrap();
                            let token = Token(conns.len());
                            poll.registry()
                                .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
                                .unwrap();
                            conns.push(Some(Conn { stream, pending: Vec::new() }));
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) => panic!("accept: {e}"),
                    }
                }
                continue;
            }
            let index = event.token().0;
            let Some(conn) = conns[index].as_mut() else { continue };
            let mut closed = false;
            // Flush what a full socket left behind, then read until WouldBlock.
            if !conn.pending.is_empty() {
                match conn.stream.write(&conn.pending) {
                    Ok(n) => drop(conn.pending.drain(..n)),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                    Err(_) => closed = true,
                }
            }
            while !closed && conn.pending.is_empty() {
                match conn.stream.read(&mut buf) {
                    Ok(0) => closed = true,
                    Ok(n) => match conn.stream.write(&buf[..n]) {
                        Ok(written) => conn.pending.extend_from_slice(&buf[written..n]),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            conn.pending.extend_from_slice(&buf[..n])
                        }
                        Err(_) => closed = true,
                    },
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => closed = true,
                }
            }
            if closed {
                conns[index] = None;
            }
        }
    }
}

/// The load generator: a mio loop holding `n` connections, one 64-byte
/// round trip in flight on each.
struct LoadGenerator {
    poll: Poll,
    events: Events,
    conns: Vec<(MioStream, usize)>,
}

impl LoadGenerator {
    fn connect(addr: SocketAddr, n: usize) -> LoadGenerator {
        let poll = Poll::new().unwrap();
        let conns = (0..n)
            .map(|i| {
                let stream = std::net::TcpStream::connect(addr).unwrap();
                stream.set_nodelay(true).unwrap();
                stream.set_nonblocking(true).unwrap();
                let mut stream = MioStream::from_std(stream);
                poll.registry().register(&mut stream, Token(i), Interest::READABLE).unwrap();
                (stream, 0)
            })
            .collect();
        LoadGenerator { poll, events: Events::with_capacity(1024), conns }
    }

    /// Runs `round_trips` round trips; returns the time taken.
    fn run(&mut self, round_trips: u64) -> Duration {
        let request = [7u8; MESSAGE];
        let mut buf = [0u8; 4096];
        let started = Instant::now();
        let mut issued = 0;
        let mut done = 0;
        for (stream, _) in &mut self.conns {
            if issued == round_trips {
                break;
            }
            assert_eq!(stream.write(&request).unwrap(), MESSAGE);
            issued += 1;
        }
        while done < round_trips {
            self.poll.poll(&mut self.events, None).unwrap();
            for event in self.events.iter() {
                let (stream, received) = &mut self.conns[event.token().0];
                loop {
                    match stream.read(&mut buf) {
                        Ok(0) => panic!("server closed the connection"),
                        Ok(n) => *received += n,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) => panic!("read: {e}"),
                    }
                }
                while *received >= MESSAGE {
                    *received -= MESSAGE;
                    done += 1;
                    if issued < round_trips {
                        assert_eq!(stream.write(&request).unwrap(), MESSAGE);
                        issued += 1;
                    }
                }
            }
        }
        started.elapsed()
    }
}

fn echo(c: &mut Criterion) {
    pin_to(CLIENT_CPU);
    let servers = [("corio", corio_server as Serve), ("tokio", tokio_server), ("mio", mio_server)]
        .map(|(name, serve)| start_server(name, serve));

    for connections in [50usize, 1000] {
        let mut group = c.benchmark_group(format!("tcp_echo/{connections}_connections"));
        group.sample_size(10);
        group.warm_up_time(Duration::from_secs(1));
        group.measurement_time(Duration::from_secs(3));
        group.throughput(Throughput::Elements(1));
        for server in &servers {
            let mut client = LoadGenerator::connect(server.addr, connections);
            group.bench_function(BenchmarkId::from_parameter(server.name), |b| {
                b.iter_custom(|round_trips| client.run(round_trips))
            });
        }
        group.finish();
    }

    let quick = common::quick();
    for connections in [50usize, 1000] {
        interleaved(&servers, connections, if quick { 1 } else { 11 }, if quick { 100 } else { 10_000 });
    }
}

/// The same load again, servers taking turns round by round, so a burst of
/// load from elsewhere on a shared machine hits all three alike. Prints the
/// median throughput, the median server and client CPU time per round trip
/// (which other processes disturb less than wall time), each side's CPU
/// utilisation, and which side, if any, was saturated.
fn interleaved(servers: &[ServerThread], connections: usize, rounds: usize, round_trips: u64) {
    let mut clients: Vec<LoadGenerator> =
        servers.iter().map(|s| LoadGenerator::connect(s.addr, connections)).collect();
    let n = servers.len();
    let (mut rates, mut server_cpu, mut client_cpu) =
        (vec![Vec::new(); n], vec![Vec::new(); n], vec![Vec::new(); n]);
    let (mut server_util, mut client_util) = (vec![Vec::new(); n], vec![Vec::new(); n]);
    for round in 0..rounds {
        for turn in 0..n {
            let i = (round + turn) % n;
            let (server_before, client_before) = (thread_cpu(servers[i].tid), own_cpu());
            let wall = clients[i].run(round_trips).as_secs_f64();
            let client = (own_cpu() - client_before).as_secs_f64();
            // The server reads exactly once it sleeps in epoll_wait again,
            // which it does as soon as it has sent the last reply.
            let server = (thread_cpu(servers[i].tid) - server_before).as_secs_f64();
            rates[i].push(round_trips as f64 / wall);
            server_cpu[i].push(server * 1e6 / round_trips as f64);
            client_cpu[i].push(client * 1e6 / round_trips as f64);
            server_util[i].push(server / wall);
            client_util[i].push(client / wall);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let [rates, server_cpu, client_cpu, server_util, client_util] =
        [rates, server_cpu, client_cpu, server_util, client_util]
            .map(|mut per_server| per_server.iter_mut().map(median).collect::<Vec<f64>>());
    let by_name = |name: &str| servers.iter().position(|s| s.name == name).unwrap();
    let (mio, tokio) = (by_name("mio"), by_name("tokio"));
    println!(
        "\ninterleaved, {connections} connections, {rounds} rounds x {round_trips} round trips (medians; \
         CPU per round trip and utilisation = CPU time / wall time, server and client):"
    );
    println!(
        "  server   round trips/s   server CPU/rt   client CPU/rt   server util   client util   vs mio   vs tokio   verdict"
    );
    for (i, server) in servers.iter().enumerate() {
        println!(
            "  {:<6} {:>15.0} {:>12.2} µs {:>12.2} µs {:>12.0}% {:>12.0}% {:>7.2}x {:>9.2}x   {}",
            server.name,
            rates[i],
            server_cpu[i],
            client_cpu[i],
            server_util[i] * 100.0,
            client_util[i] * 100.0,
            rates[i] / rates[mio],
            rates[i] / rates[tokio],
            verdict(server_util[i], client_util[i]),
        );
    }
}

criterion_group!(benches, echo);
criterion_main!(benches);
