//! The seed's claim, measured: memory and time as the number of concurrent
//! tasks grows, for corio, tokio's current-thread runtime, and one OS thread
//! per task.
//!
//! Two workloads, each (model, size) pair in a fresh child process (this
//! program re-executed with `--child`), so one run's freed memory cannot
//! hide another's cost:
//!
//! * *idle*: N in {1k, 10k, 100k, 1M} tasks, each parked until woken (the
//!   async tasks store their waker in a table, as in `examples/idle_tasks.rs`;
//!   a thread blocks on its own `std::sync::mpsc` channel). Measured: the
//!   resident set size (RSS, `/proc/self/statm`) added per task, the time to
//!   spawn them all (until every one has parked), and the time to wake each
//!   once and see all of them finish.
//! * *conn*: C in {100, 1k, 10k} loopback TCP connections (127.0.0.1 only),
//!   each with a task (or thread) suspended reading its server end into a
//!   16-byte buffer. Measured: RSS added per connection (user space only:
//!   the kernel's socket memory is not in RSS), and the time from asking the
//!   client process to write one byte to every client end until every read
//!   has completed (so it includes the client's C `write` calls).
//!
//! Threads get a 64 KiB stack (`Builder::stack_size`); only the pages a
//! thread touches count in RSS. They are capped at 10,000 per run (the
//! machine's `threads-max`, `RLIMIT_NPROC` and `vm.max_map_count` are
//! printed beside the cap); larger sizes print as skipped. The conn child
//! raises `RLIMIT_NOFILE` to what it needs (one descriptor per connection:
//! the client ends live in a third process, which writes the bytes when told
//! to through a pipe) and skips the size, with the reason, when it cannot.
//!
//! Shortcut, labelled: each number is the median of three runs, not a
//! distribution.
//!
//! Run it (writes `target/scaling.csv`; `--csv PATH` to change that, `--plot
//! DIR` to also draw SVG curves, `--quick` for N ≤ 10k and C ≤ 1k, under a
//! minute):
//!
//! ```text
//! taskset -c 1 cargo run --release --example scaling -- --plot docs/img
//! cargo run --release --example scaling -- --quick
//! ```

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::io::Write as _;
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

/// Tasks are spawned in chunks of this many, waiting after each chunk until
/// all have parked, so no run queue grows to N entries.
const CHUNK: usize = 1024;
/// Most OS threads one run may start.
const THREAD_CAP: usize = 10_000;
/// Stack size of every OS thread.
const THREAD_STACK: usize = 64 * 1024;
/// Children per (model, size); the table shows the median of each metric.
const ROUNDS: usize = 3;
const MODELS: [&str; 3] = ["corio", "tokio", "threads"];

thread_local! {
    /// Set when the idle tasks may finish.
    static RELEASED: Cell<bool> = const { Cell::new(false) };
    /// Slot `i` holds the waker of idle task `i` while it is parked.
    static WAKERS: RefCell<Vec<Option<Waker>>> = const { RefCell::new(Vec::new()) };
    /// Tasks that have parked at least once.
    static PARKED: Counter = const { Counter::new() };
    /// Tasks that have finished.
    static DONE: Counter = const { Counter::new() };
}

/// A count and one waiter to wake when it reaches a target.
struct Counter {
    count: Cell<usize>,
    target: Cell<usize>,
    waiter: Cell<Option<Waker>>,
}

impl Counter {
    const fn new() -> Counter {
        Counter { count: Cell::new(0), target: Cell::new(usize::MAX), waiter: Cell::new(None) }
    }

    fn arrive(&self) {
        self.count.set(self.count.get() + 1);
        if self.count.get() == self.target.get() {
            if let Some(waker) = self.waiter.take() {
                waker.wake();
            }
        }
    }
}

/// Waits until `counter` reaches `target`.
async fn reach(counter: &'static std::thread::LocalKey<Counter>, target: usize) {
    poll_fn(|cx| {
        counter.with(|c| {
            if c.count.get() >= target {
                return Poll::Ready(());
            }
            c.target.set(target);
            c.waiter.set(Some(cx.waker().clone()));
            Poll::Pending
        })
    })
    .await
}

