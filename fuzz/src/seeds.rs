//! The committed seed corpus (`fuzz/corpus/<target>/<name>`), written as
//! Rust values. `cargo run --example gen_corpus` (in `fuzz/`) writes the
//! files; the tests below check that the committed files are exactly these
//! and that every seed passes its target's checks.

use crate::checksum::fix_checksums;
use crate::conn::{Forge, Input, Op, Setup, Target};
use crate::encode::Encode;
use core::net::Ipv4Addr;
use toytcp_core::SeqNum;
use toytcp_core::wire::{self, Flags, SackBlock, SegmentHeader, TcpOptions, Timestamps};

/// One corpus file.
pub struct Seed {
    /// The fuzz target (corpus directory).
    pub target: &'static str,
    /// The file name.
    pub name: &'static str,
    /// The contents.
    pub bytes: Vec<u8>,
}

/// `segment_parse` mode byte: repair the IPv4 header checksum.
pub const FIX_IP_CHECKSUM: u8 = 1;
/// `segment_parse` mode byte: repair the TCP checksum.
pub const FIX_TCP_CHECKSUM: u8 = 2;

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn header(flags: Flags, options: TcpOptions) -> SegmentHeader {
    SegmentHeader {
        src_port: 49152,
        dst_port: 80,
        seq: SeqNum(0x1000_0000),
        ack: SeqNum(if flags.ack() { 0x2000_0001 } else { 0 }),
        flags,
        window: 64240,
        urgent: 0,
        options,
    }
}

fn emitted(h: &SegmentHeader, payload: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 2048];
    let n = wire::emit(A, B, h, &[payload], &mut buf).expect("seed segments fit");
    buf.truncate(n);
    buf
}

/// A `segment_parse` input: the mode byte, then the packet.
fn with_mode(mode: u8, pkt: &[u8]) -> Vec<u8> {
    let mut v = vec![mode];
    v.extend_from_slice(pkt);
    v
}

/// An IPv4/TCP packet with raw IP option and TCP option bytes (each a
/// multiple of 4), checksums filled in.
fn raw_packet(ip_opts: &[u8], flags: u8, tcp_opts: &[u8], payload: &[u8]) -> Vec<u8> {
    let ihl = 20 + ip_opts.len();
    let total = ihl + 20 + tcp_opts.len() + payload.len();
    let mut p = vec![0x40 | (ihl / 4) as u8, 0];
    p.extend((total as u16).to_be_bytes());
    p.extend([0xbe, 0xef, 0x40, 0x00, 64, 6, 0, 0]);
    p.extend(A.octets());
    p.extend(B.octets());
    p.extend(ip_opts);
    p.extend(40000u16.to_be_bytes());
    p.extend(443u16.to_be_bytes());
    p.extend(0xfffff000u32.to_be_bytes());
    p.extend(0x0000_0010u32.to_be_bytes());
    p.push((((20 + tcp_opts.len()) / 4) as u8) << 4);
    p.push(flags);
    p.extend(1024u16.to_be_bytes());
    p.extend([0, 0, 0, 0]);
    p.extend(tcp_opts);
    p.extend(payload);
    fix_checksums(&mut p, true, true);
    p
}

