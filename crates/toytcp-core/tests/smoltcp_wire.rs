//! ToyTCP's wire parser against smoltcp's (0.14, a dev-dependency only),
//! as property tests: the same oracle the `segment_parse` fuzz target runs
//! (`fuzz/src/wire_agree.rs`, included below; its module docs list every
//! place where smoltcp legitimately differs and how it is handled), here
//! with checksum verification on both sides, plus the other direction:
//! packets emitted by smoltcp parse to the same fields in ToyTCP.

#[path = "../../../fuzz/src/wire_agree.rs"]
mod wire_agree;

#[path = "../../../fuzz/src/checksum.rs"]
mod checksum;

use core::net::Ipv4Addr;
use proptest::prelude::*;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    IpAddress, IpProtocol, Ipv4Packet, Ipv4Repr, TcpControl, TcpPacket, TcpRepr, TcpSeqNumber, TcpTimestampRepr,
};
use toytcp_core::SeqNum;
use toytcp_core::wire::{self, EmitError, Flags, MAX_SACK_BLOCKS, SackBlock, SegmentHeader, TcpOptions, Timestamps};

fn arb_options() -> impl Strategy<Value = TcpOptions> {
    (
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
            for (left, right) in sacks {
                o.push_sack(SackBlock { left: SeqNum(left), right: SeqNum(right) });
            }
            // Drop SACK blocks until the options fit the 40 bytes a header
            // holds (RFC 9293 §3.1), as a sender would.
            // (The slots past `sack_count` are kept zero, as the parser leaves them.)
            while wire::segment_overhead(&o) > 40 + 40 && o.sack_count > 0 {
                o.sack_count -= 1;
                o.sack_blocks[usize::from(o.sack_count)] = SackBlock::default();
            }
            o
        })
}

fn arb_header() -> impl Strategy<Value = SegmentHeader> {
    (
        // Port 0 now and then: smoltcp's TcpRepr rejects it, its raw view does not.
        prop_oneof![9 => 1u16.., 1 => Just(0u16)],
        prop_oneof![9 => 1u16.., 1 => Just(0u16)],
        any::<u32>(),
        any::<u32>(),
        any::<u8>(),
        any::<u16>(),
        any::<u16>(),
        arb_options(),
    )
        .prop_map(|(src_port, dst_port, seq, ack, flags, window, urgent, options)| SegmentHeader {
            src_port,
            dst_port,
            seq: SeqNum(seq),
            ack: SeqNum(ack),
            flags: Flags(flags),
            window,
            urgent,
            options,
        })
}

fn arb_addr() -> impl Strategy<Value = Ipv4Addr> {
    any::<[u8; 4]>().prop_map(Ipv4Addr::from)
}

/// One raw TCP option, well- or ill-formed.
fn arb_raw_option() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(vec![1]), // NOP
        Just(vec![0]), // EOL
        any::<u16>().prop_map(|m| {
            let [a, b] = m.to_be_bytes();
            vec![2, 4, a, b]
        }), // MSS
        any::<u8>().prop_map(|s| vec![3, 3, s]), // window scale, any shift
        Just(vec![4, 2]), // SACK-permitted
        any::<[u8; 8]>().prop_map(|b| [&[8u8, 10][..], &b].concat()), // timestamps
        (1usize..=4, any::<[u8; 32]>()).prop_map(|(n, b)| [&[5, (2 + 8 * n) as u8][..], &b[..8 * n]].concat()), // SACK
        (9u8..=255, proptest::collection::vec(any::<u8>(), 0..8)).prop_map(|(k, d)| [
            &[k, (d.len() + 2) as u8][..],
            &d
        ]
        .concat()), // unknown kind
        // Malformed: a known kind with the wrong length, or a length below 2.
        (prop_oneof![Just(2u8), Just(3), Just(4), Just(5), Just(8)], 2u8..12).prop_map(|(k, l)| {
            let mut v = vec![k, l];
            v.resize(usize::from(l).max(2), 0x11);
            v
        }),
        (any::<u8>(), 0u8..2).prop_map(|(k, l)| vec![k.max(2), l]),
    ]
}

