//! The extension-trait rule, compiled (docs/ECOSYSTEM.md, "Which extension
//! traits"; the `corio::io` docs hold the `compile_fail` counterpart).
//!
//! With `futures-io` (on by default) corio's streams implement two families
//! of traits, corio's and futures', and each family has an extension trait
//! with `read`, `read_exact`, `write_all`, `flush`... Importing both in one
//! scope makes those calls ambiguous (E0034). The rule: import one family per
//! module.
//!
//! * corio code imports `corio::io::{AsyncReadExt, AsyncWriteExt}`;
//! * code that also drives futures-io types (a TLS stream, a codec...)
//!   imports futures' traits (`futures_util::{AsyncReadExt, AsyncWriteExt}`
//!   or futures-lite's) and uses them on corio's streams too;
//! * corio code that needs one futures-only helper calls it by path.
//!
//! Each module below is one of those; the test runs all three against the
//! same echo server, so they compile *and* do the same thing.

#![cfg(feature = "futures-io")]

use std::io;
use std::net::SocketAddr;

use corio::net::{TcpListener, TcpStream};

/// Corio code: corio's extension traits.
mod corio_code {
    use corio::io::{AsyncReadExt, AsyncWriteExt};
    use corio::net::TcpStream;

    pub async fn ping(stream: &mut TcpStream) -> std::io::Result<[u8; 4]> {
        stream.write_all(b"ping").await?;
        let mut reply = [0u8; 4];
        stream.read_exact(&mut reply).await?;
        Ok(reply)
    }
}

/// Code in the futures ecosystem: futures' extension traits, on corio's
/// streams and on any other futures-io stream alike.
mod futures_code {
    use futures_util::io::{AsyncRead, AsyncWrite};
    use futures_util::{AsyncReadExt, AsyncWriteExt};

    pub async fn ping<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) -> std::io::Result<[u8; 4]> {
        stream.write_all(b"ping").await?;
        let mut reply = [0u8; 4];
        stream.read_exact(&mut reply).await?;
        Ok(reply)
    }
}

/// Corio code borrowing one helper corio does not have (`read_to_string`):
/// called by path, so futures' trait is never in scope.
mod corio_code_with_a_futures_helper {
    use corio::io::{AsyncReadExt, AsyncWriteExt};
    use corio::net::TcpStream;

    pub async fn ping_then_rest(stream: &mut TcpStream) -> std::io::Result<([u8; 4], String)> {
        stream.write_all(b"ping").await?;
        let mut reply = [0u8; 4];
        stream.read_exact(&mut reply).await?;
        stream.shutdown().await?; // corio's name for futures' `close`
        let mut rest = String::new();
        futures_util::AsyncReadExt::read_to_string(stream, &mut rest).await?;
        Ok((reply, rest))
    }
}

/// Echoes each connection until its client half-closes, then says "bye".
async fn spawn_echo_server() -> io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    corio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            corio::spawn(async move {
                let (mut reader, mut writer) = stream.into_split();
                corio::io::copy(&mut reader, &mut writer).await.unwrap();
                corio::io::AsyncWriteExt::write_all(&mut writer, b"bye").await.unwrap();
            });
        }
    });
    Ok(addr)
}

#[test]
fn each_recommended_import_style_compiles_and_talks_to_the_same_server() {
    corio::block_on(async {
        let addr = spawn_echo_server().await.unwrap();
        let mut stream = TcpStream::connect(addr).await.unwrap();
        assert_eq!(&corio_code::ping(&mut stream).await.unwrap(), b"ping");
        assert_eq!(&futures_code::ping(&mut stream).await.unwrap(), b"ping");
        let (reply, rest) = corio_code_with_a_futures_helper::ping_then_rest(&mut stream).await.unwrap();
        assert_eq!((&reply, rest.as_str()), (b"ping", "bye"));
    });
}
