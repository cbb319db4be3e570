//! Typed RPC (feature `serde`): serde values through `call_typed` and
//! `route_typed`, over a live loopback server.

#![cfg(feature = "serde")]

use std::collections::BTreeMap;
use std::net::SocketAddr;

use corio::frame::code;
use corio::net::TcpListener;
use corio::rpc::{Client, RpcError, Server};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Order {
    id: u64,
    customer: String,
    lines: Vec<Line>,
    notes: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Line {
    sku: String,
    quantity: u32,
    cents: i64,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Receipt {
    id: u64,
    total_cents: i64,
    by_sku: BTreeMap<String, u32>,
    caller: String,
}

async fn start(server: Server) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    corio::spawn(server.serve(listener));
    addr
}

fn shop() -> Server {
    Server::new()
        .route_typed("checkout", |order: Order, request| async move {
            let total_cents = order.lines.iter().map(|l| l.cents * i64::from(l.quantity)).sum();
            let by_sku = order.lines.iter().map(|l| (l.sku.clone(), l.quantity)).collect();
            Ok(Receipt { id: order.id, total_cents, by_sku, caller: request.peer_addr().ip().to_string() })
        })
        .route_typed("refuse", |_: u32, _| async move {
            Err::<u32, _>(RpcError::Remote { code: code::APPLICATION, message: "no".into() })
        })
        // A byte route whose answer is not a `Receipt`.
        .route("raw", |_| async move { Ok(vec![0xff; 3]) })
}

fn order() -> Order {
    Order {
        id: 42,
        customer: "Ada".into(),
        lines: vec![
            Line { sku: "tea".into(), quantity: 3, cents: 250 },
            Line { sku: "scone".into(), quantity: 2, cents: -100 },
        ],
        notes: Some("by the window".into()),
    }
}

#[test]
fn a_struct_round_trips_through_a_typed_route() {
    corio::block_on(async {
        let client = Client::connect(start(shop()).await).await.unwrap();
        let receipt: Receipt = client.call_typed("checkout", &order()).await.unwrap();
        let by_sku = BTreeMap::from([("scone".to_owned(), 2), ("tea".to_owned(), 3)]);
        assert_eq!(receipt, Receipt { id: 42, total_cents: 550, by_sku, caller: "127.0.0.1".into() });

        // The handler's own error comes back as it was sent.
        let error = client.call_typed::<_, u32>("refuse", &7u32).await.unwrap_err();
        assert!(
            matches!(&error, RpcError::Remote { code: code::APPLICATION, message } if message == "no"),
            "{error:?}"
        );
    });
}

#[test]
fn a_request_the_route_cannot_decode_is_a_decode_error_naming_the_type() {
    corio::block_on(async {
        let client = Client::connect(start(shop()).await).await.unwrap();
        // Too short to be an `Order`: the server refuses it, the handler never runs.
        let error = client.call_typed::<_, Receipt>("checkout", &1u8).await.unwrap_err();
        match &error {
            RpcError::Decode { type_name, reason } => {
                assert!(type_name.ends_with("Order"), "{type_name}");
                assert!(!reason.is_empty());
            }
            other => panic!("expected a decode error, got {other:?}"),
        }
        assert_eq!(error.code(), code::BAD_PAYLOAD);
        assert!(error.to_string().starts_with("cannot decode `"), "{error}");

        // Raw bytes with a valid `Order` prefix and junk after it: refused too.
        let mut bytes = postcard::to_stdvec(&order()).unwrap();
        bytes.push(0);
        let error = client.call("checkout", &bytes).await.unwrap_err();
        assert!(
            matches!(&error, RpcError::Decode { reason, .. } if reason.contains("trailing")),
            "{error:?}"
        );

        // The connection is still good afterwards.
        let receipt: Receipt = client.call_typed("checkout", &order()).await.unwrap();
        assert_eq!(receipt.total_cents, 550);
    });
}

#[test]
fn an_answer_the_client_cannot_decode_is_a_decode_error_naming_the_type() {
    corio::block_on(async {
        let client = Client::connect(start(shop()).await).await.unwrap();
        let error = client.call_typed::<_, Receipt>("raw", &()).await.unwrap_err();
        assert!(
            matches!(&error, RpcError::Decode { type_name, .. } if type_name.ends_with("Receipt")),
            "{error:?}"
        );
    });
}

#[test]
fn an_unknown_method_called_typed_is_unknown_method() {
    corio::block_on(async {
        let client = Client::connect(start(shop()).await).await.unwrap();
        let error = client.call_typed::<_, Receipt>("nope", &order()).await.unwrap_err();
        assert!(matches!(&error, RpcError::UnknownMethod(method) if method == "nope"), "{error:?}");
    });
}

#[test]
fn typed_and_byte_peers_interoperate() {
    corio::block_on(async {
        let addr =
            start(Server::new().route("echo", |request| async move { Ok(request.into_payload()) })).await;
        let client = Client::connect(addr).await.unwrap();
        // A byte-level echo returns the postcard bytes untouched.
        let back: Order = client.call_typed("echo", &order()).await.unwrap();
        assert_eq!(back, order());
    });
}