/// An IPv4/TCP packet with a raw options area (padded with EOL to a
/// multiple of 4, at most 40 bytes) and valid checksums.
fn raw_packet(header: &SegmentHeader, opts: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut opts = opts.to_vec();
    opts.resize(opts.len().div_ceil(4) * 4, 0);
    let total = 40 + opts.len() + payload.len();
    let mut p = vec![0x45, 0];
    p.extend((total as u16).to_be_bytes());
    p.extend([0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    p.extend(header.src_port.to_be_bytes());
    p.extend(header.dst_port.to_be_bytes());
    p.extend(header.seq.0.to_be_bytes());
    p.extend(header.ack.0.to_be_bytes());
    p.push((((20 + opts.len()) / 4) as u8) << 4);
    p.push(header.flags.0);
    p.extend(header.window.to_be_bytes());
    p.extend([0, 0]);
    p.extend(header.urgent.to_be_bytes());
    p.extend(&opts);
    p.extend(payload);
    checksum::fix_checksums(&mut p, true, true);
    p
}

fn emit(src: Ipv4Addr, dst: Ipv4Addr, h: &SegmentHeader, payload: &[u8]) -> Result<Vec<u8>, EmitError> {
    let mut buf = vec![0u8; wire::segment_overhead(&h.options) + payload.len()];
    let n = wire::emit(src, dst, h, &[payload], &mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

/// Emits `repr` with smoltcp (IPv4 + TCP, checksums filled).
fn smoltcp_emit(src: Ipv4Addr, dst: Ipv4Addr, repr: &TcpRepr<'_>) -> Vec<u8> {
    let ip = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Tcp,
        payload_len: repr.buffer_len(),
        hop_limit: 64,
    };
    let mut buf = vec![0u8; ip.buffer_len() + repr.buffer_len()];
    let caps = ChecksumCapabilities::default();
    let mut ip_packet = Ipv4Packet::new_unchecked(&mut buf[..]);
    ip.emit(&mut ip_packet, &caps);
    let mut tcp = TcpPacket::new_unchecked(ip_packet.payload_mut());
    repr.emit(&mut tcp, &IpAddress::Ipv4(src), &IpAddress::Ipv4(dst), &caps);
    buf
}

fn assert_agrees(packet: &[u8]) -> Result<bool, TestCaseError> {
    match wire_agree::check(packet) {
        Ok(verdict) => Ok(verdict.is_ok()),
        Err(e) => Err(TestCaseError::fail(format!("{e}\npacket: {packet:02x?}"))),
    }
}

// Outside cargo-fuzz smoltcp really verifies checksums, so here the
// oracle checks agreement on checksum rejections too.
const _: () = assert!(wire_agree::SMOLTCP_VERIFIES_CHECKSUMS);

/// The exclusion for a timestamps option of the wrong length, pinned down:
/// ToyTCP rejects the packet, smoltcp skips the option, and the oracle
/// accepts that difference (and only because of that option).
#[test]
fn misshapen_timestamps_option_is_the_documented_difference() {
    let h = SegmentHeader { src_port: 1, dst_port: 2, flags: Flags::ACK, ..Default::default() };
    let pkt = raw_packet(&h, &[8, 6, 0, 0, 0, 1], b"");
    assert_eq!(wire::parse(&pkt).map(|s| s.header), Err(wire::ParseError::BadOption));
    let ip = Ipv4Packet::new_checked(&pkt[..]).unwrap();
    let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
    assert_eq!(tcp.options_summary().unwrap().timestamp, None);
    assert_eq!(wire_agree::check(&pkt).map(|v| v.is_ok()), Ok(false));
}

/// Four SACK blocks: ToyTCP keeps four, smoltcp three; the first three agree.
#[test]
fn four_sack_blocks_agree_on_the_first_three() {
    let mut options = TcpOptions::default();
    for i in 0..4 {
        options.push_sack(SackBlock { left: SeqNum(i * 100), right: SeqNum(i * 100 + 50) });
    }
    let h = SegmentHeader { src_port: 1, dst_port: 2, flags: Flags::ACK, options, ..Default::default() };
    let pkt = emit(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2), &h, b"").unwrap();
    assert_eq!(wire::parse(&pkt).unwrap().header.options.sacks().len(), 4);
    assert_eq!(wire_agree::check(&pkt).map(|v| v.is_ok()), Ok(true));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    /// Random valid headers emitted by ToyTCP parse back to themselves and
    /// are read identically by smoltcp.
    #[test]
    fn emitted_headers_parse_identically(
        src in arb_addr(), dst in arb_addr(), h in arb_header(),
        payload in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let pkt = emit(src, dst, &h, &payload).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        let seg = wire::parse(&pkt).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(seg.header, h);
        prop_assert_eq!(seg.payload, &payload[..]);
        prop_assert!(assert_agrees(&pkt)?);
    }

    /// Raw option lists in any order, duplicated, unknown or malformed:
    /// both parsers accept and reject together (but for the documented
    /// differences) and agree on every option they accept.
    #[test]
    fn raw_option_lists_agree(
        h in arb_header(),
        opts in proptest::collection::vec(arb_raw_option(), 0..8),
        payload in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        // Whole options, as many as fit the 40-byte options area.
        let mut area = Vec::new();
        for o in &opts {
            if area.len() + o.len() > 40 {
                break;
            }
            area.extend_from_slice(o);
        }
        let pkt = raw_packet(&h, &area, &payload);
        assert_agrees(&pkt)?;
    }

    /// Packets damaged at random (and sometimes given fresh checksums, to
    /// reach the checks behind them): verdicts agree, checksum failures
    /// included.
    #[test]
    fn mutated_packets_agree(
        h in arb_header(),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
        edits in proptest::collection::vec((any::<u16>(), any::<u8>()), 1..4),
        truncate in proptest::option::of(any::<u16>()),
        fix in 0u8..4,
    ) {
        let mut pkt = emit(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2), &h, &payload)
            .map_err(|e| TestCaseError::fail(format!("{e}")))?;
        for (at, x) in edits {
            let i = usize::from(at) % pkt.len();
            pkt[i] ^= x;
        }
        if let Some(t) = truncate {
            pkt.truncate(usize::from(t) % (pkt.len() + 1));
        }
        checksum::fix_checksums(&mut pkt, fix & 1 != 0, fix & 2 != 0);
        assert_agrees(&pkt)?;
    }

    /// The other direction: packets emitted by smoltcp parse in ToyTCP to
    /// the fields smoltcp put there.
    #[test]
    fn smoltcp_emitted_packets_parse_the_same(
        src in arb_addr(), dst in arb_addr(),
        ports in (1u16.., 1u16..), seq in any::<i32>(), ack in proptest::option::of(any::<i32>()),
        control in prop_oneof![Just(TcpControl::None), Just(TcpControl::Psh), Just(TcpControl::Syn), Just(TcpControl::Fin), Just(TcpControl::Rst)],
        window in any::<u16>(), mss in proptest::option::of(any::<u16>()), ws in proptest::option::of(any::<u8>()),
        sack_permitted in any::<bool>(), ts in proptest::option::of((any::<u32>(), any::<u32>())),
        sacks in proptest::collection::vec((any::<u32>(), any::<u32>()), 0..=3),
        payload in proptest::collection::vec(any::<u8>(), 0..100),
    ) {
        let mut sack_ranges = [None; 3];
        for (slot, s) in sack_ranges.iter_mut().zip(&sacks) {
            *slot = Some(*s);
        }
        let mut repr = TcpRepr {
            src_port: ports.0,
            dst_port: ports.1,
            control,
            seq_number: TcpSeqNumber(seq),
            ack_number: ack.map(TcpSeqNumber),
            window_len: window,
            window_scale: ws,
            max_seg_size: mss,
            sack_permitted,
            sack_ranges,
            timestamp: ts.map(|(v, e)| TcpTimestampRepr::new(v, e)),
            payload: &payload,
        };
        // smoltcp emits whatever it is given: drop SACK blocks until the
        // options fit the 40 bytes a header holds (RFC 9293 §3.1).
        let mut sacks = sacks;
        while repr.header_len() > 60 {
            sacks.pop();
            repr.sack_ranges = [None; 3];
            for (slot, s) in repr.sack_ranges.iter_mut().zip(&sacks) {
                *slot = Some(*s);
            }
        }
        let pkt = smoltcp_emit(src, dst, &repr);
        let seg = wire::parse(&pkt).map_err(|e| TestCaseError::fail(format!("ToyTCP rejects smoltcp's packet: {e}")))?;
        let h = seg.header;
        prop_assert_eq!((seg.src_addr, seg.dst_addr), (src, dst));
        prop_assert_eq!((h.src_port, h.dst_port), ports);
        prop_assert_eq!(h.seq.0, seq as u32);
        prop_assert_eq!(h.flags.ack(), ack.is_some());
        if let Some(a) = ack {
            prop_assert_eq!(h.ack.0, a as u32);
        }
        let expected_flags = match control {
            TcpControl::None => Flags::NONE,
            TcpControl::Psh => Flags::PSH,
            TcpControl::Syn => Flags::SYN,
            TcpControl::Fin => Flags::FIN,
            TcpControl::Rst => Flags::RST,
        };
        prop_assert_eq!(h.flags, expected_flags.with(Flags::ACK, ack.is_some()));
        prop_assert_eq!(h.window, window);
        prop_assert_eq!(h.options.mss, mss);
        // RFC 7323 §2.3: shifts above 14 are read as 14.
        prop_assert_eq!(h.options.window_scale, ws.map(|s| s.min(14)));
        prop_assert_eq!(h.options.sack_permitted, sack_permitted);
        prop_assert_eq!(h.options.timestamps, ts.map(|(tsval, tsecr)| Timestamps { tsval, tsecr }));
        // smoltcp writes SACK blocks only without SACK-permitted and with an ACK.
        let sent: Vec<(u32, u32)> = if !sack_permitted && ack.is_some() { sacks.clone() } else { Vec::new() };
        let got: Vec<(u32, u32)> = h.options.sacks().iter().map(|b| (b.left.0, b.right.0)).collect();
        prop_assert_eq!(got, sent);
        prop_assert_eq!(seg.payload, &payload[..]);
        prop_assert!(assert_agrees(&pkt)?);
    }
}
