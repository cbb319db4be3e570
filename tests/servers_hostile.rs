//! The example servers against hostile and malformed input, each case from
//! what was found trying them as a real server (issue 12) or from the rule
//! it breaks (RFC 9112 message framing, RFC 9110 semantics, Redis 7).
//!
//! Every HTTP response here is parsed by h11 (`tests/common/h11_check.py`)
//! when the venv is installed, so a framing error in a response fails the
//! test; without the venv a minimal parse by hand checks statuses.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{
    exchange, http_responses, raw, read_to_close, resp_command, rss_kib, start, HttpResponse, ServerProcess,
};

// ---- resp_server ---------------------------------------------------------

fn resp(server: &ServerProcess, stream: &mut TcpStream, args: &[&[u8]], expected: &[u8]) {
    let reply = exchange(stream, &resp_command(args), expected.len());
    assert_eq!(
        String::from_utf8_lossy(&reply),
        String::from_utf8_lossy(expected),
        "{:?} on {}",
        args,
        server.addr
    );
}

/// `SET a v EX 9223372036854775807` used to overflow `Instant + Duration`,
/// panic the connection's task after storing the value, and drop the
/// connection without a reply. Redis refuses the time and stores nothing.
#[test]
fn resp_huge_expiry_is_refused_and_nothing_is_stored() {
    let server = start("resp_server", &[]);
    let mut s = TcpStream::connect(server.addr).unwrap();
    let huge = b"9223372036854775807";
    let set_error = b"-ERR invalid expire time in 'set' command\r\n";
    resp(&server, &mut s, &[b"SET", b"a", b"v", b"EX", huge], set_error);
    resp(&server, &mut s, &[b"SET", b"a", b"v", b"PX", huge], set_error);
    resp(&server, &mut s, &[b"SET", b"a", b"v", b"EX", b"9223372036854775"], set_error);
    resp(&server, &mut s, &[b"GET", b"a"], b"$-1\r\n");
    resp(&server, &mut s, &[b"SET", b"a", b"v"], b"+OK\r\n");
    resp(&server, &mut s, &[b"EXPIRE", b"a", huge], b"-ERR invalid expire time in 'expire' command\r\n");
    resp(&server, &mut s, &[b"PEXPIRE", b"a", huge], b"-ERR invalid expire time in 'pexpire' command\r\n");
    resp(&server, &mut s, &[b"TTL", b"a"], b":-1\r\n");
    // The largest times that fit are accepted, and armed without panicking.
    resp(&server, &mut s, &[b"EXPIRE", b"a", b"9223372036854"], b":1\r\n");
    resp(&server, &mut s, &[b"TTL", b"a"], b":9223372036854\r\n");
    resp(&server, &mut s, &[b"SET", b"b", b"v", b"PXAT", huge], b"+OK\r\n");
    resp(&server, &mut s, &[b"GET", b"b"], b"$1\r\nv\r\n");
    resp(&server, &mut s, &[b"PING"], b"+PONG\r\n");
}

