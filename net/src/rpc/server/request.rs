//! [`Request`]: one call, as a handler sees it.

use std::net::SocketAddr;
use std::rc::Rc;

use corio_runtime::time::Instant;

/// One call, as a handler sees it.
#[derive(Debug)]
pub struct Request {
    pub(super) method: Rc<str>,
    pub(super) payload: Vec<u8>,
    pub(super) peer: SocketAddr,
    pub(super) deadline: Option<Instant>,
    pub(super) id: u64,
}

impl Request {
    /// The method name (the route).
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The argument bytes.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The argument bytes, owned.
    pub fn into_payload(self) -> Vec<u8> {
        self.payload
    }

    /// The caller's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// When the caller stops waiting, if it said; the server drops the
    /// handler at that instant and answers `deadline exceeded`.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The request id on its connection.
    pub fn id(&self) -> u64 {
        self.id
    }
}
