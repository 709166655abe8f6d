//! ICMPv4 error messages about our own TCP segments (RFC 792, RFC 1122
//! §3.2.2 and §4.2.3.9, RFC 1191 §4, RFC 5927).
//!
//! An ICMP error quotes the IPv4 header of the datagram that caused it and
//! at least the first 8 octets of that datagram's payload (RFC 792), which
//! for TCP are the ports and the sequence number: enough to find the
//! connection concerned and to check that the error is about a segment it
//! has in flight (RFC 5927 §4.1). [`parse_icmp`] slices the outer IPv4
//! header, the ICMP header and the quoted IPv4 header with etherparse and
//! checks both the outer IPv4 and the ICMP checksums (RFC 1071). Nothing
//! here panics, whatever the input bytes.

use super::checksum::Checksum;
use crate::seq::SeqNum;
use core::net::{Ipv4Addr, SocketAddrV4};
use etherparse::icmpv4::DestUnreachableHeader;
use etherparse::{Icmpv4Slice, Icmpv4Type, IpNumber, Ipv4HeaderSlice};

/// ICMP type of Source Quench (RFC 792; deprecated by RFC 6633).
const TYPE_SOURCE_QUENCH: u8 = 4;

/// What an ICMP error message reports, by type and code (RFC 792,
/// RFC 1122 §3.2.2.1, RFC 1812 §5.2.7.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IcmpError {
    /// Destination Unreachable, code 0 (net), 6 (net unknown) or 11 (net for TOS).
    NetUnreachable,
    /// Destination Unreachable, code 1 (host), 7 (host unknown), 8
    /// (source host isolated) or 12 (host for TOS).
    HostUnreachable,
    /// Destination Unreachable, code 2: the peer has no such protocol.
    ProtocolUnreachable,
    /// Destination Unreachable, code 3: nothing listens on the port (what
    /// `iptables -j REJECT` sends by default).
    PortUnreachable,
    /// Destination Unreachable, code 4: a router had to fragment a
    /// datagram carrying DF (RFC 1191 §4). `next_hop_mtu` is 0 from
    /// routers older than RFC 1191.
    FragmentationNeeded {
        /// The MTU of the link the datagram could not cross, or 0.
        next_hop_mtu: u16,
    },
    /// Destination Unreachable, code 5.
    SourceRouteFailed,
    /// Destination Unreachable, code 9, 10 or 13 (communication
    /// administratively prohibited), 14 or 15 (precedence).
    AdminProhibited,
    /// Source Quench (type 4, RFC 792), deprecated (RFC 6633).
    SourceQuench,
    /// Time Exceeded (type 11): TTL or reassembly time.
    TimeExceeded,
    /// Parameter Problem (type 12).
    ParameterProblem,
}

impl IcmpError {
    /// A hard error in the sense of RFC 1122 §4.2.3.9 and RFC 5461 §2:
    /// protocol or port unreachable, which only the destination host sends.
    pub fn is_hard(self) -> bool {
        matches!(self, IcmpError::ProtocolUnreachable | IcmpError::PortUnreachable)
    }
}

impl core::fmt::Display for IcmpError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            IcmpError::NetUnreachable => f.write_str("network unreachable"),
            IcmpError::HostUnreachable => f.write_str("host unreachable"),
            IcmpError::ProtocolUnreachable => f.write_str("protocol unreachable"),
            IcmpError::PortUnreachable => f.write_str("port unreachable"),
            IcmpError::FragmentationNeeded { next_hop_mtu } => {
                write!(f, "fragmentation needed (next-hop MTU {next_hop_mtu})")
            }
            IcmpError::SourceRouteFailed => f.write_str("source route failed"),
            IcmpError::AdminProhibited => f.write_str("administratively prohibited"),
            IcmpError::SourceQuench => f.write_str("source quench"),
            IcmpError::TimeExceeded => f.write_str("time exceeded"),
            IcmpError::ParameterProblem => f.write_str("parameter problem"),
        }
    }
}