/// A client that sends `GET big` a hundred times and never reads. The
/// server used to build all hundred replies before writing any (1 GB for a
/// 10 MB value); now it stops executing a connection's commands while that
/// connection's unsent output is over a bound, so its memory grows by about
/// one reply. Measured: the server's resident set (VmRSS), once its
/// first reply bytes have reached the client (the old server wrote nothing
/// until it had executed everything).
#[test]
fn resp_never_reading_client_costs_about_one_reply_of_memory() {
    const VALUE: usize = 4 * 1024 * 1024;
    let server = start("resp_server", &[]);
    let mut setup = TcpStream::connect(server.addr).unwrap();
    let value = vec![b'x'; VALUE];
    resp(&server, &mut setup, &[b"SET", b"big", &value], b"+OK\r\n");
    // One full GET, read to the end, so the baseline includes what a
    // served reply leaves behind.
    let mut expected = format!("${VALUE}\r\n").into_bytes();
    expected.extend_from_slice(&value);
    expected.extend_from_slice(b"\r\n");
    assert!(exchange(&mut setup, &resp_command(&[b"GET", b"big"]), expected.len()) == expected);
    let baseline = rss_kib(server.pid());

    let mut hostile = TcpStream::connect(server.addr).unwrap();
    hostile.write_all(&resp_command(&[b"GET", b"big"]).repeat(100)).unwrap();
    // Wait (bounded) for the first reply bytes to be queued at the client.
    hostile.set_nonblocking(true).unwrap();
    let give_up = Instant::now() + Duration::from_secs(30);
    while hostile.peek(&mut [0u8; 1]).is_err() {
        assert!(Instant::now() < give_up, "no reply bytes after 30 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Round trips on another connection: the server has gone around its
    // loop and would have executed more of the hostile commands if it were
    // going to.
    for _ in 0..20 {
        resp(&server, &mut setup, &[b"PING"], b"+PONG\r\n");
    }
    let grown = rss_kib(server.pid()).saturating_sub(baseline);
    eprintln!("never-reading client: server RSS grew by {grown} KiB (baseline {baseline} KiB)");
    assert!(
        grown < 3 * VALUE as u64 / 1024,
        "RSS grew by {grown} KiB for a client that never reads (one reply is {} KiB)",
        VALUE / 1024
    );
    // The server still serves everyone else.
    resp(&server, &mut setup, &[b"GET", b"nokey"], b"$-1\r\n");
}

/// Redis ignores `*0` and `*-1` (no reply); they used to close the connection.
#[test]
fn resp_empty_multibulk_is_ignored() {
    let server = start("resp_server", &[]);
    let mut s = TcpStream::connect(server.addr).unwrap();
    assert_eq!(exchange(&mut s, b"*0\r\n*-1\r\n\r\n*1\r\n$4\r\nPING\r\n", 7), b"+PONG\r\n");
}

/// A command larger than `--max-query` closes the connection without a
/// reply (Redis' client-query-buffer-limit), before it is all buffered.
#[test]
fn resp_command_over_the_query_limit_closes_the_connection() {
    let server = start("resp_server", &["--max-query", "100000"]);
    let mut s = TcpStream::connect(server.addr).unwrap();
    let _ = s.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$200000\r\n");
    // Just past the limit: the server drains what is still in flight when
    // it closes, so the client sees a clean end, not a reset.
    let chunk = vec![b'y'; 10_000];
    for _ in 0..11 {
        if s.write_all(&chunk).is_err() {
            break;
        }
    }
    assert_eq!(read_to_close(&mut s), b"");
    let mut other = TcpStream::connect(server.addr).unwrap();
    assert_eq!(exchange(&mut other, b"PING\r\n", 7), b"+PONG\r\n");
}

// ---- http_server ---------------------------------------------------------

/// Sends `request` on a new connection, reads until the server closes it,
/// and parses the responses (with h11 when installed).
fn http(server: &ServerProcess, request: &[u8], methods: &[&str]) -> Vec<HttpResponse> {
    let responses = http_responses(&raw(server, request), methods);
    assert_eq!(responses.len(), methods.len(), "responses to {:?}", String::from_utf8_lossy(request));
    for r in &responses {
        assert_date(r);
    }
    responses
}

fn statuses(responses: &[HttpResponse]) -> Vec<u16> {
    responses.iter().map(|r| r.status).collect()
}

/// RFC 9110 §6.6.1: an origin server with a clock sends `Date` (as an
/// IMF-fixdate, §5.6.7: `Sun, 06 Nov 1994 08:49:37 GMT`) in its responses.
fn assert_date(r: &HttpResponse) {
    let date = r.header("date").unwrap_or_else(|| panic!("no Date header in {r:?}"));
    let b = date.as_bytes();
    let digits = |range: std::ops::Range<usize>| b[range].iter().all(u8::is_ascii_digit);
    let ok = b.len() == 29
        && ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].contains(&&date[..3])
        && &date[3..5] == ", "
        && digits(5..7)
        && ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
            .contains(&&date[8..11])
        && digits(12..16)
        && digits(17..19)
        && digits(20..22)
        && digits(23..25)
        && date.ends_with(" GMT");
    assert!(ok, "Date is not an IMF-fixdate: {date:?}");
}

fn assert_alive(server: &ServerProcess) {
    let r = http(server, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &["GET"]);
    assert_eq!((r[0].status, &r[0].body[..]), (200, &b"Hello, world!\n"[..]));
}

/// Request smuggling through two Content-Length headers: the first used to
/// win and the rest of the body was parsed as a second request (a 404 for
/// `/smuggled`). RFC 9112 §6.3: 400 and close.
#[test]
fn http_two_content_lengths_get_400_and_a_close() {
    let server = start("http_server", &[]);
    let smuggle = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_eq!(statuses(&http(&server, smuggle, &["POST"])), [400]);
    // Equal values, and the list form, are refused too (RFC 9110 §8.6 lets
    // a recipient refuse them; a smuggling-proof server does).
    let same = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc";
    assert_eq!(statuses(&http(&server, same, &["POST"])), [400]);
    let list = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc";
    assert_eq!(statuses(&http(&server, list, &["POST"])), [400]);
    assert_alive(&server);
}

/// Content-Length = 1*DIGIT (RFC 9110 §8.6): no sign, no spaces inside, no
/// hex. A value too large for the server is 413.
#[test]
fn http_content_length_must_be_digits() {
    let server = start("http_server", &[]);
    for value in ["+5", "-1", "5 0", "0x5", "", "5a", "٥"] {
        let request = format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {value}\r\n\r\nhello");
        assert_eq!(
            statuses(&http(&server, request.as_bytes(), &["POST"])),
            [400],
            "Content-Length: {value:?}"
        );
    }
    let huge = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n";
    assert_eq!(statuses(&http(&server, huge, &["POST"])), [413]);
    // A valid one: the body is read and skipped, the next request answered.
    let ok = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let r = http(&server, ok, &["POST", "GET"]);
    assert_eq!(statuses(&r), [405, 200]);
    assert_eq!(r[0].header("allow"), Some("GET, HEAD"), "RFC 9110 §15.5.6: a 405 lists the allowed methods");
    assert_eq!(r[0].header("connection"), Some("keep-alive"));
}

/// Transfer-Encoding (RFC 9112 §6.1, §6.3, §7.1).
#[test]
fn http_transfer_encoding_rules() {
    let server = start("http_server", &[]);
    let post = |headers: &str, body: &str| format!("POST / HTTP/1.1\r\nHost: x\r\n{headers}\r\n{body}");
    let close = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    // Both framings: refused, then closed (§6.1, §6.3 item 3).
    let both = post("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", "0\r\n\r\n");
    assert_eq!(statuses(&http(&server, both.as_bytes(), &["POST"])), [400]);
    // chunked not last: the length cannot be known (§6.3 item 4).
    for te in ["gzip", "chunked, gzip", "chunked\r\nTransfer-Encoding: gzip"] {
        let request = post(&format!("Transfer-Encoding: {te}\r\n"), "");
        assert_eq!(statuses(&http(&server, request.as_bytes(), &["POST"])), [400], "{te}");
    }
    // A coding before chunked that the server cannot undo: 501 (§6.1).
    let gzip = post("Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n");
    assert_eq!(statuses(&http(&server, gzip.as_bytes(), &["POST"])), [501]);
    // Transfer-Encoding in HTTP/1.0: faulty framing (§6.1).
    let http10 = b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    assert_eq!(statuses(&http(&server, http10, &["POST"])), [400]);
    // A chunked body with extensions and trailers is read and skipped,
    // and the request after it answered (§7.1).
    let chunked = post(
        "Transfer-Encoding: chunked\r\n",
        &format!("5;name=value\r\nhello\r\n1A\r\n{}\r\n0\r\nX-Trailer: yes\r\n\r\n{close}", "z".repeat(26)),
    );
    assert_eq!(statuses(&http(&server, chunked.as_bytes(), &["POST", "GET"])), [405, 200]);
    let case = post("Transfer-Encoding: Chunked\r\n", &format!("0\r\n\r\n{close}"));
    assert_eq!(statuses(&http(&server, case.as_bytes(), &["POST", "GET"])), [405, 200]);
    // Malformed chunked framing: 400 and close.
    for body in [
        "x\r\n",
        "5\r\nhelloXY0\r\n\r\n",
        "-1\r\n",
        "5 ;\x01\r\nhello\r\n0\r\n\r\n",
        "0\r\nbad trailer\r\n\r\n",
    ] {
        let request = post("Transfer-Encoding: chunked\r\n", body);
        assert_eq!(statuses(&http(&server, request.as_bytes(), &["POST"])), [400], "body {body:?}");
    }
    // Chunks adding up past the body limit: 413.
    let big = post("Transfer-Encoding: chunked\r\n", "FFFFFFFFFF\r\n");
    assert_eq!(statuses(&http(&server, big.as_bytes(), &["POST"])), [413]);
    assert_alive(&server);
}

/// RFC 9112 §3.2: a server must answer 400 to an HTTP/1.1 request without a
/// Host, with two, or with an invalid one. HTTP/1.0 needs none.
#[test]
fn http_host_is_required_in_http11() {
    let server = start("http_server", &[]);
    let cases: [(&[u8], u16); 6] = [
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
        (b"GET / HTTP/1.0\r\n\r\n", 200),
        (b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\nConnection: close\r\n\r\n", 200),
    ];
    for (request, status) in cases {
        assert_eq!(
            statuses(&http(&server, request, &["GET"])),
            [status],
            "{:?}",
            String::from_utf8_lossy(request)
        );
    }
}

/// A stream of bare CRLFs used to bypass the header limit: 28 MB buffered
/// and a core busy until the header timeout. RFC 9112 §2.2 lets a server
/// ignore empty lines before a request line; here they count against the
/// header limit, and passing it gets a 400 at once, long before the header
/// timeout (60 s here; the read below gives up after 10 s).
#[test]
fn http_crlf_flood_gets_400_within_the_header_limit() {
    let server = start("http_server", &["--max-header", "1024", "--header-timeout", "60"]);
    let mut s = TcpStream::connect(server.addr).unwrap();
    let crlf = b"\r\n".repeat(256);
    for _ in 0..64 {
        if s.write_all(&crlf).is_err() {
            break; // the server answered and closed
        }
    }
    let r = http_responses(&read_to_close(&mut s), &["GET"]);
    assert_eq!(r[0].status, 400);
    assert_date(&r[0]);
    // One empty line before a request is fine.
    assert_eq!(
        statuses(&http(&server, b"\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &["GET"])),
        [200]
    );
    assert_alive(&server);
}

/// Syntax that RFC 9112 says to reject with 400: whitespace between a field
/// name and its colon (§5.1), obs-fold (§5.2), bare CR (§2.2), a request
/// line with extra spaces (§3), a header line without a colon.
#[test]
fn http_malformed_field_lines_get_400() {
    let server = start("http_server", &[]);
    let cases: [&[u8]; 6] = [
        b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\rX: y\r\n\r\n",
        b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n",
        b"GET / HTTP/1.1\r\n Host: x\r\n\r\n",
    ];
    for request in cases {
        assert_eq!(
            statuses(&http(&server, request, &["GET"])),
            [400],
            "{:?}",
            String::from_utf8_lossy(request)
        );
    }
    // More header fields than the server keeps (64): 431.
    let many = format!("GET / HTTP/1.1\r\nHost: x\r\n{}\r\n", "X-A: 1\r\n".repeat(70));
    assert_eq!(statuses(&http(&server, many.as_bytes(), &["GET"])), [431]);
    assert_alive(&server);
}

/// Methods and targets: 405 with Allow for a known method the resource does
/// not allow, 501 for an unknown one (RFC 9110 §9.1); absolute-form targets
/// are accepted (RFC 9112 §3.2.2); the query is not part of the route; HEAD
/// has the headers of GET and no body.
#[test]
fn http_methods_and_targets() {
    let server = start("http_server", &[]);
    let requests = b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n\
        FROB / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let r = http(&server, requests, &["DELETE", "FROB"]);
    assert_eq!(statuses(&r), [405, 501]);
    assert_eq!(r[0].header("allow"), Some("GET, HEAD"));
    let requests = b"GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n\
        GET /?a=1 HTTP/1.1\r\nHost: x\r\n\r\n\
        HEAD / HTTP/1.1\r\nHost: x\r\n\r\n\
        GET /nope HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, close\r\n\r\n";
    let r = http(&server, requests, &["GET", "GET", "HEAD", "GET"]);
    assert_eq!(statuses(&r), [200, 200, 200, 404]);
    assert_eq!((r[2].header("content-length"), r[2].body.len()), (Some("14"), 0));
    assert_eq!(r[3].header("connection"), Some("close"));
}
