//! The RESP request parser of the example servers (examples/resp/protocol.rs,
//! included here as a module, as the servers include it), tested through
//! its own API: generated input split at arbitrary points.
//!
//! - Arbitrary bytes, in arbitrary pieces, never panic, and a connection
//!   never holds more than its query limit of unexecuted input.
//! - Valid commands give the same arguments, and the same replies, however
//!   the bytes are split.
//! - A command that arrives in pieces is parsed once: the bytes the parser
//!   searches grow with the input, not with input x pieces.

#[allow(dead_code)]
#[path = "../examples/resp/protocol.rs"]
mod protocol;

use std::time::Instant;

use proptest::prelude::*;
use protocol::{Config, Db, Expiry, ExpiryTimers, Flow, Parsed, Parser, RespConnection};

/// Expiry that never fires: the properties here are about parsing.
struct NoTimers;

impl ExpiryTimers for NoTimers {
    type ExpiryTask = ();
    fn spawn_expiry(_expiry: Expiry<Self>, _deadline: Instant) {}
    fn cancel(_task: ()) {}
}

/// Arbitrary bytes, two in five replaced by one of `common` (characters
/// that matter to the parser), so the input reaches deeper states.
fn bias(bytes: &[u8], common: &[u8]) -> Vec<u8> {
    bytes.iter().map(|&b| if b % 5 < 2 { common[b as usize % common.len()] } else { b }).collect()
}

/// `bytes` cut at the (sorted, deduplicated) offsets in `cuts`.
fn split<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut offsets: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    offsets.push(0);
    offsets.push(bytes.len());
    offsets.sort_unstable();
    offsets.dedup();
    offsets.windows(2).map(|w| &bytes[w[0]..w[1]]).collect()
}

/// Feeds `pieces` to a parser as a connection would (the buffer grows, each
/// complete command is removed); returns each command's arguments and
/// whether a protocol error ended the stream.
fn parse_pieces(pieces: &[&[u8]], max_bulk: usize) -> (Vec<Vec<Vec<u8>>>, bool) {
    let mut parser = Parser::new(max_bulk);
    let mut buf = Vec::new();
    let mut commands = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match parser.parse(&buf) {
                Parsed::Command(used) => {
                    let args = parser.args(&buf);
                    commands.push((0..args.len()).map(|i| args.get(i).to_vec()).collect());
                    buf.drain(..used);
                }
                Parsed::Empty(used) => {
                    buf.drain(..used);
                }
                Parsed::Partial => break,
                Parsed::Error(_) => return (commands, true),
            }
        }
    }
    (commands, false)
}

fn multibulk(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Commands the server knows, with arbitrary binary keys and values.
fn command() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let bytes = || proptest::collection::vec(any::<u8>(), 0..12);
    prop_oneof![
        bytes().prop_map(|k| vec![b"GET".to_vec(), k]),
        (bytes(), bytes()).prop_map(|(k, v)| vec![b"SET".to_vec(), k, v]),
        bytes().prop_map(|v| vec![b"ECHO".to_vec(), v]),
        bytes().prop_map(|k| vec![b"INCR".to_vec(), k]),
        proptest::collection::vec(bytes(), 1..4).prop_map(|keys| [vec![b"DEL".to_vec()], keys].concat()),
        proptest::collection::vec(bytes(), 1..4).prop_map(|keys| [vec![b"MGET".to_vec()], keys].concat()),
        Just(vec![b"PING".to_vec()]),
        proptest::collection::vec(bytes(), 0..3).prop_map(|args| [vec![b"NOSUCH".to_vec()], args].concat()),
    ]
}

