//! Addresses: what `bind` and `connect` accept, and name lookup that does
//! not block the runtime.
//!
//! [`ToSocketAddrs`] is implemented for what tokio's is: a `SocketAddr`,
//! `(IpAddr, u16)`, `("host", u16)`, `"host:port"` strings, slices of
//! `SocketAddr`, and references to any of them. A *literal* address
//! (`"127.0.0.1:7000"`, `("::1", 80)`) is parsed on the spot, with no
//! lookup. A *name* (`"localhost:7000"`) must go through the system
//! resolver, `getaddrinfo`, which blocks (it may wait seconds on DNS), so it
//! runs on the blocking pool ([`corio_runtime::spawn_blocking`]) while the
//! runtime keeps serving every other task.
//!
//! A name can resolve to several addresses (IPv6 and IPv4, say). `connect`
//! and `bind` try them in order and return the first success, or the last
//! error, as tokio and std do.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Something that names one or more socket addresses, possibly through a
/// host name. Sealed: implemented for the types listed in the module docs.
///
/// # Examples
///
/// ```
/// use corio_net::net::{TcpListener, TcpStream};
///
/// corio_runtime::block_on(async {
///     // A literal: parsed, no lookup.
///     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
///     let port = listener.local_addr().unwrap().port();
///     // A name: resolved on the blocking pool; each address tried in turn.
///     let stream = TcpStream::connect(("localhost", port)).await.unwrap();
///     assert_eq!(stream.peer_addr().unwrap().port(), port);
/// });
/// ```
pub trait ToSocketAddrs: sealed::ToSocketAddrsPriv {}

pub(crate) mod sealed {
    use std::io;
    use std::net::SocketAddr;

    /// The hidden half of [`ToSocketAddrs`](super::ToSocketAddrs).
    pub trait ToSocketAddrsPriv {
        /// The addresses, or the name still to be looked up.
        fn to_lookup(&self) -> Lookup;
    }

    /// Parsed addresses, or a name for the resolver.
    #[derive(Debug)]
    pub enum Lookup {
        Ready(io::Result<Addrs>),
        Name(Name),
    }

    /// A name to resolve.
    #[derive(Debug, Clone)]
    pub enum Name {
        /// `"host:port"`.
        HostPort(String),
        /// `("host", port)`.
        Host(String, u16),
    }

    /// The addresses to try, in order.
    #[derive(Debug)]
    pub enum Addrs {
        One(Option<SocketAddr>),
        Many(std::vec::IntoIter<SocketAddr>),
    }

    impl Iterator for Addrs {
        type Item = SocketAddr;

        fn next(&mut self) -> Option<SocketAddr> {
            match self {
                Addrs::One(addr) => addr.take(),
                Addrs::Many(addrs) => addrs.next(),
            }
        }
    }
}

use sealed::{Addrs, Lookup, Name, ToSocketAddrsPriv};

fn one(addr: impl Into<SocketAddr>) -> Lookup {
    Lookup::Ready(Ok(Addrs::One(Some(addr.into()))))
}

macro_rules! literal {
    ($($ty:ty),*) => {$(
        impl ToSocketAddrs for $ty {}
        impl ToSocketAddrsPriv for $ty {
            fn to_lookup(&self) -> Lookup {
                one(*self)
            }
        }
    )*};
}

literal!(SocketAddr, SocketAddrV4, SocketAddrV6, (IpAddr, u16), (Ipv4Addr, u16), (Ipv6Addr, u16));

impl ToSocketAddrs for str {}
impl ToSocketAddrsPriv for str {
    fn to_lookup(&self) -> Lookup {
        match self.parse::<SocketAddr>() {
            Ok(addr) => one(addr),
            Err(_) => Lookup::Name(Name::HostPort(self.to_owned())),
        }
    }
}

impl ToSocketAddrs for String {}
impl ToSocketAddrsPriv for String {
    fn to_lookup(&self) -> Lookup {
        self.as_str().to_lookup()
    }
}

