//! The command table of the RESP server: which commands exist, their arity
//! and `COMMAND INFO` description, and what each one does.
//!
//! Every reply, error text included, is what redis-server 7.0 sends for the
//! same command (the functions cited are from its source: t_string.c,
//! expire.c, db.c, server.c, networking.c, config.c). A command that is not
//! here gets Redis' own answer for an unknown command, so a client cannot
//! tell "not implemented" from "does not exist".

use super::store::{unix_ms, Db, ExpiryTimers, DATABASES};
use super::{string2ll, Args, Reply, Session};

/// A command's description, as `COMMAND INFO` reports it. The values are
/// Redis 7.0's, from its command table (src/commands/*.json).
pub struct Spec {
    /// Lower case; a subcommand is `container|sub`.
    pub name: &'static str,
    /// Exactly this many arguments (command name included), or at least
    /// `-arity` if negative.
    pub arity: i64,
    flags: &'static [&'static str],
    /// First key, last key, step between keys (0 0 0: no keys).
    keys: (i64, i64, i64),
    acl: &'static [&'static str],
    tips: &'static [&'static str],
    key_spec: Option<KeySpec>,
    subcommands: &'static [Spec],
}

/// The one key specification each key-taking command here has: keys start
/// at argument 1 and run to `lastkey` (0: just one; -1: the last argument)
/// every `keystep` arguments.
struct KeySpec {
    notes: Option<&'static str>,
    flags: &'static [&'static str],
    lastkey: i64,
    keystep: i64,
}

const fn spec(
    name: &'static str,
    arity: i64,
    flags: &'static [&'static str],
    acl: &'static [&'static str],
) -> Spec {
    Spec { name, arity, flags, keys: (0, 0, 0), acl, tips: &[], key_spec: None, subcommands: &[] }
}

const fn keyed(
    name: &'static str,
    arity: i64,
    flags: &'static [&'static str],
    keys: (i64, i64, i64),
    acl: &'static [&'static str],
    key_flags: &'static [&'static str],
) -> Spec {
    // The range's last key counts from the first one; -1 is "to the end".
    let lastkey = if keys.1 < 0 { keys.1 } else { keys.1 - keys.0 };
    let key_spec = KeySpec { notes: None, flags: key_flags, lastkey, keystep: keys.2 };
    Spec { name, arity, flags, keys, acl, tips: &[], key_spec: Some(key_spec), subcommands: &[] }
}

const fn with_tips(mut s: Spec, tips: &'static [&'static str]) -> Spec {
    s.tips = tips;
    s
}

const READ_FAST: &[&str] = &["readonly", "fast"];
const WRITE_FAST: &[&str] = &["write", "denyoom", "fast"];
const CONNECTION: &[&str] = &["@fast", "@connection"];
const STRING_WRITE: &[&str] = &["@write", "@string", "@fast"];
const INTROSPECTION: &[&str] = &["noscript", "loading", "stale"];
const SLOW_CONNECTION: &[&str] = &["@slow", "@connection"];
const ALL_SHARDS_OK: &[&str] = &["request_policy:all_shards", "response_policy:all_succeeded"];
const MULTI_SHARD_SUM: &[&str] = &["request_policy:multi_shard", "response_policy:agg_sum"];

