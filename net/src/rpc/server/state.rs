//! [`ServerState`]: the open connections of one `serve` call, which
//! shutdown reaches and waits for.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::{Poll, Waker};

use corio_runtime::spawn_named;

use super::connection::ServerConnection;
use super::reader::run_connection;
use super::Server;
use crate::io::{AsyncRead, AsyncWrite};
use crate::rpc::outbox::Outbox;
use crate::rpc::transport::Transport;

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

    pub(super) fn start_connection<S>(self: &Rc<Self>, stream: S, peer: SocketAddr)
    where
        S: AsyncRead + AsyncWrite + Unpin + 'static,
    {
        let id = self.next_connection.get();
        self.next_connection.set(id + 1);
        let connection = Rc::new(ServerConnection {
            id,
            peer,
            outbox: Rc::new(Outbox::default()),
            running: RefCell::new(Default::default()),
            log: self.config.log.clone(),
            reader: RefCell::new(None),
            shutting_down: Cell::new(false),
            forced: Cell::new(None),
            read_at: Cell::new(None),
            max_in_flight: self.config.max_in_flight,
        });
        if self.shutting_down.get() {
            connection.begin_shutdown();
        }
        self.connections.borrow_mut().insert(id, connection.clone());
        spawn_named(
            "rpc server connection",
            run_connection(self.clone(), connection, Rc::new(Transport::new(stream))),
        );
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
