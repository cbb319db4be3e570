//! `resp_server` against the real thing: the same scripted requests go to a
//! redis-server (Debian's package, started here with persistence off on a
//! free port) and to `resp_server`, over raw sockets, and every reply must
//! be byte for byte the same, connection closes included.
//!
//! The script covers every command `resp_server` supports, their error
//! cases and wrong arities, integer and expiry-time overflow edges, SET and
//! EXPIRE option combinations, binary-safe keys and values, pipelines,
//! inline commands with quotes, malformed requests, unknown commands and
//! subcommands, and a RESP3 session after `HELLO 3`.
//!
//! The allow-list (the only replies not compared byte for byte; the README's
//! examples table lists them too):
//! - `HELLO`: the `server`, `version` and `id` values say which server
//!   answered; every other field is compared.
//! - `CLIENT ID`: an integer on both (each server numbers its own clients).
//! - `CONFIG GET` with several parameters: the same pairs, in any order
//!   (Redis orders them by its hash table).
//! - `COMMAND` and `COMMAND COUNT`: the same reply type; `resp_server` lists
//!   only its own commands. (`COMMAND INFO` of each of them is compared
//!   exactly.)
//! - `TTL` and `PTTL` of a key with an expiry: within a second of each
//!   other (the two servers read the clock at different moments).
//!
//! Commands Redis has and `resp_server` does not (KEYS, AUTH, MULTI...) must
//! get Redis' reply to an unknown command: they are compared with what
//! redis-server answers to the same request under a name it does not know.
//!
//! Without redis-server the test fails under CI (`CI` set; `.ci/run`
//! installs it) and is skipped with a notice elsewhere.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{redis_server, resp_command, start};

/// A RESP2 or RESP3 reply, for the comparisons of the allow-list.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    Simple(Vec<u8>),
    Error(Vec<u8>),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Value>>),
    Null,
    Map(Vec<(Value, Value)>),
    Set(Vec<Value>),
}

impl Value {
    /// The kind of reply, ignoring its content.
    fn kind(&self) -> &'static str {
        match self {
            Value::Simple(_) => "simple",
            Value::Error(_) => "error",
            Value::Int(_) => "integer",
            Value::Bulk(_) => "bulk",
            Value::Array(_) => "array",
            Value::Null => "null",
            Value::Map(_) => "map",
            Value::Set(_) => "set",
        }
    }

    /// Key-value pairs of a map, or of a RESP2 array of alternating keys
    /// and values.
    fn pairs(&self) -> Vec<(Value, Value)> {
        match self {
            Value::Map(pairs) => pairs.clone(),
            Value::Array(Some(items)) => items.chunks(2).map(|kv| (kv[0].clone(), kv[1].clone())).collect(),
            other => panic!("not a map: {other:?}"),
        }
    }
}

/// One connection, reading replies as it goes.
struct Conn {
    reader: BufReader<TcpStream>,
}

impl Conn {
    fn new(addr: std::net::SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Conn { reader: BufReader::new(stream) }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.reader.get_mut().write_all(bytes).unwrap();
    }

    fn line(&mut self, raw: &mut Vec<u8>) -> Vec<u8> {
        let mut line = Vec::new();
        self.reader.read_until(b'\n', &mut line).unwrap();
        assert!(line.ends_with(b"\r\n"), "truncated reply line {:?}", String::from_utf8_lossy(&line));
        raw.extend_from_slice(&line);
        line.truncate(line.len() - 2);
        line
    }

    /// One reply: its value and its exact bytes.
    fn reply(&mut self, raw: &mut Vec<u8>) -> Value {
        let line = self.line(raw);
        let (kind, rest) = line.split_first().expect("empty reply line");
        let number = || std::str::from_utf8(rest).unwrap().parse::<i64>().unwrap();
        match kind {
            b'+' => Value::Simple(rest.to_vec()),
            b'-' => Value::Error(rest.to_vec()),
            b':' => Value::Int(number()),
            b'_' => Value::Null,
            b'$' if number() < 0 => Value::Bulk(None),
            b'$' => {
                let mut data = vec![0; number() as usize + 2];
                self.reader.read_exact(&mut data).unwrap();
                raw.extend_from_slice(&data);
                data.truncate(data.len() - 2);
                Value::Bulk(Some(data))
            }
            b'*' if number() < 0 => Value::Array(None),
            b'*' => Value::Array(Some((0..number()).map(|_| self.reply(raw)).collect())),
            b'~' => Value::Set((0..number()).map(|_| self.reply(raw)).collect()),
            b'%' => Value::Map((0..number()).map(|_| (self.reply(raw), self.reply(raw))).collect()),
            other => {
                panic!("unexpected reply type {:?} in {:?}", *other as char, String::from_utf8_lossy(&line))
            }
        }
    }

