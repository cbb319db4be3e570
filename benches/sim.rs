//! Simulation speed: corio's simulated world beside turmoil (0.7.2) on the
//! same workload, and virtual time against wall-clock time.
//!
//! The workload (issue 14), written twice with the same shape:
//! a coordinator and 3 workers; 100 sum-of-squares items, each 1 to 3 ms
//! of simulated work on a worker (a sleep, by item), up to 16 in flight;
//! one call per connection (connect, a 16-byte request, a 16-byte answer),
//! a 200 ms deadline, and on any failure the item goes to the next worker
//! after a short back-off; one fault per seed, drawn from the seed: a
//! worker crashes and restarts (turmoil: `crash` then `bounce`) or the
//! coordinator is partitioned from a worker and repaired, at 5 to 40 ms
//! for 5 to 60 ms. Latency 0.2 to 2 ms each way in both.
//!
//! - `sim/turmoil_seed`: one seed of the turmoil twin per iteration
//!   (tokio tasks, `turmoil::net`). turmoil steps time in fixed 1 ms ticks
//!   and polls every host each tick; it does not explore the order of
//!   ready tasks.
//! - `sim/corio_seed`: one seed of the corio twin (`corio::sim::net`),
//!   with the order of ready tasks drawn from the seed (the default).
//!   The clock jumps from one event to the next.
//! - `sim/corio_cluster_seed`: one seed of `examples/sim_cluster.rs` (the
//!   RPC layer, a reconnecting coordinator, seeded chaos): for scale.
//! - `sim/corio_sleepy_hour`: 10 nodes that each ping another once a
//!   second for one virtual hour (36,000 round trips). Virtual time over
//!   wall time is 3600 s divided by the time per iteration.
//!
//! Seeds per minute = 60 s / time per iteration. Run with
//! `cargo bench --bench sim`; `cargo test --benches` runs each once and
//! checks both twins compute the right total. `SIM_SEEDS=2000 cargo bench
//! --bench sim` instead runs 2,000 seeds of each twin and prints seeds per
//! minute of CPU time, which a busy machine does not distort.

#[path = "../examples/sim_cluster.rs"]
#[allow(dead_code)]
mod sim_cluster;

use std::cell::Cell;
use std::hint::black_box;
use std::rc::Rc;
use std::time::Duration;

use criterion::{criterion_group, Criterion, Throughput};

const WORKERS: usize = 3;
const ITEMS: u64 = 100;
const WINDOW: usize = 16;
const SPAN: u64 = 100;
const PORT: u16 = 7000;
const DEADLINE: Duration = Duration::from_millis(200);

fn sum_of_squares(start: u64, end: u64) -> u128 {
    (start..end).map(|k| u128::from(k) * u128::from(k)).sum()
}

fn expected() -> u128 {
    sum_of_squares(0, ITEMS * SPAN)
}

/// The simulated work of the item starting at `start`: 1 to 3 ms.
fn work(start: u64) -> Duration {
    Duration::from_millis(1 + (start / SPAN) % 3)
}

/// The seed's one fault: (crash rather than partition, worker, at, for).
fn fault_of(seed: u64) -> (bool, usize, Duration, Duration) {
    let mut rng = corio::sim::Rng::new(seed);
    let crash = rng.below(2) == 0;
    let worker = rng.below(WORKERS as u64) as usize;
    let at = rng.duration(Duration::from_millis(5)..Duration::from_millis(40));
    let length = rng.duration(Duration::from_millis(5)..Duration::from_millis(60));
    (crash, worker, at, length)
}

fn request(item: u64) -> [u8; 16] {
    let start = item * SPAN;
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&start.to_be_bytes());
    bytes[8..].copy_from_slice(&(start + SPAN).to_be_bytes());
    bytes
}

fn decode(bytes: [u8; 16]) -> (u64, u64) {
    let (a, b) = bytes.split_at(8);
    (u64::from_be_bytes(a.try_into().unwrap()), u64::from_be_bytes(b.try_into().unwrap()))
}

// ------------------------------------------------------------------ turmoil

mod turmoil_twin {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use turmoil::net::{TcpListener, TcpStream};

