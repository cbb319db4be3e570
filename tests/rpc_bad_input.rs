//! A live server fed bad bytes over raw sockets: every case gets an error
//! frame where one can be addressed, a log line saying why, and a closed
//! connection, while other connections carry on. Ends with a bounded fuzz.
//!
//! The server runs on its own thread and runtime, so this test thread can
//! use plain blocking `std::net::TcpStream`s as the misbehaving peers.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use corio::frame::{self, code, Decoder, Frame, ReadBuffer};
use corio::net::TcpListener;
use corio::rpc::{Client, RpcError, Server};

/// The limit the test server enforces, small so oversize frames are cheap.
const LIMIT: usize = 1024;

struct LiveServer {
    addr: SocketAddr,
    logs: Receiver<String>,
}

impl LiveServer {
    fn start() -> LiveServer {
        let (addr_tx, addr_rx) = mpsc::channel();
        let (log_tx, logs) = mpsc::channel();
        std::thread::spawn(move || {
            corio::block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                Server::new()
                    .max_frame_size(LIMIT)
                    .on_log(move |line| {
                        let _ = log_tx.send(line.to_owned());
                    })
                    .route("echo", |request| async move { Ok(request.into_payload()) })
                    .route("slow_echo", |request| async move {
                        corio::time::sleep(Duration::from_millis(200)).await;
                        Ok(request.into_payload())
                    })
                    .serve(listener)
                    .await
                    .unwrap();
            })
        });
        LiveServer { addr: addr_rx.recv().unwrap(), logs }
    }

    /// Waits for a log line containing every one of `needles`.
    fn expect_log(&self, needles: &[&str]) -> String {
        loop {
            let line = self.logs.recv_timeout(Duration::from_secs(5)).expect("no such server log line");
            if needles.iter().all(|needle| line.contains(needle)) {
                return line;
            }
        }
    }

    /// Sends `bytes` on a fresh connection, half-closes, and returns every
    /// frame the server sent back before closing. Panics if it stays open.
    fn exchange(&self, bytes: &[u8]) -> Vec<Frame<'static>> {
        let mut stream = TcpStream::connect(self.addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        // The server may close before reading everything: ignore write errors.
        let _ = stream.write_all(bytes);
        let _ = stream.shutdown(Shutdown::Write);
        let mut received = Vec::new();
        let _ = stream.read_to_end(&mut received); // a reset after the answer is fine
        let mut buffer = ReadBuffer::new();
        buffer.extend_from_slice(&received);
        std::iter::from_fn(|| Decoder::new().decode(&mut buffer).ok().flatten()).collect()
    }
}

fn request(id: u64, method: &str, payload: &[u8]) -> Vec<u8> {
    let mut wire = Vec::new();
    frame::encode_request(&mut wire, id, method, None, payload).unwrap();
    wire
}

fn assert_error(frames: &[Frame], id: u64, code: u16, text: &str) {
    let found = frames.iter().any(|frame| {
        matches!(frame, Frame::Error { id: i, code: c, message } if *i == id && *c == code && message.contains(text))
    });
    assert!(found, "expected error id {id} code {code} containing {text:?}; got {frames:?}");
}

/// A well-behaved client on its own connection, on this thread's runtime.
fn good_call(addr: SocketAddr) {
    corio::block_on(async move {
        let client = Client::connect(addr).await.unwrap();
        assert_eq!(client.call("echo", b"fine").await.unwrap(), b"fine");
    });
}

