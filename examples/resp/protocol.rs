//! The runtime-independent half of the Redis-protocol server, shared by
//! `resp_server` (corio) and `resp_server_tokio` (tokio) through
//! `#[path = "../resp/protocol.rs"] mod protocol;`, so that a benchmark of
//! the two compares runtimes, not two programs.
//!
//! What lives here: the flags, the request parser, and [`RespConnection`], which
//! turns the bytes a client sent into the bytes to send back. The command
//! table is in `commands.rs`, the key space in `store.rs`. What each runtime
//! supplies: sockets, the loop that moves bytes between a socket and a
//! [`RespConnection`], and one expiry timer per key ([`ExpiryTimers`]).
//!
//! The parser follows redis-server 7 (`processMultibulkBuffer` and
//! `processInlineBuffer` in its networking.c) down to its error texts, so a
//! client sees the same answers from both; `tests/resp_differential.rs`
//! checks that against a real redis-server. It is resumable: a command that
//! arrives in pieces is parsed once, each read continuing where the last one
//! stopped, so a huge command costs the same however it is split.

#[path = "commands.rs"]
mod commands;
#[path = "store.rs"]
mod store;

use std::net::SocketAddr;
use std::ops::Range;

pub use store::{Db, Expiry, ExpiryTimers};

/// Longest inline command, or length line, before the request is refused
/// (Redis' `PROTO_INLINE_MAX_SIZE`).
pub const MAX_LINE: usize = 64 * 1024;
/// Most arguments one command may have (Redis: `INT_MAX`).
pub const MAX_ARGS: i64 = i32::MAX as i64;
/// Once this much output is waiting to be sent, the connection stops
/// executing commands until it has been written (backpressure: a client
/// that sends `GET big` a hundred times and never reads holds one reply in
/// memory, not a hundred).
pub const OUTPUT_LIMIT: usize = 64 * 1024;
/// Buffers that grew past this for one big value are given back once empty.
const KEEP_CAPACITY: usize = 1024 * 1024;

pub struct Config {
    pub addr: SocketAddr,
    /// Longest bulk string (argument) accepted: Redis' `proto-max-bulk-len`.
    pub max_bulk: usize,
    /// Most bytes one unfinished command may occupy before the connection is
    /// closed: Redis' `client-query-buffer-limit`.
    pub max_query: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 6380)),
            max_bulk: 512 * 1024 * 1024,
            max_query: 1024 * 1024 * 1024,
        }
    }
}

/// `--addr`, `--port`, `--max-bulk`, `--max-query`; on a bad flag, prints
/// why and exits 2.
pub fn parse_args(program: &str) -> Config {
    parse_flags().unwrap_or_else(|e| {
        eprintln!("{program}: {e}");
        std::process::exit(2);
    })
}

fn parse_flags() -> Result<Config, String> {
    let mut config = Config::default();
    let (mut host, mut port) = ("127.0.0.1".to_string(), 6380u16);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => host = value()?,
            "--port" => port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--max-bulk" => config.max_bulk = value()?.parse().map_err(|e| format!("--max-bulk: {e}"))?,
            "--max-query" => config.max_query = value()?.parse().map_err(|e| format!("--max-query: {e}"))?,
            other => {
                return Err(format!("unknown flag {other}; flags: --addr, --port, --max-bulk, --max-query"))
            }
        }
    }
    config.addr = format!("{host}:{port}").parse().map_err(|e| format!("bad address {host}:{port}: {e}"))?;
    Ok(config)
}

/// What the connection loop does after writing out [`RespConnection::output`].
#[derive(Debug, PartialEq)]
pub enum Flow {
    /// Every buffered command has been answered: read more.
    Read,
    /// Commands are still buffered but the output reached
    /// [`OUTPUT_LIMIT`]: write it, then call [`RespConnection::answer`] again
    /// before reading.
    Write,
    /// Write what is there, then close (QUIT, a protocol error, or a
    /// command larger than the query limit).
    Close,
}

/// What one connection remembers between commands.
pub struct Session {
    /// RESP version of the replies: 2, or 3 after `HELLO 3`.
    pub resp: u8,
    /// The database `SELECT` chose.
    pub db: usize,
    /// `CLIENT SETNAME`'s name.
    pub name: Option<Vec<u8>>,
    /// `CLIENT ID`.
    pub id: u64,
}

