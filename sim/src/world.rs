//! The world: nodes (one corio runtime each), the network between them,
//! one virtual clock, one seed, and the loop that drives it all.
//!
//! # How a world runs
//!
//! Every node is a `Runtime` built with the world's [`VirtualClock`]
//! (`Builder::virtual_clock`) and a run-queue seed of its own drawn from
//! the world's (`Builder::seeded_order`). No node ever blocks or moves the
//! clock; the world does both, in [`World::step`]:
//!
//! 1. **Run** (`run_ready`): drive every node that has something to do
//!    (wakes the network freed for it, a timer due, a task queued) with
//!    `Runtime::run_until_stalled`, in an order drawn from the seed, until
//!    no node has. While a node is driven, its runtime is entered (its
//!    wakes go to its own queue) and `shared.rs` names it as current, so
//!    sockets know where they are.
//! 2. **Check** the invariants the test registered.
//! 3. **Advance** the clock straight to the next event: the earliest
//!    segment in flight, node timer, scheduled fault or chaos fault. There
//!    is no tick: a world that mostly sleeps costs only its events.
//! 4. **Fire** what is due: deliver segments (collecting the wakers they
//!    free, per node), apply faults.
//!
//! A crash drops the node's runtime, which is exactly what corio does when
//! a process's runtime goes away: every task's future is dropped, every
//! timer freed. The network first marks the node's sockets dead, so their
//! destructors send nothing and the peers see a reset.
//!
//! Everything the world does feeds the digest (`digest.rs`): same seed,
//! same digest, or the harness says why not.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use corio_runtime::time::{Instant, VirtualClock};
use corio_runtime::Runtime;

use crate::digest::{Digest, Log};
use crate::fault::{Applied, Chaos, Fault};
use crate::net::{Net, NetConfig, Wakes};
use crate::node::{NodeId, NodeInfo};
use crate::rng::{mix, Rng};
use crate::shared::{self, Shared};

/// How a world is set up. `Config::new(seed)` has the defaults.
#[derive(Debug, Clone)]
pub struct Config {
    /// The seed everything is drawn from.
    pub seed: u64,
    /// The network's latency, window and timeouts.
    pub net: NetConfig,
    /// Faults drawn from the seed, if any.
    pub chaos: Option<Chaos>,
    /// Chaos faults (by number) not to apply: see [`Chaos`].
    pub skip: Vec<u64>,
    /// A run whose clients have not finished after this much virtual time
    /// fails with [`SimError::TimeLimit`] (default one hour).
    pub time_limit: Duration,
    /// Print every event to stderr (default: whether `CORIO_SIM_TRACE` is
    /// set).
    pub trace: bool,
    /// Draw the order of ready tasks inside each node from the seed
    /// (default `true`); `false` keeps each node's FIFO.
    pub explore_order: bool,
}

impl Config {
    /// The defaults, with `seed`.
    pub fn new(seed: u64) -> Config {
        Config {
            seed,
            net: NetConfig::default(),
            chaos: None,
            skip: Vec::new(),
            time_limit: Duration::from_secs(3600),
            trace: std::env::var_os("CORIO_SIM_TRACE").is_some_and(|v| v != "0"),
            explore_order: true,
        }
    }

    /// Sets the network configuration.
    pub fn net(mut self, net: NetConfig) -> Config {
        self.net = net;
        self
    }

    /// Turns on faults drawn from the seed.
    pub fn chaos(mut self, chaos: Chaos) -> Config {
        self.chaos = Some(chaos);
        self
    }

    /// Sets the time limit.
    pub fn time_limit(mut self, limit: Duration) -> Config {
        self.time_limit = limit;
        self
    }
}

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimError {
    /// A task panicked (node runtimes abort on panic: a panic is a bug).
    Panicked {
        /// The node it ran on.
        node: String,
        /// The panic message.
        message: String,
        /// Virtual time since the start.
        at: Duration,
    },
    /// Clients wait, and nothing is left to happen: no segment in flight,
    /// no timer, no fault to come.
    Deadlock {
        /// Virtual time since the start.
        at: Duration,
        /// Clients that had not finished.
        waiting: Vec<String>,
    },
    /// Clients still running at `Config::time_limit`.
    TimeLimit {
        /// Virtual time since the start.
        at: Duration,
    },
    /// An invariant registered with [`World::invariant`] failed.
    Invariant {
        /// Its name.
        name: String,
        /// What it said.
        message: String,
        /// Virtual time since the start.
        at: Duration,
    },
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::Panicked { node, message, at } => {
                write!(f, "node {node} panicked at {at:?}: {message}")
            }
            SimError::Deadlock { at, waiting } => {
                write!(
                    f,
                    "deadlock at {at:?}: nothing left to happen, clients waiting: {}",
                    waiting.join(", ")
                )
            }
            SimError::TimeLimit { at } => write!(f, "clients still running at the time limit ({at:?})"),
            SimError::Invariant { name, message, at } => {
                write!(f, "invariant {name:?} failed at {at:?}: {message}")
            }
        }
    }
}

