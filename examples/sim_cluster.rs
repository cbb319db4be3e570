//! The cluster example's coordinator and workers in a simulated world:
//! random crashes, restarts, partitions, clogged and slow links, resets,
//! one seed per run, and no work item may be lost.
//!
//! Run many seeds: `cargo run --release --example sim_cluster -- --seeds 10000`.
//! Replay one: `cargo run --release --example sim_cluster -- --seed 42`,
//! which prints `seed 42: ... digest <hex>` (add `--trace` for every event).
//! `--broken` runs a coordinator with a bug (it forgets a call whose
//! deadline passed, taking the silence for an answer), which the seeds find.
//!
//! The workers are the `cluster` example's own RPC server
//! (`cluster::worker_server`, the same route and handler), serving a
//! simulated listener instead of a TCP one; the coordinator is the same
//! shape as the cluster example's (one task per item, a window of calls in
//! flight, failed calls sent to the next worker), made to survive restarts:
//! it reconnects to a worker whose connection broke, and retries an item
//! until some worker answers it. The checks: every item answered exactly
//! once, the total equal to the closed form, never more calls in flight
//! than the window (an invariant checked while the world runs).
//!
//! `tests/sim_cluster.rs` runs this file's [`scenario`] over seeds with the
//! harness, and finds the broken coordinator's bug.

#[path = "cluster.rs"]
#[allow(dead_code)]
mod cluster;

use std::cell::{Cell, RefCell};
use std::fmt;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use corio::rpc::{Client, RpcError};
use corio::sim::net::{TcpListener, TcpStream};
use corio::sim::{Chaos, Config, Harness, TestResult, World};
use corio::sync::Semaphore;
use corio::time::sleep;

use cluster::{sum_of_squares_closed_form, worker_server, SPAN};

/// The port every worker serves on.
const PORT: u16 = 7000;

/// How long the coordinator waits for one call.
const CALL_DEADLINE: Duration = Duration::from_millis(60);

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Work items.
    pub items: usize,
    /// Worker nodes.
    pub workers: usize,
    /// Calls in flight at once.
    pub window: usize,
    /// The coordinator's deliberate bug, if any.
    pub bug: Option<Bug>,
}

impl Default for Scenario {
    fn default() -> Scenario {
        Scenario { items: 100, workers: 3, window: 16, bug: None }
    }
}

/// A deliberate bug for the harness to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bug {
    /// A call whose deadline passed is taken as done: the item is never
    /// sent again. Correct as long as no call ever times out, so only a
    /// partition, a clog or a slow link long enough finds it.
    ForgetsTimedOutCalls,
}

/// The faults of every seed: crashes (restarted later), partitions,
/// clogged and slow links, resets, all in the first half second.
pub fn chaos() -> Chaos {
    Chaos {
        interval: Duration::from_millis(5)..Duration::from_millis(60),
        until: Duration::from_millis(500),
        duration: Duration::from_millis(5)..Duration::from_millis(200),
        ..Chaos::default()
    }
}

/// The world configuration for a seed.
pub fn config(seed: u64) -> Config {
    Config::new(seed).chaos(chaos())
}

/// What the coordinator reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Items answered by each worker.
    pub per_worker: Vec<usize>,
    /// Calls that failed and were sent again.
    pub retries: usize,
    /// Items with no answer.
    pub lost: Vec<usize>,
    /// The sum of the answers.
    pub total: u128,
    /// The closed form.
    pub expected: u128,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.total == self.expected { "right" } else { "WRONG" };
        write!(
            f,
            "{} items, per worker {:?}, {} retries, {} lost, total {verdict}",
            self.per_worker.iter().sum::<usize>() + self.lost.len(),
            self.per_worker,
            self.retries,
            self.lost.len()
        )
    }
}

impl Summary {
    /// Whether the run kept its promise.
    pub fn check(&self) -> Result<(), String> {
        if !self.lost.is_empty() {
            return Err(format!("items lost: {:?} ({self})", self.lost));
        }
        if self.total != self.expected {
            return Err(format!("total {} != closed form {} ({self})", self.total, self.expected));
        }
        Ok(())
    }
}