/// Every command, in the order of [`Cmd`].
static COMMANDS: [Spec; 25] = [
    keyed("get", 2, READ_FAST, (1, 1, 1), &["@read", "@string", "@fast"], &["RO", "access"]),
    {
        let mut set =
            keyed("set", -3, &["write", "denyoom"], (1, 1, 1), &["@write", "@string", "@slow"], &[]);
        set.key_spec = Some(KeySpec {
            notes: Some("RW and ACCESS due to the optional `GET` argument"),
            flags: &["RW", "access", "update", "variable_flags"],
            lastkey: 0,
            keystep: 1,
        });
        set
    },
    with_tips(spec("ping", -1, &["fast"], CONNECTION), ALL_SHARDS_OK),
    spec("echo", 2, &["loading", "stale", "fast"], CONNECTION),
    with_tips(
        keyed("del", -2, &["write"], (1, -1, 1), &["@keyspace", "@write", "@slow"], &["RM", "delete"]),
        MULTI_SHARD_SUM,
    ),
    with_tips(
        keyed("exists", -2, READ_FAST, (1, -1, 1), &["@keyspace", "@read", "@fast"], &["RO"]),
        MULTI_SHARD_SUM,
    ),
    keyed("incr", 2, WRITE_FAST, (1, 1, 1), STRING_WRITE, &["RW", "access", "update"]),
    keyed("decr", 2, WRITE_FAST, (1, 1, 1), STRING_WRITE, &["RW", "access", "update"]),
    keyed("incrby", 3, WRITE_FAST, (1, 1, 1), STRING_WRITE, &["RW", "access", "update"]),
    keyed("decrby", 3, WRITE_FAST, (1, 1, 1), STRING_WRITE, &["RW", "access", "update"]),
    with_tips(
        keyed("mget", -2, READ_FAST, (1, -1, 1), &["@read", "@string", "@fast"], &["RO", "access"]),
        &["request_policy:multi_shard"],
    ),
    with_tips(
        keyed(
            "mset",
            -3,
            &["write", "denyoom"],
            (1, -1, 2),
            &["@write", "@string", "@slow"],
            &["OW", "update"],
        ),
        &["request_policy:multi_shard", "response_policy:all_succeeded"],
    ),
    keyed("expire", -3, &["write", "fast"], (1, 1, 1), &["@keyspace", "@write", "@fast"], &["RW", "update"]),
    keyed("pexpire", -3, &["write", "fast"], (1, 1, 1), &["@keyspace", "@write", "@fast"], &["RW", "update"]),
    with_tips(
        keyed("ttl", 2, READ_FAST, (1, 1, 1), &["@keyspace", "@read", "@fast"], &["RO", "access"]),
        &["nondeterministic_output"],
    ),
    with_tips(
        keyed("pttl", 2, READ_FAST, (1, 1, 1), &["@keyspace", "@read", "@fast"], &["RO", "access"]),
        &["nondeterministic_output"],
    ),
    with_tips(
        spec("dbsize", 1, READ_FAST, &["@keyspace", "@read", "@fast"]),
        &["request_policy:all_shards", "response_policy:agg_sum"],
    ),
    with_tips(
        spec("flushall", -1, &["write"], &["@keyspace", "@write", "@slow", "@dangerous"]),
        ALL_SHARDS_OK,
    ),
    with_tips(
        spec("flushdb", -1, &["write"], &["@keyspace", "@write", "@slow", "@dangerous"]),
        ALL_SHARDS_OK,
    ),
    spec("select", 2, &["loading", "stale", "fast"], CONNECTION),
    spec("quit", -1, &["noscript", "loading", "stale", "fast", "no_auth", "allow_busy"], CONNECTION),
    spec("hello", -1, &["noscript", "loading", "stale", "fast", "no_auth", "allow_busy"], CONNECTION),
    Spec {
        subcommands: &[
            with_tips(
                spec("command|info", -2, &["loading", "stale"], SLOW_CONNECTION),
                &["nondeterministic_output_order"],
            ),
            spec("command|count", 2, &["loading", "stale"], SLOW_CONNECTION),
        ],
        ..with_tips(
            spec("command", -1, &["loading", "stale"], SLOW_CONNECTION),
            &["nondeterministic_output_order"],
        )
    },
    Spec {
        subcommands: &[
            spec("client|id", 2, INTROSPECTION, SLOW_CONNECTION),
            spec("client|getname", 2, INTROSPECTION, SLOW_CONNECTION),
            spec("client|setname", 3, INTROSPECTION, SLOW_CONNECTION),
        ],
        ..spec("client", -2, &[], &["@slow"])
    },
    Spec {
        subcommands: &[spec(
            "config|get",
            -3,
            &["admin", "noscript", "loading", "stale"],
            &["@admin", "@slow", "@dangerous"],
        )],
        ..spec("config", -2, &[], &["@slow"])
    },
];

/// The commands, by position in [`COMMANDS`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cmd {
    Get,
    Set,
    Ping,
    Echo,
    Del,
    Exists,
    Incr,
    Decr,
    IncrBy,
    DecrBy,
    MGet,
    MSet,
    Expire,
    PExpire,
    Ttl,
    PTtl,
    DbSize,
    FlushAll,
    FlushDb,
    Select,
    Quit,
    Hello,
    Command,
    Client,
    Config,
}