fn segment_parse_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let ts = Some(Timestamps { tsval: 123_456, tsecr: 0 });
    let syn_opts = TcpOptions {
        mss: Some(1460),
        window_scale: Some(7),
        sack_permitted: true,
        timestamps: ts,
        ..Default::default()
    };
    let mut data_opts = TcpOptions { timestamps: Some(Timestamps { tsval: 123_500, tsecr: 99 }), ..Default::default() };
    data_opts.push_sack(SackBlock { left: SeqNum(0x2000_1001), right: SeqNum(0x2000_2001) });
    let mut four_sacks = TcpOptions::default();
    for i in 0..4u32 {
        four_sacks.push_sack(SackBlock { left: SeqNum(1000 * i + 100), right: SeqNum(1000 * i + 600) });
    }
    let mut corrupted = emitted(&header(Flags::ACK | Flags::PSH, data_opts), b"hello, world");
    let last = corrupted.len() - 1;
    corrupted[last] ^= 0x10;
    let mut padded = emitted(&header(Flags::ACK, TcpOptions::default()), b"");
    padded.extend([0; 6]); // Ethernet minimum-frame padding
    let mut syn_fin_port0 = header(Flags::SYN | Flags::FIN | Flags::URG, TcpOptions::default());
    syn_fin_port0.src_port = 0;
    syn_fin_port0.urgent = 3;
    vec![
        ("syn_all_options", with_mode(0, &emitted(&header(Flags::SYN, syn_opts), b""))),
        (
            "synack_mss_only",
            with_mode(
                0,
                &emitted(&header(Flags::SYN | Flags::ACK, TcpOptions { mss: Some(536), ..Default::default() }), b""),
            ),
        ),
        ("data_ts_sack", with_mode(0, &emitted(&header(Flags::ACK | Flags::PSH, data_opts), b"hello, world"))),
        ("rst", with_mode(0, &emitted(&header(Flags::RST, TcpOptions::default()), b""))),
        ("fin_ack", with_mode(0, &emitted(&header(Flags::FIN | Flags::ACK, TcpOptions::default()), b""))),
        ("four_sack_blocks", with_mode(0, &emitted(&header(Flags::ACK, four_sacks), b""))),
        ("syn_fin_urg_port0", with_mode(0, &emitted(&syn_fin_port0, b"x"))),
        ("bad_tcp_checksum", with_mode(0, &corrupted)),
        ("ethernet_padding", with_mode(0, &padded)),
        // IP options (NOP NOP NOP EOL); TCP: unknown kind 30, NOP, EOL and junk after it.
        (
            "ip_options_unknown_tcp_option",
            with_mode(
                FIX_IP_CHECKSUM | FIX_TCP_CHECKSUM,
                &raw_packet(&[1, 1, 1, 0], 0x18, &[30, 6, 1, 2, 3, 4, 1, 0, 2, 3, 0, 0], b"abc"),
            ),
        ),
        // Window scale 20 (clamped to 14 by both parsers), duplicate MSS (the last wins).
        (
            "window_scale_20_duplicate_mss",
            with_mode(
                FIX_IP_CHECKSUM | FIX_TCP_CHECKSUM,
                &raw_packet(&[], 0x02, &[3, 3, 20, 2, 4, 1, 0, 2, 4, 2, 0, 0, 0], b""),
            ),
        ),
        // Timestamps with length 6: ToyTCP rejects, smoltcp skips it.
        (
            "timestamps_length_6",
            with_mode(FIX_IP_CHECKSUM | FIX_TCP_CHECKSUM, &raw_packet(&[], 0x10, &[8, 6, 0, 0, 0, 1, 1, 1], b"")),
        ),
        // SACK with a length that is not 2 + 8n: both reject.
        (
            "sack_bad_length",
            with_mode(FIX_IP_CHECKSUM | FIX_TCP_CHECKSUM, &raw_packet(&[], 0x10, &[5, 6, 0, 0, 0, 1, 1, 1], b"")),
        ),
    ]
}

fn setup(handshake: bool) -> Setup {
    Setup {
        seed: 7,
        timestamps: true,
        sack: true,
        window_scale: true,
        nodelay: false,
        mss: 3,         // 1460
        send_buffer: 3, // 65535
        recv_buffer: 2, // 8192
        handshake,
        recovery: 0, // the core's defaults
    }
}

fn forge(to_server: bool, target: Target, flags: Flags, seq_off: i32, ack_off: i32, len: u16) -> Op {
    Op::Forge(Forge {
        to_server,
        sel: 0,
        target,
        flags: flags.0,
        seq_off,
        ack_off,
        len,
        window: 8192,
        mss: None,
        ws: None,
        sack_ok: false,
        ts: Some((1, 0)),
        sack: [None; 2],
    })
}

