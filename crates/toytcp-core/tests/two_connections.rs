//! Two `Connection`s wired by hand with virtual time: the drive loop with
//! nothing but the core. A packet takes `LATENCY` to cross; when nothing is
//! in flight, the clock jumps to the next deadline.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};
use toytcp_core::{
    CloseReason, Connection, ConnectionConfig, Duration, Error, Event, FourTuple, Instant, SeqNum, State, wire,
};

const LATENCY: Duration = Duration::from_millis(1);

struct Pair {
    now: Instant,
    client: Connection,
    server: Option<Connection>,
    cfg: ConnectionConfig,
    /// (arrival time, to_server, packet)
    wire: VecDeque<(Instant, bool, Vec<u8>)>,
    client_events: Vec<Event>,
    server_events: Vec<Event>,
    packets: u64,
}

impl Pair {
    fn new(cfg: ConnectionConfig) -> Self {
        let tuple = FourTuple {
            local: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 50000),
            remote: SocketAddrV4::new(Ipv4Addr::new(10, 0, 1, 1), 40000),
        };
        let now = Instant::from_millis(1);
        let client = Connection::connect(now, &cfg, tuple, SeqNum(0xFFFF_0000), 7);
        Pair {
            now,
            client,
            server: None,
            cfg,
            wire: VecDeque::new(),
            client_events: vec![],
            server_events: vec![],
            packets: 0,
        }
    }

    fn server(&mut self) -> &mut Connection {
        self.server.as_mut().expect("server exists")
    }

    /// Drains outputs of both sides (transmits, then events).
    fn drain(&mut self) {
        let mut buf = vec![0u8; 2048];
        while let Some(t) = self.client.poll_transmit(self.now, &mut buf) {
            self.wire.push_back((self.now + LATENCY, true, buf[..t.len].to_vec()));
        }
        while let Some(e) = self.client.poll_event() {
            self.client_events.push(e);
        }
        if let Some(server) = self.server.as_mut() {
            while let Some(t) = server.poll_transmit(self.now, &mut buf) {
                self.wire.push_back((self.now + LATENCY, false, buf[..t.len].to_vec()));
            }
            while let Some(e) = server.poll_event() {
                self.server_events.push(e);
            }
        }
    }

    /// Advances to the next packet arrival or deadline and processes it.
    /// Returns false when nothing at all is pending.
    fn step(&mut self) -> bool {
        self.drain();
        let next_deadline = [self.client.poll_timeout(), self.server.as_ref().and_then(|s| s.poll_timeout())]
            .into_iter()
            .flatten()
            .min();
        let next_packet = self.wire.front().map(|p| p.0);
        let packet_first = match (next_packet, next_deadline) {
            (None, None) => return false,
            (Some(p), Some(d)) => p <= d,
            (p, _) => p.is_some(),
        };
        if packet_first {
            {
                let (at, to_server, pkt) = self.wire.pop_front().expect("front exists");
                self.now = self.now.max(at);
                self.packets += 1;
                let seg = wire::parse(&pkt).expect("core emits valid packets");
                if to_server {
                    match self.server.as_mut() {
                        Some(s) => s.handle_segment(self.now, &seg),
                        None => {
                            assert!(seg.header.flags.syn(), "first segment is a SYN");
                            self.server = Some(Connection::accept(self.now, &self.cfg, &seg, SeqNum(0x7FFF_FFF0), 3));
                        }
                    }
                } else {
                    self.client.handle_segment(self.now, &seg);
                }
            }
        } else if let Some(d) = next_deadline {
            {
                self.now = self.now.max(d);
                self.client.handle_timeout(self.now);
                if let Some(s) = self.server.as_mut() {
                    s.handle_timeout(self.now);
                }
            }
        }
        self.drain();
        true
    }

    fn run_until(&mut self, mut done: impl FnMut(&mut Pair) -> bool) {
        for _ in 0..10_000_000 {
            if done(self) {
                return;
            }
            if !self.step() {
                assert!(done(self), "nothing left to do and the condition never held");
                return;
            }
        }
        panic!("did not converge");
    }
}

