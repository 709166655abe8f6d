//! ToyTCP against smoltcp 0.14 (issue 3, "Interop with smoltcp"), in both
//! directions: a ToyTCP client with a smoltcp server, and a smoltcp client
//! with a ToyTCP server. Each run does the handshake, moves 10 MB each way
//! at the same time (byte-exact, checked against a per-direction pattern),
//! and closes gracefully; then the same again with 2 % random loss in each
//! direction, from a fixed seed.
//!
//! The two hosts exchange real IPv4 packets through in-memory queues with
//! zero latency; virtual time jumps to the next deadline of either stack
//! when nothing is in flight.

mod common;

use common::smol::{PacketPool, SmolHost};
use smoltcp::socket::tcp;
use std::net::{Ipv4Addr, SocketAddrV4};
use toytcp_core::{
    CloseReason, ConnectionHandle, Duration, Endpoint, EndpointConfig, EndpointEvent, Error, Event, Instant, State,
    wire,
};

const TOY: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SMOL: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const PORT: u16 = 8080;
const MTU: usize = 1500;
const SMOL_BUFFER: usize = 64 * 1024;
const MB10: u64 = 10_000_000;
/// Virtual time allowed for one run (a lossy run spends time in RTOs).
const TIME_LIMIT: Duration = Duration::from_secs(3600);

/// Byte `i` of the stream with key `key`.
fn pattern_byte(key: u64, i: u64) -> u8 {
    let x = (i / 8).wrapping_add(key).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let x = (x ^ (x >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    (x >> (8 * (i % 8))) as u8
}

fn fill(key: u64, offset: u64, out: &mut [u8]) {
    for (i, b) in out.iter_mut().enumerate() {
        *b = pattern_byte(key, offset + i as u64);
    }
}

/// One direction of the byte stream: what the sender has written, what
/// the receiver has read and checked.
struct Stream {
    key: u64,
    total: u64,
    sent: u64,
    received: u64,
    eof: bool,
    closed_write: bool,
}

impl Stream {
    fn new(key: u64, total: u64) -> Self {
        Stream { key, total, sent: 0, received: 0, eof: false, closed_write: false }
    }

    /// The next chunk to write (up to 16 KiB), generated in `buf`.
    fn chunk<'a>(&self, buf: &'a mut [u8]) -> &'a [u8] {
        let n = (self.total - self.sent).min(buf.len() as u64) as usize;
        fill(self.key, self.sent, &mut buf[..n]);
        &buf[..n]
    }

    fn check(&mut self, data: &[u8]) {
        for (i, &b) in data.iter().enumerate() {
            let at = self.received + i as u64;
            assert!(at < self.total, "stream {} received more than the {} bytes sent", self.key, self.total);
            assert_eq!(b, pattern_byte(self.key, at), "stream {} corrupted at offset {at}", self.key);
        }
        self.received += data.len() as u64;
    }
}

/// Seeded packet loss (xorshift64*).
struct Loss {
    state: u64,
    /// Drop probability in parts per million.
    ppm: u64,
    dropped: u64,
}

impl Loss {
    fn drop_next(&mut self) -> bool {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        let r = self.state.wrapping_mul(0x2545_f491_4f6c_dd1d) % 1_000_000;
        let d = r < self.ppm;
        self.dropped += u64::from(d);
        d
    }
}

/// Who opens the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Opener {
    ToyClient,
    SmolClient,
}

struct Pair {
    now: Instant,
    toy: Endpoint,
    toy_conn: Option<ConnectionHandle>,
    toy_closed: Option<CloseReason>,
    smol: SmolHost,
    /// ToyTCP → smoltcp.
    up: Stream,
    /// smoltcp → ToyTCP.
    down: Stream,
    loss: Loss,
    pool: PacketPool,
    packets: u64,
    buf: Vec<u8>,
}