fn connection_seeds() -> Vec<(&'static str, Input)> {
    use Op::*;
    let until_quiet = |n: usize| -> Vec<Op> { (0..n).flat_map(|_| [DeliverMany, AdvanceToDeadline]).collect() };
    let mut seeds = Vec::new();

    let mut ops =
        vec![Send { client: true, sel: 0, len: 3000 }, DeliverMany, Recv { client: false, sel: 0, len: 4096 }];
    ops.extend([Send { client: false, sel: 0, len: 100 }, DeliverMany, Recv { client: true, sel: 0, len: 200 }]);
    ops.extend([Shutdown { client: true, sel: 0 }, DeliverMany, Recv { client: false, sel: 0, len: 10 }]);
    ops.extend([Close { client: false, sel: 0 }, DeliverMany, AdvanceSecs { secs: 3 }]);
    seeds.push(("exchange_and_graceful_close", Input { setup: setup(true), ops }));

    let mut ops = vec![Drop, AdvanceToDeadline, Deliver, Deliver, Deliver, Send { client: true, sel: 0, len: 10 }];
    ops.extend(until_quiet(3));
    ops.push(Recv { client: false, sel: 0, len: 100 });
    seeds.push(("lost_syn_then_data", Input { setup: setup(false), ops }));

    let mut ops = vec![Send { client: true, sel: 0, len: 20000 }, Drop, Deliver, Reorder { to: 3 }, Duplicate, Drop];
    ops.extend([DeliverMany, Recv { client: false, sel: 0, len: 9000 }]);
    ops.extend(until_quiet(6));
    ops.push(Recv { client: false, sel: 0, len: 20000 });
    seeds.push(("bulk_with_loss_reorder_sack", Input { setup: setup(true), ops: ops.clone() }));
    // The same with every loss-recovery mechanism off and NewReno.
    let fallbacks = Setup { recovery: crate::conn::RECOVERY_BITS, ..setup(true) };
    seeds.push(("bulk_with_loss_reorder_recovery_off", Input { setup: fallbacks, ops }));

    let ops = vec![
        forge(true, Target::Conn, Flags::RST, 5, 0, 0),
        forge(true, Target::Conn, Flags::ACK, 0, 0, 0),
        forge(true, Target::Conn, Flags::SYN, 0, 0, 0),
        forge(true, Target::Conn, Flags::ACK | Flags::PSH, 10, 0, 100),
        forge(true, Target::Conn, Flags::ACK | Flags::PSH, 0, 0, 20),
        Recv { client: false, sel: 0, len: 1000 },
        forge(false, Target::Conn, Flags::ACK, 0, 1000, 0),
        forge(true, Target::Listener { src_port: 5555 }, Flags::SYN, 0, 0, 0),
        forge(true, Target::ClosedPort { src_port: 5556 }, Flags::SYN, 0, 0, 0),
        forge(true, Target::ClosedPort { src_port: 5557 }, Flags::ACK, 0, 0, 10),
        DeliverMany,
        forge(true, Target::Conn, Flags::RST, 0, 0, 0),
        DeliverMany,
        AdvanceToDeadline,
    ];
    seeds.push(("forged_rst_syn_data", Input { setup: setup(true), ops }));

    let mut ops = vec![Send { client: true, sel: 0, len: 2000 }, Corrupt { at: 50, bit: 3 }, Corrupt { at: 3, bit: 0 }];
    ops.extend(until_quiet(3));
    ops.push(Recv { client: false, sel: 0, len: 4000 });
    seeds.push(("corrupted_segments", Input { setup: setup(true), ops }));

    let mut small = setup(true);
    small.recv_buffer = 0; // 512 bytes
    small.mss = 0; // 64
    let mut ops = vec![Send { client: true, sel: 0, len: 5000 }];
    ops.extend(until_quiet(8));
    ops.extend([Recv { client: false, sel: 0, len: 300 }, Recv { client: false, sel: 0, len: 300 }]);
    ops.extend(until_quiet(4));
    ops.push(Recv { client: false, sel: 0, len: 5000 });
    seeds.push(("zero_window_probe_tiny_mss", Input { setup: small, ops }));

    let mut ops = vec![SetKeepalive { client: true, sel: 0, idle_ms: 100 }];
    ops.extend(until_quiet(2));
    ops.extend([Drop, AdvanceToDeadline, Drop, AdvanceToDeadline, Drop, AdvanceToDeadline, Drop, AdvanceToDeadline]);
    seeds.push(("keepalive_timeout", Input { setup: setup(true), ops }));

    let ops = vec![
        Connect { closed_port: true },
        DeliverMany,
        Connect { closed_port: false },
        Send { client: true, sel: 1, len: 100 },
        DeliverMany,
        Abort { client: false, sel: 0 },
        Abort { client: true, sel: 0 },
        DeliverMany,
        SetNodelay { client: true, sel: 0, on: true },
        Send { client: true, sel: 0, len: 10 },
        Send { client: true, sel: 0, len: 10 },
        DeliverMany,
        AdvanceSecs { secs: 200 },
    ];
    seeds.push(("abort_refused_second_connection", Input { setup: setup(true), ops }));

    // ICMP (RFC 9293 §3.9.2.2): a refused SYN, a stale quote, soft errors,
    // Source Quench, and Path MTU Discovery mid-transfer (a 1006-byte
    // hop, then MTU 0: the RFC 1191 plateau below the dropped size).
    let mut ops = vec![
        Connect { closed_port: false },
        Icmp { kind: 1, mtu: 0, stale: true },
        Connect { closed_port: false },
        Icmp { kind: 1, mtu: 0, stale: false },
        Send { client: true, sel: 0, len: 20000 },
        Icmp { kind: 0, mtu: 1006, stale: false },
        Icmp { kind: 3, mtu: 0, stale: false },
        Icmp { kind: 7, mtu: 0, stale: false },
        Icmp { kind: 0, mtu: 0, stale: false },
        Icmp { kind: 8, mtu: 0, stale: true },
    ];
    ops.extend(until_quiet(6));
    ops.push(Recv { client: false, sel: 0, len: 20000 });
    seeds.push(("icmp_refusal_soft_errors_and_pmtu", Input { setup: setup(true), ops }));

    let mut plain = setup(true);
    plain.timestamps = false;
    plain.sack = false;
    plain.window_scale = false;
    plain.send_buffer = 4; // 300000
    plain.recv_buffer = 4;
    let mut ops = vec![Send { client: false, sel: 0, len: 65535 }, Send { client: true, sel: 0, len: 65535 }];
    ops.extend(until_quiet(4));
    ops.extend([Shutdown { client: false, sel: 0 }, Close { client: true, sel: 0 }]);
    ops.extend(until_quiet(4));
    seeds.push(("no_options_both_directions_close_with_unread", Input { setup: plain, ops }));

    // Regression (found by this target): data at RCV.NXT into a zero
    // receive window, acknowledging 256 bytes never sent. The zero-window
    // allowance of RFC 9293 §3.10.7.4 took the ACK and moved SND.UNA past
    // SND.MAX. Fixed in toytcp-core's connection/input.rs.
    let mut zero = setup(true);
    zero.timestamps = false;
    zero.recv_buffer = 0; // 512 bytes: the server's window closes at once
    let ops = vec![
        Send { client: true, sel: 0, len: 4000 },
        DeliverMany,
        Op::Forge(crate::conn::Forge {
            to_server: true,
            sel: 0,
            target: Target::Conn,
            flags: (Flags::ACK | Flags::PSH).0,
            seq_off: 0,
            ack_off: 256,
            len: 4,
            window: 0,
            mss: None,
            ws: None,
            sack_ok: false,
            ts: None,
            sack: [None; 2],
        }),
        Send { client: false, sel: 0, len: 10 },
        DeliverMany,
        Recv { client: true, sel: 0, len: 100 },
    ];
    seeds.push(("regression_zero_window_ack_of_unsent_data", Input { setup: zero, ops }));

    // Regression (found by this target, minimised by `cargo fuzz tmin`): a
    // forged window update makes the server send past the client's
    // advertised right edge while the client's buffer has room (it read
    // 768 bytes, too few to reopen the window); the client took the excess
    // and RCV.NXT ran past RCV.ADV. Fixed in connection/input.rs (trim to
    // the window, RFC 9293 §3.10.7.4).
    let edge = Setup {
        seed: 263,
        timestamps: true,
        sack: true,
        window_scale: false,
        nodelay: false,
        mss: 135,       // 64
        send_buffer: 3, // 65535
        recv_buffer: 2, // 8192
        handshake: false,
        recovery: 0,
    };
    let mut ops = vec![DeliverMany, Send { client: false, sel: 0, len: 29028 }, Deliver];
    ops.extend([Recv { client: true, sel: 0, len: 768 }, DeliverMany, DeliverMany, DeliverMany, DeliverMany]);
    ops.extend([AdvanceToDeadline, Deliver]);
    ops.push(Op::Forge(crate::conn::Forge {
        to_server: true,
        sel: 0,
        target: Target::Conn,
        flags: (Flags::ACK | Flags::PSH).0,
        seq_off: 10,
        ack_off: 0,
        len: 40349,
        window: 7395,
        mss: None,
        ws: Some(114),
        sack_ok: true,
        ts: Some((56, 1)),
        sack: [None; 2],
    }));
    ops.push(Deliver);
    seeds.push(("regression_data_past_advertised_edge", Input { setup: edge, ops }));

    seeds
}

