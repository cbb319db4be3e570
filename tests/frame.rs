//! The frame codec through the public API: a deterministic fuzz of the
//! decoder (random bytes and mutated valid frames, fed in random chunks),
//! round trips, and the hex dump printed in `docs/PROTOCOL.md`.

use std::borrow::Cow;
use std::time::Duration;

use corio::frame::{self, Decoder, Frame, FrameError, ReadBuffer};

/// xorshift64*: a tiny deterministic PRNG, so every run tests the same cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// Up to `max - 1` random bytes.
    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = self.below(max);
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn random_frame(rng: &mut Rng) -> Frame<'static> {
    let id = rng.next();
    let payload: Cow<'static, [u8]> = rng.bytes(40).into();
    match rng.below(6) {
        0 => Frame::Request {
            id,
            method: ["echo", "kv.get", "ü", ""][rng.below(4)].into(),
            deadline: (rng.below(2) == 0).then(|| Duration::from_micros(rng.next() >> 1)),
            payload,
        },
        1 => Frame::Response { id, payload },
        2 => Frame::Error { id, code: rng.next() as u16, message: "bad ünïcode".into() },
        3 => Frame::Cancel { id },
        4 => Frame::Ping { id, payload },
        _ => Frame::Pong { id, payload },
    }
}

/// Feeds `wire` to a decoder in random chunks; returns the frames decoded
/// before the first error (if any). Checks the decoder's contract on the way.
fn feed(rng: &mut Rng, decoder: &Decoder, wire: &[u8]) -> (Vec<Frame<'static>>, Option<FrameError>) {
    let mut buf = ReadBuffer::new();
    let mut frames = Vec::new();
    let mut rest = wire;
    loop {
        let chunk = rng.below(rest.len() + 1).max(1).min(rest.len());
        buf.extend_from_slice(&rest[..chunk]);
        rest = &rest[chunk..];
        loop {
            let before = buf.len();
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => {
                    assert!(buf.len() < before, "a decoded frame consumes bytes");
                    frames.push(frame);
                }
                Ok(None) => {
                    assert_eq!(buf.len(), before, "an incomplete frame consumes nothing");
                    break;
                }
                Err(error) => {
                    assert_eq!(buf.len(), before, "a rejected frame consumes nothing");
                    assert!(!error.to_string().is_empty());
                    return (frames, Some(error));
                }
            }
        }
        if rest.is_empty() {
            return (frames, decoder.decode_eof(&buf).err());
        }
    }
}

#[test]
fn fuzz_decoder_random_and_mutated_input() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let limits = [Decoder::new(), Decoder::with_max_frame_size(64), Decoder::with_max_frame_size(0)];
    let mut decoded = 0usize;
    let mut errors = 0usize;
    for case in 0..100_000 {
        let decoder = &limits[rng.below(limits.len())];
        let wire = if case % 4 == 0 {
            // Pure garbage, sometimes with a plausible length prefix.
            let mut bytes = rng.bytes(64);
            if rng.below(2) == 0 && bytes.len() >= 5 {
                let len = (bytes.len() - 4) as u32;
                bytes[..4].copy_from_slice(&len.to_be_bytes());
                bytes[4] = frame::VERSION;
            }
            bytes
        } else {
            // One to three valid frames, then mutations.
            let mut wire = Vec::new();
            for _ in 0..=rng.below(3) {
                random_frame(&mut rng).encode(&mut wire).unwrap();
            }
            for _ in 0..rng.below(4) {
                match rng.below(4) {
                    0 => {
                        let at = rng.below(wire.len());
                        if let Some(byte) = wire.get_mut(at) {
                            *byte = rng.next() as u8;
                        }
                    }
                    1 => wire.truncate(rng.below(wire.len() + 1)),
                    2 => {
                        let at = rng.below(wire.len() + 1);
                        let extra = rng.bytes(5);
                        wire.splice(at..at, extra);
                    }
                    _ => {
                        // Flip a bit in a header byte (length, version, kind, method length, flag).
                        let at = [0, 3, 4, 5, 14, 15][rng.below(6)].min(wire.len().saturating_sub(1));
                        if let Some(byte) = wire.get_mut(at) {
                            *byte ^= 1 << rng.below(8);
                        }
                    }
                }
            }
            wire
        };
        let (frames, error) = feed(&mut rng, decoder, &wire);
        decoded += frames.len();
        errors += usize::from(error.is_some());
        // Whatever decoded must re-encode and decode to the same frame.
        for frame in frames {
            let mut again = Vec::new();
            frame.encode(&mut again).unwrap();
            let mut buf = ReadBuffer::new();
            buf.extend_from_slice(&again);
            if again.len() - 4 <= decoder.max_frame_size() {
                assert_eq!(decoder.decode(&mut buf), Ok(Some(frame)));
            }
        }
        if let Some(FrameError::TooLarge { size, limit }) = error {
            assert!(size > limit);
        }
    }
    // The generator must exercise both paths, or the test proves little.
    assert!(decoded > 40_000 && errors > 30_000, "decoded {decoded}, errors {errors}");
}