impl Cmd {
    pub fn spec(self) -> &'static Spec {
        let spec = &COMMANDS[self as usize];
        debug_assert_eq!(lookup(spec.name.as_bytes()), Some(self), "COMMANDS is out of the order of Cmd");
        spec
    }

    /// Every command, for `COMMAND` and the tests.
    pub const ALL: [Cmd; 25] = [
        Cmd::Get,
        Cmd::Set,
        Cmd::Ping,
        Cmd::Echo,
        Cmd::Del,
        Cmd::Exists,
        Cmd::Incr,
        Cmd::Decr,
        Cmd::IncrBy,
        Cmd::DecrBy,
        Cmd::MGet,
        Cmd::MSet,
        Cmd::Expire,
        Cmd::PExpire,
        Cmd::Ttl,
        Cmd::PTtl,
        Cmd::DbSize,
        Cmd::FlushAll,
        Cmd::FlushDb,
        Cmd::Select,
        Cmd::Quit,
        Cmd::Hello,
        Cmd::Command,
        Cmd::Client,
        Cmd::Config,
    ];
}

/// The command named `name` (any case). Dispatches on the length and the
/// first letter, then compares the whole name: no copy, one short compare
/// (this runs for every command).
pub fn lookup(name: &[u8]) -> Option<Cmd> {
    let first = name.first()? & CASE;
    // Where two names share a length and first letter, the arm with a
    // guard comes first.
    let (cmd, spelled): (Cmd, &[u8]) = match (name.len(), first) {
        (3, b'G') => (Cmd::Get, b"GET"),
        (3, b'S') => (Cmd::Set, b"SET"),
        (4, b'P') if name[1] & CASE == b'T' => (Cmd::PTtl, b"PTTL"),
        (4, b'P') => (Cmd::Ping, b"PING"),
        (4, b'E') => (Cmd::Echo, b"ECHO"),
        (3, b'D') => (Cmd::Del, b"DEL"),
        (6, b'E') if name[1] & CASE == b'X' && name[2] & CASE == b'P' => (Cmd::Expire, b"EXPIRE"),
        (6, b'E') => (Cmd::Exists, b"EXISTS"),
        (4, b'I') => (Cmd::Incr, b"INCR"),
        (4, b'D') => (Cmd::Decr, b"DECR"),
        (6, b'I') => (Cmd::IncrBy, b"INCRBY"),
        (6, b'D') if name[1] & CASE == b'E' => (Cmd::DecrBy, b"DECRBY"),
        (4, b'M') if name[1] & CASE == b'G' => (Cmd::MGet, b"MGET"),
        (4, b'M') => (Cmd::MSet, b"MSET"),
        (7, b'P') => (Cmd::PExpire, b"PEXPIRE"),
        (3, b'T') => (Cmd::Ttl, b"TTL"),
        (6, b'D') => (Cmd::DbSize, b"DBSIZE"),
        (8, b'F') => (Cmd::FlushAll, b"FLUSHALL"),
        (7, b'F') => (Cmd::FlushDb, b"FLUSHDB"),
        (6, b'S') => (Cmd::Select, b"SELECT"),
        (4, b'Q') => (Cmd::Quit, b"QUIT"),
        (5, b'H') => (Cmd::Hello, b"HELLO"),
        (7, b'C') => (Cmd::Command, b"COMMAND"),
        (6, b'C') if name[1] & CASE == b'L' => (Cmd::Client, b"CLIENT"),
        (6, b'C') => (Cmd::Config, b"CONFIG"),
        _ => return None,
    };
    name.iter().zip(spelled).all(|(&b, &upper)| b & CASE == upper).then_some(cmd)
}

/// Clears the bit that makes an ASCII letter lower case. Command names are
/// letters only, so `b & CASE == b'G'` holds exactly for `G` and `g`.
const CASE: u8 = !0x20;

/// Copies a name in upper case onto the stack (names longer than 16 bytes
/// are no command we know).
fn upper_name(name: &[u8]) -> ([u8; 16], usize) {
    let mut upper = [0u8; 16];
    if name.len() > 16 {
        return (upper, 0);
    }
    for (dst, src) in upper.iter_mut().zip(name) {
        *dst = src.to_ascii_uppercase();
    }
    (upper, name.len())
}

fn arity_ok(arity: i64, argc: usize) -> bool {
    let argc = argc as i64;
    if arity >= 0 {
        argc == arity
    } else {
        argc >= -arity
    }
}

/// What C's `%s` prints of a Redis string: the bytes before the first NUL.
fn c_str(bytes: &[u8]) -> &[u8] {
    bytes.iter().position(|&b| b == 0).map_or(bytes, |nul| &bytes[..nul])
}