/// The idle task: park until released, then finish. Holds just its index.
#[allow(clippy::manual_async_fn)]
fn idle_task(index: u64) -> impl Future<Output = ()> + Send + 'static {
    async move {
        poll_fn(|cx| {
            if RELEASED.get() {
                return Poll::Ready(());
            }
            let first = WAKERS.with_borrow_mut(|w| w[index as usize].replace(cx.waker().clone()).is_none());
            if first {
                PARKED.with(Counter::arrive);
            }
            Poll::Pending
        })
        .await;
        DONE.with(Counter::arrive);
    }
}

/// Spawns `n` tasks built by `spawn(i)` in chunks, waiting until all have parked.
async fn spawn_all(n: usize, spawn: impl Fn(usize)) {
    let mut spawned = 0;
    while spawned < n {
        let end = (spawned + CHUNK).min(n);
        (spawned..end).for_each(&spawn);
        spawned = end;
        reach(&PARKED, spawned).await;
    }
}

/// Releases every idle task, wakes each stored waker once, waits for all.
async fn wake_all(n: usize) {
    RELEASED.set(true);
    let wakers: Vec<Waker> = WAKERS.with_borrow_mut(|w| w.iter_mut().filter_map(Option::take).collect());
    for waker in wakers {
        waker.wake();
    }
    reach(&DONE, n).await;
}

/// Tells the client process to write one byte to every client end, then
/// waits until all reads have completed.
async fn poke_all(client: &mut ClientProcess, c: usize) {
    client.poke();
    reach(&DONE, c).await;
}

/// Resident set size in bytes, from `/proc/self/statm` (second field, pages).
fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("this example needs Linux /proc");
    let pages: usize = statm.split_whitespace().nth(1).and_then(|f| f.parse().ok()).expect("statm format");
    pages * page_size()
}

#[cfg(target_os = "linux")]
fn page_size() -> usize {
    rustix::param::page_size()
}

#[cfg(not(target_os = "linux"))]
fn page_size() -> usize {
    4096
}

/// The soft `RLIMIT_NPROC`, for the header line.
fn nproc_limit() -> String {
    #[cfg(target_os = "linux")]
    {
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nproc).current;
        limit.map_or_else(|| "unlimited".into(), |n| n.to_string())
    }
    #[cfg(not(target_os = "linux"))]
    {
        "?".into()
    }
}

fn read_proc(path: &str) -> String {
    std::fs::read_to_string(path).map(|s| s.trim().to_string()).unwrap_or_else(|_| "?".into())
}

/// What one child measured: RSS delta, time to spawn (until all parked), time to wake all.
struct Report {
    rss_delta: usize,
    spawn: Duration,
    wake: Duration,
}

fn idle_child(model: &str, n: usize) -> Report {
    WAKERS.with_borrow_mut(|w| {
        w.reserve_exact(n);
        w.resize_with(n, || None); // touched now, before the first reading
    });
    match model {
        "corio" => {
            let rt = corio::Runtime::new().unwrap();
            rt.block_on(async {});
            let before = rss_bytes();
            let start = Instant::now();
            rt.block_on(spawn_all(n, |i| drop(corio::spawn(idle_task(i as u64)))));
            let spawn = start.elapsed();
            let rss_delta = rss_bytes().saturating_sub(before);
            let start = Instant::now();
            rt.block_on(wake_all(n));
            Report { rss_delta, spawn, wake: start.elapsed() }
        }
        "tokio" => {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            rt.block_on(async {});
            let before = rss_bytes();
            let start = Instant::now();
            rt.block_on(spawn_all(n, |i| drop(tokio::spawn(idle_task(i as u64)))));
            let spawn = start.elapsed();
            let rss_delta = rss_bytes().saturating_sub(before);
            let start = Instant::now();
            rt.block_on(wake_all(n));
            Report { rss_delta, spawn, wake: start.elapsed() }
        }
        "threads" => {
            let parked = Arc::new(AtomicUsize::new(0));
            let mut senders = Vec::with_capacity(n);
            let mut handles = Vec::with_capacity(n);
            let before = rss_bytes();
            let start = Instant::now();
            for _ in 0..n {
                let (tx, rx) = mpsc::channel::<()>();
                let parked = parked.clone();
                let handle = std::thread::Builder::new()
                    .stack_size(THREAD_STACK)
                    .spawn(move || {
                        parked.fetch_add(1, Ordering::Release);
                        rx.recv().expect("sender kept until the wake");
                    })
                    .expect("spawn thread");
                senders.push(tx);
                handles.push(handle);
            }
            wait_for(&parked, n);
            let spawn = start.elapsed();
            let rss_delta = rss_bytes().saturating_sub(before);
            let start = Instant::now();
            for tx in &senders {
                tx.send(()).unwrap();
            }
            handles.into_iter().for_each(|h| h.join().unwrap());
            Report { rss_delta, spawn, wake: start.elapsed() }
        }
        other => panic!("unknown model {other:?}"),
    }
}

