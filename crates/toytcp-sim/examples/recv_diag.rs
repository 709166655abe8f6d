//! Receiver diagnosis (docs/notes/receiver.md): runs one flow of the
//! issue-5 recovery bench's dumbbell with capture on, then reports what the
//! receiver's ACK stream looked like to the sender — ACK count per data
//! segment, bytes newly acknowledged per ACK, ACK spacing, advertised
//! window, SACK blocks — and a timeline of the sender's flight size.
//!
//! `cargo run --release -p toytcp-sim --example recv_diag -- STACK [SECS] [PCAP]`
//! with STACK one of `smol` (smoltcp → smoltcp), `smol2toy` (smoltcp →
//! ToyTCP), `toy` (ToyTCP CUBIC → ToyTCP). PCAP, if given, receives the
//! bottleneck capture (both directions as delivered).

#[path = "../tests/common/mod.rs"]
#[allow(dead_code, reason = "shared test code, used in part")]
mod common;

use common::recovery::{Stack, single_flow};
use std::collections::BTreeMap;
use toytcp_core::config::CongestionAlgorithm;
use toytcp_core::{Duration, Instant};
use toytcp_sim::bench::{PathConfig, RECEIVER_ADDR};
use toytcp_sim::pcap;

/// The fields of one TCP segment this tool looks at.
struct Seg {
    t: u64,
    from_receiver: bool,
    seq: u32,
    ack: u32,
    flags: u8,
    win: u32,
    len: u32,
    wscale: Option<u8>,
    sack_blocks: usize,
    /// Right edge of the first SACK block.
    first_sack_right: u32,
}