/// One client's buffers and state: bytes in, commands executed, bytes out.
pub struct RespConnection {
    /// Received bytes not yet executed; starts at the current command.
    input: Vec<u8>,
    output: Vec<u8>,
    parser: Parser,
    session: Session,
    max_query: usize,
}

impl RespConnection {
    pub fn new<T: ExpiryTimers>(db: &Db<T>, config: &Config) -> RespConnection {
        RespConnection {
            input: Vec::with_capacity(16 * 1024),
            output: Vec::with_capacity(16 * 1024),
            parser: Parser::new(config.max_bulk),
            session: Session { resp: 2, db: 0, name: None, id: db.next_client_id() },
            max_query: config.max_query,
        }
    }

    /// Appends bytes read from the socket.
    pub fn received(&mut self, bytes: &[u8]) {
        self.input.extend_from_slice(bytes);
    }

    /// Executes complete commands at the front of the input, appending their
    /// replies to the output, until the input holds no complete command or
    /// the output reaches [`OUTPUT_LIMIT`].
    pub fn answer<T: ExpiryTimers>(&mut self, db: &Db<T>) -> Flow {
        let mut start = 0;
        let flow = loop {
            if self.output.len() >= OUTPUT_LIMIT {
                break if start < self.input.len() { Flow::Write } else { Flow::Read };
            }
            let buf = &self.input[start..];
            match self.parser.parse(buf) {
                Parsed::Command(used) => {
                    let args = self.parser.args(buf);
                    start += used;
                    let mut out = Reply { out: &mut self.output, resp3: self.session.resp == 3 };
                    if commands::execute(db, &mut self.session, &args, &mut out) {
                        break Flow::Close;
                    }
                }
                Parsed::Empty(used) => start += used,
                Parsed::Partial => {
                    // Redis closes such a client without a reply.
                    break if buf.len() > self.max_query { Flow::Close } else { Flow::Read };
                }
                Parsed::Error(message) => {
                    let mut out = Reply { out: &mut self.output, resp3: false };
                    out.error(&format!("ERR Protocol error: {message}"));
                    break Flow::Close;
                }
            }
        };
        // The parser's positions are relative to the start of the current
        // command, so dropping everything before it needs no adjustment.
        self.input.drain(..start);
        if self.input.is_empty() && self.input.capacity() > KEEP_CAPACITY {
            self.input = Vec::with_capacity(16 * 1024);
        }
        flow
    }

    /// Received bytes not yet executed (at most the query limit once
    /// [`RespConnection::answer`] has returned [`Flow::Read`]); zero between
    /// commands.
    #[allow(dead_code)] // resp_server_tokio has no graceful stop to need it
    pub fn buffered(&self) -> usize {
        self.input.len()
    }

    /// The replies waiting to be written.
    pub fn output(&self) -> &[u8] {
        &self.output
    }

    /// Call once [`RespConnection::output`] has been written.
    pub fn sent(&mut self) {
        self.output.clear();
        if self.output.capacity() > KEEP_CAPACITY {
            self.output = Vec::with_capacity(16 * 1024);
        }
    }
}

/// What [`Parser::parse`] found at the front of the buffer.
#[derive(Debug, PartialEq)]
pub enum Parsed {
    /// A whole command of this many bytes; [`Parser::args`] has its arguments.
    Command(usize),
    /// This many bytes that hold no command (`*0`, `*-1`, an empty line),
    /// which Redis skips without a reply.
    Empty(usize),
    /// Not a whole command yet; call again with the same bytes and more.
    Partial,
    /// A malformed request: reply `-ERR Protocol error: <this>` and close.
    Error(String),
}

/// Where the parser is within the command at the front of the buffer.
#[derive(Clone, Copy, Debug, PartialEq)]
enum ParseState {
    /// Nothing of the command has been read.
    Start,
    /// `*N` was read; `left` arguments remain, the next one's `$` line at `pos`.
    Args { left: i64 },
    /// An argument's `$len` line was read; its bytes start at `pos`.
    Bulk { left: i64, len: usize },
}

