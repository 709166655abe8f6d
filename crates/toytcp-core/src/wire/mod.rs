//! IPv4 + TCP wire format: parse a packet into a borrowed [`Segment`], emit a
//! [`SegmentHeader`] plus payload into a caller-owned buffer; parse the
//! ICMPv4 error messages that quote our segments ([`parse_icmp`]).
//!
//! etherparse slices the fixed headers on input; checksums (RFC 1071) are
//! summed in `checksum`; TCP options (RFC 9293
//! §3.1, RFC 7323, RFC 2018) are decoded here so that unknown options are
//! skipped by their length and malformed ones are a typed error. Nothing in
//! this module panics, whatever the input bytes.

mod checksum;
mod emit;
mod icmp;
mod options;
mod parse;

pub(crate) use checksum::Checksum;
pub use emit::{EmitError, emit, segment_overhead};
pub use icmp::{IcmpError, IcmpMessage, IcmpParseError, QuotedSegment, emit_icmp_error, parse_icmp};
pub use options::{MAX_SACK_BLOCKS, SackBlock, TcpOptions, Timestamps};
pub use parse::{ParseError, parse};
pub(crate) use parse::{PendingChecksum, parse_unverified};

use crate::seq::SeqNum;
use core::net::Ipv4Addr;

/// Length of the IPv4 header ToyTCP emits (no IP options).
pub const IPV4_HEADER_LEN: usize = 20;
/// Length of a TCP header without options.
pub const TCP_HEADER_LEN: usize = 20;
/// Longest TCP options area (data offset 15 × 4 − 20).
pub const MAX_OPTIONS_LEN: usize = 40;

/// TCP control bits (RFC 9293 §3.1, RFC 3168 for ECE/CWR).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Flags(pub u8);

impl Flags {
    /// No more data from sender.
    pub const FIN: Flags = Flags(0x01);
    /// Synchronize sequence numbers.
    pub const SYN: Flags = Flags(0x02);
    /// Reset the connection.
    pub const RST: Flags = Flags(0x04);
    /// Push function.
    pub const PSH: Flags = Flags(0x08);
    /// Acknowledgment field is significant.
    pub const ACK: Flags = Flags(0x10);
    /// Urgent pointer field is significant.
    pub const URG: Flags = Flags(0x20);
    /// ECN-Echo (RFC 3168).
    pub const ECE: Flags = Flags(0x40);
    /// Congestion Window Reduced (RFC 3168).
    pub const CWR: Flags = Flags(0x80);
    /// No bits set.
    pub const NONE: Flags = Flags(0);

    /// True if every bit of `other` is set in `self`.
    pub fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// `self` with the bits of `other` set (`on`) or cleared.
    pub fn with(self, other: Flags, on: bool) -> Flags {
        if on { Flags(self.0 | other.0) } else { Flags(self.0 & !other.0) }
    }

    /// Shorthand accessors.
    pub fn syn(self) -> bool {
        self.contains(Flags::SYN)
    }
    /// True if ACK is set.
    pub fn ack(self) -> bool {
        self.contains(Flags::ACK)
    }
    /// True if FIN is set.
    pub fn fin(self) -> bool {
        self.contains(Flags::FIN)
    }
    /// True if RST is set.
    pub fn rst(self) -> bool {
        self.contains(Flags::RST)
    }
    /// True if PSH is set.
    pub fn psh(self) -> bool {
        self.contains(Flags::PSH)
    }

    /// tcpdump's compact form: `S`, `S.`, `.`, `F.`, `R`, `P.` … (`.` is ACK).
    pub fn tcpdump(self) -> String {
        let mut s = String::new();
        for (f, c) in [
            (Flags::SYN, 'S'),
            (Flags::FIN, 'F'),
            (Flags::RST, 'R'),
            (Flags::PSH, 'P'),
            (Flags::URG, 'U'),
            (Flags::ECE, 'E'),
            (Flags::CWR, 'W'),
            (Flags::ACK, '.'),
        ] {
            if self.contains(f) {
                s.push(c);
            }
        }
        if s.is_empty() {
            s.push_str("none");
        }
        s
    }
}

impl core::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

impl core::fmt::Debug for Flags {
    /// Space-separated names in header order, e.g. `SYN ACK`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(self, f)
    }
}

impl core::fmt::Display for Flags {
    /// Space-separated names, e.g. `SYN ACK`, `ACK PSH`, `FIN ACK`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut first = true;
        for (flag, name) in [
            (Flags::SYN, "SYN"),
            (Flags::FIN, "FIN"),
            (Flags::RST, "RST"),
            (Flags::ACK, "ACK"),
            (Flags::PSH, "PSH"),
            (Flags::URG, "URG"),
            (Flags::ECE, "ECE"),
            (Flags::CWR, "CWR"),
        ] {
            if self.contains(flag) {
                if !first {
                    f.write_str(" ")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}

/// The TCP header fields ToyTCP reads and writes (everything but the
/// checksum and data offset, which are derived).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// SEG.SEQ.
    pub seq: SeqNum,
    /// SEG.ACK (meaningful only with the ACK flag).
    pub ack: SeqNum,
    /// Control bits.
    pub flags: Flags,
    /// SEG.WND as carried on the wire (unscaled).
    pub window: u16,
    /// SEG.UP.
    pub urgent: u16,
    /// Decoded options.
    pub options: TcpOptions,
}

/// A parsed IPv4/TCP segment borrowing its payload from the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment<'a> {
    /// IPv4 source address.
    pub src_addr: Ipv4Addr,
    /// IPv4 destination address.
    pub dst_addr: Ipv4Addr,
    /// The TCP header.
    pub header: SegmentHeader,
    /// The TCP payload.
    pub payload: &'a [u8],
}

impl Segment<'_> {
    /// SEG.LEN: payload octets plus one for SYN and one for FIN (RFC 9293 §3.4).
    pub fn seg_len(&self) -> u32 {
        self.payload.len() as u32 + u32::from(self.header.flags.syn()) + u32::from(self.header.flags.fin())
    }
}
