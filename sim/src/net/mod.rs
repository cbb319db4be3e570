//! The simulated network: TCP-shaped streams and listeners between nodes,
//! with latency, partitions, clogged and slow links, resets and crashes.
//!
//! [`TcpListener`] and [`TcpStream`] have the shape of corio's TCP types
//! (`bind`, `accept`, `connect`, `AsyncRead`/`AsyncWrite`, `split` and
//! `into_split`, the same error kinds), so code written against those
//! traits runs here unchanged. Underneath there is no socket: a
//! connection is two `Endpoint`s in the world's `Net`, and everything that
//! crosses between nodes is a *segment* (connect, data, end of stream,
//! reset) with a delivery time, in one queue the world pops in time order.
//!
//! - **Writes** append to the receiving end's buffer and queue a `Data`
//!   segment; the bytes become readable when it is delivered. Each write's
//!   delivery time is drawn from the configured latency (plus a link's
//!   extra latency, plus a rare spike), and never earlier than the
//!   previous segment of the same direction: a stream stays in order, as
//!   TCP does. A writer may have [`NetConfig::window`] bytes unread by
//!   the peer; past that it waits (backpressure).
//! - **Partitions and clogs** act at delivery: a segment whose link is cut
//!   is held until the link heals (TCP retransmits; nothing is lost, it
//!   arrives late), then delivered at once, in order. A connect across a
//!   cut link waits too, and fails with `TimedOut` after
//!   [`NetConfig::connect_timeout`].
//! - **A crash** marks every socket of the node dead at once: the peers get
//!   a reset (`ConnectionReset`) a latency later; connects to the node are
//!   refused until it listens again.
//! - **Wakes** never happen here directly: a delivery or a read returns
//!   the wakers it freed, tagged with their node, and the world wakes them
//!   while it drives that node (`World::drive`), so the wake lands on the
//!   node's own run queue.

mod addr;
mod listener;
mod split;
mod stream;

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::ops::Range;
use std::task::Waker;
use std::time::Duration;

use corio_runtime::time::Instant;

pub use addr::ToSocketAddrs;
pub use listener::TcpListener;
pub use split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, WriteHalf};
pub use stream::TcpStream;

use crate::digest::Log;
use crate::node::{NodeId, NodeInfo};
use crate::rng::Rng;

/// Wakers freed by a network operation, each for the node whose task it wakes.
/// Stores `waker` in `slot` unless it holds one that wakes the same task.
pub(crate) fn store_waker(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(stored) => stored.clone_from(waker),
        empty => *empty = Some(waker.clone()),
    }
}

pub(crate) type Wakes = Vec<(NodeId, Waker)>;

/// Index of a connection in [`Net::conns`]; never reused within a run.
pub(crate) type ConnId = usize;

/// How the simulated network behaves. Part of [`Config`](crate::Config).
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// One-way latency of a segment, drawn uniformly from this range for
    /// each write (the jitter is its width). Default 200 µs to 2 ms.
    pub latency: Range<Duration>,
    /// Probability that a segment is delayed in flight by an extra
    /// [`spike`](NetConfig::spike) (default 0.01).
    pub spike_chance: f64,
    /// The extra delay of a spike (default 5 to 50 ms).
    pub spike: Range<Duration>,
    /// Bytes a writer may have in flight or unread by its peer before
    /// `write` waits (default 64 KiB).
    pub window: usize,
    /// How long a connect waits for an answer before `TimedOut` (default
    /// 3 s: a SYN into a partition gets none).
    pub connect_timeout: Duration,
}

impl Default for NetConfig {
    fn default() -> NetConfig {
        NetConfig {
            latency: Duration::from_micros(200)..Duration::from_millis(2),
            spike_chance: 0.01,
            spike: Duration::from_millis(5)..Duration::from_millis(50),
            window: 64 * 1024,
            connect_timeout: Duration::from_secs(3),
        }
    }
}

