//! Model-based test of the RPC server: random client sessions, sent as raw
//! frames over a real loopback connection to a real `Server`, checked step
//! by step against a small model of `docs/PROTOCOL.md`.
//!
//! A session is a list of client actions: calls to a route that answers at
//! once (`echo`), one that waits for a gate the test opens (`gated`), one
//! that yields once (`yield`, a handler that becomes a task), one that
//! panics (`boom`) and one that does not exist; with no deadline, a spent
//! one (0) or a long one; cancels, gate openings, pings, a duplicate of a
//! running id, a request with id 0, a response frame sent the wrong way,
//! the virtual clock jumping past deadlines and the grace period, server
//! shutdown, and the client closing its side. The client keeps Nagle's
//! algorithm on in some sessions, as the reporter did.
//!
//! The model (`Model`, written from PROTOCOL.md, not from the server) says
//! which frames the server must send after each action. The server runs
//! with a limit of 3 running requests, so sessions hit backpressure: the
//! model keeps the frames the server must not read yet, and lets the server
//! read them when a handler finishes.
//!
//! Deterministic: the runtime has virtual time, and after every action the
//! test sleeps one virtual microsecond. The clock moves only when no task
//! can run and no I/O is ready, so when that sleep ends the server has
//! handled everything it could (loopback delivers within the write). The
//! timers (deadlines of an hour, a grace period of 37 minutes, clock jumps
//! of 250 minutes) fire only when the session jumps the clock.
//!
//! Checks: the frames after each action are exactly the model's (as a
//! multiset; so a second answer for one request, an answer to a cancelled
//! call, a missing answer or a late notice all fail); the shutdown notice
//! precedes every code 7; every request gets at most one answer; handlers
//! start exactly for the requests the model runs, and finish exactly for
//! those it answers.
//!
//! It finds issue 11's defect 1 when it is reintroduced: build with
//! `RUSTFLAGS="--cfg corio_rpc_no_quickack"` (the server then no longer
//! acknowledges frames that produced no answer) and run
//! `cargo test --test rpc_model`. Shrunk failure (Nagle on): `echo`,
//! `yield`, `echo` answered, then a `gated` call, then an `echo` call that
//! never reaches the server ("the server went silent"): the client's kernel
//! holds it until the server's delayed ACK (see docs/PROTOCOL.md,
//! "Transport"). A server that stopped reading while any handler runs (what
//! the issue first suspected) fails too, shrunk to `echo`, `gated`, `ping`.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::future::poll_fn;
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use corio::frame::{Decoder, Frame, ReadBuffer};
use corio::io::{AsyncReadExt, AsyncWriteExt};
use corio::net::{TcpListener, TcpStream};
use corio::rpc::{RpcError, Server};
use proptest::prelude::*;

/// The server's limit of running requests per connection.
const MAX_IN_FLIGHT: usize = 3;
/// The deadline a call may carry. Not a round number of anything else, so
/// no two timers ever fire at the same instant.
const DEADLINE: Duration = Duration::from_millis(3_600_250);
/// The server's shutdown grace period.
const GRACE: Duration = Duration::from_millis(2_220_500);
/// How far an `Advance` jumps the clock: past every timer set before it.
const ADVANCE: Duration = Duration::from_secs(15_000);
/// The settling sleep after each action.
const SETTLE: Duration = Duration::from_micros(1);
/// Only a server that went silent makes a read wait this long.
const WATCHDOG: Duration = Duration::from_secs(10 * 24 * 3600);

// ---- Sessions ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ModelRoute {
    Echo,
    Gated,
    Yield,
    Boom,
    Unknown,
}

