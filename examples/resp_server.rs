//! A Redis-protocol (RESP2) key-value server on corio, for `redis-cli` and
//! `redis-benchmark`.
//!
//! What it shows: one task per connection on one thread; pipelining (every
//! complete command in the read buffer is executed and all replies leave in
//! one write); key expiry with corio timers (each `EX`/`PX`/`EXPIRE` spawns a
//! task that sleeps until the deadline, and overwriting the key aborts it);
//! and defensive parsing (a malformed request gets a RESP error and the
//! connection is closed; a bulk string over the limit is refused when its
//! header arrives, before any of it is buffered).
//!
//! Run it, then talk to it with the real tools:
//!
//! ```sh
//! cargo run --release --example resp_server -- --port 6380
//! redis-cli -p 6380 set greeting hello
//! redis-benchmark -p 6380 -q -n 20000 -t set,get,incr -P 16
//! ```
//!
//! Flags: `--addr` (default 127.0.0.1), `--port` (default 6380),
//! `--max-bulk` (bytes, default 512 MiB like Redis).
//!
//! Shortcuts, labelled honestly: no persistence, no pub/sub, no transactions;
//! only the commands listed in `execute`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use corio::io::{AsyncReadExt, AsyncWriteExt};
use corio::net::{TcpListener, TcpStream};
use corio::time::{sleep_until, Instant};
use corio::JoinHandle;

/// Most arguments one command may have (Redis uses the same bound).
const MAX_ARGS: usize = 1024 * 1024;
/// Longest inline command or header line before the request is refused.
const MAX_LINE: usize = 64 * 1024;

struct Config {
    addr: SocketAddr,
    max_bulk: usize,
}

fn parse_args() -> Result<Config, String> {
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

fn main() {
    let config = parse_args().unwrap_or_else(|e| {
        eprintln!("resp_server: {e}");
        std::process::exit(2);
    });
    corio::block_on(async move {
        let listener = TcpListener::bind(config.addr).expect("bind");
        println!("resp_server listening on {}", listener.local_addr().unwrap());
        let db = Db::default();
        loop {
            match listener.accept().await {
                Ok((stream, _peer)) => {
                    corio::spawn(serve(stream, db.clone(), config.max_bulk));
                }
                Err(e) => eprintln!("resp_server: accept failed: {e}"),
            }
        }
    });
}

/// One connection: read, parse every complete command, answer in one write.
async fn serve(mut stream: TcpStream, db: Db, max_bulk: usize) {
    let _ = stream.set_nodelay(true);
    let mut input: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut output: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let n = match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        input.extend_from_slice(&chunk[..n]);
        let mut start = 0;
        let mut close = false;
        loop {
            match parse_command(&input[start..], max_bulk) {
                Ok(Some((args, used))) => {
                    start += used;
                    if execute(&db, &args, &mut output) == Flow::Close {
                        close = true;
                        break;
                    }
                }
                Ok(None) => break,
                Err(message) => {
                    output.extend_from_slice(format!("-ERR Protocol error: {message}\r\n").as_bytes());
                    close = true;
                    break;
                }
            }
        }
        input.drain(..start);
        if !output.is_empty() {
            if stream.write_all(&output).await.is_err() {
                return;
            }
            output.clear();
        }
        if close {
            lingering_close(stream).await;
            return;
        }
    }
}

/// Closes politely: stop writing, then discard what the client still sends
/// (at most a second, 64 KiB), so the kernel does not answer unread input
/// with a reset that could destroy the error reply before it is read.
async fn lingering_close(mut stream: TcpStream) {
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    while drained < 64 * 1024 {
        match corio::time::timeout_at(deadline, stream.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => drained += n,
            _ => return,
        }
    }
}

/// One parsed command (its arguments) and the bytes it used; `None` if
/// the buffer holds only part of it; `Err(why)` if it is malformed.
type Parse = Result<Option<(Vec<Vec<u8>>, usize)>, String>;

/// Parses one command from the front of `buf`: `Ok(None)` if incomplete,
/// `Ok(Some((args, bytes_used)))`, or `Err(why)` for a malformed request.
fn parse_command(buf: &[u8], max_bulk: usize) -> Parse {
    if buf.is_empty() {
        return Ok(None);
    }
    if buf[0] != b'*' {
        return parse_inline(buf);
    }
    let Some((count, mut pos)) = read_number_line(buf, 1)? else { return Ok(None) };
    if count < 0 || count as usize > MAX_ARGS {
        return Err("invalid multibulk length".into());
    }
    // Never trust a count for an allocation size.
    let mut args = Vec::with_capacity((count as usize).min(64));
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
        args.push(buf[after..after + len].to_vec());
        pos = after + len + 2;
    }
    if args.is_empty() {
        return Err("empty command".into());
    }
    Ok(Some((args, pos)))
}