    async fn worker() -> turmoil::Result {
        let listener = TcpListener::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), PORT)).await?;
        loop {
            let (mut stream, _) = listener.accept().await?;
            tokio::task::spawn_local(async move {
                let mut req = [0u8; 16];
                if stream.read_exact(&mut req).await.is_err() {
                    return;
                }
                let (start, end) = decode(req);
                tokio::time::sleep(work(start)).await;
                let _ = stream.write_all(&sum_of_squares(start, end).to_be_bytes()).await;
            });
        }
    }

    async fn call(worker: usize, item: u64) -> std::io::Result<u128> {
        let mut stream = TcpStream::connect(format!("worker-{worker}:{PORT}")).await?;
        stream.write_all(&request(item)).await?;
        let mut answer = [0u8; 16];
        stream.read_exact(&mut answer).await?;
        Ok(u128::from_be_bytes(answer))
    }

    async fn compute(item: u64) -> u128 {
        for attempt in 0u64.. {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(2 * attempt.min(10))).await;
            }
            let worker = ((item + attempt) % WORKERS as u64) as usize;
            if let Ok(Ok(answer)) = tokio::time::timeout(DEADLINE, call(worker, item)).await {
                return answer;
            }
        }
        unreachable!()
    }

    pub fn run_seed(seed: u64) -> u128 {
        let mut sim = turmoil::Builder::new()
            .rng_seed(seed)
            .min_message_latency(Duration::from_micros(200))
            .max_message_latency(Duration::from_millis(2))
            .simulation_duration(Duration::from_secs(60))
            .build();
        for w in 0..WORKERS {
            sim.host(format!("worker-{w}"), worker);
        }
        let total = Rc::new(Cell::new(0u128));
        let out = total.clone();
        sim.client("coordinator", async move {
            let window = std::sync::Arc::new(tokio::sync::Semaphore::new(WINDOW));
            let mut tasks = Vec::new();
            for item in 0..ITEMS {
                let permit = window.clone().acquire_owned().await.unwrap();
                tasks.push(tokio::task::spawn_local(async move {
                    let answer = compute(item).await;
                    drop(permit);
                    answer
                }));
            }
            let mut sum = 0;
            for task in tasks {
                sum += task.await.unwrap();
            }
            out.set(sum);
            Ok(())
        });
        let (crash, worker, at, length) = fault_of(seed);
        let name = format!("worker-{worker}");
        let (mut started, mut repaired) = (false, false);
        while !sim.step().unwrap() {
            let now = sim.elapsed();
            if !started && now >= at {
                started = true;
                if crash {
                    sim.crash(name.as_str())
                } else {
                    sim.partition("coordinator", name.as_str())
                }
            }
            if started && !repaired && now >= at + length {
                repaired = true;
                if crash {
                    sim.bounce(name.as_str())
                } else {
                    sim.repair("coordinator", name.as_str())
                }
            }
        }
        total.get()
    }
}

// ------------------------------------------------------------------ corio

mod corio_twin {
    use super::*;
    use corio::io::{AsyncReadExt, AsyncWriteExt};
    use corio::sim::net::{TcpListener, TcpStream};
    use corio::sim::{Config, Fault, NetConfig, World};

    async fn worker() {
        let listener = TcpListener::bind(("0.0.0.0", PORT)).await.unwrap();
        loop {
            let Ok((mut stream, _)) = listener.accept().await else { continue };
            corio::spawn(async move {
                let mut req = [0u8; 16];
                if stream.read_exact(&mut req).await.is_err() {
                    return;
                }
                let (start, end) = decode(req);
                corio::time::sleep(work(start)).await;
                let _ = stream.write_all(&sum_of_squares(start, end).to_be_bytes()).await;
            });
        }
    }

    async fn call(worker: usize, item: u64) -> std::io::Result<u128> {
        let mut stream = TcpStream::connect((format!("worker-{worker}"), PORT)).await?;
        stream.write_all(&request(item)).await?;
        let mut answer = [0u8; 16];
        stream.read_exact(&mut answer).await?;
        Ok(u128::from_be_bytes(answer))
    }

    async fn compute(item: u64) -> u128 {
        for attempt in 0u64.. {
            if attempt > 0 {
                corio::time::sleep(Duration::from_millis(2 * attempt.min(10))).await;
            }
            let worker = ((item + attempt) % WORKERS as u64) as usize;
            if let Ok(Ok(answer)) = corio::time::timeout(DEADLINE, call(worker, item)).await {
                return answer;
            }
        }
        unreachable!()
    }

    pub fn run_seed(seed: u64) -> u128 {
        let net = NetConfig {
            latency: Duration::from_micros(200)..Duration::from_millis(2),
            spike_chance: 0.0,
            ..NetConfig::default()
        };
        let mut world = World::with_config(Config::new(seed).net(net));
        for w in 0..WORKERS {
            world.node(&format!("worker-{w}"), worker);
        }
        let total = world.client("coordinator", async {
            let window = Rc::new(corio::sync::Semaphore::new(WINDOW));
            let mut tasks = Vec::new();
            for item in 0..ITEMS {
                let permit = window.clone().acquire_owned().await.unwrap();
                tasks.push(corio::spawn(async move {
                    let answer = compute(item).await;
                    drop(permit);
                    answer
                }));
            }
            let mut sum = 0;
            for task in tasks {
                sum += task.await.unwrap();
            }
            sum
        });
        let (crash, worker, at, length) = fault_of(seed);
        let name = format!("worker-{worker}");
        if crash {
            world.schedule(at, Fault::Crash(name.clone()));
            world.schedule(at + length, Fault::Restart(name));
        } else {
            world.schedule(at, Fault::Partition("coordinator".into(), name.clone()));
            world.schedule(at + length, Fault::Heal("coordinator".into(), name));
        }
        world.run().unwrap();
        total.take().unwrap()
    }