impl Error for SimError {}

/// The output of a client node, once it finishes. See [`World::client`].
pub struct ClientHandle<T> {
    output: Rc<RefCell<Option<T>>>,
    done: Rc<Cell<bool>>,
}

impl<T> ClientHandle<T> {
    /// Whether the client finished (or crashed: then there is no output).
    pub fn is_done(&self) -> bool {
        self.done.get()
    }

    /// Takes the output, if the client finished.
    pub fn take(&self) -> Option<T> {
        self.output.borrow_mut().take()
    }
}

impl<T> fmt::Debug for ClientHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientHandle").field("done", &self.done.get()).finish()
    }
}

type MakeMain = Rc<dyn Fn() -> Pin<Box<dyn Future<Output = ()>>>>;

/// A node as the world drives it.
struct Node {
    /// How to start it again; `None` for a client.
    main: Option<MakeMain>,
    /// The client's future until it is spawned.
    client: Option<Pin<Box<dyn Future<Output = ()>>>>,
    runtime: Option<Runtime>,
    /// Its next timer, as `run_until_stalled` last said.
    next_deadline: Option<Instant>,
    /// Its main future returned (this life).
    exited: Rc<Cell<bool>>,
    /// For clients: finished, with or without output.
    client_done: Option<Rc<Cell<bool>>>,
}

type Invariant = (String, Box<dyn FnMut(&World) -> Result<(), String>>);

/// A simulated world: named nodes, each with its own tasks and address, a
/// network between them, one virtual clock, faults, and one seed that
/// decides everything. See the crate docs for a whole test.
pub struct World {
    shared: Rc<Shared>,
    nodes: Vec<Node>,
    config: Config,
    /// Node order and per-node run-queue seeds.
    rng: Rng,
    chaos_rng: Rng,
    next_chaos: Option<Instant>,
    chaos_started: u64,
    /// Scripted faults and chaos repairs, by time then insertion order.
    schedule: BTreeMap<(Instant, u64), (Fault, Option<u64>)>,
    schedule_seq: u64,
    invariants: Vec<Invariant>,
    applied: Vec<Applied>,
    failure: Option<SimError>,
    start: Instant,
    order: Vec<NodeId>,
}

impl World {
    /// A world with the default configuration and `seed`.
    pub fn new(seed: u64) -> World {
        World::with_config(Config::new(seed))
    }

    /// A world set up by `config`.
    pub fn with_config(config: Config) -> World {
        let root = Rng::new(config.seed);
        let clock = VirtualClock::new();
        let shared = Rc::new(Shared {
            net: RefCell::new(Net::new(config.net.clone(), root.fork(1))),
            nodes: RefCell::new(Vec::new()),
            pending: RefCell::new(Vec::new()),
            log: RefCell::new(Log::new(config.trace, clock.clone())),
            clock,
        });
        let start = shared.now();
        let mut chaos_rng = root.fork(3);
        let next_chaos =
            config.chaos.as_ref().map(|chaos| start + chaos_rng.duration(chaos.interval.clone()));
        World {
            shared,
            nodes: Vec::new(),
            rng: root.fork(2),
            chaos_rng,
            next_chaos,
            chaos_started: 0,
            schedule: BTreeMap::new(),
            schedule_seq: 0,
            invariants: Vec::new(),
            applied: Vec::new(),
            failure: None,
            start,
            order: Vec::new(),
            config,
        }
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.config.seed
    }

    /// A generator for the test's own choices, drawn from the seed
    /// (`salt` keeps separate purposes independent).
    pub fn rng(&self, salt: u64) -> Rng {
        Rng::new(self.config.seed).fork(salt.wrapping_add(1 << 32))
    }