/// What a segment carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SegmentKind {
    /// Connection request, to the listening side.
    Syn,
    /// The listener took it, back to the connecting side.
    SynAck,
    /// Nobody listens there, back to the connecting side.
    Refused,
    /// `n` more bytes of the receiver's buffer become readable.
    Data(usize),
    /// End of stream.
    Fin,
    /// The connection is reset.
    Rst,
}

impl SegmentKind {
    fn code(self) -> u64 {
        match self {
            SegmentKind::Syn => 1,
            SegmentKind::SynAck => 2,
            SegmentKind::Refused => 3,
            SegmentKind::Data(n) => 4 | (n as u64) << 8,
            SegmentKind::Fin => 5,
            SegmentKind::Rst => 6,
        }
    }
}

/// Something in flight: delivered to `ends[to]` of `conn` at `at`.
#[derive(Debug, Clone, Copy)]
struct Segment {
    at: Instant,
    /// Send order: breaks ties between equal times, so delivery order is
    /// a function of the run alone.
    seq: u64,
    conn: ConnId,
    to: usize,
    kind: SegmentKind,
}

impl PartialEq for Segment {
    fn eq(&self, other: &Segment) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Segment {}

impl PartialOrd for Segment {
    fn partial_cmp(&self, other: &Segment) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Segment {
    fn cmp(&self, other: &Segment) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// Where a connection's establishment stands, for the connecting end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handshake {
    Connecting,
    Open,
    Refused,
}

/// One side of a connection.
#[derive(Debug)]
struct Endpoint {
    node: NodeId,
    addr: SocketAddr,
    handshake: Handshake,
    /// Bytes the peer sent here: the first `delivered` are readable, the
    /// rest are in flight.
    buffer: VecDeque<u8>,
    delivered: usize,
    /// End of stream arrived (after every byte before it).
    fin: bool,
    /// Reset: every read and write fails from now on.
    reset: bool,
    /// `shutdown(Read)`: reads return end of stream.
    read_shut: bool,
    /// `shutdown(Write)` or close: nothing more is sent.
    write_shut: bool,
    /// The socket is closed (every handle dropped, or the node crashed).
    released: bool,
    /// Bytes this end sent that the peer has not read yet (the window).
    unread_by_peer: usize,
    reader: Option<Waker>,
    /// The writer, or the task waiting for the connect to finish.
    writer: Option<Waker>,
    /// Delivery time of the last segment sent from here: the next one
    /// never arrives before it.
    last_at: Instant,
}

impl Endpoint {
    fn new(node: NodeId, addr: SocketAddr, now: Instant) -> Endpoint {
        Endpoint {
            node,
            addr,
            handshake: Handshake::Connecting,
            buffer: VecDeque::new(),
            delivered: 0,
            fin: false,
            reset: false,
            read_shut: false,
            write_shut: false,
            released: false,
            unread_by_peer: 0,
            reader: None,
            writer: None,
            last_at: now,
        }
    }

