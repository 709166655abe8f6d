//! Property test: two endpoints with an established connection, then an
//! arbitrary mix of real packet delivery and loss, crafted segments (random
//! flags, sequence and acknowledgment numbers near the live ones, payloads,
//! options), clock jumps and application calls. Nothing may panic and both
//! connections' sequence invariants must hold after every step.

use proptest::prelude::*;
use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};
use toytcp_core::wire::{self, Flags, SegmentHeader, TcpOptions, Timestamps};
use toytcp_core::{ConnectionHandle, Duration, Endpoint, EndpointConfig, EndpointEvent, Instant, SeqNum};

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 1);

#[derive(Clone, Debug)]
enum Op {
    Deliver,
    DropNext,
    Craft { to_server: bool, flags: u8, seq_off: i32, ack_off: i32, len: u16, window: u16, ts: Option<u32> },
    Advance(u16),
    Send { client: bool, len: u16 },
    Recv { client: bool },
    Shutdown { client: bool },
    Close { client: bool },
    Abort { client: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => Just(Op::Deliver),
        1 => Just(Op::DropNext),
        4 => (any::<bool>(), any::<u8>(), -70_000i32..70_000, -70_000i32..70_000, 0u16..1600, any::<u16>(), proptest::option::of(any::<u32>()))
            .prop_map(|(to_server, flags, seq_off, ack_off, len, window, ts)| Op::Craft { to_server, flags, seq_off, ack_off, len, window, ts }),
        2 => (0u16..5000).prop_map(Op::Advance),
        2 => (any::<bool>(), 0u16..20_000).prop_map(|(client, len)| Op::Send { client, len }),
        2 => any::<bool>().prop_map(|client| Op::Recv { client }),
        1 => any::<bool>().prop_map(|client| Op::Shutdown { client }),
        1 => any::<bool>().prop_map(|client| Op::Close { client }),
        1 => any::<bool>().prop_map(|client| Op::Abort { client }),
    ]
}

struct World {
    now: Instant,
    client: Endpoint,
    server: Endpoint,
    c: ConnectionHandle,
    s: Option<ConnectionHandle>,
    /// (to_server, packet)
    queue: VecDeque<(bool, Vec<u8>)>,
    /// The last real header each side sent, to craft plausible segments.
    last_from_client: Option<SegmentHeader>,
    last_from_server: Option<SegmentHeader>,
}

impl World {
    fn new(ts: bool, seed: u64) -> Self {
        let mut cfg = EndpointConfig { seed, ..Default::default() };
        cfg.connection.timestamps = ts;
        cfg.connection.send_buffer = 16 * 1024;
        cfg.connection.recv_buffer = 8 * 1024;
        cfg.connection.time_wait = Duration::from_secs(1);
        let mut server = Endpoint::new(EndpointConfig { seed: seed ^ 1, ..cfg.clone() });
        server.listen(SocketAddrV4::new(SERVER, 80), 8).unwrap();
        let mut client = Endpoint::new(cfg);
        let now = Instant::from_millis(10);
        let c = client.connect(now, CLIENT, SocketAddrV4::new(SERVER, 80)).unwrap();
        let mut w = World {
            now,
            client,
            server,
            c,
            s: None,
            queue: VecDeque::new(),
            last_from_client: None,
            last_from_server: None,
        };
        for _ in 0..10 {
            w.drain();
            w.deliver();
        }
        w.drain();
        assert!(w.s.is_some(), "handshake completes");
        w
    }

    fn drain(&mut self) {
        let mut buf = vec![0u8; 2048];
        while let Some(t) = self.client.poll_transmit(self.now, &mut buf) {
            self.last_from_client = Some(wire::parse(&buf[..t.len]).expect("valid").header);
            self.queue.push_back((true, buf[..t.len].to_vec()));
        }
        while let Some(t) = self.server.poll_transmit(self.now, &mut buf) {
            self.last_from_server = Some(wire::parse(&buf[..t.len]).expect("valid").header);
            self.queue.push_back((false, buf[..t.len].to_vec()));
        }
        while self.client.poll_event().is_some() {}
        while let Some(e) = self.server.poll_event() {
            if let EndpointEvent::Incoming { listener } = e
                && let Some(h) = self.server.accept(listener)
            {
                self.s.get_or_insert(h);
            }
        }
        let _ = (self.client.poll_timeout(), self.server.poll_timeout());
    }

    fn deliver(&mut self) {
        if let Some((to_server, pkt)) = self.queue.pop_front() {
            if to_server { self.server.handle(self.now, &pkt) } else { self.client.handle(self.now, &pkt) }
        }
    }

    fn check(&self) -> Result<(), TestCaseError> {
        for (ep, h) in [(&self.client, Some(self.c)), (&self.server, self.s)] {
            if let Some(conn) = h.and_then(|h| ep.connection(h)) {
                conn.check_invariants().map_err(TestCaseError::fail)?;
            }
        }
        Ok(())
    }

    fn apply(&mut self, op: Op) {
        let mut buf = vec![0u8; 20_000];
        let handle = |w: &World, client: bool| if client { Some(w.c) } else { w.s };
        match op {
            Op::Deliver => self.deliver(),
            Op::DropNext => {
                self.queue.pop_front();
            }
            Op::Craft { to_server, flags, seq_off, ack_off, len, window, ts } => {
                // Pretend to be the other side: start from what it last sent.
                let last = if to_server { self.last_from_client } else { self.last_from_server };
                let Some(mut h) = last else { return };
                h.seq = SeqNum(h.seq.0.wrapping_add(seq_off as u32));
                h.ack = SeqNum(h.ack.0.wrapping_add(ack_off as u32));
                h.flags = Flags(flags);
                h.window = window;
                h.options = TcpOptions { timestamps: ts.map(|v| Timestamps { tsval: v, tsecr: 0 }), ..h.options };
                let payload = vec![0x5Au8; len as usize];
                let (src, dst) = if to_server { (CLIENT, SERVER) } else { (SERVER, CLIENT) };
                let mut pkt = vec![0u8; 2000];
                let n = wire::emit(src, dst, &h, &[&payload], &mut pkt).expect("fits");
                if to_server {
                    self.server.handle(self.now, &pkt[..n])
                } else {
                    self.client.handle(self.now, &pkt[..n])
                }
            }
            Op::Advance(ms) => {
                self.now += Duration::from_millis(u64::from(ms));
                self.client.handle_timeout(self.now);
                self.server.handle_timeout(self.now);
            }
            Op::Send { client, len } => {
                if let Some(h) = handle(self, client) {
                    let data = vec![7u8; len as usize];
                    let ep = if client { &mut self.client } else { &mut self.server };
                    let _ = ep.send(h, &data);
                }
            }
            Op::Recv { client } => {
                if let Some(h) = handle(self, client) {
                    let ep = if client { &mut self.client } else { &mut self.server };
                    let _ = ep.recv(h, &mut buf);
                }
            }
            Op::Shutdown { client } | Op::Close { client } | Op::Abort { client } => {
                if let Some(h) = handle(self, client) {
                    let ep = if client { &mut self.client } else { &mut self.server };
                    let _ = match op {
                        Op::Shutdown { .. } => ep.shutdown(h),
                        Op::Close { .. } => ep.close(h),
                        _ => ep.abort(h),
                    };
                }
            }
        }
        self.drain();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_segments_and_calls_keep_invariants(ts in any::<bool>(), seed in any::<u64>(), ops in proptest::collection::vec(op(), 1..150)) {
        let mut w = World::new(ts, seed);
        w.check()?;
        for op in ops {
            w.apply(op);
            w.check()?;
        }
    }
}
