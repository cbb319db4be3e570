//! The runtime-independent half of the RESP2 server, shared by
//! `resp_server` (corio) and `resp_server_tokio` (tokio) through
//! `#[path = "../resp/protocol.rs"] mod protocol;`, so that a benchmark of
//! the two compares runtimes, not two programs.
//!
//! What lives here: the flags, the RESP parser (it borrows the arguments
//! from the read buffer, nothing is copied until a value is stored), the
//! command table, and the store. What each runtime supplies: sockets, the
//! connection loop, and one expiry timer per key ([`Timers`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Most arguments one command may have (Redis uses the same bound).
const MAX_ARGS: usize = 1024 * 1024;
/// Longest inline command or header line before the request is refused.
const MAX_LINE: usize = 64 * 1024;

pub struct Config {
    pub addr: SocketAddr,
    pub max_bulk: usize,
}

/// `--addr`, `--port`, `--max-bulk`; on a bad flag, prints why and exits 2.
pub fn parse_args(program: &str) -> Config {
    parse_flags().unwrap_or_else(|e| {
        eprintln!("{program}: {e}");
        std::process::exit(2);
    })
}

fn parse_flags() -> Result<Config, String> {
    let (mut host, mut port, mut max_bulk) = ("127.0.0.1".to_string(), 6380u16, 512 * 1024 * 1024);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => host = value()?,
            "--port" => port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--max-bulk" => max_bulk = value()?.parse().map_err(|e| format!("--max-bulk: {e}"))?,
            other => return Err(format!("unknown flag {other}; flags: --addr, --port, --max-bulk")),
        }
    }
    let addr = format!("{host}:{port}").parse().map_err(|e| format!("bad address {host}:{port}: {e}"))?;
    Ok(Config { addr, max_bulk })
}

/// What the connection loop does after answering what was buffered.
#[derive(PartialEq)]
pub enum Flow {
    Continue,
    /// Write the replies, then close (QUIT, or a protocol error).
    Close,
}

/// Executes every complete command at the front of `input`, appending the
/// replies to `output`, and removes the executed bytes from `input`. A
/// partial command stays buffered for the next read.
pub fn answer_buffered<T: Timers>(
    db: &Db<T>,
    input: &mut Vec<u8>,
    output: &mut Vec<u8>,
    max_bulk: usize,
) -> Flow {
    let mut start = 0;
    let mut spans = Vec::new();
    let mut flow = Flow::Continue;
    loop {
        match parse_command(&input[start..], max_bulk, &mut spans) {
            Ok(Some(used)) => {
                let args = Args { buf: &input[start..], spans: &spans };
                start += used;
                if execute(db, &args, output) == Flow::Close {
                    flow = Flow::Close;
                    break;
                }
            }
            Ok(None) => break,
            Err(message) => {
                output.extend_from_slice(format!("-ERR Protocol error: {message}\r\n").as_bytes());
                flow = Flow::Close;
                break;
            }
        }
    }
    input.drain(..start);
    flow
}

/// One command's arguments, borrowed from the read buffer.
pub struct Args<'a> {
    buf: &'a [u8],
    spans: &'a [Range<usize>],
}

impl<'a> Args<'a> {
    fn len(&self) -> usize {
        self.spans.len()
    }

    fn get(&self, i: usize) -> &'a [u8] {
        &self.buf[self.spans[i].clone()]
    }

    fn from(&self, first: usize) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.spans[first..].iter().map(|span| &self.buf[span.clone()])
    }
}

/// Parses one command from the front of `buf` into `spans` (argument
/// ranges within `buf`): `Ok(Some(bytes_used))`, `Ok(None)` if the buffer
/// holds only part of it, or `Err(why)` for a malformed request.
fn parse_command(
    buf: &[u8],
    max_bulk: usize,
    spans: &mut Vec<Range<usize>>,
) -> Result<Option<usize>, String> {
    spans.clear();
    if buf.is_empty() {
        return Ok(None);
    }
    if buf[0] != b'*' {
        return parse_inline(buf, spans);
    }
    let Some((count, mut pos)) = read_number_line(buf, 1)? else { return Ok(None) };
    if count < 0 || count as usize > MAX_ARGS {
        return Err("invalid multibulk length".into());
    }
    for _ in 0..count {
        match buf.get(pos) {
            None => return Ok(None),
            Some(b'$') => {}
            Some(&other) => return Err(format!("expected '$', got '{}'", other as char)),
        }
        let Some((len, after)) = read_number_line(buf, pos + 1)? else { return Ok(None) };
        if len < 0 || len as usize > max_bulk {
            return Err(format!("invalid bulk length {len} (limit {max_bulk})"));
        }
        let len = len as usize;
        if buf.len() < after + len + 2 {
            return Ok(None);
        }
        if &buf[after + len..after + len + 2] != b"\r\n" {
            return Err("bulk string not terminated by CRLF".into());
        }
        spans.push(after..after + len);
        pos = after + len + 2;
    }
    if spans.is_empty() {
        return Err("empty command".into());
    }
    Ok(Some(pos))
}

