//! [`ServerState`]: the open connections of one `serve` call, which
//! shutdown reaches and waits for.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

use super::connection::ServerConnection;
use super::Server;

/// What every connection of one `serve` call shares.
pub(super) struct ServerState {
    pub(super) config: Server,
    /// Open connections, so shutdown can reach them.
    /// A `BTreeMap`, so shutdown visits them in a fixed order (a simulated
    /// run must not depend on a hasher's seed).
    pub(super) connections: RefCell<BTreeMap<u64, Rc<ServerConnection>>>,
    pub(super) next_connection: Cell<u64>,
    /// Set once shutdown has begun: connections accepted after that start
    /// with the shutdown notice.
    pub(super) shutting_down: Cell<bool>,
    /// The `serve` task, waiting for the last connection to close.
    pub(super) idle: RefCell<Option<Waker>>,
}

impl ServerState {
    pub(super) fn log(&self, line: &str) {
        (self.config.log)(line);
    }

    pub(super) fn connection_list(&self) -> Vec<Rc<ServerConnection>> {
        self.connections.borrow().values().cloned().collect()
    }

    /// Resolves once no connection is open.
    pub(super) async fn all_closed(&self) {
        poll_fn(|cx| {
            if self.connections.borrow().is_empty() {
                return Poll::Ready(());
            }
            self.idle.borrow_mut().get_or_insert_with(|| cx.waker().clone()).clone_from(cx.waker());
            Poll::Pending
        })
        .await;
    }

    pub(super) fn closed(&self, connection: u64) {
        let mut connections = self.connections.borrow_mut();
        connections.remove(&connection);
        let idle = if connections.is_empty() { self.idle.borrow_mut().take() } else { None };
        drop(connections);
        if let Some(waker) = idle {
            waker.wake();
        }
    }
}