    /// Whether the server closed the connection (it sends nothing more).
    fn closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(self.reader.read(&mut byte), Ok(0) | Err(_))
    }
}

/// How a step's replies are compared.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Rule {
    Exact,
    /// HELLO: all but the server, version and id values.
    Hello,
    /// The same kind of reply (CLIENT ID, COMMAND, COMMAND COUNT).
    SameKind,
    /// The same key-value pairs in any order (CONFIG GET, several names).
    Unordered,
    /// Integers within this much of each other (TTL, PTTL).
    Near(i64),
}

/// Bytes to send, how many replies they get, and how to compare them.
struct Step {
    send: Vec<u8>,
    /// What redis-server gets instead, and the name to put back in its
    /// reply: for commands resp_server does not have.
    renamed: Option<(Vec<u8>, String, String)>,
    replies: usize,
    rule: Rule,
    /// Both servers must close the connection after the replies.
    closes: bool,
}

fn c(args: &[&str]) -> Step {
    cb(&args.iter().map(|a| a.as_bytes()).collect::<Vec<_>>())
}

fn cb(args: &[&[u8]]) -> Step {
    Step { send: resp_command(args), renamed: None, replies: 1, rule: Rule::Exact, closes: false }
}

fn raw(bytes: &[u8], replies: usize) -> Step {
    Step { send: bytes.to_vec(), renamed: None, replies, rule: Rule::Exact, closes: false }
}

/// A Redis command resp_server does not have: redis-server gets it under an
/// unknown name (`X-` + name), and its reply, with the name put back, must
/// be resp_server's.
fn unsupported(args: &[&str]) -> Step {
    let alias = format!("X-{}", args[0]);
    let theirs = resp_command(
        &[&[alias.as_bytes()], &args[1..].iter().map(|a| a.as_bytes()).collect::<Vec<_>>()[..]].concat(),
    );
    Step { renamed: Some((theirs, alias, args[0].to_string())), ..c(args) }
}

impl Step {
    fn rule(mut self, rule: Rule) -> Step {
        self.rule = rule;
        self
    }

    fn closes(mut self) -> Step {
        self.closes = true;
        self
    }
}

/// Several steps in one write: a pipeline.
fn pipeline(steps: Vec<Step>) -> Step {
    let mut send = Vec::new();
    let mut replies = 0;
    for step in steps {
        assert_eq!(step.rule, Rule::Exact);
        send.extend_from_slice(&step.send);
        replies += step.replies;
    }
    Step { send, renamed: None, replies, rule: Rule::Exact, closes: false }
}

fn compare(rule: Rule, ours: &Value, theirs: &Value) -> bool {
    match rule {
        Rule::Exact => unreachable!("compared as bytes"),
        Rule::SameKind => ours.kind() == theirs.kind(),
        Rule::Near(by) => matches!((ours, theirs), (Value::Int(a), Value::Int(b)) if (a - b).abs() <= by),
        Rule::Unordered => {
            let (mut a, mut b) = (ours.pairs(), theirs.pairs());
            let key = |p: &(Value, Value)| format!("{p:?}");
            a.sort_by_key(key);
            b.sort_by_key(key);
            ours.kind() == theirs.kind() && a == b
        }
        Rule::Hello => {
            let strip = |v: &Value| {
                v.pairs()
                    .into_iter()
                    .filter(|(k, _)| !matches!(k, Value::Bulk(Some(k)) if [&b"server"[..], b"version", b"id"].contains(&&k[..])))
                    .collect::<Vec<_>>()
            };
            ours.kind() == theirs.kind()
                && ours.pairs().len() == theirs.pairs().len()
                && strip(ours) == strip(theirs)
        }
    }
}

