//! A small HTTP/1.1 server on corio, for `curl` and `wrk`.
//!
//! What it shows: keep-alive and pipelining (every complete request in the
//! buffer is answered, the responses leave in one write); parsing with the
//! `httparse` crate rather than by hand; and the limits a server facing the
//! internet needs: 400 for a malformed request, 431 when the headers outgrow
//! a limit, 408 when a request takes too long to arrive (a slowloris client
//! trickling one byte a second is cut off at the deadline, and its buffer
//! never exceeds the header limit), 413 for a body over the limit.
//!
//! Routes: `GET /` says hello; `GET /stats` returns the runtime's counters
//! (`corio::stats()`) as JSON.
//!
//! ```sh
//! cargo run --release --example http_server -- --port 8080
//! curl -v http://127.0.0.1:8080/stats
//! wrk -t1 -c50 -d10s http://127.0.0.1:8080/
//! ```
//!
//! Flags: `--addr` (default 127.0.0.1), `--port` (default 8080),
//! `--header-timeout` (seconds to receive a request's headers, default 10),
//! `--idle-timeout` (seconds a keep-alive connection may sit idle, default 60),
//! `--max-header` (bytes, default 8192).
//!
//! Shortcuts, labelled honestly: no chunked request bodies (501), no TLS, no
//! `Expect: 100-continue`.

use std::net::SocketAddr;
use std::time::Duration;

use corio::io::{AsyncReadExt, AsyncWriteExt};
use corio::net::{TcpListener, TcpStream};
use corio::time::{timeout_at, Instant};

/// Largest request body we accept (and discard).
const MAX_BODY: usize = 1024 * 1024;
/// Most headers in one request.
const MAX_HEADERS: usize = 64;

#[derive(Clone, Copy)]
struct Config {
    addr: SocketAddr,
    header_timeout: Duration,
    idle_timeout: Duration,
    max_header: usize,
}

fn parse_args() -> Result<Config, String> {
    let mut host = "127.0.0.1".to_string();
    let (mut port, mut header_timeout, mut idle_timeout, mut max_header) =
        (8080u16, 10.0f64, 60.0f64, 8192usize);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--addr" => host = value.clone(),
            "--port" => port = value.parse().map_err(|e| bad(&e))?,
            "--header-timeout" => header_timeout = value.parse().map_err(|e| bad(&e))?,
            "--idle-timeout" => idle_timeout = value.parse().map_err(|e| bad(&e))?,
            "--max-header" => max_header = value.parse().map_err(|e| bad(&e))?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    let addr = format!("{host}:{port}").parse().map_err(|e| format!("bad address {host}:{port}: {e}"))?;
    Ok(Config {
        addr,
        header_timeout: Duration::from_secs_f64(header_timeout),
        idle_timeout: Duration::from_secs_f64(idle_timeout),
        max_header,
    })
}

fn main() {
    let config = parse_args().unwrap_or_else(|e| {
        eprintln!("http_server: {e}");
        std::process::exit(2);
    });
    corio::block_on(async move {
        let listener = TcpListener::bind(config.addr).expect("bind");
        println!("http_server listening on http://{}", listener.local_addr().unwrap());
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    corio::spawn(serve(stream, config));
                }
                Err(e) => eprintln!("http_server: accept failed: {e}"),
            }
        }
    });
}

/// What to do after answering a request.
#[derive(PartialEq)]
enum Next {
    KeepAlive,
    Close,
}

async fn serve(mut stream: TcpStream, config: Config) {
    let _ = stream.set_nodelay(true);
    let mut input: Vec<u8> = Vec::with_capacity(4096);
    let mut output: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16 * 1024];
    let mut request_deadline: Option<Instant> = None;
    loop {
        // Answer every complete request already buffered (pipelining).
        let mut next = Next::KeepAlive;
        while next == Next::KeepAlive {
            match parse_and_answer(&input, &mut output, config.max_header) {
                Parsed::Done { used, next: n } => {
                    input.drain(..used);
                    request_deadline = None;
                    next = n;
                }
                Parsed::Incomplete => break,
            }
        }
        if !output.is_empty() {
            if stream.write_all(&output).await.is_err() {
                return;
            }
            output.clear();
        }
        if next == Next::Close {
            lingering_close(stream).await;
            return;
        }
        // Idle connections get the idle timeout; a request that has begun
        // must arrive whole within the header timeout of its first byte,
        // however slowly the rest trickles in (slowloris).
        if input.is_empty() {
            request_deadline = None;
        } else if request_deadline.is_none() {
            request_deadline = Some(Instant::now() + config.header_timeout);
        }
        let deadline = request_deadline.unwrap_or_else(|| Instant::now() + config.idle_timeout);
        let n = match timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(n)) => n,
            Err(_elapsed) => {
                if !input.is_empty() {
                    let reply = response(408, "Request Timeout", "text/plain", b"request timeout\n", false);
                    let _ = stream.write_all(&reply).await;
                    lingering_close(stream).await;
                }
                return;
            }
        };
        input.extend_from_slice(&chunk[..n]);
        // A partial request may not grow past the limit while we wait.
        if input.len() > config.max_header && !headers_complete(&input) {
            let reply =
                response(431, "Request Header Fields Too Large", "text/plain", b"headers too large\n", false);
            let _ = stream.write_all(&reply).await;
            lingering_close(stream).await;
            return;
        }
    }
}

