//! The runtime-independent half of the HTTP/1.1 server, shared by
//! `http_server` (corio) and `http_server_tokio` (tokio) through
//! `#[path = "../http/protocol.rs"] mod protocol;`, so that a benchmark of
//! the two compares runtimes, not two programs.
//!
//! What lives here: the flags, [`HttpConnection`] (request framing, routing and
//! responses; request heads are parsed with `httparse`), and the rules of
//! RFC 9112 that decide where one request ends and the next begins. What
//! each runtime supplies: sockets, the connection loop with its deadlines,
//! the `/stats` body, and a `/tasks` body if it can list its tasks.
//!
//! Framing is where servers get attacked (request smuggling: two parties
//! disagreeing on where a request ends), so every rule of RFC 9112 §6 that
//! applies is enforced, and a request that breaks one gets a 400 and the
//! connection is closed:
//! - `Content-Length` is one field line of digits only (§6.3, RFC 9110 §8.6);
//! - `Transfer-Encoding` must end in `chunked` (§6.3), may not come with a
//!   `Content-Length` (§6.1) or in HTTP/1.0 (§6.1); chunked bodies are
//!   decoded (§7.1) and discarded, other codings get 501;
//! - HTTP/1.1 needs exactly one valid `Host` (§3.2);
//! - whitespace before a colon, obs-fold, bare CR: rejected by httparse (§5).
//!
//! Leading empty lines before a request line are ignored (§2.2) but count
//! against the header limit, so a flood of them gets a 400 once it passes
//! the limit.

use std::borrow::Cow;
use std::cell::Cell;
use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Largest request body we accept (and discard).
pub const MAX_BODY: usize = 1024 * 1024;
/// Most headers in one request.
pub const MAX_HEADERS: usize = 64;
/// Longest chunk-size line (with its extensions) of a chunked body.
const MAX_CHUNK_LINE: usize = 4096;

#[derive(Clone, Copy)]
pub struct Config {
    pub addr: SocketAddr,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_header: usize,
    /// `--track-tasks`: the runtime keeps task details for `/tasks`.
    pub track_tasks: bool,
    /// The `/tasks` body (a task dump), if the runtime has one; else 404.
    pub tasks: Option<fn() -> String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_header: 8192,
            track_tasks: false,
            tasks: None,
        }
    }
}

/// `--addr`, `--port`, `--header-timeout`, `--idle-timeout`, `--max-header`,
/// `--track-tasks` (no value); on a bad flag, prints why and exits 2.
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
    let mut track_tasks = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--track-tasks" {
            track_tasks = true;
            continue;
        }
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
        track_tasks,
        tasks: None,
    })
}

/// What to do after writing out [`HttpConnection::output`].
#[derive(Debug, PartialEq)]
pub enum Next {
    KeepAlive,
    Close,
}

/// A response decided from a request's head, sent once its body is read.
struct Response {
    status: u16,
    reason: &'static str,
    content_type: &'static str,
    body: Cow<'static, [u8]>,
    allow: bool,
    keep_alive: bool,
    head_only: bool,
}

/// Where a request's body stands.
#[derive(Debug, PartialEq)]
enum Body {
    /// This many bytes of a `Content-Length` body are still to come.
    Length(usize),
    /// A chunked body: the chunk-size line is next.
    ChunkSize,
    /// Inside a chunk: this many data bytes, then its CRLF.
    ChunkData(usize),
    /// The CRLF that ends a chunk's data.
    ChunkEnd,
    /// After the last chunk: trailer field lines, until an empty line.
    Trailers,
}

/// A request whose head has been read and answered, body still arriving.
struct Pending {
    response: Response,
    body: Body,
    /// Bytes of chunked body read so far (chunk data), and of trailers.
    body_seen: usize,
}

/// One client: bytes in, responses out. Requests are answered in order
/// (pipelining); a body is read and thrown away as it arrives, so nothing
/// but one request head is ever buffered.
pub struct HttpConnection {
    input: Vec<u8>,
    output: Vec<u8>,
    pending: Option<Pending>,
    max_header: usize,
    tasks: Option<fn() -> String>,
}

/// A framing or syntax error: the status to answer before closing.
struct Reject(u16, &'static str, &'static str);

const BAD_REQUEST: &str = "Bad Request";

