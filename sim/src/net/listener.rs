//! `TcpListener`: a simulated listening socket.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::addr::{resolve, ToSocketAddrs};
use super::TcpStream;
use crate::shared::{self, Shared};

/// A simulated listening socket, shaped like `corio::net::TcpListener`.
///
/// The handshake completes when a connect's SYN arrives (the connection
/// waits in the backlog until accepted, as with a kernel). Dropping the
/// listener resets the connections still in its backlog and frees the
/// port; a crash of the node does both at once.
pub struct TcpListener {
    shared: Rc<Shared>,
    addr: SocketAddr,
    id: u64,
}

impl TcpListener {
    /// Listens on `addr` of the current node: `"0.0.0.0:7000"`,
    /// `"127.0.0.1:0"` (port 0: an ephemeral port) and the node's own
    /// address all mean this node.
    ///
    /// # Errors
    ///
    /// `AddrInUse` if a listener of this node has the port,
    /// `AddrNotAvailable` for another node's address.
    ///
    /// # Panics
    ///
    /// Outside a simulated node.
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        let (shared, node) = shared::current();
        let (addr, id) = {
            let mut nodes = shared.nodes.borrow_mut();
            let (addr, owner) = resolve(&addr, &nodes, node)?;
            if owner != node {
                return Err(io::Error::new(
                    io::ErrorKind::AddrNotAvailable,
                    format!("{addr} belongs to another simulated node"),
                ));
            }
            shared.net.borrow_mut().bind(node, &mut nodes[node], addr)?
        };
        shared
            .log
            .borrow_mut()
            .record(&[20, node as u64, u64::from(addr.port())], || format!("node {node} listens on {addr}"));
        Ok(TcpListener { shared, addr, id })
    }

    /// Waits for a connection.
    ///
    /// # Errors
    ///
    /// `NotConnected` if the listener's node crashed meanwhile.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for a connection.
    ///
    /// # Errors
    ///
    /// As [`accept`](TcpListener::accept).
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let conn = self.shared.net.borrow_mut().poll_accept(self.addr, self.id, cx.waker())?;
        match conn {
            Some(conn) => {
                let stream = TcpStream::new(self.shared.clone(), conn, 1);
                let peer = stream.peer_addr()?;
                Poll::Ready(Ok((stream, peer)))
            }
            None => Poll::Pending,
        }
    }

    /// The address it listens on.
    ///
    /// # Errors
    ///
    /// Never; `io::Result` for the shape of `corio::net::TcpListener`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.addr)
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        let shared = &self.shared;
        shared.net.borrow_mut().unbind(shared.now(), self.addr, self.id, &mut shared.log.borrow_mut());
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("sim::TcpListener").field("addr", &self.addr).finish()
    }
}

/// The RPC server serves a simulated listener as it serves a TCP one.
impl corio_net::rpc::Listener for TcpListener {
    type Stream = TcpStream;

    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        TcpListener::poll_accept(self, cx)
    }
}
