//! `Builder::spin_before_park`: a runtime that polls for events for a while
//! before sleeping must still deliver I/O, timers and work from other
//! threads, must not run past a timer deadline, and must still sleep once
//! the spin time is over.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use corio::io::{AsyncReadExt, AsyncWriteExt};
use corio::net::{TcpListener, TcpStream};
use corio::time::sleep;
use corio::{spawn, Runtime};

fn spinning(spin: Duration) -> Runtime {
    Runtime::builder().spin_before_park(spin).build().unwrap()
}

#[test]
fn io_and_work_from_other_threads_arrive_while_spinning() {
    let rt = spinning(Duration::from_millis(50));
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let handle = rt.handle();
    let other = std::thread::spawn(move || {
        handle.spawn(async move { flag.store(true, Ordering::SeqCst) }).join().unwrap();
    });
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 5];
            stream.read_exact(&mut buf).await.unwrap();
            stream.write_all(&buf).await.unwrap();
        });
        let mut client = TcpStream::connect(addr).await.unwrap();
        client.write_all(b"hello").await.unwrap();
        let mut back = [0u8; 5];
        client.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"hello");
        server.await.unwrap();
        // The remote spawn is only seen when the runtime looks for work
        // from other threads, which it must keep doing while it spins.
        while !done.load(Ordering::SeqCst) {
            sleep(Duration::from_millis(1)).await;
        }
    });
    other.join().unwrap();
}

#[test]
fn spinning_stops_at_the_next_timer() {
    // A spin far longer than the sleep: if spinning ignored the timer, the
    // sleep would end only after the whole minute.
    let rt = spinning(Duration::from_secs(60));
    let started = Instant::now();
    rt.block_on(sleep(Duration::from_millis(20)));
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(20));
    assert!(took < Duration::from_secs(30), "a 20 ms sleep took {took:?}");
}

/// User + system CPU time of the calling thread (Linux, 10 ms resolution).
fn thread_cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

#[test]
fn after_spinning_an_idle_runtime_sleeps_in_the_kernel() {
    let rt = spinning(Duration::from_millis(5));
    // One I/O source, so each spin turn is a real zero-timeout epoll_wait.
    let listener = rt.block_on(async { TcpListener::bind("127.0.0.1:0").await.unwrap() });
    let cpu_before = thread_cpu_time();
    let wall = Instant::now();
    rt.block_on(sleep(Duration::from_millis(800)));
    let wall = wall.elapsed();
    let cpu = thread_cpu_time() - cpu_before;
    // About 5 ms of spinning, then asleep: a runtime that kept spinning
    // would burn all 800 ms.
    assert!(cpu < wall / 8, "used {cpu:?} of CPU in {wall:?}");
    drop(listener);
}
