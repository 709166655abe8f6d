//! One-line, tcpdump-like summaries of IPv4/TCP packets.
//!
//! Both drivers print the same lines: the in-memory simulator (`sim`) and
//! the real-network mode. A line looks like
//!
//! ```text
//! 0.001000 host1 Out 10.0.0.1:49152 > 10.0.1.1:40000 SYN seq 123 win 65535 len 0 <mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 3>
//! ```
//!
//! that is: time, interface (host) and direction as `tcpdump -i any`
//! prints them, then addresses, control bits in words (`SYN ACK`, `ACK PSH`,
//! `FIN ACK`), absolute sequence number, acknowledgment number when ACK is
//! set, the window field as carried on the wire (unscaled), payload length
//! and the options in wire order (NOPs included).
//!
//! Nothing here prints: the functions build strings or `Display` values and
//! the caller decides where they go (normally a `tracing` event).

use core::fmt;
use toytcp_core::wire;
use toytcp_core::{Duration, Instant, State, Stats};

/// Whether a packet left or entered the host whose trace this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Received by the host.
    In,
    /// Sent by the host.
    Out,
}

impl fmt::Display for Direction {
    /// `In ` or `Out` (padded so that the columns line up).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::In => "In ",
            Direction::Out => "Out",
        })
    }
}

/// A full trace line: `TIME HOST DIR SUMMARY`.
pub fn packet_line(time: Instant, host: &str, dir: Direction, packet: &[u8]) -> String {
    format!("{time} {host} {dir} {}", summary(packet))
}

/// A connection's counters on one line, for the trace at state changes:
///
/// ```text
/// stats cc newreno segs out 12 in 9 bytes out 11 in 0 retrans 0 (timeouts 0, fast 0) srtt 0.412ms rttvar 0.206ms rto 1000.000ms cwnd 14480 ssthresh - mss 1448 snd_wnd 64256 rcv_wnd 262144
/// ```
///
/// `cc` is the congestion controller's name. Times are in milliseconds
/// with microsecond precision (an RTT across a veth is well under a
/// millisecond); `-` for an srtt not yet measured and an ssthresh that is
/// still "arbitrarily high" (RFC 5681 §3.1).
pub fn stats_line(cc: &str, s: &Stats) -> String {
    let srtt = s.srtt.map_or_else(|| "-".to_owned(), |d| Millis(d).to_string());
    let ssthresh = if s.ssthresh >= u32::MAX / 2 { "-".to_owned() } else { s.ssthresh.to_string() };
    format!(
        "stats cc {cc} segs out {} in {} bytes out {} in {} retrans {} (timeouts {}, fast {}) srtt {srtt} rttvar {} \
         rto {} cwnd {} ssthresh {ssthresh} mss {} snd_wnd {} rcv_wnd {}",
        s.segs_out,
        s.segs_in,
        s.bytes_out,
        s.bytes_in,
        s.retransmits,
        s.timeouts,
        s.fast_retransmits,
        Millis(s.rttvar),
        Millis(s.rto),
        s.cwnd,
        s.smss,
        s.snd_wnd,
        s.rcv_wnd,
    )
}

/// Whether the trace shows a connection's counters after it enters
/// `state`: on reaching ESTABLISHED (the handshake's RTT sample, the
/// negotiated MSS) and on the way out — TIME-WAIT, LAST-ACK, CLOSED — when
/// the transfer is over. Both drivers use it.
pub fn shows_stats(state: State) -> bool {
    matches!(state, State::Established | State::TimeWait | State::LastAck | State::Closed)
}

/// A duration as milliseconds with three decimals: `0.412ms`.
#[derive(Clone, Copy, Debug)]
pub struct Millis(pub Duration);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = self.0.as_micros();
        write!(f, "{}.{:03}ms", us / 1000, us % 1000)
    }
}

/// The address-and-header part of a trace line for a raw IPv4 packet; see
/// [`Summary`].
pub fn summary(packet: &[u8]) -> Summary<'_> {
    Summary { packet }
}