    /// Takes both wakers, for a change that concerns readers and writers.
    fn wake_all(&mut self, wakes: &mut Wakes) {
        let node = self.node;
        wakes.extend(self.reader.take().map(|waker| (node, waker)));
        wakes.extend(self.writer.take().map(|waker| (node, waker)));
    }
}

/// A connection: `ends[0]` connected, `ends[1]` was accepted.
#[derive(Debug)]
struct Conn {
    ends: [Endpoint; 2],
    /// `TcpStream`s (and so halves) alive for this connection, one per end
    /// at most. It is freed once both ends are closed and none is left: a
    /// stream whose end died in a crash still reads and writes errors.
    handles: u8,
}

impl Conn {
    /// The end on `side` (0 or 1) and the end across from it, both mutable.
    fn end_and_peer(&mut self, side: usize) -> (&mut Endpoint, &mut Endpoint) {
        let [first, second] = &mut self.ends;
        if side == 0 {
            (first, second)
        } else {
            (second, first)
        }
    }
}

/// A listening socket.
#[derive(Debug)]
struct Listening {
    /// Which `TcpListener` registered it (a dropped listener of an earlier
    /// life must not unbind its successor).
    id: u64,
    node: NodeId,
    /// Connections the handshake finished for, not accepted yet.
    backlog: VecDeque<ConnId>,
    acceptor: Option<Waker>,
}

/// The state of one direction of the link between two nodes.
#[derive(Debug, Default, Clone)]
struct Link {
    /// Cut until healed: segments are held.
    partitioned: bool,
    /// Clogged until then: segments wait for it.
    clogged_until: Option<Instant>,
    /// Added to every segment's latency (a slow link).
    extra: Duration,
}

/// The whole simulated network. Lives in the world's `Shared`, behind a
/// `RefCell`; methods return the wakers they free instead of waking.
pub(crate) struct Net {
    pub(crate) config: NetConfig,
    rng: Rng,
    conns: Vec<Option<Conn>>,
    listeners: BTreeMap<SocketAddr, Listening>,
    in_flight: BinaryHeap<Reverse<Segment>>,
    held: Vec<Segment>,
    links: BTreeMap<(NodeId, NodeId), Link>,
    seq: u64,
    next_listener: u64,
}

fn reset_error() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "connection reset by simulated peer")
}

impl Net {
    pub(crate) fn new(config: NetConfig, rng: Rng) -> Net {
        Net {
            config,
            rng,
            conns: Vec::new(),
            listeners: BTreeMap::new(),
            in_flight: BinaryHeap::new(),
            held: Vec::new(),
            links: BTreeMap::new(),
            seq: 0,
            next_listener: 0,
        }
    }

    /// When the next segment is due.
    pub(crate) fn next_delivery(&self) -> Option<Instant> {
        self.in_flight.peek().map(|Reverse(segment)| segment.at)
    }

    fn end(&mut self, conn: ConnId, side: usize) -> &mut Endpoint {
        &mut self.conns[conn].as_mut().expect("a live stream's connection exists").ends[side]
    }

    /// Queues a segment from `ends[1 - to]` to `ends[to]`, in order behind
    /// the previous one from the same end.
    fn send(&mut self, now: Instant, conn: ConnId, to: usize, kind: SegmentKind, log: &mut Log) {
        let Some(c) = self.conns[conn].as_ref() else { return };
        let (from_node, to_node) = (c.ends[1 - to].node, c.ends[to].node);
        let link_extra = self.links.get(&(from_node, to_node)).map_or(Duration::ZERO, |link| link.extra);
        let mut latency = self.rng.duration(self.config.latency.clone()) + link_extra;
        if self.rng.chance(self.config.spike_chance) {
            latency += self.rng.duration(self.config.spike.clone());
        }
        let from = &mut self.conns[conn].as_mut().expect("checked above").ends[1 - to];
        let at = (now + latency).max(from.last_at);
        from.last_at = at;
        self.seq += 1;
        self.in_flight.push(Reverse(Segment { at, seq: self.seq, conn, to, kind }));
        log.record(&[10, conn as u64, to as u64, kind.code()], || {
            format!(
                "send conn {conn} to side {to}: {kind:?} (node {from_node} -> {to_node}), due in {latency:?}"
            )
        });
    }

    // ---- connections -------------------------------------------------

    /// Starts a connection from `node` (at `local`) to `remote`, which is
    /// on `target`: queues the SYN. The caller waits with `poll_connected`.
    pub(crate) fn connect(
        &mut self,
        now: Instant,
        local: SocketAddr,
        node: NodeId,
        remote: SocketAddr,
        target: NodeId,
        log: &mut Log,
    ) -> ConnId {
        let conn = self.conns.len();
        self.conns.push(Some(Conn {
            ends: [Endpoint::new(node, local, now), Endpoint::new(target, remote, now)],
            handles: 1,
        }));
        self.send(now, conn, 1, SegmentKind::Syn, log);
        conn
    }

