//! TCP through the public API: bulk integrity over many connections,
//! half-close, reset, refused and timed-out connects, split halves.
//!
//! Every peer is on 127.0.0.1 with port 0; nothing sleeps to synchronise.

use std::net::Shutdown;
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use corio::net::{ListenOptions, TcpListener, TcpStream};

/// Deterministic pseudo-random bytes (xorshift), so a swapped or shifted
/// chunk shows up as a mismatch.
fn pattern(len: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Raises the soft descriptor limit to the hard one if it is low: the
/// bulk test holds two descriptors per connection.
fn enough_descriptors(needed: u64) {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getrlimit, setrlimit, Resource};
        let limit = getrlimit(Resource::Nofile);
        if limit.current.is_some_and(|current| current < needed) {
            let raised = rustix::process::Rlimit { current: limit.maximum, maximum: limit.maximum };
            setrlimit(Resource::Nofile, raised).expect("raise RLIMIT_NOFILE");
        }
    }
    let _ = needed;
}

/// An echo server task that serves `connections` connections, each as its
/// own task, then stops accepting.
fn spawn_echo_server(listener: TcpListener, connections: usize) {
    corio::spawn(async move {
        for _ in 0..connections {
            let (stream, _) = listener.accept().await.expect("accept");
            corio::spawn(async move {
                let (mut reader, mut writer) = stream.into_split();
                corio::io::copy(&mut reader, &mut writer).await.expect("echo");
                // Dropping `writer` shuts down the write side: the client sees EOF.
            });
        }
    });
}

#[test]
fn thousand_connections_echo_one_mib_each() {
    const CONNECTIONS: usize = 1000;
    const BYTES: usize = 1 << 20;
    const CHUNK: usize = 64 * 1024;
    enough_descriptors(2 * CONNECTIONS as u64 + 100);

    let start = Instant::now();
    let (total, max_in_flight) = corio::block_on(async {
        let data = Rc::new(pattern(BYTES + CONNECTIONS));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        spawn_echo_server(listener, CONNECTIONS);

        let in_flight = Rc::new(std::cell::Cell::new((0usize, 0usize)));
        let mut clients = Vec::new();
        for id in 0..CONNECTIONS {
            let data = data.clone();
            let in_flight = in_flight.clone();
            clients.push(corio::spawn(async move {
                // Each connection sends a different window of the pattern.
                let expected = &data[id..id + BYTES];
                let stream = TcpStream::connect(addr).await.expect("connect");
                let (now, max) = in_flight.get();
                in_flight.set((now + 1, max.max(now + 1)));
                let (mut reader, mut writer) = stream.into_split();

                // Write from one task, read from this one: both directions
                // must flow at once, or the socket buffers fill and stall.
                let sender = {
                    let data = data.clone();
                    corio::spawn(async move {
                        for chunk in data[id..id + BYTES].chunks(CHUNK) {
                            writer.write_all(chunk).await.expect("write");
                        }
                        // Dropping the write half sends FIN.
                    })
                };

                let mut buf = vec![0u8; CHUNK];
                let mut received = 0;
                loop {
                    let n = reader.read(&mut buf).await.expect("read");
                    if n == 0 {
                        break;
                    }
                    assert!(received + n <= BYTES, "connection {id}: too many bytes");
                    assert!(
                        buf[..n] == expected[received..received + n],
                        "connection {id}: corrupt at {received}"
                    );
                    received += n;
                }
                sender.await.unwrap();
                let (now, max) = in_flight.get();
                in_flight.set((now - 1, max));
                received
            }));
        }
        let mut total = 0;
        for client in clients {
            total += client.await.unwrap();
        }
        (total, in_flight.get().1)
    });
    assert_eq!(total, CONNECTIONS * BYTES);
    eprintln!(
        "{CONNECTIONS} connections x {} KiB echoed in {:?}; peak connections open at once: {max_in_flight}",
        BYTES / 1024,
        start.elapsed()
    );
    assert!(max_in_flight > CONNECTIONS / 2, "connections should overlap, peak was {max_in_flight}");
}

#[test]
fn half_close_reads_zero_and_the_other_direction_still_works() {
    corio::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = corio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            // Reads the request, then Ok(0): the client shut down its write side.
            stream.read_to_end(&mut got).await.unwrap();
            let mut buf = [0u8; 8];
            assert_eq!(stream.read(&mut buf).await.unwrap(), 0, "EOF is sticky");
            stream.write_all(b"bye").await.unwrap();
            got
        });
        let mut client = TcpStream::connect(addr).await.unwrap();
        client.write_all(b"hello").await.unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        let mut reply = Vec::new();
        client.read_to_end(&mut reply).await.unwrap();
        assert_eq!(reply, b"bye");
        assert_eq!(server.await.unwrap(), b"hello");
    });
}