/// `<digits>\r\n` starting at `start`: the number and the index after CRLF.
fn read_number_line(buf: &[u8], start: usize) -> Result<Option<(i64, usize)>, String> {
    let Some(end) = find_crlf(buf, start) else {
        return if buf.len() - start > 32 { Err("length line too long".into()) } else { Ok(None) };
    };
    let text = std::str::from_utf8(&buf[start..end]).map_err(|_| "length is not a number")?;
    let n = text.parse::<i64>().map_err(|_| format!("invalid length '{text}'"))?;
    Ok(Some((n, end + 2)))
}

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?.windows(2).position(|w| w == b"\r\n").map(|i| from + i)
}

/// Inline commands (`PING\r\n`), as typed into telnet.
fn parse_inline(buf: &[u8]) -> Parse {
    let Some(end) = buf.iter().position(|&b| b == b'\n') else {
        return if buf.len() > MAX_LINE { Err("too big inline request".into()) } else { Ok(None) };
    };
    let line = buf[..end].strip_suffix(b"\r").unwrap_or(&buf[..end]);
    let args: Vec<Vec<u8>> =
        line.split(|b| b.is_ascii_whitespace()).filter(|a| !a.is_empty()).map(<[u8]>::to_vec).collect();
    if args.is_empty() {
        return Err("empty inline command".into());
    }
    Ok(Some((args, end + 1)))
}

#[derive(PartialEq)]
enum Flow {
    Continue,
    Close,
}

/// One stored value, and the timer task that will expire it.
struct Entry {
    value: Vec<u8>,
    expires_at: Option<Instant>,
    expiry_task: Option<JoinHandle<()>>,
}

impl Drop for Entry {
    fn drop(&mut self) {
        if let Some(task) = self.expiry_task.take() {
            task.abort();
        }
    }
}

#[derive(Clone, Default)]
struct Db(Rc<RefCell<HashMap<Vec<u8>, Entry>>>);

impl Db {
    /// A live entry, with lazy expiry as a second line of defence.
    fn with_live<R>(&self, key: &[u8], f: impl FnOnce(Option<&mut Entry>) -> R) -> R {
        let mut map = self.0.borrow_mut();
        let expired = map.get(key).and_then(|e| e.expires_at).is_some_and(|at| at <= Instant::now());
        if expired {
            map.remove(key);
        }
        f(map.get_mut(key))
    }

    fn set(&self, key: Vec<u8>, value: Vec<u8>, ttl: Option<Duration>) {
        let entry = Entry { value, expires_at: None, expiry_task: None };
        self.0.borrow_mut().insert(key.clone(), entry);
        if let Some(ttl) = ttl {
            self.expire(&key, ttl);
        }
    }

    /// Arms (or re-arms) the key's expiry: a task that sleeps until then.
    fn expire(&self, key: &[u8], ttl: Duration) -> bool {
        let deadline = Instant::now() + ttl;
        let db = self.clone();
        let owned_key = key.to_vec();
        let mut map = self.0.borrow_mut();
        let Some(entry) = map.get_mut(key) else { return false };
        if let Some(old) = entry.expiry_task.take() {
            old.abort();
        }
        entry.expires_at = Some(deadline);
        entry.expiry_task = Some(corio::spawn(async move {
            sleep_until(deadline).await;
            let mut map = db.0.borrow_mut();
            if let Some(mut entry) = map.remove(&owned_key) {
                // This task is finishing; don't abort ourselves on drop.
                entry.expiry_task = None;
            }
        }));
        true
    }
}

