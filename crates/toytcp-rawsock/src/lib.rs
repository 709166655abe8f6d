//! ToyTCP on a real network: a Linux raw-socket driver for
//! [`toytcp_core`] with a blocking, `std::net`-like API.
//!
//! A [`Stack`] is one ToyTCP host in the network namespace it was created
//! in: a raw `AF_INET`/`IPPROTO_TCP` socket and one I/O thread that owns
//! the core's [`Endpoint`](toytcp_core::Endpoint). The thread waits in
//! `poll(2)` on the socket and a wake-up eventfd until the core's
//! `poll_timeout` deadline, feeds packets and timeouts in, and drains the
//! outputs in the core's order (`poll_transmit` until `None`, then
//! `poll_timeout`, then `poll_event`), sending every packet with
//! `IP_HDRINCL` since the core writes whole IPv4 packets.
//!
//! Application threads use [`TcpListener`] and [`TcpStream`]: each call
//! locks the endpoint, makes the core call, and pokes the I/O thread to
//! send what the call produced; a call that has to wait sleeps on its
//! connection's condition variable, which the I/O thread signals on the
//! connection's events (connected, readable, writable, peer finished,
//! closed). Nothing polls in a loop or sleeps for a fixed time.
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use std::net::Shutdown;
//! use toytcp_rawsock::{Config, Stack};
//!
//! // Inside a network namespace, as root (e.g. `ip netns exec host1 …`).
//! let stack = Stack::new(Config::default())?;
//! let mut s = stack.connect("10.0.1.1:40000".parse()?)?;
//! s.write_all(b"hello\nhoge\n")?;
//! s.shutdown(Shutdown::Write)?; // FIN; reads go on
//! let mut reply = Vec::new();
//! s.read_to_end(&mut reply)?; // until the peer's FIN
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Raw sockets need root (CAP_NET_RAW), and the kernel of the same
//! namespace sees the same segments: it answers ports it does not know with
//! RST. Run the stack in a network namespace whose firewall drops the
//! kernel's RSTs but not ToyTCP's, e.g. by marking the driver's socket
//! ([`Config::so_mark`]) and dropping unmarked RSTs:
//!
//! ```text
//! iptables -A OUTPUT -p tcp --tcp-flags RST RST -m mark ! --mark 0x7474 -j DROP
//! ```
//!
//! (or `-m owner ! --uid-owner 0`: the kernel's RSTs have no owning socket)
//! and turn checksum offload off on veth interfaces (`ethtool -K IF tx off`),
//! or the kernel hands over packets whose checksums are not yet filled in,
//! which the core rightly drops.
//!
//! The reverse holds too: a stack sees every TCP segment of its namespace
//! and answers the ones it does not know with RST (RFC 9293 §3.10.7.1), the
//! kernel's own connections' included. Give ToyTCP a namespace of its own.
#![warn(missing_docs)]

mod route;
mod stack;
mod stream;
mod sys;

pub use stack::Stack;
pub use stream::{TcpListener, TcpStream};
pub use toytcp_core;

use std::io;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::SystemTime;
use toytcp_core::{CloseReason, EndpointConfig, Event, FourTuple, State, Stats};

/// What the driver tells an observer (CLI tracing, pcap writers).
///
/// Methods are called on the stack's I/O thread while it holds the
/// endpoint's lock, so they must be cheap and must not call back into the
/// stack. Every method has an empty default.
pub trait Observer: Send + Sync + 'static {
    /// Every IPv4 packet sent, and every packet received for one of this
    /// namespace's addresses, whether the core could parse it or not.
    fn packet(&self, dir: Direction, at: SystemTime, packet: &[u8]) {
        let _ = (dir, at, packet);
    }

    /// A connection changed state (RFC 9293 §3.3.2). A connection opened by
    /// a listener starts `LISTEN -> SYN-RECEIVED`, an active open
    /// `CLOSED -> SYN-SENT`.
    fn state(&self, tuple: FourTuple, from: State, to: State) {
        let _ = (tuple, from, to);
    }

    /// An event the core reported for a connection.
    fn event(&self, tuple: FourTuple, event: &Event) {
        let _ = (tuple, event);
    }

    /// A connection's counters ([`Connection::stats`]) and the name of its
    /// congestion controller ([`Connection::congestion_control`]), reported
    /// right after each [`Observer::state`] call while the connection still
    /// exists in the endpoint: so the last report of a gracefully closed
    /// connection comes with TIME-WAIT (active close) or LAST-ACK (passive
    /// close), when every byte has been sent and acknowledged or is in flight.
    ///
    /// [`Connection::stats`]: toytcp_core::Connection::stats
    /// [`Connection::congestion_control`]: toytcp_core::Connection::congestion_control
    fn stats(&self, tuple: FourTuple, state: State, congestion_control: &'static str, stats: &Stats) {
        let _ = (tuple, state, congestion_control, stats);
    }
}