impl ModelRoute {
    fn method(self) -> &'static str {
        match self {
            ModelRoute::Echo => "echo",
            ModelRoute::Gated => "gated",
            ModelRoute::Yield => "yield",
            ModelRoute::Boom => "boom",
            ModelRoute::Unknown => "nope",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Deadline {
    None,
    Spent,
    Long,
}

impl Deadline {
    fn wire(self) -> Option<Duration> {
        match self {
            Deadline::None => None,
            Deadline::Spent => Some(Duration::ZERO),
            Deadline::Long => Some(DEADLINE),
        }
    }
}

#[derive(Debug, Clone)]
enum Action {
    Call(ModelRoute, Deadline),
    /// Cancel one of the requests sent on this connection (chosen by index).
    Cancel(usize),
    /// Open the gate of one of the gated requests sent on this connection.
    Release(usize),
    Ping,
    /// A request reusing the id of one the model says is running.
    Duplicate(usize),
    IdZero,
    /// A response frame, which only a server may send.
    WrongWay,
    /// Jump the virtual clock by `ADVANCE`.
    Advance,
    Shutdown,
    /// The client closes its sending side.
    HalfClose,
}

#[derive(Debug, Clone)]
struct Session {
    nagle: bool,
    actions: Vec<Action>,
}

fn action() -> impl Strategy<Value = Action> {
    let route = prop_oneof![
        3 => Just(ModelRoute::Echo),
        4 => Just(ModelRoute::Gated),
        1 => Just(ModelRoute::Yield),
        1 => Just(ModelRoute::Boom),
        1 => Just(ModelRoute::Unknown),
    ];
    let deadline =
        prop_oneof![3 => Just(Deadline::None), 1 => Just(Deadline::Spent), 2 => Just(Deadline::Long)];
    prop_oneof![
        10 => (route, deadline).prop_map(|(r, d)| Action::Call(r, d)),
        3 => any::<usize>().prop_map(Action::Cancel),
        3 => any::<usize>().prop_map(Action::Release),
        1 => Just(Action::Ping),
        1 => any::<usize>().prop_map(Action::Duplicate),
        1 => Just(Action::IdZero),
        1 => Just(Action::WrongWay),
        2 => Just(Action::Advance),
        1 => Just(Action::Shutdown),
        1 => Just(Action::HalfClose),
    ]
}

fn session() -> impl Strategy<Value = Session> {
    (any::<bool>(), prop::collection::vec(action(), 1..40))
        .prop_map(|(nagle, actions)| Session { nagle, actions })
}

// ---- The model of docs/PROTOCOL.md ----

/// A frame the server must send, compared without error messages.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Expect {
    Response(u64, Vec<u8>),
    Error(u64, u16),
    Pong(u64),
}

impl Expect {
    fn of(frame: &Frame) -> Option<Expect> {
        Some(match frame {
            Frame::Response { id, payload } => Expect::Response(*id, payload.to_vec()),
            Frame::Error { id, code, .. } => Expect::Error(*id, *code),
            Frame::Pong { id, .. } => Expect::Pong(*id),
            _ => return None,
        })
    }
}

/// A frame the client sent that the server has not handled yet.
#[derive(Debug, Clone)]
enum Sent {
    Request { id: u64, route: ModelRoute, deadline: Deadline, payload: Vec<u8> },
    Cancel(u64),
    Ping(u64),
    WrongWay,
    Eof,
}

/// The server's side of one connection, as PROTOCOL.md describes it.
#[derive(Debug, Default)]
struct ModelConnection {
    next_id: u64,
    next_ping: u64,
    /// Every request sent, by id: (route, payload).
    requests: Vec<(u64, ModelRoute, Vec<u8>)>,
    /// Sent but not handled yet ("Backpressure": at the limit the server
    /// reads nothing).
    unread: VecDeque<Sent>,
    /// Running gated handlers: id -> when their deadline fires.
    running: BTreeMap<u64, Option<Duration>>,
    /// `yield` handlers started in the current batch: running (they count
    /// against the limit, a cancel stops them) until the server stops
    /// reading for the moment, when they answer.
    yielding: Vec<(u64, Vec<u8>)>,
    /// Gates the test has opened.
    released: BTreeSet<u64>,
    /// Gated handlers that started, and those that finished (answered).
    started: BTreeSet<u64>,
    finished: BTreeSet<u64>,
    shutting_down: bool,
    /// The server has read the client's end of stream.
    saw_eof: bool,
    /// The client closed its sending side.
    client_closed: bool,
    /// The server closes (or closed) the connection.
    closed: bool,
    /// Frames the server has sent that the test has not read yet.
    expected: Vec<Expect>,
    /// The test has yet to read the end of stream.
    eof_expected: bool,
}

#[derive(Debug, Default)]
struct Model {
    now: Duration,
    listener_open: bool,
    shutdown_at: Option<Duration>,
    grace_over: bool,
    /// Connections so far; the last one is current.
    connections: Vec<ModelConnection>,
}

impl ModelConnection {
    fn usable(&self) -> bool {
        !self.closed && !self.client_closed
    }