/// Returns whether a full request head (up to the blank line) is buffered.
fn headers_complete(buf: &[u8]) -> bool {
    buf.windows(4).any(|w| w == b"\r\n\r\n")
}

enum Parsed {
    Incomplete,
    Done { used: usize, next: Next },
}

/// Parses one request from the front of `input`; if complete, appends the
/// response to `output`.
fn parse_and_answer(input: &[u8], output: &mut Vec<u8>, max_header: usize) -> Parsed {
    if input.is_empty() {
        return Parsed::Incomplete;
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let head_len = match request.parse(input) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Parsed::Incomplete,
        Err(httparse::Error::TooManyHeaders) => {
            return fail(output, 431, "Request Header Fields Too Large", "too many headers\n");
        }
        Err(e) => return fail(output, 400, "Bad Request", &format!("malformed request: {e}\n")),
    };
    if head_len > max_header {
        return fail(output, 431, "Request Header Fields Too Large", "headers too large\n");
    }
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).into_owned())
    };
    if header("transfer-encoding").is_some() {
        return fail(output, 501, "Not Implemented", "chunked request bodies are not supported\n");
    }
    let body_len = match header("content-length").map(|v| v.trim().parse::<usize>()) {
        None => 0,
        Some(Ok(n)) if n <= MAX_BODY => n,
        Some(Ok(_)) => return fail(output, 413, "Payload Too Large", "body too large\n"),
        Some(Err(_)) => return fail(output, 400, "Bad Request", "bad content-length\n"),
    };
    if input.len() < head_len + body_len {
        return Parsed::Incomplete;
    }
    let http10 = request.version == Some(0);
    let connection = header("connection").unwrap_or_default().to_ascii_lowercase();
    let keep_alive = if http10 { connection == "keep-alive" } else { connection != "close" };
    let method = request.method.unwrap_or("");
    let path = request.path.unwrap_or("");
    let head_only = method == "HEAD";
    let (status, reason, content_type, body) = match (method, path) {
        ("GET" | "HEAD", "/") => (200, "OK", "text/plain", b"Hello, world!\n".to_vec()),
        ("GET" | "HEAD", "/stats") => (200, "OK", "application/json", stats_json().into_bytes()),
        ("GET" | "HEAD", _) => (404, "Not Found", "text/plain", b"not found\n".to_vec()),
        _ => (405, "Method Not Allowed", "text/plain", b"method not allowed\n".to_vec()),
    };
    let mut bytes = response(status, reason, content_type, &body, keep_alive);
    if head_only {
        bytes.truncate(bytes.len() - body.len());
    }
    output.extend_from_slice(&bytes);
    Parsed::Done { used: head_len + body_len, next: if keep_alive { Next::KeepAlive } else { Next::Close } }
}

fn fail(output: &mut Vec<u8>, status: u16, reason: &str, body: &str) -> Parsed {
    output.extend_from_slice(&response(status, reason, "text/plain", body.as_bytes(), false));
    Parsed::Done { used: 0, next: Next::Close }
}

fn response(status: u16, reason: &str, content_type: &str, body: &[u8], keep_alive: bool) -> Vec<u8> {
    let connection = if keep_alive { "keep-alive" } else { "close" };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

fn stats_json() -> String {
    let s = corio::stats();
    format!(
        "{{\"tasks_spawned\":{},\"tasks_alive\":{},\"tasks_completed\":{},\"tasks_panicked\":{},\"polls\":{},\
         \"wakes_local\":{},\"wakes_remote\":{},\"reactor_turns\":{},\"io_events\":{},\"timers_fired\":{}}}\n",
        s.tasks_spawned,
        s.tasks_alive,
        s.tasks_completed,
        s.tasks_panicked,
        s.polls,
        s.wakes_local,
        s.wakes_remote,
        s.reactor_turns,
        s.io_events,
        s.timers_fired
    )
}

/// Closes politely: stop writing, then read and discard what the client is
/// still sending (for at most a second, 64 KiB). Closing with unread input
/// makes the kernel send a reset, which can destroy the response we just
/// wrote before the client reads it.
async fn lingering_close(mut stream: TcpStream) {
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    while drained < 64 * 1024 {
        match timeout_at(deadline, stream.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => drained += n,
            _ => return,
        }
    }
}