/// A resumable RESP request parser. It keeps its place between calls, so
/// each byte of a command that arrives in pieces is looked at once; the
/// caller passes the same buffer again (from the command's first byte),
/// longer by what was read since.
pub struct Parser {
    max_bulk: usize,
    state: ParseState,
    /// Offset of the next line or bulk to read.
    pos: usize,
    /// How far the search for the end of the line at `pos` has looked.
    scanned: usize,
    /// The line at `pos` holds a NUL before its end: Redis searches lines
    /// with `strchr`, which stops there, so the line never ends.
    stuck: bool,
    /// The arguments' ranges, in the buffer (multibulk) or in `inline`.
    spans: Vec<Range<usize>>,
    /// An inline command's arguments, unquoted.
    inline: Vec<u8>,
    is_inline: bool,
    /// Bytes looked at while searching for line ends, over the parser's
    /// life: the work that grows with the input (a bulk argument's data is
    /// skipped, not searched). Counted only in test builds (this file is
    /// included by tests/resp_parser.rs, which uses it to show a command
    /// parsed in pieces costs what it costs in one); the servers do not pay
    /// for the count.
    #[cfg(test)]
    examined: u64,
}

impl Parser {
    pub fn new(max_bulk: usize) -> Parser {
        Parser {
            max_bulk,
            state: ParseState::Start,
            pos: 0,
            scanned: 0,
            stuck: false,
            spans: Vec::new(),
            inline: Vec::new(),
            is_inline: false,
            #[cfg(test)]
            examined: 0,
        }
    }

    /// Bytes searched for line ends so far (see the field).
    #[cfg(test)]
    pub fn examined(&self) -> u64 {
        self.examined
    }

    /// Parses the command at the front of `buf`, continuing from where the
    /// previous call stopped if that one returned [`Parsed::Partial`].
    pub fn parse(&mut self, buf: &[u8]) -> Parsed {
        // The loop works on copies of the position and state (registers,
        // not memory); they are stored back only when it stops partway.
        let (mut pos, mut state) = (self.pos, self.state);
        if state == ParseState::Start {
            match buf.first() {
                None => return Parsed::Partial,
                Some(b'*') => {}
                Some(_) => return self.parse_inline(buf),
            }
            let Some(end) = self.find_line_end(buf, 0) else {
                return self.too_long(buf, 0, "too big mbulk count string");
            };
            let count = match string2ll(&buf[1..end]) {
                Some(n) if n <= MAX_ARGS => n,
                _ => return Parsed::Error("invalid multibulk length".into()),
            };
            if count <= 0 {
                self.reset();
                return Parsed::Empty(end + 2);
            }
            self.spans.clear();
            self.is_inline = false;
            pos = end + 2;
            state = ParseState::Args { left: count };
        }
        loop {
            match state {
                ParseState::Start => unreachable!("handled above"),
                ParseState::Args { left } => {
                    let Some(end) = self.find_line_end(buf, pos) else {
                        (self.pos, self.state) = (pos, state);
                        return self.too_long(buf, pos, "too big bulk count string");
                    };
                    let line = &buf[pos..end];
                    if line.first() != Some(&b'$') {
                        let got = line.first().map_or(b'\r', |&b| b);
                        return Parsed::Error(format!("expected '$', got '{}'", got as char));
                    }
                    let len = match string2ll(&line[1..]) {
                        Some(n) if n >= 0 && n as u64 <= self.max_bulk as u64 => n as usize,
                        _ => return Parsed::Error("invalid bulk length".into()),
                    };
                    pos = end + 2;
                    state = ParseState::Bulk { left, len };
                }
                ParseState::Bulk { left, len } => {
                    // Redis skips the two bytes after the data without
                    // looking at them; so do we.
                    if buf.len() - pos < len + 2 {
                        (self.pos, self.state) = (pos, state);
                        return Parsed::Partial;
                    }
                    self.spans.push(pos..pos + len);
                    pos += len + 2;
                    if left == 1 {
                        self.reset();
                        return Parsed::Command(pos);
                    }
                    state = ParseState::Args { left: left - 1 };
                }
            }
        }
    }

    /// The arguments of the command [`Parser::parse`] just returned.
    pub fn args<'a>(&'a self, buf: &'a [u8]) -> Args<'a> {
        let buf = if self.is_inline { &self.inline[..] } else { buf };
        Args { buf, spans: &self.spans }
    }

    fn reset(&mut self) {
        self.state = ParseState::Start;
        self.pos = 0;
        self.scanned = 0;
        self.stuck = false;
    }