    fn send(&mut self, frame: Sent, now: Duration) {
        self.unread.push_back(frame);
        self.pump(now);
    }

    /// Handles unread frames in order, as far as the limit allows.
    fn pump(&mut self, now: Duration) {
        loop {
            while !self.closed {
                if !self.shutting_down && self.running.len() + self.yielding.len() >= MAX_IN_FLIGHT {
                    break;
                }
                let Some(frame) = self.unread.pop_front() else { break };
                self.handle(frame, now);
            }
            // The server stops reading for now; the `yield` handlers it
            // started answer, which may let it read on.
            if self.closed || self.yielding.is_empty() {
                return;
            }
            for (id, payload) in std::mem::take(&mut self.yielding) {
                self.expected.push(Expect::Response(id, payload));
            }
            self.close_if_done();
        }
    }

    /// "What a server does with each frame".
    fn handle(&mut self, frame: Sent, now: Duration) {
        match frame {
            Sent::Request { id, route, deadline, payload } => {
                if id == 0 || self.running.contains_key(&id) || self.yielding.iter().any(|(y, _)| *y == id) {
                    return self.connection_error();
                }
                let answer = if self.shutting_down {
                    Expect::Error(id, 7)
                } else if route == ModelRoute::Unknown {
                    Expect::Error(id, 1)
                } else if deadline == Deadline::Spent {
                    Expect::Error(id, 2)
                } else {
                    match route {
                        ModelRoute::Echo => Expect::Response(id, payload),
                        ModelRoute::Yield => {
                            self.yielding.push((id, payload));
                            return;
                        }
                        ModelRoute::Boom => Expect::Error(id, 4),
                        ModelRoute::Gated => {
                            self.started.insert(id);
                            if !self.released.contains(&id) {
                                let expires = (deadline == Deadline::Long).then_some(now + DEADLINE);
                                self.running.insert(id, expires);
                                return;
                            }
                            self.finished.insert(id);
                            Expect::Response(id, payload)
                        }
                        ModelRoute::Unknown => unreachable!(),
                    }
                };
                self.expected.push(answer);
            }
            Sent::Cancel(id) => {
                self.running.remove(&id);
                self.yielding.retain(|(y, _)| *y != id);
            }
            Sent::Ping(id) => self.expected.push(Expect::Pong(id)),
            Sent::WrongWay => self.connection_error(),
            Sent::Eof => {
                self.saw_eof = true;
                self.close_if_done();
            }
        }
    }

    /// "Connection errors": one error frame to id 0, nothing else answered.
    fn connection_error(&mut self) {
        self.expected.push(Expect::Error(0, 6));
        self.running.clear();
        self.yielding.clear();
        self.unread.clear();
        self.closed = true;
        self.eof_expected = true;
    }

    /// The server closes once the client's end of stream is read and
    /// nothing runs.
    fn close_if_done(&mut self) {
        if self.saw_eof && self.running.is_empty() && self.yielding.is_empty() && !self.closed {
            self.closed = true;
            self.eof_expected = true;
        }
    }

    /// A gated handler finished (its gate opened, or its deadline fired).
    fn finished_running(&mut self, now: Duration) {
        self.close_if_done();
        self.pump(now);
    }

    fn release(&mut self, id: u64, now: Duration) {
        self.released.insert(id);
        if self.running.remove(&id).is_some() {
            self.finished.insert(id);
            let payload = self.payload_of(id);
            self.expected.push(Expect::Response(id, payload));
            self.finished_running(now);
        }
    }

