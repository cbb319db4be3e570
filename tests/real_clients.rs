//! The example servers against clients nobody on this project wrote:
//! `redis-cli`, `redis-benchmark` and `curl`, plus raw-socket bad input.
//!
//! The servers run as child processes (the compiled `resp_server` and
//! `http_server` examples) on port 0; each prints the address it bound,
//! which is how the test learns the port and that the server is ready.
//!
//! `.ci/run` installs `redis-tools` and `curl`. Without them, the tool-driven
//! tests fail under CI (`CI` set) and skip with a message elsewhere; the
//! raw-socket tests always run.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running example server, killed on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn example(name: &str) -> PathBuf {
    // target/<profile>/deps/real_clients-<hash> -> target/<profile>/examples/<name>
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().join("examples");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: `cargo test` builds examples; run it from the workspace root",
        path.display()
    );
    path
}

fn start(name: &str, args: &[&str]) -> Server {
    let mut child =
        Command::new(example(name)).args(["--port", "0"]).args(args).stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    // "... listening on 127.0.0.1:PORT" or "... on http://127.0.0.1:PORT"
    let addr = line.trim().rsplit(' ').next().unwrap().trim_start_matches("http://").parse().unwrap();
    Server { child, addr }
}

/// The path of a command-line tool, or `None` (with a message) to skip.
fn tool(name: &str, package: &str) -> Option<&'static str> {
    let found =
        Command::new("sh").arg("-c").arg(format!("command -v {name}")).output().unwrap().status.success();
    if found {
        return Some(Box::leak(name.to_string().into_boxed_str()));
    }
    if std::env::var_os("CI").is_some() {
        panic!("{name} is not installed; .ci/run installs Debian's {package} package");
    }
    eprintln!("SKIPPED: {name} not installed (apt-get install {package})");
    None
}

fn redis_cli(server: &Server, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &server.addr.port().to_string()])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "redis-cli {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim_end_matches('\n').to_string()
}

/// Reads everything until the server closes the connection (bounded).
fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).expect("server should close the connection");
    out
}

fn raw(server: &Server, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.write_all(bytes).unwrap();
    read_to_close(&mut stream)
}

/// Sends `request` and reads exactly `len` bytes of reply (bounded).
fn exchange(stream: &mut TcpStream, request: &[u8], len: usize) -> Vec<u8> {
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(request).unwrap();
    let mut reply = vec![0u8; len];
    stream.read_exact(&mut reply).unwrap();
    reply
}

fn assert_resp_alive(server: &Server) {
    let mut stream = TcpStream::connect(server.addr).unwrap();
    assert_eq!(exchange(&mut stream, b"*1\r\n$4\r\nPING\r\n", 7), b"+PONG\r\n");
}

#[test]
fn redis_cli_scripted_session() {
    let Some(_) = tool("redis-cli", "redis-tools") else { return };
    let server = start("resp_server", &[]);
    let script: &[(&[&str], &str)] = &[
        (&["PING"], "PONG"),
        (&["ECHO", "hi there"], "hi there"),
        (&["SET", "k", "v1"], "OK"),
        (&["GET", "k"], "v1"),
        (&["SET", "k", "v2", "NX"], ""),
        (&["SET", "k", "v3", "XX"], "OK"),
        (&["SET", "absent", "x", "XX"], ""),
        (&["GET", "k"], "v3"),
        (&["EXISTS", "k", "absent"], "1"),
        (&["INCR", "n"], "1"),
        (&["INCR", "n"], "2"),
        (&["DECR", "n"], "1"),
        (&["INCR", "k"], "ERR value is not an integer or out of range"),
        (&["MSET", "a", "1", "b", "2"], "OK"),
        (&["MGET", "nope", "a", "b"], "\n1\n2"),
        (&["DEL", "a", "b", "nope"], "2"),
        (&["TTL", "k"], "-1"),
        (&["EXPIRE", "k", "100"], "1"),
        (&["TTL", "k"], "100"),
        (&["TTL", "nope"], "-2"),
        (&["SET", "e", "v", "EX", "100"], "OK"),
        (&["SET", "e", "v"], "OK"),
        (&["TTL", "e"], "-1"),
        (&["FOO"], "ERR unknown command 'FOO'"),
        (&["GET"], "ERR wrong number of arguments for 'get' command"),
    ];
    for (args, expected) in script {
        assert_eq!(redis_cli(&server, args), *expected, "redis-cli {args:?}");
    }
    // Expiry runs on corio timers: a 50 ms key disappears without being read.
    assert_eq!(redis_cli(&server, &["SET", "short", "v", "PX", "50"]), "OK");
    let deadline = Instant::now() + Duration::from_secs(10);
    while redis_cli(&server, &["DBSIZE"]) != "3" {
        // keys left: k, n, e
        assert!(Instant::now() < deadline, "key with PX 50 never expired");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(redis_cli(&server, &["GET", "short"]), "");
}

#[test]
fn redis_benchmark_pipelined_gets_every_answer() {
    let Some(_) = tool("redis-benchmark", "redis-tools") else { return };
    let server = start("resp_server", &[]);
    let out = Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &server.addr.port().to_string()])
        .args(["-q", "-n", "20000", "-t", "set,get,incr", "-P", "16"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "redis-benchmark failed: {text} {}", String::from_utf8_lossy(&out.stderr));
    for test in ["SET", "GET", "INCR"] {
        assert!(text.contains(&format!("{test}: ")), "no {test} result in: {text}");
    }
    assert!(!text.to_lowercase().contains("error"), "{text}");
    // Every INCR was answered and applied: the counter counts them all.
    assert_eq!(redis_cli(&server, &["GET", "counter:__rand_int__"]), "20000");
}

