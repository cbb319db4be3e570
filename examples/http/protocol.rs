//! The runtime-independent half of the HTTP/1.1 server, shared by
//! `http_server` (corio) and `http_server_tokio` (tokio) through
//! `#[path = "../http/protocol.rs"] mod protocol;`, so that a benchmark of
//! the two compares runtimes, not two programs.
//!
//! What lives here: the flags, request parsing (with `httparse`), routing
//! and response building. What each runtime supplies: sockets, the
//! connection loop with its deadlines, and the `/stats` body.

use std::borrow::Cow;
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

/// Largest request body we accept (and discard).
const MAX_BODY: usize = 1024 * 1024;
/// Most headers in one request.
const MAX_HEADERS: usize = 64;

#[derive(Clone, Copy)]
pub struct Config {
    pub addr: SocketAddr,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_header: usize,
}

/// `--addr`, `--port`, `--header-timeout`, `--idle-timeout`, `--max-header`;
/// on a bad flag, prints why and exits 2.
pub fn parse_args(program: &str) -> Config {
    parse_flags().unwrap_or_else(|e| {
        eprintln!("{program}: {e}");
        std::process::exit(2);
    })
}

fn parse_flags() -> Result<Config, String> {
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

/// What to do after answering a request.
#[derive(PartialEq)]
pub enum Next {
    KeepAlive,
    Close,
}

/// Answers every complete request at the front of `input` (pipelining),
/// appending the responses to `output` and removing the requests from
/// `input`. Returns whether the connection should then close, and whether
/// at least one request was answered (which restarts the header deadline).
pub fn answer_buffered(
    input: &mut Vec<u8>,
    output: &mut Vec<u8>,
    max_header: usize,
    stats: fn() -> String,
) -> (Next, bool) {
    let mut start = 0;
    let mut answered = false;
    let mut next = Next::KeepAlive;
    while next == Next::KeepAlive {
        match parse_and_answer(&input[start..], output, max_header, stats) {
            Parsed::Done { used, next: n } => {
                start += used;
                answered = true;
                next = n;
            }
            Parsed::Incomplete => break,
        }
    }
    input.drain(..start);
    (next, answered)
}

/// Returns whether a full request head (up to the blank line) is buffered.
pub fn headers_complete(buf: &[u8]) -> bool {
    buf.windows(4).any(|w| w == b"\r\n\r\n")
}

enum Parsed {
    Incomplete,
    Done { used: usize, next: Next },
}

/// Parses one request from the front of `input`; if complete, appends the
/// response to `output`.
fn parse_and_answer(input: &[u8], output: &mut Vec<u8>, max_header: usize, stats: fn() -> String) -> Parsed {
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
        request.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value.trim_ascii())
    };
    if header("transfer-encoding").is_some() {
        return fail(output, 501, "Not Implemented", "chunked request bodies are not supported\n");
    }
    let content_length = header("content-length").map(|v| std::str::from_utf8(v).ok()?.parse::<usize>().ok());
    let body_len = match content_length {
        None => 0,
        Some(Some(n)) if n <= MAX_BODY => n,
        Some(Some(_)) => return fail(output, 413, "Payload Too Large", "body too large\n"),
        Some(None) => return fail(output, 400, "Bad Request", "bad content-length\n"),
    };
    if input.len() < head_len + body_len {
        return Parsed::Incomplete;
    }
    let http10 = request.version == Some(0);
    let connection = header("connection").unwrap_or_default();
    let keep_alive = if http10 {
        connection.eq_ignore_ascii_case(b"keep-alive")
    } else {
        !connection.eq_ignore_ascii_case(b"close")
    };
    let method = request.method.unwrap_or("");
    let path = request.path.unwrap_or("");
    let (status, reason, content_type, body): (_, _, _, Cow<[u8]>) = match (method, path) {
        ("GET" | "HEAD", "/") => (200, "OK", "text/plain", Cow::Borrowed(b"Hello, world!\n")),
        ("GET" | "HEAD", "/stats") => (200, "OK", "application/json", Cow::Owned(stats().into_bytes())),
        ("GET" | "HEAD", _) => (404, "Not Found", "text/plain", Cow::Borrowed(b"not found\n")),
        _ => (405, "Method Not Allowed", "text/plain", Cow::Borrowed(b"method not allowed\n")),
    };
    write_response(output, status, reason, content_type, &body, keep_alive, method == "HEAD");
    Parsed::Done { used: head_len + body_len, next: if keep_alive { Next::KeepAlive } else { Next::Close } }
}

fn fail(output: &mut Vec<u8>, status: u16, reason: &str, body: &str) -> Parsed {
    write_response(output, status, reason, "text/plain", body.as_bytes(), false, false);
    Parsed::Done { used: 0, next: Next::Close }
}

/// A whole response, without its body for HEAD (but with its length).
pub fn response(status: u16, reason: &str, content_type: &str, body: &[u8], keep_alive: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + body.len());
    write_response(&mut out, status, reason, content_type, body, keep_alive, false);
    out
}

fn write_response(
    out: &mut Vec<u8>,
    status: u16,
    reason: &str,
    content_type: &str,
    body: &[u8],
    keep_alive: bool,
    head_only: bool,
) {
    let connection = if keep_alive { "keep-alive" } else { "close" };
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n",
        body.len()
    );
    if !head_only {
        out.extend_from_slice(body);
    }
}