/// Sets up the world: the workers, the coordinator, the window invariant.
/// Returns the coordinator's summary once the world has run.
pub fn scenario(world: &mut World, scenario: &Scenario) -> corio::sim::ClientHandle<Summary> {
    let names: Vec<String> = (0..scenario.workers).map(|i| format!("worker-{i}")).collect();
    for name in &names {
        world.node(name, || async {
            let listener = TcpListener::bind(("0.0.0.0", PORT)).await.expect("bind");
            // 1 to 3 ms of work, by item.
            let server = worker_server(|start| Duration::from_millis(1 + (start / SPAN) % 3)).on_log(|_| {});
            let _ = server.serve_with_shutdown(listener, corio::sim::stop_signal()).await;
        });
    }
    let in_flight = Rc::new(Cell::new(0usize));
    let window = scenario.window;
    let seen = in_flight.clone();
    world.invariant("calls in flight <= window", move |_| {
        if seen.get() <= window {
            Ok(())
        } else {
            Err(format!("{} calls in flight, window {window}", seen.get()))
        }
    });
    world.client("coordinator", coordinate(scenario.clone(), names, in_flight))
}

/// The whole test of one seed, for the harness.
pub fn test(scenario_: &Scenario) -> impl FnMut(&mut World) -> TestResult + '_ {
    move |world| {
        let summary = scenario(world, scenario_);
        world.run()?;
        summary.take().ok_or("the coordinator did not finish")?.check()?;
        Ok(())
    }
}

/// One worker as the coordinator sees it.
struct Worker {
    name: String,
    /// The connection, once made; `None` after it broke.
    client: RefCell<Option<Client>>,
    /// A connect is under way (others try another worker meanwhile).
    connecting: Cell<bool>,
    served: Cell<usize>,
}

struct Coordinator {
    workers: Vec<Worker>,
    retries: Cell<usize>,
    in_flight: Rc<Cell<usize>>,
    bug: Option<Bug>,
}

async fn coordinate(scenario: Scenario, names: Vec<String>, in_flight: Rc<Cell<usize>>) -> Summary {
    let workers = names
        .into_iter()
        .map(|name| Worker {
            name,
            client: RefCell::new(None),
            connecting: Cell::new(false),
            served: Cell::new(0),
        })
        .collect();
    let state = Rc::new(Coordinator { workers, retries: Cell::new(0), in_flight, bug: scenario.bug });
    let window = Rc::new(Semaphore::new(scenario.window.max(1)));
    let mut tasks = Vec::with_capacity(scenario.items);
    for item in 0..scenario.items {
        let permit = window.clone().acquire_owned().await.expect("the window never closes");
        let state = state.clone();
        tasks.push(corio::spawn(async move {
            let answer = state.compute(item).await;
            drop(permit);
            answer
        }));
    }
    let (mut total, mut lost) = (0u128, Vec::new());
    for (item, task) in tasks.into_iter().enumerate() {
        match task.await.expect("item task") {
            Some(answer) => total += answer,
            None => lost.push(item),
        }
    }
    Summary {
        per_worker: state.workers.iter().map(|worker| worker.served.get()).collect(),
        retries: state.retries.get(),
        lost,
        total,
        expected: sum_of_squares_closed_form(scenario.items as u64 * SPAN),
    }
}

impl Coordinator {
    /// Computes `item`: its worker first, then the others in turn, until
    /// one answers. `None` only with the bug.
    async fn compute(&self, item: usize) -> Option<u128> {
        let start = item as u64 * SPAN;
        let payload = [start.to_be_bytes(), (start + SPAN).to_be_bytes()].concat();
        for attempt in 0.. {
            if attempt > 0 {
                self.retries.set(self.retries.get() + 1);
                sleep(Duration::from_millis(2 * attempt.min(10))).await;
            }
            let index = (item + attempt as usize) % self.workers.len();
            let Some(client) = self.connect(index).await else { continue };
            self.in_flight.set(self.in_flight.get() + 1);
            let answer = client.call_with_deadline("sum_squares", &payload, CALL_DEADLINE).await;
            self.in_flight.set(self.in_flight.get() - 1);
            match answer {
                Ok(answer) => {
                    let Ok(bytes) = <[u8; 16]>::try_from(answer.as_slice()) else { continue };
                    let worker = &self.workers[index];
                    worker.served.set(worker.served.get() + 1);
                    return Some(u128::from_be_bytes(bytes));
                }
                Err(RpcError::Timeout) if self.bug == Some(Bug::ForgetsTimedOutCalls) => return None,
                Err(RpcError::Timeout) => {} // a partition or a slow link: try another worker
                Err(_) => {
                    // The connection broke (a crash, a reset, a shutdown):
                    // reconnect next time.
                    self.workers[index].client.borrow_mut().take();
                }
            }
        }
        unreachable!("the loop only returns")
    }

