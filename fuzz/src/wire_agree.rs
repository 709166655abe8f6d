//! The oracle of the `segment_parse` fuzz target and of
//! `crates/toytcp-core/tests/smoltcp_wire.rs` (which includes this file by
//! path, so it depends on nothing but `toytcp_core` and `smoltcp`).
//!
//! [`check`] parses one packet with `toytcp_core::wire::parse` and checks:
//!
//! 1. **Round trip.** A packet that parses is emitted again with
//!    `wire::emit` (same addresses, header and payload) and the result
//!    parses to the same `Segment`. `emit` may refuse only for the reasons
//!    it documents: re-encoded options over 40 bytes (ToyTCP pads every
//!    option to 32 bits, so e.g. MSS + timestamps + three SACK blocks, 40
//!    bytes packed, needs 44), or a total length over 65535 for the same
//!    reason.
//! 2. **Agreement with smoltcp** (`smoltcp::wire`, 0.14) on every packet
//!    ToyTCP accepts: addresses, ports, SEQ, ACK, all eight flag bits,
//!    window, urgent pointer, payload, and the options (MSS, window scale,
//!    SACK-permitted, SACK blocks, timestamps) through
//!    `TcpPacket::options_summary` and through `TcpRepr::parse`.
//! 3. **Agreement on rejection**: a packet ToyTCP rejects is rejected by
//!    smoltcp too, except for the documented differences below.
//!
//! Where smoltcp legitimately differs, and how each difference is handled:
//!
//! - **Checksums under fuzzing.** smoltcp's `verify_checksum` returns
//!   `true` unconditionally when built with `--cfg fuzzing` (which
//!   cargo-fuzz sets for every crate). Checksum-rejection agreement is
//!   therefore checked only in normal builds ([`SMOLTCP_VERIFIES_CHECKSUMS`]).
//! - **`TcpRepr::parse` is stricter than a wire parser**: it rejects port 0
//!   and any two of SYN, FIN and RST together. ToyTCP parses those (the
//!   state machine decides what to do with them, RFC 9293 §3.10.7). `Repr`
//!   is compared exactly when neither applies, and must fail exactly when
//!   one does. The raw accessors and `options_summary` are compared always.
//! - **Window scale above 14.** ToyTCP clamps the shift to 14 at parse time
//!   (RFC 7323 §2.3); `options_summary` reports the raw byte, `Repr` clamps.
//!   The raw value is compared after clamping.
//! - **Four SACK blocks.** smoltcp keeps only the first three
//!   (`[Option<(u32, u32)>; 3]`); ToyTCP keeps up to four (RFC 2018 §3).
//!   The first three are compared.
//! - **Timestamps option with a length other than 10.** ToyTCP rejects the
//!   packet (`BadOption`, RFC 7323 §3.2 fixes the length at 10); smoltcp
//!   treats it as an unknown option and skips it. A `BadOption` that
//!   smoltcp accepts must be explained by such an option, found by walking
//!   the options with smoltcp's own `TcpOption::parse`.
//! - **IPv4 fragments** are rejected by both; this module checks the
//!   fragment fields itself rather than relying on smoltcp's `Ipv4Repr`,
//!   whose answer depends on the `proto-ipv4-fragmentation` feature that
//!   another crate in the build may enable.

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{IpAddress, IpProtocol, Ipv4Packet, TcpControl, TcpOption, TcpPacket, TcpRepr};
use toytcp_core::wire::{self, EmitError, Flags, MAX_OPTIONS_LEN, ParseError, Segment, TcpOptions};

/// False when smoltcp's checksum verification is compiled out (cargo-fuzz
/// builds everything with `--cfg fuzzing`, and smoltcp's `verify_checksum`
/// then always returns `true`).
#[allow(unexpected_cfgs)]
pub const SMOLTCP_VERIFIES_CHECKSUMS: bool = !cfg!(fuzzing);

/// The largest packet IPv4 can describe.
const MAX_PACKET: usize = u16::MAX as usize;

/// smoltcp's view of a packet that passed smoltcp's IPv4 and TCP checks.
struct SmolView<'a> {
    ip: Ipv4Packet<&'a [u8]>,
    tcp: TcpPacket<&'a [u8]>,
    src: IpAddress,
    dst: IpAddress,
}

