//! An echo load generator: N connections, each doing one round trip at a
//! time, all on one thread; reports round trips per second, and its own CPU
//! time per round trip and utilisation (CPU time over wall time).
//!
//! Shows many concurrent clients as plain tasks: each connection is a loop
//! of `write_all` + `read_exact`, and the runtime interleaves them.
//!
//! Start the `echo_server` example, then:
//!
//! ```text
//! cargo run --release --example echo_client                       # 127.0.0.1:7000, 50 connections, 5 s
//! cargo run --release --example echo_client 127.0.0.1:7000 200 10 # address, connections, seconds
//! ```
//!
//! Messages are 64 bytes. The run is bounded: it stops after the given
//! number of seconds (or 1,000,000 round trips per connection).
//!
//! Why the client's own CPU: this client is one thread, so it can do at most
//! one CPU's worth of work. When its utilisation nears 100%, the round trips
//! per second measure this client, not the server; run more client
//! processes (on other CPUs) before drawing conclusions about the server.
//! The CPU time is the process's (`CLOCK_PROCESS_CPUTIME_ID`, user plus
//! system), Linux only.

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio::io::{AsyncReadExt, AsyncWriteExt};
use corio::net::TcpStream;

const MESSAGE: usize = 64;
const MAX_ROUND_TRIPS: u64 = 1_000_000;
/// Utilisation from which the client is reported as the bottleneck.
const SATURATED: f64 = 0.9;

/// CPU time this process has used so far (user + system), if the platform
/// tells us.
fn process_cpu() -> Option<Duration> {
    #[cfg(target_os = "linux")]
    {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
        Some(Duration::new(t.tv_sec as u64, t.tv_nsec as u32))
    }
    #[cfg(not(target_os = "linux"))]
    None
}

async fn client(addr: SocketAddr, deadline: Instant, total: Rc<Cell<u64>>) -> std::io::Result<()> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let request = [b'x'; MESSAGE];
    let mut reply = [0u8; MESSAGE];
    for _ in 0..MAX_ROUND_TRIPS {
        if Instant::now() >= deadline {
            break;
        }
        stream.write_all(&request).await?;
        stream.read_exact(&mut reply).await?;
        total.set(total.get() + 1);
    }
    Ok(())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = args.next().unwrap_or_else(|| "127.0.0.1:7000".into()).parse().expect("address");
    let connections: usize = args.next().map_or(50, |n| n.parse().expect("connections"));
    let seconds: u64 = args.next().map_or(5, |n| n.parse().expect("seconds"));

    let total = Rc::new(Cell::new(0));
    let started = Instant::now();
    let cpu_before = process_cpu();
    let deadline = started + Duration::from_secs(seconds);
    corio::block_on(async {
        let tasks: Vec<_> =
            (0..connections).map(|_| corio::spawn(client(addr, deadline, total.clone()))).collect();
        for task in tasks {
            if let Err(error) = task.await.unwrap() {
                eprintln!("connection failed: {error} (is the echo_server example running on {addr}?)");
            }
        }
    });
    let elapsed = started.elapsed();
    let cpu = process_cpu().zip(cpu_before).map(|(after, before)| after - before);
    let round_trips = total.get();
    println!(
        "{connections} connections, {round_trips} round trips in {elapsed:.2?}: {:.0} round trips/s",
        round_trips as f64 / elapsed.as_secs_f64()
    );
    let Some(cpu) = cpu else {
        println!("client CPU time: not measured on this platform");
        return;
    };
    let utilisation = cpu.as_secs_f64() / elapsed.as_secs_f64();
    println!(
        "client CPU: {cpu:.2?}, {:.2} µs per round trip, utilisation {:.0}% of one CPU{}",
        cpu.as_secs_f64() * 1e6 / round_trips.max(1) as f64,
        utilisation * 100.0,
        if utilisation >= SATURATED {
            " -> client-bound: this client used all of its CPU, so the rate above is its limit, whatever the server could do"
        } else {
            " -> the client had time to spare"
        }
    );
}
