//! Typed calls and routes (feature `serde`): serde values on top of the
//! byte API, encoded with [postcard](https://docs.rs/postcard).
//!
//! Nothing here touches the wire format: a typed call is
//! [`Client::call`] with a postcard-encoded payload, and a typed route is
//! [`Server::route`] with a handler that decodes the payload first and
//! encodes its answer last. So typed and byte-level peers interoperate, and
//! a client in another language only needs a postcard encoder.
//!
//! Decoding is strict: bytes left over after the value are an error, so a
//! payload meant for another type rarely passes by accident.

use std::any::type_name;
use std::future::Future;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{Client, Request, RpcError, Server};

impl Client {
    /// Calls `method` with `request` encoded by postcard, and decodes the
    /// answer as `Resp`. Honors the client's default timeout, like
    /// [`call`](Client::call).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use corio_net::rpc::Client;
    ///
    /// corio_runtime::block_on(async {
    ///     let client = Client::connect("127.0.0.1:7878").await.unwrap();
    ///     let sum: u64 = client.call_typed("add", &(2u64, 40u64)).await.unwrap();
    ///     assert_eq!(sum, 42);
    /// });
    /// ```
    ///
    /// # Errors
    ///
    /// [`RpcError::Encode`] if `request` cannot be encoded (nothing is
    /// sent); [`RpcError::Decode`] if the answer is not a `Resp`, or if the
    /// server could not decode the request as its route's type (error code
    /// [`BAD_PAYLOAD`](crate::frame::code::BAD_PAYLOAD)); otherwise as
    /// [`call`](Client::call).
    pub async fn call_typed<Req, Resp>(&self, method: &str, request: &Req) -> Result<Resp, RpcError>
    where
        Req: Serialize + ?Sized,
        Resp: DeserializeOwned,
    {
        let payload = encode(request)?;
        let answer = self.call(method, &payload).await?;
        decode(&answer)
    }
}

impl Server {
    /// Routes `method` to a handler of typed values: the payload is decoded
    /// as `Req` before the handler runs, and its `Ok` answer encoded after.
    /// The [`Request`] comes along for the peer address, deadline and id.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use corio_net::net::TcpListener;
    /// use corio_net::rpc::Server;
    ///
    /// corio_runtime::block_on(async {
    ///     let listener = TcpListener::bind("127.0.0.1:7878").await.unwrap();
    ///     Server::new()
    ///         .route_typed("add", |(a, b): (u64, u64), _request| async move { Ok(a + b) })
    ///         .serve(listener)
    ///         .await
    ///         .unwrap();
    /// });
    /// ```
    ///
    /// # Errors
    ///
    /// A payload that is not a `Req` is answered with error code
    /// [`BAD_PAYLOAD`](crate::frame::code::BAD_PAYLOAD) naming the type and
    /// the reason (the client sees [`RpcError::Decode`]); the handler does
    /// not run. An answer that cannot be encoded is sent as an `internal`
    /// error.
    pub fn route_typed<Req, Resp, F, Fut>(self, method: &str, handler: F) -> Server
    where
        Req: DeserializeOwned,
        Resp: Serialize,
        F: Fn(Req, Request) -> Fut + 'static,
        Fut: Future<Output = Result<Resp, RpcError>> + 'static,
    {
        self.route(method, move |request| {
            let call = decode::<Req>(request.payload()).map(|value| handler(value, request));
            async move { encode(&call?.await?) }
        })
    }
}

/// `value` in postcard's format.
fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, RpcError> {
    postcard::to_stdvec(value)
        .map_err(|error| RpcError::Encode { type_name: type_name::<T>().into(), reason: error.to_string() })
}

/// A `T` from exactly `bytes`: trailing bytes are an error too.
fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, RpcError> {
    let failed = |reason: String| RpcError::Decode { type_name: type_name::<T>().into(), reason };
    match postcard::take_from_bytes(bytes) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(failed(format!("{} trailing bytes after the value", rest.len()))),
        Err(error) => Err(failed(error.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_leftovers_are_refused() {
        let bytes = encode(&(7u32, "seven")).unwrap();
        assert_eq!(decode::<(u32, String)>(&bytes).unwrap(), (7, "seven".to_owned()));
        let error = decode::<u32>(&bytes).unwrap_err();
        assert!(
            matches!(&error, RpcError::Decode { type_name, reason }
            if type_name == "u32" && reason.contains("trailing")),
            "{error:?}"
        );
        let error = decode::<(u32, String)>(&bytes[..2]).unwrap_err();
        assert!(matches!(&error, RpcError::Decode { .. }), "{error:?}");
    }
}