/// Spins (yielding) until `count` reaches `target`.
fn wait_for(count: &AtomicUsize, target: usize) {
    while count.load(Ordering::Acquire) < target {
        std::thread::yield_now();
    }
}

/// Raises `RLIMIT_NOFILE` to at least `need`; the reason on failure.
#[cfg(not(target_os = "linux"))]
fn raise_nofile(_need: u64) -> Result<(), String> {
    Err("raising RLIMIT_NOFILE is only written for Linux".into())
}

/// Raises `RLIMIT_NOFILE` to at least `need`; the reason on failure.
#[cfg(target_os = "linux")]
fn raise_nofile(need: u64) -> Result<(), String> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current.is_none_or(|c| c >= need) {
        return Ok(());
    }
    let hard = limit.maximum.unwrap_or(u64::MAX);
    let wanted = Rlimit { current: Some(need), maximum: Some(hard.max(need)) };
    setrlimit(Resource::Nofile, wanted).map_err(|e| {
        format!("RLIMIT_NOFILE {} (hard {hard}) < {need} needed, raising failed: {e}", limit.current.unwrap())
    })
}

/// The client ends of the connections, held by a third process (this program
/// re-executed with `--client`), so the measured child needs one descriptor
/// per connection, not two.
struct ClientProcess {
    process: std::process::Child,
}