impl HttpConnection {
    pub fn new(config: &Config) -> HttpConnection {
        HttpConnection {
            input: Vec::with_capacity(4096),
            output: Vec::with_capacity(4096),
            pending: None,
            max_header: config.max_header,
            tasks: config.tasks,
        }
    }

    /// Appends bytes read from the socket.
    pub fn received(&mut self, bytes: &[u8]) {
        self.input.extend_from_slice(bytes);
    }

    /// Whether a request has begun and not been answered (the header
    /// deadline runs), as opposed to an idle keep-alive connection.
    pub fn in_request(&self) -> bool {
        !self.input.is_empty() || self.pending.is_some()
    }

    /// Received bytes not yet consumed: at most one request head (the
    /// header limit) or one chunked-framing line once [`HttpConnection::answer`]
    /// has returned [`Next::KeepAlive`]; bodies are consumed as they arrive.
    #[allow(dead_code)] // for the property tests
    pub fn buffered(&self) -> usize {
        self.input.len()
    }

    /// The responses waiting to be written.
    pub fn output(&self) -> &[u8] {
        &self.output
    }

    /// Call once [`HttpConnection::output`] has been written.
    pub fn sent(&mut self) {
        self.output.clear();
    }

    /// Answers every complete request in the input (pipelining). Returns
    /// whether the connection closes after the output is written, and
    /// whether at least one request was answered (which restarts the header
    /// deadline).
    pub fn answer(&mut self, stats: fn() -> String) -> (Next, bool) {
        let mut start = 0;
        let mut answered = false;
        let next = loop {
            if self.pending.is_some() {
                match self.read_body(start) {
                    Ok((used, done)) => {
                        start += used;
                        if !done {
                            break Next::KeepAlive;
                        }
                        let pending = self.pending.take().expect("checked above");
                        write_response(&mut self.output, &pending.response);
                        answered = true;
                        if !pending.response.keep_alive {
                            break Next::Close;
                        }
                    }
                    Err(reject) => {
                        self.reject(reject);
                        break Next::Close;
                    }
                }
            }
            match self.read_head(start, stats) {
                Ok(Some(used)) => start += used,
                Ok(None) => break Next::KeepAlive,
                Err(reject) => {
                    self.reject(reject);
                    break Next::Close;
                }
            }
        };
        self.input.drain(..start);
        (next, answered)
    }

    fn reject(&mut self, Reject(status, reason, body): Reject) {
        self.pending = None;
        let response = Response {
            status,
            reason,
            content_type: "text/plain",
            body: Cow::Borrowed(body.as_bytes()),
            allow: false,
            keep_alive: false,
            head_only: false,
        };
        write_response(&mut self.output, &response);
    }

    /// Parses the request head at `start`, if it is all there: decides the
    /// response and what body follows. `Ok(None)`: more bytes needed.
    fn read_head(&mut self, start: usize, stats: fn() -> String) -> Result<Option<usize>, Reject> {
        let input = &self.input[start..];
        if input.is_empty() {
            return Ok(None);
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        // httparse skips empty lines before the request line (RFC 9112
        // §2.2); they count in the head's length, so against the limit.
        let head_len = match request.parse(input) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) if input.len() > self.max_header => {
                return Err(if input.iter().all(|&b| b == b'\r' || b == b'\n') {
                    Reject(400, BAD_REQUEST, "too many empty lines before the request line\n")
                } else {
                    Reject(431, "Request Header Fields Too Large", "headers too large\n")
                });
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) => {
                return Err(Reject(431, "Request Header Fields Too Large", "too many headers\n"))
            }
            Err(_) => return Err(Reject(400, BAD_REQUEST, "malformed request\n")),
        };
        if head_len > self.max_header {
            return Err(Reject(431, "Request Header Fields Too Large", "headers too large\n"));
        }
        let http10 = request.version == Some(0);
        let framing = Framing::of(request.headers, http10)?;
        let body = framing.body.unwrap_or(Body::Length(0));
        let method = request.method.unwrap_or("");
        let path = origin_path(request.path.unwrap_or(""));
        let (status, reason, content_type, body_bytes, allow): (_, _, _, Cow<'static, [u8]>, _) =
            match (method, path) {
                ("GET" | "HEAD", "/") => (200, "OK", "text/plain", Cow::Borrowed(b"Hello, world!\n"), false),
                ("GET" | "HEAD", "/stats") => {
                    (200, "OK", "application/json", Cow::Owned(stats().into_bytes()), false)
                }
                ("GET" | "HEAD", "/tasks") if self.tasks.is_some() => {
                    let tasks = self.tasks.expect("checked by the guard");
                    (200, "OK", "text/plain", Cow::Owned(tasks().into_bytes()), false)
                }
                ("GET" | "HEAD", _) => (404, "Not Found", "text/plain", Cow::Borrowed(b"not found\n"), false),
                ("POST" | "PUT" | "DELETE" | "CONNECT" | "OPTIONS" | "TRACE" | "PATCH", _) => {
                    (405, "Method Not Allowed", "text/plain", Cow::Borrowed(b"method not allowed\n"), true)
                }
                _ => (501, "Not Implemented", "text/plain", Cow::Borrowed(b"unknown method\n"), false),
            };
        let keep_alive = framing.keep_alive;
        let response = Response {
            status,
            reason,
            content_type,
            body: body_bytes,
            allow,
            keep_alive,
            head_only: method == "HEAD",
        };
        self.pending = Some(Pending { response, body, body_seen: 0 });
        Ok(Some(head_len))
    }