/// `c_str`, then at most `max` bytes (C's `%.*s`).
fn c_str_max(bytes: &[u8], max: usize) -> &[u8] {
    let s = c_str(bytes);
    &s[..s.len().min(max)]
}

/// An error built with Redis' `addReplyErrorFormat`, which also trims CR
/// and LF from both ends of the message.
fn error_format(out: &mut Reply, parts: &[&[u8]]) {
    let message = parts.concat();
    let end = message.len() - message.iter().rev().take_while(|&&b| b == b'\r' || b == b'\n').count();
    out.error_bytes(&message[..end]);
}

const NOT_AN_INTEGER: &str = "ERR value is not an integer or out of range";
const SYNTAX_ERROR: &str = "ERR syntax error";

/// Executes one command, appending its reply. Returns whether the
/// connection should close once the reply is written (QUIT).
pub fn execute<T: ExpiryTimers>(db: &Db<T>, session: &mut Session, args: &Args, out: &mut Reply) -> bool {
    let argc = args.len();
    let Some(cmd) = lookup(args.get(0)) else {
        unknown_command(args, out);
        return false;
    };
    let mut spec = cmd.spec();
    if !spec.subcommands.is_empty() && argc > 1 {
        let (upper, len) = upper_name(args.get(1));
        let wanted = String::from_utf8_lossy(&upper[..len]).to_lowercase();
        match spec.subcommands.iter().find(|s| len > 0 && s.name.split('|').nth(1) == Some(&wanted[..])) {
            Some(sub) => spec = sub,
            None => {
                let container = spec.name.to_uppercase();
                let sub = c_str_max(args.get(1), 128);
                let message = [b"ERR unknown subcommand '", sub, b"'. Try ", container.as_bytes(), b" HELP."];
                out.error_bytes(&message.concat());
                return false;
            }
        }
    }
    if !arity_ok(spec.arity, argc) {
        out.error(&format!("ERR wrong number of arguments for '{}' command", spec.name));
        return false;
    }
    let index = session.db;
    match cmd {
        Cmd::Get => db.with_live(index, args.get(1), |e| out.bulk_or_null(e.map(|e| &e.value[..]))),
        Cmd::Set => set(db, index, args, out),
        Cmd::Ping if argc == 1 => out.simple("PONG"),
        Cmd::Ping | Cmd::Echo if argc == 2 => out.bulk(args.get(1)),
        Cmd::Ping => out.error("ERR wrong number of arguments for 'ping' command"),
        Cmd::Echo => unreachable!("arity checked"),
        Cmd::Del | Cmd::Exists => {
            let mut count = 0;
            for key in args.from(1) {
                let found = if cmd == Cmd::Del { db.remove(index, key) } else { db.exists(index, key) };
                count += i64::from(found);
            }
            out.integer(count)
        }
        Cmd::Incr => incr_by(db, index, args.get(1), 1, out),
        Cmd::Decr => incr_by(db, index, args.get(1), -1, out),
        Cmd::IncrBy | Cmd::DecrBy => match string2ll(args.get(2)) {
            None => out.error(NOT_AN_INTEGER),
            Some(i64::MIN) if cmd == Cmd::DecrBy => out.error("ERR decrement would overflow"),
            Some(n) => incr_by(db, index, args.get(1), if cmd == Cmd::IncrBy { n } else { -n }, out),
        },
        Cmd::MGet => {
            out.array(argc - 1);
            for key in args.from(1) {
                db.with_live(index, key, |e| out.bulk_or_null(e.map(|e| &e.value[..])));
            }
        }
        Cmd::MSet if argc.is_multiple_of(2) => out.error("ERR wrong number of arguments for 'mset' command"),
        Cmd::MSet => {
            for i in (1..argc).step_by(2) {
                db.set(index, args.get(i), args.get(i + 1), None);
            }
            out.simple("OK")
        }
        Cmd::Expire | Cmd::PExpire => expire(db, index, args, cmd == Cmd::Expire, out),
        Cmd::Ttl | Cmd::PTtl => {
            let ttl = db.with_live(index, args.get(1), |e| match e.map(|e| e.expires_at) {
                None => -2,
                Some(None) => -1,
                Some(Some(at)) => {
                    let left = (at - unix_ms()).max(0);
                    if cmd == Cmd::Ttl {
                        (left + 500) / 1000
                    } else {
                        left
                    }
                }
            });
            out.integer(ttl)
        }
        Cmd::DbSize => out.integer(db.len(index) as i64),
        Cmd::FlushAll | Cmd::FlushDb => {
            // `getFlushCommandFlags`: nothing, SYNC or ASYNC (all run at once here).
            let mode = if argc == 2 { args.get(1).to_ascii_uppercase() } else { Vec::new() };
            if argc > 2 || !(mode.is_empty() || mode == b"SYNC" || mode == b"ASYNC") {
                out.error(SYNTAX_ERROR);
            } else {
                db.clear(if cmd == Cmd::FlushDb { Some(index) } else { None });
                out.simple("OK")
            }
        }
        // `getIntFromObjectOrReply`: an integer, then one that fits an int.
        Cmd::Select => match string2ll(args.get(1)).map(i32::try_from) {
            None => out.error(NOT_AN_INTEGER),
            Some(Err(_)) => {
                out.error("ERR value is out of range, value must between -2147483648 and 2147483647")
            }
            Some(Ok(n)) if n < 0 || n as usize >= DATABASES => out.error("ERR DB index is out of range"),
            Some(Ok(n)) => {
                session.db = n as usize;
                out.simple("OK")
            }
        },
        Cmd::Quit => {
            out.simple("OK");
            return true;
        }
        Cmd::Hello => hello(session, args, out),
        Cmd::Command => command(spec, args, out),
        Cmd::Client => client(spec, session, args, out),
        Cmd::Config => config_get(args, out),
    }
    false
}