/// Runs `sessions` (each on a fresh connection) against both servers;
/// returns every difference found.
fn run(ours: std::net::SocketAddr, theirs: std::net::SocketAddr, sessions: Vec<Vec<Step>>) -> Vec<String> {
    let mut differences = Vec::new();
    for (s, steps) in sessions.into_iter().enumerate() {
        let (mut a, mut b) = (Conn::new(ours), Conn::new(theirs));
        for (i, step) in steps.iter().enumerate() {
            a.send(&step.send);
            b.send(step.renamed.as_ref().map_or(&step.send, |(theirs, _, _)| theirs));
            let shown = String::from_utf8_lossy(&step.send[..step.send.len().min(120)]).into_owned();
            for _ in 0..step.replies {
                let (mut raw_a, mut raw_b) = (Vec::new(), Vec::new());
                let (va, vb) = (a.reply(&mut raw_a), b.reply(&mut raw_b));
                if let Some((_, alias, name)) = &step.renamed {
                    let text = String::from_utf8(raw_b).unwrap().replacen(
                        &format!("'{alias}'"),
                        &format!("'{name}'"),
                        1,
                    );
                    raw_b = text.into_bytes();
                }
                let same = match step.rule {
                    Rule::Exact => raw_a == raw_b,
                    rule => compare(rule, &va, &vb),
                };
                if !same {
                    differences.push(format!(
                        "session {s} step {i} {shown:?}:\n  resp_server:  {:?}\n  redis-server: {:?}",
                        String::from_utf8_lossy(&raw_a),
                        String::from_utf8_lossy(&raw_b)
                    ));
                }
            }
            if step.closes {
                let (ca, cb) = (a.closed(), b.closed());
                if !(ca && cb) {
                    differences.push(format!(
                        "session {s} step {i} {shown:?}: closed? resp_server {ca}, redis-server {cb}"
                    ));
                }
                break;
            }
        }
    }
    differences
}