/// `<digits>\r\n` starting at `start`: the number and the index after CRLF.
fn read_number_line(buf: &[u8], start: usize) -> Result<Option<(i64, usize)>, String> {
    let Some(end) = find_crlf(buf, start) else {
        return if buf.len() - start > 32 { Err("length line too long".into()) } else { Ok(None) };
    };
    match parse_length(&buf[start..end]) {
        Some(n) => Ok(Some((n, end + 2))),
        None => Err(format!("invalid length '{}'", String::from_utf8_lossy(&buf[start..end]))),
    }
}

/// A length line's number: optional `-`, then 1 to 18 ASCII digits (no
/// overflow possible). Hand-rolled because it runs twice per argument.
fn parse_length(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n * 10 + i64::from(d - b'0');
    }
    Some(if negative { -n } else { n })
}

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    let rest = buf.get(from..)?;
    let cr = rest.iter().position(|&b| b == b'\r')?;
    match rest.get(cr + 1) {
        Some(b'\n') => Some(from + cr),
        Some(_) => find_crlf(buf, from + cr + 1),
        None => None,
    }
}

/// Inline commands (`PING\r\n`), as typed into telnet.
fn parse_inline(buf: &[u8], spans: &mut Vec<Range<usize>>) -> Result<Option<usize>, String> {
    let Some(end) = buf.iter().position(|&b| b == b'\n') else {
        return if buf.len() > MAX_LINE { Err("too big inline request".into()) } else { Ok(None) };
    };
    let mut word_start = None;
    for (i, &b) in buf[..end].iter().enumerate() {
        match (b.is_ascii_whitespace(), word_start) {
            (false, None) => word_start = Some(i),
            (true, Some(s)) => {
                spans.push(s..i);
                word_start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = word_start {
        spans.push(s..end);
    }
    if spans.is_empty() {
        return Err("empty inline command".into());
    }
    Ok(Some(end + 1))
}

/// How a runtime runs key expiry: one timer task per key with a TTL.
pub trait Timers: Sized + 'static {
    /// A running expiry task.
    type Task;
    /// Starts a task that sleeps until `deadline`, then calls
    /// [`Db::expire_now`] for `key`.
    fn spawn_expiry(db: Db<Self>, key: Vec<u8>, deadline: Instant) -> Self::Task;
    /// Stops a task that has not fired (the key was overwritten or deleted).
    fn cancel(task: Self::Task);
}

/// One stored value, and the timer task that will expire it.
pub struct Entry<T: Timers> {
    value: Vec<u8>,
    expires_at: Option<Instant>,
    expiry_task: Option<T::Task>,
}

impl<T: Timers> Drop for Entry<T> {
    fn drop(&mut self) {
        if let Some(task) = self.expiry_task.take() {
            T::cancel(task);
        }
    }
}

/// The key space, shared by every connection on the thread.
pub struct Db<T: Timers>(Rc<RefCell<HashMap<Vec<u8>, Entry<T>>>>);

impl<T: Timers> Clone for Db<T> {
    fn clone(&self) -> Self {
        Db(self.0.clone())
    }
}

impl<T: Timers> Default for Db<T> {
    fn default() -> Self {
        Db(Rc::default())
    }
}

impl<T: Timers> Db<T> {
    /// Called by the expiry task when its deadline has come.
    pub fn expire_now(&self, key: &[u8]) {
        let removed = self.0.borrow_mut().remove(key);
        if let Some(mut entry) = removed {
            // The task calling us is finishing; don't cancel it on drop.
            entry.expiry_task = None;
        }
    }

    /// A live entry, with lazy expiry as a second line of defence.
    fn with_live<R>(&self, key: &[u8], f: impl FnOnce(Option<&mut Entry<T>>) -> R) -> R {
        let mut map = self.0.borrow_mut();
        let expired = map.get(key).and_then(|e| e.expires_at).is_some_and(|at| at <= Instant::now());
        if expired {
            map.remove(key);
        }
        f(map.get_mut(key))
    }

    fn set(&self, key: &[u8], value: &[u8], ttl: Option<Duration>) {
        let mut map = self.0.borrow_mut();
        match map.get_mut(key) {
            // Overwrite in place: no key allocation, and the value buffer is reused.
            Some(entry) => {
                entry.value.clear();
                entry.value.extend_from_slice(value);
                entry.expires_at = None;
                if let Some(task) = entry.expiry_task.take() {
                    T::cancel(task);
                }
            }
            None => {
                let entry = Entry { value: value.to_vec(), expires_at: None, expiry_task: None };
                map.insert(key.to_vec(), entry);
            }
        }
        drop(map);
        if let Some(ttl) = ttl {
            self.expire(key, ttl);
        }
    }

    /// Arms (or re-arms) the key's expiry.
    fn expire(&self, key: &[u8], ttl: Duration) -> bool {
        let deadline = Instant::now() + ttl;
        let mut map = self.0.borrow_mut();
        let Some(entry) = map.get_mut(key) else { return false };
        if let Some(old) = entry.expiry_task.take() {
            T::cancel(old);
        }
        entry.expires_at = Some(deadline);
        entry.expiry_task = Some(T::spawn_expiry(self.clone(), key.to_vec(), deadline));
        true
    }
}

/// Copies a command name in upper case onto the stack (names longer than
/// 16 bytes are no command we know).
fn upper_name(name: &[u8]) -> ([u8; 16], usize) {
    let mut upper = [0u8; 16];
    let len = name.len().min(16);
    for (dst, src) in upper.iter_mut().zip(name) {
        *dst = src.to_ascii_uppercase();
    }
    if name.len() > 16 {
        upper[0] = 0; // matches nothing
    }
    (upper, len)
}

fn execute<T: Timers>(db: &Db<T>, args: &Args, out: &mut Vec<u8>) -> Flow {
    let (upper, len) = upper_name(args.get(0));
    let name = &upper[..len];
    let argc = args.len();
    match name {
        b"GET" if argc == 2 => db.with_live(args.get(1), |e| bulk(out, e.map(|e| &e.value[..]))),
        b"SET" if argc >= 3 => set(db, args, out),
        b"PING" if argc == 1 => simple(out, "PONG"),
        b"PING" | b"ECHO" if argc == 2 => bulk(out, Some(args.get(1))),
        b"DEL" | b"EXISTS" if argc >= 2 => {
            let mut count = 0;
            for key in args.from(1) {
                let live = db.with_live(key, |e| e.is_some());
                if live {
                    count += 1;
                    if name == b"DEL" {
                        db.0.borrow_mut().remove(key);
                    }
                }
            }
            integer(out, count)
        }
        b"INCR" | b"DECR" if argc == 2 => incr_by(db, args.get(1), if name == b"INCR" { 1 } else { -1 }, out),
        b"INCRBY" | b"DECRBY" if argc == 3 => match parse_i64(args.get(2)) {
            Some(n) => incr_by(db, args.get(1), if name == b"INCRBY" { n } else { n.wrapping_neg() }, out),
            None => error(out, "ERR value is not an integer or out of range"),
        },
        b"MGET" if argc >= 2 => {
            out.push(b'*');
            decimal(out, argc as i64 - 1);
            out.extend_from_slice(b"\r\n");
            for key in args.from(1) {
                db.with_live(key, |e| bulk(out, e.map(|e| &e.value[..])));
            }
        }
        b"MSET" if argc >= 3 && argc % 2 == 1 => {
            for i in (1..argc).step_by(2) {
                db.set(args.get(i), args.get(i + 1), None);
            }
            simple(out, "OK")
        }
        b"EXPIRE" | b"PEXPIRE" if argc == 3 => match parse_i64(args.get(2)) {
            Some(n) if n > 0 => {
                let ttl = if name == b"EXPIRE" {
                    Duration::from_secs(n as u64)
                } else {
                    Duration::from_millis(n as u64)
                };
                let live = db.with_live(args.get(1), |e| e.is_some());
                integer(out, i64::from(live && db.expire(args.get(1), ttl)))
            }
            Some(_) => {
                let removed = db.0.borrow_mut().remove(args.get(1)).is_some();
                integer(out, i64::from(removed))
            }
            None => error(out, "ERR value is not an integer or out of range"),
        },
        b"TTL" | b"PTTL" if argc == 2 => {
            let ttl = db.with_live(args.get(1), |e| match e.map(|e| e.expires_at) {
                None => -2,
                Some(None) => -1,
                Some(Some(at)) => {
                    let left = at.saturating_duration_since(Instant::now());
                    if name == b"TTL" {
                        (left.as_millis() as i64 + 500) / 1000
                    } else {
                        left.as_millis() as i64
                    }
                }
            });
            integer(out, ttl)
        }
        b"DBSIZE" if argc == 1 => integer(out, db.0.borrow().len() as i64),
        b"FLUSHALL" | b"FLUSHDB" => {
            db.0.borrow_mut().clear();
            simple(out, "OK")
        }
        // What redis-cli and redis-benchmark ask on connect: answer politely, emptily.
        b"COMMAND" => out.extend_from_slice(b"*0\r\n"),
        // redis-benchmark asks for these two; no persistence, honestly.
        b"CONFIG" if argc == 3 && args.get(1).eq_ignore_ascii_case(b"GET") => {
            let param = args.get(2);
            if param.eq_ignore_ascii_case(b"save") {
                out.extend_from_slice(b"*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
            } else if param.eq_ignore_ascii_case(b"appendonly") {
                out.extend_from_slice(b"*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n");
            } else {
                out.extend_from_slice(b"*0\r\n");
            }
        }
        b"CONFIG" if argc >= 3 && args.get(1).eq_ignore_ascii_case(b"GET") => {
            out.extend_from_slice(b"*0\r\n");
        }
        b"CLIENT" | b"SELECT" => simple(out, "OK"),
        b"QUIT" => {
            simple(out, "OK");
            return Flow::Close;
        }
        b"PING" | b"ECHO" | b"GET" | b"SET" | b"DEL" | b"EXISTS" | b"INCR" | b"DECR" | b"INCRBY"
        | b"DECRBY" | b"MGET" | b"MSET" | b"EXPIRE" | b"PEXPIRE" | b"TTL" | b"PTTL" | b"DBSIZE"
        | b"CONFIG" => {
            let lower = String::from_utf8_lossy(name).to_lowercase();
            error(out, &format!("ERR wrong number of arguments for '{lower}' command"))
        }
        _ => {
            let shown = String::from_utf8_lossy(args.get(0));
            error(out, &format!("ERR unknown command '{shown}'"))
        }
    }
    Flow::Continue
}

fn set<T: Timers>(db: &Db<T>, args: &Args, out: &mut Vec<u8>) {
    let (mut ttl, mut nx, mut xx) = (None, false, false);
    let mut options = args.from(3);
    while let Some(option) = options.next() {
        let (upper, len) = upper_name(option);
        match &upper[..len] {
            b"NX" => nx = true,
            b"XX" => xx = true,
            unit @ (b"EX" | b"PX") => match options.next().and_then(parse_i64) {
                Some(n) if n > 0 => {
                    let n = n as u64;
                    ttl = Some(if unit == b"EX" { Duration::from_secs(n) } else { Duration::from_millis(n) });
                }
                Some(_) => return error(out, "ERR invalid expire time in 'set' command"),
                None => return error(out, "ERR value is not an integer or out of range"),
            },
            _ => return error(out, "ERR syntax error"),
        }
    }
    if nx && xx {
        return error(out, "ERR syntax error");
    }
    if nx || xx {
        let exists = db.with_live(args.get(1), |e| e.is_some());
        if (nx && exists) || (xx && !exists) {
            return bulk(out, None);
        }
    }
    db.set(args.get(1), args.get(2), ttl);
    simple(out, "OK")
}

fn incr_by<T: Timers>(db: &Db<T>, key: &[u8], by: i64, out: &mut Vec<u8>) {
    let result = db.with_live(key, |entry| match entry {
        None => Ok(None),
        Some(entry) => match parse_i64(&entry.value).and_then(|v| v.checked_add(by)) {
            Some(next) => {
                entry.value.clear();
                decimal(&mut entry.value, next);
                Ok(Some(next))
            }
            None => Err(()),
        },
    });
    match result {
        Ok(Some(n)) => integer(out, n),
        Ok(None) => {
            db.set(key, by.to_string().as_bytes(), None);
            integer(out, by)
        }
        Err(()) => error(out, "ERR value is not an integer or out of range"),
    }
}

fn parse_i64(bytes: &[u8]) -> Option<i64> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

fn simple(out: &mut Vec<u8>, s: &str) {
    out.push(b'+');
    out.extend_from_slice(s.as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn error(out: &mut Vec<u8>, s: &str) {
    out.push(b'-');
    out.extend_from_slice(s.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// `n` in decimal, without going through `format!`.
fn decimal(out: &mut Vec<u8>, n: i64) {
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

fn integer(out: &mut Vec<u8>, n: i64) {
    out.push(b':');
    decimal(out, n);
    out.extend_from_slice(b"\r\n");
}

fn bulk(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        None => out.extend_from_slice(b"$-1\r\n"),
        Some(v) => {
            out.push(b'$');
            decimal(out, v.len() as i64);
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
    }
}