impl Pair {
    fn new(opener: Opener, bytes: u64, loss_ppm: u64, seed: u64) -> Self {
        let now = Instant::from_millis(1);
        let pool = PacketPool::default();
        let mut toy = Endpoint::new(EndpointConfig { seed, ..EndpointConfig::default() });
        let mut smol = SmolHost::new(now, SMOL, MTU, SMOL_BUFFER, pool.clone());
        let mut toy_conn = None;
        match opener {
            Opener::ToyClient => {
                smol.listen(PORT);
                toy_conn = Some(toy.connect(now, TOY, SocketAddrV4::new(SMOL, PORT)).expect("connect"));
            }
            Opener::SmolClient => {
                toy.listen(SocketAddrV4::new(TOY, PORT), 4).expect("listen");
                smol.connect(SocketAddrV4::new(TOY, PORT), 50000);
            }
        }
        Pair {
            now,
            toy,
            toy_conn,
            toy_closed: None,
            smol,
            up: Stream::new(1, bytes),
            down: Stream::new(2, bytes),
            loss: Loss { state: seed | 1, ppm: loss_ppm, dropped: 0 },
            pool,
            packets: 0,
            buf: vec![0; 16 * 1024],
        }
    }

    /// The ToyTCP application: write `up`, read `down`, shut down when done.
    fn toy_app(&mut self) -> bool {
        let mut progress = false;
        while let Some(ev) = self.toy.poll_event() {
            match ev {
                EndpointEvent::Incoming { listener } => {
                    self.toy_conn = self.toy.accept(listener);
                    progress = true;
                }
                EndpointEvent::Connection { event: Event::Closed(reason), .. } => {
                    self.toy_closed = Some(reason);
                    progress = true;
                }
                EndpointEvent::Connection { .. } => {}
            }
        }
        let Some(h) = self.toy_conn else { return progress };
        let state = self.toy.connection(h).map(|c| c.state());
        if !matches!(state, Some(s) if s.is_synchronized()) {
            return progress;
        }
        while self.up.sent < self.up.total {
            let mut buf = std::mem::take(&mut self.buf);
            let r = self.toy.send(h, self.up.chunk(&mut buf));
            self.buf = buf;
            match r {
                Ok(0) | Err(Error::WouldBlock) => break,
                Ok(n) => {
                    self.up.sent += n as u64;
                    progress = true;
                }
                Err(e) => panic!("ToyTCP send: {e}"),
            }
        }
        if self.up.sent == self.up.total && !self.up.closed_write {
            self.toy.shutdown(h).expect("ToyTCP shutdown");
            self.up.closed_write = true;
            progress = true;
        }
        while !self.down.eof {
            let mut buf = std::mem::take(&mut self.buf);
            let r = self.toy.recv(h, &mut buf);
            match r {
                Ok(0) => {
                    self.down.eof = true;
                    progress = true;
                }
                Ok(n) => {
                    self.down.check(&buf[..n]);
                    progress = true;
                }
                Err(Error::WouldBlock) => {
                    self.buf = buf;
                    break;
                }
                Err(e) => panic!("ToyTCP recv after {} bytes: {e}", self.down.received),
            }
            self.buf = buf;
        }
        progress
    }