/// Every command with its errors, options and edges (RESP2).
fn commands() -> Vec<Step> {
    let big = "9223372036854775807";
    vec![
        c(&["FLUSHALL"]),
        // PING, ECHO
        c(&["PING"]),
        c(&["ping", "hello"]),
        c(&["PING", "a", "b"]),
        c(&["ECHO"]),
        c(&["ECHO", "a", "b"]),
        cb(&[b"ECHO", b"bin\x00ary\r\n\xff"]),
        // GET, SET and its options
        c(&["GET", "nokey"]),
        c(&["GET"]),
        c(&["GET", "a", "b"]),
        c(&["SET", "k"]),
        c(&["SET", "k", "v1"]),
        c(&["get", "k"]),
        c(&["SET", "k", "v2", "NX"]),
        c(&["SET", "k", "v3", "XX"]),
        c(&["SET", "absent", "x", "XX"]),
        c(&["SET", "k", "v4", "GET"]),
        c(&["SET", "k", "v5", "NX", "GET"]),
        c(&["SET", "k2", "v", "NX", "GET"]),
        c(&["SET", "k3", "v", "XX", "GET"]),
        c(&["SET", "k", "v6", "GET", "GET"]),
        c(&["SET", "k", "v", "nx", "nx"]),
        c(&["SET", "y", "1", "NX", "XX"]),
        c(&["SET", "y", "1", "XX", "NX"]),
        c(&["SET", "y", "1", "EX", "10", "PX", "100"]),
        c(&["SET", "y", "1", "px", "5", "ex", "5"]),
        c(&["SET", "y", "1", "EX"]),
        c(&["SET", "y", "1", "EX", "5", "EX"]),
        c(&["SET", "y", "1", "EX", "5", "EX", "6"]),
        c(&["SET", "y", "1", "KEEPTTL", "EX", "5"]),
        c(&["SET", "y", "1", "EX", "5", "KEEPTTL"]),
        c(&["SET", "y", "1", "KEEPTTL", "KEEPTTL"]),
        c(&["SET", "y", "1", "EX", "0"]),
        c(&["SET", "y", "1", "EX", "-1"]),
        c(&["SET", "y", "1", "PX", "0"]),
        c(&["SET", "y", "1", "EX", "abc"]),
        c(&["SET", "y", "1", "EX", "+1"]),
        c(&["SET", "y", "1", "EX", "01"]),
        c(&["SET", "y", "1", "EX", "1.5"]),
        c(&["SET", "y", "1", "EX", "10", "abc"]),
        c(&["SET", "y", "1", "FOO"]),
        c(&["SET", "y", "1", "EX", big]),
        c(&["SET", "y", "1", "PX", big]),
        c(&["SET", "y", "1", "EX", "9223372036854775"]),
        c(&["SET", "y", "1", "EX", "9223372036854776"]),
        c(&["SET", "y", "1", "EX", "9223372036854775808"]),
        c(&["SET", "y", "1", "EXAT", big]),
        c(&["SET", "y", "1", "EXAT", "0"]),
        c(&["SET", "y", "1", "EXAT", "1"]),
        c(&["GET", "y"]),
        c(&["SET", "y", "1", "PXAT", big]),
        c(&["TTL", "y"]).rule(Rule::Near(1)),
        c(&["SET", "y", "1", "EX", "9223372036854"]),
        c(&["TTL", "y"]).rule(Rule::Near(1)),
        c(&["SET", "t", "v", "EX", "100"]),
        c(&["TTL", "t"]).rule(Rule::Near(1)),
        c(&["SET", "t", "w", "KEEPTTL"]),
        c(&["TTL", "t"]).rule(Rule::Near(1)),
        c(&["SET", "t", "w", "GET", "PX", "200000"]),
        c(&["PTTL", "t"]).rule(Rule::Near(1000)),
        c(&["SET", "t", "x"]),
        c(&["TTL", "t"]),
        c(&["SET", "t", "x", "EXAT", "99999999999"]),
        c(&["TTL", "t"]).rule(Rule::Near(1)),
        // INCR and friends
        c(&["INCR", "n"]),
        c(&["INCR", "n"]),
        c(&["DECR", "n"]),
        c(&["INCRBY", "n", "10"]),
        c(&["DECRBY", "n", "3"]),
        c(&["INCRBY", "n", "-20"]),
        c(&["GET", "n"]),
        c(&["INCR", "k"]),
        c(&["INCR"]),
        c(&["INCR", "a", "b"]),
        c(&["INCRBY", "n"]),
        c(&["INCRBY", "n", "+1"]),
        c(&["INCRBY", "n", "1.5"]),
        c(&["INCRBY", "n", ""]),
        c(&["INCRBY", "n", "9223372036854775808"]),
        c(&["INCRBY", "n", "-9223372036854775809"]),
        c(&["DECRBY", "q", "-9223372036854775808"]),
        c(&["DECRBY", "q", "9223372036854775807"]),
        c(&["DECR", "q"]),
        c(&["DECR", "q"]),
        c(&["GET", "q"]),
        c(&["SET", "m", big]),
        c(&["INCR", "m"]),
        c(&["INCRBY", "m", "-1"]),
        c(&["SET", "m", "-9223372036854775808"]),
        c(&["DECR", "m"]),
        c(&["INCRBY", "m", "9223372036854775807"]),
        c(&["SET", "z", "+1"]),
        c(&["INCR", "z"]),
        c(&["SET", "z", "01"]),
        c(&["INCR", "z"]),
        c(&["SET", "z", "-0"]),
        c(&["INCR", "z"]),
        c(&["SET", "z", " 1"]),
        c(&["INCR", "z"]),
        c(&["SET", "z", "1 "]),
        c(&["INCR", "z"]),
        c(&["SET", "z", "0"]),
        c(&["INCR", "z"]),
        c(&["SET", "z", "100000000000000000000"]),
        c(&["INCR", "z"]),
        c(&["SET", "z", ""]),
        c(&["INCR", "z"]),
        c(&["SET", "z", "5", "EX", "100"]),
        c(&["INCR", "z"]),
        c(&["TTL", "z"]).rule(Rule::Near(1)),
        // DEL, EXISTS, MGET, MSET
        c(&["EXISTS", "k", "k", "nokey", "n"]),
        c(&["EXISTS"]),
        c(&["DEL", "k", "k", "nokey"]),
        c(&["DEL"]),
        c(&["MSET", "a", "1", "b", "2"]),
        c(&["MSET", "a", "1", "b"]),
        c(&["MSET", "a"]),
        c(&["MGET", "a", "nokey", "b"]),
        c(&["MGET"]),
        // EXPIRE, PEXPIRE, TTL, PTTL
        c(&["TTL", "nokey"]),
        c(&["PTTL", "nokey"]),
        c(&["TTL", "a"]),
        c(&["PTTL", "a"]),
        c(&["TTL"]),
        c(&["EXPIRE", "nokey", "10"]),
        c(&["EXPIRE", "a"]),
        c(&["EXPIRE", "a", "x"]),
        c(&["EXPIRE", "a", "10", "FOO"]),
        c(&["EXPIRE", "a", "x", "FOO"]),
        c(&["EXPIRE", "nokey", "10", "FOO"]),
        c(&["EXPIRE", "a", "10", "XX"]),
        c(&["EXPIRE", "a", "10", "GT"]),
        c(&["EXPIRE", "a", "100", "LT"]),
        c(&["TTL", "a"]).rule(Rule::Near(1)),
        c(&["EXPIRE", "a", "200", "NX"]),
        c(&["EXPIRE", "a", "50", "GT"]),
        c(&["EXPIRE", "a", "500", "GT"]),
        c(&["EXPIRE", "a", "1000", "LT"]),
        c(&["EXPIRE", "a", "400", "lt"]),
        c(&["EXPIRE", "a", "300", "XX"]),
        c(&["TTL", "a"]).rule(Rule::Near(1)),
        c(&["EXPIRE", "a", "10", "NX", "XX"]),
        c(&["EXPIRE", "a", "10", "nx", "gt"]),
        c(&["EXPIRE", "a", "10", "NX", "LT"]),
        c(&["EXPIRE", "a", "10", "GT", "LT"]),
        c(&["EXPIRE", "a", "10", "XX", "GT"]),
        c(&["PEXPIRE", "a", "100000", "XX", "XX"]),
        c(&["PTTL", "a"]).rule(Rule::Near(1000)),
        c(&["EXPIRE", "a", "9223372036854775"]),
        c(&["EXPIRE", "a", "9223372036854776"]),
        c(&["EXPIRE", "a", "-9223372036854776"]),
        c(&["PEXPIRE", "a", big]),
        c(&["PEXPIRE", "a", "9223372036854775000"]),
        c(&["EXPIRE", "a", "9223372036854"]),
        c(&["TTL", "a"]).rule(Rule::Near(1)),
        c(&["EXPIRE", "a", "-9223372036854775"]),
        c(&["EXISTS", "a"]),
        c(&["PEXPIRE", "b", "-9223372036854775808"]),
        c(&["EXISTS", "b"]),
        c(&["SET", "b", "v"]),
        c(&["EXPIRE", "b", "0"]),
        c(&["GET", "b"]),
        // Binary-safe keys and values
        cb(&[b"SET", b"\x00key\r\n", b"\x00\x01\xff\r\nvalue\n"]),
        cb(&[b"GET", b"\x00key\r\n"]),
        cb(&[b"MGET", b"\x00key\r\n", b"\x00key"]),
        cb(&[b"SET", b"empty", b""]),
        c(&["GET", "empty"]),
        cb(&[b"SET", b"", b"empty key"]),
        cb(&[b"GET", b""]),
        // DBSIZE, SELECT, FLUSHDB, FLUSHALL
        c(&["DBSIZE"]),
        c(&["DBSIZE", "x"]),
        c(&["SELECT", "1"]),
        c(&["DBSIZE"]),
        c(&["SET", "in1", "v"]),
        c(&["GET", "in1"]),
        c(&["SELECT", "15"]),
        c(&["GET", "in1"]),
        c(&["SELECT", "1"]),
        c(&["FLUSHDB"]),
        c(&["DBSIZE"]),
        c(&["SELECT", "0"]),
        c(&["GET", "in1"]),
        c(&["SELECT", "16"]),
        c(&["SELECT", "-1"]),
        c(&["SELECT", "x"]),
        c(&["SELECT", "2147483648"]),
        c(&["SELECT"]),
        c(&["FLUSHDB", "SYNC"]),
        c(&["FLUSHALL", "x"]),
        c(&["FLUSHALL", "ASYNC", "x"]),
        c(&["SET", "k", "v"]),
        c(&["FLUSHALL", "async"]),
        c(&["DBSIZE"]),
        // CONFIG, CLIENT, COMMAND
        c(&["CONFIG", "GET", "maxmemory"]),
        c(&["config", "get", "MAXMEMORY"]),
        c(&["CONFIG", "GET", "save"]),
        c(&["CONFIG", "GET", "appendonly"]),
        c(&["CONFIG", "GET", "databases"]),
        c(&["CONFIG", "GET", "appendonl?"]),
        c(&["CONFIG", "GET", "nosuch"]),
        c(&["CONFIG", "GET", "maxmemory", "save"]).rule(Rule::Unordered),
        c(&["CONFIG", "GET"]),
        c(&["CONFIG"]),
        c(&["CONFIG", "FOO"]),
        c(&["CLIENT"]),
        c(&["CLIENT", "ID"]).rule(Rule::SameKind),
        c(&["CLIENT", "GETNAME"]),
        c(&["CLIENT", "SETNAME", "tester"]),
        c(&["client", "getname"]),
        c(&["CLIENT", "SETNAME", "has space"]),
        c(&["CLIENT", "SETNAME", "new\nline"]),
        c(&["CLIENT", "SETNAME", ""]),
        c(&["CLIENT", "GETNAME"]),
        c(&["CLIENT", "GETNAME", "x"]),
        c(&["CLIENT", "SETNAME"]),
        c(&["CLIENT", "FOO"]),
        c(&["CLIENT", "SETINFO", "LIB-NAME", "x"]),
        c(&["COMMAND"]).rule(Rule::SameKind),
        c(&["COMMAND", "COUNT"]).rule(Rule::SameKind),
        c(&["COMMAND", "COUNT", "x"]),
        c(&["COMMAND", "FOO"]),
        c(&[
            "COMMAND", "INFO", "get", "SET", "ping", "echo", "del", "exists", "incr", "decr", "incrby",
            "decrby", "mget", "mset", "expire", "pexpire", "ttl", "pttl", "dbsize", "flushall", "flushdb",
            "select", "quit", "hello", "nosuch",
        ]),
        c(&[
            "COMMAND",
            "INFO",
            "config|get",
            "client|id",
            "client|getname",
            "client|setname",
            "command|info",
        ]),
        c(&["COMMAND", "INFO", "command|count", "config|nosuch", "nosuch|x"]),
        // Unknown commands
        c(&["FOO"]),
        c(&["foo", "a", "b"]),
        c(&["NOSUCHCOMMANDWITHALONGNAME"]),
        c(&[&"X".repeat(200)]),
        c(&["FOO", &"a".repeat(100), &"b".repeat(100), "c"]),
        c(&["FOO", &"a".repeat(130)]),
        cb(&[b"FOO\r\nBAR", b"x\x00y", b"a\r\nb"]),
        cb(&[b"", b"x"]),
        c(&["GETX", "k"]),
        unsupported(&["KEYS", "*"]),
        unsupported(&["AUTH", "x"]),
        unsupported(&["MULTI"]),
        unsupported(&["SUBSCRIBE", "channel"]),
        unsupported(&["HSET", "h", "f", "v"]),
        unsupported(&["LPUSH", "l", "a", "b"]),
        unsupported(&["APPEND", "k", "v"]),
        unsupported(&["GETEX", "k", "PERSIST"]),
        unsupported(&["EXPIREAT", "k", "1"]),
        unsupported(&["PERSIST", "k"]),
        unsupported(&["SCAN", "0"]),
        unsupported(&["INFO"]),
        // HELLO (RESP2 stays)
        c(&["HELLO"]).rule(Rule::Hello),
        c(&["HELLO", "2"]).rule(Rule::Hello),
        c(&["HELLO", "1"]),
        c(&["HELLO", "4"]),
        c(&["HELLO", "x"]),
        c(&["HELLO", "2", "FOO"]),
        c(&["HELLO", "2", "AUTH", "default"]),
        c(&["HELLO", "2", "AUTH", "bob", "pw"]),
        c(&["HELLO", "2", "AUTH", "default", "any"]).rule(Rule::Hello),
        c(&["HELLO", "2", "SETNAME"]),
        c(&["HELLO", "2", "SETNAME", "bad name"]),
        c(&["HELLO", "2", "SETNAME", "good"]).rule(Rule::Hello),
        c(&["CLIENT", "GETNAME"]),
        // Pipelines
        pipeline(
            (0..50)
                .flat_map(|i| [c(&["SET", &format!("p{i}"), &i.to_string()]), c(&["GET", &format!("p{i}")])])
                .collect(),
        ),
        pipeline(vec![
            c(&["INCR", "pc"]),
            c(&["NOSUCH"]),
            c(&["INCR", "pc"]),
            c(&["GET"]),
            c(&["MGET", "pc", "p1"]),
        ]),
        c(&["QUIT", "x"]).closes(),
    ]
}