    /// `Ok(true)` once connected, `Ok(false)` (waker stored) while waiting.
    pub(crate) fn poll_connected(&mut self, conn: ConnId, waker: &Waker) -> io::Result<bool> {
        let end = self.end(conn, 0);
        if end.reset {
            return Err(reset_error());
        }
        match end.handshake {
            Handshake::Open => Ok(true),
            Handshake::Refused => {
                Err(io::Error::new(io::ErrorKind::ConnectionRefused, "connection refused by simulated node"))
            }
            Handshake::Connecting => {
                store_waker(&mut end.writer, waker);
                Ok(false)
            }
        }
    }

    pub(crate) fn local_addr(&self, conn: ConnId, side: usize) -> SocketAddr {
        self.conns[conn].as_ref().expect("live connection").ends[side].addr
    }

    pub(crate) fn peer_addr(&self, conn: ConnId, side: usize) -> SocketAddr {
        self.conns[conn].as_ref().expect("live connection").ends[1 - side].addr
    }

    /// Reads into `buf`: `Some(result)`, or `None` with the waker stored.
    /// A read that frees window space returns the peer writer's waker.
    pub(crate) fn read(
        &mut self,
        conn: ConnId,
        side: usize,
        buf: &mut [u8],
        waker: &Waker,
        wakes: &mut Wakes,
    ) -> Option<io::Result<usize>> {
        let window = self.config.window;
        let (end, peer) = self.conns[conn].as_mut().expect("live connection").end_and_peer(side);
        if end.reset {
            return Some(Err(reset_error()));
        }
        if end.read_shut || buf.is_empty() {
            return Some(Ok(0));
        }
        if end.delivered > 0 {
            let n = end.delivered.min(buf.len());
            for (slot, byte) in buf.iter_mut().zip(end.buffer.drain(..n)) {
                *slot = byte;
            }
            end.delivered -= n;
            let was_full = peer.unread_by_peer >= window;
            peer.unread_by_peer -= n;
            if was_full && peer.unread_by_peer < window {
                wakes.extend(peer.writer.take().map(|waker| (peer.node, waker)));
            }
            return Some(Ok(n));
        }
        if end.fin {
            return Some(Ok(0));
        }
        store_waker(&mut end.reader, waker);
        None
    }

    /// Writes what fits of `bufs` into the window: `Some(result)`, or
    /// `None` with the waker stored when the window is full.
    pub(crate) fn write(
        &mut self,
        now: Instant,
        conn: ConnId,
        side: usize,
        bufs: &[&[u8]],
        waker: &Waker,
        log: &mut Log,
    ) -> Option<io::Result<usize>> {
        let window = self.config.window;
        let (end, peer) = self.conns[conn].as_mut().expect("live connection").end_and_peer(side);
        if end.reset {
            return Some(Err(reset_error()));
        }
        if end.write_shut {
            return Some(Err(io::Error::new(io::ErrorKind::BrokenPipe, "write after shutdown")));
        }
        let total: usize = bufs.iter().map(|buf| buf.len()).sum();
        if total == 0 {
            return Some(Ok(0));
        }
        let room = window.saturating_sub(end.unread_by_peer);
        if room == 0 {
            store_waker(&mut end.writer, waker);
            return None;
        }
        let mut left = room.min(total);
        let written = left;
        let mut hash = 0u64;
        for buf in bufs {
            let take = left.min(buf.len());
            peer.buffer.extend(&buf[..take]);
            hash = hash.rotate_left(5) ^ crate::digest::hash_bytes(&buf[..take]);
            left -= take;
            if left == 0 {
                break;
            }
        }
        end.unread_by_peer += written;
        log.record(&[11, conn as u64, side as u64, written as u64, hash], || {
            format!("write conn {conn} side {side}: {written} bytes (hash {hash:016x})")
        });
        self.send(now, conn, 1 - side, SegmentKind::Data(written), log);
        Some(Ok(written))
    }