/// Redis' reply to a name it does not know (`processCommand` in server.c):
/// the name and the start of the arguments, at most 128 bytes of each.
fn unknown_command(args: &Args, out: &mut Reply) {
    let mut message = b"ERR unknown command '".to_vec();
    message.extend_from_slice(c_str_max(args.get(0), 128));
    message.extend_from_slice(b"', with args beginning with: ");
    let mut shown: Vec<u8> = Vec::new();
    for arg in args.from(1) {
        if shown.len() >= 128 {
            break;
        }
        let room = 128 - shown.len();
        shown.push(b'\'');
        shown.extend_from_slice(c_str_max(arg, room));
        shown.extend_from_slice(b"' ");
    }
    message.extend_from_slice(&shown);
    out.error_bytes(&message);
}

/// `SET key value [NX | XX] [GET] [EX s | PX ms | EXAT s | PXAT ms | KEEPTTL]`,
/// parsed as Redis' `parseExtendedStringArgumentsOrReply` parses it: an
/// option that conflicts with one already seen is a syntax error, a repeated
/// one is not.
fn set<T: ExpiryTimers>(db: &Db<T>, index: usize, args: &Args, out: &mut Reply) {
    #[derive(Clone, Copy, PartialEq)]
    enum Unit {
        Ex,
        Px,
        ExAt,
        PxAt,
    }
    let (mut nx, mut xx, mut get, mut keep_ttl) = (false, false, false, false);
    let mut expire: Option<(Unit, &[u8])> = None;
    let mut j = 3;
    while j < args.len() {
        let option = args.get(j);
        let next = (j + 1 < args.len()).then(|| args.get(j + 1));
        let is = |name: &[u8]| option.eq_ignore_ascii_case(name);
        let unit = [(b"EX", Unit::Ex), (b"PX", Unit::Px)]
            .iter()
            .map(|&(n, u)| (&n[..], u))
            .chain([(&b"EXAT"[..], Unit::ExAt), (&b"PXAT"[..], Unit::PxAt)])
            .find(|(n, _)| is(n))
            .map(|(_, u)| u);
        if is(b"NX") && !xx {
            nx = true;
        } else if is(b"XX") && !nx {
            xx = true;
        } else if is(b"GET") {
            get = true;
        } else if is(b"KEEPTTL") && expire.is_none() {
            keep_ttl = true;
        } else if let (Some(unit), Some(value), false) = (unit, next, keep_ttl) {
            if expire.is_some_and(|(u, _)| u != unit) {
                return out.error(SYNTAX_ERROR);
            }
            expire = Some((unit, value));
            j += 1;
        } else {
            return out.error(SYNTAX_ERROR);
        }
        j += 1;
    }
    // `getExpireMillisecondsOrReply`: a positive number, in range once
    // turned into milliseconds and (EX, PX) added to the current time.
    let expires_at = match expire {
        None => None,
        Some((unit, text)) => {
            let Some(n) = string2ll(text) else { return out.error(NOT_AN_INTEGER) };
            let seconds = matches!(unit, Unit::Ex | Unit::ExAt);
            let relative = matches!(unit, Unit::Ex | Unit::Px);
            let at = (n > 0)
                .then_some(n)
                .and_then(|n| if seconds { n.checked_mul(1000) } else { Some(n) })
                .and_then(|ms| if relative { ms.checked_add(unix_ms()) } else { Some(ms) });
            match at {
                Some(at) if at > 0 => Some(at),
                _ => return out.error("ERR invalid expire time in 'set' command"),
            }
        }
    };
    let key = args.get(1);
    if get {
        db.with_live(index, key, |e| out.bulk_or_null(e.map(|e| &e.value[..])));
    }
    // Only NX and XX need to know whether the key is there (one hash
    // lookup less for a plain SET, the common case).
    let refused = (nx || xx) && {
        let found = db.exists(index, key);
        (nx && found) || (xx && !found)
    };
    if refused {
        if !get {
            out.null();
        }
        return;
    }
    let ttl = match expires_at {
        Some(at) => Some(Some(at)),
        None if keep_ttl => Some(None),
        None => None,
    };
    db.set(index, key, args.get(2), ttl);
    if !get {
        out.simple("OK");
    }
}

