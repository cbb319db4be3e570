//! How late does a short sleep wake up? On an otherwise idle runtime, one
//! task sleeps 250 µs, N times in a row (default 2,000), and records how far
//! past its deadline it actually resumed. Prints the lateness distribution
//! (p50, p90, p99, max) for corio, tokio's current-thread runtime and, for
//! reference, async-io's `Timer` (smol's) under `async_io::block_on`.
//!
//! Lateness is measured from the deadline the task asked for to the moment
//! its `.await` returned, so it includes everything: the kernel timer, the
//! wake from `epoll_wait`, firing the timer and polling the task. corio parks
//! on a Linux `timerfd` armed at the exact deadline; tokio's timer wheel and
//! `epoll_wait` timeout count whole milliseconds, so expect about 1 ms there.
//!
//! Run it pinned to one core:
//!
//! ```text
//! taskset -c 1 cargo run --release --example timer_precision
//! taskset -c 1 cargo run --release --example timer_precision -- 5000
//! ```

use std::time::{Duration, Instant};

const PERIOD: Duration = Duration::from_micros(250);

/// Sorted lateness samples, in microseconds.
struct Lateness(Vec<f64>);

impl Lateness {
    fn from(mut samples: Vec<Duration>) -> Lateness {
        samples.sort();
        Lateness(samples.iter().map(|d| d.as_secs_f64() * 1e6).collect())
    }

    fn percentile(&self, p: f64) -> f64 {
        let index = ((self.0.len() - 1) as f64 * p).round() as usize;
        self.0[index]
    }

    fn print(&self, name: &str) {
        println!(
            "{:<22} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
            name,
            self.percentile(0.0),
            self.percentile(0.5),
            self.percentile(0.9),
            self.percentile(0.99),
            self.percentile(1.0)
        );
    }
}

/// The measuring loop, shared by every runtime: `sleep_until` is the
/// runtime's own sleep.
async fn measure<F: std::future::Future<Output = ()>>(
    n: usize,
    sleep_until: impl Fn(Instant) -> F,
) -> Lateness {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let deadline = Instant::now() + PERIOD;
        sleep_until(deadline).await;
        samples.push(Instant::now().saturating_duration_since(deadline));
    }
    Lateness::from(samples)
}

fn main() {
    let n: usize =
        std::env::args().nth(1).map(|a| a.parse().expect("usage: timer_precision [N]")).unwrap_or(2_000);
    let slack = std::fs::read_to_string("/proc/self/timerslack_ns").unwrap_or_default();
    println!(
        "{n} sleeps of {} µs each; this thread's timer slack: {} ns\n",
        PERIOD.as_micros(),
        slack.trim()
    );
    println!("lateness past the deadline, µs");
    println!("{:<22} {:>9} {:>9} {:>9} {:>9} {:>9}", "runtime", "min", "p50", "p90", "p99", "max");

    let rt = corio::Runtime::new().unwrap();
    let corio = rt
        .block_on(measure(n, |deadline| corio::time::sleep_until(corio::time::Instant::from_std(deadline))));
    corio.print("corio");

    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let tokio = rt
        .block_on(measure(n, |deadline| tokio::time::sleep_until(tokio::time::Instant::from_std(deadline))));
    tokio.print("tokio current_thread");

    let smol = async_io::block_on(measure(n, |deadline| async move {
        async_io::Timer::at(deadline).await;
    }));
    smol.print("async-io Timer");
}