    fn payload_of(&self, id: u64) -> Vec<u8> {
        self.requests.iter().rev().find(|(i, ..)| *i == id).map(|(.., p)| p.clone()).unwrap_or_default()
    }
}

impl Model {
    fn shutdown(&mut self) {
        self.shutdown_at = Some(self.now);
        self.listener_open = false;
        let now = self.now;
        if let Some(connection) = self.connections.last_mut().filter(|c| !c.closed) {
            connection.shutting_down = true;
            connection.expected.push(Expect::Error(0, 7));
            connection.pump(now);
        }
    }

    /// Fires every timer due before `now + ADVANCE`, in order.
    fn advance(&mut self) {
        let end = self.now + ADVANCE;
        loop {
            let grace = self.shutdown_at.filter(|_| !self.grace_over).map(|at| at + GRACE);
            let deadline = self
                .connections
                .last()
                .filter(|c| !c.closed)
                .and_then(|c| c.running.values().flatten().min().copied());
            let next = match (grace, deadline) {
                (Some(g), Some(d)) => g.min(d),
                (g, d) => match g.or(d) {
                    Some(t) => t,
                    None => break,
                },
            };
            if next > end {
                break;
            }
            self.now = next;
            let now = self.now;
            if grace == Some(next) {
                self.grace_over = true;
                if let Some(connection) = self.connections.last_mut().filter(|c| !c.closed) {
                    // "Shutdown", step 5.
                    let running: Vec<u64> = std::mem::take(&mut connection.running).into_keys().collect();
                    connection.expected.extend(running.into_iter().map(|id| Expect::Error(id, 3)));
                    connection.unread.clear();
                    connection.closed = true;
                    connection.eof_expected = true;
                }
                continue;
            }
            let connection = self.connections.last_mut().unwrap();
            let due: Vec<u64> =
                connection.running.iter().filter(|(_, at)| **at == Some(next)).map(|(id, _)| *id).collect();
            for id in due {
                connection.running.remove(&id);
                connection.expected.push(Expect::Error(id, 2));
            }
            connection.finished_running(now);
        }
        self.now = end;
    }
}

// ---- The live side ----

/// A door a `gated` handler waits at.
#[derive(Clone, Default)]
struct Gate(Rc<(Cell<bool>, RefCell<Option<Waker>>)>);

impl Gate {
    fn open(&self) {
        self.0 .0.set(true);
        if let Some(waker) = self.0 .1.borrow_mut().take() {
            waker.wake();
        }
    }

    async fn wait(&self) {
        poll_fn(|cx| {
            if self.0 .0.get() {
                return Poll::Ready(());
            }
            self.0 .1.borrow_mut().get_or_insert_with(|| cx.waker().clone()).clone_from(cx.waker());
            Poll::Pending
        })
        .await;
    }
}

/// Gates and handler events, keyed by (client port, request id).
#[derive(Clone, Default)]
struct World {
    gates: Rc<RefCell<HashMap<(u16, u64), Gate>>>,
    started: Rc<RefCell<BTreeSet<(u16, u64)>>>,
    finished: Rc<RefCell<BTreeSet<(u16, u64)>>>,
    dropped: Rc<RefCell<BTreeSet<(u16, u64)>>>,
}

impl World {
    fn gate(&self, key: (u16, u64)) -> Gate {
        self.gates.borrow_mut().entry(key).or_default().clone()
    }
}

/// Marks a gated handler dropped unless it finished.
struct DropLog(World, (u16, u64), bool);

impl Drop for DropLog {
    fn drop(&mut self) {
        if !self.2 {
            self.0.dropped.borrow_mut().insert(self.1);
        }
    }
}

fn server(world: &World) -> Server {
    let world = world.clone();
    Server::new()
        .max_in_flight(MAX_IN_FLIGHT)
        .shutdown_grace(GRACE)
        .on_log(|_| {})
        .route("echo", |request| async move { Ok(request.into_payload()) })
        .route("yield", |request| async move {
            corio::task::yield_now().await;
            Ok(request.into_payload())
        })
        .route("boom", |_| async {
            if true {
                panic!("model: boom");
            }
            Err(RpcError::Cancelled)
        })
        .route("gated", move |request| {
            let world = world.clone();
            async move {
                let key = (request.peer_addr().port(), request.id());
                world.started.borrow_mut().insert(key);
                let mut log = DropLog(world.clone(), key, false);
                world.gate(key).wait().await;
                log.2 = true;
                world.finished.borrow_mut().insert(key);
                Ok(request.into_payload())
            }
        })
}

/// The test's end of one connection.
struct Raw {
    stream: TcpStream,
    buffer: ReadBuffer,
    port: u16,
}

impl Raw {
    async fn connect(addr: SocketAddr, nagle: bool) -> Raw {
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(!nagle).unwrap();
        let port = stream.local_addr().unwrap().port();
        Raw { stream, buffer: ReadBuffer::new(), port }
    }