    /// `shutdown(how)` on one end.
    pub(crate) fn shutdown(
        &mut self,
        now: Instant,
        conn: ConnId,
        side: usize,
        read: bool,
        write: bool,
        log: &mut Log,
    ) {
        let end = self.end(conn, side);
        if read {
            end.read_shut = true;
        }
        if write && !end.write_shut && !end.reset {
            end.write_shut = true;
            if end.handshake == Handshake::Open {
                self.send(now, conn, 1 - side, SegmentKind::Fin, log);
            }
        }
    }

    /// The last handle of an end was dropped: close it (a FIN, unless it
    /// was reset or already shut), and free the connection once both ends
    /// are closed.
    pub(crate) fn release(&mut self, now: Instant, conn: ConnId, side: usize, log: &mut Log) {
        let Some(c) = self.conns[conn].as_mut() else { return };
        c.handles -= 1;
        let end = &mut c.ends[side];
        if end.released {
            self.free_if_closed(conn);
            return;
        }
        end.released = true;
        end.reader = None;
        end.writer = None;
        let (open, send_fin) = (end.handshake == Handshake::Open, !end.reset && !end.write_shut);
        end.write_shut = true;
        if open && send_fin {
            self.send(now, conn, 1 - side, SegmentKind::Fin, log);
        } else if !open && side == 0 {
            // A connect given up (dropped, timed out): if the listener
            // already took it, its SYN-ACK will meet a closed end and
            // answer with a reset (see `deliver`).
        }
        self.free_if_closed(conn);
    }

    fn free_if_closed(&mut self, conn: ConnId) {
        let both_closed = self.conns[conn]
            .as_ref()
            .is_some_and(|c| c.handles == 0 && c.ends.iter().all(|end| end.released));
        if both_closed {
            self.conns[conn] = None;
        }
    }

    // ---- listeners ---------------------------------------------------