    /// The smoltcp application: write `down`, read `up`, close when done.
    fn smol_app(&mut self) -> bool {
        let mut progress = false;
        let mut buf = std::mem::take(&mut self.buf);
        let s = self.smol.socket();
        while self.down.sent < self.down.total && s.can_send() {
            let n = s.send_slice(self.down.chunk(&mut buf)).expect("smoltcp send");
            if n == 0 {
                break;
            }
            self.down.sent += n as u64;
            progress = true;
        }
        if self.down.sent == self.down.total && !self.down.closed_write && s.may_send() {
            s.close();
            self.down.closed_write = true;
            progress = true;
        }
        while !self.up.eof {
            match s.recv_slice(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    self.up.check(&buf[..n]);
                    progress = true;
                }
                Err(tcp::RecvError::Finished) => {
                    self.up.eof = true;
                    progress = true;
                }
                Err(tcp::RecvError::InvalidState) => break,
            }
        }
        self.buf = buf;
        progress
    }

    /// One round: applications, ToyTCP's packets to smoltcp, smoltcp's back.
    fn step(&mut self) -> bool {
        let mut moved = self.toy_app();
        let mut out = self.pool.take(MTU);
        while let Some(t) = self.toy.poll_transmit(self.now, &mut out) {
            assert!(wire::parse(&out[..t.len]).is_ok(), "ToyTCP emitted an unparsable packet");
            self.packets += 1;
            moved = true;
            if !self.loss.drop_next() {
                let mut p = self.pool.take(t.len);
                p.copy_from_slice(&out[..t.len]);
                self.smol.deliver(p);
            }
        }
        self.pool.give(out);
        moved |= self.smol_app();
        self.smol.poll(self.now);
        moved |= self.smol_app();
        self.smol.poll(self.now);
        while let Some(p) = self.smol.take_tx() {
            self.packets += 1;
            moved = true;
            if !self.loss.drop_next() {
                self.toy.handle(self.now, &p);
            }
            self.pool.give(p);
        }
        moved
    }

    fn finished(&mut self) -> bool {
        let smol_done = matches!(self.smol.socket().state(), tcp::State::Closed | tcp::State::TimeWait);
        self.up.eof && self.down.eof && self.toy_closed.is_some() && smol_done
    }

    fn describe(&mut self) -> String {
        let toy_state = self.toy_conn.and_then(|h| self.toy.connection(h)).map(|c| c.state());
        let stats = self.toy_conn.and_then(|h| self.toy.connection(h)).map(|c| c.stats());
        format!(
            "at {} s: up {}/{} sent, {} received, eof {}; down {}/{} sent, {} received, eof {}; \
             ToyTCP {:?} closed {:?}; smoltcp {}; {} packets, {} dropped; ToyTCP stats {:?}",
            self.now,
            self.up.sent,
            self.up.total,
            self.up.received,
            self.up.eof,
            self.down.sent,
            self.down.total,
            self.down.received,
            self.down.eof,
            toy_state,
            self.toy_closed,
            self.smol.socket().state(),
            self.packets,
            self.loss.dropped,
            stats
        )
    }

    /// Runs to completion within the virtual time limit.
    fn run(&mut self) {
        let limit = self.now + TIME_LIMIT;
        while !self.finished() {
            if self.step() {
                continue;
            }
            let next = [self.toy.poll_timeout(), self.smol.poll_at(self.now)].into_iter().flatten().min();
            let Some(next) = next else { panic!("stalled: {}", self.describe()) };
            let next = next.max(self.now + Duration::from_micros(1));
            assert!(next <= limit, "no completion within {TIME_LIMIT:?}: {}", self.describe());
            self.now = next;
            self.toy.handle_timeout(self.now);
        }
    }
}

fn interop(opener: Opener, loss_ppm: u64, seed: u64) {
    let mut pair = Pair::new(opener, MB10, loss_ppm, seed);
    pair.run();
    let summary = pair.describe();
    eprintln!("{opener:?}, loss {loss_ppm} ppm: {summary}");
    assert_eq!(pair.up.received, MB10, "{summary}");
    assert_eq!(pair.down.received, MB10, "{summary}");
    // Whichever side closed first passes through TIME-WAIT; both close gracefully.
    assert_eq!(pair.toy_closed, Some(CloseReason::Graceful), "{summary}");
    if pair.toy_conn.and_then(|h| pair.toy.connection(h)).is_some_and(|c| c.state() != State::Closed) {
        panic!("ToyTCP connection reported closed but is not: {summary}");
    }
    if loss_ppm > 0 {
        assert!(pair.loss.dropped > 0, "the lossy run dropped nothing: {summary}");
    }
}

#[test]
fn toytcp_client_to_smoltcp_server() {
    interop(Opener::ToyClient, 0, 1);
}

#[test]
fn smoltcp_client_to_toytcp_server() {
    interop(Opener::SmolClient, 0, 2);
}

#[test]
fn toytcp_client_to_smoltcp_server_2_percent_loss() {
    interop(Opener::ToyClient, 20_000, 3);
}

#[test]
fn smoltcp_client_to_toytcp_server_2_percent_loss() {
    interop(Opener::SmolClient, 20_000, 4);
}
