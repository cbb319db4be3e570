//! Helpers the network benchmarks share: pinning threads to CPUs, reading
//! a thread's CPU time, and medians.
//!
//! Included by each bench with `#[path = "common/mod.rs"] mod common;`
//! (cargo compiles every bench as its own crate).

#![allow(dead_code)] // each bench uses a different subset

use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::Duration;

/// The CPU server threads are pinned to.
pub const SERVER_CPU: usize = 0;
/// The CPU the load generator (the bench thread) is pinned to.
pub const CLIENT_CPU: usize = 1;

/// Runs `serve` on a new thread pinned to [`SERVER_CPU`], until the process
/// exits; `serve` binds, sends its address and serves. Returns that address
/// and the thread's kernel id (for [`thread_cpu`]).
pub fn start_pinned_server(
    serve: impl FnOnce(mpsc::Sender<SocketAddr>) + Send + 'static,
) -> (SocketAddr, i32) {
    let (tx, rx) = mpsc::channel();
    let (tid_tx, tid_rx) = mpsc::channel();
    std::thread::spawn(move || {
        pin_to(SERVER_CPU);
        tid_tx.send(thread_id()).unwrap();
        serve(tx);
    });
    let tid = tid_rx.recv().unwrap();
    (rx.recv().expect("server started"), tid)
}

/// Pins the calling thread to one CPU, if the machine has it (Linux only).
pub fn pin_to(cpu: usize) {
    #[cfg(target_os = "linux")]
    {
        let mut set = rustix::thread::CpuSet::new();
        set.set(cpu);
        if let Err(error) = rustix::thread::sched_setaffinity(None, &set) {
            eprintln!("could not pin to CPU {cpu}: {error}; results will be noisier");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cpu;
}

/// The calling thread's kernel id (0 where unknown).
pub fn thread_id() -> i32 {
    #[cfg(target_os = "linux")]
    return rustix::thread::gettid().as_raw_nonzero().get();
    #[cfg(not(target_os = "linux"))]
    0
}

/// CPU time used so far by thread `tid` of this process (Linux: the first
/// field of its `schedstat`, in nanoseconds; zero elsewhere).
pub fn thread_cpu(tid: i32) -> Duration {
    let path = format!("/proc/self/task/{tid}/schedstat");
    let nanos = std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0);
    Duration::from_nanos(nanos)
}

/// Median, minimum and maximum of `values` (which it sorts).
pub fn median_min_max(values: &mut [f64]) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    (values[values.len() / 2], values[0], values[values.len() - 1])
}

/// CPU time used so far by the calling thread, read precisely from the
/// kernel (`CLOCK_THREAD_CPUTIME_ID`; schedstat lags by up to a scheduler
/// tick for a thread that is running while it reads it). Zero off Linux.
pub fn own_cpu() -> Duration {
    #[cfg(target_os = "linux")]
    {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
    }
    #[cfg(not(target_os = "linux"))]
    Duration::ZERO
}

/// Whether the extra (interleaved) passes should run tiny: criterion runs
/// each body once when the binary lacks `--bench` (as under `cargo test
/// --benches`, which CI runs) or has `--test`/`--list`, and briefly with
/// `--quick`.
pub fn quick() -> bool {
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|arg| arg == flag);
    !has("--bench") || has("--test") || has("--list") || has("--quick")
}