/// `incrDecrCommand`: the stored value must be what `string2ll` accepts
/// (no `+`, no leading zeros), and the sum must fit in an i64.
fn incr_by<T: ExpiryTimers>(db: &Db<T>, index: usize, key: &[u8], by: i64, out: &mut Reply) {
    let result = db.with_live(index, key, |entry| {
        let current = match &entry {
            None => 0,
            Some(entry) => string2ll(&entry.value).ok_or(NOT_AN_INTEGER)?,
        };
        let next = current.checked_add(by).ok_or("ERR increment or decrement would overflow")?;
        let missing = entry.is_none();
        if let Some(entry) = entry {
            // In place: the expiry, if any, stays.
            entry.value.clear();
            super::decimal(&mut entry.value, next);
        }
        Ok((next, missing))
    });
    match result {
        Ok((next, missing)) => {
            if missing {
                let mut value = Vec::with_capacity(20);
                super::decimal(&mut value, next);
                db.set(index, key, &value, None);
            }
            out.integer(next)
        }
        Err(message) => out.error(message),
    }
}

/// `EXPIRE key seconds [NX | XX | GT | LT]` and `PEXPIRE`, as
/// `expireGenericCommand` does them: options first, then the number, then
/// the key.
fn expire<T: ExpiryTimers>(db: &Db<T>, index: usize, args: &Args, seconds: bool, out: &mut Reply) {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for option in args.from(3) {
        let flag = match option.to_ascii_uppercase().as_slice() {
            b"NX" => &mut nx,
            b"XX" => &mut xx,
            b"GT" => &mut gt,
            b"LT" => &mut lt,
            _ => return error_format(out, &[b"ERR Unsupported option ", c_str(option)]),
        };
        *flag = true;
    }
    if nx && (xx || gt || lt) {
        return out.error("ERR NX and XX, GT or LT options at the same time are not compatible");
    }
    if gt && lt {
        return out.error("ERR GT and LT options at the same time are not compatible");
    }
    let Some(n) = string2ll(args.get(2)) else { return out.error(NOT_AN_INTEGER) };
    let now = unix_ms();
    let at = if seconds { n.checked_mul(1000) } else { Some(n) }.and_then(|ms| ms.checked_add(now));
    let Some(at) = at else {
        let name = if seconds { "expire" } else { "pexpire" };
        return out.error(&format!("ERR invalid expire time in '{name}' command"));
    };
    let key = args.get(1);
    let Some(current) = db.with_live(index, key, |e| e.map(|e| e.expires_at)) else {
        return out.integer(0);
    };
    let refused = (nx && current.is_some())
        || (xx && current.is_none())
        || (gt && current.is_none_or(|c| at <= c))
        || (lt && current.is_some_and(|c| at >= c));
    if refused {
        return out.integer(0);
    }
    db.expire_at(index, key, at);
    out.integer(1)
}