#[test]
fn peer_reset_mid_read_is_connection_reset() {
    corio::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();

        // The client parks in `read` (nothing to read yet) ...
        let reader = corio::spawn(async move {
            let mut buf = [0u8; 16];
            client.read(&mut buf).await
        });
        corio::task::yield_now().await;
        // ... then the peer closes with SO_LINGER = 0, which sends RST.
        socket2::SockRef::from(&server).set_linger(Some(Duration::ZERO)).unwrap();
        drop(server);

        let error = reader.await.unwrap().expect_err("read after reset must fail");
        assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset, "{error:?}");
        assert!(error.raw_os_error().is_some(), "the OS error code is preserved: {error:?}");
    });
}

#[test]
fn connect_to_a_closed_port_is_refused_fast() {
    // Take a free port, then close it again.
    let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    corio::block_on(async {
        let started = Instant::now();
        let error = TcpStream::connect(addr).await.expect_err("nothing listens there");
        assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused, "{error:?}");
        assert!(started.elapsed() < Duration::from_secs(2), "refusal on loopback is immediate");
    });
}

#[test]
fn connect_timeout_fires_when_the_backlog_is_full() {
    corio::block_on(async {
        // A listener that never accepts, with the smallest backlog. Once its
        // accept queue is full, Linux drops further SYNs, so a connect hangs
        // in SYN retries until our timeout gives up on it.
        let listener = TcpListener::bind_with("127.0.0.1:0", ListenOptions::new().backlog(0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut held = Vec::new();
        let mut timed_out = None;
        for _ in 0..32 {
            match TcpStream::connect_timeout(addr, Duration::from_millis(200)).await {
                Ok(stream) => held.push(stream), // queued in the backlog; keep it there
                Err(error) => {
                    timed_out = Some(error);
                    break;
                }
            }
        }
        let error = timed_out.expect("a connect must eventually time out against a full backlog");
        assert_eq!(error.kind(), std::io::ErrorKind::TimedOut, "{error:?}");
        assert!(!held.is_empty(), "the first connections fill the backlog");
    });
}

#[test]
fn connect_timeout_succeeds_when_the_server_answers() {
    corio::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stream =
            TcpStream::connect_timeout(listener.local_addr().unwrap(), Duration::from_secs(5)).await.unwrap();
        assert_eq!(stream.peer_addr().unwrap(), listener.local_addr().unwrap());
    });
}

#[test]
fn ipv6_loopback_works_when_available() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here; skipping");
        return;
    }
    corio::block_on(async {
        let listener = TcpListener::bind("[::1]:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        assert!(addr.is_ipv6());
        spawn_echo_server(listener, 1);
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"six").await.unwrap();
        let mut buf = [0u8; 3];
        stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"six");
    });
}

#[test]
fn reuse_port_lets_two_listeners_share_an_address() {
    corio::block_on(async {
        let options = ListenOptions::new().reuse_port(true);
        let first = TcpListener::bind_with("127.0.0.1:0", options).await.unwrap();
        let addr = first.local_addr().unwrap();
        let second = TcpListener::bind_with(addr, options).await.unwrap();
        assert_eq!(second.local_addr().unwrap(), addr);
        // Without SO_REUSEPORT the same bind fails.
        let error = TcpListener::bind(addr).await.unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::AddrInUse);
    });
}

#[test]
fn socket_options_and_addresses() {
    corio::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stream = TcpStream::connect(addr).await.unwrap();
        let (accepted, peer) = listener.accept().await.unwrap();
        assert_eq!(peer, stream.local_addr().unwrap());
        assert_eq!(accepted.peer_addr().unwrap(), stream.local_addr().unwrap());
        stream.set_nodelay(true).unwrap();
        assert!(stream.nodelay().unwrap());
        stream.set_keepalive(Some(Duration::from_secs(60))).unwrap();
        assert!(stream.keepalive().unwrap());
        stream.set_keepalive(None).unwrap();
        assert!(!stream.keepalive().unwrap());
    });
}

#[test]
fn incoming_yields_connections() {
    corio::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = corio::spawn(async move {
            let mut streams = Vec::new();
            for _ in 0..3 {
                streams.push(TcpStream::connect(addr).await.unwrap());
            }
            streams
        });
        let mut incoming = listener.incoming();
        for _ in 0..3 {
            incoming.next().await.unwrap().unwrap();
        }
        assert_eq!(client.await.unwrap().len(), 3);
    });
}

#[test]
fn borrowed_split_reads_and_writes_in_one_task() {
    corio::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        spawn_echo_server(listener, 1);
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let (mut reader, mut writer) = stream.split();
        writer.write_all(b"split").await.unwrap();
        let mut buf = [0u8; 5];
        reader.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"split");
        writer.shutdown().await.unwrap();
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
    });
}

#[test]
fn owned_halves_reunite() {
    corio::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let a = TcpStream::connect(addr).await.unwrap();
        let b = TcpStream::connect(addr).await.unwrap();
        let (a_read, a_write) = a.into_split();
        let (b_read, b_write) = b.into_split();
        let error = a_read.reunite(b_write).unwrap_err();
        let (a_read, b_write) = (error.0, error.1);
        let a = a_read.reunite(a_write).unwrap();
        let b = b_read.reunite(b_write).unwrap();
        assert_ne!(a.local_addr().unwrap(), b.local_addr().unwrap());
    });
}

