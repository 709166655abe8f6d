//! Emitting a [`SegmentHeader`] plus payload as a complete IPv4 packet.
//!
//! The fixed IPv4 (RFC 791 §3.1) and TCP (RFC 9293 §3.1) headers are
//! written straight into the caller's buffer, options by
//! [`options::encode`], then the payload; both checksums are computed with
//! the RFC 1071 summer in `checksum`, the TCP one over the header and
//! over the payload while it is copied in (one pass over the payload
//! bytes). No allocation.
//!
//! etherparse's own serializers (`TcpHeader::to_bytes`,
//! `TcpOptions::try_from_slice`) are not used here: they build
//! intermediate `ArrayVec`s and cost several times the rest of `emit` for a
//! small segment. The tests check the output against etherparse's parser.

use super::checksum::Checksum;
use super::options;
use super::{IPV4_HEADER_LEN, MAX_OPTIONS_LEN, SegmentHeader, TCP_HEADER_LEN, TcpOptions};
use core::net::Ipv4Addr;
use etherparse::IpNumber;

/// Time to live of emitted packets (RFC 791 §3.2; Linux's default).
const TTL: u8 = 64;

/// Why [`emit`] could not write a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmitError {
    /// The output buffer is shorter than the packet; `needed` is the full
    /// packet length.
    BufferTooSmall {
        /// Bytes the packet needs.
        needed: usize,
    },
    /// The encoded options exceed the 40 bytes a data offset of 15 allows
    /// (RFC 9293 §3.1), e.g. four SACK blocks together with timestamps.
    OptionsTooLong,
    /// The IPv4 total length (RFC 791 §3.1) would exceed 65535 bytes.
    PayloadTooLong,
}

impl core::fmt::Display for EmitError {
    /// A short human-readable description.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            EmitError::BufferTooSmall { needed } => write!(f, "output buffer too small: {needed} bytes needed"),
            EmitError::OptionsTooLong => f.write_str("TCP options exceed 40 bytes"),
            EmitError::PayloadTooLong => f.write_str("packet would exceed the IPv4 maximum of 65535 bytes"),
        }
    }
}

impl std::error::Error for EmitError {}

/// IPv4 header (20 bytes, no IP options) plus TCP header including options
/// padded to a multiple of 4 bytes: the packet length [`emit`] produces for
/// an empty payload.
///
/// Options longer than 40 bytes are counted as they are, although [`emit`]
/// rejects them with [`EmitError::OptionsTooLong`].
pub fn segment_overhead(options: &TcpOptions) -> usize {
    IPV4_HEADER_LEN + TCP_HEADER_LEN + options::encoded_len(options)
}