    /// Reads (and discards) what has arrived of the pending request's body:
    /// returns the bytes used and whether the body is complete.
    fn read_body(&mut self, start: usize) -> Result<(usize, bool), Reject> {
        let pending = self.pending.as_mut().expect("a request is pending");
        let input = &self.input[start..];
        let mut pos = 0;
        loop {
            match pending.body {
                Body::Length(0) => return Ok((pos, true)),
                Body::Length(left) => {
                    let take = left.min(input.len() - pos);
                    pos += take;
                    pending.body = Body::Length(left - take);
                    if take < left {
                        return Ok((pos, false));
                    }
                }
                Body::ChunkSize => {
                    let Some(line) = next_line(&input[pos..], MAX_CHUNK_LINE)? else {
                        return Ok((pos, false));
                    };
                    pos += line.len();
                    let size = chunk_size(line)?;
                    pending.body_seen = pending.body_seen.saturating_add(size);
                    if pending.body_seen > MAX_BODY {
                        return Err(Reject(413, "Payload Too Large", "body too large\n"));
                    }
                    pending.body = if size == 0 { Body::Trailers } else { Body::ChunkData(size) };
                }
                Body::ChunkData(left) => {
                    let take = left.min(input.len() - pos);
                    pos += take;
                    pending.body = if take == left { Body::ChunkEnd } else { Body::ChunkData(left - take) };
                    if take < left {
                        return Ok((pos, false));
                    }
                }
                Body::ChunkEnd => {
                    let Some(line) = next_line(&input[pos..], 2)? else { return Ok((pos, false)) };
                    if line != b"\r\n" && line != b"\n" {
                        return Err(Reject(400, BAD_REQUEST, "chunk data not followed by CRLF\n"));
                    }
                    pos += line.len();
                    pending.body = Body::ChunkSize;
                }
                Body::Trailers => {
                    let Some(line) = next_line(&input[pos..], self.max_header)? else {
                        return Ok((pos, false));
                    };
                    pos += line.len();
                    if line == b"\r\n" || line == b"\n" {
                        return Ok((pos, true));
                    }
                    pending.body_seen = pending.body_seen.saturating_add(line.len());
                    if !valid_trailer(line) || pending.body_seen > MAX_BODY + self.max_header {
                        return Err(Reject(400, BAD_REQUEST, "malformed trailer section\n"));
                    }
                }
            }
        }
    }
}

/// The next line of `input`, LF included, if it is there. A line is at
/// most `max` bytes; that many without an LF is an error.
fn next_line(input: &[u8], max: usize) -> Result<Option<&[u8]>, Reject> {
    let window = &input[..input.len().min(max)];
    match window.iter().position(|&b| b == b'\n') {
        Some(lf) => Ok(Some(&input[..=lf])),
        None if input.len() >= max => Err(Reject(400, BAD_REQUEST, "malformed chunked body\n")),
        None => Ok(None),
    }
}

