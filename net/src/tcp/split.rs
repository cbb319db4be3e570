//! The halves of a [`TcpStream`]: see `src/split.rs`, where the code shared
//! with Unix streams lives.

use std::net::SocketAddr;

use super::TcpStream;

crate::__stream_halves!(TcpStream, SocketAddr, "TCP");
