//! The HTTP/1.1 request handling of the example servers
//! (examples/http/protocol.rs, included here as a module, as the servers
//! include it), tested through its own API: generated input split at
//! arbitrary points.
//!
//! - Arbitrary bytes, in arbitrary pieces, never panic, and a connection
//!   never holds more than one request head (the header limit) or one
//!   chunked-framing line of unconsumed input.
//! - Valid requests (Content-Length and chunked bodies, pipelined) get the
//!   same responses however the bytes are split.

#[allow(dead_code)]
#[path = "../examples/http/protocol.rs"]
mod protocol;

use proptest::prelude::*;
use protocol::{Config, HttpConnection, Next};

/// Arbitrary bytes, two in five replaced by one of `common` (characters
/// that matter to the parser), so the input reaches deeper states.
fn bias(bytes: &[u8], common: &[u8]) -> Vec<u8> {
    bytes.iter().map(|&b| if b % 5 < 2 { common[b as usize % common.len()] } else { b }).collect()
}

fn stats() -> String {
    "{}".to_string()
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

/// Runs `pieces` through an [`HttpConnection`]; returns what it wrote (with the
/// Date values blanked: the clock may tick between two runs), the input
/// left buffered after each piece, and whether it closed.
fn serve_pieces(pieces: &[&[u8]], config: &Config) -> (Vec<u8>, Vec<usize>, bool) {
    let mut conn = HttpConnection::new(config);
    let mut written = Vec::new();
    let mut buffered = Vec::new();
    let mut closed = false;
    for piece in pieces {
        conn.received(piece);
        let (next, _) = conn.answer(stats);
        written.extend_from_slice(conn.output());
        conn.sent();
        if next == Next::Close {
            closed = true;
            break;
        }
        buffered.push(conn.buffered());
    }
    let mut i = 0;
    while let Some(at) = written[i..].windows(6).position(|w| w == b"Date: ") {
        let start = i + at + 6;
        written[start..start + 29].fill(b'-');
        i = start + 29;
    }
    (written, buffered, closed)
}

/// A valid request: GET or HEAD, or POST with a body sent with a
/// Content-Length or chunked (with extensions and a trailer).
fn request() -> impl Strategy<Value = Vec<u8>> {
    let path = prop_oneof![Just("/"), Just("/stats"), Just("/nope"), Just("/?q=1"), Just("http://h/")];
    let body = proptest::collection::vec(any::<u8>(), 0..40);
    let chunks = proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..20), 0..4);
    prop_oneof![
        (prop_oneof![Just("GET"), Just("HEAD")], path.clone()).prop_map(|(method, path)| {
            format!("{method} {path} HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n").into_bytes()
        }),
        (path.clone(), body).prop_map(|(path, body)| {
            let mut r = format!("POST {path} HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n", body.len())
                .into_bytes();
            r.extend_from_slice(&body);
            r
        }),
        (path, chunks).prop_map(|(path, chunks)| {
            let mut r =
                format!("PUT {path} HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n").into_bytes();
            for chunk in chunks {
                r.extend_from_slice(format!("{:x};ext=1\r\n", chunk.len()).as_bytes());
                r.extend_from_slice(&chunk);
                r.extend_from_slice(b"\r\n");
            }
            r.extend_from_slice(b"0\r\nX-Trailer: t\r\n\r\n");
            r
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Arbitrary bytes (biased towards HTTP's own characters) in arbitrary
    /// pieces: no panic, and never more buffered than one request head or
    /// one chunked-framing line.
    #[test]
    fn arbitrary_bytes_never_panic_or_overfill(
        prefix in prop_oneof![
            Just(&b""[..]),
            Just(&b"GET / HTTP/1.1\r\nHost: x\r\n"[..]),
            Just(&b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"[..]),
            Just(&b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"[..]),
        ],
        bytes in proptest::collection::vec(any::<u8>(), 0..1500).prop_map(|v| bias(&v, b"\r\n: a0;")),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let config = Config { max_header: 512, ..Config::default() };
        let input = [prefix, &bytes[..]].concat();
        let (_, buffered, _) = serve_pieces(&split(&input, &cuts), &config);
        // A head of up to the limit, or a chunk-size line of up to 4 KiB,
        // may be waiting for its end.
        let bound = config.max_header.max(4096);
        for b in buffered {
            prop_assert!(b <= bound, "{b} bytes buffered (bound {bound})");
        }
    }

    /// Pipelined valid requests, however split, get the same responses,
    /// and as many of them as there were requests.
    #[test]
    fn valid_requests_get_the_same_responses_however_split(
        requests in proptest::collection::vec(request(), 1..8),
        leading_empty_line in any::<bool>(),
        cuts in proptest::collection::vec(any::<usize>(), 0..24),
    ) {
        let mut bytes = if leading_empty_line { b"\r\n".to_vec() } else { Vec::new() };
        for r in &requests {
            bytes.extend_from_slice(r);
        }
        let config = Config::default();
        let (whole, _, closed) = serve_pieces(&[&bytes], &config);
        prop_assert!(!closed);
        let count = whole.windows(9).filter(|w| w == b"HTTP/1.1 ").count();
        prop_assert_eq!(count, requests.len(), "{}", String::from_utf8_lossy(&whole));
        let (split_out, _, _) = serve_pieces(&split(&bytes, &cuts), &config);
        prop_assert_eq!(split_out, whole);
    }
}

#[test]
fn http_date_is_an_imf_fixdate() {
    // RFC 9110 §5.6.7's example, and the epoch.
    assert_eq!(&protocol::http_date(784_111_777), b"Sun, 06 Nov 1994 08:49:37 GMT");
    assert_eq!(&protocol::http_date(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
    assert_eq!(&protocol::http_date(951_782_400), b"Tue, 29 Feb 2000 00:00:00 GMT");
}