fn pattern(offset: usize, len: usize, salt: u8) -> Vec<u8> {
    (offset..offset + len).map(|i| ((i * 31 + i / 977) as u8) ^ salt).collect()
}

#[test]
fn handshake_reaches_established_on_both_sides() {
    let mut p = Pair::new(ConnectionConfig::default());
    p.run_until(|p| p.server.as_ref().is_some_and(|s| s.state() == State::Established));
    assert_eq!(p.client.state(), State::Established);
    assert_eq!(p.client_events, vec![Event::Connected]);
    assert_eq!(p.server_events, vec![Event::Connected]);
    assert_eq!(p.packets, 3, "exactly three segments for the handshake");
}

/// Moves `total` bytes each way at once, then both close; checks every byte.
fn bulk_both_ways(cfg: ConnectionConfig, total: usize) -> Pair {
    let mut p = Pair::new(cfg);
    p.run_until(|p| p.client.state() == State::Established && p.server.is_some());
    let (mut c_sent, mut s_sent, mut c_rcvd, mut s_rcvd) = (0usize, 0usize, 0usize, 0usize);
    let mut buf = vec![0u8; 64 * 1024];
    let (mut c_eof, mut s_eof) = (false, false);
    p.run_until(|p| {
        if c_sent < total {
            let chunk = pattern(c_sent, (total - c_sent).min(32 * 1024), 0xAA);
            if let Ok(n) = p.client.send(&chunk) {
                c_sent += n;
            }
            if c_sent == total {
                p.client.shutdown().expect("shutdown");
            }
        }
        if s_sent < total {
            let chunk = pattern(s_sent, (total - s_sent).min(32 * 1024), 0x55);
            if let Ok(n) = p.server().send(&chunk) {
                s_sent += n;
            }
            if s_sent == total {
                p.server().shutdown().expect("shutdown");
            }
        }
        loop {
            match p.client.recv(&mut buf) {
                Ok(0) => {
                    c_eof = true;
                    break;
                }
                Ok(n) => {
                    assert_eq!(buf[..n], pattern(c_rcvd, n, 0x55)[..], "client byte at {c_rcvd}");
                    c_rcvd += n;
                }
                Err(Error::WouldBlock) => break,
                Err(e) => panic!("client recv: {e}"),
            }
        }
        loop {
            match p.server().recv(&mut buf) {
                Ok(0) => {
                    s_eof = true;
                    break;
                }
                Ok(n) => {
                    assert_eq!(buf[..n], pattern(s_rcvd, n, 0xAA)[..], "server byte at {s_rcvd}");
                    s_rcvd += n;
                }
                Err(Error::WouldBlock) => break,
                Err(e) => panic!("server recv: {e}"),
            }
        }
        c_eof && s_eof && p.client.state() == State::Closed && p.server.as_ref().unwrap().state() == State::Closed
    });
    assert_eq!((c_rcvd, s_rcvd), (total, total));
    p
}

#[test]
fn ten_megabytes_each_way_then_clean_close() {
    let total = 10 * 1024 * 1024;
    let p = bulk_both_ways(ConnectionConfig { time_wait: Duration::from_secs(2), ..Default::default() }, total);
    // The side that closed first (both did: simultaneous close) ends via
    // TIME-WAIT; both report a graceful close.
    assert_eq!(p.client_events.last(), Some(&Event::Closed(CloseReason::Graceful)));
    assert_eq!(p.server_events.last(), Some(&Event::Closed(CloseReason::Graceful)));
    let cs = p.client.stats();
    let ss = p.server.as_ref().unwrap().stats();
    assert_eq!(cs.bytes_acked, total as u64);
    assert_eq!(ss.bytes_acked, total as u64);
    assert_eq!(cs.retransmits + ss.retransmits, 0, "a lossless path needs no retransmission");
}

#[test]
fn bulk_without_options_small_buffers() {
    let cfg = ConnectionConfig {
        window_scale: false,
        sack: false,
        timestamps: false,
        send_buffer: 4096,
        recv_buffer: 3000,
        mss: 536,
        time_wait: Duration::from_millis(500),
        ..Default::default()
    };
    bulk_both_ways(cfg, 300_000);
}
