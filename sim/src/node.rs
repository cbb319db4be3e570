//! Nodes as the network sees them: an id, a name, an address, whether it
//! is up. Each node is a corio `Runtime` of its own (see `world.rs`);
//! which one is running right now is `shared.rs`'s business.

use std::net::Ipv4Addr;
use std::task::Waker;

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
