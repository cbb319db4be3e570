//! The halves of a simulated [`TcpStream`]: the same code as TCP's and
//! Unix's, written once in corio-net (`net/src/split.rs`).

use std::net::SocketAddr;

use super::TcpStream;

corio_net::__stream_halves!(TcpStream, SocketAddr, "simulated TCP");