/// The TCP segment an ICMP error quotes: its addresses, ports and
/// sequence number (the first 8 octets of the TCP header), and the
/// quoted datagram's IPv4 total length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuotedSegment {
    /// The quoted datagram's source: our address and port for a segment we sent.
    pub src: SocketAddrV4,
    /// The quoted datagram's destination: the peer.
    pub dst: SocketAddrV4,
    /// The quoted segment's SEG.SEQ.
    pub seq: SeqNum,
    /// The quoted IPv4 total length: the size of the datagram that was
    /// dropped (RFC 1191 §5 uses it when the next-hop MTU is unknown).
    pub ip_total_len: u16,
}

/// A parsed ICMPv4 error message about a TCP segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcmpMessage {
    /// Who sent the ICMP message (a router or the peer).
    pub from: Ipv4Addr,
    /// To whom (us).
    pub to: Ipv4Addr,
    /// What it reports.
    pub error: IcmpError,
    /// The segment it is about.
    pub quoted: QuotedSegment,
}

/// Why [`parse_icmp`] did not return a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IcmpParseError {
    /// Not an IPv4 packet carrying ICMP (protocol 1).
    NotIcmp,
    /// A well-formed ICMP message that is not an error message TCP acts
    /// on (echo, redirect, timestamp, unknown types and codes, …), or an
    /// error about a datagram other than TCP.
    NotTcpError,
    /// Malformed: truncated, a bad header length, a fragment, a bad IPv4
    /// or ICMP checksum, or a quoted datagram too short to hold the IPv4
    /// header and 8 octets of TCP header.
    Malformed,
}

/// Parses an IPv4 packet carrying an ICMP error message that quotes a TCP
/// segment. Checks the outer IPv4 header (RFC 791 §3.1: version, lengths,
/// not a fragment, header checksum), the ICMP checksum over the whole
/// message (RFC 792), and that the quoted datagram holds an IPv4 header of
/// protocol 6 followed by at least 8 octets. The quoted IPv4 checksum is
/// not checked: routers may quote a header they have already altered
/// (RFC 1812 §4.3.2.3), and the sequence-number check of RFC 5927 §4.1 is
/// what guards the connection.
pub fn parse_icmp(packet: &[u8]) -> Result<IcmpMessage, IcmpParseError> {
    let ip = Ipv4HeaderSlice::from_slice(packet).map_err(|_| IcmpParseError::Malformed)?;
    if ip.protocol() != IpNumber::ICMP {
        return Err(IcmpParseError::NotIcmp);
    }
    let header_len = ip.slice().len();
    let total_len = usize::from(ip.total_len());
    if total_len < header_len || ip.is_fragmenting_payload() {
        return Err(IcmpParseError::Malformed);
    }
    let body = packet.get(header_len..total_len).ok_or(IcmpParseError::Malformed)?;
    if Checksum::new().add_slice(ip.slice()).ones_complement() != 0
        || Checksum::new().add_slice(body).ones_complement() != 0
    {
        return Err(IcmpParseError::Malformed);
    }
    let icmp = Icmpv4Slice::from_slice(body).map_err(|_| IcmpParseError::Malformed)?;
    let error = match icmp.icmp_type() {
        Icmpv4Type::DestinationUnreachable(d) => {
            use DestUnreachableHeader as D;
            match d {
                D::Network | D::NetworkUnknown | D::TosNetwork => IcmpError::NetUnreachable,
                D::Host | D::HostUnknown | D::Isolated | D::TosHost => IcmpError::HostUnreachable,
                D::Protocol => IcmpError::ProtocolUnreachable,
                D::Port => IcmpError::PortUnreachable,
                D::FragmentationNeeded { next_hop_mtu } => IcmpError::FragmentationNeeded { next_hop_mtu },
                D::SourceRouteFailed => IcmpError::SourceRouteFailed,
                D::NetworkProhibited
                | D::HostProhibited
                | D::FilterProhibited
                | D::HostPrecedenceViolation
                | D::PrecedenceCutoff => IcmpError::AdminProhibited,
            }
        }
        Icmpv4Type::TimeExceeded(_) => IcmpError::TimeExceeded,
        Icmpv4Type::ParameterProblem(_) => IcmpError::ParameterProblem,
        Icmpv4Type::Unknown { type_u8: TYPE_SOURCE_QUENCH, .. } => IcmpError::SourceQuench,
        _ => return Err(IcmpParseError::NotTcpError),
    };
    let quoted = icmp.payload();
    let inner = Ipv4HeaderSlice::from_slice(quoted).map_err(|_| IcmpParseError::Malformed)?;
    if inner.protocol() != IpNumber::TCP {
        return Err(IcmpParseError::NotTcpError);
    }
    // A non-first fragment carries no TCP header to quote: its first 8
    // octets are payload, not ports and a sequence number.
    if inner.fragments_offset().value() != 0 {
        return Err(IcmpParseError::Malformed);
    }
    let tcp = quoted.get(inner.slice().len()..inner.slice().len() + 8).ok_or(IcmpParseError::Malformed)?;
    let be16 = |at: usize| u16::from_be_bytes([tcp[at], tcp[at + 1]]);
    let seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
    Ok(IcmpMessage {
        from: ip.source_addr(),
        to: ip.destination_addr(),
        error,
        quoted: QuotedSegment {
            src: SocketAddrV4::new(inner.source_addr(), be16(0)),
            dst: SocketAddrV4::new(inner.destination_addr(), be16(2)),
            seq: SeqNum(seq),
            ip_total_len: inner.total_len(),
        },
    })
}

