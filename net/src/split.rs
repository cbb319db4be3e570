//! Splitting a stream into a read half and a write half, for TCP and Unix
//! streams alike.
//!
//! A reader and a writer can wait on one socket at the same time: the
//! reactor keeps a separate waker for each direction. The halves let the
//! type system hand out exactly one of each:
//!
//! * `split` borrows the stream: both halves live in one task (use them in
//!   a `join`);
//! * `into_split` shares the socket through an `Rc`: each half can move into
//!   its own task (on the same thread; nothing here is `Send`).
//!
//! Dropping an owned write half shuts down the write side, so the peer sees
//! end of stream once the writer task is done.
//!
//! The code is the same for every stream type, so it is written once, as
//! the macro `__stream_halves`, and expanded in `tcp/split.rs`, in
//! `unix.rs`, and in the simulator's stream (`corio-sim`, whose streams
//! have the same shape as TCP's: hence `#[macro_export]`, hidden from the
//! docs). The stream type must have `poll_read_ref`, `poll_write_ref`,
//! `poll_write_vectored_ref`, `shutdown`, `peer_addr` and `local_addr`.

/// `AsyncRead` for a read half type that has a `stream()` method.
#[macro_export]
#[doc(hidden)]
macro_rules! __read_half {
    ($half:ty) => {
        impl $crate::io::AsyncRead for $half {
            fn poll_read(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                buf: &mut [u8],
            ) -> ::std::task::Poll<::std::io::Result<usize>> {
                self.stream().poll_read_ref(cx, buf)
            }
        }
    };
}