/// Writes a complete IPv4 packet into `buf` and returns its length.
///
/// The IPv4 header (RFC 791 §3.1) is 20 bytes with TTL 64, DF set,
/// identification 0 and protocol 6. It carries the TCP header
/// (RFC 9293 §3.1) built from `header`, followed by the concatenation of the
/// `payload` slices. Both the IPv4 header checksum and the TCP checksum
/// (over the RFC 9293 §3.1 pseudo-header) are filled in.
///
/// Options use Linux's layout, which keeps every multi-byte option 32-bit
/// aligned (RFC 7323 Appendix A): MSS `2,4,mss`; then SACK-permitted plus
/// timestamps as `4,2,8,10,TSval,TSecr`, or timestamps alone as
/// `NOP,NOP,8,10,…`, or SACK-permitted alone as `NOP,NOP,4,2`
/// (RFC 7323 §3.2, RFC 2018 §2); then window scale as `NOP,3,3,shift`
/// (RFC 7323 §2.2); then SACK blocks as `NOP,NOP,5,2+8n,…` (RFC 2018 §3).
/// The options area is thus always a multiple of 4 bytes.
///
/// Bytes of `buf` past the returned length are left untouched.
///
/// # Errors
///
/// [`EmitError::OptionsTooLong`] if the options need more than 40 bytes,
/// [`EmitError::PayloadTooLong`] if the payload exceeds
/// `65535 − segment_overhead(&header.options)`, and
/// [`EmitError::BufferTooSmall`] if `buf` cannot hold the packet. On error
/// `buf` is unchanged.
pub fn emit(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    header: &SegmentHeader,
    payload: &[&[u8]],
    buf: &mut [u8],
) -> Result<usize, EmitError> {
    let opts_len = options::encoded_len(&header.options);
    if opts_len > MAX_OPTIONS_LEN {
        return Err(EmitError::OptionsTooLong);
    }
    let overhead = IPV4_HEADER_LEN + TCP_HEADER_LEN + opts_len;
    let payload_len = payload.iter().fold(0usize, |acc, p| acc.saturating_add(p.len()));
    if payload_len > usize::from(u16::MAX) - overhead {
        return Err(EmitError::PayloadTooLong);
    }
    let total = overhead + payload_len;
    let packet = buf.get_mut(..total).ok_or(EmitError::BufferTooSmall { needed: total })?;
    let tcp_header_len = TCP_HEADER_LEN + opts_len;
    // Both fit in u16: `total <= 65535` was checked above.
    let (Ok(total_u16), Ok(tcp_len)) = (u16::try_from(total), u16::try_from(total - IPV4_HEADER_LEN)) else {
        return Err(EmitError::PayloadTooLong);
    };

    let (ip_bytes, segment) = packet.split_at_mut(IPV4_HEADER_LEN);
    copy_exact(ip_bytes, &ipv4_header(src, dst, total_u16));

    // TCP header (RFC 9293 §3.1) with a zero checksum, options, payload.
    let (tcp_bytes, data) = segment.split_at_mut(tcp_header_len);
    let (fixed, opt_area) = tcp_bytes.split_at_mut(TCP_HEADER_LEN);
    copy_exact(fixed, &tcp_fixed_header(header, tcp_header_len));
    options::encode(&header.options, opt_area);

    // The TCP checksum: pseudo-header and header, then the payload summed
    // while it is copied in (one pass over the bytes, see `checksum`).
    let mut sum = Checksum::new()
        .add_4bytes(src.octets())
        .add_4bytes(dst.octets())
        .add_2bytes([0, IpNumber::TCP.0])
        .add_2bytes(tcp_len.to_be_bytes())
        .add_slice(tcp_bytes);
    let mut rest = data;
    for part in payload {
        let (to, after) = rest.split_at_mut(part.len().min(rest.len()));
        sum = sum.add_copied(to, part);
        rest = after;
    }
    let checksum = sum.ones_complement();
    if let Some(field) = tcp_bytes.get_mut(TCP_CHECKSUM_AT..TCP_CHECKSUM_AT + 2) {
        field.copy_from_slice(&checksum.to_ne_bytes());
    }

    Ok(total)
}

/// Offset of the checksum field in the IPv4 header (RFC 791 §3.1).
const IP_CHECKSUM_AT: usize = 10;
/// Offset of the checksum field in the TCP header (RFC 9293 §3.1).
const TCP_CHECKSUM_AT: usize = 16;

/// The 20-byte IPv4 header (RFC 791 §3.1) with its checksum: version 4,
/// IHL 5, DSCP/ECN 0, identification 0, DF set, fragment offset 0, TTL 64,
/// protocol 6.
fn ipv4_header(src: Ipv4Addr, dst: Ipv4Addr, total_len: u16) -> [u8; IPV4_HEADER_LEN] {
    let [tl0, tl1] = total_len.to_be_bytes();
    let [s0, s1, s2, s3] = src.octets();
    let [d0, d1, d2, d3] = dst.octets();
    #[rustfmt::skip]
    let mut h = [
        0x45, 0, tl0, tl1,
        0, 0, 0x40, 0, // identification 0; flags DF, offset 0
        TTL, IpNumber::TCP.0, 0, 0,
        s0, s1, s2, s3,
        d0, d1, d2, d3,
    ];
    // `Checksum` adds native-endian words, so its result goes back to
    // the wire with `to_ne_bytes`.
    let [c0, c1] = Checksum::new().add_slice(&h).ones_complement().to_ne_bytes();
    h[IP_CHECKSUM_AT] = c0;
    h[IP_CHECKSUM_AT + 1] = c1;
    h
}

