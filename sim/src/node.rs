//! Nodes as the network and the node's own code see them, and the current
//! node: which node's runtime the world is driving right now.
//!
//! Each node is a corio `Runtime` of its own (see `world.rs`); the world
//! drives one at a time on this thread. While it drives a node, this file's
//! thread-local names it, so `TcpStream::connect` knows where it is called
//! from and [`stop_signal`] knows whose stop to wait for. It is the sim's
//! only thread-local, set and cleared by the world around each turn (and
//! around a node's start and crash).

use std::cell::RefCell;
use std::future::poll_fn;
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::task::{Poll, Waker};

use crate::world::Shared;

/// Index of a node in the world, in the order nodes were added.
pub(crate) type NodeId = usize;

/// What every part of the world may know about a node.
#[derive(Debug)]
pub(crate) struct NodeInfo {
    pub(crate) name: String,
    pub(crate) ip: Ipv4Addr,
    /// Its runtime exists (started and not crashed or exited).
    pub(crate) up: bool,
    /// Bumped at every start: sockets of an earlier life are dead.
    pub(crate) incarnation: u32,
    /// Next ephemeral port; kept across restarts so no port is reused.
    pub(crate) next_port: u16,
    /// The world asked this life of the node to stop.
    pub(crate) stop: bool,
    pub(crate) stop_waiters: Vec<Waker>,
}

impl NodeInfo {
    pub(crate) fn new(id: NodeId, name: String) -> NodeInfo {
        NodeInfo {
            name,
            ip: ip_of(id),
            up: false,
            incarnation: 0,
            next_port: 49152,
            stop: false,
            stop_waiters: Vec::new(),
        }
    }
}

/// Node `id`'s address: `127.77.x.y`, in the loopback range, so an address
/// that leaks out of the simulation into a real socket never leaves the
/// machine.
pub(crate) fn ip_of(id: NodeId) -> Ipv4Addr {
    let n = id + 1;
    Ipv4Addr::new(127, 77, (n >> 8) as u8, n as u8)
}

/// The node an address belongs to, if it is a simulated one.
pub(crate) fn node_of(ip: Ipv4Addr) -> Option<NodeId> {
    let [a, b, c, d] = ip.octets();
    let n = (usize::from(c) << 8) | usize::from(d);
    (a == 127 && b == 77 && n > 0).then(|| n - 1)
}

thread_local! {
    static CURRENT: RefCell<Option<(Rc<Shared>, NodeId)>> = const { RefCell::new(None) };
}

/// Makes `node` current until the guard drops (the world's side).
pub(crate) struct Enter {
    previous: Option<(Rc<Shared>, NodeId)>,
}

pub(crate) fn enter(shared: &Rc<Shared>, node: NodeId) -> Enter {
    let previous = CURRENT.with(|current| current.borrow_mut().replace((shared.clone(), node)));
    Enter { previous }
}

impl Drop for Enter {
    fn drop(&mut self) {
        let previous = self.previous.take();
        let left = CURRENT.with(|current| std::mem::replace(&mut *current.borrow_mut(), previous));
        drop(left);
    }
}

/// The world and node the calling code runs in.
///
/// # Panics
///
/// Outside a simulated node.
pub(crate) fn current() -> (Rc<Shared>, NodeId) {
    try_current().expect(
        "corio::sim: a simulated socket or signal was used outside a simulated node: create it in a \
         future given to `World::node` or `World::client`",
    )
}

pub(crate) fn try_current() -> Option<(Rc<Shared>, NodeId)> {
    CURRENT.with(|current| current.borrow().clone())
}

/// The name of the simulated node this code runs on, or `None` outside a
/// simulation.
pub fn current_node() -> Option<String> {
    try_current().map(|(shared, node)| shared.nodes.borrow()[node].name.clone())
}

/// Completes when the world asks this node to stop ([`World::stop`](crate::World::stop)):
/// the simulated `SIGTERM`. Pass it to a graceful shutdown, such as the RPC
/// server's `serve_with_shutdown`; when the node's main future returns, the
/// node is down, as a process that exited.
///
/// # Panics
///
/// Outside a simulated node.
pub async fn stop_signal() {
    let (shared, node) = current();
    let incarnation = shared.nodes.borrow()[node].incarnation;
    poll_fn(move |cx| {
        let mut nodes = shared.nodes.borrow_mut();
        let info = &mut nodes[node];
        if info.incarnation != incarnation || info.stop {
            return Poll::Ready(());
        }
        if !info.stop_waiters.iter().any(|waiter| waiter.will_wake(cx.waker())) {
            info.stop_waiters.push(cx.waker().clone());
        }
        Poll::Pending
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_map_back_to_nodes() {
        for id in [0, 1, 254, 255, 256, 40_000] {
            assert_eq!(node_of(ip_of(id)), Some(id));
        }
        assert_eq!(node_of(Ipv4Addr::LOCALHOST), None);
        assert_eq!(node_of(Ipv4Addr::new(127, 77, 0, 0)), None);
    }
}