#[test]
fn resp_pipelined_commands_are_all_answered_in_order() {
    let server = start("resp_server", &[]);
    let mut stream = TcpStream::connect(server.addr).unwrap();
    let mut request = Vec::new();
    let mut expected = Vec::new();
    for i in 0..100 {
        let value = format!("value-{i:03}");
        request.extend_from_slice(
            format!("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n${}\r\n{value}\r\n", value.len()).as_bytes(),
        );
        request.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n");
        expected.extend_from_slice(b"+OK\r\n");
        expected.extend_from_slice(format!("${}\r\n{value}\r\n", value.len()).as_bytes());
    }
    assert_eq!(exchange(&mut stream, &request, expected.len()), expected);
}

#[test]
fn resp_malformed_request_gets_an_error_and_a_close() {
    let server = start("resp_server", &[]);
    let reply = raw(&server, b"*1\r\n$x\r\nPING\r\n");
    let reply = String::from_utf8(reply).unwrap();
    assert!(reply.starts_with("-ERR Protocol error: invalid length 'x'"), "{reply}");
    let reply = raw(&server, b"*1\r\n!4\r\nPING\r\n");
    assert!(String::from_utf8(reply).unwrap().starts_with("-ERR Protocol error: expected '$'"));
    assert_resp_alive(&server);
}