impl ToSocketAddrs for (&str, u16) {}
impl ToSocketAddrsPriv for (&str, u16) {
    fn to_lookup(&self) -> Lookup {
        let (host, port) = *self;
        match host.parse::<IpAddr>() {
            Ok(ip) => one((ip, port)),
            Err(_) => Lookup::Name(Name::Host(host.to_owned(), port)),
        }
    }
}

impl ToSocketAddrs for (String, u16) {}
impl ToSocketAddrsPriv for (String, u16) {
    fn to_lookup(&self) -> Lookup {
        (self.0.as_str(), self.1).to_lookup()
    }
}

impl ToSocketAddrs for [SocketAddr] {}
impl ToSocketAddrsPriv for [SocketAddr] {
    fn to_lookup(&self) -> Lookup {
        // Owned: the addresses outlive the borrow of `self` (the lookup
        // result is consumed after an `.await` for names).
        let owned: Vec<SocketAddr> = self.to_vec();
        Lookup::Ready(Ok(Addrs::Many(owned.into_iter())))
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {}
impl<T: ToSocketAddrsPriv + ?Sized> ToSocketAddrsPriv for &T {
    fn to_lookup(&self) -> Lookup {
        (**self).to_lookup()
    }
}

/// The addresses `addr` names: at once for a literal, through the resolver
/// on the blocking pool for a name.
pub(crate) async fn resolve<A: ToSocketAddrs + ?Sized>(addr: &A) -> io::Result<Addrs> {
    match addr.to_lookup() {
        Lookup::Ready(addrs) => addrs,
        Lookup::Name(name) => {
            let resolver = resolver();
            let addrs = corio_runtime::spawn_blocking(move || resolver(name))
                .await
                .map_err(|error| io::Error::other(format!("name lookup failed: {error}")))??;
            Ok(Addrs::Many(addrs.into_iter()))
        }
    }
}

/// Runs `attempt` on each address in turn; the first success wins, else the
/// last error (`InvalidInput` if there was no address at all).
pub(crate) async fn try_each<T, Fut>(
    addrs: Addrs,
    mut attempt: impl FnMut(SocketAddr) -> Fut,
) -> io::Result<T>
where
    Fut: Future<Output = io::Result<T>>,
{
    let mut last_error = None;
    for addr in addrs {
        match attempt(addr).await {
            Ok(done) => return Ok(done),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(no_addresses))
}

/// The first address `addr` names (for `send_to`, which, as in tokio, uses
/// only the first).
pub(crate) async fn first<A: ToSocketAddrs + ?Sized>(addr: &A) -> io::Result<SocketAddr> {
    resolve(addr).await?.next().ok_or_else(no_addresses)
}

fn no_addresses() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "could not resolve to any address")
}

/// Looks up the addresses of a host, like `tokio::net::lookup_host`:
/// `"host:port"`, `("host", port)`, or a literal (returned as it is).
///
/// # Examples
///
/// ```
/// corio_runtime::block_on(async {
///     let addrs: Vec<_> = corio_net::net::lookup_host("localhost:80").await.unwrap().collect();
///     assert!(addrs.iter().all(|addr| addr.ip().is_loopback() && addr.port() == 80));
/// });
/// ```
///
/// # Errors
///
/// What the system resolver reports (an unknown name, no port in a
/// `"host"` string: `InvalidInput`, ...).
pub async fn lookup_host(host: impl ToSocketAddrs) -> io::Result<impl Iterator<Item = SocketAddr>> {
    resolve(&host).await
}

type Resolver = std::sync::Arc<dyn Fn(Name) -> io::Result<Vec<SocketAddr>> + Send + Sync>;

/// The system resolver: std's `ToSocketAddrs`, that is `getaddrinfo`.
fn system(name: Name) -> io::Result<Vec<SocketAddr>> {
    use std::net::ToSocketAddrs as _;
    match name {
        Name::HostPort(host_port) => host_port.to_socket_addrs().map(Iterator::collect),
        Name::Host(host, port) => (host.as_str(), port).to_socket_addrs().map(Iterator::collect),
    }
}

#[cfg(not(test))]
fn resolver() -> Resolver {
    std::sync::Arc::new(system)
}

#[cfg(test)]
thread_local! {
    /// A unit test's stand-in for the system resolver on this thread.
    static TEST_RESOLVER: std::cell::RefCell<Option<Resolver>> = const { std::cell::RefCell::new(None) };
}

#[cfg(test)]
fn resolver() -> Resolver {
    TEST_RESOLVER.with(|r| r.borrow().clone()).unwrap_or_else(|| std::sync::Arc::new(system))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{mpsc, Arc, Mutex};
    use std::time::Duration;

    use super::*;
    use crate::net::{TcpListener, TcpStream};

    #[test]
    fn literals_parse_without_a_lookup() {
        // A resolver that fails the test if anything reaches it.
        TEST_RESOLVER.with(|r| *r.borrow_mut() = Some(Arc::new(|name| panic!("looked up {name:?}"))));
        corio_runtime::block_on(async {
            for literal in ["127.0.0.1:80", "[::1]:80"] {
                assert_eq!(resolve(literal).await.unwrap().count(), 1);
            }
            assert_eq!(
                resolve(&("10.0.0.1", 80)).await.unwrap().next(),
                Some("10.0.0.1:80".parse().unwrap())
            );
            assert_eq!(resolve(&("::1", 80)).await.unwrap().next(), Some("[::1]:80".parse().unwrap()));
            let many: [SocketAddr; 2] = ["127.0.0.1:1".parse().unwrap(), "127.0.0.1:2".parse().unwrap()];
            assert_eq!(resolve(&many[..]).await.unwrap().collect::<Vec<_>>(), many);
        });
        TEST_RESOLVER.with(|r| r.borrow_mut().take());
    }

    /// A lookup that takes as long as the test wants: a timer task on the
    /// runtime thread must keep ticking meanwhile. The resolver blocks on a
    /// gate the timer task opens after 5 ticks seen while the lookup is
    /// provably running; a watchdog opens it after a minute so a stalled
    /// runtime fails the test instead of hanging it.
    #[test]
    fn a_timer_keeps_ticking_during_a_slow_lookup() {
        let (open_gate, gate) = mpsc::channel::<&'static str>();
        let gate = Arc::new(Mutex::new(gate));
        let in_lookup = Arc::new(AtomicBool::new(false));
        let opened_by = Arc::new(Mutex::new(None));
        let resolver: Resolver = {
            let (gate, in_lookup, opened_by) = (gate.clone(), in_lookup.clone(), opened_by.clone());
            Arc::new(move |name| {
                assert!(matches!(&name, Name::HostPort(h) if h.starts_with("slow.test:")), "{name:?}");
                let port = match name {
                    Name::HostPort(h) => h.rsplit(':').next().unwrap().parse().unwrap(),
                    Name::Host(_, port) => port,
                };
                in_lookup.store(true, Ordering::SeqCst);
                let by = gate.lock().unwrap().recv().unwrap();
                *opened_by.lock().unwrap() = Some(by);
                Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))])
            })
        };
        TEST_RESOLVER.with(|r| *r.borrow_mut() = Some(resolver));
        let watchdog = {
            let open_gate = open_gate.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_secs(60));
                let _ = open_gate.send("watchdog");
            })
        };
        let ticks = corio_runtime::block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let ticker = corio_runtime::spawn(async move {
                let mut ticks_in_lookup = 0;
                let mut interval = corio_runtime::time::interval(Duration::from_millis(1));
                while ticks_in_lookup < 5 {
                    interval.tick().await;
                    if in_lookup.load(Ordering::SeqCst) {
                        ticks_in_lookup += 1;
                    }
                }
                let _ = open_gate.send("runtime");
                ticks_in_lookup
            });
            let stream = TcpStream::connect(format!("slow.test:{port}")).await.unwrap();
            let (_accepted, peer) = listener.accept().await.unwrap();
            assert_eq!(peer, stream.local_addr().unwrap());
            ticker.await.unwrap()
        });
        TEST_RESOLVER.with(|r| r.borrow_mut().take());
        assert_eq!(*opened_by.lock().unwrap(), Some("runtime"), "the runtime stalled during the lookup");
        assert_eq!(ticks, 5);
        drop(watchdog); // detached: it sleeps out its minute, then its send fails harmlessly
    }
}