    /// 10 nodes, each pinging the next once a second for an hour.
    pub fn sleepy_hour() -> u64 {
        const NODES: usize = 10;
        let mut world = World::with_config(Config::new(1).time_limit(Duration::from_secs(7200)));
        for n in 0..NODES {
            world.node(&format!("n{n}"), || async {
                let listener = TcpListener::bind(("0.0.0.0", PORT)).await.unwrap();
                loop {
                    let Ok((mut stream, _)) = listener.accept().await else { continue };
                    corio::spawn(async move {
                        let mut byte = [0u8; 1];
                        while stream.read_exact(&mut byte).await.is_ok() {
                            if stream.write_all(&byte).await.is_err() {
                                break;
                            }
                        }
                    });
                }
            });
        }
        let pings = Rc::new(Cell::new(0u64));
        let handles: Vec<_> = (0..NODES)
            .map(|n| {
                let pings = pings.clone();
                world.client(&format!("c{n}"), async move {
                    let mut stream =
                        TcpStream::connect((format!("n{}", (n + 1) % NODES), PORT)).await.unwrap();
                    let mut byte = [0u8; 1];
                    for _ in 0..3600 {
                        corio::time::sleep(Duration::from_secs(1)).await;
                        stream.write_all(b"p").await.unwrap();
                        stream.read_exact(&mut byte).await.unwrap();
                        pings.set(pings.get() + 1);
                    }
                })
            })
            .collect();
        world.run().unwrap();
        assert!(handles.iter().all(|h| h.is_done()));
        assert!(world.elapsed() >= Duration::from_secs(3600));
        pings.get()
    }
}

fn bench_sim(c: &mut Criterion) {
    assert_eq!(turmoil_twin::run_seed(0), expected(), "the turmoil twin computes the right total");
    assert_eq!(corio_twin::run_seed(0), expected(), "the corio twin computes the right total");

    let mut group = c.benchmark_group("sim");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(1));

    let mut seed = 0;
    group.bench_function("turmoil_seed", |b| {
        b.iter(|| {
            seed += 1;
            black_box(turmoil_twin::run_seed(seed))
        })
    });
    let mut seed = 0;
    group.bench_function("corio_seed", |b| {
        b.iter(|| {
            seed += 1;
            black_box(corio_twin::run_seed(seed))
        })
    });
    let mut seed = 0;
    let scenario = sim_cluster::Scenario::default();
    group.bench_function("corio_cluster_seed", |b| {
        b.iter(|| {
            seed += 1;
            let mut world = corio::sim::World::with_config(sim_cluster::config(seed));
            let summary = sim_cluster::scenario(&mut world, &scenario);
            world.run().unwrap();
            black_box(summary.take().unwrap())
        })
    });
    group.bench_function("corio_sleepy_hour", |b| b.iter(|| black_box(corio_twin::sleepy_hour())));
    group.finish();
}

criterion_group!(benches, bench_sim);

/// CPU time this process has used (user + system), from `/proc/self/stat`
/// (clock ticks of 10 ms): a rate that holds on a loaded machine.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// One seed of a twin: the total it computed.
type Twin = fn(u64) -> u128;

/// `SIM_SEEDS=N cargo bench --bench sim`: runs N seeds of each twin and
/// prints seeds per minute of CPU time (and of wall time), instead of the
/// criterion run.
fn seeds_per_minute(n: u64) {
    let twins: [(&str, Twin); 2] = [("turmoil", turmoil_twin::run_seed), ("corio", corio_twin::run_seed)];
    for (name, run) in twins {
        let (cpu, wall) = (cpu_time().unwrap_or_default(), std::time::Instant::now());
        for seed in 0..n {
            assert_eq!(run(seed), expected(), "{name} seed {seed}");
        }
        let cpu = cpu_time().unwrap_or_default().saturating_sub(cpu);
        let wall = wall.elapsed();
        let per_minute = |d: Duration| n as f64 * 60.0 / d.as_secs_f64().max(1e-9);
        println!(
            "{name:>8}: {n} seeds, {cpu:.2?} CPU ({:.0} seeds/min), {wall:.2?} wall ({:.0} seeds/min)",
            per_minute(cpu),
            per_minute(wall)
        );
    }
}

fn main() {
    if let Some(n) = std::env::var("SIM_SEEDS").ok().and_then(|n| n.parse().ok()) {
        seeds_per_minute(n);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
