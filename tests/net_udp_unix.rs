//! UDP and Unix domain sockets through the public API.

use std::path::PathBuf;

use corio::io::{AsyncReadExt, AsyncWriteExt};
use corio::net::{UdpSocket, UnixDatagram, UnixListener, UnixStream};

/// A socket path under the temp dir, unique to this process and test, and
/// removed (with anything bound there) on drop.
struct TempPath(PathBuf);

impl TempPath {
    fn new(name: &str) -> TempPath {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let path = std::env::temp_dir().join(format!("corio-{name}-{}-{nanos}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        TempPath(path)
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn udp_round_trip_with_send_to_and_recv_from() {
    corio::block_on(async {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let server_addr = server.local_addr().unwrap();
        let echo = corio::spawn(async move {
            let mut buf = [0u8; 64];
            for _ in 0..3 {
                let (n, from) = server.recv_from(&mut buf).await.unwrap();
                server.send_to(&buf[..n], from).await.unwrap();
            }
        });
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        for message in [&b"one"[..], b"two", b"three"] {
            client.send_to(message, server_addr).await.unwrap();
            let mut buf = [0u8; 64];
            let (n, from) = client.recv_from(&mut buf).await.unwrap();
            assert_eq!((&buf[..n], from), (message, server_addr));
        }
        echo.await.unwrap();
    });
}

#[test]
fn udp_connected_send_and_recv() {
    corio::block_on(async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        a.connect(b.local_addr().unwrap()).await.unwrap();
        b.connect(a.local_addr().unwrap()).await.unwrap();
        assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());
        // The receiver waits first: it must be woken by the datagram.
        let receiver = corio::spawn(async move {
            let mut buf = [0u8; 16];
            let n = b.recv(&mut buf).await.unwrap();
            buf[..n].to_vec()
        });
        corio::task::yield_now().await;
        a.send(b"datagram").await.unwrap();
        assert_eq!(receiver.await.unwrap(), b"datagram");
    });
}

#[test]
fn udp_to_a_closed_port_reports_connection_refused() {
    corio::block_on(async {
        let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        socket.connect(closed).await.unwrap();
        socket.send(b"anyone?").await.unwrap();
        let mut buf = [0u8; 8];
        // The ICMP "port unreachable" comes back as an error on the next call.
        let error = socket.recv(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);
    });
}

#[test]
fn unix_stream_round_trip_through_a_listener() {
    let path = TempPath::new("stream");
    corio::block_on(async {
        let listener = UnixListener::bind(&path.0).unwrap();
        assert_eq!(listener.local_addr().unwrap().as_pathname(), Some(path.0.as_path()));
        let server = corio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            (&stream).read_to_end(&mut request).await.unwrap();
            request.reverse();
            (&stream).write_all(&request).await.unwrap();
        });
        let mut client = UnixStream::connect(&path.0).await.unwrap();
        client.write_all(b"stressed").await.unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let mut reply = Vec::new();
        client.read_to_end(&mut reply).await.unwrap();
        assert_eq!(reply, b"desserts");
        server.await.unwrap();
    });
    assert!(path.0.exists(), "the socket file stays until removed");
}

#[test]
fn unix_connect_to_a_missing_path_fails() {
    let path = TempPath::new("missing");
    corio::block_on(async {
        let error = UnixStream::connect(&path.0).await.unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::NotFound, "{error:?}");
    });
}

#[test]
fn unix_stream_pair_carries_a_large_transfer() {
    corio::block_on(async {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let expected = data.clone();
        let writer = corio::spawn(async move {
            a.write_all(&data).await.unwrap();
            AsyncWriteExt::shutdown(&mut a).await.unwrap();
        });
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.unwrap();
        writer.await.unwrap();
        assert!(got == expected);
    });
}

#[test]
fn unix_stream_owned_halves_work_in_two_tasks_and_the_write_half_closes_on_drop() {
    corio::block_on(async {
        let (a, mut b) = UnixStream::pair().unwrap();
        let (mut reader, mut writer) = a.into_split();
        // Echo what `b` sends, reading in one task and writing in another.
        let (tx, mut rx) = corio::sync::mpsc::unbounded_channel::<Vec<u8>>();
        let read_task = corio::spawn(async move {
            let mut buf = [0u8; 1024];
            loop {
                let n = reader.read(&mut buf).await.unwrap();
                if n == 0 {
                    return reader;
                }
                tx.send(buf[..n].to_vec()).unwrap();
            }
        });
        let write_task = corio::spawn(async move {
            while let Some(bytes) = rx.recv().await {
                writer.write_all(&bytes).await.unwrap();
            }
            writer // dropped by the caller: shuts down the write side
        });
        b.write_all(b"through two tasks").await.unwrap();
        let mut back = [0u8; 17];
        b.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"through two tasks");
        b.shutdown(std::net::Shutdown::Write).unwrap();
        let reader = read_task.await.unwrap();
        let writer = write_task.await.unwrap();
        drop(writer);
        drop(reader);
        let mut rest = Vec::new();
        b.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "the peer sees end of stream once the write half is dropped");
    });
}

#[test]
fn unix_stream_halves_reunite_and_borrowed_halves_join() {
    corio::block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        let (c, d) = UnixStream::pair().unwrap();
        let (a_read, a_write) = a.into_split();
        let (c_read, c_write) = c.into_split();
        let error = a_read.reunite(c_write).unwrap_err();
        assert!(error.to_string().contains("different Unix streams"), "{error}");
        let corio::net::unix::ReuniteError(a_read, c_write) = error;
        let mut a = a_read.reunite(a_write).unwrap();
        let _c = c_read.reunite(c_write).unwrap();

        // Borrowed halves: write and read at once within one task.
        let mut b = b;
        let payload = vec![9u8; 256 * 1024];
        let (mut read_half, mut write_half) = a.split();
        let ((), received, ()) = corio::join!(
            async {
                write_half.write_all(&payload).await.unwrap();
                // b echoes back below; nothing more to send.
            },
            async {
                let mut got = vec![0u8; payload.len()];
                read_half.read_exact(&mut got).await.unwrap();
                got
            },
            async {
                let mut buf = vec![0u8; payload.len()];
                b.read_exact(&mut buf).await.unwrap();
                b.write_all(&buf).await.unwrap();
            }
        );
        assert!(received == payload);
        drop(d);
    });
}

#[test]
fn unix_datagram_round_trip() {
    let server_path = TempPath::new("dgram-server");
    let client_path = TempPath::new("dgram-client");
    corio::block_on(async {
        let server = UnixDatagram::bind(&server_path.0).unwrap();
        let client = UnixDatagram::bind(&client_path.0).unwrap();
        client.send_to(b"hello", &server_path.0).await.unwrap();
        let mut buf = [0u8; 16];
        let (n, from) = server.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"hello");
        assert_eq!(from.as_pathname(), Some(client_path.0.as_path()));
        server.send_to(b"world", from.as_pathname().unwrap()).await.unwrap();
        let n = client.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"world");

        let (a, b) = UnixDatagram::pair().unwrap();
        a.send(b"paired").await.unwrap();
        let n = b.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"paired");
        let unbound = UnixDatagram::unbound().unwrap();
        unbound.connect(&server_path.0).unwrap();
        unbound.send(b"anon").await.unwrap();
        let n = server.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"anon");
    });
}
