//! What code running on a simulated node can ask of its world: which node
//! it is, and whether the world asked it to stop.

use std::future::poll_fn;
use std::task::Poll;

use crate::shared::{current, try_current};

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