    /// The client of worker `index`, connecting first if needed. `None`
    /// when it cannot be reached now.
    async fn connect(&self, index: usize) -> Option<Client> {
        let worker = &self.workers[index];
        if let Some(client) = worker.client.borrow().clone() {
            return Some(client);
        }
        if worker.connecting.replace(true) {
            return None;
        }
        let stream = TcpStream::connect((worker.name.as_str(), PORT)).await;
        worker.connecting.set(false);
        let stream = stream.ok()?;
        let peer = stream.peer_addr().ok()?;
        let client = Client::builder().with_stream(stream, peer);
        *worker.client.borrow_mut() = Some(client.clone());
        Some(client)
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let scenario = Scenario {
        items: arg(&args, "--items").unwrap_or(100),
        bug: args.iter().any(|a| a == "--broken").then_some(Bug::ForgetsTimedOutCalls),
        ..Scenario::default()
    };
    let broken = if scenario.bug.is_some() { " --broken" } else { "" };
    if let Some(seed) = arg(&args, "--seed") {
        let mut config = config(seed);
        config.trace |= args.iter().any(|a| a == "--trace");
        // A shrunk failure's replay command names the faults to leave out.
        if let Ok(skip) = std::env::var("CORIO_SIM_SKIP") {
            config.skip = skip.split(',').filter_map(|n| n.trim().parse().ok()).collect();
        }
        let mut world = World::with_config(config);
        let summary = scenario_run(&mut world, &scenario);
        println!(
            "seed {seed}: {summary}, {} faults, {:.1?} simulated, digest {}",
            world.faults().len(),
            world.elapsed(),
            world.digest()
        );
        for applied in world.faults() {
            println!("    {applied}");
        }
        return if summary.starts_with("FAILED") { ExitCode::FAILURE } else { ExitCode::SUCCESS };
    }
    let seeds = arg(&args, "--seeds").unwrap_or(1000);
    let first = arg(&args, "--first-seed").unwrap_or(0);
    let replay = format!("cargo run --release --example sim_cluster -- --seed {{seed}}{broken}");
    let report = Harness::new()
        .seeds(seeds)
        .first_seed(first)
        .recheck_every(100)
        .config(config)
        .replay_command(&replay)
        .search(test(&scenario));
    let per_minute = report.seeds_run as f64 / report.elapsed.as_secs_f64() * 60.0;
    println!(
        "sim_cluster: {} seeds in {:.2?}: {per_minute:.0} seeds per minute",
        report.seeds_run, report.elapsed
    );
    match report.failure {
        Some(failure) => {
            println!("{failure}");
            ExitCode::FAILURE
        }
        None => ExitCode::SUCCESS,
    }
}

/// The value after `flag`, parsed.
fn arg<T: std::str::FromStr>(args: &[String], flag: &str) -> Option<T> {
    args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok())
}

/// One run, described in a line ("FAILED: ..." when it failed).
fn scenario_run(world: &mut World, scenario_: &Scenario) -> String {
    let summary = scenario(world, scenario_);
    match world.run() {
        Err(error) => format!("FAILED: {error}"),
        Ok(()) => match summary.take() {
            None => "FAILED: the coordinator did not finish".into(),
            Some(summary) => match summary.check() {
                Ok(()) => summary.to_string(),
                Err(error) => format!("FAILED: {error}"),
            },
        },
    }
}