/// Which way a packet went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Received from the network.
    In,
    /// Sent to the network.
    Out,
}

/// A stack's settings.
#[derive(Clone)]
pub struct Config {
    /// The core endpoint's settings (seed, MSS, buffers, timers, ports).
    pub endpoint: EndpointConfig,
    /// Told about every packet, state change and event, if set.
    pub observer: Option<Arc<dyn Observer>>,
    /// `SO_MARK` for the raw socket, so that a firewall rule can tell the
    /// driver's packets (its RSTs in particular) from the kernel's.
    pub so_mark: Option<u32>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("endpoint", &self.endpoint)
            .field("observer", &self.observer.as_ref().map(|_| "…"))
            .field("so_mark", &self.so_mark)
            .finish()
    }
}

impl Default for Config {
    /// The core's defaults, seeded from the OS random source (the driver
    /// may draw OS randomness; the core never does). Ephemeral ports are
    /// taken above the kernel's own range of this namespace
    /// (`net.ipv4.ip_local_port_range`, normally 32768–60999) when there is
    /// room, so ToyTCP and the kernel never pick the same 4-tuple.
    fn default() -> Self {
        let mut endpoint = EndpointConfig { seed: sys::os_seed(), ..EndpointConfig::default() };
        if let Some((_, kernel_hi)) = sys::kernel_port_range()
            && kernel_hi < 65535 - 1024
        {
            endpoint.ephemeral_port_min = endpoint.ephemeral_port_min.max(kernel_hi + 1);
        }
        Config { endpoint, observer: None, so_mark: None }
    }
}

/// The source address the kernel's routing table picks toward `dst` in the
/// calling thread's network namespace (like `ip route get DST`), asked over
/// rtnetlink; no shell is run.
///
/// Errors: `NetworkUnreachable`/`HostUnreachable` (or another kind from the
/// kernel's answer) when there is no route.
pub fn source_addr_for(dst: Ipv4Addr) -> io::Result<Ipv4Addr> {
    route::Netlink::open()?.source_for(dst)
}

/// The one place where core errors become `io::Error`s.
pub(crate) fn core_error(e: toytcp_core::Error) -> io::Error {
    use io::ErrorKind as K;
    use toytcp_core::Error as E;
    let kind = match e {
        E::WouldBlock => K::WouldBlock,
        E::WriteClosed => K::BrokenPipe,
        E::NotConnected | E::InvalidHandle => K::NotConnected,
        E::Closed(reason) => return closed_error(reason),
        E::AddrInUse => K::AddrInUse,
        E::NoEphemeralPorts => K::AddrNotAvailable,
        E::InvalidAddress => K::InvalidInput,
    };
    io::Error::new(kind, e)
}

/// The error for an operation on a connection that ended for `reason`.
pub(crate) fn closed_error(reason: CloseReason) -> io::Error {
    use io::ErrorKind as K;
    let kind = match reason {
        CloseReason::Graceful => K::NotConnected,
        CloseReason::Reset => K::ConnectionReset,
        CloseReason::Refused => K::ConnectionRefused,
        CloseReason::TimedOut => K::TimedOut,
        CloseReason::Aborted => K::ConnectionAborted,
        CloseReason::Unreachable => K::HostUnreachable,
    };
    io::Error::new(kind, toytcp_core::Error::Closed(reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_errors_map_to_io_kinds() {
        use io::ErrorKind as K;
        use toytcp_core::Error as E;
        let cases = [
            (E::Closed(CloseReason::Refused), K::ConnectionRefused),
            (E::Closed(CloseReason::TimedOut), K::TimedOut),
            (E::Closed(CloseReason::Reset), K::ConnectionReset),
            (E::Closed(CloseReason::Aborted), K::ConnectionAborted),
            (E::Closed(CloseReason::Unreachable), K::HostUnreachable),
            (E::NotConnected, K::NotConnected),
            (E::AddrInUse, K::AddrInUse),
            (E::InvalidAddress, K::InvalidInput),
            (E::WriteClosed, K::BrokenPipe),
            (E::WouldBlock, K::WouldBlock),
        ];
        for (e, kind) in cases {
            assert_eq!(core_error(e).kind(), kind, "{e:?}");
        }
    }

    #[test]
    fn default_config_is_seeded_and_avoids_kernel_ports() {
        let (a, b) = (Config::default(), Config::default());
        assert_ne!(a.endpoint.seed, b.endpoint.seed, "two OS seeds in a row should differ");
        assert!(a.endpoint.ephemeral_port_min <= a.endpoint.ephemeral_port_max);
        if let Some((_, hi)) = sys::kernel_port_range()
            && hi < 65535 - 1024
        {
            assert!(a.endpoint.ephemeral_port_min > hi);
        }
    }
}