/// Lazily formatted summary of one IPv4 packet.
///
/// A packet that [`wire::parse`] rejects is shown as
/// `malformed packet (N bytes): REASON` instead of being decoded.
#[derive(Clone, Copy, Debug)]
pub struct Summary<'a> {
    packet: &'a [u8],
}

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seg = match wire::parse(self.packet) {
            Ok(seg) => seg,
            Err(e) => {
                // An ICMP error about one of our segments (RFC 792): who
                // sent it, what it says, and which segment it quotes.
                if let Ok(m) = wire::parse_icmp(self.packet) {
                    let q = &m.quoted;
                    return write!(
                        f,
                        "ICMP {} > {}: {} for {} > {} seq {}",
                        m.from, m.to, m.error, q.src, q.dst, q.seq.0
                    );
                }
                return write!(f, "malformed packet ({} bytes): {}", self.packet.len(), e.name());
            }
        };
        let h = &seg.header;
        write!(f, "{}:{} > {}:{} {} seq {}", seg.src_addr, h.src_port, seg.dst_addr, h.dst_port, h.flags, h.seq.0)?;
        if h.flags.ack() {
            write!(f, " ack {}", h.ack.0)?;
        }
        write!(f, " win {}", h.window)?;
        if h.flags.contains(wire::Flags::URG) {
            write!(f, " urg {}", h.urgent)?;
        }
        write!(f, " len {}", seg.payload.len())?;
        match raw_options(self.packet) {
            Some([]) | None => Ok(()),
            Some(raw) => write!(f, " <{}>", Options(raw)),
        }
    }
}

/// The TCP options area of an IPv4 packet (between the fixed 20-byte TCP
/// header and the data offset), if the headers are long enough to hold it.
fn raw_options(packet: &[u8]) -> Option<&[u8]> {
    let ihl = usize::from(packet.first()? & 0x0f) * 4;
    let tcp = packet.get(ihl..)?;
    let data_offset = usize::from(tcp.get(12)? >> 4) * 4;
    tcp.get(wire::TCP_HEADER_LEN..data_offset)
}

/// TCP options in wire order, tcpdump's words: `mss 1460`, `sackOK`,
/// `TS val V ecr E`, `nop`, `wscale 7`, `sack 1 {L:R}`, `eol`; unknown
/// kinds as `opt-KIND:HEX`. A malformed area ends with `[bad opt]`.
struct Options<'a>(&'a [u8]);

impl fmt::Display for Options<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        let mut first = true;
        while let Some((&kind, after_kind)) = rest.split_first() {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            match kind {
                0 => return f.write_str("eol"),
                1 => {
                    f.write_str("nop")?;
                    rest = after_kind;
                    continue;
                }
                _ => {}
            }
            let len = after_kind.first().map_or(0, |&l| usize::from(l));
            let Some((option, tail)) = rest.split_at_checked(len).filter(|_| len >= 2) else {
                return f.write_str("[bad opt]");
            };
            let body = option.get(2..).unwrap_or_default();
            match (kind, body.len()) {
                (2, 2) => write!(f, "mss {}", u16::from_be_bytes([body[0], body[1]]))?,
                (3, 1) => write!(f, "wscale {}", body[0])?,
                (4, 0) => f.write_str("sackOK")?,
                (5, n) if n > 0 && n % 8 == 0 => {
                    write!(f, "sack {}", n / 8)?;
                    for block in body.chunks_exact(8) {
                        write!(f, " {{{}:{}}}", be_u32(&block[..4]), be_u32(&block[4..]))?;
                    }
                }
                (8, 8) => write!(f, "TS val {} ecr {}", be_u32(&body[..4]), be_u32(&body[4..]))?,
                _ => {
                    write!(f, "opt-{kind}:")?;
                    for b in body {
                        write!(f, "{b:02x}")?;
                    }
                }
            }
            rest = tail;
        }
        Ok(())
    }
}