    async fn send(&mut self, frame: Frame<'_>) {
        let mut wire = Vec::new();
        frame.encode(&mut wire).unwrap();
        self.stream.write_all(&wire).await.unwrap();
    }

    /// The next frame; `None` at end of stream.
    async fn next(&mut self) -> Result<Option<Frame<'static>>, String> {
        let read = async {
            loop {
                if let Some(frame) = Decoder::new().decode(&mut self.buffer).map_err(|e| e.to_string())? {
                    return Ok(Some(frame));
                }
                match self.stream.read(self.buffer.unfilled()).await {
                    Ok(0) | Err(_) => return Ok(None),
                    Ok(n) => self.buffer.advance(n),
                }
            }
        };
        corio::time::timeout(WATCHDOG, read)
            .await
            .map_err(|_| "the server went silent: a frame the model expects never came".to_string())?
    }
}

/// One session in progress: the live connection, the model, what was seen.
struct Runner {
    world: World,
    addr: SocketAddr,
    shutdown: Gate,
    nagle: bool,
    model: Model,
    client: Option<Raw>,
    /// The client port of each connection so far (keys of `world`).
    ports: Vec<u16>,
    /// Answers received per (port, id), to catch a second one.
    answers: HashMap<(u16, u64), u32>,
    /// Ids a session deliberately sent twice: their answers cannot be told
    /// apart, so the one-answer count skips them (the model still checks).
    reused: BTreeSet<(u16, u64)>,
    /// The actions so far, for error messages.
    log: Vec<String>,
}

impl Runner {
    /// The current connection, if the server may still read from it.
    fn usable(&mut self) -> bool {
        self.model.connections.last().is_some_and(|c| c.usable())
    }

