//! What `bind` and `connect` accept: addresses and node names.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};

use crate::node::{node_of, NodeId, NodeInfo};

/// Something that names a simulated address: a `SocketAddr`, `(ip, port)`,
/// `"ip:port"`, or `"name:port"` / `(name, port)` where `name` is a node's
/// name (or `localhost`). The unspecified address (`0.0.0.0`) and
/// `127.0.0.1` mean the calling node itself, so server code that binds
/// `0.0.0.0:7000` or `127.0.0.1:0` runs unchanged.
///
/// Sealed: the forms are the ones listed, as with corio's `ToSocketAddrs`;
/// names resolve through the world, never DNS.
pub trait ToSocketAddrs: private::Sealed {}

mod private {
    use super::*;

    /// The resolution itself, kept out of the public API.
    pub trait Sealed {
        /// The host part (a name or an ip) and the port.
        fn parts(&self) -> io::Result<(Host<'_>, u16)>;
    }

    #[derive(Debug)]
    pub enum Host<'a> {
        Ip(IpAddr),
        Name(&'a str),
    }
}

use private::{Host, Sealed};

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("invalid simulated address {what:?}"))
}

fn split_host_port(s: &str) -> io::Result<(Host<'_>, u16)> {
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok((Host::Ip(addr.ip()), addr.port()));
    }
    let (host, port) = s.rsplit_once(':').ok_or_else(|| invalid(s))?;
    let port = port.parse().map_err(|_| invalid(s))?;
    Ok((Host::Name(host), port))
}

impl Sealed for SocketAddr {
    fn parts(&self) -> io::Result<(Host<'_>, u16)> {
        Ok((Host::Ip(self.ip()), self.port()))
    }
}
impl ToSocketAddrs for SocketAddr {}

impl Sealed for SocketAddrV4 {
    fn parts(&self) -> io::Result<(Host<'_>, u16)> {
        Ok((Host::Ip(IpAddr::V4(*self.ip())), self.port()))
    }
}
impl ToSocketAddrs for SocketAddrV4 {}

impl Sealed for (IpAddr, u16) {
    fn parts(&self) -> io::Result<(Host<'_>, u16)> {
        Ok((Host::Ip(self.0), self.1))
    }
}
impl ToSocketAddrs for (IpAddr, u16) {}

impl Sealed for (Ipv4Addr, u16) {
    fn parts(&self) -> io::Result<(Host<'_>, u16)> {
        Ok((Host::Ip(IpAddr::V4(self.0)), self.1))
    }
}
impl ToSocketAddrs for (Ipv4Addr, u16) {}

impl Sealed for (&str, u16) {
    fn parts(&self) -> io::Result<(Host<'_>, u16)> {
        Ok((self.0.parse().map_or(Host::Name(self.0), Host::Ip), self.1))
    }
}
impl ToSocketAddrs for (&str, u16) {}

impl Sealed for (String, u16) {
    fn parts(&self) -> io::Result<(Host<'_>, u16)> {
        Ok((self.0.parse().map_or(Host::Name(&self.0), Host::Ip), self.1))
    }
}
impl ToSocketAddrs for (String, u16) {}

impl Sealed for &str {
    fn parts(&self) -> io::Result<(Host<'_>, u16)> {
        split_host_port(self)
    }
}
impl ToSocketAddrs for &str {}

impl Sealed for String {
    fn parts(&self) -> io::Result<(Host<'_>, u16)> {
        split_host_port(self)
    }
}
impl ToSocketAddrs for String {}

impl Sealed for &String {
    fn parts(&self) -> io::Result<(Host<'_>, u16)> {
        split_host_port(self)
    }
}
impl ToSocketAddrs for &String {}

/// Resolves `addr` as seen from node `own`: the socket address (with the
/// node's simulated ip) and the node it belongs to.
pub(crate) fn resolve(
    addr: &impl ToSocketAddrs,
    nodes: &[NodeInfo],
    own: NodeId,
) -> io::Result<(SocketAddr, NodeId)> {
    let (host, port) = addr.parts()?;
    let node = match host {
        Host::Ip(ip) if ip.is_unspecified() || ip.is_loopback() && node_of_ip(ip).is_none() => own,
        Host::Ip(ip) => node_of_ip(ip).filter(|&node| node < nodes.len()).ok_or_else(|| {
            io::Error::new(io::ErrorKind::AddrNotAvailable, format!("{ip} is not a simulated node's address"))
        })?,
        Host::Name("localhost") => own,
        Host::Name(name) => nodes.iter().position(|info| info.name == name).ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("no simulated node is named {name:?}"))
        })?,
    };
    Ok((SocketAddr::new(IpAddr::V4(nodes[node].ip), port), node))
}

fn node_of_ip(ip: IpAddr) -> Option<NodeId> {
    match ip {
        IpAddr::V4(ip) => node_of(ip),
        IpAddr::V6(_) => None,
    }
}