impl ClientProcess {
    /// Starts the client process, which connects `count` times to a fresh
    /// loopback listener; returns it with the accepted server ends.
    fn start(count: usize) -> Result<(ClientProcess, Vec<TcpStream>), String> {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().unwrap().to_string();
        let exe = std::env::current_exe().expect("own path");
        let process = Command::new(exe)
            .args(["--client", &addr, &count.to_string()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start client process");
        let mut client = ClientProcess { process };
        // The client's first line is "ok" once it may connect, or its reason to skip.
        let mut line = String::new();
        let stdout = client.process.stdout.as_mut().unwrap();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
        if line.trim() != "ok" {
            return Err(format!("client: {}", line.trim()));
        }
        let servers = (0..count).map(|_| listener.accept().expect("accept loopback").0).collect();
        Ok((client, servers))
    }

    /// Asks the client to write one byte to every connection.
    fn poke(&mut self) {
        self.process.stdin.as_mut().unwrap().write_all(b"x").expect("poke client");
    }
}

impl Drop for ClientProcess {
    fn drop(&mut self) {
        drop(self.process.stdin.take()); // EOF: the client closes its ends and exits
        let _ = self.process.wait();
    }
}

/// The client process: connect `count` times, then on a byte from stdin
/// write one byte to every connection, and on EOF exit.
fn client_process(addr: &str, count: usize) {
    use std::io::Read as _;
    if let Err(reason) = raise_nofile(count as u64 + 64) {
        return println!("{reason}");
    }
    println!("ok");
    let mut conns: Vec<TcpStream> =
        (0..count).map(|_| TcpStream::connect(addr).expect("connect loopback")).collect();
    let mut stdin = std::io::stdin();
    let mut byte = [0u8; 1];
    if stdin.read(&mut byte).unwrap_or(0) == 1 {
        for conn in &mut conns {
            conn.write_all(b"x").expect("write to loopback");
        }
    }
    let _ = stdin.read_to_end(&mut Vec::new());
}

fn conn_child(model: &str, c: usize) -> Result<Report, String> {
    raise_nofile(c as u64 + 64)?;
    let (mut client, servers) = ClientProcess::start(c)?;
    let servers = RefCell::new(servers);
    let take = |_| servers.borrow_mut().pop().expect("one server end per task");
    match model {
        "corio" => {
            let rt = corio::Runtime::new().unwrap();
            rt.block_on(async {});
            let before = rss_bytes();
            let start = Instant::now();
            rt.block_on(spawn_all(c, |i| {
                let stream = take(i);
                drop(corio::spawn(async move {
                    use corio::io::AsyncReadExt;
                    let mut stream = corio::net::TcpStream::from_std(stream).expect("register");
                    let mut buf = [0u8; 16];
                    PARKED.with(Counter::arrive);
                    let n = stream.read(&mut buf).await.expect("read");
                    assert_eq!(n, 1);
                    DONE.with(Counter::arrive);
                }))
            }));
            let spawn = start.elapsed();
            let rss_delta = rss_bytes().saturating_sub(before);
            let start = Instant::now();
            rt.block_on(poke_all(&mut client, c));
            Ok(Report { rss_delta, spawn, wake: start.elapsed() })
        }
        "tokio" => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_io().build().unwrap();
            rt.block_on(async {});
            let before = rss_bytes();
            let start = Instant::now();
            rt.block_on(spawn_all(c, |i| {
                let stream = take(i);
                drop(tokio::spawn(async move {
                    use tokio::io::AsyncReadExt;
                    stream.set_nonblocking(true).unwrap();
                    let mut stream = tokio::net::TcpStream::from_std(stream).expect("register");
                    let mut buf = [0u8; 16];
                    PARKED.with(Counter::arrive);
                    let n = stream.read(&mut buf).await.expect("read");
                    assert_eq!(n, 1);
                    DONE.with(Counter::arrive);
                }))
            }));
            let spawn = start.elapsed();
            let rss_delta = rss_bytes().saturating_sub(before);
            let start = Instant::now();
            rt.block_on(poke_all(&mut client, c));
            Ok(Report { rss_delta, spawn, wake: start.elapsed() })
        }
        "threads" => {
            use std::io::Read as _;
            let parked = Arc::new(AtomicUsize::new(0));
            let mut handles = Vec::with_capacity(c);
            let before = rss_bytes();
            let start = Instant::now();
            for mut stream in servers.into_inner() {
                let parked = parked.clone();
                let handle = std::thread::Builder::new()
                    .stack_size(THREAD_STACK)
                    .spawn(move || {
                        let mut buf = [0u8; 16];
                        parked.fetch_add(1, Ordering::Release);
                        assert_eq!(stream.read(&mut buf).expect("read"), 1);
                    })
                    .expect("spawn thread");
                handles.push(handle);
            }
            wait_for(&parked, c);
            let spawn = start.elapsed();
            let rss_delta = rss_bytes().saturating_sub(before);
            let start = Instant::now();
            client.poke();
            handles.into_iter().for_each(|h| h.join().unwrap());
            Ok(Report { rss_delta, spawn, wake: start.elapsed() })
        }
        other => panic!("unknown model {other:?}"),
    }
}

/// One row of the table and the CSV.
struct Row {
    workload: &'static str,
    model: &'static str,
    size: usize,
    /// `None` when skipped, with the reason in `note`.
    report: Option<Report>,
    note: String,
}

impl Row {
    fn bytes_per(&self) -> Option<f64> {
        self.report.as_ref().map(|r| r.rss_delta as f64 / self.size as f64)
    }
    fn spawn_ns(&self) -> Option<f64> {
        self.report.as_ref().map(|r| r.spawn.as_nanos() as f64 / self.size as f64)
    }
    fn wake_ns(&self) -> Option<f64> {
        self.report.as_ref().map(|r| r.wake.as_nanos() as f64 / self.size as f64)
    }
}

/// Runs `ROUNDS` children for one (workload, model, size); each metric is
/// the median of the rounds.
fn run_median(workload: &'static str, model: &'static str, size: usize) -> Row {
    let rows: Vec<Row> = (0..ROUNDS).map(|_| run_child(workload, model, size)).collect();
    let mut reports: Vec<&Report> = rows.iter().filter_map(|r| r.report.as_ref()).collect();
    if reports.len() < ROUNDS {
        return rows.into_iter().find(|r| r.report.is_none()).unwrap();
    }
    let mid = ROUNDS / 2;
    reports.sort_by_key(|r| r.rss_delta);
    let rss_delta = reports[mid].rss_delta;
    reports.sort_by_key(|r| r.spawn);
    let spawn = reports[mid].spawn;
    reports.sort_by_key(|r| r.wake);
    let wake = reports[mid].wake;
    let note = format!("median of {ROUNDS}");
    Row { workload, model, size, report: Some(Report { rss_delta, spawn, wake }), note }
}

fn run_child(workload: &'static str, model: &'static str, size: usize) -> Row {
    if model == "threads" && size > THREAD_CAP {
        let note = format!("skipped: over the {THREAD_CAP}-thread cap");
        return Row { workload, model, size, report: None, note };
    }
    let exe = std::env::current_exe().expect("own path");
    let out =
        Command::new(exe).args(["--child", workload, model, &size.to_string()]).output().expect("re-exec");
    let stdout = String::from_utf8_lossy(&out.stdout);
    if let Some(reason) = stdout.strip_prefix("skip ") {
        return Row { workload, model, size, report: None, note: format!("skipped: {}", reason.trim()) };
    }
    if !out.status.success() {
        let note = format!("failed: {}", String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("?"));
        return Row { workload, model, size, report: None, note };
    }
    let f: Vec<u64> = stdout.split_whitespace().map(|f| f.parse().expect("number")).collect();
    let report = Report {
        rss_delta: f[0] as usize,
        spawn: Duration::from_nanos(f[1]),
        wake: Duration::from_nanos(f[2]),
    };
    Row { workload, model, size, report: Some(report), note: String::new() }
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.1}"))
}