/// `chunk-size [ chunk-ext ] CRLF` (RFC 9112 §7.1): hex digits, then
/// optional `;name[=value]` extensions, which are checked and ignored.
fn chunk_size(line: &[u8]) -> Result<usize, Reject> {
    let bad = || Reject(400, BAD_REQUEST, "bad chunk size\n");
    let line = line.strip_suffix(b"\n").ok_or_else(bad)?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(bad());
    }
    let significant = line[..digits].iter().skip_while(|&&b| b == b'0').count();
    if significant > 8 {
        return Err(Reject(413, "Payload Too Large", "body too large\n"));
    }
    let text = std::str::from_utf8(&line[..digits]).map_err(|_| bad())?;
    let size = usize::from_str_radix(text, 16).map_err(|_| bad())?;
    let ext = &line[digits..];
    // chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] ): start with
    // optional whitespace then ';', and hold only visible characters,
    // spaces and tabs.
    let ext_ok = ext.is_empty()
        || (ext.trim_ascii_start().first() == Some(&b';')
            && ext.iter().all(|&b| b == b'\t' || b == b' ' || (0x21..0x7f).contains(&b) || b >= 0x80));
    if !ext_ok {
        return Err(bad());
    }
    Ok(size)
}

/// A trailer field line (RFC 9112 §5): `name: value` with a token name (so
/// no obs-fold, no space before the colon) and no control characters but
/// HTAB in the value.
fn valid_trailer(line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let Some(colon) = line.iter().position(|&b| b == b':') else { return false };
    colon > 0
        && line[..colon].iter().all(|&b| is_tchar(b))
        && line[colon + 1..].iter().all(|&b| b == b'\t' || !(b < 0x20 || b == 0x7f))
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// What a request's headers say about its body and the connection.
struct Framing {
    /// `None`: no body.
    body: Option<Body>,
    /// What the client asked for (HTTP/1.1 default: keep the connection).
    keep_alive: bool,
}

impl Framing {
    fn of(headers: &[httparse::Header], http10: bool) -> Result<Framing, Reject> {
        let bad = |why: &'static str| Reject(400, BAD_REQUEST, why);
        let mut content_length: Option<usize> = None;
        let mut chunked_last = false;
        let mut has_te = false;
        let mut hosts = 0;
        let mut close = false;
        let mut keep_alive_token = false;
        for h in headers {
            let value = h.value.trim_ascii();
            if h.name.eq_ignore_ascii_case("content-length") {
                // 1*DIGIT, once (RFC 9112 §6.3 item 5): a second field line,
                // even an equal one, or a list, is refused.
                if content_length.is_some() {
                    return Err(bad("more than one content-length\n"));
                }
                if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
                    return Err(bad("bad content-length\n"));
                }
                let n = std::str::from_utf8(value).ok().and_then(|v| v.parse::<usize>().ok());
                match n {
                    Some(n) => content_length = Some(n),
                    None => return Err(Reject(413, "Payload Too Large", "body too large\n")),
                }
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                has_te = true;
                // A list, possibly over several field lines: only the last
                // coding decides whether the body is chunked.
                for coding in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                    if !coding.is_empty() {
                        chunked_last = coding.eq_ignore_ascii_case(b"chunked");
                    }
                }
            } else if h.name.eq_ignore_ascii_case("host") {
                hosts += 1;
                if !valid_host(value) {
                    return Err(bad("bad host\n"));
                }
            } else if h.name.eq_ignore_ascii_case("connection") {
                for option in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                    close |= option.eq_ignore_ascii_case(b"close");
                    keep_alive_token |= option.eq_ignore_ascii_case(b"keep-alive");
                }
            }
        }
        if hosts > 1 || (hosts == 0 && !http10) {
            return Err(bad("HTTP/1.1 needs exactly one host header\n"));
        }
        let body = if has_te {
            if http10 {
                return Err(bad("transfer-encoding in an HTTP/1.0 request\n"));
            }
            if content_length.is_some() {
                return Err(bad("both transfer-encoding and content-length\n"));
            }
            if !chunked_last {
                return Err(bad("transfer-encoding does not end in chunked\n"));
            }
            // Any coding but chunked itself is one we cannot undo.
            let only_chunked = headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case("transfer-encoding"))
                .flat_map(|h| h.value.split(|&b| b == b','))
                .map(<[u8]>::trim_ascii)
                .filter(|c| !c.is_empty())
                .count()
                == 1;
            if !only_chunked {
                return Err(Reject(
                    501,
                    "Not Implemented",
                    "only the chunked transfer coding is supported\n",
                ));
            }
            Some(Body::ChunkSize)
        } else {
            match content_length {
                Some(n) if n > MAX_BODY => return Err(Reject(413, "Payload Too Large", "body too large\n")),
                Some(n) => Some(Body::Length(n)),
                None => None,
            }
        };
        let keep_alive = if http10 { keep_alive_token && !close } else { !close };
        Ok(Framing { body, keep_alive })
    }
}