#[test]
fn resp_oversized_bulk_is_refused_at_its_header() {
    let server = start("resp_server", &["--max-bulk", "1024"]);
    // Only the header of a 1 GiB argument: refused before any of it arrives.
    let reply = raw(&server, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1073741824\r\n");
    let reply = String::from_utf8(reply).unwrap();
    assert_eq!(reply, "-ERR Protocol error: invalid bulk length 1073741824 (limit 1024)\r\n");
    // Within the limit is fine.
    let mut stream = TcpStream::connect(server.addr).unwrap();
    let big = "x".repeat(1024);
    let request = format!("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1024\r\n{big}\r\n");
    assert_eq!(exchange(&mut stream, request.as_bytes(), 5), b"+OK\r\n");
    assert_resp_alive(&server);
}

fn curl(args: &[&str]) -> String {
    let out = Command::new("curl").args(["-s", "--max-time", "10"]).args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn curl_routes_status_codes_and_keep_alive() {
    let Some(_) = tool("curl", "curl") else { return };
    let server = start("http_server", &["--max-header", "1024"]);
    let base = format!("http://{}", server.addr);
    assert_eq!(curl(&[&format!("{base}/")]), "Hello, world!\n");
    let stats = curl(&[&format!("{base}/stats")]);
    assert!(stats.starts_with("{\"tasks_spawned\":") && stats.contains("\"polls\":"), "{stats}");
    let code = |args: &[&str]| curl(&[&["-o", "/dev/null", "-w", "%{http_code}"], args].concat());
    assert_eq!(code(&[&format!("{base}/nope")]), "404");
    assert_eq!(code(&["-X", "POST", &format!("{base}/")]), "405");
    let big = format!("X-Big: {}", "y".repeat(2000));
    assert_eq!(code(&["-H", &big, &format!("{base}/")]), "431");
    // Two URLs in one curl run: the second reuses the first connection.
    let connects = curl(&[
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
        "-w",
        "%{num_connects}\n",
        &format!("{base}/"),
        &format!("{base}/"),
    ]);
    assert_eq!(connects, "1\n0\n", "keep-alive: the second request should reuse the connection");
    let headers = curl(&["-D", "-", "-o", "/dev/null", &format!("{base}/")]);
    assert!(headers.contains("Content-Length: 14\r\n"), "{headers}");
}

fn http_reply_count(bytes: &[u8]) -> usize {
    String::from_utf8_lossy(bytes).matches("HTTP/1.1 ").count()
}

#[test]
fn http_pipelined_requests_are_answered_in_order() {
    let server = start("http_server", &[]);
    let mut stream = TcpStream::connect(server.addr).unwrap();
    let request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    stream.write_all(request).unwrap();
    let reply = read_to_close(&mut stream);
    let text = String::from_utf8(reply.clone()).unwrap();
    assert_eq!(http_reply_count(&reply), 3, "{text}");
    let first_404 = text.find("404").unwrap();
    assert!(text.find("200").unwrap() < first_404 && text.rfind("200").unwrap() > first_404, "{text}");
}

fn assert_http_alive(server: &Server) {
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let reply = String::from_utf8(read_to_close(&mut stream)).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200 OK") && reply.ends_with("Hello, world!\n"), "{reply}");
}

#[test]
fn http_malformed_request_line_gets_400() {
    let server = start("http_server", &[]);
    let reply = String::from_utf8(raw(&server, b"GARBAGE LINE\x01\r\n\r\n")).unwrap();
    assert!(reply.starts_with("HTTP/1.1 400 Bad Request"), "{reply}");
    assert_http_alive(&server);
}

#[test]
fn http_headers_over_the_limit_get_431_without_waiting_for_the_end() {
    let server = start("http_server", &["--max-header", "1024"]);
    let mut stream = TcpStream::connect(server.addr).unwrap();
    // Headers that never end: the server answers once the buffer passes the limit.
    stream.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    let line = format!("X-Filler: {}\r\n", "z".repeat(100));
    for _ in 0..12 {
        if stream.write_all(line.as_bytes()).is_err() {
            break;
        }
    }
    let reply = String::from_utf8(read_to_close(&mut stream)).unwrap();
    assert!(reply.starts_with("HTTP/1.1 431"), "{reply}");
    assert_http_alive(&server);
}

#[test]
fn http_slowloris_gets_408_at_the_header_deadline() {
    let server = start("http_server", &["--header-timeout", "0.5"]);
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    // Trickle one header byte at a time. A server that restarted its timer on
    // every byte would never answer, and this loop's bound would fail the test.
    let give_up = Instant::now() + Duration::from_secs(10);
    let mut reply = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        assert!(Instant::now() < give_up, "no 408 after 10 s of trickling");
        if reply.is_empty() {
            let _ = stream.write_all(b"X");
        }
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => reply.extend_from_slice(&buf[..n]),
            // A signal (another test's child server exiting) can interrupt the read.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) => {}
            Err(e) => panic!("read failed after {} reply bytes: {e}", reply.len()),
        }
    }
    let reply = String::from_utf8(reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 408 Request Timeout"), "{reply}");
    assert_http_alive(&server);
}

/// `examples/hyper_server` (feature `hyper`) against curl: HTTP/1.1 with
/// keep-alive, HTTP/2 with prior knowledge (h2c), and the route that awaits
/// a corio timer, on both protocols.
#[cfg(feature = "hyper")]
#[test]
fn curl_drives_the_hyper_server_over_http1_and_http2() {
    let Some(_) = tool("curl", "curl") else { return };
    let server = start("hyper_server", &[]);
    let base = format!("http://{}", server.addr);
    let version = |args: &[&str]| curl(&[&["-o", "/dev/null", "-w", "%{http_version}"], args].concat());
    assert_eq!(curl(&[&format!("{base}/")]), "Hello, world!\n");
    assert_eq!(version(&[&format!("{base}/")]), "1.1");
    assert_eq!(curl(&["--http2-prior-knowledge", &format!("{base}/")]), "Hello, world!\n");
    assert_eq!(version(&["--http2-prior-knowledge", &format!("{base}/")]), "2");
    for protocol in ["--http1.1", "--http2-prior-knowledge"] {
        assert_eq!(curl(&[protocol, &format!("{base}/sleep/50")]), "slept 50 ms\n", "{protocol}");
    }
    // Keep-alive (HTTP/1.1) and one multiplexed connection (HTTP/2): two
    // URLs in one curl run connect once.
    for protocol in ["--http1.1", "--http2-prior-knowledge"] {
        let connects = curl(&[
            protocol,
            "-o",
            "/dev/null",
            "-o",
            "/dev/null",
            "-w",
            "%{num_connects}\n",
            &format!("{base}/"),
            &format!("{base}/"),
        ]);
        assert_eq!(connects, "1\n0\n", "{protocol}: the second request should reuse the connection");
    }
    let code = |args: &[&str]| curl(&[&["-o", "/dev/null", "-w", "%{http_code}"], args].concat());
    assert_eq!(code(&[&format!("{base}/nope")]), "404");
    assert_eq!(code(&["-X", "POST", &format!("{base}/")]), "405");
    assert_eq!(code(&[&format!("{base}/sleep/forever")]), "400");
}
