//! What `bind` and `connect` accept: tokio's `ToSocketAddrs` forms, names
//! resolved off the runtime thread (only `localhost`, from /etc/hosts: no
//! external DNS), and every resolved address tried in turn.
//! (The "a timer keeps ticking during a slow lookup" test is a unit test in
//! `net/src/addr.rs`: it swaps in a resolver that blocks on a gate.)

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use corio::io::{AsyncReadExt, AsyncWriteExt};
use corio::net::{lookup_host, TcpListener, TcpStream, UdpSocket};
use corio::rpc::{Client, Server};

/// An address where nothing listens (bound, then closed).
fn closed_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

#[test]
fn bind_accepts_every_literal_form() {
    corio::block_on(async {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let listeners = [
            TcpListener::bind("127.0.0.1:0").await.unwrap(),
            TcpListener::bind(String::from("127.0.0.1:0")).await.unwrap(),
            TcpListener::bind(("127.0.0.1", 0)).await.unwrap(),
            TcpListener::bind((String::from("127.0.0.1"), 0)).await.unwrap(),
            TcpListener::bind((ip, 0)).await.unwrap(),
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap(),
            TcpListener::bind(SocketAddr::new(ip, 0)).await.unwrap(),
            TcpListener::bind(&SocketAddr::new(ip, 0)).await.unwrap(),
            TcpListener::bind(&[SocketAddr::new(ip, 0)][..]).await.unwrap(),
        ];
        for listener in listeners {
            assert_eq!(listener.local_addr().unwrap().ip(), ip);
        }
    });
}

#[test]
fn connect_resolves_a_name_and_talks() {
    corio::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        corio::spawn(async move {
            for _ in 0..3 {
                let (mut stream, _) = listener.accept().await.unwrap();
                stream.write_all(b"hi").await.unwrap();
            }
        });
        // localhost may name ::1 first, where nothing listens: connect moves
        // on to 127.0.0.1, as tokio does.
        for target in [format!("localhost:{port}"), format!("127.0.0.1:{port}")] {
            let mut stream = TcpStream::connect(target).await.unwrap();
            let mut greeting = [0u8; 2];
            stream.read_exact(&mut greeting).await.unwrap();
            assert_eq!(&greeting, b"hi");
        }
        let stream = TcpStream::connect_timeout(("localhost", port), Duration::from_secs(30)).await.unwrap();
        assert_eq!(stream.peer_addr().unwrap().port(), port);
    });
}

#[test]
fn connect_tries_each_address_in_turn() {
    corio::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let live = listener.local_addr().unwrap();
        let stream = TcpStream::connect(&[closed_addr(), closed_addr(), live][..]).await.unwrap();
        assert_eq!(stream.peer_addr().unwrap(), live);
    });
}

#[test]
fn when_every_address_fails_connect_returns_the_last_error() {
    corio::block_on(async {
        let error = TcpStream::connect(&[closed_addr(), closed_addr()][..]).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::ConnectionRefused);
        let none: &[SocketAddr] = &[];
        let error = TcpStream::connect(none).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidInput, "no address at all");
        let error = TcpListener::bind(none).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidInput);
    });
}

#[test]
fn malformed_addresses_are_invalid_input() {
    corio::block_on(async {
        // No port: std rejects it before any lookup.
        let error = TcpStream::connect("localhost").await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidInput);
        let error = TcpListener::bind("127.0.0.1:port").await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidInput);
        let error = UdpSocket::bind("127.0.0.1").await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidInput);
    });
}

#[test]
fn bind_fails_with_the_os_error_of_the_last_address() {
    corio::block_on(async {
        let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let error = TcpListener::bind(taken.local_addr().unwrap()).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::AddrInUse);
    });
}

#[test]
fn udp_bind_connect_and_send_to_take_strings() {
    corio::block_on(async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind(("127.0.0.1", 0)).await.unwrap();
        let b_addr = b.local_addr().unwrap();
        a.send_to(b"to b", b_addr.to_string()).await.unwrap();
        let mut buf = [0u8; 8];
        let (n, from) = b.recv_from(&mut buf).await.unwrap();
        assert_eq!((&buf[..n], from), (&b"to b"[..], a.local_addr().unwrap()));
        b.connect(format!("127.0.0.1:{}", from.port())).await.unwrap();
        b.send(b"back").await.unwrap();
        let n = a.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"back");
    });
}

#[test]
fn lookup_host_resolves_localhost_to_loopback() {
    corio::block_on(async {
        let addrs: Vec<SocketAddr> = lookup_host("localhost:443").await.unwrap().collect();
        assert!(!addrs.is_empty());
        assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 443), "{addrs:?}");
        let literal: Vec<SocketAddr> = lookup_host(("10.1.2.3", 7)).await.unwrap().collect();
        assert_eq!(literal, ["10.1.2.3:7".parse::<SocketAddr>().unwrap()]);
    });
}

#[test]
fn rpc_client_connects_by_name() {
    corio::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        corio::spawn(Server::new().route("echo", |r| async move { Ok(r.into_payload()) }).serve(listener));
        let client = Client::connect(("localhost", port)).await.unwrap();
        assert_eq!(client.call("echo", b"by name").await.unwrap(), b"by name");
        assert_eq!(client.peer_addr().port(), port);
        let client = Client::builder().connect(format!("localhost:{port}")).await.unwrap();
        assert_eq!(client.call("echo", b"again").await.unwrap(), b"again");
    });
}