    /// Performs one action on the server and in the model; `false` if it
    /// does not apply now (nothing was sent or changed).
    async fn act(&mut self, action: &Action) -> bool {
        let now = self.model.now;
        let sends = !matches!(action, Action::Release(_) | Action::Advance | Action::Shutdown);
        if sends && !self.usable() {
            // A new connection, if the server still accepts and the last
            // one is gone (closed and its end of stream read).
            if !self.model.listener_open || self.model.connections.last().is_some_and(|c| !c.closed) {
                return false;
            }
            let client = Raw::connect(self.addr, self.nagle).await;
            self.ports.push(client.port);
            self.client = Some(client);
            self.model.connections.push(ModelConnection { next_id: 1, ..ModelConnection::default() });
        }
        let port = self.ports.last().copied().unwrap_or(0);
        let client = self.client.as_mut();
        let c = self.model.connections.last_mut();
        match action {
            Action::Call(route, deadline) => {
                let (client, c) = (client.unwrap(), c.unwrap());
                let id = c.next_id;
                c.next_id += 1;
                let payload = format!("{id}:{}", route.method()).into_bytes();
                c.requests.push((id, *route, payload.clone()));
                let method = route.method().into();
                client
                    .send(Frame::Request {
                        id,
                        method,
                        deadline: deadline.wire(),
                        payload: payload.clone().into(),
                    })
                    .await;
                c.send(Sent::Request { id, route: *route, deadline: *deadline, payload }, now);
            }
            Action::Cancel(pick) => {
                let (client, c) = (client.unwrap(), c.unwrap());
                if c.requests.is_empty() {
                    return false;
                }
                let id = c.requests[pick % c.requests.len()].0;
                client.send(Frame::Cancel { id }).await;
                c.send(Sent::Cancel(id), now);
            }
            Action::Release(pick) => {
                let Some(c) = c else { return false };
                let gated: Vec<u64> = c
                    .requests
                    .iter()
                    .filter(|(_, r, _)| *r == ModelRoute::Gated)
                    .map(|(id, ..)| *id)
                    .collect();
                if gated.is_empty() {
                    return false;
                }
                let id = gated[pick % gated.len()];
                self.world.gate((port, id)).open();
                c.release(id, now);
            }
            Action::Ping => {
                let (client, c) = (client.unwrap(), c.unwrap());
                let id = c.next_ping;
                c.next_ping += 1;
                client.send(Frame::Ping { id, payload: vec![].into() }).await;
                c.send(Sent::Ping(id), now);
            }
            Action::Duplicate(pick) => {
                let (client, c) = (client.unwrap(), c.unwrap());
                let running: Vec<u64> = c.running.keys().copied().collect();
                if running.is_empty() {
                    return false;
                }
                let id = running[pick % running.len()];
                self.reused.insert((port, id));
                let payload = b"dup".to_vec();
                client
                    .send(Frame::Request {
                        id,
                        method: "echo".into(),
                        deadline: None,
                        payload: payload.clone().into(),
                    })
                    .await;
                c.send(Sent::Request { id, route: ModelRoute::Echo, deadline: Deadline::None, payload }, now);
            }
            Action::IdZero => {
                let (client, c) = (client.unwrap(), c.unwrap());
                client
                    .send(Frame::Request {
                        id: 0,
                        method: "echo".into(),
                        deadline: None,
                        payload: vec![].into(),
                    })
                    .await;
                c.send(
                    Sent::Request {
                        id: 0,
                        route: ModelRoute::Echo,
                        deadline: Deadline::None,
                        payload: vec![],
                    },
                    now,
                );
            }
            Action::WrongWay => {
                let (client, c) = (client.unwrap(), c.unwrap());
                client.send(Frame::Response { id: 1, payload: vec![].into() }).await;
                c.send(Sent::WrongWay, now);
            }
            Action::Advance => {
                corio::time::sleep(ADVANCE).await;
                self.model.advance();
            }
            Action::Shutdown => {
                if self.model.shutdown_at.is_some() {
                    return false;
                }
                self.shutdown.open();
                self.model.shutdown();
            }
            Action::HalfClose => {
                let (client, c) = (client.unwrap(), c.unwrap());
                client.stream.shutdown(std::net::Shutdown::Write).unwrap();
                c.client_closed = true;
                c.send(Sent::Eof, now);
            }
        }
        true
    }