/// `AsyncWrite` for a write half type that has a `stream()` method.
#[macro_export]
#[doc(hidden)]
macro_rules! __write_half {
    ($half:ty) => {
        impl $crate::io::AsyncWrite for $half {
            fn poll_write(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                buf: &[u8],
            ) -> ::std::task::Poll<::std::io::Result<usize>> {
                self.stream().poll_write_ref(cx, buf)
            }

            fn poll_write_vectored(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                bufs: &[::std::io::IoSlice<'_>],
            ) -> ::std::task::Poll<::std::io::Result<usize>> {
                self.stream().poll_write_vectored_ref(cx, bufs)
            }

            fn poll_flush(
                self: ::std::pin::Pin<&mut Self>,
                _cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                ::std::task::Poll::Ready(Ok(()))
            }

            fn poll_shutdown(
                self: ::std::pin::Pin<&mut Self>,
                _cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                ::std::task::Poll::Ready(self.stream().shutdown(::std::net::Shutdown::Write))
            }
        }
    };
}

/// Defines `ReadHalf`, `WriteHalf`, `OwnedReadHalf`, `OwnedWriteHalf`,
/// `ReuniteError` and the `split` / `into_split` functions for `$stream`,
/// whose addresses are `$addr`; `$what` names it in messages ("TCP").
#[macro_export]
#[doc(hidden)]
macro_rules! __stream_halves {
    ($stream:ident, $addr:ty, $what:literal) => {
        use std::error::Error;
        use std::fmt;
        use std::io;
        use std::net::Shutdown;
        use std::rc::Rc;

        #[doc = concat!("The reading half of a [`", stringify!($stream), "`], from [`", stringify!($stream), "::split`].")]
        #[derive(Debug)]
        pub struct ReadHalf<'a>(&'a $stream);

        #[doc = concat!("The writing half of a [`", stringify!($stream), "`], from [`", stringify!($stream), "::split`].")]
        /// `shutdown` on it shuts down the write side of the stream.
        #[derive(Debug)]
        pub struct WriteHalf<'a>(&'a $stream);

        pub(crate) fn split(stream: &mut $stream) -> (ReadHalf<'_>, WriteHalf<'_>) {
            (ReadHalf(stream), WriteHalf(stream))
        }

        #[doc = concat!("The reading half of a [`", stringify!($stream), "`], from [`", stringify!($stream), "::into_split`].")]
        #[derive(Debug)]
        pub struct OwnedReadHalf {
            stream: Rc<$stream>,
        }

        #[doc = concat!("The writing half of a [`", stringify!($stream), "`], from [`", stringify!($stream), "::into_split`].")]
        ///
        /// Dropping it shuts down the write side of the connection (the peer reads
        /// `Ok(0)`), unless it is [reunited](OwnedReadHalf::reunite) first.
        #[derive(Debug)]
        pub struct OwnedWriteHalf {
            stream: Rc<$stream>,
            /// Whether to `shutdown(Write)` on drop; off once reunited.
            shutdown_on_drop: bool,
        }

        pub(crate) fn into_split(stream: $stream) -> (OwnedReadHalf, OwnedWriteHalf) {
            let stream = Rc::new(stream);
            (OwnedReadHalf { stream: stream.clone() }, OwnedWriteHalf { stream, shutdown_on_drop: true })
        }

        impl OwnedReadHalf {
            /// Puts the two halves of one stream back together.
            ///
            /// # Errors
            ///
            /// Gives both halves back if they come from different streams.
            pub fn reunite(self, mut other: OwnedWriteHalf) -> Result<$stream, ReuniteError> {
                if !Rc::ptr_eq(&self.stream, &other.stream) {
                    return Err(ReuniteError(self, other));
                }
                other.shutdown_on_drop = false;
                let stream = other.stream.clone();
                drop(other);
                drop(self);
                Ok(Rc::into_inner(stream).expect("both halves were dropped"))
            }

            /// The remote address.
            ///
            /// # Errors
            ///
            #[doc = concat!("As [`", stringify!($stream), "::peer_addr`].")]
            pub fn peer_addr(&self) -> io::Result<$addr> {
                self.stream.peer_addr()
            }

            /// The local address.
            ///
            /// # Errors
            ///
            #[doc = concat!("As [`", stringify!($stream), "::local_addr`].")]
            pub fn local_addr(&self) -> io::Result<$addr> {
                self.stream.local_addr()
            }
        }

        impl OwnedWriteHalf {
            /// The remote address.
            ///
            /// # Errors
            ///
            #[doc = concat!("As [`", stringify!($stream), "::peer_addr`].")]
            pub fn peer_addr(&self) -> io::Result<$addr> {
                self.stream.peer_addr()
            }

            /// The local address.
            ///
            /// # Errors
            ///
            #[doc = concat!("As [`", stringify!($stream), "::local_addr`].")]
            pub fn local_addr(&self) -> io::Result<$addr> {
                self.stream.local_addr()
            }
        }

        impl Drop for OwnedWriteHalf {
            fn drop(&mut self) {
                if self.shutdown_on_drop {
                    // The peer may be gone already (NotConnected): nothing to do then.
                    let _ = self.stream.shutdown(Shutdown::Write);
                }
            }
        }

        /// The halves given to [`OwnedReadHalf::reunite`] came from different streams.
        #[derive(Debug)]
        pub struct ReuniteError(pub OwnedReadHalf, pub OwnedWriteHalf);

        impl fmt::Display for ReuniteError {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!("tried to reunite halves of different ", $what, " streams"))
            }
        }

        impl Error for ReuniteError {}

        impl ReadHalf<'_> {
            fn stream(&self) -> &$stream {
                self.0
            }
        }

        impl WriteHalf<'_> {
            fn stream(&self) -> &$stream {
                self.0
            }
        }

        impl OwnedReadHalf {
            fn stream(&self) -> &$stream {
                &self.stream
            }
        }

        impl OwnedWriteHalf {
            fn stream(&self) -> &$stream {
                &self.stream
            }
        }

        // Every half forwards to the stream; shutting down a write half
        // shuts down the stream's write side.
        $crate::__read_half!(ReadHalf<'_>);
        $crate::__read_half!(OwnedReadHalf);
        $crate::__write_half!(WriteHalf<'_>);
        $crate::__write_half!(OwnedWriteHalf);

        impl AsRef<$stream> for ReadHalf<'_> {
            fn as_ref(&self) -> &$stream {
                self.0
            }
        }

        impl AsRef<$stream> for WriteHalf<'_> {
            fn as_ref(&self) -> &$stream {
                self.0
            }
        }

        impl AsRef<$stream> for OwnedReadHalf {
            fn as_ref(&self) -> &$stream {
                &self.stream
            }
        }

        impl AsRef<$stream> for OwnedWriteHalf {
            fn as_ref(&self) -> &$stream {
                &self.stream
            }
        }
    };
}