#[test]
fn buf_reader_reads_lines_from_a_socket() {
    corio::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        corio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            // Lines cut at awkward places: the reader must stitch them.
            for piece in [&b"GET /a"[..], b"\r\nHost: x\r", b"\n\r\nbody"] {
                stream.write_all(piece).await.unwrap();
                corio::task::yield_now().await;
            }
        });
        let stream = TcpStream::connect(addr).await.unwrap();
        let mut reader = BufReader::with_capacity(4, stream);
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).await.unwrap() == 0 {
                break;
            }
            lines.push(line);
        }
        assert_eq!(lines, ["GET /a\r\n", "Host: x\r\n", "\r\n", "body"]);
    });
}

#[test]
fn vectored_writes_send_every_slice() {
    corio::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        let slices =
            [std::io::IoSlice::new(b"head"), std::io::IoSlice::new(b""), std::io::IoSlice::new(b"tail")];
        let n = client.write_vectored(&slices).await.unwrap();
        assert_eq!(n, 8, "loopback takes 8 bytes in one writev");
        client.shutdown(Shutdown::Write).unwrap();
        let mut got = Vec::new();
        server.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"headtail");
    });
}

/// `&TcpStream` is a reader and a writer, and generic code over `AsyncRead`
/// accepts every stream type.
#[test]
fn shared_references_are_streams() {
    async fn read_all<R: AsyncRead + Unpin>(mut reader: R) -> Vec<u8> {
        let mut out = Vec::new();
        reader.read_to_end(&mut out).await.unwrap();
        out
    }
    corio::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (&client).write_all(b"by reference").await.unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        assert_eq!(read_all(&server).await, b"by reference");
    });
}

/// The facade exposes every name under `corio::io` and `corio::net`.
#[test]
fn facade_names_resolve() {
    #[allow(unused_imports)]
    use corio::io::{copy, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
    #[allow(unused_imports)]
    use corio::net::tcp::{Incoming, OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, WriteHalf};
    #[allow(unused_imports)]
    use corio::net::{
        lookup_host, ListenOptions, ToSocketAddrs, UdpSocket, UnixDatagram, UnixListener, UnixStream,
    };
    fn is_reader<T: AsyncRead>() {}
    fn is_writer<T: AsyncWrite>() {}
    is_reader::<TcpStream>();
    is_reader::<&TcpStream>();
    is_reader::<OwnedReadHalf>();
    is_reader::<ReadHalf<'static>>();
    is_reader::<UnixStream>();
    is_reader::<BufReader<TcpStream>>();
    is_writer::<TcpStream>();
    is_writer::<&TcpStream>();
    is_writer::<OwnedWriteHalf>();
    is_writer::<WriteHalf<'static>>();
    is_writer::<UnixStream>();
    is_reader::<corio::net::unix::OwnedReadHalf>();
    is_reader::<corio::net::unix::ReadHalf<'static>>();
    is_writer::<corio::net::unix::OwnedWriteHalf>();
    is_writer::<corio::net::unix::WriteHalf<'static>>();
}

/// A read abandoned by a timeout leaves the stream usable: the next read
/// registers a fresh waker and gets the data when it arrives.
#[test]
fn a_cancelled_read_does_not_lose_data_or_wakeups() {
    let rt = corio::Runtime::builder().virtual_time(true).build().unwrap();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (mut server, _) = listener.accept().await.unwrap();

        let mut buf = [0u8; 8];
        // Nothing to read: the (virtual) timeout wins and drops the read future.
        let first = corio::time::timeout(Duration::from_secs(1), client.read(&mut buf)).await;
        assert!(first.is_err(), "no data yet");

        let reader = corio::spawn(async move {
            let mut buf = [0u8; 8];
            let n = client.read(&mut buf).await.unwrap();
            buf[..n].to_vec()
        });
        corio::task::yield_now().await;
        server.write_all(b"late").await.unwrap();
        assert_eq!(reader.await.unwrap(), b"late");
    });
}

/// A task waiting on an idle socket is not polled again until data comes:
/// no busy polling.
#[test]
fn an_idle_reader_is_polled_once_until_data_arrives() {
    corio::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (mut server, _) = listener.accept().await.unwrap();

        let polls = Rc::new(std::cell::Cell::new(0u32));
        let counted = polls.clone();
        let reader = corio::spawn(async move {
            let mut buf = [0u8; 4];
            std::future::poll_fn(|cx| {
                counted.set(counted.get() + 1);
                std::pin::Pin::new(&mut client).poll_read(cx, &mut buf)
            })
            .await
            .unwrap()
        });
        // Let the reader park, then give the runtime many turns to misbehave.
        for _ in 0..100 {
            corio::task::yield_now().await;
        }
        assert_eq!(polls.get(), 1, "parked on the socket, not re-polled");
        server.write_all(b"data").await.unwrap();
        assert_eq!(reader.await.unwrap(), 4);
        assert_eq!(polls.get(), 2, "one wake for one readiness event");
    });
}