/// Runs smoltcp's checks in the order a smoltcp interface applies them to
/// an IPv4/TCP packet; returns the name of the first that fails.
fn smol_view(packet: &[u8]) -> Result<SmolView<'_>, &'static str> {
    let ip = Ipv4Packet::new_checked(packet).map_err(|_| "ipv4 length fields")?;
    if ip.version() != 4 {
        return Err("ipv4 version");
    }
    if !ip.verify_checksum() {
        return Err("ipv4 checksum");
    }
    if ip.more_frags() || ip.frag_offset() != 0 {
        return Err("ipv4 fragment");
    }
    if ip.next_header() != IpProtocol::Tcp {
        return Err("not tcp");
    }
    let tcp = TcpPacket::new_checked(ip.payload()).map_err(|_| "tcp length / data offset")?;
    let src = IpAddress::Ipv4(ip.src_addr());
    let dst = IpAddress::Ipv4(ip.dst_addr());
    if !tcp.verify_checksum(&src, &dst) {
        return Err("tcp checksum");
    }
    Ok(SmolView { ip, tcp, src, dst })
}

/// The eight control bits as smoltcp reads them.
fn smol_flags(tcp: &TcpPacket<&[u8]>) -> Flags {
    Flags::NONE
        .with(Flags::FIN, tcp.fin())
        .with(Flags::SYN, tcp.syn())
        .with(Flags::RST, tcp.rst())
        .with(Flags::PSH, tcp.psh())
        .with(Flags::ACK, tcp.ack())
        .with(Flags::URG, tcp.urg())
        .with(Flags::ECE, tcp.ece())
        .with(Flags::CWR, tcp.cwr())
}

/// Our SACK blocks in smoltcp's shape: the first three, as `(left, right)`.
fn sack_ranges(opts: &TcpOptions) -> [Option<(u32, u32)>; 3] {
    let mut out = [None; 3];
    for (slot, b) in out.iter_mut().zip(opts.sacks()) {
        *slot = Some((b.left.0, b.right.0));
    }
    out
}

/// True if the options area, walked the way smoltcp walks it, holds a
/// timestamps option (kind 8) whose length is not 10 before the end of the
/// list or the first option smoltcp cannot parse.
fn has_misshapen_timestamps(mut options: &[u8]) -> bool {
    while !options.is_empty() {
        let Ok((rest, option)) = TcpOption::parse(options) else { return false };
        match option {
            TcpOption::EndOfList => return false,
            TcpOption::Unknown { kind: 8, .. } => return true,
            _ => options = rest,
        }
    }
    false
}

/// What [`check`] found: ToyTCP's verdict on the packet.
pub type Verdict<'a> = Result<Segment<'a>, ParseError>;

/// Parses `packet` with ToyTCP and checks it against its own emitter and
/// against smoltcp as the module docs describe. Returns ToyTCP's verdict,
/// or a description of the first disagreement.
pub fn check(packet: &[u8]) -> Result<Verdict<'_>, String> {
    let ours = wire::parse(packet);
    match ours {
        Ok(seg) => {
            agree_accepted(packet, &seg).map_err(|e| format!("smoltcp disagrees on an accepted packet: {e}"))?;
            round_trip(&seg)?;
        }
        Err(e) => {
            agree_rejected(packet, e).map_err(|m| format!("smoltcp disagrees on a rejected packet ({e:?}): {m}"))?
        }
    }
    Ok(ours)
}

/// Compares one field; `Err` names it with both values.
fn same<T: PartialEq + core::fmt::Debug>(what: &str, ours: T, smol: T) -> Result<(), String> {
    if ours == smol { Ok(()) } else { Err(format!("{what}: toytcp {ours:?}, smoltcp {smol:?}")) }
}