/// `len` bytes from a 64-bit LCG started at `key`.
fn lcg_bytes(key: u64, len: usize) -> Vec<u8> {
    let mut x = key;
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (x >> 56) as u8
        })
        .collect()
}

/// Inputs for `sim_scenario`. `toytcp_sim::scenario_from_bytes` draws 8
/// bytes per choice, so a full scenario takes several hundred bytes; these
/// are 1200 pseudo-random bytes each, plus the empty input (every choice
/// zero: the simplest scenario). The keys were picked for variety (loss,
/// burst loss, duplication, reordering, corruption, partitions; bulk, echo,
/// half-close, abort, refused, request/response), but what a given input
/// means follows the simulator's current decoder, which is still changing:
/// `cargo run --release --example simone -- corpus/sim_scenario/*` prints
/// the scenarios they are today. Any bytes are a valid scenario, so the
/// seeds stay valid, only different.
fn sim_scenario_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut seeds = vec![("empty", Vec::new())];
    for (name, key) in
        [("lcg_05", 5), ("lcg_06", 6), ("lcg_08", 8), ("lcg_14", 14), ("lcg_21", 21), ("lcg_26", 26), ("lcg_33", 33)]
    {
        seeds.push((name, lcg_bytes(key, 1200)));
    }
    seeds
}