#[test]
fn every_bad_input_is_answered_logged_and_isolated() {
    let server = LiveServer::start();
    // A connection that stays open through all the abuse below.
    let mut bystander = TcpStream::connect(server.addr).unwrap();
    bystander.set_read_timeout(Some(Duration::from_secs(5))).unwrap();

    // 1. Oversize: the error names size and limit, addressed to the frame's id.
    let frames = server.exchange(&request(77, "echo", &[0; 2000]));
    assert_error(&frames, 77, code::FRAME_TOO_LARGE, "frame of 2017 bytes exceeds the limit of 1024 bytes");
    server.expect_log(&["2017", "1024"]);

    // 2. A length too short for the header.
    let frames = server.exchange(&[0, 0, 0, 3, 1, 0, 0]);
    assert_error(&frames, 0, code::PROTOCOL, "truncated header");
    server.expect_log(&["truncated header"]);

    // 3. Unknown kind (the id is readable, so the error is addressed to it).
    let mut wire = request(5, "", b"");
    wire[5] = 9;
    assert_error(&server.exchange(&wire), 5, code::PROTOCOL, "unknown frame kind 9");
    server.expect_log(&["unknown frame kind 9"]);

    // 4. Unsupported version.
    let mut wire = request(6, "echo", b"");
    wire[4] = 2;
    assert_error(&server.exchange(&wire), 0, code::PROTOCOL, "unsupported protocol version 2");
    server.expect_log(&["version 2"]);

    // 5. A method name that is not UTF-8.
    let mut wire = request(7, "ab", b"");
    wire[16] = 0xff;
    assert_error(&server.exchange(&wire), 7, code::PROTOCOL, "not valid UTF-8");
    server.expect_log(&["UTF-8"]);

    // 6. Garbage: an HTTP request. "GET " read as a length is ~1.2 GB.
    let frames = server.exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_error(&frames, 0, code::FRAME_TOO_LARGE, "exceeds the limit of 1024 bytes");
    server.expect_log(&["exceeds the limit"]);

    // 7. The stream ends inside a frame.
    let wire = request(8, "echo", b"hello");
    assert_error(&server.exchange(&wire[..10]), 0, code::PROTOCOL, "stream ended inside a frame");
    server.expect_log(&["stream ended inside a frame"]);

    // 8. A valid request followed by garbage: the connection closes at the
    // garbage (the call still running on it is cancelled, not answered).
    let mut wire = request(9, "echo", b"first");
    wire.extend_from_slice(&[0, 0, 0, 13, 1, 42, 0, 0, 0, 0, 0, 0, 0, 10, 0, 0, 0]);
    let frames = server.exchange(&wire);
    assert_error(&frames, 10, code::PROTOCOL, "unknown frame kind 42");

    // 9. Request id 0 is reserved: a connection error (not an answer to
    // "request 0"), and nothing runs after it.
    let mut wire = request(0, "echo", b"");
    wire.extend_from_slice(&request(1, "echo", b"never read"));
    let frames = server.exchange(&wire);
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_error(&frames, 0, code::PROTOCOL, "id 0 is reserved");
    server.expect_log(&["id 0 is reserved"]);

    // 10. An id that is still running on this connection: a connection
    // error addressed to id 0, so it cannot be taken for the first call's
    // answer; the first call is cancelled and never answered (one outcome
    // per request: here, the failed connection).
    let mut wire = request(5, "slow_echo", b"first");
    wire.extend_from_slice(&request(5, "slow_echo", b"second"));
    let frames = server.exchange(&wire);
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_error(&frames, 0, code::PROTOCOL, "request id 5 is already in flight");
    server.expect_log(&["already in flight"]);

    // 11. Frames only a server sends, sent by a client: a connection error.
    for kind in [
        Frame::Response { id: 4, payload: vec![].into() },
        Frame::Error { id: 4, code: 1000, message: "x".into() },
    ] {
        let mut wire = Vec::new();
        kind.encode(&mut wire).unwrap();
        let frames = server.exchange(&wire);
        assert_eq!(frames.len(), 1, "{frames:?}");
        assert_error(&frames, 0, code::PROTOCOL, "which only a server sends");
    }

    // Not bad input, but raw too: a ping is answered with a pong.
    let mut wire = Vec::new();
    Frame::Ping { id: 3, payload: b"alive?".to_vec().into() }.encode(&mut wire).unwrap();
    assert_eq!(server.exchange(&wire), [Frame::Pong { id: 3, payload: b"alive?".to_vec().into() }]);

    // Other connections are unaffected: the bystander still gets answers,
    // and a new client works.
    bystander.write_all(&request(1, "echo", b"still here")).unwrap();
    let mut answer = vec![0; 4 + 13 + 10];
    bystander.read_exact(&mut answer).unwrap();
    let mut buffer = ReadBuffer::new();
    buffer.extend_from_slice(&answer);
    assert_eq!(
        Decoder::new().decode(&mut buffer),
        Ok(Some(Frame::Response { id: 1, payload: b"still here".to_vec().into() }))
    );
    good_call(server.addr);
}

#[test]
fn an_oversize_call_fails_with_frame_too_large_at_the_caller() {
    let server = LiveServer::start();
    corio::block_on(async {
        let client = Client::connect(server.addr).await.unwrap();
        let answer = client.call("echo", &[1; 5000]).await;
        assert!(matches!(answer, Err(RpcError::FrameTooLarge { size: 5017, limit: LIMIT })), "{answer:?}");
    });
    server.expect_log(&["5017", "1024"]);
    good_call(server.addr);
}

/// xorshift64*: deterministic, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn live_server_survives_random_and_mutated_frames() {
    let server = LiveServer::start();
    let mut rng = Rng(0x5eed);
    for _ in 0..200 {
        let mut wire = Vec::new();
        for id in 0..rng.below(4) as u64 {
            let len = rng.below(64);
            let payload: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            match rng.below(3) {
                0 => wire.extend(request(id + 1, "echo", &payload)),
                1 => Frame::Cancel { id }.encode(&mut wire).unwrap(),
                _ => wire.extend(payload), // raw noise
            }
        }
        for _ in 0..rng.below(4) {
            if wire.is_empty() {
                break;
            }
            let at = rng.below(wire.len());
            wire[at] = rng.next() as u8;
        }
        // Whatever comes back must be well-formed frames; the server must
        // close (it does, after our half-close) rather than hang.
        for frame in server.exchange(&wire) {
            assert!(matches!(frame, Frame::Response { .. } | Frame::Error { .. }), "{frame:?}");
        }
    }
    good_call(server.addr);
}

#[test]
fn a_client_that_never_reads_its_answers_is_stopped_by_backpressure() {
    let server = LiveServer::start();
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.set_nonblocking(true).unwrap();
    // Ids repeat every batch; the server answers each (an echo answers at
    // once) long before its id comes round again.
    let mut batch = Vec::new();
    for id in 1..=4096 {
        batch.extend(request(id, "echo", &[0; 900]));
    }
    let mut offset = 0;
    // Send requests and never read the answers: once the server's outbox,
    // socket buffers and ours are full, our writes must block. Without
    // backpressure the server would read (and buffer answers) forever.
    let mut written = 0usize;
    let mut stalled = 0;
    while written < 256 * 1024 * 1024 {
        match stream.write(&batch[offset..]) {
            Ok(n) => {
                written += n;
                offset = (offset + n) % batch.len();
                stalled = 0;
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                stalled += 1;
                if stalled == 50 {
                    break; // blocked for 50 ms in a row: the server stopped reading
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(error) => panic!("write failed: {error}"),
        }
    }
    assert!(written < 128 * 1024 * 1024, "the server kept reading: {written} bytes accepted");
    good_call(server.addr);
}