fn agree_accepted(packet: &[u8], seg: &Segment<'_>) -> Result<(), String> {
    let v = smol_view(packet).map_err(|stage| format!("smoltcp rejects it at: {stage}"))?;
    let h = &seg.header;
    same("source address", seg.src_addr, v.ip.src_addr())?;
    same("destination address", seg.dst_addr, v.ip.dst_addr())?;
    same("source port", h.src_port, v.tcp.src_port())?;
    same("destination port", h.dst_port, v.tcp.dst_port())?;
    same("seq", h.seq.0, v.tcp.seq_number().0 as u32)?;
    same("ack", h.ack.0, v.tcp.ack_number().0 as u32)?;
    same("flags", h.flags, smol_flags(&v.tcp))?;
    same("window", h.window, v.tcp.window_len())?;
    same("urgent pointer", h.urgent, v.tcp.urgent_at())?;
    same("payload", seg.payload, v.tcp.payload())?;

    let o = &h.options;
    let sum = v.tcp.options_summary().map_err(|_| "options_summary rejects options ToyTCP accepts".to_string())?;
    same("MSS", o.mss, sum.max_segment_size)?;
    same("window scale (clamped to 14)", o.window_scale, sum.window_scale.map(|s| s.min(14)))?;
    same("SACK-permitted", o.sack_permitted, sum.sack_permitted)?;
    same("SACK blocks (first three)", sack_ranges(o), sum.sack_ranges)?;
    same("timestamps", o.timestamps.map(|t| (t.tsval, t.tsecr)), sum.timestamp)?;

    // TcpRepr: stricter, see the module docs.
    let f = h.flags;
    let repr_should_parse =
        h.src_port != 0 && h.dst_port != 0 && u8::from(f.syn()) + u8::from(f.fin()) + u8::from(f.rst()) <= 1;
    match TcpRepr::parse(&v.tcp, &v.src, &v.dst, &ChecksumCapabilities::default()) {
        Ok(r) => {
            if !repr_should_parse {
                return Err("TcpRepr::parse accepts a port 0 or a SYN/FIN/RST combination".into());
            }
            let control = if f.syn() {
                TcpControl::Syn
            } else if f.fin() {
                TcpControl::Fin
            } else if f.rst() {
                TcpControl::Rst
            } else if f.psh() {
                TcpControl::Psh
            } else {
                TcpControl::None
            };
            same("Repr control", control, r.control)?;
            same("Repr ack", f.ack().then_some(h.ack.0), r.ack_number.map(|a| a.0 as u32))?;
            same("Repr window", h.window, r.window_len)?;
            same("Repr MSS", o.mss, r.max_seg_size)?;
            same("Repr window scale", o.window_scale, r.window_scale)?;
            same("Repr SACK-permitted", o.sack_permitted, r.sack_permitted)?;
            same("Repr SACK blocks", sack_ranges(o), r.sack_ranges)?;
            same("Repr timestamps", o.timestamps.map(|t| (t.tsval, t.tsecr)), r.timestamp.map(|t| (t.tsval, t.tsecr)))?;
            same("Repr payload", seg.payload, r.payload)?;
        }
        Err(_) if repr_should_parse => return Err("TcpRepr::parse rejects a packet with valid ports and flags".into()),
        Err(_) => {}
    }
    Ok(())
}

fn agree_rejected(packet: &[u8], err: ParseError) -> Result<(), String> {
    let smol = smol_view(packet);
    match err {
        ParseError::BadOption => {
            // Everything before the options passed our checks, so it must
            // pass smoltcp's.
            let v = smol.map_err(|stage| format!("smoltcp rejects it earlier, at: {stage}"))?;
            if v.tcp.options_summary().is_ok() && !has_misshapen_timestamps(v.tcp.options()) {
                return Err(
                    "smoltcp accepts the options and no timestamps option of the wrong length explains it".into()
                );
            }
            Ok(())
        }
        ParseError::BadIpChecksum | ParseError::BadTcpChecksum if !SMOLTCP_VERIFIES_CHECKSUMS => Ok(()),
        _ => match smol {
            Ok(_) => Err("smoltcp accepts it".into()),
            Err(_) => Ok(()),
        },
    }
}

/// emit(parse(x)) parses to parse(x), or `emit` refuses for a documented
/// reason.
fn round_trip(seg: &Segment<'_>) -> Result<(), String> {
    let h = &seg.header;
    let overhead = wire::segment_overhead(&h.options);
    let mut buf = vec![0u8; (overhead + seg.payload.len()).min(MAX_PACKET)];
    match wire::emit(seg.src_addr, seg.dst_addr, h, &[seg.payload], &mut buf) {
        Ok(n) => {
            let again = wire::parse(&buf[..n]).map_err(|e| format!("emit(parse(x)) does not parse: {e:?}"))?;
            if again != *seg {
                return Err(format!("emit(parse(x)) parses differently:\n  first  {seg:?}\n  second {again:?}"));
            }
            // What we emit must also be what smoltcp reads.
            agree_accepted(&buf[..n], &again).map_err(|e| format!("smoltcp disagrees on emit(parse(x)): {e}"))
        }
        Err(EmitError::OptionsTooLong) if overhead - 40 > MAX_OPTIONS_LEN => Ok(()),
        Err(EmitError::PayloadTooLong) if overhead + seg.payload.len() > MAX_PACKET => Ok(()),
        Err(e) => {
            Err(format!("emit refuses a parsed segment: {e:?} (overhead {overhead}, payload {})", seg.payload.len()))
        }
    }
}
