//! WebSocket on corio with async-tungstenite, as it is: the handshake and
//! the frames run over corio's `TcpStream` through its `futures_io` traits
//! (feature `futures-io`, on by default). docs/ECOSYSTEM.md shows this file.

#![cfg(feature = "futures-io")]

use async_tungstenite::tungstenite::Message;
use corio::net::{TcpListener, TcpStream};
use futures_util::StreamExt;

#[test]
fn async_tungstenite_echo_over_a_corio_tcp_stream() {
    corio::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = corio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = async_tungstenite::accept_async(tcp).await.unwrap();
            let mut echoed = 0;
            // The stream of messages ends after the client's close frame.
            while let Some(message) = ws.next().await {
                let message = message.unwrap();
                if message.is_text() || message.is_binary() {
                    ws.send(message).await.unwrap();
                    echoed += 1;
                }
            }
            echoed
        });

        let tcp = TcpStream::connect(addr).await.unwrap();
        let (mut ws, response) =
            async_tungstenite::client_async(format!("ws://{addr}/echo"), tcp).await.unwrap();
        assert_eq!(response.status(), 101); // Switching Protocols
        ws.send(Message::text("hello, corio")).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("hello, corio"));
        let big = vec![7u8; 200_000]; // one frame, many socket reads
        ws.send(Message::binary(big.clone())).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::binary(big));
        ws.close(None).await.unwrap();
        // The server's close reply ends our stream too.
        while ws.next().await.is_some() {}
        assert_eq!(server.await.unwrap(), 2);
    });
}

/// A client that speaks plain HTTP to a WebSocket endpoint gets a handshake
/// error on the server, not a hang or a panic.
#[test]
fn a_request_without_the_upgrade_headers_is_refused() {
    corio::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = corio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            async_tungstenite::accept_async(tcp).await.map(|_| ())
        });
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        corio::io::AsyncWriteExt::write_all(&mut tcp, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        let error = server.await.unwrap().unwrap_err();
        assert!(matches!(error, async_tungstenite::tungstenite::Error::Protocol(_)), "{error:?}");
    });
}