    /// The end of the line at `pos`, as Redis finds it: the first `\r`, with
    /// at least one byte after it (which is skipped unread, like Redis).
    fn find_line_end(&mut self, buf: &[u8], pos: usize) -> Option<usize> {
        if self.stuck {
            return None;
        }
        // `scanned` is left as it is on success: the next line starts past
        // it, so `max` ignores it.
        let from = self.scanned.max(pos);
        let found = buf[from..].iter().position(|&b| b == b'\r' || b == 0);
        #[cfg(test)]
        {
            self.examined += found.map_or(buf.len() - from, |i| i + 1) as u64;
        }
        match found {
            Some(i) if buf[from + i] == 0 => {
                self.stuck = true;
                None
            }
            Some(i) if from + i + 2 <= buf.len() => Some(from + i),
            Some(i) => {
                self.scanned = from + i;
                None
            }
            None => {
                self.scanned = buf.len();
                None
            }
        }
    }

    fn too_long(&self, buf: &[u8], pos: usize, message: &str) -> Parsed {
        if buf.len() - pos > MAX_LINE {
            Parsed::Error(message.into())
        } else {
            Parsed::Partial
        }
    }

    /// An inline command (`PING\r\n`, as typed into telnet), split the way
    /// Redis' `sdssplitargs` splits it: quotes and escapes are understood.
    fn parse_inline(&mut self, buf: &[u8]) -> Parsed {
        let newline = if self.stuck {
            None
        } else {
            let from = self.scanned;
            let found = buf[from..].iter().position(|&b| b == b'\n' || b == 0);
            #[cfg(test)]
            {
                self.examined += found.map_or(buf.len() - from, |i| i + 1) as u64;
            }
            match found {
                Some(i) if buf[from + i] == 0 => {
                    self.stuck = true;
                    None
                }
                Some(i) => Some(from + i),
                None => {
                    self.scanned = buf.len();
                    None
                }
            }
        };
        let Some(newline) = newline else {
            return if buf.len() > MAX_LINE {
                Parsed::Error("too big inline request".into())
            } else {
                Parsed::Partial
            };
        };
        let end = if newline > 0 && buf[newline - 1] == b'\r' { newline - 1 } else { newline };
        self.reset();
        self.inline.clear();
        self.spans.clear();
        self.is_inline = true;
        if split_args(&buf[..end], &mut self.inline, &mut self.spans).is_err() {
            return Parsed::Error("unbalanced quotes in request".into());
        }
        if self.spans.is_empty() {
            Parsed::Empty(newline + 1)
        } else {
            Parsed::Command(newline + 1)
        }
    }
}

/// C's `isspace` in the "C" locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn hex_value(b: u8) -> u8 {
    (b as char).to_digit(16).unwrap_or(0) as u8
}

/// Redis' `sdssplitargs`: words separated by blanks; `"..."` with `\n`,
/// `\r`, `\t`, `\b`, `\a`, `\xHH` and `\<any>` escapes; `'...'` with `\'`.
/// A closing quote must be followed by a blank or the end of the line.
fn split_args(line: &[u8], out: &mut Vec<u8>, spans: &mut Vec<Range<usize>>) -> Result<(), ()> {
    // The C code reads a NUL-terminated string; `at` plays the terminator.
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let mut p = 0;
    loop {
        while p < line.len() && is_c_space(line[p]) {
            p += 1;
        }
        if p >= line.len() {
            return Ok(());
        }
        let start = out.len();
        let (mut in_double, mut in_single, mut done) = (false, false, false);
        while !done {
            let c = at(p);
            if in_double {
                if c == b'\\'
                    && at(p + 1) == b'x'
                    && at(p + 2).is_ascii_hexdigit()
                    && at(p + 3).is_ascii_hexdigit()
                {
                    out.push(hex_value(at(p + 2)) * 16 + hex_value(at(p + 3)));
                    p += 3;
                } else if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    out.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    if at(p + 1) != 0 && !is_c_space(at(p + 1)) {
                        return Err(());
                    }
                    done = true;
                } else if c == 0 {
                    return Err(());
                } else {
                    out.push(c);
                }
            } else if in_single {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    out.push(b'\'');
                } else if c == b'\'' {
                    if at(p + 1) != 0 && !is_c_space(at(p + 1)) {
                        return Err(());
                    }
                    done = true;
                } else if c == 0 {
                    return Err(());
                } else {
                    out.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => done = true,
                    b'"' => in_double = true,
                    b'\'' => in_single = true,
                    _ => out.push(c),
                }
            }
            if at(p) != 0 {
                p += 1;
            }
        }
        spans.push(start..out.len());
    }
}