/// `Host = uri-host [ ":" port ]` (RFC 9110 §7.2): the characters of a
/// reg-name, an IPv4 address or a bracketed IP literal, and a port of
/// digits. Empty is allowed (a target URI with no authority).
fn valid_host(value: &[u8]) -> bool {
    value.iter().all(|&b| b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=:[]".contains(&b))
}

/// The path of a request target: origin-form as is, absolute-form
/// (`http://host/path`, which a server must accept) without its scheme and
/// authority; the query is not part of the route.
fn origin_path(target: &str) -> &str {
    let path = match target.as_bytes().first() {
        Some(b'/') => target,
        _ => match target.find("://") {
            Some(i) if target[..i].eq_ignore_ascii_case("http") => {
                let rest = &target[i + 3..];
                rest.find('/').map_or("/", |slash| &rest[slash..])
            }
            _ => target,
        },
    };
    match path.bytes().position(|b| b == b'?') {
        Some(q) => &path[..q],
        None => path,
    }
}

/// A whole response, used by the connection loop for 408.
pub fn response(status: u16, reason: &'static str, body: &'static [u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(160 + body.len());
    let response = Response {
        status,
        reason,
        content_type: "text/plain",
        body: Cow::Borrowed(body),
        allow: false,
        keep_alive: false,
        head_only: false,
    };
    write_response(&mut out, &response);
    out
}

/// Appends the response. Built from pieces rather than with `write!`:
/// the formatting machinery cost more than the rest of a request together.
fn write_response(out: &mut Vec<u8>, r: &Response) {
    out.extend_from_slice(b"HTTP/1.1 ");
    decimal(out, u64::from(r.status));
    out.push(b' ');
    out.extend_from_slice(r.reason.as_bytes());
    out.extend_from_slice(b"\r\nDate: ");
    out.extend_from_slice(&http_date_now());
    if r.allow {
        out.extend_from_slice(b"\r\nAllow: GET, HEAD");
    }
    out.extend_from_slice(b"\r\nContent-Type: ");
    out.extend_from_slice(r.content_type.as_bytes());
    out.extend_from_slice(b"\r\nContent-Length: ");
    decimal(out, r.body.len() as u64);
    out.extend_from_slice(if r.keep_alive {
        b"\r\nConnection: keep-alive\r\n\r\n"
    } else {
        b"\r\nConnection: close\r\n\r\n"
    });
    if !r.head_only {
        out.extend_from_slice(&r.body);
    }
}

/// `n` in decimal.
fn decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

thread_local! {
    /// The last second formatted, and its text: one format per second, not
    /// per response.
    static DATE: Cell<(u64, [u8; 29])> = const { Cell::new((u64::MAX, [0; 29])) };
}

/// Now as an IMF-fixdate (RFC 9110 §5.6.7), for the `Date` header every
/// response carries (RFC 9110 §6.6.1: an origin server with a clock must).
fn http_date_now() -> [u8; 29] {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    DATE.with(|cache| {
        let (cached, text) = cache.get();
        if cached == secs {
            return text;
        }
        let text = http_date(secs);
        cache.set((secs, text));
        text
    })
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` for `secs` since the Unix epoch.
pub fn http_date(secs: u64) -> [u8; 29] {
    const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
    const MONTHS: [&[u8; 3]; 12] =
        [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"];
    let days = secs / 86400;
    let (year, month, day) = civil_from_days(days as i64);
    let time = secs % 86400;
    let mut out = [0u8; 29];
    let mut w = &mut out[..];
    let _ = write!(
        w,
        "{}, {day:02} {} {year:04} {:02}:{:02}:{:02} GMT",
        std::str::from_utf8(DAYS[(days % 7) as usize]).unwrap_or("Thu"),
        std::str::from_utf8(MONTHS[month as usize - 1]).unwrap_or("Jan"),
        time / 3600,
        time % 3600 / 60,
        time % 60
    );
    let _ = w.flush();
    out
}

/// Year, month (1-12), day (1-31) of a day number since 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}