    /// Virtual time since the world started.
    pub fn elapsed(&self) -> Duration {
        self.shared.now().duration_since(self.start)
    }

    /// The world's clock reading (the same `Instant` tasks see).
    pub fn now(&self) -> Instant {
        self.shared.now()
    }

    /// The digest of everything that happened so far.
    pub fn digest(&self) -> Digest {
        self.shared.log.borrow().digest()
    }

    /// How many events the digest covers.
    pub fn events(&self) -> u64 {
        self.shared.log.borrow().events()
    }

    /// The faults applied so far, in order.
    pub fn faults(&self) -> &[Applied] {
        &self.applied
    }

    /// Whether the node is running (started, not crashed or exited).
    ///
    /// # Panics
    ///
    /// For an unknown name.
    pub fn is_up(&self, name: &str) -> bool {
        let id = self.id(name);
        self.nodes[id].runtime.is_some()
    }

    /// The simulated address of a node (port 0).
    ///
    /// # Panics
    ///
    /// For an unknown name.
    pub fn ip(&self, name: &str) -> std::net::Ipv4Addr {
        self.shared.nodes.borrow()[self.id(name)].ip
    }

    fn id(&self, name: &str) -> NodeId {
        self.shared
            .nodes
            .borrow()
            .iter()
            .position(|info| info.name == name)
            .unwrap_or_else(|| panic!("corio::sim: no node named {name:?}"))
    }

    fn name(&self, id: NodeId) -> String {
        self.shared.nodes.borrow()[id].name.clone()
    }

    fn add(
        &mut self,
        name: &str,
        main: Option<MakeMain>,
        client: Option<Pin<Box<dyn Future<Output = ()>>>>,
    ) -> NodeId {
        let mut nodes = self.shared.nodes.borrow_mut();
        assert!(nodes.iter().all(|info| info.name != name), "corio::sim: two nodes named {name:?}");
        let id = nodes.len();
        nodes.push(NodeInfo::new(id, name.to_string()));
        drop(nodes);
        self.shared.pending.borrow_mut().push(Vec::new());
        let client_done = client.as_ref().map(|_| Rc::new(Cell::new(false)));
        self.nodes.push(Node {
            main,
            client,
            runtime: None,
            next_deadline: None,
            exited: Rc::new(Cell::new(false)),
            client_done,
        });
        self.order.push(id);
        id
    }