/// The same server, after `HELLO 3`: RESP3 nulls, maps and sets.
fn resp3() -> Vec<Step> {
    vec![
        c(&["HELLO", "3"]).rule(Rule::Hello),
        c(&["GET", "nokey"]),
        c(&["SET", "k", "v"]),
        c(&["MGET", "k", "nokey"]),
        c(&["SET", "k", "v", "NX"]),
        c(&["SET", "k", "w", "GET"]),
        c(&["SET", "k2", "w", "XX", "GET"]),
        c(&["CONFIG", "GET", "maxmemory"]),
        c(&["CONFIG", "GET", "nosuch"]),
        c(&["CONFIG", "GET", "maxmemory", "databases"]).rule(Rule::Unordered),
        c(&["CLIENT", "GETNAME"]),
        c(&["COMMAND", "INFO", "get", "set", "mset", "ping", "nosuch", "config|get"]),
        c(&["PING"]),
        c(&["INCR", "k"]),
        c(&["FOO", "bar"]),
        c(&["HELLO", "2"]).rule(Rule::Hello),
        c(&["GET", "nokey"]),
        c(&["QUIT"]).closes(),
    ]
}

/// Framing: inline commands, empty requests, and malformed ones (each of
/// which gets an error and a close, so each is its own session).
fn framing() -> Vec<Vec<Step>> {
    let mut sessions = vec![vec![
        raw(b"PING\r\n", 1),
        raw(b"PING\n", 1),
        raw(b"ping \"a b\"\r\n", 1),
        raw(b"echo \"a\\x41\\n\\t\\\\q\"\r\n", 1),
        raw(b"echo 'it\\'s'\r\n", 1),
        raw(b"echo \"\\xZZ\"\r\n", 1),
        raw(b"  set   k    v  \r\nget k\r\n", 2),
        raw(b"\r\n\r\n\nPING\r\n", 1),
        raw(b"*0\r\nPING\r\n", 1),
        raw(b"*-1\r\nPING\r\n", 1),
        raw(b"*-5\r\nPING\r\n", 1),
        raw(b"*1\r\n$4\r\nPINGxx", 1),
        raw(b"echo a\x0bb\r\n", 1),
        raw(b"\x0becho x\r\n", 1),
        // A command split across writes, byte by byte at first.
        raw(b"*2\r\n$4\r\nEC", 0),
        raw(b"HO\r\n$3\r", 0),
        raw(b"\nabc\r\n", 1),
    ]];
    let malformed: [&[u8]; 12] = [
        b"*1\r\n$x\r\nPING\r\n",
        b"*x\r\nPING\r\n",
        b"*+1\r\n$4\r\nPING\r\n",
        b"*01\r\n$4\r\nPING\r\n",
        b"*1\r\n$04\r\nPING\r\n",
        b"*1\r\n$-1\r\n",
        b"*1\r\n!4\r\nPING\r\n",
        b"*2147483648\r\n",
        b"*1\r\n$536870913\r\n",
        b"echo \"unbalanced\r\n",
        b"echo \"a\"b\r\n",
        b"PING\r\n*1\r\n$x\r\n",
    ];
    for bytes in malformed {
        let replies = if bytes.starts_with(b"PING") { 2 } else { 1 };
        sessions.push(vec![raw(bytes, replies).closes()]);
    }
    sessions
}

#[test]
fn resp_server_answers_as_redis_server_does() {
    let Some(redis) = redis_server() else { return };
    let ours = start("resp_server", &[]);
    let mut sessions = vec![commands(), resp3()];
    sessions.extend(framing());
    let differences = run(ours.addr, redis.addr, sessions);
    assert!(differences.is_empty(), "{} replies differ:\n{}", differences.len(), differences.join("\n"));
}