/// `HELLO [protover [AUTH username password] [SETNAME clientname]]`.
fn hello(session: &mut Session, args: &Args, out: &mut Reply) {
    let mut version = None;
    if args.len() >= 2 {
        match string2ll(args.get(1)) {
            None => return out.error("ERR Protocol version is not an integer or out of range"),
            Some(v @ 2..=3) => version = Some(v as u8),
            Some(_) => return out.error("NOPROTO unsupported protocol version"),
        }
    }
    let (mut auth, mut name) = (None, None);
    let mut j = 2;
    while j < args.len() {
        let option = args.get(j);
        let more = args.len() - 1 - j;
        if option.eq_ignore_ascii_case(b"AUTH") && more >= 2 {
            auth = Some(args.get(j + 1));
            j += 2;
        } else if option.eq_ignore_ascii_case(b"SETNAME") && more >= 1 {
            name = Some(args.get(j + 1));
            j += 1;
        } else {
            return error_format(out, &[b"ERR Syntax error in HELLO option '", c_str(option), b"'"]);
        }
        j += 1;
    }
    // The only user is Redis' `default` with no password: any password is
    // accepted for it, any other user name is refused.
    if auth.is_some_and(|user| user != b"default") {
        return out.error("WRONGPASS invalid username-password pair or user is disabled.");
    }
    if let Some(name) = name {
        if !set_name(session, name, out) {
            return;
        }
    }
    if let Some(version) = version {
        session.resp = version;
        out.resp3 = version == 3;
    }
    out.map(7);
    // "server" and "version" say what answered: not Redis, but a server
    // that follows Redis 7.0's behaviour.
    for (key, value) in [("server", "corio-resp"), ("version", "7.0.0")] {
        out.bulk(key.as_bytes());
        out.bulk(value.as_bytes());
    }
    out.bulk(b"proto");
    out.integer(i64::from(session.resp));
    out.bulk(b"id");
    out.integer(session.id as i64);
    for (key, value) in [("mode", "standalone"), ("role", "master")] {
        out.bulk(key.as_bytes());
        out.bulk(value.as_bytes());
    }
    out.bulk(b"modules");
    out.array(0);
}

/// `clientSetName`: printable ASCII without spaces; empty clears the name.
fn set_name(session: &mut Session, name: &[u8], out: &mut Reply) -> bool {
    if name.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        out.error("ERR Client names cannot contain spaces, newlines or special characters.");
        return false;
    }
    session.name = (!name.is_empty()).then(|| name.to_vec());
    true
}

/// `CLIENT ID | GETNAME | SETNAME name`.
fn client(spec: &Spec, session: &mut Session, args: &Args, out: &mut Reply) {
    match spec.name {
        "client|id" => out.integer(session.id as i64),
        "client|getname" => out.bulk_or_null(session.name.as_deref()),
        "client|setname" => {
            if set_name(session, args.get(2), out) {
                out.simple("OK");
            }
        }
        _ => unreachable!("CLIENT alone fails its arity check"),
    }
}

/// The configuration parameters `CONFIG GET` knows, with the values that
/// describe this server: no persistence, no memory limit, 16 databases.
const PARAMETERS: [(&str, &str); 4] =
    [("appendonly", "no"), ("databases", "16"), ("maxmemory", "0"), ("save", "")];

/// `CONFIG GET parameter [parameter ...]`: exact names (any case) and glob
/// patterns (`*`, `?`, `[...]`), each parameter reported once.
fn config_get(args: &Args, out: &mut Reply) {
    let mut found: Vec<(Vec<u8>, &str, &str)> = Vec::new();
    for pattern in args.from(2) {
        let is_glob = pattern.iter().any(|b| b"[*?".contains(b));
        for (name, value) in PARAMETERS {
            let matches = if is_glob {
                glob_match(&pattern.to_ascii_lowercase(), name.as_bytes())
            } else {
                pattern.eq_ignore_ascii_case(name.as_bytes())
            };
            // An exact name is reported as the client spelled it (Redis
            // keys its reply by the argument); a pattern's match by its name.
            let key = if is_glob { name.as_bytes().to_vec() } else { pattern.to_vec() };
            if matches && !found.iter().any(|(_, n, _)| *n == name) {
                found.push((key, name, value));
            }
        }
    }
    out.map(found.len());
    for (key, _, value) in found {
        out.bulk(&key);
        out.bulk(value.as_bytes());
    }
}

