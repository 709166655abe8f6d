//! Bulk-transfer benchmark: ToyTCP↔ToyTCP against smoltcp↔smoltcp in the
//! same in-memory loop (issue 3, "A first benchmark").
//!
//! Both pairs run over IPv4 with a 1500-byte MTU, 256 KiB send and receive
//! buffers on both sides, checksums computed on send and verified on
//! receive. The sending application copies its data in from a 1 MiB
//! pattern, the receiving one copies it out into a 64 KiB buffer and checks
//! the ends of every read against the pattern (every byte with
//! `TOYTCP_BENCH_VERIFY=1`). The link is lossless with zero latency:
//! packets go through a FIFO queue and are handed over at once. Time is
//! virtual (it jumps to the next deadline when nothing moves), so the wall
//! clock measures CPU cost only.
//!
//! `cargo bench -p toytcp-sim --bench throughput` moves 1 GiB per stack in
//! each of 3 rounds; `TOYTCP_BENCH_BYTES=N` moves N bytes instead (suffixes
//! K, M, G allowed), `TOYTCP_BENCH_ROUNDS=R` runs R rounds, and
//! `TOYTCP_BENCH_ONLY=toytcp|smoltcp` runs one stack (for profiling).

#[path = "../tests/common/smol.rs"]
mod smol;

use smol::{PacketPool, SmolHost};
use smoltcp::socket::tcp;
use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Instant as WallClock;
use toytcp_core::{ConnectionConfig, Endpoint, EndpointConfig, EndpointEvent, Error, Instant};

const MTU: usize = 1500;
const BUFFER: usize = 256 * 1024;
const PATTERN: usize = 1 << 20;
const READ_CHUNK: usize = 64 * 1024;
const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const PORT: u16 = 5001;

/// What one run measured.
struct Outcome {
    bytes: u64,
    seconds: f64,
    packets: u64,
}

impl Outcome {
    fn goodput_mb_s(&self) -> f64 {
        self.bytes as f64 / self.seconds / 1e6
    }
}

/// The byte stream: byte `i` is `pattern[i % PATTERN]`.
fn pattern() -> Vec<u8> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..PATTERN)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Checks `data`, received at stream offset `at`, against the pattern:
/// every byte with `TOYTCP_BENCH_VERIFY=1`, else 16 bytes at each end of
/// every read (which still catches lost, duplicated or reordered data).
fn verify(pattern: &[u8], at: u64, data: &[u8]) {
    if !*FULL_VERIFY.get_or_init(|| std::env::var_os("TOYTCP_BENCH_VERIFY").is_some_and(|v| v == "1")) {
        let n = data.len().min(16);
        verify_all(pattern, at, &data[..n]);
        let tail = data.len() - n;
        verify_all(pattern, at + tail as u64, &data[tail..]);
        return;
    }
    verify_all(pattern, at, data);
}

static FULL_VERIFY: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

fn verify_all(pattern: &[u8], at: u64, data: &[u8]) {
    let mut off = (at % PATTERN as u64) as usize;
    let mut rest = data;
    while !rest.is_empty() {
        let n = rest.len().min(PATTERN - off);
        assert!(rest[..n] == pattern[off..off + n], "corrupted data near stream offset {at}");
        rest = &rest[n..];
        off = 0;
    }
}

/// The next slice of the stream to write, given `sent` bytes written of `total`.
fn next_chunk(pattern: &[u8], sent: u64, total: u64) -> &[u8] {
    let off = (sent % PATTERN as u64) as usize;
    let len = ((PATTERN - off) as u64).min(total - sent) as usize;
    &pattern[off..off + len]
}

fn toytcp_config(seed: u64) -> EndpointConfig {
    EndpointConfig {
        seed,
        connection: ConnectionConfig {
            mss: (MTU - 40) as u16,
            send_buffer: BUFFER,
            recv_buffer: BUFFER,
            // Pinned: no autotuning above BUFFER.
            send_buffer_max: BUFFER,
            recv_buffer_max: BUFFER,
            ..ConnectionConfig::default()
        },
        ..EndpointConfig::default()
    }
}

/// ToyTCP client → ToyTCP server, `total` bytes, then close.
/// Moves every segment `ep` has to send into `queue`, in buffers from `pool`.
fn drain_transmits(ep: &mut Endpoint, now: Instant, pool: &PacketPool, queue: &mut VecDeque<Vec<u8>>) {
    loop {
        let mut p = pool.take(MTU);
        let Some(t) = ep.poll_transmit(now, &mut p) else {
            pool.give(p);
            break;
        };
        p.truncate(t.len);
        queue.push_back(p);
    }
}