    /// Binds a listener of `node` at `addr` (port 0: an ephemeral port);
    /// returns the address and the listener's id.
    pub(crate) fn bind(
        &mut self,
        node: NodeId,
        info: &mut NodeInfo,
        mut addr: SocketAddr,
    ) -> io::Result<(SocketAddr, u64)> {
        if addr.port() == 0 {
            addr.set_port(self.ephemeral_port(info, addr));
        }
        if self.listeners.contains_key(&addr) {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{addr} is already bound on the simulated node"),
            ));
        }
        self.next_listener += 1;
        let id = self.next_listener;
        self.listeners.insert(addr, Listening { id, node, backlog: VecDeque::new(), acceptor: None });
        Ok((addr, id))
    }

    /// A port of `info`'s node that no listener uses.
    pub(crate) fn ephemeral_port(&mut self, info: &mut NodeInfo, addr: SocketAddr) -> u16 {
        loop {
            let port = info.next_port;
            info.next_port = if port == u16::MAX { 49152 } else { port + 1 };
            if !self.listeners.contains_key(&SocketAddr::new(addr.ip(), port)) {
                return port;
            }
        }
    }

    /// Takes the next accepted connection, or stores the waker.
    pub(crate) fn poll_accept(
        &mut self,
        addr: SocketAddr,
        id: u64,
        waker: &Waker,
    ) -> io::Result<Option<ConnId>> {
        let Some(listening) = self.listeners.get_mut(&addr).filter(|listening| listening.id == id) else {
            return Err(io::Error::new(io::ErrorKind::NotConnected, "the simulated listener is closed"));
        };
        let conn = listening.backlog.pop_front();
        match conn {
            Some(conn) => self.conns[conn].as_mut().expect("a backlog connection is live").handles += 1,
            None => store_waker(&mut listening.acceptor, waker),
        }
        Ok(conn)
    }

    /// The listener `id` was dropped: connections not accepted yet are reset.
    pub(crate) fn unbind(&mut self, now: Instant, addr: SocketAddr, id: u64, log: &mut Log) {
        if self.listeners.get(&addr).is_some_and(|listening| listening.id == id) {
            let listening = self.listeners.remove(&addr).expect("checked");
            for conn in listening.backlog {
                self.abort_end(now, conn, 1, log);
            }
        }
    }

    /// Closes one end abruptly: the peer gets a reset.
    fn abort_end(&mut self, now: Instant, conn: ConnId, side: usize, log: &mut Log) {
        let Some(c) = self.conns[conn].as_mut() else { return };
        let end = &mut c.ends[side];
        if end.released {
            return;
        }
        end.released = true;
        end.reset = true;
        end.reader = None;
        end.writer = None;
        if !c.ends[1 - side].released {
            self.send(now, conn, 1 - side, SegmentKind::Rst, log);
        }
        self.free_if_closed(conn);
    }

    // ---- the world's side: delivery and faults ----------------------

    /// Delivers every segment due by `now`; returns the wakers it freed.
    pub(crate) fn deliver_due(&mut self, now: Instant, nodes: &[NodeInfo], log: &mut Log, wakes: &mut Wakes) {
        while let Some(Reverse(segment)) = self.in_flight.peek().copied() {
            if segment.at > now {
                break;
            }
            self.in_flight.pop();
            self.deliver(now, segment, nodes, log, wakes);
        }
    }

    fn deliver(
        &mut self,
        now: Instant,
        segment: Segment,
        nodes: &[NodeInfo],
        log: &mut Log,
        wakes: &mut Wakes,
    ) {
        let Segment { conn, to, kind, .. } = segment;
        let Some(c) = self.conns[conn].as_ref() else { return };
        let (from_node, to_node) = (c.ends[1 - to].node, c.ends[to].node);
        if from_node != to_node {
            if let Some(link) = self.links.get(&(from_node, to_node)) {
                if link.partitioned {
                    self.held.push(segment);
                    return;
                }
                if let Some(until) = link.clogged_until.filter(|&until| until > now) {
                    self.in_flight.push(Reverse(Segment { at: until, ..segment }));
                    return;
                }
            }
        }
        log.record(&[12, conn as u64, to as u64, kind.code()], || {
            format!("deliver conn {conn} to side {to}: {kind:?} (node {from_node} -> {to_node})")
        });
        match kind {
            SegmentKind::Syn => {
                if self.end(conn, to).released {
                    // Its node crashed while the SYN was held: the
                    // connecting side has been sent a reset already.
                    return;
                }
                let addr = self.end(conn, to).addr;
                let listening = self.listeners.get_mut(&addr).filter(|_| nodes[to_node].up);
                let accepted = listening.is_some();
                if let Some(listening) = listening {
                    listening.backlog.push_back(conn);
                    wakes.extend(listening.acceptor.take().map(|waker| (listening.node, waker)));
                }
                let end = self.end(conn, to);
                if accepted {
                    end.handshake = Handshake::Open;
                    self.send(now, conn, 1 - to, SegmentKind::SynAck, log);
                } else {
                    end.released = true;
                    self.send(now, conn, 1 - to, SegmentKind::Refused, log);
                }
            }
            SegmentKind::SynAck => {
                let end = self.end(conn, to);
                if end.released {
                    // The connect was given up meanwhile: reset the
                    // connection the listener took.
                    self.send(now, conn, 1 - to, SegmentKind::Rst, log);
                    return;
                }
                end.handshake = Handshake::Open;
                end.wake_all(wakes);
            }
            SegmentKind::Refused => {
                let end = self.end(conn, to);
                end.handshake = Handshake::Refused;
                end.wake_all(wakes);
                self.free_if_closed(conn);
            }
            SegmentKind::Data(n) => {
                let end = self.end(conn, to);
                if end.released || end.reset {
                    // Data for a closed socket: the sender gets a reset, as
                    // from a real kernel.
                    end.buffer.clear();
                    end.delivered = 0;
                    if !end.reset {
                        end.reset = true;
                        self.send(now, conn, 1 - to, SegmentKind::Rst, log);
                    }
                    return;
                }
                end.delivered += n;
                let node = end.node;
                wakes.extend(end.reader.take().map(|waker| (node, waker)));
            }
            SegmentKind::Fin => {
                let end = self.end(conn, to);
                end.fin = true;
                let node = end.node;
                wakes.extend(end.reader.take().map(|waker| (node, waker)));
            }
            SegmentKind::Rst => {
                let end = self.end(conn, to);
                end.reset = true;
                end.buffer.clear();
                end.delivered = 0;
                end.wake_all(wakes);
            }
        }
    }

    /// A node crashed: each of its sockets dies at once and its peers get
    /// a reset; its listeners are gone.
    pub(crate) fn crash(&mut self, now: Instant, node: NodeId, log: &mut Log) {
        for conn in 0..self.conns.len() {
            for side in 0..2 {
                let belongs = self.conns[conn].as_ref().is_some_and(|c| c.ends[side].node == node);
                if belongs {
                    self.abort_end(now, conn, side, log);
                }
            }
        }
        let listeners: Vec<(SocketAddr, u64)> = self
            .listeners
            .iter()
            .filter(|(_, listening)| listening.node == node)
            .map(|(addr, listening)| (*addr, listening.id))
            .collect();
        for (addr, id) in listeners {
            self.unbind(now, addr, id, log);
        }
    }

    /// Resets every open connection between `a` and `b` (both ends, now).
    pub(crate) fn reset_between(&mut self, a: NodeId, b: NodeId, wakes: &mut Wakes) -> usize {
        let mut count = 0;
        for c in self.conns.iter_mut().flatten() {
            let nodes = (c.ends[0].node, c.ends[1].node);
            if nodes == (a, b) || nodes == (b, a) {
                count += 1;
                for end in &mut c.ends {
                    if !end.released {
                        end.reset = true;
                        end.buffer.clear();
                        end.delivered = 0;
                        end.wake_all(wakes);
                    }
                }
            }
        }
        count
    }

    /// Cuts or heals both directions between `a` and `b`. Healing sends
    /// the held segments on at once, in their order.
    pub(crate) fn set_partitioned(&mut self, now: Instant, a: NodeId, b: NodeId, cut: bool) {
        for key in [(a, b), (b, a)] {
            self.links.entry(key).or_default().partitioned = cut;
        }
        if !cut {
            let (release, keep): (Vec<Segment>, Vec<Segment>) =
                std::mem::take(&mut self.held).into_iter().partition(|segment| {
                    let ends = self.conns[segment.conn]
                        .as_ref()
                        .map(|c| (c.ends[1 - segment.to].node, c.ends[segment.to].node));
                    ends.is_none_or(|nodes| !self.links.get(&nodes).is_some_and(|link| link.partitioned))
                });
            self.held = keep;
            for segment in release {
                self.in_flight.push(Reverse(Segment { at: now, ..segment }));
            }
        }
    }

    /// Heals every partition.
    pub(crate) fn heal_all(&mut self, now: Instant) {
        let cut: Vec<(NodeId, NodeId)> =
            self.links.iter().filter(|(_, link)| link.partitioned).map(|(&key, _)| key).collect();
        for (a, b) in cut {
            self.set_partitioned(now, a, b, false);
        }
    }

    /// Clogs the link `from -> to` until `until`: segments wait for it.
    pub(crate) fn clog(&mut self, from: NodeId, to: NodeId, until: Instant) {
        let link = self.links.entry((from, to)).or_default();
        link.clogged_until = Some(link.clogged_until.map_or(until, |old| old.max(until)));
    }

    /// Adds `extra` latency to both directions between `a` and `b`.
    pub(crate) fn slow(&mut self, a: NodeId, b: NodeId, extra: Duration) {
        for key in [(a, b), (b, a)] {
            self.links.entry(key).or_default().extra = extra;
        }
    }

    /// Open connections and segments in flight or held, for the world's
    /// summary.
    pub(crate) fn counts(&self) -> (usize, usize) {
        (self.conns.iter().flatten().count(), self.in_flight.len() + self.held.len())
    }
}
