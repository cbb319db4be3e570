//! TLS on corio with futures-rustls, as it is: corio's `TcpStream`
//! implements the `futures_io` traits (feature `futures-io`, on by default),
//! which is all futures-rustls asks of a transport. docs/ECOSYSTEM.md shows
//! this file.
//!
//! The certificate is a committed, test-only self-signed pair
//! (`tests/data/README.md` says why and how it was made).

#![cfg(feature = "futures-io")]

use std::sync::Arc;

use corio::net::{TcpListener, TcpStream};
// A module that talks to futures-io types imports futures' extension traits,
// and not corio's: they work on corio's streams too (docs/ECOSYSTEM.md).
use futures_rustls::rustls::pki_types::pem::PemObject;
use futures_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use futures_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig};
use futures_rustls::{TlsAcceptor, TlsConnector};
use futures_util::{AsyncReadExt, AsyncWriteExt};

const CERT: &[u8] = include_bytes!("data/localhost.cert.pem");
const KEY: &[u8] = include_bytes!("data/localhost.key.pem");

fn server_config() -> Arc<ServerConfig> {
    let cert = CertificateDer::from_pem_slice(CERT).unwrap();
    let key = PrivateKeyDer::from_pem_slice(KEY).unwrap();
    Arc::new(ServerConfig::builder().with_no_client_auth().with_single_cert(vec![cert], key).unwrap())
}

fn client_config(trust_our_cert: bool) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    if trust_our_cert {
        roots.add(CertificateDer::from_pem_slice(CERT).unwrap()).unwrap();
    }
    Arc::new(ClientConfig::builder().with_root_certificates(roots).with_no_client_auth())
}

#[test]
fn futures_rustls_round_trip_over_a_corio_tcp_stream() {
    corio::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = TlsAcceptor::from(server_config());
        let server = corio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = acceptor.accept(tcp).await.unwrap();
            // Echo in upper case until the client closes.
            let mut request = Vec::new();
            tls.read_to_end(&mut request).await.unwrap();
            tls.write_all(&request.to_ascii_uppercase()).await.unwrap();
            tls.close().await.unwrap(); // close_notify, then FIN
            request.len()
        });

        let tcp = TcpStream::connect(addr).await.unwrap();
        let connector = TlsConnector::from(client_config(true));
        let mut tls = connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap();
        let message = "hello over TLS on corio\n".repeat(1000); // several TLS records
        tls.write_all(message.as_bytes()).await.unwrap();
        // Half-close: close_notify ends the server's read_to_end; the
        // socket itself stays open for the reply.
        tls.get_mut().1.send_close_notify();
        tls.flush().await.unwrap();
        let mut reply = String::new();
        tls.read_to_string(&mut reply).await.unwrap();
        assert_eq!(reply, message.to_uppercase());
        assert_eq!(server.await.unwrap(), message.len());
    });
}

/// The error a user meets first: a client that does not trust the server's
/// certificate fails the handshake with rustls's certificate error, carried
/// through corio's stream as an `io::Error` (`InvalidData`).
#[test]
fn an_untrusted_certificate_fails_the_handshake() {
    corio::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = TlsAcceptor::from(server_config());
        let server = corio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            acceptor.accept(tcp).await.map(|_| ())
        });
        let tcp = TcpStream::connect(addr).await.unwrap();
        let connector = TlsConnector::from(client_config(false));
        let error = connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidData, "{error}");
        assert!(error.to_string().contains("invalid peer certificate"), "{error}");
        // The server sees the client's alert, not a hang.
        assert!(server.await.unwrap().is_err());
    });
}
