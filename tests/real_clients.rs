//! The example servers against clients nobody on this project wrote:
//! `redis-cli`, `redis-benchmark` and `curl`, plus raw-socket bad input.
//!
//! The servers run as child processes (the compiled `resp_server` and
//! `http_server` examples) on port 0; each prints the address it bound,
//! which is how the test learns the port and that the server is ready.
//!
//! `.ci/run` installs `redis-tools`, `curl`, and a Python venv with redis-py
//! and h11. Without them, the tool-driven tests fail under CI (`CI` set) and
//! skip with a message elsewhere; the raw-socket tests always run, and parse
//! every HTTP response with h11 when it is there.
//!
//! The helpers (starting servers, finding tools) are in `tests/common`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{exchange, h11_parse, python, raw, read_to_close, start, tool, ServerProcess};

fn redis_cli(server: &ServerProcess, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &server.addr.port().to_string()])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "redis-cli {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim_end_matches('\n').to_string()
}

fn assert_resp_alive(server: &ServerProcess) {
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
        (&["FOO"], "ERR unknown command 'FOO', with args beginning with: "),
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
    assert_eq!(reply, "-ERR Protocol error: invalid bulk length\r\n");
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
    assert_eq!(reply, "-ERR Protocol error: invalid bulk length\r\n");
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
    assert!(headers.contains("Content-Length: 14\r\n") && headers.contains("\r\nDate: "), "{headers}");
    // curl sends a chunked body for data of unknown length (stdin): it is
    // read and discarded, and the connection stays usable.
    let chunked = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{num_connects}\n",
        "-X",
        "PUT",
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        "some body",
        &format!("{base}/"),
        "--next",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{num_connects}\n",
        &format!("{base}/"),
    ]);
    assert_eq!(chunked, "405 1\n200 0\n");
}

/// The status codes of `bytes`, the responses to requests with `methods`,
/// checked by h11 when it is installed (and by hand when it is not).
fn statuses(bytes: &[u8], methods: &[&str]) -> Vec<u16> {
    if let Some(responses) = h11_parse(bytes, methods) {
        return responses.iter().map(|r| r.status).collect();
    }
    String::from_utf8_lossy(bytes)
        .match_indices("HTTP/1.1 ")
        .map(|(i, _)| String::from_utf8_lossy(&bytes[i + 9..i + 12]).parse().unwrap())
        .collect()
}

#[test]
fn http_pipelined_requests_are_answered_in_order() {
    let server = start("http_server", &[]);
    let mut stream = TcpStream::connect(server.addr).unwrap();
    let request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    stream.write_all(request).unwrap();
    let reply = read_to_close(&mut stream);
    assert_eq!(statuses(&reply, &["GET", "GET", "GET"]), [200, 404, 200]);
}

fn assert_http_alive(server: &ServerProcess) {
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let reply = read_to_close(&mut stream);
    assert_eq!(statuses(&reply, &["GET"]), [200]);
    assert!(reply.ends_with(b"Hello, world!\n"), "{}", String::from_utf8_lossy(&reply));
}

#[test]
fn http_malformed_request_line_gets_400() {
    let server = start("http_server", &[]);
    let reply = raw(&server, b"GARBAGE LINE\x01\r\n\r\n");
    assert_eq!(statuses(&reply, &["GET"]), [400]);
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
    let reply = read_to_close(&mut stream);
    assert_eq!(statuses(&reply, &["GET"]), [431]);
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
    assert_eq!(statuses(&reply, &["GET"]), [408]);
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

/// redis-py, the most used Python client, with every setting at its default:
/// version 8 opens with `HELLO 3` and speaks RESP3, then asks `CLIENT
/// SETINFO` (which Redis 7.0 refuses and redis-py ignores).
#[test]
fn redis_py_default_client_session() {
    let Some(python) = python() else { return };
    let server = start("resp_server", &[]);
    let script = r#"
import sys, redis
r = redis.Redis(port=int(sys.argv[1]))
assert r.ping() is True
assert r.set("greeting", "hello") is True
assert r.get("greeting") == b"hello"
assert r.get("missing") is None
assert r.set("greeting", "x", nx=True) is None
assert r.set("counter", 41) and r.incr("counter") == 42
assert r.incrby("counter", -2) == 40
assert r.mset({"a": "1", "b": b"\x00\xff binary"}) is True
assert r.mget("a", "b", "nope") == [b"1", b"\x00\xff binary", None]
assert r.set("temp", "v", ex=100) is True and r.ttl("temp") == 100
assert r.expire("temp", 50, gt=True) is False and r.expire("temp", 500, gt=True) is True
assert 0 < r.pttl("temp") <= 500_000
assert r.exists("a", "b", "nope") == 2 and r.delete("a", "nope") == 1
assert r.config_get("maxmemory") == {"maxmemory": "0"}
assert r.client_setname("tester") and r.client_getname() == "tester"
assert isinstance(r.client_id(), int)
try:
    r.incr("greeting")
    raise SystemExit("INCR on a string should fail")
except redis.ResponseError as e:
    assert str(e) == "value is not an integer or out of range", e
try:
    r.execute_command("NOSUCH", "x")
    raise SystemExit("an unknown command should fail")
except redis.ResponseError as e:
    assert str(e).startswith("unknown command 'NOSUCH', with args beginning with: 'x'"), e
pipe = r.pipeline(transaction=False)
for i in range(100):
    pipe.set(f"k{i}", i)
    pipe.get(f"k{i}")
results = pipe.execute()
assert results[1::2] == [str(i).encode() for i in range(100)], results[:6]
r2 = redis.Redis(port=int(sys.argv[1]), db=3, decode_responses=True)
assert r2.dbsize() == 0 and r2.set("only-in-3", "y") and r2.get("only-in-3") == "y"
assert r.get("only-in-3") is None
assert r.flushall() is True and r.dbsize() == 0
print("ok")
"#;
    let out =
        Command::new(python).arg("-c").arg(script).arg(server.addr.port().to_string()).output().unwrap();
    assert!(
        out.status.success() && out.stdout == b"ok\n",
        "redis-py session failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