/// Every seed of every target.
pub fn all() -> Vec<Seed> {
    let mut out = Vec::new();
    for (name, bytes) in segment_parse_seeds() {
        out.push(Seed { target: "segment_parse", name, bytes });
    }
    for (name, input) in connection_seeds() {
        let mut bytes = Vec::new();
        input.encode(&mut bytes);
        out.push(Seed { target: "connection", name, bytes });
    }
    for (name, bytes) in sim_scenario_seeds() {
        out.push(Seed { target: "sim_scenario", name, bytes });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::World;
    use std::path::Path;

    #[test]
    fn connection_seeds_decode_to_themselves() {
        for (name, input) in connection_seeds() {
            let mut bytes = Vec::new();
            input.encode(&mut bytes);
            assert_eq!(Input::decode(&bytes), input, "{name}");
        }
    }

    #[test]
    fn connection_seeds_pass() {
        for (name, input) in connection_seeds() {
            let w = World::run(&input);
            let (read, packets) = w.totals();
            eprintln!("{name}: read {read}, {packets} packets, states {:?}", w.states());
            assert!(packets >= 6, "{name} barely runs");
            if name == "exchange_and_graceful_close" {
                assert_eq!(read, 3100, "{name}");
                assert_eq!(w.states(), [toytcp_core::State::Closed], "{name}");
            }
        }
    }

    #[test]
    fn segment_parse_seeds_pass_and_cover_accept_and_reject() {
        let mut accepted = 0;
        for (name, bytes) in segment_parse_seeds() {
            let verdict = crate::run_segment_parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            accepted += usize::from(verdict);
        }
        assert!(accepted >= 8, "most seeds are valid packets ({accepted})");
    }

    #[test]
    fn sim_scenario_seeds_pass() {
        for (name, bytes) in sim_scenario_seeds() {
            if let Err(f) = crate::run_sim_scenario(&bytes) {
                panic!("seed {name}: {f}");
            }
        }
    }

    #[test]
    fn committed_corpus_matches() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
        for s in all() {
            let path = root.join(s.target).join(s.name);
            let on_disk = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("{}: {e} (run `cargo run --example gen_corpus`)", path.display()));
            assert!(on_disk == s.bytes, "{} is stale: run `cargo run --example gen_corpus` in fuzz/", path.display());
        }
    }
}