/// The fixed 20 bytes of the TCP header (RFC 9293 §3.1) with a zero
/// checksum; `header_len` (20 + options, a multiple of 4 up to 60) gives
/// the data offset. The reserved and NS bits are zero.
fn tcp_fixed_header(h: &SegmentHeader, header_len: usize) -> [u8; TCP_HEADER_LEN] {
    let [sp0, sp1] = h.src_port.to_be_bytes();
    let [dp0, dp1] = h.dst_port.to_be_bytes();
    let [q0, q1, q2, q3] = h.seq.0.to_be_bytes();
    let [a0, a1, a2, a3] = h.ack.0.to_be_bytes();
    let [w0, w1] = h.window.to_be_bytes();
    let [u0, u1] = h.urgent.to_be_bytes();
    let data_offset = ((header_len / 4) as u8) << 4;
    #[rustfmt::skip]
    let fixed = [
        sp0, sp1, dp0, dp1,
        q0, q1, q2, q3,
        a0, a1, a2, a3,
        data_offset, h.flags.0, w0, w1,
        0, 0, u0, u1, // checksum filled in later
    ];
    fixed
}

/// Copies `src` into `dst`, which have the same length by construction;
/// written without `copy_from_slice`'s length assertion so that a logic
/// error could never turn into a panic in release builds.
#[inline]
fn copy_exact(dst: &mut [u8], src: &[u8]) {
    debug_assert_eq!(dst.len(), src.len());
    for (d, s) in dst.iter_mut().zip(src) {
        *d = *s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seq::SeqNum;
    use crate::wire::{Flags, MAX_SACK_BLOCKS, SackBlock, Timestamps, parse};
    use proptest::prelude::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
    const DST: Ipv4Addr = Ipv4Addr::new(93, 184, 216, 34);

    /// Reference RFC 1071 checksum, independent of etherparse.
    fn rfc1071(parts: &[&[u8]]) -> u16 {
        let bytes = parts.concat();
        let mut sum: u32 =
            bytes.chunks(2).map(|w| (u32::from(w[0]) << 8) | w.get(1).map_or(0, |&b| u32::from(b))).sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    fn syn_header() -> SegmentHeader {
        SegmentHeader {
            src_port: 40000,
            dst_port: 443,
            seq: SeqNum(0xdead_beef),
            ack: SeqNum(0),
            flags: Flags::SYN,
            window: 64240,
            urgent: 0,
            options: TcpOptions {
                mss: Some(1460),
                window_scale: Some(7),
                sack_permitted: true,
                timestamps: Some(Timestamps { tsval: 0x0011_2233, tsecr: 0 }),
                ..Default::default()
            },
        }
    }

    fn data_header() -> SegmentHeader {
        let mut options = TcpOptions {
            timestamps: Some(Timestamps { tsval: 1_000_000, tsecr: 4_000_000_000 }),
            ..Default::default()
        };
        options.push_sack(SackBlock { left: SeqNum(5000), right: SeqNum(6000) });
        options.push_sack(SackBlock { left: SeqNum(u32::MAX - 10), right: SeqNum(20) });
        options.push_sack(SackBlock { left: SeqNum(7000), right: SeqNum(8000) });
        SegmentHeader {
            src_port: 443,
            dst_port: 40000,
            seq: SeqNum(1),
            ack: SeqNum(0xdead_bef0),
            flags: Flags::ACK | Flags::PSH,
            window: 501,
            urgent: 0,
            options,
        }
    }

    #[test]
    fn syn_with_all_options_round_trips() {
        let h = syn_header();
        let mut buf = [0u8; 128];
        let n = emit(SRC, DST, &h, &[], &mut buf).unwrap();
        assert_eq!(n, 60);
        assert_eq!(n, segment_overhead(&h.options));
        let seg = parse(&buf[..n]).unwrap();
        assert_eq!(seg.src_addr, SRC);
        assert_eq!(seg.dst_addr, DST);
        assert_eq!(seg.header, h);
        assert!(seg.payload.is_empty());
        assert_eq!(seg.seg_len(), 1);
    }

    #[test]
    fn data_segment_with_timestamps_and_sack_round_trips() {
        let h = data_header();
        let payload = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n";
        let mut buf = [0u8; 256];
        let n = emit(SRC, DST, &h, &[payload], &mut buf).unwrap();
        // 20 IP + 20 TCP + 12 (NOP NOP TS) + 4 + 3×8 (NOP NOP SACK).
        assert_eq!(n, 20 + 20 + 12 + 28 + payload.len());
        let seg = parse(&buf[..n]).unwrap();
        assert_eq!(seg.header, h);
        assert_eq!(seg.payload, payload);
    }

    #[test]
    fn syn_options_have_linux_byte_layout() {
        let h = syn_header();
        let mut buf = [0u8; 60];
        emit(SRC, DST, &h, &[], &mut buf).unwrap();
        // What `tcpdump -X` shows for a Linux SYN:
        // mss 1460,sackOK,TS val 1122867 ecr 0,nop,wscale 7
        #[rustfmt::skip]
        let expected: [u8; 20] = [
            0x02, 0x04, 0x05, 0xb4,             // MSS 1460
            0x04, 0x02,                         // SACK permitted
            0x08, 0x0a, 0x00, 0x11, 0x22, 0x33, // TS val
            0x00, 0x00, 0x00, 0x00,             // TS ecr
            0x01,                               // NOP
            0x03, 0x03, 0x07,                   // WS 7
        ];
        assert_eq!(buf[40..60], expected);
        // TCP data offset 10 words, flags SYN only.
        assert_eq!(buf[32], 10 << 4);
        assert_eq!(buf[33], 0x02);
    }

    #[test]
    fn ip_header_fields() {
        let mut buf = [0u8; 64];
        let h = SegmentHeader { flags: Flags::ACK, ..Default::default() };
        let n = emit(SRC, DST, &h, &[b"ab"], &mut buf).unwrap();
        assert_eq!(n, 42);
        assert_eq!(buf[0], 0x45); // version 4, IHL 5
        assert_eq!(buf[1], 0); // DSCP/ECN
        assert_eq!(buf[2..4], 42u16.to_be_bytes()); // total length
        assert_eq!(buf[4..6], [0, 0]); // identification 0
        assert_eq!(buf[6..8], [0x40, 0]); // DF, offset 0
        assert_eq!(buf[8], 64); // TTL
        assert_eq!(buf[9], 6); // TCP
        assert_eq!(buf[12..16], SRC.octets());
        assert_eq!(buf[16..20], DST.octets());
        assert_eq!(buf[32], 5 << 4); // no options
    }

    /// Reads an emitted packet back with etherparse's own parser and
    /// checksum routines, independently of [`parse`].
    #[test]
    fn etherparse_agrees_with_emitted_packet() {
        use etherparse::{Ipv4HeaderSlice, TcpHeaderSlice, TcpOptionElement::*};
        let mut h = syn_header();
        h.flags = Flags::SYN | Flags::ACK | Flags::ECE;
        h.ack = SeqNum(0x0102_0304);
        h.urgent = 0xabcd;
        h.options.push_sack(SackBlock { left: SeqNum(10), right: SeqNum(20) });
        let mut buf = [0u8; 128];
        let n = emit(SRC, DST, &h, &[b"hello", b" world"], &mut buf).unwrap();
        let pkt = &buf[..n];

        let ip = Ipv4HeaderSlice::from_slice(pkt).unwrap();
        let ip_owned = ip.to_header();
        assert_eq!(ip.header_checksum(), ip_owned.calc_header_checksum());
        assert_eq!(usize::from(ip.total_len()), n);
        assert_eq!((ip.ttl(), ip.identification(), ip.dont_fragment()), (64, 0, true));
        assert!(!ip.is_fragmenting_payload());
        assert_eq!((ip.source_addr(), ip.destination_addr()), (SRC, DST));

        let tcp = TcpHeaderSlice::from_slice(&pkt[20..]).unwrap();
        let data = &pkt[20 + tcp.slice().len()..];
        assert_eq!(data, b"hello world");
        assert_eq!(tcp.checksum(), tcp.calc_checksum_ipv4(&ip, data).unwrap());
        assert_eq!((tcp.source_port(), tcp.destination_port()), (h.src_port, h.dst_port));
        assert_eq!((tcp.sequence_number(), tcp.acknowledgment_number()), (h.seq.0, h.ack.0));
        assert_eq!((tcp.window_size(), tcp.urgent_pointer()), (h.window, h.urgent));
        assert!(tcp.syn() && tcp.ack() && tcp.ece() && !tcp.fin() && !tcp.rst() && !tcp.psh() && !tcp.ns());
        let elements: Vec<_> = tcp.options_iterator().map(Result::unwrap).collect();
        assert_eq!(
            elements,
            [
                MaximumSegmentSize(1460),
                SelectiveAcknowledgementPermitted,
                Timestamp(0x0011_2233, 0),
                Noop,
                WindowScale(7),
                Noop,
                Noop,
                SelectiveAcknowledgement((10, 20), [None; 3]),
            ]
        );
    }

    #[test]
    fn checksums_match_reference_implementation() {
        let h = data_header();
        for payload in [&b""[..], b"a", b"odd-length payload", b"even-length payload!"] {
            let mut buf = [0u8; 256];
            let n = emit(SRC, DST, &h, &[payload], &mut buf).unwrap();
            let pkt = &mut buf[..n];
            let ip_ck = u16::from_be_bytes([pkt[10], pkt[11]]);
            let tcp_ck = u16::from_be_bytes([pkt[36], pkt[37]]);
            pkt[10..12].fill(0);
            pkt[36..38].fill(0);
            assert_eq!(ip_ck, rfc1071(&[&pkt[..20]]));
            let len = ((n - 20) as u16).to_be_bytes();
            assert_eq!(tcp_ck, rfc1071(&[&SRC.octets(), &DST.octets(), &[0, 6], &len, &pkt[20..]]));
        }
    }

    #[test]
    fn payload_split_across_slices() {
        let h = data_header();
        let whole = b"abcdefghijklmnopqrstuvwxyz";
        // Odd-length pieces and an empty one: the checksum must not depend
        // on the slices' 16-bit alignment.
        let parts: [&[u8]; 5] = [b"a", b"bcd", b"", b"efghijk", b"lmnopqrstuvwxyz"];
        let mut split = [0u8; 256];
        let mut joined = [0u8; 256];
        let n = emit(SRC, DST, &h, &parts, &mut split).unwrap();
        let m = emit(SRC, DST, &h, &[whole], &mut joined).unwrap();
        assert_eq!(split[..n], joined[..m]);
        assert_eq!(parse(&split[..n]).unwrap().payload, whole);
    }

    #[test]
    fn leaves_rest_of_buffer_untouched() {
        let mut buf = [0xaau8; 100];
        let n = emit(SRC, DST, &SegmentHeader::default(), &[b"xyz"], &mut buf).unwrap();
        assert_eq!(n, 43);
        assert!(buf[n..].iter().all(|&b| b == 0xaa));
    }

    #[test]
    fn buffer_too_small() {
        let h = syn_header();
        let mut buf = [0u8; 59];
        assert_eq!(emit(SRC, DST, &h, &[], &mut buf), Err(EmitError::BufferTooSmall { needed: 60 }));
        assert_eq!(buf, [0u8; 59]);
        assert_eq!(emit(SRC, DST, &h, &[b"x"], &mut [0u8; 60]), Err(EmitError::BufferTooSmall { needed: 61 }));
        assert_eq!(emit(SRC, DST, &h, &[], &mut []), Err(EmitError::BufferTooSmall { needed: 60 }));
    }

    #[test]
    fn options_too_long() {
        // Four SACK blocks (36 bytes) plus timestamps (12) is 48 > 40.
        let mut h = data_header();
        h.options.push_sack(SackBlock::default());
        assert_eq!(segment_overhead(&h.options), 40 + 48);
        assert_eq!(emit(SRC, DST, &h, &[], &mut [0u8; 200]), Err(EmitError::OptionsTooLong));
        // Without timestamps four blocks fit exactly.
        h.options.timestamps = None;
        let mut buf = [0u8; 200];
        let n = emit(SRC, DST, &h, &[], &mut buf).unwrap();
        assert_eq!(parse(&buf[..n]).unwrap().header, h);
    }

    #[test]
    fn payload_length_limit() {
        let h = data_header();
        let max = usize::from(u16::MAX) - segment_overhead(&h.options);
        let big = vec![0x5a; max + 1];
        let mut buf = vec![0u8; 70_000];
        assert_eq!(emit(SRC, DST, &h, &[&big], &mut buf), Err(EmitError::PayloadTooLong));
        assert_eq!(emit(SRC, DST, &h, &[&big[..max], b"x"], &mut buf), Err(EmitError::PayloadTooLong));
        let n = emit(SRC, DST, &h, &[&big[..max]], &mut buf).unwrap();
        assert_eq!(n, 65535);
        let seg = parse(&buf[..n]).unwrap();
        assert_eq!(seg.payload.len(), max);
        assert_eq!(seg.header, h);
    }

    #[test]
    fn errors_display() {
        assert!(EmitError::BufferTooSmall { needed: 60 }.to_string().contains("60"));
        let _: &dyn std::error::Error = &EmitError::OptionsTooLong;
        assert!(!EmitError::PayloadTooLong.to_string().is_empty());
    }

    fn arb_header() -> impl Strategy<Value = SegmentHeader> {
        let options = (
            proptest::option::of(any::<u16>()),
            proptest::option::of(0u8..=14),
            any::<bool>(),
            proptest::option::of((any::<u32>(), any::<u32>())),
            proptest::collection::vec((any::<u32>(), any::<u32>()), 0..=MAX_SACK_BLOCKS),
        )
            .prop_map(|(mss, window_scale, sack_permitted, ts, sacks)| {
                let mut o = TcpOptions {
                    mss,
                    window_scale,
                    sack_permitted,
                    timestamps: ts.map(|(tsval, tsecr)| Timestamps { tsval, tsecr }),
                    ..Default::default()
                };
                for (l, r) in sacks {
                    o.push_sack(SackBlock { left: SeqNum(l), right: SeqNum(r) });
                }
                o
            });
        (any::<(u16, u16, u32, u32, u8, u16, u16)>(), options).prop_map(
            |((src_port, dst_port, seq, ack, flags, window, urgent), options)| SegmentHeader {
                src_port,
                dst_port,
                seq: SeqNum(seq),
                ack: SeqNum(ack),
                flags: Flags(flags),
                window,
                urgent,
                options,
            },
        )
    }

    proptest! {
        #[test]
        fn emit_then_parse_round_trips(
            h in arb_header(),
            src in any::<u32>(),
            dst in any::<u32>(),
            payload in proptest::collection::vec(any::<u8>(), 0..600),
            cuts in proptest::collection::vec(any::<usize>(), 0..5),
        ) {
            let (src, dst) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
            // Split the payload at random points into several slices.
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (payload.len() + 1)).collect();
            cuts.sort_unstable();
            let mut parts: Vec<&[u8]> = Vec::new();
            let mut start = 0;
            for c in cuts.into_iter().chain([payload.len()]) {
                parts.push(&payload[start..c]);
                start = c;
            }
            let mut buf = [0u8; 1024];
            let result = emit(src, dst, &h, &parts, &mut buf);
            if options::encoded_len(&h.options) > MAX_OPTIONS_LEN {
                prop_assert_eq!(result, Err(EmitError::OptionsTooLong));
                return Ok(());
            }
            let n = result.unwrap();
            prop_assert_eq!(n, segment_overhead(&h.options) + payload.len());
            let seg = parse(&buf[..n]).unwrap();
            prop_assert_eq!(seg.src_addr, src);
            prop_assert_eq!(seg.dst_addr, dst);
            prop_assert_eq!(seg.header, h);
            prop_assert_eq!(seg.payload, &payload[..]);
        }
    }
}