    /// Adds a server node and starts it: `main` is its `main` function,
    /// called again from the start at every restart (state it keeps in its
    /// own tasks is lost in a crash, as in a real process). When the
    /// future returns, the node is down, as a process that exited.
    ///
    /// # Panics
    ///
    /// If a node has that name already.
    pub fn node<F, Fut>(&mut self, name: &str, main: F)
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let main: MakeMain = Rc::new(move || Box::pin(main()));
        let id = self.add(name, Some(main), None);
        self.start(id);
    }

    /// Adds a client node running `future` once, and starts it. [`run`](World::run)
    /// runs until every client has finished; the handle gives the output.
    /// Chaos never crashes a client.
    ///
    /// # Panics
    ///
    /// If a node has that name already.
    pub fn client<Fut>(&mut self, name: &str, future: Fut) -> ClientHandle<Fut::Output>
    where
        Fut: Future + 'static,
    {
        let output = Rc::new(RefCell::new(None));
        let slot = output.clone();
        let client = Box::pin(async move {
            let value = future.await;
            *slot.borrow_mut() = Some(value);
        });
        let id = self.add(name, None, Some(client));
        let done = self.nodes[id].client_done.clone().expect("a client");
        self.start(id);
        ClientHandle { output, done }
    }

    /// Registers an invariant, checked after every step (when the world
    /// is between two instants). A message fails the run with
    /// [`SimError::Invariant`].
    pub fn invariant(&mut self, name: &str, check: impl FnMut(&World) -> Result<(), String> + 'static) {
        self.invariants.push((name.to_string(), Box::new(check)));
    }

    /// Applies `fault` when the virtual clock reaches `at` (since the start).
    pub fn schedule(&mut self, at: Duration, fault: Fault) {
        let at = self.start + at;
        self.schedule_at(at, fault, None);
    }

    fn schedule_at(&mut self, at: Instant, fault: Fault, chaos: Option<u64>) {
        self.schedule_seq += 1;
        self.schedule.insert((at, self.schedule_seq), (fault, chaos));
    }

    // ---- faults, applied now ----------------------------------------

    /// Crashes a node now (see [`Fault::Crash`]).
    pub fn crash(&mut self, name: &str) {
        self.apply(Fault::Crash(name.into()), None);
    }

    /// Restarts a node now (see [`Fault::Restart`]).
    pub fn restart(&mut self, name: &str) {
        self.apply(Fault::Restart(name.into()), None);
    }

    /// Asks a node to stop (see [`Fault::Stop`]).
    pub fn stop(&mut self, name: &str) {
        self.apply(Fault::Stop(name.into()), None);
    }

    /// Cuts `a` and `b` apart (see [`Fault::Partition`]).
    pub fn partition(&mut self, a: &str, b: &str) {
        self.apply(Fault::Partition(a.into(), b.into()), None);
    }

    /// Heals a partition (see [`Fault::Heal`]).
    pub fn heal(&mut self, a: &str, b: &str) {
        self.apply(Fault::Heal(a.into(), b.into()), None);
    }

    /// Heals every partition.
    pub fn heal_all(&mut self) {
        self.apply(Fault::HealAll, None);
    }

    /// Clogs the link `from -> to` for `duration` (see [`Fault::Clog`]).
    pub fn clog(&mut self, from: &str, to: &str, duration: Duration) {
        self.apply(Fault::Clog { from: from.into(), to: to.into(), duration }, None);
    }

    /// Adds latency between two nodes (see [`Fault::Slow`]).
    pub fn slow(&mut self, a: &str, b: &str, extra: Duration) {
        self.apply(Fault::Slow { a: a.into(), b: b.into(), extra }, None);
    }

    /// Resets the connections between two nodes (see [`Fault::Reset`]).
    pub fn reset(&mut self, a: &str, b: &str) {
        self.apply(Fault::Reset(a.into(), b.into()), None);
    }

    fn apply(&mut self, fault: Fault, chaos: Option<u64>) {
        let now = self.shared.now();
        let at = self.elapsed();
        let code = self.fault_code(&fault);
        self.shared.log.borrow_mut().record(&code, || format!("fault: {fault}"));
        self.applied.push(Applied { at, fault: fault.clone(), chaos });
        let mut wakes = Wakes::new();
        match fault {
            Fault::Crash(name) => self.crash_node(self.id(&name)),
            Fault::Restart(name) => {
                let id = self.id(&name);
                assert!(self.nodes[id].main.is_some(), "corio::sim: client {name:?} cannot be restarted");
                self.crash_node(id);
                self.start(id);
            }
            Fault::Stop(name) => {
                let id = self.id(&name);
                let mut nodes = self.shared.nodes.borrow_mut();
                nodes[id].stop = true;
                wakes.extend(nodes[id].stop_waiters.drain(..).map(|waker| (id, waker)));
            }
            Fault::Partition(a, b) => {
                let (a, b) = (self.id(&a), self.id(&b));
                self.shared.net.borrow_mut().set_partitioned(now, a, b, true);
            }
            Fault::Heal(a, b) => {
                let (a, b) = (self.id(&a), self.id(&b));
                self.shared.net.borrow_mut().set_partitioned(now, a, b, false);
            }
            Fault::HealAll => self.shared.net.borrow_mut().heal_all(now),
            Fault::Clog { from, to, duration } => {
                let (from, to) = (self.id(&from), self.id(&to));
                self.shared.net.borrow_mut().clog(from, to, now + duration);
            }
            Fault::Slow { a, b, extra } => {
                let (a, b) = (self.id(&a), self.id(&b));
                self.shared.net.borrow_mut().slow(a, b, extra);
            }
            Fault::Reset(a, b) => {
                let (a, b) = (self.id(&a), self.id(&b));
                self.shared.net.borrow_mut().reset_between(a, b, &mut wakes);
            }
        }
        self.shared.defer_wakes(wakes);
    }

    fn fault_code(&self, fault: &Fault) -> Vec<u64> {
        let id = |name: &String| self.id(name) as u64;
        match fault {
            Fault::Crash(n) => vec![30, id(n)],
            Fault::Restart(n) => vec![31, id(n)],
            Fault::Stop(n) => vec![32, id(n)],
            Fault::Partition(a, b) => vec![33, id(a), id(b)],
            Fault::Heal(a, b) => vec![34, id(a), id(b)],
            Fault::HealAll => vec![35],
            Fault::Clog { from, to, duration } => vec![36, id(from), id(to), duration.as_nanos() as u64],
            Fault::Slow { a, b, extra } => vec![37, id(a), id(b), extra.as_nanos() as u64],
            Fault::Reset(a, b) => vec![38, id(a), id(b)],
        }
    }

    // ---- node lives -------------------------------------------------

    /// Starts node `id`: a fresh runtime, its main future spawned.
    fn start(&mut self, id: NodeId) {
        let incarnation = {
            let mut nodes = self.shared.nodes.borrow_mut();
            let info = &mut nodes[id];
            info.incarnation += 1;
            info.up = true;
            info.stop = false;
            info.stop_waiters.clear();
            info.incarnation
        };
        self.shared.pending.borrow_mut()[id].clear();
        let order_seed = mix(self.config.seed ^ mix((id as u64) << 32 | u64::from(incarnation)));
        let mut builder =
            Runtime::builder().virtual_clock(&self.shared.clock).abort_on_panic(true).event_capacity(16);
        if self.config.explore_order {
            builder = builder.seeded_order(order_seed);
        }
        let runtime = builder.build().expect("corio::sim: could not build a node's runtime");
        let exited = Rc::new(Cell::new(false));
        let node = &mut self.nodes[id];
        node.exited = exited.clone();
        node.next_deadline = None;
        let main = {
            let _current = shared::enter(&self.shared, id);
            match (&node.main, node.client.take()) {
                (Some(make), _) => make(),
                (None, Some(client)) => client,
                (None, None) => unreachable!("a client starts once"),
            }
        };
        runtime.spawn(async move {
            main.await;
            exited.set(true);
        });
        node.runtime = Some(runtime);
        self.shared.log.borrow_mut().record(&[40, id as u64, u64::from(incarnation)], || {
            format!("node {id} starts (life {incarnation})")
        });
    }

    /// Node `id` goes down at once: its sockets die (peers get resets),
    /// then its runtime is dropped with every task in it.
    fn crash_node(&mut self, id: NodeId) {
        let Some(runtime) = self.nodes[id].runtime.take() else { return };
        let now = self.shared.now();
        self.shared.net.borrow_mut().crash(now, id, &mut self.shared.log.borrow_mut());
        self.down(id, runtime);
    }

    /// Marks the node down and drops its runtime (with the node current,
    /// for destructors that look).
    fn down(&mut self, id: NodeId, runtime: Runtime) {
        self.shared.nodes.borrow_mut()[id].up = false;
        self.shared.pending.borrow_mut()[id].clear();
        self.nodes[id].next_deadline = None;
        {
            let _current = shared::enter(&self.shared, id);
            drop(runtime);
        }
        if let Some(done) = &self.nodes[id].client_done {
            done.set(true);
        }
        self.shared.log.borrow_mut().record(&[41, id as u64], || format!("node {id} is down"));
    }

    // ---- the loop ---------------------------------------------------

    /// Runs until every client has finished.
    ///
    /// # Errors
    ///
    /// A [`SimError`]: a panic, a failed invariant, a deadlock, the time
    /// limit.
    pub fn run(&mut self) -> Result<(), SimError> {
        while !self.step()? {}
        Ok(())
    }

    /// Runs for `duration` of virtual time (clients or not).
    ///
    /// # Errors
    ///
    /// As [`run`](World::run), except that running out of events is not a
    /// deadlock here: the clock just moves on.
    pub fn run_for(&mut self, duration: Duration) -> Result<(), SimError> {
        let until = self.shared.now() + duration;
        loop {
            self.run_ready()?;
            self.check_invariants()?;
            match self.next_event() {
                Some(next) if next <= until => {
                    self.shared.clock.advance_to(next);
                    self.fire_due();
                }
                _ => {
                    self.shared.clock.advance_to(until);
                    self.fire_due();
                    return Ok(());
                }
            }
        }
    }

    /// One step: run every node that can run, check the invariants, then
    /// move the clock to the next event and fire it. `Ok(true)` once every
    /// client has finished (before moving the clock).
    ///
    /// # Errors
    ///
    /// As [`run`](World::run).
    pub fn step(&mut self) -> Result<bool, SimError> {
        self.run_ready()?;
        self.check_invariants()?;
        if self.nodes.iter().all(|node| node.client_done.as_ref().is_none_or(|done| done.get())) {
            return Ok(true);
        }
        let at = self.elapsed();
        let Some(next) = self.next_event() else {
            let waiting = (0..self.nodes.len())
                .filter(|&id| self.nodes[id].client_done.as_ref().is_some_and(|done| !done.get()))
                .map(|id| self.name(id))
                .collect();
            return Err(self.fail(SimError::Deadlock { at, waiting }));
        };
        if next.duration_since(self.start) > self.config.time_limit {
            return Err(self.fail(SimError::TimeLimit { at }));
        }
        self.shared.clock.advance_to(next);
        self.fire_due();
        Ok(false)
    }

    fn fail(&mut self, error: SimError) -> SimError {
        self.failure = Some(error.clone());
        self.shared.log.borrow_mut().record(&[50], || format!("run fails: {error}"));
        error
    }

    /// Drives nodes until none has anything to do at this instant.
    fn run_ready(&mut self) -> Result<(), SimError> {
        if let Some(failure) = &self.failure {
            return Err(failure.clone());
        }
        let mut order = std::mem::take(&mut self.order);
        let result = loop {
            self.rng.shuffle(&mut order);
            let mut ran = false;
            let mut failed = None;
            for &id in &order {
                if self.has_work(id) {
                    ran = true;
                    if let Err(error) = self.drive(id) {
                        failed = Some(error);
                        break;
                    }
                }
            }
            if let Some(error) = failed {
                break Err(error);
            }
            if !ran {
                break Ok(());
            }
        };
        self.order = order;
        result
    }

    fn has_work(&self, id: NodeId) -> bool {
        let node = &self.nodes[id];
        let Some(runtime) = &node.runtime else { return false };
        !self.shared.pending.borrow()[id].is_empty()
            || node.next_deadline.is_some_and(|deadline| deadline <= self.shared.now())
            || !runtime.is_stalled()
    }

    /// One turn of node `id`: wake what the network freed for it, run its
    /// tasks until they stall.
    fn drive(&mut self, id: NodeId) -> Result<(), SimError> {
        let wakers = std::mem::take(&mut self.shared.pending.borrow_mut()[id]);
        let node = &mut self.nodes[id];
        let runtime = node.runtime.as_ref().expect("only running nodes are driven");
        let polls_before = runtime.stats().polls;
        let result = {
            let _current = shared::enter(&self.shared, id);
            catch_unwind(AssertUnwindSafe(|| {
                let _entered = runtime.enter();
                for waker in wakers {
                    waker.wake();
                }
                runtime.run_until_stalled()
            }))
        };
        let polls = runtime.stats().polls - polls_before;
        self.shared
            .log
            .borrow_mut()
            .record(&[42, id as u64, polls], || format!("node {id} ran {polls} polls"));
        match result {
            Ok(next) => node.next_deadline = next,
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "a panic with a non-string payload".into());
                let at = self.elapsed();
                let node = self.name(id);
                return Err(self.fail(SimError::Panicked { node, message, at }));
            }
        }
        if node.exited.get() {
            let runtime = node.runtime.take().expect("driven just now");
            self.down(id, runtime);
        }
        Ok(())
    }

    fn check_invariants(&mut self) -> Result<(), SimError> {
        if self.invariants.is_empty() {
            return Ok(());
        }
        let mut invariants = std::mem::take(&mut self.invariants);
        let mut failed = None;
        for (name, check) in &mut invariants {
            if let Err(message) = check(self) {
                failed = Some(SimError::Invariant { name: name.clone(), message, at: self.elapsed() });
                break;
            }
        }
        self.invariants = invariants;
        match failed {
            Some(error) => Err(self.fail(error)),
            None => Ok(()),
        }
    }

    /// The earliest of: a segment's delivery, a node's timer, a scheduled
    /// fault, the next chaos fault.
    fn next_event(&self) -> Option<Instant> {
        let delivery = self.shared.net.borrow().next_delivery();
        let timer = self
            .nodes
            .iter()
            .filter(|node| node.runtime.is_some())
            .filter_map(|node| node.next_deadline)
            .min();
        let scheduled = self.schedule.keys().next().map(|&(at, _)| at);
        [delivery, timer, scheduled, self.next_chaos].into_iter().flatten().min()
    }

    /// Fires what is due now: deliveries, scheduled faults, chaos.
    fn fire_due(&mut self) {
        let now = self.shared.now();
        let mut wakes = Wakes::new();
        {
            let nodes = self.shared.nodes.borrow();
            let mut log = self.shared.log.borrow_mut();
            self.shared.net.borrow_mut().deliver_due(now, &nodes, &mut log, &mut wakes);
        }
        self.shared.defer_wakes(wakes);
        while let Some(entry) = self.schedule.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (fault, chaos) = entry.remove();
            self.apply(fault, chaos);
        }
        while self.next_chaos.is_some_and(|at| at <= now) {
            self.chaos_step(now);
        }
    }

    /// Starts the next chaos fault and schedules its repair.
    fn chaos_step(&mut self, now: Instant) {
        let chaos = self.config.chaos.clone().expect("chaos is configured");
        let number = self.chaos_started;
        self.chaos_started += 1;
        let past_until = now.duration_since(self.start) >= chaos.until;
        self.next_chaos = (!past_until).then(|| now + self.chaos_rng.duration(chaos.interval.clone()));
        if past_until {
            return;
        }
        // Draw everything first, the same way whether or not it applies.
        let targets: Vec<NodeId> = if chaos.targets.is_empty() {
            (0..self.nodes.len()).filter(|&id| self.nodes[id].main.is_some()).collect()
        } else {
            chaos.targets.iter().map(|name| self.id(name)).collect()
        };
        let weights = [chaos.crash, chaos.partition, chaos.clog, chaos.reset, chaos.slow];
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let mut pick = self.chaos_rng.below(total.max(1));
        let kind = weights.iter().position(|&w| {
            let hit = pick < u64::from(w);
            pick = pick.saturating_sub(u64::from(w));
            hit
        });
        let target = targets.get(self.chaos_rng.below(targets.len() as u64) as usize).copied();
        let other = self.chaos_rng.below(self.nodes.len().saturating_sub(1) as u64) as usize;
        let duration = self.chaos_rng.duration(chaos.duration.clone());
        let extra = self.chaos_rng.duration(Duration::from_millis(1)..Duration::from_millis(20));
        let (Some(kind), Some(target)) = (kind, target) else { return };
        let other = if other >= target { other + 1 } else { other };
        if self.config.skip.contains(&number) || other >= self.nodes.len() {
            return;
        }
        let (a, b) = (self.name(target), self.name(other));
        let (fault, repair) = match kind {
            0 => {
                let down = targets.iter().filter(|&&id| self.nodes[id].runtime.is_none()).count();
                if self.nodes[target].runtime.is_none() || down >= chaos.max_down {
                    return;
                }
                (Fault::Crash(a.clone()), Some(Fault::Restart(a)))
            }
            1 => (Fault::Partition(a.clone(), b.clone()), Some(Fault::Heal(a, b))),
            2 => (Fault::Clog { from: a, to: b, duration }, None),
            3 => (Fault::Reset(a, b), None),
            _ => (
                Fault::Slow { a: a.clone(), b: b.clone(), extra },
                Some(Fault::Slow { a, b, extra: Duration::ZERO }),
            ),
        };
        self.apply(fault, Some(number));
        if let Some(repair) = repair {
            self.schedule_at(now + duration, repair, None);
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // Nodes in order, each current while its runtime drops.
        for id in 0..self.nodes.len() {
            if let Some(runtime) = self.nodes[id].runtime.take() {
                let _current = shared::enter(&self.shared, id);
                drop(runtime);
            }
        }
    }
}

impl fmt::Debug for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (conns, in_flight) = self.shared.net.borrow().counts();
        f.debug_struct("World")
            .field("seed", &self.config.seed)
            .field("elapsed", &self.elapsed())
            .field("nodes", &self.shared.nodes.borrow().iter().map(|n| (&n.name, n.up)).collect::<Vec<_>>())
            .field("connections", &conns)
            .field("in_flight", &in_flight)
            .field("digest", &self.digest())
            .finish_non_exhaustive()
    }
}