/// Redis' `stringmatchlen` for the patterns CONFIG GET takes: `*`, `?`,
/// `[abc]`, `[a-z]`, `[^x]`, and `\` to escape.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| glob_match(rest, &text[i..])),
        Some((b'?', rest)) => !text.is_empty() && glob_match(rest, &text[1..]),
        Some((b'[', rest)) => {
            let Some((&c, text_rest)) = text.split_first() else { return false };
            let (negate, mut class) = match rest.split_first() {
                Some((b'^', r)) => (true, r),
                _ => (false, rest),
            };
            let mut hit = false;
            loop {
                match class {
                    [] => break,
                    [b']', ..] => {
                        class = &class[1..];
                        break;
                    }
                    [b'\\', e, tail @ ..] => {
                        hit |= *e == c;
                        class = tail;
                    }
                    [a, b'-', b, tail @ ..] if *b != b']' => {
                        let (lo, hi) = if a <= b { (*a, *b) } else { (*b, *a) };
                        hit |= (lo..=hi).contains(&c);
                        class = tail;
                    }
                    [a, tail @ ..] => {
                        hit |= *a == c;
                        class = tail;
                    }
                }
            }
            hit != negate && glob_match(class, text_rest)
        }
        Some((b'\\', rest)) if !rest.is_empty() => {
            text.first() == Some(&rest[0]) && glob_match(&rest[1..], &text[1..])
        }
        Some((&p, rest)) => text.first() == Some(&p) && glob_match(rest, &text[1..]),
    }
}

/// `COMMAND`, `COMMAND COUNT`, `COMMAND INFO [name ...]`. They describe
/// the commands this server has, not all of Redis'.
fn command(spec: &Spec, args: &Args, out: &mut Reply) {
    match spec.name {
        "command|count" => out.integer(Cmd::ALL.len() as i64),
        "command|info" if args.len() > 2 => {
            out.array(args.len() - 2);
            for name in args.from(2) {
                match find_spec(name) {
                    Some(spec) => describe(spec, out),
                    None => out.null(),
                }
            }
        }
        _ => {
            out.array(Cmd::ALL.len());
            for cmd in Cmd::ALL {
                describe(cmd.spec(), out);
            }
        }
    }
}

/// A command or `container|sub` subcommand by name, any case.
fn find_spec(name: &[u8]) -> Option<&'static Spec> {
    let name = String::from_utf8_lossy(name).to_lowercase();
    let (base, sub) = match name.split_once('|') {
        Some((base, sub)) => (base, Some(sub)),
        None => (&name[..], None),
    };
    let spec = lookup(base.as_bytes())?.spec();
    match sub {
        None => Some(spec),
        Some(_) => spec.subcommands.iter().find(|s| s.name == name),
    }
}

/// One command's `COMMAND INFO` entry, field for field as Redis 7.0 writes
/// it (`addReplyCommandInfo` in server.c).
fn describe(spec: &Spec, out: &mut Reply) {
    out.array(10);
    out.bulk(spec.name.as_bytes());
    out.integer(spec.arity);
    out.set(spec.flags.len());
    for flag in spec.flags {
        out.simple(flag);
    }
    out.integer(spec.keys.0);
    out.integer(spec.keys.1);
    out.integer(spec.keys.2);
    out.set(spec.acl.len());
    for category in spec.acl {
        out.simple(category);
    }
    out.set(spec.tips.len());
    for tip in spec.tips {
        out.bulk(tip.as_bytes());
    }
    match &spec.key_spec {
        None => out.set(0),
        Some(key_spec) => {
            out.set(1);
            out.map(3 + usize::from(key_spec.notes.is_some()));
            if let Some(notes) = key_spec.notes {
                out.bulk(b"notes");
                out.bulk(notes.as_bytes());
            }
            out.bulk(b"flags");
            out.set(key_spec.flags.len());
            for flag in key_spec.flags {
                out.simple(flag);
            }
            out.bulk(b"begin_search");
            out.map(2);
            out.bulk(b"type");
            out.bulk(b"index");
            out.bulk(b"spec");
            out.map(1);
            out.bulk(b"index");
            out.integer(1);
            out.bulk(b"find_keys");
            out.map(2);
            out.bulk(b"type");
            out.bulk(b"range");
            out.bulk(b"spec");
            out.map(3);
            for (name, value) in [("lastkey", key_spec.lastkey), ("keystep", key_spec.keystep), ("limit", 0)]
            {
                out.bulk(name.as_bytes());
                out.integer(value);
            }
        }
    }
    out.set(spec.subcommands.len());
    for sub in spec.subcommands {
        describe(sub, out);
    }
}
