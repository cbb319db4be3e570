//! The example servers stop gracefully on SIGINT / SIGTERM: they stop
//! accepting, finish what they had accepted, and exit 0.
//!
//! Each server runs as a child process (the compiled example, on port 0).
//! The test learns the port from its first stdout line, signals it with
//! `kill(2)` (through rustix), and waits for its "no longer accepting" line
//! on stderr before checking what happens next: the gates are the server's
//! own messages, not sleeps. A request half-sent before the signal is
//! completed after it and must still get its whole answer.
#![cfg(target_os = "linux")]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use common::{example, LoggedProcess};
use rustix::process::Signal;

mod common;

/// How long any one step may take before the test calls it a hang.
const PATIENCE: Duration = Duration::from_secs(60);

/// A running example server, learnt from its first stdout line.
struct SignalledServer {
    process: LoggedProcess,
    addr: SocketAddr,
}

impl SignalledServer {
    fn start(name: &str, args: &[&str]) -> SignalledServer {
        let mut command = Command::new(example(name));
        command.args(args);
        let (process, line) = LoggedProcess::start(name, command);
        // "... listening on 127.0.0.1:PORT" or "... on http://127.0.0.1:PORT"
        let addr = line.trim().rsplit(' ').next().unwrap().trim_start_matches("http://").parse().unwrap();
        SignalledServer { process, addr }
    }

    fn signal(&self, signal: Signal) {
        self.process.signal(signal);
    }

    /// Waits for a stderr line containing `text`; returns it.
    fn wait_for_log(&self, text: &str) -> String {
        self.process.wait_for_log(text, PATIENCE)
    }

    /// Waits for the process to exit; returns whether it exited 0, and the
    /// rest of its stdout.
    fn finish(self) -> (bool, String) {
        self.process.finish()
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        stream
    }

    fn refuses_connections(&self) -> bool {
        TcpStream::connect(self.addr).is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused)
    }
}

fn read_exact(stream: &mut TcpStream, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    stream.read_exact(&mut buf).unwrap();
    buf
}

/// Reads until the server closes the connection.
fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).expect("the server closes the connection");
    rest
}

/// Reads one HTTP response (head and a `Content-Length` body).
fn read_http_response(stream: &mut TcpStream) -> (String, Vec<u8>) {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.extend(read_exact(stream, 1));
    }
    let head = String::from_utf8(head).unwrap();
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap())
        })
        .expect("content-length");
    let body = read_exact(stream, length);
    (head, body)
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n";

#[test]
fn http_server_answers_the_request_under_way_then_exits_0() {
    let server = SignalledServer::start("http_server", &["--port", "0"]);
    // Two connections, each proven accepted by one full exchange.
    let mut idle = server.connect();
    let mut busy = server.connect();
    for stream in [&mut idle, &mut busy] {
        stream.write_all(GET).unwrap();
        assert!(read_http_response(stream).0.starts_with("HTTP/1.1 200"));
    }
    // Half a request on one, then the signal.
    busy.write_all(b"GET / HTTP/1.1\r\nHost: test\r\n").unwrap();
    server.signal(Signal::TERM);
    server.wait_for_log("no longer accepting");
    assert!(server.refuses_connections(), "the listener is closed");
    assert_eq!(read_to_close(&mut idle), b"", "an idle keep-alive connection is closed at once");
    // The rest of the request arrives after the signal: still answered whole.
    busy.write_all(b"\r\n").unwrap();
    let (head, body) = read_http_response(&mut busy);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(!body.is_empty());
    assert_eq!(read_to_close(&mut busy), b"", "then the connection closes");
    server.wait_for_log("every connection finished");
    let (exited_0, stdout) = server.finish();
    assert!(exited_0);
    assert!(stdout.contains("http_server: stopped cleanly"), "{stdout}");
}

#[test]
fn resp_server_answers_the_command_under_way_then_exits_0() {
    let server = SignalledServer::start("resp_server", &["--port", "0"]);
    let mut idle = server.connect();
    let mut busy = server.connect();
    for stream in [&mut idle, &mut busy] {
        stream.write_all(b"*1\r\n$4\r\nPING\r\n").unwrap();
        assert_eq!(read_exact(stream, 7), b"+PONG\r\n");
    }
    busy.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$4\r\nECHO\r\n$5\r\nhel").unwrap();
    assert_eq!(read_exact(&mut busy, 5), b"+OK\r\n", "the complete command is answered");
    server.signal(Signal::INT);
    server.wait_for_log("no longer accepting");
    assert!(server.refuses_connections());
    assert_eq!(read_to_close(&mut idle), b"", "an idle connection is closed at once");
    busy.write_all(b"lo\r\n").unwrap();
    assert_eq!(read_exact(&mut busy, 11), b"$5\r\nhello\r\n", "the half-sent command is answered");
    assert_eq!(read_to_close(&mut busy), b"");
    let (exited_0, stdout) = server.finish();
    assert!(exited_0);
    assert!(stdout.contains("resp_server: stopped cleanly"), "{stdout}");
}

#[test]
fn echo_server_keeps_echoing_until_the_client_closes_then_exits_0() {
    let server = SignalledServer::start("echo_server", &["127.0.0.1:0"]);
    let mut client = server.connect();
    client.write_all(b"hello").unwrap();
    assert_eq!(read_exact(&mut client, 5), b"hello");
    server.signal(Signal::TERM);
    server.wait_for_log("finishing 1 open connection");
    assert!(server.refuses_connections());
    client.write_all(b"world").unwrap();
    assert_eq!(read_exact(&mut client, 5), b"world", "an open session goes on");
    client.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_close(&mut client), b"");
    server.wait_for_log("every connection finished");
    let (exited_0, stdout) = server.finish();
    assert!(exited_0);
    assert!(stdout.contains("echo server: stopped cleanly"), "{stdout}");
}

#[test]
fn a_second_signal_cuts_the_grace_period_short() {
    let server = SignalledServer::start("echo_server", &["127.0.0.1:0"]);
    let mut client = server.connect();
    client.write_all(b"x").unwrap();
    assert_eq!(read_exact(&mut client, 1), b"x");
    server.signal(Signal::TERM);
    server.wait_for_log("no longer accepting");
    server.signal(Signal::INT);
    server.wait_for_log("again: closing 1 connection(s) now");
    assert_eq!(read_to_close(&mut client), b"", "the runtime closed it on exit");
    let (exited_0, _) = server.finish();
    assert!(exited_0);
}

#[test]
fn rpc_kv_server_shuts_down_on_sigterm_and_exits_0() {
    let server = SignalledServer::start("rpc_kv", &["server", "127.0.0.1:0"]);
    let addr = server.addr;
    corio::block_on(async move {
        let client = corio::rpc::Client::connect(addr).await.unwrap();
        assert_eq!(client.call("set", b"k\0v").await.unwrap(), b"OK");
        assert_eq!(client.call("get", b"k").await.unwrap(), b"v");
    });
    server.signal(Signal::TERM);
    server.wait_for_log("shutting down");
    let (exited_0, stdout) = server.finish();
    assert!(exited_0);
    assert!(stdout.contains("rpc_kv stopped cleanly"), "{stdout}");
}