/// Builds an ICMP error message from `from` to the source of `datagram`
/// (an IPv4 packet), quoting its IPv4 header and the first 8 octets of its
/// payload, as a router or host does (RFC 792, RFC 1812 §4.3.2.3 allows
/// quoting more; this quotes the minimum). For tests, simulators and
/// fuzzers; returns the packet's length in `buf`, or `None` if `datagram`
/// is not IPv4 or `buf` is too small.
///
/// `kind` gives the ICMP type, code and the second header word (for
/// Fragmentation Needed, the next-hop MTU in its low 16 bits).
pub fn emit_icmp_error(from: Ipv4Addr, kind: IcmpError, datagram: &[u8], buf: &mut [u8]) -> Option<usize> {
    let inner = Ipv4HeaderSlice::from_slice(datagram).ok()?;
    let quote_len = (inner.slice().len() + 8).min(datagram.len());
    let (icmp_type, code, rest) = match kind {
        IcmpError::NetUnreachable => (3, 0, 0),
        IcmpError::HostUnreachable => (3, 1, 0),
        IcmpError::ProtocolUnreachable => (3, 2, 0),
        IcmpError::PortUnreachable => (3, 3, 0),
        IcmpError::FragmentationNeeded { next_hop_mtu } => (3, 4, u32::from(next_hop_mtu)),
        IcmpError::SourceRouteFailed => (3, 5, 0),
        IcmpError::AdminProhibited => (3, 13, 0),
        IcmpError::SourceQuench => (TYPE_SOURCE_QUENCH, 0, 0),
        IcmpError::TimeExceeded => (11, 0, 0),
        IcmpError::ParameterProblem => (12, 0, 0),
    };
    let icmp_len = 8 + quote_len;
    let total = super::IPV4_HEADER_LEN + icmp_len;
    let out = buf.get_mut(..total)?;
    let dst = inner.source_addr();
    let ip = [0x45, 0, (total >> 8) as u8, total as u8, 0, 0, 0, 0, 64, IpNumber::ICMP.0, 0, 0];
    out[..12].copy_from_slice(&ip);
    out[12..16].copy_from_slice(&from.octets());
    out[16..20].copy_from_slice(&dst.octets());
    let ip_sum = Checksum::new().add_slice(&out[..20]).ones_complement();
    out[10..12].copy_from_slice(&ip_sum.to_ne_bytes());
    let icmp = &mut out[20..];
    icmp[0] = icmp_type;
    icmp[1] = code;
    icmp[2] = 0;
    icmp[3] = 0;
    icmp[4..8].copy_from_slice(&rest.to_be_bytes());
    icmp[8..].copy_from_slice(&datagram[..quote_len]);
    let sum = Checksum::new().add_slice(icmp).ones_complement();
    icmp[2..4].copy_from_slice(&sum.to_ne_bytes());
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Flags, SegmentHeader, TcpOptions, emit};

    const US: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const PEER: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 2);
    const ROUTER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 254);

    fn segment() -> Vec<u8> {
        let header = SegmentHeader {
            src_port: 40000,
            dst_port: 80,
            seq: SeqNum(0xdead_beef),
            ack: SeqNum(1),
            flags: Flags::ACK,
            window: 1000,
            urgent: 0,
            options: TcpOptions::default(),
        };
        let mut buf = vec![0u8; 2000];
        let n = emit(US, PEER, &header, &[&[7u8; 1200]], &mut buf).unwrap();
        buf.truncate(n);
        buf
    }

    #[test]
    fn round_trip_of_every_kind() {
        let seg = segment();
        for kind in [
            IcmpError::NetUnreachable,
            IcmpError::HostUnreachable,
            IcmpError::ProtocolUnreachable,
            IcmpError::PortUnreachable,
            IcmpError::FragmentationNeeded { next_hop_mtu: 1400 },
            IcmpError::FragmentationNeeded { next_hop_mtu: 0 },
            IcmpError::SourceRouteFailed,
            IcmpError::AdminProhibited,
            IcmpError::SourceQuench,
            IcmpError::TimeExceeded,
            IcmpError::ParameterProblem,
        ] {
            let mut buf = [0u8; 128];
            let n = emit_icmp_error(ROUTER, kind, &seg, &mut buf).unwrap();
            let m = parse_icmp(&buf[..n]).unwrap();
            assert_eq!(m.error, kind);
            assert_eq!((m.from, m.to), (ROUTER, US));
            assert_eq!(m.quoted.src, SocketAddrV4::new(US, 40000));
            assert_eq!(m.quoted.dst, SocketAddrV4::new(PEER, 80));
            assert_eq!(m.quoted.seq, SeqNum(0xdead_beef));
            assert_eq!(usize::from(m.quoted.ip_total_len), seg.len());
        }
    }

    #[test]
    fn every_truncation_and_bit_flip_is_rejected_without_panic() {
        let mut buf = [0u8; 128];
        let n = emit_icmp_error(ROUTER, IcmpError::PortUnreachable, &segment(), &mut buf).unwrap();
        let good = buf[..n].to_vec();
        for len in 0..good.len() {
            assert!(parse_icmp(&good[..len]).is_err(), "truncated to {len}");
        }
        for bit in 0..good.len() * 8 {
            let mut bad = good.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            // A flip in the quoted datagram is caught by the ICMP checksum,
            // one in the outer header by the IPv4 checksum (or is no longer
            // ICMP over IPv4).
            assert!(parse_icmp(&bad).is_err(), "bit {bit} accepted");
        }
    }

    #[test]
    fn non_errors_and_non_tcp_quotes_are_not_errors_for_tcp() {
        let mut buf = [0u8; 128];
        let n = emit_icmp_error(ROUTER, IcmpError::PortUnreachable, &segment(), &mut buf).unwrap();
        // Echo request (type 8): rewrite type and checksum.
        let mut echo = buf[..n].to_vec();
        echo[20] = 8;
        echo[21] = 0;
        echo[22..24].copy_from_slice(&[0, 0]);
        let sum = Checksum::new().add_slice(&echo[20..]).ones_complement();
        echo[22..24].copy_from_slice(&sum.to_ne_bytes());
        assert_eq!(parse_icmp(&echo), Err(IcmpParseError::NotTcpError));
        // A TCP segment is not ICMP.
        assert_eq!(parse_icmp(&segment()), Err(IcmpParseError::NotIcmp));
        // A quoted UDP datagram.
        let mut udp = buf[..n].to_vec();
        udp[28 + 9] = 17;
        udp[22..24].copy_from_slice(&[0, 0]);
        let sum = Checksum::new().add_slice(&udp[20..]).ones_complement();
        udp[22..24].copy_from_slice(&sum.to_ne_bytes());
        assert_eq!(parse_icmp(&udp), Err(IcmpParseError::NotTcpError));
    }
}