#[test]
fn fuzz_round_trips_random_frames_in_random_chunks() {
    let mut rng = Rng(42);
    let decoder = Decoder::new();
    for _ in 0..10_000 {
        let frames: Vec<Frame<'static>> = (0..rng.below(8)).map(|_| random_frame(&mut rng)).collect();
        let mut wire = Vec::new();
        for frame in &frames {
            frame.encode(&mut wire).unwrap();
        }
        let (decoded, error) = feed(&mut rng, &decoder, &wire);
        assert_eq!(error, None);
        assert_eq!(decoded, frames);
    }
}

#[test]
fn peek_borrows_the_same_frame_decode_copies_and_consumes_nothing() {
    let mut rng = Rng(7);
    let decoder = Decoder::new();
    for _ in 0..10_000 {
        let frame = random_frame(&mut rng);
        let mut wire = Vec::new();
        frame.encode(&mut wire).unwrap();
        let mut buf = ReadBuffer::new();
        buf.extend_from_slice(&wire);
        let (view, size) = decoder.peek(&buf).unwrap().expect("a whole frame is buffered");
        assert_eq!(size, wire.len());
        assert_eq!(view, frame);
        assert!(borrows(&view), "peek copies nothing: {view:?}");
        assert_eq!(view.clone().into_owned(), frame);
        let mut again = Vec::new();
        view.encode(&mut again).unwrap();
        assert_eq!(again, wire, "the view encodes to the same bytes");
        assert_eq!(buf.len(), wire.len(), "peek consumes nothing");
        buf.consume(size);
        assert!(buf.is_empty());
    }
    // An incomplete frame peeks as `None`; an oversize one is refused as by `decode`.
    let mut buf = ReadBuffer::new();
    buf.extend_from_slice(&[0, 0, 0, 20, 1]);
    assert_eq!(decoder.peek(&buf), Ok(None));
    let small = Decoder::with_max_frame_size(10);
    assert_eq!(small.peek(&buf), Err(FrameError::TooLarge { size: 20, limit: 10 }));
}

/// Whether every part of `frame` is borrowed from the bytes it was decoded from.
fn borrows(frame: &Frame<'_>) -> bool {
    match frame {
        Frame::Request { method, payload, .. } => {
            matches!(method, Cow::Borrowed(_)) && matches!(payload, Cow::Borrowed(_))
        }
        Frame::Response { payload, .. } | Frame::Ping { payload, .. } | Frame::Pong { payload, .. } => {
            matches!(payload, Cow::Borrowed(_))
        }
        Frame::Error { message, .. } => matches!(message, Cow::Borrowed(_)),
        Frame::Cancel { .. } => true,
    }
}

/// Formats bytes as `offset: hex` lines of 16, as in `docs/PROTOCOL.md`.
fn hex_dump(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (row, chunk) in bytes.chunks(16).enumerate() {
        let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        out.push_str(&format!("{:04x}: {}\n", row * 16, hex.join(" ")));
    }
    out
}

/// The dumps in PROTOCOL.md are this test's output (`cargo test --test frame
/// -- --nocapture protocol_doc`); the test fails if the doc drifts.
#[test]
fn protocol_doc_hex_dumps_match_the_encoder() {
    let mut request = Vec::new();
    frame::encode_request(&mut request, 1, "echo", Some(Duration::from_millis(250)), b"hello").unwrap();
    let mut response = Vec::new();
    Frame::Response { id: 1, payload: b"hello".to_vec().into() }.encode(&mut response).unwrap();
    let mut error = Vec::new();
    Frame::Error { id: 2, code: frame::code::UNKNOWN_METHOD, message: "unknown method `nope`".into() }
        .encode(&mut error)
        .unwrap();
    let mut notice = Vec::new();
    Frame::Error { id: 0, code: frame::code::SHUTTING_DOWN, message: "the server is shutting down".into() }
        .encode(&mut notice)
        .unwrap();
    let doc = include_str!("../docs/PROTOCOL.md");
    for (name, bytes) in
        [("request", &request), ("response", &response), ("error", &error), ("shutdown notice", &notice)]
    {
        let dump = hex_dump(bytes);
        println!("{name}:\n{dump}");
        assert!(doc.contains(&dump), "docs/PROTOCOL.md lacks the {name} dump:\n{dump}");
    }
}
