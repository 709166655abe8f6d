//! Every combination of the loss-recovery switches (`sack`, `timestamps`,
//! `sack_recovery`, `rack`, `prr`, `frto`) moves data intact over a lossy,
//! reordering, duplicating path, with the connections' invariants checked
//! after every step. (The simulator's swarm draws only `sack` from its
//! seeds; this covers the other switches.)

use std::collections::BinaryHeap;
use std::net::{Ipv4Addr, SocketAddrV4};
use toytcp_core::{Connection, ConnectionConfig, Duration, Error, FourTuple, Instant, SeqNum, wire};

/// A tiny deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A packet in flight: (arrival time in µs, sequence for a stable order, to the server?, bytes).
type InFlight = std::cmp::Reverse<(u64, u64, bool, Vec<u8>)>;

fn byte(offset: usize) -> u8 {
    (offset % 251) as u8
}

/// Sends `total` bytes from client to server over a path that loses,
/// reorders and duplicates packets; returns the virtual time it took.
fn transfer(cfg: &ConnectionConfig, seed: u64, total: usize) -> Duration {
    let mut rng = Rng(seed | 1);
    let tuple = FourTuple {
        local: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 50000),
        remote: SocketAddrV4::new(Ipv4Addr::new(10, 0, 1, 1), 40000),
    };
    let start = Instant::from_millis(1);
    let mut now = start;
    let mut client = Connection::connect(now, cfg, tuple, SeqNum(0xFFFF_F000), 3);
    let mut server: Option<Connection> = None;
    let mut wire_q: BinaryHeap<InFlight> = BinaryHeap::new();
    let mut serial = 0u64;
    let (mut sent, mut received, mut eof) = (0usize, 0usize, false);
    let mut buf = vec![0u8; 2048];
    let mut chunk = vec![0u8; 8192];
    let deadline = start + Duration::from_secs(900);
    loop {
        // The application: write what fits, read what arrived.
        while sent < total {
            let n = (total - sent).min(chunk.len());
            for (i, b) in chunk[..n].iter_mut().enumerate() {
                *b = byte(sent + i);
            }
            match client.send(&chunk[..n]) {
                Ok(k) => sent += k,
                Err(Error::WouldBlock) => break,
                Err(e) => panic!("send: {e:?}"),
            }
        }
        if sent == total {
            let _ = client.shutdown();
        }
        if let Some(s) = server.as_mut() {
            loop {
                match s.recv(&mut chunk) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => {
                        for (i, b) in chunk[..n].iter().enumerate() {
                            assert_eq!(*b, byte(received + i), "byte {} corrupted", received + i);
                        }
                        received += n;
                    }
                    Err(_) => break,
                }
            }
        }
        if eof {
            assert_eq!(received, total);
            return now - start;
        }
        // Outputs onto the path: 3 % lost, 5 % held back up to 8 ms, 1 % duplicated.
        let mut out = Vec::new();
        while let Some(t) = client.poll_transmit(now, &mut buf) {
            out.push((true, buf[..t.len].to_vec()));
        }
        if let Some(s) = server.as_mut() {
            while let Some(t) = s.poll_transmit(now, &mut buf) {
                out.push((false, buf[..t.len].to_vec()));
            }
        }
        for (to_server, packet) in out {
            if rng.chance(0.03) {
                continue;
            }
            let copies = if rng.chance(0.01) { 2 } else { 1 };
            for _ in 0..copies {
                let mut delay = 5_000;
                if rng.chance(0.05) {
                    delay += rng.below(8_000);
                }
                serial += 1;
                wire_q.push(std::cmp::Reverse((now.as_micros() + delay, serial, to_server, packet.clone())));
            }
        }
        // The next event: a packet arriving or a timer.
        let timers = [client.poll_timeout(), server.as_ref().and_then(Connection::poll_timeout)];
        let next_timer = timers.into_iter().flatten().min();
        let next_packet = wire_q.peek().map(|p| Instant::from_micros(p.0.0));
        let next = match (next_timer, next_packet) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b).expect("something must be pending"),
        };
        now = now.max(next);
        assert!(now < deadline, "transfer not done by {now:?}: {received}/{total} bytes");
        while wire_q.peek().is_some_and(|p| p.0.0 <= now.as_micros()) {
            let std::cmp::Reverse((_, _, to_server, packet)) = wire_q.pop().expect("peeked");
            let seg = wire::parse(&packet).expect("our own packets parse");
            if to_server {
                match server.as_mut() {
                    Some(s) => s.handle_segment(now, &seg),
                    None if seg.header.flags.syn() => {
                        server = Some(Connection::accept(now, cfg, &seg, SeqNum(0x7FFF_FF00), 9));
                    }
                    None => {}
                }
            } else {
                client.handle_segment(now, &seg);
            }
        }
        client.handle_timeout(now);
        if let Some(s) = server.as_mut() {
            s.handle_timeout(now);
        }
        client.check_invariants().unwrap_or_else(|e| panic!("client: {e}"));
        if let Some(s) = server.as_ref() {
            s.check_invariants().unwrap_or_else(|e| panic!("server: {e}"));
        }
    }
}

#[test]
fn every_switch_combination_delivers_intact() {
    let mut seed = 11;
    for bits in 0u32..64 {
        let on = |k: u32| bits & (1 << k) != 0;
        let cfg = ConnectionConfig {
            sack: on(0),
            timestamps: on(1),
            sack_recovery: on(2),
            rack: on(3),
            prr: on(4),
            frto: on(5),
            min_rto: Duration::from_millis(200),
            initial_rto: Duration::from_millis(200),
            send_buffer: 64 * 1024,
            recv_buffer: 64 * 1024,
            time_wait: Duration::from_millis(10),
            ..ConnectionConfig::default()
        };
        for _ in 0..2 {
            seed += 1;
            let took = transfer(&cfg, seed, 400_000);
            assert!(took < Duration::from_secs(600), "{cfg:?}: {took:?}");
        }
    }
}
