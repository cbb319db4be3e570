//! A thousand remote tasks in flight on one thread.
//!
//! `communicate_with_server(endpoint)` connects, then awaits
//! `perform_remote_task(&mut stream)`, which sends a request and awaits the
//! reply a few times over. At every `.await` on the socket the coroutine is
//! *suspended*: its state machine returns `Pending`, its waker sits with the
//! reactor, and the thread runs other tasks. When the socket becomes ready
//! the reactor wakes it and it *resumes* right after that `.await`.
//!
//! The program starts 1,000 of them at once against an in-process echo
//! server on 127.0.0.1:0 (on the same runtime), then prints how many were in
//! flight at the peak and how many OS threads the process used: one.
//!
//! ```text
//! cargo run --release --example remote_task          # 1,000 tasks
//! cargo run --release --example remote_task 5000     # more
//! ```
//!
//! All the tasks connect in the same tick, so thousands of connections wait
//! in the listener's accept queue before the server task runs. The listener
//! is bound with a backlog of the task count (`ListenOptions::backlog`;
//! the kernel caps it at `net.core.somaxconn`, which is also corio's
//! default). A connection that finds the queue full is dropped and its
//! client retries one second later, which shows as a cliff in the run time:
//! the program prints the kernel's `ListenOverflows` counter
//! (`/proc/net/netstat`) before and after, so a slow run says why.
//!
//! Shortcut, labelled: on Linux it raises the descriptor limit to what the
//! tasks need (two sockets each: client and server side), as far as the
//! process may.

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Instant;

use corio::io::{AsyncReadExt, AsyncWriteExt};
use corio::net::{ListenOptions, TcpListener, TcpStream};

/// Request/reply exchanges per remote task.
const STEPS: u32 = 3;

/// Tasks in flight now, and the most at any moment.
#[derive(Default)]
struct InFlight {
    now: Cell<usize>,
    peak: Cell<usize>,
}

/// The remote work: a few request/reply exchanges. Each `.await` may
/// suspend this task until the socket is ready.
async fn perform_remote_task(stream: &mut TcpStream, id: u32) -> io::Result<()> {
    for step in 0..STEPS {
        let request = format!("task {id:5} step {step}\n");
        stream.write_all(request.as_bytes()).await?; // suspends if the send buffer is full
        let mut reply = vec![0u8; request.len()];
        stream.read_exact(&mut reply).await?; // suspends until the reply arrives
        assert_eq!(reply, request.as_bytes(), "the server answers this task's own request");
    }
    Ok(())
}

async fn communicate_with_server(endpoint: SocketAddr, id: u32, in_flight: Rc<InFlight>) -> io::Result<()> {
    in_flight.now.set(in_flight.now.get() + 1);
    in_flight.peak.set(in_flight.peak.get().max(in_flight.now.get()));
    let result = async {
        let mut stream = TcpStream::connect(endpoint).await?; // suspends until connected
        perform_remote_task(&mut stream, id).await
    }
    .await;
    in_flight.now.set(in_flight.now.get() - 1);
    result
}

/// The in-process echo server: one task per connection, same thread.
fn spawn_echo_server(listener: TcpListener) {
    corio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.expect("accept");
            corio::spawn(async move {
                let (mut reader, mut writer) = stream.into_split();
                let _ = corio::io::copy(&mut reader, &mut writer).await;
            });
        }
    });
}

/// The `Threads:` line of `/proc/self/status`.
fn os_threads() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|line| line.strip_prefix("Threads:")).and_then(|n| n.trim().parse().ok())
}

/// Raises the descriptor limit to `needed` (the hard limit too, if the
/// process may: root may), else as far as the hard limit allows.
fn raise_descriptor_limit(needed: u64) {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
        let limit = getrlimit(Resource::Nofile);
        if limit.maximum.is_some_and(|hard| hard < needed)
            && setrlimit(Resource::Nofile, Rlimit { current: Some(needed), maximum: Some(needed) }).is_ok()
        {
            return;
        }
        let _ = setrlimit(Resource::Nofile, Rlimit { current: limit.maximum, maximum: limit.maximum });
        if let Some(hard) = limit.maximum.filter(|&hard| hard < needed) {
            eprintln!("warning: descriptor limit {hard} < {needed} needed; some tasks may fail to connect");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = needed;
}

/// The kernel's count of connections dropped because a listen queue was
/// full (`TcpExt: ListenOverflows` in `/proc/net/netstat`). System-wide:
/// other programs' overflows count too.
fn listen_overflows() -> Option<u64> {
    let netstat = std::fs::read_to_string("/proc/net/netstat").ok()?;
    let mut tcp_ext = netstat.lines().filter(|line| line.starts_with("TcpExt:"));
    let (names, values) = (tcp_ext.next()?, tcp_ext.next()?);
    let column = names.split_whitespace().position(|name| name == "ListenOverflows")?;
    values.split_whitespace().nth(column)?.parse().ok()
}

/// `net.core.somaxconn`: the kernel's cap on any listen backlog.
fn somaxconn() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn").ok()?.trim().parse().ok()
}

fn main() -> io::Result<()> {
    let tasks: u32 = std::env::args().nth(1).map_or(1000, |n| n.parse().expect("number of tasks"));
    raise_descriptor_limit(2 * u64::from(tasks) + 64);
    let in_flight = Rc::new(InFlight::default());
    let overflows_before = listen_overflows();
    let started = Instant::now();

    let failures = corio::block_on(async {
        // A backlog for every task: they all connect at once.
        let backlog = i32::try_from(tasks).unwrap_or(i32::MAX).max(ListenOptions::new().backlog);
        let options = ListenOptions::new().backlog(backlog);
        let listener = TcpListener::bind_with("127.0.0.1:0", options).await?;
        let endpoint = listener.local_addr()?;
        spawn_echo_server(listener);

        let handles: Vec<_> = (0..tasks)
            .map(|id| corio::spawn(communicate_with_server(endpoint, id, in_flight.clone())))
            .collect();
        let mut failures = 0;
        for handle in handles {
            if let Err(error) = handle.await.expect("task panicked") {
                eprintln!("remote task failed: {error}");
                failures += 1;
            }
        }
        io::Result::Ok(failures)
    })?;

    let elapsed = started.elapsed();
    let overflows_after = listen_overflows();
    let threads = os_threads();
    println!("{tasks} remote tasks ({STEPS} round trips each) finished in {elapsed:.2?}");
    println!("in flight at the peak: {}", in_flight.peak.get());
    println!("failed: {failures}");
    match (overflows_before, overflows_after) {
        (Some(before), Some(after)) => {
            println!("listen queue overflows (kernel ListenOverflows, system-wide): {}", after - before)
        }
        _ => println!("listen queue overflows: unknown (no /proc/net/netstat)"),
    }
    if let Some(cap) = somaxconn().filter(|&cap| cap < u64::from(tasks)) {
        println!(
            "note: the kernel caps the backlog at net.core.somaxconn = {cap} < {tasks} tasks; \
             overflows above cost 1 s each (sysctl -w net.core.somaxconn={tasks} lifts the cap)"
        );
    }
    match threads {
        Some(threads) => {
            println!("OS threads in this process: {threads}");
            assert_eq!(threads, 1, "everything ran on the main thread");
        }
        None => println!("OS threads: unknown (no /proc/self/status)"),
    }
    Ok(())
}