fn print_row(row: &Row) {
    let label = if row.model == "tokio" { "tokio current_thread" } else { row.model };
    let (rss, spawn_ms, wake_ms) = match &row.report {
        Some(r) => (
            format!("{:.1}", r.rss_delta as f64 / (1024.0 * 1024.0)),
            format!("{:.1}", r.spawn.as_secs_f64() * 1e3),
            format!("{:.1}", r.wake.as_secs_f64() * 1e3),
        ),
        None => ("-".into(), "-".into(), "-".into()),
    };
    println!(
        "{:<5} {:<21} {:>9} {:>10} {:>11} {:>10} {:>11} {:>10} {:>11}  {}",
        row.workload,
        label,
        row.size,
        rss,
        opt(row.bytes_per()),
        spawn_ms,
        opt(row.spawn_ns()),
        wake_ms,
        opt(row.wake_ns()),
        row.note
    );
}

fn write_csv(path: &str, rows: &[Row]) -> std::io::Result<()> {
    if let Some(dir) = std::path::Path::new(path).parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut out = String::from("workload,model,size,rss_delta_bytes,bytes_per,spawn_ns,wake_ns,note\n");
    for row in rows {
        let (rss, spawn, wake) = match &row.report {
            Some(r) => {
                (r.rss_delta.to_string(), r.spawn.as_nanos().to_string(), r.wake.as_nanos().to_string())
            }
            None => (String::new(), String::new(), String::new()),
        };
        let per = row.bytes_per().map(|b| format!("{b:.1}")).unwrap_or_default();
        out +=
            &format!("{},{},{},{rss},{per},{spawn},{wake},{}\n", row.workload, row.model, row.size, row.note);
    }
    std::fs::write(path, out)
}