/// Reads one captured IPv4/TCP packet; `None` if it is not one.
fn parse(t: u64, p: &[u8]) -> Option<Seg> {
    if p.len() < 40 || p[9] != 6 {
        return None;
    }
    let ihl = usize::from(p[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
    let src = [p[12], p[13], p[14], p[15]];
    let tcp = p.get(ihl..total)?;
    let doff = usize::from(*tcp.get(12)? >> 4) * 4;
    if tcp.len() < doff || doff < 20 {
        return None;
    }
    let mut wscale = None;
    let mut sack_blocks = 0;
    let mut first_sack_right = 0;
    let mut i = 20;
    while i < doff {
        match tcp[i] {
            0 => break,
            1 => i += 1,
            kind => {
                let l = usize::from(*tcp.get(i + 1)?).max(2);
                if i + l > doff {
                    return None;
                }
                if kind == 3 {
                    wscale = Some(tcp[i + 2]);
                }
                if kind == 5 {
                    sack_blocks = (l - 2) / 8;
                    if sack_blocks > 0 && l >= 10 {
                        first_sack_right = u32::from_be_bytes(tcp[i + 6..i + 10].try_into().ok()?);
                    }
                }
                i += l;
            }
        }
    }
    Some(Seg {
        t,
        from_receiver: src == RECEIVER_ADDR.octets(),
        seq: u32::from_be_bytes(tcp[4..8].try_into().ok()?),
        ack: u32::from_be_bytes(tcp[8..12].try_into().ok()?),
        flags: tcp[13],
        win: u32::from(u16::from_be_bytes([tcp[14], tcp[15]])),
        len: (tcp.len() - doff) as u32,
        wscale,
        sack_blocks,
        first_sack_right,
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let stack = match args.get(1).map(String::as_str) {
        Some("smol") => Stack::Smoltcp,
        Some("smol2toy") => Stack::SmoltcpToToyTcp,
        Some("toy") => Stack::ToyTcp(CongestionAlgorithm::Cubic),
        _ => {
            eprintln!("usage: recv_diag smol|smol2toy|toy [SECS] [PCAP]");
            std::process::exit(2);
        }
    };
    let secs: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    let path = PathConfig::issue5();
    let (mut db, probe) = single_flow(stack, &path, 1, None);
    db.world.set_capture(true);
    db.run_until(Instant::ZERO + Duration::from_secs(secs)).expect("run");
    let link = db.bottleneck().expect("receiver");
    let delivered = pcap::read(db.world.pcap(link).as_slice()).expect("pcap");
    let sent = pcap::read(db.world.pcap_sent(link).as_slice()).expect("pcap");
    if let Some(file) = args.get(3) {
        std::fs::write(file, db.world.pcap(link)).expect("write pcap");
    }
    let app_bytes = probe();
    let to_segs =
        |c: &pcap::Capture| -> Vec<Seg> { c.records.iter().filter_map(|r| parse(r.at.as_micros(), &r.data)).collect() };
    let delivered = to_segs(&delivered);
    let sent = to_segs(&sent);

    // Window scale the receiver announced in its SYN-ACK.
    let rcv_ws = delivered.iter().find(|s| s.from_receiver && s.flags & 0x02 != 0).and_then(|s| s.wscale).unwrap_or(0);
    let acks: Vec<&Seg> = delivered.iter().filter(|s| s.from_receiver && s.flags & 0x02 == 0).collect();
    let data_in: Vec<&Seg> = delivered.iter().filter(|s| !s.from_receiver && s.len > 0).collect();
    let mut pure_acks = 0u64;
    let mut dup_acks = 0u64;
    // ACKs whose first SACK block lies at or below the ACK number: D-SACKs
    // answering an old duplicate (RFC 2883 §4.1).
    let mut dsack_old = 0u64;
    // Third consecutive duplicate ACK with an unchanged window: where an
    // RFC 5681 sender (smoltcp) enters fast retransmit.
    let (mut dup_run, mut third_dups) = (0u32, 0u64);
    let mut last_win_raw: Option<u32> = None;
    let mut with_sack = 0u64;
    let mut acked_hist: BTreeMap<u32, u64> = BTreeMap::new();
    let mut gaps_us: Vec<u64> = Vec::new();
    let mut last_ack: Option<(u32, u64)> = None;
    let mut win_min = u64::MAX;
    let mut win_max = 0u64;
    let mut win_updates = 0u64;
    for a in &acks {
        if a.len == 0 {
            pure_acks += 1;
        }
        if a.sack_blocks > 0 {
            with_sack += 1;
        }
        let w = u64::from(a.win) << rcv_ws;
        win_min = win_min.min(w);
        win_max = win_max.max(w);
        if let Some((prev, t)) = last_ack {
            let adv = a.ack.wrapping_sub(prev);
            if adv == 0 {
                dup_acks += 1;
                if last_win_raw == Some(a.win) {
                    dup_run += 1;
                    if dup_run == 3 {
                        third_dups += 1;
                    }
                }
            } else if adv < 1 << 30 {
                dup_run = 0;
                *acked_hist.entry(adv.div_ceil(1448).min(9)).or_default() += 1;
            } else {
                win_updates += 1;
            }
            gaps_us.push(a.t - t);
        }
        if a.sack_blocks > 0 && (a.ack.wrapping_sub(a.first_sack_right) as i32) >= 0 {
            dsack_old += 1;
        }
        last_ack = Some((a.ack, a.t));
        last_win_raw = Some(a.win);
    }
    gaps_us.sort_unstable();
    let pct = |q: f64| gaps_us.get(((gaps_us.len() as f64 - 1.0) * q) as usize).copied().unwrap_or(0);
    println!(
        "stack {:?}, {secs} s, app read {} bytes = {:.2} Mbit/s",
        args[1],
        app_bytes,
        app_bytes as f64 * 8.0 / secs as f64 / 1e6
    );
    println!(
        "data segments delivered {}, ACK segments {} (pure {}), ACKs per data segment {:.3}",
        data_in.len(),
        acks.len(),
        pure_acks,
        acks.len() as f64 / data_in.len().max(1) as f64
    );
    println!("dup ACKs {dup_acks}, ACKs with SACK blocks {with_sack}, receiver wscale {rcv_ws}, other {win_updates}");
    println!("D-SACK ACKs for old duplicates {dsack_old}, third dup ACKs (same window) {third_dups}");
    println!("newly acked per ACK (in 1448-byte segments, 9 = 9+): {acked_hist:?}");
    println!("ACK spacing µs: p10 {} p50 {} p90 {} p99 {} max {}", pct(0.1), pct(0.5), pct(0.9), pct(0.99), pct(1.0));
    println!("advertised window: min {win_min} max {win_max}");

    // Timeline: the sender's flight (highest seq sent into the bottleneck
    // minus the highest ACK delivered back to the sender), data and ACK
    // counts, window advertised, per 100 ms for the first 2 s then per s.
    let mut events: Vec<(u64, bool, u32)> = Vec::new(); // (t, is_ack, value)
    for s in sent.iter().filter(|s| !s.from_receiver && s.len > 0) {
        events.push((s.t, false, s.seq.wrapping_add(s.len)));
    }
    for a in &acks {
        events.push((a.t, true, a.ack));
    }
    events.sort_by_key(|e| e.0);
    let base = sent.iter().find(|s| !s.from_receiver).map_or(0, |s| s.seq);
    let rel = |v: u32| v.wrapping_sub(base) as i64;
    let (mut snd_max, mut una) = (0i64, 0i64);
    let mut bucket_end = 100_000u64;
    let (mut max_flight, mut n_data, mut n_acks, mut last_win) = (0i64, 0u64, 0u64, 0u64);
    let mut acks_iter = acks.iter().peekable();
    println!("   t(s)  max-flight(kB)  data-segs  acks  last-win(kB)  acked(MB)");
    for (t, is_ack, v) in events {
        while t >= bucket_end {
            println!(
                "{:7.1} {:15.1} {:10} {:5} {:13.1} {:10.2}",
                bucket_end as f64 / 1e6,
                max_flight as f64 / 1e3,
                n_data,
                n_acks,
                last_win as f64 / 1e3,
                una as f64 / 1e6
            );
            (max_flight, n_data, n_acks) = (0, 0, 0);
            bucket_end += if bucket_end < 2_000_000 { 100_000 } else { 1_000_000 };
        }
        if is_ack {
            una = una.max(rel(v));
            n_acks += 1;
            while let Some(a) = acks_iter.peek() {
                if a.t > t {
                    break;
                }
                last_win = u64::from(a.win) << rcv_ws;
                acks_iter.next();
            }
        } else {
            snd_max = snd_max.max(rel(v));
            n_data += 1;
        }
        max_flight = max_flight.max(snd_max - una);
    }
}
