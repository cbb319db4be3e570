//! Round trips, batching, the size limit and every header error.

use std::time::Duration;

use super::*;

fn samples() -> Vec<Frame<'static>> {
    vec![
        Frame::Request { id: 1, method: "echo".into(), deadline: None, payload: b"hello"[..].into() },
        Frame::Request {
            id: u64::MAX,
            method: "ünïcode/method".into(),
            deadline: Some(Duration::from_micros(1_500_000)),
            payload: vec![].into(),
        },
        Frame::Response { id: 2, payload: vec![0; 300].into() },
        Frame::Error { id: 3, code: code::UNKNOWN_METHOD, message: "no route for `x`".into() },
        Frame::Error { id: 0, code: 65535, message: "".into() },
        Frame::Cancel { id: 4 },
        Frame::Ping { id: 5, payload: b"p"[..].into() },
        Frame::Pong { id: 5, payload: vec![].into() },
    ]
}

#[test]
fn round_trips_each_kind_whole_and_byte_by_byte() {
    let decoder = Decoder::new();
    for frame in samples() {
        let mut wire = Vec::new();
        frame.encode(&mut wire).unwrap();
        let mut buf = ReadBuffer::new();
        buf.extend_from_slice(&wire);
        assert_eq!(decoder.decode(&mut buf), Ok(Some(frame.clone())));
        assert!(buf.is_empty());

        let mut buf = ReadBuffer::new();
        for (i, byte) in wire.iter().enumerate() {
            assert_eq!(decoder.decode(&mut buf), Ok(None), "complete after {i} of {} bytes", wire.len());
            buf.extend_from_slice(&[*byte]);
        }
        assert_eq!(decoder.decode(&mut buf), Ok(Some(frame)));
    }
}

#[test]
fn batched_frames_decode_in_order() {
    let mut wire = Vec::new();
    for frame in samples() {
        frame.encode(&mut wire).unwrap();
    }
    let mut buf = ReadBuffer::new();
    buf.extend_from_slice(&wire);
    let decoder = Decoder::new();
    let decoded: Vec<Frame> = std::iter::from_fn(|| decoder.decode(&mut buf).unwrap()).collect();
    assert_eq!(decoded, samples());
}

#[test]
fn oversize_is_rejected_from_the_prefix_alone() {
    let decoder = Decoder::with_max_frame_size(100);
    let mut buf = ReadBuffer::new();
    buf.extend_from_slice(&101u32.to_be_bytes());
    assert_eq!(decoder.decode(&mut buf), Err(FrameError::TooLarge { size: 101, limit: 100 }));
    assert_eq!(
        decoder.decode(&mut buf).unwrap_err().to_string(),
        "frame of 101 bytes exceeds the limit of 100 bytes"
    );
}

#[test]
fn each_header_error_is_named() {
    let decoder = Decoder::new();
    let check = |body: &[u8], expected: FrameError| {
        let mut buf = ReadBuffer::new();
        buf.extend_from_slice(&(body.len() as u32).to_be_bytes());
        buf.extend_from_slice(body);
        assert_eq!(decoder.decode(&mut buf), Err(expected));
    };
    check(&[], FrameError::Truncated { field: "version byte", length: 0 });
    check(&[1, 0, 0, 0], FrameError::Truncated { field: "request id", length: 4 });
    check(&[2, 0], FrameError::UnsupportedVersion(2));
    check(&[1, 9], FrameError::UnknownKind(9));
    let mut body = vec![1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 5, b'a'];
    check(&body, FrameError::Truncated { field: "method name", length: 13 });
    body.truncate(10);
    body.extend_from_slice(&[0, 2, 0xff, 0xfe, 0]);
    check(&body, FrameError::InvalidMethod { valid_up_to: 0 });
    let mut head = vec![1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, b'm', 0];
    check(&head, FrameError::UnexpectedMethod(Kind::Response));
    head[10..].copy_from_slice(&[0, 0, 7, 0]);
    check(&head[..13], FrameError::InvalidDeadlineFlag(7));
    let mut head = vec![1, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0];
    check(&head, FrameError::Truncated { field: "error code", length: 13 });
    head.extend_from_slice(&[0, 1, 0xc3]);
    check(&head, FrameError::InvalidErrorMessage);
}

#[test]
fn encoder_rejects_long_method() {
    let mut out = Vec::new();
    let method = "m".repeat(70_000);
    let err = encode_request(&mut out, 1, &method, None, b"").unwrap_err();
    assert_eq!(err, FrameError::MethodTooLong(70_000));
    assert!(out.is_empty());
}

#[test]
fn peek_id_reads_a_rejected_frame() {
    let mut wire = Vec::new();
    encode_request(&mut wire, 42, "big", None, &[0; 200]).unwrap();
    let mut buf = ReadBuffer::new();
    buf.extend_from_slice(&wire[..20]);
    assert!(Decoder::with_max_frame_size(64).decode(&mut buf).is_err());
    assert_eq!(peek_id(&buf), Some(42));
}