fn execute(db: &Db, args: &[Vec<u8>], out: &mut Vec<u8>) -> Flow {
    let name = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
    let argc = args.len();
    let arity_error = |out: &mut Vec<u8>| {
        error(out, &format!("ERR wrong number of arguments for '{}' command", name.to_lowercase()))
    };
    match name.as_str() {
        "PING" if argc == 1 => simple(out, "PONG"),
        "PING" if argc == 2 => bulk(out, Some(&args[1])),
        "ECHO" if argc == 2 => bulk(out, Some(&args[1])),
        "GET" if argc == 2 => db.with_live(&args[1], |e| bulk(out, e.map(|e| &e.value[..]))),
        "SET" if argc >= 3 => set(db, args, out),
        "DEL" | "EXISTS" if argc >= 2 => {
            let mut count = 0;
            for key in &args[1..] {
                let live = db.with_live(key, |e| e.is_some());
                if live {
                    count += 1;
                    if name == "DEL" {
                        db.0.borrow_mut().remove(key);
                    }
                }
            }
            integer(out, count)
        }
        "INCR" | "DECR" if argc == 2 => incr_by(db, &args[1], if name == "INCR" { 1 } else { -1 }, out),
        "INCRBY" | "DECRBY" if argc == 3 => match parse_i64(&args[2]) {
            Some(n) => incr_by(db, &args[1], if name == "INCRBY" { n } else { n.wrapping_neg() }, out),
            None => error(out, "ERR value is not an integer or out of range"),
        },
        "MGET" if argc >= 2 => {
            out.extend_from_slice(format!("*{}\r\n", argc - 1).as_bytes());
            for key in &args[1..] {
                db.with_live(key, |e| bulk(out, e.map(|e| &e.value[..])));
            }
        }
        "MSET" if argc >= 3 && argc % 2 == 1 => {
            for pair in args[1..].chunks(2) {
                db.set(pair[0].clone(), pair[1].clone(), None);
            }
            simple(out, "OK")
        }
        "EXPIRE" | "PEXPIRE" if argc == 3 => match parse_i64(&args[2]) {
            Some(n) if n > 0 => {
                let ttl = if name == "EXPIRE" {
                    Duration::from_secs(n as u64)
                } else {
                    Duration::from_millis(n as u64)
                };
                let live = db.with_live(&args[1], |e| e.is_some());
                integer(out, i64::from(live && db.expire(&args[1], ttl)))
            }
            Some(_) => {
                let removed = db.0.borrow_mut().remove(&args[1]).is_some();
                integer(out, i64::from(removed))
            }
            None => error(out, "ERR value is not an integer or out of range"),
        },
        "TTL" | "PTTL" if argc == 2 => {
            let ttl = db.with_live(&args[1], |e| match e {
                None => -2,
                Some(Entry { expires_at: None, .. }) => -1,
                Some(Entry { expires_at: Some(at), .. }) => {
                    let left = at.duration_since(Instant::now());
                    if name == "TTL" {
                        (left.as_millis() as i64 + 500) / 1000
                    } else {
                        left.as_millis() as i64
                    }
                }
            });
            integer(out, ttl)
        }
        "DBSIZE" if argc == 1 => integer(out, db.0.borrow().len() as i64),
        "FLUSHALL" | "FLUSHDB" => {
            db.0.borrow_mut().clear();
            simple(out, "OK")
        }
        // What redis-cli and redis-benchmark ask on connect: answer politely, emptily.
        "COMMAND" => out.extend_from_slice(b"*0\r\n"),
        "CONFIG" if argc >= 3 && args[1].eq_ignore_ascii_case(b"GET") => {
            out.extend_from_slice(b"*0\r\n");
        }
        "CLIENT" | "SELECT" => simple(out, "OK"),
        "QUIT" => {
            simple(out, "OK");
            return Flow::Close;
        }
        "PING" | "ECHO" | "GET" | "SET" | "DEL" | "EXISTS" | "INCR" | "DECR" | "INCRBY" | "DECRBY"
        | "MGET" | "MSET" | "EXPIRE" | "PEXPIRE" | "TTL" | "PTTL" | "DBSIZE" | "CONFIG" => arity_error(out),
        _ => {
            let shown = String::from_utf8_lossy(&args[0]);
            error(out, &format!("ERR unknown command '{shown}'"))
        }
    }
    Flow::Continue
}

fn set(db: &Db, args: &[Vec<u8>], out: &mut Vec<u8>) {
    let (mut ttl, mut nx, mut xx) = (None, false, false);
    let mut options = args[3..].iter();
    while let Some(option) = options.next() {
        let option = String::from_utf8_lossy(option).to_ascii_uppercase();
        match option.as_str() {
            "NX" => nx = true,
            "XX" => xx = true,
            "EX" | "PX" => match options.next().and_then(|v| parse_i64(v)) {
                Some(n) if n > 0 => {
                    let n = n as u64;
                    ttl =
                        Some(if option == "EX" { Duration::from_secs(n) } else { Duration::from_millis(n) });
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
    let exists = db.with_live(&args[1], |e| e.is_some());
    if (nx && exists) || (xx && !exists) {
        return bulk(out, None);
    }
    db.set(args[1].clone(), args[2].clone(), ttl);
    simple(out, "OK")
}

fn incr_by(db: &Db, key: &[u8], by: i64, out: &mut Vec<u8>) {
    let result = db.with_live(key, |entry| match entry {
        None => Ok(None),
        Some(entry) => match parse_i64(&entry.value).and_then(|v| v.checked_add(by)) {
            Some(next) => {
                entry.value = next.to_string().into_bytes();
                Ok(Some(next))
            }
            None => Err(()),
        },
    });
    match result {
        Ok(Some(n)) => integer(out, n),
        Ok(None) => {
            db.set(key.to_vec(), by.to_string().into_bytes(), None);
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

fn integer(out: &mut Vec<u8>, n: i64) {
    out.extend_from_slice(format!(":{n}\r\n").as_bytes());
}

fn bulk(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        None => out.extend_from_slice(b"$-1\r\n"),
        Some(v) => {
            out.extend_from_slice(format!("${}\r\n", v.len()).as_bytes());
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
    }
}