/// Draws one log-log chart of `metric` against size, a line per model.
fn plot(path: &str, title: &str, y_label: &str, rows: &[&Row], metric: fn(&Row) -> Option<f64>) {
    use plotters::prelude::*;
    let points = |model: &str| -> Vec<(f64, f64)> {
        rows.iter()
            .filter(|r| r.model == model)
            .filter_map(|r| metric(r).filter(|v| *v > 0.0).map(|v| (r.size as f64, v)))
            .collect()
    };
    let all: Vec<(f64, f64)> = MODELS.iter().flat_map(|m| points(m)).collect();
    if all.is_empty() {
        return;
    }
    let (x_lo, x_hi) = all.iter().fold((f64::MAX, 0f64), |(lo, hi), p| (lo.min(p.0), hi.max(p.0)));
    let (y_lo, y_hi) = all.iter().fold((f64::MAX, 0f64), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
    let root = SVGBackend::new(path, (720, 440)).into_drawing_area();
    root.fill(&WHITE).unwrap();
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d((x_lo * 0.8..x_hi * 1.25).log_scale(), (y_lo * 0.7..y_hi * 1.5).log_scale())
        .unwrap();
    chart
        .configure_mesh()
        .x_desc("concurrent tasks / connections (log)")
        .y_desc(y_label)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()
        .unwrap();
    let colors = [RGBColor(0xd6, 0x27, 0x28), RGBColor(0x1f, 0x77, 0xb4), RGBColor(0x55, 0x55, 0x55)];
    for (model, color) in MODELS.iter().zip(colors) {
        let pts = points(model);
        if pts.is_empty() {
            continue;
        }
        let label = if *model == "tokio" { "tokio current_thread" } else { model };
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
            .unwrap()
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled()))).unwrap();
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::MiddleRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .unwrap();
    root.present().unwrap();
}

fn plots(dir: &str, rows: &[Row]) {
    std::fs::create_dir_all(dir).expect("plot directory");
    let idle: Vec<&Row> = rows.iter().filter(|r| r.workload == "idle").collect();
    let conn: Vec<&Row> = rows.iter().filter(|r| r.workload == "conn").collect();
    plot(
        &format!("{dir}/scaling_bytes_per_task.svg"),
        "RSS per idle task",
        "bytes per task",
        &idle,
        Row::bytes_per,
    );
    plot(
        &format!("{dir}/scaling_spawn_ns.svg"),
        "Time to spawn, per task",
        "ns per task",
        &idle,
        Row::spawn_ns,
    );
    plot(
        &format!("{dir}/scaling_wake_ns.svg"),
        "Time to wake all once, per task",
        "ns per task",
        &idle,
        Row::wake_ns,
    );
    plot(
        &format!("{dir}/scaling_bytes_per_conn.svg"),
        "RSS per idle connection",
        "bytes per connection",
        &conn,
        Row::bytes_per,
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--client") {
        return client_process(&args[1], args[2].parse().expect("count"));
    }
    if args.first().map(String::as_str) == Some("--child") {
        let size = args[3].parse().expect("size");
        let report = match args[1].as_str() {
            "idle" => idle_child(&args[2], size),
            _ => match conn_child(&args[2], size) {
                Ok(report) => report,
                Err(reason) => return println!("skip {reason}"),
            },
        };
        // One line for the parent: rss_delta_bytes spawn_ns wake_ns
        println!("{} {} {}", report.rss_delta, report.spawn.as_nanos(), report.wake.as_nanos());
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let csv = flag("--csv").unwrap_or_else(|| "target/scaling.csv".into());
    let (idle_sizes, conn_sizes): (&[usize], &[usize]) = if quick {
        (&[1_000, 10_000], &[100, 1_000])
    } else {
        (&[1_000, 10_000, 100_000, 1_000_000], &[100, 1_000, 10_000])
    };

    println!(
        "each (model, size) in a fresh process; threads: {} KiB stacks, capped at {THREAD_CAP} \
         (threads-max {}, RLIMIT_NPROC {}, vm.max_map_count {})\n",
        THREAD_STACK / 1024,
        read_proc("/proc/sys/kernel/threads-max"),
        nproc_limit(),
        read_proc("/proc/sys/vm/max_map_count"),
    );
    println!(
        "{:<5} {:<21} {:>9} {:>10} {:>11} {:>10} {:>11} {:>10} {:>11}",
        "load", "model", "size", "RSS MiB", "bytes/each", "spawn ms", "spawn ns/1", "wake ms", "wake ns/1"
    );
    let mut rows = Vec::new();
    for (workload, sizes) in [("idle", idle_sizes), ("conn", conn_sizes)] {
        for &size in sizes {
            for model in MODELS {
                let row = run_median(workload, model, size);
                print_row(&row);
                rows.push(row);
            }
        }
    }
    write_csv(&csv, &rows).expect("write CSV");
    println!("\nCSV: {csv}");
    if let Some(dir) = flag("--plot") {
        plots(&dir, &rows);
        println!("plots: {dir}/scaling_*.svg");
    }
}
