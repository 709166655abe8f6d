//! Local errors: what the application or driver did wrong, kept apart from
//! what the peer did (which is never an error, only stats and events).

use crate::connection::CloseReason;

/// An application call could not be carried out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Nothing to read yet, or no room in the send buffer; try after the
    /// next `Readable` / `Writable` event.
    WouldBlock,
    /// `send` after `shutdown`/`close` (RFC 9293 §3.10.2 "connection closing").
    WriteClosed,
    /// The call needs an established connection (e.g. `shutdown` in SYN-SENT after close).
    NotConnected,
    /// The connection is closed; the reason says how it ended.
    Closed(CloseReason),
    /// The connection handle names no connection of this endpoint.
    InvalidHandle,
    /// The local address/port is already in use by a listener or connection.
    AddrInUse,
    /// Every ephemeral port toward that remote is in use (RFC 6056).
    NoEphemeralPorts,
    /// An address that cannot be used (port 0 for a remote, unspecified remote address, …).
    InvalidAddress,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::WouldBlock => f.write_str("operation would block"),
            Error::WriteClosed => f.write_str("connection closing: the write side is shut down"),
            Error::NotConnected => f.write_str("connection not established"),
            Error::Closed(reason) => write!(f, "connection closed: {reason}"),
            Error::InvalidHandle => f.write_str("no such connection"),
            Error::AddrInUse => f.write_str("address already in use"),
            Error::NoEphemeralPorts => f.write_str("no ephemeral port available"),
            Error::InvalidAddress => f.write_str("invalid address"),
        }
    }
}

impl std::error::Error for Error {}
