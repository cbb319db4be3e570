//! What every simulated socket reaches ([`Shared`]: the clock, the network,
//! the nodes, the log), and the current node: which node's runtime the
//! world is driving right now.
//!
//! The world drives one node at a time on this thread. While it drives a
//! node, this file's thread-local names it (with the world's `Shared`), so
//! `TcpStream::connect` knows where it is called from and `stop_signal`
//! knows whose stop to wait for. It is the sim's only thread-local, set and
//! cleared by the world around each turn (and around a node's start and
//! crash).

use std::cell::RefCell;
use std::rc::Rc;
use std::task::Waker;

use corio_runtime::time::{Instant, VirtualClock};

use crate::digest::Log;
use crate::net::{Net, Wakes};
use crate::node::{NodeId, NodeInfo};

/// What every simulated socket reaches: the clock, the network, the nodes,
/// the wakes waiting to be delivered, the log.
pub(crate) struct Shared {
    pub(crate) clock: VirtualClock,
    pub(crate) net: RefCell<Net>,
    pub(crate) nodes: RefCell<Vec<NodeInfo>>,
    /// Per node: wakers to wake the next time the world drives it.
    pub(crate) pending: RefCell<Vec<Vec<Waker>>>,
    pub(crate) log: RefCell<Log>,
}

impl Shared {
    pub(crate) fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Queues wakes for their nodes; the world wakes them while driving
    /// each node, so every wake lands on the node's own run queue.
    pub(crate) fn defer_wakes(&self, wakes: Wakes) {
        if wakes.is_empty() {
            return;
        }
        let mut pending = self.pending.borrow_mut();
        for (node, waker) in wakes {
            pending[node].push(waker);
        }
    }
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
