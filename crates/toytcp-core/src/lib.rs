//! ToyTCP's sans-IO protocol core: a TCP/IPv4 stack that performs no I/O,
//! reads no clock, draws no OS randomness and spawns no thread.
//!
//! - [`wire`]: IPv4 + TCP parsing and emission.
//! - [`connection::Connection`]: one connection's RFC 9293 state machine.
//! - [`endpoint::Endpoint`]: many connections on one host.
//!
//! Drivers (a raw socket, the simulator, tests) feed packets and time in
//! and drain packets, deadlines and events out; see the crate README for
//! the drive loop.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod congestion;
pub mod connection;
pub mod endpoint;
pub mod error;
mod isn;
pub(crate) mod reassembly;
pub(crate) mod recovery;
pub(crate) mod rtt;
pub(crate) mod sendbuf;
pub mod seq;
pub mod time;
pub mod wire;

pub use connection::{
    CloseReason, Connection, ConnectionConfig, Event, FourTuple, IcmpOutcome, SoftError, State, Stats,
};
pub use endpoint::{ConnectionHandle, Endpoint, EndpointConfig, EndpointEvent, EndpointStats};
pub use error::Error;
pub use seq::SeqNum;
pub use time::{Duration, Instant};

use core::net::Ipv4Addr;

/// A packet written by `poll_transmit`: the first `len` bytes of the
/// caller's buffer, an IPv4 packet from `src` to `dst`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Source address (already in the packet).
    pub src: Ipv4Addr,
    /// Destination address (already in the packet).
    pub dst: Ipv4Addr,
    /// Bytes written.
    pub len: usize,
}

/// The workspace README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