/// Redis' `string2ll`: an optional `-`, then digits with no leading zero
/// (`0` alone is fine), at most 20 bytes, within `i64`. No `+`, no spaces.
pub fn string2ll(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, text),
    };
    match digits {
        // Up to 18 digits cannot overflow: the common case, kept cheap (it
        // runs for every length line).
        [b'1'..=b'9', ..] if digits.len() <= 18 => {
            let mut n: i64 = 0;
            for &d in digits {
                if !d.is_ascii_digit() {
                    return None;
                }
                n = n * 10 + i64::from(d - b'0');
            }
            Some(if negative { -n } else { n })
        }
        [b'0'] if !negative => Some(0),
        [b'1'..=b'9', ..] if text.len() <= 20 => {
            let mut n: u64 = 0;
            for &d in digits {
                if !d.is_ascii_digit() {
                    return None;
                }
                n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            }
            if negative {
                (n <= i64::MIN.unsigned_abs()).then(|| (n as i64).wrapping_neg())
            } else {
                i64::try_from(n).ok()
            }
        }
        _ => None,
    }
}

/// One command's arguments, borrowed from the read buffer (or, for an
/// inline command, from the parser's unquoted copy).
pub struct Args<'a> {
    buf: &'a [u8],
    spans: &'a [Range<usize>],
}

impl<'a> Args<'a> {
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn get(&self, i: usize) -> &'a [u8] {
        &self.buf[self.spans[i].clone()]
    }

    pub fn from(&self, first: usize) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.spans[first..].iter().map(|span| &self.buf[span.clone()])
    }
}

/// Writes replies in the connection's RESP version: RESP3 has its own null,
/// map and set types, RESP2 spells them as `$-1` and flat arrays.
pub struct Reply<'a> {
    pub out: &'a mut Vec<u8>,
    pub resp3: bool,
}

impl Reply<'_> {
    pub fn simple(&mut self, s: &str) {
        self.out.push(b'+');
        self.out.extend_from_slice(s.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    /// An error reply. Like Redis, CR and LF inside become spaces, so a
    /// message that quotes the client's bytes stays one line.
    pub fn error(&mut self, s: &str) {
        self.error_bytes(s.as_bytes());
    }

    pub fn error_bytes(&mut self, s: &[u8]) {
        self.out.push(b'-');
        self.out.extend(s.iter().map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }));
        self.out.extend_from_slice(b"\r\n");
    }

    pub fn integer(&mut self, n: i64) {
        self.out.push(b':');
        decimal(self.out, n);
        self.out.extend_from_slice(b"\r\n");
    }

    pub fn bulk(&mut self, v: &[u8]) {
        self.out.push(b'$');
        decimal(self.out, v.len() as i64);
        self.out.extend_from_slice(b"\r\n");
        self.out.extend_from_slice(v);
        self.out.extend_from_slice(b"\r\n");
    }

    pub fn bulk_or_null(&mut self, v: Option<&[u8]>) {
        match v {
            Some(v) => self.bulk(v),
            None => self.null(),
        }
    }

    pub fn null(&mut self) {
        self.out.extend_from_slice(if self.resp3 { b"_\r\n" } else { b"$-1\r\n" });
    }

    pub fn array(&mut self, len: usize) {
        self.header(b'*', len);
    }

    /// A map of `len` pairs (RESP2: an array of `2 * len`).
    pub fn map(&mut self, len: usize) {
        if self.resp3 {
            self.header(b'%', len);
        } else {
            self.array(2 * len);
        }
    }

    pub fn set(&mut self, len: usize) {
        self.header(if self.resp3 { b'~' } else { b'*' }, len);
    }

    fn header(&mut self, kind: u8, len: usize) {
        self.out.push(kind);
        decimal(self.out, len as i64);
        self.out.extend_from_slice(b"\r\n");
    }
}

/// `n` in decimal, without going through `format!`.
pub fn decimal(out: &mut Vec<u8>, n: i64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut rest = n.unsigned_abs();
    loop {
        i -= 1;
        digits[i] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if n < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&digits[i..]);
}