fn run_toytcp(total: u64, pattern: &[u8]) -> Outcome {
    let mut now = Instant::from_millis(1);
    let pool = PacketPool::default();
    let mut client = Endpoint::new(toytcp_config(1));
    let mut server = Endpoint::new(toytcp_config(2));
    let listen = SocketAddrV4::new(SERVER, PORT);
    server.listen(listen, 4).expect("listen");
    let ch = client.connect(now, CLIENT, listen).expect("connect");
    let mut sh = None;
    let mut to_server: VecDeque<Vec<u8>> = VecDeque::new();
    let mut to_client: VecDeque<Vec<u8>> = VecDeque::new();
    let mut sent = 0u64;
    let mut shut = false;
    let mut received = 0u64;
    let mut eof = false;
    let mut packets = 0u64;
    let mut sink = vec![0u8; READ_CHUNK];
    let start = WallClock::now();
    while !eof {
        let mut moved = false;
        // Sending application.
        while sent < total {
            match client.send(ch, next_chunk(pattern, sent, total)) {
                Ok(0) | Err(Error::WouldBlock) => break,
                Ok(n) => {
                    sent += n as u64;
                    moved = true;
                }
                Err(e) => panic!("send: {e}"),
            }
        }
        if sent == total && !shut {
            client.shutdown(ch).expect("shutdown");
            shut = true;
        }
        drain_transmits(&mut client, now, &pool, &mut to_server);
        while client.poll_event().is_some() {}
        // Client → server.
        while let Some(p) = to_server.pop_front() {
            server.handle(now, &p);
            pool.give(p);
            packets += 1;
            moved = true;
        }
        while let Some(ev) = server.poll_event() {
            if let EndpointEvent::Incoming { listener } = ev {
                sh = server.accept(listener);
            }
        }
        // Receiving application.
        if let Some(h) = sh {
            loop {
                match server.recv(h, &mut sink) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => {
                        verify(pattern, received, &sink[..n]);
                        received += n as u64;
                        moved = true;
                    }
                    Err(Error::WouldBlock) => break,
                    Err(e) => panic!("recv: {e}"),
                }
            }
        }
        drain_transmits(&mut server, now, &pool, &mut to_client);
        while server.poll_event().is_some() {}
        // Server → client.
        while let Some(p) = to_client.pop_front() {
            client.handle(now, &p);
            pool.give(p);
            packets += 1;
            moved = true;
        }
        if !moved {
            let next = [client.poll_timeout(), server.poll_timeout()].into_iter().flatten().min();
            let Some(next) = next else { panic!("toytcp stalled at {received} of {total} bytes") };
            now = next.max(Instant::from_micros(now.as_micros() + 1));
            client.handle_timeout(now);
            server.handle_timeout(now);
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    assert_eq!(received, total);
    let sh = sh.expect("accepted");
    let stats = server.connection(sh).map(|c| c.stats()).unwrap_or_default();
    println!(
        "  toytcp: receiver took {} segments in and sent {} out; virtual time {} ms",
        stats.segs_in,
        stats.segs_out,
        now.as_millis()
    );
    Outcome { bytes: received, seconds, packets }
}

/// smoltcp client → smoltcp server, `total` bytes, then close.
fn run_smoltcp(total: u64, pattern: &[u8]) -> Outcome {
    let mut now = Instant::from_millis(1);
    let pool = PacketPool::default();
    let mut client = SmolHost::new(now, CLIENT, MTU, BUFFER, pool.clone());
    let mut server = SmolHost::new(now, SERVER, MTU, BUFFER, pool.clone());
    server.listen(PORT);
    client.connect(SocketAddrV4::new(SERVER, PORT), 49152);
    let mut sent = 0u64;
    let mut shut = false;
    let mut received = 0u64;
    let mut eof = false;
    let mut packets = 0u64;
    let mut sink = vec![0u8; READ_CHUNK];
    let start = WallClock::now();
    while !eof {
        let mut moved = false;
        // Sending application.
        {
            let s = client.socket();
            while sent < total && s.can_send() {
                match s.send_slice(next_chunk(pattern, sent, total)) {
                    Ok(0) => break,
                    Ok(n) => {
                        sent += n as u64;
                        moved = true;
                    }
                    Err(e) => panic!("send: {e}"),
                }
            }
            if sent == total && !shut && s.may_send() {
                s.close();
                shut = true;
            }
        }
        client.poll(now);
        // Client → server.
        while let Some(p) = client.take_tx() {
            server.deliver(p);
            packets += 1;
            moved = true;
        }
        server.poll(now);
        // Receiving application.
        {
            let s = server.socket();
            loop {
                match s.recv_slice(&mut sink) {
                    Ok(0) => break,
                    Ok(n) => {
                        verify(pattern, received, &sink[..n]);
                        received += n as u64;
                        moved = true;
                    }
                    Err(tcp::RecvError::Finished) => {
                        eof = true;
                        break;
                    }
                    Err(tcp::RecvError::InvalidState) => break,
                }
            }
        }
        server.poll(now);
        // Server → client.
        while let Some(p) = server.take_tx() {
            client.deliver(p);
            packets += 1;
            moved = true;
        }
        if !moved {
            let next = [client.poll_at(now), server.poll_at(now)].into_iter().flatten().min();
            let Some(next) = next else { panic!("smoltcp stalled at {received} of {total} bytes") };
            now = next.max(Instant::from_micros(now.as_micros() + 1));
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    assert_eq!(received, total);
    println!("  smoltcp: virtual time {} ms", now.as_millis());
    Outcome { bytes: received, seconds, packets }
}

/// Parses `TOYTCP_BENCH_BYTES` (a number with an optional K/M/G suffix, binary units).
fn bytes_from_env() -> Result<u64, String> {
    let Ok(v) = std::env::var("TOYTCP_BENCH_BYTES") else { return Ok(1 << 30) };
    let v = v.trim();
    let (num, shift) = match v.chars().last() {
        Some('k' | 'K') => (&v[..v.len() - 1], 10),
        Some('m' | 'M') => (&v[..v.len() - 1], 20),
        Some('g' | 'G') => (&v[..v.len() - 1], 30),
        _ => (v, 0),
    };
    let n: u64 = num.parse().map_err(|e| format!("TOYTCP_BENCH_BYTES={v:?}: {e}"))?;
    n.checked_shl(shift).filter(|&b| b > 0).ok_or_else(|| format!("TOYTCP_BENCH_BYTES={v:?}: out of range"))
}

fn report(name: &str, o: &Outcome) {
    println!(
        "{name:>8}: {:>6} MiB in {:>7.3} s = {:>8.1} MB/s goodput, {} packets ({:.0} ns/packet)",
        o.bytes >> 20,
        o.seconds,
        o.goodput_mb_s(),
        o.packets,
        o.seconds * 1e9 / o.packets as f64
    );
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this too,
    // and then a tiny transfer is enough to prove it works.
    let testing = !std::env::args().any(|a| a == "--bench");
    let total = match bytes_from_env() {
        Ok(b) if !testing || std::env::var_os("TOYTCP_BENCH_BYTES").is_some() => b,
        Ok(_) => 4 << 20,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let rounds = match std::env::var("TOYTCP_BENCH_ROUNDS") {
        Ok(v) => match v.trim().parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                eprintln!("error: TOYTCP_BENCH_ROUNDS={v:?}: expected a positive number");
                std::process::exit(2);
            }
        },
        Err(_) => 3,
    };
    let only = std::env::var("TOYTCP_BENCH_ONLY").unwrap_or_default();
    let (run_toy, run_smol) = (only.is_empty() || only == "toytcp", only.is_empty() || only == "smoltcp");
    let pattern = pattern();
    println!(
        "bulk transfer, IPv4, MTU {MTU}, {} KiB buffers, {total} bytes per stack per round, {rounds} round(s)",
        BUFFER >> 10
    );
    // Rounds alternate which stack goes first; on a shared machine the
    // per-round ratio and the best round of each stack are the figures
    // to trust.
    let (mut toy, mut smol, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let mut pair = (None, None);
        for which in if round % 2 == 0 { [0, 1] } else { [1, 0] } {
            if which == 0 && run_toy {
                let o = run_toytcp(total, &pattern);
                report("toytcp", &o);
                pair.0 = Some(o.goodput_mb_s());
            } else if which == 1 && run_smol {
                let o = run_smoltcp(total, &pattern);
                report("smoltcp", &o);
                pair.1 = Some(o.goodput_mb_s());
            }
        }
        toy.extend(pair.0);
        smol.extend(pair.1);
        if let (Some(t), Some(s)) = pair {
            println!("   round {}: toytcp/smoltcp = {:.2}x", round + 1, t / s);
            ratios.push(t / s);
        }
    }
    let best = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    if !toy.is_empty() {
        println!("  toytcp: best {:.1} MB/s, median {:.1} MB/s", best(&toy), median(toy.clone()));
    }
    if !smol.is_empty() {
        println!(" smoltcp: best {:.1} MB/s, median {:.1} MB/s", best(&smol), median(smol.clone()));
    }
    if !ratios.is_empty() {
        println!(
            "   ratio: toytcp/smoltcp goodput = {:.2}x (median of rounds), {:.2}x (best vs best); target >= 1.5x",
            median(ratios),
            best(&toy) / best(&smol)
        );
    }
}