    /// Lets the server settle, then reads exactly what the model says it
    /// sent.
    async fn check(&mut self) -> Result<(), String> {
        corio::time::sleep(SETTLE).await;
        self.model.now += SETTLE;
        let Some(c) = self.model.connections.last_mut() else { return Ok(()) };
        let mut expected = std::mem::take(&mut c.expected);
        let eof = std::mem::replace(&mut c.eof_expected, false);
        let port = *self.ports.last().unwrap();
        let log = &self.log;
        let notice_expected = expected.contains(&Expect::Error(0, 7));
        let mut notice_seen = false;
        let client = self.client.as_mut().unwrap();
        while !expected.is_empty() {
            let frame = client
                .next()
                .await
                .map_err(|error| format!("after {log:?}: {error}; expected {expected:?}"))?
                .ok_or_else(|| format!("after {log:?}: the connection ended; still expected {expected:?}"))?;
            let got = Expect::of(&frame).ok_or_else(|| format!("after {log:?}: unexpected {frame:?}"))?;
            let Some(at) = expected.iter().position(|e| *e == got) else {
                return Err(format!("after {log:?}: got {frame:?}, expected one of {expected:?}"));
            };
            expected.remove(at);
            match got {
                Expect::Error(0, 7) => notice_seen = true,
                Expect::Error(_, 7) if notice_expected && !notice_seen => {
                    return Err(format!("after {log:?}: code 7 before the shutdown notice"))
                }
                Expect::Response(id, _) | Expect::Error(id, _)
                    if id != 0 && !self.reused.contains(&(port, id)) =>
                {
                    let count = self.answers.entry((port, id)).or_default();
                    *count += 1;
                    if *count > 1 {
                        return Err(format!("after {log:?}: a second answer for request {id}: {frame:?}"));
                    }
                }
                _ => {}
            }
        }
        if eof {
            let end =
                client.next().await.map_err(|error| format!("after {log:?}: {error}; expected the end"))?;
            if let Some(frame) = end {
                return Err(format!("after {log:?}: expected the end of stream, got {frame:?}"));
            }
        }
        Ok(())
    }

    /// Handlers started exactly for the requests the model ran, finished
    /// exactly for those it answered, and every other one was dropped.
    fn check_handlers(&self) -> Result<(), String> {
        let keys = |set: fn(&ModelConnection) -> &BTreeSet<u64>| -> BTreeSet<(u16, u64)> {
            let all = self.model.connections.iter().zip(&self.ports);
            all.flat_map(|(c, port)| set(c).iter().map(move |id| (*port, *id))).collect()
        };
        let (started, finished) = (keys(|c| &c.started), keys(|c| &c.finished));
        let dropped: BTreeSet<_> = started.difference(&finished).copied().collect();
        let log = &self.log;
        for (what, live, model) in [
            ("started", &self.world.started, &started),
            ("finished", &self.world.finished, &finished),
            ("dropped", &self.world.dropped, &dropped),
        ] {
            if *live.borrow() != *model {
                return Err(format!("{log:?}: handlers {what}: {:?}, the model: {model:?}", live.borrow()));
            }
        }
        Ok(())
    }
}

/// Runs one session; `Err` says where the server and the model parted.
async fn run(session: &Session) -> Result<(), String> {
    let world = World::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = Gate::default();
    let trigger = shutdown.clone();
    corio::spawn(server(&world).serve_with_shutdown(listener, async move { trigger.wait().await }));
    let mut runner = Runner {
        world,
        addr,
        shutdown,
        nagle: session.nagle,
        model: Model { listener_open: true, ..Model::default() },
        client: None,
        ports: Vec::new(),
        answers: HashMap::new(),
        reused: BTreeSet::new(),
        log: Vec::new(),
    };
    for action in &session.actions {
        runner.log.push(format!("{action:?}"));
        if runner.act(action).await {
            runner.check().await?;
        }
    }
    // Epilogue: open every gate of the current connection, one at a time,
    // then close our side; the server must then answer and close.
    let gated = runner
        .model
        .connections
        .last()
        .map_or(0, |c| c.requests.iter().filter(|(_, route, _)| *route == ModelRoute::Gated).count());
    for pick in 0..gated {
        let action = Action::Release(pick);
        runner.log.push(format!("epilogue {action:?}"));
        if runner.act(&action).await {
            runner.check().await?;
        }
    }
    runner.log.push("epilogue HalfClose".into());
    if runner.usable() && runner.act(&Action::HalfClose).await {
        runner.check().await?;
    }
    runner.check_handlers()
}

/// Silences the panics the `boom` route raises on purpose.
fn quiet_boom() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&"model: boom") {
                default(info);
            }
        }));
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn sessions_match_the_model_of_the_protocol(session in session()) {
        quiet_boom();
        let runtime = corio::Runtime::builder().virtual_time(true).build().unwrap();
        let outcome = runtime.block_on(run(&session));
        prop_assert!(outcome.is_ok(), "{}", outcome.unwrap_err());
    }
}