/// Runs `pieces` through a [`RespConnection`] on a fresh store; returns all it
/// wrote and the buffered input after each step.
fn serve_pieces(pieces: &[&[u8]], config: &Config) -> (Vec<u8>, Vec<usize>, bool) {
    let db = Db::<NoTimers>::default();
    let mut conn = RespConnection::new(&db, config);
    let mut written = Vec::new();
    let mut buffered = Vec::new();
    for piece in pieces {
        conn.received(piece);
        loop {
            let flow = conn.answer(&db);
            written.extend_from_slice(conn.output());
            conn.sent();
            match flow {
                Flow::Write => continue,
                Flow::Close => return (written, buffered, true),
                Flow::Read => break,
            }
        }
        buffered.push(conn.buffered());
    }
    (written, buffered, false)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Arbitrary bytes (biased towards RESP's own characters) in arbitrary
    /// pieces: no panic, and the unexecuted input never exceeds the limit.
    #[test]
    fn arbitrary_bytes_never_panic_or_overfill(
        bytes in proptest::collection::vec(any::<u8>(), 0..600).prop_map(|v| bias(&v, b"*$\r\n1\"")),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let config = Config { max_bulk: 64, max_query: 200, ..Config::default() };
        let pieces = split(&bytes, &cuts);
        let (_, buffered, _) = serve_pieces(&pieces, &config);
        for b in buffered {
            prop_assert!(b <= config.max_query, "{b} bytes buffered past the limit {}", config.max_query);
        }
        // The parser alone, with a whole-buffer view: no panic either way.
        let _ = parse_pieces(&pieces, 64);
    }

    /// Valid commands, however split, parse to the same arguments (the
    /// ones that were sent) and get the same replies.
    #[test]
    fn valid_commands_parse_the_same_however_split(
        commands in proptest::collection::vec(command(), 1..12),
        inline in any::<bool>(),
        cuts in proptest::collection::vec(any::<usize>(), 0..20),
    ) {
        let mut bytes = Vec::new();
        for args in &commands {
            bytes.extend_from_slice(&multibulk(args));
        }
        if inline {
            // An inline command between them: quotes and escapes included.
            bytes.extend_from_slice(b"set \"a b\\x41\" 'it\\'s'\r\nget \"a bA\"\r\n");
        }
        let (whole, whole_error) = parse_pieces(&[&bytes], 1 << 20);
        prop_assert!(!whole_error);
        prop_assert_eq!(&whole[..commands.len()], &commands[..]);
        let pieces = split(&bytes, &cuts);
        let (parsed, error) = parse_pieces(&pieces, 1 << 20);
        prop_assert!(!error);
        prop_assert_eq!(&parsed, &whole);

        let config = Config::default();
        let (replies_whole, _, _) = serve_pieces(&[&bytes], &config);
        let (replies_split, _, _) = serve_pieces(&pieces, &config);
        prop_assert_eq!(replies_split, replies_whole);
    }
}

/// One command of 100,000 arguments sent in 1 KiB pieces: the parser
/// resumes where it stopped, so the bytes it searches are about those of
/// the whole command at once. (It used to re-parse the buffer from the
/// command's start on every read; issue 12 measured 29x the CPU of the same
/// bytes as separate commands, for 1M arguments.)
#[test]
fn a_command_in_pieces_is_parsed_once() {
    let args: Vec<Vec<u8>> =
        [vec![b"DEL".to_vec()], (0..100_000).map(|i| format!("key:{i}").into_bytes()).collect()].concat();
    let bytes = multibulk(&args);
    let examined = |pieces: &[&[u8]]| {
        let mut parser = Parser::new(1 << 20);
        let mut buf = Vec::new();
        let mut done = false;
        for piece in pieces {
            buf.extend_from_slice(piece);
            match parser.parse(&buf) {
                Parsed::Command(used) => {
                    assert_eq!((used, parser.args(&buf).len()), (bytes.len(), args.len()));
                    done = true;
                }
                Parsed::Partial => {}
                other => panic!("{other:?}"),
            }
        }
        assert!(done);
        parser.examined()
    };
    let whole = examined(&[&bytes]);
    let pieces: Vec<&[u8]> = bytes.chunks(1024).collect();
    let split = examined(&pieces);
    // A line cut at its '\r' is searched again from that '\r': one byte per piece.
    assert!(
        split <= whole + pieces.len() as u64,
        "in pieces the parser searched {split} bytes, at once {whole} ({} pieces)",
        pieces.len()
    );
}

/// The limits from Redis: a line with no end past 64 KiB, a bulk length
/// over the limit, a count over INT_MAX.
#[test]
fn limits_are_redis_limits() {
    let mut parser = Parser::new(100);
    assert_eq!(parser.parse(b"*1\r\n$101\r\n"), Parsed::Error("invalid bulk length".into()));
    let mut parser = Parser::new(100);
    assert_eq!(parser.parse(b"*2147483648\r\n"), Parsed::Error("invalid multibulk length".into()));
    let mut parser = Parser::new(100);
    // `sdslen(querybuf) - qb_pos > PROTO_INLINE_MAX_SIZE`: 64 KiB is fine.
    let long = [b"*".to_vec(), vec![b'1'; protocol::MAX_LINE - 1]].concat();
    assert_eq!(parser.parse(&long), Parsed::Partial);
    let longer = [long, b"1".to_vec()].concat();
    assert_eq!(parser.parse(&longer), Parsed::Error("too big mbulk count string".into()));
    let mut parser = Parser::new(100);
    let inline = vec![b'a'; protocol::MAX_LINE + 1];
    assert_eq!(parser.parse(&inline), Parsed::Error("too big inline request".into()));
}

/// Inline commands are split as Redis' `sdssplitargs` splits them.
#[test]
fn inline_quoting_is_redis_quoting() {
    let args = |line: &[u8]| {
        let mut parser = Parser::new(100);
        match parser.parse(line) {
            Parsed::Command(used) => {
                assert_eq!(used, line.len());
                let args = parser.args(line);
                (0..args.len()).map(|i| args.get(i).to_vec()).collect::<Vec<_>>()
            }
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(line)),
        }
    };
    assert_eq!(args(b"set k v\r\n"), [&b"set"[..], b"k", b"v"]);
    assert_eq!(args(b"  a\t b \n"), [&b"a"[..], b"b"]);
    assert_eq!(args(b"echo \"a b\\n\\x41\\\"\"\r\n"), [&b"echo"[..], b"a b\nA\""]);
    assert_eq!(args(b"echo 'it\\'s'\r\n"), [&b"echo"[..], b"it's"]);
    assert_eq!(args(b"echo \"\"\r\n"), [&b"echo"[..], b""]);
    let unbalanced = Parsed::Error("unbalanced quotes in request".into());
    for line in [&b"echo \"open\r\n"[..], b"echo 'open\r\n", b"echo \"a\"b\r\n", b"echo 'a'b\r\n"] {
        assert_eq!(Parser::new(100).parse(line), unbalanced, "{:?}", String::from_utf8_lossy(line));
    }
    assert_eq!(Parser::new(100).parse(b"\r\n"), Parsed::Empty(2));
}