/// Big-endian `u32` of a 4-byte slice (0 for any other length).
fn be_u32(b: &[u8]) -> u32 {
    <[u8; 4]>::try_from(b).map_or(0, u32::from_be_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;
    use toytcp_core::SeqNum;
    use toytcp_core::wire::{Flags, SackBlock, SegmentHeader, TcpOptions, Timestamps};

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 1);

    fn packet(header: &SegmentHeader, payload: &[u8]) -> Vec<u8> {
        let mut buf = vec![0; 2000];
        let len = wire::emit(A, B, header, &[payload], &mut buf).expect("emit");
        buf.truncate(len);
        buf
    }

    fn header(flags: Flags) -> SegmentHeader {
        SegmentHeader {
            src_port: 49152,
            dst_port: 40000,
            seq: SeqNum(123),
            ack: SeqNum(0),
            flags,
            window: 65535,
            urgent: 0,
            options: TcpOptions::default(),
        }
    }

    #[test]
    fn syn_with_options_in_wire_order() {
        let mut h = header(Flags::SYN);
        h.options.mss = Some(1460);
        h.options.sack_permitted = true;
        h.options.timestamps = Some(Timestamps { tsval: 1, tsecr: 0 });
        h.options.window_scale = Some(3);
        let line = packet_line(Instant::from_millis(1), "host1", Direction::Out, &packet(&h, &[]));
        assert_eq!(
            line,
            "0.001000 host1 Out 10.0.0.1:49152 > 10.0.1.1:40000 SYN seq 123 win 65535 len 0 \
             <mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 3>"
        );
    }

    #[test]
    fn data_segment_shows_ack_and_length() {
        let mut h = header(Flags::ACK | Flags::PSH);
        h.ack = SeqNum(7);
        h.window = 502;
        assert_eq!(
            summary(&packet(&h, b"hello\n")).to_string(),
            "10.0.0.1:49152 > 10.0.1.1:40000 ACK PSH seq 123 ack 7 win 502 len 6"
        );
    }

    #[test]
    fn sack_blocks() {
        let mut h = header(Flags::ACK);
        h.options.push_sack(SackBlock { left: SeqNum(10), right: SeqNum(20) });
        assert_eq!(
            summary(&packet(&h, &[])).to_string(),
            "10.0.0.1:49152 > 10.0.1.1:40000 ACK seq 123 ack 0 win 65535 len 0 <nop,nop,sack 1 {10:20}>"
        );
    }

    #[test]
    fn stats_keep_microseconds() {
        let mut s = Stats { srtt: Some(Duration::from_micros(412)), ..Stats::default() };
        s.rttvar = Duration::from_micros(206);
        s.rto = Duration::from_secs(1);
        s.ssthresh = u32::MAX;
        s.cwnd = 14480;
        s.smss = 1448;
        let line = stats_line("newreno", &s);
        assert!(line.starts_with("stats cc newreno segs out 0 in 0 "), "{line}");
        assert!(line.contains(" srtt 0.412ms rttvar 0.206ms rto 1000.000ms cwnd 14480 ssthresh - mss 1448 "), "{line}");
        s.srtt = None;
        s.ssthresh = 28960;
        let line = stats_line("newreno", &s);
        assert!(line.contains(" srtt - ") && line.contains(" ssthresh 28960 "), "{line}");
        assert_eq!(Millis(Duration::from_micros(61_234_567)).to_string(), "61234.567ms");
    }

    #[test]
    fn icmp_errors_name_the_segment_they_quote() {
        let h = header(Flags::ACK);
        let quoted = packet(&h, &[0u8; 1400]);
        let mut buf = [0u8; 128];
        let router = std::net::Ipv4Addr::new(10, 0, 0, 254);
        let kind = wire::IcmpError::FragmentationNeeded { next_hop_mtu: 1400 };
        let n = wire::emit_icmp_error(router, kind, &quoted, &mut buf).expect("icmp");
        assert_eq!(
            summary(&buf[..n]).to_string(),
            "ICMP 10.0.0.254 > 10.0.0.1: fragmentation needed (next-hop MTU 1400) for 10.0.0.1:49152 > \
             10.0.1.1:40000 seq 123"
        );
    }

    #[test]
    fn malformed_packets_are_named_not_decoded() {
        assert_eq!(summary(&[0x45, 0]).to_string(), "malformed packet (2 bytes): truncated");
    }

    #[test]
    fn option_walker_survives_garbage() {
        assert_eq!(Options(&[1, 2]).to_string(), "nop,[bad opt]");
        assert_eq!(Options(&[2, 9, 0]).to_string(), "[bad opt]");
        assert_eq!(Options(&[30, 3, 0xab, 0]).to_string(), "opt-30:ab,eol");
    }
}
